// linalg.c: Cholesky factorization and solves (see linalg.h).
//
// Both are blocked so that nearly all the work is one kernel, C -= A·Bᵀ over rows that
// are contiguous in memory (gemm_nt_sub): the pruning refits factor and solve systems of
// up to a few thousand unknowns, whose matrices do not fit in cache, and the unblocked
// column-by-column loops were bound by memory (streaming the whole factor once per column).
#include "linalg.h"
#include <float.h>
#include <math.h>
#include "xalloc.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum { NB = 64, KC = 256 };  // block columns of the factorizations; inner-dimension panel of the kernel

// 4 rows of A against 4 rows of B over k in [0, K): s[i][j] = Σ a_i[k]·b_j[k]. The simd
// reduction lets the compiler split each sum into vector lanes (a fixed order per binary).
static void dot4x4(const double *a, size_t lda, const double *b, size_t ldb, int K, double s[4][4]) {
    const double *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda;
    const double *b0 = b, *b1 = b + ldb, *b2 = b + 2 * ldb, *b3 = b + 3 * ldb;
    double s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    double s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
#pragma omp simd reduction(+ : s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33)
    for (int k = 0; k < K; k++) {
        double x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k], y0 = b0[k], y1 = b1[k], y2 = b2[k], y3 = b3[k];
        s00 += x0 * y0, s01 += x0 * y1, s02 += x0 * y2, s03 += x0 * y3;
        s10 += x1 * y0, s11 += x1 * y1, s12 += x1 * y2, s13 += x1 * y3;
        s20 += x2 * y0, s21 += x2 * y1, s22 += x2 * y2, s23 += x2 * y3;
        s30 += x3 * y0, s31 += x3 * y1, s32 += x3 * y2, s33 += x3 * y3;
    }
    s[0][0] = s00, s[0][1] = s01, s[0][2] = s02, s[0][3] = s03, s[1][0] = s10, s[1][1] = s11, s[1][2] = s12, s[1][3] = s13;
    s[2][0] = s20, s[2][1] = s21, s[2][2] = s22, s[2][3] = s23, s[3][0] = s30, s[3][1] = s31, s[3][2] = s32, s[3][3] = s33;
}

static double dot(const double *a, const double *b, int K) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int k = 0; k < K; k++) s += a[k] * b[k];
    return s;
}

// Rows of C go to threads in blocks of four; K in panels of KC so the rows stay in cache.
void linalg_gemm_nt_sub(double *C, size_t ldc, const double *A, size_t lda, const double *B, size_t ldb, int M, int N,
                        int K) {
    if (M <= 0 || N <= 0 || K <= 0) return;
    int mb = (M + 3) / 4;
#pragma omp parallel for schedule(static) if ((double)M * N * K > 2e6)
    for (int ib = 0; ib < mb; ib++) {
        int i0 = ib * 4, mi = M - i0 < 4 ? M - i0 : 4;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            for (int j0 = 0; j0 < N; j0 += 4) {
                int nj = N - j0 < 4 ? N - j0 : 4;
                double s[4][4];
                if (mi == 4 && nj == 4) {
                    dot4x4(A + (size_t)i0 * lda + k0, lda, B + (size_t)j0 * ldb + k0, ldb, kc, s);
                } else {
                    for (int i = 0; i < mi; i++)
                        for (int j = 0; j < nj; j++)
                            s[i][j] = dot(A + (size_t)(i0 + i) * lda + k0, B + (size_t)(j0 + j) * ldb + k0, kc);
                }
                for (int i = 0; i < mi; i++)
                    for (int j = 0; j < nj; j++) C[(size_t)(i0 + i) * ldc + j0 + j] -= s[i][j];
            }
        }
    }
}

