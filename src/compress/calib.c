// calib.c: calibration windows and the forward hook that gathers activation statistics.
#include "calib.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../core/pool.h"
#include "../core/progress.h"
#include "../kernels/backward.h"
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

// H = Σ x xᵀ is the costliest statistic (cols² per token; at GPT-2-XL's MLP, 6400² = 41 M
// multiply-adds per token, more than the forward pass itself). It is built from the upper
// triangle only, in tiles of a matrix product over H_TOKENS tokens at a time (the inputs
// gathered transposed), summed in float, and added into the double H every H_FLUSH tokens
// and at the end of a pass, when the lower triangle is mirrored from the upper.
enum { H_TOKENS = 1024, H_TILE = 384, H_FLUSH = 8192 };

typedef struct h_acc {
    float *xt;    // (cols, H_TOKENS): the inputs gathered, transposed; `filled` tokens so far
    float *part;  // (cols, cols) upper triangle: Σ x xᵀ over the tokens since the last flush
    int filled, pending;
} h_acc;

typedef struct collector {
    act_stats *stats;
    h_acc *acc;  // per matrix: used where stats[i].H is
    int n;
} collector;

typedef struct h_job {
    h_acc *a;
    int cols, tiles;
} h_job;

// Tile pair p (bi <= bj, row-major over the upper triangle of tiles): part += Xᵢ Xⱼᵀ.
static void h_tile(void *ctx, int p, int worker) {
    (void)worker;
    const h_job *j = ctx;
    int bi = 0, q = p, C = j->cols;
    while (q >= j->tiles - bi) q -= j->tiles - bi, bi++;
    int i0 = bi * H_TILE, j0 = (bi + q) * H_TILE;
    int mi = C - i0 < H_TILE ? C - i0 : H_TILE, nj = C - j0 < H_TILE ? C - j0 : H_TILE;
    const float *xt = j->a->xt;
    gemm_f32(j->a->part + (size_t)i0 * C + j0, C, xt + (size_t)i0 * H_TOKENS, H_TOKENS, 1, xt + (size_t)j0 * H_TOKENS, 1,
             H_TOKENS, mi, nj, j->a->filled, 1);
}

static void h_product(h_acc *a, int cols) {
    if (!a->filled) return;
    int tiles = (cols + H_TILE - 1) / H_TILE;
    h_job j = {a, cols, tiles};
    pool_run(tiles * (tiles + 1) / 2, h_tile, &j);
    a->pending += a->filled;
    a->filled = 0;
}

// Adds the float part into H's upper triangle (double) and clears it.
static void h_flush(h_acc *a, act_stats *s) {
    h_product(a, s->cols);
    if (!a->pending) return;
    int C = s->cols;
    for (int i = 0; i < C; i++) {
        double *h = s->H + (size_t)i * C;
        float *p = a->part + (size_t)i * C;
        for (int k = i; k < C; k++) h[k] += p[k], p[k] = 0.0f;
    }
    a->pending = 0;
}

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
    h_acc *a = &c->acc[mat];
    for (int t0 = 0; t0 < T;) {
        int n = T - t0 < H_TOKENS - a->filled ? T - t0 : H_TOKENS - a->filled;
        for (int i = 0; i < cols; i++) {
            float *dst = a->xt + (size_t)i * H_TOKENS + a->filled;
            for (int t = 0; t < n; t++) dst[t] = in[(size_t)(t0 + t) * cols + i];
        }
        a->filled += n, t0 += n;
        if (a->filled == H_TOKENS) h_product(a, cols);
        if (a->pending >= H_FLUSH) h_flush(a, s);
    }
}

static void collector_init(collector *c, act_stats *stats, int n) {
    c->stats = stats;
    c->n = n;
    c->acc = xcalloc((size_t)n, sizeof *c->acc);
    for (int i = 0; stats && i < n; i++)
        if (stats[i].H) {
            c->acc[i].xt = xmalloc((size_t)stats[i].cols * H_TOKENS * sizeof(float));
            c->acc[i].part = xcalloc((size_t)stats[i].cols * stats[i].cols, sizeof(float));
        }
}

// The last tokens into H, the lower triangle mirrored from the upper.
static void collector_finish(collector *c) {
    for (int m = 0; c->stats && m < c->n; m++) {
        act_stats *s = &c->stats[m];
        if (!s->H) continue;
        h_flush(&c->acc[m], s);
        int C = s->cols;
        for (int i = 0; i < C; i++)
            for (int k = i + 1; k < C; k++) s->H[(size_t)k * C + i] = s->H[(size_t)i * C + k];
        free(c->acc[m].xt), free(c->acc[m].part);
    }
    free(c->acc);
}

// One forward pass per window with the hook on; start/stop select the blocks run.
static void run_windows(const gpt2_model *m, const calib_set *cs, act_stats *stats, int start, int stop, float *stream,
                        int advance, const char *label) {
    int ns = gpt2_n_mats(&m->cfg), C = m->cfg.n_embd;
    collector c;
    collector_init(&c, stats, ns);
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
        if (label) progress_note(label, w + 1, cs->n_windows, t0);
    }
    collector_finish(&c);
    gpt2_state_free(&s);
}

void calib_collect(const gpt2_model *m, const calib_set *cs, act_stats *stats, int stop_after, const char *label) {
    run_windows(m, cs, stats, 0, stop_after, NULL, 0, label);
}

float **calib_importance(const gpt2_model *m, const calib_set *cs, const char *label) {
    int n = gpt2_n_mats(&m->cfg), embd = gpt2_mat_embd(&m->cfg);
    act_stats *st = xcalloc((size_t)n, sizeof *st);
    for (int i = 0; i < n; i++)
        if (i != embd) act_stats_init(&st[i], gpt2_mat((gpt2_model *)m, i)->cols, 0);  // read only
    calib_collect(m, cs, st, 0, label);
    float **imp = xcalloc((size_t)n, sizeof *imp);
    for (int i = 0; i < n; i++) {
        if (i == embd) continue;
        imp[i] = xmalloc((size_t)st[i].cols * sizeof(float) + 1);  // + 1: never a 0-byte request
        for (int k = 0; k < st[i].cols; k++) imp[i][k] = (float)(st[i].sumsq[k] / (double)(st[i].n ? st[i].n : 1));
        act_stats_free(&st[i]);
    }
    free(st);
    return imp;
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
