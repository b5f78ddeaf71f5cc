// gpt2_init.c: model memory planned from the config (one allocation carves every fp32
// tensor in the tensor table's order, llm.c style), and GPT-2's random initialisation
// (Radford et al. 2019: N(0, 0.02) weights, residual projections scaled by 1/sqrt(2·n_layer),
// zero biases, LayerNorm 1/0).
#include "gpt2.h"
#include "../core/err.h"
#include "../core/progress.h"
#include "../core/rng.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include <math.h>
#include <string.h>

// Lays the fp32 tensors out in table order (all of them, or only those that are not
// matrices) from base, pointing each field at its place; returns the floats used. With
// base NULL it only counts.
static size_t carve(gpt2_model *m, float *base, int matrices) {
    const gpt2_config *c = &m->cfg;
    size_t off = 0;
    for (int id = 0; id < GPT2_T_COUNT; id++) {
        const gpt2_tensor_info *t = &gpt2_tensors[id];
        int is_mat = t->kind == GPT2_KIND_MATRIX;
        if (is_mat && !matrices) continue;
        for (int l = 0; l < (t->per_layer ? c->n_layer : 1); l++) {
            int64_t rows, cols;
            if (!gpt2_tensor_shape(c, id, l, &rows, &cols)) continue;
            if (base) {
                float *p = base + off;
                if (is_mat) *gpt2_tensor_mat(m, id, l) = (wmat){QTYPE_F32, (int)rows, (int)cols, p};
                else *gpt2_tensor_vec(m, id, l) = p;
            }
            off += (size_t)(rows * cols);
        }
    }
    return off;
}

static void alloc(gpt2_model *m, const gpt2_config *cfg, int matrices) {
    memset(m, 0, sizeof *m);
    kernels_init();
    m->cfg = *cfg;
    m->layers = xcalloc((size_t)cfg->n_layer, sizeof *m->layers);
    m->n_floats = carve(m, NULL, matrices);
    m->params = matrices ? xmalloc_weights(m->n_floats ? m->n_floats * sizeof(float) : 1)
                         : xmalloc(m->n_floats ? m->n_floats * sizeof(float) : 1);
    carve(m, m->params, matrices);
}

void gpt2_model_alloc(gpt2_model *m, const gpt2_config *cfg) {
    alloc(m, cfg, 1);
    if (cfg->tied) m->head = m->embd;
}

void gpt2_model_alloc_vectors(gpt2_model *m, const gpt2_config *cfg) { alloc(m, cfg, 0); }

int gpt2_model_is_f32(const gpt2_model *m) {
    if (m->mat_store) return 0;
    for (int i = 0; i < gpt2_n_mats(&m->cfg); i++)
        if (gpt2_mat((gpt2_model *)m, i)->type != QTYPE_F32) return 0;
    return 1;
}

void gpt2_model_free(gpt2_model *m) {
    free(m->params);
    free(m->layers);
    free(m->mat_store);
    free(m->removed_heads);
    free(m->source);
    free(m->quant_method);
    free(m->calib_file);
    memset(m, 0, sizeof *m);
}

void gpt2_model_clone(gpt2_model *dst, const gpt2_model *m) {
    CHECK(gpt2_model_is_f32(m));
    gpt2_model_alloc(dst, &m->cfg);
    memcpy(dst->params, m->params, m->n_floats * sizeof(float));
    if (m->removed_heads) {
        size_t n = (size_t)m->cfg.n_layer * (m->cfg.n_embd / m->cfg.head_dim);
        dst->removed_heads = xmalloc(n);
        memcpy(dst->removed_heads, m->removed_heads, n);
    }
    if (m->source) dst->source = xstrdup(m->source);
}

// Standard normal by Box-Muller (two uniforms per draw keeps it simple and deterministic).
static float normal(rng *r) {
    float u1 = rng_f32(r), u2 = rng_f32(r);
    if (u1 < 1e-12f) u1 = 1e-12f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

void gpt2_model_init_random(gpt2_model *m, const gpt2_config *cfg, uint64_t seed) {
    gpt2_model_alloc(m, cfg);
    rng r;
    rng_init(&r, seed);
    float resid_std = 0.02f / sqrtf(2.0f * (float)cfg->n_layer);
    // Draws go through the arena in order, so a seed gives the same weights for a shape.
    float *x = m->params;
    double t0 = timer_now();
    size_t done = 0, total = gpt2_param_count(cfg) >> 20;
    for (int id = 0; id < GPT2_T_COUNT; id++) {
        const gpt2_tensor_info *t = &gpt2_tensors[id];
        for (int l = 0; l < (t->per_layer ? cfg->n_layer : 1); l++) {
            int64_t rows, cols;
            if (!gpt2_tensor_shape(cfg, id, l, &rows, &cols)) continue;
            for (int64_t i = 0; i < rows * cols; i++, x++)
                switch (t->init) {
                case GPT2_INIT_NORMAL: *x = 0.02f * normal(&r); break;
                case GPT2_INIT_RESID: *x = resid_std * normal(&r); break;
                case GPT2_INIT_ONES: *x = 1.0f; break;
                default: *x = 0.0f; break;
                }
            done += (size_t)(rows * cols);
            progress_note("random weights: M", (int)(done >> 20), (int)total, t0);
        }
    }
    progress_note("random weights: M", (int)total, (int)total, t0);
    m->dtype_params[DTYPE_F32] = gpt2_param_count(cfg);
}
