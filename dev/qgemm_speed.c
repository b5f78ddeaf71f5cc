// dev/qgemm_speed.c: would a native integer batch path beat the fp32 one for Q4_0
// weights (pp128)? The fp32 path today: kern.matmul dequantizes W panels and runs the
// fp32 GEMM. The experiment: quantize the M activation rows to Q8_0 (as the single-row
// path does), pack each panel of 16 weight rows once per call into k-interleaved
// unsigned nibbles (vpdpbusd's unsigned side; 16 rows × 4 bytes per zmm, one zmm per
// 4 k) plus the 16 fp16 scales as floats, and run an MR × 16 micro-kernel that
// broadcasts 4 activation bytes per vpdpbusd (the signed side, from memory) into one
// int32 lane per output channel; per block one int→float conversion and one FMA per
// row with d_w (16 lanes) · d_x (broadcast). Each out[m][n] is then exactly
// qdot_q8_ref of row m (same integer block dots; fp32 sums per block in order, FMA).
// Checks the result against qdot_q8_ref row by row, then times both paths on the
// GPT-2-124M pp128 shapes, alternating, min of reps.
// cc -O2 -fopenmp -Isrc dev/qgemm_speed.c build-speed/libshrink.a -lm -o /tmp/qgemm_speed
// /tmp/qgemm_speed [threads] [reps]
#pragma GCC target("avx512f,avx512bw,avx512vnni,avx2,fma,f16c")
#include "core/parallel.h"
#include "core/timer.h"
#include "core/xalloc.h"
#include "core/dtype.h"
#include "kernels/kernels.h"
#include "kernels/qblock.h"
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MR
#define MR 8  // activation rows per micro-tile (12 measured slower)
#endif
#define NP 16  // output channels per packed panel (one zmm of int32 lanes)
#ifndef KB
#define KB 24  // blocks per k-chunk: a 12 KB packed panel and MR 768-byte activation rows in L1
#endif

// Panel of NP Q4_0 rows [n, n+NP) over all K: per block b, 8 zmm (k 4c..4c+3 of row j
// in bytes 4j..4j+3 of zmm c; c < 4: low nibbles = k 0..15, c >= 4: high = k 16..31),
// then the NP scales as floats.
static void pack_q4_0(uint8_t *wp, float *dw, const void *W, int K, int n) {
    int nb = K / 32;
    size_t rb = qtype_row_bytes(QTYPE_Q4_0, (size_t)K);
    const __m128i m4 = _mm_set1_epi8(15);
    for (int j = 0; j < NP; j++) {
        const block_q4_0 *row = (const block_q4_0 *)((const char *)W + (size_t)(n + j) * rb);
        for (int b = 0; b < nb; b++) {
            dw[b * NP + j] = fp16_to_f32(row[b].d);
            uint8_t *dst = wp + (size_t)b * 512 + 4 * j;
            __m128i q = _mm_loadu_si128((const __m128i *)row[b].qs);
            __m128i lo = _mm_and_si128(q, m4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), m4);
            uint32_t l[4], h[4];
            _mm_storeu_si128((__m128i *)l, lo);
            _mm_storeu_si128((__m128i *)h, hi);
            for (int c = 0; c < 4; c++) {
                memcpy(dst + 64 * c, &l[c], 4);
                memcpy(dst + 64 * (4 + c), &h[c], 4);
            }
        }
    }
}

// rm rows of the quantized activation (xq: rows of nb block_q8_0) against one packed panel.
static inline __attribute__((always_inline)) void micro(float *out, int ldo, const block_q8_0 *xq, int nb,
                                                        const int32_t *xoff, const float *xd, const uint8_t *wp, const float *dw,
                                                        int rm, const float *bias, int b0, int b1) {
    __m512 f[MR];
    for (int i = 0; i < rm; i++)
        f[i] = b0 > 0 ? _mm512_loadu_ps(out + (size_t)i * ldo) : bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    for (int b = b0; b < b1; b++) {
        __m512i s[MR];
        for (int i = 0; i < rm; i++) s[i] = _mm512_set1_epi32(xoff[(size_t)i * nb + b]);
        for (int c = 0; c < 8; c++) {
            __m512i w = _mm512_load_si512(wp + (size_t)b * 512 + 64 * c);
            int koff = c < 4 ? 4 * c : 16 + 4 * (c - 4);
            for (int i = 0; i < rm; i++) {
                int32_t x4;
                memcpy(&x4, xq[(size_t)i * nb + b].qs + koff, 4);
                s[i] = _mm512_dpbusd_epi32(s[i], w, _mm512_set1_epi32(x4));
            }
        }
        __m512 d = _mm512_load_ps(dw + (size_t)b * NP);
        for (int i = 0; i < rm; i++) {
            __m512 sc = _mm512_mul_ps(d, _mm512_set1_ps(xd[(size_t)i * nb + b]));
            f[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[i]), sc, f[i]);
        }
    }
    for (int i = 0; i < rm; i++) _mm512_storeu_ps(out + (size_t)i * ldo, f[i]);
}

