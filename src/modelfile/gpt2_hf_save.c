// gpt2_hf_save.c: write a model as a Hugging Face GPT-2 directory (config.json +
// model.safetensors in GPT2LMHeadModel names and Conv1D (in, out) layouts), so any
// HF-compatible tool, and shrink itself, can load it. Each file is written atomically.
// Pruned heads are written as transformers does (config.pruned_heads and the pruned
// shapes). MLP widths that differ per layer go into shrink's own key "shrink_n_inner"
// (docs/format.md): shrink and its training checkpoints read it; transformers builds one
// n_inner for every layer and refuses the weights; low-rank linears ("compression layers")
// go into "shrink_rank" with factor tensors c_attn_a/c_attn_b etc., which only shrink reads.
// Layers whose attention scale depends on a changed index are refused.
#include "modelfile.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/xalloc.h"
#include "../formats/safetensors.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

// "pruned_heads": {"l": [original heads removed], ...}, or nothing when no head is pruned.
static void write_pruned_heads(FILE *f, const gpt2_model *m) {
    const gpt2_config *c = &m->cfg;
    int NH = c->n_embd / c->head_dim, any = 0;
    for (int l = 0; l < c->n_layer; l++) any |= gpt2_n_head(c, l) < NH;
    if (!any) return;
    fprintf(f, "  \"pruned_heads\": {");
    int first = 1;
    for (int l = 0; l < c->n_layer; l++) {
        if (gpt2_n_head(c, l) == NH) continue;
        fprintf(f, "%s\"%d\": [", first ? "" : ", ", l);
        first = 0;
        // the heads the model records as removed, else the last ones (transformers needs the count)
        for (int h = 0, k = 0; h < NH; h++) {
            int gone = m->removed_heads ? m->removed_heads[(size_t)l * NH + h] : h >= gpt2_n_head(c, l);
            if (gone) fprintf(f, "%s%d", k++ ? ", " : "", h);
        }
        fprintf(f, "]");
    }
    fprintf(f, "},\n");
}

static int widths_differ(const gpt2_config *c) {
    for (int l = 1; l < c->n_layer; l++)
        if (gpt2_n_ff(c, l) != gpt2_n_ff(c, 0)) return 1;
    return 0;
}

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
                act, c->ln_eps, c->vocab_size, c->n_ctx, c->n_ctx, c->n_embd, c->n_layer, c->n_embd / c->head_dim,
                gpt2_n_ff(c, 0));
        write_pruned_heads(f.f, m);
        if (widths_differ(c)) {
            fprintf(f.f, "  \"shrink_n_inner\": [");
            for (int l = 0; l < c->n_layer; l++) fprintf(f.f, "%s%d", l ? ", " : "", gpt2_n_ff(c, l));
            fprintf(f.f, "],\n");
        }
        if (gpt2_max_rank(c)) {
            fprintf(f.f, "  \"shrink_rank\": [");
            for (int l = 0; l < c->n_layer; l++)
                fprintf(f.f, "%s[%d, %d, %d, %d]", l ? ", " : "", gpt2_rank(c, l, 0), gpt2_rank(c, l, 1), gpt2_rank(c, l, 2),
                        gpt2_rank(c, l, 3));
            fprintf(f.f, "],\n");
        }
        if (c->bos_id >= 0) fprintf(f.f, "  \"bos_token_id\": %d,\n", c->bos_id);
        if (c->eos_id >= 0) fprintf(f.f, "  \"eos_token_id\": %d,\n", c->eos_id);
        fprintf(f.f, "  \"scale_attn_weights\": %s,\n  \"scale_attn_by_inverse_layer_idx\": %s,\n"
                     "  \"tie_word_embeddings\": %s\n}\n",
                c->scale_attn ? "true" : "false", c->scale_by_layer ? "true" : "false", c->tied ? "true" : "false");
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

// What transformers' GPT2Config cannot express, or NULL.
static const char *inexpressible(const gpt2_config *c) {
    for (int l = 0; l < c->n_layer; l++) {
        if (c->src_layer[l] != l && c->scale_by_layer) return "attention scaled by a layer index that changed";
    }
    return NULL;
}

// One tensor's HF bytes, made when the writer reaches it (one tensor in memory at a time).
typedef struct hf_source {
    const float *src;
    size_t n;
    int64_t rows, cols;  // the HF shape (a vector: rows = n, cols = 1 or its single dim)
    int transpose, f16;
} hf_source;

static void fill_hf(void *user, int i_tensor, void *dst) {
    const hf_source *h = (const hf_source *)user + i_tensor;
    size_t hc = (size_t)h->cols;
    for (size_t i = 0; i < h->n; i++) {
        // element i of the HF tensor: (r, k) = (i / hc, i % hc); ours is (k, r) when transposed
        size_t j = h->transpose ? (i % hc) * (size_t)h->rows + i / hc : i;
        if (h->f16) ((uint16_t *)dst)[i] = f32_to_fp16(h->src[j]);
        else ((float *)dst)[i] = h->src[j];
    }
}

int gpt2_hf_save(const gpt2_model *m, const char *dir, const char *tok_dir, int f16) {
    const gpt2_config *c = &m->cfg;
    if (!gpt2_model_is_f32(m))
        return err_set(ERR_ARG, "%s: an HF directory holds F32/F16/BF16 tensors; this model's matrices are stored as %s "
                                "(write it as GGUF instead)", dir, qtype_get((int)m->head.type)->name);
    const char *why = inexpressible(c);
    if (why) return err_set(ERR_ARG, "%s: a Hugging Face GPT-2 directory cannot hold %s", dir, why);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return err_set(ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    int L = c->n_layer, n_t = 0, max_t = GPT2_T_COUNT * L + GPT2_T_COUNT;
    st_write_tensor *ts = xcalloc((size_t)max_t, sizeof *ts);
    char **names = xcalloc((size_t)max_t, sizeof *names);
    hf_source *srcs = xcalloc((size_t)max_t, sizeof *srcs);
    gpt2_model *mm = (gpt2_model *)m;  // the table's accessors take a mutable model; nothing is written
    for (int id = 0; id < GPT2_T_COUNT; id++) {
        const gpt2_tensor_info *ti = &gpt2_tensors[id];
        for (int l = 0; l < (ti->per_layer ? L : 1); l++) {
            int64_t rows, cols;
            if (!gpt2_tensor_shape(c, id, l, &rows, &cols)) continue;
            const float *src = ti->kind == GPT2_KIND_MATRIX ? gpt2_tensor_mat(mm, id, l)->data : *gpt2_tensor_vec(mm, id, l);
            int64_t hf[2];
            int ndim = gpt2_tensor_hf_shape(c, id, l, hf);
            char name[128];
            snprintf(name, sizeof name, ti->hf, l);
            names[n_t] = xstrdup(name);
            srcs[n_t] = (hf_source){src, (size_t)(rows * cols), hf[0], hf[1], ti->hf_transpose, f16};
            ts[n_t] = (st_write_tensor){names[n_t], f16 ? DTYPE_F16 : DTYPE_F32, ndim, {hf[0], hf[1]}, NULL};
            n_t++;
        }
    }
    char *st_path = path_join(dir, "model.safetensors");
    int rc = safetensors_write_filled(st_path, ts, n_t, NULL, fill_hf, srcs);
    free(st_path);
    for (int i = 0; i < n_t; i++) free(names[i]);
    free(names);
    free(srcs);
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