// Left-looking by blocks of NB columns: the block column is updated by everything to its
// left (one gemm), its diagonal block factored, and the rows below solved against it.
int linalg_cholesky(double *A, int n) {
    double *T = xmalloc((size_t)NB * NB * sizeof *T);
    int rc = 0;
    for (int j0 = 0; j0 < n && !rc; j0 += NB) {
        int jb = n - j0 < NB ? n - j0 : NB, j1 = j0 + jb;
        // The diagonal block through a scratch copy, so nothing above the diagonal is written.
        memset(T, 0, (size_t)jb * jb * sizeof *T);
        linalg_gemm_nt_sub(T, (size_t)jb, A + (size_t)j0 * n, (size_t)n, A + (size_t)j0 * n, (size_t)n, jb, jb, j0);
        for (int i = 0; i < jb; i++)
            for (int j = 0; j <= i; j++) A[(size_t)(j0 + i) * n + j0 + j] += T[(size_t)i * jb + j];
        linalg_gemm_nt_sub(A + (size_t)j1 * n + j0, (size_t)n, A + (size_t)j1 * n, (size_t)n, A + (size_t)j0 * n, (size_t)n,
                    n - j1, jb, j0);
        for (int j = j0; j < j1; j++) {  // the diagonal block, unblocked
            double *rj = A + (size_t)j * n;
            double d = rj[j] - dot(rj + j0, rj + j0, j - j0);
            if (!(d > 0)) {
                rc = -1;
                break;
            }
            rj[j] = sqrt(d);
            for (int i = j + 1; i < j1; i++) {
                double *ri = A + (size_t)i * n;
                ri[j] = (ri[j] - dot(ri + j0, rj + j0, j - j0)) / rj[j];
            }
        }
        if (rc) break;
#pragma omp parallel for schedule(static) if ((double)(n - j1) * jb * jb > 1e6)
        for (int i = j1; i < n; i++) {  // the rows below: x Lᵀ_block = a
            double *ri = A + (size_t)i * n;
            for (int j = j0; j < j1; j++) {
                const double *rj = A + (size_t)j * n;
                ri[j] = (ri[j] - dot(ri + j0, rj + j0, j - j0)) / rj[j];
            }
        }
    }
    free(T);
    return rc;
}

// Every row b of B: L y = b, then Lᵀ x = y, by blocks of NB unknowns: the block's right-hand
// sides lose what the solved unknowns contribute (one gemm over all rows of B), then each
// row solves the small triangle.
void linalg_cholesky_solve(const double *L, int n, double *B, int nrhs) {
    if (n <= 0 || nrhs <= 0) return;
    double *U = xmalloc((size_t)n * n * sizeof *U);  // Lᵀ, so the backward pass reads rows too
    for (int i = 0; i < n; i++)
        for (int k = 0; k <= i; k++) U[(size_t)k * n + i] = L[(size_t)i * n + k];
    for (int j0 = 0; j0 < n; j0 += NB) {  // L y = b
        int j1 = j0 + NB < n ? j0 + NB : n;
        linalg_gemm_nt_sub(B + j0, (size_t)n, B, (size_t)n, L + (size_t)j0 * n, (size_t)n, nrhs, j1 - j0, j0);
#pragma omp parallel for schedule(static) if ((double)nrhs * NB * NB > 1e6)
        for (int r = 0; r < nrhs; r++) {
            double *y = B + (size_t)r * n;
            for (int j = j0; j < j1; j++) {
                const double *lj = L + (size_t)j * n;
                y[j] = (y[j] - dot(lj + j0, y + j0, j - j0)) / lj[j];
            }
        }
    }
    for (int j1 = n; j1 > 0; j1 -= NB) {  // Lᵀ x = y, from the last block
        int j0 = j1 - NB > 0 ? j1 - NB : 0;
        linalg_gemm_nt_sub(B + j0, (size_t)n, B + j1, (size_t)n, U + (size_t)j0 * n + j1, (size_t)n, nrhs, j1 - j0, n - j1);
#pragma omp parallel for schedule(static) if ((double)nrhs * NB * NB > 1e6)
        for (int r = 0; r < nrhs; r++) {
            double *x = B + (size_t)r * n;
            for (int j = j1 - 1; j >= j0; j--) {
                const double *uj = U + (size_t)j * n;
                x[j] = (x[j] - dot(uj + j + 1, x + j + 1, j1 - 1 - j)) / uj[j];
            }
        }
    }
    free(U);
}

