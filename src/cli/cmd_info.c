// cmd_info.c: `shrink info`: architecture, unique parameter count, weight bytes, dtypes.
#include "cli.h"
#include "../formats/gguf.h"
#include "args.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include <string.h>

// 1234567 -> "1,234,567"
static const char *commas(size_t v, char *buf) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%zu", v), o = 0;
    for (int i = 0; i < n; i++) {
        buf[o++] = tmp[i];
        if ((n - i - 1) % 3 == 0 && i < n - 1) buf[o++] = ',';
    }
    buf[o] = 0;
    return buf;
}

// One line (or JSON object) per tensor of a GGUF file: name, type, shape, bytes.
static void print_tensors(const char *path, int json) {
    gguf_file g;
    if (gguf_open(&g, path)) return;
    printf(json ? ", \"tensors\": [" : "tensors\n");
    for (size_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor *t = &g.tensors[i];
        const gguf_tensor_type_info *ti = gguf_tensor_type_get(t->type);
        const char *tn = ti ? ti->name : "?";
        if (json) {
            printf("%s{\"name\": ", i ? ", " : "");
            cli_json_string(stdout, t->name, strlen(t->name));
            printf(", \"type\": \"%s\", \"ne\": [%lld, %lld], \"bytes\": %zu}", tn, (long long)t->ne[0], (long long)t->ne[1],
                   t->nbytes);
        } else {
            printf("  %-28s %-5s %6lld x %-6lld %10zu bytes\n", t->name, tn, (long long)t->ne[0], (long long)t->ne[1], t->nbytes);
        }
    }
    if (json) printf("]");
    gguf_close(&g);
}

// The same for a Hugging Face directory, from the model's tensor table: HF name and shape
// (as the file holds it) and elements.
static void print_table(gpt2_model *m, int json) {
    const gpt2_config *c = &m->cfg;
    printf(json ? ", \"tensors\": [" : "tensors\n");
    int n = 0;
    for (int id = 0; id < GPT2_T_COUNT; id++)
        for (int l = 0; l < (gpt2_tensors[id].per_layer ? c->n_layer : 1); l++) {
            int64_t rows, cols;
            if (!gpt2_tensor_shape(c, id, l, &rows, &cols)) continue;
            char name[128];
            gpt2_tensor_name(id, l, 1, name, sizeof name);
            int64_t d[2];
            char shape[48];
            if (gpt2_tensor_hf_shape(c, id, l, d) == 1) snprintf(shape, sizeof shape, "[%lld]", (long long)d[0]);
            else snprintf(shape, sizeof shape, "[%lld, %lld]", (long long)d[0], (long long)d[1]);
            if (json) {
                printf("%s{\"name\": ", n++ ? ", " : "");
                cli_json_string(stdout, name, strlen(name));
                printf(", \"shape\": %s, \"params\": %lld}", shape, (long long)(rows * cols));
            } else {
                printf("  %-34s %s\n", name, shape);
            }
        }
    if (json) printf("]");
}

// Per-layer heads and MLP widths, for a model whose layers differ.
static void print_layers(const gpt2_config *c, int json) {
    if (gpt2_config_is_uniform(c)) return;
    if (json) {
        printf(", \"head_dim\": %d, \"n_head_per_layer\": [", c->head_dim);
        for (int l = 0; l < c->n_layer; l++) printf("%s%d", l ? ", " : "", gpt2_n_head(c, l));
        printf("], \"n_inner_per_layer\": [");
        for (int l = 0; l < c->n_layer; l++) printf("%s%d", l ? ", " : "", gpt2_n_ff(c, l));
        printf("]");
        return;
    }
    printf("layers        (heads of %d, MLP width, low-rank ranks qkv/out/up/down)\n", c->head_dim);
    for (int l = 0; l < c->n_layer; l++)
        printf("  %3d: %3d heads, width %6d, ranks %d/%d/%d/%d\n", l, gpt2_n_head(c, l), gpt2_n_ff(c, l), gpt2_rank(c, l, 0),
               gpt2_rank(c, l, 1), gpt2_rank(c, l, 2), gpt2_rank(c, l, 3));
}

