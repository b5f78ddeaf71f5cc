// matmul_backward_avx2.c: AVX2/FMA strided product c (M, N) (+)= Σ_k a(m, k) · b(k, n).
//
// The BLIS loop order for 16 ymm registers: a 6×16 tile of c lives in 12 accumulators;
// each k step loads 16 floats of b, broadcasts 6 elements of a and issues 12 FMAs.
// b is packed, one KC×16 micro-panel at a time, into a contiguous stack buffer that stays
// in L1 while the tile sweeps down an MC-row block of a (which stays in L2). Packing makes
// any b layout cheap to read: row-major (dinp: b = w; dw: b = inp) or transposed (the
// forward: b = wᵀ). a is read in place when its rows are contiguous (dinp: 6 short row
// streams of dout); when it is read by columns (dw: a = doutᵀ, whose k steps are a whole
// row of dout apart, often a power-of-two stride that maps every step to the same cache
// set) the MC×KC block is packed first, 6 rows interleaved per k, and reused for every n.
// Stack use: the two packing buffers, 208 KB.
// Each c element is one FMA chain in k order whatever the tiling, so edge tiles, block
// sizes and the callers' thread split do not change a bit.
// Compiled with -mavx2 -mfma; reached through gemm_f32 / matmul_*_f32 (backward.h).
#include "backward.h"
#include <immintrin.h>

#define MR 6     // rows of c per tile
#define NR 16    // columns of c per tile (two vectors)
#define KC 256   // k block: the packed micro-panel is KC×NR floats (16 KB, L1)
#define MC 192   // rows of a per block: MC×KC floats (192 KB, L2)

// Mask with the first r of 8 lanes set (0 < r ≤ 8).
static inline __m256i lane_mask(int r) {
    static const int m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - r));
}

