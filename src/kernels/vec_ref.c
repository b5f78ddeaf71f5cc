// vec_ref.c: scalar reference versions of the non-matmul kernels (the spec).
#include "kernels.h"
#include <math.h>

void gelu_f32_ref(float *x, size_t n, int exact) {
    const float k = 0.7978845608028654f;  // sqrt(2/pi)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = exact ? 0.5f * v * (1.0f + erff(v * 0.7071067811865476f))
                     : 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

void attn_head_f32_ref(float *out, const float *q, const float *k, const float *v, int n_keys, int HS, int ld,
                       float scale, float *scores) {
    float maxv = -INFINITY;
    for (int j = 0; j < n_keys; j++) {
        const float *kj = k + (size_t)j * ld;
        float dot = 0.0f;
        for (int i = 0; i < HS; i++) dot += q[i] * kj[i];
        scores[j] = dot * scale;
        if (scores[j] > maxv) maxv = scores[j];
    }
    float sum = 0.0f;
    for (int j = 0; j < n_keys; j++) {
        scores[j] = expf(scores[j] - maxv);
        sum += scores[j];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < HS; i++) out[i] = 0.0f;
    for (int j = 0; j < n_keys; j++) {
        const float *vj = v + (size_t)j * ld;
        float p = scores[j] * inv;
        for (int i = 0; i < HS; i++) out[i] += p * vj[i];
    }
}

void layernorm_f32_ref(float *y, const float *x, const float *w, const float *b, int n, int C, float eps) {
    for (int r = 0; r < n; r++, x += C, y += C) {
        float mean = 0.0f;
        for (int i = 0; i < C; i++) mean += x[i];
        mean /= (float)C;
        float var = 0.0f;
        for (int i = 0; i < C; i++) {
            float d = x[i] - mean;
            var += d * d;
        }
        var /= (float)C;
        float rstd = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < C; i++) y[i] = (x[i] - mean) * rstd * w[i] + b[i];
    }
}

float logsumexp_f32_ref(const float *x, int n) {
    float maxv = x[0];
    for (int i = 1; i < n; i++) maxv = x[i] > maxv ? x[i] : maxv;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += expf(x[i] - maxv);
    return maxv + logf(sum);
}
