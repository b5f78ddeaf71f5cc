// awq.c: activation-aware scaling (see awq.h).
#include "awq.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include "../kernels/qlevels.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { ALPHA_STEPS = 20, MAX_EVAL_ROWS = 1024 };

// Output error sum_r e_r H e_rᵀ of W quantized as t after scaling by s, over a
// strided sample of at most MAX_EVAL_ROWS rows (enough to rank the candidates); Hf is
// H in float, so the quadratic form is one matmul (E H) and row dots.
static double scaled_error(qtype t, const float *W, int rows, int cols, const act_stats *st, const float *Hf,
                           const float *s) {
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
            CHECK(quantize_rows(t, ws, q, 1, cols, imp) == 0);
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

double awq_search(qtype t, const float *W, int rows, int cols, const act_stats *st, float *s, double *err0,
                  double *err1) {
    CHECK(st->H && st->n > 0);
    if (!qlevels_bits(t)) {  // F32/F16: nothing is rounded coarsely enough to help
        for (int i = 0; i < cols; i++) s[i] = 1.0f;
        if (err0) *err0 = 0;
        if (err1) *err1 = 0;
        return 0;
    }
    float *cand = xmalloc((size_t)cols * sizeof *cand), *Hf = xmalloc((size_t)cols * cols * sizeof *Hf);
    for (size_t i = 0; i < (size_t)cols * cols; i++) Hf[i] = (float)st->H[i];
    double best = INFINITY, best_alpha = 0, e0 = 0;
    for (int a = 0; a <= ALPHA_STEPS; a++) {
        double alpha = (double)a / ALPHA_STEPS, lo = INFINITY, hi = 0;
        for (int i = 0; i < cols; i++) {
            double mag = st->sumabs[i] / (double)st->n;
            cand[i] = (float)pow(mag > 1e-6 ? mag : 1e-6, alpha);
            lo = fmin(lo, cand[i]), hi = fmax(hi, cand[i]);
        }
        float norm = (float)sqrt(lo * hi);  // centre the scales around 1
        for (int i = 0; i < cols; i++) cand[i] /= norm;
        double e = scaled_error(t, W, rows, cols, st, Hf, cand);
        if (a == 0) e0 = e;
        if (e < best) {
            best = e, best_alpha = alpha;
            memcpy(s, cand, (size_t)cols * sizeof *s);
        }
    }
    if (best_alpha == 0)
        for (int i = 0; i < cols; i++) s[i] = 1.0f;
    free(cand), free(Hf);
    if (err0) *err0 = e0;
    if (err1) *err1 = best;
    return best_alpha;
}

static void scale_columns(float *W, int rows, int cols, const float *s) {
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < cols; i++) W[(size_t)r * cols + i] *= s[i];
}

void awq_apply(gpt2_model *m, const gpt2_plan *plan, const calib_set *cs, int verbose) {
    const gpt2_config *c = &m->cfg;
    gpt2_weights *w = &m->w;
    int C = c->n_embd, F = c->n_inner, L = c->n_layer, ns = calib_num_slots(c);
    act_stats *st = xcalloc((size_t)ns, sizeof *st);
    float *s = xmalloc((size_t)(F > C ? F : C) * sizeof *s);
    calib_stream stream;
    calib_stream_init(&stream, m, cs);
    for (int l = 0; l < L; l++) {
        int kq = calib_slot(c, l, GPT2_MAT_QKV), kp = calib_slot(c, l, GPT2_MAT_PROJ), kf = calib_slot(c, l, GPT2_MAT_FC);
        act_stats_init(&st[kq], C, 1);
        act_stats_init(&st[kp], C, 1);
        act_stats_init(&st[kf], C, 1);
        char label[64];
        snprintf(label, sizeof label, "awq: layer %d/%d statistics", l + 1, L);
        calib_run_block(m, cs, &stream, st, 0, label);
        qtype *types = plan->mats + (size_t)l * GPT2_MATS_PER_LAYER;
        float *qkv = w->attn_qkv_w + (size_t)l * 3 * C * C, *qkv_b = w->attn_qkv_b + (size_t)l * 3 * C;
        float *proj = w->attn_proj_w + (size_t)l * C * C, *fc = w->mlp_fc_w + (size_t)l * F * C;
        double e0[3], e1[3], alpha[3];
        // attn_output first: its 1/s goes into the value rows of attn_qkv, which the
        // qkv search below then sees as they will be stored.
        alpha[1] = awq_search(types[GPT2_MAT_PROJ], proj, C, C, &st[kp], s, &e0[1], &e1[1]);
        scale_columns(proj, C, C, s);
        for (int i = 0; i < C; i++) {
            float *row = qkv + (size_t)(2 * C + i) * C;
            for (int j = 0; j < C; j++) row[j] /= s[i];
            qkv_b[2 * C + i] /= s[i];
        }
        alpha[0] = awq_search(types[GPT2_MAT_QKV], qkv, 3 * C, C, &st[kq], s, &e0[0], &e1[0]);
        scale_columns(qkv, 3 * C, C, s);
        for (int i = 0; i < C; i++) w->ln_1_w[(size_t)l * C + i] /= s[i], w->ln_1_b[(size_t)l * C + i] /= s[i];
        alpha[2] = awq_search(types[GPT2_MAT_FC], fc, F, C, &st[kf], s, &e0[2], &e1[2]);
        scale_columns(fc, F, C, s);
        for (int i = 0; i < C; i++) w->ln_2_w[(size_t)l * C + i] /= s[i], w->ln_2_b[(size_t)l * C + i] /= s[i];
        if (verbose)
            fprintf(stderr, "awq: layer %d: alpha qkv %.2f proj %.2f fc %.2f; output error x%.3f x%.3f x%.3f\n", l, alpha[0],
                    alpha[1], alpha[2], e0[0] > 0 ? e1[0] / e0[0] : 1, e0[1] > 0 ? e1[1] / e0[1] : 1,
                    e0[2] > 0 ? e1[2] / e0[2] : 1);
        act_stats_free(&st[kq]), act_stats_free(&st[kp]), act_stats_free(&st[kf]);
        calib_run_block(m, cs, &stream, NULL, 1, NULL);  // the scaled block computes the same function
    }
    calib_stream_free(&stream);
    free(st), free(s);
}
