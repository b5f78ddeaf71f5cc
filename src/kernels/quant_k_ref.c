// quant_k_ref.c: reference quantizers and dequantizers for ggml's K-quants Q2_K,
// Q3_K, Q4_K, Q5_K and Q6_K (super-blocks of 256 values in sub-blocks of 16 or
// 32, whose scales are quantized too), with their whole-matrix quantize_<t>.
//
// The spec is llama.cpp's ggml (ggml-quants.c at commit c392e50): its block
// layouts and, for the quantizers, its scale searches, down to the order of the
// float operations, so that with the same input our bytes are llama.cpp's bytes.
// That is why expressions here are written the way they are: reordering a sum,
// folding a constant or rounding another way changes bytes (tests/test_quant.c
// compares them against llama.cpp's output). Everything is float arithmetic;
// nothing here may be built with -ffast-math or FMA contraction (-ffp-contract=fast).
//
// The scale searches are quant_fit.c's. Not here: the 32-value formats and Q8_K
// (quant_ref.c), SIMD versions, dot products, the IQ formats.
#include "quant_fit.h"
#include <math.h>
#include <string.h>

// a*b + c must round twice, as in ggml's build: clang fuses it into an FMA by default where
// the target has one (-march=native); GCC does not in ISO C mode (-std=c11), the Makefile's.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

// ---------------------------------------------------------------------------
// K-quant packing helpers

// 2-bit levels of 256 values into 64 bytes: value e at bits 2*((e%128)/32) of
// byte 32*(e/128) + e%32 (q2_k's qs, and q3_k's low bits).
static void pack_2bit(uint8_t *qs, const uint8_t *L) {
    for (int h = 0; h < 2; h++, L += 128, qs += 32)
        for (int l = 0; l < 32; l++)
            qs[l] = (uint8_t)(L[l] | L[l + 32] << 2 | L[l + 64] << 4 | L[l + 96] << 6);
}

// 4-bit levels of 256 values into 128 bytes: value e in nibble (e/32)&1 of byte
// 32*(e/64) + e%32 (q4_k's qs, and q5_k's low bits). Levels must be < 16.
static void pack_4bit(uint8_t *qs, const uint8_t *L) {
    for (int g = 0; g < 4; g++, L += 64, qs += 32)
        for (int l = 0; l < 32; l++) qs[l] = (uint8_t)(L[l] | L[l + 32] << 4);
}

