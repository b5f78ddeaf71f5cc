// quant_ref.c: reference quantizers and dequantizers for ggml's block formats:
// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, the K-quants Q2_K..Q6_K, and Q8_K.
//
// The spec is llama.cpp's ggml (ggml-quants.c at commit c392e50): its block
// layouts and, for the quantizers, its scale searches, down to the order of the
// float operations, so that with the same input our bytes are llama.cpp's bytes.
// That is why expressions here are written the way they are: reordering a sum,
// folding a constant or rounding another way changes bytes (tests/test_quant.c
// compares them against llama.cpp's output). Everything is float arithmetic;
// nothing here may be built with -ffast-math or FMA contraction (-ffp-contract=fast).
//
// The searches, shared by several formats:
//   fit_sym        symmetric levels, best of 19 candidate scales (ggml make_qx_quants)
//   fit_sym_refine symmetric levels, coordinate-descent refinement (make_q3_quants)
//   fit_scale_min  levels 0..nmax with a min, scale grid + least squares (make_qkx2/3_quants)
//   fit_pos        non-negative levels for scales of scales (make_qp_quants)
// Not here: SIMD versions, dot products, the IQ formats, Q8_1.
#include "qblock.h"
#include "../core/dtype.h"
#include "../core/err.h"
#include <float.h>
#include <math.h>
#include <string.h>

// a*b + c must round twice, as in ggml's build: clang fuses it into an FMA by default where
// the target has one (-march=native); GCC does not in ISO C mode (-std=c11), the Makefile's.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

