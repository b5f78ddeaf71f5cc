// gpt2_convert.c: store a model's weight matrices as another type: F16, or any
// ggml block format by plain round-to-nearest (quantize_rows without importance). The fp32 copies of the
// matrices are dropped, so memory reflects the stored type: what stays fp32 is
// the LayerNorm parameters, biases and position embeddings.
#include "gpt2.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include <string.h>

int gpt2_model_convert(gpt2_model *m, qtype t) {
    const qtype_info *q = qtype_get((int)t);
    if (!q) return err_set(ERR_ARG, "convert: unknown weight type %d", (int)t);
    if (m->mat_store || !m->w.wte) return err_set(ERR_ARG, "convert: the model's matrices are already stored as %s",
                                                  qtype_get((int)m->head.type)->name);
    const gpt2_config *c = &m->cfg;
    if (c->n_embd % q->block || c->n_inner % q->block)
        return err_set(ERR_ARG, "convert: %s needs rows that are multiples of %d (n_embd %d, n_inner %d)", q->name,
                       q->block, c->n_embd, c->n_inner);
    // One store for every matrix: per layer qkv, proj, fc, fcproj; then wte; then an untied head.
    int L = c->n_layer, n_mats = L * GPT2_MATS_PER_LAYER;
    size_t total = 0;
    for (int i = 0; i < n_mats; i++) total += (size_t)m->mats[i].rows * qtype_row_bytes(t, (size_t)m->mats[i].cols);
    size_t vocab_bytes = (size_t)c->vocab_size * qtype_row_bytes(t, (size_t)c->n_embd);
    total += vocab_bytes * (m->tied ? 1 : 2);
    char *store = xmalloc(total), *p = store;
    for (int i = 0; i < n_mats; i++) {
        wmat *v = &m->mats[i];
        size_t rb = qtype_row_bytes(t, (size_t)v->cols);
        CHECK(quantize_rows(t, v->data, p, v->rows, v->cols, NULL) == 0);
        *v = (wmat){t, v->rows, v->cols, p};
        p += (size_t)v->rows * rb;
    }
    CHECK(quantize_rows(t, m->w.wte, p, c->vocab_size, c->n_embd, NULL) == 0);
    m->embd = (wmat){t, c->vocab_size, c->n_embd, p};
    m->head = m->embd;
    p += vocab_bytes;
    if (!m->tied) {
        CHECK(quantize_rows(t, m->lm_head, p, c->vocab_size, c->n_embd, NULL) == 0);
        m->head = (wmat){t, c->vocab_size, c->n_embd, p};
        free(m->lm_head);
    }
    m->lm_head = NULL;
    m->mat_store = store;

    // Keep only the vectors and wpe in a new, smaller fp32 arena.
    size_t sizes[GPT2_NUM_PARAMS], keep = 0;
    gpt2_param_sizes(c, sizes);
    float **slot[GPT2_NUM_PARAMS];
    gpt2_param_slots(&m->w, slot);
    static const int is_mat[GPT2_NUM_PARAMS] = {[GPT2_WTE] = 1, [GPT2_QKV_W] = 1, [GPT2_PROJ_W] = 1, [GPT2_FC_W] = 1,
                                                [GPT2_FCPROJ_W] = 1};
    for (int i = 0; i < GPT2_NUM_PARAMS; i++)
        if (!is_mat[i]) keep += sizes[i];
    float *arena = xmalloc(keep * sizeof(float)), *a = arena;
    for (int i = 0; i < GPT2_NUM_PARAMS; i++) {
        if (is_mat[i]) {
            *slot[i] = NULL;
            continue;
        }
        memcpy(a, *slot[i], sizes[i] * sizeof(float));
        *slot[i] = a;
        a += sizes[i];
    }
    free(m->params);
    m->params = arena;
    return 0;
}
