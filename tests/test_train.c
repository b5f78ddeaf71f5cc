// test_train.c: training: backward kernels vs their _ref twins, the full model's gradients
// vs the oracle (tiny, tiny-hot), finite differences on every kind of weight, the
// distillation loss and gradient vs a direct double computation, AdamW vs a direct
// update, token files, a short training run (loss threshold, same-seed determinism), and
// resume bit-exactness.
//
// Tolerances (oracle README): gradients atol 1e-6 on init-scale models; on tiny-hot
// atol 1e-5 or rtol 1e-4 of the tensor's max |grad|, whichever is looser; loss 5e-6 / 1e-5.
#include "harness.h"
#include "core/err.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/timer.h"
#include "core/xalloc.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "eval/eval.h"
#include "modelfile/modelfile.h"
#include "train/train.h"
#include <math.h>
#include <string.h>
#include <unistd.h>

#define TOL_MATMUL_F32 1e-5  // relative to the output's magnitude
#define TOL_SOFTMAX 1e-6     // absolute, on probabilities
#define TOL_GELU_BWD 1e-5    // relative to max |dy|

static int par_max_threads_test(void) { return par_max_threads(); }
static void set_threads_test(int n) { par_set_threads(n); }

static void fill(float *x, size_t n, rng *r, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_f32(r);
}

static double maxabs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

// --- kernels

static void test_gemm_kernels(void) {
    if (!kernels_have_avx2()) {
        printf("gemm_f32_avx2: skipped (no AVX2)\n");
        return;
    }
    // (M, N, K, transposed a, accumulate, transposed b): edges of the 6×16 tile, K past the
    // k block, M past the m block
    int shapes[][6] = {{1, 1, 1, 0, 0, 0},    {7, 33, 31, 0, 0, 1}, {13, 16, 8, 1, 0, 0},  {6, 16, 300, 0, 1, 1},
                       {31, 600, 5, 1, 1, 0}, {5, 7, 257, 1, 0, 1}, {12, 24, 0, 0, 0, 0},  {37, 40, 70, 0, 1, 0},
                       {200, 9, 3, 1, 0, 1},  {203, 48, 513, 0, 1, 0}, {200, 20, 300, 1, 1, 1}, {197, 35, 260, 1, 0, 0}};
    rng r;
    rng_init(&r, 7);
    double worst = 0;
    int n512 = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], tr = shapes[s][3], acc = shapes[s][4];
        int trb = shapes[s][5];
        int ldc = N + 5, lda = (tr ? M : K) + 2, ldb = (trb ? K : N) + 3;
        int sam = tr ? 1 : lda, sak = tr ? lda : 1, sbk = trb ? 1 : ldb, sbn = trb ? ldb : 1;
        size_t na = (size_t)(tr ? K : M) * lda + 1, nb = (size_t)(trb ? N : (K ? K : 1)) * ldb + 1;
        size_t nc = (size_t)M * ldc;
        float *a = xmalloc(na * 4), *b = xmalloc(nb * 4), *c1 = xmalloc(nc * 4), *c2 = xmalloc(nc * 4);
        fill(a, na, &r, -1, 1);
        fill(b, nb, &r, -1, 1);
        float *c3 = xmalloc(nc * 4);
        if (acc) {
            fill(c1, nc, &r, -1, 1);
            memcpy(c2, c1, nc * 4);
            memcpy(c3, c1, nc * 4);
        } else {
            for (size_t i = 0; i < nc; i++) c1[i] = c2[i] = c3[i] = NAN;  // overwrite must not read c
        }
        gemm_f32_ref(c1, ldc, a, sam, sak, b, sbk, sbn, M, N, K, acc);
        gemm_f32_avx2(c2, ldc, a, sam, sak, b, sbk, sbn, M, N, K, acc);
        if (kernels_have_avx512()) {
            // the AVX-512 twin sums each element in the same k order as the AVX2 one: same bits
            gemm_f32_avx512(c3, ldc, a, sam, sak, b, sbk, sbn, M, N, K, acc);
            int same = 1;
            for (size_t i = 0; i < nc; i++)
                if (memcmp(c2 + i, c3 + i, 4) != 0 && !(isnan(c2[i]) && isnan(c3[i]))) same = 0;
            n512 += same;
            EXPECT(same, "gemm_f32_avx512 %dx%dx%d differs from gemm_f32_avx2", M, N, K);
        }
        free(c3);
        // error relative to Σ_k |a·b| (plus the old c): the scale rounding errors grow with
        double d = 0;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double scale = 1e-30;
                for (int k = 0; k < K; k++)
                    scale += fabs((double)a[(size_t)m * sam + (size_t)k * sak] * b[(size_t)k * sbk + (size_t)n * sbn]);
                if (acc) scale += 1.0;
                double e = fabs(c1[(size_t)m * ldc + n] - c2[(size_t)m * ldc + n]) / scale;
                if (!(e <= d)) d = e;
            }
        // padding columns between rows must be untouched
        int pad_ok = 1;
        for (int m = 0; m < M; m++)
            for (int n = N; n < ldc; n++)
                if (!acc && !isnan(c2[(size_t)m * ldc + n])) pad_ok = 0;
        EXPECT(pad_ok, "gemm_f32_avx2 %dx%dx%d wrote outside its columns", M, N, K);
        if (!(d <= worst)) worst = d;
        free(a), free(b), free(c1), free(c2);
    }
    EXPECT_CLOSE("gemm_f32_avx2 vs ref (12 shapes, strided/transposed a and b, NaN-prefilled c)", worst, TOL_MATMUL_F32);
    if (kernels_have_avx512()) printf("gemm_f32_avx512 vs avx2 (%d of 12 shapes) ... ok (maxdiff=0, identical bits)\n", n512);
    else printf("gemm_f32_avx512: skipped (no AVX-512)\n");

    // matmul_dinp_f32 / matmul_dw_f32 against direct double sums
    int BT = 37, C = 40, OC = 29;
    float *dout = xmalloc((size_t)BT * OC * 4), *w = xmalloc((size_t)OC * C * 4), *inp = xmalloc((size_t)BT * C * 4);
    float *dinp = xmalloc((size_t)BT * C * 4), *dw = xmalloc((size_t)OC * C * 4), *db = xmalloc((size_t)OC * 4);
    fill(dout, (size_t)BT * OC, &r, -1, 1);
    fill(w, (size_t)OC * C, &r, -1, 1);
    fill(inp, (size_t)BT * C, &r, -1, 1);
    for (size_t i = 0; i < (size_t)BT * C; i++) dinp[i] = NAN;
    for (size_t i = 0; i < (size_t)OC * C; i++) dw[i] = 0.5f;
    for (int i = 0; i < OC; i++) db[i] = -0.25f;
    matmul_dinp_f32(dinp, dout, w, BT, C, OC, 0);
    matmul_dw_f32(dw, db, dout, inp, BT, C, OC);
    double d1 = 0, d2 = 0, d3 = 0;
    for (int t = 0; t < BT; t++)
        for (int i = 0; i < C; i++) {
            double s = 0;
            for (int o = 0; o < OC; o++) s += (double)dout[t * OC + o] * w[o * C + i];
            d1 = fmax(d1, fabs(s - dinp[t * C + i]));
        }
    for (int o = 0; o < OC; o++) {
        double sb = -0.25;
        for (int t = 0; t < BT; t++) sb += dout[t * OC + o];
        d3 = fmax(d3, fabs(sb - db[o]));
        for (int i = 0; i < C; i++) {
            double s = 0.5;
            for (int t = 0; t < BT; t++) s += (double)dout[t * OC + o] * inp[t * C + i];
            d2 = fmax(d2, fabs(s - dw[o * C + i]));
        }
    }
    EXPECT_CLOSE("matmul_dinp_f32 vs direct", d1, 1e-5);
    EXPECT_CLOSE("matmul_dw_f32 vs direct", d2, 1e-5);
    EXPECT_CLOSE("matmul_dw_f32 bias vs direct", d3, 1e-5);
    free(dout), free(w), free(inp), free(dinp), free(dw), free(db);
}

