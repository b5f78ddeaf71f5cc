// test_linalg.c: the blocked Cholesky factorization and solves against the textbook
// algorithm in long double, on random symmetric positive definite matrices whose sizes
// straddle the block sizes (NB = 64 columns, KC = 256 inner, 4×4 kernel tiles), and the
// refusal of a matrix that is not positive definite; the symmetric eigendecomposition on
// matrices of known spectrum (repeated and zero eigenvalues included).
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

    // linalg_tri_inverse_t: (L⁻¹)ᵀ against the reference factor's inverse, column by column
    // in long double (L x = e_k), and exact zeros below the diagonal.
    double *Y = xmalloc((size_t)n * n * sizeof *Y);
    for (size_t i = 0; i < (size_t)n * n; i++) Y[i] = NAN;  // every entry must be written
    linalg_tri_inverse_t(F, n, Y);
    long double *x = xmalloc((size_t)n * sizeof *x);
    double yd = 0, ymax = 0;
    int lower_zero = 1;
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < n; i++) {
            long double s = i == k;
            for (int m = k; m < i; m++) s -= R[(size_t)i * n + m] * x[m];
            x[i] = i < k ? 0 : s / R[(size_t)i * n + i];
        }
        for (int i = 0; i < n; i++) {
            if (i < k) lower_zero &= Y[(size_t)k * n + i] == 0.0;
            yd = fmax(yd, fabs((double)((long double)Y[(size_t)k * n + i] - x[i])));
            if (!(yd == yd)) yd = INFINITY;
            ymax = fmax(ymax, fabs((double)x[i]));
        }
    }
    snprintf(name, sizeof name, "tri_inverse_t n=%d vs long double", n);
    EXPECT_CLOSE(name, yd / ymax, 4e-15);  // relative to the largest entry; measured <= 2.9e-16 up to n = 300
    EXPECT(lower_zero, "n=%d: (L^-1)^T has non-zeros below the diagonal", n);
    free(Y), free(x);
    free(A), free(F), free(R), free(B), free(X);
}

// A = Q diag(lam) Qᵀ for a random orthogonal Q (a product of n Householder reflections,
// built in long double), so the eigenvalues are known exactly.
static void known_spectrum(double *A, int n, const double *lam, uint64_t seed) {
    rng r;
    rng_init(&r, seed);
    long double *Q = xcalloc((size_t)n * n, sizeof *Q), *v = xmalloc((size_t)n * sizeof *v);
    for (int i = 0; i < n; i++) Q[(size_t)i * n + i] = 1;
    for (int h = 0; h < n; h++) {
        long double vv = 0;
        for (int i = 0; i < n; i++) v[i] = 2.0L * rng_f32(&r) - 1.0L, vv += v[i] * v[i];
        for (int j = 0; j < n; j++) {  // Q ← (I − 2 v vᵀ / vᵀv) Q, column j
            long double s = 0;
            for (int i = 0; i < n; i++) s += v[i] * Q[(size_t)i * n + j];
            for (int i = 0; i < n; i++) Q[(size_t)i * n + j] -= 2 * s / vv * v[i];
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            long double s = 0;
            for (int k = 0; k < n; k++) s += Q[(size_t)i * n + k] * lam[k] * Q[(size_t)j * n + k];
            A[(size_t)i * n + j] = (double)s;
        }
    free(Q), free(v);
}

// Eigenvalues against the known ones (sorted), residual ‖A v − λ v‖ and orthonormality of
// the vectors, all relative to the largest |λ|.
static void check_eig(int n, int kind) {
    double *lam = xmalloc((size_t)n * sizeof *lam), *A = xmalloc((size_t)n * n * sizeof *A);
    double *E = xmalloc((size_t)n * n * sizeof *E), *w = xmalloc((size_t)n * sizeof *w);
    rng r;
    rng_init(&r, 4242 + (uint64_t)n * 3 + (uint64_t)kind);
    for (int i = 0; i < n; i++) {
        double u = 2.0 * rng_f32(&r) - 1.0;
        lam[i] = kind == 0 ? u * 10                    // distinct, both signs
                 : kind == 1 ? (i < n / 2 ? 0.0 : u)   // half zero: a rank-deficient Gram
                             : (double)(i % 3);        // three values, each repeated
    }
    known_spectrum(A, n, lam, 99 + (uint64_t)n);
    memcpy(E, A, (size_t)n * n * sizeof *E);
    EXPECT(linalg_sym_eig(E, n, w) == 0, "eig n=%d kind %d: no convergence", n, kind);
    for (int i = 1; i < n; i++)  // sort lam descending (insertion)
        for (int j = i; j > 0 && lam[j] > lam[j - 1]; j--) {
            double t = lam[j];
            lam[j] = lam[j - 1], lam[j - 1] = t;
        }
    double scale = 1e-300, dl = 0, res = 0, orth = 0;
    int sorted = 1;
    for (int i = 0; i < n; i++) scale = fmax(scale, fabs(lam[i]));
    for (int i = 0; i < n; i++) {
        dl = fmax(dl, fabs(w[i] - lam[i]));
        if (i) sorted &= w[i] <= w[i - 1];
        const double *vi = E + (size_t)i * n;
        for (int a = 0; a < n; a++) {
            long double s = 0;
            for (int b = 0; b < n; b++) s += (long double)A[(size_t)a * n + b] * vi[b];
            res = fmax(res, fabs((double)(s - (long double)w[i] * vi[a])));
        }
        for (int j = 0; j <= i; j++) {
            long double s = 0;
            for (int b = 0; b < n; b++) s += (long double)vi[b] * E[(size_t)j * n + b];
            orth = fmax(orth, fabs((double)s - (i == j)));
        }
    }
    char name[80];
    // Measured up to n = 300: eigenvalues <= 5.5e-15, residuals <= 2.5e-15, orthonormality <= 4.9e-15.
    snprintf(name, sizeof name, "eig n=%d kind %d: eigenvalues", n, kind);
    EXPECT_CLOSE(name, dl / scale, 1e-13);
    snprintf(name, sizeof name, "eig n=%d kind %d: residual", n, kind);
    EXPECT_CLOSE(name, res / scale, 1e-13);
    snprintf(name, sizeof name, "eig n=%d kind %d: orthonormal", n, kind);
    EXPECT_CLOSE(name, orth, 1e-12);
    EXPECT(sorted, "eig n=%d kind %d: eigenvalues not in descending order", n, kind);
    free(lam), free(A), free(E), free(w);
}

int main(void) {
    int esizes[] = {1, 2, 3, 10, 64, 129, 300};
    for (size_t i = 0; i < sizeof esizes / sizeof *esizes; i++)
        for (int kind = 0; kind < 3; kind++) check_eig(esizes[i], kind);

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
