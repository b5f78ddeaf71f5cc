// test_gptq.c: GPTQ inside ggml's block formats (compress/gptq.c) and the block levels it
// writes (kernels/qlevels.c).
//   1. qlevels: for every block type, re-deriving each value's level from its block's grid
//      (qlevels_grid) and writing the levels back (qlevels_set) reproduces the block's values
//   2. GPTQ on a random layer (rows 64 x cols 512) with correlated calibration inputs X whose
//      channels differ in scale (as real activations do; one channel never active): the output
//      error ||(W - Q) X||² is below round-to-nearest's, both plain and importance-weighted,
//      by the stated factor; act-order too; the result decodes to finite values and the dead
//      column to zeros
//   3. AWQ's search (compress/awq.c) on the same layer: the chosen scaling and rounding give
//      an output error below plain round-to-nearest's by the stated factor at every type
//      with levels coarse enough to matter, and scale by α > 0 somewhere
#include "harness.h"
#include "compress/awq.h"
#include "compress/gptq.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "kernels/qblock.h"
#include "kernels/qlevels.h"
#include <string.h>

#define ROWS 64
#define COLS 512
#define NTOK 2048
#define DEAD_COL 7
// GPTQ's error over importance-weighted round-to-nearest's must be below this at every type
// (measured 0.46-0.53, act-order 0.38-0.49, on this layer; printed below): a real gain, not a tie.
#define MAX_RATIO_VS_IMATRIX 0.8

// AWQ's chosen error over plain round-to-nearest's must be below this at Q2_K..Q5_K and
// Q4_0 (measured 0.33-0.47 on this layer; printed below).
#define MAX_AWQ_RATIO_VS_RTN 0.7

static const qtype TYPES[] = {QTYPE_Q8_0, QTYPE_Q6_K, QTYPE_Q5_K, QTYPE_Q5_1, QTYPE_Q5_0, QTYPE_Q4_K,
                              QTYPE_Q4_1, QTYPE_Q4_0, QTYPE_Q3_K, QTYPE_Q2_K};
#define NTYPES ((int)(sizeof TYPES / sizeof TYPES[0]))

