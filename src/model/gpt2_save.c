// gpt2_save.c: write a model as a Hugging Face GPT-2 directory (config.json +
// model.safetensors in GPT2LMHeadModel names and Conv1D (in, out) layouts), so any
// HF-compatible tool, and shrink itself, can load it. Each file is written atomically.
#include "gpt2.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/xalloc.h"
#include "../formats/safetensors.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int write_config(const gpt2_model *m, const char *dir) {
    const gpt2_config *c = &m->cfg;
    char *path = path_join(dir, "config.json");
    atomic_file f;
    int rc = atomic_file_open(&f, path);
    if (!rc) {
        const char *act = c->gelu_exact ? "gelu" : "gelu_new";
        fprintf(f.f,
                "{\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"model_type\": \"gpt2\",\n"
                "  \"activation_function\": \"%s\",\n  \"layer_norm_epsilon\": %.9g,\n"
                "  \"vocab_size\": %d,\n  \"n_positions\": %d,\n  \"n_ctx\": %d,\n  \"n_embd\": %d,\n"
                "  \"n_layer\": %d,\n  \"n_head\": %d,\n  \"n_inner\": %d,\n",
                act, c->ln_eps, c->vocab_size, c->n_ctx, c->n_ctx, c->n_embd, c->n_layer, c->n_head, c->n_inner);
        if (c->bos_id >= 0) fprintf(f.f, "  \"bos_token_id\": %d,\n", c->bos_id);
        if (c->eos_id >= 0) fprintf(f.f, "  \"eos_token_id\": %d,\n", c->eos_id);
        fprintf(f.f, "  \"scale_attn_weights\": %s,\n  \"scale_attn_by_inverse_layer_idx\": %s,\n"
                     "  \"tie_word_embeddings\": %s\n}\n",
                c->scale_attn ? "true" : "false", c->scale_by_layer ? "true" : "false", m->tied ? "true" : "false");
        rc = atomic_file_commit(&f);
    }
    free(path);
    return rc;
}

static int copy_file(const char *src, const char *dst) {
    char *data;
    size_t len;
    int rc = file_read_all(src, &data, &len);
    if (rc) return rc;
    atomic_file f;
    rc = atomic_file_open(&f, dst);
    if (!rc) {
        if (fwrite(data, 1, len, f.f) != len) {
            atomic_file_abort(&f);
            rc = err_set(ERR_IO, "%s: write failed", dst);
        } else {
            rc = atomic_file_commit(&f);
        }
    }
    free(data);
    return rc;
}

