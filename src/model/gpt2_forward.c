// gpt2_forward.c: GPT-2 inference forward pass with a KV cache.
//
// Pre-LayerNorm transformer (Radford et al. 2019): x += attn(ln_1(x)); x += mlp(ln_2(x));
// logits = ln_f(x) · wteᵀ. GELU is the tanh form ("gelu_new") unless the config says erf.
// One call handles T new tokens of one sequence; eval windows and prompts go through
// in one batched call, generation one token at a time.
#include "gpt2.h"
#include "../core/err.h"
#include "../core/pool.h"
#include "../core/xalloc.h"
#include "../kernels/backward.h"
#include "../kernels/kernels.h"
#include "../kernels/qblock.h"
#include "../kernels/qdot_k.h"
#include <math.h>
#include <string.h>

enum { ATT_QB = 32 };  // query rows per block of a batch's attention

int gpt2_state_init(gpt2_state *s, const gpt2_model *m, int max_tokens) {
    memset(s, 0, sizeof *s);
    const gpt2_config *c = &m->cfg;
    if (max_tokens <= 0 || max_tokens > c->n_ctx)
        return err_set(ERR_ARG, "batch of %d tokens is outside 1..n_ctx (%d)", max_tokens, c->n_ctx);
    size_t T = (size_t)max_tokens, C = (size_t)c->n_embd, W = (size_t)gpt2_max_attn_width(c);
    size_t F = (size_t)gpt2_max_ff(c), R = (size_t)gpt2_max_rank(c);
    s->max_tokens = max_tokens;
    s->kv_off = xmalloc((size_t)c->n_layer * sizeof *s->kv_off);
    size_t kv = 0;
    for (int l = 0; l < c->n_layer; l++) {
        s->kv_off[l] = kv;
        kv += 2 * (size_t)c->n_ctx * (size_t)gpt2_attn_width(c, l);
    }
    s->kv = xmalloc((kv ? kv : 1) * sizeof(float));
    s->x = xmalloc(T * C * sizeof(float));
    s->xn = xmalloc(T * C * sizeof(float));
    s->qkv = xmalloc((T * 3 * W + 1) * sizeof(float));
    s->att = xmalloc((T * W + 1) * sizeof(float));
    s->fc = xmalloc((T * F + 1) * sizeof(float));
    s->lowrank = xmalloc((T * R + 1) * sizeof(float));
    s->logits = xmalloc(T * (size_t)c->vocab_size * sizeof(float));
    size_t widest = C > W ? C : W;
    widest = widest > F ? widest : F;
    widest = widest > R ? widest : R;
    // Q8_0: a batch of T rows (quantized batch matmuls); Q8_K: one row (generation).
    size_t xq8 = T * (widest / 32 + 1) * sizeof(block_q8_0), xqk = (widest / 256 + 1) * sizeof(block_q8_k);
    s->xq = xmalloc(xq8 > xqk ? xq8 : xqk);
    // Per thread: one query's scores, or for a batch ATT_QB queries' rows; padded to a
    // cache line so threads never share one.
    s->scores_stride = ((max_tokens > 1 ? ATT_QB : 1) * c->n_ctx + 15) & ~15;
    s->scores_workers = pool_width();
    s->scores = xmalloc((size_t)s->scores_workers * (size_t)s->scores_stride * sizeof(float));
    return 0;
}

void gpt2_state_free(gpt2_state *s) {
    free(s->kv);
    free(s->kv_off);
    free(s->x);
    free(s->xn);
    free(s->qkv);
    free(s->att);
    free(s->fc);
    free(s->lowrank);
    free(s->logits);
    free(s->xq);
    free(s->scores);
    memset(s, 0, sizeof *s);
}

// --- layers

// out (T, C) = (in - mean) / sqrt(var + eps) * w + b, per row; variance divides by C. The
// training forward's twin (gpt2_train_forward.c) sums in SIMD lanes; this one sums in order.
// Each order is pinned by files shrink writes (compressed models here, trained weights
// there), so the two stay apart rather than one changing the other's results. Rows are
// independent, so a batch splits across threads, 8 rows a task, without changing a bit.
enum { LN_ROWS = 8 };
typedef struct {
    float *out;
    const float *in, *w, *b;
    int T, C;
    float eps;
} ln_job;

