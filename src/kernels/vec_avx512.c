// vec_avx512.c: AVX-512 twins of the AVX2 GELU and row softmax, bit for bit: every lane
// runs the AVX2 kernel's operations in the same order (the same exp polynomial, the same
// division for tanh, the softmax's double sums in the same lanes), only 16 at a time:
// faster even where 512-bit operations issue as two halves (bench/README.md). Remainders
// go to the AVX2 kernels.
// Compiled with -mavx512f; reached only through the dispatch table.
#include "backward.h"
#include "kernels.h"
#include <immintrin.h>
#include <math.h>

// avx2_util.h's exp256 on 16 lanes: the same constants and operations.
static inline __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

void gelu_f32_avx512(float *x, size_t n, int exact) {
    if (exact) {
        gelu_f32_ref(x, n, exact);
        return;
    }
    const __m512 k = _mm512_set1_ps(0.7978845608028654f), c = _mm512_set1_ps(0.044715f);
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f), half = _mm512_set1_ps(0.5f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 y = _mm512_mul_ps(k, _mm512_fmadd_ps(_mm512_mul_ps(c, v), _mm512_mul_ps(v, v), v));
        __m512 t = _mm512_sub_ps(one, _mm512_div_ps(two, _mm512_add_ps(exp512(_mm512_add_ps(y, y)), one)));
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, t)));
    }
    if (i < n) gelu_f32_avx2(x + i, n - i, exact);
}

// softmax_f32_avx2's passes on 16 lanes. Its sum keeps elements 8j..8j+3 in one vector of
// four doubles and 8j+4..8j+7 in another; here one vector of eight doubles holds both, and
// each 16-float step adds its two halves in index order, so every double sees the same
// additions in the same order.
float softmax_f32_avx512(float *out, const float *in, int n, float scale) {
    if (n < 16) return softmax_f32_avx2(out, in, n, scale);
    __m512 sc = _mm512_set1_ps(scale);
    __m512 m = _mm512_mul_ps(sc, _mm512_loadu_ps(in));
    int i = 16;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_mul_ps(sc, _mm512_loadu_ps(in + i)));
    float mx = _mm512_reduce_max_ps(m);  // max is exact: any order gives the same value
    for (; i < n; i++) mx = scale * in[i] > mx ? scale * in[i] : mx;
    __m512 vmx = _mm512_set1_ps(mx);
    __m512d s = _mm512_setzero_pd();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_fmsub_ps(sc, _mm512_loadu_ps(in + i), vmx));
        _mm512_storeu_ps(out + i, e);
        s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    if (i + 8 <= n) {
        __m256 e = _mm512_castps512_ps256(exp512(_mm512_castps256_ps512(
            _mm256_fmsub_ps(_mm256_set1_ps(scale), _mm256_loadu_ps(in + i), _mm256_set1_ps(mx)))));
        _mm256_storeu_ps(out + i, e);
        s = _mm512_add_pd(s, _mm512_cvtps_pd(e));
        i += 8;
    }
    // softmax_f32_avx2's hsum4d(s0 + s1): (l0 + l2) + (l1 + l3) of the lane-wise sum
    __m256d s01 = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s01), _mm256_extractf128_pd(s01, 1));
    double sum = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    for (; i < n; i++) {
        out[i] = expf(scale * in[i] - mx);
        sum += out[i];
    }
    float inv = (float)(1.0 / sum);
    __m512 vinv = _mm512_set1_ps(inv);
    for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_loadu_ps(out + i), vinv));
    for (; i < n; i++) out[i] *= inv;
    return mx + (float)log(sum);
}
