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
#include "../core/parallel.h"
#include "../core/xalloc.h"
#include "../kernels/backward.h"

double distill_loss(float *student, const float *teacher, const int *targets, int N, int V, float alpha, float tau,
                    double *ce_out, double *kl_out) {
    int nth = par_max_threads();
    float *scratch = xmalloc((size_t)nth * 2 * (size_t)V * sizeof(float));  // per thread: p_t, p_s
    double *ce = xmalloc((size_t)N * sizeof(double)), *kl = xmalloc((size_t)N * sizeof(double));
    float inv_tau = 1.0f / tau, inv_n = 1.0f / (float)N;
    float a_hard = (1.0f - alpha) * inv_n, a_soft = alpha * tau * inv_n;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        int th = par_thread_id();
        CHECK(th < nth);
        float *pt = scratch + (size_t)th * 2 * V, *ps = pt + V;
        float *z = student + (size_t)r * V;
        const float *s = teacher + (size_t)r * V;
        int y = targets[r];
        CHECK(y >= 0 && y < V);
        float lse_t = softmax_f32(pt, s, V, inv_tau);
        float lse_s = softmax_f32(ps, z, V, inv_tau);
        // KL = Σ p_t·(log p_t − log p_s) = Σ p_t·(s − z)/τ − lse_t + lse_s, since Σ p_t = 1
        double d = 0.0;
        for (int i = 0; i < V; i++) d += (double)pt[i] * (double)(s[i] - z[i]);
        kl[r] = d * inv_tau - lse_t + lse_s;
        float zy = z[y];
        ce[r] = softmax_f32(z, z, V, 1.0f) - zy;  // z now holds softmax(z)
        for (int i = 0; i < V; i++) z[i] = a_hard * z[i] + a_soft * (ps[i] - pt[i]);
        z[y] -= a_hard;
    }
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