static void layernorm_task(void *ctx, int task, int worker) {
    (void)worker;
    const ln_job *j = ctx;
    int r0 = task * LN_ROWS;
    size_t o = (size_t)r0 * j->C;
    kern.layernorm_f32(j->out + o, j->in + o, j->w, j->b, j->T - r0 < LN_ROWS ? j->T - r0 : LN_ROWS, j->C, j->eps);
}

static void layernorm(float *out, const float *in, const float *w, const float *b, int T, int C, float eps) {
    ln_job j = {out, in, w, b, T, C, eps};
    pool_run((T + LN_ROWS - 1) / LN_ROWS, layernorm_task, &j);
}

// Element-wise passes (GELU, residual adds) in tasks of CHUNK floats (a multiple of 16,
// so tasks start on cache lines); one token's few thousand floats stay in one task.
enum { CHUNK = 8192 };
typedef struct {
    float *x;
    const float *y;
    size_t n;
    int exact;
} vec_job;

static void gelu_task(void *ctx, int task, int worker) {
    (void)worker;
    const vec_job *j = ctx;
    size_t b = (size_t)task * CHUNK, e = b + CHUNK < j->n ? b + CHUNK : j->n;
    kern.gelu_f32(j->x + b, e - b, j->exact);
}

static void gelu(float *x, size_t n, int exact) {
    vec_job j = {x, NULL, n, exact};
    pool_run((int)((n + CHUNK - 1) / CHUNK), gelu_task, &j);
}

// Causal self-attention of layer l for T new tokens at positions pos0..pos0+T-1. qkv
// (T, 3W) holds the new queries/keys/values (W = NH_l·HS); keys and values are appended
// to the layer's cache (n_ctx, W) first. One token (generation) attends with the fused
// one-query kernel. A batch (prompt, eval window) runs per head and block of ATT_QB
// queries as two products, Q·Kᵀ and P·V, on the packed GEMM: a block shares every key's
// and value's loads, where query by query each is read again (measured: 3x the one-query
// kernel's time). Blocks of the last queries see the most keys, so they go first.
typedef struct {
    gpt2_state *s;
    const float *kc, *vc;
    int W, NH, HS, pos0, T, blocks;
    float scale;
} attn_job;

// One token: head `task`.
static void attn_token_task(void *ctx, int h, int worker) {
    const attn_job *j = ctx;
    int HS = j->HS;
    kern.attn_head_f32(j->s->att + h * HS, j->s->qkv + h * HS, j->kc + h * HS, j->vc + h * HS, j->pos0 + 1, HS, j->W,
                       j->scale, j->s->scores + (size_t)worker * j->s->scores_stride);
}

// A batch: one head and block of queries, the blocks of the last queries (most keys) first.
static void attn_block_task(void *ctx, int task, int worker) {
    const attn_job *j = ctx;
    gpt2_state *s = j->s;
    int W = j->W, HS = j->HS, NH = j->NH, pos0 = j->pos0, T = j->T;
    int b = j->blocks - 1 - task / NH, h = task % NH;
    int q0 = b * ATT_QB, qn = T - q0 < ATT_QB ? T - q0 : ATT_QB, nk = pos0 + q0 + qn;
    float *P = s->scores + (size_t)worker * s->scores_stride;  // (qn, nk)
    gemm_f32(P, nk, s->qkv + (size_t)q0 * 3 * W + h * HS, 3 * W, 1, j->kc + h * HS, 1, W, qn, nk, HS, 0);
    for (int i = 0; i < qn; i++) {
        float *row = P + (size_t)i * nk;
        int seen = pos0 + q0 + i + 1;
        softmax_f32(row, row, seen, j->scale);
        memset(row + seen, 0, (size_t)(nk - seen) * sizeof(float));
    }
    gemm_f32(s->att + (size_t)q0 * W + h * HS, W, P, nk, 1, j->vc + h * HS, W, 1, qn, HS, nk, 0);
}

