// gptq.c: the GPTQ core and ggml's block formats as its quantizer (see gptq.h).
//
// With U the upper Cholesky factor of H⁻¹ (H⁻¹ = Uᵀ U), rounding column i of a row
// leaves an error e = (w_i - q_i) / U_ii, and the best correction of the columns not
// yet rounded is w_j -= e · U_ij (j > i). Rows are independent given U, so the work
// is split into tiles of rows, each tile a few rows processed together so U is read
// once per tile; within a tile the corrections go in lazy batches of columns (the
// batch's own columns at once, the rest of the row once per batch), GPTQ's trick for
// keeping the working set small.
#include "gptq.h"
#include "../kernels/qlevels.h"
#include "../core/err.h"
#include "../core/linalg.h"
#include "../core/parallel.h"
#include "../core/xalloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { TILE_ROWS = 8, BATCH_COLS = 128 };

// U (n, n) upper with H⁻¹ = Uᵀ U, from H (n, n) symmetric positive definite.
// With J the index reversal: J H J = L Lᵀ (lower L) gives H = R Rᵀ with R = J L J
// upper, so H⁻¹ = R⁻ᵀ R⁻¹ and U = R⁻¹ = J L⁻¹ J. Column k of L⁻¹ solves L x = e_k.
static int inverse_cholesky_upper(const double *H, int n, float *U) {
    double *A = xmalloc((size_t)n * n * sizeof *A);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) A[(size_t)i * n + j] = H[(size_t)(n - 1 - i) * n + (n - 1 - j)];
    if (linalg_cholesky(A, n)) {
        free(A);
        return -1;
    }
    memset(U, 0, (size_t)n * n * sizeof *U);
#pragma omp parallel
    {
        double *x = xmalloc((size_t)n * sizeof *x);
#pragma omp for schedule(dynamic, 8)
        for (int k = 0; k < n; k++) {
            x[k] = 1.0 / A[(size_t)k * n + k];
            for (int i = k + 1; i < n; i++) {
                const double *ri = A + (size_t)i * n;
                double s = 0;
                for (int m = k; m < i; m++) s -= ri[m] * x[m];
                x[i] = s / ri[i];
            }
            for (int i = k; i < n; i++) U[(size_t)(n - 1 - i) * n + (n - 1 - k)] = (float)x[i];
        }
        free(x);
    }
    free(A);
    return 0;
}

typedef struct gptq_job {
    const gptq_grid *q;
    int cols, group, nb, late;  // late: groups fitted when reached (in natural order)
    const int *perm;      // processing order -> column
    const float *U;       // (cols, cols) in processing order
    const float *imp;     // (cols) H's diagonal, 0 for dead columns
    const uint8_t *dead;  // (cols) 1 for columns no input ever reached
} gptq_job;

// Fits group g of row r to w (cols, natural order) into off/stp (cols, natural order).
static void fit_group(const gptq_job *j, int r, const float *w, int g, float *off, float *stp) {
    size_t o = (size_t)g * j->group;
    j->q->fit(j->q->user, r, g, w + o, j->imp + o, off + o, stp + o);
}

