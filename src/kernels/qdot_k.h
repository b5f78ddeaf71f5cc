// qdot_k.h: quantized matrix-vector products for K-quant weights (Q2_K, Q3_K, Q4_K,
// Q5_K, Q6_K) against an activation row quantized to Q8_K (256 values, fp32 scale, int8 levels,
// int16 sums of each 16 levels). ggml's single-row path for these types: the
// weight levels are never widened to fp32; each 256-value super-block is one
// exact integer dot per sub-block, weighted by the sub-block's integer scale,
// with the min (Q2_K/Q4_K/Q5_K) or the level offset (−4 for Q3_K, −32 for Q6_K)
// folded in through the activation's bsums. qdot_k_ref.c states the arithmetic; qdot_k_avx2.c is its twin.
// Not here: the Q8_K quantization of the activation (quantize_row_q8_k_ref in
// qblock.h) and the choice of rows per thread (the caller's).
#pragma once
#include "qtype.h"
#include <stdint.h>
#include <string.h>

// out[n] = row n of w · x (+ bias[n]) for n in [n0, n1).
//   out   (OC) fp32; only [n0, n1) is written.
//   xq8k  (K / 256) block_q8_k: the activation row from quantize_row_q8_k_ref.
//   w     (OC, K) out-major, each row qtype_row_bytes(t, K) bytes of type t.
//   t     QTYPE_Q2_K, QTYPE_Q3_K, QTYPE_Q4_K, QTYPE_Q5_K or QTYPE_Q6_K (CHECKed).
//   bias  (OC) or NULL.
//   K     a multiple of 256 (CHECKed).
// Never allocates, never starts threads: split [n0, n1) across threads outside.
void qdot_k_ref(float *out, const void *xq8k, const void *w, qtype t, const float *bias, int K, int n0, int n1);
// The same with AVX2 (call only when kernels_have_avx2()); equal to the reference
// up to the order of the fp32 sums across super-blocks.
void qdot_k_avx2(float *out, const void *xq8k, const void *w, qtype t, const float *bias, int K, int n0, int n1);

// The 8 scales and 8 mins of a Q4_K/Q5_K super-block (6 bits each, packed in 12
// bytes as qdot_k_ref.c's scale_min_k4 reads them), as bytes 0..7 of sc and mn.
static inline void unpack_scale_min_k4(const uint8_t *s12, uint64_t *sc, uint64_t *mn) {
    uint32_t u[3];
    memcpy(u, s12, 12);
    uint32_t sc_lo = u[0] & 0x3f3f3f3fu, mn_lo = u[1] & 0x3f3f3f3fu;
    uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u);
    uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u);
    *sc = (uint64_t)sc_hi << 32 | sc_lo;
    *mn = (uint64_t)mn_hi << 32 | mn_lo;
}

// 1 for the weight types qdot_k handles.
static inline int qdot_k_supports(qtype t) {
    return t == QTYPE_Q2_K || t == QTYPE_Q3_K || t == QTYPE_Q4_K || t == QTYPE_Q5_K || t == QTYPE_Q6_K;
}