// The three training products split by the pool: at 437 positions into row runs (437 and
// 813 rows are 5 and 9 past a 12-row tile), at 37 positions (one run) into column blocks
// (299 and 813 columns are 11 and 13 past a 32-column one). At 2, 3 and 5 threads, the
// same bits as one thread, which runs each product as one call.
static void test_matmul_split(void) {
    int shapes[][3] = {{437, 299, 813}, {37, 299, 813}};
    for (int sh = 0; sh < 2; sh++) {
        int BT = shapes[sh][0], C = shapes[sh][1], OC = shapes[sh][2];
        rng r;
        rng_init(&r, 11);
        float *inp = xmalloc((size_t)BT * C * 4), *w = xmalloc((size_t)OC * C * 4), *bias = xmalloc((size_t)OC * 4);
        fill(inp, (size_t)BT * C, &r, -1, 1);
        fill(w, (size_t)OC * C, &r, -1, 1);
        fill(bias, OC, &r, -1, 1);
        float *ref[4] = {0}, *got[4] = {0};
        size_t len[4] = {(size_t)BT * OC, (size_t)BT * C, (size_t)OC * C, (size_t)OC};
        int nth = par_max_threads_test(), same = 1, widths[] = {1, 2, 3, 5};
        for (size_t k = 0; k < sizeof widths / sizeof *widths; k++) {
            set_threads_test(widths[k]);
            float **o = k == 0 ? ref : got;
            for (int i = 0; i < 4; i++) {
                if (!o[i]) o[i] = xmalloc(len[i] * 4);
                for (size_t e = 0; e < len[i]; e++) o[i][e] = 0.125f;  // dw and db accumulate
            }
            matmul_f32_packed(o[0], inp, w, bias, BT, C, OC);  // out = inp·wᵀ + bias
            matmul_dinp_f32(o[1], o[0], w, BT, C, OC, 0);      // as if dout = out
            matmul_dw_f32(o[2], o[3], o[0], inp, BT, C, OC);
            if (k > 0)
                for (int i = 0; i < 4; i++) same &= memcmp(ref[i], got[i], len[i] * 4) == 0;
        }
        set_threads_test(nth);
        EXPECT(same, "matmul forward/dinp/dw (%dx%dx%d) split across 2, 3 or 5 threads: other bits than one thread", BT,
               C, OC);
        if (same)
            printf("matmul forward, dinp, dw + bias (%dx%dx%d) at 2, 3, 5 threads: one thread's bits ... ok\n", BT, C, OC);
        for (int i = 0; i < 4; i++) free(ref[i]), free(got[i]);
        free(inp), free(w), free(bias);
    }
}

static void test_vec_kernels(void) {
    rng r;
    rng_init(&r, 11);
    int ns[] = {1, 7, 8, 31, 33, 8192};
    double dref = 0, dfast = 0, dlse = 0;
    float *x = xmalloc(8192 * 4), *p1 = xmalloc(8192 * 4), *p2 = xmalloc(8192 * 4);
    for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++) {
        int n = ns[s];
        fill(x, (size_t)n, &r, -12, 12);
        float scale = s % 2 ? 0.5f : 1.0f;
        // direct double softmax
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++) mx = fmax(mx, (double)scale * x[i]);
        for (int i = 0; i < n; i++) sum += exp((double)scale * x[i] - mx);
        float l1 = softmax_f32_ref(p1, x, n, scale);
        for (int i = 0; i < n; i++) dref = fmax(dref, fabs(p1[i] - exp((double)scale * x[i] - mx) / sum));
        dlse = fmax(dlse, fabs(l1 - (mx + log(sum))) / (1 + fabs(mx + log(sum))));
        if (kernels_have_avx2()) {
            memcpy(p2, x, (size_t)n * 4);
            float l2 = softmax_f32_avx2(p2, p2, n, scale);  // in place
            for (int i = 0; i < n; i++) dfast = fmax(dfast, fabs(p1[i] - p2[i]));
            dlse = fmax(dlse, fabs(l1 - l2) / (1 + fabs(l1)));
        }
    }
    // the AVX-512 twin: bit for bit the AVX2 kernel's output and log-sum-exp, lengths around
    // its 16- and 8-float steps
    if (kernels_have_avx512()) {
        int differ = 0, cases = 0;
        for (int len = 1; len <= 80; len++)
            for (int v = 0; v < 2; v++, cases++) {
                int nn = v ? len + 1000 : len;
                fill(x, (size_t)nn, &r, v ? -40 : -12, v ? 40 : 12);
                float l2 = softmax_f32_avx2(p1, x, nn, 0.125f * (float)(1 + len % 8));
                memcpy(p2, x, (size_t)nn * 4);
                float l3 = softmax_f32_avx512(p2, p2, nn, 0.125f * (float)(1 + len % 8));  // in place
                if (memcmp(p1, p2, (size_t)nn * 4) != 0 || memcmp(&l2, &l3, 4) != 0) differ++;
            }
        EXPECT(differ == 0, "softmax_f32_avx512 differs from softmax_f32_avx2 on %d of %d rows", differ, cases);
        if (differ == 0) printf("softmax_f32_avx512 bit-identical to avx2 (%d rows, n = 1..1080, in place) ... ok\n", cases);
    } else {
        printf("softmax_f32_avx512: skipped (no AVX-512)\n");
    }
    EXPECT_CLOSE("softmax_f32_ref vs double", dref, TOL_SOFTMAX);
    EXPECT_CLOSE("softmax_f32_avx2 vs ref (n = 1..8192, in place)", dfast, TOL_SOFTMAX);
    EXPECT_CLOSE("softmax log-sum-exp (relative)", dlse, 1e-6);

    // GELU backward: ref vs a central difference of the double GELU, avx2 vs ref
    int n = 1001;
    float *dy = xmalloc((size_t)n * 4), *g1 = xmalloc((size_t)n * 4), *g2 = xmalloc((size_t)n * 4);
    fill(x, (size_t)n, &r, -7, 7);
    fill(dy, (size_t)n, &r, -1, 1);
    double dfd = 0, dv = 0;
    for (int exact = 0; exact <= 1; exact++) {
        gelu_backward_f32_ref(g1, x, dy, (size_t)n, exact);
        for (int i = 0; i < n; i++) {
            double v = x[i], h = 1e-5;
            double f1, f0;
            if (exact) {
                f1 = 0.5 * (v + h) * (1 + erf((v + h) / sqrt(2.0)));
                f0 = 0.5 * (v - h) * (1 + erf((v - h) / sqrt(2.0)));
            } else {
                double k = sqrt(2.0 / M_PI);
                f1 = 0.5 * (v + h) * (1 + tanh(k * ((v + h) + 0.044715 * pow(v + h, 3))));
                f0 = 0.5 * (v - h) * (1 + tanh(k * ((v - h) + 0.044715 * pow(v - h, 3))));
            }
            dfd = fmax(dfd, fabs((f1 - f0) / (2 * h) * dy[i] - g1[i]));
        }
        if (kernels_have_avx2()) {
            memcpy(g2, dy, (size_t)n * 4);
            gelu_backward_f32_avx2(g2, x, g2, (size_t)n, exact);  // in place over dy
            for (int i = 0; i < n; i++) dv = fmax(dv, fabs(g1[i] - g2[i]));
        }
    }
    EXPECT_CLOSE("gelu_backward_f32_ref vs central difference (tanh and erf)", dfd, 1e-5);
    EXPECT_CLOSE("gelu_backward_f32_avx2 vs ref", dv, TOL_GELU_BWD);
    free(x), free(p1), free(p2), free(dy), free(g1), free(g2);
}

