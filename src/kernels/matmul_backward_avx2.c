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
// sizes and the callers' thread split do not change a bit. This file holds the tile
// kernels; the packing and loop nest are gemm_f32_driver.h's, shared with the AVX-512 twin.
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

#define MASK_NONE _mm256_setzero_si256()
#define GEMM_FN gemm_f32_avx2
#include "gemm_f32_driver.h"
