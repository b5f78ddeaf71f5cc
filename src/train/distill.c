// distill.c: the knowledge-distillation loss and its gradient (Hinton, Vinyals & Dean
// 2015, "Distilling the Knowledge in a Neural Network").
//
// Per position, with z the student's logits, s the teacher's, y the target, α the KD
// weight and τ the temperature:
//   loss = (1−α)·CE(softmax(z), y) + α·τ²·KL(p_t ‖ p_s),  p_t = softmax(s/τ), p_s = softmax(z/τ)
//   d loss / dz = (1−α)·(softmax(z) − onehot(y)) + α·τ·(p_s − p_t)
// (the τ² keeps the soft term's gradient scale independent of τ). The loss is the mean
// over positions, so the gradient is divided by N. The teacher's logits come from a
// forward pass on the same batch; no gradient flows into the teacher.
#include "train.h"
#include "../core/err.h"
#include "../core/pool.h"
#include "../core/xalloc.h"
#include "../kernels/backward.h"

typedef struct {
    float *student, *scratch;
    const float *teacher;
    const int *targets;
    double *ce, *kl;
    int V, width;
    float inv_tau, a_hard, a_soft;
} kd_job;

// Rows [r0, r1): their CE and KL, and the student's logits replaced by the gradient.
static void kd_rows(void *ctx, int r0, int r1, int worker) {
    const kd_job *j = ctx;
    int V = j->V;
    CHECK(worker < j->width);
    float *pt = j->scratch + (size_t)worker * 2 * V, *ps = pt + V;
    for (int r = r0; r < r1; r++) {
        float *z = j->student + (size_t)r * V;
        const float *s = j->teacher + (size_t)r * V;
        int y = j->targets[r];
        CHECK(y >= 0 && y < V);
        float lse_t = softmax_f32(pt, s, V, j->inv_tau);
        float lse_s = softmax_f32(ps, z, V, j->inv_tau);
        // KL = Σ p_t·(log p_t − log p_s) = Σ p_t·(s − z)/τ − lse_t + lse_s, since Σ p_t = 1
        double d = 0.0;
        for (int i = 0; i < V; i++) d += (double)pt[i] * (double)(s[i] - z[i]);
        j->kl[r] = d * j->inv_tau - lse_t + lse_s;
        float zy = z[y];
        j->ce[r] = softmax_f32(z, z, V, 1.0f) - zy;  // z now holds softmax(z)
        for (int i = 0; i < V; i++) z[i] = j->a_hard * z[i] + j->a_soft * (ps[i] - pt[i]);
        z[y] -= j->a_hard;
    }
}

double distill_loss(float *student, const float *teacher, const int *targets, int N, int V, float alpha, float tau,
                    double *ce_out, double *kl_out) {
    int width = pool_width();
    float *scratch = xmalloc((size_t)width * 2 * (size_t)V * sizeof(float));  // per worker: p_t, p_s
    double *ce = xmalloc((size_t)N * sizeof(double)), *kl = xmalloc((size_t)N * sizeof(double));
    float inv_n = 1.0f / (float)N;
    kd_job j = {student, scratch, teacher, targets, ce, kl, V, width, 1.0f / tau, (1.0f - alpha) * inv_n,
                alpha * tau * inv_n};
    pool_for(N, 1, 1, kd_rows, &j);
    double ce_sum = 0.0, kl_sum = 0.0;
    for (int r = 0; r < N; r++) {
        ce_sum += ce[r];
        kl_sum += kl[r];
    }
    free(scratch);
    free(ce);
    free(kl);
    ce_sum /= N;
    kl_sum /= N;
    if (ce_out) *ce_out = ce_sum;
    if (kl_out) *kl_out = kl_sum;
    return (1.0 - alpha) * ce_sum + (double)alpha * tau * tau * kl_sum;
}