// --- the model's gradients vs the oracle

// Where table entry id's tensors lie in the fp32 arena (contiguous over the layers, table
// order): *first, and *n floats in all. 0 when the model has none.
static size_t entry_range(gpt2_model *m, int id, float **first) {
    size_t n = 0;
    *first = NULL;
    for (int l = 0; l < (gpt2_tensors[id].per_layer ? m->cfg.n_layer : 1); l++) {
        int64_t rows, cols;
        if (!gpt2_tensor_shape(&m->cfg, id, l, &rows, &cols)) continue;
        float *p = gpt2_tensors[id].kind == GPT2_KIND_MATRIX ? (float *)gpt2_tensor_mat(m, id, l)->data
                                                                : *gpt2_tensor_vec(m, id, l);
        if (!*first) *first = p;
        n += (size_t)(rows * cols);
    }
    return n;
}

typedef struct {
    gpt2_model m;
    int *in, *tg;
    int B, T;
    char dir[512];
} oracle_case;

static int oracle_open(oracle_case *oc, const char *name) {
    snprintf(oc->dir, sizeof oc->dir, "%s/testdata/oracle/%s", shared_dir(), name);
    if (gpt2_hf_load(&oc->m, oc->dir)) {
        EXPECT(0, "%s: load failed: %s", name, err_msg());
        err_clear();
        return -1;
    }
    size_t n_in, n_tg, n_emb;
    oc->in = read_bin(oc->dir, "input_tokens.i32.bin", 4, &n_in);
    oc->tg = read_bin(oc->dir, "targets.i32.bin", 4, &n_tg);
    float *emb = read_bin(oc->dir, "hidden_embed.f32.bin", 4, &n_emb);
    free(emb);
    oc->T = (int)(n_emb / (size_t)oc->m.cfg.n_embd);
    oc->B = (int)(n_in / (size_t)oc->T);
    return 0;
}

static void oracle_close(oracle_case *oc) {
    free(oc->in);
    free(oc->tg);
    gpt2_model_free(&oc->m);
}

// Forward + CE + backward; returns the mean loss.
static double loss_and_grads(const gpt2_model *m, gpt2_acts *a, const int *in, const int *tg) {
    gpt2_grads_zero(m, a);
    gpt2_train_forward(m, a, in);
    double loss = gpt2_train_ce(a, m->cfg.vocab_size, tg, 1);
    gpt2_backward(m, a);
    return loss;
}

static void test_oracle_grads(const char *name, double atol, double rtol_of_max, double tol_loss) {
    oracle_case oc;
    if (oracle_open(&oc, name)) return;
    gpt2_model *m = &oc.m;
    const gpt2_config *c = &m->cfg;
    gpt2_acts a;
    EXPECT(gpt2_acts_init(&a, m, oc.B, oc.T, 1) == 0, "acts init: %s", err_msg());
    double loss = loss_and_grads(m, &a, oc.in, oc.tg);
    size_t n_loss;
    double *ref_loss = read_bin(oc.dir, "loss.f64.bin", 8, &n_loss);
    char label[256];
    snprintf(label, sizeof label, "%s training loss (%.6f, B=%d T=%d)", name, loss, oc.B, oc.T);
    EXPECT_CLOSE(label, fabs(loss - ref_loss[0]), tol_loss);
    free(ref_loss);

    for (int id = 0; id < GPT2_T_COUNT; id++) {
        const gpt2_tensor_info *ti = &gpt2_tensors[id];
        double worst = 0, worst_tol = atol;
        int layers = ti->per_layer ? c->n_layer : 1, seen = 0;
        for (int l = 0; l < layers; l++) {
            int64_t rows, cols;
            if (!gpt2_tensor_shape(c, id, l, &rows, &cols)) continue;
            char hf[128], file[160];
            snprintf(hf, sizeof hf, ti->hf, l);
            snprintf(file, sizeof file, "grads/%s.f32.bin", hf);
            size_t n, per = (size_t)(rows * cols);
            float *ref = read_bin(oc.dir, file, 4, &n);
            if (!ref) continue;
            seen++;
            EXPECT(n == per, "%s: %zu floats, expected %zu", file, n, per);
            const float *w = ti->kind == GPT2_KIND_MATRIX ? gpt2_tensor_mat(m, id, l)->data : *gpt2_tensor_vec(m, id, l);
            const float *ours = gpt2_grad(m, &a, w);
            // Conv1D: HF (in, out) = (cols of ours, rows of ours); ours is (out, in)
            double d = 0;
            for (size_t i = 0; i < per; i++) {
                size_t j = ti->hf_transpose ? (i % (size_t)rows) * (size_t)cols + i / (size_t)rows : i;
                double e = fabs((double)ours[j] - ref[i]);
                if (!(e <= d)) d = e;
            }
            double tol = fmax(atol, rtol_of_max * maxabs(ref, per));
            if (d / tol > worst / worst_tol || isnan(d)) {
                worst = d;
                worst_tol = tol;
            }
            free(ref);
        }
        if (!seen) continue;
        char pat[128];
        snprintf(pat, sizeof pat, ti->hf, 0);
        if (layers > 1) {
            char *dot = strstr(pat, ".0.");
            if (dot) dot[1] = '*';
        }
        snprintf(label, sizeof label, "%s grad %s", name, pat);
        EXPECT_CLOSE(label, worst, worst_tol);
    }
    // The tied wte gradient is the embedding part plus the head part.
    size_t n1, n2;
    float *ge = read_bin(oc.dir, "grads_tied/wte_from_embedding.f32.bin", 4, &n1);
    float *gh = read_bin(oc.dir, "grads_tied/wte_from_lm_head.f32.bin", 4, &n2);
    const float *gwte = gpt2_grad(m, &a, m->embd.data);
    if (ge && gh && n1 == (size_t)c->vocab_size * c->n_embd && n2 == n1) {
        double d = 0, mx = 0;
        for (size_t i = 0; i < n1; i++) {
            d = fmax(d, fabs((double)gwte[i] - ((double)ge[i] + gh[i])));
            mx = fmax(mx, fabs((double)ge[i] + gh[i]));
        }
        snprintf(label, sizeof label, "%s grad wte = embedding part + head part", name);
        EXPECT_CLOSE(label, d, fmax(atol, rtol_of_max * mx));
    }
    free(ge);
    free(gh);
    gpt2_acts_free(&a);
    oracle_close(&oc);
}

