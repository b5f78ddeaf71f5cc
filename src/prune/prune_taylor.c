// prune_taylor.c: first-order Taylor importance (LLM-Pruner, Ma et al. 2023): the loss change
// removing a unit predicts to first order, from one backward pass over the calibration text.
// A unit's score is Σ |g·w| over the weights and biases it owns, g being the gradient of the
// mean cross-entropy over every calibration window (the "element-wise" first-order score).
#include "prune.h"
#include "../core/err.h"
#include "../core/progress.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../model/gpt2_acts.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// Σ |g·w| over n floats.
static double gw(const float *g, const float *w, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs((double)g[i] * w[i]);
    return s;
}
// The same over rows r0..r0+nr-1, columns c0..c0+nc-1 of a (rows, cols) matrix.
static double gw_block(const float *g, const float *w, int cols, int r0, int nr, int c0, int nc) {
    double s = 0;
    for (int r = r0; r < r0 + nr; r++) s += gw(g + (size_t)r * cols + c0, w + (size_t)r * cols + c0, (size_t)nc);
    return s;
}

int prune_taylor_compute(const gpt2_model *m, const calib_set *cs, prune_taylor *t) {
    const gpt2_config *c = &m->cfg;
    int L = c->n_layer, T = cs->ctx, C = c->n_embd, HS = c->head_dim;
    memset(t, 0, sizeof *t);
    for (int l = 0; l < L; l++)
        for (int k = 0; k < GPT2_LINEARS; k++)
            if (gpt2_rank(c, l, k))
                return err_set(ERR_ARG, "prune: --score taylor needs dense linears (layer %d has a low-rank one)", l);
    gpt2_acts a;
    int rc = gpt2_acts_init(&a, m, 1, T, 1);  // refuses an untied LM head, naming it
    if (rc) return rc;
    gpt2_grads_zero(m, &a);
    // Windows are consecutive slices of the text: each one's last target is the next one's first
    // token, so every window but the last (unless it is the only one) is used.
    int nw = cs->n_windows > 1 ? cs->n_windows - 1 : 1, *targets = xmalloc((size_t)T * sizeof *targets);
    double t0 = timer_now();
    for (int w = 0; w < nw; w++) {
        const int *ids = cs->ids + (size_t)w * T;
        for (int i = 0; i + 1 < T; i++) targets[i] = ids[i + 1];
        targets[T - 1] = cs->n_windows > 1 ? ids[T] : ids[T - 1];
        gpt2_train_forward(m, &a, ids);
        gpt2_train_ce(&a, c->vocab_size, targets, 1);
        gpt2_backward(m, &a);
        progress_note("prune: taylor scores", w + 1, nw, t0);
    }
    free(targets);
    t->max_head = C / HS, t->max_ff = gpt2_max_ff(c);
    t->head = xcalloc((size_t)L * t->max_head + 1, sizeof *t->head);
    t->ff = xcalloc((size_t)L * t->max_ff + 1, sizeof *t->ff);
    for (int l = 0; l < L; l++) {
        const gpt2_layer *ly = &m->layers[l];
        int NH = gpt2_n_head(c, l), W = gpt2_attn_width(c, l), F = gpt2_n_ff(c, l);
        const gpt2_linear *qkv = &ly->lin[GPT2_LIN_QKV], *out = &ly->lin[GPT2_LIN_OUT];
        const gpt2_linear *up = &ly->lin[GPT2_LIN_UP], *down = &ly->lin[GPT2_LIN_DOWN];
        for (int h = 0; h < NH; h++) {
            double s = 0;
            for (int part = 0; part < 3; part++) {  // its q, k and v rows and their biases
                int r0 = part * W + h * HS;
                s += gw_block(gpt2_grad(m, &a, qkv->w.data), qkv->w.data, C, r0, HS, 0, C);
                s += gw(gpt2_grad(m, &a, qkv->bias) + r0, qkv->bias + r0, (size_t)HS);
            }
            s += gw_block(gpt2_grad(m, &a, out->w.data), out->w.data, W, 0, C, h * HS, HS);  // its attn_output columns
            t->head[(size_t)l * t->max_head + h] = s;
        }
        for (int j = 0; j < F; j++)
            t->ff[(size_t)l * t->max_ff + j] = gw_block(gpt2_grad(m, &a, up->w.data), up->w.data, C, j, 1, 0, C) +
                                               gw(gpt2_grad(m, &a, up->bias) + j, up->bias + j, 1) +
                                               gw_block(gpt2_grad(m, &a, down->w.data), down->w.data, F, 0, C, j, 1);
    }
    gpt2_acts_free(&a);
    return 0;
}

void prune_taylor_free(prune_taylor *t) {
    free(t->head), free(t->ff);
    memset(t, 0, sizeof *t);
}
