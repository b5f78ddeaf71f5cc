// calib.c: calibration windows and the forward hook that gathers activation statistics.
#include "calib.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int calib_load(calib_set *cs, const bpe *tok, const char *path, long n_tokens, int ctx) {
    memset(cs, 0, sizeof *cs);
    char *text = NULL;
    size_t len = 0, n = 0;
    int *ids = NULL;
    int rc = file_read_all(path, &text, &len);
    if (rc) return rc;
    rc = bpe_encode(tok, text, len, &ids, &n);
    free(text);
    if (rc) return rc;
    if (n_tokens > 0 && (size_t)n_tokens < n) n = (size_t)n_tokens;
    if (n < (size_t)ctx) {
        free(ids);
        return err_set(ERR_ARG, "%s: %zu calibration tokens, fewer than one window of %d", path, n, ctx);
    }
    cs->ids = ids;
    cs->ctx = ctx;
    cs->n_windows = (int)(n / (size_t)ctx);
    return 0;
}

void calib_free(calib_set *cs) {
    free(cs->ids);
    memset(cs, 0, sizeof *cs);
}

void act_stats_init(act_stats *s, int cols, int want_h) {
    memset(s, 0, sizeof *s);
    s->cols = cols;
    s->sum = xcalloc((size_t)cols, sizeof(double));
    s->sumsq = xcalloc((size_t)cols, sizeof(double));
    s->sumabs = xcalloc((size_t)cols, sizeof(double));
    if (want_h) s->H = xcalloc((size_t)cols * cols, sizeof(double));
}

void act_stats_free(act_stats *s) {
    free(s->sum), free(s->sumsq), free(s->sumabs), free(s->H);
    memset(s, 0, sizeof *s);
}

typedef struct collector {
    act_stats *stats;
    float *xt, *h;  // scratch: the inputs transposed (cols, T), and one window's Xᵀ X
} collector;

static void collect_hook(void *user, int mat, const float *in, int T, int cols) {
    collector *c = user;
    act_stats *s = &c->stats[mat];
    if (!s->cols) return;
    CHECK(s->cols == cols);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < cols; i++) {
            double x = in[(size_t)t * cols + i];
            s->sum[i] += x;
            s->sumsq[i] += x * x;
            s->sumabs[i] += fabs(x);
        }
    s->n += T;
    if (!s->H) return;
    // Xᵀ X as a matmul of Xᵀ with itself (float, one window), summed in double.
    for (int t = 0; t < T; t++)
        for (int i = 0; i < cols; i++) c->xt[(size_t)i * T + t] = in[(size_t)t * cols + i];
    matmul_f32(c->h, c->xt, c->xt, NULL, cols, T, cols);
    for (size_t i = 0; i < (size_t)cols * cols; i++) s->H[i] += c->h[i];
}

void calib_progress(const char *label, int done, int total, double t0) {
    if (!isatty(2)) return;
    double el = timer_now() - t0, eta = done ? el / done * (total - done) : 0;
    fprintf(stderr, "\r[%s] %d/%d  %.1fs elapsed, ETA %.1fs   ", label, done, total, el, eta);
    if (done == total) fprintf(stderr, "\n");
}

// One forward pass per window with the hook on; start/stop select the blocks run.
static void run_windows(const gpt2_model *m, const calib_set *cs, act_stats *stats, int start, int stop, float *stream,
                        int advance, const char *label) {
    int max_cols = 0, ns = gpt2_n_mats(&m->cfg), C = m->cfg.n_embd;
    for (int i = 0; stats && i < ns; i++)
        if (stats[i].H && stats[i].cols > max_cols) max_cols = stats[i].cols;
    collector c = {stats, NULL, NULL};
    if (max_cols) {
        c.xt = xmalloc((size_t)max_cols * cs->ctx * sizeof(float));
        c.h = xmalloc((size_t)max_cols * max_cols * sizeof(float));
    }
    gpt2_state s;
    CHECK(gpt2_state_init(&s, m, cs->ctx) == 0);
    if (stats) s.hook = collect_hook, s.hook_user = &c;
    s.start_layer = start;
    s.stop_after = stop;
    int head = stats && stats[ns - 1].cols != 0;  // the head's inputs: every position's, not only the last's
    size_t TC = (size_t)cs->ctx * C;
    double t0 = timer_now();
    for (int w = 0; w < cs->n_windows; w++) {
        gpt2_state_reset(&s);
        if (stream) memcpy(s.x, stream + (size_t)w * TC, TC * sizeof(float));
        gpt2_forward(m, &s, cs->ids + (size_t)w * cs->ctx, cs->ctx, head);
        if (stream && advance) memcpy(stream + (size_t)w * TC, s.x, TC * sizeof(float));
        if (label) calib_progress(label, w + 1, cs->n_windows, t0);
    }
    gpt2_state_free(&s);
    free(c.xt), free(c.h);
}

void calib_collect(const gpt2_model *m, const calib_set *cs, act_stats *stats, int stop_after, const char *label) {
    run_windows(m, cs, stats, 0, stop_after, NULL, 0, label);
}

void calib_stream_init(calib_stream *st, const gpt2_model *m, const calib_set *cs) {
    int C = m->cfg.n_embd;
    size_t n = (size_t)cs->n_windows * cs->ctx;
    st->x = xmalloc(n * C * sizeof(float));
    st->layer = 0;
    size_t row = qtype_row_bytes(m->embd.type, (size_t)C);
    for (size_t i = 0; i < n; i++) {
        float *x = st->x + i * C;
        const float *pe = m->wpe + (i % (size_t)cs->ctx) * C;
        dequantize_row(m->embd.type, (const char *)m->embd.data + (size_t)cs->ids[i] * row, x, (size_t)C);
        for (int k = 0; k < C; k++) x[k] += pe[k];
    }
}

void calib_stream_free(calib_stream *st) {
    free(st->x);
    st->x = NULL;
}

void calib_run_block(const gpt2_model *m, const calib_set *cs, calib_stream *st, act_stats *stats, int advance,
                     const char *label) {
    int L = m->cfg.n_layer;
    CHECK(st->layer >= 0 && st->layer <= L);
    if (st->layer == L) {  // the final LayerNorm and the head: a pass with no blocks left
        run_windows(m, cs, stats, L, 0, st->x, 0, label);
        return;
    }
    run_windows(m, cs, stats, st->layer, st->layer + 1, st->x, advance, label);
    if (advance) st->layer++;
}