static float gauss(rng *r) {
    float u = rng_f32(r) + 1e-7f, v = rng_f32(r);
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static void test_levels(void) {
    rng r;
    rng_init(&r, 3);
    float x[COLS], y[COLS], y2[COLS], off[QK_K], stp[QK_K];
    for (int i = 0; i < COLS; i++) x[i] = gauss(&r) * (i % 37 == 0 ? 4.0f : 1.0f);
    for (int ti = 0; ti < NTYPES; ti++) {
        qtype t = TYPES[ti];
        const qtype_info *q = qtype_get((int)t);
        size_t rb = qtype_row_bytes(t, COLS);
        char *blk = xmalloc(rb), *copy = xmalloc(rb);
        EXPECT(quantize_rows(t, x, blk, 1, COLS, NULL) == 0, "%s: quantize", q->name);
        dequantize_row(t, blk, y, COLS);
        memcpy(copy, blk, rb);
        int max_level = (1 << qlevels_bits(t)) - 1, bad = 0;
        for (int b = 0; b < COLS / q->block; b++) {
            char *bp = copy + (size_t)b * q->bytes;
            uint8_t lv[QK_K];
            qlevels_grid(t, bp, off, stp);
            for (int e = 0; e < q->block; e++) lv[e] = (uint8_t)qlevels_nearest(y[b * q->block + e], off[e], stp[e], max_level);
            qlevels_set(t, bp, lv);
        }
        dequantize_row(t, copy, y2, COLS);
        for (int i = 0; i < COLS; i++) bad += y[i] != y2[i];
        EXPECT(bad == 0, "%s: %d of %d values change when their levels are re-derived and re-written", q->name, bad, COLS);
        free(blk), free(copy);
    }
}

// The test layer: W (ROWS, COLS) and the statistics of its inputs X (NTOK, COLS), which are
// correlated and differ in scale by channel (every 16th channel 6x), one channel dead.
static void make_layer(float *W, act_stats *st) {
    rng r;
    rng_init(&r, 11);
    float *X = xmalloc(sizeof(float) * NTOK * COLS), *Z = xmalloc(sizeof(float) * NTOK * 32);
    float *A = xmalloc(sizeof(float) * 32 * COLS), scale[COLS];
    act_stats_init(st, COLS, 1);
    double *H = st->H;
    for (int i = 0; i < ROWS * COLS; i++) W[i] = gauss(&r) * 0.05f;
    for (int c = 0; c < COLS; c++) scale[c] = c % 16 == 0 ? 6.0f : 0.5f + rng_f32(&r);
    for (int i = 0; i < NTOK * 32; i++) Z[i] = gauss(&r);
    for (int i = 0; i < 32 * COLS; i++) A[i] = gauss(&r);
    // X = (shared low-rank part + independent noise) * channel scale: correlated channels.
    for (int n = 0; n < NTOK; n++)
        for (int c = 0; c < COLS; c++) {
            float s = 0;
            for (int k = 0; k < 32; k++) s += Z[n * 32 + k] * A[k * COLS + c];
            X[(size_t)n * COLS + c] = c == DEAD_COL ? 0.0f : scale[c] * (0.2f * s + gauss(&r));
        }
    for (int n = 0; n < NTOK; n++) {
        const float *x = X + (size_t)n * COLS;
        for (int i = 0; i < COLS; i++) {
            st->sumsq[i] += (double)x[i] * x[i];
            st->sumabs[i] += fabs(x[i]);
            for (int k = 0; k < COLS; k++) H[(size_t)i * COLS + k] += (double)x[i] * x[k];
        }
    }
    st->n = NTOK;
    free(X), free(Z), free(A);
}

static void test_gptq_layer(void) {
    float *W = xmalloc(sizeof(float) * ROWS * COLS), *Wc = xmalloc(sizeof(float) * ROWS * COLS);
    act_stats st;
    make_layer(W, &st);
    const double *H = st.H;
    float imp[COLS];
    for (int i = 0; i < COLS; i++) imp[i] = (float)H[(size_t)i * COLS + i];
    for (int ti = 0; ti < NTYPES; ti++) {
        qtype t = TYPES[ti];
        const char *name = qtype_get((int)t)->name;
        size_t bytes = qtype_row_bytes(t, COLS) * ROWS;
        char *q_rtn = xmalloc(bytes), *q_imp = xmalloc(bytes), *q_g = xmalloc(bytes), *q_ao = xmalloc(bytes);
        EXPECT(quantize_rows(t, W, q_rtn, ROWS, COLS, NULL) == 0, "%s rtn", name);
        EXPECT(quantize_rows(t, W, q_imp, ROWS, COLS, imp) == 0, "%s imatrix", name);
        gptq_opts o = {0.01, 0};
        memcpy(Wc, W, sizeof(float) * ROWS * COLS);
        EXPECT(gptq_quantize(t, Wc, ROWS, COLS, H, &o, q_g) == 0, "%s gptq", name);
        o.act_order = 1;
        memcpy(Wc, W, sizeof(float) * ROWS * COLS);
        EXPECT(gptq_quantize(t, Wc, ROWS, COLS, H, &o, q_ao) == 0, "%s gptq act-order", name);
        double e_rtn = gptq_output_error(t, W, ROWS, COLS, H, q_rtn), e_imp = gptq_output_error(t, W, ROWS, COLS, H, q_imp);
        double e_g = gptq_output_error(t, W, ROWS, COLS, H, q_g), e_ao = gptq_output_error(t, W, ROWS, COLS, H, q_ao);
        printf("%-5s output error: rtn %.4g, imatrix %.4g, gptq %.4g (%.2f of imatrix), act-order %.4g (%.2f)\n", name, e_rtn,
               e_imp, e_g, e_g / e_imp, e_ao, e_ao / e_imp);
        EXPECT(e_g < MAX_RATIO_VS_IMATRIX * e_imp && e_g < e_rtn, "%s: gptq error %.4g vs imatrix %.4g, rtn %.4g", name, e_g,
               e_imp, e_rtn);
        EXPECT(e_ao < MAX_RATIO_VS_IMATRIX * e_imp, "%s: act-order error %.4g vs imatrix %.4g", name, e_ao, e_imp);
        float row[COLS];
        int finite = 1;
        double dead_max = 0;
        for (int rr = 0; rr < ROWS; rr++) {
            dequantize_row(t, q_g + (size_t)rr * qtype_row_bytes(t, COLS), row, COLS);
            for (int i = 0; i < COLS; i++) finite &= isfinite(row[i]);
            dead_max = fmax(dead_max, fabs(row[DEAD_COL]));
        }
        EXPECT(finite, "%s: gptq output has non-finite values", name);
        // A dead column rounds to the level nearest zero: exactly zero for the symmetric
        // formats, within one step of zero for those with a min.
        double w_max = 0;
        for (int i = 0; i < ROWS * COLS; i++) w_max = fmax(w_max, fabs(W[i]));
        EXPECT(dead_max <= 0.5 * w_max, "%s: dead column decodes to %.3g (weights up to %.3g)", name, dead_max, w_max);
        free(q_rtn), free(q_imp), free(q_g), free(q_ao);
    }
    // Bad input: a type without levels, and rows that are not whole blocks.
    gptq_opts o = {0.01, 0};
    char out[4096];
    EXPECT(gptq_quantize(QTYPE_F16, Wc, 1, COLS, H, &o, out) != 0, "gptq must refuse F16");
    EXPECT(gptq_quantize(QTYPE_Q4_K, Wc, 1, 96, H, &o, out) != 0, "gptq must refuse 96 columns for Q4_K");
    free(W), free(Wc);
    act_stats_free(&st);
}

static void test_awq_layer(void) {
    float *W = xmalloc(sizeof(float) * ROWS * COLS), s[COLS];
    act_stats st;
    make_layer(W, &st);
    const qtype types[] = {QTYPE_Q5_K, QTYPE_Q4_K, QTYPE_Q4_0, QTYPE_Q3_K, QTYPE_Q2_K};
    for (int ti = 0; ti < (int)(sizeof types / sizeof types[0]); ti++) {
        qtype t = types[ti];
        const char *name = qtype_get((int)t)->name;
        // RTN's output error: the plain search's unscaled baseline, checked against
        // gptq_output_error (which divides by the trace of H) on plainly rounded rows
        double e_rtn = 0, e_imp = 0, e_awq_plain = 0, e_awq = 0;
        double alpha_plain = awq_search(t, W, ROWS, COLS, &st, 0, s, &e_rtn, &e_awq_plain);
        double alpha = awq_search(t, W, ROWS, COLS, &st, 1, s, &e_imp, &e_awq);
        char *q = xmalloc(qtype_row_bytes(t, COLS) * ROWS);
        EXPECT(quantize_rows(t, W, q, ROWS, COLS, NULL) == 0, "%s rtn", name);
        double trace = 0;
        for (int i = 0; i < COLS; i++) trace += st.H[(size_t)i * COLS + i];
        double e_check = gptq_output_error(t, W, ROWS, COLS, st.H, q) * trace;
        printf("%-5s awq output error: rtn %.4g, imatrix %.4g, plain alpha %.2f %.4g (%.2f of rtn), weighted alpha %.2f "
               "%.4g (%.2f)\n", name, e_rtn, e_imp, alpha_plain, e_awq_plain, e_awq_plain / e_rtn, alpha, e_awq, e_awq / e_rtn);
        EXPECT_CLOSE("awq's unscaled plain error = round-to-nearest's (relative)", fabs(e_rtn - e_check) / e_check, 1e-3);
        EXPECT(e_awq < MAX_AWQ_RATIO_VS_RTN * e_rtn && e_awq_plain < e_rtn, "%s: awq error %.4g (plain %.4g) vs rtn %.4g",
               name, e_awq, e_awq_plain, e_rtn);
        EXPECT(alpha > 0 && alpha <= 1 && alpha_plain > 0, "%s: awq chose alpha %.2f / %.2f on a layer with 6x outlier channels",
               name, alpha, alpha_plain);
        free(q);
    }
    EXPECT(awq_search(QTYPE_F16, W, ROWS, COLS, &st, 1, s, NULL, NULL) == 0 && s[0] == 1.0f, "awq: F16 gets no scaling");
    free(W);
    act_stats_free(&st);
}

int main(void) {
    test_levels();
    test_gptq_layer();
    test_awq_layer();
    return TEST_DONE();
}
