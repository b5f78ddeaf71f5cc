// linalg.h: the dense double-precision linear algebra the compressors share (GPTQ's
// inverse Hessian, pruning's least-squares refits): Cholesky factorization and solves,
// and the matrix product they are built on.
#pragma once
#include <stddef.h>

// C (M, N; row stride ldc) -= A (M, K) · B (N, K)ᵀ: rows of A and B contiguous over K
// (strides lda, ldb). Parallel over rows of C when large.
void linalg_gemm_nt_sub(double *C, size_t ldc, const double *A, size_t lda, const double *B, size_t ldb, int M, int N,
                        int K);

// A = L Lᵀ in place: L in the lower triangle (the upper is left alone). Returns -1 when
// A is not positive definite.
int linalg_cholesky(double *A, int n);

// Solves (L Lᵀ) x = b for each of the nrhs rows of B (nrhs, n), in place, with L from
// linalg_cholesky. Rows are independent (solved in parallel).
void linalg_cholesky_solve(const double *L, int n, double *B, int nrhs);
