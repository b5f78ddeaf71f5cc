// gpt2_backward.c: the backward pass of the training forward (gpt2_train_forward.c).
//
// Walks the layers in reverse from d(loss)/d(logits), adding every parameter's gradient
// into gpt2_acts.grads (llm.c's gpt2_backward, same order). The tied LM head's gradient
// is the sum of the head part and the embedding part, both added into the one wte slot.
// Matmul gradients use matmul_dinp_f32 / matmul_dw_f32 (backward.h). Attention, per
// (sequence, head), with P the saved probabilities and dO the output gradient:
//   dP = dO·Vᵀ,  dS = scale · P ⊙ (dP − rowsum(P ⊙ dP)),  dQ = dS·K,  dK = dSᵀ·Q,  dV = Pᵀ·dO,
// where only the causal (lower) triangle is ever computed or read.
// Reductions over positions (LayerNorm and bias gradients, embedding scatter) are split
// by columns, so each sum runs in position order whatever the thread count.
#include "gpt2_train.h"
#include "../core/err.h"
#include "../core/parallel.h"
#include "../core/timer.h"
#include "../kernels/backward.h"
#include "../kernels/kernels.h"
#include <string.h>

#define QB 24  // attention rows per block (as in the forward)

void gpt2_grads_zero(const gpt2_model *m, gpt2_acts *a) {
    CHECK(a->backward);
    memset(a->grads, 0, m->n_params * sizeof(float));
}

// The column range [c0, c1) of n columns that thread ith of nth owns (multiples of 16).
static void split_cols(int n, int ith, int nth, int *c0, int *c1) {
    int groups = (n + 15) / 16;
    int g0 = (int)((long)groups * ith / nth), g1 = (int)((long)groups * (ith + 1) / nth);
    *c0 = g0 * 16 < n ? g0 * 16 : n;
    *c1 = g1 * 16 < n ? g1 * 16 : n;
}

// dinp (BT, C) += LayerNorm backward of dout (BT, C); dw, db (C) += their gradients.
// inp is the LayerNorm's input, mean/rstd (BT) what the forward kept.
static void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, int BT, int C) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < BT; t++) {
        const float *dy = dout + (size_t)t * C, *x = inp + (size_t)t * C;
        float *dx = dinp + (size_t)t * C;
        float mu = mean[t], rs = rstd[t], dmean = 0.0f, dnorm_mean = 0.0f;
#pragma omp simd reduction(+ : dmean, dnorm_mean)
        for (int i = 0; i < C; i++) {
            float dn = w[i] * dy[i];
            dmean += dn;
            dnorm_mean += dn * (x[i] - mu) * rs;
        }
        dmean /= (float)C;
        dnorm_mean /= (float)C;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - mu) * rs;
            dx[i] += rs * (w[i] * dy[i] - dmean - norm * dnorm_mean);
        }
    }
#pragma omp parallel
    {
        int nth = par_num_threads(), ith = par_thread_id();
        int c0, c1;
        split_cols(C, ith, nth, &c0, &c1);
        for (int t = 0; t < BT; t++) {
            const float *dy = dout + (size_t)t * C, *x = inp + (size_t)t * C;
            float mu = mean[t], rs = rstd[t];
            for (int i = c0; i < c1; i++) {
                dw[i] += (x[i] - mu) * rs * dy[i];
                db[i] += dy[i];
            }
        }
    }
}

