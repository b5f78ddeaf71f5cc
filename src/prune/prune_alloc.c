// prune_alloc.c: --target-params: per-layer kept heads, MLP widths and blocks that meet a
// parameter budget where the measured KL is least, as --target-bpw spends bits.
//
// Each layer's options are measured alone on the original model (or interpolated between
// measured neighbours, interpolate_odd), with the scores and the compensation prune_model
// will use: removing k/8 of its heads (k = 1..7), k/8 of its neurons, or the whole block. The KL of each comes from a forward pass from that block on
// cached calibration windows (kl_probe), and is taken as additive across layers and
// between a layer's heads and neurons. A Lagrange multiplier λ then picks, per layer, the
// option minimising KL − λ·(parameters removed); the smallest λ whose choices meet the
// budget wins.
#include "prune.h"
#include "../compress/kl_probe.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRID 8  // options remove k/GRID of a layer's heads or neurons, k = 1..GRID-1
#define PROBE_TOKENS 2048

// One layer's measured options: heads kept (nh[i], KL kh[i]) and widths kept (nf[j], kf[j]),
// index 0 being "nothing removed" (KL 0); and the KL of dropping the block.
typedef struct layer_opts {
    int n_h, n_f;
    int nh[GRID], nf[GRID];
    double kh[GRID], kf[GRID], kdrop;
} layer_opts;

// Parameters of cfg with layer l holding nh heads and an MLP of width nf (or dropped: nh < 0).
static size_t params_with(const gpt2_config *cfg, int l, int nh, int nf) {
    static gpt2_config c;  // large (per-layer arrays): not on the stack
    c = *cfg;
    if (nh < 0) {
        for (int i = l; i + 1 < c.n_layer; i++) {
            c.n_head_arr[i] = c.n_head_arr[i + 1], c.n_ff_arr[i] = c.n_ff_arr[i + 1];
            memcpy(c.rank_arr[i], c.rank_arr[i + 1], sizeof c.rank_arr[i]);
        }
        c.n_layer--;
    } else {
        c.n_head_arr[l] = nh, c.n_ff_arr[l] = nf;
    }
    return gpt2_param_count(&c);
}

// KL of removing all but the best `keep` of n units (each `width` input columns of linear
// k of layer l), compensated; the linear is restored afterwards. +inf when the refit fails.
static double probe_cut(kl_probe *p, gpt2_model *c, int l, int k, const act_stats *st, const double *score, int n,
                        int keep, int width, const prune_opts *o, float *save_w, float *save_b) {
    gpt2_linear *lin = &c->layers[l].lin[k];
    size_t nw = (size_t)lin->w.rows * lin->w.cols;
    int out = lin->w2.rows ? lin->w2.rows : lin->w.rows;
    memcpy(save_w, lin->w.data, nw * sizeof(float));
    memcpy(save_b, lin->bias, (size_t)out * sizeof(float));
    uint8_t *unit = xmalloc((size_t)n), *col = xmalloc((size_t)n * width);
    prune_keep_top(score, n, keep, unit);
    for (int i = 0; i < n * width; i++) col[i] = unit[i / width];
    double kl = INFINITY;
    if (prune_compensate(lin, st, col, o->comp, o->damp) == 0) kl = kl_probe_from(p, l);
    else err_clear();
    memcpy((float *)lin->w.data, save_w, nw * sizeof(float));
    memcpy(lin->bias, save_b, (size_t)out * sizeof(float));
    free(unit), free(col);
    return kl;
}

// Layer l's options (no KL yet): heads and widths kept when k/GRID of them go, k = 0..GRID-1,
// each count once; a layer keeps at least one head and one --ffn-multiple of neurons.
static void grid(const gpt2_config *cfg, int l, int multiple, layer_opts *x) {
    int NH = gpt2_n_head(cfg, l), F = gpt2_n_ff(cfg, l);
    x->n_h = x->n_f = 1;
    x->nh[0] = NH, x->nf[0] = F, x->kh[0] = x->kf[0] = 0;
    for (int g = 1; g < GRID && NH > 1; g++) {
        int keep = NH - (int)lround((double)NH * g / GRID);
        if (keep >= 1 && keep != x->nh[x->n_h - 1]) x->nh[x->n_h++] = keep;
    }
    for (int g = 1; g < GRID && F > 1; g++) {
        int keep = (int)(lround(F * (1.0 - (double)g / GRID) / multiple) * multiple);
        if (keep >= 1 && keep < x->nf[x->n_f - 1]) x->nf[x->n_f++] = keep;
    }
}

