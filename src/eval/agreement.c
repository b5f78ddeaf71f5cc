// agreement.c: how closely a compressed model follows its original on the same text:
// Δppl, KL(P_original || P_compressed) per token (mean, 99th percentile, max) and top-1
// agreement, over exactly the positions the perplexity protocol scores.
#include "eval.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

// KL(softmax(a) || softmax(b)) over n logits.
static double kl_rows(const float *a, const float *b, int n) {
    double za = kern.logsumexp_f32(a, n), zb = kern.logsumexp_f32(b, n), kl = 0.0;
    for (int i = 0; i < n; i++) {
        double la = a[i] - za;
        kl += exp(la) * (la - (b[i] - zb));
    }
    return kl > 0 ? kl : 0.0;  // rounding can leave a tiny negative for identical rows
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int eval_agreement(const gpt2_model *model, const gpt2_model *base, const int *ids, size_t n, const int *tok_bytes,
                   int ctx, int stride, agree_result *r, progress_fn progress, void *user) {
    memset(r, 0, sizeof *r);
    const gpt2_config *c = &model->cfg;
    if (base->cfg.vocab_size != c->vocab_size)
        return err_set(ERR_SHAPE, "--base: vocabularies differ (%d vs %d tokens)", base->cfg.vocab_size, c->vocab_size);
    int max_ctx = c->n_ctx < base->cfg.n_ctx ? c->n_ctx : base->cfg.n_ctx;
    if (ctx < 2 || ctx > max_ctx) return err_set(ERR_ARG, "--ctx %d is outside 2..%d (both models' n_ctx)", ctx, max_ctx);
    if (stride < 1 || stride > ctx) return err_set(ERR_ARG, "--stride %d is outside 1..ctx (%d)", stride, ctx);
    if (n < 2) return err_set(ERR_ARG, "the text has %zu token(s); perplexity needs at least 2", n);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return err_set(ERR_RANGE, "token id %d at position %zu is outside the vocabulary (%d)", ids[i], i, c->vocab_size);
    gpt2_state sm, sb;
    int rc = gpt2_state_init(&sm, model, ctx);
    if (!rc) rc = gpt2_state_init(&sb, base, ctx);
    if (rc) {
        gpt2_state_free(&sm);
        return rc;
    }
    int V = c->vocab_size, total_w = eval_num_windows(n, ctx, stride), done = 0;
    double *kls = xmalloc(n * sizeof(double));
    double nll_m = 0, nll_b = 0, bytes = 0, agree = 0;
    long scored = 0;
    size_t next = 1;
    for (size_t b = 0;; b += (size_t)stride) {
        size_t e = b + (size_t)ctx < n ? b + (size_t)ctx : n;
        gpt2_state_reset(&sm);
        gpt2_state_reset(&sb);
        gpt2_forward(model, &sm, ids + b, (int)(e - b), 1);
        gpt2_forward(base, &sb, ids + b, (int)(e - b), 1);
        size_t p0 = next > b + 1 ? next : b + 1;
        if (p0 < e &&
            ((rc = eval_check_logits(base, sb.logits + (p0 - 1 - b) * (size_t)V, e - p0, V, "text position", p0 - 1)) ||
             (rc = eval_check_logits(model, sm.logits + (p0 - 1 - b) * (size_t)V, e - p0, V, "text position", p0 - 1))))
            break;
        double sm_nll = 0, sb_nll = 0, s_agree = 0;
#pragma omp parallel for reduction(+ : sm_nll, sb_nll, s_agree) schedule(static)
        for (size_t p = p0; p < e; p++) {
            const float *lm = sm.logits + (p - 1 - b) * (size_t)V, *lb = sb.logits + (p - 1 - b) * (size_t)V;
            sm_nll += (double)kern.logsumexp_f32(lm, V) - lm[ids[p]];
            sb_nll += (double)kern.logsumexp_f32(lb, V) - lb[ids[p]];
            s_agree += argmax(lm, V) == argmax(lb, V);
            kls[scored + (long)(p - p0)] = kl_rows(lb, lm, V);
        }
        nll_m += sm_nll;
        nll_b += sb_nll;
        agree += s_agree;
        for (size_t p = p0; p < e; p++)
            if (tok_bytes) bytes += tok_bytes[ids[p]];
        scored += (long)(e - p0);
        if (e > next) next = e;
        if (progress) progress(++done, total_w, user);
        if (e == n) break;
    }
    gpt2_state_free(&sm);
    gpt2_state_free(&sb);
    if (rc) {
        free(kls);
        return rc;
    }
    double kl_sum = 0;
    for (long i = 0; i < scored; i++) kl_sum += kls[i];
    qsort(kls, (size_t)scored, sizeof *kls, cmp_double);
    r->kl_mean = kl_sum / (double)scored;
    r->kl_p99 = kls[(size_t)(0.99 * (double)(scored - 1))];
    r->kl_max = kls[scored - 1];
    r->top1 = agree / (double)scored;
    free(kls);
    ppl_result *pr[2] = {&r->model, &r->base};
    double nll[2] = {nll_m, nll_b};
    for (int i = 0; i < 2; i++) {
        pr[i]->tokens = scored;
        pr[i]->nll = nll[i] / (double)scored;
        pr[i]->ppl = exp(pr[i]->nll);
        pr[i]->bytes = bytes;
        pr[i]->bpb = bytes > 0 ? nll[i] / log(2.0) / bytes : 0.0;
        pr[i]->ctx = ctx;
        pr[i]->stride = stride;
        pr[i]->windows = total_w;
    }
    r->dppl_pct = 100.0 * (r->model.ppl / r->base.ppl - 1.0);
    return 0;
}
