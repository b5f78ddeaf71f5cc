// dequant_avx2.c: AVX2 row dequantizers for the formats generation reads most
// (Q4_K, Q5_K, Q6_K, Q8_0, Q4_0, and Q5_0/Q5_1, the K-quants' fallbacks for rows that are
// not a multiple of 256, as low-rank factors are), bit-identical to quant_ref.c's (same products in
// the same order, no contraction); other types go to the reference. Used by the
// AVX2/AVX-512 matmuls to widen quantized weights block by block.
#include "kernels.h"
#include "qblock.h"
#include <immintrin.h>

static inline float unhalf(uint16_t h) { return _cvtsh_ss(h); }

// 32 bytes as four vectors of 8 floats (unsigned or signed bytes).
static inline void u8x32_to_f32(__m256i v, __m256 f[4]) {
    __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
    f[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    f[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
    f[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    f[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
}
static inline void i8x32_to_f32(__m256i v, __m256 f[4]) {
    __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
    f[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    f[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
    f[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    f[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

static inline void scale_min(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
        *mn = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

static void deq_q4_k(const block_q4_k *x, float *y, int64_t nb, int five) {
    const block_q5_k *x5 = (const block_q5_k *)x;
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < nb; i++) {
        float d = five ? unhalf(x5[i].d) : unhalf(x[i].d), dmin = five ? unhalf(x5[i].dmin) : unhalf(x[i].dmin);
        const uint8_t *scales = five ? x5[i].scales : x[i].scales, *qs = five ? x5[i].qs : x[i].qs;
        __m256i qh = five ? _mm256_loadu_si256((const __m256i *)x5[i].qh) : _mm256_setzero_si256();
        for (int j = 0; j < 8; j++, y += 32) {
            int sc, m;
            scale_min(scales, j, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j / 2)));
            if (j % 2) q = _mm256_srli_epi16(q, 4);
            q = _mm256_and_si256(q, m4);
            if (five) q = _mm256_add_epi8(q, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, j), one), 4));
            __m256 f[4];
            u8x32_to_f32(q, f);
            __m256 dv = _mm256_set1_ps(dl), mv = _mm256_set1_ps(ml);
            for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_sub_ps(_mm256_mul_ps(dv, f[k]), mv));
        }
    }
}

static void deq_q6_k(const block_q6_k *x, float *y, int64_t nb) {
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < nb; i++) {
        const float d = unhalf(x[i].d);
        for (int e0 = 0; e0 < QK_K; e0 += 32, y += 32) {
            const int h = e0 / 128, kq = (e0 % 128) / 32;
            __m256i ql = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32 * (kq % 2)));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            if (kq / 2) ql = _mm256_srli_epi16(ql, 4);
            ql = _mm256_and_si256(ql, m4);
            qh = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * kq), m2);
            __m256i q = _mm256_sub_epi8(_mm256_or_si256(ql, _mm256_slli_epi16(qh, 4)), m32);
            __m256 f[4];
            i8x32_to_f32(q, f);
            __m256 s0 = _mm256_set1_ps(d * x[i].scales[e0 / 16]), s1 = _mm256_set1_ps(d * x[i].scales[e0 / 16 + 1]);
            _mm256_storeu_ps(y, _mm256_mul_ps(s0, f[0]));
            _mm256_storeu_ps(y + 8, _mm256_mul_ps(s0, f[1]));
            _mm256_storeu_ps(y + 16, _mm256_mul_ps(s1, f[2]));
            _mm256_storeu_ps(y + 24, _mm256_mul_ps(s1, f[3]));
        }
    }
}

static void deq_q8_0(const block_q8_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        __m256 f[4], dv = _mm256_set1_ps(unhalf(x[i].d));
        i8x32_to_f32(_mm256_loadu_si256((const __m256i *)x[i].qs), f);
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(f[k], dv));
    }
}

static void deq_q4_0(const block_q4_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        __m128i b = _mm_loadu_si128((const __m128i *)x[i].qs);
        __m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(15));
        __m256 f[4], dv = _mm256_set1_ps(unhalf(x[i].d));
        i8x32_to_f32(_mm256_sub_epi8(v, _mm256_set1_epi8(8)), f);
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(f[k], dv));
    }
}

// Byte k of the result is 0xFF where bit k of x is set: each byte takes x's byte k/8, then
// every bit but bit k%8 is forced on, so the byte is all ones only when bit k%8 was.
static inline __m256i bits_to_bytes(uint32_t x) {
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x),
                                    _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}

// The 32 five-bit values of a Q5_0/Q5_1 block as bytes 0..31: low nibbles are elements
// 0..15, high nibbles 16..31, and bit k of qh is element k's fifth bit.
static inline __m256i q5_values(const uint8_t *qs, const uint8_t *qh) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(15));
    uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    return _mm256_or_si256(v, _mm256_and_si256(bits_to_bytes(h), _mm256_set1_epi8(16)));
}

static void deq_q5_0(const block_q5_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        __m256 f[4], dv = _mm256_set1_ps(unhalf(x[i].d));
        i8x32_to_f32(_mm256_sub_epi8(q5_values(x[i].qs, x[i].qh), _mm256_set1_epi8(16)), f);
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(f[k], dv));
    }
}

static void deq_q5_1(const block_q5_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        __m256 f[4], dv = _mm256_set1_ps(unhalf(x[i].d)), mv = _mm256_set1_ps(unhalf(x[i].m));
        u8x32_to_f32(q5_values(x[i].qs, x[i].qh), f);
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_add_ps(_mm256_mul_ps(f[k], dv), mv));
    }
}

void dequantize_row_avx2(qtype t, const void *src, float *dst, size_t n) {
    switch (t) {
    case QTYPE_Q4_K: deq_q4_k(src, dst, (int64_t)(n / QK_K), 0); break;
    case QTYPE_Q5_K: deq_q4_k(src, dst, (int64_t)(n / QK_K), 1); break;
    case QTYPE_Q6_K: deq_q6_k(src, dst, (int64_t)(n / QK_K)); break;
    case QTYPE_Q8_0: deq_q8_0(src, dst, (int64_t)(n / 32)); break;
    case QTYPE_Q4_0: deq_q4_0(src, dst, (int64_t)(n / 32)); break;
    case QTYPE_Q5_0: deq_q5_0(src, dst, (int64_t)(n / 32)); break;
    case QTYPE_Q5_1: deq_q5_1(src, dst, (int64_t)(n / 32)); break;
    default: dequantize_row(t, src, dst, n);
    }
}
