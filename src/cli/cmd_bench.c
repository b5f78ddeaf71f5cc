// cmd_bench.c: `shrink bench`: pp/tg tokens per second (llama-bench's tests) for a
// model directory or a randomly initialised model of a standard GPT-2 shape.
#include "cli.h"
#include "args.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/parallel.h"
#include "../eval/eval.h"
#include "../kernels/kernels.h"
#include "../modelfile/modelfile.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int n_layer, n_head, n_embd, n_ctx, vocab;
} shape_preset;

static const shape_preset presets[] = {
    {"gpt2", 12, 12, 768, 1024, 50257},        {"gpt2-medium", 24, 16, 1024, 1024, 50257},
    {"gpt2-large", 36, 20, 1280, 1024, 50257}, {"gpt2-xl", 48, 25, 1600, 1024, 50257},
    {"distilgpt2", 6, 12, 768, 1024, 50257},   {"mini", 6, 8, 256, 256, 8192},
};

int cli_random_model(const char *name, unsigned long long seed, gpt2_model *m) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, name) == 0) {
            const shape_preset *p = &presets[i];
            gpt2_config c;
            gpt2_config_init(&c, p->vocab, p->n_ctx, p->n_embd, p->n_layer, p->n_head, 4 * p->n_embd);
            c.bos_id = c.eos_id = p->vocab - 1;
            gpt2_model_init_random(m, &c, seed);
            return 0;
        }
    return err_set(ERR_ARG, "bench: unknown shape '%s' (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, mini)", name);
}