// out (M, N) = Q8_0(in) · W (Q4_0)ᵀ + bias; N a multiple of NP here (the dev shapes are).
static void qgemm_q4_0(float *out, const float *in, const void *W, const float *bias, int M, int K, int N,
                       block_q8_0 *xq, int32_t *xoff, float *xd) {
    int nb = K / 32;
#pragma omp parallel for
    for (int m = 0; m < M; m++) {
        quantize_row_q8_0_ref(in + (size_t)m * K, xq + (size_t)m * nb, K);
        for (int b = 0; b < nb; b++) {
            int32_t sx = 0;
            for (int i = 0; i < 32; i++) sx += xq[(size_t)m * nb + b].qs[i];
            xoff[(size_t)m * nb + b] = -8 * sx;
            xd[(size_t)m * nb + b] = fp16_to_f32(xq[(size_t)m * nb + b].d);
        }
    }
#pragma omp parallel
    {
        uint8_t *wp = aligned_alloc(64, (size_t)nb * 512);
        float *dw = aligned_alloc(64, (size_t)nb * NP * sizeof(float));
        int nth = par_num_threads(), ith = par_thread_id(), panels = N / NP;
        int p0 = panels * ith / nth, p1 = panels * (ith + 1) / nth;
        for (int p = p0; p < p1; p++) {
            int n = p * NP;
            pack_q4_0(wp, dw, W, K, n);
            const float *bb = bias ? bias + n : NULL;
            for (int b0 = 0; b0 < nb; b0 += KB) {
                int b1 = b0 + KB < nb ? b0 + KB : nb, m = 0;
                for (; m + MR <= M; m += MR)
                    micro(out + (size_t)m * N + n, N, xq + (size_t)m * nb, nb, xoff + (size_t)m * nb, xd + (size_t)m * nb, wp, dw, MR, bb, b0, b1);
                for (; m < M; m++)
                    micro(out + (size_t)m * N + n, N, xq + (size_t)m * nb, nb, xoff + (size_t)m * nb, xd + (size_t)m * nb, wp, dw, 1, bb, b0, b1);
            }
        }
        free(wp);
        free(dw);
    }
}

int main(int argc, char **argv) {
    kernels_init();
    int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 10;
    par_set_threads(threads);
    const int M = 128, shapes[4][2] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}};  // N, K
    double tot[2] = {0, 0};
    for (int s = 0; s < 4; s++) {
        int N = shapes[s][0], K = shapes[s][1], nb = K / 32;
        float *a = xmalloc((size_t)M * K * 4), *wf = xmalloc((size_t)N * K * 4), *bias = xmalloc((size_t)N * 4);
        float *o1 = xmalloc((size_t)M * N * 4), *o2 = xmalloc((size_t)M * N * 4);
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)((i * 37) % 101) * 0.02f - 1.0f;
        for (size_t i = 0; i < (size_t)N * K; i++) wf[i] = (float)((i * 7919) % 1000) * 0.001f - 0.5f;
        for (int i = 0; i < N; i++) bias[i] = (float)(i % 13) * 0.1f;
        void *w = xmalloc(qtype_row_bytes(QTYPE_Q4_0, (size_t)K) * N);
        quantize_rows(QTYPE_Q4_0, wf, w, N, K, NULL);
        block_q8_0 *xq = xmalloc((size_t)M * nb * sizeof(block_q8_0));
        int32_t *xoff = xmalloc((size_t)M * nb * sizeof(int32_t));
        float *xd = xmalloc((size_t)M * nb * sizeof(float));
        // correctness: every row equals qdot_q8_ref on the same quantized row
        qgemm_q4_0(o2, a, w, bias, M, K, N, xq, xoff, xd);
        double worst = 0;
        float *ref = xmalloc((size_t)N * 4);
        for (int m = 0; m < M; m++) {
            qdot_q8_ref(ref, xq + (size_t)m * nb, w, QTYPE_Q4_0, bias, K, 0, N);
            for (int n = 0; n < N; n++) {
                double e = fabs((double)ref[n] - o2[(size_t)m * N + n]) / (fabs(ref[n]) + 1.0);
                if (!(e <= worst)) worst = e;
            }
        }
        double best[2] = {1e9, 1e9};
        for (int r = 0; r < reps; r++) {
            double t0 = timer_now();
            kern.matmul(o1, a, w, QTYPE_Q4_0, bias, M, K, N);
            double t1 = timer_now();
            qgemm_q4_0(o2, a, w, bias, M, K, N, xq, xoff, xd);
            double t2 = timer_now();
            if (t1 - t0 < best[0]) best[0] = t1 - t0;
            if (t2 - t1 < best[1]) best[1] = t2 - t1;
        }
        tot[0] += best[0] * 12;
        tot[1] += best[1] * 12;
        printf("M=%d K=%d N=%d: fp32 path %.3f ms (%.0f GFLOP/s), int8 path %.3f ms (%.0f GOP/s); int8 vs qdot_q8_ref %.1e\n",
               M, K, N, best[0] * 1e3, 2.0 * M * K * N / best[0] / 1e9, best[1] * 1e3, 2.0 * M * K * N / best[1] / 1e9,
               worst);
        free(a); free(wf); free(bias); free(o1); free(o2); free(w); free(xq); free(xoff); free(xd); free(ref);
    }
    printf("12 layers, %d threads: fp32 path %.1f ms, int8 path %.1f ms per pp128 batch\n", threads, tot[0] * 1e3,
           tot[1] * 1e3);
    return 0;
}