// q4_k/q5_k: the 6-bit scale and min of sub-block j (0..7) in the 12 scale bytes.
// j < 4: the low 6 bits of bytes j (scale) and j + 4 (min). j >= 4: low nibbles
// in byte j + 4 (scale low, min high), top two bits in bits 6-7 of bytes j - 4
// (scale) and j (min). Call it for j = 0..7 in order: j < 4 writes its bytes
// whole, j >= 4 ORs into them.
static void q4k_put_scale_min(uint8_t *s, int j, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        s[j] = ls;
        s[j + 4] = lm;
    } else {
        s[j + 4] = (uint8_t)((ls & 0xF) | (lm & 0xF) << 4);
        s[j - 4] |= (uint8_t)((ls >> 4) << 6);
        s[j] |= (uint8_t)((lm >> 4) << 6);
    }
}
static void q4k_scale_min(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
        *mn = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

// q3_k: the 6-bit (offset-32) scale of sub-block j (0..15). Low nibble: byte
// j % 8, low half for j < 8; top two bits: bits 2*(j/4) of byte 8 + j%4.
// put_scale ORs, so the 12 bytes start zeroed.
static void q3k_put_scale(uint8_t *s, int j, int l) {
    if (j < 8) s[j] = (uint8_t)(l & 0xF);
    else s[j - 8] |= (uint8_t)((l & 0xF) << 4);
    s[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
}
static int q3k_scale(const uint8_t *s, int j) {
    int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return (lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
}

// q3_k levels L (0..7) of 256 values: the high bit into hmask (value e at bit
// e/32 of byte e%32), the low two bits into qs. Modifies L.
static void q3k_pack(block_q3_k *y, uint8_t *L) {
    memset(y->hmask, 0, sizeof y->hmask);
    for (int e = 0; e < QK_K; e++)
        if (L[e] > 3) {
            y->hmask[e % 32] |= (uint8_t)(1 << (e / 32));
            L[e] -= 4;
        }
    pack_2bit(y->qs, L);
}

// q5_k levels L (0..31): the fifth bit into qh (value e at bit e/32 of byte
// e%32), the low nibbles into qs.
static void q5k_pack(block_q5_k *y, const uint8_t *L) {
    uint8_t lo[QK_K];
    memset(y->qh, 0, sizeof y->qh);
    for (int e = 0; e < QK_K; e++) {
        lo[e] = L[e] & 0xF;
        if (L[e] > 15) y->qh[e % 32] |= (uint8_t)(1 << (e / 32));
    }
    pack_4bit(y->qs, lo);
}

// q6_k levels L (0..63) of 256 values into ql/qh (layout in qblock.h).
static void q6k_pack(block_q6_k *y, const int8_t *L) {
    uint8_t *ql = y->ql, *qh = y->qh;
    for (int h = 0; h < 2; h++, L += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((L[l] & 0xF) | (L[l + 64] & 0xF) << 4);
            ql[l + 32] = (uint8_t)((L[l + 32] & 0xF) | (L[l + 96] & 0xF) << 4);
            qh[l] = (uint8_t)(L[l] >> 4 | (L[l + 32] >> 4) << 2 | (L[l + 64] >> 4) << 4 | (L[l + 96] >> 4) << 6);
        }
}

// ---------------------------------------------------------------------------
// Q2_K: 16 sub-blocks of 16, 4-bit scales and mins

// Final levels once the scales are stored: each value re-rounded against its
// sub-block's decoded scale d * sc and min dmin * m (nmax = 3 for q2_k, 15/31 for
// q4_k/q5_k over sub-blocks of gs). A zero scale keeps the search's levels.
static void requantize_with_min(const float *x, uint8_t *L, int gs, int j, float d, float dm, int nmax) {
    if (!d) return;
    for (int i = 0; i < gs; i++) L[gs * j + i] = (uint8_t)iclamp(round_nearest((x[gs * j + i] + dm) / d), 0, nmax);
}

void quantize_row_q2_k_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK_K == 0);
    block_q2_k *y = vy;
    uint8_t L[QK_K], Laux[16];
    float w[16], mins[QK_K / 16], scales[QK_K / 16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
            scales[j] = quant_fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = 15.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = (uint8_t)round_nearest(iscale * scales[j]);
            y[i].d = half(max_scale / 15.f);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = half(0.f);
        }
        if (max_min > 0) {
            float iscale = 15.f / max_min;
            for (int j = 0; j < QK_K / 16; j++)
                y[i].scales[j] |= (uint8_t)((unsigned)round_nearest(iscale * mins[j]) << 4);
            y[i].dmin = half(max_min / 15.f);
        } else {
            y[i].dmin = half(0.f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = unhalf(y[i].d) * (y[i].scales[j] & 0xF);
            const float dm = unhalf(y[i].dmin) * (y[i].scales[j] >> 4);
            requantize_with_min(x, L, 16, j, d, dm, 3);
        }
        pack_2bit(y[i].qs, L);
    }
}

static void quantize_row_q2_k_imp(const float *x, block_q2_k *y, int64_t n_per_row, const float *qw) {
    uint8_t L[QK_K], Laux[16], Ls[QK_K / 16], Lm[QK_K / 16];
    float w[16], mins[QK_K / 16], scales[QK_K / 16], sw[QK_K / 16];
    for (int64_t i = 0; i < n_per_row / QK_K; i++, x += QK_K, qw += QK_K) {
        float sigma2 = quant_fit_mean_square(x, QK_K);
        for (int j = 0; j < QK_K / 16; j++) {
            quant_fit_importance(16, x + 16 * j, qw + 16 * j, sigma2, w);
            sw[j] = 0;
            for (int l = 0; l < 16; l++) sw[j] += w[l];
            scales[j] = quant_fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
        }
        float dm = quant_fit_pos(QK_K / 16, 15, scales, Ls, sw);
        float mm = quant_fit_pos(QK_K / 16, 15, mins, Lm, sw);
        y[i].d = half(dm);
        y[i].dmin = half(mm);
        dm = unhalf(y[i].d);
        mm = unhalf(y[i].dmin);
        for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = (uint8_t)(Ls[j] | Lm[j] << 4);
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = dm * (y[i].scales[j] & 0xF);
            const float m = mm * (y[i].scales[j] >> 4);
            requantize_with_min(x, L, 16, j, d, m, 3);
        }
        pack_2bit(y[i].qs, L);
    }
}

