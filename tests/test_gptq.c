// test_gptq.c: the GPTQ core (compress/gptq.c), ggml's block formats behind it, the block
// levels it writes (kernels/qlevels.c), and AWQ's scale search (compress/awq.c).
//   1. qlevels: for every block type, re-deriving each value's level from its block's grid
//      (qlevels_grid) and writing the levels back (qlevels_set) reproduces the block's values
//   2. the core against a float64 textbook GPTQ (../shared/testdata/gptq, its README): with
//      the same per-row 4-bit grid, plain and act-order, at least MIN_LEVELS_EQUAL of the
//      levels equal the reference's and the output error Σ (X (W - Q)ᵀ)² is within
//      TOL_TEXTBOOK_ERR of the reference's; lazy batches of 32 and of 128 columns give the
//      same levels
//   3. gptq_quantize at every block type, on the random layer of 4, against an independent
//      float64 GPTQ written here (H⁻¹ by Cholesky solves, its upper Cholesky factor, column by
//      column; each block's grid fitted by the format's own search when reached, or up front
//      with act-order): the share of decoded values equal to the reference's and the output
//      error E H Eᵀ (double) within the bounds below; gptq_run refuses grids it cannot run
//   4. GPTQ on a random layer (rows 64 x cols 512) with correlated calibration inputs X whose
//      channels differ in scale (as real activations do; one channel never active): the output
//      error ||(W - Q) X||² is below round-to-nearest's, both plain and importance-weighted,
//      by the stated factor; act-order too; the result decodes to finite values and the dead
//      column to zeros
//   5. AWQ's search (compress/awq.c) on the same layer: the chosen scaling and rounding give
//      an output error below plain round-to-nearest's by the stated factor at every type
//      with levels coarse enough to matter, and scale by α > 0 somewhere; the chosen scale
//      vector's error re-measured here (E H Eᵀ in double) equals what the search reports,
//      is the lowest over the search's α grid re-measured the same way, and the scale is
//      the grid's own for the reported α
#include "harness.h"
#include "compress/awq.h"
#include "compress/gptq.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "formats/json.h"
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

// --- the core against the textbook (float64) GPTQ of ../shared/testdata/gptq

// The reference's grid (its README): symmetric 4-bit per row, q(w) = clamp(round(w / s_r),
// -8, 7) · s_r with s_r = max|W_r| / 7 from the original row, fixed before GPTQ starts. As a
// gptq_grid: one group per row, fitted up front, level L = w / s_r + 8.
typedef struct textbook_grid {
    const double *scale;  // (rows)
    int cols;
    int8_t *levels;       // (rows, cols) receives level - 8
} textbook_grid;

static void textbook_fit(void *user, int r, int g, const float *w, const float *imp, float *off, float *stp) {
    const textbook_grid *q = user;
    (void)g, (void)w, (void)imp;
    for (int c = 0; c < q->cols; c++) {
        stp[c] = (float)q->scale[r];
        off[c] = -8.0f * stp[c];
    }
}

static void textbook_store(void *user, int r, const uint8_t *levels) {
    const textbook_grid *q = user;
    for (int c = 0; c < q->cols; c++) q->levels[(size_t)r * q->cols + c] = (int8_t)(levels[c] - 8);
}

// Σ over tokens and rows of (X (W - Q)ᵀ)², Q = levels · scale, in double.
static double textbook_error(const float *X, int ntok, const float *W, const int8_t *lv, const double *scale, int rows,
                             int cols) {
    double total = 0, *e = xmalloc((size_t)cols * sizeof *e);
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) e[c] = (double)W[(size_t)r * cols + c] - lv[(size_t)r * cols + c] * scale[r];
        for (int n = 0; n < ntok; n++) {
            double y = 0;
            for (int c = 0; c < cols; c++) y += (double)X[(size_t)n * cols + c] * e[c];
            total += y * y;
        }
    }
    free(e);
    return total;
}

// The README's expectation for a float32 core with the same quantizer: only values within
// float32 rounding of a level boundary may round differently (the test prints how many do).
#define MIN_LEVELS_EQUAL 0.99
#define TOL_TEXTBOOK_ERR 0.01

