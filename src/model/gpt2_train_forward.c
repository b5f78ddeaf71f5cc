// gpt2_train_forward.c: the batched (B, T) training forward pass, which keeps every
// activation the backward pass reads, and the cross-entropy loss.
//
// The same model as gpt2_forward.c (pre-LayerNorm GPT-2, eps inside the sqrt, tanh GELU
// unless the config says erf, scores scaled by 1/sqrt(HS), logits = ln_f(x)·lm_headᵀ), but
// over B independent sequences at once and without a KV cache. The matmuls use
// matmul_f32_packed (backward.h), the packed kernel the backward pass uses too. Activation memory is planned
// from (cfg, B, T) and carved from one allocation (llm.c's ActivationTensors). A
// forward-only plan (the distillation teacher, evaluation) keeps one layer's buffers and
// reuses them for every layer, so a large teacher costs little memory.
// Attention keeps its probabilities (B, NH, T, T) per layer; each (sequence, head) is
// three strided products (backward.h's gemm_f32): S = Q·Kᵀ, P = softmax(scale·S) with the
// causal mask, O = P·V, done in blocks of query rows so masked blocks are skipped.
#include "gpt2_train.h"
#include "../core/err.h"
#include "../core/parallel.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../kernels/backward.h"
#include "../kernels/kernels.h"
#include <math.h>
#include <string.h>

const char *const gpt2_prof_names[GPT2_PROF_COUNT] = {
    "matmul forward", "matmul backward", "attention (fwd+bwd)", "softmax + cross-entropy",
    "layernorm/gelu/residual/embedding", "optimizer (clip + AdamW)"};

#define QB 24  // attention query rows per block: 4 tiles of 6, little work above the diagonal

// --- planning

int gpt2_acts_init(gpt2_acts *a, const gpt2_model *m, int B, int T, int backward) {
    memset(a, 0, sizeof *a);
    const gpt2_config *c = &m->cfg;
    if (!m->w.wte || !m->lm_head || m->mat_store)
        return err_set(ERR_ARG, "training needs fp32 weights; this model's matrices are stored as %s",
                       qtype_get((int)m->head.type)->name);
    if (backward && !m->tied) return err_set(ERR_ARG, "training supports a tied LM head only (lm_head.weight == wte)");
    if (B < 1 || B > 65536) return err_set(ERR_ARG, "batch %d is outside 1..65536", B);
    if (T < 1 || T > c->n_ctx) return err_set(ERR_ARG, "context %d is outside 1..n_ctx (%d)", T, c->n_ctx);
    if ((size_t)B * (size_t)T > ((size_t)1 << 24))
        return err_set(ERR_ARG, "batch x context = %zu tokens per step; at most 2^24", (size_t)B * (size_t)T);
    // The flat optimizer needs the parameters in gpt2_param_sizes order, as gpt2_model_alloc lays them out.
    size_t sizes[GPT2_NUM_PARAMS], off = 0;
    gpt2_param_sizes(c, sizes);
    float **slot[GPT2_NUM_PARAMS];
    gpt2_param_slots((gpt2_weights *)&m->w, slot);
    for (int p = 0; p < GPT2_NUM_PARAMS; p++) {
        CHECK(*slot[p] == m->params + off);
        off += sizes[p];
    }
    CHECK(off == m->n_params);

    size_t BT = (size_t)B * T, C = (size_t)c->n_embd, F = (size_t)c->n_inner, V = (size_t)c->vocab_size;
    size_t NH = (size_t)c->n_head, HS = C / NH, Lc = backward ? (size_t)c->n_layer : 1;
    a->B = B;
    a->T = T;
    a->backward = backward;
    a->n_threads = par_max_threads();
    a->scratch_stride = ((size_t)T * T + (size_t)HS * T + 15) & ~(size_t)15;
    // One table: destination, floats. Order is the memory order.
    struct { float **p; size_t n; } plan[] = {
        {&a->encoded, BT * C},
        {&a->ln1, Lc * BT * C}, {&a->ln1_mean, Lc * BT}, {&a->ln1_rstd, Lc * BT},
        {&a->qkv, Lc * BT * 3 * C}, {&a->atty, Lc * BT * C}, {&a->att, Lc * (size_t)B * NH * T * T},
        {&a->res2, Lc * BT * C}, {&a->ln2, Lc * BT * C}, {&a->ln2_mean, Lc * BT}, {&a->ln2_rstd, Lc * BT},
        {&a->fch, Lc * BT * F}, {&a->fch_gelu, Lc * BT * F}, {&a->res3, Lc * BT * C},
        {&a->lnf, BT * C}, {&a->lnf_mean, BT}, {&a->lnf_rstd, BT},
        {&a->logits, BT * V}, {&a->losses, BT},
        {&a->scratch, (size_t)a->n_threads * a->scratch_stride},
        {&a->dres, backward ? BT * C : 0}, {&a->dbuf, backward ? BT * C : 0},
        {&a->dqkv, backward ? BT * 3 * C : 0}, {&a->dfch, backward ? BT * F : 0},
        {&a->grads, backward ? m->n_params : 0},
    };
    size_t n_plan = sizeof plan / sizeof plan[0], total = 0;
    for (size_t i = 0; i < n_plan; i++) total += (plan[i].n + 15) & ~(size_t)15;  // 64-byte aligned tensors
    a->n_floats = total;
    a->mem = xmalloc(total * sizeof(float));
    float *p = a->mem;
    for (size_t i = 0; i < n_plan; i++) {
        *plan[i].p = plan[i].n ? p : NULL;
        p += (plan[i].n + 15) & ~(size_t)15;
    }
    if (backward) {
        float **gs[GPT2_NUM_PARAMS];
        gpt2_param_slots(&a->g, gs);
        float *g = a->grads;
        for (int q = 0; q < GPT2_NUM_PARAMS; q++) {
            *gs[q] = g;
            g += sizes[q];
        }
        memset(a->grads, 0, m->n_params * sizeof(float));
    }
    return 0;
}

