// test_kernels.c: every fast kernel against its scalar _ref twin on awkward sizes,
// with outputs pre-filled with NaN so an unwritten element fails; and the dispatch table
// holds the kernels SHRINK_KERNELS and the CPU call for (so the suite's reruns with
// SHRINK_KERNELS=ref and =avx2 run what they say they run).
// Tolerance TOL_MATMUL_F32: |fast - ref| <= 1e-5 · Σ_k |a_k·w_k| + 1e-30 per element
// (a relative bound on the dot product's magnitude: summation order differs).
#include "harness.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "core/dtype.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "kernels/qblock.h"
#include "kernels/qdot_k.h"
#include <string.h>

#define TOL_MATMUL_F32 1e-5

static void fill(float *x, size_t n, rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = rng_f32(r) * 2.0f - 1.0f;
}

// Worst |fast - ref| / (Σ|a·w| + |bias|) over all outputs.
static double matmul_err(matmul_f32_fn fn, int BT, int C, int OC, int with_bias, rng *r) {
    float *in = xmalloc((size_t)BT * C * sizeof(float)), *w = xmalloc((size_t)OC * C * sizeof(float));
    float *b = xmalloc((size_t)OC * sizeof(float));
    float *ref = xmalloc((size_t)BT * OC * sizeof(float)), *out = xmalloc((size_t)BT * OC * sizeof(float));
    fill(in, (size_t)BT * C, r);
    fill(w, (size_t)OC * C, r);
    fill(b, (size_t)OC, r);
    for (size_t i = 0; i < (size_t)BT * OC; i++) out[i] = NAN;
    matmul_f32_ref(ref, in, w, with_bias ? b : NULL, BT, C, OC);
    fn(out, in, w, with_bias ? b : NULL, BT, C, OC);
    double worst = 0;
    for (int t = 0; t < BT; t++)
        for (int o = 0; o < OC; o++) {
            double mag = with_bias ? fabs(b[o]) : 0;
            for (int c = 0; c < C; c++) mag += fabs((double)in[(size_t)t * C + c] * w[(size_t)o * C + c]);
            double e = fabs((double)out[(size_t)t * OC + o] - ref[(size_t)t * OC + o]) / (mag + 1e-30);
            if (!(e <= worst)) worst = e;  // NaN sticks
        }
    free(in);
    free(w);
    free(b);
    free(ref);
    free(out);
    return worst;
}

static void test_matmul(const char *name, matmul_f32_fn fn) {
    static const int sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 31, 33, 64, 255, 257};
    int ns = (int)(sizeof sizes / sizeof sizes[0]);
    rng r;
    rng_init(&r, 1234);
    double worst = 0;
    int cases = 0;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < ns; j++) {
            int BT = sizes[i], C = sizes[j], OC = sizes[(i + j) % ns];
            double e = matmul_err(fn, BT, C, OC, (i + j) & 1, &r);
            if (!(e <= worst)) worst = e;
            cases++;
        }
    // Shapes of the models (K > the k-block, many rows) and a K-block boundary case.
    int big[][3] = {{128, 768, 96}, {5, 1030, 13}, {1, 3072, 40}, {17, 512, 9}, {6, 513, 8}};
    for (int i = 0; i < 5; i++) {
        double e = matmul_err(fn, big[i][0], big[i][1], big[i][2], i & 1, &r);
        if (!(e <= worst)) worst = e;
        cases++;
    }
    char label[128];
    snprintf(label, sizeof label, "matmul_f32_%s vs ref (%d shapes)", name, cases);
    EXPECT_CLOSE(label, worst, TOL_MATMUL_F32);
}

