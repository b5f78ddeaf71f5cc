// qmatmul_avx2.c: the AVX2 twin of qmatmul_ref.c. No batch micro-kernel: each activation
// row goes through the per-row AVX2 qdot (qdot_avx2.c), over panels of NB weight rows
// so that a panel stays in cache while all T rows meet it. Threads take panels in turn;
// each output is one qdot, so the result does not depend on the thread count.
#include "kernels.h"
#include "qblock.h"
#include "../core/pool.h"
#include "matmul_job.h"

#define NB 64  // weight rows per panel (a 3072-wide Q8_0 panel is about 200 KB)

static void panels_task(void *ctx, int task, int worker) {
    (void)worker;
    const matmul_job *j = ctx;
    const block_q8_0 *x = j->in;
    for (int p = j->bounds[task]; p < j->bounds[task + 1]; p++) {
        int n0 = p * NB, n1 = n0 + NB < j->n_out ? n0 + NB : j->n_out;
        for (int i = 0; i < j->rows; i++)
            qdot_q8_avx2(j->out + (size_t)i * j->n_out, x + (size_t)i * (j->k / 32), j->w, j->t, j->bias, j->k, n0, n1);
    }
}

void qmatmul_q8_avx2(float *out, const void *xq, const void *w, qtype t, const float *bias, int T, int K, int N) {
    int bounds[POOL_MAX_TASKS + 1];
    int tasks = pool_guided((N + NB - 1) / NB, 1, bounds, POOL_MAX_TASKS);
    matmul_job j = {out, xq, w, t, bias, T, K, N, bounds};
    pool_run(tasks, panels_task, &j);
}
