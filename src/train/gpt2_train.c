// gpt2_train.c: the training loop's pieces: learning-rate schedule, random batches, one
// optimizer step (forward, loss, backward, global-norm clipping, AdamW), validation loss.
// Checkpoints are gpt2_train_checkpoint.c's.
#include "train.h"
#include "../dist/dist.h"
#include "../core/err.h"
#include "../core/hash.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>



// --- schedule and setup

float gpt2_train_lr(const train_opts *o, int s) {
    if (s < o->warmup) return o->lr * (float)(s + 1) / (float)o->warmup;
    int span = o->steps - 1 - o->warmup;
    if (span <= 0) return o->lr;
    double ratio = (double)(s - o->warmup) / span;
    if (ratio > 1.0) ratio = 1.0;
    return (float)(o->min_lr + 0.5 * (1.0 + cos(M_PI * ratio)) * (o->lr - o->min_lr));
}

int gpt2_train_init(gpt2_train *tr, gpt2_model *m, const gpt2_model *teacher, const train_opts *o) {
    return gpt2_train_init_dist(tr, m, teacher, o, 0, 1, 0);
}

int gpt2_train_init_dist(gpt2_train *tr, gpt2_model *m, const gpt2_model *teacher, const train_opts *o, int rank, int ranks,
                         int micro) {
    memset(tr, 0, sizeof *tr);
    if (ranks < 1 || rank < 0 || rank >= ranks) return err_set(ERR_ARG, "train: rank %d of %d processes", rank, ranks);
    if (micro == 0) micro = ranks;
    if (micro < 0 || micro % ranks)
        return err_set(ERR_ARG, "train: --micro-batches %d is not a multiple of the %d processes", micro, ranks);
    if (o->batch % micro)
        return err_set(ERR_ARG, "train: --batch %d does not split into %d equal micro-batches (one or more per process)",
                       o->batch, micro);
    if (o->steps < 1) return err_set(ERR_ARG, "train: steps must be at least 1 (got %d)", o->steps);
    if (o->warmup < 0 || o->warmup > o->steps)
        return err_set(ERR_ARG, "train: warmup %d is outside 0..steps (%d)", o->warmup, o->steps);
    if (!(o->lr > 0) || !(o->min_lr >= 0) || o->min_lr > o->lr)
        return err_set(ERR_ARG, "train: need 0 < lr and 0 <= min_lr <= lr (got lr %g, min_lr %g)", o->lr, o->min_lr);
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps > 0))
        return err_set(ERR_ARG, "train: need betas in [0, 1) and eps > 0");
    if (!(o->weight_decay >= 0) || !(o->clip >= 0))
        return err_set(ERR_ARG, "train: weight decay and clip must be >= 0");
    if (teacher) {
        if (teacher->cfg.vocab_size != m->cfg.vocab_size)
            return err_set(ERR_ARG, "train: --teacher: its vocabulary (%d tokens) differs from the student's (%d)",
                           teacher->cfg.vocab_size, m->cfg.vocab_size);
        if (teacher->cfg.n_ctx < o->ctx)
            return err_set(ERR_ARG, "train: --teacher: its context (%d) is shorter than --ctx %d", teacher->cfg.n_ctx,
                           o->ctx);
        if (!(o->kd_weight >= 0 && o->kd_weight <= 1) || !(o->kd_temp > 0))
            return err_set(ERR_ARG, "train: need 0 <= kd weight <= 1 and kd temperature > 0");
    }
    int Bl = o->batch / micro;
    int rc = gpt2_acts_init(&tr->acts, m, Bl, o->ctx, 1);
    if (!rc && teacher) rc = gpt2_acts_init(&tr->tacts, teacher, Bl, o->ctx, 0);
    if (rc) {
        gpt2_acts_free(&tr->acts);
        return rc;
    }
    tr->m = m;
    tr->teacher = teacher;
    tr->o = *o;
    tr->rank = rank, tr->ranks = ranks, tr->micro = micro, tr->micro_rows = Bl;
    int own = micro / ranks;
    if (own > 1) {
        tr->parts = xmalloc((size_t)(own - 1) * sizeof *tr->parts);
        for (int k = 0; k < own - 1; k++) tr->parts[k] = xmalloc(m->n_floats * sizeof(float));
    }
    adamw_init(&tr->opt, m->n_floats, o->beta1, o->beta2, o->eps, o->weight_decay);
    // The batch stream is the seed's second stream (the first may have drawn the weights).
    rng_init(&tr->r, o->seed * 2 + 1);
    size_t BT = (size_t)Bl * o->ctx;
    tr->inputs = xmalloc(BT * sizeof(int));
    tr->targets = xmalloc(BT * sizeof(int));
    return 0;
}

