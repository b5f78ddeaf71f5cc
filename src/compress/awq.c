// awq.c: activation-aware scaling (see awq.h).
#include "awq.h"
#include "../core/msg.h"
#include "../core/timer.h"
#include "kl_probe.h"
#include "../core/err.h"
#include "../core/progress.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include "../kernels/qlevels.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

// PROBE_TOKENS: calibration tokens the KL judge runs on (whole windows)
enum { ALPHA_STEPS = 20, MAX_EVAL_ROWS = 1024, PROBE_TOKENS = 1024 };

// Output error sum_r e_r H e_rᵀ of W quantized as t after scaling by s, over a
// strided sample of at most MAX_EVAL_ROWS rows (enough to rank the candidates); Hf is
// H in float, so the quadratic form is one matmul (E H) and row dots. weighted: the
// block search weights each column by its input's mean square (as --method imatrix),
// else plain rounding.
static double scaled_error(qtype t, const float *W, int rows, int cols, const act_stats *st, const float *Hf,
                           const float *s, int weighted) {
    int step = rows > MAX_EVAL_ROWS ? (rows + MAX_EVAL_ROWS - 1) / MAX_EVAL_ROWS : 1;
    int n = (rows + step - 1) / step;
    size_t rb = qtype_row_bytes(t, (size_t)cols);
    float *imp = xmalloc((size_t)cols * sizeof *imp);
    for (int i = 0; i < cols; i++) imp[i] = (float)(st->sumsq[i] / (double)s[i] / (double)s[i]);
    float *E = xmalloc((size_t)n * cols * sizeof *E), *EH = xmalloc((size_t)n * cols * sizeof *EH);
#pragma omp parallel
    {
        float *ws = xmalloc((size_t)cols * sizeof *ws);
        char *q = xmalloc(rb);
#pragma omp for schedule(dynamic, 4)
        for (int k = 0; k < n; k++) {
            const float *w = W + (size_t)k * step * cols;
            for (int i = 0; i < cols; i++) ws[i] = w[i] * s[i];
            CHECK(quantize_rows(t, ws, q, 1, cols, weighted ? imp : NULL) == 0);
            dequantize_row(t, q, ws, (size_t)cols);
            for (int i = 0; i < cols; i++) E[(size_t)k * cols + i] = ws[i] / s[i] - w[i];
        }
        free(ws), free(q);
    }
    matmul_f32(EH, E, Hf, NULL, n, cols, cols);  // H is symmetric: E Hᵀ = E H
    double total = 0;
    for (size_t i = 0; i < (size_t)n * cols; i++) total += (double)E[i] * EH[i];
    free(imp), free(E), free(EH);
    return total;
}

double awq_search(qtype t, const float *W, int rows, int cols, const act_stats *st, int weighted, float *s,
                  double *err0, double *err1) {
    CHECK(st->H && st->n > 0);
    for (int i = 0; i < cols; i++) s[i] = 1.0f;
    if (err0) *err0 = 0;
    if (err1) *err1 = 0;
    if (!qlevels_bits(t)) return 0;  // F32/F16: nothing is rounded coarsely enough to help
    float *cand = xmalloc((size_t)cols * sizeof *cand), *Hf = xmalloc((size_t)cols * cols * sizeof *Hf);
    for (size_t i = 0; i < (size_t)cols * cols; i++) Hf[i] = (float)st->H[i];
    double best = INFINITY, best_alpha = 0, e0 = 0;
    for (int a = 0; a <= ALPHA_STEPS; a++) {
        double alpha = (double)a / ALPHA_STEPS, lo = INFINITY, hi = 0;
        for (int i = 0; i < cols; i++) {
            double mag = st->sumabs[i] / (double)st->n;
            cand[i] = a ? (float)pow(mag > 1e-6 ? mag : 1e-6, alpha) : 1.0f;
            lo = fmin(lo, cand[i]), hi = fmax(hi, cand[i]);
        }
        float norm = (float)sqrt(lo * hi);  // centre the scales around 1
        for (int i = 0; i < cols; i++) cand[i] /= norm;
        double e = scaled_error(t, W, rows, cols, st, Hf, cand, weighted);
        if (a == 0) e0 = e;
        if (e < best) {
            best = e, best_alpha = alpha;
            memcpy(s, cand, (size_t)cols * sizeof *s);
        }
    }
    free(cand), free(Hf);
    if (err0) *err0 = e0;
    if (err1) *err1 = best;
    return best_alpha;
}

