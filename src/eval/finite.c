// finite.c: the check that keeps a broken model from producing numbers: logits with a NaN
// or an infinity make every score computed from them meaningless (a NaN perplexity, a KL of
// NaN, an argmax that always says token 0), so each eval_* function refuses them instead.
#include "eval.h"
#include "../core/err.h"
#include <float.h>
#include <math.h>

int eval_check_logits(const gpt2_model *m, const float *logits, size_t rows, int V, const char *what, size_t first) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = logits + r * (size_t)V;
        int bad = 0;  // a branch-free pass (it vectorizes); the culprit is looked up only when there is one
        for (int i = 0; i < V; i++) bad |= !(fabsf(row[i]) <= FLT_MAX);
        if (!bad) continue;
        for (int i = 0; i < V; i++)
            if (!isfinite(row[i]))
                return err_set(ERR_RANGE, "%s: the model computes a%s logit (token id %d at %s %zu): its weights are "
                               "broken (a damaged file, or a tensor stored under the wrong type); no score can be given",
                               m->source ? m->source : "model", isnan(row[i]) ? " NaN" : "n infinite", i, what, first + r);
    }
    return 0;
}