static void test_textbook(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/testdata/gptq", shared_dir());
    char path[640];
    snprintf(path, sizeof path, "%s/reference.json", dir);
    char *text = NULL;
    size_t len = 0, nW, nX, ns, nl[2];
    json_value ref = {0};
    int ok = file_read_all(path, &text, &len) == 0 && json_parse(&ref, text, len, path) == 0;
    EXPECT(ok, "cannot read %s: %s", path, err_msg());
    free(text);
    const json_value *oe = json_get(&ref, "output_error");
    int rows = ok ? (int)json_get(&ref, "rows")->integer : 0, cols = ok ? (int)json_get(&ref, "cols")->integer : 0;
    int ntok = ok ? (int)json_get(&ref, "tokens")->integer : 0;
    float *W = read_bin(dir, "W.f32.bin", 4, &nW), *X = read_bin(dir, "X.f32.bin", 4, &nX);
    double *scale = read_bin(dir, "scale.f64.bin", 8, &ns);
    int8_t *want[2] = {read_bin(dir, "levels_gptq.i8.bin", 1, &nl[0]), read_bin(dir, "levels_gptq_actorder.i8.bin", 1, &nl[1])};
    if (!ok || !oe || !W || !X || !scale || !want[0] || !want[1] || nW != (size_t)rows * cols ||
        nX != (size_t)ntok * cols || ns != (size_t)rows || nl[0] != nW || nl[1] != nW) {
        EXPECT(0, "%s: the textbook GPTQ files are missing or of the wrong size", dir);
        free(W), free(X), free(scale), free(want[0]), free(want[1]);
        json_free(&ref);
        return;
    }
    // The grid as the README defines it, from the original rows.
    double scale_diff = 0;
    for (int r = 0; r < rows; r++) {
        double m = 0;
        for (int c = 0; c < cols; c++) m = fmax(m, fabs(W[(size_t)r * cols + c]));
        scale_diff = fmax(scale_diff, fabs(m / 7 - scale[r]) / scale[r]);
    }
    EXPECT_CLOSE("textbook: s_r = max|W_r| / 7 (relative)", scale_diff, 1e-12);
    // H = 2 XᵀX (the factor cancels in GPTQ; kept as the reference has it).
    double *H = xcalloc((size_t)cols * cols, sizeof *H);
    for (int n = 0; n < ntok; n++) {
        const float *x = X + (size_t)n * cols;
        for (int i = 0; i < cols; i++)
            for (int k = 0; k < cols; k++) H[(size_t)i * cols + k] += 2.0 * x[i] * x[k];
    }
    // Round to nearest on the same grid: the reference's own RTN error, from its levels.
    int8_t *rtn = xmalloc(nW), *got = xmalloc(nW), *got128 = xmalloc(nW);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double v = nearbyint(W[(size_t)r * cols + c] / scale[r]);
            rtn[(size_t)r * cols + c] = (int8_t)(v < -8 ? -8 : v > 7 ? 7 : v);
        }
    double e_rtn = textbook_error(X, ntok, W, rtn, scale, rows, cols);
    EXPECT_CLOSE("textbook: round-to-nearest error vs reference.json (relative)",
                 fabs(e_rtn - json_get(oe, "rtn")->number) / json_get(oe, "rtn")->number, 1e-9);
    float *Wc = xmalloc(nW * sizeof *Wc);
    const char *names[2] = {"gptq", "gptq_actorder"};
    for (int ao = 0; ao < 2; ao++) {
        textbook_grid tg = {scale, cols, got};
        gptq_grid grid = {cols, 15, 0, textbook_fit, textbook_store, &tg};
        gptq_opts o = {0.01, ao};
        memcpy(Wc, W, nW * sizeof *Wc);
        EXPECT(gptq_run(&grid, Wc, rows, cols, H, &o, 32) == 0, "textbook %s: %s", names[ao], err_msg());
        tg.levels = got128;
        memcpy(Wc, W, nW * sizeof *Wc);
        EXPECT(gptq_run(&grid, Wc, rows, cols, H, &o, 128) == 0, "textbook %s: %s", names[ao], err_msg());
        size_t same = 0, same_batches = 0;
        for (size_t i = 0; i < nW; i++) same += got[i] == want[ao][i], same_batches += got[i] == got128[i];
        double e_ref = textbook_error(X, ntok, W, want[ao], scale, rows, cols);
        double e_got = textbook_error(X, ntok, W, got, scale, rows, cols);
        double e_json = json_get(oe, names[ao])->number;
        printf("textbook %s: %zu of %zu levels equal the reference's, output error %.6g (reference %.6g, rtn %.6g: "
               "%.3f of rtn)\n", names[ao], same, nW, e_got, e_ref, e_rtn, e_got / e_rtn);
        EXPECT(fabs(e_ref - e_json) <= 1e-9 * e_json, "textbook %s: reference levels give error %.9g, reference.json %.9g",
               names[ao], e_ref, e_json);
        EXPECT((double)same >= MIN_LEVELS_EQUAL * (double)nW, "textbook %s: only %zu of %zu levels equal the reference's",
               names[ao], same, nW);
        char label[96];
        snprintf(label, sizeof label, "textbook %s: output error vs the reference's (relative)", names[ao]);
        EXPECT_CLOSE(label, fabs(e_got - e_ref) / e_ref, TOL_TEXTBOOK_ERR);
        EXPECT(same_batches == nW, "textbook %s: lazy batches of 32 and 128 columns differ in %zu levels", names[ao],
               nW - same_batches);
    }
    free(Wc), free(H), free(rtn), free(got), free(got128);
    free(W), free(X), free(scale), free(want[0]), free(want[1]);
    json_free(&ref);
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

