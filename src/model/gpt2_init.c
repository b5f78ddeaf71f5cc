// gpt2_init.c: model memory planned from the config (one allocation carves every
// tensor, llm.c style), and GPT-2's random initialisation (Radford et al. 2019:
// N(0, 0.02) weights, residual projections scaled by 1/sqrt(2·n_layer), zero biases,
// LayerNorm 1/0).
#include "gpt2.h"
#include "../core/rng.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include <math.h>
#include <string.h>

void gpt2_model_alloc(gpt2_model *m, const gpt2_config *cfg) {
    memset(m, 0, sizeof *m);
    kernels_init();
    m->cfg = *cfg;
    size_t sizes[GPT2_NUM_PARAMS], total = 0;
    gpt2_param_sizes(cfg, sizes);
    for (int p = 0; p < GPT2_NUM_PARAMS; p++) total += sizes[p];
    m->n_params = total;
    m->params = xmalloc_weights(total * sizeof(float));
    float **slot[GPT2_NUM_PARAMS];
    gpt2_param_slots(&m->w, slot);
    float *ptr = m->params;
    for (int p = 0; p < GPT2_NUM_PARAMS; p++) {
        *slot[p] = ptr;
        ptr += sizes[p];
    }
    m->tied = 1;
    m->lm_head = m->w.wte;
    m->mats = xcalloc((size_t)cfg->n_layer * GPT2_MATS_PER_LAYER, sizeof *m->mats);
    gpt2_model_set_f32_views(m);
}

int gpt2_param_is_matrix(int p) {
    return p == GPT2_WTE || p == GPT2_QKV_W || p == GPT2_PROJ_W || p == GPT2_FC_W || p == GPT2_FCPROJ_W;
}

void gpt2_model_alloc_typed(gpt2_model *m, const gpt2_config *cfg) {
    memset(m, 0, sizeof *m);
    kernels_init();
    m->cfg = *cfg;
    size_t sizes[GPT2_NUM_PARAMS], keep = 0;
    gpt2_param_sizes(cfg, sizes);
    for (int p = 0; p < GPT2_NUM_PARAMS; p++) {
        m->n_params += sizes[p];
        if (!gpt2_param_is_matrix(p)) keep += sizes[p];
    }
    m->params = xmalloc(keep * sizeof(float));
    float **slot[GPT2_NUM_PARAMS];
    gpt2_param_slots(&m->w, slot);
    float *ptr = m->params;
    for (int p = 0; p < GPT2_NUM_PARAMS; p++) {
        if (gpt2_param_is_matrix(p)) continue;
        *slot[p] = ptr;
        ptr += sizes[p];
    }
    m->tied = 1;
    m->mats = xcalloc((size_t)cfg->n_layer * GPT2_MATS_PER_LAYER, sizeof *m->mats);
}

void gpt2_model_set_f32_views(gpt2_model *m) {
    const gpt2_config *c = &m->cfg;
    size_t C = (size_t)c->n_embd, F = (size_t)c->n_inner;
    for (int l = 0; l < c->n_layer; l++) {
        wmat *v = m->mats + (size_t)l * GPT2_MATS_PER_LAYER;
        v[GPT2_MAT_QKV] = (wmat){QTYPE_F32, 3 * c->n_embd, c->n_embd, m->w.attn_qkv_w + l * 3 * C * C};
        v[GPT2_MAT_PROJ] = (wmat){QTYPE_F32, c->n_embd, c->n_embd, m->w.attn_proj_w + l * C * C};
        v[GPT2_MAT_FC] = (wmat){QTYPE_F32, c->n_inner, c->n_embd, m->w.mlp_fc_w + l * F * C};
        v[GPT2_MAT_FCPROJ] = (wmat){QTYPE_F32, c->n_embd, c->n_inner, m->w.mlp_proj_w + l * C * F};
    }
    m->embd = (wmat){QTYPE_F32, c->vocab_size, c->n_embd, m->w.wte};
    m->head = (wmat){QTYPE_F32, c->vocab_size, c->n_embd, m->lm_head};
}

void gpt2_param_slots(gpt2_weights *w, float **slot[GPT2_NUM_PARAMS]) {
    float **s[GPT2_NUM_PARAMS] = {&w->wte, &w->wpe, &w->ln_1_w, &w->ln_1_b, &w->attn_qkv_w, &w->attn_qkv_b,
                                  &w->attn_proj_w, &w->attn_proj_b, &w->ln_2_w, &w->ln_2_b, &w->mlp_fc_w,
                                  &w->mlp_fc_b, &w->mlp_proj_w, &w->mlp_proj_b, &w->ln_f_w, &w->ln_f_b};
    memcpy(slot, s, sizeof s);
}

// Standard normal by Box-Muller (two uniforms per draw keeps it simple and deterministic).
static float normal(rng *r) {
    float u1 = rng_f32(r), u2 = rng_f32(r);
    if (u1 < 1e-12f) u1 = 1e-12f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

void gpt2_model_init_random(gpt2_model *m, const gpt2_config *cfg, uint64_t seed) {
    gpt2_model_alloc(m, cfg);
    size_t sizes[GPT2_NUM_PARAMS];
    gpt2_param_sizes(cfg, sizes);
    float **slot[GPT2_NUM_PARAMS];
    gpt2_param_slots(&m->w, slot);
    rng r;
    rng_init(&r, seed);
    float resid_std = 0.02f / sqrtf(2.0f * (float)cfg->n_layer);
    for (int p = 0; p < GPT2_NUM_PARAMS; p++) {
        float *x = *slot[p];
        int is_ln_w = p == GPT2_LN1_W || p == GPT2_LN2_W || p == GPT2_LNF_W;
        int is_weight = p == GPT2_WTE || p == GPT2_WPE || p == GPT2_QKV_W || p == GPT2_PROJ_W || p == GPT2_FC_W ||
                        p == GPT2_FCPROJ_W;
        float std = (p == GPT2_PROJ_W || p == GPT2_FCPROJ_W) ? resid_std : 0.02f;
        for (size_t i = 0; i < sizes[p]; i++) x[i] = is_ln_w ? 1.0f : is_weight ? std * normal(&r) : 0.0f;
    }
    m->dtype_params[DTYPE_F32] = m->n_params;
}
