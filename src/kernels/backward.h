// backward.h: kernels of the training pass: a strided matrix product (the matmul
// backward and the attention products are all built from it), row softmax, GELU backward.
//
// The entries without an ISA suffix call the twin the dispatch table holds (kernels_init():
// AVX-512 or AVX2 where the CPU has them, SHRINK_KERNELS=ref the _ref twins). Kernels never
// allocate. gemm_f32 and softmax/gelu kernels are single-threaded (callers run them inside
// their own pool tasks); matmul_f32_packed, matmul_dinp_f32 and matmul_dw_f32 split their
// output into blocks that run as pool tasks (core/pool.h). Every output element is reduced
// in the same order whatever the thread count, so results do not depend on it.
#pragma once
#include <stddef.h>
#include "kernels.h"

// --- strided product
// c (M, N) = [c +] Σ_k a(m, k) · b(k, n), where a(m, k) = a[m·sam + k·sak] and
// b(k, n) = b[k·sbk + n·sbn] (so either may be read transposed), and c is row-major with
// row stride ldc. accumulate = 0 overwrites c (c may hold NaN then), 1 adds to it.
static inline void gemm_f32(float *c, int ldc, const float *a, int sam, int sak, const float *b, int sbk, int sbn, int M,
                            int N, int K, int accumulate) {
    kern.gemm_f32(c, ldc, a, sam, sak, b, sbk, sbn, M, N, K, accumulate);
}
void gemm_f32_ref(float *c, int ldc, const float *a, int sam, int sak, const float *b, int sbk, int sbn, int M, int N,
                  int K, int accumulate);
void gemm_f32_avx2(float *c, int ldc, const float *a, int sam, int sak, const float *b, int sbk, int sbn, int M,
                   int N, int K, int accumulate);
void gemm_f32_avx512(float *c, int ldc, const float *a, int sam, int sak, const float *b, int sbk, int sbn, int M,
                     int N, int K, int accumulate);

// --- the training forward's matmul: out (BT, OC) = inp (BT, C) · w (OC, C)ᵀ + bias (OC)
// (bias may be NULL): kernels.h's matmul_f32 contract, computed with the packed gemm_f32
// twins (w read transposed) when the dispatch chose "avx2" or "avx512", which give the same
// bits, so a training run does not depend on which of the two a CPU has; else by
// kern.matmul_f32.
void matmul_f32_packed(float *out, const float *inp, const float *w, const float *bias, int BT, int C, int OC);

// --- matmul backward, for the forward out (BT, OC) = inp (BT, C) · w (OC, C)ᵀ + b (OC)
// dinp (BT, C) = [dinp +] dout (BT, OC) · w (OC, C).
void matmul_dinp_f32(float *dinp, const float *dout, const float *w, int BT, int C, int OC, int accumulate);
// dw (OC, C) += dout (BT, OC)ᵀ · inp (BT, C); db (OC) += Σ_t dout[t] (db may be NULL).
void matmul_dw_f32(float *dw, float *db, const float *dout, const float *inp, int BT, int C, int OC);

// --- row softmax
// out (n) = softmax(scale · in (n)); returns log Σ_j exp(scale · in_j) (so the cross-entropy of
// target y is the return value minus scale · in[y]). out may equal in. n ≥ 1.
static inline float softmax_f32(float *out, const float *in, int n, float scale) {
    return kern.softmax_f32(out, in, n, scale);
}
float softmax_f32_ref(float *out, const float *in, int n, float scale);
float softmax_f32_avx2(float *out, const float *in, int n, float scale);
// The same bits 16 lanes at a time (vec_avx512.c; call only when kernels_have_avx512()).
float softmax_f32_avx512(float *out, const float *in, int n, float scale);

// --- GELU backward
// dx (n) = GELU'(x) · dy, for the tanh form (GPT-2's "gelu_new") or, when exact, the erf form.
// dx may equal dy.
static inline void gelu_backward_f32(float *dx, const float *x, const float *dy, size_t n, int exact) {
    kern.gelu_backward_f32(dx, x, dy, n, exact);
}
void gelu_backward_f32_ref(float *dx, const float *x, const float *dy, size_t n, int exact);
void gelu_backward_f32_avx2(float *dx, const float *x, const float *dy, size_t n, int exact);
