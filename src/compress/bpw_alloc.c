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

enum { MAX_CAND = 6 };

static const qtype K_CANDIDATES[] = {QTYPE_Q2_K, QTYPE_Q3_K, QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q6_K, QTYPE_Q8_0};
static const qtype SMALL_CANDIDATES[] = {QTYPE_Q4_0, QTYPE_Q5_0, QTYPE_Q8_0};

typedef struct unit {
    const float *src;  // fp32 matrix
    int rows, cols;
    int n_cand;
    qtype cand[MAX_CAND];
    double bits[MAX_CAND], kl[MAX_CAND];
    int pick;
} unit;

int bpw_allocate(gpt2_model *m, const calib_set *cs, double target, const char *overrides, gpt2_plan *plan, char *notes,
                 size_t notes_cap, int verbose) {
    const gpt2_config *c = &m->cfg;
    int nu = gpt2_n_mats(c);
    unit *u = xcalloc((size_t)nu, sizeof *u);
    double total_w = 0;
    for (int i = 0; i < nu; i++) {
        unit *x = &u[i];
        const wmat *v = gpt2_mat(m, i);
        x->src = v->data;
        x->rows = v->rows, x->cols = v->cols;
        const qtype *cand = x->cols % 256 == 0 ? K_CANDIDATES : SMALL_CANDIDATES;
        x->n_cand = x->cols % 256 == 0 ? (int)(sizeof K_CANDIDATES / sizeof *cand) : (int)(sizeof SMALL_CANDIDATES / sizeof *cand);
        for (int k = 0; k < x->n_cand; k++) {
            x->cand[k] = cand[k];
            x->bits[k] = 8.0 * (double)x->rows * (double)qtype_row_bytes(cand[k], (size_t)x->cols);
        }
        total_w += (double)x->rows * x->cols;
    }
    kl_probe probe;
    kl_probe_init(&probe, m, cs, 1024);
    // Sensitivity: one matrix at a time in each candidate type.
    double t0 = timer_now();
    int done = 0, total = 0;
    for (int i = 0; i < nu; i++) total += u[i].n_cand;
    for (int i = 0; i < nu; i++) {
        unit *x = &u[i];
        void *buf = xmalloc((size_t)x->rows * qtype_row_bytes(QTYPE_Q8_0, (size_t)x->cols));  // the largest candidate
        for (int k = 0; k < x->n_cand; k++) {
            CHECK(quantize_rows(x->cand[k], x->src, buf, x->rows, x->cols, NULL) == 0);
            x->kl[k] = kl_probe_matrix(&probe, i, (wmat){x->cand[k], x->rows, x->cols, buf});
            progress_note("bpw: sensitivity", ++done, total, t0);
        }
        free(buf);
    }
    int nw = probe.nw, ctx = probe.ctx;
    kl_probe_free(&probe);
    // Greedy: from the smallest types, take the upgrade that saves the most KL per bit
    // while the budget allows.
    double budget = target * total_w, used = 0;
    for (int i = 0; i < nu; i++) used += u[i].bits[0];
    for (;;) {
        int bi = -1, bk = -1;
        double best = 0;
        for (int i = 0; i < nu; i++)
            for (int k = u[i].pick + 1; k < u[i].n_cand; k++) {
                double db = u[i].bits[k] - u[i].bits[u[i].pick], dkl = u[i].kl[u[i].pick] - u[i].kl[k];
                if (used + db > budget || dkl <= 0) continue;
                if (dkl / db > best) best = dkl / db, bi = i, bk = k;
            }
        if (bi < 0) break;
        used += u[bi].bits[bk] - u[bi].bits[u[bi].pick];
        u[bi].pick = bk;
    }
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
                msg(" %s%s %.2e", k == u[i].pick ? "*" : " ", qtype_get((int)u[i].cand[k])->name, u[i].kl[k]);
            msg("\n");
        }
    }
    size_t len = notes ? strlen(notes) : 0;
    if (notes && len < notes_cap)
        snprintf(notes + len, notes_cap - len,
                 "target-bpw %.2f: matrices average %.3f bits per weight%s; sum of measured single-matrix KL %.4g "
                 "(%d windows of %d tokens)\n",
                 target, used / total_w, used > budget ? " (the target is below the smallest types)" : "", kl_sum, nw, ctx);
    free(u);
    return plan_apply_overrides(plan, c, overrides, notes, notes_cap);
}
