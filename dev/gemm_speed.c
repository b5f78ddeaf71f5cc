// dev/gemm_speed.c: quick GFLOP/s check of the dispatched matmul on GPT-2-124M shapes.
// cc -O2 -fopenmp -Isrc dev/gemm_speed.c build/libshrink.a -lm -o /tmp/gemm_speed
#include "core/parallel.h"
#include "core/timer.h"
#include "core/xalloc.h"
#include "kernels/kernels.h"
#include <stdio.h>
#include <stdlib.h>

#ifndef ALLOC  // -DALLOC(n)=... to try other allocations (e.g. 64-byte aligned)
#define ALLOC(n) xmalloc(n)
#endif

int main(int argc, char **argv) {
    kernels_init();
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    par_set_threads(threads);
    int shapes[][3] = {{128, 768, 2304}, {128, 768, 768}, {128, 768, 3072}, {128, 3072, 768}, {128, 768, 50257}, {1, 768, 3072}, {1, 3072, 768}, {1, 768, 50257}};
    for (int s = 0; s < 8; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *a = ALLOC((size_t)M * K * 4), *w = ALLOC((size_t)N * K * 4), *o = ALLOC((size_t)M * N * 4);
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)N * K; i++) w[i] = (float)(i % 5) * 0.1f;
        double best = 1e9;
        int reps = M == 1 ? 50 : 5;
        for (int r = 0; r < reps; r++) {
            double t0 = timer_now();
            kern.matmul_f32(o, a, w, NULL, M, K, N);
            double dt = timer_now() - t0;
            if (dt < best) best = dt;
        }
        printf("%s M=%d K=%d N=%d: %.1f GFLOP/s, %.1f GB/s weights, %.3f ms\n", kern.isa, M, K, N,
               2.0 * M * K * N / best / 1e9, (double)N * K * 4 / best / 1e9, best * 1e3);
        free(a); free(w); free(o);
    }
}
