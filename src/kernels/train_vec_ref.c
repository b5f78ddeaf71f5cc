// train_vec_ref.c: scalar reference versions of the training pass's row and element-wise
// kernels (row softmax, GELU backward); dispatch.c chooses between them and their twins.
#include "backward.h"
#include "kernels.h"
#include <math.h>

float softmax_f32_ref(float *out, const float *in, int n, float scale) {
    float mx = scale * in[0];
    for (int i = 1; i < n; i++) mx = scale * in[i] > mx ? scale * in[i] : mx;
    double sum = 0.0;  // double: a V-wide sum of positives stays exact to float precision
    for (int i = 0; i < n; i++) {
        out[i] = expf(scale * in[i] - mx);
        sum += out[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) out[i] *= inv;
    return mx + (float)log(sum);
}

void gelu_backward_f32_ref(float *dx, const float *x, const float *dy, size_t n, int exact) {
    const float k = 0.7978845608028654f, c = 0.044715f;  // sqrt(2/pi), GPT-2's cubic term
    for (size_t i = 0; i < n; i++) {
        float v = x[i], g;
        if (exact) {
            g = 0.5f * (1.0f + erff(v * 0.7071067811865476f)) + v * 0.3989422804014327f * expf(-0.5f * v * v);
        } else {
            float th = tanhf(k * (v + c * v * v * v));
            g = 0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * k * (1.0f + 3.0f * c * v * v);
        }
        dx[i] = g * dy[i];
    }
}
