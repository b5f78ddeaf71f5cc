// prune.c: the pruning pipeline (see prune.h): blocks to drop by the KL their removal
// costs, then block by block on the calibration stream the pruned blocks produce:
// score, keep the best heads and neurons, compensate.
#include "prune.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// A linear's matrices and bias as floats (fp32 model): for saving, zeroing, restoring.
static void linear_set(gpt2_linear *dst, const gpt2_linear *src) {
    const wmat *d[2] = {&dst->w, &dst->w2}, *s[2] = {src ? &src->w : NULL, src ? &src->w2 : NULL};
    for (int f = 0; f < 2; f++) {
        size_t n = (size_t)d[f]->rows * d[f]->cols;
        if (!n) continue;
        if (src) memcpy((float *)d[f]->data, s[f]->data, n * sizeof(float));
        else memset((float *)d[f]->data, 0, n * sizeof(float));
    }
    int out = dst->w2.rows ? dst->w2.rows : dst->w.rows;
    if (out) {
        if (src) memcpy(dst->bias, src->bias, (size_t)out * sizeof(float));
        else memset(dst->bias, 0, (size_t)out * sizeof(float));
    }
}

// Block l of m becomes the identity (its two residual branches output zero), or, with src,
// gets its branches back from src.
static void block_branches(gpt2_model *m, int l, const gpt2_model *src) {
    linear_set(&m->layers[l].lin[GPT2_LIN_OUT], src ? &src->layers[l].lin[GPT2_LIN_OUT] : NULL);
    linear_set(&m->layers[l].lin[GPT2_LIN_DOWN], src ? &src->layers[l].lin[GPT2_LIN_DOWN] : NULL);
}

// log-softmax of one row of logits, in double.
static void log_softmax(const float *z, int V, double *out) {
    double mx = z[0], s = 0;
    for (int i = 1; i < V; i++) mx = z[i] > mx ? z[i] : mx;
    for (int i = 0; i < V; i++) s += exp(z[i] - mx);
    double lse = mx + log(s);
    for (int i = 0; i < V; i++) out[i] = z[i] - lse;
}

void prune_layer_kl(const gpt2_model *m, const calib_set *cs, int windows, double *kl) {
    int L = m->cfg.n_layer, V = m->cfg.vocab_size, T = cs->ctx;
    // The reference log-probabilities stay in memory: at most 256 MB of them.
    long cap = (256L << 20) / ((long)T * V * (long)sizeof(float));
    int nw = windows < cs->n_windows ? windows : cs->n_windows;
    if (nw > cap) nw = cap > 0 ? (int)cap : 1;
    gpt2_model c;
    gpt2_model_clone(&c, m);
    gpt2_state s;
    CHECK(gpt2_state_init(&s, m, T) == 0);
    float *ref = xmalloc((size_t)nw * T * V * sizeof *ref);
    double *lp = xmalloc((size_t)V * sizeof *lp), *lq = xmalloc((size_t)V * sizeof *lq);
    for (int w = 0; w < nw; w++) {
        gpt2_state_reset(&s);
        gpt2_forward(m, &s, cs->ids + (size_t)w * T, T, 1);
        for (int t = 0; t < T; t++) {
            log_softmax(s.logits + (size_t)t * V, V, lp);
            for (int i = 0; i < V; i++) ref[((size_t)w * T + t) * V + i] = (float)lp[i];
        }
    }
    for (int l = 0; l < L; l++) {
        block_branches(&c, l, NULL);
        double sum = 0;
        for (int w = 0; w < nw; w++) {
            gpt2_state_reset(&s);
            gpt2_forward(&c, &s, cs->ids + (size_t)w * T, T, 1);
            for (int t = 0; t < T; t++) {
                const float *p = ref + ((size_t)w * T + t) * V;
                log_softmax(s.logits + (size_t)t * V, V, lq);
                for (int i = 0; i < V; i++) sum += exp(p[i]) * (p[i] - lq[i]);
            }
        }
        kl[l] = sum / ((double)nw * T);
        block_branches(&c, l, m);
    }
    free(ref), free(lp), free(lq);
    gpt2_state_free(&s);
    gpt2_model_free(&c);
}

void prune_block_influence(const gpt2_model *m, const calib_set *cs, int windows, double *bi) {
    int L = m->cfg.n_layer, T = cs->ctx, C = m->cfg.n_embd;
    int nw = windows < cs->n_windows ? windows : cs->n_windows;
    size_t TC = (size_t)T * C;
    gpt2_state s;
    CHECK(gpt2_state_init(&s, m, T) == 0);
    float *trace = xmalloc((size_t)(L + 2) * TC * sizeof *trace);
    for (int l = 0; l < L; l++) bi[l] = 0;
    for (int w = 0; w < nw; w++) {
        gpt2_state_reset(&s);
        s.trace = trace;
        gpt2_forward(m, &s, cs->ids + (size_t)w * T, T, 0);
        s.trace = NULL;
        for (int l = 0; l < L; l++)
            for (int t = 0; t < T; t++) {
                const float *x = trace + (size_t)l * TC + (size_t)t * C, *y = x + TC;  // block l's input and output
                double xy = 0, xx = 0, yy = 0;
                for (int i = 0; i < C; i++) xy += (double)x[i] * y[i], xx += (double)x[i] * x[i], yy += (double)y[i] * y[i];
                bi[l] += 1 - xy / sqrt(xx * yy + 1e-300);
            }
    }
    for (int l = 0; l < L; l++) bi[l] /= (double)nw * T;
    free(trace);
    gpt2_state_free(&s);
}

