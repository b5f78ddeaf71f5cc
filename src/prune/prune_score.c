// prune_score.c: how much each head and MLP neuron matters, and compensating the
// removal of some (see prune.h).
#include "prune.h"
#include "../core/err.h"
#include "../core/linalg.h"
#include "../core/xalloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const score_names[PRUNE_SCORE_COUNT] = {"magnitude", "act", "fluct", "taylor"};
static const char *const comp_names[PRUNE_COMP_COUNT] = {"none", "bias", "refit"};

int prune_score_parse(const char *s) {
    for (int i = 0; i < PRUNE_SCORE_COUNT; i++)
        if (!strcmp(s, score_names[i])) return i;
    return -1;
}
int prune_comp_parse(const char *s) {
    for (int i = 0; i < PRUNE_COMP_COUNT; i++)
        if (!strcmp(s, comp_names[i])) return i;
    return -1;
}
const char *prune_score_name(prune_score s) { return score_names[s]; }
const char *prune_comp_name(prune_comp c) { return comp_names[c]; }

// ‖column c‖² of the linear's matrix (B·A when low-rank: aᵀ (BᵀB) a with a = A's column).
static void col_norms2(const gpt2_linear *lin, double *out) {
    const float *a = lin->w.data;
    int R = lin->w.rows, C = lin->w.cols;
    if (!lin->w2.rows) {
        for (int c = 0; c < C; c++) out[c] = 0;
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) out[c] += (double)a[(size_t)r * C + c] * a[(size_t)r * C + c];
        return;
    }
    const float *b = lin->w2.data;
    int O = lin->w2.rows;
    double *g = xcalloc((size_t)R * R, sizeof *g);  // BᵀB
    for (int o = 0; o < O; o++)
        for (int i = 0; i < R; i++)
            for (int j = 0; j < R; j++) g[(size_t)i * R + j] += (double)b[(size_t)o * R + i] * b[(size_t)o * R + j];
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int i = 0; i < R; i++)
            for (int j = 0; j < R; j++) s += a[(size_t)i * C + c] * g[(size_t)i * R + j] * a[(size_t)j * C + c];
        out[c] = s;
    }
    free(g);
}

// ‖row r‖² of the linear's matrix (the row of B·A when low-rank).
static double row_norm2(const gpt2_linear *lin, int r) {
    double s = 0;
    if (!lin->w2.rows) {
        const float *w = (const float *)lin->w.data + (size_t)r * lin->w.cols;
        for (int c = 0; c < lin->w.cols; c++) s += (double)w[c] * w[c];
        return s;
    }
    const float *b = (const float *)lin->w2.data + (size_t)r * lin->w2.cols, *a = lin->w.data;
    for (int c = 0; c < lin->w.cols; c++) {
        double v = 0;
        for (int i = 0; i < lin->w.rows; i++) v += (double)b[i] * a[(size_t)i * lin->w.cols + c];
        s += v * v;
    }
    return s;
}

// What input column c contributes under score s, its matrix column's squared norm being n2.
static double input_term(const act_stats *st, int c, prune_score s, double n2) {
    double mean = st->sum[c] / (double)st->n, msq = st->sumsq[c] / (double)st->n;
    return s == PRUNE_SCORE_ACT ? msq * n2 : fmax(msq - mean * mean, 0) * n2;
}

void prune_score_heads(const gpt2_model *m, int l, const act_stats *st, prune_score s, double *score) {
    const gpt2_config *c = &m->cfg;
    const gpt2_layer *ly = &m->layers[l];
    int NH = gpt2_n_head(c, l), HS = c->head_dim, W = gpt2_attn_width(c, l);
    double *n2 = xmalloc(((size_t)W + 1) * sizeof *n2);
    col_norms2(&ly->lin[GPT2_LIN_OUT], n2);
    for (int h = 0; h < NH; h++) {
        double a = 0, v = 0;
        for (int e = h * HS; e < (h + 1) * HS; e++) {
            if (s == PRUNE_SCORE_MAGNITUDE) a += n2[e], v += row_norm2(&ly->lin[GPT2_LIN_QKV], 2 * W + e);
            else a += input_term(st, e, s, n2[e]);
        }
        score[h] = s == PRUNE_SCORE_MAGNITUDE ? sqrt(a * v) : s == PRUNE_SCORE_ACT ? sqrt(a) : a;
    }
    free(n2);
}