// --- gptq_quantize against a float64 GPTQ written here, at every block type

// A (n, n) = L Lᵀ, lower L in place (upper triangle zeroed). Returns -1 if not positive definite.
static int ref_cholesky(double *A, int n) {
    for (int j = 0; j < n; j++) {
        for (int i = j; i < n; i++) {
            double s = A[(size_t)i * n + j];
            for (int k = 0; k < j; k++) s -= A[(size_t)i * n + k] * A[(size_t)j * n + k];
            if (i == j) {
                if (!(s > 0)) return -1;
                A[(size_t)j * n + j] = sqrt(s);
            } else {
                A[(size_t)i * n + j] = s / A[(size_t)j * n + j];
            }
        }
        for (int k = j + 1; k < n; k++) A[(size_t)j * n + k] = 0;
    }
    return 0;
}

// U (n, n) upper with Hd⁻¹ = Uᵀ U: Hd⁻¹ column by column from Hd = L Lᵀ (two triangular
// solves each), then its Cholesky factor, transposed. The textbook's order of operations.
static void ref_inverse_upper(const double *Hd, int n, double *U) {
    double *L = xmalloc((size_t)n * n * sizeof *L), *inv = xmalloc((size_t)n * n * sizeof *inv), *y = xmalloc((size_t)n * sizeof *y);
    memcpy(L, Hd, (size_t)n * n * sizeof *L);
    CHECK(ref_cholesky(L, n) == 0);
    for (int c = 0; c < n; c++) {
        for (int i = 0; i < n; i++) {  // L y = e_c
            double s = i == c;
            for (int k = 0; k < i; k++) s -= L[(size_t)i * n + k] * y[k];
            y[i] = s / L[(size_t)i * n + i];
        }
        for (int i = n - 1; i >= 0; i--) {  // Lᵀ x = y
            double s = y[i];
            for (int k = i + 1; k < n; k++) s -= L[(size_t)k * n + i] * inv[(size_t)k * n + c];
            inv[(size_t)i * n + c] = s / L[(size_t)i * n + i];
        }
    }
    CHECK(ref_cholesky(inv, n) == 0);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) U[(size_t)i * n + k] = inv[(size_t)k * n + i];
    free(L), free(inv), free(y);
}

// What Algorithm 1 needs from H, in double: the processing order and U (cols, cols), the
// upper Cholesky factor of the damped H⁻¹ in that order. Dead columns (H_ii = 0) get H_ii = 1
// (and weight 0); damping 0.01 of the mean diagonal; act-order by decreasing H_ii (stable).
typedef struct ref_factor {
    int act_order;
    int *perm;   // (cols) processing order -> column
    double *U;   // (cols, cols)
    float *imp;  // (cols) H's diagonal, the block searches' importance
} ref_factor;