void prune_note(char *notes, size_t cap, const char *fmt, ...) {
    size_t n = strlen(notes);
    if (n + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(notes + n, cap - n, fmt, ap);
    va_end(ap);
}

void prune_keep_top(const double *score, int n, int keep, uint8_t *mask) {
    memset(mask, 0, (size_t)n);
    for (int k = 0; k < keep; k++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!mask[i] && (best < 0 || score[i] > score[best])) best = i;
        mask[best] = 1;
    }
}

// Collects the inputs of matrix `mat` over block st->layer, scores the units, keeps the best
// `keep` of n (unit u owning `width` input columns), compensates and records the choice.
static int cut_units(gpt2_model *c, const calib_set *cs, calib_stream *st, int k, int n, int keep, int width,
                     const prune_opts *o, const prune_taylor *t, uint8_t *unit_keep, act_stats *stats) {
    int l = st->layer, mat = gpt2_mat_index(&c->cfg, l, k, 0), cols = n * width;
    act_stats_init(&stats[mat], cols, o->comp == PRUNE_COMP_REFIT);
    calib_run_block(c, cs, st, stats, 0, k == GPT2_LIN_OUT ? "prune: heads" : "prune: neurons");
    double *score = xmalloc(((size_t)n + 1) * sizeof *score);
    prune_unit_scores(c, l, k, &stats[mat], o->score, t, score);
    prune_keep_top(score, n, keep, unit_keep);
    uint8_t *col_keep = xmalloc((size_t)cols + 1);
    for (int i = 0; i < cols; i++) col_keep[i] = unit_keep[i / width];
    int rc = prune_compensate(&c->layers[l].lin[k], &stats[mat], col_keep, o->comp, o->damp);
    act_stats_free(&stats[mat]);
    free(score), free(col_keep);
    return rc;
}

prune_opts prune_defaults(void) {
    return (prune_opts){.ffn_multiple = 256, .score = PRUNE_SCORE_FLUCT, .comp = PRUNE_COMP_REFIT, .damp = 0.01f};
}