// Results for 1 and 2 threads: the split over output channels never changes the
// summation order of one output, so they must be bitwise equal.
static void test_threads_agree(const char *name, matmul_f32_fn fn) {
    int BT = 37, C = 300, OC = 130;
    rng r;
    rng_init(&r, 99);
    float *in = xmalloc((size_t)BT * C * sizeof(float)), *w = xmalloc((size_t)OC * C * sizeof(float));
    float *o1 = xmalloc((size_t)BT * OC * sizeof(float)), *o2 = xmalloc((size_t)BT * OC * sizeof(float));
    fill(in, (size_t)BT * C, &r);
    fill(w, (size_t)OC * C, &r);
    int saved = par_max_threads();
    par_set_threads(1);
    fn(o1, in, w, NULL, BT, C, OC);
    par_set_threads(2);
    fn(o2, in, w, NULL, BT, C, OC);
    par_set_threads(saved);
    char label[128];
    snprintf(label, sizeof label, "matmul_f32_%s 1 vs 2 threads bitwise", name);
    EXPECT(memcmp(o1, o2, (size_t)BT * OC * sizeof(float)) == 0, "%s differ", label);
    printf("%s ... ok\n", label);
    free(in);
    free(w);
    free(o1);
    free(o2);
}

// Typed weights: W stored as F16 (exactly representable values, so the reference
// and the fast path see the same numbers); same tolerance as fp32.
static double matmul_typed_err(matmul_fn fn, qtype t, int BT, int C, int OC, int with_bias, rng *r) {
    float *in = xmalloc((size_t)BT * C * sizeof(float)), *wf = xmalloc((size_t)OC * C * sizeof(float));
    float *b = xmalloc((size_t)OC * sizeof(float));
    float *ref = xmalloc((size_t)BT * OC * sizeof(float)), *out = xmalloc((size_t)BT * OC * sizeof(float));
    uint16_t *wh = xmalloc((size_t)OC * C * sizeof(uint16_t));
    fill(in, (size_t)BT * C, r);
    fill(wf, (size_t)OC * C, r);
    fill(b, (size_t)OC, r);
    for (size_t i = 0; i < (size_t)OC * C; i++) {
        wh[i] = f32_to_fp16(wf[i]);
        wf[i] = fp16_to_f32(wh[i]);
    }
    const void *w = t == QTYPE_F16 ? (const void *)wh : (const void *)wf;
    for (size_t i = 0; i < (size_t)BT * OC; i++) out[i] = NAN;
    matmul_f32_ref(ref, in, wf, with_bias ? b : NULL, BT, C, OC);
    fn(out, in, w, t, with_bias ? b : NULL, BT, C, OC);
    double worst = 0;
    for (int i = 0; i < BT; i++)
        for (int o = 0; o < OC; o++) {
            double mag = with_bias ? fabs(b[o]) : 0;
            for (int c = 0; c < C; c++) mag += fabs((double)in[(size_t)i * C + c] * wf[(size_t)o * C + c]);
            double e = fabs((double)out[(size_t)i * OC + o] - ref[(size_t)i * OC + o]) / (mag + 1e-30);
            if (!(e <= worst)) worst = e;
        }
    free(in);
    free(wf);
    free(wh);
    free(b);
    free(ref);
    free(out);
    return worst;
}

static void test_matmul_typed(const char *name, matmul_fn fn) {
    static const int sizes[] = {1, 2, 3, 5, 7, 8, 9, 31, 33, 255, 257};
    int ns = (int)(sizeof sizes / sizeof sizes[0]);
    qtype types[] = {QTYPE_F32, QTYPE_F16};
    for (int ti = 0; ti < 2; ti++) {
        rng r;
        rng_init(&r, 4321);
        double worst = 0;
        int cases = 0;
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < ns; j++) {
                double e = matmul_typed_err(fn, types[ti], sizes[i], sizes[j], sizes[(i + 2 * j) % ns], (i + j) & 1, &r);
                if (!(e <= worst)) worst = e;
                cases++;
            }
        int big[][3] = {{128, 768, 96}, {1, 1030, 13}, {7, 3072, 40}, {1, 768, 50}};
        for (int i = 0; i < 4; i++) {
            double e = matmul_typed_err(fn, types[ti], big[i][0], big[i][1], big[i][2], i & 1, &r);
            if (!(e <= worst)) worst = e;
            cases++;
        }
        char label[128];
        snprintf(label, sizeof label, "matmul_%s %s weights vs ref (%d shapes)", name, qtype_get(types[ti])->name, cases);
        EXPECT_CLOSE(label, worst, TOL_MATMUL_F32);
    }
}

