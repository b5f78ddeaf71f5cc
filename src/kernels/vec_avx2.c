// vec_avx2.c: AVX2/FMA versions of the element-wise and attention kernels.
// exp is a Cephes-style range reduction + degree-6 polynomial (max error ~2 ulp over
// the clamped range); tanh(y) = 1 - 2/(e^{2y}+1). Tails go to the _ref twins.
#include "kernels.h"
#include "avx2_util.h"
#include <immintrin.h>
#include <math.h>

void gelu_f32_avx2(float *x, size_t n, int exact) {
    if (exact) {
        gelu_f32_ref(x, n, exact);
        return;
    }
    const __m256 k = _mm256_set1_ps(0.7978845608028654f), c = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), half = _mm256_set1_ps(0.5f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 y = _mm256_mul_ps(k, _mm256_fmadd_ps(_mm256_mul_ps(c, v), _mm256_mul_ps(v, v), v));
        // tanh(y) = 1 - 2/(exp(2y)+1): saturates correctly at both ends
        __m256 t = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(exp256(_mm256_add_ps(y, y)), one)));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, t)));
    }
    if (i < n) gelu_f32_ref(x + i, n - i, exact);
}

// out (8·nv) = inv · Σ_j p_j · v_j, accumulated in registers.
static inline __attribute__((always_inline)) void weighted_values(float *out, const float *v, const float *p, int n_keys,
                                                                  int ld, int nv, float inv) {
    __m256 o[32];
    for (int i = 0; i < nv; i++) o[i] = _mm256_setzero_ps();
    for (int j = 0; j < n_keys; j++) {
        const float *vj = v + (size_t)j * ld;
        __m256 pj = _mm256_set1_ps(p[j]);
        for (int i = 0; i < nv; i++) o[i] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * i), o[i]);
    }
    __m256 s = _mm256_set1_ps(inv);
    for (int i = 0; i < nv; i++) _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(o[i], s));
}

void attn_head_f32_avx2(float *out, const float *q, const float *k, const float *v, int n_keys, int HS, int ld,
                        float scale, float *scores) {
    if (HS % 8 != 0 || HS > 256) {
        attn_head_f32_ref(out, q, k, v, n_keys, HS, ld, scale, scores);
        return;
    }
    int nv = HS / 8;
    __m256 qv[32];
    for (int i = 0; i < nv; i++) qv[i] = _mm256_mul_ps(_mm256_loadu_ps(q + 8 * i), _mm256_set1_ps(scale));
    // scores = q·k_j, four keys at a time so the horizontal sums are shared
    float maxv = -INFINITY;
    int j = 0;
    // eight keys per step as two independent groups of four: twice the FMAs in flight
    // (one group's chain is latency-bound), each key's sum formed exactly as below
    for (; j + 8 <= n_keys; j += 8) {
        const float *k0 = k + (size_t)j * ld, *k1 = k0 + ld, *k2 = k1 + ld, *k3 = k2 + ld;
        const float *k4 = k3 + ld, *k5 = k4 + ld, *k6 = k5 + ld, *k7 = k6 + ld;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int i = 0; i < nv; i++) {
            a0 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k0 + 8 * i), a0);
            a1 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k1 + 8 * i), a1);
            a2 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k2 + 8 * i), a2);
            a3 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k3 + 8 * i), a3);
            a4 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k4 + 8 * i), a4);
            a5 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k5 + 8 * i), a5);
            a6 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k6 + 8 * i), a6);
            a7 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k7 + 8 * i), a7);
        }
        __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
        _mm_storeu_ps(scores + j, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
        h = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
        _mm_storeu_ps(scores + j + 4, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
        for (int u = 0; u < 8; u++) maxv = scores[j + u] > maxv ? scores[j + u] : maxv;
    }
    for (; j + 4 <= n_keys; j += 4) {
        const float *k0 = k + (size_t)j * ld, *k1 = k0 + ld, *k2 = k1 + ld, *k3 = k2 + ld;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < nv; i++) {
            a0 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k0 + 8 * i), a0);
            a1 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k1 + 8 * i), a1);
            a2 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k2 + 8 * i), a2);
            a3 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k3 + 8 * i), a3);
        }
        // reduce 4 vectors to 4 sums: [s0 s1 s2 s3]
        __m256 h01 = _mm256_hadd_ps(a0, a1), h23 = _mm256_hadd_ps(a2, a3);
        __m256 h = _mm256_hadd_ps(h01, h23);
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        _mm_storeu_ps(scores + j, s);
        for (int u = 0; u < 4; u++) maxv = scores[j + u] > maxv ? scores[j + u] : maxv;
    }
    for (; j < n_keys; j++) {
        const float *kj = k + (size_t)j * ld;
        __m256 a = _mm256_setzero_ps();
        for (int i = 0; i < nv; i++) a = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(kj + 8 * i), a);
        scores[j] = hsum8(a);
        maxv = scores[j] > maxv ? scores[j] : maxv;
    }
    // softmax numerators and their sum
    __m256 mx = _mm256_set1_ps(maxv), acc = _mm256_setzero_ps();
    j = 0;
    for (; j + 8 <= n_keys; j += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(scores + j), mx));
        _mm256_storeu_ps(scores + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = hsum8(acc);
    for (; j < n_keys; j++) {
        scores[j] = expf(scores[j] - maxv);
        sum += scores[j];
    }
    // GPT-2's heads (64) get a copy whose accumulators stay in registers (with a run-time
    // count the compiler keeps them on the stack: a store and a load per multiply-add)
    if (nv == 8) weighted_values(out, v, scores, n_keys, ld, 8, 1.0f / sum);
    else weighted_values(out, v, scores, n_keys, ld, nv, 1.0f / sum);
}

