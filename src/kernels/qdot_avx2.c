// qdot_avx2.c: AVX2 quantized matrix-vector products (Q8_0 and Q4_0 weights against a
// Q8_0-quantized activation row), the twins of qdot_ref.c. Integer dot products per
// 32-value block with the sign trick (maddubs needs one unsigned operand), then one
// FMA per block with the two scales; the weight row is one sequential stream.
#include "kernels.h"
#include "qblock.h"
#include "avx2_util.h"
#include <immintrin.h>

// 8 int32 partial sums of Σ w·x over 32 int8 pairs
static inline __m256 dot32(__m256i w, __m256i x) {
    __m256i aw = _mm256_sign_epi8(w, w), sx = _mm256_sign_epi8(x, w);
    __m256i p16 = _mm256_maddubs_epi16(aw, sx);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

static inline __m256i q4_levels(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_sub_epi8(_mm256_and_si256(v, _mm256_set1_epi8(15)), _mm256_set1_epi8(8));
}

void qdot_q8_avx2(float *out, const void *xq, const void *w, qtype t, const float *bias, int K, int n0, int n1) {
    int nb = K / 32;
    const block_q8_0 *x = xq;
    size_t row_bytes = qtype_row_bytes(t, (size_t)K);
    for (int n = n0; n < n1; n++) {
        const char *row = (const char *)w + (size_t)n * row_bytes;
        prefetch_ahead_bytes(row, row_bytes);
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
        if (t == QTYPE_Q8_0) {
            const block_q8_0 *b = (const block_q8_0 *)row;
            int i = 0;
            for (; i + 2 <= nb; i += 2) {
                __m256 p0 = dot32(_mm256_loadu_si256((const __m256i *)b[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));
                __m256 p1 = dot32(_mm256_loadu_si256((const __m256i *)b[i + 1].qs), _mm256_loadu_si256((const __m256i *)x[i + 1].qs));
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d) * _cvtsh_ss(x[i].d)), p0, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i + 1].d) * _cvtsh_ss(x[i + 1].d)), p1, acc1);
            }
            for (; i < nb; i++) {
                __m256 p = dot32(_mm256_loadu_si256((const __m256i *)b[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d) * _cvtsh_ss(x[i].d)), p, acc0);
            }
        } else {
            const block_q4_0 *b = (const block_q4_0 *)row;
            int i = 0;
            for (; i + 2 <= nb; i += 2) {
                __m256 p0 = dot32(q4_levels(b[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));
                __m256 p1 = dot32(q4_levels(b[i + 1].qs), _mm256_loadu_si256((const __m256i *)x[i + 1].qs));
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d) * _cvtsh_ss(x[i].d)), p0, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i + 1].d) * _cvtsh_ss(x[i + 1].d)), p1, acc1);
            }
            for (; i < nb; i++) {
                __m256 p = dot32(q4_levels(b[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d) * _cvtsh_ss(x[i].d)), p, acc0);
            }
        }
        out[n] = hsum8(_mm256_add_ps(acc0, acc1)) + (bias ? bias[n] : 0.0f);
    }
}
