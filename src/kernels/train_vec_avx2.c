// train_vec_avx2.c: AVX2/FMA versions of the training pass's row softmax and GELU backward.
// exp is avx2_util.h's exp256 (Cephes-style range reduction + degree-6 polynomial, about 2 ulp);
// tanh(y) = 1 - 2/(e^{2y}+1). The softmax sum is kept in double lanes, as the _ref twin
// keeps it in a double. Tails go to scalar code with the same formulas.
#include "backward.h"
#include "avx2_util.h"
#include <immintrin.h>
#include <math.h>

static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline double hsum4d(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

float softmax_f32_avx2(float *out, const float *in, int n, float scale) {
    __m256 sc = _mm256_set1_ps(scale);
    float mx = scale * in[0];
    int i = 0;
    if (n >= 8) {
        __m256 m = _mm256_mul_ps(sc, _mm256_loadu_ps(in));
        for (i = 8; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_mul_ps(sc, _mm256_loadu_ps(in + i)));
        mx = hmax8(m);
    }
    for (; i < n; i++) mx = scale * in[i] > mx ? scale * in[i] : mx;
    __m256 vmx = _mm256_set1_ps(mx);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_fmsub_ps(sc, _mm256_loadu_ps(in + i), vmx));
        _mm256_storeu_ps(out + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double sum = hsum4d(_mm256_add_pd(s0, s1));
    for (; i < n; i++) {
        out[i] = expf(scale * in[i] - mx);
        sum += out[i];
    }
    float inv = (float)(1.0 / sum);
    __m256 vinv = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(out + i), vinv));
    for (; i < n; i++) out[i] *= inv;
    return mx + (float)log(sum);
}

void gelu_backward_f32_avx2(float *dx, const float *x, const float *dy, size_t n, int exact) {
    if (exact) {
        gelu_backward_f32_ref(dx, x, dy, n, exact);
        return;
    }
    const __m256 k = _mm256_set1_ps(0.7978845608028654f), c = _mm256_set1_ps(0.044715f);
    const __m256 c3 = _mm256_set1_ps(3.0f * 0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), half = _mm256_set1_ps(0.5f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), v2 = _mm256_mul_ps(v, v);
        __m256 u = _mm256_mul_ps(k, _mm256_fmadd_ps(_mm256_mul_ps(c, v), v2, v));
        __m256 th = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(exp256(_mm256_add_ps(u, u)), one)));
        __m256 du = _mm256_mul_ps(k, _mm256_fmadd_ps(c3, v2, one));
        // 0.5(1+th) + 0.5·v·(1-th²)·du
        __m256 g = _mm256_mul_ps(half, _mm256_add_ps(one, th));
        __m256 sech2 = _mm256_fnmadd_ps(th, th, one);
        g = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(half, v), sech2), du, g);
        _mm256_storeu_ps(dx + i, _mm256_mul_ps(g, _mm256_loadu_ps(dy + i)));
    }
    if (i < n) gelu_backward_f32_ref(dx + i, x + i, dy + i, n - i, exact);
}
