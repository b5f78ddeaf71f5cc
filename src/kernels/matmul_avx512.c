// matmul_avx512.c: AVX-512 fp32 matmul for batches (BT > 1): out (M, N) = A (M, K) · W (N, K)ᵀ + bias.
//
// Broadcast kernel (the BLIS/GotoBLAS micro-kernel shape): W is packed per call, one
// block of NR = 32 output channels × KC inputs at a time, k-major, into a stack buffer
// (widening F16 or dequantizing block types on the way), so each k step loads two
// vectors of W and broadcasts one value of each of MR = 12 rows of A into 24 accumulators.
// Outputs are whole vectors: no horizontal sums, and tails are masked. Single rows
// (generation) go to the AVX2 GEMV, which is bandwidth-bound either way.
// F16 single rows get an AVX-512 GEMV (16 halves widened per instruction); other single
// rows go to the AVX2 GEMV.
// Compiled with -mavx512f; reached only through the dispatch table.
#include "../core/pool.h"
#include "matmul_job.h"
#include "kernels.h"
#include <immintrin.h>
#include <stdint.h>

#define MR 12   // rows of A per micro-tile
#define NR 32   // output channels per packed panel (two vectors)
#define KC 256  // inputs per panel: 32 KB of packed W stays in L1

// In-register transpose of a 16×16 block: r[i] holds row i, afterwards column i.
// Three stages: 32-bit interleave within 128-bit lanes, 64-bit interleave, lane shuffles.
static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4i+c], lane L: rows 4i..4i+3 at column 4L+c
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int c = 0; c < 4; c++) {
        __m512 a = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), b = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        __m512 d = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88), e = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(a, d, 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(a, d, 0xDD);
        r[c + 4] = _mm512_shuffle_f32x4(b, e, 0x88);
        r[c + 12] = _mm512_shuffle_f32x4(b, e, 0xDD);
    }
}

// Packs W rows [n, n+rn) over k in [kb, kb+kn) as wp[k][j] (NR wide, zero-padded), 16×16
// blocks at a time through transpose16. F16 and block types are widened into rows first.
static void pack_panel(float *wp, const void *W, qtype t, int K, int n, int rn, int kb, int kn) {
    float rows[16][KC] __attribute__((aligned(64)));
    size_t row_bytes = qtype_row_bytes(t, (size_t)K);
    for (int j0 = 0; j0 < NR; j0 += 16) {
        const float *src[16];
        for (int i = 0; i < 16; i++) {
            int j = j0 + i;
            src[i] = NULL;
            if (j >= rn) continue;
            if (t == QTYPE_F32) {
                src[i] = (const float *)W + (size_t)(n + j) * K + kb;
            } else if (t == QTYPE_F16) {
                const uint16_t *h = (const uint16_t *)W + (size_t)(n + j) * K + kb;
                int k = 0;
                for (; k + 16 <= kn; k += 16)
                    _mm512_storeu_ps(rows[i] + k, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + k))));
                for (; k < kn; k++) rows[i][k] = _cvtsh_ss(h[k]);
                src[i] = rows[i];
            } else {
                dequantize_row_avx2(t, (const char *)W + (size_t)(n + j) * row_bytes + qtype_row_bytes(t, (size_t)kb),
                                    rows[i], (size_t)kn);
                src[i] = rows[i];
            }
        }
        for (int k0 = 0; k0 < kn; k0 += 16) {
            int kk = kn - k0 < 16 ? kn - k0 : 16;
            __mmask16 mask = kk == 16 ? 0xFFFF : (__mmask16)((1u << kk) - 1);
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = src[i] ? _mm512_maskz_loadu_ps(mask, src[i] + k0) : _mm512_setzero_ps();
            transpose16(r);
            for (int q = 0; q < kk; q++) _mm512_storeu_ps(wp + (size_t)(k0 + q) * NR + j0, r[q]);
        }
    }
}

// rm rows × NR channels over kn packed inputs; rm is a compile-time constant at each call.
// first: start from the bias (or zero) instead of the partial sums already in out.
static inline __attribute__((always_inline)) void micro(float *out, int ldo, const float *A, int lda,
                                                        const float *wp, int kn, int rm, __mmask16 m0,
                                                        __mmask16 m1, const float *bias, int first) {
    __m512 acc[MR][2];
    for (int i = 0; i < rm; i++) {
        if (first) {
            acc[i][0] = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
            acc[i][1] = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
        } else {
            acc[i][0] = _mm512_maskz_loadu_ps(m0, out + (size_t)i * ldo);
            acc[i][1] = _mm512_maskz_loadu_ps(m1, out + (size_t)i * ldo + 16);
        }
    }
    for (int k = 0; k < kn; k++) {
        __m512 w0 = _mm512_loadu_ps(wp + (size_t)k * NR), w1 = _mm512_loadu_ps(wp + (size_t)k * NR + 16);
        for (int i = 0; i < rm; i++) {
            __m512 a = _mm512_set1_ps(A[(size_t)i * lda + k]);
            acc[i][0] = _mm512_fmadd_ps(a, w0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, w1, acc[i][1]);
        }
    }
    for (int i = 0; i < rm; i++) {
        _mm512_mask_storeu_ps(out + (size_t)i * ldo, m0, acc[i][0]);
        _mm512_mask_storeu_ps(out + (size_t)i * ldo + 16, m1, acc[i][1]);
    }
}