// GELU: tanh form within TOL_GELU absolute of the libm reference over [-10, 10], NaN-prefilled
// copies, lengths that are not multiples of 8.
#define TOL_GELU 2e-6
static void test_gelu(const char *name, gelu_f32_fn fn) {
    static const size_t lens[] = {1, 7, 8, 31, 33, 255, 257, 4099};
    double worst = 0;
    for (int exact = 0; exact < 2; exact++)
        for (int li = 0; li < 8; li++) {
            size_t n = lens[li];
            float *x = xmalloc(n * sizeof(float)), *y = xmalloc(n * sizeof(float));
            for (size_t i = 0; i < n; i++) x[i] = -10.0f + 20.0f * (float)i / (float)(n > 1 ? n - 1 : 1);
            memcpy(y, x, n * sizeof(float));
            gelu_f32_ref(x, n, exact);
            fn(y, n, exact);
            for (size_t i = 0; i < n; i++) {
                double e = fabs((double)x[i] - y[i]);
                if (!(e <= worst)) worst = e;
            }
            free(x);
            free(y);
        }
    char label[96];
    snprintf(label, sizeof label, "gelu_f32_%s vs ref", name);
    EXPECT_CLOSE(label, worst, TOL_GELU);
}

// The AVX-512 GELU against the AVX2 one, bit for bit (both forms; lengths around 8 and 16
// and past them, values over the whole range the exp clamp covers, and beyond it).
static void test_gelu_twins(void) {
    static const size_t lens[] = {1, 7, 8, 15, 16, 17, 24, 31, 33, 255, 4099};
    int differ = 0;
    rng r;
    rng_init(&r, 5);
    for (int exact = 0; exact < 2; exact++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t n = lens[li];
            float *x = xmalloc(n * sizeof(float)), *y = xmalloc(n * sizeof(float));
            for (size_t i = 0; i < n; i++) x[i] = (rng_f32(&r) * 2 - 1) * (li % 2 ? 12.0f : 80.0f);
            memcpy(y, x, n * sizeof(float));
            gelu_f32_avx2(x, n, exact);
            gelu_f32_avx512(y, n, exact);
            if (memcmp(x, y, n * sizeof(float)) != 0) differ++;
            free(x);
            free(y);
        }
    EXPECT(differ == 0, "gelu_f32_avx512 differs from gelu_f32_avx2 on %d of 22 lengths", differ);
    if (differ == 0) printf("gelu_f32_avx512 bit-identical to avx2 (22 lengths, both forms) ... ok\n");
}

// One head's attention: relative to the output's scale, within TOL_ATTN; head sizes
// with and without a multiple of 8 (the SIMD path falls back), key counts 1..257.
#define TOL_ATTN 2e-6
static void test_attention(const char *name, attn_head_f32_fn fn) {
    static const int hs[] = {8, 12, 32, 64, 80};
    static const int nk[] = {1, 2, 3, 5, 7, 31, 33, 255, 257};
    rng r;
    rng_init(&r, 77);
    double worst = 0;
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 9; b++) {
            int HS = hs[a], n = nk[b], ld = 3 * HS + 5;
            float *q = xmalloc((size_t)HS * sizeof(float)), *kv = xmalloc((size_t)n * ld * 2 * sizeof(float));
            float *o1 = xmalloc((size_t)HS * sizeof(float)), *o2 = xmalloc((size_t)HS * sizeof(float));
            float *sc = xmalloc((size_t)n * sizeof(float));
            fill(q, (size_t)HS, &r);
            for (int i = 0; i < HS; i++) q[i] *= 4.0f;  // peaked softmax
            fill(kv, (size_t)n * ld * 2, &r);
            for (int i = 0; i < HS; i++) o2[i] = NAN;
            attn_head_f32_ref(o1, q, kv, kv + (size_t)n * ld, n, HS, ld, 0.125f, sc);
            fn(o2, q, kv, kv + (size_t)n * ld, n, HS, ld, 0.125f, sc);
            for (int i = 0; i < HS; i++) {
                double e = fabs((double)o1[i] - o2[i]);
                if (!(e <= worst)) worst = e;
            }
            free(q);
            free(kv);
            free(o1);
            free(o2);
            free(sc);
        }
    char label[96];
    snprintf(label, sizeof label, "attn_head_f32_%s vs ref (45 shapes)", name);
    EXPECT_CLOSE(label, worst, TOL_ATTN);
}

