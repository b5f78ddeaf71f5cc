// gpt2_forward.c: GPT-2 inference forward pass with a KV cache.
//
// Pre-LayerNorm transformer (Radford et al. 2019): x += attn(ln_1(x)); x += mlp(ln_2(x));
// logits = ln_f(x) · wteᵀ. GELU is the tanh form ("gelu_new") unless the config says erf.
// One call handles T new tokens of one sequence; eval windows and prompts go through
// in one batched call, generation one token at a time.
#include "gpt2.h"
#include "../core/err.h"
#include "../core/parallel.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include "../kernels/qblock.h"
#include "../kernels/qdot_k.h"
#include <math.h>
#include <string.h>

int gpt2_state_init(gpt2_state *s, const gpt2_model *m, int max_tokens) {
    memset(s, 0, sizeof *s);
    const gpt2_config *c = &m->cfg;
    if (max_tokens <= 0 || max_tokens > c->n_ctx)
        return err_set(ERR_ARG, "batch of %d tokens is outside 1..n_ctx (%d)", max_tokens, c->n_ctx);
    size_t T = (size_t)max_tokens, C = (size_t)c->n_embd, L = (size_t)c->n_layer;
    s->max_tokens = max_tokens;
    s->k_cache = xmalloc(L * (size_t)c->n_ctx * C * sizeof(float));
    s->v_cache = xmalloc(L * (size_t)c->n_ctx * C * sizeof(float));
    s->x = xmalloc(T * C * sizeof(float));
    s->xn = xmalloc(T * C * sizeof(float));
    s->qkv = xmalloc(T * 3 * C * sizeof(float));
    s->att = xmalloc(T * C * sizeof(float));
    s->fc = xmalloc(T * (size_t)c->n_inner * sizeof(float));
    s->logits = xmalloc(T * (size_t)c->vocab_size * sizeof(float));
    size_t widest = (size_t)(c->n_inner > c->n_embd ? c->n_inner : c->n_embd);
    // Q8_0: a batch of T rows (quantized batch matmuls); Q8_K: one row (generation).
    size_t xq8 = T * (widest / 32 + 1) * sizeof(block_q8_0), xqk = (widest / 256 + 1) * sizeof(block_q8_k);
    s->xq = xmalloc(xq8 > xqk ? xq8 : xqk);
    // Pad each thread's row to a cache line so threads never share one.
    s->scores_stride = (c->n_ctx + 15) & ~15;
    s->scores = xmalloc((size_t)par_max_threads() * (size_t)s->scores_stride * sizeof(float));
    return 0;
}

void gpt2_state_free(gpt2_state *s) {
    free(s->k_cache);
    free(s->v_cache);
    free(s->x);
    free(s->xn);
    free(s->qkv);
    free(s->att);
    free(s->fc);
    free(s->logits);
    free(s->xq);
    free(s->scores);
    memset(s, 0, sizeof *s);
}

// --- layers

// out (T, C) = (in - mean) / sqrt(var + eps) * w + b, per row; variance divides by C.
static void layernorm(float *out, const float *in, const float *w, const float *b, int T, int C, float eps) {
    for (int t = 0; t < T; t++) {
        const float *x = in + (size_t)t * C;
        float *y = out + (size_t)t * C;
        float mean = 0.0f;
        for (int i = 0; i < C; i++) mean += x[i];
        mean /= (float)C;
        float var = 0.0f;
        for (int i = 0; i < C; i++) {
            float d = x[i] - mean;
            var += d * d;
        }
        var /= (float)C;
        float rstd = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < C; i++) y[i] = (x[i] - mean) * rstd * w[i] + b[i];
    }
}

// GELU over n floats, split across threads in cache-line-aligned chunks.
static void gelu(float *x, size_t n, int exact) {
#pragma omp parallel
    {
        int nth = par_num_threads(), ith = par_thread_id();
        size_t chunk = ((n + (size_t)nth - 1) / (size_t)nth + 15) & ~(size_t)15;
        size_t b = (size_t)ith * chunk, e = b + chunk < n ? b + chunk : n;
        if (b < e) kern.gelu_f32(x + b, e - b, exact);
    }
}

// Causal self-attention for T new tokens at positions pos0..pos0+T-1 of layer l.
// qkv (T, 3C) holds the new queries/keys/values; keys and values are appended to
// the cache (n_ctx, C) first, then each (token, head) attends over positions 0..pos.
static void attention(gpt2_state *s, const gpt2_config *c, int layer, int pos0, int T) {
    int C = c->n_embd, NH = c->n_head, HS = C / NH;
    float *kc = s->k_cache + (size_t)layer * c->n_ctx * C;
    float *vc = s->v_cache + (size_t)layer * c->n_ctx * C;
    for (int t = 0; t < T; t++) {
        memcpy(kc + (size_t)(pos0 + t) * C, s->qkv + (size_t)t * 3 * C + C, (size_t)C * sizeof(float));
        memcpy(vc + (size_t)(pos0 + t) * C, s->qkv + (size_t)t * 3 * C + 2 * C, (size_t)C * sizeof(float));
    }
    float scale = c->scale_attn ? 1.0f / sqrtf((float)HS) : 1.0f;
    if (c->scale_by_layer) scale /= (float)(layer + 1);
#pragma omp parallel for schedule(dynamic, 1)
    for (int th = 0; th < T * NH; th++) {
        int t = th / NH, h = th % NH;
        float *sc = s->scores + (size_t)par_thread_id() * s->scores_stride;
        kern.attn_head_f32(s->att + (size_t)t * C + h * HS, s->qkv + (size_t)t * 3 * C + h * HS, kc + h * HS,
                           vc + h * HS, pos0 + t + 1, HS, C, scale, sc);
    }
}

