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
#include "gpt2_acts.h"
#include "../core/err.h"
#include "../core/parallel.h"
#include "../core/pool.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../kernels/backward.h"
#include "../kernels/kernels.h"
#include <limits.h>
#include <math.h>
#include <string.h>

const char *const gpt2_prof_names[GPT2_PROF_COUNT] = {
    "matmul forward", "matmul backward", "attention (fwd+bwd)", "softmax + cross-entropy",
    "layernorm/gelu/residual/embedding", "optimizer (clip + AdamW)", "sums across processes (MPI)"};

#define QB 24  // attention query rows per block: 4 tiles of 6, little work above the diagonal

// --- planning

// One tensor of the plan: where its pointer goes, and its floats.
typedef struct { float **p; size_t n; } plan_entry;

int gpt2_acts_init(gpt2_acts *a, const gpt2_model *m, int B, int T, int backward) {
    memset(a, 0, sizeof *a);
    const gpt2_config *c = &m->cfg;
    if (!gpt2_model_is_f32(m))
        return err_set(ERR_ARG, "training needs fp32 weights; this model's matrices are stored as %s",
                       qtype_get((int)m->head.type)->name);
    if (backward && !c->tied) return err_set(ERR_ARG, "training supports a tied LM head only (lm_head.weight == wte)");
    if (B < 1 || B > 65536) return err_set(ERR_ARG, "batch %d is outside 1..65536", B);
    if (T < 1 || T > c->n_ctx) return err_set(ERR_ARG, "context %d is outside 1..n_ctx (%d)", T, c->n_ctx);
    if ((size_t)B * (size_t)T > ((size_t)1 << 24))
        return err_set(ERR_ARG, "batch x context = %zu tokens per step; at most 2^24", (size_t)B * (size_t)T);

    size_t BT = (size_t)B * T, C = (size_t)c->n_embd, V = (size_t)c->vocab_size, HS = (size_t)c->head_dim;
    size_t Wmax = (size_t)gpt2_max_attn_width(c), Fmax = (size_t)gpt2_max_ff(c), Rmax = (size_t)gpt2_max_rank(c);
    int nl = backward ? c->n_layer : 1;
    a->B = B;
    a->T = T;
    a->backward = backward;
    a->n_threads = pool_width();
    a->scratch_stride = ((size_t)T * T + HS * T + 15) & ~(size_t)15;
    a->layer = xcalloc((size_t)nl, sizeof *a->layer);
    // One table: destination, floats. Order is the memory order.
    size_t cap = 16 + (size_t)nl * (13 + GPT2_LINEARS), n_plan = 0;
    plan_entry *plan = xmalloc(cap * sizeof *plan);
#define ADD(ptr, count) (plan[n_plan++] = (plan_entry){(ptr), (count)})
    ADD(&a->encoded, BT * C);
    for (int i = 0; i < nl; i++) {
        gpt2_layer_acts *la = &a->layer[i];
        // a forward-only set serves every layer: the widest sizes
        size_t W = backward ? (size_t)gpt2_attn_width(c, i) : Wmax, F = backward ? (size_t)gpt2_n_ff(c, i) : Fmax;
        size_t NH = W / HS;
        ADD(&la->ln1, BT * C), ADD(&la->ln1_mean, BT), ADD(&la->ln1_rstd, BT);
        ADD(&la->qkv, BT * 3 * W), ADD(&la->atty, BT * W), ADD(&la->att, (size_t)B * NH * T * T);
        ADD(&la->res2, BT * C), ADD(&la->ln2, BT * C), ADD(&la->ln2_mean, BT), ADD(&la->ln2_rstd, BT);
        ADD(&la->fch, BT * F), ADD(&la->fch_gelu, BT * F), ADD(&la->res3, BT * C);
        for (int k = 0; k < GPT2_LINEARS; k++) {
            size_t r = backward ? (size_t)gpt2_rank(c, i, k) : Rmax;
            ADD(&la->lowrank[k], BT * r);
        }
    }
    ADD(&a->lnf, BT * C), ADD(&a->lnf_mean, BT), ADD(&a->lnf_rstd, BT);
    ADD(&a->logits, BT * V), ADD(&a->losses, BT);
    ADD(&a->scratch, (size_t)a->n_threads * a->scratch_stride);
    ADD(&a->dres, backward ? BT * C : 0), ADD(&a->dbuf, backward ? BT * C : 0);
    ADD(&a->dqkv, backward ? BT * 3 * Wmax : 0), ADD(&a->dfch, backward ? BT * Fmax : 0);
    ADD(&a->dlowrank, backward ? BT * Rmax : 0);
    ADD(&a->grads, backward ? m->n_floats : 0);
#undef ADD
    CHECK(n_plan <= cap);
    size_t total = 0;
    for (size_t i = 0; i < n_plan; i++) total += (plan[i].n + 15) & ~(size_t)15;  // 64-byte aligned tensors
    a->n_floats = total;
    a->mem = xmalloc(total * sizeof(float));
    float *p = a->mem;
    for (size_t i = 0; i < n_plan; i++) {
        *plan[i].p = plan[i].n ? p : NULL;
        p += (plan[i].n + 15) & ~(size_t)15;
    }
    free(plan);
    if (backward) memset(a->grads, 0, m->n_floats * sizeof(float));
    return 0;
}

