// qdot_k_avx2.c: AVX2 K-quant weight rows (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) against a
// Q8_K activation row, the twin of qdot_k_ref.c (which states the arithmetic).
//
// Weight levels are unsigned (0..3, 0..7, 0..15, 0..31, 0..63), so maddubs takes
// them as its unsigned operand and the int8 activation as the signed one with no
// sign trick and no int16 saturation (2 · 63 · 128 < 2^15). madd then weights each
// pair sum by its sub-block's integer scale into int32, which stays exact for the
// whole super-block; one int→float conversion and one FMA per super-block apply
// d_w · d_x. Mins (Q2_K/Q4_K/Q5_K) and the level offsets (−4 for Q3_K, −32 for
// Q6_K) come from the activation's bsums. One row is read as one sequential stream.
#include "kernels.h"
#include "qdot_k.h"
#include "qblock.h"
#include "../core/err.h"
#include "avx2_util.h"
#include <immintrin.h>
#include <string.h>

static inline float hsum4(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

// --- Q4_K / Q5_K

// sc16x2 holds the 8 int16 scales in both 128-bit lanes; returns scale j in all 16 int16.
static inline __m256i scale_k4(__m256i sc16x2, int j) {
    return _mm256_shuffle_epi8(sc16x2, _mm256_set1_epi16((short)((2 * j + 1) << 8 | 2 * j)));
}

// Σ_j mn_j · (bsums[2j] + bsums[2j+1]) as 4 int32 partial sums.
static inline __m128i min_sums_k4(uint64_t mn, const int16_t *bsums) {
    __m256i bs = load256(bsums);
    __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    return _mm_madd_epi16(pairs, _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn)));
}

// One Q4_K (qh == NULL) or Q5_K row of nb super-blocks: Σ d·dx·isum and Σ dmin·dx·msum.
static float row_dot_k4(const char *row, size_t block_bytes, int is_q5, const block_q8_k *x, int nb) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int i = 0; i < nb; i++, row += block_bytes) {
        // Q4_K and Q5_K share d, dmin, scales at the front; Q5_K's qh precedes qs.
        const block_q5_k *b5 = (const block_q5_k *)row;
        const block_q4_k *b4 = (const block_q4_k *)row;
        const uint8_t *qs = is_q5 ? b5->qs : b4->qs;
        uint64_t sc, mn;
        unpack_scale_min_k4(b4->scales, &sc, &mn);
        __m256i sc16x2 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
        __m256i hbits = is_q5 ? load256(b5->qh) : _mm256_setzero_si256();
        const int8_t *xq = x[i].qs;
        __m256i isum = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {  // sub-blocks 2p (low nibbles) and 2p+1 (high)
            __m256i q = load256(qs + 32 * p);
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (is_q5) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4));
                hbits = _mm256_srli_epi16(hbits, 2);
            }
            __m256i p0 = _mm256_maddubs_epi16(lo, load256(xq + 64 * p));
            __m256i p1 = _mm256_maddubs_epi16(hi, load256(xq + 64 * p + 32));
            p0 = _mm256_madd_epi16(p0, scale_k4(sc16x2, 2 * p));
            p1 = _mm256_madd_epi16(p1, scale_k4(sc16x2, 2 * p + 1));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
        }
        const float dx = x[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b4->d) * dx), _mm256_cvtepi32_ps(isum), acc);
        accm = _mm_fmadd_ps(_mm_set1_ps(_cvtsh_ss(b4->dmin) * dx), _mm_cvtepi32_ps(min_sums_k4(mn, x[i].bsums)), accm);
    }
    return hsum8(acc) - hsum4(accm);
}

// --- 16-value sub-blocks (Q2_K, Q3_K, Q6_K)

// Scales 2i (int16 lanes 0..7) and 2i+1 (lanes 8..15) from 16 int8 sub-block scales:
// the madd weights for 32 values whose two 128-bit lanes are sub-blocks 2i and 2i+1.
static inline __m256i scale_pair_16(__m128i sc8, int i) {
    const long long rep = 0x0101010101010101LL;
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, _mm_set_epi64x(rep * (2 * i + 1), rep * (2 * i))));
}

// Q2_K: the 2-bit field k of qs[32h + l] is value 128h + 32k + l, so each shift of
// one 32-byte load gives sub-blocks 8h+2k and 8h+2k+1 in its two lanes.
static float row_dot_q2_k(const block_q2_k *b, const block_q8_k *x, int nb) {
    const __m256i m2 = _mm256_set1_epi8(0x03);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        __m128i sm = _mm_loadu_si128((const __m128i *)b[i].scales);
        __m128i sc8 = _mm_and_si128(sm, m4), mn8 = _mm_and_si128(_mm_srli_epi16(sm, 4), m4);
        // Σ_j mn_j · bsums[j]
        __m256i msum = _mm256_madd_epi16(load256(x[i].bsums), _mm256_cvtepu8_epi16(mn8));
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {  // halves of 128 values
            __m256i q = load256(b[i].qs + 32 * h);
            for (int k = 0; k < 4; k++, q = _mm256_srli_epi16(q, 2)) {
                __m256i p = _mm256_maddubs_epi16(_mm256_and_si256(q, m2), load256(x[i].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale_pair_16(sc8, 4 * h + k)));
            }
        }
        const float dx = x[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d) * dx), _mm256_cvtepi32_ps(isum), acc);
        acc = _mm256_fnmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].dmin) * dx), _mm256_cvtepi32_ps(msum), acc);
    }
    return hsum8(acc);
}