int cmd_info(int argc, char **argv) {
    const char *model = NULL;
    int json = 0, threads = 0, tensors = 0;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "PATH", "Hugging Face GPT-2 directory or GGUF file", 0, 0, 1},
        {"json", 0, ARG_FLAG, &json, NULL, "print one JSON object", 0, 0, 0},
        {"tensors", 0, ARG_FLAG, &tensors, NULL, "also list every tensor (GGUF: name, type, shape, bytes; HF: name, shape)", 0, 0, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    int rc = args_parse("info", "info -m PATH [--json] [--tensors]", specs, 4, argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    cli_set_threads(threads);
    gpt2_model m;
    if (cli_load_model(model, &m)) return cli_fail();
    bpe *tok = NULL;
    int has_tok = cli_load_tokenizer(model, &tok) == 0;
    bpe_free(tok);
    err_clear();
    const gpt2_config *c = &m.cfg;
    size_t params = gpt2_param_count(c);
    if (json) {
        printf("{\"model\": ");
        cli_json_string(stdout, model, strlen(model));
        printf(", \"architecture\": \"gpt2\", \"n_layer\": %d, \"n_head\": %d, \"n_embd\": %d, \"n_ctx\": %d, "
               "\"vocab_size\": %d, \"n_inner\": %d, \"params\": %zu, \"tied_lm_head\": %s, \"file_bytes\": %zu, "
               "\"bits_per_weight\": %.4f",
               c->n_layer, c->n_embd / c->head_dim, c->n_embd, c->n_ctx, c->vocab_size, gpt2_max_ff(c), params,
               c->tied ? "true" : "false", m.file_bytes, 8.0 * (double)m.file_bytes / (double)params);
        print_layers(c, 1);
        printf(", \"dtypes\": {");
        int first = 1;
        for (int d = 0; d < DTYPE_COUNT; d++)
            if (m.dtype_params[d]) {
                printf("%s\"%s\": %zu", first ? "" : ", ", dtype_name((dtype)d), m.dtype_params[d]);
                first = 0;
            }
        printf("}, \"types\": {");
        first = 1;
        for (int t = 0; t < 32; t++)
            if (m.qtype_params[t]) {
                printf("%s\"%s\": %zu", first ? "" : ", ", qtype_get(t) ? qtype_get(t)->name : "?", m.qtype_params[t]);
                first = 0;
            }
        printf("}, \"tokenizer\": %s", has_tok ? "true" : "false");
        if (m.quant_method) printf(", \"quant_method\": \"%s\"", m.quant_method);
        if (m.calib_file) {
            printf(", \"calibration_file\": ");
            cli_json_string(stdout, m.calib_file, strlen(m.calib_file));
            printf(", \"calibration_tokens\": %ld", m.calib_tokens);
        }
        if (tensors) gpt2_path_is_gguf(model) ? print_tensors(model, 1) : print_table(&m, 1);
        printf("}\n");
    } else {
        char b1[32], b2[32];
        printf("model         %s\n", model);
        printf("architecture  gpt2 (pre-LayerNorm transformer, %s GELU)\n", c->gelu_exact ? "erf" : "tanh");
        printf("shape         n_layer %d, n_head %d, n_embd %d, n_inner %d, n_ctx %d, vocab %d\n", c->n_layer,
               c->n_embd / c->head_dim, c->n_embd, gpt2_max_ff(c), c->n_ctx, c->vocab_size);
        print_layers(c, 0);
        printf("parameters    %s (%s; mask buffers not counted)\n", commas(params, b1),
               c->tied ? "LM head tied to wte, counted once" : "untied LM head counted separately");
        printf("weight bytes  %s (%.2f MB, %.2f bits/weight)\n", commas(m.file_bytes, b2), m.file_bytes / 1e6,
               8.0 * (double)m.file_bytes / (double)params);
        int any = 0;
        for (int t = 0; t < 32; t++) any |= m.qtype_params[t] != 0;
        if (any) {  // a GGUF file: parameters per stored ggml type
            printf("stored types ");
            for (int t = 0; t < 32; t++)
                if (m.qtype_params[t]) printf(" %s: %s", qtype_get(t) ? qtype_get(t)->name : "?", commas(m.qtype_params[t], b1));
            // the loader shares output.weight when its bytes equal token_embd's
            printf(m.head.data == m.embd.data ? " (output.weight equals token_embd: counted once)"
                                              : " (output.weight included)");
        } else {
            printf("dtypes       ");
            for (int d = 0; d < DTYPE_COUNT; d++)
                if (m.dtype_params[d]) printf(" %s: %s", dtype_name((dtype)d), commas(m.dtype_params[d], b1));
        }
        printf("\ntokenizer     %s\n", !has_tok ? "none (commands that read or write text need it)" : gpt2_path_is_gguf(model) ? "embedded in the GGUF file" : "vocab.json + merges.txt");
        if (m.quant_method)
            printf("compressed    by shrink, method %s\n", m.quant_method);
        if (m.calib_file) printf("calibration   %s, %ld tokens\n", m.calib_file, m.calib_tokens);
        if (tensors) gpt2_path_is_gguf(model) ? print_tensors(model, 0) : print_table(&m, 0);
    }
    gpt2_model_free(&m);
    return 0;
}
