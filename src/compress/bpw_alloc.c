// bpw_alloc.c: sensitivity-driven type allocation (see bpw_alloc.h).
#include "bpw_alloc.h"
#include "kl_probe.h"
#include "plan.h"
#include "../core/msg.h"
#include "../core/err.h"
#include "../core/progress.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const qtype K_CANDIDATES[] = {QTYPE_Q2_K, QTYPE_Q3_K, QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q6_K, QTYPE_Q8_0};
static const qtype SMALL_CANDIDATES[] = {QTYPE_Q4_0, QTYPE_Q5_0, QTYPE_Q8_0};

// Σ_ij d_j (q_ij − w_ij)²: the rounding error of the stored rows q, each input column weighted by its
// mean square activation d (NULL: 1, the embedding, whose rows are looked up).
static double weighted_error(qtype t, const void *q, const float *W, int rows, int cols, const float *d) {
    size_t rb = qtype_row_bytes(t, (size_t)cols);
    double *per_row = xmalloc((size_t)rows * sizeof *per_row + 1);
#pragma omp parallel
    {
        float *row = xmalloc((size_t)cols * sizeof *row);
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            dequantize_row(t, (const char *)q + (size_t)r * rb, row, (size_t)cols);
            const float *w = W + (size_t)r * cols;
            double s = 0;
            for (int j = 0; j < cols; j++) {
                double diff = (double)row[j] - w[j];
                s += (d ? d[j] : 1.0) * diff * diff;
            }
            per_row[r] = s;
        }
        free(row);
    }
    double e = 0;  // in row order: the same bits whatever the threads (the plan compares these)
    for (int r = 0; r < rows; r++) e += per_row[r];
    free(per_row);
    return e;
}