// Layer norm: the reference within TOL_LN of a double-precision computation, and every
// twin bit-identical to the reference (its sums run in the same order). Rows sit far from
// zero (mean 1000) so that sums in another order round differently; row counts around 8
// and widths that are not multiples of 8 take the tails.
#define TOL_LN 1e-3
static void test_layernorm(const char *name, layernorm_f32_fn fn) {
    static const int ns[] = {1, 7, 8, 9, 16, 17}, cs[] = {8, 12, 64, 768, 1600};
    rng r;
    rng_init(&r, 91);
    double worst = 0;
    int differ = 0;
    for (int a = 0; a < 6; a++)
        for (int c = 0; c < 5; c++) {
            int n = ns[a], C = cs[c];
            size_t nc = (size_t)n * C;
            float *x = xmalloc(nc * sizeof(float)), *y1 = xmalloc(nc * sizeof(float)), *y2 = xmalloc(nc * sizeof(float));
            float *w = xmalloc((size_t)C * sizeof(float)), *b = xmalloc((size_t)C * sizeof(float));
            fill(x, nc, &r);
            for (size_t i = 0; i < nc; i++) x[i] = 1000.0f + 3.0f * x[i] * (float)(1 + i / C);
            fill(w, (size_t)C, &r);
            fill(b, (size_t)C, &r);
            for (size_t i = 0; i < nc; i++) y2[i] = NAN;
            layernorm_f32_ref(y1, x, w, b, n, C, 1e-5f);
            fn(y2, x, w, b, n, C, 1e-5f);
            differ += memcmp(y1, y2, nc * sizeof(float)) != 0;
            for (int t = 0; t < n; t++) {
                const float *xt = x + (size_t)t * C;
                double mean = 0, var = 0;
                for (int i = 0; i < C; i++) mean += xt[i];
                mean /= C;
                for (int i = 0; i < C; i++) var += (xt[i] - mean) * (xt[i] - mean);
                double rstd = 1.0 / sqrt(var / C + 1e-5);
                for (int i = 0; i < C; i++) {
                    double e = fabs((xt[i] - mean) * rstd * w[i] + b[i] - y1[(size_t)t * C + i]);
                    if (!(e <= worst)) worst = e;
                }
            }
            free(x), free(y1), free(y2), free(w), free(b);
        }
    char label[96];
    snprintf(label, sizeof label, "layernorm_f32_ref vs double (30 shapes)");
    EXPECT_CLOSE(label, worst, TOL_LN);
    EXPECT(differ == 0, "layernorm_f32_%s differs from the reference in %d of 30 shapes", name, differ);
    if (differ == 0) printf("layernorm_f32_%s bit-identical to ref (30 shapes) ... ok\n", name);
}

// logsumexp: within TOL_LSE of a double-precision computation, lengths around 8.
#define TOL_LSE 2e-6
static void test_logsumexp(const char *name, logsumexp_f32_fn fn) {
    static const int lens[] = {1, 7, 8, 9, 31, 33, 97, 8192, 50257};
    rng r;
    rng_init(&r, 5);
    double worst = 0;
    for (int li = 0; li < 9; li++) {
        int n = lens[li];
        float *x = xmalloc((size_t)n * sizeof(float));
        for (int i = 0; i < n; i++) x[i] = (rng_f32(&r) - 0.5f) * 40.0f;
        double mx = x[0], s = 0;
        for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
        for (int i = 0; i < n; i++) s += exp(x[i] - mx);
        double want = mx + log(s), e = fabs(fn(x, n) - want) / fmax(1.0, fabs(want));
        if (!(e <= worst)) worst = e;
        free(x);
    }
    char label[96];
    snprintf(label, sizeof label, "logsumexp_f32_%s vs double", name);
    EXPECT_CLOSE(label, worst, TOL_LSE);
}

