// qmatmul_ref.c: quantized weights (Q8_0, Q4_0) times a batch of activation rows already
// quantized to Q8_0, reference (the spec for qmatmul_avx2.c and qmatmul_avx512.c).
//
// Defined as qdot_q8_ref (qdot_ref.c states the arithmetic) applied to each activation
// row: out[t][n] = Σ_blocks fp16(d_w) · fp16(d_x) · Σ_i q_w[i] · q_x[i]  (+ bias[n]).
// This is ggml's prompt path for these types: the activations are quantized once per
// row, then every product is an exact integer block dot.
#include "kernels.h"
#include "qblock.h"

void qmatmul_q8_ref(float *out, const void *xq, const void *w, qtype t, const float *bias, int T, int K, int N) {
    const block_q8_0 *x = xq;
    for (int i = 0; i < T; i++) qdot_q8_ref(out + (size_t)i * N, x + (size_t)i * (K / 32), w, t, bias, K, 0, N);
}
