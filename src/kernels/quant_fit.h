// quant_fit.h: the scale searches shared by the reference quantizers
// (quant_ref.c, quant_k_ref.c), and the small helpers they all use.
//
// The searches (quant_fit.c), each used by several formats:
//   quant_fit_sym         symmetric levels, best of 19 candidate scales (ggml make_qx_quants)
//   quant_fit_sym_refine  symmetric levels, coordinate-descent refinement (make_q3_quants)
//   quant_fit_scale_min   levels 0..nmax with a min, scale grid + least squares (make_qkx2/3_quants)
//   quant_fit_pos         non-negative levels for scales of scales (make_qp_quants)
// Their float operations are ggml's, in ggml's order, so that our bytes are
// llama.cpp's (quant_fit.c says more). They never allocate: scratch comes from
// the caller. Not here: block layouts and bit packing (quant_ref.c, quant_k_ref.c).
#pragma once
#include "qblock.h"
#include "../core/dtype.h"
#include "../core/err.h"
#include <stdint.h>
#include <string.h>

// a*b + c must round twice, as in ggml's build: clang fuses it into an FMA by default where
// the target has one (-march=native); GCC does not in ISO C mode (-std=c11), the Makefile's.
// round_nearest below is float code too. The pragma holds on in each file that includes
// this header; those files repeat it, so that each stands on its own.
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

// ---------------------------------------------------------------------------
// Scale searches (quant_fit.c)

// Symmetric quantization of n values to levels L in 0..2*nmax-1 (value ~ scale *
// (L - nmax)). Starts from the scale that maps the largest-magnitude value to
// -nmax, tries the 18 inverse scales -(nmax + 0.1 is)/max, is = -9..9, and keeps
// the rounding whose least-squares scale sum(w x l)/sum(w l^2) explains most of
// the weighted energy. Returns that scale. Weights: qw, or x^2 when qw is NULL.
float quant_fit_sym(int n, int nmax, const float *x, int8_t *L, const float *qw);

// Symmetric quantization with weights x^2, refined one level at a time: up to 5
// sweeps move each level to the one optimal for the scale the other levels
// imply, keeping a move only when the explained energy grows. L in 0..2*nmax-1.
float quant_fit_sym_refine(int n, int nmax, const float *x, int8_t *L);

// Asymmetric quantization: value ~ scale * L - min_out with L in 0..nmax and
// min_out >= 0 (the group's minimum is never above 0). Starts from the
// max-to-min range, then for each of the nstep + 1 inverse scales
// (rmin + rdelta * is + nmax) / (max - min) rounds, solves the weighted least
// squares for scale and min (min clamped to <= 0) and keeps the rounding with
// the smallest weighted error: absolute (use_mad) or squared. Laux (n) is scratch.
float quant_fit_scale_min(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *min_out,
                          uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad);

// Non-negative levels L in 0..nmax for non-negative x (the sub-block scales or
// mins of a super-block), weighted by qw: the best of 9 inverse scales
// (nmax + 0.1 is)/max by weighted squared error, then up to 5 refinement sweeps
// as in quant_fit_sym_refine. Returns the least-squares scale.
float quant_fit_pos(int n, int nmax, const float *x, uint8_t *L, const float *qw);

// Importance weights of one group: imatrix * sqrt(sigma2 + x^2), so that large
// values count more even where the calibration saw little activation.
void quant_fit_importance(int n, const float *x, const float *qw, float sigma2, float *w);

// The mean of x^2 over the n values of x.
float quant_fit_mean_square(const float *x, int64_t n);

// ---------------------------------------------------------------------------
// Whole matrices: the plain quantizer over all rows at once (blocks never span
// rows), or the importance-weighted one row by row. Defines quantize_<t>
// (qblock.h) from quantize_row_<t>_ref and a quantize_row_<t>_imp(x, y,
// n_per_row, qw) that the file using it defines first.
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