static void attention(gpt2_state *s, const gpt2_config *c, int l, int pos0, int T) {
    int W = gpt2_attn_width(c, l), NH = gpt2_n_head(c, l), HS = c->head_dim;
    float *kc = s->kv + s->kv_off[l], *vc = kc + (size_t)c->n_ctx * W;
    for (int t = 0; t < T; t++) {
        memcpy(kc + (size_t)(pos0 + t) * W, s->qkv + (size_t)t * 3 * W + W, (size_t)W * sizeof(float));
        memcpy(vc + (size_t)(pos0 + t) * W, s->qkv + (size_t)t * 3 * W + 2 * W, (size_t)W * sizeof(float));
    }
    attn_job j = {s, kc, vc, W, NH, HS, pos0, T, (T + ATT_QB - 1) / ATT_QB, gpt2_attn_scale(c, l)};
    int tasks = T == 1 ? NH : j.blocks * NH;
    pool_task_fn fn = T == 1 ? attn_token_task : attn_block_task;
    if (pool_width() <= s->scores_workers) pool_run(tasks, fn, &j);
    else  // more threads than the state has scratch for (raised after gpt2_state_init)
        for (int i = 0; i < tasks; i++) fn(&j, i, 0);
}

typedef struct {
    float *out;
    const float *in;
    const wmat *W;
    const float *bias;
    void *xq;
    qdot_fn fn;
    const int *bounds;  // task i: rows of W [bounds[i], bounds[i+1])
} qrow_job;

static void quantize_task(void *ctx, int t, int worker) {
    (void)worker;
    const qrow_job *j = ctx;
    int K = j->W->cols;
    quantize_row_q8_0_ref(j->in + (size_t)t * K, (block_q8_0 *)j->xq + (size_t)t * (K / 32), K);
}

static void qdot_task(void *ctx, int task, int worker) {
    (void)worker;
    const qrow_job *j = ctx;
    int n0 = j->bounds[task], n1 = j->bounds[task + 1];
    j->fn(j->out, j->xq, j->W->data, j->W->type, j->bias, j->W->cols, n0, n1);
}

// out (T, rows) = in (T, cols) · Wᵀ + bias, whatever W's storage type. For a single row
// (generation) against Q8_0/Q4_0 and Q2_K..Q6_K weights, and for batches (prompt, eval
// window) against Q8_0/Q4_0 where the CPU has the fast batch kernel (AVX-512 VNNI),
// products are integer block dots, as ggml does: each row is quantized once into s->xq
// (Q8_0 or Q8_K); one row: every thread streams its share of W's rows; a batch: the batch
// kernel. Other batches dequantize W and run the fp32 GEMM. A matrix with no inputs (an
// empty MLP or attention) gives the bias.
static void matrix(gpt2_state *s, float *out, const float *in, const wmat *W, const float *bias, int T, int mat) {
    if (s->hook) s->hook(s->hook_user, mat, in, T, W->cols);
    if (W->rows == 0) return;
    if (W->cols == 0) {
        for (int t = 0; t < T; t++)
            for (int r = 0; r < W->rows; r++) out[(size_t)t * W->rows + r] = bias ? bias[r] : 0.0f;
        return;
    }
    int q8 = qdot_supports(W->type), k8 = qdot_k_supports(W->type) && W->cols % 256 == 0;
    if (T > 1 && q8 && kern.qmatmul_fast) {
        qrow_job j = {out, in, W, bias, s->xq, NULL, NULL};
        pool_run(T, quantize_task, &j);
        kern.qmatmul_q8(out, s->xq, W->data, W->type, bias, T, W->cols, W->rows);
        return;
    }
    if (T == 1 && (q8 || k8)) {
        if (q8) quantize_row_q8_0_ref(in, s->xq, W->cols);
        else quantize_row_q8_k_ref(in, s->xq, W->cols);
        // tasks of at least 64 KB of W, every row one dot: the split never changes a bit
        int bounds[POOL_MAX_TASKS + 1];
        int tasks = pool_guided(W->rows, (int)(65536 / (qtype_row_bytes(W->type, (size_t)W->cols) + 1)) + 1, bounds,
                                POOL_MAX_TASKS);
        qrow_job j = {out, in, W, bias, s->xq, q8 ? kern.qdot_q8 : kern.qdot_k, bounds};
        pool_run(tasks, qdot_task, &j);
        return;
    }
    matmul(out, in, W->data, W->type, bias, T, W->cols, W->rows);
}