void gpt2_acts_free(gpt2_acts *a) {
    free(a->mem);
    free(a->layer);
    memset(a, 0, sizeof *a);
}

// --- layers

// Row-wise and element-wise passes go to the pool (core/pool.h) in runs of at least
// MIN_FLOATS floats, so a run's work outweighs claiming it.
enum { MIN_FLOATS = 16384 };

typedef struct {
    float *out, *mean, *rstd;
    const float *in, *w, *b;
    int C;
    float eps;
} ln_job;

static void layernorm_rows(void *ctx, int t0, int t1, int worker) {
    (void)worker;
    const ln_job *j = ctx;
    int C = j->C;
    for (int t = t0; t < t1; t++) {
        const float *x = j->in + (size_t)t * C;
        float *y = j->out + (size_t)t * C;
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
        float rs = 1.0f / sqrtf(var + j->eps);
        for (int i = 0; i < C; i++) y[i] = (x[i] - mu) * rs * j->w[i] + j->b[i];
        j->mean[t] = mu;
        j->rstd[t] = rs;
    }
}

// out (BT, C) = (in - mean) / sqrt(var + eps) · w + b per row; mean, rstd (BT) kept.
static void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b,
                              int BT, int C, float eps) {
    ln_job j = {out, mean, rstd, in, w, b, C, eps};
    pool_for(BT, 1, MIN_FLOATS / C + 1, layernorm_rows, &j);
}

typedef struct {
    gpt2_acts *a;
    float *atty, *att;
    const float *qkv;
    int NH, HS;
    float scale;
} att_job;

// Heads [bh0, bh1) of the flattened (sequence, head) index.
static void attention_heads(void *ctx, int bh0, int bh1, int worker) {
    const att_job *j = ctx;
    gpt2_acts *a = j->a;
    int T = a->T, NH = j->NH, HS = j->HS, C = NH * HS, C3 = 3 * C;
    CHECK(worker < a->n_threads);
    // K of a head transposed to (HS, T), so the product packs contiguous rows
    float *kt = a->scratch + (size_t)worker * a->scratch_stride;
    for (int bh = bh0; bh < bh1; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = j->qkv + (size_t)b * T * C3 + h * HS, *k = q + C, *v = q + 2 * C;
        for (int t = 0; t < T; t++)
            for (int d = 0; d < HS; d++) kt[(size_t)d * T + t] = k[(size_t)t * C3 + d];
        float *P = j->att + (size_t)bh * T * T;
        float *o = j->atty + (size_t)b * T * C + h * HS;
        for (int q0 = 0; q0 < T; q0 += QB) {
            int qn = T - q0 < QB ? T - q0 : QB, nk = q0 + qn;  // keys 0..nk-1 are visible to this block
            gemm_f32(P + (size_t)q0 * T, T, q + (size_t)q0 * C3, C3, 1, kt, T, 1, qn, nk, HS, 0);  // Q·Kᵀ
            for (int i = q0; i < q0 + qn; i++) {
                float *row = P + (size_t)i * T;
                softmax_f32(row, row, i + 1, j->scale);
                memset(row + i + 1, 0, (size_t)(T - i - 1) * sizeof(float));
            }
            gemm_f32(o + (size_t)q0 * C, C, P + (size_t)q0 * T, T, 1, v, C3, 1, qn, HS, nk, 0);
        }
    }
}