// The 8×8 transpose of r[0..7] in place: lane j of r[i] becomes lane i of r[j].
static inline void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// Eight rows at a time, one row per lane: a tile of 8 columns is transposed, so lane r
// adds row r's elements in index order, as the reference does, eight rows per add.
// Products and sums stay separate instructions (no FMA), like the reference's.
void layernorm_f32_avx2(float *y, const float *x, const float *w, const float *b, int n, int C, float eps) {
    int r0 = 0;
    for (; r0 + 8 <= n && C % 8 == 0; r0 += 8) {
        const float *xr = x + (size_t)r0 * C;
        __m256 mean = _mm256_setzero_ps(), var = mean, t[8];
        for (int i = 0; i < C; i += 8) {
            for (int r = 0; r < 8; r++) t[r] = _mm256_loadu_ps(xr + (size_t)r * C + i);
            transpose8(t);
            for (int k = 0; k < 8; k++) mean = _mm256_add_ps(mean, t[k]);
        }
        mean = _mm256_div_ps(mean, _mm256_set1_ps((float)C));
        for (int i = 0; i < C; i += 8) {
            for (int r = 0; r < 8; r++) t[r] = _mm256_loadu_ps(xr + (size_t)r * C + i);
            transpose8(t);
            for (int k = 0; k < 8; k++) {
                __m256 d = _mm256_sub_ps(t[k], mean);
                var = _mm256_add_ps(var, _mm256_mul_ps(d, d));
            }
        }
        var = _mm256_div_ps(var, _mm256_set1_ps((float)C));
        __m256 rstd = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_sqrt_ps(_mm256_add_ps(var, _mm256_set1_ps(eps))));
        float mr[8], rr[8];
        _mm256_storeu_ps(mr, mean);
        _mm256_storeu_ps(rr, rstd);
        for (int r = 0; r < 8; r++) {
            const float *xi = xr + (size_t)r * C;
            float *yi = y + (size_t)(r0 + r) * C;
            __m256 m = _mm256_set1_ps(mr[r]), s = _mm256_set1_ps(rr[r]);
            for (int i = 0; i < C; i += 8) {
                __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xi + i), m), s), _mm256_loadu_ps(w + i));
                _mm256_storeu_ps(yi + i, _mm256_add_ps(v, _mm256_loadu_ps(b + i)));
            }
        }
    }
    if (r0 < n) layernorm_f32_ref(y + (size_t)r0 * C, x + (size_t)r0 * C, w, b, n - r0, C, eps);
}

float logsumexp_f32_avx2(const float *x, int n) {
    if (n < 8) return logsumexp_f32_ref(x, n);
    __m256 mv = _mm256_loadu_ps(x);
    int i = 8;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float maxv = x[0];
    float lanes[8];
    _mm256_storeu_ps(lanes, mv);
    for (int k = 0; k < 8; k++) maxv = lanes[k] > maxv ? lanes[k] : maxv;
    for (; i < n; i++) maxv = x[i] > maxv ? x[i] : maxv;
    __m256 m = _mm256_set1_ps(maxv), acc = _mm256_setzero_ps();
    i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), m)));
    float sum = hsum8(acc);
    for (; i < n; i++) sum += expf(x[i] - maxv);
    return maxv + logf(sum);
}
