// gptq.c: the GPTQ core and ggml's block formats as its quantizer (see gptq.h).
//
// With U the upper Cholesky factor of H⁻¹ (H⁻¹ = Uᵀ U), rounding column i of a row
// leaves an error e = (w_i - q_i) / U_ii, and the best correction of the columns not
// yet rounded is w_j -= e · U_ij (j > i). Rows are independent given U. The columns go
// in lazy batches (GPTQ's trick): within a batch each row rounds and corrects the
// batch's own columns, one row per thread; the rest of every row is corrected once per
// batch, for a panel of rows at a time, as one matrix product (errors × U's batch rows),
// so that U is streamed once per panel rather than once per handful of rows.
#include "gptq.h"
#include "../kernels/backward.h"
#include "../kernels/qlevels.h"
#include "../core/err.h"
#include "../core/linalg.h"
#include "../core/parallel.h"
#include "../core/xalloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PANEL_ROWS = 256, BATCH_COLS = 128, PRODUCT_COLS = 256 };

// U (n, n) upper with H⁻¹ = Uᵀ U, from A = J H J (H reversed in both indices; symmetric
// positive definite), which is overwritten. J A J = L Lᵀ (lower L, Cholesky of A) gives
// H = R Rᵀ with R = J L J upper, so H⁻¹ = R⁻ᵀ R⁻¹ and U = R⁻¹ = J L⁻¹ J.
static int inverse_cholesky_upper(double *A, int n, float *U) {
    if (linalg_cholesky(A, n)) return -1;
    double *Y = xmalloc((size_t)n * n * sizeof *Y);  // (L⁻¹)ᵀ: Y[k][i] = L⁻¹[i][k]
    linalg_tri_inverse_t(A, n, Y);
#pragma omp parallel for schedule(static)
    for (int a = 0; a < n; a++)  // U[a][b] = L⁻¹[n-1-a][n-1-b] = Y[n-1-b][n-1-a]
        for (int b = 0; b < n; b++) U[(size_t)a * n + b] = (float)Y[(size_t)(n - 1 - b) * n + (n - 1 - a)];
    free(Y);
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

// Columns [i1, i2) of row r (wr: the row in processing order): each rounded in turn and its
// error carried into the batch's later columns; the errors, negated, into er for the
// product that corrects the columns after the batch.
static void round_batch(const gptq_job *j, int r, float *wr, float *off, float *stp, uint8_t *lv, float *er, int i1,
                        int i2) {
    int C = j->cols, B = j->group;
    for (int i = i1; i < i2; i++) {
        int col = j->perm[i];
        const float *Ui = j->U + (size_t)i * C;
        if (j->late && i % B == 0) fit_group(j, r, wr, i / B, off, stp);
        float o = off[col], s = stp[col];
        int L = j->dead[col] ? qlevels_nearest(0.0f, o, s, j->q->max_level) : qlevels_nearest(wr[i], o, s, j->q->max_level);
        lv[col] = (uint8_t)L;
        float e = j->dead[col] ? 0.0f : (wr[i] - (o + s * (float)L)) / Ui[i];
        er[i - i1] = -e;
        for (int k = i + 1; k < i2; k++) wr[k] -= e * Ui[k];
    }
}

// Rows [r0, r0 + nr) through every batch. w, off, stp, lv: (nr, cols); E: (nr, nb).
static void gptq_panel(const gptq_job *j, const float *W, int r0, int nr, float *w, float *off, float *stp, uint8_t *lv,
                       float *E) {
    int C = j->cols, B = j->group, nb = j->nb;
#pragma omp parallel
    {
        float *nat = j->late ? NULL : xmalloc((size_t)C * sizeof *nat);
#pragma omp for schedule(static)
        for (int r = 0; r < nr; r++) {
            float *wr = w + (size_t)r * C;
            for (int i = 0; i < C; i++) wr[i] = j->dead[j->perm[i]] ? 0.0f : W[(size_t)(r0 + r) * C + j->perm[i]];
            if (j->late) continue;
            // static groups: every grid fitted up front to the original row, in natural order
            for (int i = 0; i < C; i++) nat[j->perm[i]] = wr[i];
            for (int g = 0; g < C / B; g++) fit_group(j, r0 + r, nat, g, off + (size_t)r * C, stp + (size_t)r * C);
        }
        free(nat);
    }
    for (int i1 = 0; i1 < C; i1 += nb) {
        int i2 = i1 + nb < C ? i1 + nb : C;
#pragma omp parallel for schedule(dynamic, 8)
        for (int r = 0; r < nr; r++)
            round_batch(j, r0 + r, w + (size_t)r * C, off + (size_t)r * C, stp + (size_t)r * C, lv + (size_t)r * C,
                        E + (size_t)r * nb, i1, i2);
        // w[:, i2:] += E · U[i1:i2, i2:], in column slices (each a product of its own)
        int n_slices = (C - i2 + PRODUCT_COLS - 1) / PRODUCT_COLS;
#pragma omp parallel for schedule(dynamic, 1)
        for (int sl = 0; sl < n_slices; sl++) {
            int c0 = i2 + sl * PRODUCT_COLS, nc = C - c0 < PRODUCT_COLS ? C - c0 : PRODUCT_COLS;
            gemm_f32(w + c0, C, E, nb, 1, j->U + (size_t)i1 * C + c0, C, 1, nr, nc, i2 - i1, 1);
        }
    }
#pragma omp parallel for schedule(static)
    for (int r = 0; r < nr; r++) j->q->store(j->q->user, r0 + r, lv + (size_t)r * C);
}

static int cmp_desc(const void *a, const void *b, void *h) {
    const double *d = h;
    double x = d[*(const int *)a], y = d[*(const int *)b];
    return x < y ? 1 : x > y ? -1 : (*(const int *)a - *(const int *)b);
}

int gptq_run(const gptq_grid *q, const float *W, int rows, int cols, const double *H, const gptq_opts *o, int batch) {
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
        for (int i = 0; i < C; i++) {  // H in processing order, damped, reversed in both indices
            const double *hr = H + (size_t)perm[i] * C;
            double *ar = Hd + (size_t)(C - 1 - i) * C;
            for (int k = 0; k < C; k++) ar[C - 1 - k] = dead[perm[i]] || dead[perm[k]] ? 0.0 : hr[perm[k]];
            ar[C - 1 - i] = (dead[perm[i]] ? 1.0 : ar[C - 1 - i]) + damp * mean;
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
    int P = rows < PANEL_ROWS ? rows : PANEL_ROWS;
    float *w = xmalloc((size_t)P * C * sizeof *w), *off = xmalloc((size_t)P * C * sizeof *off);
    float *stp = xmalloc((size_t)P * C * sizeof *stp), *E = xmalloc((size_t)P * nb * sizeof *E);
    uint8_t *lv = xmalloc((size_t)P * C);
    for (int r0 = 0; r0 < rows; r0 += P) gptq_panel(&j, W, r0, rows - r0 < P ? rows - r0 : P, w, off, stp, lv, E);
    free(w), free(off), free(stp), free(E), free(lv);
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

int gptq_quantize(qtype t, const float *W, int rows, int cols, const double *H, const gptq_opts *o, void *out) {
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
