// test_linalg.c: the blocked Cholesky factorization and solves against the textbook
// algorithm in long double, on random symmetric positive definite matrices whose sizes
// straddle the block sizes (NB = 64 columns, KC = 256 inner, 4×4 kernel tiles), and the
// refusal of a matrix that is not positive definite.
#include "core/linalg.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "harness.h"
#include <string.h>

// A = M Mᵀ / n + I·0.1 for a random M (n, n): well conditioned, full.
static void random_spd(double *A, int n, uint64_t seed) {
    rng r;
    rng_init(&r, seed);
    double *M = xmalloc((size_t)n * n * sizeof *M);
    for (size_t i = 0; i < (size_t)n * n; i++) M[i] = (2.0 * rng_f32(&r) - 1.0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            long double s = 0;
            for (int k = 0; k < n; k++) s += (long double)M[(size_t)i * n + k] * M[(size_t)j * n + k];
            A[(size_t)i * n + j] = A[(size_t)j * n + i] = (double)(s / n) + (i == j ? 0.1 : 0);
        }
    free(M);
}

// The textbook column algorithm in long double: the reference.
static void ref_cholesky(const double *A, int n, long double *L) {
    memset(L, 0, (size_t)n * n * sizeof *L);
    for (int j = 0; j < n; j++) {
        long double d = A[(size_t)j * n + j];
        for (int k = 0; k < j; k++) d -= L[(size_t)j * n + k] * L[(size_t)j * n + k];
        L[(size_t)j * n + j] = sqrtl(d);
        for (int i = j + 1; i < n; i++) {
            long double s = A[(size_t)i * n + j];
            for (int k = 0; k < j; k++) s -= L[(size_t)i * n + k] * L[(size_t)j * n + k];
            L[(size_t)i * n + j] = s / L[(size_t)j * n + j];
        }
    }
}

static void check_size(int n, int nrhs) {
    double *A = xmalloc((size_t)n * n * sizeof *A), *F = xmalloc((size_t)n * n * sizeof *F);
    long double *R = xmalloc((size_t)n * n * sizeof *R);
    random_spd(A, n, 1000 + (uint64_t)n);
    memcpy(F, A, (size_t)n * n * sizeof *F);
    for (int i = 0; i < n; i++)  // a marker above the diagonal: it must survive
        for (int j = i + 1; j < n; j++) F[(size_t)i * n + j] = -7.0;
    int rc = linalg_cholesky(F, n);
    EXPECT(rc == 0, "n=%d: a positive definite matrix refused", n);
    ref_cholesky(A, n, R);
    double md = 0, lmax = 0;
    int upper_ok = 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (j > i) {
                upper_ok &= F[(size_t)i * n + j] == -7.0;
                continue;
            }
            md = fmax(md, fabs((double)((long double)F[(size_t)i * n + j] - R[(size_t)i * n + j])));
            lmax = fmax(lmax, fabs((double)R[(size_t)i * n + j]));
        }
    char name[64];
    snprintf(name, sizeof name, "cholesky n=%d vs long double", n);
    // Relative to the largest entry; measured <= 2.2e-16 (factor) and 5.3e-16 (solve) up to n = 300.
    EXPECT_CLOSE(name, md / lmax, 4e-15);
    EXPECT(upper_ok, "n=%d: the upper triangle was written", n);

    // nrhs random right-hand sides: linalg_cholesky_solve with the blocked factor against
    // x = A⁻¹ b through the reference factor.
    rng r;
    rng_init(&r, 77 + (uint64_t)n);
    double *B = xmalloc((size_t)nrhs * n * sizeof *B);
    for (size_t i = 0; i < (size_t)nrhs * n; i++) B[i] = (2.0 * rng_f32(&r) - 1.0);
    long double *X = xmalloc((size_t)nrhs * n * sizeof *X);
    double xd = 0, xmax = 0;
    for (int q = 0; q < nrhs; q++) {
        const double *b = B + (size_t)q * n;
        long double *x = X + (size_t)q * n;
        for (int i = 0; i < n; i++) {  // L y = b
            long double s = b[i];
            for (int k = 0; k < i; k++) s -= R[(size_t)i * n + k] * x[k];
            x[i] = s / R[(size_t)i * n + i];
        }
        for (int i = n - 1; i >= 0; i--) {  // Lᵀ x = y
            long double s = x[i];
            for (int k = i + 1; k < n; k++) s -= R[(size_t)k * n + i] * x[k];
            x[i] = s / R[(size_t)i * n + i];
        }
    }
    linalg_cholesky_solve(F, n, B, nrhs);
    for (size_t i = 0; i < (size_t)nrhs * n; i++) {
        xd = fmax(xd, fabs((double)((long double)B[i] - X[i])));
        xmax = fmax(xmax, fabs((double)X[i]));
    }
    snprintf(name, sizeof name, "cholesky_solve n=%d, %d rows vs long double", n, nrhs);
    EXPECT_CLOSE(name, xd / xmax, 1e-14);
    free(A), free(F), free(R), free(B), free(X);
}

int main(void) {
    int sizes[] = {1, 3, 4, 5, 63, 64, 65, 130, 257, 300};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) check_size(sizes[i], i % 2 ? 9 : 1);

    // Not positive definite: refused (a negative pivot in the second block).
    int n = 100;
    double *A = xmalloc((size_t)n * n * sizeof *A);
    random_spd(A, n, 5);
    A[(size_t)80 * n + 80] = -1.0;
    EXPECT(linalg_cholesky(A, n) == -1, "an indefinite matrix was factored");
    free(A);
    return TEST_DONE();
}
