// qdot_k_avx512.c: AVX-512 K-quant weight rows (Q4_K, Q6_K) against a Q8_K activation
// row, a twin of qdot_k_ref.c (which states the arithmetic); Q2_K, Q3_K and Q5_K go to
// qdot_k_avx2. The same exact integer super-block sums, fp32 sums in another order.
//
// One zmm holds 64 contiguous weight levels (unsigned, ≤ 63) and meets one 64-byte
// load of the activation: maddubs gives int16 pair sums (no saturation: 2 · 63 · 128
// < 2^15) and vpdpwssd weights each by its sub-block's integer scale into int32 and
// accumulates, exact for the whole super-block. The scales are spread over their
// sub-blocks' int16 lanes by one vpermw per zmm. Q6_K: a 64-byte load of ql gives
// values 128h + 0..63 (low nibbles) and 128h + 64..127 (high nibbles); qh's 32 bytes,
// broadcast to both halves, give the top two bits by a per-half shift. Q4_K: one
// 32-byte load of qs, broadcast, gives its low nibbles (sub-block 2p) in the low half
// and its high nibbles (2p+1) in the high half by a per-half shift.
// The −32 offset of Q6_K and the mins of Q4_K come from the activation's bsums as in
// qdot_k_avx2.c; one int→float conversion and one FMA per super-block apply d_w · d_x.
//
// Needs AVX-512 F, BW and VNNI (kernels_have_avx512_vnni()); compiled for them by the
// target pragma below, reached only through the dispatch table.
#pragma GCC target("avx512f,avx512bw,avx512vnni,avx2,fma,f16c")
#include "kernels.h"
#include "qdot_k.h"
#include "qblock.h"
#include "../core/err.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static inline __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m512i load512(const void *p) { return _mm512_loadu_si512(p); }

// int16 lane i of the result = scale lane (base + i / 8) of sc16 (16 int16): the
// vpdpwssd weights for 64 values whose 128-bit lanes are sub-blocks base .. base+3.
static inline __m512i spread16(__m512i sc16, int base) {
    const __m512i idx = _mm512_set_epi64(0x0003000300030003LL, 0x0003000300030003LL, 0x0002000200020002LL,
                                         0x0002000200020002LL, 0x0001000100010001LL, 0x0001000100010001LL, 0, 0);
    return _mm512_permutexvar_epi16(_mm512_add_epi16(idx, _mm512_set1_epi16((short)base)), sc16);
}

// Q6_K: sub-blocks of 16; the signed scales as int16, 64 values per maddubs.
static float row_dot_q6_k(const block_q6_k *b, const block_q8_k *x, int nb) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    // top bits of the low-nibble values: (qh & 3) << 4 in the low half, (qh & 0xC) << 2 in the high;
    // of the high-nibble values: qh & 0x30 in the low half, (qh & 0xC0) >> 2 in the high
    const __m512i mlo = _mm512_inserti64x4(_mm512_set1_epi8(0x03), _mm256_set1_epi8(0x0C), 1);
    const __m512i mhi = _mm512_inserti64x4(_mm512_set1_epi8(0x30), _mm256_set1_epi8((char)0xC0), 1);
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++) {
        for (int o = 0; o < (int)sizeof *b; o += 64) prefetch_ahead((const char *)&b[i] + o);
        __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b[i].scales));
        __m512i sc16 = _mm512_castsi256_si512(sc);
        // Σ_j sc_j · bsums[j], for the −32 level offset
        __m256i off = _mm256_madd_epi16(load256(x[i].bsums), sc);
        __m512i isum = _mm512_zextsi256_si512(_mm256_slli_epi32(off, 5));
        isum = _mm512_sub_epi32(_mm512_setzero_si512(), isum);
        for (int h = 0; h < 2; h++) {  // halves of 128 values
            __m512i ql = load512(b[i].ql + 64 * h);
            __m512i qh = _mm512_broadcast_i64x4(load256(b[i].qh + 32 * h));
            __m512i hlo = _mm512_sllv_epi16(_mm512_and_si512(qh, mlo), shl);
            __m512i hhi = _mm512_srlv_epi16(_mm512_and_si512(qh, mhi), shr);
            // (a & b) | c
            __m512i qa = _mm512_ternarylogic_epi32(ql, m4, hlo, 0xEA);
            __m512i qb = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), m4, hhi, 0xEA);
            __m512i pa = _mm512_maddubs_epi16(qa, load512(x[i].qs + 128 * h));
            __m512i pb = _mm512_maddubs_epi16(qb, load512(x[i].qs + 128 * h + 64));
            isum = _mm512_dpwssd_epi32(isum, pa, spread16(sc16, 8 * h));
            isum = _mm512_dpwssd_epi32(isum, pb, spread16(sc16, 8 * h + 4));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(b[i].d) * x[i].d), _mm512_cvtepi32_ps(isum), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

// Q4_K: sub-blocks of 32; zmm p holds sub-blocks 2p (low half) and 2p+1 (high half).
static float row_dot_q4_k(const block_q4_k *b, const block_q8_k *x, int nb) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    // int16 lane i → scale 2p + i / 16
    const __m512i idx = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(1), 1);
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int i = 0; i < nb; i++) {
        for (int o = 0; o < (int)sizeof *b; o += 64) prefetch_ahead((const char *)&b[i] + o);
        uint64_t sc, mn;
        unpack_scale_min_k4(b[i].scales, &sc, &mn);
        __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
        __m512i isum = _mm512_setzero_si512();
        for (int p = 0; p < 4; p++) {
            __m512i q = _mm512_broadcast_i64x4(load256(b[i].qs + 32 * p));
            __m512i lv = _mm512_and_si512(_mm512_srlv_epi16(q, shr), m4);
            __m512i pr = _mm512_maddubs_epi16(lv, load512(x[i].qs + 64 * p));
            __m512i s = _mm512_permutexvar_epi16(_mm512_add_epi16(idx, _mm512_set1_epi16((short)(2 * p))), sc16);
            isum = _mm512_dpwssd_epi32(isum, pr, s);
        }
        // Σ_j mn_j · (bsums[2j] + bsums[2j+1])
        __m256i bs = load256(x[i].bsums);
        __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        __m128i msum = _mm_madd_epi16(pairs, _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn)));
        const float dx = x[i].d;
        acc = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(b[i].d) * dx), _mm512_cvtepi32_ps(isum), acc);
        accm = _mm_fmadd_ps(_mm_set1_ps(_cvtsh_ss(b[i].dmin) * dx), _mm_cvtepi32_ps(msum), accm);
    }
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(accm);
}

// ---

void qdot_k_avx512(float *out, const void *xq8k, const void *w, qtype t, const float *bias, int K, int n0, int n1) {
    if (t != QTYPE_Q6_K && t != QTYPE_Q4_K) {
        qdot_k_avx2(out, xq8k, w, t, bias, K, n0, n1);
        return;
    }
    CHECK(K % QK_K == 0);
    int nb = K / QK_K;
    size_t row_bytes = qtype_row_bytes(t, (size_t)K);
    const block_q8_k *x = xq8k;
    for (int n = n0; n < n1; n++) {
        const char *row = (const char *)w + (size_t)n * row_bytes;
        float s = t == QTYPE_Q6_K ? row_dot_q6_k((const block_q6_k *)row, x, nb)
                                  : row_dot_q4_k((const block_q4_k *)row, x, nb);
        out[n] = s + (bias ? bias[n] : 0.0f);
    }
}