int prune_model(const gpt2_model *m, const calib_set *cs, const prune_opts *o, gpt2_model *out, char *notes,
                size_t notes_cap) {
    const gpt2_config *cfg = &m->cfg;
    int L = cfg->n_layer, rc = 0;
    memset(out, 0, sizeof *out);
    if (notes_cap) notes[0] = 0;
    if (!(o->heads >= 0 && o->heads < 1)) return err_set(ERR_ARG, "prune: --heads %g: a fraction in [0, 1)", o->heads);
    if (!(o->ffn >= 0 && o->ffn < 1)) return err_set(ERR_ARG, "prune: --ffn %g: a fraction in [0, 1)", o->ffn);
    if (o->drop_layers < 0 || o->drop_layers >= L)
        return err_set(ERR_ARG, "prune: --drop-layers %d: the model has %d layers (at least one must stay)", o->drop_layers, L);
    if (o->keep_layers) {
        int kept = 0;
        for (int l = 0; l < L; l++) kept += o->keep_layers[l] != 0;
        if (!kept) return err_set(ERR_ARG, "prune: --layers keeps no block");
        if (o->drop_layers) return err_set(ERR_ARG, "prune: give --layers or --drop-layers, not both");
    }
    if (o->ffn_multiple < 1) return err_set(ERR_ARG, "prune: --ffn-multiple %d: must be positive", o->ffn_multiple);
    if (!gpt2_model_is_f32(m)) return err_set(ERR_ARG, "prune: the model's matrices must be fp32 (prune before quantizing)");
    // Each layer's kept counts, checked before any work.
    for (int l = 0; l < L; l++) {
        int NH = gpt2_n_head(cfg, l), F = gpt2_n_ff(cfg, l);
        if (o->heads > 0 && NH > 0 && NH - (int)lround(NH * o->heads) < 1)
            return err_set(ERR_ARG, "prune: --heads %g leaves layer %d (%d heads) no head", o->heads, l, NH);
        long keep = lround(F * (1 - o->ffn) / o->ffn_multiple) * o->ffn_multiple;
        if (o->ffn > 0 && F > 0 && keep < 1)
            return err_set(ERR_ARG, "prune: --ffn %g leaves layer %d (MLP width %d) fewer than --ffn-multiple %d neurons",
                           o->ffn, l, F, o->ffn_multiple);
    }
    if (o->target_params && (o->heads > 0 || o->ffn > 0 || o->drop_layers || o->keep_layers))
        return err_set(ERR_ARG, "prune: --target-params chooses the cut itself; give it without --heads, --ffn, "
                                "--drop-layers and --layers");
    // Each layer's kept heads and width: from the fractions, or from the allocation.
    int *nh_arr = xmalloc((size_t)L * sizeof *nh_arr), *nf_arr = xmalloc((size_t)L * sizeof *nf_arr);
    uint8_t *alloc_keep = NULL;
    for (int l = 0; l < L; l++) {
        int NH = gpt2_n_head(cfg, l), F = gpt2_n_ff(cfg, l);
        nh_arr[l] = o->heads > 0 && NH > 0 ? NH - (int)lround(NH * o->heads) : NH;
        nf_arr[l] = o->ffn > 0 && F > 0 ? (int)(lround(F * (1 - o->ffn) / o->ffn_multiple) * o->ffn_multiple) : F;
        if (nf_arr[l] > F) nf_arr[l] = F;
    }
    // Taylor scores come from the original model, once (the others from each block's inputs).
    prune_taylor tay = {0};
    if (o->score == PRUNE_SCORE_TAYLOR) rc = prune_taylor_compute(m, cs, &tay);
    if (!rc && o->target_params) {
        alloc_keep = xmalloc((size_t)L);
        rc = prune_allocate(m, cs, o, &tay, nh_arr, nf_arr, alloc_keep, notes, notes_cap);
    }
    if (rc) {
        free(nh_arr), free(nf_arr), free(alloc_keep);
        prune_taylor_free(&tay);
        return rc;
    }
    const uint8_t *keep_layers = alloc_keep ? alloc_keep : o->keep_layers;
    gpt2_model c;
    gpt2_model_clone(&c, m);
    prune_mask pm;
    prune_mask_init(&pm, cfg);
    int dropped = 0;
    for (int l = 0; keep_layers && l < L; l++)
        if (!keep_layers[l]) pm.layer[l] = 0, block_branches(&c, l, NULL), dropped++;
    if (dropped) {
        prune_note(notes, notes_cap, "dropped blocks (%s):", alloc_keep ? "--target-params" : "--layers");
        for (int l = 0; l < L; l++)
            if (!pm.layer[l]) prune_note(notes, notes_cap, " %d", l);
        prune_note(notes, notes_cap, "\n");
    }
    if (o->drop_layers) {
        double *kl = xmalloc((size_t)L * sizeof *kl);
        if (o->drop_by_bi) prune_block_influence(m, cs, 8, kl);
        else prune_layer_kl(m, cs, 8, kl);
        for (int d = 0; d < o->drop_layers; d++) {
            int best = -1;
            for (int l = 0; l < L; l++)
                if (pm.layer[l] && (best < 0 || kl[l] < kl[best])) best = l;
            pm.layer[best] = 0;
            block_branches(&c, best, NULL);
        }
        prune_note(notes, notes_cap, "dropped blocks (%s):", o->drop_by_bi ? "block influence 1 - cos(in, out)" : "KL of dropping each alone");
        for (int l = 0; l < L; l++)
            if (!pm.layer[l]) prune_note(notes, notes_cap, " %d (%.4f)", l, kl[l]);
        prune_note(notes, notes_cap, "\n");
        free(kl);
    }
    act_stats *stats = xcalloc((size_t)gpt2_n_mats(cfg), sizeof *stats);
    calib_stream st;
    calib_stream_init(&st, &c, cs);
    for (int l = 0; l < L && !rc; l++) {
        if (!pm.layer[l]) {  // an identity block: the stream passes unchanged
            st.layer++;
            continue;
        }
        int NH = gpt2_n_head(cfg, l), F = gpt2_n_ff(cfg, l), nh = nh_arr[l], nf = nf_arr[l];
        uint8_t *head_keep = pm.head + (size_t)l * pm.max_head, *ff_keep = pm.ff + (size_t)l * pm.max_ff;
        if (nh < NH) rc = cut_units(&c, cs, &st, GPT2_LIN_OUT, NH, nh, cfg->head_dim, o, &tay, head_keep, stats);
        if (!rc && nf < F) rc = cut_units(&c, cs, &st, GPT2_LIN_DOWN, F, nf, 1, o, &tay, ff_keep, stats);
        if (!rc) calib_run_block(&c, cs, &st, NULL, 1, NULL);
        prune_note(notes, notes_cap, "block %d: heads %d of %d, MLP width %d of %d\n", l, nh, NH, nf, F);
    }
    calib_stream_free(&st);
    free(stats), free(nh_arr), free(nf_arr), free(alloc_keep);
    prune_taylor_free(&tay);
    if (!rc) rc = prune_apply(&c, &pm, out);
    prune_mask_free(&pm);
    gpt2_model_free(&c);
    return rc;
}
