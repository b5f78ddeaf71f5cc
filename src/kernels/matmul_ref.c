// matmul_ref.c: scalar reference matmul (the spec) and a portable OpenMP version.
#include "kernels.h"

void matmul_f32_ref(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC) {
    for (int t = 0; t < BT; t++) {
        const float *x = in + (size_t)t * C;
        for (int o = 0; o < OC; o++) {
            const float *wr = w + (size_t)o * C;
            float acc = bias ? bias[o] : 0.0f;
            for (int c = 0; c < C; c++) acc += x[c] * wr[c];
            out[(size_t)t * OC + o] = acc;
        }
    }
}

// Portable fast-ish path: 8 independent partial sums per dot product (the compiler
// vectorizes them without reassociation flags), 4 input rows per weight-row pass so
// each weight row read from memory serves 4 outputs, OpenMP over output channels.
void matmul_f32_generic(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC) {
    int C8 = C & ~7;
#pragma omp parallel for schedule(static)
    for (int o = 0; o < OC; o++) {
        const float *wr = w + (size_t)o * C;
        float b = bias ? bias[o] : 0.0f;
        int t = 0;
        for (; t + 4 <= BT; t += 4) {
            const float *x0 = in + (size_t)t * C, *x1 = x0 + C, *x2 = x1 + C, *x3 = x2 + C;
            float s0[8] = {0}, s1[8] = {0}, s2[8] = {0}, s3[8] = {0};
            for (int c = 0; c < C8; c += 8)
                for (int k = 0; k < 8; k++) {
                    float wv = wr[c + k];
                    s0[k] += x0[c + k] * wv;
                    s1[k] += x1[c + k] * wv;
                    s2[k] += x2[c + k] * wv;
                    s3[k] += x3[c + k] * wv;
                }
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (int k = 0; k < 8; k++) { a0 += s0[k]; a1 += s1[k]; a2 += s2[k]; a3 += s3[k]; }
            for (int c = C8; c < C; c++) {
                a0 += x0[c] * wr[c]; a1 += x1[c] * wr[c]; a2 += x2[c] * wr[c]; a3 += x3[c] * wr[c];
            }
            out[(size_t)t * OC + o] = a0 + b;
            out[(size_t)(t + 1) * OC + o] = a1 + b;
            out[(size_t)(t + 2) * OC + o] = a2 + b;
            out[(size_t)(t + 3) * OC + o] = a3 + b;
        }
        for (; t < BT; t++) {
            const float *x = in + (size_t)t * C;
            float s[8] = {0};
            for (int c = 0; c < C8; c += 8)
                for (int k = 0; k < 8; k++) s[k] += x[c + k] * wr[c + k];
            float a = 0;
            for (int k = 0; k < 8; k++) a += s[k];
            for (int c = C8; c < C; c++) a += x[c] * wr[c];
            out[(size_t)t * OC + o] = a + b;
        }
    }
}

// Typed weights, reference: dequantize W one block at a time and dot in order.
void matmul_ref(float *out, const float *in, const void *w, qtype t, const float *bias, int BT, int C, int OC) {
    const qtype_info *q = qtype_get((int)t);
    size_t row_bytes = qtype_row_bytes(t, (size_t)C);
    int step = q->block > 1 ? q->block : 64;  // F32/F16: dequantize 64 at a time
    float tmp[256];
    for (int t_ = 0; t_ < BT; t_++) {
        const float *x = in + (size_t)t_ * C;
        for (int o = 0; o < OC; o++) {
            const char *row = (const char *)w + (size_t)o * row_bytes;
            float acc = bias ? bias[o] : 0.0f;
            for (int c0 = 0; c0 < C; c0 += step) {
                int n = C - c0 < step ? C - c0 : step;
                dequantize_row(t, row + (size_t)c0 / (size_t)q->block * (size_t)q->bytes, tmp, (size_t)n);
                for (int c = 0; c < n; c++) acc += x[c0 + c] * tmp[c];
            }
            out[(size_t)t_ * OC + o] = acc;
        }
    }
}

// Typed weights, portable: F32 goes to the fast path; other types dequantize each
// row into a stack buffer in chunks (no allocation), OpenMP over output channels.
void matmul_generic(float *out, const float *in, const void *w, qtype t, const float *bias, int BT, int C, int OC) {
    if (t == QTYPE_F32) {
        matmul_f32_generic(out, in, w, bias, BT, C, OC);
        return;
    }
    const qtype_info *q = qtype_get((int)t);
    size_t row_bytes = qtype_row_bytes(t, (size_t)C);
    int step = q->block > 1 ? q->block : 256;
#pragma omp parallel for schedule(static)
    for (int o = 0; o < OC; o++) {
        const char *row = (const char *)w + (size_t)o * row_bytes;
        float tmp[256];
        for (int t_ = 0; t_ < BT; t_++) out[(size_t)t_ * OC + o] = bias ? bias[o] : 0.0f;
        for (int c0 = 0; c0 < C; c0 += step) {
            int n = C - c0 < step ? C - c0 : step;
            dequantize_row(t, row + (size_t)c0 / (size_t)q->block * (size_t)q->bytes, tmp, (size_t)n);
            for (int t_ = 0; t_ < BT; t_++) {
                const float *x = in + (size_t)t_ * C + c0;
                float acc = 0.0f;
                for (int c = 0; c < n; c++) acc += x[c] * tmp[c];
                out[(size_t)t_ * OC + o] += acc;
            }
        }
    }
}