static void ref_factor_init(ref_factor *f, const double *H, int C, int act_order) {
    f->act_order = act_order;
    f->perm = xmalloc((size_t)C * sizeof *f->perm);
    f->U = xmalloc((size_t)C * C * sizeof *f->U);
    f->imp = xmalloc((size_t)C * sizeof *f->imp);
    double *Hd = xmalloc((size_t)C * C * sizeof *Hd), mean = 0;
    for (int i = 0; i < C; i++) {
        f->perm[i] = i;
        f->imp[i] = (float)H[(size_t)i * C + i];
        mean += H[(size_t)i * C + i] > 0 ? H[(size_t)i * C + i] : 1.0;
    }
    mean /= C;
    if (act_order)  // insertion sort: stable
        for (int i = 1; i < C; i++)
            for (int k = i; k > 0 && H[(size_t)f->perm[k] * C + f->perm[k]] > H[(size_t)f->perm[k - 1] * C + f->perm[k - 1]]; k--) {
                int x = f->perm[k];
                f->perm[k] = f->perm[k - 1], f->perm[k - 1] = x;
            }
    for (int i = 0; i < C; i++)
        for (int k = 0; k < C; k++) {
            int a = f->perm[i], b = f->perm[k];
            double h = f->imp[a] > 0 && f->imp[b] > 0 ? H[(size_t)a * C + b] : 0.0;
            Hd[(size_t)i * C + k] = i == k ? (f->imp[a] > 0 ? h : 1.0) + 0.01 * mean : h;
        }
    ref_inverse_upper(Hd, C, f->U);
    free(Hd);
}

static void ref_factor_free(ref_factor *f) { free(f->perm), free(f->U), free(f->imp); }

// GPTQ of W (rows, cols) into t, Algorithm 1 in double, one row at a time: with act-order
// every block's grid is fitted up front to the original row, else each block's grid is
// fitted by the format's search (importance H_ii) to the row as it stands when its first
// column is reached; then each column is rounded on its grid and its error spread over the
// columns not yet rounded.
static void ref_gptq(qtype t, const float *W, int rows, int cols, const ref_factor *f, char *out) {
    const qtype_info *q = qtype_get((int)t);
    int C = cols, B = q->block, max_level = (1 << qlevels_bits(t)) - 1;
    size_t rb = qtype_row_bytes(t, (size_t)C);
    const int *perm = f->perm;
    const double *U = f->U;
    const float *imp = f->imp;
    double *w = xmalloc((size_t)C * sizeof *w);
    float *blockv = xmalloc((size_t)C * sizeof *blockv), *off = xmalloc((size_t)C * sizeof *off), *stp = xmalloc((size_t)C * sizeof *stp);
    uint8_t *lv = xmalloc((size_t)C);
    for (int r = 0; r < rows; r++) {
        char *row = out + (size_t)r * rb;
        for (int i = 0; i < C; i++) w[i] = imp[perm[i]] > 0 ? W[(size_t)r * C + perm[i]] : 0.0;
        if (f->act_order) {
            for (int i = 0; i < C; i++) blockv[perm[i]] = (float)w[i];
            for (int g = 0; g < C / B; g++) {
                CHECK(quantize_rows(t, blockv + g * B, row + (size_t)g * q->bytes, 1, B, imp + g * B) == 0);
                qlevels_grid(t, row + (size_t)g * q->bytes, off + g * B, stp + g * B);
            }
        }
        for (int i = 0; i < C; i++) {
            int col = perm[i];
            if (!f->act_order && i % B == 0) {
                for (int k = 0; k < B; k++) blockv[i + k] = (float)w[i + k];
                CHECK(quantize_rows(t, blockv + i, row + (size_t)(i / B) * q->bytes, 1, B, imp + i) == 0);
                qlevels_grid(t, row + (size_t)(i / B) * q->bytes, off + i, stp + i);
            }
            int L = qlevels_nearest((float)w[i], off[col], stp[col], max_level);
            lv[col] = (uint8_t)L;
            if (!(imp[col] > 0)) continue;
            double e = (w[i] - ((double)off[col] + (double)stp[col] * L)) / U[(size_t)i * C + i];
            for (int k = i + 1; k < C; k++) w[k] -= e * U[(size_t)i * C + k];
        }
        for (int g = 0; g < C / B; g++) qlevels_set(t, row + (size_t)g * q->bytes, lv + g * B);
    }
    free(w), free(blockv), free(off), free(stp), free(lv);
}

