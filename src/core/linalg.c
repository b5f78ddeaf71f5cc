// linalg.c: Cholesky factorization and solves (see linalg.h).
#include "linalg.h"
#include <math.h>
#include <stddef.h>

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

void linalg_cholesky_solve(const double *L, int n, double *B, int nrhs) {
#pragma omp parallel for schedule(static) if ((double)nrhs * n * n > 1e6)
    for (int r = 0; r < nrhs; r++) {
        double *x = B + (size_t)r * n;
        for (int i = 0; i < n; i++) {  // L y = b
            const double *li = L + (size_t)i * n;
            double s = x[i];
            for (int k = 0; k < i; k++) s -= li[k] * x[k];
            x[i] = s / li[i];
        }
        for (int i = n - 1; i >= 0; i--) {  // Lᵀ x = y
            double s = x[i];
            for (int k = i + 1; k < n; k++) s -= L[(size_t)k * n + i] * x[k];
            x[i] = s / L[(size_t)i * n + i];
        }
    }
}
