// dev/qdot_speed.c: single-row quantized kernels on the GPT-2-124M layer stack, one token
// (12 × qkv, proj, fc, fc-proj: 85M weights, far beyond the caches), the AVX2 and the
// AVX-512 qdot kernels alternating in one run so a noisy host hits both alike.
// make BUILD=build-speed build-speed/libshrink.a
// cc -O2 -fopenmp -Isrc dev/qdot_speed.c build-speed/libshrink.a -lm -o /tmp/qdot_speed
// /tmp/qdot_speed [threads] [reps]
#include "core/parallel.h"
#include "core/timer.h"
#include "core/xalloc.h"
#include "kernels/kernels.h"
#include "kernels/qblock.h"
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    kernels_init();
    int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 30;
    par_set_threads(threads);
    enum { L = 12, C = 768 };
    const int shapes[4][2] = {{3 * C, C}, {C, C}, {4 * C, C}, {C, 4 * C}};  // rows, cols
    qtype types[2] = {QTYPE_Q4_0, QTYPE_Q8_0};
    const char *names[2] = {"avx2", "avx512"};
    qdot_fn fns[2] = {qdot_q8_avx2, qdot_q8_avx512};
    float *x = xmalloc(4 * C * sizeof(float)), *out = xmalloc(4 * C * sizeof(float));
    for (int i = 0; i < 4 * C; i++) x[i] = (float)((i * 37) % 101 - 50) * 0.01f;
    block_q8_0 xq[4 * C / 32];
    for (int ti = 0; ti < 2; ti++) {
        qtype t = types[ti];
        void *w[L][4];
        float *wf = xmalloc((size_t)4 * C * C * sizeof(float));
        for (size_t i = 0; i < (size_t)4 * C * C; i++) wf[i] = (float)((i * 7919) % 1000) * 0.001f - 0.5f;
        for (int l = 0; l < L; l++)
            for (int s = 0; s < 4; s++) {
                w[l][s] = xmalloc(qtype_row_bytes(t, (size_t)shapes[s][1]) * shapes[s][0]);
                quantize_rows(t, wf, w[l][s], shapes[s][0], shapes[s][1], NULL);
            }
        free(wf);
        double *ms[2];
        for (int f = 0; f < 2; f++) ms[f] = xmalloc((size_t)reps * sizeof(double));
        const char *only = getenv("ONLY");  // ONLY=0 or 1: time just one kernel
        for (int r = 0; r < reps + 1; r++)
            for (int f = 0; f < 2; f++) {
                if (only && atoi(only) != f) continue;
                double t0 = timer_now();
                for (int l = 0; l < L; l++)
                    for (int s = 0; s < 4; s++) {
                        int N = shapes[s][0], K = shapes[s][1];
                        quantize_row_q8_0_ref(x, xq, K);
#pragma omp parallel
                        {
                            int nth = par_num_threads(), ith = par_thread_id();
                            int n0 = (int)((long)N * ith / nth), n1 = (int)((long)N * (ith + 1) / nth);
                            fns[f](out, xq, w[l][s], t, NULL, K, n0, n1);
                        }
                    }
                if (r > 0) ms[f][r - 1] = (timer_now() - t0) * 1e3;
            }
        for (int f = 0; f < 2; f++) {
            if (only && atoi(only) != f) continue;
            qsort(ms[f], (size_t)reps, sizeof(double), cmp);
            double bytes = 0;
            for (int s = 0; s < 4; s++) bytes += (double)L * qtype_row_bytes(t, (size_t)shapes[s][1]) * shapes[s][0];
            printf("%s %-6s threads %d: median %.3f ms, min %.3f ms per token (%.1f GB/s at the median)\n",
                   qtype_get((int)t)->name, names[f], threads, ms[f][reps / 2], ms[f][0], bytes / ms[f][reps / 2] / 1e6);
            free(ms[f]);
        }
        for (int l = 0; l < L; l++)
            for (int s = 0; s < 4; s++) free(w[l][s]);
    }
    free(x);
    free(out);
    return 0;
}