// Σ over rows of e H eᵀ, e = dequantized row - W row, in double (not divided by anything).
static double ref_output_error(qtype t, const float *W, int rows, int cols, const double *H, const void *q) {
    size_t rb = qtype_row_bytes(t, (size_t)cols);
    float *d = xmalloc((size_t)cols * sizeof *d);
    double *e = xmalloc((size_t)cols * sizeof *e), total = 0;
    for (int r = 0; r < rows; r++) {
        dequantize_row(t, (const char *)q + (size_t)r * rb, d, (size_t)cols);
        for (int i = 0; i < cols; i++) e[i] = (double)d[i] - W[(size_t)r * cols + i];
        for (int i = 0; i < cols; i++) {
            double s = 0;
            for (int k = 0; k < cols; k++) s += H[(size_t)i * cols + k] * e[k];
            total += e[i] * s;
        }
    }
    free(d), free(e);
    return total;
}

// With grids fitted up front (act-order) only values within float32 rounding of a level
// boundary may round differently; with grids fitted when reached, a block whose values
// differ in the last bits may get another scale from the format's search, and then all
// its values differ: hence the lower share. The output error bound is the textbook test's.
#define MIN_VALUES_EQUAL_STATIC 0.99
#define MIN_VALUES_EQUAL_LATE 0.9
#define TOL_GGML_ERR 0.01

static void test_ggml_reference(const float *W, const act_stats *layer) {
    const act_stats st = *layer;
    float *Wc = xmalloc(sizeof(float) * ROWS * COLS);
    float *a = xmalloc(sizeof(float) * COLS), *b = xmalloc(sizeof(float) * COLS);
    ref_factor f[2];
    for (int ao = 0; ao < 2; ao++) ref_factor_init(&f[ao], st.H, COLS, ao);
    for (int ti = 0; ti < NTYPES; ti++) {
        qtype t = TYPES[ti];
        const char *name = qtype_get((int)t)->name;
        size_t rb = qtype_row_bytes(t, COLS);
        char *q = xmalloc(rb * ROWS), *r = xmalloc(rb * ROWS);
        for (int ao = 0; ao < 2; ao++) {
            gptq_opts o = {0.01, ao};
            memcpy(Wc, W, sizeof(float) * ROWS * COLS);
            EXPECT(gptq_quantize(t, Wc, ROWS, COLS, st.H, &o, q) == 0, "%s gptq: %s", name, err_msg());
            ref_gptq(t, W, ROWS, COLS, &f[ao], r);
            long same = 0;
            for (int rr = 0; rr < ROWS; rr++) {
                dequantize_row(t, q + (size_t)rr * rb, a, COLS);
                dequantize_row(t, r + (size_t)rr * rb, b, COLS);
                for (int i = 0; i < COLS; i++) same += a[i] == b[i];
            }
            double e_q = ref_output_error(t, W, ROWS, COLS, st.H, q), e_r = ref_output_error(t, W, ROWS, COLS, st.H, r);
            printf("%-5s gptq%s vs float64 reference: %ld of %d values equal, output error %.6g vs %.6g (%+.2e)\n", name,
                   ao ? " act-order" : "", same, ROWS * COLS, e_q, e_r, e_q / e_r - 1);
            double min_same = ao ? MIN_VALUES_EQUAL_STATIC : MIN_VALUES_EQUAL_LATE;
            EXPECT((double)same >= min_same * ROWS * COLS, "%s gptq%s: only %ld of %d values equal the float64 reference's",
                   name, ao ? " act-order" : "", same, ROWS * COLS);
            char label[96];
            snprintf(label, sizeof label, "%s gptq%s: output error vs the float64 reference's (relative)", name,
                     ao ? " act-order" : "");
            EXPECT_CLOSE(label, fabs(e_q / e_r - 1), TOL_GGML_ERR);
        }
        free(q), free(r);
    }
    for (int ao = 0; ao < 2; ao++) ref_factor_free(&f[ao]);
    // Grids the core cannot run: groups that do not divide the row, 1 or 257 levels.
    int8_t lv[COLS];
    double one = 1;
    textbook_grid tg = {&one, COLS, lv};
    gptq_opts o = {0.01, 0};
    gptq_grid bad[3] = {{3, 15, 0, textbook_fit, textbook_store, &tg}, {COLS, 0, 0, textbook_fit, textbook_store, &tg},
                        {COLS, 256, 0, textbook_fit, textbook_store, &tg}};
    for (int k = 0; k < 3; k++) {
        memcpy(Wc, W, sizeof(float) * COLS);
        EXPECT(gptq_run(&bad[k], Wc, 1, COLS, st.H, &o, 0) == ERR_ARG, "gptq_run must refuse grid %d", k);
        err_clear();
    }
    free(Wc), free(a), free(b);
}