// X = L⁻¹ by block rows I: L_II X_I = E_I − L_I,<I · X_<I. Each block column J of the block
// row is independent (its own gemm against Y's rows, which are X's columns, then a forward
// substitution down the diagonal block), so block columns go to threads. Column by column
// (x solving L x = e_k), each column streamed half of L: memory bound at GPTQ's sizes.
void linalg_tri_inverse_t(const double *L, int n, double *Y) {
    if (n <= 0) return;
    memset(Y, 0, (size_t)n * n * sizeof *Y);
    double *T = xmalloc((size_t)NB * n * sizeof *T);  // the block row I of X, row stride n
    for (int i0 = 0; i0 < n; i0 += NB) {
        int ib = n - i0 < NB ? n - i0 : NB, i1 = i0 + ib, nj = (i1 + NB - 1) / NB;
#pragma omp parallel for schedule(dynamic, 1) if ((double)ib * i1 * i0 > 1e6)
        for (int jb = 0; jb < nj; jb++) {
            int j0 = jb * NB, jw = i1 - j0 < NB ? i1 - j0 : NB;
            for (int i = 0; i < ib; i++)
                for (int j = 0; j < jw; j++) T[(size_t)i * n + j0 + j] = i0 + i == j0 + j;
            if (j0 < i0)  // Y's rows hold zeros left of the diagonal, so K can start at j0
                linalg_gemm_nt_sub(T + j0, (size_t)n, L + (size_t)i0 * n + j0, (size_t)n, Y + (size_t)j0 * n + j0,
                                   (size_t)n, ib, jw, i0 - j0);
            for (int i = 0; i < ib; i++) {
                double *ti = T + (size_t)i * n + j0;
                const double *li = L + (size_t)(i0 + i) * n + i0;
                for (int m = 0; m < i; m++) {
                    const double *tm = T + (size_t)m * n + j0, f = li[m];
                    for (int j = 0; j < jw; j++) ti[j] -= f * tm[j];
                }
                for (int j = 0; j < jw; j++) ti[j] /= li[i];
            }
            for (int i = 0; i < ib; i++)
                for (int j = 0; j < jw; j++) Y[(size_t)(j0 + j) * n + i0 + i] = T[(size_t)i * n + j0 + j];
        }
    }
    free(T);
}

