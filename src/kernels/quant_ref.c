// quant_ref.c: reference quantizers and dequantizers for ggml's 32-value block
// formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, and for Q8_K (the 8-bit activations of
// the K-quant dot products), with their whole-matrix quantize_<t>.
//
// The spec is llama.cpp's ggml (ggml-quants.c at commit c392e50): its block
// layouts and, for the quantizers, its scale searches, down to the order of the
// float operations, so that with the same input our bytes are llama.cpp's bytes.
// That is why expressions here are written the way they are: reordering a sum,
// folding a constant or rounding another way changes bytes (tests/test_quant.c
// compares them against llama.cpp's output). Everything is float arithmetic;
// nothing here may be built with -ffast-math or FMA contraction (-ffp-contract=fast).
//
// The scale searches are quant_fit.c's. Not here: the K-quants Q2_K..Q6_K
// (quant_k_ref.c), SIMD versions, dot products, the IQ formats, Q8_1.
#include "quant_fit.h"
#include "../core/bytes.h"
#include <float.h>
#include <math.h>
#include <string.h>

// a*b + c must round twice, as in ggml's build: clang fuses it into an FMA by default where
// the target has one (-march=native); GCC does not in ISO C mode (-std=c11), the Makefile's.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

// The 32-bit fifth-bit mask of q5_0/q5_1 is little-endian in the block (le_put_u32).

// ---------------------------------------------------------------------------
// 32-value blocks

// Nibble packing shared by q4_0/q4_1 (and the low nibbles of q5_0/q5_1): value j
// in the low nibble of qs[j], value j + 16 in the high nibble.
static void pack_nibbles32(uint8_t *qs, const uint8_t *L) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((L[j] & 0xF) | (L[j + 16] & 0xF) << 4);
}
static uint32_t fifth_bits32(const uint8_t *L) {
    uint32_t qh = 0;
    for (int j = 0; j < 32; j++) qh |= (uint32_t)((L[j] >> 4) & 1) << j;
    return qh;
}

void quantize_row_q4_0_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK4_0 == 0);
    block_q4_0 *y = vy;
    for (int64_t i = 0; i < k / QK4_0; i++, x += QK4_0) {
        float amax = 0, max = 0;  // max keeps its sign: it maps to level -8
        for (int j = 0; j < QK4_0; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = half(d);
        uint8_t L[QK4_0];
        for (int j = 0; j < QK4_0; j++) L[j] = (uint8_t)imin(15, (int)(x[j] * id + 8.5f));
        pack_nibbles32(y[i].qs, L);
    }
}

void quantize_row_q4_1_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK4_1 == 0);
    block_q4_1 *y = vy;
    for (int64_t i = 0; i < k / QK4_1; i++, x += QK4_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK4_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = half(d);
        y[i].m = half(min);
        uint8_t L[QK4_1];
        for (int j = 0; j < QK4_1; j++) L[j] = (uint8_t)imin(15, (int)((x[j] - min) * id + 0.5f));
        pack_nibbles32(y[i].qs, L);
    }
}

void quantize_row_q5_0_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK5_0 == 0);
    block_q5_0 *y = vy;
    for (int64_t i = 0; i < k / QK5_0; i++, x += QK5_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK5_0; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = half(d);
        uint8_t L[QK5_0];
        for (int j = 0; j < QK5_0; j++) L[j] = (uint8_t)imin(31, (int)(x[j] * id + 16.5f));
        pack_nibbles32(y[i].qs, L);
        le_put_u32(y[i].qh, fifth_bits32(L));
    }
}

void quantize_row_q5_1_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK5_1 == 0);
    block_q5_1 *y = vy;
    for (int64_t i = 0; i < k / QK5_1; i++, x += QK5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK5_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = half(d);
        y[i].m = half(min);
        uint8_t L[QK5_1];
        for (int j = 0; j < QK5_1; j++) L[j] = (uint8_t)(int)((x[j] - min) * id + 0.5f);  // no clamp, as ggml
        pack_nibbles32(y[i].qs, L);
        le_put_u32(y[i].qh, fifth_bits32(L));
    }
}