static void micro_any(float *out, int ldo, const float *A, int lda, const float *wp, int kn, int rm, __mmask16 m0,
                      __mmask16 m1, const float *bias, int first) {
    switch (rm) {
#define R(r) \
    case r: micro(out, ldo, A, lda, wp, kn, r, m0, m1, bias, first); break;
        R(1) R(2) R(3) R(4) R(5) R(6) R(7) R(8) R(9) R(10) R(11) R(12)
#undef R
    }
}

// Output channels [n0, n1) for all M rows.
static void gemm_range(float *out, const float *A, const void *W, qtype t, const float *bias, int M, int K, int N,
                       int n0, int n1) {
    float wp[KC * NR] __attribute__((aligned(64)));
    size_t row_bytes = qtype_row_bytes(t, (size_t)K);
    for (int n = n0; n < n1; n += NR) {
        int rn = n1 - n < NR ? n1 - n : NR;
        __mmask16 m0 = rn >= 16 ? 0xFFFF : (__mmask16)((1u << rn) - 1);
        __mmask16 m1 = rn >= 32 ? 0xFFFF : rn <= 16 ? 0 : (__mmask16)((1u << (rn - 16)) - 1);
        for (int kb = 0; kb < K; kb += KC) {
            int kn = K - kb < KC ? K - kb : KC;
            pack_panel(wp, W, t, K, n, rn, kb, kn);
            // The next panel's rows, fetched while this one computes: spread over the row
            // tiles, one line per row each time (its rows start far apart when K is large).
            int nn = kb + KC < K ? n : n + NR, nkb = kb + KC < K ? kb + KC : 0;
            int nrn = n1 - nn < NR ? n1 - nn : NR, nkn = K - nkb < KC ? K - nkb : KC;
            size_t lines = (qtype_row_bytes(t, (size_t)nkn) + 63) / 64, line = 0;
            size_t per_tile = (lines + (size_t)(M / MR)) / (size_t)(M / MR + 1);
            const char *next = (const char *)W + (size_t)nn * row_bytes + qtype_row_bytes(t, (size_t)nkb);
            const float *b = bias ? bias + n : NULL;
            int m = 0;
            for (; m + MR <= M; m += MR) {
                for (size_t e = line + per_tile; nn < n1 && line < e && line < lines; line++)
                    for (int j = 0; j < nrn; j++) _mm_prefetch(next + (size_t)j * row_bytes + line * 64, _MM_HINT_T1);
                micro(out + (size_t)m * N + n, N, A + (size_t)m * K + kb, K, wp, kn, MR, m0, m1, b, kb == 0);
            }
            if (m < M) micro_any(out + (size_t)m * N + n, N, A + (size_t)m * K + kb, K, wp, kn, M - m, m0, m1, b, kb == 0);
        }
    }
}

// out (N) = W (N, K) · x (K) for F16 rows [n0, n1): one sequential row stream, 16 halves
// widened per instruction, four accumulators.
static void gemv_f16_range(float *out, const float *x, const uint16_t *W, const float *bias, int K, int n0, int n1) {
    for (int n = n0; n < n1; n++) {
        const uint16_t *w = W + (size_t)n * K;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int k = 0;
        for (; k + 64 <= K; k += 64) {
            prefetch_ahead(w + k);
            prefetch_ahead(w + k + 32);
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + k))), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + k + 16))), a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 32), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + k + 32))), a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 48), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + k + 48))), a3);
        }
        for (; k + 16 <= K; k += 16)
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + k))), a0);
        float sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        for (; k < K; k++) sum += x[k] * _cvtsh_ss(w[k]);
        out[n] = sum + (bias ? bias[n] : 0.0f);
    }
}

static void gemm_task(void *ctx, int task, int worker) {
    (void)worker;
    const matmul_job *j = ctx;
    int n0 = j->bounds[task] * NR, n1 = j->bounds[task + 1] * NR < j->n_out ? j->bounds[task + 1] * NR : j->n_out;
    gemm_range(j->out, j->in, j->w, j->t, j->bias, j->rows, j->k, j->n_out, n0, n1);
}

static void gemv_f16_task(void *ctx, int task, int worker) {
    (void)worker;
    const matmul_job *j = ctx;
    int n0 = j->bounds[task], n1 = j->bounds[task + 1];
    gemv_f16_range(j->out, j->in, j->w, j->bias, j->k, n0, n1);
}

void matmul_avx512(float *out, const float *in, const void *w, qtype t, const float *bias, int BT, int C, int OC) {
    // Single rows (generation) are bandwidth-bound: F32 streams fastest through the AVX2
    // GEMV (measured: zmm loads were slower here); F16 gains from 16-wide widening.
    if (BT == 1 && t != QTYPE_F16) {
        matmul_avx2(out, in, w, t, bias, BT, C, OC);
        return;
    }
    int bounds[POOL_MAX_TASKS + 1];
    matmul_job j = {out, in, w, t, bias, BT, C, OC, bounds};
    if (BT == 1) {  // F16 rows: tasks of at least 64 KB of weights
        int tasks = pool_guided(OC, (int)(65536 / ((size_t)C * 2 + 1)) + 1, bounds, POOL_MAX_TASKS);
        pool_run(tasks, gemv_f16_task, &j);
        return;
    }
    // Runs of panels (a task prefetches its next panel, so runs keep that prefetch useful).
    pool_run(pool_guided((OC + NR - 1) / NR, 1, bounds, POOL_MAX_TASKS), gemm_task, &j);
}

void matmul_f32_avx512(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC) {
    matmul_avx512(out, in, w, QTYPE_F32, bias, BT, C, OC);
}