int gpt2_model_save_hf(const gpt2_model *m, const char *dir, const char *tok_dir, int f16) {
    if (!m->w.wte)
        return err_set(ERR_ARG, "%s: an HF directory holds F32/F16/BF16 tensors; this model's matrices are stored as %s "
                                "(write it as GGUF instead)", dir, qtype_get((int)m->head.type)->name);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return err_set(ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    static const char *fmt[GPT2_NUM_PARAMS] = {
        "transformer.wte.weight", "transformer.wpe.weight", "transformer.h.%d.ln_1.weight",
        "transformer.h.%d.ln_1.bias", "transformer.h.%d.attn.c_attn.weight", "transformer.h.%d.attn.c_attn.bias",
        "transformer.h.%d.attn.c_proj.weight", "transformer.h.%d.attn.c_proj.bias", "transformer.h.%d.ln_2.weight",
        "transformer.h.%d.ln_2.bias", "transformer.h.%d.mlp.c_fc.weight", "transformer.h.%d.mlp.c_fc.bias",
        "transformer.h.%d.mlp.c_proj.weight", "transformer.h.%d.mlp.c_proj.bias", "transformer.ln_f.weight",
        "transformer.ln_f.bias"};
    // Our (OC, C) matrices go back to HF Conv1D (C, OC); wte/wpe keep their layout.
    static const int transposed[GPT2_NUM_PARAMS] = {[GPT2_QKV_W] = 1, [GPT2_PROJ_W] = 1, [GPT2_FC_W] = 1,
                                                    [GPT2_FCPROJ_W] = 1};
    const gpt2_config *c = &m->cfg;
    size_t sizes[GPT2_NUM_PARAMS];
    gpt2_param_sizes(c, sizes);
    float **slot[GPT2_NUM_PARAMS];
    gpt2_param_slots((gpt2_weights *)&m->w, slot);
    int L = c->n_layer, n_t = 0;
    int max_t = (GPT2_NUM_PARAMS - 4) * L + 5;
    st_write_tensor *ts = xcalloc((size_t)max_t, sizeof *ts);
    char **names = xcalloc((size_t)max_t, sizeof *names);
    void **bufs = xcalloc((size_t)max_t, sizeof *bufs);
    size_t es = f16 ? 2 : 4;
    for (int p = 0; p < GPT2_NUM_PARAMS; p++) {
        int per_layer = strchr(fmt[p], '%') != NULL, layers = per_layer ? L : 1;
        size_t per = sizes[p] / (size_t)layers;
        for (int l = 0; l < layers; l++) {
            const float *src = *slot[p] + (size_t)l * per;
            int64_t rows = 0, cols = 0;  // the HF shape
            int ndim = 1;
            switch (p) {
            case GPT2_WTE: rows = c->vocab_size; cols = c->n_embd; ndim = 2; break;
            case GPT2_WPE: rows = c->n_ctx; cols = c->n_embd; ndim = 2; break;
            case GPT2_QKV_W: rows = c->n_embd; cols = 3 * c->n_embd; ndim = 2; break;
            case GPT2_PROJ_W: rows = c->n_embd; cols = c->n_embd; ndim = 2; break;
            case GPT2_FC_W: rows = c->n_embd; cols = c->n_inner; ndim = 2; break;
            case GPT2_FCPROJ_W: rows = c->n_inner; cols = c->n_embd; ndim = 2; break;
            default: rows = (int64_t)per; break;
            }
            void *buf = xmalloc(per * es);
            for (size_t i = 0; i < per; i++) {
                // element i of the HF tensor: (r, k) = (i / cols, i % cols); ours is (k, r) when transposed
                size_t j = i;
                if (transposed[p]) j = (i % (size_t)cols) * (size_t)rows + i / (size_t)cols;
                if (f16) ((uint16_t *)buf)[i] = f32_to_fp16(src[j]);
                else ((float *)buf)[i] = src[j];
            }
            char name[128];
            snprintf(name, sizeof name, fmt[p], l);
            names[n_t] = xstrdup(name);
            bufs[n_t] = buf;
            ts[n_t] = (st_write_tensor){names[n_t], f16 ? DTYPE_F16 : DTYPE_F32, ndim, {rows, cols}, buf};
            n_t++;
        }
    }
    if (!m->tied) {
        size_t n = sizes[GPT2_WTE];
        void *buf = xmalloc(n * es);
        for (size_t i = 0; i < n; i++) {
            if (f16) ((uint16_t *)buf)[i] = f32_to_fp16(m->lm_head[i]);
            else ((float *)buf)[i] = m->lm_head[i];
        }
        names[n_t] = xstrdup("lm_head.weight");
        bufs[n_t] = buf;
        ts[n_t] = (st_write_tensor){names[n_t], f16 ? DTYPE_F16 : DTYPE_F32, 2, {c->vocab_size, c->n_embd}, buf};
        n_t++;
    }
    char *st_path = path_join(dir, "model.safetensors");
    int rc = safetensors_write(st_path, ts, n_t, NULL);
    free(st_path);
    for (int i = 0; i < n_t; i++) {
        free(names[i]);
        free(bufs[i]);
    }
    free(names);
    free(bufs);
    free(ts);
    if (!rc) rc = write_config(m, dir);
    if (!rc && tok_dir) {
        const char *files[] = {"vocab.json", "merges.txt"};
        for (int i = 0; i < 2 && !rc; i++) {
            char *src = path_join(tok_dir, files[i]), *dst = path_join(dir, files[i]);
            rc = copy_file(src, dst);
            free(src);
            free(dst);
        }
    }
    return rc;
}
