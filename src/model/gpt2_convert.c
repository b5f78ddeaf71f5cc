// gpt2_convert.c: store a model's weight matrices as another type (F16 now; the
// quantized block types plug in through quantize_row). The fp32 copies of the
// matrices are dropped, so memory reflects the stored type: what stays fp32 is
// the LayerNorm parameters, biases and position embeddings.
#include "gpt2.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include <string.h>

// dst = src (n floats) stored as type t.
static void store_row(qtype t, const float *src, void *dst, size_t n) {
    switch (t) {
    case QTYPE_F32: memcpy(dst, src, n * sizeof(float)); break;
    case QTYPE_F16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = f32_to_fp16(src[i]);
        break;
    }
}

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
        for (int r = 0; r < v->rows; r++) store_row(t, (const float *)v->data + (size_t)r * v->cols, p + (size_t)r * rb, (size_t)v->cols);
        *v = (wmat){t, v->rows, v->cols, p};
        p += (size_t)v->rows * rb;
    }
    size_t rb = qtype_row_bytes(t, (size_t)c->n_embd);
    for (int r = 0; r < c->vocab_size; r++) store_row(t, m->w.wte + (size_t)r * c->n_embd, p + (size_t)r * rb, (size_t)c->n_embd);
    m->embd = (wmat){t, c->vocab_size, c->n_embd, p};
    m->head = m->embd;
    p += vocab_bytes;
    if (!m->tied) {
        for (int r = 0; r < c->vocab_size; r++)
            store_row(t, m->lm_head + (size_t)r * c->n_embd, p + (size_t)r * rb, (size_t)c->n_embd);
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
