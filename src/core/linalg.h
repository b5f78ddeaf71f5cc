// linalg.h: the dense double-precision linear algebra the compressors share (GPTQ's
// inverse Hessian, pruning's least-squares refits, low-rank factorizations): Cholesky
// factorization and solves, the symmetric eigendecomposition, and the matrix product
// they are built on.
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

// Y (n, n) = (L⁻¹)ᵀ, upper triangular (zero below the diagonal), for L from
// linalg_cholesky (only its lower triangle is read): row k of Y is column k of L⁻¹.
void linalg_tri_inverse_t(const double *L, int n, double *Y);

// Eigendecomposition of the symmetric A (n, n; both triangles read): on return w holds the
// eigenvalues in descending order and row i of A the unit eigenvector of w[i]. Returns -1
// (A then undefined) if the iteration does not converge, which for finite input it does.
int linalg_sym_eig(double *A, int n, double *w);
