// matmul_avx2.c: AVX2/FMA fp32 matmul, out (M, N) = A (M, K) · W (N, K)ᵀ + bias.
//
// Both operands are K-contiguous, so no packing is needed (llamafile's tinyBLAS
// idea): a register tile of RM rows of A by RN rows of W keeps RM·RN 8-wide partial
// sums, each step loads RM + RN vectors of 8 k-values, and the sums are reduced
// horizontally once per K block. K is blocked (KC) so a W tile stays in L1 while the
// A block streams from L2; the pool's tasks take runs of the N (output channel) range.
// The single-row case (generation) takes a GEMV path that streams W once.
// Compiled with -mavx2 -mfma; reached only through the dispatch table.
#include "../core/pool.h"
#include "matmul_job.h"
#include "kernels.h"
#include <stdint.h>
#include "avx2_util.h"
#include <immintrin.h>

#define RM 3     // A rows (tokens) per tile
#define RN 4     // W rows (output channels) per tile
#define KC 1024  // k-block: RN W rows (16 KB) and RM A rows (12 KB) stay in L1

// Mask with the first r of 8 lanes set (0 < r < 8).
static inline __m256i tail_mask(int r) {
    static const int m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - r));
}

// One rm×rn tile over k in [k0, k1): out[i][j] (+)= Σ_k A[i][k]·W[j][k].
// rm and rn are compile-time constants at every call site, so the loops unroll.
static inline __attribute__((always_inline)) void tile(float *out, const float *A, const float *W, int lda,
                                                       int ldw, int ldo, int kn, int rm, int rn, int accumulate) {
    __m256 acc[RM][RN];
    for (int i = 0; i < rm; i++)
        for (int j = 0; j < rn; j++) acc[i][j] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= kn; k += 8) {
        __m256 a[RM];
        for (int i = 0; i < rm; i++) a[i] = _mm256_loadu_ps(A + (size_t)i * lda + k);
        for (int j = 0; j < rn; j++) {
            __m256 w = _mm256_loadu_ps(W + (size_t)j * ldw + k);
            for (int i = 0; i < rm; i++) acc[i][j] = _mm256_fmadd_ps(a[i], w, acc[i][j]);
        }
    }
    if (k < kn) {
        __m256i mask = tail_mask(kn - k);
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
static void tile_any(float *out, const float *A, const float *W, int lda, int ldw, int ldo, int kn, int rm, int rn,
                     int acc) {
#define T(r, c) \
    case (r) * 8 + (c): tile(out, A, W, lda, ldw, ldo, kn, r, c, acc); break;
    switch (rm * 8 + rn) {
        T(1, 1) T(1, 2) T(1, 3) T(1, 4) T(2, 1) T(2, 2) T(2, 3) T(2, 4) T(3, 1) T(3, 2) T(3, 3) T(3, 4)
    }
#undef T
}

// rn rows of W (stored as t, rows of K elements) over k in [kb, kb+kn) as fp32 in buf (rn, KC).
// kb is a multiple of KC, which is a multiple of every block size, so blocks never straddle.
static void widen_block(float *buf, const void *W, qtype t, int K, int n, int rn, int kb, int kn) {
    size_t row_bytes = qtype_row_bytes(t, (size_t)K);
    for (int j = 0; j < rn; j++) {
        float *dst = buf + (size_t)j * KC;
        if (t == QTYPE_F16) {
            const uint16_t *src = (const uint16_t *)W + (size_t)(n + j) * K + kb;
            int k = 0;
            for (; k + 8 <= kn; k += 8) _mm256_storeu_ps(dst + k, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + k))));
            for (; k < kn; k++) dst[k] = _cvtsh_ss(src[k]);
        } else {
            const char *row = (const char *)W + (size_t)(n + j) * row_bytes;
            dequantize_row_avx2(t, row + qtype_row_bytes(t, (size_t)kb), dst, (size_t)kn);
        }
    }
}

// Rows [n0, n1) of W against all of A. F32 weights are read in place; other
// types are widened one RN×KC block at a time into a stack buffer that then
// serves every row of A.
static void gemm_block(float *out, const float *A, const void *W, qtype t, const float *bias, int M, int K, int N,
                       int n0, int n1) {
    float wbuf[RN * KC];
    for (int kb = 0; kb < K; kb += KC) {
        int kn = (kb + KC < K ? kb + KC : K) - kb, acc = kb > 0;
        for (int n = n0; n < n1; n += RN) {
            int rn = n1 - n < RN ? n1 - n : RN;
            const float *w;
            int ldw;
            if (t == QTYPE_F32) {
                w = (const float *)W + (size_t)n * K + kb;
                ldw = K;
            } else {
                widen_block(wbuf, W, t, K, n, rn, kb, kn);
                w = wbuf;
                ldw = KC;
            }
            // The next RN rows' k block, fetched while these compute, spread over the row tiles.
            size_t row_bytes = qtype_row_bytes(t, (size_t)K), lines = (qtype_row_bytes(t, (size_t)kn) + 63) / 64;
            const char *next = (const char *)W + (size_t)(n + RN) * row_bytes + qtype_row_bytes(t, (size_t)kb);
            int next_rows = n + RN < n1 ? (n1 - n - RN < RN ? n1 - n - RN : RN) : 0;
            size_t line = 0, per_tile = (lines + (size_t)(M / RM)) / (size_t)(M / RM + 1);
            int m = 0;
            if (rn == RN)
                for (; m + RM <= M; m += RM) {
                    for (size_t e = line + per_tile; line < e && line < lines; line++)
                        for (int j = 0; j < next_rows; j++) _mm_prefetch(next + (size_t)j * row_bytes + line * 64, _MM_HINT_T0);
                    tile(out + (size_t)m * N + n, A + (size_t)m * K + kb, w, K, ldw, N, kn, RM, RN, acc);
                }
            for (; m < M; m += RM) {
                int rm = M - m < RM ? M - m : RM;
                tile_any(out + (size_t)m * N + n, A + (size_t)m * K + kb, w, K, ldw, N, kn, rm, rn, acc);
            }
        }
    }
    if (bias)
        for (int m = 0; m < M; m++)
            for (int n = n0; n < n1; n++) out[(size_t)m * N + n] += bias[n];
}