void prune_score_neurons(const gpt2_model *m, int l, const act_stats *st, prune_score s, double *score) {
    const gpt2_layer *ly = &m->layers[l];
    int F = gpt2_n_ff(&m->cfg, l);
    double *n2 = xmalloc(((size_t)F + 1) * sizeof *n2);
    col_norms2(&ly->lin[GPT2_LIN_DOWN], n2);
    for (int j = 0; j < F; j++) {
        if (s == PRUNE_SCORE_MAGNITUDE) score[j] = sqrt(row_norm2(&ly->lin[GPT2_LIN_UP], j) * n2[j]);
        else if (s == PRUNE_SCORE_ACT) score[j] = sqrt(input_term(st, j, s, n2[j]));
        else score[j] = input_term(st, j, s, n2[j]);
    }
    free(n2);
}

// Least squares: the removed inputs x_R predicted from z = [x_K; 1] (P = Σ x_R zᵀ (Σ z zᵀ)⁻¹,
// statistics divided by n, a ridge of damp times the kept inputs' mean square), so that
// W_K x_K + W_R x_R + b ≈ (W_K + W_R P_K) x_K + (b + W_R P_1) over the calibration inputs.
static int refit(gpt2_linear *lin, const act_stats *st, const int *K, int k, const int *R, int r, double damp) {
    int cols = lin->w.cols, out = lin->w.rows, n1 = k + 1;
    double inv_n = 1.0 / (double)st->n, *G = xmalloc((size_t)n1 * n1 * sizeof *G), *P = NULL;
    double lambda = 0;
    for (int i = 0; i < k; i++) lambda += st->H[(size_t)K[i] * cols + K[i]] * inv_n;
    lambda = damp * (k ? lambda / k : 0);
    int rc = -1;
    for (int attempt = 0; attempt < 4 && rc; attempt++, lambda = lambda > 0 ? lambda * 10 : 1e-8) {
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) G[(size_t)i * n1 + j] = st->H[(size_t)K[i] * cols + K[j]] * inv_n;
            G[(size_t)i * n1 + i] += lambda;
            G[(size_t)i * n1 + k] = G[(size_t)k * n1 + i] = st->sum[K[i]] * inv_n;
        }
        G[(size_t)k * n1 + k] = 1;
        rc = linalg_cholesky(G, n1);
    }
    if (rc) {
        free(G);
        return err_set(ERR_ARG, "prune: the kept inputs' statistics are singular (raise --damp)");
    }
    // P = C G⁻¹ with C = Σ x_R zᵀ / n, and the update W_R P: either r right-hand sides (P's
    // rows) or, when the matrix has fewer outputs than removed inputs, out of them ((W_R C) G⁻¹).
    P = xmalloc((size_t)r * n1 * sizeof *P);
    for (int j = 0; j < r; j++) {
        for (int i = 0; i < k; i++) P[(size_t)j * n1 + i] = st->H[(size_t)R[j] * cols + K[i]] * inv_n;
        P[(size_t)j * n1 + k] = st->sum[R[j]] * inv_n;
    }
    int by_rows = out < r;
    if (!by_rows) linalg_cholesky_solve(G, n1, P, r);
    // D = W_R P (or W_R C) as one product: -W_R (out, r) against Pᵀ (n1, r), subtracted from zero.
    float *w = (float *)lin->w.data;
    double *Wn = xmalloc((size_t)out * r * sizeof *Wn), *Pt = xmalloc((size_t)n1 * r * sizeof *Pt);
    double *D = xcalloc((size_t)out * n1, sizeof *D);
    for (int o = 0; o < out; o++)
        for (int j = 0; j < r; j++) Wn[(size_t)o * r + j] = -(double)w[(size_t)o * cols + R[j]];
    for (int j = 0; j < r; j++)
        for (int i = 0; i < n1; i++) Pt[(size_t)i * r + j] = P[(size_t)j * n1 + i];
    linalg_gemm_nt_sub(D, (size_t)n1, Wn, (size_t)r, Pt, (size_t)r, out, n1, r);
    free(Wn), free(Pt);
    if (by_rows) linalg_cholesky_solve(G, n1, D, out);
    for (int o = 0; o < out; o++) {
        float *wo = w + (size_t)o * cols;
        const double *d = D + (size_t)o * n1;
        for (int i = 0; i < k; i++) wo[K[i]] = (float)(wo[K[i]] + d[i]);
        lin->bias[o] = (float)(lin->bias[o] + d[k]);
    }
    free(D);
    free(G), free(P);
    return 0;
}