// Parses "1,2" into threads[]; returns the count or ERR_ARG.
static int parse_threads(const char *s, int *threads, int max) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1024 || n == max)
            return err_set(ERR_ARG, "bench: --threads expects a list like 1,2 of counts in 1..1024, got '%s'", s);
        threads[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return err_set(ERR_ARG, "bench: --threads expects a list like 1,2, got '%s'", s);
    }
    return n ? n : err_set(ERR_ARG, "bench: --threads is empty");
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *random = NULL, *save = NULL, *threads_s = "1,2", *type = "f32";
    int pp = 128, tg = 64, reps = 5, json = 0, machine = 0;
    unsigned long long seed = 1;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "model directory (or use --random)", 0, 0, 0},
        {"random", 0, ARG_STR, &random, "SHAPE", "random weights of a standard shape: gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, mini", 0, 0, 0},
        {"seed", 's', ARG_U64, &seed, "S", "seed for --random", 0, 0, 0},
        {"save", 0, ARG_STR, &save, "DIR", "also write the --random model there as an HF directory (with GPT-2's tokenizer)", 0, 0, 0},
        {"type", 0, ARG_STR, &type, "T", "store the weight matrices as f32 or f16 before measuring", 0, 0, 0},
        {"pp", 'p', ARG_INT, &pp, "N", "prompt-processing test: tokens in one batch (0 = skip)", 0, 1 << 20, 0},
        {"tg", 'n', ARG_INT, &tg, "N", "generation test: tokens one at a time (0 = skip)", 0, 1 << 20, 0},
        {"reps", 'r', ARG_INT, &reps, "N", "timed repeats (after one warm-up)", 1, 1000, 0},
        {"threads", 't', ARG_STR, &threads_s, "LIST", "thread counts to run, comma separated", 0, 0, 0},
        {"machine", 0, ARG_FLAG, &machine, NULL, "also measure FMA peak, DRAM read bandwidth and matmul GFLOP/s on the model's shapes", 0, 0, 0},
        {"json", 0, ARG_FLAG, &json, NULL, "one JSON object per line", 0, 0, 0},
    };
    int rc = args_parse("bench", "bench (-m DIR | --random SHAPE) [-p 128] [-n 64] [-r 5] [-t 1,2] [--json]", specs,
                        (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    int threads[16], nt = parse_threads(threads_s, threads, 16);
    if (nt < 0) return cli_fail();
    if (!model == !random) {
        err_set(ERR_ARG, "bench: give exactly one of -m DIR and --random SHAPE");
        return cli_fail();
    }
    if (save) {  // before the weights are made: DIR and the directory beside it can be written
        char *parent = cli_parent_dir(save);
        rc = dir_check_creatable(save, "bench --save");
        if (!rc) rc = dir_check_creatable(parent, "bench --save's parent");
        free(parent);
        if (rc) return cli_fail();
    }
    gpt2_model m;
    if (model ? cli_load_model(model, &m) : cli_random_model(random, seed, &m)) return cli_fail();
    if (save) {
        // The tokenizer of its vocabulary size (GPT-2's, or the bundled mini model's; found
        // beside the binary, not via the working directory).
        const char *tok_rel = m.cfg.vocab_size == 50257 ? "data/gpt2-tokenizer" : m.cfg.vocab_size == 8192 ? "models/mini" : NULL;
        char *tok = tok_rel ? cli_repo_path(tok_rel) : NULL;
        int bad = cli_save_hf_dir(&m, save, tok);
        free(tok);
        if (bad) {
            gpt2_model_free(&m);
            return cli_fail();
        }
    }
    if (strcmp(type, "f16") == 0) {
        if (gpt2_model_convert(&m, QTYPE_F16)) {
            gpt2_model_free(&m);
            return cli_fail();
        }
    } else if (strcmp(type, "f32") != 0) {
        gpt2_model_free(&m);
        err_set(ERR_ARG, "bench: --type must be f32 or f16, got '%s'", type);
        return cli_fail();
    }
    const char *name = model ? model : random;
    const gpt2_config *c = &m.cfg;
    // Weight bytes one generated token reads: every matrix once in its stored type, the
    // LM head once, the fp32 vectors; one embedding row and one wpe row are negligible.
    double bytes_per_token = 0;
    for (int i = 0; i < gpt2_n_mats(c); i++) {
        const wmat *v = gpt2_mat(&m, i);
        if (i != gpt2_mat_embd(c)) bytes_per_token += (double)v->rows * (double)qtype_row_bytes(v->type, (size_t)v->cols);
    }
    for (int id = 0; id < GPT2_T_COUNT; id++)  // the fp32 vectors
        for (int l = 0; gpt2_tensors[id].kind == GPT2_KIND_VECTOR && l < (gpt2_tensors[id].per_layer ? c->n_layer : 1); l++) {
            int64_t rows, cols;
            if (gpt2_tensor_shape(c, id, l, &rows, &cols)) bytes_per_token += 4.0 * (double)(rows * cols);
        }
    // what the matrices are stored as, for the table
    qtype t0 = gpt2_mat(&m, 0)->type;
    type = qtype_get((int)t0)->name;
    for (int i = 1; i < gpt2_n_mats(c); i++)
        if (i != gpt2_mat_embd(c) && gpt2_mat(&m, i)->type != t0) type = "mixed";
    double bw[16] = {0};
    if (machine) {
        int C = c->n_embd, F = gpt2_max_ff(c), M = pp > 0 ? pp : 128;
        int shapes[5][3] = {{M, C, 3 * C}, {M, C, C}, {M, C, F}, {M, F, C}, {M, C, c->vocab_size}};
        const char *what[5] = {"attn qkv", "attn proj", "mlp fc", "mlp proj", "lm head"};
        if (!json) printf("| machine | threads | measured |\n|---|---:|---:|\n");
        for (int i = 0; i < nt; i++) {
            double fma = machine_fma_gflops(threads[i], 5);
            bw[i] = machine_read_gbs(threads[i], 5);
            if (json) printf("{\"probe\": \"fma_peak_gflops\", \"threads\": %d, \"value\": %.1f}\n"
                             "{\"probe\": \"dram_read_gbs\", \"threads\": %d, \"value\": %.2f}\n",
                             threads[i], fma, threads[i], bw[i]);
            else printf("| FMA peak (GFLOP/s) | %d | %.1f |\n| DRAM read (GB/s) | %d | %.2f |\n", threads[i], fma, threads[i], bw[i]);
            for (int k = 0; k < 5; k++) {
                double g = machine_matmul_gflops(shapes[k][0], shapes[k][1], shapes[k][2], threads[i], 5);
                if (json) printf("{\"probe\": \"matmul_gflops\", \"shape\": \"%s %dx%dx%d\", \"threads\": %d, \"value\": %.1f, \"pct_of_peak\": %.1f}\n",
                                 what[k], shapes[k][0], shapes[k][1], shapes[k][2], threads[i], g, 100 * g / fma);
                else printf("| matmul %s %dx%dx%d (GFLOP/s, %% of peak) | %d | %.1f (%.0f%%) |\n", what[k], shapes[k][0],
                            shapes[k][1], shapes[k][2], threads[i], g, 100 * g / fma);
            }
            fflush(stdout);
        }
        if (!json) printf("\n");
    }
    if (!json) {
        printf("| model | type | params | kernels | threads | test | tok/s median | min | max | reps | GB/s | %% of read bw |\n");
        printf("|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|\n");
    }
    int saved = par_max_threads();
    for (int i = 0; i < nt && !rc; i++) {
        par_set_threads(threads[i]);
        for (int which = 0; which < 2 && !rc; which++) {
            int n = which ? tg : pp;
            if (n == 0) continue;
            speed_stat st;
            rc = which ? eval_speed_tg(&m, n, reps, &st) : eval_speed_pp(&m, n, reps, &st);
            if (rc) break;
            double gbs = which ? bytes_per_token * st.median / 1e9 : 0, pct = bw[i] > 0 ? 100 * gbs / bw[i] : 0;
            if (json)
                printf("{\"model\": \"%s\", \"type\": \"%s\", \"params\": %zu, \"kernels\": \"%s\", \"threads\": %d, \"test\": \"%s%d\", "
                       "\"median\": %.2f, \"min\": %.2f, \"max\": %.2f, \"reps\": %d, \"gbs\": %.2f}\n",
                       name, type, gpt2_param_count(c), kern.isa, threads[i], which ? "tg" : "pp", n, st.median, st.min, st.max, st.reps, gbs);
            else if (which)
            {
                char pct_s[16] = "";
                if (pct > 0) snprintf(pct_s, sizeof pct_s, "%.0f%%", pct);
                printf("| %s | %s | %zu | %s | %d | tg%d | %.1f | %.1f | %.1f | %d | %.2f | %s |\n", name, type, gpt2_param_count(c),
                       kern.isa, threads[i], n, st.median, st.min, st.max, st.reps, gbs, pct_s);
            }
            else
                printf("| %s | %s | %zu | %s | %d | pp%d | %.1f | %.1f | %.1f | %d | | |\n", name, type, gpt2_param_count(c), kern.isa, threads[i], n,
                       st.median, st.min, st.max, st.reps);
            fflush(stdout);
        }
    }
    par_set_threads(saved);
    gpt2_model_free(&m);
    return rc ? cli_fail() : 0;
}