// Quantized single-row products: the AVX2 kernel equals the reference (same integer
// block dots; only the fp32 sum order differs: TOL_QDOT relative), and the reference
// equals the dequantized weights · dequantized activation exactly up to fp32 rounding.
#define TOL_QDOT 1e-5
static void test_qdot(const char *name, qdot_fn fn) {
    static const int Ks[] = {32, 64, 96, 768, 3072};
    static const int Ns[] = {1, 3, 7, 33};
    qtype types[] = {QTYPE_Q8_0, QTYPE_Q4_0};
    rng r;
    rng_init(&r, 11);
    double worst = 0, worst_deq = 0;
    for (int ti = 0; ti < 2; ti++)
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 4; b++) {
                int K = Ks[a], N = Ns[b];
                float *x = xmalloc((size_t)K * sizeof(float)), *wf = xmalloc((size_t)N * K * sizeof(float));
                float *bias = xmalloc((size_t)N * sizeof(float)), *o1 = xmalloc((size_t)N * sizeof(float));
                float *o2 = xmalloc((size_t)N * sizeof(float)), *xd = xmalloc((size_t)K * sizeof(float));
                float *wd = xmalloc((size_t)K * sizeof(float));
                fill(x, (size_t)K, &r);
                fill(wf, (size_t)N * K, &r);
                fill(bias, (size_t)N, &r);
                size_t rb = qtype_row_bytes(types[ti], (size_t)K);
                char *wq = xmalloc((size_t)N * rb), *xq = xmalloc((size_t)(K / 32) * sizeof(block_q8_0));
                quantize_rows(types[ti], wf, wq, N, K, NULL);
                quantize_row_q8_0_ref(x, xq, K);
                dequantize_row(QTYPE_Q8_0, xq, xd, (size_t)K);
                for (int n = 0; n < N; n++) o2[n] = NAN;
                qdot_q8_ref(o1, xq, wq, types[ti], bias, K, 0, N);
                fn(o2, xq, wq, types[ti], bias, K, 0, N);
                for (int n = 0; n < N; n++) {
                    dequantize_row(types[ti], wq + (size_t)n * rb, wd, (size_t)K);
                    double want = bias[n], mag = fabs(bias[n]);
                    for (int k = 0; k < K; k++) {
                        want += (double)wd[k] * xd[k];
                        mag += fabs((double)wd[k] * xd[k]);
                    }
                    double e = fabs((double)o2[n] - o1[n]) / (mag + 1e-30), ed = fabs(o1[n] - want) / (mag + 1e-30);
                    if (!(e <= worst)) worst = e;
                    if (!(ed <= worst_deq)) worst_deq = ed;
                }
                free(x); free(wf); free(bias); free(o1); free(o2); free(xd); free(wd); free(wq); free(xq);
            }
    char label[96];
    snprintf(label, sizeof label, "qdot_q8_%s vs ref (Q8_0, Q4_0; 40 shapes)", name);
    EXPECT_CLOSE(label, worst, TOL_QDOT);
    snprintf(label, sizeof label, "qdot_q8_ref vs dequantized dot (%s run)", name);
    EXPECT_CLOSE(label, worst_deq, TOL_QDOT);
}