// atty (B, T, W) and att (B, NH, T, T) from qkv (B, T, 3W), W = NH·HS.
static void attention_forward(gpt2_acts *a, float *atty, float *att, const float *qkv, int NH, int HS, float scale) {
    att_job j = {a, atty, att, qkv, NH, HS, scale};
    pool_for(a->B * NH, 1, 1, attention_heads, &j);
}

typedef struct {
    float *x;
    const float *y;
    size_t n;
    int exact;
} vec_job;

// Element-wise passes run in units of 16 floats (a cache line): floats [16·u0, 16·u1) ∩ [0, n).
static void vec_span(const vec_job *j, int u0, int u1, size_t *b, size_t *e) {
    *b = (size_t)u0 * 16;
    *e = (size_t)u1 * 16 < j->n ? (size_t)u1 * 16 : j->n;
}

static void gelu_units(void *ctx, int u0, int u1, int worker) {
    (void)worker;
    const vec_job *j = ctx;
    size_t b, e;
    vec_span(j, u0, u1, &b, &e);
    memcpy(j->x + b, j->y + b, (e - b) * sizeof(float));
    kern.gelu_f32(j->x + b, e - b, j->exact);
}

static void add_units(void *ctx, int u0, int u1, int worker) {
    (void)worker;
    const vec_job *j = ctx;
    size_t b, e;
    vec_span(j, u0, u1, &b, &e);
    for (size_t i = b; i < e; i++) j->x[i] += j->y[i];
}

static void vec_pass(pool_range_fn fn, float *x, const float *y, size_t n, int exact) {
    vec_job j = {x, y, n, exact};
    CHECK((n + 15) / 16 <= INT_MAX);  // no activation comes near 2^35 floats
    pool_for((int)((n + 15) / 16), 1, MIN_FLOATS / 16, fn, &j);
}

// GELU of n floats: out = gelu(in).
static void gelu_forward(float *out, const float *in, size_t n, int exact) { vec_pass(gelu_units, out, in, n, exact); }

static void residual_add(float *x, const float *y, size_t n) { vec_pass(add_units, x, y, n, 0); }

// out (BT, OC) = in (BT, K) · Wᵀ + bias for an fp32 matrix; with K = 0 (an empty MLP or
// attention) that is the bias.
static void mm(float *out, const float *in, const wmat *W, const float *bias, int BT) {
    if (W->rows == 0) return;
    if (W->cols == 0) {  // rare (a pruned-away part) and a plain fill: one thread
        for (int t = 0; t < BT; t++)
            for (int r = 0; r < W->rows; r++) out[(size_t)t * W->rows + r] = bias ? bias[r] : 0.0f;
        return;
    }
    matmul_f32_packed(out, in, W->data, bias, BT, W->cols, W->rows);
}

// A linear: one product, or A·x kept in h then B·(A·x).
static void linear_forward(float *out, const float *in, const gpt2_linear *lin, float *h, int BT) {
    if (!lin->w2.rows) {
        mm(out, in, &lin->w, lin->bias, BT);
        return;
    }
    mm(h, in, &lin->w, NULL, BT);
    mm(out, h, &lin->w2, lin->bias, BT);
}

// --- the model

typedef struct {
    const gpt2_model *m;
    gpt2_acts *a;
    const int *inputs;
} embed_job;

// encoded rows [i0, i1) = wte[token] + wpe[position].
static void embed_rows(void *ctx, int i0, int i1, int worker) {
    (void)worker;
    const embed_job *j = ctx;
    int C = j->m->cfg.n_embd, T = j->a->T, V = j->m->cfg.vocab_size;
    for (int i = i0; i < i1; i++) {
        int tok = j->inputs[i];
        CHECK(tok >= 0 && tok < V);
        const float *te = (const float *)j->m->embd.data + (size_t)tok * C, *pe = j->m->wpe + (size_t)(i % T) * C;
        float *x = j->a->encoded + (size_t)i * C;
        for (int k = 0; k < C; k++) x[k] = te[k] + pe[k];
    }
}

