// cmd_prune.c: `shrink prune`: remove whole attention heads, MLP neurons and blocks,
// chosen and compensated on calibration text (prune/prune.h), and write the smaller
// model: an HF directory (for `shrink train --teacher` recovery, transformers, compress)
// or a GGUF file.
#include "cli.h"
#include "args.h"
#include "../compress/calib.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/timer.h"
#include "../prune/prune.h"
#include <stdlib.h>
#include <string.h>

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

// "0,2,4" -> keep[l] = 1 for those blocks of L, 0 for the others.
static int parse_layers(const char *list, int L, uint8_t *keep) {
    memset(keep, 0, (size_t)L);
    const char *p = list;
    for (;;) {
        char *end;
        long l = strtol(p, &end, 10);
        if (end == p || (*end && *end != ','))
            return err_set(ERR_ARG, "prune: --layers '%s': expected comma-separated block indices", list);
        if (l < 0 || l >= L) return err_set(ERR_ARG, "prune: --layers: block %ld is not in 0..%d", l, L - 1);
        if (keep[l]) return err_set(ERR_ARG, "prune: --layers names block %ld twice", l);
        keep[l] = 1;
        if (!*end) return 0;
        p = end + 1;
    }
}

int cmd_prune(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *calib = NULL, *score = "fluct", *comp = "refit", *layers = NULL, *target = NULL, *drop_by = "kl";
    int threads = 0, calib_tokens = 32768, drop = 0, multiple = 256;
    float heads = 0, ffn = 0, damp = 0.01f;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "Hugging Face GPT-2 directory (fp32/f16/bf16 weights)", 0, 0, 1},
        {"output", 'o', ARG_STR, &out, "OUT", "the pruned model: an HF directory, or a GGUF file when OUT ends in .gguf", 0, 0, 1},
        {"heads", 0, ARG_FLOAT, &heads, "F", "fraction of each layer's attention heads to remove (default 0)", 0, 1, 0},
        {"ffn", 0, ARG_FLOAT, &ffn, "F", "fraction of each layer's MLP neurons to remove (default 0)", 0, 1, 0},
        {"drop-layers", 0, ARG_INT, &drop, "N", "blocks to remove: those whose removal alone costs the least KL (default 0)", 0,
         GPT2_MAX_LAYERS, 0},
        {"target-params", 0, ARG_STR, &target, "N|X%",
         "keep at most N parameters (or X% of the model's), removing heads, neurons and blocks where the measured KL "
         "is least (instead of --heads/--ffn/--drop-layers/--layers)", 0, 0, 0},
        {"drop-by", 0, ARG_STR, &drop_by, "R",
         "how --drop-layers ranks blocks: kl (the KL of dropping each alone; default) or bi (ShortGPT's block influence, "
         "1 - cos(input, output))", 0, 0, 0},
        {"layers", 0, ARG_STR, &layers, "LIST",
         "keep exactly these blocks, comma-separated indices (e.g. 0,2,4: DistilGPT2's every other layer)", 0, 0, 0},
        {"ffn-multiple", 0, ARG_INT, &multiple, "N",
         "kept MLP widths are a multiple of N (default 256: K-quant blocks fit; 32 for the other types)", 1, 1 << 18, 0},
        {"score", 0, ARG_STR, &score, "S",
         "how units are ranked: magnitude (weights only), act (sqrt(E[x^2]) times the weight column's norm), fluct "
         "(FLAP: Var[x] times its square; default), taylor (LLM-Pruner: sum of |gradient x weight| over the unit's "
         "weights, from a backward pass over the calibration text)", 0, 0, 0},
        {"compensate", 0, ARG_STR, &comp, "C",
         "none; bias (FLAP: the removed units' mean output goes into the bias); refit (least squares on the kept units, "
         "bias included; default)", 0, 0, 0},
        {"damp", 0, ARG_FLOAT, &damp, "D", "refit ridge, a fraction of the kept inputs' mean square (default 0.01)", 0, 10, 0},
        {"calib", 0, ARG_STR, &calib, "FILE", "calibration text (default: the bundled data/calib.txt); never the text you "
                                             "evaluate on", 0, 0, 0},
        {"calib-tokens", 0, ARG_INT, &calib_tokens, "N", "calibration tokens to use", 256, 1 << 26, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    int rc = args_parse("prune", "prune -m DIR -o OUT [--heads F] [--ffn F] [--drop-layers N | --layers LIST | --target-params N|X%]\n"
                        "             [--score S] [--compensate C]\n"
                        "Cost, measured on 2 cores (bench/prune_speed.md): GPT-2-124M's shape with 2048 calibration tokens "
                        "18-31 s for --heads/--ffn/--drop-layers, 95 s for --target-params; peak 1.3-1.7 GB.",
                        specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    int sc = prune_score_parse(score), cp = prune_comp_parse(comp);
    if (sc < 0) {
        err_set(ERR_ARG, "prune: unknown --score '%s' (available: magnitude, act, fluct, taylor)", score);
        return cli_fail();
    }
    if (cp < 0) {
        err_set(ERR_ARG, "prune: unknown --compensate '%s' (available: none, bias, refit)", comp);
        return cli_fail();
    }
    if (strcmp(drop_by, "kl") && strcmp(drop_by, "bi")) {
        err_set(ERR_ARG, "prune: unknown --drop-by '%s' (available: kl, bi)", drop_by);
        return cli_fail();
    }
    if (gpt2_path_is_gguf(model)) {
        err_set(ERR_ARG, "prune: %s is a GGUF file; prune reads the original Hugging Face directory", model);
        return cli_fail();
    }
    cli_set_threads(threads);
    prune_opts o = prune_defaults();
    o.heads = heads, o.ffn = ffn, o.drop_layers = drop, o.ffn_multiple = multiple, o.score = (prune_score)sc;
    o.comp = (prune_comp)cp, o.damp = damp, o.drop_by_bi = !strcmp(drop_by, "bi");
    char *calib_default = NULL;
    const char *calib_path = calib ? calib : (calib_default = cli_data_path("calib.txt"));
    bpe *tok = NULL;
    calib_set cs = {0};
    gpt2_model m, pruned = {0};
    if (cli_load_model(model, &m)) {
        free(calib_default);
        return cli_fail();
    }
    if (target && (rc = gpt2_parse_param_budget(target, gpt2_param_count(&m.cfg), "prune: --target-params", &o.target_params))) goto done;
    uint8_t keep[GPT2_MAX_LAYERS];
    if (layers && (rc = parse_layers(layers, m.cfg.n_layer, keep))) goto done;
    o.keep_layers = layers ? keep : NULL;
    const char *tok_dir = cli_has_tokenizer_files(model) ? model : NULL;
    if (!file_exists(calib_path)) {
        rc = err_set(ERR_IO, "%s: calibration text not found (give --calib FILE)", calib_path);
        goto done;
    }
    if ((rc = cli_load_tokenizer(model, &tok))) goto done;
    file_note_input_path(calib_path);
    if ((rc = ends_with(out, ".gguf") ? file_check_output(out) : cli_check_hf_output(out))) goto done;
    int ctx = m.cfg.n_ctx < 256 ? m.cfg.n_ctx : 256;
    if ((rc = calib_load(&cs, tok, calib_path, calib_tokens, ctx))) goto done;
    char notes[16384];
    double t0 = timer_now();
    if ((rc = prune_model(&m, &cs, &o, &pruned, notes, sizeof notes))) goto done;
    double secs = timer_now() - t0;
    fprintf(stderr, "%s", notes);
    rc = ends_with(out, ".gguf") ? gpt2_gguf_save(&pruned, tok_dir, out, 0) : cli_save_hf_dir(&pruned, out, tok_dir);
    if (!rc) {
        size_t p0 = gpt2_param_count(&m.cfg), p1 = gpt2_param_count(&pruned.cfg);
        fprintf(stderr, "prune (%s scores, %s compensation, %d calibration tokens): %zu -> %zu parameters (-%.1f%%) in %.1f s\n"
                        "wrote %s\n",
                prune_score_name(o.score), prune_comp_name(o.comp), cs.n_windows * cs.ctx, p0, p1,
                100.0 * (1.0 - (double)p1 / (double)p0), secs, out);
    }
done:
    free(calib_default);
    calib_free(&cs);
    bpe_free(tok);
    gpt2_model_free(&pruned);
    gpt2_model_free(&m);
    return rc ? cli_fail() : 0;
}
