// matmul_backward.c: the strided product gemm_f32 (reference twin), and the matmul
// backward built on it: dinp = dout · w and dw += doutᵀ · inp (+ the bias gradient).
//
// For the forward out (BT, OC) = inp (BT, C) · w (OC, C)ᵀ + b, the two gradients are
// plain products once a is allowed to be read transposed: dinp reads dout row by row
// (sam = OC, sak = 1), dw reads it column by column (sam = 1, sak = OC).
#include "../core/pool.h"
#include "backward.h"
#include "kernels.h"


void gemm_f32_ref(float *c, int ldc, const float *a, int sam, int sak, const float *b, int sbk, int sbn, int M, int N,
                  int K, int accumulate) {
    for (int m = 0; m < M; m++) {
        float *cr = c + (size_t)m * ldc;
        if (!accumulate)
            for (int n = 0; n < N; n++) cr[n] = 0.0f;
        // row-broadcast order: each c element is summed over k in order
        for (int k = 0; k < K; k++) {
            float av = a[(size_t)m * sam + (size_t)k * sak];
            const float *br = b + (size_t)k * sbk;
            for (int n = 0; n < N; n++) cr[n] += av * br[(size_t)n * sbn];
        }
    }
}

// The products run as pool tasks over a grid of blocks of c: rows in blocks of RB (a
// multiple of 12, the AVX-512 tile height, twice the AVX2 one; at most 192, the kernels' MC)
// and columns in blocks of CB (a multiple of 32, two AVX-512 tiles, four AVX2 ones), so no
// tile is cut into slower edge tiles. Every element is summed in k order with the same
// arithmetic in any tile, so the bits do not depend on the split or the thread count
// (test_train checks splits against one call). Blocks shrink (columns first, down to 128,
// then rows, down to 48) until there are GRID_TASKS per thread: a thread kept off its core
// by another process then holds a small share of the product. Smaller blocks pack more
// (dw's a once per column block, every product's b once per row block): below 48 rows or
// 128 columns a task repacks more than it multiplies. One thread runs one call.
enum { GRID_TASKS = 8 };

typedef struct {
    float *c;
    const float *a, *b;
    int ldc, sam, sak, sbk, sbn, M, N, K, accumulate;
    int rb, cb, col_blocks;
    const float *bias;   // forward: added to each row of c
    float *db;           // dw: += Σ over k of a's column (dout summed over positions)
} grid_job;

static void grid_plan(grid_job *j) {
    int width = pool_width(), want = GRID_TASKS * width;
    if (width == 1) {  // one call: the kernel's own blocking packs least
        j->rb = j->M;
        j->cb = j->N;
        j->col_blocks = 1;
        return;
    }
    j->rb = 192;
    j->cb = (j->N + 31) / 32 * 32;
    for (;;) {
        int tasks = ((j->M + j->rb - 1) / j->rb) * ((j->N + j->cb - 1) / j->cb);
        if (tasks >= want) break;
        if (j->cb > 128) j->cb = (j->cb / 2 + 31) / 32 * 32;
        else if (j->rb > 48) j->rb /= 2;
        else break;
    }
    j->col_blocks = (j->N + j->cb - 1) / j->cb;
}

// Task = block (row block, column block), row-major: a thread's next claim is likely
// the same rows' next columns.
static void grid_task(void *ctx, int task, int worker) {
    (void)worker;
    const grid_job *j = ctx;
    int m0 = task / j->col_blocks * j->rb, n0 = task % j->col_blocks * j->cb;
    int mn = j->M - m0 < j->rb ? j->M - m0 : j->rb, nn = j->N - n0 < j->cb ? j->N - n0 : j->cb;
    kern.gemm_f32(j->c + (size_t)m0 * j->ldc + n0, j->ldc, j->a + (size_t)m0 * j->sam, j->sam, j->sak,
                  j->b + (size_t)n0 * j->sbn, j->sbk, j->sbn, mn, nn, j->K, j->accumulate);
    if (j->bias)
        for (int m = m0; m < m0 + mn; m++) {
            float *o = j->c + (size_t)m * j->ldc;
            for (int n = n0; n < n0 + nn; n++) o[n] += j->bias[n];
        }
    if (j->db && n0 == 0)  // the bias gradient of rows m0.. (output features), positions in order
        for (int k = 0; k < j->K; k++) {
            const float *d = j->a + (size_t)k * j->sak;
            for (int m = m0; m < m0 + mn; m++) j->db[m] += d[m];
        }
}

static void grid_run(grid_job *j) {
    if (j->M <= 0 || j->N <= 0) return;
    grid_plan(j);
    pool_run(((j->M + j->rb - 1) / j->rb) * j->col_blocks, grid_task, j);
}

void matmul_f32_packed(float *out, const float *inp, const float *w, const float *bias, int BT, int C, int OC) {
    if (!kern.gemm_packed) {
        kern.matmul_f32(out, inp, w, bias, BT, C, OC);
        return;
    }
    // b(k, n) = w[n·C + k]: w read transposed through the packing
    grid_job j = {.c = out, .a = inp, .b = w, .ldc = OC, .sam = C, .sak = 1, .sbk = 1, .sbn = C, .M = BT, .N = OC,
                  .K = C, .bias = bias};
    grid_run(&j);
}

void matmul_dinp_f32(float *dinp, const float *dout, const float *w, int BT, int C, int OC, int accumulate) {
    grid_job j = {.c = dinp, .a = dout, .b = w, .ldc = C, .sam = OC, .sak = 1, .sbk = C, .sbn = 1, .M = BT, .N = C,
                  .K = OC, .accumulate = accumulate};
    grid_run(&j);
}

void matmul_dw_f32(float *dw, float *db, const float *dout, const float *inp, int BT, int C, int OC) {
    grid_job j = {.c = dw, .a = dout, .b = inp, .ldc = C, .sam = 1, .sak = OC, .sbk = C, .sbn = 1, .M = OC, .N = C,
                  .K = BT, .accumulate = 1, .db = db};
    grid_run(&j);
}