// The 16 signed Q3_K scales (−32..31) from their 12 packed bytes, as int8: low
// nibbles of bytes 0..7 are scales 0..7, high nibbles scales 8..15; bits 2m..2m+1
// of bytes 8..11 are the top bits of scales 4m..4m+3.
static inline __m128i unpack_scales_q3_k(const uint8_t *s12) {
    uint32_t u[3];
    memcpy(u, s12, 12);
    const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
    __m128i sc = _mm_set_epi32((int)(((u[1] >> 4) & m4) | ((u[2] >> 6) & m2) << 4),
                               (int)(((u[0] >> 4) & m4) | ((u[2] >> 4) & m2) << 4),
                               (int)((u[1] & m4) | ((u[2] >> 2) & m2) << 4), (int)((u[0] & m4) | (u[2] & m2) << 4));
    return _mm_sub_epi8(sc, _mm_set1_epi8(32));
}

// Q3_K: the low two bits as Q2_K's; the third is bit 4h+k of hmask[l] for value
// 128h + 32k + l, one shift of hmask per 32 values.
static float row_dot_q3_k(const block_q3_k *b, const block_q8_k *x, int nb) {
    const __m256i m2 = _mm256_set1_epi8(0x03), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        __m128i sc8 = unpack_scales_q3_k(b[i].scales);
        // Σ_j sc_j · bsums[j], for the −4 level offset
        __m256i off = _mm256_madd_epi16(load256(x[i].bsums), _mm256_cvtepi8_epi16(sc8));
        __m256i hb = load256(b[i].hmask);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q = load256(b[i].qs + 32 * h);
            for (int k = 0; k < 4; k++, q = _mm256_srli_epi16(q, 2), hb = _mm256_srli_epi16(hb, 1)) {
                __m256i lv = _mm256_or_si256(_mm256_and_si256(q, m2), _mm256_slli_epi16(_mm256_and_si256(hb, one), 2));
                __m256i p = _mm256_maddubs_epi16(lv, load256(x[i].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale_pair_16(sc8, 4 * h + k)));
            }
        }
        isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(off, 2));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d) * x[i].d), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum8(acc);
}

// Q6_K: four level bits from ql, two from qh, 32 values per maddubs as above.
static float row_dot_q6_k(const block_q6_k *b, const block_q8_k *x, int nb) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        __m128i sc8 = _mm_loadu_si128((const __m128i *)b[i].scales);
        // Σ_j sc_j · bsums[j], for the −32 level offset
        __m256i off = _mm256_madd_epi16(load256(x[i].bsums), _mm256_cvtepi8_epi16(sc8));
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {  // halves of 128 values
            __m256i ql0 = load256(b[i].ql + 64 * h), ql1 = load256(b[i].ql + 64 * h + 32);
            __m256i qh = load256(b[i].qh + 32 * h);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
            for (int k = 0; k < 4; k++) {  // 32 values: sub-blocks 8h+2k and 8h+2k+1
                __m256i p = _mm256_maddubs_epi16(q[k], load256(x[i].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale_pair_16(sc8, 4 * h + k)));
            }
        }
        isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(off, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d) * x[i].d), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum8(acc);
}

// ---

void qdot_k_avx2(float *out, const void *xq8k, const void *w, qtype t, const float *bias, int K, int n0, int n1) {
    CHECK(qdot_k_supports(t));
    CHECK(K % QK_K == 0);
    int nb = K / QK_K;
    size_t row_bytes = qtype_row_bytes(t, (size_t)K), block_bytes = (size_t)qtype_get((int)t)->bytes;
    const block_q8_k *x = xq8k;
    for (int n = n0; n < n1; n++) {
        const char *row = (const char *)w + (size_t)n * row_bytes;
        prefetch_ahead_bytes(row, row_bytes);
        float s;
        if (t == QTYPE_Q2_K) s = row_dot_q2_k((const block_q2_k *)row, x, nb);
        else if (t == QTYPE_Q3_K) s = row_dot_q3_k((const block_q3_k *)row, x, nb);
        else if (t == QTYPE_Q6_K) s = row_dot_q6_k((const block_q6_k *)row, x, nb);
        else s = row_dot_k4(row, block_bytes, t == QTYPE_Q5_K, x, nb);
        out[n] = s + (bias ? bias[n] : 0.0f);
    }
}