// Quantized batches: each kernel equals the reference (qdot_q8_ref per activation row;
// same integer block dots, so only the fp32 sum order may differ: TOL_QDOT relative to
// Σ|w·x|, as for qdot), on batches that are not multiples of the 8-row tile and row
// counts that are not multiples of the 16-row panel, K across the 24-block chunk;
// NaN-prefilled; and bitwise equal with 1 and 2 threads.
static void test_qmatmul(const char *name, qmatmul_fn fn) {
    static const int shapes[][3] = {{1, 32, 1},   {2, 64, 3},    {3, 96, 17},   {7, 768, 16},  {8, 32, 15},
                                    {9, 800, 33}, {13, 768, 47}, {17, 3072, 5}, {31, 96, 64},  {33, 1024, 31},
                                    {64, 768, 96}, {130, 256, 20}};  // T, K, N
    int ns = (int)(sizeof shapes / sizeof shapes[0]), same_threads = 1;
    qtype types[] = {QTYPE_Q8_0, QTYPE_Q4_0};
    rng r;
    rng_init(&r, 21);
    double worst = 0;
    for (int ti = 0; ti < 2; ti++)
        for (int si = 0; si < ns; si++) {
            int T = shapes[si][0], K = shapes[si][1], N = shapes[si][2], nb = K / 32, with_bias = (si + ti) & 1;
            float *x = xmalloc((size_t)T * K * sizeof(float)), *wf = xmalloc((size_t)N * K * sizeof(float));
            float *bias = xmalloc((size_t)N * sizeof(float)), *o1 = xmalloc((size_t)T * N * sizeof(float));
            float *o2 = xmalloc((size_t)T * N * sizeof(float)), *o3 = xmalloc((size_t)T * N * sizeof(float));
            float *wd = xmalloc((size_t)K * sizeof(float)), *xd = xmalloc((size_t)K * sizeof(float));
            fill(x, (size_t)T * K, &r);
            fill(wf, (size_t)N * K, &r);
            fill(bias, (size_t)N, &r);
            size_t rb = qtype_row_bytes(types[ti], (size_t)K);
            char *wq = xmalloc((size_t)N * rb);
            block_q8_0 *xq = xmalloc((size_t)T * nb * sizeof(block_q8_0));
            quantize_rows(types[ti], wf, wq, N, K, NULL);
            for (int t = 0; t < T; t++) quantize_row_q8_0_ref(x + (size_t)t * K, xq + (size_t)t * nb, K);
            for (size_t i = 0; i < (size_t)T * N; i++) o2[i] = o3[i] = NAN;
            const float *b = with_bias ? bias : NULL;
            qmatmul_q8_ref(o1, xq, wq, types[ti], b, T, K, N);
            int saved = par_max_threads();
            par_set_threads(1);
            fn(o2, xq, wq, types[ti], b, T, K, N);
            par_set_threads(2);
            fn(o3, xq, wq, types[ti], b, T, K, N);
            par_set_threads(saved);
            if (memcmp(o2, o3, (size_t)T * N * sizeof(float)) != 0) same_threads = 0;
            for (int n = 0; n < N; n++) {
                dequantize_row(types[ti], wq + (size_t)n * rb, wd, (size_t)K);
                for (int t = 0; t < T; t++) {
                    dequantize_row(QTYPE_Q8_0, xq + (size_t)t * nb, xd, (size_t)K);
                    double mag = with_bias ? fabs(bias[n]) : 0;
                    for (int k = 0; k < K; k++) mag += fabs((double)wd[k] * xd[k]);
                    double e = fabs((double)o2[(size_t)t * N + n] - o1[(size_t)t * N + n]) / (mag + 1e-30);
                    if (!(e <= worst)) worst = e;
                }
            }
            free(x); free(wf); free(bias); free(o1); free(o2); free(o3); free(wd); free(xd); free(wq); free(xq);
        }
    char label[128];
    snprintf(label, sizeof label, "qmatmul_q8_%s vs ref (Q8_0, Q4_0; %d shapes)", name, 2 * ns);
    EXPECT_CLOSE(label, worst, TOL_QDOT);
    snprintf(label, sizeof label, "qmatmul_q8_%s 1 vs 2 threads bitwise", name);
    EXPECT(same_threads, "%s differ", label);
    printf("%s ... ok\n", label);
}

