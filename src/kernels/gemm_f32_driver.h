// gemm_f32_driver.h: the packing and loop nest of the strided product
// c (M, N) (+)= Σ_k a(m, k) · b(k, n), shared by matmul_backward_avx2.c and
// matmul_backward_avx512.c, which differ only in their register tile.
//
// Include it once from such a file after defining MR, NR (the tile), KC, MC (the
// blocks), the tile kernels
//   micro(c, ldc, a, sam, sak, bp, kn, mr, nv, masked, mask, acc)   (the full MR×NR tile)
//   micro_any(c, ldc, a, sam, sak, bp, kn, mr, nr, acc)             (any edge tile)
// MASK_NONE (the all-lanes mask of the tile kernels' type), and GEMM_FN, the name of the
// function to define. The packing only copies floats, so the results are the tile kernels'
// own, bit for bit.
#include <string.h>

// dst[i·ld + j] = src[j·sld + i] for an 8×8 tile: eight rows loaded, turned in registers
// (AVX2 shuffles, which both includers' targets have), stored as eight rows.
static inline void transpose8_store(float *dst, int ld, const float *src, int sld) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + sld), r2 = _mm256_loadu_ps(src + 2 * (size_t)sld);
    __m256 r3 = _mm256_loadu_ps(src + 3 * (size_t)sld), r4 = _mm256_loadu_ps(src + 4 * (size_t)sld);
    __m256 r5 = _mm256_loadu_ps(src + 5 * (size_t)sld), r6 = _mm256_loadu_ps(src + 6 * (size_t)sld);
    __m256 r7 = _mm256_loadu_ps(src + 7 * (size_t)sld);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3);
    __m256 t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ld, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// bp (kn, NR) = b(k0.., n0..n0+nr), zero-padded to NR columns.
static void pack_b(float *bp, const float *b, int sbk, int sbn, int kn, int nr) {
    if (sbn == 1 && nr == NR) {
        for (int k = 0; k < kn; k++) memcpy(bp + k * NR, b + (size_t)k * sbk, NR * sizeof(float));
    } else if (sbn == 1) {
        for (int k = 0; k < kn; k++)
            for (int j = 0; j < NR; j++) bp[k * NR + j] = j < nr ? b[(size_t)k * sbk + j] : 0.0f;
    } else {
        int j = 0;
        if (sbk == 1)  // b transposed (keys for Q·Kᵀ, wᵀ): 8×8 tiles turned in registers
            for (; j + 8 <= nr; j += 8) {
                int k = 0;
                for (; k + 8 <= kn; k += 8) transpose8_store(bp + (size_t)k * NR + j, NR, b + (size_t)j * sbn + k, sbn);
                for (; k < kn; k++)
                    for (int i = 0; i < 8; i++) bp[k * NR + j + i] = b[(size_t)(j + i) * sbn + k];
            }
        for (; j < NR; j++) {  // the rest column by column, so the source is read along its rows
            const float *src = b + (size_t)j * sbn;
            if (j < nr)
                for (int k = 0; k < kn; k++) bp[k * NR + j] = src[(size_t)k * sbk];
            else
                for (int k = 0; k < kn; k++) bp[k * NR + j] = 0.0f;
        }
    }
}

// ap = the m rows × kn columns of a as consecutive (kn, MR) panels, one per MR rows: panel p
// holds a(MR·p + i, k) at [p·kn·MR + k·MR + i]. Rows of a short last panel are left unset
// (the tile kernels read only mr of them).
static void pack_a_block(float *ap, const float *a, int sam, int sak, int m, int kn) {
    int full = m / MR, rest = m % MR;
    size_t panel = (size_t)kn * MR;
    for (int k = 0; k < kn; k++) {  // one pass along each k's elements of a (a row of dout for dw)
        const float *src = a + (size_t)k * sak;
        float *dst = ap + (size_t)k * MR;
        if (sam == 1)  // the MR elements are neighbours
            for (int p = 0; p < full; p++, src += MR, dst += panel) memcpy(dst, src, MR * sizeof(float));
        else
            for (int p = 0; p < full; p++, src += (size_t)MR * sam, dst += panel)
                for (int i = 0; i < MR; i++) dst[i] = src[(size_t)i * sam];
        for (int i = 0; i < rest; i++) dst[i] = src[(size_t)i * sam];
    }
}

// Where the a of the tile starting at row r (within the block) begins.
static inline const float *a_tile(const float *ab, int r, int sam, int kn, int packed) {
    return packed ? ab + (size_t)(r / MR) * kn * MR : ab + (size_t)r * sam;
}

void GEMM_FN(float *c, int ldc, const float *a, int sam, int sak, const float *b, int sbk, int sbn, int M, int N, int K,
             int accumulate) {
    if (K == 0) {
        if (!accumulate)
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) c[(size_t)m * ldc + n] = 0.0f;
        return;
    }
    _Alignas(64) float bp[KC * NR];
    _Alignas(64) float ap[MC * KC];
    int pack_a = sak > sam;  // a read by columns
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kn = K - k0 < KC ? K - k0 : KC, acc = accumulate || k0 > 0;
        const float *ak = a + (size_t)k0 * sak, *bk = b + (size_t)k0 * sbk;
        for (int mb = 0; mb < M; mb += MC) {
            int me = M - mb < MC ? M : mb + MC;
            // where tile row m0's a lives: in place, or its packed (kn, MR) panel
            const float *ab = ak + (size_t)mb * sam;
            int asm_ = sam, ask = sak;
            if (pack_a) {
                pack_a_block(ap, ab, sam, sak, me - mb, kn);
                ab = ap;
                asm_ = 1;
                ask = MR;
            }
            for (int n0 = 0; n0 < N; n0 += NR) {
                int nr = N - n0 < NR ? N - n0 : NR;
                pack_b(bp, bk + (size_t)n0 * sbn, sbk, sbn, kn, nr);
                int m0 = mb;
                if (nr == NR)
                    for (; m0 + MR <= me; m0 += MR)
                        micro(c + (size_t)m0 * ldc + n0, ldc, a_tile(ab, m0 - mb, asm_, kn, pack_a), asm_, ask, bp, kn,
                              MR, 2, 0, MASK_NONE, acc);
                for (; m0 < me; m0 += MR) {
                    int mr = me - m0 < MR ? me - m0 : MR;
                    micro_any(c + (size_t)m0 * ldc + n0, ldc, a_tile(ab, m0 - mb, asm_, kn, pack_a), asm_, ask, bp, kn,
                              mr, nr, acc);
                }
            }
        }
    }
}
