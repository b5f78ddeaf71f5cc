// probe_avx512.c: the AVX-512 FMA peak, for the benchmark's "% of peak" on CPUs that have it.
#include "kernels.h"
#include <immintrin.h>

double probe_fma_avx512(long iters) {
    // 16 independent chains: enough for 2 FMA pipes × 4 cycles latency with room to spare.
    __m512 a[16], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}
