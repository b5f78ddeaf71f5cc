// qdot_ref.c: quantized matrix-vector products, reference (the spec for qdot_avx2.c).
//
// As ggml does for single rows: the activation row is quantized to Q8_0 (32 values,
// one fp16 scale, int8 levels), then each weight block's integer levels are dotted
// with the activation's in exact integer arithmetic and scaled by d_w · d_x:
//   out[n] = Σ_blocks fp16(d_w) · fp16(d_x) · Σ_i q_w[i] · q_x[i]   (+ bias)
// The only rounding beyond fp32 sums is the activation's Q8_0 quantization.
#include "kernels.h"
#include "qblock.h"
#include "../core/dtype.h"

// Levels of one weight block as int8 (Q4_0: nibble − 8, elements 0..15 low nibbles,
// 16..31 high nibbles; Q8_0: as stored).
static void block_levels(qtype t, const void *blk, int8_t q[32], float *d) {
    if (t == QTYPE_Q8_0) {
        const block_q8_0 *b = blk;
        *d = fp16_to_f32(b->d);
        for (int i = 0; i < 32; i++) q[i] = b->qs[i];
    } else {
        const block_q4_0 *b = blk;
        *d = fp16_to_f32(b->d);
        for (int i = 0; i < 16; i++) {
            q[i] = (int8_t)((b->qs[i] & 15) - 8);
            q[i + 16] = (int8_t)((b->qs[i] >> 4) - 8);
        }
    }
}

void qdot_q8_ref(float *out, const void *xq, const void *w, qtype t, const float *bias, int K, int n0, int n1) {
    int nb = K / 32;
    size_t row_bytes = qtype_row_bytes(t, (size_t)K), bb = (size_t)qtype_get((int)t)->bytes;
    const block_q8_0 *x = xq;
    for (int n = n0; n < n1; n++) {
        const char *row = (const char *)w + (size_t)n * row_bytes;
        float acc = 0.0f;
        for (int b = 0; b < nb; b++) {
            int8_t q[32];
            float d;
            block_levels(t, row + (size_t)b * bb, q, &d);
            int32_t s = 0;
            for (int i = 0; i < 32; i++) s += (int32_t)q[i] * x[b].qs[i];
            acc += d * fp16_to_f32(x[b].d) * (float)s;
        }
        out[n] = acc + (bias ? bias[n] : 0.0f);
    }
}