void gpt2_train_forward(const gpt2_model *m, gpt2_acts *a, const int *inputs) {
    const gpt2_config *c = &m->cfg;
    int B = a->B, T = a->T, C = c->n_embd, L = c->n_layer;
    int BT = B * T;
    a->inputs = inputs;
    double t0 = timer_now(), t1;
#define LAP(part) (t1 = timer_now(), a->prof[part] += t1 - t0, t0 = t1)

    embed_job ej = {m, a, inputs};
    pool_for(BT, 1, MIN_FLOATS / C + 1, embed_rows, &ej);
    for (int l = 0; l < L; l++) {
        gpt2_layer_acts *la = &a->layer[a->backward ? l : 0];
        const float *x = l == 0 ? a->encoded : a->layer[a->backward ? l - 1 : 0].res3;
        const gpt2_layer *ly = &m->layers[l];
        int NH = gpt2_n_head(c, l), F = gpt2_n_ff(c, l);
        if (NH > 0) {
            layernorm_forward(la->ln1, la->ln1_mean, la->ln1_rstd, x, ly->ln_1_w, ly->ln_1_b, BT, C, c->ln_eps);
            LAP(GPT2_PROF_OTHER);
            linear_forward(la->qkv, la->ln1, &ly->lin[GPT2_LIN_QKV], la->lowrank[GPT2_LIN_QKV], BT);
            LAP(GPT2_PROF_MATMUL_FWD);
            attention_forward(a, la->atty, la->att, la->qkv, NH, c->head_dim, gpt2_attn_scale(c, l));
            LAP(GPT2_PROF_ATTN);
        }
        linear_forward(la->res2, la->atty, &ly->lin[GPT2_LIN_OUT], la->lowrank[GPT2_LIN_OUT], BT);
        LAP(GPT2_PROF_MATMUL_FWD);
        residual_add(la->res2, x, (size_t)BT * C);
        if (F > 0) {
            layernorm_forward(la->ln2, la->ln2_mean, la->ln2_rstd, la->res2, ly->ln_2_w, ly->ln_2_b, BT, C, c->ln_eps);
            LAP(GPT2_PROF_OTHER);
            linear_forward(la->fch, la->ln2, &ly->lin[GPT2_LIN_UP], la->lowrank[GPT2_LIN_UP], BT);
            LAP(GPT2_PROF_MATMUL_FWD);
            gelu_forward(la->fch_gelu, la->fch, (size_t)BT * F, c->gelu_exact);
            LAP(GPT2_PROF_OTHER);
        }
        // Forward-only plans have one res3 buffer, which is also x here: x is not read again.
        linear_forward(la->res3, la->fch_gelu, &ly->lin[GPT2_LIN_DOWN], la->lowrank[GPT2_LIN_DOWN], BT);
        LAP(GPT2_PROF_MATMUL_FWD);
        residual_add(la->res3, la->res2, (size_t)BT * C);
        LAP(GPT2_PROF_OTHER);
    }
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->layer[a->backward ? L - 1 : 0].res3, m->ln_f_w, m->ln_f_b,
                      BT, C, c->ln_eps);
    LAP(GPT2_PROF_OTHER);
    mm(a->logits, a->lnf, &m->head, NULL, BT);  // wte when tied
    LAP(GPT2_PROF_MATMUL_FWD);
#undef LAP
}

typedef struct {
    gpt2_acts *a;
    const int *targets;
    int V, grad;
    float dscale;
} ce_job;

// Rows [t0, t1): the loss, and with grad the logits replaced by d(loss)/d(logits).
static void ce_rows(void *ctx, int t0, int t1, int worker) {
    (void)worker;
    const ce_job *j = ctx;
    int V = j->V;
    for (int t = t0; t < t1; t++) {
        float *row = j->a->logits + (size_t)t * V;
        int y = j->targets[t];
        CHECK(y >= 0 && y < V);
        float zy = row[y];
        j->a->losses[t] = softmax_f32(row, row, V, 1.0f) - zy;
        if (j->grad) {
            for (int i = 0; i < V; i++) row[i] *= j->dscale;
            row[y] -= j->dscale;
        }
    }
}

double gpt2_train_ce(gpt2_acts *a, int V, const int *targets, int grad) {
    int BT = a->B * a->T;
    double t0 = timer_now();
    ce_job j = {a, targets, V, grad, 1.0f / (float)BT};
    pool_for(BT, 1, 1, ce_rows, &j);
    double sum = 0.0;
    for (int t = 0; t < BT; t++) sum += a->losses[t];
    a->prof[GPT2_PROF_SOFTMAX_CE] += timer_now() - t0;
    return sum / BT;
}