// Central differences of the mean loss on three elements of every parameter kind of
// tiny-hot (the largest |grad| one, and two at random), against the backward pass.
static void test_finite_differences(void) {
    oracle_case oc;
    if (oracle_open(&oc, "tiny-hot")) return;
    gpt2_model *m = &oc.m;
    gpt2_acts a, f;
    EXPECT(gpt2_acts_init(&a, m, oc.B, oc.T, 1) == 0, "acts");
    EXPECT(gpt2_acts_init(&f, m, oc.B, oc.T, 0) == 0, "forward-only acts");
    loss_and_grads(m, &a, oc.in, oc.tg);
    rng r;
    rng_init(&r, 3);
    double worst = 0;
    int checked = 0, kinds = 0;
    const float h = 1e-2f;
    for (int id = 0; id < GPT2_T_COUNT; id++) {
        float *w;
        size_t n = entry_range(m, id, &w), big = 0;
        if (!n) continue;
        kinds++;
        const float *gw = gpt2_grad(m, &a, w);
        for (size_t i = 1; i < n; i++)
            if (fabs(gw[i]) > fabs(gw[big])) big = i;
        size_t pick[3] = {big, rng_u64(&r) % n, rng_u64(&r) % n};
        for (int k = 0; k < 3; k++) {
            float *wp = w + pick[k], w0 = *wp;
            *wp = w0 + h;
            gpt2_train_forward(m, &f, oc.in);
            double lp = gpt2_train_ce(&f, m->cfg.vocab_size, oc.tg, 0);
            *wp = w0 - h;
            gpt2_train_forward(m, &f, oc.in);
            double lm = gpt2_train_ce(&f, m->cfg.vocab_size, oc.tg, 0);
            *wp = w0;
            double fd = (lp - lm) / (2.0 * (double)h), g = gw[pick[k]];
            // float32 loss noise / h plus O(h²) truncation: judged relative to the gradient
            double e = fabs(fd - g) / (1e-5 + 2e-3 * fabs(g));
            if (getenv("SHRINK_TEST_VERBOSE"))
                printf("  fd %-2d %8zu grad %+.6e fd %+.6e\n", id, pick[k], g, fd);
            if (!(e <= worst)) worst = e;
            checked++;
        }
    }
    char label[128];
    snprintf(label, sizeof label, "finite differences, %d weights of %d kinds (|fd-g| / (1e-5 + 2e-3|g|))", checked, kinds);
    EXPECT_CLOSE(label, worst, 1.0);
    gpt2_acts_free(&a);
    gpt2_acts_free(&f);
    oracle_close(&oc);
}

// --- distillation vs a direct double computation

// Direct: loss and gradient in double from the definitions, per position, then means.
static double kd_direct(const float *z, const float *s, const int *y, int N, int V, double alpha, double tau,
                        double *grad) {
    double total = 0;
    for (int r = 0; r < N; r++) {
        const float *zr = z + (size_t)r * V, *sr = s + (size_t)r * V;
        double mz = -INFINITY, mzt = -INFINITY, mst = -INFINITY;
        for (int i = 0; i < V; i++) {
            mz = fmax(mz, zr[i]);
            mzt = fmax(mzt, zr[i] / tau);
            mst = fmax(mst, sr[i] / tau);
        }
        double sz = 0, szt = 0, sst = 0;
        for (int i = 0; i < V; i++) {
            sz += exp(zr[i] - mz);
            szt += exp(zr[i] / tau - mzt);
            sst += exp(sr[i] / tau - mst);
        }
        double ce = log(sz) + mz - zr[y[r]], kl = 0;
        for (int i = 0; i < V; i++) {
            double lpt = sr[i] / tau - mst - log(sst), lps = zr[i] / tau - mzt - log(szt);
            kl += exp(lpt) * (lpt - lps);
            if (grad) {
                double p = exp(zr[i] - mz) / sz;
                grad[(size_t)r * V + i] = ((1 - alpha) * (p - (i == y[r])) + alpha * tau * (exp(lps) - exp(lpt))) / N;
            }
        }
        total += (1 - alpha) * ce + alpha * tau * tau * kl;
    }
    return total / N;
}