void gpt2_acts_free(gpt2_acts *a) {
    free(a->mem);
    memset(a, 0, sizeof *a);
}

// --- layers

// out (BT, C) = (in - mean) / sqrt(var + eps) · w + b per row; mean, rstd (BT) kept.
static void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b,
                              int BT, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < BT; t++) {
        const float *x = in + (size_t)t * C;
        float *y = out + (size_t)t * C;
        float mu = 0.0f;
#pragma omp simd reduction(+ : mu)
        for (int i = 0; i < C; i++) mu += x[i];
        mu /= (float)C;
        float var = 0.0f;
#pragma omp simd reduction(+ : var)
        for (int i = 0; i < C; i++) {
            float d = x[i] - mu;
            var += d * d;
        }
        var /= (float)C;
        float rs = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < C; i++) y[i] = (x[i] - mu) * rs * w[i] + b[i];
        mean[t] = mu;
        rstd[t] = rs;
    }
}

float gpt2_attn_scale(const gpt2_config *c, int layer) {
    float s = c->scale_attn ? 1.0f / sqrtf((float)(c->n_embd / c->n_head)) : 1.0f;
    return c->scale_by_layer ? s / (float)(layer + 1) : s;
}

// atty (B, T, C) and att (B, NH, T, T) from qkv (B, T, 3C).
static void attention_forward(gpt2_acts *a, float *atty, float *att, const float *qkv, const gpt2_config *c,
                              float scale) {
    int B = a->B, T = a->T, C = c->n_embd, NH = c->n_head, HS = C / NH, C3 = 3 * C;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH, th = par_thread_id();
        CHECK(th < a->n_threads);
        const float *q = qkv + (size_t)b * T * C3 + h * HS, *k = q + C, *v = q + 2 * C;
        // K of this head transposed to (HS, T), so the product packs contiguous rows
        float *kt = a->scratch + (size_t)th * a->scratch_stride;
        for (int j = 0; j < T; j++)
            for (int d = 0; d < HS; d++) kt[(size_t)d * T + j] = k[(size_t)j * C3 + d];
        float *P = att + (size_t)bh * T * T;
        float *o = atty + (size_t)b * T * C + h * HS;
        for (int q0 = 0; q0 < T; q0 += QB) {
            int qn = T - q0 < QB ? T - q0 : QB, nk = q0 + qn;  // keys 0..nk-1 are visible to this block
            gemm_f32(P + (size_t)q0 * T, T, q + (size_t)q0 * C3, C3, 1, kt, T, 1, qn, nk, HS, 0);  // Q·Kᵀ
            for (int i = q0; i < q0 + qn; i++) {
                float *row = P + (size_t)i * T;
                softmax_f32(row, row, i + 1, scale);
                memset(row + i + 1, 0, (size_t)(T - i - 1) * sizeof(float));
            }
            gemm_f32(o + (size_t)q0 * C, C, P + (size_t)q0 * T, T, 1, v, C3, 1, qn, HS, nk, 0);
        }
    }
}

// GELU of n floats: out = gelu(in), split across threads in 64-byte-aligned chunks.
static void gelu_forward(float *out, const float *in, size_t n, int exact) {
#pragma omp parallel
    {
        int nth = par_num_threads(), ith = par_thread_id();
        size_t chunk = ((n + (size_t)nth - 1) / (size_t)nth + 15) & ~(size_t)15;
        size_t b = (size_t)ith * chunk, e = b + chunk < n ? b + chunk : n;
        if (b < e) {
            memcpy(out + b, in + b, (e - b) * sizeof(float));
            kern.gelu_f32(out + b, e - b, exact);
        }
    }
}

