// cmd_lowrank.c: `shrink lowrank`: replace chosen linears by low-rank compression layers
// (W ≈ B·A, lowrank/lowrank.h) and write the factorized model: an HF directory (for
// `shrink train --teacher` recovery and `compress`) or a shrink-gpt2 GGUF file.
#include "cli.h"
#include "args.h"
#include "../compress/calib.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/timer.h"
#include "../lowrank/lowrank.h"
#include <stdlib.h>
#include <string.h>

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int cmd_lowrank(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *calib = NULL, *method = "svd", *linears = "all", *layers = "all", *target = NULL;
    int threads = 0, calib_tokens = 32768, rank = 0, multiple = 32, force = 0;
    float ratio = 0, energy = 0, damp = 0.01f;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "Hugging Face GPT-2 directory (fp32/f16/bf16 weights)", 0, 0, 1},
        {"output", 'o', ARG_STR, &out, "OUT", "the factorized model: an HF directory, or a GGUF file when OUT ends in .gguf",
         0, 0, 1},
        {"linears", 0, ARG_STR, &linears, "LIST",
         "which matrices: attn_qkv, attn_output, ffn_up, ffn_down (or qkv, out, up, down, attn, mlp, all; default all)", 0,
         0, 0},
        {"layers", 0, ARG_STR, &layers, "SPEC", "which blocks: all (default), first:K, middle:K, last:K, or indices 0,2,5",
         0, 0, 0},
        {"rank", 0, ARG_INT, &rank, "R", "this rank for every placed matrix", 1, 1 << 18, 0},
        {"ratio", 0, ARG_FLOAT, &ratio, "X", "rank = X times each matrix's smaller dimension", 0, 1, 0},
        {"energy", 0, ARG_FLOAT, &energy, "E",
         "the smallest rank keeping this fraction of each matrix's (weighted) spectral energy; a matrix whose rank would "
         "save nothing stays dense", 0, 1, 0},
        {"target-params", 0, ARG_STR, &target, "N|X%",
         "keep at most N parameters (or X% of the model's): each placed matrix's rank and method chosen where the "
         "measured KL is least", 0, 0, 0},
        {"method", 0, ARG_STR, &method, "M",
         "svd (the weights' own error; default), asvd (inputs' mean magnitude scaling), whiten (SVD-LLM: the layer's "
         "output error on the calibration text), all (with --target-params: each matrix takes the method that "
         "measures best)", 0, 0, 0},
        {"rank-multiple", 0, ARG_INT, &multiple, "N",
         "ranks are multiples of N (default 32: Q8_0/Q4_0 blocks fit the B factor; 256 for K-quants)", 1, 1 << 18, 0},
        {"force", 0, ARG_FLAG, &force, NULL, "factorize even where the rank saves no parameters", 0, 0, 0},
        {"damp", 0, ARG_FLOAT, &damp, "D", "whitening's ridge, a fraction of the inputs' mean square (default 0.01)", 0,
         10, 0},
        {"calib", 0, ARG_STR, &calib, "FILE", "calibration text (default: the bundled data/calib.txt); never the text you "
                                             "evaluate on", 0, 0, 0},
        {"calib-tokens", 0, ARG_INT, &calib_tokens, "N", "calibration tokens to use", 256, 1 << 26, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    int rc = args_parse("lowrank", "lowrank -m DIR -o OUT (--rank R | --ratio X | --energy E | --target-params N|X%)\n"
                        "             [--linears LIST] [--layers SPEC] [--method M]",
                        specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    lowrank_opts o = lowrank_defaults();
    int mt = strcmp(method, "all") ? lowrank_method_parse(method) : LOWRANK_SVD;
    if (mt < 0) {
        err_set(ERR_ARG, "lowrank: unknown --method '%s' (available: svd, asvd, whiten, all)", method);
        return cli_fail();
    }
    o.method = (lowrank_method)mt, o.all_methods = !strcmp(method, "all");
    o.rank = rank, o.ratio = ratio, o.energy = energy, o.rank_multiple = multiple, o.force = force, o.damp = damp;
    if (lowrank_parse_linears(linears, o.linears)) return cli_fail();
    if (gpt2_path_is_gguf(model)) {
        err_set(ERR_ARG, "lowrank: %s is a GGUF file; lowrank reads the original Hugging Face directory", model);
        return cli_fail();
    }
    cli_set_threads(threads);
    char *calib_default = NULL;
    const char *calib_path = calib ? calib : (calib_default = cli_data_path("calib.txt"));
    bpe *tok = NULL;
    calib_set cs = {0};
    gpt2_model m, fac = {0};
    if (cli_load_model(model, &m)) {
        free(calib_default);
        return cli_fail();
    }
    uint8_t keep[GPT2_MAX_LAYERS];
    if ((rc = lowrank_parse_layers(layers, m.cfg.n_layer, keep))) goto done;
    o.layers = keep;
    if (target && (rc = gpt2_parse_param_budget(target, gpt2_param_count(&m.cfg), "lowrank: --target-params", &o.target_params)))
        goto done;
    const char *tok_dir = cli_has_tokenizer_files(model) ? model : NULL;
    if ((rc = ends_with(out, ".gguf") ? file_check_output(out) : cli_check_hf_output(out))) goto done;
    // Plain SVD at a fixed rank needs no text; everything else reads the calibration windows.
    if (o.target_params || o.all_methods || o.method != LOWRANK_SVD) {
        if (!file_exists(calib_path)) {
            rc = err_set(ERR_IO, "%s: calibration text not found (give --calib FILE)", calib_path);
            goto done;
        }
        if ((rc = cli_load_tokenizer(model, &tok))) goto done;
        file_note_input_path(calib_path);
        int ctx = m.cfg.n_ctx < 256 ? m.cfg.n_ctx : 256;
        if ((rc = calib_load(&cs, tok, calib_path, calib_tokens, ctx))) goto done;
    }
    char notes[65536];
    double t0 = timer_now();
    if ((rc = lowrank_model(&m, &cs, &o, &fac, notes, sizeof notes))) goto done;
    double secs = timer_now() - t0;
    fprintf(stderr, "%s", notes);
    rc = ends_with(out, ".gguf") ? gpt2_gguf_save(&fac, tok_dir, out, 0) : cli_save_hf_dir(&fac, out, tok_dir);
    if (!rc) {
        size_t p0 = gpt2_param_count(&m.cfg), p1 = gpt2_param_count(&fac.cfg);
        fprintf(stderr, "lowrank (%s): %zu -> %zu parameters (-%.1f%%) in %.1f s\nwrote %s\n",
                o.all_methods ? "methods chosen per matrix" : lowrank_method_name(o.method), p0, p1,
                100.0 * (1.0 - (double)p1 / (double)p0), secs, out);
    }
done:
    free(calib_default);
    calib_free(&cs);
    bpe_free(tok);
    gpt2_model_free(&fac);
    gpt2_model_free(&m);
    return rc ? cli_fail() : 0;
}