int prune_compensate(gpt2_linear *lin, const act_stats *st, const uint8_t *keep, prune_comp comp, double damp) {
    int cols = lin->w.cols, out = lin->w2.rows ? lin->w2.rows : lin->w.rows, k = 0, r = 0;
    int *K = xmalloc(((size_t)cols + 1) * sizeof *K), *R = xmalloc(((size_t)cols + 1) * sizeof *R);
    for (int c = 0; c < cols; c++) {
        if (keep[c]) K[k++] = c;
        else R[r++] = c;
    }
    int rc = 0;
    float *a = (float *)lin->w.data;
    if (r && comp == PRUNE_COMP_REFIT && !lin->w2.rows) {
        CHECK(st && st->H && st->cols == cols);
        rc = refit(lin, st, K, k, R, r, damp);
    } else if (r && comp != PRUNE_COMP_NONE) {
        // The bias fold: b += W_R E[x_R] (through A, then B, when low-rank).
        CHECK(st && st->cols == cols);
        int rank = lin->w2.rows ? lin->w.rows : 0, n = rank ? rank : out;
        double *t = xcalloc((size_t)n + 1, sizeof *t);  // W_R E[x_R], or A_R E[x_R] when low-rank
        for (int i = 0; i < n; i++)
            for (int j = 0; j < r; j++) t[i] += (double)a[(size_t)i * cols + R[j]] * (st->sum[R[j]] / (double)st->n);
        for (int o = 0; o < out; o++) {
            double d = rank ? 0 : t[o];
            for (int i = 0; i < rank; i++) d += (double)((const float *)lin->w2.data)[(size_t)o * rank + i] * t[i];
            lin->bias[o] = (float)(lin->bias[o] + d);
        }
        free(t);
    }
    if (!rc)  // the removed columns are gone (of A when low-rank)
        for (int i = 0; i < lin->w.rows; i++)
            for (int j = 0; j < r; j++) a[(size_t)i * cols + R[j]] = 0;
    free(K), free(R);
    return rc;
}

void prune_unit_scores(const gpt2_model *m, int l, int k, const act_stats *st, prune_score s, const prune_taylor *t,
                       double *score) {
    int heads = k == GPT2_LIN_OUT, n = heads ? gpt2_n_head(&m->cfg, l) : gpt2_n_ff(&m->cfg, l);
    if (s == PRUNE_SCORE_TAYLOR) {
        CHECK(t && t->head);
        memcpy(score, heads ? t->head + (size_t)l * t->max_head : t->ff + (size_t)l * t->max_ff, (size_t)n * sizeof *score);
    } else if (heads) {
        prune_score_heads(m, l, st, s, score);
    } else {
        prune_score_neurons(m, l, st, s, score);
    }
}
