// quant_fit.c: the scale searches shared by the reference quantizers: for a group
// of values (and optional importance weights), the scale (and min) and integer
// levels that ggml's make_*_quants would pick. Contracts in quant_fit.h.
//
// The spec is llama.cpp's ggml (ggml-quants.c at commit c392e50): its
// make_*_quants searches, down to the order of the float operations, so that with
// the same input our bytes are llama.cpp's bytes. That is why expressions here are
// written the way they are: reordering a sum, folding a constant or rounding
// another way changes bytes (tests/test_quant.c compares them against llama.cpp's
// output). Everything is float arithmetic; nothing here may be built with
// -ffast-math or FMA contraction (-ffp-contract=fast).
//
// Not here: block layouts and bit packing (quant_ref.c, quant_k_ref.c).
#include "quant_fit.h"
#include <math.h>
#include <string.h>

// a*b + c must round twice, as in ggml's build: clang fuses it into an FMA by default where
// the target has one (-march=native); GCC does not in ISO C mode (-std=c11), the Makefile's.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

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

float quant_fit_sym(int n, int nmax, const float *x, int8_t *L, const float *qw) {
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

float quant_fit_sym_refine(int n, int nmax, const float *x, int8_t *L) {
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

float quant_fit_scale_min(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *min_out,
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

float quant_fit_pos(int n, int nmax, const float *x, uint8_t *L, const float *qw) {
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

void quant_fit_importance(int n, const float *x, const float *qw, float sigma2, float *w) {
    for (int i = 0; i < n; i++) w[i] = qw[i] * sqrtf(sigma2 + x[i] * x[i]);
}

float quant_fit_mean_square(const float *x, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] * x[i];
    return s / n;
}
