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
#include "../core/pool.h"
#include "../core/timer.h"
#include "../kernels/backward.h"
#include "../kernels/kernels.h"
#include <limits.h>
#include <string.h>

#define QB 24  // attention rows per block (as in the forward)

void gpt2_grads_zero(const gpt2_model *m, gpt2_acts *a) {
    CHECK(a->backward);
    memset(a->grads, 0, m->n_floats * sizeof(float));
}

// Row-wise passes go to the pool in runs of at least MIN_FLOATS floats; reductions over
// positions in groups of 16 columns (a cache line), at least MIN_GROUPS a run, each column
// summed in position order. (Runs of one group read 64 bytes of each row and doubled these
// passes' time on models/mini.)
enum { MIN_FLOATS = 16384, MIN_GROUPS = 8 };

typedef struct {
    float *dinp, *dw, *db;
    const float *dout, *inp, *w, *mean, *rstd;
    int BT, C;
} lnb_job;

static void layernorm_backward_rows(void *ctx, int t0, int t1, int worker) {
    (void)worker;
    const lnb_job *j = ctx;
    int C = j->C;
    const float *w = j->w;
    for (int t = t0; t < t1; t++) {
        const float *dy = j->dout + (size_t)t * C, *x = j->inp + (size_t)t * C;
        float *dx = j->dinp + (size_t)t * C;
        float mu = j->mean[t], rs = j->rstd[t], dmean = 0.0f, dnorm_mean = 0.0f;
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
}

// Columns [16·g0, 16·g1) of dw and db, summed over every position in order.
static void layernorm_backward_cols(void *ctx, int g0, int g1, int worker) {
    (void)worker;
    const lnb_job *j = ctx;
    int C = j->C, c0 = 16 * g0, c1 = 16 * g1 < C ? 16 * g1 : C;
    for (int t = 0; t < j->BT; t++) {
        const float *dy = j->dout + (size_t)t * C, *x = j->inp + (size_t)t * C;
        float mu = j->mean[t], rs = j->rstd[t];
        for (int i = c0; i < c1; i++) {
            j->dw[i] += (x[i] - mu) * rs * dy[i];
            j->db[i] += dy[i];
        }
    }
}

// dinp (BT, C) += LayerNorm backward of dout (BT, C); dw, db (C) += their gradients.
// inp is the LayerNorm's input, mean/rstd (BT) what the forward kept.
static void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, int BT, int C) {
    lnb_job j = {dinp, dw, db, dout, inp, w, mean, rstd, BT, C};
    pool_for(BT, 1, MIN_FLOATS / C + 1, layernorm_backward_rows, &j);
    pool_for((C + 15) / 16, 1, MIN_GROUPS, layernorm_backward_cols, &j);
}

typedef struct {
    gpt2_acts *a;
    float *dqkv;
    const float *datty, *qkv, *att;
    int NH, HS;
    float scale;
} attb_job;

// Heads [bh0, bh1) of the flattened (sequence, head) index.
static void attention_backward_heads(void *ctx, int bh0, int bh1, int worker) {
    const attb_job *jb = ctx;
    gpt2_acts *a = jb->a;
    int T = a->T, NH = jb->NH, HS = jb->HS, C = NH * HS, C3 = 3 * C;
    float scale = jb->scale;
    const float *qkv = jb->qkv, *datty = jb->datty, *att = jb->att;
    float *dqkv = jb->dqkv;
    CHECK(worker < a->n_threads);
    float *dS = a->scratch + (size_t)worker * a->scratch_stride;  // (T, T): dP, then dS in place
    float *vt = dS + (size_t)T * T;                                 // (HS, T): V transposed
    for (int bh = bh0; bh < bh1; bh++) {
        int b = bh / NH, h = bh % NH;
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

// dqkv (B, T, 3W) from datty (B, T, W), given the layer's qkv and probabilities att (W = NH·HS).
static void attention_backward(gpt2_acts *a, float *dqkv, const float *datty, const float *qkv, const float *att,
                               int NH, int HS, float scale) {
    attb_job j = {a, dqkv, datty, qkv, att, NH, HS, scale};
    pool_for(a->B * NH, 1, 1, attention_backward_heads, &j);
}

typedef struct {
    float *dy;
    const float *x;
    size_t n;
    int exact;
} gelub_job;

// Floats [16·u0, 16·u1) ∩ [0, n): units of a cache line.
static void gelu_backward_units(void *ctx, int u0, int u1, int worker) {
    (void)worker;
    const gelub_job *j = ctx;
    size_t b = (size_t)u0 * 16, e = (size_t)u1 * 16 < j->n ? (size_t)u1 * 16 : j->n;
    gelu_backward_f32(j->dy + b, j->x + b, j->dy + b, e - b, j->exact);
}

// dx (n) = GELU'(x) · dy in place over dy.
static void gelu_backward(float *dy, const float *x, size_t n, int exact) {
    gelub_job j = {dy, x, n, exact};
    CHECK((n + 15) / 16 <= INT_MAX);
    pool_for((int)((n + 15) / 16), 1, MIN_FLOATS / 16, gelu_backward_units, &j);
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

typedef struct {
    const gpt2_model *m;
    const gpt2_acts *a;
    float *gwte, *gwpe;
} emb_job;

// Columns [16·g0, 16·g1) of the embeddings' gradients from dres, positions in order.
static void embed_backward_cols(void *ctx, int g0, int g1, int worker) {
    (void)worker;
    const emb_job *j = ctx;
    const gpt2_acts *a = j->a;
    int C = j->m->cfg.n_embd, T = a->T, BT = a->B * a->T, c0 = 16 * g0, c1 = 16 * g1 < C ? 16 * g1 : C;
    for (int t = 0; t < BT; t++) {
        const float *d = a->dres + (size_t)t * C;
        float *gt = j->gwte + (size_t)a->inputs[t] * C, *gp = j->gwpe + (size_t)(t % T) * C;
        for (int i = c0; i < c1; i++) {
            gt[i] += d[i];
            gp[i] += d[i];
        }
    }
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
    emb_job ej = {m, a, gpt2_grad(m, a, m->embd.data), gpt2_grad(m, a, m->wpe)};
    pool_for((C + 15) / 16, 1, MIN_GROUPS, embed_backward_cols, &ej);
    LAP(GPT2_PROF_OTHER);
#undef LAP
}
