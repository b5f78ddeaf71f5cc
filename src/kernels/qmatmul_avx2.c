// qmatmul_avx2.c: the AVX2 twin of qmatmul_ref.c. No batch micro-kernel: each activation
// row goes through the per-row AVX2 qdot (qdot_avx2.c), over panels of NB weight rows
// so that a panel stays in cache while all T rows meet it. Threads split the panels;
// each output is one qdot, so the result does not depend on the thread count.
#include "kernels.h"
#include "qblock.h"
#include "../core/parallel.h"

#define NB 64  // weight rows per panel (a 3072-wide Q8_0 panel is about 200 KB)

void qmatmul_q8_avx2(float *out, const void *xq, const void *w, qtype t, const float *bias, int T, int K, int N) {
    const block_q8_0 *x = xq;
    int panels = (N + NB - 1) / NB;
#pragma omp parallel
    {
        int nth = par_num_threads(), ith = par_thread_id();
        for (int p = panels * ith / nth; p < panels * (ith + 1) / nth; p++) {
            int n0 = p * NB, n1 = n0 + NB < N ? n0 + NB : N;
            for (int i = 0; i < T; i++) qdot_q8_avx2(out + (size_t)i * N, x + (size_t)i * (K / 32), w, t, bias, K, n0, n1);
        }
    }
}