void gpt2_train_free(gpt2_train *tr) {
    gpt2_acts_free(&tr->acts);
    gpt2_acts_free(&tr->tacts);
    adamw_free(&tr->opt);
    free(tr->inputs);
    free(tr->targets);
    free(tr->log);
    free(tr->evals);
    for (int k = 0; tr->parts && k < tr->micro / tr->ranks - 1; k++) free(tr->parts[k]);
    free(tr->parts);
    memset(tr, 0, sizeof *tr);
}

void gpt2_train_set_data(gpt2_train *tr, const int *data, size_t n) {
    tr->data_n = n;
    tr->data_hash = fnv1a64(data, n * sizeof(int));
}

// --- one step

// AdamW's segments: each table entry's tensors over every layer (contiguous in the arena),
// decayed when 2-D (embeddings and matrices), as GPT-2's recipe does.
static int decay_segments(const gpt2_config *c, size_t *len, int *decay) {
    int n = 0;
    for (int id = 0; id < GPT2_T_COUNT; id++) {
        size_t floats = 0;
        for (int l = 0; l < (gpt2_tensors[id].per_layer ? c->n_layer : 1); l++) {
            int64_t rows, cols;
            if (gpt2_tensor_shape(c, id, l, &rows, &cols)) floats += (size_t)(rows * cols);
        }
        len[n] = floats;
        decay[n++] = gpt2_tensors[id].kind != GPT2_KIND_VECTOR;
    }
    return n;
}

// Forward and backward of micro-batch k of the windows at offs: a->grads from zero, the
// loss returned (and the KD terms in *ce, *kl).
static double micro_step(gpt2_train *tr, const int *data, const size_t *offs, int k, double *ce, double *kl) {
    const train_opts *o = &tr->o;
    int T = o->ctx, V = tr->m->cfg.vocab_size, Bm = tr->micro_rows;
    for (int b = 0; b < Bm; b++) {
        size_t off = offs[(size_t)k * Bm + b];
        memcpy(tr->inputs + (size_t)b * T, data + off, (size_t)T * sizeof(int));
        memcpy(tr->targets + (size_t)b * T, data + off + 1, (size_t)T * sizeof(int));
    }
    gpt2_acts *a = &tr->acts;
    gpt2_grads_zero(tr->m, a);
    gpt2_train_forward(tr->m, a, tr->inputs);
    double loss;
    *ce = *kl = 0;
    if (tr->teacher) {
        gpt2_train_forward(tr->teacher, &tr->tacts, tr->inputs);
        double t0 = timer_now();
        loss = distill_loss(a->logits, tr->tacts.logits, tr->targets, Bm * T, V, o->kd_weight, o->kd_temp, ce, kl);
        a->prof[GPT2_PROF_SOFTMAX_CE] += timer_now() - t0;
    } else {
        loss = gpt2_train_ce(a, V, tr->targets, 1);
    }
    gpt2_backward(tr->m, a);
    return loss;
}