// An activation block holding NaN or Inf (the weights upstream are broken) is stored with a
// NaN scale: converting NaN to an integer is undefined behaviour, and the NaN must reach the
// logits, where eval reports it, instead of turning into finite garbage.
static int row_finite(const float *x, int n) {
    int ok = 1;
    for (int j = 0; j < n; j++) ok &= isfinite(x[j]) != 0;
    return ok;
}

void quantize_row_q8_0_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK8_0 == 0);
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < k / QK8_0; i++, x += QK8_0) {
        if (!row_finite(x, QK8_0)) {  // see row_finite
            y[i].d = half(NAN);
            memset(y[i].qs, 0, sizeof y[i].qs);
            continue;
        }
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = half(d);
        // roundf(v) (ties away from zero) without the libm call, exact for |v| < 2^23 (here
        // |v| <= 127): v − trunc(v) is exact, and a remainder of half or more rounds outward.
        // This is the activation quantizer of every quantized single-row product.
        for (int j = 0; j < QK8_0; j++) {
            float v = x[j] * id;
            int t = (int)v;
            float f = v - (float)t;
            y[i].qs[j] = (int8_t)(t + (f >= 0.5f) - (f <= -0.5f));
        }
    }
}

void dequantize_row_q4_0(const void *vx, float *y, int64_t k) {
    CHECK(k % QK4_0 == 0);
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < k / QK4_0; i++, y += QK4_0) {
        const float d = unhalf(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = ((x[i].qs[j] & 0xF) - 8) * d;
            y[j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_row_q4_1(const void *vx, float *y, int64_t k) {
    CHECK(k % QK4_1 == 0);
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < k / QK4_1; i++, y += QK4_1) {
        const float d = unhalf(x[i].d), m = unhalf(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (x[i].qs[j] & 0xF) * d + m;
            y[j + 16] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

void dequantize_row_q5_0(const void *vx, float *y, int64_t k) {
    CHECK(k % QK5_0 == 0);
    const block_q5_0 *x = vx;
    for (int64_t i = 0; i < k / QK5_0; i++, y += QK5_0) {
        const float d = unhalf(x[i].d);
        uint32_t qh = le_get_u32(x[i].qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (x[i].qs[j] & 0xF) | (int)((qh >> j) & 1) << 4;
            int q1 = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (q0 - 16) * d;
            y[j + 16] = (q1 - 16) * d;
        }
    }
}

void dequantize_row_q5_1(const void *vx, float *y, int64_t k) {
    CHECK(k % QK5_1 == 0);
    const block_q5_1 *x = vx;
    for (int64_t i = 0; i < k / QK5_1; i++, y += QK5_1) {
        const float d = unhalf(x[i].d), m = unhalf(x[i].m);
        uint32_t qh = le_get_u32(x[i].qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (x[i].qs[j] & 0xF) | (int)((qh >> j) & 1) << 4;
            int q1 = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = q0 * d + m;
            y[j + 16] = q1 * d + m;
        }
    }
}

void dequantize_row_q8_0(const void *vx, float *y, int64_t k) {
    CHECK(k % QK8_0 == 0);
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < k / QK8_0; i++, y += QK8_0) {
        const float d = unhalf(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = x[i].qs[j] * d;
    }
}

// Importance-weighted versions of the 32-value formats. sigma2 is the mean square
// over the whole row (n_per_row values); qw is the row's importance vector.

static void quantize_row_q4_0_imp(const float *x, block_q4_0 *y, int64_t n_per_row, const float *qw) {
    float sigma2 = quant_fit_mean_square(x, n_per_row);
    float w[QK4_0];
    int8_t L[QK4_0];
    for (int64_t ib = 0; ib < n_per_row / QK4_0; ib++) {
        const float *xb = x + QK4_0 * ib;
        quant_fit_importance(QK4_0, xb, qw + QK4_0 * ib, sigma2, w);
        y[ib].d = half(quant_fit_sym(QK4_0, 8, xb, L, w));
        pack_nibbles32(y[ib].qs, (const uint8_t *)L);
    }
}

static void quantize_row_q4_1_imp(const float *x, block_q4_1 *y, int64_t n_per_row, const float *qw) {
    float sigma2 = quant_fit_mean_square(x, n_per_row);
    float w[QK4_1], min;
    uint8_t L[QK4_1], Laux[QK4_1];
    for (int64_t ib = 0; ib < n_per_row / QK4_1; ib++) {
        const float *xb = x + QK4_1 * ib;
        quant_fit_importance(QK4_1, xb, qw + QK4_1 * ib, sigma2, w);
        float d = quant_fit_scale_min(QK4_1, 15, xb, w, L, &min, Laux, -0.9f, 0.05f, 36, 0);
        y[ib].d = half(d);
        y[ib].m = half(-min);
        pack_nibbles32(y[ib].qs, L);
    }
}

static void quantize_row_q5_0_imp(const float *x, block_q5_0 *y, int64_t n_per_row, const float *qw) {
    float sigma2 = quant_fit_mean_square(x, n_per_row);
    float w[QK5_0];
    int8_t L[QK5_0];
    for (int64_t ib = 0; ib < n_per_row / QK5_0; ib++) {
        const float *xb = x + QK5_0 * ib;
        quant_fit_importance(QK5_0, xb, qw + QK5_0 * ib, sigma2, w);
        y[ib].d = half(quant_fit_sym(QK5_0, 16, xb, L, w));
        pack_nibbles32(y[ib].qs, (const uint8_t *)L);
        le_put_u32(y[ib].qh, fifth_bits32((const uint8_t *)L));
    }
}

static void quantize_row_q5_1_imp(const float *x, block_q5_1 *y, int64_t n_per_row, const float *qw) {
    float sigma2 = quant_fit_mean_square(x, n_per_row);
    float w[QK5_1], min;
    uint8_t L[QK5_1], Laux[QK5_1];
    for (int64_t ib = 0; ib < n_per_row / QK5_1; ib++) {
        const float *xb = x + QK5_1 * ib;
        quant_fit_importance(QK5_1, xb, qw + QK5_1 * ib, sigma2, w);
        float d = quant_fit_scale_min(QK5_1, 31, xb, w, L, &min, Laux, -0.9f, 0.05f, 36, 0);
        y[ib].d = half(d);
        y[ib].m = half(-min);
        pack_nibbles32(y[ib].qs, L);
        le_put_u32(y[ib].qh, fifth_bits32(L));
    }
}

// ---------------------------------------------------------------------------
// Q8_K: activations for K-quant dot products

void quantize_row_q8_k_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK_K == 0);
    block_q8_k *y = vy;
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        if (!row_finite(x, QK_K)) {  // see row_finite
            memset(&y[i], 0, sizeof y[i]);
            y[i].d = NAN;
            continue;
        }
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        if (!amax) {  // ggml leaves bsums untouched here; we store their value, 0
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) y[i].qs[j] = (int8_t)imin(127, round_nearest(iscale * x[j]));
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void dequantize_row_q8_k(const void *vx, float *y, int64_t k) {
    CHECK(k % QK_K == 0);
    const block_q8_k *x = vx;
    for (int64_t i = 0; i < k / QK_K; i++, y += QK_K)
        for (int j = 0; j < QK_K; j++) y[j] = x[i].d * x[i].qs[j];
}

// ---------------------------------------------------------------------------
// Whole matrices (QUANTIZE_MATRIX is in quant_fit.h)

QUANTIZE_MATRIX(q4_0, block_q4_0, QK4_0)
QUANTIZE_MATRIX(q4_1, block_q4_1, QK4_1)
QUANTIZE_MATRIX(q5_0, block_q5_0, QK5_0)
QUANTIZE_MATRIX(q5_1, block_q5_1, QK5_1)

// The 8-bit formats have no importance-weighted variant (ggml ignores it too).
size_t quantize_q8_0(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    CHECK(n_per_row % QK8_0 == 0 && nrows >= 0);
    quantize_row_q8_0_ref(src, dst, nrows * n_per_row);
    return (size_t)nrows * (size_t)(n_per_row / QK8_0) * sizeof(block_q8_0);
}

size_t quantize_q8_k(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    CHECK(n_per_row % QK_K == 0 && nrows >= 0);
    quantize_row_q8_k_ref(src, dst, nrows * n_per_row);
    return (size_t)nrows * (size_t)(n_per_row / QK_K) * sizeof(block_q8_k);
}
