// linalg.c: Cholesky factorization and solves (see linalg.h).
#include "linalg.h"
#include <math.h>
#include "xalloc.h"
#include <stddef.h>
#include <stdlib.h>

int linalg_cholesky(double *A, int n) {
    for (int j = 0; j < n; j++) {
        double *rj = A + (size_t)j * n, d = rj[j];
        for (int k = 0; k < j; k++) d -= rj[k] * rj[k];
        if (!(d > 0)) return -1;
        rj[j] = sqrt(d);
        double inv = 1.0 / rj[j];
        // A parallel region per column only pays when the column's work is large: short
        // regions spend their time in barriers (badly so when another process has a core).
#pragma omp parallel for schedule(static) if ((double)(n - j) * j > 4e6)
        for (int i = j + 1; i < n; i++) {
            double *ri = A + (size_t)i * n, s = ri[j];
            for (int k = 0; k < j; k++) s -= ri[k] * rj[k];
            ri[j] = s * inv;
        }
    }
    return 0;
}

// Right-hand sides go in blocks of RHS_BLOCK, stored across (x[i][0..RHS_BLOCK)), so each
// row of L read from memory serves the whole block and the innermost loop is over the
// block (vectorizable without reassociating a sum). One RHS at a time streamed L, which
// does not fit in cache for the sizes pruning solves, twice per right-hand side.
enum { RHS_BLOCK = 8 };

void linalg_cholesky_solve(const double *L, int n, double *B, int nrhs) {
    if (n <= 0 || nrhs <= 0) return;
    double *U = xmalloc((size_t)n * n * sizeof *U);  // Lᵀ, so the backward pass reads rows too
    for (int i = 0; i < n; i++)
        for (int k = 0; k <= i; k++) U[(size_t)k * n + i] = L[(size_t)i * n + k];
    int nblocks = (nrhs + RHS_BLOCK - 1) / RHS_BLOCK;
#pragma omp parallel for schedule(dynamic, 1) if ((double)nrhs * n * n > 1e6)
    for (int blk = 0; blk < nblocks; blk++) {
        int r0 = blk * RHS_BLOCK, nb = nrhs - r0 < RHS_BLOCK ? nrhs - r0 : RHS_BLOCK;
        double *x = xcalloc((size_t)n * RHS_BLOCK, sizeof *x), s[RHS_BLOCK];
        for (int j = 0; j < nb; j++)
            for (int i = 0; i < n; i++) x[(size_t)i * RHS_BLOCK + j] = B[(size_t)(r0 + j) * n + i];
        for (int i = 0; i < n; i++) {  // L y = b
            const double *li = L + (size_t)i * n;
            for (int j = 0; j < RHS_BLOCK; j++) s[j] = x[(size_t)i * RHS_BLOCK + j];
            for (int k = 0; k < i; k++)
                for (int j = 0; j < RHS_BLOCK; j++) s[j] -= li[k] * x[(size_t)k * RHS_BLOCK + j];
            for (int j = 0; j < RHS_BLOCK; j++) x[(size_t)i * RHS_BLOCK + j] = s[j] / li[i];
        }
        for (int i = n - 1; i >= 0; i--) {  // Lᵀ x = y
            const double *ui = U + (size_t)i * n;
            for (int j = 0; j < RHS_BLOCK; j++) s[j] = x[(size_t)i * RHS_BLOCK + j];
            for (int k = i + 1; k < n; k++)
                for (int j = 0; j < RHS_BLOCK; j++) s[j] -= ui[k] * x[(size_t)k * RHS_BLOCK + j];
            for (int j = 0; j < RHS_BLOCK; j++) x[(size_t)i * RHS_BLOCK + j] = s[j] / ui[i];
        }
        for (int j = 0; j < nb; j++)
            for (int i = 0; i < n; i++) B[(size_t)(r0 + j) * n + i] = x[(size_t)i * RHS_BLOCK + j];
        free(x);
    }
    free(U);
}
