// matmul_avx2.c: AVX2/FMA fp32 matmul, out (M, N) = A (M, K) · W (N, K)ᵀ + bias.
//
// Both operands are K-contiguous, so no packing is needed (llamafile's tinyBLAS
// idea): a register tile of RM rows of A by RN rows of W keeps RM·RN 8-wide partial
// sums, each step loads RM + RN vectors of 8 k-values, and the sums are reduced
// horizontally once per K block. K is blocked (KC) so a W tile stays in L1 while the
// A block streams from L2; threads split the N (output channel) range.
// The single-row case (generation) takes a GEMV path that streams W once.
// Compiled with -mavx2 -mfma; reached only through the dispatch table.
#include "kernels.h"
#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define RM 3     // A rows (tokens) per tile
#define RN 4     // W rows (output channels) per tile
#define KC 512   // k-block: RN W rows (8 KB) stay in L1 across all M

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Mask with the first r of 8 lanes set (0 < r < 8).
static inline __m256i tail_mask(int r) {
    static const int m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - r));
}

// One rm×rn tile over k in [k0, k1): out[i][j] (+)= Σ_k A[i][k]·W[j][k].
// rm and rn are compile-time constants at every call site, so the loops unroll.
static inline __attribute__((always_inline)) void tile(float *out, const float *A, const float *W, int lda,
                                                       int ldw, int ldo, int k0, int k1, int rm, int rn,
                                                       int accumulate) {
    __m256 acc[RM][RN];
    for (int i = 0; i < rm; i++)
        for (int j = 0; j < rn; j++) acc[i][j] = _mm256_setzero_ps();
    int k = k0;
    for (; k + 8 <= k1; k += 8) {
        __m256 a[RM];
        for (int i = 0; i < rm; i++) a[i] = _mm256_loadu_ps(A + (size_t)i * lda + k);
        for (int j = 0; j < rn; j++) {
            __m256 w = _mm256_loadu_ps(W + (size_t)j * ldw + k);
            for (int i = 0; i < rm; i++) acc[i][j] = _mm256_fmadd_ps(a[i], w, acc[i][j]);
        }
    }
    if (k < k1) {
        __m256i mask = tail_mask(k1 - k);
        __m256 a[RM];
        for (int i = 0; i < rm; i++) a[i] = _mm256_maskload_ps(A + (size_t)i * lda + k, mask);
        for (int j = 0; j < rn; j++) {
            __m256 w = _mm256_maskload_ps(W + (size_t)j * ldw + k, mask);
            for (int i = 0; i < rm; i++) acc[i][j] = _mm256_fmadd_ps(a[i], w, acc[i][j]);
        }
    }
    for (int i = 0; i < rm; i++)
        for (int j = 0; j < rn; j++) {
            float v = hsum8(acc[i][j]);
            float *o = out + (size_t)i * ldo + j;
            *o = accumulate ? *o + v : v;
        }
}

// Dispatches an edge tile of any rm ≤ RM, rn ≤ RN to a constant-size instance.
static void tile_any(float *out, const float *A, const float *W, int lda, int ldw, int ldo, int k0, int k1, int rm,
                     int rn, int acc) {
#define T(r, c) \
    case (r) * 8 + (c): tile(out, A, W, lda, ldw, ldo, k0, k1, r, c, acc); break;
    switch (rm * 8 + rn) {
        T(1, 1) T(1, 2) T(1, 3) T(1, 4) T(2, 1) T(2, 2) T(2, 3) T(2, 4) T(3, 1) T(3, 2) T(3, 3) T(3, 4)
    }
#undef T
}

// Rows [n0, n1) of W against all of A.
static void gemm_block(float *out, const float *A, const float *W, const float *bias, int M, int K, int N, int n0,
                       int n1) {
    for (int kb = 0; kb < K; kb += KC) {
        int ke = kb + KC < K ? kb + KC : K, acc = kb > 0;
        for (int n = n0; n < n1; n += RN) {
            int rn = n1 - n < RN ? n1 - n : RN;
            const float *w = W + (size_t)n * K;
            int m = 0;
            if (rn == RN)
                for (; m + RM <= M; m += RM)
                    tile(out + (size_t)m * N + n, A + (size_t)m * K, w, K, K, N, kb, ke, RM, RN, acc);
            for (; m < M; m += RM) {
                int rm = M - m < RM ? M - m : RM;
                tile_any(out + (size_t)m * N + n, A + (size_t)m * K, w, K, K, N, kb, ke, rm, rn, acc);
            }
        }
    }
    if (bias)
        for (int m = 0; m < M; m++)
            for (int n = n0; n < n1; n++) out[(size_t)m * N + n] += bias[n];
}

// out (N) = W (N, K) · x (K) + bias over rows [n0, n1): each W row is read once.
static void gemv_block(float *out, const float *x, const float *W, const float *bias, int K, int n0, int n1) {
    int n = n0;
    for (; n + 4 <= n1; n += 4) {
        const float *w0 = W + (size_t)n * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int k = 0;
        for (; k + 8 <= K; k += 8) {
            __m256 xv = _mm256_loadu_ps(x + k);
            a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w0 + k), a0);
            a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w1 + k), a1);
            a2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w2 + k), a2);
            a3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w3 + k), a3);
        }
        if (k < K) {
            __m256i mask = tail_mask(K - k);
            __m256 xv = _mm256_maskload_ps(x + k, mask);
            a0 = _mm256_fmadd_ps(xv, _mm256_maskload_ps(w0 + k, mask), a0);
            a1 = _mm256_fmadd_ps(xv, _mm256_maskload_ps(w1 + k, mask), a1);
            a2 = _mm256_fmadd_ps(xv, _mm256_maskload_ps(w2 + k, mask), a2);
            a3 = _mm256_fmadd_ps(xv, _mm256_maskload_ps(w3 + k, mask), a3);
        }
        out[n] = hsum8(a0) + (bias ? bias[n] : 0.0f);
        out[n + 1] = hsum8(a1) + (bias ? bias[n + 1] : 0.0f);
        out[n + 2] = hsum8(a2) + (bias ? bias[n + 2] : 0.0f);
        out[n + 3] = hsum8(a3) + (bias ? bias[n + 3] : 0.0f);
    }
    for (; n < n1; n++) {
        tile(out + n, x, W + (size_t)n * K, K, K, 1, 0, K, 1, 1, 0);
        if (bias) out[n] += bias[n];
    }
}

void matmul_f32_avx2(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC) {
    // Split output channels evenly across threads in multiples of the tile width,
    // so each thread streams its own part of W exactly once per K block.
#pragma omp parallel
    {
        int nth = 1, ith = 0;
#ifdef _OPENMP
        nth = omp_get_num_threads();
        ith = omp_get_thread_num();
#endif
        int groups = (OC + RN - 1) / RN;
        int g0 = (int)((long)groups * ith / nth), g1 = (int)((long)groups * (ith + 1) / nth);
        int n0 = g0 * RN, n1 = g1 * RN < OC ? g1 * RN : OC;
        if (n0 < n1) {
            if (BT == 1) gemv_block(out, in, w, bias, C, n0, n1);
            else gemm_block(out, in, w, bias, BT, C, OC, n0, n1);
        }
    }
}