static void test_gptq_layer(const float *W, const act_stats *st) {
    float *Wc = xmalloc(sizeof(float) * ROWS * COLS);
    const double *H = st->H;
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
    free(Wc);
}

// Rows are independent given H: a tall matrix of the layer's rows repeated (several panels
// of rows, the last one short) gives every copy exactly the bytes the layer alone gets.
static void test_tall(const float *W, const act_stats *st) {
    enum { COPIES = 9 };  // 576 rows: panels of 256, 256 and 64
    float *T = xmalloc(sizeof(float) * COPIES * ROWS * COLS);
    for (int c = 0; c < COPIES; c++) memcpy(T + (size_t)c * ROWS * COLS, W, sizeof(float) * ROWS * COLS);
    const qtype types[] = {QTYPE_Q4_K, QTYPE_Q8_0};
    for (int ti = 0; ti < 2; ti++)
        for (int ao = 0; ao < 2; ao++) {
            qtype t = types[ti];
            size_t bytes = qtype_row_bytes(t, COLS) * ROWS;
            char *one = xmalloc(bytes), *tall = xmalloc(bytes * COPIES);
            gptq_opts o = {0.01, ao};
            EXPECT(gptq_quantize(t, W, ROWS, COLS, st->H, &o, one) == 0, "gptq");
            EXPECT(gptq_quantize(t, T, COPIES * ROWS, COLS, st->H, &o, tall) == 0, "gptq tall");
            int same = 0;
            for (int c = 0; c < COPIES; c++) same += memcmp(one, tall + (size_t)c * bytes, bytes) == 0;
            EXPECT(same == COPIES, "%s gptq%s: %d of %d copies of the layer in a tall matrix got the layer's bytes",
                   qtype_get((int)t)->name, ao ? " act-order" : "", same, COPIES);
            free(one), free(tall);
        }
    free(T);
}

// W (rows, cols) scaled by s, stored as t (weighted: importance Σx²/s² per column, the scaled
// inputs' mean square), decoded and unscaled: its error Σ_r e_r H e_rᵀ in double.
static double awq_scaled_error(qtype t, const float *W, int rows, int cols, const act_stats *st, const float *s,
                               int weighted) {
    size_t rb = qtype_row_bytes(t, (size_t)cols);
    float *imp = xmalloc((size_t)cols * sizeof *imp);
    double total = 0;
    for (int i = 0; i < cols; i++) imp[i] = (float)(st->sumsq[i] / ((double)s[i] * s[i]));
#pragma omp parallel reduction(+ : total)
    {
        float *ws = xmalloc((size_t)cols * sizeof *ws);
        double *e = xmalloc((size_t)cols * sizeof *e);
        char *q = xmalloc(rb);
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < cols; i++) ws[i] = W[(size_t)r * cols + i] * s[i];
            CHECK(quantize_rows(t, ws, q, 1, cols, weighted ? imp : NULL) == 0);
            dequantize_row(t, q, ws, (size_t)cols);
            for (int i = 0; i < cols; i++) e[i] = (double)ws[i] / s[i] - W[(size_t)r * cols + i];
            for (int i = 0; i < cols; i++) {
                double h = 0;
                for (int k = 0; k < cols; k++) h += st->H[(size_t)i * cols + k] * e[k];
                total += e[i] * h;
            }
        }
        free(ws), free(e), free(q);
    }
    free(imp);
    return total;
}

// AWQ's search against its own definition, re-measured here: the scale it returns is
// (mean |x|)^α for the α it returns (up to one factor for the whole vector), its error
// re-measured in double equals the error it reports, and no α of its grid (0, 0.05, .., 1)
// re-measured the same way does better (whole grid: full_grid; else the neighbouring α and
// both ends). The search ranks with a float matmul: its error and ours agree to float
// rounding, hence TOL_AWQ_REMEASURE; near-ties may rank either way, hence TOL_AWQ_ARGMIN; the
// scale is a float power of a double, hence TOL_AWQ_SCALE_SHAPE.
#define TOL_AWQ_REMEASURE 1e-6
#define TOL_AWQ_ARGMIN 1e-5
#define TOL_AWQ_SCALE_SHAPE 2e-6

