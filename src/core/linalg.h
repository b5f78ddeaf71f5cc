// linalg.h: the dense double-precision linear algebra the compressors share (GPTQ's
// inverse Hessian, pruning's least-squares refits): Cholesky factorization and solves.
#pragma once

// A = L Lᵀ in place: L in the lower triangle (the upper is left alone). Returns -1 when
// A is not positive definite.
int linalg_cholesky(double *A, int n);

// Solves (L Lᵀ) x = b for each of the nrhs rows of B (nrhs, n), in place, with L from
// linalg_cholesky. Rows are independent (solved in parallel).
void linalg_cholesky_solve(const double *L, int n, double *B, int nrhs);