// out (N) = W (N, K) · x (K) + bias over rows [n0, n1). One row at a time with four
// independent accumulators: W is then one sequential stream (several interleaved row
// streams were slower), prefetched STREAM_AHEAD bytes ahead.
static void gemv_block(float *out, const float *x, const float *W, const float *bias, int K, int n0, int n1) {
    for (int n = n0; n < n1; n++) {
        const float *w = W + (size_t)n * K;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int k = 0;
        for (; k + 32 <= K; k += 32) {
            prefetch_ahead(w + k);
            prefetch_ahead(w + k + 16);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(w + k), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(w + k + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 16), _mm256_loadu_ps(w + k + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 24), _mm256_loadu_ps(w + k + 24), a3);
        }
        for (; k + 8 <= K; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(w + k), a0);
        if (k < K) {
            __m256i mask = tail_mask(K - k);
            a1 = _mm256_fmadd_ps(_mm256_maskload_ps(x + k, mask), _mm256_maskload_ps(w + k, mask), a1);
        }
        out[n] = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) + (bias ? bias[n] : 0.0f);
    }
}

static inline __m256 load_f16x8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

// The same for F16 rows: eight halves widened per load, so W's bytes are read once.
static void gemv_f16_block(float *out, const float *x, const uint16_t *W, const float *bias, int K, int n0, int n1) {
    for (int n = n0; n < n1; n++) {
        const uint16_t *w = W + (size_t)n * K;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int k = 0;
        for (; k + 32 <= K; k += 32) {
            prefetch_ahead(w + k);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), load_f16x8(w + k), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), load_f16x8(w + k + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 16), load_f16x8(w + k + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 24), load_f16x8(w + k + 24), a3);
        }
        for (; k + 8 <= K; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), load_f16x8(w + k), a0);
        float sum = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; k < K; k++) sum += x[k] * _cvtsh_ss(w[k]);
        out[n] = sum + (bias ? bias[n] : 0.0f);
    }
}

// Single rows of any block type: each row widened a chunk at a time on the stack, then
// dotted with x; W is still read once, as one stream.
static void gemv_deq_block(float *out, const float *x, const void *W, qtype t, const float *bias, int K, int n0, int n1) {
    enum { CHUNK = 1024 };  // a multiple of every block size
    float buf[CHUNK];
    size_t row_bytes = qtype_row_bytes(t, (size_t)K);
    for (int n = n0; n < n1; n++) {
        const char *row = (const char *)W + (size_t)n * row_bytes;
        prefetch_ahead_bytes(row, row_bytes);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int k0 = 0; k0 < K; k0 += CHUNK) {
            int kn = K - k0 < CHUNK ? K - k0 : CHUNK;
            dequantize_row_avx2(t, row + qtype_row_bytes(t, (size_t)k0), buf, (size_t)kn);
            const float *xs = x + k0;
            int k = 0;
            for (; k + 32 <= kn; k += 32) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xs + k), _mm256_loadu_ps(buf + k), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(xs + k + 8), _mm256_loadu_ps(buf + k + 8), a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(xs + k + 16), _mm256_loadu_ps(buf + k + 16), a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(xs + k + 24), _mm256_loadu_ps(buf + k + 24), a3);
            }
            for (; k + 8 <= kn; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xs + k), _mm256_loadu_ps(buf + k), a0);
            float tail = 0.0f;
            for (; k < kn; k++) tail += xs[k] * buf[k];
            a1 = _mm256_add_ps(a1, _mm256_set_ps(0, 0, 0, 0, 0, 0, 0, tail));
        }
        out[n] = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) + (bias ? bias[n] : 0.0f);
    }
}

static void matmul_task(void *ctx, int task, int worker) {
    (void)worker;
    const matmul_job *j = ctx;
    int n0 = j->bounds[task] * RN, n1 = j->bounds[task + 1] * RN < j->n_out ? j->bounds[task + 1] * RN : j->n_out;
    const float *in = j->in;
    if (j->rows > 1) gemm_block(j->out, in, j->w, j->t, j->bias, j->rows, j->k, j->n_out, n0, n1);
    else if (j->t == QTYPE_F32) gemv_block(j->out, in, j->w, j->bias, j->k, n0, n1);
    else if (j->t == QTYPE_F16) gemv_f16_block(j->out, in, j->w, j->bias, j->k, n0, n1);
    else gemv_deq_block(j->out, in, j->w, j->t, j->bias, j->k, n0, n1);
}

void matmul_avx2(float *out, const float *in, const void *w, qtype t, const float *bias, int BT, int C, int OC) {
    // Tasks of whole RN-channel groups, each streaming its own part of W once per K block;
    // a single row's tasks at least 64 KB of W.
    int bounds[POOL_MAX_TASKS + 1];
    int min_groups = BT > 1 ? 1 : (int)(65536 / (qtype_row_bytes(t, (size_t)C) * RN + 1)) + 1;
    int tasks = pool_guided((OC + RN - 1) / RN, min_groups, bounds, POOL_MAX_TASKS);
    matmul_job j = {out, in, w, t, bias, BT, C, OC, bounds};
    pool_run(tasks, matmul_task, &j);
}

void matmul_f32_avx2(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC) {
    matmul_avx2(out, in, w, QTYPE_F32, bias, BT, C, OC);
}
