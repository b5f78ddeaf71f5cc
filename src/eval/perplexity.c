// perplexity.c: sliding-window perplexity (the protocol is stated in eval.h and the README).
#include "eval.h"
#include "../core/err.h"
#include "../kernels/kernels.h"
#include <math.h>

int eval_num_windows(size_t n, int ctx, int stride) {
    int w = 0;
    for (size_t b = 0;; b += (size_t)stride) {
        w++;
        if (b + (size_t)ctx >= n) break;
    }
    return w;
}

// -log softmax(logits)[target]; each term goes into a double sum over tokens.
static double token_nll(const float *logits, int V, int target) {
    return (double)kern.logsumexp_f32(logits, V) - logits[target];
}

int eval_perplexity(const gpt2_model *m, const int *ids, size_t n, const int *tok_bytes, int ctx, int stride,
                    ppl_result *r, progress_fn progress, void *user) {
    const gpt2_config *c = &m->cfg;
    if (ctx < 2 || ctx > c->n_ctx) return err_set(ERR_ARG, "--ctx %d is outside 2..%d (the model's n_ctx)", ctx, c->n_ctx);
    if (stride < 1 || stride > ctx) return err_set(ERR_ARG, "--stride %d is outside 1..ctx (%d)", stride, ctx);
    if (n < 2) return err_set(ERR_ARG, "the text has %zu token(s); perplexity needs at least 2", n);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return err_set(ERR_RANGE, "token id %d at position %zu is outside the vocabulary (%d)", ids[i], i, c->vocab_size);
    gpt2_state s;
    int rc = gpt2_state_init(&s, m, ctx);
    if (rc) return rc;
    int total_w = eval_num_windows(n, ctx, stride), done = 0;
    double nll_sum = 0.0, bytes = 0.0;
    long scored = 0;
    size_t next = 1;  // first position not yet scored
    int V = c->vocab_size;
    for (size_t b = 0;; b += (size_t)stride) {
        size_t e = b + (size_t)ctx < n ? b + (size_t)ctx : n;
        gpt2_state_reset(&s);
        gpt2_forward(m, &s, ids + b, (int)(e - b), 1);
        size_t p0 = next > b + 1 ? next : b + 1;
        if (p0 < e && (rc = eval_check_logits(m, s.logits + (p0 - 1 - b) * (size_t)V, e - p0, V, "text position", p0 - 1)))
            break;
        double wsum = 0.0;
#pragma omp parallel for reduction(+ : wsum) schedule(static)
        for (size_t p = p0; p < e; p++) wsum += token_nll(s.logits + (p - 1 - b) * (size_t)V, V, ids[p]);
        nll_sum += wsum;
        for (size_t p = p0; p < e; p++) {
            scored++;
            if (tok_bytes) bytes += tok_bytes[ids[p]];
        }
        if (e > next) next = e;
        if (progress) progress(++done, total_w, user);
        if (e == n) break;
    }
    gpt2_state_free(&s);
    if (rc) return rc;
    r->tokens = scored;
    r->nll = nll_sum / (double)scored;
    r->ppl = exp(r->nll);
    r->bytes = bytes;
    r->bpb = bytes > 0 ? nll_sum / log(2.0) / bytes : 0.0;
    r->ctx = ctx;
    r->stride = stride;
    r->windows = total_w;
    return 0;
}
