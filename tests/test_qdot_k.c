// test_qdot_k.c: K-quant matrix-vector kernels (qdot_k.h) on random rows.
// (1) qdot_k_avx2 and qdot_k_avx512 (where the CPU has AVX-512 VNNI) against
// qdot_k_ref; (2) qdot_k_ref against the dot of the
// dequantized weight row with the dequantized Q8_K activation, summed in double
// (the same numbers summed in another order). Outputs are NaN-prefilled and only
// [n0, n1) may be written.
// Tolerance TOL_QDOT_K: |a - b| <= 1e-5 · (Σ_k |w_k·x_k| + |bias|) per output.
#include "harness.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "kernels/kernels.h"
#include "kernels/qblock.h"
#include "kernels/qdot_k.h"
#include <string.h>

#define TOL_QDOT_K 1e-5

// Uniform in [-1, 1), then per row a scale and an offset so that the K-quant
// mins (Q2_K, Q4_K, Q5_K) and scale ranges see one-sided and mixed-magnitude rows.
static void fill_rows(float *x, int rows, int K, rng *r) {
    for (int n = 0; n < rows; n++) {
        float scale = 0.01f + 4.0f * rng_f32(r), off = n % 3 == 0 ? 0.0f : (rng_f32(r) - 0.5f) * 2.0f * scale;
        for (int k = 0; k < K; k++) x[(size_t)n * K + k] = (rng_f32(r) * 2.0f - 1.0f) * scale + off;
    }
}

static void test_type(qtype t, int have_avx2, int have_512, rng *r) {
    static const int Ks[] = {256, 512, 768, 3072};
    static const int Ns[] = {1, 3, 7, 33};
    double worst_avx2 = 0, worst_512 = 0, worst_deq = 0;
    for (int a = 0; a < 4; a++)
        for (int c = 0; c < 4; c++) {
            int K = Ks[a], N = Ns[c];
            float *x = xmalloc((size_t)K * sizeof(float)), *wf = xmalloc((size_t)N * K * sizeof(float));
            float *bias = xmalloc((size_t)N * sizeof(float)), *xd = xmalloc((size_t)K * sizeof(float));
            float *wd = xmalloc((size_t)K * sizeof(float));
            float *o_ref = xmalloc((size_t)N * sizeof(float)), *o_avx = xmalloc((size_t)N * sizeof(float));
            float *o_512 = xmalloc((size_t)N * sizeof(float));
            fill_rows(x, 1, K, r);
            if (a == 1) memset(x + 256, 0, 256 * sizeof(float));  // an all-zero activation block (d = 0)
            fill_rows(wf, N, K, r);
            for (int n = 0; n < N; n++) bias[n] = rng_f32(r) - 0.5f;
            const float *b = c % 2 ? bias : NULL;
            size_t rb = qtype_row_bytes(t, (size_t)K);
            char *wq = xmalloc((size_t)N * rb);
            block_q8_k *xq = xmalloc((size_t)(K / QK_K) * sizeof(block_q8_k));
            EXPECT(quantize_rows(t, wf, wq, N, K, NULL) == 0, "quantize_rows");
            quantize_row_q8_k_ref(x, xq, K);
            dequantize_row(QTYPE_Q8_K, xq, xd, (size_t)K);
            // a sub-range when N > 2, so unwritten neighbours must stay NaN
            int n0 = N > 2 ? 1 : 0, n1 = N > 2 ? N - 1 : N;
            for (int n = 0; n < N; n++) o_ref[n] = o_avx[n] = o_512[n] = NAN;
            qdot_k_ref(o_ref, xq, wq, t, b, K, n0, n1);
            if (have_avx2) qdot_k_avx2(o_avx, xq, wq, t, b, K, n0, n1);
            if (have_512) qdot_k_avx512(o_512, xq, wq, t, b, K, n0, n1);
            for (int n = 0; n < N; n++) {
                if (n < n0 || n >= n1) {
                    EXPECT(isnan(o_ref[n]) && isnan(o_avx[n]) && isnan(o_512[n]),
                           "%s K=%d N=%d: row %d outside [%d,%d) written", qtype_get((int)t)->name, K, N, n, n0, n1);
                    continue;
                }
                dequantize_row(t, wq + (size_t)n * rb, wd, (size_t)K);
                double want = b ? b[n] : 0.0, mag = b ? fabs(b[n]) : 0.0;
                for (int k = 0; k < K; k++) {
                    want += (double)wd[k] * xd[k];
                    mag += fabs((double)wd[k] * xd[k]);
                }
                double ed = fabs(o_ref[n] - want) / (mag + 1e-30);
                if (!(ed <= worst_deq)) worst_deq = ed;  // NaN sticks
                if (have_avx2) {
                    double e = fabs((double)o_avx[n] - o_ref[n]) / (mag + 1e-30);
                    if (!(e <= worst_avx2)) worst_avx2 = e;
                }
                if (have_512) {
                    double e = fabs((double)o_512[n] - o_ref[n]) / (mag + 1e-30);
                    if (!(e <= worst_512)) worst_512 = e;
                }
            }
            free(x); free(wf); free(bias); free(xd); free(wd); free(o_ref); free(o_avx); free(o_512);
            free(wq); free(xq);
        }
    char label[96];
    snprintf(label, sizeof label, "qdot_k_ref vs dequantized dot (%s, 16 shapes)", qtype_get((int)t)->name);
    EXPECT_CLOSE(label, worst_deq, TOL_QDOT_K);
    if (have_avx2) {
        snprintf(label, sizeof label, "qdot_k_avx2 vs ref (%s, 16 shapes)", qtype_get((int)t)->name);
        EXPECT_CLOSE(label, worst_avx2, TOL_QDOT_K);
    }
    if (have_512) {
        snprintf(label, sizeof label, "qdot_k_avx512 vs ref (%s, 16 shapes)", qtype_get((int)t)->name);
        EXPECT_CLOSE(label, worst_512, TOL_QDOT_K);
    }
}

