// kernels.h: the dispatch table for compute kernels.
//
// Model code calls the inline wrappers below; kernels_init() fills the table
// once from the CPU's features. SHRINK_KERNELS=ref forces the scalar
// reference kernels (the spec every fast kernel is tested against).
// Kernels never allocate; the generic/SIMD ones may run OpenMP loops inside.
#pragma once
#include <stddef.h>
#include "qtype.h"

// out (BT, OC) = in (BT, C) · w (OC, C)ᵀ + bias (OC); bias may be NULL.
// w is out-major (each output channel's C weights are contiguous).
typedef void (*matmul_f32_fn)(float *out, const float *in, const float *w, const float *bias,
                              int BT, int C, int OC);

// The same with W's rows stored as type t (C a multiple of t's block size).
typedef void (*matmul_fn)(float *out, const float *in, const void *w, qtype t, const float *bias, int BT, int C,
                          int OC);

// x (n) = GELU(x) in place; exact: erf form, else GPT-2's tanh form.
typedef void (*gelu_f32_fn)(float *x, size_t n, int exact);

// One query's causal attention for one head: out (HS) = softmax(scale · q·k_jᵀ) · v_j
// over keys j < n_keys. k and v rows are ld floats apart (the KV cache's row length);
// scores is caller scratch of n_keys floats.
typedef void (*attn_head_f32_fn)(float *out, const float *q, const float *k, const float *v, int n_keys, int HS,
                                 int ld, float scale, float *scores);

// y (n, C) = (x - mean) / sqrt(var + eps) · w + b for each of n rows; var divides by C.
// Each row's mean and variance are sums in index order, so every twin gives the same
// bits (compressed models' files depend on them).
typedef void (*layernorm_f32_fn)(float *y, const float *x, const float *w, const float *b, int n, int C, float eps);

// log Σ exp(x_i) over n floats (max-shifted): the normalizer of a log-softmax.
typedef float (*logsumexp_f32_fn)(const float *x, int n);

// Quantized rows (Q8_0, Q4_0) against an activation row already quantized to Q8_0
// (xq: K/32 block_q8_0): out[n] for n in [n0, n1), integer block dots scaled by
// both scales (qdot_ref.c states the arithmetic). K a multiple of 32.
typedef void (*qdot_fn)(float *out, const void *xq, const void *w, qtype t, const float *bias, int K, int n0, int n1);

// The same for a batch: out (T, N) = xq (T rows of K/32 block_q8_0) against w's N rows
// (Q8_0 or Q4_0) + bias (N, may be NULL); defined as qdot_q8 applied to each row
// (qmatmul_ref.c). May run an OpenMP loop inside.
typedef void (*qmatmul_fn)(float *out, const void *xq, const void *w, qtype t, const float *bias, int T, int K, int N);

// The training pass's kernels (backward.h states their contracts).
typedef void (*gemm_f32_fn)(float *c, int ldc, const float *a, int sam, int sak, const float *b, int sbk, int sbn, int M,
                            int N, int K, int accumulate);
typedef float (*softmax_f32_fn)(float *out, const float *in, int n, float scale);
typedef void (*gelu_backward_f32_fn)(float *dx, const float *x, const float *dy, size_t n, int exact);

struct kernels {
    matmul_f32_fn matmul_f32;
    matmul_fn matmul;
    gelu_f32_fn gelu_f32;
    attn_head_f32_fn attn_head_f32;
    layernorm_f32_fn layernorm_f32;
    logsumexp_f32_fn logsumexp_f32;
    qdot_fn qdot_q8;  // Q8_0 / Q4_0 weights, activation in Q8_0
    qdot_fn qdot_k;   // Q2_K / Q3_K / Q4_K / Q5_K / Q6_K weights, activation in Q8_K (qdot_k.h)
    qmatmul_fn qmatmul_q8;  // Q8_0 / Q4_0 weights, T activation rows in Q8_0
    int qmatmul_fast;       // 1 when qmatmul_q8 beats dequantize + fp32 GEMM for batches (AVX-512 VNNI)
    gemm_f32_fn gemm_f32;   // the strided product of the training pass
    int gemm_packed;        // 1: the training forward's matmul runs on gemm_f32 (AVX2/AVX-512 twins)
    softmax_f32_fn softmax_f32;
    gelu_backward_f32_fn gelu_backward_f32;
    const char *isa;  // "ref", "generic", "avx2"
};
extern struct kernels kern;

// Chooses kernels once (idempotent). Returns the ISA name chosen.
const char *kernels_init(void);

void matmul_f32_ref(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC);
void matmul_f32_generic(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC);
void matmul_f32_avx2(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC);
void matmul_f32_avx512(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC);
void matmul_avx512(float *out, const float *in, const void *w, qtype t, const float *bias, int BT, int C, int OC);
void matmul_ref(float *out, const float *in, const void *w, qtype t, const float *bias, int BT, int C, int OC);
void matmul_generic(float *out, const float *in, const void *w, qtype t, const float *bias, int BT, int C, int OC);
void matmul_avx2(float *out, const float *in, const void *w, qtype t, const float *bias, int BT, int C, int OC);