void dequantize_row_q2_k(const void *vx, float *y, int64_t k) {
    CHECK(k % QK_K == 0);
    const block_q2_k *x = vx;
    for (int64_t i = 0; i < k / QK_K; i++) {
        const float d = unhalf(x[i].d), dmin = unhalf(x[i].dmin);
        for (int e0 = 0; e0 < QK_K; e0 += 16, y += 16) {  // one sub-block
            const uint8_t sc = x[i].scales[e0 / 16];
            const float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            const uint8_t *q = x[i].qs + 32 * (e0 / 128) + e0 % 32;
            const int shift = 2 * ((e0 % 128) / 32);
            for (int l = 0; l < 16; l++) y[l] = dl * ((q[l] >> shift) & 3) - ml;
        }
    }
}

// ---------------------------------------------------------------------------
// Q3_K: 16 sub-blocks of 16, 6-bit signed scales, no min

// Final levels (0..7) once the scales are stored; a zero scale keeps the search's.
static void q3k_requantize(const float *x, const block_q3_k *y, uint8_t *L) {
    for (int j = 0; j < QK_K / 16; j++) {
        float d = unhalf(y->d) * q3k_scale(y->scales, j);
        if (!d) continue;
        for (int i = 0; i < 16; i++) L[16 * j + i] = (uint8_t)(iclamp(round_nearest(x[16 * j + i] / d), -4, 3) + 4);
    }
}

void quantize_row_q3_k_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK_K == 0);
    block_q3_k *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float max_scale = 0, amax = 0;  // max_scale keeps its sign
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = quant_fit_sym_refine(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, sizeof y[i].scales);
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int l = (int8_t)round_nearest(iscale * scales[j]);
                q3k_put_scale(y[i].scales, j, iclamp(l, -32, 31) + 32);
            }
            y[i].d = half(1 / iscale);
        } else {
            y[i].d = half(0.f);
        }
        q3k_requantize(x, &y[i], (uint8_t *)L);
        q3k_pack(&y[i], (uint8_t *)L);
    }
}

static void quantize_row_q3_k_imp(const float *x, block_q3_k *y, int64_t n_per_row, const float *qw) {
    int8_t L[QK_K], Ls[QK_K / 16];
    float w[16], scales[QK_K / 16], sw[QK_K / 16];
    for (int64_t i = 0; i < n_per_row / QK_K; i++, x += QK_K, qw += QK_K) {
        float sumx2 = 0;
        for (int j = 0; j < QK_K; j++) sumx2 += x[j] * x[j];
        float sigma2 = 2 * sumx2 / QK_K;
        for (int j = 0; j < QK_K / 16; j++) {
            quant_fit_importance(16, x + 16 * j, qw + 16 * j, sigma2, w);
            float sumw = 0;
            for (int l = 0; l < 16; l++) sumw += w[l];
            sw[j] = sumw;
            scales[j] = quant_fit_sym(16, 4, x + 16 * j, L + 16 * j, w);
        }
        memset(y[i].scales, 0, sizeof y[i].scales);
        float d_block = quant_fit_sym(QK_K / 16, 32, scales, Ls, sw);
        for (int j = 0; j < QK_K / 16; j++) q3k_put_scale(y[i].scales, j, Ls[j]);
        y[i].d = half(d_block);
        q3k_requantize(x, &y[i], (uint8_t *)L);
        q3k_pack(&y[i], (uint8_t *)L);
    }
}

void dequantize_row_q3_k(const void *vx, float *y, int64_t k) {
    CHECK(k % QK_K == 0);
    const block_q3_k *x = vx;
    for (int64_t i = 0; i < k / QK_K; i++) {
        const float d = unhalf(x[i].d);
        for (int e0 = 0; e0 < QK_K; e0 += 16, y += 16) {
            const float dl = d * q3k_scale(x[i].scales, e0 / 16);
            const uint8_t *q = x[i].qs + 32 * (e0 / 128) + e0 % 32;
            const uint8_t *hm = x[i].hmask + e0 % 32;
            const int shift = 2 * ((e0 % 128) / 32), hbit = e0 / 32;
            for (int l = 0; l < 16; l++) y[l] = dl * (((q[l] >> shift) & 3) - ((hm[l] >> hbit) & 1 ? 0 : 4));
        }
    }
}

// ---------------------------------------------------------------------------
// Q4_K and Q5_K: 8 sub-blocks of 32, 6-bit scales and mins