// Extreme levels: every weight level at its maximum against activations of ±127
// (the int16 maddubs and int32 sums must not saturate or overflow).
static void test_extremes(qtype t, int have_avx2, int have_512) {
    enum { K = 512 };
    size_t rb = qtype_row_bytes(t, K);
    unsigned char *wq = xmalloc(rb);
    memset(wq, 0xFF, rb);  // all levels, scales and mins at their maximum ...
    block_q8_k xq[K / QK_K];
    for (int i = 0; i < K / QK_K; i++) {
        // ... with d = dmin = 1.0 (fp16); signed scales (Q3_K, Q6_K) are then -1 or 31
        uint16_t h = 0x3C00;
        char *blk = (char *)wq + (size_t)i * (size_t)qtype_get((int)t)->bytes;
        if (t == QTYPE_Q2_K)
            memcpy(blk + offsetof(block_q2_k, d), &h, 2), memcpy(blk + offsetof(block_q2_k, dmin), &h, 2);
        else if (t == QTYPE_Q3_K) memcpy(blk + offsetof(block_q3_k, d), &h, 2);
        else if (t == QTYPE_Q6_K) memcpy(blk + offsetof(block_q6_k, d), &h, 2);
        else memcpy(blk, &h, 2), memcpy(blk + 2, &h, 2);
        xq[i].d = 0.01f;
        for (int e = 0; e < QK_K; e++) xq[i].qs[e] = (int8_t)(e % 5 == 0 ? 127 : -127);
        for (int j = 0; j < QK_K / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += xq[i].qs[16 * j + l];
            xq[i].bsums[j] = (int16_t)s;
        }
    }
    float wd[K], xd[K], o_ref = NAN, o_avx = NAN, o_512 = NAN;
    dequantize_row(t, wq, wd, K);
    dequantize_row(QTYPE_Q8_K, xq, xd, K);
    double want = 0, mag = 0;
    for (int k = 0; k < K; k++) want += (double)wd[k] * xd[k], mag += fabs((double)wd[k] * xd[k]);
    qdot_k_ref(&o_ref, xq, wq, t, NULL, K, 0, 1);
    char label[96];
    snprintf(label, sizeof label, "qdot_k_ref extreme levels (%s)", qtype_get((int)t)->name);
    EXPECT_CLOSE(label, fabs(o_ref - want) / mag, TOL_QDOT_K);
    if (have_avx2) {
        qdot_k_avx2(&o_avx, xq, wq, t, NULL, K, 0, 1);
        snprintf(label, sizeof label, "qdot_k_avx2 extreme levels (%s)", qtype_get((int)t)->name);
        EXPECT_CLOSE(label, fabs((double)o_avx - o_ref) / mag, TOL_QDOT_K);
    }
    if (have_512) {
        qdot_k_avx512(&o_512, xq, wq, t, NULL, K, 0, 1);
        snprintf(label, sizeof label, "qdot_k_avx512 extreme levels (%s)", qtype_get((int)t)->name);
        EXPECT_CLOSE(label, fabs((double)o_512 - o_ref) / mag, TOL_QDOT_K);
    }
    free(wq);
}

int main(void) {
    kernels_init();
    int have_avx2 = kernels_have_avx2();
    int have_512 = kernels_have_avx512_vnni();
    if (!have_avx2) printf("qdot_k_avx2 skipped: this CPU lacks AVX2/FMA\n");
    if (!have_512) printf("qdot_k_avx512 skipped: this CPU lacks AVX-512 BW/VNNI\n");
    EXPECT(!qdot_k_supports(QTYPE_Q4_0) && !qdot_k_supports(QTYPE_Q8_K) && qdot_k_supports(QTYPE_Q2_K) &&
               qdot_k_supports(QTYPE_Q3_K) && qdot_k_supports(QTYPE_Q4_K) && qdot_k_supports(QTYPE_Q5_K) &&
               qdot_k_supports(QTYPE_Q6_K),
           "qdot_k_supports");
    rng r;
    rng_init(&r, 23);
    qtype types[] = {QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q6_K, QTYPE_Q2_K, QTYPE_Q3_K};
    int nt = (int)(sizeof types / sizeof types[0]);
    for (int i = 0; i < nt; i++) test_type(types[i], have_avx2, have_512, &r);
    for (int i = 0; i < nt; i++) test_extremes(types[i], have_avx2, have_512);
    return TEST_DONE();
}