// One tile of nr rows starting at row r0: w (nr, cols) in processing order.
static void gptq_tile(const gptq_job *j, int r0, float *w, int nr, float *off, float *stp, uint8_t *lv, float *E,
                      float *nat) {
    int C = j->cols, B = j->group, nb = j->nb;
    if (!j->late) {  // static groups: every grid fitted to the original row up front
        for (int r = 0; r < nr; r++) {
            for (int i = 0; i < C; i++) nat[j->perm[i]] = w[(size_t)r * C + i];
            for (int g = 0; g < C / B; g++) fit_group(j, r0 + r, nat, g, off + (size_t)r * C, stp + (size_t)r * C);
        }
    }
    for (int i1 = 0; i1 < C; i1 += nb) {
        int i2 = i1 + nb < C ? i1 + nb : C;
        for (int i = i1; i < i2; i++) {
            int col = j->perm[i];
            const float *Ui = j->U + (size_t)i * C;
            for (int r = 0; r < nr; r++) {
                float *wr = w + (size_t)r * C;
                if (j->late && i % B == 0) fit_group(j, r0 + r, wr, i / B, off + (size_t)r * C, stp + (size_t)r * C);
                float o = off[(size_t)r * C + col], s = stp[(size_t)r * C + col];
                int L = j->dead[col] ? qlevels_nearest(0.0f, o, s, j->q->max_level)
                                     : qlevels_nearest(wr[i], o, s, j->q->max_level);
                lv[(size_t)r * C + col] = (uint8_t)L;
                float e = j->dead[col] ? 0.0f : (wr[i] - (o + s * (float)L)) / Ui[i];
                E[(size_t)r * nb + (i - i1)] = e;
                for (int k = i + 1; k < i2; k++) wr[k] -= e * Ui[k];
            }
        }
        for (int r = 0; r < nr; r++) {
            float *wr = w + (size_t)r * C;
            for (int i = i1; i < i2; i++) {
                float e = E[(size_t)r * nb + (i - i1)];
                if (e == 0.0f) continue;
                const float *Ui = j->U + (size_t)i * C;
                for (int k = i2; k < C; k++) wr[k] -= e * Ui[k];
            }
        }
    }
    for (int r = 0; r < nr; r++) j->q->store(j->q->user, r0 + r, lv + (size_t)r * C);
}

static int cmp_desc(const void *a, const void *b, void *h) {
    const double *d = h;
    double x = d[*(const int *)a], y = d[*(const int *)b];
    return x < y ? 1 : x > y ? -1 : (*(const int *)a - *(const int *)b);
}

