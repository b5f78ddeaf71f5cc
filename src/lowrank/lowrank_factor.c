// lowrank_factor.c: one matrix's weighted spectrum and its rank-r factors (see lowrank.h).
//
// With T = W·L, the best rank-r approximation of T is its truncated SVD. On the output side
// (out <= in) the left singular vectors u_i are eigenvectors of T·Tᵀ and W ≈ Σ u_i (u_iᵀ W):
// no inverse of L is needed. On the input side (in < out) the right singular vectors v_i are
// eigenvectors of Tᵀ·T and W ≈ Σ (T v_i)(v_iᵀ L⁻¹). Both give the same approximation.
#include "lowrank.h"
#include "../core/err.h"
#include "../core/linalg.h"
#include "../core/xalloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_names[LOWRANK_METHOD_COUNT] = {"svd", "asvd", "whiten"};

int lowrank_method_parse(const char *s) {
    for (int i = 0; i < LOWRANK_METHOD_COUNT; i++)
        if (!strcmp(s, method_names[i])) return i;
    return -1;
}

const char *lowrank_method_name(lowrank_method m) { return method_names[m]; }

// ASVD's scaling exponent (the paper's α = 0.5).
#define ASVD_ALPHA 0.5

// G (n, n) = X (n, K) · Xᵀ, both triangles.
static void gram(double *G, const double *X, int n, int K) {
    memset(G, 0, (size_t)n * n * sizeof *G);
    linalg_gemm_nt_sub(G, (size_t)n, X, (size_t)K, X, (size_t)K, n, n, K);
    for (size_t i = 0; i < (size_t)n * n; i++) G[i] = -G[i];
}

int lowrank_basis_init(lowrank_basis *b, const float *W, int out, int in, lowrank_method m, const act_stats *st,
                       double damp) {
    memset(b, 0, sizeof *b);
    if (m != LOWRANK_SVD && (!st || st->n == 0 || st->cols != in || (m == LOWRANK_WHITEN && !st->H)))
        return err_set(ERR_ARG, "lowrank: %s needs calibration statistics of the linear's inputs", method_names[m]);
    b->out = out, b->in = in, b->in_side = in < out, b->n = in < out ? in : out;
    size_t on = (size_t)out * in;
    double *T = xmalloc(on * sizeof *T);
    for (size_t i = 0; i < on; i++) T[i] = W[i];
    // The weighting: s (diagonal) for ASVD, L (Cholesky of the damped Gram) for whitening.
    double *s = NULL, *L = NULL;
    if (m == LOWRANK_ASVD) {
        s = xmalloc((size_t)in * sizeof *s);
        double smax = 0;
        for (int j = 0; j < in; j++) s[j] = pow(st->sumabs[j] / (double)st->n, ASVD_ALPHA), smax = fmax(smax, s[j]);
        for (int j = 0; j < in; j++) s[j] = fmax(s[j], 1e-6 * smax + 1e-30);  // a dead channel stays invertible
    } else if (m == LOWRANK_WHITEN) {
        L = xmalloc((size_t)in * in * sizeof *L);
        double tr = 0;
        for (int j = 0; j < in; j++) tr += st->H[(size_t)j * in + j];
        double ridge = damp * tr / in / (double)st->n + 1e-30;
        for (size_t i = 0; i < (size_t)in * in; i++) L[i] = st->H[i] / (double)st->n;
        for (int j = 0; j < in; j++) L[(size_t)j * in + j] += ridge;
        if (linalg_cholesky(L, in)) {
            free(T), free(L);
            return err_set(ERR_ARG, "lowrank: the calibration inputs' Gram matrix (%d columns) is singular even damped "
                                    "(raise --damp)", in);
        }
    }
    // T = W·L, row by row.
    if (s) {
        for (int o = 0; o < out; o++)
            for (int j = 0; j < in; j++) T[(size_t)o * in + j] *= s[j];
    } else if (L) {
        double *row = xmalloc((size_t)in * sizeof *row);
        for (int o = 0; o < out; o++) {
            double *t = T + (size_t)o * in;
            for (int j = 0; j < in; j++) {  // (W L)[o, j] = Σ_{k >= j} W[o, k] L[k, j]
                double acc = 0;
                for (int k = j; k < in; k++) acc += t[k] * L[(size_t)k * in + j];
                row[j] = acc;
            }
            memcpy(t, row, (size_t)in * sizeof *row);
        }
        free(row);
    }
    int n = b->n;
    b->vec = xmalloc((size_t)n * n * sizeof *b->vec);
    b->val = xmalloc((size_t)n * sizeof *b->val);
    if (b->in_side) {  // Tᵀ T from T's columns
        double *Tt = xmalloc(on * sizeof *Tt);
        for (int o = 0; o < out; o++)
            for (int j = 0; j < in; j++) Tt[(size_t)j * out + o] = T[(size_t)o * in + j];
        gram(b->vec, Tt, in, out);
        free(Tt);
        b->T = T, b->L = L, b->s = s;
    } else {  // T Tᵀ; the factors need only W
        gram(b->vec, T, out, in);
        for (size_t i = 0; i < on; i++) T[i] = W[i];
        b->T = T;
        free(L), free(s);
    }
    if (linalg_sym_eig(b->vec, n, b->val)) {
        lowrank_basis_free(b);
        return err_set(ERR_ARG, "lowrank: the eigensolver did not converge on a %d x %d matrix", out, in);
    }
    for (int i = 0; i < n; i++) b->val[i] = fmax(b->val[i], 0.0);  // a Gram's rounding below zero
    return 0;
}

