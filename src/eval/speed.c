// speed.c: prompt-processing and token-generation throughput, median of repeats.
#include "eval.h"
#include "../core/err.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void summarize(double *tps, int reps, speed_stat *st) {
    qsort(tps, (size_t)reps, sizeof *tps, cmp_double);
    st->reps = reps;
    st->min = tps[0];
    st->max = tps[reps - 1];
    st->median = reps % 2 ? tps[reps / 2] : 0.5 * (tps[reps / 2 - 1] + tps[reps / 2]);
}

static int run(const gpt2_model *m, int n, int reps, int batched, speed_stat *st) {
    if (n < 1 || n > m->cfg.n_ctx) return err_set(ERR_ARG, "bench: %d tokens is outside 1..n_ctx (%d)", n, m->cfg.n_ctx);
    if (reps < 1) return err_set(ERR_ARG, "bench: repeats must be at least 1");
    gpt2_state s;
    int rc = gpt2_state_init(&s, m, batched ? n : 1);
    if (rc) return rc;
    int *ids = xmalloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) ids[i] = (int)(((long)i * 7919 + 13) % m->cfg.vocab_size);
    double *tps = xmalloc((size_t)reps * sizeof(double));
    for (int r = -1; r < reps; r++) {
        gpt2_state_reset(&s);
        double t0 = timer_now();
        if (batched) gpt2_forward(m, &s, ids, n, 0);
        else
            for (int i = 0; i < n; i++) gpt2_forward(m, &s, ids + i, 1, 0);
        double dt = timer_now() - t0;
        if (r >= 0) tps[r] = n / dt;
    }
    summarize(tps, reps, st);
    free(tps);
    free(ids);
    gpt2_state_free(&s);
    return 0;
}

int eval_speed_pp(const gpt2_model *m, int n, int reps, speed_stat *st) { return run(m, n, reps, 1, st); }
int eval_speed_tg(const gpt2_model *m, int n, int reps, speed_stat *st) { return run(m, n, reps, 0, st); }