// Options 2, 4, 6, ... and the last are measured; each odd one between two measured ones
// takes the KL interpolated linearly in the units kept: 9 probes a layer instead of 15 (and
// not the largest refits). On the bundled model the cuts chosen so have the same held-out KL
// as with every option measured (0.0628 vs 0.0631 at -25%, 0.143 vs 0.140 at -34%); GPT-2's
// shape at 75%: 159 -> 105 s on 2 threads.
static int measured(int i, int n) { return i % 2 == 0 || i == n - 1; }

static void interpolate_odd(const int *keep, double *kl, int n) {
    for (int i = 1; i + 1 < n; i += 2)
        kl[i] = kl[i - 1] + (kl[i + 1] - kl[i - 1]) * (double)(keep[i - 1] - keep[i]) / (double)(keep[i - 1] - keep[i + 1]);
}

// Measures every option of every layer of c (the original model, restored afterwards); an
// option whose refit fails is given up (its KL is +inf).
static void measure(gpt2_model *c, const calib_set *cs, const prune_opts *o, const prune_taylor *t, layer_opts *lo) {
    const gpt2_config *cfg = &c->cfg;
    int L = cfg->n_layer;
    kl_probe p;
    kl_probe_init(&p, c, cs, PROBE_TOKENS);
    act_stats *stats = xcalloc((size_t)gpt2_n_mats(cfg), sizeof *stats);
    calib_stream st;
    calib_stream_init(&st, c, cs);
    size_t big = 0;
    for (int l = 0; l < L; l++)
        for (int k = 0; k < GPT2_LINEARS; k++) {
            int rows, cols;
            gpt2_linear_dims(cfg, l, k, &rows, &cols);
            big = (size_t)rows * cols > big ? (size_t)rows * cols : big;
        }
    size_t nb = (size_t)(3 * gpt2_max_attn_width(cfg) + gpt2_max_ff(cfg) + cfg->n_embd);  // any bias
    float *save_w = xmalloc(big * sizeof(float)), *save_w2 = xmalloc(big * sizeof(float));
    float *save_b = xmalloc(nb * sizeof(float)), *save_b2 = xmalloc(nb * sizeof(float));
    for (int l = 0; l < L; l++) {
        layer_opts *x = &lo[l];
        int NH = gpt2_n_head(cfg, l), F = gpt2_n_ff(cfg, l), HS = cfg->head_dim;
        int mo = gpt2_mat_index(cfg, l, GPT2_LIN_OUT, 0), md = gpt2_mat_index(cfg, l, GPT2_LIN_DOWN, 0);
        if (NH) act_stats_init(&stats[mo], NH * HS, o->comp == PRUNE_COMP_REFIT);
        if (F) act_stats_init(&stats[md], F, o->comp == PRUNE_COMP_REFIT);
        calib_run_block(c, cs, &st, stats, 0, "prune: measuring options");
        double *score = xmalloc((size_t)(NH > F ? NH : F) * sizeof *score + 1);
        if (NH > 1) prune_unit_scores(c, l, GPT2_LIN_OUT, &stats[mo], o->score, t, score);
        for (int i = 1; i < x->n_h; i++)
            if (measured(i, x->n_h)) x->kh[i] = probe_cut(&p, c, l, GPT2_LIN_OUT, &stats[mo], score, NH, x->nh[i], HS, o, save_w, save_b);
        if (F > 1) prune_unit_scores(c, l, GPT2_LIN_DOWN, &stats[md], o->score, t, score);
        for (int j = 1; j < x->n_f; j++)
            if (measured(j, x->n_f)) x->kf[j] = probe_cut(&p, c, l, GPT2_LIN_DOWN, &stats[md], score, F, x->nf[j], 1, o, save_w, save_b);
        interpolate_odd(x->nh, x->kh, x->n_h);
        interpolate_odd(x->nf, x->kf, x->n_f);
        // A larger cut is never cheaper than a smaller one; what says otherwise is noise.
        for (int i = 1; i < x->n_h; i++) x->kh[i] = fmax(x->kh[i], x->kh[i - 1]);
        for (int j = 1; j < x->n_f; j++) x->kf[j] = fmax(x->kf[j], x->kf[j - 1]);
        // The block dropped: both residual branches output zero (a factorized linear's A zeroed).
        gpt2_linear *br[2] = {&c->layers[l].lin[GPT2_LIN_OUT], &c->layers[l].lin[GPT2_LIN_DOWN]};
        float *sw[2] = {save_w, save_w2}, *sb[2] = {save_b, save_b2};
        for (int i = 0; i < 2; i++) {
            size_t n = (size_t)br[i]->w.rows * br[i]->w.cols;
            memcpy(sw[i], br[i]->w.data, n * sizeof(float)), memset((float *)br[i]->w.data, 0, n * sizeof(float));
            memcpy(sb[i], br[i]->bias, (size_t)cfg->n_embd * sizeof(float));
            memset(br[i]->bias, 0, (size_t)cfg->n_embd * sizeof(float));
        }
        x->kdrop = kl_probe_from(&p, l);
        for (int i = 0; i < 2; i++) {
            memcpy((float *)br[i]->w.data, sw[i], (size_t)br[i]->w.rows * br[i]->w.cols * sizeof(float));
            memcpy(br[i]->bias, sb[i], (size_t)cfg->n_embd * sizeof(float));
        }
        if (NH) act_stats_free(&stats[mo]);
        if (F) act_stats_free(&stats[md]);
        free(score);
        calib_run_block(c, cs, &st, NULL, 1, NULL);
    }
    free(save_w), free(save_w2), free(save_b), free(save_b2);
    calib_stream_free(&st);
    free(stats);
    kl_probe_free(&p);
}