// A group whose largest magnitude is below this quantizes to zeros.
#define GROUP_EPS 1e-15f

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int iclamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// Nearest integer, ties to even, for |v| < 2^22. Adding 1.5 * 2^23 gives a float
// whose last mantissa bit is worth 1, so the addition itself rounds and the
// integer lands in the low mantissa bits. Larger |v| wrap (deterministically,
// as in ggml); every caller clamps the result.
static inline int round_nearest(float v) {
    float biased = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &biased, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

static inline uint16_t half(float f) { return f32_to_fp16(f); }
static inline float unhalf(uint16_t h) { return fp16_to_f32(h); }

// The 32-bit fifth-bit mask of q5_0/q5_1, little-endian in the block.
static inline void put_u32le(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t get_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// ---------------------------------------------------------------------------
// Scale searches

// Weighted sums for the symmetric fit at inverse scale iscale: level
// l = clamp(round(iscale * x), -nmax, nmax - 1); *sumlx = sum w x l and
// *suml2 = sum w l^2, with w = qw or x^2. Stores l + nmax in L when L != NULL.
static void sym_sums(int n, int nmax, float iscale, const float *x, const float *qw, int8_t *L, float *sumlx,
                     float *suml2) {
    float slx = 0, sl2 = 0;
    for (int i = 0; i < n; i++) {
        int l = iclamp(round_nearest(iscale * x[i]), -nmax, nmax - 1);
        if (L) L[i] = (int8_t)(l + nmax);
        float w = qw ? qw[i] : x[i] * x[i];
        slx += w * x[i] * l;
        sl2 += w * l * l;
    }
    *sumlx = slx;
    *suml2 = sl2;
}

// Symmetric quantization of n values to levels L in 0..2*nmax-1 (value ~ scale *
// (L - nmax)). Starts from the scale that maps the largest-magnitude value to
// -nmax, tries the 18 inverse scales -(nmax + 0.1 is)/max, is = -9..9, and keeps
// the rounding whose least-squares scale sum(w x l)/sum(w l^2) explains most of
// the weighted energy. Returns that scale. Weights: qw, or x^2 when qw is NULL.
static float fit_sym(int n, int nmax, const float *x, int8_t *L, const float *qw) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float sumlx, suml2;
    sym_sums(n, nmax, (float)-nmax / max, x, qw, L, &sumlx, &suml2);
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        float iscale = -(nmax + 0.1f * is) / max;
        sym_sums(n, nmax, iscale, x, qw, NULL, &sumlx, &suml2);
        // sumlx^2/suml2 is the energy the fit explains; compare without dividing.
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            sym_sums(n, nmax, iscale, x, qw, L, &sumlx, &suml2);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Symmetric quantization with weights x^2, refined one level at a time: up to 5
// sweeps move each level to the one optimal for the scale the other levels
// imply, keeping a move only when the explained energy grows. L in 0..2*nmax-1.
static float fit_sym_refine(int n, int nmax, const float *x, int8_t *L) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = iclamp(round_nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int sweep = 0; sweep < 5; sweep++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];  // the sums without value i
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int l = iclamp(round_nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (l != L[i]) {
                    slx += w * x[i] * l;
                    sl2 += w * l * l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)l;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return sumlx / suml2;
}

// Asymmetric quantization: value ~ scale * L - min_out with L in 0..nmax and
// min_out >= 0 (the group's minimum is never above 0). Starts from the
// max-to-min range, then for each of the nstep + 1 inverse scales
// (rmin + rdelta * is + nmax) / (max - min) rounds, solves the weighted least
// squares for scale and min (min clamped to <= 0) and keeps the rounding with
// the smallest weighted error: absolute (use_mad) or squared. Laux (n) is scratch.
static float fit_scale_min(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *min_out,
                           uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *min_out = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_err = 0;
    for (int i = 0; i < n; i++) {
        int l = round_nearest(iscale * (x[i] - min));
        L[i] = (uint8_t)iclamp(l, 0, nmax);
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_err += weights[i] * diff;
    }
    if (nstep < 1) {
        *min_out = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = iclamp(round_nearest(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                err += weights[i] * diff;
            }
            if (err < best_err) {
                memcpy(L, Laux, (size_t)n);
                best_err = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *min_out = -min;
    return scale;
}

// Non-negative levels L in 0..nmax for non-negative x (the sub-block scales or
// mins of a super-block), weighted by qw: the best of 9 inverse scales
// (nmax + 0.1 is)/max by weighted squared error, then up to 5 refinement sweeps
// as in fit_sym_refine. Returns the least-squares scale.
static float fit_pos(int n, int nmax, const float *x, uint8_t *L, const float *qw) {
    float max = 0;
    for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
    if (!max) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)round_nearest(iscale * x[i]);
    float scale = 1 / iscale;
    float best_err = 0;
    for (int i = 0; i < n; i++) {
        float diff = x[i] - scale * L[i];
        best_err += qw[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        float iscale_is = (0.1f * is + nmax) / max;
        float scale_is = 1 / iscale_is;
        float err = 0;
        for (int i = 0; i < n; i++) {
            int l = imin(nmax, round_nearest(iscale_is * x[i]));
            float diff = x[i] - scale_is * l;
            err += qw[i] * diff * diff;
        }
        if (err < best_err) {
            best_err = err;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imin(nmax, round_nearest(iscale * x[i]));
        L[i] = (uint8_t)l;
        float w = qw[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int sweep = 0; sweep < 5; sweep++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = qw[i];
            float slx = sumlx - w * x[i] * L[i];
            float sl2 = suml2 - w * L[i] * L[i];
            if (slx > 0 && sl2 > 0) {
                int l = imin(nmax, round_nearest(x[i] * sl2 / slx));
                if (l != L[i]) {
                    slx += w * x[i] * l;
                    sl2 += w * l * l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)l;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    return sumlx / suml2;
}

// Importance weights of one group: imatrix * sqrt(sigma2 + x^2), so that large
// values count more even where the calibration saw little activation.
static void importance(int n, const float *x, const float *qw, float sigma2, float *w) {
    for (int i = 0; i < n; i++) w[i] = qw[i] * sqrtf(sigma2 + x[i] * x[i]);
}

static float mean_square(const float *x, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] * x[i];
    return s / n;
}

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
        put_u32le(y[i].qh, fifth_bits32(L));
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
        put_u32le(y[i].qh, fifth_bits32(L));
    }
}

void quantize_row_q8_0_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK8_0 == 0);
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < k / QK8_0; i++, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = half(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);  // ties away from zero
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
        uint32_t qh = get_u32le(x[i].qh);
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
        uint32_t qh = get_u32le(x[i].qh);
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
    float sigma2 = mean_square(x, n_per_row);
    float w[QK4_0];
    int8_t L[QK4_0];
    for (int64_t ib = 0; ib < n_per_row / QK4_0; ib++) {
        const float *xb = x + QK4_0 * ib;
        importance(QK4_0, xb, qw + QK4_0 * ib, sigma2, w);
        y[ib].d = half(fit_sym(QK4_0, 8, xb, L, w));
        pack_nibbles32(y[ib].qs, (const uint8_t *)L);
    }
}

static void quantize_row_q4_1_imp(const float *x, block_q4_1 *y, int64_t n_per_row, const float *qw) {
    float sigma2 = mean_square(x, n_per_row);
    float w[QK4_1], min;
    uint8_t L[QK4_1], Laux[QK4_1];
    for (int64_t ib = 0; ib < n_per_row / QK4_1; ib++) {
        const float *xb = x + QK4_1 * ib;
        importance(QK4_1, xb, qw + QK4_1 * ib, sigma2, w);
        float d = fit_scale_min(QK4_1, 15, xb, w, L, &min, Laux, -0.9f, 0.05f, 36, 0);
        y[ib].d = half(d);
        y[ib].m = half(-min);
        pack_nibbles32(y[ib].qs, L);
    }
}

static void quantize_row_q5_0_imp(const float *x, block_q5_0 *y, int64_t n_per_row, const float *qw) {
    float sigma2 = mean_square(x, n_per_row);
    float w[QK5_0];
    int8_t L[QK5_0];
    for (int64_t ib = 0; ib < n_per_row / QK5_0; ib++) {
        const float *xb = x + QK5_0 * ib;
        importance(QK5_0, xb, qw + QK5_0 * ib, sigma2, w);
        y[ib].d = half(fit_sym(QK5_0, 16, xb, L, w));
        pack_nibbles32(y[ib].qs, (const uint8_t *)L);
        put_u32le(y[ib].qh, fifth_bits32((const uint8_t *)L));
    }
}

static void quantize_row_q5_1_imp(const float *x, block_q5_1 *y, int64_t n_per_row, const float *qw) {
    float sigma2 = mean_square(x, n_per_row);
    float w[QK5_1], min;
    uint8_t L[QK5_1], Laux[QK5_1];
    for (int64_t ib = 0; ib < n_per_row / QK5_1; ib++) {
        const float *xb = x + QK5_1 * ib;
        importance(QK5_1, xb, qw + QK5_1 * ib, sigma2, w);
        float d = fit_scale_min(QK5_1, 31, xb, w, L, &min, Laux, -0.9f, 0.05f, 36, 0);
        y[ib].d = half(d);
        y[ib].m = half(-min);
        pack_nibbles32(y[ib].qs, L);
        put_u32le(y[ib].qh, fifth_bits32(L));
    }
}

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
            scales[j] = fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
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
        float sigma2 = mean_square(x, QK_K);
        for (int j = 0; j < QK_K / 16; j++) {
            importance(16, x + 16 * j, qw + 16 * j, sigma2, w);
            sw[j] = 0;
            for (int l = 0; l < 16; l++) sw[j] += w[l];
            scales[j] = fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
        }
        float dm = fit_pos(QK_K / 16, 15, scales, Ls, sw);
        float mm = fit_pos(QK_K / 16, 15, mins, Lm, sw);
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
            scales[j] = fit_sym_refine(16, 4, x + 16 * j, L + 16 * j);
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
            importance(16, x + 16 * j, qw + 16 * j, sigma2, w);
            float sumw = 0;
            for (int l = 0; l < 16; l++) sumw += w[l];
            sw[j] = sumw;
            scales[j] = fit_sym(16, 4, x + 16 * j, L + 16 * j, w);
        }
        memset(y[i].scales, 0, sizeof y[i].scales);
        float d_block = fit_sym(QK_K / 16, 32, scales, Ls, sw);
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
        scales[j] = fit_scale_min(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, 0);
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
// then scales and mins quantized by fit_pos weighted by each sub-block's total
// weight. q5_k clamps the 6-bit levels; q4_k stores them as found (as ggml).
static void qk_scale_min_imp(const float *x, const float *qw, uint8_t *scales12, uint16_t *d, uint16_t *dmin,
                             uint8_t *L, int nmax, int clamp63) {
    uint8_t Laux[32], Ls[QK_K / 32], Lm[QK_K / 32];
    float w[32], sw[QK_K / 32], mins[QK_K / 32], scales[QK_K / 32];
    float sum_x2 = 0;
    for (int l = 0; l < QK_K; l++) sum_x2 += x[l] * x[l];
    float sigma2 = 2 * sum_x2 / QK_K;
    for (int j = 0; j < QK_K / 32; j++) {
        importance(32, x + 32 * j, qw + 32 * j, sigma2, w);
        float sumw = 0;
        for (int l = 0; l < 32; l++) sumw += w[l];
        sw[j] = sumw;
        scales[j] = fit_scale_min(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
    }
    float d_block = fit_pos(QK_K / 32, 63, scales, Ls, sw);
    float m_block = fit_pos(QK_K / 32, 63, mins, Lm, sw);
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
        for (int j = 0; j < QK_K / 16; j++) scales[j] = fit_sym(16, 32, x + 16 * j, L + 16 * j, NULL);
        q6k_finish(x, &y[i], scales, L);
    }
}

// The imatrix is used as the weights directly (no sigma2 term), as in ggml.
static void quantize_row_q6_k_imp(const float *x, block_q6_k *y, int64_t n_per_row, const float *qw) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n_per_row / QK_K; i++, x += QK_K, qw += QK_K) {
        for (int j = 0; j < QK_K / 16; j++) scales[j] = fit_sym(16, 32, x + 16 * j, L + 16 * j, qw + 16 * j);
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
// Q8_K: activations for K-quant dot products

void quantize_row_q8_k_ref(const float *x, void *vy, int64_t k) {
    CHECK(k % QK_K == 0);
    block_q8_k *y = vy;
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
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
// Whole matrices: the plain quantizer over all rows at once (blocks never span
// rows), or the importance-weighted one row by row.

#define QUANTIZE_MATRIX(t, block_t, QK)                                                                    \
    size_t quantize_##t(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix) { \
        CHECK(n_per_row % (QK) == 0 && nrows >= 0);                                                         \
        size_t row_bytes = (size_t)(n_per_row / (QK)) * sizeof(block_t);                                   \
        if (!imatrix) {                                                                                     \
            quantize_row_##t##_ref(src, dst, nrows * n_per_row);                                            \
        } else {                                                                                            \
            for (int64_t r = 0; r < nrows; r++)                                                             \
                quantize_row_##t##_imp(src + r * n_per_row, (block_t *)((char *)dst + (size_t)r * row_bytes), \
                                       n_per_row, imatrix);                                                 \
        }                                                                                                   \
        return (size_t)nrows * row_bytes;                                                                   \
    }

QUANTIZE_MATRIX(q4_0, block_q4_0, QK4_0)
QUANTIZE_MATRIX(q4_1, block_q4_1, QK4_1)
QUANTIZE_MATRIX(q5_0, block_q5_0, QK5_0)
QUANTIZE_MATRIX(q5_1, block_q5_1, QK5_1)
QUANTIZE_MATRIX(q2_k, block_q2_k, QK_K)
QUANTIZE_MATRIX(q3_k, block_q3_k, QK_K)
QUANTIZE_MATRIX(q4_k, block_q4_k, QK_K)
QUANTIZE_MATRIX(q5_k, block_q5_k, QK_K)
QUANTIZE_MATRIX(q6_k, block_q6_k, QK_K)

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
