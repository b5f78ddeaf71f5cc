// cmd_compress.c: `shrink compress`: quantize a model's weight matrices into a GGUF
// file llama.cpp runs (round to nearest with ggml's scale searches, per-tensor types
// from a type or preset plus overrides).
#include "cli.h"
#include "args.h"
#include "../compress/plan.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/timer.h"
#include <string.h>
#include <sys/stat.h>

int cmd_compress(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *type = NULL, *method = "rtn", *overrides = NULL;
    int threads = 0;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "Hugging Face GPT-2 directory (fp32/f16/bf16 weights)", 0, 0, 1},
        {"output", 'o', ARG_STR, &out, "FILE", "GGUF file to write (atomically)", 0, 0, 1},
        {"type", 0, ARG_STR, &type, "TYPE",
         "a type (f16, q8_0, q6_k, q5_k, q5_0, q5_1, q4_k, q4_0, q4_1, q3_k, q2_k) or a preset "
         "(Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K)", 0, 0, 1},
        {"method", 0, ARG_STR, &method, "M", "rtn: round to nearest within each block, ggml's best-scale search", 0, 0, 0},
        {"tensor-type", 0, ARG_STR, &overrides, "LIST", "per-tensor overrides PATTERN=TYPE[,...], e.g. 'output=q8_0,blk.*.ffn_down=q6_k'", 0, 0, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    int rc = args_parse("compress", "compress -m DIR -o OUT.gguf --type TYPE [--method rtn] [--tensor-type LIST]", specs,
                        (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    if (strcmp(method, "rtn") != 0) {
        err_set(ERR_ARG, "compress: unknown --method '%s' (available: rtn)", method);
        return cli_fail();
    }
    if (cli_is_gguf(model)) {
        err_set(ERR_ARG, "compress: %s is a GGUF file; compress reads the original Hugging Face directory", model);
        return cli_fail();
    }
    cli_set_threads(threads);
    gpt2_model m;
    if (cli_load_model(model, &m)) return cli_fail();
    gpt2_plan plan = {0};
    char notes[4096];
    if (plan_build(&plan, &m.cfg, type, overrides, notes, sizeof notes)) {
        gpt2_model_free(&m);
        return cli_fail();
    }
    if (notes[0]) fprintf(stderr, "%s", notes);
    double t0 = timer_now();
    rc = gpt2_model_quantize(&m, &plan, NULL);
    double secs = timer_now() - t0;
    if (!rc) {
        char *vocab = path_join(model, "vocab.json");
        const char *tok_dir = file_exists(vocab) ? model : NULL;
        free(vocab);
        rc = gpt2_model_save_gguf(&m, tok_dir, out, GPT2_GGUF_STORED);
    }
    if (!rc) {
        // What went where, counted by type (the LM head is stored separately: llama.cpp wants output.weight).
        size_t count[32] = {0};
        int n_mats = m.cfg.n_layer * GPT2_MATS_PER_LAYER;
        for (int i = 0; i < n_mats; i++) count[plan.mats[i]]++;
        count[plan.embd]++;
        count[plan.head]++;
        struct stat st;
        long long bytes = stat(out, &st) == 0 ? (long long)st.st_size : -1;
        fprintf(stderr, "quantized %d matrices in %.1f s:", n_mats + 2, secs);
        for (int t = 0; t < 32; t++)
            if (count[t]) fprintf(stderr, " %s x%zu", qtype_get(t)->name, count[t]);
        fprintf(stderr, " (token_embd %s, output %s)\nwrote %s: %lld bytes, %.2f bits per parameter\n",
                qtype_get((int)plan.embd)->name, qtype_get((int)plan.head)->name, out, bytes,
                8.0 * (double)bytes / (double)m.n_params);
    }
    gpt2_plan_free(&plan);
    gpt2_model_free(&m);
    return rc ? cli_fail() : 0;
}