void lowrank_basis_free(lowrank_basis *b) {
    free(b->vec), free(b->val), free(b->T), free(b->L), free(b->s);
    memset(b, 0, sizeof *b);
}

double lowrank_basis_energy(const lowrank_basis *b, int r) {
    double kept = 0, all = 0;
    for (int i = 0; i < b->n; i++) all += b->val[i], kept += i < r ? b->val[i] : 0;
    return all > 0 ? kept / all : 1.0;
}

void lowrank_basis_factors(const lowrank_basis *b, int r, float *A, float *B) {
    int out = b->out, in = b->in;
    double *a = xmalloc((size_t)in * sizeof *a), *bc = xmalloc((size_t)out * sizeof *bc);
    for (int i = 0; i < r; i++) {
        const double *v = b->vec + (size_t)i * b->n;
        if (b->in_side) {
            for (int o = 0; o < out; o++) {  // B's column: T v
                const double *t = b->T + (size_t)o * in;
                double acc = 0;
                for (int j = 0; j < in; j++) acc += t[j] * v[j];
                bc[o] = acc;
            }
            if (b->L) {  // A's row: Lᵀ a = v (back substitution; Lᵀ is upper triangular)
                for (int j = in - 1; j >= 0; j--) {
                    double acc = v[j];
                    for (int k = j + 1; k < in; k++) acc -= b->L[(size_t)k * in + j] * a[k];
                    a[j] = acc / b->L[(size_t)j * in + j];
                }
            } else {
                for (int j = 0; j < in; j++) a[j] = b->s ? v[j] / b->s[j] : v[j];
            }
        } else {
            memcpy(bc, v, (size_t)out * sizeof *bc);  // B's column: u; A's row: uᵀ W
            for (int j = 0; j < in; j++) a[j] = 0;
            for (int o = 0; o < out; o++) {
                const double *w = b->T + (size_t)o * in;
                for (int j = 0; j < in; j++) a[j] += v[o] * w[j];
            }
        }
        double na = 0, nb = 0;
        for (int j = 0; j < in; j++) na += a[j] * a[j];
        for (int o = 0; o < out; o++) nb += bc[o] * bc[o];
        double c = na > 0 && nb > 0 ? sqrt(sqrt(na / nb)) : 1.0;  // ‖a‖/c = ‖b‖·c
        for (int j = 0; j < in; j++) A[(size_t)i * in + j] = (float)(a[j] / c);
        for (int o = 0; o < out; o++) B[(size_t)o * r + i] = (float)(bc[o] * c);
    }
    free(a), free(bc);
}

void lowrank_product(const float *A, const float *B, int out, int in, int r, float *P) {
#pragma omp parallel for schedule(static)
    for (int o = 0; o < out; o++) {
        float *p = P + (size_t)o * in;
        for (int j = 0; j < in; j++) p[j] = 0;
        for (int i = 0; i < r; i++) {
            float bi = B[(size_t)o * r + i];
            const float *a = A + (size_t)i * in;
            for (int j = 0; j < in; j++) p[j] += bi * a[j];
        }
    }
}