// bp (kn, NR) = b(k0.., n0..n0+nr), zero-padded to NR columns.
static void pack_b(float *bp, const float *b, int sbk, int sbn, int kn, int nr) {
    if (sbn == 1 && nr == NR) {
        for (int k = 0; k < kn; k++) {
            const float *src = b + (size_t)k * sbk;
            _mm256_store_ps(bp + k * NR, _mm256_loadu_ps(src));
            _mm256_store_ps(bp + k * NR + 8, _mm256_loadu_ps(src + 8));
        }
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

// ap = the m rows × kn columns of a as consecutive (kn, MR) panels, one per 6 rows: panel p
// holds a(6p + i, k) at [p·kn·MR + k·MR + i]. Rows of a short last panel are left unset
// (the micro-kernel reads only mr of them).
static void pack_a_block(float *ap, const float *a, int sam, int sak, int m, int kn) {
    int full = m / MR, rest = m % MR;
    size_t panel = (size_t)kn * MR;
    __m256i m6 = lane_mask(MR);
    for (int k = 0; k < kn; k++) {  // one pass along each k's elements of a (a row of dout for dw)
        const float *src = a + (size_t)k * sak;
        float *dst = ap + (size_t)k * MR;
        if (sam == 1)  // the 6 elements are neighbours: one masked vector each way
            for (int p = 0; p < full; p++, src += MR, dst += panel)
                _mm256_maskstore_ps(dst, m6, _mm256_maskload_ps(src, m6));
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

// One mr×(8·nv) tile over kn steps from the packed panel bp; c's last vector is masked
// when masked. mr, nv and masked are compile-time constants at every call site.
static inline __attribute__((always_inline)) void micro(float *c, int ldc, const float *a, int sam, int sak,
                                                        const float *bp, int kn, int mr, int nv, int masked,
                                                        __m256i mask, int acc) {
    __m256 c0[MR], c1[MR];
    for (int i = 0; i < mr; i++) {
        c0[i] = _mm256_setzero_ps();
        c1[i] = _mm256_setzero_ps();
    }
    const float *ap = a;
    for (int k = 0; k < kn; k++) {
        __m256 b0 = _mm256_load_ps(bp + k * NR), b1 = _mm256_setzero_ps();
        if (nv == 2) b1 = _mm256_load_ps(bp + k * NR + 8);
        for (int i = 0; i < mr; i++) {
            __m256 av = _mm256_broadcast_ss(ap + (size_t)i * sam);
            c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
            if (nv == 2) c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
        }
        ap += sak;
    }
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        if (nv == 1) {
            __m256 old = acc ? (masked ? _mm256_maskload_ps(ci, mask) : _mm256_loadu_ps(ci)) : _mm256_setzero_ps();
            if (masked) _mm256_maskstore_ps(ci, mask, _mm256_add_ps(old, c0[i]));
            else _mm256_storeu_ps(ci, _mm256_add_ps(old, c0[i]));
        } else {
            __m256 o0 = acc ? _mm256_loadu_ps(ci) : _mm256_setzero_ps();
            __m256 o1 = acc ? (masked ? _mm256_maskload_ps(ci + 8, mask) : _mm256_loadu_ps(ci + 8)) : _mm256_setzero_ps();
            _mm256_storeu_ps(ci, _mm256_add_ps(o0, c0[i]));
            if (masked) _mm256_maskstore_ps(ci + 8, mask, _mm256_add_ps(o1, c1[i]));
            else _mm256_storeu_ps(ci + 8, _mm256_add_ps(o1, c1[i]));
        }
    }
}

// Picks the constant-size instance for an edge tile: mr ≤ 6 rows, nr ≤ 16 columns.
static void micro_any(float *c, int ldc, const float *a, int sam, int sak, const float *bp, int kn, int mr, int nr,
                      int acc) {
    int nv = nr > 8 ? 2 : 1, rem = nr - 8 * (nv - 1), masked = rem < 8;
    __m256i mask = lane_mask(rem);
#define U(r, v, msk) \
    case ((r) * 2 + (v)-1) * 2 + (msk): micro(c, ldc, a, sam, sak, bp, kn, r, v, msk, mask, acc); break;
    switch ((mr * 2 + nv - 1) * 2 + masked) {
        U(1, 1, 0) U(1, 1, 1) U(1, 2, 0) U(1, 2, 1) U(2, 1, 0) U(2, 1, 1) U(2, 2, 0) U(2, 2, 1)
        U(3, 1, 0) U(3, 1, 1) U(3, 2, 0) U(3, 2, 1) U(4, 1, 0) U(4, 1, 1) U(4, 2, 0) U(4, 2, 1)
        U(5, 1, 0) U(5, 1, 1) U(5, 2, 0) U(5, 2, 1) U(6, 1, 0) U(6, 1, 1) U(6, 2, 0) U(6, 2, 1)
    }
#undef U
}

void gemm_f32_avx2(float *c, int ldc, const float *a, int sam, int sak, const float *b, int sbk, int sbn, int M,
                   int N, int K, int accumulate) {
    if (K == 0) {
        if (!accumulate)
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) c[(size_t)m * ldc + n] = 0.0f;
        return;
    }
    _Alignas(32) float bp[KC * NR];
    _Alignas(32) float ap[MC * KC];
    __m256i none = _mm256_setzero_si256();
    int pack_a = sak > sam;  // a read by columns
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kn = K - k0 < KC ? K - k0 : KC, acc = accumulate || k0 > 0;
        const float *ak = a + (size_t)k0 * sak, *bk = b + (size_t)k0 * sbk;
        for (int mb = 0; mb < M; mb += MC) {
            int me = M - mb < MC ? M : mb + MC;
            // where tile row m0's a lives: in place, or its packed (kn, 6) panel
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
                              MR, 2, 0, none, acc);
                for (; m0 < me; m0 += MR) {
                    int mr = me - m0 < MR ? me - m0 : MR;
                    micro_any(c + (size_t)m0 * ldc + n0, ldc, a_tile(ab, m0 - mb, asm_, kn, pack_a), asm_, ask, bp, kn,
                              mr, nr, acc);
                }
            }
        }
    }
}
