// recover.c: distilling a compressed model back towards its original, in memory: the
// training loop of `shrink train --teacher` without checkpoints, keeping the weights
// closest to the teacher on held-out text, for the one-command pipeline
// (`shrink compress --prune ... --recover FILES`) and the sweep.
#include "train.h"
#include "../core/err.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../eval/eval.h"
#include <math.h>
#include <string.h>

recover_opts recover_defaults(void) {
    // The recipe bench/recovery.md measured: pure distillation at two thirds of the
    // from-scratch learning rate (1e-3 beat 5e-4 on every measure there), batch 16, the
    // rest `shrink train`'s defaults.
    return (recover_opts){.tokens = 2000000, .batch = 16, .ctx = 0, .lr = 1e-3f, .kd_weight = 1.0f, .kd_temp = 2.0f,
                          .seed = 1337, .val_frac = 0.02f};
}

train_opts recover_train_opts(const recover_opts *r, int ctx) {
    unsigned long long per = (unsigned long long)r->batch * (unsigned long long)ctx;
    int steps = (int)((r->tokens + per - 1) / per);
    if (steps < 1) steps = 1;
    return (train_opts){.steps = steps, .batch = r->batch, .ctx = ctx, .warmup = steps / 20, .lr = r->lr,
                        .min_lr = r->lr / 10, .weight_decay = 0.1f, .clip = 1.0f, .beta1 = 0.9f, .beta2 = 0.95f,
                        .eps = 1e-8f, .seed = r->seed, .kd_weight = r->kd_weight, .kd_temp = r->kd_temp};
}

// Mean KL(teacher || student) per token on the held-out windows.
static int val_kl(const gpt2_model *student, const gpt2_model *teacher, const int *val, size_t n, int ctx, double *kl) {
    agree_result a;
    int rc = eval_agreement(student, teacher, val, n, NULL, ctx, ctx, &a, NULL, NULL);
    *kl = rc ? NAN : a.kl_mean;
    return rc;
}

int train_recover(gpt2_model *student, const gpt2_model *teacher, const int *ids, size_t n, const recover_opts *r,
                  recover_progress progress, void *user, recover_result *res) {
    int ctx = r->ctx > 0 ? r->ctx : student->cfg.n_ctx;
    // the split `shrink train --val-frac` makes; judged on its first windows only
    size_t n_val = r->val_frac > 0 ? (size_t)floor((double)n * r->val_frac) : 0, n_train = n - n_val;
    const int *val = ids + n_train;
    size_t n_judge = n_val < (size_t)RECOVER_VAL_WINDOWS * ctx + 1 ? n_val : (size_t)RECOVER_VAL_WINDOWS * ctx + 1;
    if (n_judge < (size_t)ctx + 1) n_judge = 0;
    if (n_train < (size_t)ctx + 1)
        return err_set(ERR_ARG, "recover: %zu training tokens; need at least ctx+1 = %d", n_train, ctx + 1);
    train_opts o = recover_train_opts(r, ctx);
    recover_result out = {.steps = o.steps, .best_step = o.steps, .val_tokens = (int)n_judge};
    gpt2_train tr;
    int rc = gpt2_train_init(&tr, student, teacher, &o);
    if (rc) return rc;
    gpt2_train_set_data(&tr, ids, n_train);
    float *best = NULL;
    int every = o.steps / 8 > 0 ? o.steps / 8 : 1;
    if (n_judge) {
        rc = val_kl(student, teacher, val, n_judge, ctx, &out.kl_first);
        out.kl_best = out.kl_last = out.kl_first, out.best_step = 0, out.evals = 1;
        best = xmalloc(student->n_floats * sizeof(float));
        memcpy(best, student->params, student->n_floats * sizeof(float));
    }
    double t0 = timer_now();
    while (!rc && tr.step < o.steps) {
        double loss = gpt2_train_step(&tr, ids, n_train, NULL);
        if (!isfinite(loss)) {
            rc = err_set(ERR_RANGE, "recover: the loss is %g at step %d; lower the learning rate", loss, tr.step - 1);
            break;
        }
        if (progress) progress(user, tr.step, o.steps, tr.last_kl, timer_now() - t0);
        if (n_judge && (tr.step % every == 0 || tr.step == o.steps)) {
            rc = val_kl(student, teacher, val, n_judge, ctx, &out.kl_last);
            out.evals++;
            if (!rc && out.kl_last < out.kl_best) {
                out.kl_best = out.kl_last, out.best_step = tr.step;
                memcpy(best, student->params, student->n_floats * sizeof(float));
            }
        }
    }
    if (!rc && best && out.best_step != o.steps) memcpy(student->params, best, student->n_floats * sizeof(float));
    free(best);
    gpt2_train_free(&tr);
    if (res) *res = out;
    return rc;
}
