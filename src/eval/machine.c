// machine.c: measured machine limits for the benchmark: FMA peak, DRAM read
// bandwidth, and matmul GFLOP/s on given shapes, each the median of repeats with
// a chosen thread count.
#include "eval.h"
#include "../core/parallel.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

volatile double machine_sink;  // keeps probe results alive

double machine_fma_gflops(int threads, int reps) {
    if (!kernels_have_avx2()) return 0;
    // The widest FMA this CPU runs: AVX-512 where present, else AVX2.
    int wide = kernels_have_avx512();
    const long iters = 20000000;
    double *g = xmalloc((size_t)reps * sizeof(double));
    for (int r = 0; r < reps; r++) {
        double t0 = timer_now();
#pragma omp parallel num_threads(threads)
        machine_sink += wide ? probe_fma_avx512(iters) : probe_fma_avx2(iters);
        g[r] = (double)threads * (double)iters * (wide ? 512.0 : 192.0) / (timer_now() - t0) / 1e9;
    }
    double m = median(g, reps);
    free(g);
    return m;
}

double machine_read_gbs(int threads, int reps) {
    if (!kernels_have_avx2()) return 0;
    size_t n = (size_t)256 << 20;  // 1 GiB of floats: far past any cache
    float *buf = xmalloc_weights(n * sizeof(float));  // in the pages the weights use
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = 1.0f;  // first touch by the reading thread
    double *g = xmalloc((size_t)reps * sizeof(double));
    for (int r = 0; r < reps; r++) {
        double t0 = timer_now();
#pragma omp parallel num_threads(threads)
        {
            int ith = par_thread_id();
            size_t chunk = n / (size_t)threads;
            machine_sink += probe_read_avx2(buf + (size_t)ith * chunk, chunk);
        }
        g[r] = (double)n * sizeof(float) / (timer_now() - t0) / 1e9;
    }
    double m = median(g, reps);
    free(g);
    free(buf);
    return m;
}

double machine_matmul_gflops(int M, int K, int N, int threads, int reps) {
    float *a = xmalloc((size_t)M * K * sizeof(float)), *w = xmalloc((size_t)N * K * sizeof(float));
    float *o = xmalloc((size_t)M * N * sizeof(float));
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)N * K; i++) w[i] = (float)(i % 7) * 0.01f;
    int saved = par_max_threads();
    par_set_threads(threads);
    double *g = xmalloc((size_t)reps * sizeof(double));
    matmul_f32(o, a, w, NULL, M, K, N);  // warm-up
    for (int r = 0; r < reps; r++) {
        double t0 = timer_now();
        matmul_f32(o, a, w, NULL, M, K, N);
        g[r] = 2.0 * M * K * N / (timer_now() - t0) / 1e9;
    }
    par_set_threads(saved);
    double m = median(g, reps);
    free(g);
    free(a);
    free(w);
    free(o);
    return m;
}