// alpha, s, e1: what awq_search returned for W (rows, cols), st, weighted.
static void check_awq_choice(qtype t, const float *W, int rows, int cols, const act_stats *st, int weighted, double alpha,
                             const float *s, double e1, int full_grid) {
    const char *name = qtype_get((int)t)->name;
    float *cand = xmalloc((size_t)cols * sizeof *cand);
    double got = awq_scaled_error(t, W, rows, cols, st, s, weighted);
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < cols; i++) {
        double mag = fmax(st->sumabs[i] / (double)st->n, 1e-6), ratio = s[i] / pow(mag, alpha);
        lo = fmin(lo, ratio), hi = fmax(hi, ratio);
    }
    double best = INFINITY, best_alpha = -1;
    for (int a = 0; a <= 20; a++) {
        double al = a / 20.0, mlo = INFINITY, mhi = 0;
        if (!full_grid && a != 0 && a != 20 && fabs(al - alpha) > 0.06) continue;
        for (int i = 0; i < cols; i++) {
            cand[i] = (float)pow(fmax(st->sumabs[i] / (double)st->n, 1e-6), al);
            mlo = fmin(mlo, cand[i]), mhi = fmax(mhi, cand[i]);
        }
        for (int i = 0; i < cols; i++) cand[i] /= (float)sqrt(mlo * mhi);
        double e = awq_scaled_error(t, W, rows, cols, st, cand, weighted);
        if (e < best) best = e, best_alpha = al;
    }
    printf("%-5s awq %s: alpha %.2f, error reported %.6g, re-measured %.6g; best on the grid %.6g at alpha %.2f\n", name,
           weighted ? "weighted" : "plain", alpha, e1, got, best, best_alpha);
    char label[128];
    snprintf(label, sizeof label, "%s awq %s: chosen scale is (mean|x|)^alpha (spread of s / mag^alpha)", name,
             weighted ? "weighted" : "plain");
    EXPECT_CLOSE(label, hi / lo - 1, TOL_AWQ_SCALE_SHAPE);
    snprintf(label, sizeof label, "%s awq %s: reported error vs re-measured (relative)", name, weighted ? "weighted" : "plain");
    EXPECT_CLOSE(label, fabs(e1 - got) / got, TOL_AWQ_REMEASURE);
    snprintf(label, sizeof label, "%s awq %s: chosen error over the grid's best, re-measured (relative excess)", name,
             weighted ? "weighted" : "plain");
    EXPECT_CLOSE(label, got / best - 1, TOL_AWQ_ARGMIN);
    free(cand);
}

static void test_awq_layer(const float *W, const act_stats *layer) {
    const act_stats st = *layer;
    float s[COLS];
    const qtype types[] = {QTYPE_Q5_K, QTYPE_Q4_K, QTYPE_Q4_0, QTYPE_Q3_K, QTYPE_Q2_K};
    for (int ti = 0; ti < (int)(sizeof types / sizeof types[0]); ti++) {
        qtype t = types[ti];
        const char *name = qtype_get((int)t)->name;
        // RTN's output error: the plain search's unscaled baseline, checked against
        // gptq_output_error (which divides by the trace of H) on plainly rounded rows
        double e_rtn = 0, e_imp = 0, e_awq_plain = 0, e_awq = 0;
        // The whole α grid re-measured for one 32-wide and one K-quant type (it costs 21
        // output errors), the neighbouring α and both ends for the others.
        int full_grid = t == QTYPE_Q4_0 || t == QTYPE_Q2_K;
        double alpha_plain = awq_search(t, W, ROWS, COLS, &st, 0, s, &e_rtn, &e_awq_plain);
        check_awq_choice(t, W, ROWS, COLS, &st, 0, alpha_plain, s, e_awq_plain, full_grid);
        double alpha = awq_search(t, W, ROWS, COLS, &st, 1, s, &e_imp, &e_awq);
        check_awq_choice(t, W, ROWS, COLS, &st, 1, alpha, s, e_awq, full_grid);
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
}

int main(void) {
    test_levels();
    test_textbook();
    float *W = xmalloc(sizeof(float) * ROWS * COLS);
    act_stats st;
    make_layer(W, &st);
    test_ggml_reference(W, &st);
    test_gptq_layer(W, &st);
    test_tall(W, &st);
    test_awq_layer(W, &st);
    free(W);
    act_stats_free(&st);
    return TEST_DONE();
}
