// qdot_avx512.c: AVX-512 VNNI quantized matrix-vector products (Q8_0 and Q4_0 weights
// against a Q8_0-quantized activation row), a twin of qdot_ref.c (which states the
// arithmetic): the same exact integer block dots, fp32 sums in another order.
//
// vpdpbusd multiplies unsigned by signed bytes and adds groups of four into int32
// lanes. The weights are made the unsigned side: Q4_0 nibbles as stored (level + 8),
// Q8_0 levels with the sign bit flipped (level + 128). The offset this adds,
// o · Σ x over the lane's activation bytes, depends on the activation alone, so it is
// computed once per call and is the accumulator's starting value: each lane then
// holds an exact int32 part of Σ level · x.
//
// Per call the activation row is laid out once (on the stack) to match the weights
// as they are loaded: for Q4_0, groups of 4 blocks (72 bytes) become one zmm of 64
// bytes of nibbles (four 128-bit loads, block L in 128-bit lane L), and the activation
// is split into the values the low nibbles and the high nibbles meet; for Q8_0, pairs
// of blocks (68 bytes) become one zmm of levels (two 256-bit loads). The group's fp16
// weight scales are read as scalars, converted together and spread over their
// blocks' lanes, so each group costs one int→float conversion and one FMA with
// scale = d_w · d_x per lane.
//
// What did not pay (dev/qdot_speed.c; figures in bench/README.md, "Design measurements"):
// byte/word permutes (vpermt2b, vpermw) to pull qs and scales out of one load (the
// 128-bit loads and a scalar gather of the four scales are cheaper), several rows per
// pass sharing the activation loads (2 or 4 interleaved row streams: slower, as for the
// fp32 GEMV). Software prefetch pays only far ahead (STREAM_AHEAD in kernels.h): one per group.
//
// Needs AVX-512 F, BW and VNNI (kernels_have_avx512_vnni()); compiled for
// them by the target pragma below, reached only through the dispatch table.
#pragma GCC target("avx512f,avx512bw,avx512vnni,avx2,fma,f16c")
#include "kernels.h"
#include "qblock.h"
#include "../core/dtype.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define CHUNK 8192  // activation values laid out per pass over the rows (K above: several passes)

// The activation of one chunk in the kernel's layout; 64-byte rows.
typedef struct {
    int8_t xs[CHUNK];            // Q4_0: per group, 64 low-nibble partners then 64 high; Q8_0: as stored
    int32_t off[CHUNK / 4];      // per 16-lane accumulator: −o · Σ of the lane's activation bytes
    float dx[CHUNK / 4];         // per 16-lane accumulator: the lane's block scale d_x
} xlayout;

// Exact Σ level · x of one weight block (the reference's integer part), for tail blocks.
static int32_t block_isum(qtype t, const char *blk, const int8_t *x) {
    int32_t s = 0;
    if (t == QTYPE_Q8_0) {
        const block_q8_0 *b = (const block_q8_0 *)blk;
        for (int i = 0; i < 32; i++) s += (int32_t)b->qs[i] * x[i];
    } else {
        const block_q4_0 *b = (const block_q4_0 *)blk;
        for (int i = 0; i < 16; i++) s += ((b->qs[i] & 15) - 8) * x[i] + ((b->qs[i] >> 4) - 8) * x[i + 16];
    }
    return s;
}

// Lays out blocks [b0, b0 + ng · G) of x (G = 4 for Q4_0, 2 for Q8_0).
static void layout_x(xlayout *L, const block_q8_0 *x, qtype t, int b0, int ng) {
    if (t == QTYPE_Q4_0) {
        for (int g = 0; g < ng; g++) {
            int8_t *lo = L->xs + 128 * g, *hi = lo + 64;
            for (int l = 0; l < 4; l++) {
                const block_q8_0 *b = &x[b0 + 4 * g + l];
                float d = fp16_to_f32(b->d);
                for (int i = 0; i < 16; i++) {
                    lo[16 * l + i] = b->qs[i];
                    hi[16 * l + i] = b->qs[16 + i];
                }
                for (int j = 0; j < 4; j++) {
                    int32_t s = 0;
                    for (int k = 0; k < 4; k++) s += b->qs[4 * j + k] + b->qs[16 + 4 * j + k];
                    L->off[16 * g + 4 * l + j] = -8 * s;
                    L->dx[16 * g + 4 * l + j] = d;
                }
            }
        }
    } else {
        for (int g = 0; g < ng; g++)
            for (int l = 0; l < 2; l++) {
                const block_q8_0 *b = &x[b0 + 2 * g + l];
                float d = fp16_to_f32(b->d);
                for (int i = 0; i < 32; i++) L->xs[64 * g + 32 * l + i] = b->qs[i];
                for (int j = 0; j < 8; j++) {
                    int32_t s = 0;
                    for (int k = 0; k < 4; k++) s += b->qs[4 * j + k];
                    L->off[16 * g + 8 * l + j] = -128 * s;
                    L->dx[16 * g + 8 * l + j] = d;
                }
            }
    }
}

