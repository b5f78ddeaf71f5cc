// bpw_alloc.c: sensitivity-driven type allocation (see bpw_alloc.h).
#include "bpw_alloc.h"
#include "plan.h"
#include "../core/err.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { MAX_CAND = 6, EVAL_TOKENS = 1024 };
#define MAX_EVAL_FLOATS (32L << 20)  // reference log-probs kept in memory: at most 128 MB

static const qtype K_CANDIDATES[] = {QTYPE_Q2_K, QTYPE_Q3_K, QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q6_K, QTYPE_Q8_0};
static const qtype SMALL_CANDIDATES[] = {QTYPE_Q4_0, QTYPE_Q5_0, QTYPE_Q8_0};

typedef struct unit {
    wmat *view;        // what the forward pass reads
    const float *src;  // fp32 matrix
    int rows, cols;
    int n_cand;
    qtype cand[MAX_CAND];
    double bits[MAX_CAND], kl[MAX_CAND];
    int pick;
} unit;

// log-softmax of each of the T rows of logits (T, V), in place.
static void log_softmax_rows(float *x, int T, int V) {
    for (int t = 0; t < T; t++) {
        float *r = x + (size_t)t * V, lse = kern.logsumexp_f32(r, V);
        for (int i = 0; i < V; i++) r[i] -= lse;
    }
}

// Mean KL(reference || model) over the eval windows: ref holds the reference
// probabilities P, negent each position's sum P log P, so that
// KL = sum P log P - sum P log Q needs no exp of the reference per candidate.
// The pass starts at block `start` from its cached input (stream: that block's input
// for every window) since the blocks before it are unchanged.
static double mean_kl(const gpt2_model *m, gpt2_state *s, const int *ids, int nw, int ctx, const float *ref,
                      const double *negent, int start, const float *stream) {
    int V = m->cfg.vocab_size;
    size_t TC = (size_t)ctx * m->cfg.n_embd;
    double total = 0;
    for (int w = 0; w < nw; w++) {
        gpt2_state_reset(s);
        s->start_layer = start;
        if (start > 0) memcpy(s->x, stream + (size_t)w * TC, TC * sizeof(float));
        gpt2_forward(m, s, ids + (size_t)w * ctx, ctx, 1);
        log_softmax_rows(s->logits, ctx, V);
        const float *rp = ref + (size_t)w * ctx * V;
#pragma omp parallel for reduction(+ : total) schedule(static)
        for (int t = 0; t < ctx; t++) {
            const float *p = rp + (size_t)t * V, *q = s->logits + (size_t)t * V;
            float cross = 0;
            for (int i = 0; i < V; i++) cross += p[i] * q[i];
            total += negent[(size_t)w * ctx + t] - cross;
        }
    }
    return total / ((double)nw * ctx);
}