// W as the model would see it: W diag(s) stored as t (weighted: importance-weighted
// rounding) into stored (rows of qtype_row_bytes), and decoded, then diag(1/s), into
// out (rows, cols).
static void rounded_effective(qtype t, const float *W, int rows, int cols, const act_stats *st, const float *s,
                              int weighted, char *stored, float *out) {
    float *imp = NULL;
    if (weighted) {
        imp = xmalloc((size_t)cols * sizeof *imp);
        for (int i = 0; i < cols; i++) imp[i] = (float)(st->sumsq[i] / (double)s[i] / (double)s[i]);
    }
    size_t rb = qtype_row_bytes(t, (size_t)cols);
#pragma omp parallel
    {
        float *ws = xmalloc((size_t)cols * sizeof *ws);
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            const float *w = W + (size_t)r * cols;
            char *q = stored + (size_t)r * rb;
            for (int i = 0; i < cols; i++) ws[i] = w[i] * s[i];
            CHECK(quantize_rows(t, ws, q, 1, cols, imp) == 0);
            dequantize_row(t, q, out + (size_t)r * cols, (size_t)cols);
            for (int i = 0; i < cols; i++) out[(size_t)r * cols + i] /= s[i];
        }
        free(ws);
    }
    free(imp);
}

// One matrix's choice (matrix i in plan order, stored as t): scale and rounding from
// {plain, weighted} × {unscaled, the α with the lowest output error} (only unscaled
// when search is 0), judged by the KL divergence on the calibration windows with this
// matrix rounded as the candidate says, the matrices chosen before it in their chosen
// rounding, and the rest fp32. Unscaled plain rounding is RTN, so the choice is never
// worse than RTN there. Returns the winner's rows in type t (W diag(s) rounded), which
// the forward pass reads from then on; NULL for types that are not rounded.
typedef struct choice {
    double alpha, kl, kl_rtn;
    int weighted;
    char *stored;
} choice;

static choice choose(kl_probe *probe, int i, qtype t, const float *W, int rows, int cols, const act_stats *st, int search,
                     float *s) {
    choice best = {0, INFINITY, 0, 0, NULL};
    for (int k = 0; k < cols; k++) s[k] = 1.0f;
    if (!qlevels_bits(t) || rows == 0 || cols == 0) return (choice){0, 0, 0, 0, NULL};
    size_t bytes = (size_t)rows * qtype_row_bytes(t, (size_t)cols);
    float *cand = xmalloc((size_t)cols * sizeof *cand), *eff = xmalloc((size_t)rows * cols * sizeof *eff);
    char *stored = xmalloc(bytes);
    for (int c = 0; c < 4; c++) {
        int weighted = c & 1, scaled = c >> 1;
        double alpha = 0;
        if (scaled) {
            if (!search) break;
            alpha = awq_search(t, W, rows, cols, st, weighted, cand, NULL, NULL);
            if (alpha == 0) continue;  // the unscaled candidate, already measured
        } else {
            for (int k = 0; k < cols; k++) cand[k] = 1.0f;
        }
        rounded_effective(t, W, rows, cols, st, cand, weighted, stored, eff);
        double kl = kl_probe_matrix(probe, i, (wmat){QTYPE_F32, rows, cols, eff});
        if (c == 0) best.kl_rtn = kl;
        if (kl < best.kl) {
            char *spare = best.stored ? best.stored : xmalloc(bytes);
            best = (choice){alpha, kl, best.kl_rtn, weighted, stored};
            stored = spare;
            memcpy(s, cand, (size_t)cols * sizeof *s);
        }
    }
    free(cand), free(eff), free(stored);
    return best;
}

// From now on the forward pass reads matrix i as the rows q of type t (NULL: as it is).
static void keep_stored(gpt2_model *m, const wmat *saved, char **stored, int i, qtype t, char *q) {
    stored[i] = q;
    if (q) *gpt2_mat(m, i) = (wmat){t, saved[i].rows, saved[i].cols, q};
}

static void scale_columns(float *W, int rows, int cols, const float *s) {
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < cols; i++) W[(size_t)r * cols + i] *= s[i];
}

void awq_fold(gpt2_model *m, int l, int k, const float *s) {
    const gpt2_config *c = &m->cfg;
    gpt2_layer *ly = &m->layers[l];
    gpt2_linear *lin = &ly->lin[k];
    CHECK(k != GPT2_LIN_DOWN && lin->w.type == QTYPE_F32);
    scale_columns((float *)lin->w.data, lin->w.rows, lin->w.cols, s);
    if (k == GPT2_LIN_OUT) {  // the value rows of attn_qkv's output matrix, and their bias
        gpt2_linear *qkv = &ly->lin[GPT2_LIN_QKV];
        wmat *o = qkv->w2.rows ? &qkv->w2 : &qkv->w;
        int W = gpt2_attn_width(c, l);
        CHECK(o->type == QTYPE_F32);
        for (int i = 0; i < W; i++) {
            float *row = (float *)o->data + (size_t)(2 * W + i) * o->cols;
            for (int j = 0; j < o->cols; j++) row[j] /= s[i];
            qkv->bias[2 * W + i] /= s[i];
        }
        return;
    }
    float *lw = k == GPT2_LIN_QKV ? ly->ln_1_w : ly->ln_2_w, *lb = k == GPT2_LIN_QKV ? ly->ln_1_b : ly->ln_2_b;
    for (int i = 0; i < c->n_embd; i++) lw[i] /= s[i], lb[i] /= s[i];
}