static void test_distill(void) {
    int N = 6, V = 53;
    rng r;
    rng_init(&r, 5);
    float *z = xmalloc((size_t)N * V * 4), *s = xmalloc((size_t)N * V * 4), *g = xmalloc((size_t)N * V * 4);
    float *s_copy = xmalloc((size_t)N * V * 4);
    double *ref = xmalloc((size_t)N * V * 8);
    int y[6];
    for (int i = 0; i < N; i++) y[i] = (int)(rng_u64(&r) % (uint64_t)V);
    y[0] = 0;
    y[1] = V - 1;
    double cases[][2] = {{0.3, 2.5}, {0.7, 1.0}, {1.0, 0.5}, {0.0, 3.0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double alpha = cases[c][0], tau = cases[c][1];
        fill(z, (size_t)N * V, &r, -4, 4);
        fill(s, (size_t)N * V, &r, -4, 4);
        memcpy(g, z, (size_t)N * V * 4);
        memcpy(s_copy, s, (size_t)N * V * 4);
        double ce, kl;
        double loss = distill_loss(g, s, y, N, V, (float)alpha, (float)tau, &ce, &kl);
        double want = kd_direct(z, s, y, N, V, alpha, tau, ref);
        double gd = 0;
        for (size_t i = 0; i < (size_t)N * V; i++) gd = fmax(gd, fabs(g[i] - ref[i]));
        char label[160];
        snprintf(label, sizeof label, "distill loss vs direct (A=%.1f, tau=%.1f, loss %.5f)", alpha, tau, loss);
        EXPECT_CLOSE(label, fabs(loss - want), 2e-6);
        snprintf(label, sizeof label, "distill gradient vs direct (A=%.1f, tau=%.1f)", alpha, tau);
        EXPECT_CLOSE(label, gd, 1e-7);
        EXPECT(memcmp(s, s_copy, (size_t)N * V * 4) == 0, "distill_loss must not change the teacher's logits");
        // the direct gradient itself against central differences of the direct loss
        double fd_worst = 0;
        for (int k = 0; k < 4; k++) {
            size_t i = (size_t)(rng_u64(&r) % (uint64_t)(N * V));
            if (k == 0) i = (size_t)y[0];  // the target's own logit
            float z0 = z[i];
            double h = 1e-3;
            z[i] = (float)(z0 + h);
            double lp = kd_direct(z, s, y, N, V, alpha, tau, NULL);
            z[i] = (float)(z0 - h);
            double lm = kd_direct(z, s, y, N, V, alpha, tau, NULL);
            z[i] = z0;
            double hp = (double)(float)(z0 + h) - z0, hm = z0 - (double)(float)(z0 - h);  // the steps taken
            fd_worst = fmax(fd_worst, fabs((lp - lm) / (hp + hm) - ref[i]));
        }
        snprintf(label, sizeof label, "distill direct gradient vs central differences (A=%.1f, tau=%.1f)", alpha, tau);
        EXPECT_CLOSE(label, fd_worst, 1e-6);
        if (alpha == 0.0) EXPECT_CLOSE("distill with A=0 is the cross-entropy", fabs(loss - ce), 1e-12);
        if (alpha == 1.0) EXPECT_CLOSE("distill with A=1 is tau^2 KL", fabs(loss - tau * tau * kl), 1e-12);
    }
    free(z), free(s), free(g), free(s_copy), free(ref);
}

// --- AdamW vs a direct double update

static void test_adamw(void) {
    size_t n = 10, seg[2] = {4, 6};
    int decay[2] = {1, 0};
    float p[10], g[10];
    double pd[10], m[10] = {0}, v[10] = {0};
    rng r;
    rng_init(&r, 9);
    for (size_t i = 0; i < n; i++) pd[i] = p[i] = rng_f32(&r) - 0.5f;
    adamw o;
    adamw_init(&o, n, 0.9f, 0.95f, 1e-8f, 0.1f);
    double worst = 0;
    for (int t = 1; t <= 5; t++) {
        float lr = 1e-2f * (float)t, scale = t == 3 ? 0.5f : 1.0f;
        for (size_t i = 0; i < n; i++) g[i] = rng_f32(&r) - 0.5f;
        adamw_step(&o, p, g, scale, lr, seg, decay, 2);
        for (size_t i = 0; i < n; i++) {
            double gi = (double)g[i] * scale;
            if (i < 4) pd[i] *= 1 - (double)lr * 0.1f;
            m[i] = 0.9 * m[i] + 0.1 * gi;
            v[i] = 0.95 * v[i] + 0.05 * gi * gi;
            double mh = m[i] / (1 - pow(0.9, t)), vh = v[i] / (1 - pow(0.95, t));
            pd[i] -= lr * mh / (sqrt(vh) + 1e-8);
            worst = fmax(worst, fabs(pd[i] - p[i]));
        }
    }
    EXPECT_CLOSE("adamw 5 steps vs direct (decay on one segment, clipped step)", worst, 1e-6);
    adamw_free(&o);
    float gn[3] = {3, 4, 12};
    EXPECT_CLOSE("adamw_grad_norm", fabs(adamw_grad_norm(gn, 3) - 13.0), 1e-12);
    train_opts so = {100, 1, 1, 10, 1e-3f, 1e-4f, 0, 0, 0.9f, 0.95f, 1e-8f, 0, 0, 0};
    EXPECT(fabs(gpt2_train_lr(&so, 0) - 1e-4) < 1e-9 && fabs(gpt2_train_lr(&so, 9) - 1e-3) < 1e-9 &&
               fabs(gpt2_train_lr(&so, 10) - 1e-3) < 1e-9 && fabs(gpt2_train_lr(&so, 99) - 1e-4) < 1e-9 &&
               fabs(gpt2_train_lr(&so, 54) - (1e-4 + 0.5 * (1 + cos(M_PI * 44 / 89)) * 9e-4)) < 1e-9,
           "schedule: warmup to lr at step warmup-1, cosine from lr at step warmup to min_lr at the last step");
}

// --- token files

static void test_token_files(void) {
    char dir[] = "/tmp/shrink_test_tok_XXXXXX";
    if (!mkdtemp(dir)) {
        EXPECT(0, "mkdtemp");
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/a.bin", dir);
    int ids[5] = {0, 96, 5, 17, 96};
    int *back = NULL, vs = 0;
    size_t n = 0;
    EXPECT(token_file_write(path, ids, 5, 97) == 0, "write: %s", err_msg());
    EXPECT(token_file_is(path) == 1, "magic recognised");
    EXPECT(token_file_read(path, &back, &n, &vs) == 0 && n == 5 && vs == 97 && memcmp(back, ids, sizeof ids) == 0,
           "uint16 round trip");
    free(back);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    EXPECT(ftell(f) == 32 + 5 * 2, "32-byte header + 2 bytes per id");
    fclose(f);
    int big[3] = {0, 69999, 65536};
    EXPECT(token_file_write(path, big, 3, 70000) == 0 && token_file_read(path, &back, &n, &vs) == 0 && n == 3 &&
               vs == 70000 && memcmp(back, big, sizeof big) == 0,
           "uint32 round trip");
    free(back);
    // truncated: drop the last byte
    if (truncate(path, 32 + 3 * 4 - 1) == 0) {
        err_clear();
        EXPECT(token_file_read(path, &back, &n, &vs) == ERR_FORMAT && back == NULL, "truncated file is ERR_FORMAT");
        EXPECT(strstr(err_msg(), "bytes of ids") != NULL, "message says the sizes disagree: %s", err_msg());
    }
    err_clear();
    f = fopen(path, "wb");
    fputs("0 5 17\n", f);
    fclose(f);
    EXPECT(token_file_is(path) == 0 && token_file_read(path, &back, &n, &vs) == ERR_FORMAT, "text is not a token file");
    EXPECT(strstr(err_msg(), "HINT") != NULL, "the message says how to make one");
    err_clear();
    snprintf(path, sizeof path, "%s/b.bin", dir);
    int bad[2] = {3, 97};
    EXPECT(token_file_write(path, bad, 2, 97) == ERR_RANGE && access(path, F_OK) != 0,
           "id out of range: ERR_RANGE and no file");
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    EXPECT(access(tmp, F_OK) != 0, "no temp file left");
    err_clear();
    snprintf(path, sizeof path, "%s/a.bin", dir);
    unlink(path);
    rmdir(dir);
}

// --- training runs

// A structured stream over the tiny vocabulary: the next token is perm[token] with
// probability 0.9, else uniform. Its entropy rate is 0.775 nats/token; a model that has
// learned nothing scores ln 97 = 4.575.
static int *make_stream(int V, size_t n) {
    int *perm = xmalloc((size_t)V * sizeof(int)), *s = xmalloc(n * sizeof(int));
    rng r;
    rng_init(&r, 42);
    for (int i = 0; i < V; i++) perm[i] = i;
    for (int i = V - 1; i > 0; i--) {
        int j = (int)(rng_u64(&r) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    s[0] = 0;
    for (size_t i = 1; i < n; i++) s[i] = rng_f32(&r) < 0.9f ? perm[s[i - 1]] : (int)(rng_u64(&r) % (uint64_t)V);
    free(perm);
    return s;
}

// Reductions over positions split by 16-column groups, at a width that is not a multiple of
// 16 (n_embd 40: groups of 16, 16 and 8): the gradients of every LayerNorm weight and bias
// and of the position embedding at the last group's columns against central differences
// (h = 1e-2; error scaled as in test_shapes' check of every weight kind).
static void test_ragged_width(void) {
    enum { RV = 29, RT = 8, RB = 2, RC = 40 };
    gpt2_config c;
    gpt2_config_init(&c, RV, RT, RC, 1, 2, 48);
    gpt2_model m;
    gpt2_model_alloc(&m, &c);
    rng r;
    rng_init(&r, 5);
    for (size_t i = 0; i < m.n_floats; i++) m.params[i] = (rng_f32(&r) - 0.5f) * 0.6f;
    for (int i = 0; i < RC; i++) m.layers[0].ln_1_w[i] += 1.0f, m.layers[0].ln_2_w[i] += 1.0f, m.ln_f_w[i] += 1.0f;
    int ids[RB * RT], tg[RB * RT];
    for (int i = 0; i < RB * RT; i++) ids[i] = (i * 7 + 3) % RV, tg[i] = (i * 11 + 1) % RV;
    gpt2_acts a, f;
    EXPECT(gpt2_acts_init(&a, &m, RB, RT, 1) == 0 && gpt2_acts_init(&f, &m, RB, RT, 0) == 0, "acts: %s", err_msg());
    gpt2_train_forward(&m, &a, ids);
    gpt2_train_ce(&a, RV, tg, 1);
    gpt2_backward(&m, &a);
    float *vecs[] = {m.layers[0].ln_1_w, m.layers[0].ln_1_b, m.layers[0].ln_2_w, m.layers[0].ln_2_b, m.ln_f_w,
                     m.ln_f_b, m.wpe + 3 * RC};
    double worst = 0;
    const float h = 1e-2f;
    for (size_t v = 0; v < sizeof vecs / sizeof *vecs; v++)
        for (int i = 32; i < RC; i += 3) {
            float *wp = vecs[v] + i, w0 = *wp;
            double g = gpt2_grad(&m, &a, wp)[0];
            *wp = w0 + h;
            gpt2_train_forward(&m, &f, ids);
            double lp = gpt2_train_ce(&f, RV, tg, 0);
            *wp = w0 - h;
            gpt2_train_forward(&m, &f, ids);
            double lm = gpt2_train_ce(&f, RV, tg, 0);
            *wp = w0;
            double e = fabs((lp - lm) / (2.0 * (double)h) - g) / (1e-5 + 2e-3 * fabs(g));
            if (!(e <= worst)) worst = e;
        }
    EXPECT_CLOSE("n_embd 40: LayerNorm and position-embedding gradients at columns 32-39 vs finite differences", worst,
                 1.0);
    gpt2_acts_free(&a), gpt2_acts_free(&f);
    gpt2_model_free(&m);
}

static int tiny_config(gpt2_config *c) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/testdata/oracle/tiny", shared_dir());
    gpt2_model m;
    if (gpt2_hf_load(&m, dir)) {
        EXPECT(0, "load tiny: %s", err_msg());
        return -1;
    }
    *c = m.cfg;
    gpt2_model_free(&m);
    return 0;
}

static const train_opts tiny_opts = {60, 8, 32, 6, 1e-2f, 1e-3f, 0.1f, 1.0f, 0.9f, 0.95f, 1e-8f, 7, 0, 0};

// Trains a fresh tiny model for o->steps steps; returns the mean loss of the last 10.
static double run_tiny(gpt2_model *m, const gpt2_config *c, const train_opts *o, const int *data, size_t n) {
    gpt2_model_init_random(m, c, 1234);
    gpt2_train tr;
    if (gpt2_train_init(&tr, m, NULL, o)) {
        EXPECT(0, "train init: %s", err_msg());
        return NAN;
    }
    gpt2_train_set_data(&tr, data, n);
    double tail = 0;
    for (int s = 0; s < o->steps; s++) {
        double l = gpt2_train_step(&tr, data, n, NULL);
        if (s >= o->steps - 10) tail += l / 10;
    }
    gpt2_train_free(&tr);
    return tail;
}

static void test_training_run(void) {
    gpt2_config c;
    if (tiny_config(&c)) return;
    size_t n = 20000;
    int *data = make_stream(c.vocab_size, n);
    gpt2_model a, b;
    double la = run_tiny(&a, &c, &tiny_opts, data, n);
    int nth = par_max_threads_test();
    set_threads_test(1);
    double lb = run_tiny(&b, &c, &tiny_opts, data, n);
    set_threads_test(nth);
    char label[160];
    // Threshold: the unigram level is ln 97 = 4.575 and the stream's floor 0.775; after 60
    // steps the model must have learned most of the transition table (it reaches about 1.1).
    snprintf(label, sizeof label, "tiny model, 60 steps on a 0.9-deterministic bigram stream: last-10 mean loss %.3f < 2.0", la);
    EXPECT(la < 2.0, "%s", label);
    if (la < 2.0) printf("%s ... ok\n", label);
    EXPECT(a.n_floats == b.n_floats && memcmp(a.params, b.params, a.n_floats * sizeof(float)) == 0 && la == lb,
           "same seed, %d threads vs 1 thread: weights differ", nth);
    if (memcmp(a.params, b.params, a.n_floats * sizeof(float)) == 0)
        printf("same seed twice (%d threads, then 1) ... ok (identical weights)\n", nth);
    if (strcmp(kern.isa, "avx512") == 0) {  // the training kernels' AVX2 twins give the same bits
        gpt2_model d;
        kern.isa = "avx2";
        run_tiny(&d, &c, &tiny_opts, data, n);
        kern.isa = "avx512";
        int same = memcmp(a.params, d.params, a.n_floats * sizeof(float)) == 0;
        EXPECT(same, "the AVX2 training kernels give other weights than the AVX-512 ones");
        if (same) printf("same seed with the AVX2 kernels instead of AVX-512 ... ok (identical weights)\n");
        gpt2_model_free(&d);
    }
    gpt2_model_free(&a);
    gpt2_model_free(&b);
    free(data);
}

// One distillation step through gpt2_train_step: its loss is the KD loss of the student's
// and the teacher's logits on the batch it drew (recomputed here directly, in double), and
// the teacher (another shape: tiny-hot has 3 layers) is not changed.
static void test_kd_step(void) {
    char sdir[512], tdir[512];
    snprintf(sdir, sizeof sdir, "%s/testdata/oracle/tiny", shared_dir());
    snprintf(tdir, sizeof tdir, "%s/testdata/oracle/tiny-hot", shared_dir());
    gpt2_model st, st0, te;
    if (gpt2_hf_load(&st, sdir) || gpt2_hf_load(&st0, sdir) || gpt2_hf_load(&te, tdir)) {
        EXPECT(0, "load: %s", err_msg());
        return;
    }
    float *t_before = xmalloc(te.n_floats * sizeof(float));
    memcpy(t_before, te.params, te.n_floats * sizeof(float));
    train_opts o = tiny_opts;
    o.batch = 3;
    o.ctx = 20;
    o.kd_weight = 0.6f;
    o.kd_temp = 2.5f;
    size_t n = 2000;
    int *data = make_stream(st.cfg.vocab_size, n);
    gpt2_train tr;
    EXPECT(gpt2_train_init(&tr, &st, &te, &o) == 0, "init with teacher: %s", err_msg());
    gpt2_train_set_data(&tr, data, n);
    double loss = gpt2_train_step(&tr, data, n, NULL);
    // the same batch through the untrained student and the teacher
    gpt2_acts a, b;
    EXPECT(gpt2_acts_init(&a, &st0, o.batch, o.ctx, 0) == 0 && gpt2_acts_init(&b, &te, o.batch, o.ctx, 0) == 0, "acts");
    gpt2_train_forward(&st0, &a, tr.inputs);
    gpt2_train_forward(&te, &b, tr.inputs);
    int N = o.batch * o.ctx, V = st.cfg.vocab_size;
    double want = kd_direct(a.logits, b.logits, tr.targets, N, V, o.kd_weight, o.kd_temp, NULL);
    char label[160];
    snprintf(label, sizeof label, "KD training step loss vs direct (student 2 layers, teacher 3; loss %.5f)", loss);
    EXPECT_CLOSE(label, fabs(loss - want), 1e-5);
    EXPECT(memcmp(t_before, te.params, te.n_floats * sizeof(float)) == 0, "the teacher's weights changed");
    EXPECT(memcmp(st.params, st0.params, st.n_floats * sizeof(float)) != 0, "the student was not updated");
    gpt2_acts_free(&a);
    gpt2_acts_free(&b);
    gpt2_train_free(&tr);
    // a teacher with another vocabulary is refused
    gpt2_config cv = st.cfg;
    cv.vocab_size = 50;
    gpt2_model other;
    gpt2_model_init_random(&other, &cv, 1);
    err_clear();
    EXPECT(gpt2_train_init(&tr, &st, &other, &o) == ERR_ARG && strstr(err_msg(), "vocabulary"), "vocab mismatch refused");
    err_clear();
    gpt2_model_free(&other);
    free(t_before);
    free(data);
    gpt2_model_free(&st);
    gpt2_model_free(&st0);
    gpt2_model_free(&te);
}

// The pipeline's recovery keeps the weights closest to the teacher on the held-out end of
// the stream. A student unlike its teacher (tiny, 2 layers; tiny-hot, 3) gets closer, and
// the weights kept are those the held-out KL reported; a student identical to its teacher
// (KL 0) can only move away, so it comes back unchanged, bit for bit.
static void test_recover_keeps_best(void) {
    char sdir[512], tdir[512];
    snprintf(sdir, sizeof sdir, "%s/testdata/oracle/tiny", shared_dir());
    snprintf(tdir, sizeof tdir, "%s/testdata/oracle/tiny-hot", shared_dir());
    gpt2_model st, te, same;
    if (gpt2_hf_load(&st, sdir) || gpt2_hf_load(&te, tdir) || gpt2_hf_load(&same, tdir)) {
        EXPECT(0, "load: %s", err_msg());
        return;
    }
    size_t n = 12000;
    int *data = make_stream(st.cfg.vocab_size, n);
    recover_opts r = recover_defaults();
    r.batch = 4, r.ctx = 16, r.tokens = 40 * 4 * 16, r.lr = 1e-2f, r.val_frac = 0.05f;
    recover_result res;
    int rc = train_recover(&st, &te, data, n, &r, NULL, NULL, &res);
    EXPECT(rc == 0, "recover: %s", err_msg());
    size_t n_val = (size_t)floor(n * 0.05), n_judge = n_val < 16 * 16 + 1 ? n_val : 16 * 16 + 1;
    agree_result a = {0};
    EXPECT(eval_agreement(&st, &te, data + n - n_val, n_judge, NULL, 16, 16, &a, NULL, NULL) == 0, "agreement");
    char label[200];
    snprintf(label, sizeof label, "recover tiny from tiny-hot: kept step %d of %d, held-out KL %.4f -> %.4f (%d evaluations)",
             res.best_step, res.steps, res.kl_first, res.kl_best, res.evals);
    int ok = rc == 0 && res.steps == 40 && res.evals == 9 && res.best_step > 0 && res.kl_best < 0.8 * res.kl_first &&
             res.val_tokens == (int)n_judge && a.kl_mean == res.kl_best;
    EXPECT(ok, "%s; the kept weights' KL recomputed: %.6f", label, a.kl_mean);
    if (ok) printf("%s; the kept weights give that KL again ... ok\n", label);

    rc = train_recover(&same, &te, data, n, &r, NULL, NULL, &res);
    ok = rc == 0 && res.best_step == 0 && res.kl_first == 0 && res.kl_last > 0 &&
         memcmp(same.params, te.params, te.n_floats * sizeof(float)) == 0;
    EXPECT(ok, "recover a copy of the teacher: kept step %d, KL first %g, last %g; weights %s", res.best_step, res.kl_first,
           res.kl_last, memcmp(same.params, te.params, te.n_floats * sizeof(float)) ? "changed" : "unchanged");
    if (ok) printf("recover a copy of the teacher: training moves it away (KL %.2g), the untrained weights are kept ... ok\n", res.kl_last);

    r.val_frac = 0;
    rc = train_recover(&same, &te, data, n, &r, NULL, NULL, &res);
    EXPECT(rc == 0 && res.evals == 0 && res.best_step == res.steps &&
               memcmp(same.params, te.params, te.n_floats * sizeof(float)) != 0,
           "val_frac 0: %d evaluations, kept step %d of %d", res.evals, res.best_step, res.steps);
    free(data);
    gpt2_model_free(&st);
    gpt2_model_free(&te);
    gpt2_model_free(&same);
}

// Stop after half the steps, checkpoint, reload everything from the directory, finish:
// the weights must equal an uninterrupted run's bit for bit.
static void test_resume(void) {
    gpt2_config c;
    if (tiny_config(&c)) return;
    size_t n = 20000;
    int *data = make_stream(c.vocab_size, n);
    train_opts o = tiny_opts;
    o.steps = 16;
    gpt2_model full, part, back;
    run_tiny(&full, &c, &o, data, n);

    char dir[] = "/tmp/shrink_test_resume_XXXXXX";
    if (!mkdtemp(dir)) {
        EXPECT(0, "mkdtemp");
        return;
    }
    char ck[300];
    snprintf(ck, sizeof ck, "%s/ckpt", dir);
    gpt2_model_init_random(&part, &c, 1234);
    gpt2_train tr;
    EXPECT(gpt2_train_init(&tr, &part, NULL, &o) == 0, "init");
    gpt2_train_set_data(&tr, data, n);
    for (int s = 0; s < 8; s++) gpt2_train_step(&tr, data, n, NULL);
    gpt2_train_eval(&tr, data, 200);
    EXPECT(gpt2_train_save(&tr, ck, NULL, NULL) == 0, "save: %s", err_msg());
    EXPECT(gpt2_train_save(&tr, ck, NULL, "\"note\": \"saved twice\"") == 0, "save over an existing checkpoint: %s", err_msg());
    gpt2_train_free(&tr);
    gpt2_model_free(&part);

    EXPECT(gpt2_hf_load(&back, ck) == 0, "load checkpoint: %s", err_msg());
    EXPECT(gpt2_train_init(&tr, &back, NULL, &o) == 0, "init");
    gpt2_train_set_data(&tr, data, n);
    EXPECT(gpt2_train_resume(&tr, ck) == 0, "resume: %s", err_msg());
    EXPECT(tr.step == 8 && tr.n_log == 8 && tr.n_evals == 1, "resumed at step %d with %d log entries", tr.step, tr.n_log);
    while (tr.step < o.steps) gpt2_train_step(&tr, data, n, NULL);
    int same = memcmp(back.params, full.params, full.n_floats * sizeof(float)) == 0;
    EXPECT(same, "resumed run's weights differ from the uninterrupted run's");
    if (same) printf("resume after 8 of 16 steps (checkpoint, reload, continue) ... ok (bit-exact weights)\n");
    gpt2_train_free(&tr);

    // A resume with other options or other data is refused with a message.
    train_opts o2 = o;
    o2.lr *= 2;
    EXPECT(gpt2_train_init(&tr, &back, NULL, &o2) == 0, "init");
    gpt2_train_set_data(&tr, data, n);
    err_clear();
    EXPECT(gpt2_train_resume(&tr, ck) == ERR_FORMAT, "weights changed since the save: refused");
    gpt2_train_free(&tr);
    gpt2_model_free(&back);
    EXPECT(gpt2_hf_load(&back, ck) == 0, "reload");
    EXPECT(gpt2_train_init(&tr, &back, NULL, &o2) == 0, "init");
    gpt2_train_set_data(&tr, data, n);
    err_clear();
    EXPECT(gpt2_train_resume(&tr, ck) == ERR_ARG && strstr(err_msg(), "--lr") != NULL, "other --lr refused: %s", err_msg());
    gpt2_train_free(&tr);
    EXPECT(gpt2_train_init(&tr, &back, NULL, &o) == 0, "init");
    gpt2_train_set_data(&tr, data, n - 1);
    err_clear();
    EXPECT(gpt2_train_resume(&tr, ck) == ERR_ARG && strstr(err_msg(), "data") != NULL, "other data refused: %s", err_msg());
    gpt2_train_free(&tr);
    err_clear();
    gpt2_model_free(&back);
    gpt2_model_free(&full);

    // the checkpoint directory holds an HF model, the log and the state, and no temp dirs
    const char *files[] = {"config.json", "model.safetensors", "training_log.json", "train_state.bin"};
    for (int i = 0; i < 4; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", ck, files[i]);
        EXPECT(access(p, F_OK) == 0, "checkpoint lacks %s", files[i]);
        unlink(p);
    }
    char p[400];
    snprintf(p, sizeof p, "%s.tmp", ck);
    EXPECT(access(p, F_OK) != 0, "DIR.tmp left behind");
    snprintf(p, sizeof p, "%s.old", ck);
    EXPECT(access(p, F_OK) != 0, "DIR.old left behind");
    rmdir(ck);
    rmdir(dir);
    free(data);
}

int main(void) {
    printf("kernels: %s\n", kernels_init());
    double t_start = timer_now();
#define PHASE(f) (f(), getenv("SHRINK_TEST_VERBOSE") ? printf("  [%s done at %.2f s]\n", #f, timer_now() - t_start) : 0)
    PHASE(test_gemm_kernels);
    PHASE(test_matmul_split);
    PHASE(test_vec_kernels);
    test_oracle_grads("tiny", 1e-6, 0.0, 5e-6);
    test_oracle_grads("tiny-hot", 1e-5, 1e-4, 1e-5);
    PHASE(test_finite_differences);
    PHASE(test_distill);
    PHASE(test_adamw);
    PHASE(test_token_files);
    PHASE(test_ragged_width);
    PHASE(test_training_run);
    PHASE(test_kd_step);
    PHASE(test_resume);
    PHASE(test_recover_keeps_best);
    return TEST_DONE();
}