// A linear of layer l: one matrix, or a low-rank pair through s->lowrank (A·x, then B·).
static void linear(const gpt2_model *m, gpt2_state *s, float *out, const float *in, int T, int l, int k) {
    const gpt2_linear *lin = &m->layers[l].lin[k];
    int hooked = s->hook != NULL, i = hooked ? gpt2_mat_index(&m->cfg, l, k, 0) : -1;
    if (!lin->w2.rows) {
        matrix(s, out, in, &lin->w, lin->bias, T, i);
        return;
    }
    matrix(s, s->lowrank, in, &lin->w, NULL, T, i);
    matrix(s, out, s->lowrank, &lin->w2, lin->bias, T, hooked ? i + 1 : -1);
}

static void add_task(void *ctx, int task, int worker) {
    (void)worker;
    const vec_job *j = ctx;
    size_t b = (size_t)task * CHUNK, e = b + CHUNK < j->n ? b + CHUNK : j->n;
    for (size_t i = b; i < e; i++) j->x[i] += j->y[i];
}

static void residual_add(float *x, const float *y, size_t n) {
    vec_job j = {x, y, n, 0};
    pool_run((int)((n + CHUNK - 1) / CHUNK), add_task, &j);
}

// --- the model

void gpt2_forward(const gpt2_model *m, gpt2_state *s, const int *tokens, int T, int all_logits) {
    const gpt2_config *c = &m->cfg;
    int C = c->n_embd, L = c->n_layer, V = c->vocab_size;
    int pos0 = s->n_past;
    CHECK(T >= 1 && T <= s->max_tokens && pos0 + T <= c->n_ctx);
    size_t TC = (size_t)T * C;

    size_t embd_row = qtype_row_bytes(m->embd.type, (size_t)C);
    CHECK(s->start_layer >= 0 && s->start_layer <= L);
    for (int t = 0; t < T && s->start_layer == 0; t++) {
        CHECK(tokens[t] >= 0 && tokens[t] < V);
        const float *pe = m->wpe + (size_t)(pos0 + t) * C;
        float *x = s->x + (size_t)t * C;
        dequantize_row(m->embd.type, (const char *)m->embd.data + (size_t)tokens[t] * embd_row, x, (size_t)C);
        for (int i = 0; i < C; i++) x[i] += pe[i];
    }
    if (s->trace) memcpy(s->trace, s->x, TC * sizeof(float));

    for (int l = s->start_layer; l < L; l++) {
        const gpt2_layer *ly = &m->layers[l];
        if (gpt2_n_head(c, l) > 0) {
            layernorm(s->xn, s->x, ly->ln_1_w, ly->ln_1_b, T, C, c->ln_eps);
            linear(m, s, s->qkv, s->xn, T, l, GPT2_LIN_QKV);
            attention(s, c, l, pos0, T);
        }
        linear(m, s, s->xn, s->att, T, l, GPT2_LIN_OUT);
        residual_add(s->x, s->xn, TC);
        if (gpt2_n_ff(c, l) > 0) {
            layernorm(s->xn, s->x, ly->ln_2_w, ly->ln_2_b, T, C, c->ln_eps);
            linear(m, s, s->fc, s->xn, T, l, GPT2_LIN_UP);
            gelu(s->fc, (size_t)T * gpt2_n_ff(c, l), c->gelu_exact);
        }
        linear(m, s, s->xn, s->fc, T, l, GPT2_LIN_DOWN);
        residual_add(s->x, s->xn, TC);
        if (s->trace) memcpy(s->trace + (size_t)(1 + l) * TC, s->x, TC * sizeof(float));
        if (s->stop_after > 0 && l + 1 == s->stop_after) return;
    }
    s->n_past += T;

    layernorm(s->xn, s->x, m->ln_f_w, m->ln_f_b, T, C, c->ln_eps);
    if (s->trace) memcpy(s->trace + (size_t)(1 + L) * TC, s->xn, TC * sizeof(float));
    int head = s->hook ? gpt2_mat_head(c) : -1;
    if (all_logits) matrix(s, s->logits, s->xn, &m->head, NULL, T, head);
    else matrix(s, s->logits, s->xn + (size_t)(T - 1) * C, &m->head, NULL, 1, head);
}