int gptq_run(const gptq_grid *q, float *W, int rows, int cols, const double *H, const gptq_opts *o, int batch) {
    if (q->group < 1 || cols % q->group)
        return err_set(ERR_ARG, "gptq: rows of %d columns are not whole groups of %d", cols, q->group);
    if (q->max_level < 1 || q->max_level > 255)
        return err_set(ERR_ARG, "gptq: a grid of %d levels is outside 2..256", q->max_level + 1);
    int C = cols;
    double *Hd = xmalloc((size_t)C * C * sizeof *Hd), mean = 0;
    float *imp = xmalloc((size_t)C * sizeof *imp);
    uint8_t *dead = xcalloc((size_t)C, 1);
    int *perm = xmalloc((size_t)C * sizeof *perm);
    for (int i = 0; i < C; i++) {
        double d = H[(size_t)i * C + i];
        dead[i] = !(d > 0);
        imp[i] = dead[i] ? 0.0f : (float)d;
        mean += dead[i] ? 1.0 : d;
        perm[i] = i;
    }
    mean /= C;
    if (o->act_order) {
        double *diag = xmalloc((size_t)C * sizeof *diag);
        for (int i = 0; i < C; i++) diag[i] = dead[i] ? -1.0 : H[(size_t)i * C + i];
        qsort_r(perm, (size_t)C, sizeof *perm, cmp_desc, diag);
        free(diag);
    }
    double damp = o->damp > 0 ? o->damp : 0.01;
    float *U = xmalloc((size_t)C * C * sizeof *U);
    int ok = 0;
    for (int attempt = 0; attempt < 6 && !ok; attempt++, damp *= 10) {
        for (int i = 0; i < C; i++) {
            const double *hr = H + (size_t)perm[i] * C;
            for (int k = 0; k < C; k++) Hd[(size_t)i * C + k] = dead[perm[i]] || dead[perm[k]] ? 0.0 : hr[perm[k]];
            Hd[(size_t)i * C + i] = (dead[perm[i]] ? 1.0 : Hd[(size_t)i * C + i]) + damp * mean;
        }
        ok = inverse_cholesky_upper(Hd, C, U) == 0;
    }
    free(Hd);
    if (!ok) {
        free(imp), free(dead), free(perm), free(U);
        return err_set(ERR_ARG, "gptq: the calibration Hessian (%d x %d) is not positive definite even with damping %.3g",
                       C, C, damp / 10);
    }
    // Lazy batches: a group fitted when reached must lie within one batch, so that its
    // values have every earlier column's correction when it is fitted.
    int late = q->fit_when_reached && !o->act_order, B = q->group, nb = batch > 0 ? batch : BATCH_COLS;
    if (late) nb = (nb + B - 1) / B * B;
    gptq_job j = {q, C, B, nb, late, perm, U, imp, dead};
    int n_tiles = (rows + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel
    {
        float *w = xmalloc((size_t)TILE_ROWS * C * sizeof *w), *off = xmalloc((size_t)TILE_ROWS * C * sizeof *off);
        float *stp = xmalloc((size_t)TILE_ROWS * C * sizeof *stp), *nat = xmalloc((size_t)C * sizeof *nat);
        float *E = xmalloc((size_t)TILE_ROWS * nb * sizeof *E);
        uint8_t *lv = xmalloc((size_t)TILE_ROWS * C);
#pragma omp for schedule(dynamic, 1)
        for (int tile = 0; tile < n_tiles; tile++) {
            int r0 = tile * TILE_ROWS, nr = rows - r0 < TILE_ROWS ? rows - r0 : TILE_ROWS;
            for (int r = 0; r < nr; r++)
                for (int i = 0; i < C; i++) w[(size_t)r * C + i] = dead[perm[i]] ? 0.0f : W[(size_t)(r0 + r) * C + perm[i]];
            gptq_tile(&j, r0, w, nr, off, stp, lv, E, nat);
        }
        free(w), free(off), free(stp), free(nat), free(E), free(lv);
    }
    free(imp), free(dead), free(perm), free(U);
    return 0;
}

// --- ggml's block formats as a grid quantizer: a group is a block; fitting runs the
// format's own scale search (weighted by H's diagonal) and writes the block's scales
// into the output row; storing writes the levels into the blocks.
typedef struct ggml_grid {
    qtype t;
    size_t row_bytes, block_bytes;
    char *out;
} ggml_grid;

static void ggml_fit(void *user, int r, int g, const float *w, const float *imp, float *off, float *stp) {
    const ggml_grid *q = user;
    int B = qtype_get((int)q->t)->block;
    char *blk = q->out + (size_t)r * q->row_bytes + (size_t)g * q->block_bytes;
    CHECK(quantize_rows(q->t, w, blk, 1, B, imp) == 0);
    qlevels_grid(q->t, blk, off, stp);
}

static void ggml_store(void *user, int r, const uint8_t *levels) {
    const ggml_grid *q = user;
    int B = qtype_get((int)q->t)->block;
    for (size_t g = 0; g < q->row_bytes / q->block_bytes; g++)
        qlevels_set(q->t, q->out + (size_t)r * q->row_bytes + g * q->block_bytes, levels + g * (size_t)B);
}

int gptq_quantize(qtype t, float *W, int rows, int cols, const double *H, const gptq_opts *o, void *out) {
    const qtype_info *q = qtype_get((int)t);
    int bits = qlevels_bits(t);
    if (!q || !bits) return err_set(ERR_ARG, "gptq: %s has no quantization levels to round to", q ? q->name : "type");
    if (cols % q->block) return err_set(ERR_ARG, "gptq: %s needs rows that are multiples of %d, not %d", q->name, q->block, cols);
    ggml_grid g = {t, qtype_row_bytes(t, (size_t)cols), (size_t)q->bytes, out};
    gptq_grid grid = {q->block, (1 << bits) - 1, 1, ggml_fit, ggml_store, &g};
    return gptq_run(&grid, W, rows, cols, H, o, 0);
}

double gptq_output_error(qtype t, const float *W, int rows, int cols, const double *H, const void *q) {
    size_t rb = qtype_row_bytes(t, (size_t)cols);
    double total = 0, tr = 0;
    for (int i = 0; i < cols; i++) tr += H[(size_t)i * cols + i];
#pragma omp parallel reduction(+ : total)
    {
        float *d = xmalloc((size_t)cols * sizeof *d);
        double *e = xmalloc((size_t)cols * sizeof *e);
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            dequantize_row(t, (const char *)q + (size_t)r * rb, d, (size_t)cols);
            for (int i = 0; i < cols; i++) e[i] = (double)d[i] - W[(size_t)r * cols + i];
            for (int i = 0; i < cols; i++) {
                const double *hr = H + (size_t)i * cols;
                double s = 0;
                for (int k = 0; k < cols; k++) s += hr[k] * e[k];
                total += e[i] * s;
            }
        }
        free(d), free(e);
    }
    return tr > 0 ? total / tr : total;
}
