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

// bp (kn, NR) = b(k0.., n0..n0+nr), zero-padded to NR columns.
static void pack_b(float *bp, const float *b, int sbk, int sbn, int kn, int nr) {
    if (sbn == 1 && nr == NR) {
        for (int k = 0; k < kn; k++) memcpy(bp + k * NR, b + (size_t)k * sbk, NR * sizeof(float));
    } else if (sbn == 1) {
        for (int k = 0; k < kn; k++)
            for (int j = 0; j < NR; j++) bp[k * NR + j] = j < nr ? b[(size_t)k * sbk + j] : 0.0f;
    } else {  // column by column, so the source is read along its rows
        for (int j = 0; j < NR; j++) {
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