// dqkv (B, T, 3C) from datty (B, T, C), given the layer's qkv and probabilities att.
static void attention_backward(gpt2_acts *a, float *dqkv, const float *datty, const float *qkv, const float *att,
                               int C, int NH, float scale) {
    int B = a->B, T = a->T, HS = C / NH, C3 = 3 * C;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH, th = par_thread_id();
        CHECK(th < a->n_threads);
        float *dS = a->scratch + (size_t)th * a->scratch_stride;  // (T, T): dP, then dS in place
        float *vt = dS + (size_t)T * T;                              // (HS, T): V transposed
        const float *q = qkv + (size_t)b * T * C3 + h * HS, *k = q + C, *v = q + 2 * C;
        float *dq = dqkv + (size_t)b * T * C3 + h * HS, *dk = dq + C, *dv = dq + 2 * C;
        const float *dO = datty + (size_t)b * T * C + h * HS;
        const float *P = att + (size_t)bh * T * T;
        for (int j = 0; j < T; j++)
            for (int d = 0; d < HS; d++) vt[(size_t)d * T + j] = v[(size_t)j * C3 + d];
        for (int q0 = 0; q0 < T; q0 += QB) {
            int qn = T - q0 < QB ? T - q0 : QB, nk = q0 + qn;
            gemm_f32(dS + (size_t)q0 * T, T, dO + (size_t)q0 * C, C, 1, vt, T, 1, qn, nk, HS, 0);  // dO·Vᵀ
            for (int i = q0; i < q0 + qn; i++) {
                float *r = dS + (size_t)i * T;
                const float *p = P + (size_t)i * T;
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (int j = 0; j <= i; j++) s += p[j] * r[j];
                for (int j = 0; j <= i; j++) r[j] = scale * p[j] * (r[j] - s);
                memset(r + i + 1, 0, (size_t)(T - i - 1) * sizeof(float));
            }
        }
        for (int q0 = 0; q0 < T; q0 += QB) {
            int qn = T - q0 < QB ? T - q0 : QB, nk = q0 + qn;
            // dQ rows q0.. = dS[q0.., 0..nk) · K[0..nk)
            gemm_f32(dq + (size_t)q0 * C3, C3, dS + (size_t)q0 * T, T, 1, k, C3, 1, qn, HS, nk, 0);
            // dK, dV rows j0 = q0.. gather from queries i ≥ j0: a(m, kk) = X[(j0+kk)·T + j0+m]
            gemm_f32(dk + (size_t)q0 * C3, C3, dS + (size_t)q0 * T + q0, 1, T, q + (size_t)q0 * C3, C3, 1, qn, HS,
                     T - q0, 0);
            gemm_f32(dv + (size_t)q0 * C3, C3, P + (size_t)q0 * T + q0, 1, T, dO + (size_t)q0 * C, C, 1, qn, HS,
                     T - q0, 0);
        }
    }
}

// dx (n) = GELU'(x) · dy in place over dy, split across threads like the forward.
static void gelu_backward(float *dy, const float *x, size_t n, int exact) {
#pragma omp parallel
    {
        int nth = par_num_threads(), ith = par_thread_id();
        size_t chunk = ((n + (size_t)nth - 1) / (size_t)nth + 15) & ~(size_t)15;
        size_t b = (size_t)ith * chunk, e = b + chunk < n ? b + chunk : n;
        if (b < e) gelu_backward_f32(dy + b, x + b, dy + b, e - b, exact);
    }
}

