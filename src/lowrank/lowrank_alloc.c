// lowrank_alloc.c: --target-params for compression layers: each matrix's rank and method
// from the KL each candidate causes alone (see lowrank.h).
#include "lowrank.h"
#include "../compress/kl_probe.h"
#include "../core/err.h"
#include "../core/progress.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../prune/prune.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_TOKENS 2048
#define MAX_RANKS 16  // candidate ranks per matrix (evenly spaced when more would fit)

static const char *const lin_names[GPT2_LINEARS] = {"attn_qkv", "attn_output", "ffn_up", "ffn_down"};

typedef struct mat_opts {
    int l, k, out, in, n;          // which matrix; n candidate ranks
    int rank[MAX_RANKS];
    double kl[MAX_RANKS];          // the best method's KL at each rank
    int method[MAX_RANKS];         // ... and that method
    double saved[MAX_RANKS];       // parameters saved
} mat_opts;

static void candidates(mat_opts *x, int multiple) {
    double be = lowrank_break_even(x->out, x->in);
    int all[4096], na = 0;
    for (int r = multiple; r < be && na < 4096; r += multiple) all[na++] = r;
    x->n = na < MAX_RANKS ? na : MAX_RANKS;
    for (int i = 0; i < x->n; i++) {  // spread over [multiple, largest], the largest always in
        int j = x->n == na ? i : (int)lround((double)i * (na - 1) / (x->n - 1));
        x->rank[i] = all[j];
        x->saved[i] = (double)((long)x->out * x->in - lowrank_params(x->out, x->in, all[j]));
        x->kl[i] = INFINITY;
        x->method[i] = 0;
    }
}

static void measure(const gpt2_model *m, const calib_set *cs, const lowrank_opts *o, mat_opts *mo, int nmo) {
    const gpt2_config *c = &m->cfg;
    gpt2_model pm;
    gpt2_model_clone(&pm, m);
    kl_probe p;
    kl_probe_init(&p, &pm, cs, PROBE_TOKENS);
    act_stats *stats = xcalloc((size_t)gpt2_n_mats(c), sizeof *stats);
    calib_stream st;
    calib_stream_init(&st, m, cs);
    int n_methods = o->all_methods ? LOWRANK_METHOD_COUNT : 1, done = 0, total = 0;
    for (int q = 0; q < nmo; q++) total += mo[q].n * n_methods;
    double t0 = timer_now();
    for (int l = 0, q = 0; l < c->n_layer; l++) {
        int q0 = q;
        for (; q < nmo && mo[q].l == l; q++)
            act_stats_init(&stats[gpt2_mat_index(c, l, mo[q].k, 0)], mo[q].in, o->all_methods || o->method == LOWRANK_WHITEN);
        calib_run_block(m, cs, &st, stats, 1, "lowrank: statistics");
        for (int j = q0; j < q; j++) {
            mat_opts *x = &mo[j];
            int i = gpt2_mat_index(c, l, x->k, 0);
            float *A = xmalloc((size_t)x->rank[x->n - 1] * x->in * sizeof *A);
            float *B = xmalloc((size_t)x->out * x->rank[x->n - 1] * sizeof *B);
            float *P = xmalloc((size_t)x->out * x->in * sizeof *P);
            for (int mi = 0; mi < n_methods; mi++) {
                lowrank_method meth = o->all_methods ? (lowrank_method)mi : o->method;
                lowrank_basis b;
                if (lowrank_basis_init(&b, m->layers[l].lin[x->k].w.data, x->out, x->in, meth, &stats[i], o->damp)) {
                    done += x->n;  // this method cannot factor this matrix: not a candidate
                    continue;
                }
                for (int ri = 0; ri < x->n; ri++) {
                    lowrank_basis_factors(&b, x->rank[ri], A, B);
                    lowrank_product(A, B, x->out, x->in, x->rank[ri], P);
                    double kl = kl_probe_matrix(&p, i, (wmat){.type = QTYPE_F32, .rows = x->out, .cols = x->in, .data = P});
                    if (kl < x->kl[ri]) x->kl[ri] = kl, x->method[ri] = meth;
                    progress_note("lowrank: KL of each rank", ++done, total, t0);
                }
                lowrank_basis_free(&b);
            }
            free(A), free(B), free(P);
            act_stats_free(&stats[i]);
        }
    }
    calib_stream_free(&st);
    free(stats);
    kl_probe_free(&p);
    gpt2_model_free(&pm);
}