int bpw_allocate(gpt2_model *m, const calib_set *cs, double target, const char *overrides, gpt2_plan *plan, char *notes,
                 size_t notes_cap, int verbose) {
    const gpt2_config *c = &m->cfg;
    int n_mats = c->n_layer * GPT2_MATS_PER_LAYER, nu = n_mats + 2, V = c->vocab_size, ctx = cs->ctx;
    int nw = EVAL_TOKENS / ctx;
    if ((long)nw * ctx * V > MAX_EVAL_FLOATS) nw = (int)(MAX_EVAL_FLOATS / ((long)ctx * V));
    if (nw < 1) nw = 1;
    if (nw > cs->n_windows) nw = cs->n_windows;
    unit *u = xcalloc((size_t)nu, sizeof *u);
    double total_w = 0;
    for (int i = 0; i < nu; i++) {
        unit *x = &u[i];
        if (i < n_mats) x->view = &m->mats[i], x->src = m->mats[i].data;
        else if (i == n_mats) x->view = &m->embd, x->src = m->w.wte;
        else x->view = &m->head, x->src = m->lm_head;
        x->rows = x->view->rows, x->cols = x->view->cols;
        const qtype *cand = x->cols % 256 == 0 ? K_CANDIDATES : SMALL_CANDIDATES;
        x->n_cand = x->cols % 256 == 0 ? (int)(sizeof K_CANDIDATES / sizeof *cand) : (int)(sizeof SMALL_CANDIDATES / sizeof *cand);
        for (int k = 0; k < x->n_cand; k++) {
            x->cand[k] = cand[k];
            x->bits[k] = 8.0 * (double)x->rows * (double)qtype_row_bytes(cand[k], (size_t)x->cols);
        }
        total_w += (double)x->rows * x->cols;
    }
    gpt2_state s;
    CHECK(gpt2_state_init(&s, m, ctx) == 0);
    float *ref = xmalloc((size_t)nw * ctx * V * sizeof *ref);
    double *negent = xmalloc((size_t)nw * ctx * sizeof *negent);
    // Each block's input in every window (the fp32 model's), from the forward trace.
    int L = c->n_layer, C = c->n_embd;
    size_t TC = (size_t)ctx * C;
    float *streams = xmalloc((size_t)(L + 1) * nw * TC * sizeof *streams);
    float *trace = xmalloc((size_t)(L + 2) * TC * sizeof *trace);
    for (int w = 0; w < nw; w++) {
        gpt2_state_reset(&s);
        s.trace = trace;
        gpt2_forward(m, &s, cs->ids + (size_t)w * ctx, ctx, 1);
        s.trace = NULL;
        for (int l = 0; l <= L; l++) memcpy(streams + ((size_t)l * nw + w) * TC, trace + (size_t)l * TC, TC * sizeof(float));
        log_softmax_rows(s.logits, ctx, V);
        for (int t = 0; t < ctx; t++) {
            const float *lp = s.logits + (size_t)t * V;
            float *p = ref + ((size_t)w * ctx + t) * V;
            double ne = 0;
            for (int i = 0; i < V; i++) p[i] = expf(lp[i]), ne += (double)p[i] * lp[i];
            negent[(size_t)w * ctx + t] = ne;
        }
    }
    // Sensitivity: one matrix at a time in each candidate type.
    double t0 = timer_now();
    int done = 0, total = 0;
    for (int i = 0; i < nu; i++) total += u[i].n_cand;
    for (int i = 0; i < nu; i++) {
        unit *x = &u[i];
        wmat saved = *x->view;
        void *buf = xmalloc((size_t)x->rows * qtype_row_bytes(QTYPE_Q8_0, (size_t)x->cols));  // the largest candidate
        for (int k = 0; k < x->n_cand; k++) {
            CHECK(quantize_rows(x->cand[k], x->src, buf, x->rows, x->cols, NULL) == 0);
            *x->view = (wmat){x->cand[k], x->rows, x->cols, buf};
            int start = i < n_mats ? i / GPT2_MATS_PER_LAYER : i == n_mats ? 0 : L;
            x->kl[k] = mean_kl(m, &s, cs->ids, nw, ctx, ref, negent, start, streams + (size_t)start * nw * TC);
            calib_progress("bpw: sensitivity", ++done, total, t0);
        }
        *x->view = saved;
        free(buf);
    }
    gpt2_state_free(&s);
    free(ref), free(negent), free(streams), free(trace);
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
    plan->mats = xmalloc((size_t)n_mats * sizeof *plan->mats);
    double kl_sum = 0;
    for (int i = 0; i < nu; i++) {
        qtype t = u[i].cand[u[i].pick];
        if (i < n_mats) plan->mats[i] = t;
        else if (i == n_mats) plan->embd = t;
        else plan->head = t;
        kl_sum += u[i].kl[u[i].pick];
        if (verbose) {
            char name[64];
            if (i < n_mats) plan_mat_name(name, sizeof name, i / GPT2_MATS_PER_LAYER, i % GPT2_MATS_PER_LAYER);
            else snprintf(name, sizeof name, "%s", i == n_mats ? "token_embd" : "output");
            fprintf(stderr, "bpw: %-18s", name);
            for (int k = 0; k < u[i].n_cand; k++)
                fprintf(stderr, " %s%s %.2e", k == u[i].pick ? "*" : " ", qtype_get((int)u[i].cand[k])->name, u[i].kl[k]);
            fprintf(stderr, "\n");
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