void gpt2_backward(const gpt2_model *m, gpt2_acts *a) {
    CHECK(a->backward && a->inputs);
    const gpt2_config *c = &m->cfg;
    const gpt2_weights *w = &m->w;
    gpt2_weights *g = &a->g;
    int B = a->B, T = a->T, C = c->n_embd, F = c->n_inner, L = c->n_layer, V = c->vocab_size, NH = c->n_head;
    int BT = B * T;
    size_t sC = (size_t)BT * C, s3C = 3 * sC, sF = (size_t)BT * F, sA = (size_t)B * NH * T * T;
    float *dres = a->dres, *dbuf = a->dbuf, *dfch = a->dfch, *dqkv = a->dqkv;
    double t0 = timer_now(), t1;
#define LAP(part) (t1 = timer_now(), a->prof[part] += t1 - t0, t0 = t1)

    // LM head (tied): logits = lnf · wteᵀ
    matmul_dinp_f32(dbuf, a->logits, w->wte, BT, C, V, 0);
    matmul_dw_f32(g->wte, NULL, a->logits, a->lnf, BT, C, V);
    LAP(GPT2_PROF_MATMUL_BWD);
    memset(dres, 0, sC * sizeof(float));
    layernorm_backward(dres, g->ln_f_w, g->ln_f_b, dbuf, a->res3 + (size_t)(L - 1) * sC, w->ln_f_w, a->lnf_mean,
                       a->lnf_rstd, BT, C);
    LAP(GPT2_PROF_OTHER);

    for (int l = L - 1; l >= 0; l--) {
        const float *x = l == 0 ? a->encoded : a->res3 + (size_t)(l - 1) * sC;
        const float *ln1 = a->ln1 + l * sC, *qkv = a->qkv + l * s3C, *atty = a->atty + l * sC;
        const float *att = a->att + l * sA, *res2 = a->res2 + l * sC, *ln2 = a->ln2 + l * sC;
        const float *fch = a->fch + l * sF, *fchg = a->fch_gelu + l * sF;
        size_t lC = (size_t)l * C, lF = (size_t)l * F;
        // res3 = res2 + fchg · Wfcprojᵀ + b
        matmul_dinp_f32(dfch, dres, w->mlp_proj_w + lC * F, BT, F, C, 0);
        matmul_dw_f32(g->mlp_proj_w + lC * F, g->mlp_proj_b + lC, dres, fchg, BT, F, C);
        LAP(GPT2_PROF_MATMUL_BWD);
        gelu_backward(dfch, fch, sF, c->gelu_exact);
        LAP(GPT2_PROF_OTHER);
        // fch = ln2 · Wfcᵀ + b
        matmul_dinp_f32(dbuf, dfch, w->mlp_fc_w + lF * C, BT, C, F, 0);
        matmul_dw_f32(g->mlp_fc_w + lF * C, g->mlp_fc_b + lF, dfch, ln2, BT, C, F);
        LAP(GPT2_PROF_MATMUL_BWD);
        layernorm_backward(dres, g->ln_2_w + lC, g->ln_2_b + lC, dbuf, res2, w->ln_2_w + lC, a->ln2_mean + (size_t)l * BT,
                           a->ln2_rstd + (size_t)l * BT, BT, C);
        LAP(GPT2_PROF_OTHER);
        // res2 = x + atty · Wprojᵀ + b
        matmul_dinp_f32(dbuf, dres, w->attn_proj_w + lC * C, BT, C, C, 0);
        matmul_dw_f32(g->attn_proj_w + lC * C, g->attn_proj_b + lC, dres, atty, BT, C, C);
        LAP(GPT2_PROF_MATMUL_BWD);
        attention_backward(a, dqkv, dbuf, qkv, att, C, NH, gpt2_attn_scale(c, l));
        LAP(GPT2_PROF_ATTN);
        // qkv = ln1 · Wqkvᵀ + b
        matmul_dinp_f32(dbuf, dqkv, w->attn_qkv_w + lC * 3 * C, BT, C, 3 * C, 0);
        matmul_dw_f32(g->attn_qkv_w + lC * 3 * C, g->attn_qkv_b + 3 * lC, dqkv, ln1, BT, C, 3 * C);
        LAP(GPT2_PROF_MATMUL_BWD);
        layernorm_backward(dres, g->ln_1_w + lC, g->ln_1_b + lC, dbuf, x, w->ln_1_w + lC, a->ln1_mean + (size_t)l * BT,
                           a->ln1_rstd + (size_t)l * BT, BT, C);
        LAP(GPT2_PROF_OTHER);
    }

    // Embeddings: encoded = wte[token] + wpe[position]; columns split, positions in order.
    const int *tok = a->inputs;
#pragma omp parallel
    {
        int nth = par_num_threads(), ith = par_thread_id();
        int c0, c1;
        split_cols(C, ith, nth, &c0, &c1);
        for (int t = 0; t < BT; t++) {
            const float *d = dres + (size_t)t * C;
            float *gt = g->wte + (size_t)tok[t] * C, *gp = g->wpe + (size_t)(t % T) * C;
            for (int i = c0; i < c1; i++) {
                gt[i] += d[i];
                gp[i] += d[i];
            }
        }
    }
    LAP(GPT2_PROF_OTHER);
#undef LAP
}
