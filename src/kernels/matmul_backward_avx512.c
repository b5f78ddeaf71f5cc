// matmul_backward_avx512.c: AVX-512 strided product c (M, N) (+)= Σ_k a(m, k) · b(k, n),
// the twin of matmul_backward_avx2.c with 32 zmm registers: a 12×32 tile of c lives in 24
// accumulators; each k step loads 32 floats of b, broadcasts 12 elements of a and issues
// 24 FMAs. Everything else (packing, blocking, the k-order of each sum) is the AVX2 file's,
// from the same gemm_f32_driver.h:
// b is packed, one KC×32 micro-panel at a time, into a contiguous stack buffer that stays
// in L1 while the tile sweeps down an MC-row block of a (which stays in L2). Packing makes
// any b layout cheap to read: row-major (dinp: b = w; dw: b = inp) or transposed (the
// forward: b = wᵀ). a is read in place when its rows are contiguous (dinp: 12 short row
// streams of dout); when it is read by columns (dw: a = doutᵀ, whose k steps are a whole
// row of dout apart, often a power-of-two stride that maps every step to the same cache
// set) the MC×KC block is packed first, 12 rows interleaved per k, and reused for every n.
// Stack use: the two packing buffers, 224 KB.
// Each c element is one FMA chain in k order whatever the tiling, so edge tiles, block
// sizes and the callers' thread split do not change a bit.
// Compiled with -mavx512f; reached through gemm_f32 / matmul_*_f32 (backward.h) when the
// dispatch chose "avx512".
#include "backward.h"
#include <immintrin.h>

#define MR 12    // rows of c per tile
#define NR 32    // columns of c per tile (two vectors)
#define KC 256   // k block: the packed micro-panel is KC×NR floats (32 KB, L1)
#define MC 192   // rows of a per block: MC×KC floats (192 KB, L2)

// Mask with the first r of 16 lanes set (0 < r ≤ 16).
static inline __mmask16 lane_mask(int r) { return (__mmask16)((1u << r) - 1u); }

// One mr×(16·nv) tile over kn steps from the packed panel bp; c's last vector is masked
// when masked. mr, nv and masked are compile-time constants at every call site.
static inline __attribute__((always_inline)) void micro(float *c, int ldc, const float *a, int sam, int sak,
                                                        const float *bp, int kn, int mr, int nv, int masked,
                                                        __mmask16 mask, int acc) {
    __m512 c0[MR], c1[MR];
    for (int i = 0; i < mr; i++) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
    }
    const float *ap = a;
    for (int k = 0; k < kn; k++) {
        __m512 b0 = _mm512_load_ps(bp + k * NR), b1 = _mm512_setzero_ps();
        if (nv == 2) b1 = _mm512_load_ps(bp + k * NR + 16);
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(ap[(size_t)i * sam]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            if (nv == 2) c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
        ap += sak;
    }
    __mmask16 full = 0xFFFF, m0 = nv == 1 && masked ? mask : full, m1 = nv == 2 && masked ? mask : full;
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        __m512 o0 = acc ? _mm512_maskz_loadu_ps(m0, ci) : _mm512_setzero_ps();
        _mm512_mask_storeu_ps(ci, m0, _mm512_add_ps(o0, c0[i]));
        if (nv == 2) {
            __m512 o1 = acc ? _mm512_maskz_loadu_ps(m1, ci + 16) : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(ci + 16, m1, _mm512_add_ps(o1, c1[i]));
        }
    }
}

// Picks the constant-size instance for an edge tile: mr ≤ 12 rows, nr ≤ 32 columns.
static void micro_any(float *c, int ldc, const float *a, int sam, int sak, const float *bp, int kn, int mr, int nr,
                      int acc) {
    int nv = nr > 16 ? 2 : 1, rem = nr - 16 * (nv - 1), masked = rem < 16;
    __mmask16 mask = lane_mask(rem);
#define U(r)                                                                                        \
    case r:                                                                                         \
        if (nv == 1 && !masked) micro(c, ldc, a, sam, sak, bp, kn, r, 1, 0, mask, acc);            \
        else if (nv == 1) micro(c, ldc, a, sam, sak, bp, kn, r, 1, 1, mask, acc);                  \
        else if (!masked) micro(c, ldc, a, sam, sak, bp, kn, r, 2, 0, mask, acc);                  \
        else micro(c, ldc, a, sam, sak, bp, kn, r, 2, 1, mask, acc);                               \
        break;
    switch (mr) { U(1) U(2) U(3) U(4) U(5) U(6) U(7) U(8) U(9) U(10) U(11) U(12) }
#undef U
}

#define MASK_NONE ((__mmask16)0xFFFF)
#define GEMM_FN gemm_f32_avx512
#include "gemm_f32_driver.h"
