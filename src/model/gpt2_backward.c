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
#include "gpt2_acts.h"
#include "../core/err.h"
#include "../core/parallel.h"
#include "../core/timer.h"
#include "../kernels/backward.h"
#include "../kernels/kernels.h"
#include <string.h>

#define QB 24  // attention rows per block (as in the forward)

void gpt2_grads_zero(const gpt2_model *m, gpt2_acts *a) {
    CHECK(a->backward);
    memset(a->grads, 0, m->n_floats * sizeof(float));
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

// dqkv (B, T, 3W) from datty (B, T, W), given the layer's qkv and probabilities att (W = NH·HS).
static void attention_backward(gpt2_acts *a, float *dqkv, const float *datty, const float *qkv, const float *att,
                               int NH, int HS, float scale) {
    int B = a->B, T = a->T, C = NH * HS, C3 = 3 * C;
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

// The backward of one fp32 product out (BT, OC) = in (BT, K) · Wᵀ [+ bias]: dW += doutᵀ·in,
// dbias += Σ dout, and din (BT, K) = dout · W when din is wanted.
static void mm_backward(const gpt2_model *m, gpt2_acts *a, float *din, const float *dout, const float *in, const wmat *W,
                        const float *bias, int BT) {
    if (W->rows == 0) {
        if (din && W->cols) memset(din, 0, (size_t)BT * W->cols * sizeof(float));
        return;
    }
    if (din && W->cols) matmul_dinp_f32(din, dout, W->data, BT, W->cols, W->rows, 0);
    float *db = bias ? gpt2_grad(m, a, bias) : NULL;
    if (W->cols) matmul_dw_f32(gpt2_grad(m, a, W->data), db, dout, in, BT, W->cols, W->rows);
    else if (db)  // no inputs: only the bias, summed over positions in order
        for (int t = 0; t < BT; t++)
            for (int r = 0; r < W->rows; r++) db[r] += dout[(size_t)t * W->rows + r];
}

// The backward of a linear (one product, or B·(A·x) with A·x kept in h): the gradients
// of its matrices and bias, and din (BT, in) when wanted.
static void linear_backward(const gpt2_model *m, gpt2_acts *a, float *din, const float *dout, const float *in,
                            const gpt2_linear *lin, const float *h, int BT) {
    if (!lin->w2.rows) {
        mm_backward(m, a, din, dout, in, &lin->w, lin->bias, BT);
        return;
    }
    mm_backward(m, a, a->dlowrank, dout, h, &lin->w2, lin->bias, BT);
    mm_backward(m, a, din, a->dlowrank, in, &lin->w, NULL, BT);
}

void gpt2_backward(const gpt2_model *m, gpt2_acts *a) {
    CHECK(a->backward && a->inputs);
    const gpt2_config *c = &m->cfg;
    int B = a->B, T = a->T, C = c->n_embd, L = c->n_layer;
    int BT = B * T;
    size_t sC = (size_t)BT * C;
    float *dres = a->dres, *dbuf = a->dbuf, *dfch = a->dfch, *dqkv = a->dqkv;
    double t0 = timer_now(), t1;
#define LAP(part) (t1 = timer_now(), a->prof[part] += t1 - t0, t0 = t1)

    // LM head (tied): logits = lnf · wteᵀ
    mm_backward(m, a, dbuf, a->logits, a->lnf, &m->head, NULL, BT);
    LAP(GPT2_PROF_MATMUL_BWD);
    memset(dres, 0, sC * sizeof(float));
    layernorm_backward(dres, gpt2_grad(m, a, m->ln_f_w), gpt2_grad(m, a, m->ln_f_b), dbuf, a->layer[L - 1].res3,
                       m->ln_f_w, a->lnf_mean, a->lnf_rstd, BT, C);
    LAP(GPT2_PROF_OTHER);

    for (int l = L - 1; l >= 0; l--) {
        const gpt2_layer_acts *la = &a->layer[l];
        const gpt2_layer *ly = &m->layers[l];
        const float *x = l == 0 ? a->encoded : a->layer[l - 1].res3;
        int NH = gpt2_n_head(c, l), F = gpt2_n_ff(c, l);
        // res3 = res2 + fch_gelu · Wdownᵀ + b
        linear_backward(m, a, dfch, dres, la->fch_gelu, &ly->lin[GPT2_LIN_DOWN], la->lowrank[GPT2_LIN_DOWN], BT);
        LAP(GPT2_PROF_MATMUL_BWD);
        if (F > 0) {
            gelu_backward(dfch, la->fch, (size_t)BT * F, c->gelu_exact);
            LAP(GPT2_PROF_OTHER);
            // fch = ln2 · Wupᵀ + b
            linear_backward(m, a, dbuf, dfch, la->ln2, &ly->lin[GPT2_LIN_UP], la->lowrank[GPT2_LIN_UP], BT);
            LAP(GPT2_PROF_MATMUL_BWD);
            layernorm_backward(dres, gpt2_grad(m, a, ly->ln_2_w), gpt2_grad(m, a, ly->ln_2_b), dbuf, la->res2,
                               ly->ln_2_w, la->ln2_mean, la->ln2_rstd, BT, C);
            LAP(GPT2_PROF_OTHER);
        }
        // res2 = x + atty · Woutᵀ + b
        linear_backward(m, a, dbuf, dres, la->atty, &ly->lin[GPT2_LIN_OUT], la->lowrank[GPT2_LIN_OUT], BT);
        LAP(GPT2_PROF_MATMUL_BWD);
        if (NH > 0) {
            attention_backward(a, dqkv, dbuf, la->qkv, la->att, NH, c->head_dim, gpt2_attn_scale(c, l));
            LAP(GPT2_PROF_ATTN);
            // qkv = ln1 · Wqkvᵀ + b
            linear_backward(m, a, dbuf, dqkv, la->ln1, &ly->lin[GPT2_LIN_QKV], la->lowrank[GPT2_LIN_QKV], BT);
            LAP(GPT2_PROF_MATMUL_BWD);
            layernorm_backward(dres, gpt2_grad(m, a, ly->ln_1_w), gpt2_grad(m, a, ly->ln_1_b), dbuf, x, ly->ln_1_w,
                               la->ln1_mean, la->ln1_rstd, BT, C);
            LAP(GPT2_PROF_OTHER);
        }
    }

    // Embeddings: encoded = wte[token] + wpe[position]; columns split, positions in order.
    const int *tok = a->inputs;
    float *gwte = gpt2_grad(m, a, m->embd.data), *gwpe = gpt2_grad(m, a, m->wpe);
#pragma omp parallel
    {
        int nth = par_num_threads(), ith = par_thread_id();
        int c0, c1;
        split_cols(C, ith, nth, &c0, &c1);
        for (int t = 0; t < BT; t++) {
            const float *d = dres + (size_t)t * C;
            float *gt = gwte + (size_t)tok[t] * C, *gp = gwpe + (size_t)(t % T) * C;
            for (int i = c0; i < c1; i++) {
                gt[i] += d[i];
                gp[i] += d[i];
            }
        }
    }
    LAP(GPT2_PROF_OTHER);
#undef LAP
}
