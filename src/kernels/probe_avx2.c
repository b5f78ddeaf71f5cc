// probe_avx2.c: machine-limit probes for the benchmark: the FMA peak (independent
// FMA chains in registers, no memory) and a streaming read of a large buffer (the
// DRAM read bandwidth generation is bound by). Not used by the model.
#include "kernels.h"
#include <immintrin.h>

double probe_fma_avx2(long iters) {
    // 12 independent accumulators cover the FMA latency (4 cycles) × 2 pipes with room to spare.
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];  // keeps the loop alive; flops = iters * 12 * 16
}

double probe_read_avx2(const float *p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        prefetch_ahead(p + i);  // as the generation kernels read (kernels.h)
        prefetch_ahead(p + i + 16);
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}