// out (T, rows) = in (T, cols) · Wᵀ + bias, whatever W's storage type. For a single row
// (generation) against Q8_0/Q4_0 and Q2_K..Q6_K weights, and for batches (prompt, eval
// window) against Q8_0/Q4_0 where the CPU has the fast batch kernel (AVX-512 VNNI),
// products are integer block dots, as ggml does: each row is quantized once into s->xq
// (Q8_0 or Q8_K); one row: every thread streams its share of W's rows; a batch: the batch
// kernel. Other batches dequantize W and run the fp32 GEMM.
static void linear(gpt2_state *s, float *out, const float *in, const wmat *W, const float *bias, int T, int layer,
                   int mat) {
    if (s->hook) s->hook(s->hook_user, layer, mat, in, T, W->cols);
    int q8 = qdot_supports(W->type), k8 = qdot_k_supports(W->type) && W->cols % 256 == 0;
    if (T > 1 && q8 && kern.qmatmul_fast) {
        int K = W->cols;
        block_q8_0 *xq = s->xq;
#pragma omp parallel for
        for (int t = 0; t < T; t++) quantize_row_q8_0_ref(in + (size_t)t * K, xq + (size_t)t * (K / 32), K);
        kern.qmatmul_q8(out, xq, W->data, W->type, bias, T, K, W->rows);
        return;
    }
    if (T == 1 && (q8 || k8)) {
        if (q8) quantize_row_q8_0_ref(in, s->xq, W->cols);
        else quantize_row_q8_k_ref(in, s->xq, W->cols);
        qdot_fn fn = q8 ? kern.qdot_q8 : kern.qdot_k;
#pragma omp parallel
        {
            int nth = par_num_threads(), ith = par_thread_id();
            int n0 = (int)((long)W->rows * ith / nth), n1 = (int)((long)W->rows * (ith + 1) / nth);
            if (n0 < n1) fn(out, s->xq, W->data, W->type, bias, W->cols, n0, n1);
        }
        return;
    }
    matmul(out, in, W->data, W->type, bias, T, W->cols, W->rows);
}

static void residual_add(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

// --- the model

void gpt2_forward(const gpt2_model *m, gpt2_state *s, const int *tokens, int T, int all_logits) {
    const gpt2_config *c = &m->cfg;
    const gpt2_weights *w = &m->w;
    int C = c->n_embd, F = c->n_inner, L = c->n_layer, V = c->vocab_size;
    int pos0 = s->n_past;
    CHECK(T >= 1 && T <= s->max_tokens && pos0 + T <= c->n_ctx);
    size_t TC = (size_t)T * C;

    size_t embd_row = qtype_row_bytes(m->embd.type, (size_t)C);
    CHECK(s->start_layer >= 0 && s->start_layer <= L);
    for (int t = 0; t < T && s->start_layer == 0; t++) {
        CHECK(tokens[t] >= 0 && tokens[t] < V);
        const float *pe = w->wpe + (size_t)(pos0 + t) * C;
        float *x = s->x + (size_t)t * C;
        dequantize_row(m->embd.type, (const char *)m->embd.data + (size_t)tokens[t] * embd_row, x, (size_t)C);
        for (int i = 0; i < C; i++) x[i] += pe[i];
    }
    if (s->trace) memcpy(s->trace, s->x, TC * sizeof(float));

    for (int l = s->start_layer; l < L; l++) {
        const wmat *mt = m->mats + (size_t)l * GPT2_MATS_PER_LAYER;
        layernorm(s->xn, s->x, w->ln_1_w + (size_t)l * C, w->ln_1_b + (size_t)l * C, T, C, c->ln_eps);
        linear(s, s->qkv, s->xn, &mt[GPT2_MAT_QKV], w->attn_qkv_b + (size_t)l * 3 * C, T, l, GPT2_MAT_QKV);
        attention(s, c, l, pos0, T);
        linear(s, s->xn, s->att, &mt[GPT2_MAT_PROJ], w->attn_proj_b + (size_t)l * C, T, l, GPT2_MAT_PROJ);
        residual_add(s->x, s->xn, TC);
        layernorm(s->xn, s->x, w->ln_2_w + (size_t)l * C, w->ln_2_b + (size_t)l * C, T, C, c->ln_eps);
        linear(s, s->fc, s->xn, &mt[GPT2_MAT_FC], w->mlp_fc_b + (size_t)l * F, T, l, GPT2_MAT_FC);
        gelu(s->fc, (size_t)T * F, c->gelu_exact);
        linear(s, s->xn, s->fc, &mt[GPT2_MAT_FCPROJ], w->mlp_proj_b + (size_t)l * C, T, l, GPT2_MAT_FCPROJ);
        residual_add(s->x, s->xn, TC);
        if (s->trace) memcpy(s->trace + (size_t)(1 + l) * TC, s->x, TC * sizeof(float));
        if (s->stop_after > 0 && l + 1 == s->stop_after) return;
    }
    s->n_past += T;

    layernorm(s->xn, s->x, w->ln_f_w, w->ln_f_b, T, C, c->ln_eps);
    if (s->trace) memcpy(s->trace + (size_t)(1 + L) * TC, s->xn, TC * sizeof(float));
    if (all_logits) linear(s, s->logits, s->xn, &m->head, NULL, T, L, GPT2_HOOK_HEAD);
    else linear(s, s->logits, s->xn + (size_t)(T - 1) * C, &m->head, NULL, 1, L, GPT2_HOOK_HEAD);
}