void layernorm_f32_ref(float *y, const float *x, const float *w, const float *b, int n, int C, float eps);
void layernorm_f32_avx2(float *y, const float *x, const float *w, const float *b, int n, int C, float eps);
float logsumexp_f32_ref(const float *x, int n);
float logsumexp_f32_avx2(const float *x, int n);
void gelu_f32_ref(float *x, size_t n, int exact);
void gelu_f32_avx2(float *x, size_t n, int exact);
// gelu_f32_avx2's bits 16 lanes at a time (vec_avx512.c; call only when kernels_have_avx512()).
void gelu_f32_avx512(float *x, size_t n, int exact);
void attn_head_f32_ref(float *out, const float *q, const float *k, const float *v, int n_keys, int HS, int ld,
                       float scale, float *scores);
void attn_head_f32_avx2(float *out, const float *q, const float *k, const float *v, int n_keys, int HS, int ld,
                        float scale, float *scores);

// Quantized rows (Q8_0, Q4_0): see qdot_fn above.
void qdot_q8_ref(float *out, const void *xq, const void *w, qtype t, const float *bias, int K, int n0, int n1);
void qdot_q8_avx2(float *out, const void *xq, const void *w, qtype t, const float *bias, int K, int n0, int n1);
// The same with AVX-512 VNNI (call only when kernels_have_avx512_vnni()).
void qdot_q8_avx512(float *out, const void *xq, const void *w, qtype t, const float *bias, int K, int n0, int n1);
// K-quant rows against a Q8_K activation (qdot_k.h) with AVX-512 VNNI: Q4_K and Q6_K
// here, the other K-quants through qdot_k_avx2 (call only when kernels_have_avx512_vnni()).
void qdot_k_avx512(float *out, const void *xq8k, const void *w, qtype t, const float *bias, int K, int n0, int n1);
// Batches (Q8_0, Q4_0 weights): see qmatmul_fn above. The AVX2 one runs qdot_q8_avx2
// per row; the AVX-512 one is a VNNI micro-kernel (call only when kernels_have_avx512_vnni()).
void qmatmul_q8_ref(float *out, const void *xq, const void *w, qtype t, const float *bias, int T, int K, int N);
void qmatmul_q8_avx2(float *out, const void *xq, const void *w, qtype t, const float *bias, int T, int K, int N);
void qmatmul_q8_avx512(float *out, const void *xq, const void *w, qtype t, const float *bias, int T, int K, int N);
// dst (n) = one stored row widened to fp32, bit-identical to dequantize_row; AVX2 code
// for Q4_K, Q5_K, Q6_K, Q8_0, Q4_0, the reference for the rest.
void dequantize_row_avx2(qtype t, const void *src, float *dst, size_t n);
// 1 for the weight types qdot handles.
static inline int qdot_supports(qtype t) { return t == QTYPE_Q8_0 || t == QTYPE_Q4_0; }

// Machine probes for the benchmark (probe_avx2.c): returns a value only to keep the work.
double probe_fma_avx2(long iters);                 // iters × 192 flops
double probe_fma_avx512(long iters);               // iters × 512 flops
double probe_read_avx2(const float *p, size_t n);  // reads n floats once

// 1 when this CPU can run the *_avx2 kernels (AVX2 + FMA + F16C), the *_avx512 ones (AVX-512F too).
int kernels_have_avx2(void);
int kernels_have_avx512(void);
// 1 when this CPU also has AVX-512 BW and VNNI (the integer qdot kernels).
int kernels_have_avx512_vnni(void);

// Generation reads each weight matrix once per token, as one stream per thread; the hardware
// prefetcher alone leaves bandwidth unused on such a stream, and a software prefetch this
// far ahead of the loads recovers it (nearer and farther distances did worse: the figures
// are in bench/README.md, "Design measurements").
#define STREAM_AHEAD 8192
static inline void prefetch_ahead(const void *p) { __builtin_prefetch((const char *)p + STREAM_AHEAD, 0, 3); }
// The same for the n bytes from p: row-at-a-time kernels call it as they start a row.
static inline void prefetch_ahead_bytes(const void *p, size_t n) {
    for (size_t o = 0; o < n; o += 64) prefetch_ahead((const char *)p + o);
}

static inline void matmul_f32(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC) {
    kern.matmul_f32(out, in, w, bias, BT, C, OC);
}

static inline void matmul(float *out, const float *in, const void *w, qtype t, const float *bias, int BT, int C, int OC) {
    kern.matmul(out, in, w, t, bias, BT, C, OC);
}
