// adamw.c: the AdamW optimizer (Loshchilov & Hutter 2019, "Decoupled Weight Decay
// Regularization"), in PyTorch's torch.optim.AdamW update order, and the global
// gradient norm used for clipping.
//
// Per element, with g the gradient times grad_scale and t the step count (from 1):
//   p ← p·(1 − lr·wd)                        (only where decay is on: 2-D weights)
//   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//   p ← p − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + eps)
// Element-wise, so the threads' split does not change a bit.
#include "train.h"
#include "../core/err.h"
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

void adamw_step(adamw *o, float *params, const float *grads, float grad_scale, float lr, const size_t *seg_len,
                const int *decay, int n_seg) {
    o->t++;
    double bc1 = 1.0 - pow((double)o->beta1, (double)o->t), bc2 = 1.0 - pow((double)o->beta2, (double)o->t);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    size_t total = 0;
    for (int s = 0; s < n_seg; s++) total += seg_len[s];
    CHECK(total == o->n);
    float decayed = 1.0f - lr * o->weight_decay;
#pragma omp parallel
    {
        size_t off = 0;
        for (int s = 0; s < n_seg; s++) {
            float keep = decay[s] ? decayed : 1.0f;
            long n = (long)seg_len[s];
            float *p = params + off, *m = o->m + off, *v = o->v + off;
            const float *g = grads + off;
#pragma omp for schedule(static) nowait
            for (long i = 0; i < n; i++) {
                float gi = g[i] * grad_scale;
                float pi = p[i] * keep;
                float mi = m[i] + (1.0f - b1) * (gi - m[i]);  // PyTorch's lerp
                float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
                m[i] = mi;
                v[i] = vi;
                p[i] = pi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
            }
            off += seg_len[s];
        }
    }
}

double adamw_grad_norm(const float *g, size_t n) {
    // Fixed 64K-element chunks, summed in order: the same bits for any thread count.
    const size_t chunk = 1 << 16;
    long n_chunks = (long)((n + chunk - 1) / chunk);
    double *part = xcalloc((size_t)n_chunks + 1, sizeof(double));
#pragma omp parallel for schedule(static)
    for (long c = 0; c < n_chunks; c++) {
        size_t b = (size_t)c * chunk, e = b + chunk < n ? b + chunk : n;
        double s = 0.0;
        for (size_t i = b; i < e; i++) s += (double)g[i] * g[i];
        part[c] = s;
    }
    double total = 0.0;
    for (long c = 0; c < n_chunks; c++) total += part[c];
    free(part);
    return sqrt(total);
}