// Householder reduction to tridiagonal form, T = Qᵀ A Q, then the implicit QL algorithm
// with Wilkinson's shift on T (Golub & Van Loan 8.3), the rotations applied to Qᵀ's rows
// so that the eigenvectors come out as rows (the layout every caller here wants).
int linalg_sym_eig(double *A, int n, double *w) {
    if (n <= 0) return 0;
    double *Z = xcalloc((size_t)n * n, sizeof *Z);  // Qᵀ, then the eigenvectors as rows
    double *e = xcalloc((size_t)n, sizeof *e), *v = xmalloc((size_t)n * sizeof *v), *p = xmalloc((size_t)n * sizeof *p);
    double *zrow = xmalloc((size_t)n * sizeof *zrow);
    for (int i = 0; i < n; i++) Z[(size_t)i * n + i] = 1.0;
    for (int k = 0; k + 2 < n; k++) {
        // v zeroes A[k+2.., k]: H = I − β v vᵀ on indices k+1..n-1.
        int m = n - k - 1;
        double *x = v + k + 1, norm = 0;
        for (int i = 0; i < m; i++) x[i] = A[(size_t)(k + 1 + i) * n + k], norm += x[i] * x[i];
        norm = sqrt(norm);
        if (norm == 0.0) {
            e[k] = 0.0;
            continue;
        }
        double alpha = x[0] > 0 ? -norm : norm;  // the sign that avoids cancellation
        x[0] -= alpha;
        double vv = 0;
        for (int i = 0; i < m; i++) vv += x[i] * x[i];
        double beta = 2.0 / vv;
        e[k] = alpha;
        // Trailing block A22 ← H A22 H = A22 − v qᵀ − q vᵀ, q = p − (β/2)(pᵀv) v, p = β A22 v.
        double pv = 0;
#pragma omp parallel for reduction(+ : pv) if (m > 256)
        for (int i = 0; i < m; i++) {
            const double *row = A + (size_t)(k + 1 + i) * n + k + 1;
            double s = 0;
            for (int j = 0; j < m; j++) s += row[j] * x[j];
            p[i] = beta * s;
            pv += p[i] * x[i];
        }
        double K = 0.5 * beta * pv;
        for (int i = 0; i < m; i++) p[i] -= K * x[i];
#pragma omp parallel for if (m > 256)
        for (int i = 0; i < m; i++) {
            double *row = A + (size_t)(k + 1 + i) * n + k + 1;
            for (int j = 0; j < m; j++) row[j] -= x[i] * p[j] + p[i] * x[j];
        }
        // Qᵀ ← H Qᵀ on rows k+1..n-1: Z −= β v (vᵀ Z).
        memset(zrow, 0, (size_t)n * sizeof *zrow);
        for (int i = 0; i < m; i++) {
            const double *zr = Z + (size_t)(k + 1 + i) * n;
            for (int j = 0; j < n; j++) zrow[j] += x[i] * zr[j];
        }
        for (int i = 0; i < m; i++) {
            double *zr = Z + (size_t)(k + 1 + i) * n, f = beta * x[i];
            for (int j = 0; j < n; j++) zr[j] -= f * zrow[j];
        }
    }
    if (n >= 2) e[n - 2] = A[(size_t)(n - 1) * n + n - 2];
    for (int i = 0; i < n; i++) w[i] = A[(size_t)i * n + i];
    e[n - 1] = 0.0;
    // QL on (w, e): e[i] couples i and i+1. An e below rounding of the whole matrix's norm
    // splits it (relative to |w[m]| + |w[m+1]| alone, a cluster of zero eigenvalues never would).
    double anorm = 0;
    for (int i = 0; i < n; i++) anorm = fmax(anorm, fabs(w[i]) + fabs(e[i]) + (i ? fabs(e[i - 1]) : 0));
    int rc = 0;
    for (int l = 0; l < n && !rc; l++) {
        for (int iter = 0;; iter++) {
            int m = l;
            for (; m < n - 1; m++) {
                if (fabs(e[m]) <= DBL_EPSILON * anorm) break;
            }
            if (m == l) break;
            if (iter == 60) {
                rc = -1;
                break;
            }
            double g = (w[l + 1] - w[l]) / (2.0 * e[l]), r = hypot(g, 1.0);
            g = w[m] - w[l] + e[l] / (g + (g >= 0 ? r : -r));
            double s = 1.0, c = 1.0, pp = 0.0;
            int i = m - 1;
            for (; i >= l; i--) {
                double f = s * e[i], b = c * e[i];
                r = hypot(f, g);
                e[i + 1] = r;
                if (r == 0.0) {  // underflow: split here and go again
                    w[i + 1] -= pp;
                    e[m] = 0.0;
                    break;
                }
                s = f / r, c = g / r;
                g = w[i + 1] - pp;
                r = (w[i] - g) * s + 2.0 * c * b;
                pp = s * r;
                w[i + 1] = g + pp;
                g = c * r - b;
                double *z0 = Z + (size_t)i * n, *z1 = z0 + n;
                for (int j = 0; j < n; j++) {
                    double a0 = z0[j], a1 = z1[j];
                    z1[j] = s * a0 + c * a1;
                    z0[j] = c * a0 - s * a1;
                }
            }
            if (r == 0.0 && i >= l) continue;
            w[l] -= pp;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    // Descending order (selection: n swaps of rows at most).
    for (int i = 0; i < n && !rc; i++) {
        int b = i;
        for (int j = i + 1; j < n; j++)
            if (w[j] > w[b]) b = j;
        if (b == i) continue;
        double t = w[i];
        w[i] = w[b], w[b] = t;
        memcpy(zrow, Z + (size_t)i * n, (size_t)n * sizeof *zrow);
        memcpy(Z + (size_t)i * n, Z + (size_t)b * n, (size_t)n * sizeof *zrow);
        memcpy(Z + (size_t)b * n, zrow, (size_t)n * sizeof *zrow);
    }
    memcpy(A, Z, (size_t)n * n * sizeof *A);
    free(Z), free(e), free(v), free(p), free(zrow);
    return rc;
}