// Plain search shared by q4_k (nmax 15) and q5_k (nmax 31): per sub-block weights
// rms(sub-block) + |x|, then scales and mins each quantized against their maximum.
static void qk_scale_min_ref(const float *x, uint8_t *scales12, uint16_t *d, uint16_t *dmin, uint8_t *L, int nmax,
                             float rmin, int nstep) {
    uint8_t Laux[32];
    float w[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = quant_fit_scale_min(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t ls = (uint8_t)round_nearest(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)round_nearest(inv_min * mins[j]);
        q4k_put_scale_min(scales12, j, ls < 63 ? ls : 63, lm < 63 ? lm : 63);
    }
    *d = half(max_scale / 63.f);
    *dmin = half(max_min / 63.f);
}

// Importance-weighted search shared by q4_k and q5_k: weights from the imatrix,
// then scales and mins quantized by quant_fit_pos weighted by each sub-block's total
// weight. q5_k clamps the 6-bit levels; q4_k stores them as found (as ggml).
static void qk_scale_min_imp(const float *x, const float *qw, uint8_t *scales12, uint16_t *d, uint16_t *dmin,
                             uint8_t *L, int nmax, int clamp63) {
    uint8_t Laux[32], Ls[QK_K / 32], Lm[QK_K / 32];
    float w[32], sw[QK_K / 32], mins[QK_K / 32], scales[QK_K / 32];
    float sum_x2 = 0;
    for (int l = 0; l < QK_K; l++) sum_x2 += x[l] * x[l];
    float sigma2 = 2 * sum_x2 / QK_K;
    for (int j = 0; j < QK_K / 32; j++) {
        quant_fit_importance(32, x + 32 * j, qw + 32 * j, sigma2, w);
        float sumw = 0;
        for (int l = 0; l < 32; l++) sumw += w[l];
        sw[j] = sumw;
        scales[j] = quant_fit_scale_min(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
    }
    float d_block = quant_fit_pos(QK_K / 32, 63, scales, Ls, sw);
    float m_block = quant_fit_pos(QK_K / 32, 63, mins, Lm, sw);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t ls = Ls[j], lm = Lm[j];
        if (clamp63) {
            ls = ls < 63 ? ls : 63;
            lm = lm < 63 ? lm : 63;
        }
        q4k_put_scale_min(scales12, j, ls, lm);
    }
    *d = half(d_block);
    *dmin = half(m_block);
}

static void qk_requantize(const float *x, const uint8_t *scales12, uint16_t d, uint16_t dmin, uint8_t *L, int nmax) {
    for (int j = 0; j < QK_K / 32; j++) {
        int sc, m;
        q4k_scale_min(scales12, j, &sc, &m);
        requantize_with_min(x, L, 32, j, unhalf(d) * sc, unhalf(dmin) * m, nmax);
    }
}

void quantize_row_q4_k_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK_K == 0);
    block_q4_k *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        qk_scale_min_ref(x, y[i].scales, &y[i].d, &y[i].dmin, L, 15, -1.f, 20);
        qk_requantize(x, y[i].scales, y[i].d, y[i].dmin, L, 15);
        pack_4bit(y[i].qs, L);
    }
}

static void quantize_row_q4_k_imp(const float *x, block_q4_k *y, int64_t n_per_row, const float *qw) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n_per_row / QK_K; i++, x += QK_K, qw += QK_K) {
        qk_scale_min_imp(x, qw, y[i].scales, &y[i].d, &y[i].dmin, L, 15, 0);
        qk_requantize(x, y[i].scales, y[i].d, y[i].dmin, L, 15);
        pack_4bit(y[i].qs, L);
    }
}

void quantize_row_q5_k_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK_K == 0);
    block_q5_k *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        qk_scale_min_ref(x, y[i].scales, &y[i].d, &y[i].dmin, L, 31, -0.5f, 15);
        qk_requantize(x, y[i].scales, y[i].d, y[i].dmin, L, 31);
        q5k_pack(&y[i], L);
    }
}

static void quantize_row_q5_k_imp(const float *x, block_q5_k *y, int64_t n_per_row, const float *qw) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n_per_row / QK_K; i++, x += QK_K, qw += QK_K) {
        qk_scale_min_imp(x, qw, y[i].scales, &y[i].d, &y[i].dmin, L, 31, 1);
        qk_requantize(x, y[i].scales, y[i].d, y[i].dmin, L, 31);
        q5k_pack(&y[i], L);
    }
}