// The table kernels_init fills, spelled out from its documented rule: SHRINK_KERNELS=ref, the
// scalar reference kernels; =generic, the portable matmuls and the reference rest; otherwise
// AVX2 where the CPU has it, with AVX-512 (and, with VNNI, its integer kernels) unless
// SHRINK_KERNELS=avx2; without AVX2, as generic.
static void test_dispatch(const char *isa) {
    const char *want = getenv("SHRINK_KERNELS");
    struct kernels e = {.matmul_f32 = matmul_f32_generic, .matmul = matmul_generic, .gelu_f32 = gelu_f32_ref,
                        .attn_head_f32 = attn_head_f32_ref, .layernorm_f32 = layernorm_f32_ref, .logsumexp_f32 = logsumexp_f32_ref, .qdot_q8 = qdot_q8_ref,
                        .qdot_k = qdot_k_ref, .qmatmul_q8 = qmatmul_q8_ref, .gemm_f32 = gemm_f32_ref,
                        .softmax_f32 = softmax_f32_ref, .gelu_backward_f32 = gelu_backward_f32_ref, .isa = "generic"};
    if (want && strcmp(want, "ref") == 0) {
        e.matmul_f32 = matmul_f32_ref, e.matmul = matmul_ref, e.isa = "ref";
    } else if (!(want && strcmp(want, "generic") == 0) && kernels_have_avx2()) {
        int wide = kernels_have_avx512() && !(want && strcmp(want, "avx2") == 0), vnni = wide && kernels_have_avx512_vnni();
        e = (struct kernels){wide ? matmul_f32_avx512 : matmul_f32_avx2, wide ? matmul_avx512 : matmul_avx2,
                             wide ? gelu_f32_avx512 : gelu_f32_avx2,
                             attn_head_f32_avx2, layernorm_f32_avx2, logsumexp_f32_avx2, vnni ? qdot_q8_avx512 : qdot_q8_avx2,
                             vnni ? qdot_k_avx512 : qdot_k_avx2, vnni ? qmatmul_q8_avx512 : qmatmul_q8_avx2, vnni,
                             wide ? gemm_f32_avx512 : gemm_f32_avx2, 1, wide ? softmax_f32_avx512 : softmax_f32_avx2,
                             gelu_backward_f32_avx2,
                             wide ? "avx512" : "avx2"};
    }
    int same = kern.matmul_f32 == e.matmul_f32 && kern.matmul == e.matmul && kern.gelu_f32 == e.gelu_f32 &&
               kern.attn_head_f32 == e.attn_head_f32 && kern.layernorm_f32 == e.layernorm_f32 &&
               kern.logsumexp_f32 == e.logsumexp_f32 && kern.qdot_q8 == e.qdot_q8 &&
               kern.qdot_k == e.qdot_k && kern.qmatmul_q8 == e.qmatmul_q8 && kern.qmatmul_fast == e.qmatmul_fast &&
               kern.gemm_f32 == e.gemm_f32 && kern.gemm_packed == e.gemm_packed && kern.softmax_f32 == e.softmax_f32 &&
               kern.gelu_backward_f32 == e.gelu_backward_f32 &&
               strcmp(isa, e.isa) == 0 && strcmp(kern.isa, e.isa) == 0;
    EXPECT(same, "SHRINK_KERNELS=%s: the dispatch table (%s) is not the %s kernels", want ? want : "(unset)", kern.isa, e.isa);
    if (same) printf("dispatch table for SHRINK_KERNELS=%s: the %s kernels ... ok\n", want ? want : "(unset)", e.isa);
}

int main(void) {
    const char *isa = kernels_init();
    printf("dispatch chose: %s\n", isa);
    test_dispatch(isa);
    test_matmul("generic", matmul_f32_generic);
    test_matmul_typed("ref", matmul_ref);
    test_logsumexp("ref", logsumexp_f32_ref);
    test_matmul_typed("generic", matmul_generic);
    test_threads_agree("generic", matmul_f32_generic);
    if (kernels_have_avx2()) {
        test_matmul("avx2", matmul_f32_avx2);
        test_threads_agree("avx2", matmul_f32_avx2);
        test_matmul_typed("avx2", matmul_avx2);
        test_gelu("avx2", gelu_f32_avx2);
        test_logsumexp("avx2", logsumexp_f32_avx2);
        test_qdot("avx2", qdot_q8_avx2);
        test_qmatmul("avx2", qmatmul_q8_avx2);
        test_attention("avx2", attn_head_f32_avx2);
        test_layernorm("avx2", layernorm_f32_avx2);
    } else {
        printf("avx2 kernels skipped: this CPU lacks AVX2/FMA\n");
    }
    if (kernels_have_avx512()) {
        test_matmul("avx512", matmul_f32_avx512);
        test_threads_agree("avx512", matmul_f32_avx512);
        test_matmul_typed("avx512", matmul_avx512);
        test_gelu("avx512", gelu_f32_avx512);
        test_gelu_twins();
    } else {
        printf("avx512 kernels skipped: this CPU lacks AVX-512F\n");
    }
    if (kernels_have_avx512_vnni()) {
        test_qdot("avx512", qdot_q8_avx512);
        test_qmatmul("avx512", qmatmul_q8_avx512);
    } else {
        printf("avx512 qdot skipped: this CPU lacks AVX-512 VNNI\n");
    }
    test_qdot("dispatched", kern.qdot_q8);
    test_qmatmul("dispatched", kern.qmatmul_q8);
    test_matmul("dispatched", kern.matmul_f32);
    test_gelu("dispatched", kern.gelu_f32);
    test_attention("dispatched", kern.attn_head_f32);
    test_layernorm("dispatched", kern.layernorm_f32);
    return TEST_DONE();
}