void awq_apply(gpt2_model *m, const gpt2_plan *plan, const calib_set *cs, int verbose, unsigned char *weighted) {
    const gpt2_config *c = &m->cfg;
    int L = c->n_layer, n = gpt2_n_mats(c), head = n - 1;
    act_stats *st = xcalloc((size_t)n, sizeof *st);
    int widest = c->n_embd;
    for (int i = 0; i < n; i++) widest = gpt2_mat(m, i)->cols > widest ? gpt2_mat(m, i)->cols : widest;
    float *s = xmalloc((size_t)widest * sizeof *s);
    // While the pass runs, each chosen matrix is read in its chosen rounding, kept in the
    // plan's type (so later choices and statistics see the quantized prefix, and the pass
    // holds the fp32 model once plus that prefix); the fp32 views come back at the end.
    wmat *saved = xmalloc((size_t)n * sizeof *saved);
    char **stored = xcalloc((size_t)n, sizeof *stored);
    for (int i = 0; i < n; i++) saved[i] = *gpt2_mat(m, i);
    kl_probe probe;
    kl_probe_init(&probe, m, cs, PROBE_TOKENS);
    calib_stream stream;
    calib_stream_init(&stream, m, cs);
    // attn_output first: its 1/s goes into the value rows of attn_qkv, which the qkv search
    // then sees as they will be stored. ffn_down's input comes through GELU, which no scale
    // passes through, and a low-rank linear's second factor reads A·x: only their rounding
    // is chosen.
    static const int order[GPT2_LINEARS] = {GPT2_LIN_OUT, GPT2_LIN_QKV, GPT2_LIN_UP, GPT2_LIN_DOWN};
    static const char *names[GPT2_LINEARS] = {"qkv", "proj", "fc", "down"};
    double t_start = timer_now();
    for (int l = 0; l < L; l++) {
        int i0 = gpt2_mat_index(c, l, 0, 0), i1 = gpt2_mat_index(c, l + 1, 0, 0);
        for (int i = i0; i < i1; i++) act_stats_init(&st[i], saved[i].cols, 1);
        char label[96];
        progress_block_label(label, sizeof label, "awq", l, L, t_start);
        calib_run_block(m, cs, &stream, st, 0, label);
        choice ch[2 * GPT2_LINEARS] = {{0}};
        for (int j = 0; j < GPT2_LINEARS; j++) {
            int k = order[j], lowrank = gpt2_rank(c, l, k) > 0;
            for (int f = 0; f < 1 + lowrank; f++) {
                int i = gpt2_mat_index(c, l, k, f), fold = f == 0 && k != GPT2_LIN_DOWN;
                const wmat *v = &saved[i];
                ch[2 * k + f] = choose(&probe, i, plan->types[i], v->data, v->rows, v->cols, &st[i], fold, s);
                if (fold) awq_fold(m, l, k, s);  // on the fp32 matrices, before the stored view replaces them
                keep_stored(m, saved, stored, i, plan->types[i], ch[2 * k + f].stored);
                weighted[i] = (unsigned char)ch[2 * k + f].weighted;
            }
        }
        if (verbose) {
            msg("awq: layer %d:", l);
            for (int k = 0; k < GPT2_LINEARS; k++)
                for (int f = 0; f < 1 + (gpt2_rank(c, l, k) > 0); f++) {
                    const choice *x = &ch[2 * k + f];
                    msg(" %s%s α %.2f %s KL x%.3f of rtn;", names[k], f ? "_b" : "", x->alpha,
                            x->weighted ? "weighted" : "plain", x->kl_rtn > 0 ? x->kl / x->kl_rtn : 1);
                }
            msg("\n");
        }
        for (int i = i0; i < i1; i++) act_stats_free(&st[i]);
        kl_probe_advance(&probe, l);
        calib_run_block(m, cs, &stream, NULL, 1, NULL);  // through the rounded block
    }
    // The LM head: unscaled (its fp32 twin is the token embedding); only the rounding.
    act_stats_init(&st[head], c->n_embd, 1);
    calib_run_block(m, cs, &stream, st, 0, "awq: output statistics");
    choice h = choose(&probe, head, plan->types[head], saved[head].data, c->vocab_size, c->n_embd, &st[head], 0, s);
    free(h.stored);
    weighted[n - 2] = 0;  // the token embedding is a lookup: no inputs to weight by
    weighted[head] = (unsigned char)h.weighted;
    if (verbose)
        msg("awq: output: %s rounding, KL x%.3f of rtn\n", h.weighted ? "weighted" : "plain",
                h.kl_rtn > 0 ? h.kl / h.kl_rtn : 1);
    act_stats_free(&st[head]);
    calib_stream_free(&stream);
    kl_probe_free(&probe);
    for (int i = 0; i < n; i++) *gpt2_mat(m, i) = saved[i];  // the scaled fp32 matrices, to be stored
    for (int i = 0; i < n; i++) free(stored[i]);
    free(stored), free(saved), free(st), free(s);
}