// The order in which x's types are probed: nearest the target in bits per weight first (the
// greedy's choices fall there), the top type last: its KL sits at the probe's floor (on the
// reference model Q8_0 measures up to 5x what scaling a lower type's gives).
static void probe_order(const bpw_unit *x, double target, int *order) {
    double w = (double)x->rows * x->cols, key[BPW_MAX_CAND];
    for (int k = 0; k < x->n_cand; k++) {
        order[k] = k;
        key[k] = k == x->n_cand - 1 ? INFINITY : fabs(x->bits[k] / w - target);
    }
    for (int i = 1; i < x->n_cand; i++)  // insertion sort; ties: the lower type first
        for (int j = i; j > 0 && key[order[j]] < key[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
}

// The probed type nearest k with a KL above 0 (ties: the lower, whose KL is better resolved); -1 if none.
static int scale_source(const bpw_unit *x, int k) {
    for (int d = 0; d < x->n_cand; d++) {
        if (k - d >= 0 && x->probed[k - d] && x->kl[k - d] > 0) return k - d;
        if (k + d < x->n_cand && x->probed[k + d] && x->kl[k + d] > 0) return k + d;
    }
    return -1;
}

// Every unprobed type's KL scaled from the nearest probed one by the weighted rounding errors.
static void rescale(bpw_unit *x) {
    for (int k = 0; k < x->n_cand; k++) {
        int s = scale_source(x, k);
        if (!x->probed[k]) x->kl[k] = s < 0 ? 0 : x->err[s] > 0 ? x->kl[s] * x->err[k] / x->err[s] : x->kl[s];
    }
}

void bpw_sensitivity(gpt2_model *m, const calib_set *cs, double target, int probes, bpw_unit *u, int *nw, int *ctx) {
    int nu = gpt2_n_mats(&m->cfg);
    memset(u, 0, (size_t)nu * sizeof *u);
    for (int i = 0; i < nu; i++) {
        bpw_unit *x = &u[i];
        const wmat *v = gpt2_mat(m, i);
        x->rows = v->rows, x->cols = v->cols;
        const qtype *cand = x->cols % 256 == 0 ? K_CANDIDATES : SMALL_CANDIDATES;
        x->n_cand = x->cols % 256 == 0 ? (int)(sizeof K_CANDIDATES / sizeof *cand) : (int)(sizeof SMALL_CANDIDATES / sizeof *cand);
        for (int k = 0; k < x->n_cand; k++) {
            x->cand[k] = cand[k];
            x->bits[k] = 8.0 * (double)x->rows * (double)qtype_row_bytes(cand[k], (size_t)x->cols);
        }
    }
    kl_probe probe;
    kl_probe_init(&probe, m, cs, 1024);
    calib_set probe_windows = {cs->ids, probe.nw, cs->ctx};  // the input energy on the probe's own windows
    float **energy = calib_importance(m, &probe_windows, "bpw: activations");
    // A probe (the forward pass from the matrix's block to the head) is the cost: at GPT-2-XL's
    // size one per matrix and type takes hours. So `probes` types per matrix are probed and
    // the others scaled from the nearest probed one by their weighted rounding error: to second
    // order the KL is quadratic in the change of the matrix's outputs, whose energy that error is.
    double t0 = timer_now();
    int done = 0, total = 0;
    for (int i = 0; i < nu; i++) total += probes < u[i].n_cand ? probes : u[i].n_cand;
    for (int i = 0; i < nu; i++) {
        bpw_unit *x = &u[i];
        const float *src = gpt2_mat(m, i)->data;
        void *buf = xmalloc((size_t)x->rows * qtype_row_bytes(QTYPE_Q8_0, (size_t)x->cols));  // the largest candidate
        int order[BPW_MAX_CAND], want[BPW_MAX_CAND] = {0}, any = 0;
        probe_order(x, target, order);
        for (int j = 0; j < probes && j < x->n_cand; j++) want[order[j]] = 1;
        for (int k = x->n_cand - 1; k >= 0; k--) {  // downwards: the fallbacks below come after
            CHECK(quantize_rows(x->cand[k], src, buf, x->rows, x->cols, NULL) == 0);
            x->err[k] = weighted_error(x->cand[k], buf, src, x->rows, x->cols, energy[i]);
            // Every probe so far at 0 or below (under the probe's resolution): the next type down too.
            int fallback = any && scale_source(x, k) < 0;
            if (!want[k] && !fallback) continue;
            x->kl[k] = kl_probe_matrix(&probe, i, (wmat){x->cand[k], x->rows, x->cols, buf});
            x->probed[k] = 1;
            any = 1;
            if (done < total) progress_note("bpw: sensitivity", ++done, total, t0);
        }
        rescale(x);
        free(buf);
        free(energy[i]);
    }
    free(energy);
    if (nw) *nw = probe.nw;
    if (ctx) *ctx = probe.ctx;
    kl_probe_free(&probe);
}

double bpw_choose(bpw_unit *u, int n, double target) {
    double total_w = 0, used = 0;
    for (int i = 0; i < n; i++) {
        total_w += (double)u[i].rows * u[i].cols;
        u[i].pick = 0;
        used += u[i].bits[0];
    }
    // Greedy: from the smallest types, take the upgrade that saves the most KL per bit
    // while the budget allows.
    double budget = target * total_w;
    for (;;) {
        int bi = -1, bk = -1;
        double best = 0;
        for (int i = 0; i < n; i++)
            for (int k = u[i].pick + 1; k < u[i].n_cand; k++) {
                double db = u[i].bits[k] - u[i].bits[u[i].pick], dkl = u[i].kl[u[i].pick] - u[i].kl[k];
                if (used + db > budget || dkl <= 0) continue;
                if (dkl / db > best) best = dkl / db, bi = i, bk = k;
            }
        if (bi < 0) break;
        used += u[bi].bits[bk] - u[bi].bits[u[bi].pick];
        u[bi].pick = bk;
    }
    return used / total_w;
}

double bpw_refine(gpt2_model *m, const calib_set *cs, bpw_unit *u, int n, double target, int *probed) {
    double avg = bpw_choose(u, n, target);
    int extra = 0, more = 0;
    for (int i = 0; i < n; i++) more += !u[i].probed[u[i].pick];
    if (!more) return *probed = 0, avg;
    kl_probe probe;
    kl_probe_init(&probe, m, cs, 1024);
    double t0 = timer_now();
    // Downward, the scaled KL runs low (on the reference model a probed Q2_K measured up to
    // 2.4x what scaling Q3_K's gave): KL grows faster than quadratically in large changes. So
    // a plan's scaled picks are probed and the plan chosen again, until it stands on probes
    // only; rounds after the first probe a few matrices at most.
    while (more) {
        int total = extra + more;
        for (int i = 0; i < n; i++) {
            bpw_unit *x = &u[i];
            int k = x->pick;
            if (x->probed[k]) continue;
            void *buf = xmalloc((size_t)x->rows * qtype_row_bytes(x->cand[k], (size_t)x->cols));
            CHECK(quantize_rows(x->cand[k], gpt2_mat(m, i)->data, buf, x->rows, x->cols, NULL) == 0);
            x->kl[k] = kl_probe_matrix(&probe, i, (wmat){x->cand[k], x->rows, x->cols, buf});
            x->probed[k] = 1;
            rescale(x);
            free(buf);
            progress_note("bpw: probing the plan's scaled picks", ++extra, total, t0);
            more--;
        }
        avg = bpw_choose(u, n, target);
        for (int i = 0; i < n; i++) more += !u[i].probed[u[i].pick];
    }
    kl_probe_free(&probe);
    *probed = extra;
    return avg;
}

int bpw_allocate(gpt2_model *m, const calib_set *cs, double target, const char *overrides, gpt2_plan *plan, char *notes,
                 size_t notes_cap, int probes, int verbose) {
    const gpt2_config *c = &m->cfg;
    int nu = gpt2_n_mats(c), nw, ctx;
    bpw_unit *u = xmalloc((size_t)nu * sizeof *u);
    bpw_sensitivity(m, cs, target, probes, u, &nw, &ctx);
    int extra = 0;
    double avg = bpw_refine(m, cs, u, nu, target, &extra);
    plan->n = nu;
    plan->types = xmalloc((size_t)nu * sizeof *plan->types);
    double kl_sum = 0;
    for (int i = 0; i < nu; i++) {
        plan->types[i] = u[i].cand[u[i].pick];
        kl_sum += u[i].kl[u[i].pick];
        if (verbose) {
            char name[64];
            gpt2_mat_name(c, i, name, sizeof name);
            msg("bpw: %-18s", name);
            for (int k = 0; k < u[i].n_cand; k++)
                msg(" %s%s %s%.2e", k == u[i].pick ? "*" : " ", qtype_get((int)u[i].cand[k])->name,
                    u[i].probed[k] ? "" : "~", u[i].kl[k]);
            msg("\n");
        }
    }
    char probe_note[160];
    snprintf(probe_note, sizeof probe_note,
             "%d type%s probed per matrix and %d scaled pick%s, the others scaled by rounding error", probes,
             probes == 1 ? "" : "s", extra, extra == 1 ? "" : "s");
    size_t len = notes ? strlen(notes) : 0;
    if (notes && len < notes_cap)
        snprintf(notes + len, notes_cap - len,
                 "target-bpw %.2f: matrices average %.3f bits per weight%s; sum of single-matrix KL %.4g "
                 "(%d windows of %d tokens; %s)\n",
                 target, avg, avg > target ? " (the target is below the smallest types)" : "", kl_sum, nw, ctx,
                 probes >= BPW_MAX_CAND ? "every type probed" : probe_note);
    free(u);
    return plan_apply_overrides(plan, c, overrides, notes, notes_cap);
}