// Per matrix the rank (ci = -1: dense) minimising KL − λ·saved; returns the parameters saved.
static double choose(const mat_opts *mo, int nmo, double lambda, int *ci) {
    double total = 0;
    for (int q = 0; q < nmo; q++) {
        double best = 0;
        ci[q] = -1;
        for (int i = 0; i < mo[q].n; i++)
            if (mo[q].kl[i] - lambda * mo[q].saved[i] < best) best = mo[q].kl[i] - lambda * mo[q].saved[i], ci[q] = i;
        total += ci[q] >= 0 ? mo[q].saved[ci[q]] : 0;
    }
    return total;
}

int lowrank_allocate(const gpt2_model *m, const calib_set *cs, const lowrank_opts *o, int (*rank)[GPT2_LINEARS],
                     int (*method)[GPT2_LINEARS], char *notes, size_t notes_cap) {
    const gpt2_config *c = &m->cfg;
    size_t P = gpt2_param_count(c);
    if (o->target_params >= P)
        return err_set(ERR_ARG, "lowrank: --target-params %zu is not below the model's %zu parameters", o->target_params, P);
    mat_opts *mo = xcalloc((size_t)c->n_layer * GPT2_LINEARS, sizeof *mo);
    int nmo = 0;
    double most = 0;
    for (int l = 0; l < c->n_layer; l++)
        for (int k = 0; k < GPT2_LINEARS; k++) {
            int out, in;
            gpt2_linear_dims(c, l, k, &out, &in);
            if (!o->linears[k] || (o->layers && !o->layers[l]) || out == 0 || in == 0) continue;
            mat_opts *x = &mo[nmo];
            *x = (mat_opts){.l = l, .k = k, .out = out, .in = in};
            candidates(x, o->rank_multiple);
            if (x->n == 0) continue;  // no rank of this multiple saves anything
            most += x->saved[0];
            nmo++;
        }
    double need = (double)(P - o->target_params);
    int *ci = xmalloc((size_t)(nmo + 1) * sizeof *ci), rc = 0;
    if (most < need) {
        rc = err_set(ERR_ARG, "lowrank: --target-params %zu: factorizing every placed matrix at rank %d leaves %.0f "
                              "parameters (place more matrices, or lower --rank-multiple)", o->target_params,
                     o->rank_multiple, (double)P - most);
        goto done;
    }
    measure(m, cs, o, mo, nmo);
    double lo = 0, hi = 1e-12;
    while (choose(mo, nmo, hi, ci) < need && hi < 1e12) hi *= 2;
    for (int it = 0; it < 100; it++) {
        double mid = 0.5 * (lo + hi);
        if (choose(mo, nmo, mid, ci) >= need) hi = mid;
        else lo = mid;
    }
    double saved = choose(mo, nmo, hi, ci);
    // Give back rank where the budget still holds and KL falls the most.
    for (;;) {
        int bq = -1, bi = 0;
        double gain = 0;
        for (int q = 0; q < nmo; q++) {
            for (int i = ci[q] + 1; i < mo[q].n + 1; i++) {  // a larger rank, or dense (i == n)
                if (ci[q] < 0) break;
                double s_new = i < mo[q].n ? mo[q].saved[i] : 0, k_new = i < mo[q].n ? mo[q].kl[i] : 0;
                double g = mo[q].kl[ci[q]] - k_new;
                if (saved - mo[q].saved[ci[q]] + s_new >= need && g > gain) gain = g, bq = q, bi = i;
            }
        }
        if (bq < 0) break;
        double s_new = bi < mo[bq].n ? mo[bq].saved[bi] : 0;
        saved += s_new - mo[bq].saved[ci[bq]];
        ci[bq] = bi < mo[bq].n ? bi : -1;
    }
    double kl = 0;
    for (int q = 0; q < nmo; q++) {
        mat_opts *x = &mo[q];
        rank[x->l][x->k] = ci[q] >= 0 ? x->rank[ci[q]] : 0;
        method[x->l][x->k] = ci[q] >= 0 ? x->method[ci[q]] : (int)o->method;
        kl += ci[q] >= 0 ? x->kl[ci[q]] : 0;
    }
    prune_note(notes, notes_cap, "--target-params %zu: %.0f parameters kept; KL of each matrix's factorization alone "
                                  "(%d probe tokens), summed: %.4f\n", o->target_params, (double)P - saved, PROBE_TOKENS, kl);
    for (int q = 0; q < nmo; q++) {
        mat_opts *x = &mo[q];
        if (ci[q] < 0) prune_note(notes, notes_cap, "  blk.%d.%s: dense (rank %d would cost KL %.4f)\n", x->l,
                                  lin_names[x->k], x->rank[x->n - 1], x->kl[x->n - 1]);
    }
done:
    free(ci), free(mo);
    return rc;
}
