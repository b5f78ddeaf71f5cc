// adamw.c: the AdamW optimizer (Loshchilov & Hutter 2019, "Decoupled Weight Decay
// Regularization"), in PyTorch's torch.optim.AdamW update order, and the global
// gradient norm used for clipping.
//
// Per element, with g the gradient times grad_scale and t the step count (from 1):
//   p ← p·(1 − lr·wd)                        (only where decay is on: 2-D weights)
//   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//   p ← p − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + eps)
#include "train.h"
#include "../core/err.h"
#include "../core/pool.h"
#include "../core/xalloc.h"
#include <math.h>
#include <string.h>

void adamw_init(adamw *o, size_t n, float beta1, float beta2, float eps, float weight_decay) {
    memset(o, 0, sizeof *o);
    o->n = n;
    o->m = xcalloc(n ? n : 1, sizeof(float));
    o->v = xcalloc(n ? n : 1, sizeof(float));
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
}

void adamw_free(adamw *o) {
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

// The update runs in pool tasks over units of UNIT floats of the flat arrays; a unit that
// straddles two segments takes each part with its segment's decay. The grad norm sums fixed
// UNIT-float chunks in order. Element-wise or in fixed chunks: no split changes a bit.
enum { UNIT = 1 << 16 };

typedef struct {
    adamw *o;
    float *params;
    const float *grads;
    const size_t *seg_len;
    const int *decay;
    int n_seg;
    float grad_scale, step_size, bc2_sqrt, decayed;
} step_job;

static void step_units(void *ctx, int u0, int u1, int worker) {
    (void)worker;
    const step_job *j = ctx;
    adamw *o = j->o;
    float b1 = o->beta1, b2 = o->beta2, eps = o->eps, gs = j->grad_scale, step = j->step_size, bc2 = j->bc2_sqrt;
    size_t lo = (size_t)u0 * UNIT, hi = (size_t)u1 * UNIT < o->n ? (size_t)u1 * UNIT : o->n, off = 0;
    for (int s = 0; s < j->n_seg && off < hi; off += j->seg_len[s], s++) {
        size_t b = off > lo ? off : lo, e = off + j->seg_len[s] < hi ? off + j->seg_len[s] : hi;
        float keep = j->decay[s] ? j->decayed : 1.0f;
        float *p = j->params, *m = o->m, *v = o->v;
        const float *g = j->grads;
        for (size_t i = b; i < e; i++) {
            float gi = g[i] * gs;
            float pi = p[i] * keep;
            float mi = m[i] + (1.0f - b1) * (gi - m[i]);  // PyTorch's lerp
            float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] = pi - step * (mi / (sqrtf(vi) / bc2 + eps));
        }
    }
}

void adamw_step(adamw *o, float *params, const float *grads, float grad_scale, float lr, const size_t *seg_len,
                const int *decay, int n_seg) {
    o->t++;
    double bc1 = 1.0 - pow((double)o->beta1, (double)o->t), bc2 = 1.0 - pow((double)o->beta2, (double)o->t);
    size_t total = 0;
    for (int s = 0; s < n_seg; s++) total += seg_len[s];
    CHECK(total == o->n);
    step_job j = {o, params, grads, seg_len, decay, n_seg, grad_scale, (float)(lr / bc1), (float)sqrt(bc2),
                  1.0f - lr * o->weight_decay};
    pool_for((int)((o->n + UNIT - 1) / UNIT), 1, 1, step_units, &j);
}

typedef struct {
    const float *g;
    size_t n;
    double *part;
} norm_job;

static void norm_chunks(void *ctx, int c0, int c1, int worker) {
    (void)worker;
    const norm_job *j = ctx;
    for (int c = c0; c < c1; c++) {
        size_t b = (size_t)c * UNIT, e = b + UNIT < j->n ? b + UNIT : j->n;
        double s = 0.0;
        for (size_t i = b; i < e; i++) s += (double)j->g[i] * j->g[i];
        j->part[c] = s;
    }
}

double adamw_grad_norm(const float *g, size_t n) {
    int n_chunks = (int)((n + UNIT - 1) / UNIT);
    double *part = xcalloc((size_t)n_chunks + 1, sizeof(double));
    norm_job j = {g, n, part};
    pool_for(n_chunks, 1, 1, norm_chunks, &j);
    double total = 0.0;
    for (int c = 0; c < n_chunks; c++) total += part[c];
    free(part);
    return sqrt(total);
}
