// recover.c: distilling a compressed model back towards its original, in memory: the
// training loop of `shrink train --teacher` without checkpoints or validation, for the
// one-command pipeline (`shrink compress --prune ... --recover FILES`).
#include "train.h"
#include "../core/err.h"
#include "../core/timer.h"
#include <math.h>

recover_opts recover_defaults(void) {
    // The recipe bench/recovery.md measured: pure distillation at two thirds of the
    // from-scratch learning rate (1e-3 beat 5e-4 on every measure there), batch 16, the
    // rest `shrink train`'s defaults.
    return (recover_opts){.tokens = 2000000, .batch = 16, .ctx = 0, .lr = 1e-3f, .kd_weight = 1.0f, .kd_temp = 2.0f,
                          .seed = 1337};
}

train_opts recover_train_opts(const recover_opts *r, int ctx) {
    unsigned long long per = (unsigned long long)r->batch * (unsigned long long)ctx;
    int steps = (int)((r->tokens + per - 1) / per);
    if (steps < 1) steps = 1;
    return (train_opts){.steps = steps, .batch = r->batch, .ctx = ctx, .warmup = steps / 20, .lr = r->lr,
                        .min_lr = r->lr / 10, .weight_decay = 0.1f, .clip = 1.0f, .beta1 = 0.9f, .beta2 = 0.95f,
                        .eps = 1e-8f, .seed = r->seed, .kd_weight = r->kd_weight, .kd_temp = r->kd_temp};
}

int train_recover(gpt2_model *student, const gpt2_model *teacher, const int *ids, size_t n, const recover_opts *r,
                  recover_progress progress, void *user) {
    int ctx = r->ctx > 0 ? r->ctx : student->cfg.n_ctx;
    if (n < (size_t)ctx + 1) return err_set(ERR_ARG, "recover: %zu training tokens; need at least ctx+1 = %d", n, ctx + 1);
    train_opts o = recover_train_opts(r, ctx);
    gpt2_train tr;
    int rc = gpt2_train_init(&tr, student, teacher, &o);
    if (rc) return rc;
    gpt2_train_set_data(&tr, ids, n);
    double t0 = timer_now();
    while (tr.step < o.steps) {
        double loss = gpt2_train_step(&tr, ids, n, NULL);
        if (!isfinite(loss)) {
            rc = err_set(ERR_RANGE, "recover: the loss is %g at step %d; lower the learning rate", loss, tr.step - 1);
            break;
        }
        if (progress) progress(user, tr.step, o.steps, tr.last_kl, timer_now() - t0);
    }
    gpt2_train_free(&tr);
    return rc;
}