double gpt2_train_step(gpt2_train *tr, const int *data, size_t n, double *norm_out) {
    const train_opts *o = &tr->o;
    int B = o->batch, T = o->ctx;
    CHECK(n >= (size_t)T + 1);
    double t_start = timer_now();
    size_t *offs = xmalloc((size_t)B * sizeof *offs);  // every rank draws all B windows
    for (int b = 0; b < B; b++) offs[b] = (size_t)(rng_u64(&tr->r) % (uint64_t)(n - (size_t)T));
    gpt2_acts *a = &tr->acts;
    int own = tr->micro / tr->ranks, k0 = tr->rank * own;
    double *lp = xmalloc((size_t)own * 3 * sizeof *lp);  // each micro-batch's loss, CE and KL
    for (int j = 0; j < own; j++) {
        lp[3 * j] = micro_step(tr, data, offs, k0 + j, &lp[3 * j + 1], &lp[3 * j + 2]);
        if (j < own - 1) memcpy(tr->parts[j], a->grads, tr->m->n_floats * sizeof(float));
    }
    free(offs);
    double loss = lp[0];
    tr->last_ce = lp[1], tr->last_kl = lp[2];
    if (tr->micro > 1) {  // each micro-batch's loss and gradients are means over its rows: the batch's are their mean
        double t1 = timer_now(), sums[3];
        float **gp = xmalloc((size_t)own * sizeof *gp);
        double **dp = xmalloc((size_t)own * sizeof *dp);
        for (int j = 0; j < own; j++) gp[j] = j < own - 1 ? tr->parts[j] : a->grads, dp[j] = lp + 3 * j;
        dist_chain_sum_f32(gp, own, tr->m->n_floats, a->grads);
        dist_chain_sum_f64(dp, own, 3, sums);
        free(gp), free(dp);
        float inv = 1.0f / (float)tr->micro;
        for (size_t i = 0; i < tr->m->n_floats; i++) a->grads[i] *= inv;
        loss = sums[0] / tr->micro, tr->last_ce = sums[1] / tr->micro, tr->last_kl = sums[2] / tr->micro;
        a->prof[GPT2_PROF_COMM] += timer_now() - t1;
    }
    free(lp);

    double t0 = timer_now();
    double norm = adamw_grad_norm(a->grads, tr->m->n_floats);
    float scale = o->clip > 0 && norm > o->clip ? (float)(o->clip / (norm + 1e-6)) : 1.0f;  // PyTorch's clip_grad_norm_
    size_t seg_len[GPT2_T_COUNT];
    int decay[GPT2_T_COUNT];
    int n_seg = decay_segments(&tr->m->cfg, seg_len, decay);
    float lr = gpt2_train_lr(o, tr->step);
    adamw_step(&tr->opt, tr->m->params, a->grads, scale, lr, seg_len, decay, n_seg);
    a->prof[GPT2_PROF_OPTIMIZER] += timer_now() - t0;

    tr->elapsed += timer_now() - t_start;
    if (tr->n_log == tr->cap_log) {
        tr->cap_log = tr->cap_log ? 2 * tr->cap_log : 256;
        tr->log = xrealloc(tr->log, (size_t)tr->cap_log * sizeof *tr->log);
    }
    tr->log[tr->n_log++] = (train_log_entry){tr->step, (float)loss, lr, tr->elapsed};
    tr->step++;
    if (norm_out) *norm_out = norm;
    return loss;
}

double gpt2_train_eval(gpt2_train *tr, const int *ids, size_t n) {
    int B = tr->micro_rows, T = tr->o.ctx, V = tr->m->cfg.vocab_size;  // every rank evaluates all windows
    if (n < (size_t)T + 1) return NAN;
    size_t W = (n - 1) / (size_t)T;
    gpt2_acts *a = &tr->acts;
    double prof[GPT2_PROF_COUNT];
    memcpy(prof, a->prof, sizeof prof);  // evaluation is not training time
    double sum = 0.0;
    for (size_t w0 = 0; w0 < W; w0 += (size_t)B) {
        int nb = W - w0 < (size_t)B ? (int)(W - w0) : B;
        for (int b = 0; b < B; b++) {  // a short last batch repeats its first window
            size_t start = (w0 + (size_t)(b < nb ? b : 0)) * (size_t)T;
            memcpy(tr->inputs + (size_t)b * T, ids + start, (size_t)T * sizeof(int));
            memcpy(tr->targets + (size_t)b * T, ids + start + 1, (size_t)T * sizeof(int));
        }
        gpt2_train_forward(tr->m, a, tr->inputs);
        gpt2_train_ce(a, V, tr->targets, 0);
        for (int i = 0; i < nb * T; i++) sum += a->losses[i];
    }
    memcpy(a->prof, prof, sizeof prof);
    double val = sum / ((double)W * T);
    if (tr->n_evals == tr->cap_evals) {
        tr->cap_evals = tr->cap_evals ? 2 * tr->cap_evals : 16;
        tr->evals = xrealloc(tr->evals, (size_t)tr->cap_evals * sizeof *tr->evals);
    }
    tr->evals[tr->n_evals++] = (train_eval_entry){tr->step - 1, (float)val};
    return val;
}

