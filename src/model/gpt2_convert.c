// gpt2_convert.c: store a model's weight matrices in other types — F16, or any ggml
// block format — each matrix its own type (a plan), rounding to nearest with ggml's
// scale searches, optionally weighted per input column (an importance vector).
// The fp32 copies of the matrices are dropped, so memory reflects the stored types:
// what stays fp32 is the LayerNorm parameters, biases and position embeddings.
// The LM head always gets its own storage, since llama.cpp-style plans give it a
// different type from the embedding (GPT-2 ties them: one parameter, two encodings).
#include "gpt2.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include <string.h>

void gpt2_plan_uniform(gpt2_plan *p, const gpt2_config *c, qtype t) {
    int n = c->n_layer * GPT2_MATS_PER_LAYER;
    p->mats = xmalloc((size_t)n * sizeof *p->mats);
    for (int i = 0; i < n; i++) p->mats[i] = t;
    p->embd = p->head = t;
}

void gpt2_plan_free(gpt2_plan *p) {
    free(p->mats);
    p->mats = NULL;
}

// Stores matrix i (plan order) at dst: its given encoding, or quantized from src.
static void store_matrix(qtype t, const float *src, void *dst, int rows, int cols, const float *const *imatrix,
                         const void *const *encoded, int i) {
    if (encoded && encoded[i]) memcpy(dst, encoded[i], (size_t)rows * qtype_row_bytes(t, (size_t)cols));
    else CHECK(quantize_rows(t, src, dst, rows, cols, imatrix ? imatrix[i] : NULL) == 0);
}

int gpt2_model_quantize(gpt2_model *m, const gpt2_plan *plan, const float *const *imatrix) {
    return gpt2_model_quantize_with(m, plan, imatrix, NULL);
}

int gpt2_model_quantize_with(gpt2_model *m, const gpt2_plan *plan, const float *const *imatrix,
                             const void *const *encoded) {
    if (m->mat_store || !m->w.wte)
        return err_set(ERR_ARG, "quantize: the model's matrices are already stored as %s (start from the F32 model)",
                       qtype_get((int)m->head.type)->name);
    const gpt2_config *c = &m->cfg;
    int L = c->n_layer, n_mats = L * GPT2_MATS_PER_LAYER;
    // Check every type fits its matrix before touching anything.
    for (int i = 0; i < n_mats + 2; i++) {
        qtype t = i < n_mats ? plan->mats[i] : i == n_mats ? plan->embd : plan->head;
        int cols = i < n_mats ? m->mats[i].cols : c->n_embd;
        const qtype_info *q = qtype_get((int)t);
        if (!q || t == QTYPE_Q8_K) return err_set(ERR_ARG, "quantize: type %d is not a weight type", (int)t);
        if (cols % q->block)
            return err_set(ERR_ARG, "quantize: %s needs rows that are multiples of %d; a matrix here has %d columns", q->name,
                           q->block, cols);
    }
    size_t total = 0;
    for (int i = 0; i < n_mats; i++) total += (size_t)m->mats[i].rows * qtype_row_bytes(plan->mats[i], (size_t)m->mats[i].cols);
    size_t embd_bytes = (size_t)c->vocab_size * qtype_row_bytes(plan->embd, (size_t)c->n_embd);
    size_t head_bytes = (size_t)c->vocab_size * qtype_row_bytes(plan->head, (size_t)c->n_embd);
    int share_head = m->tied && m->lm_head == m->w.wte && plan->head == plan->embd && !(imatrix && imatrix[n_mats + 1]) &&
                     !(encoded && encoded[n_mats + 1]);
    total += embd_bytes + (share_head ? 0 : head_bytes);
    char *store = xmalloc_weights(total ? total : 1), *p = store;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n_mats; i++) {
        // offsets are computed per matrix so the loop can run in any order
        size_t off = 0;
        for (int j = 0; j < i; j++) off += (size_t)m->mats[j].rows * qtype_row_bytes(plan->mats[j], (size_t)m->mats[j].cols);
        wmat *v = &m->mats[i];
        store_matrix(plan->mats[i], v->data, store + off, v->rows, v->cols, imatrix, encoded, i);
    }
    for (int i = 0; i < n_mats; i++) {
        wmat *v = &m->mats[i];
        *v = (wmat){plan->mats[i], v->rows, v->cols, p};
        p += (size_t)v->rows * qtype_row_bytes(plan->mats[i], (size_t)v->cols);
    }
    store_matrix(plan->embd, m->w.wte, p, c->vocab_size, c->n_embd, imatrix, encoded, n_mats);
    m->embd = (wmat){plan->embd, c->vocab_size, c->n_embd, p};
    p += embd_bytes;
    if (share_head) {
        m->head = m->embd;
    } else {
        store_matrix(plan->head, m->lm_head, p, c->vocab_size, c->n_embd, imatrix, encoded, n_mats + 1);
        m->head = (wmat){plan->head, c->vocab_size, c->n_embd, p};
    }
    if (m->lm_head != m->w.wte) free(m->lm_head);
    m->lm_head = NULL;
    m->mat_store = store;

    // Keep only the vectors and wpe in a new, smaller fp32 arena.
    size_t sizes[GPT2_NUM_PARAMS], keep = 0;
    gpt2_param_sizes(c, sizes);
    float **slot[GPT2_NUM_PARAMS];
    gpt2_param_slots(&m->w, slot);
    for (int i = 0; i < GPT2_NUM_PARAMS; i++)
        if (!gpt2_param_is_matrix(i)) keep += sizes[i];
    float *arena = xmalloc(keep * sizeof(float)), *a = arena;
    for (int i = 0; i < GPT2_NUM_PARAMS; i++) {
        if (gpt2_param_is_matrix(i)) {
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

int gpt2_model_convert(gpt2_model *m, qtype t) {
    if (!qtype_get((int)t)) return err_set(ERR_ARG, "convert: unknown weight type %d", (int)t);
    gpt2_plan p;
    gpt2_plan_uniform(&p, &m->cfg, t);
    int rc = gpt2_model_quantize(m, &p, NULL);
    gpt2_plan_free(&p);
    return rc;
}
