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

// The products run as pool tasks over runs of rows of c (in 12-row units: the AVX-512 tile
// height, twice the AVX2 one, so no tile is cut into slower edge tiles). Every element is
// summed in k order with the same arithmetic in any tile, so the bits depend neither on the
// split nor on the thread count (test_train checks splits against one call). One thread
// runs one call.
// - forward and dinp (rows = positions): pool_guided's runs, largest first, at least 48
//   rows, so on an idle machine the threads finish together on small runs, and a thread
//   kept off its core by another process holds a small share. With too few runs to share
//   (short batches) each run is cut into column blocks of at least 128 (multiples of 32).
// - dw (rows = output features, k = positions, thousands): equal runs, a multiple of the
//   width, of at least 384 rows. Within a call the kernel packs b (the inputs) once per 192
//   rows and reuses it from L2 for the next 192, and each k block of dw's long sum is one
//   pass over b: shorter runs stream b from memory again per run (measured: dw 10-20%
//   slower at 48-192-row runs, at GPT-2-124M's and models/mini's shapes).
enum { ROW_UNIT = 12, MIN_ROW_UNITS = 4, DW_ROW_UNITS = 32, MIN_COLS = 128 };

typedef struct {
    float *c;
    const float *a, *b;
    int ldc, sam, sak, sbk, sbn, M, N, K, accumulate;
    int equal_runs;      // dw: equal runs of at least DW_ROW_UNITS, no column blocks
    const float *bias;   // forward: added to each row of c
    float *db;           // dw: += Σ over k of a's column (dout summed over positions)
    int cb, col_blocks, rows[POOL_MAX_TASKS + 1];  // column block width; row runs in ROW_UNITs
} grid_job;

// Returns the task count: row runs × column blocks.
static int grid_plan(grid_job *j) {
    int width = pool_width(), units = (j->M + ROW_UNIT - 1) / ROW_UNIT, runs;
    j->cb = j->N, j->col_blocks = 1;
    if (width == 1) {  // one call: the kernel's own blocking packs least
        j->rows[0] = 0, j->rows[1] = units;
        return 1;
    }
    if (j->equal_runs) {
        int per_thread = units / (DW_ROW_UNITS * width);
        runs = width * (per_thread > 1 ? per_thread : 1);
        if (runs > POOL_MAX_TASKS) runs = POOL_MAX_TASKS;
        if (runs > units) runs = units;
        for (int i = 0; i <= runs; i++) j->rows[i] = (int)((long)units * i / runs);
        return runs;
    }
    runs = pool_guided(units, MIN_ROW_UNITS, j->rows, POOL_MAX_TASKS);
    if (runs < 2 * width) {
        int want = (2 * width + runs - 1) / runs, most = (j->N + MIN_COLS - 1) / MIN_COLS;
        j->col_blocks = want < most ? want : most;
        j->cb = ((j->N + j->col_blocks - 1) / j->col_blocks + 31) / 32 * 32;
        j->col_blocks = (j->N + j->cb - 1) / j->cb;
    }
    return runs * j->col_blocks;
}

// Task = (row run, column block), row-major: a thread's next claim is likely the same
// rows' next columns.
static void grid_task(void *ctx, int task, int worker) {
    (void)worker;
    const grid_job *j = ctx;
    int r = task / j->col_blocks, n0 = task % j->col_blocks * j->cb;
    int m0 = j->rows[r] * ROW_UNIT, m1 = j->rows[r + 1] * ROW_UNIT < j->M ? j->rows[r + 1] * ROW_UNIT : j->M;
    int mn = m1 - m0, nn = j->N - n0 < j->cb ? j->N - n0 : j->cb;
    kern.gemm_f32(j->c + (size_t)m0 * j->ldc + n0, j->ldc, j->a + (size_t)m0 * j->sam, j->sam, j->sak,
                  j->b + (size_t)n0 * j->sbn, j->sbk, j->sbn, mn, nn, j->K, j->accumulate);
    if (j->bias)
        for (int m = m0; m < m1; m++) {
            float *o = j->c + (size_t)m * j->ldc;
            for (int n = n0; n < n0 + nn; n++) o[n] += j->bias[n];
        }
    if (j->db && n0 == 0)  // dw: the bias gradient of rows m0..m1 (output features), positions in order
        for (int k = 0; k < j->K; k++) {
            const float *d = j->a + (size_t)k * j->sak;
            for (int m = m0; m < m1; m++) j->db[m] += d[m];
        }
}

static void grid_run(grid_job *j) {
    if (j->M <= 0 || j->N <= 0) return;
    pool_run(grid_plan(j), grid_task, j);
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
                  .K = BT, .accumulate = 1, .equal_runs = 1, .db = db};
    grid_run(&j);
}
