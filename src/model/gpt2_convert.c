// gpt2_convert.c: store a model's weight matrices in other types — F16, or any ggml
// block format — each matrix its own type (a plan), rounding to nearest with ggml's
// scale searches, optionally weighted per input column (an importance vector).
// The fp32 copies of the matrices are dropped, so memory reflects the stored types:
// what stays fp32 is the LayerNorm parameters, biases and position embeddings.
// The LM head gets its own storage unless it is tied and stored exactly as the embedding
// (llama.cpp-style plans give it another type: one parameter, two encodings).
#include "gpt2.h"
#include "../core/err.h"
#include "../core/parallel.h"
#include "../core/xalloc.h"
#include <string.h>

void gpt2_plan_uniform(gpt2_plan *p, const gpt2_config *c, qtype t) {
    p->n = gpt2_n_mats(c);
    p->types = xmalloc((size_t)p->n * sizeof *p->types);
    for (int i = 0; i < p->n; i++) p->types[i] = t;
}

void gpt2_plan_free(gpt2_plan *p) {
    free(p->types);
    p->types = NULL;
    p->n = 0;
}

int gpt2_model_quantize(gpt2_model *m, const gpt2_plan *plan, const float *const *imatrix, const void *const *encoded) {
    return gpt2_model_quantize_progress(m, plan, imatrix, encoded, NULL, NULL);
}

int gpt2_model_quantize_progress(gpt2_model *m, const gpt2_plan *plan, const float *const *imatrix,
                                 const void *const *encoded, gpt2_tick_fn tick, void *user) {
    if (!gpt2_model_is_f32(m))
        return err_set(ERR_ARG, "quantize: the model's matrices are already stored as %s (start from the F32 model)",
                       qtype_get((int)m->head.type)->name);
    const gpt2_config *c = &m->cfg;
    int n = gpt2_n_mats(c), head = n - 1;
    CHECK(plan->n == n);
    // Check every type fits its matrix before touching anything.
    for (int i = 0; i < n; i++) {
        const qtype_info *q = qtype_get((int)plan->types[i]);
        int cols = gpt2_mat(m, i)->cols;
        if (!q || plan->types[i] == QTYPE_Q8_K) return err_set(ERR_ARG, "quantize: type %d is not a weight type", (int)plan->types[i]);
        if (cols % q->block)
            return err_set(ERR_ARG, "quantize: %s needs rows that are multiples of %d; a matrix here has %d columns", q->name,
                           q->block, cols);
    }
    // The head shares the embedding's bytes when it is the same parameter stored the same way.
    int share_head = gpt2_mat(m, head)->data == m->embd.data && plan->types[head] == plan->types[n - 2] &&
                     !(imatrix && imatrix[head]) && !(encoded && encoded[head]);
    size_t *off = xmalloc((size_t)(n + 1) * sizeof *off);
    off[0] = 0;
    for (int i = 0; i < n; i++) {
        const wmat *v = gpt2_mat(m, i);
        off[i + 1] = off[i] + (i == head && share_head ? 0 : (size_t)v->rows * qtype_row_bytes(plan->types[i], (size_t)v->cols));
    }
    char *store = xmalloc_weights(off[n] ? off[n] : 1);
    // Progress in thousands of weights (the matrices differ in size by 50x and more).
    long long total_k = 0, done_k = 0;
    for (int i = 0; i < n; i++) total_k += (long long)gpt2_mat(m, i)->rows * gpt2_mat(m, i)->cols / 1000;
    int last_told = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        const wmat *v = gpt2_mat(m, i);
        if (!(i == head && share_head)) {
            if (encoded && encoded[i]) memcpy(store + off[i], encoded[i], off[i + 1] - off[i]);
            else CHECK(quantize_rows(plan->types[i], v->data, store + off[i], v->rows, v->cols, imatrix ? imatrix[i] : NULL) == 0);
        }
        long long now;
#pragma omp atomic capture
        now = done_k += (long long)v->rows * v->cols / 1000;
        if (tick && par_thread_id() == 0) {  // the caller's thread: its progress sink
            tick((int)now, (int)total_k, user);
            last_told = now == total_k;
        }
    }
    if (tick && !last_told) tick((int)total_k, (int)total_k, user);
    // Keep only the vectors and wpe, in a new and smaller fp32 arena.
    float *old = m->params;
    gpt2_model q = *m;
    gpt2_model_alloc_vectors(&q, c);
    for (int id = 0; id < GPT2_T_COUNT; id++)
        for (int l = 0; gpt2_tensors[id].kind != GPT2_KIND_MATRIX && l < (gpt2_tensors[id].per_layer ? c->n_layer : 1); l++) {
            int64_t rows, cols;
            if (gpt2_tensor_shape(c, id, l, &rows, &cols))
                memcpy(*gpt2_tensor_vec(&q, id, l), *gpt2_tensor_vec(m, id, l), (size_t)(rows * cols) * sizeof(float));
        }
    for (int i = 0; i < n; i++) {
        const wmat *v = gpt2_mat(m, i);
        *gpt2_mat(&q, i) = (wmat){plan->types[i], v->rows, v->cols, store + off[i]};
    }
    if (share_head) q.head = q.embd;
    free(m->layers);
    free(old);
    free(off);
    m->layers = q.layers;
    m->params = q.params;
    m->n_floats = q.n_floats;
    m->wpe = q.wpe, m->ln_f_w = q.ln_f_w, m->ln_f_b = q.ln_f_b;
    m->embd = q.embd, m->head = q.head;
    m->mat_store = store;
    return 0;
}

int gpt2_model_convert(gpt2_model *m, qtype t) {
    if (!qtype_get((int)t)) return err_set(ERR_ARG, "convert: unknown weight type %d", (int)t);
    gpt2_plan p;
    gpt2_plan_uniform(&p, &m->cfg, t);
    int rc = gpt2_model_quantize(m, &p, NULL, NULL);
    gpt2_plan_free(&p);
    return rc;
}