static void residual_add(float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

// --- the model

void gpt2_train_forward(const gpt2_model *m, gpt2_acts *a, const int *inputs) {
    const gpt2_config *c = &m->cfg;
    const gpt2_weights *w = &m->w;
    int B = a->B, T = a->T, C = c->n_embd, F = c->n_inner, L = c->n_layer, V = c->vocab_size, NH = c->n_head;
    int BT = B * T;
    size_t sC = a->backward ? (size_t)BT * C : 0, s1 = a->backward ? (size_t)BT : 0;
    size_t s3C = 3 * sC, sF = a->backward ? (size_t)BT * F : 0, sA = a->backward ? (size_t)B * NH * T * T : 0;
    a->inputs = inputs;
    double t0 = timer_now(), t1;
#define LAP(part) (t1 = timer_now(), a->prof[part] += t1 - t0, t0 = t1)

#pragma omp parallel for schedule(static)
    for (int i = 0; i < BT; i++) {
        CHECK(inputs[i] >= 0 && inputs[i] < V);
        const float *te = w->wte + (size_t)inputs[i] * C, *pe = w->wpe + (size_t)(i % T) * C;
        float *x = a->encoded + (size_t)i * C;
        for (int k = 0; k < C; k++) x[k] = te[k] + pe[k];
    }
    for (int l = 0; l < L; l++) {
        const float *x = l == 0 ? a->encoded : a->res3 + (size_t)(l - 1) * sC;
        float *ln1 = a->ln1 + l * sC, *qkv = a->qkv + l * s3C, *atty = a->atty + l * sC, *att = a->att + l * sA;
        float *res2 = a->res2 + l * sC, *ln2 = a->ln2 + l * sC, *fch = a->fch + l * sF;
        float *fchg = a->fch_gelu + l * sF, *res3 = a->res3 + l * sC;
        size_t lC = (size_t)l * C;
        layernorm_forward(ln1, a->ln1_mean + l * s1, a->ln1_rstd + l * s1, x, w->ln_1_w + lC, w->ln_1_b + lC, BT, C,
                          c->ln_eps);
        LAP(GPT2_PROF_OTHER);
        matmul_f32_packed(qkv, ln1, w->attn_qkv_w + lC * 3 * C, w->attn_qkv_b + 3 * lC, BT, C, 3 * C);
        LAP(GPT2_PROF_MATMUL_FWD);
        attention_forward(a, atty, att, qkv, c, gpt2_attn_scale(c, l));
        LAP(GPT2_PROF_ATTN);
        matmul_f32_packed(res2, atty, w->attn_proj_w + lC * C, w->attn_proj_b + lC, BT, C, C);
        LAP(GPT2_PROF_MATMUL_FWD);
        residual_add(res2, x, (size_t)BT * C);
        layernorm_forward(ln2, a->ln2_mean + l * s1, a->ln2_rstd + l * s1, res2, w->ln_2_w + lC, w->ln_2_b + lC, BT,
                          C, c->ln_eps);
        LAP(GPT2_PROF_OTHER);
        matmul_f32_packed(fch, ln2, w->mlp_fc_w + (size_t)l * F * C, w->mlp_fc_b + (size_t)l * F, BT, C, F);
        LAP(GPT2_PROF_MATMUL_FWD);
        gelu_forward(fchg, fch, (size_t)BT * F, c->gelu_exact);
        LAP(GPT2_PROF_OTHER);
        // Forward-only plans have one res3 buffer, which is also x here: x is not read again.
        matmul_f32_packed(res3, fchg, w->mlp_proj_w + lC * F, w->mlp_proj_b + lC, BT, F, C);
        LAP(GPT2_PROF_MATMUL_FWD);
        residual_add(res3, res2, (size_t)BT * C);
        LAP(GPT2_PROF_OTHER);
    }
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->res3 + (size_t)(L - 1) * sC, w->ln_f_w, w->ln_f_b, BT, C,
                      c->ln_eps);
    LAP(GPT2_PROF_OTHER);
    matmul_f32_packed(a->logits, a->lnf, m->lm_head, NULL, BT, C, V);  // wte when tied
    LAP(GPT2_PROF_MATMUL_FWD);
#undef LAP
}

double gpt2_train_ce(gpt2_acts *a, int V, const int *targets, int grad) {
    int BT = a->B * a->T;
    float dscale = 1.0f / (float)BT;
    double t0 = timer_now();
#pragma omp parallel for schedule(static)
    for (int t = 0; t < BT; t++) {
        float *row = a->logits + (size_t)t * V;
        int y = targets[t];
        CHECK(y >= 0 && y < V);
        float zy = row[y];
        a->losses[t] = softmax_f32(row, row, V, 1.0f) - zy;
        if (grad) {
            for (int i = 0; i < V; i++) row[i] *= dscale;
            row[y] -= dscale;
        }
    }
    double sum = 0.0;
    for (int t = 0; t < BT; t++) sum += a->losses[t];
    a->prof[GPT2_PROF_SOFTMAX_CE] += timer_now() - t0;
    return sum / BT;
}