// Σ over ng groups of one Q4_0 row (from the chunk's first block): the fp32 partial dot.
static float row_q4_0(const char *p, const xlayout *L, int ng) {
    const __m512i m4 = _mm512_set1_epi8(15), spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 acc = _mm512_setzero_ps();
    for (int g = 0; g < ng; g++, p += 72) {
        prefetch_ahead(p);
        // nibbles of block l in 128-bit lane l
        __m512i q = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + 2)));
        q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(p + 20)), 1);
        q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(p + 38)), 2);
        q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(p + 56)), 3);
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        __m512i s = _mm512_dpbusd_epi32(_mm512_load_si512(L->off + 16 * g), lo, _mm512_load_si512(L->xs + 128 * g));
        s = _mm512_dpbusd_epi32(s, hi, _mm512_load_si512(L->xs + 128 * g + 64));
        // the four fp16 scales, each spread over its block's four lanes
        uint16_t d[4];
        for (int l = 0; l < 4; l++) memcpy(&d[l], p + 18 * l, 2);
        uint64_t dd = (uint64_t)d[0] | (uint64_t)d[1] << 16 | (uint64_t)d[2] << 32 | (uint64_t)d[3] << 48;
        __m128 d4 = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)dd));
        __m512 dw = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d4));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_load_ps(L->dx + 16 * g)), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

// The same for Q8_0 (groups are pairs of blocks).
static float row_q8_0(const char *p, const xlayout *L, int ng) {
    const __m512i sign = _mm512_set1_epi8((char)0x80);
    const __m512i spread = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512 acc = _mm512_setzero_ps();
    for (int g = 0; g < ng; g++, p += 68) {
        prefetch_ahead(p);
        __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p + 2))),
                                       _mm256_loadu_si256((const __m256i *)(p + 36)), 1);
        __m512i s = _mm512_dpbusd_epi32(_mm512_load_si512(L->off + 16 * g), _mm512_xor_si512(q, sign),
                                        _mm512_load_si512(L->xs + 64 * g));
        uint16_t d0, d1;
        memcpy(&d0, p, 2);
        memcpy(&d1, p + 34, 2);
        __m128 d2 = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)d0 | (uint32_t)d1 << 16)));
        __m512 dw = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d2));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_load_ps(L->dx + 16 * g)), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

void qdot_q8_avx512(float *out, const void *xq, const void *w, qtype t, const float *bias, int K, int n0, int n1) {
    const int nb = K / 32, G = t == QTYPE_Q4_0 ? 4 : 2;
    const size_t row_bytes = qtype_row_bytes(t, (size_t)K), bb = (size_t)qtype_get((int)t)->bytes;
    const block_q8_0 *x = xq;
    xlayout L __attribute__((aligned(64)));
    for (int c0 = 0; c0 < nb; c0 += CHUNK / 32) {
        int cn = nb - c0 < CHUNK / 32 ? nb - c0 : CHUNK / 32, ng = cn / G;
        layout_x(&L, x, t, c0, ng);
        for (int n = n0; n < n1; n++) {
            const char *r = (const char *)w + (size_t)n * row_bytes + (size_t)c0 * bb;
            float s = t == QTYPE_Q4_0 ? row_q4_0(r, &L, ng) : row_q8_0(r, &L, ng);
            for (int b = ng * G; b < cn; b++) {  // tail blocks, as the reference does them
                uint16_t dw;                      // both block types start with their fp16 scale
                memcpy(&dw, r + b * bb, 2);
                s += fp16_to_f32(dw) * fp16_to_f32(x[c0 + b].d) * (float)block_isum(t, r + b * bb, x[c0 + b].qs);
            }
            out[n] = c0 == 0 ? s : out[n] + s;
        }
    }
    if (bias)
        for (int n = n0; n < n1; n++) out[n] += bias[n];
}