// Per layer: the option (i, j) or the drop (i = -1) minimising KL − λ·saved; returns the
// parameters all the choices remove.
static size_t choose(const layer_opts *lo, int L, double lambda, const double *sh, const double *sf,
                     const double *sdrop, int *ci, int *cj) {
    double total = 0;
    for (int l = 0; l < L; l++) {
        const layer_opts *x = &lo[l];
        double best = 0, saved = 0;
        ci[l] = cj[l] = 0;
        for (int i = 0; i < x->n_h; i++)
            for (int j = 0; j < x->n_f; j++) {
                double s = sh[l * GRID + i] + sf[l * GRID + j], v = x->kh[i] + x->kf[j] - lambda * s;
                if (v < best) best = v, saved = s, ci[l] = i, cj[l] = j;
            }
        if (!isnan(x->kdrop) && x->kdrop - lambda * sdrop[l] < best) saved = sdrop[l], ci[l] = -1;
        total += saved;
    }
    return (size_t)total;
}

int prune_allocate(const gpt2_model *m, const calib_set *cs, const prune_opts *o, const prune_taylor *t, int *n_head,
                   int *n_ff, uint8_t *keep_layer, char *notes, size_t notes_cap) {
    const gpt2_config *cfg = &m->cfg;
    int L = cfg->n_layer;
    size_t P = gpt2_param_count(cfg);
    if (o->target_params >= P)
        return err_set(ERR_ARG, "prune: --target-params %zu is not below the model's %zu parameters", o->target_params, P);
    layer_opts *lo = xcalloc((size_t)L, sizeof *lo);
    for (int l = 0; l < L; l++) grid(cfg, l, o->ffn_multiple, &lo[l]);
    double *sh = xcalloc((size_t)L * GRID, sizeof *sh), *sf = xcalloc((size_t)L * GRID, sizeof *sf);
    double *sdrop = xcalloc((size_t)L, sizeof *sdrop);
    for (int l = 0; l < L; l++) {
        for (int i = 0; i < lo[l].n_h; i++) sh[l * GRID + i] = (double)(P - params_with(cfg, l, lo[l].nh[i], gpt2_n_ff(cfg, l)));
        for (int j = 0; j < lo[l].n_f; j++) sf[l * GRID + j] = (double)(P - params_with(cfg, l, gpt2_n_head(cfg, l), lo[l].nf[j]));
        sdrop[l] = (double)(P - params_with(cfg, l, -1, 0));
    }
    int *ci = xmalloc((size_t)L * sizeof *ci), *cj = xmalloc((size_t)L * sizeof *cj), rc = 0;
    size_t need = P - o->target_params;
    // The most that can go: every block but one dropped, that one cut to its smallest option.
    double all_drop = 0, most = 0;
    for (int l = 0; l < L; l++) all_drop += sdrop[l];
    for (int l = 0; l < L; l++)
        most = fmax(most, all_drop - sdrop[l] + sh[l * GRID + lo[l].n_h - 1] + sf[l * GRID + lo[l].n_f - 1]);
    if (most < (double)need) {
        rc = err_set(ERR_ARG, "prune: --target-params %zu: the smallest model these cuts reach (one block, 7/8 of its "
                              "heads and neurons removed) has %.0f parameters", o->target_params, (double)P - most);
        goto done;
    }
    gpt2_model c;
    gpt2_model_clone(&c, m);
    measure(&c, cs, o, t, lo);
    gpt2_model_free(&c);
    // KL per parameter is far below 1: λ from 1e-12 up, doubling, then bisected.
    double lo_l = 0, hi_l = 1e-12;
    while (choose(lo, L, hi_l, sh, sf, sdrop, ci, cj) < need && hi_l < 1e12) hi_l *= 2;
    if (choose(lo, L, hi_l, sh, sf, sdrop, ci, cj) < need) {  // only options whose refit failed are left
        rc = err_set(ERR_ARG, "prune: --target-params %zu: the cuts that could reach it cannot be compensated (raise "
                              "--damp)", o->target_params);
        goto done;
    }
    for (int it = 0; it < 100; it++) {
        double mid = 0.5 * (lo_l + hi_l);
        if (choose(lo, L, mid, sh, sf, sdrop, ci, cj) >= need) hi_l = mid;
        else lo_l = mid;
    }
    size_t saved = choose(lo, L, hi_l, sh, sf, sdrop, ci, cj);
    // The multiplier's choice may overshoot by a step: give back the smaller cuts that save the
    // most KL while the budget still holds.
    for (;;) {
        int bl = -1, bi = 0, bj = 0;
        double gain = 0;
        size_t bsaved = 0;
        for (int l = 0; l < L; l++) {
            if (ci[l] < 0) continue;
            for (int d = 0; d < 2; d++) {
                int i = ci[l] - (d == 0), j = cj[l] - (d == 1);
                if (i < 0 || j < 0) continue;
                double s_now = sh[l * GRID + ci[l]] + sf[l * GRID + cj[l]], s_new = sh[l * GRID + i] + sf[l * GRID + j];
                double g = lo[l].kh[ci[l]] + lo[l].kf[cj[l]] - lo[l].kh[i] - lo[l].kf[j];
                size_t total = saved - (size_t)(s_now - s_new);
                if (total >= need && g > gain) gain = g, bl = l, bi = i, bj = j, bsaved = total;
            }
        }
        if (bl < 0) break;
        ci[bl] = bi, cj[bl] = bj, saved = bsaved;
    }
    int kept = 0;
    double kl = 0;
    for (int l = 0; l < L; l++) {
        keep_layer[l] = ci[l] >= 0;
        kept += keep_layer[l];
        n_head[l] = ci[l] >= 0 ? lo[l].nh[ci[l]] : gpt2_n_head(cfg, l);
        n_ff[l] = ci[l] >= 0 ? lo[l].nf[cj[l]] : gpt2_n_ff(cfg, l);
        kl += ci[l] >= 0 ? lo[l].kh[ci[l]] + lo[l].kf[cj[l]] : lo[l].kdrop;
    }
    if (!kept) {
        rc = err_set(ERR_ARG, "prune: --target-params %zu would drop every block", o->target_params);
        goto done;
    }
    prune_note(notes, notes_cap, "--target-params %zu: %zu parameters kept; KL of each layer's cut alone (%d probe tokens), "
                                  "summed: %.4f\n", o->target_params, P - saved, PROBE_TOKENS, kl);
    for (int l = 0; l < L; l++) {
        if (ci[l] < 0) prune_note(notes, notes_cap, "  block %d: dropped (KL %.4f)\n", l, lo[l].kdrop);
        else
            prune_note(notes, notes_cap, "  block %d: heads %d of %d (KL %.4f), MLP width %d of %d (KL %.4f); dropping it: KL %.4f\n",
                        l, n_head[l], gpt2_n_head(cfg, l), lo[l].kh[ci[l]], n_ff[l], gpt2_n_ff(cfg, l), lo[l].kf[cj[l]],
                        lo[l].kdrop);
    }
done:
    free(ci), free(cj), free(sh), free(sf), free(sdrop), free(lo);
    return rc;
}