void dequantize_row_q4_k(const void *vx, float *y, int64_t k) {
    CHECK(k % QK_K == 0);
    const block_q4_k *x = vx;
    for (int64_t i = 0; i < k / QK_K; i++) {
        const float d = unhalf(x[i].d), dmin = unhalf(x[i].dmin);
        for (int j = 0; j < QK_K / 32; j++, y += 32) {
            int sc, m;
            q4k_scale_min(x[i].scales, j, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            const uint8_t *q = x[i].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) y[l] = dl * ((q[l] >> shift) & 0xF) - ml;
        }
    }
}

void dequantize_row_q5_k(const void *vx, float *y, int64_t k) {
    CHECK(k % QK_K == 0);
    const block_q5_k *x = vx;
    for (int64_t i = 0; i < k / QK_K; i++) {
        const float d = unhalf(x[i].d), dmin = unhalf(x[i].dmin);
        for (int j = 0; j < QK_K / 32; j++, y += 32) {
            int sc, m;
            q4k_scale_min(x[i].scales, j, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            const uint8_t *q = x[i].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) y[l] = dl * (((q[l] >> shift) & 0xF) + ((x[i].qh[l] >> j) & 1) * 16) - ml;
        }
    }
}

// ---------------------------------------------------------------------------
// Q6_K: 16 sub-blocks of 16, int8 scales, no min

// Quantizes one super-block given each sub-block's fit (scales[], levels in L).
static void q6k_finish(const float *x, block_q6_k *y, const float *scales, int8_t *L) {
    float max_scale = 0, max_abs_scale = 0;
    for (int j = 0; j < QK_K / 16; j++)
        if (fabsf(scales[j]) > max_abs_scale) {
            max_abs_scale = fabsf(scales[j]);
            max_scale = scales[j];
        }
    if (max_abs_scale < GROUP_EPS) {
        memset(y, 0, sizeof *y);
        return;
    }
    float iscale = -128.f / max_scale;
    y->d = half(1 / iscale);
    for (int j = 0; j < QK_K / 16; j++) y->scales[j] = (int8_t)imin(127, round_nearest(iscale * scales[j]));
    for (int j = 0; j < QK_K / 16; j++) {
        float d = unhalf(y->d) * y->scales[j];
        if (!d) continue;
        for (int i = 0; i < 16; i++) L[16 * j + i] = (int8_t)(iclamp(round_nearest(x[16 * j + i] / d), -32, 31) + 32);
    }
    q6k_pack(y, L);
}

void quantize_row_q6_k_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK_K == 0);
    block_q6_k *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        for (int j = 0; j < QK_K / 16; j++) scales[j] = quant_fit_sym(16, 32, x + 16 * j, L + 16 * j, NULL);
        q6k_finish(x, &y[i], scales, L);
    }
}

// The imatrix is used as the weights directly (no sigma2 term), as in ggml.
static void quantize_row_q6_k_imp(const float *x, block_q6_k *y, int64_t n_per_row, const float *qw) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n_per_row / QK_K; i++, x += QK_K, qw += QK_K) {
        for (int j = 0; j < QK_K / 16; j++) scales[j] = quant_fit_sym(16, 32, x + 16 * j, L + 16 * j, qw + 16 * j);
        q6k_finish(x, &y[i], scales, L);
    }
}

void dequantize_row_q6_k(const void *vx, float *y, int64_t k) {
    CHECK(k % QK_K == 0);
    const block_q6_k *x = vx;
    for (int64_t i = 0; i < k / QK_K; i++) {
        const float d = unhalf(x[i].d);
        for (int e0 = 0; e0 < QK_K; e0 += 16, y += 16) {
            const int h = e0 / 128, kq = (e0 % 128) / 32, l0 = e0 % 32;
            const uint8_t *ql = x[i].ql + 64 * h + 32 * (kq % 2) + l0;
            const uint8_t *qh = x[i].qh + 32 * h + l0;
            const int sc = x[i].scales[e0 / 16], lshift = 4 * (kq / 2), hshift = 2 * kq;
            for (int l = 0; l < 16; l++) {
                int q = ((ql[l] >> lshift) & 0xF) | ((qh[l] >> hshift) & 3) << 4;
                y[l] = d * sc * (q - 32);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Whole matrices (QUANTIZE_MATRIX is in quant_fit.h)

QUANTIZE_MATRIX(q2_k, block_q2_k, QK_K)
QUANTIZE_MATRIX(q3_k, block_q3_k, QK_K)
QUANTIZE_MATRIX(q4_k, block_q4_k, QK_K)
QUANTIZE_MATRIX(q5_k, block_q5_k, QK_K)
QUANTIZE_MATRIX(q6_k, block_q6_k, QK_K)
