// test_lowrank.c: low-rank compression layers.
// 1. Factorization: a matrix of rank k is rebuilt exactly at rank k by every method, on both
//    sides of the eigenproblem (out < in and in < out); at a lower rank each method's error is
//    the smallest of the three in the norm it minimises (SVD the weights' Frobenius norm,
//    ASVD the scaled one, whitening the output error on the calibration inputs); the factors
//    are balanced; energy fractions rise to 1.
// 2. The model: lowrank_model's factorized model computes what the dense model with each
//    product B·A in place computes; its parameter count is the formula's; bad placements and
//    ranks are refused with the option named.
// 3. --target-params on the bundled model: the budget is met, and the KL per matrix measured
//    allocation beats a uniform MLP-only rank of the same size on held-out text.
#include "lowrank/lowrank.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "kernels/kernels.h"
#include "modelfile/modelfile.h"
#include "harness.h"
#include <math.h>
#include <string.h>

// W (out, in) = B0 (out, k) · A0 (k, in), random; X (N, in) inputs with a few loud channels
// (as LayerNorm outputs have) and a nonzero mean; their statistics into st.
static void problem(int out, int in, int k, int N, float *W, float *X, act_stats *st, uint64_t seed) {
    rng r;
    rng_init(&r, seed);
    float *A0 = xmalloc((size_t)k * in * sizeof *A0), *B0 = xmalloc((size_t)out * k * sizeof *B0);
    for (int i = 0; i < k * in; i++) A0[i] = 2 * rng_f32(&r) - 1;
    for (int i = 0; i < out * k; i++) B0[i] = 2 * rng_f32(&r) - 1;
    lowrank_product(A0, B0, out, in, k, W);
    act_stats_init(st, in, 1);
    for (int t = 0; t < N; t++) {
        float *x = X + (size_t)t * in;
        for (int j = 0; j < in; j++) x[j] = (2 * rng_f32(&r) - 1) * (j % 7 == 0 ? 8.0f : 1.0f) + (j % 5 == 0 ? 0.5f : 0);
        for (int j = 0; j < in; j++) {
            st->sum[j] += x[j], st->sumsq[j] += (double)x[j] * x[j], st->sumabs[j] += fabs(x[j]);
            for (int i = 0; i < in; i++) st->H[(size_t)j * in + i] += (double)x[j] * x[i];
        }
    }
    st->n = N;
    free(A0), free(B0);
}

// The three norms of E = W − B·A: Frobenius, columns scaled as ASVD scales them, and on X.
static void errors(const float *W, const float *P, const float *X, const act_stats *st, int out, int in, int N, double e[3]) {
    e[0] = e[1] = e[2] = 0;
    for (int o = 0; o < out; o++)
        for (int j = 0; j < in; j++) {
            double d = (double)W[(size_t)o * in + j] - P[(size_t)o * in + j];
            e[0] += d * d;
            e[1] += d * d * (st->sumabs[j] / st->n);  // s_j² with s_j = mean|x_j|^0.5
        }
    for (int t = 0; t < N; t++)
        for (int o = 0; o < out; o++) {
            double y = 0;
            for (int j = 0; j < in; j++) y += ((double)W[(size_t)o * in + j] - P[(size_t)o * in + j]) * X[(size_t)t * in + j];
            e[2] += y * y;
        }
}

static void test_factor(int out, int in) {
    int k = 12, N = 400, n = out < in ? out : in;
    float *W = xmalloc((size_t)out * in * sizeof *W), *X = xmalloc((size_t)N * in * sizeof *X);
    float *P = xmalloc((size_t)out * in * sizeof *P), *A = xmalloc((size_t)n * in * sizeof *A), *B = xmalloc((size_t)out * n * sizeof *B);
    act_stats st;
    problem(out, in, k, N, W, X, &st, 7 + (uint64_t)out);
    double wn = 0;
    for (int i = 0; i < out * in; i++) wn += (double)W[i] * W[i];
    double err[LOWRANK_METHOD_COUNT][3];
    for (int m = 0; m < LOWRANK_METHOD_COUNT; m++) {
        lowrank_basis b;
        int rc = lowrank_basis_init(&b, W, out, in, (lowrank_method)m, &st, 1e-6);
        EXPECT(rc == 0, "%s basis %dx%d: %s", lowrank_method_name((lowrank_method)m), out, in, err_msg());
        if (rc) continue;
        // Exact at the true rank (the damped whitening moves it by rounding only).
        lowrank_basis_factors(&b, k, A, B);
        lowrank_product(A, B, out, in, k, P);
        double d = 0;
        for (int i = 0; i < out * in; i++) d = fmax(d, fabs((double)P[i] - W[i]));
        char name[96];
        snprintf(name, sizeof name, "%s %dx%d: rank-%d matrix rebuilt at rank %d", lowrank_method_name((lowrank_method)m), out, in, k, k);
        EXPECT_CLOSE(name, d / sqrt(wn / (out * in)), 1e-4);
        snprintf(name, sizeof name, "%s %dx%d: energy at the true rank", lowrank_method_name((lowrank_method)m), out, in);
        EXPECT_CLOSE(name, 1.0 - lowrank_basis_energy(&b, k), 1e-9);
        // Balanced: each component's A row and B column have one norm.
        double worst = 0;
        for (int i = 0; i < k; i++) {
            double na = 0, nb = 0;
            for (int j = 0; j < in; j++) na += (double)A[(size_t)i * in + j] * A[(size_t)i * in + j];
            for (int o = 0; o < out; o++) nb += (double)B[(size_t)o * k + i] * B[(size_t)o * k + i];
            worst = fmax(worst, fabs(sqrt(na) / sqrt(nb) - 1));
        }
        snprintf(name, sizeof name, "%s %dx%d: factors balanced", lowrank_method_name((lowrank_method)m), out, in);
        EXPECT_CLOSE(name, worst, 1e-5);
        // Truncated below the true rank: the norms each method's error is measured in.
        lowrank_basis_factors(&b, 5, A, B);
        lowrank_product(A, B, out, in, 5, P);
        errors(W, P, X, &st, out, in, N, err[m]);
        EXPECT(lowrank_basis_energy(&b, 5) < 0.99 && lowrank_basis_energy(&b, 5) > 0.2, "%s: energy at rank 5 of 12: %g",
               lowrank_method_name((lowrank_method)m), lowrank_basis_energy(&b, 5));
        lowrank_basis_free(&b);
    }
    for (int m = 0; m < LOWRANK_METHOD_COUNT; m++)
        for (int o = 0; o < LOWRANK_METHOD_COUNT; o++)
            if (o != m)
                EXPECT(err[m][m] <= err[o][m] * (1 + 1e-6), "%dx%d: %s's error in its own norm %.6g exceeds %s's %.6g",
                       out, in, lowrank_method_name((lowrank_method)m), err[m][m], lowrank_method_name((lowrank_method)o),
                       err[o][m]);
    printf("%dx%d rank 5 of 12, errors (Frobenius, ASVD-scaled, output): svd %.4g %.4g %.4g; asvd %.4g %.4g %.4g; "
           "whiten %.4g %.4g %.4g\n", out, in, err[0][0], err[0][1], err[0][2], err[1][0], err[1][1], err[1][2],
           err[2][0], err[2][1], err[2][2]);
    // Whitening is the output error's optimum by a margin, not a tie.
    EXPECT(err[2][2] < 0.9 * err[0][2], "%dx%d: whitening's output error %.4g not clearly below SVD's %.4g", out, in,
           err[2][2], err[0][2]);
    act_stats_free(&st);
    free(W), free(X), free(P), free(A), free(B);
}

static float *logits_of(const gpt2_model *m, const int *ids, int T) {
    gpt2_state s;
    CHECK(gpt2_state_init(&s, m, T) == 0);
    gpt2_forward(m, &s, ids, T, 1);
    size_t n = (size_t)T * m->cfg.vocab_size;
    float *out = xmalloc(n * sizeof *out);
    memcpy(out, s.logits, n * sizeof *out);
    gpt2_state_free(&s);
    return out;
}

static double mean_kl(const gpt2_model *a, const gpt2_model *b, const int *ids, int nw, int T) {
    int V = a->cfg.vocab_size;
    double sum = 0;
    for (int w = 0; w < nw; w++) {
        float *p = logits_of(a, ids + w * T, T), *q = logits_of(b, ids + w * T, T);
        for (int t = 0; t < T; t++) {
            const float *x = p + (size_t)t * V, *y = q + (size_t)t * V;
            double mx = x[0], my = y[0], sx = 0, sy = 0, kl = 0;
            for (int i = 1; i < V; i++) mx = fmax(mx, x[i]), my = fmax(my, y[i]);
            for (int i = 0; i < V; i++) sx += exp(x[i] - mx), sy += exp(y[i] - my);
            for (int i = 0; i < V; i++) {
                double lp = x[i] - mx - log(sx), lq = y[i] - my - log(sy);
                kl += exp(lp) * (lp - lq);
            }
            sum += kl;
        }
        free(p), free(q);
    }
    return sum / ((double)nw * T);
}

static void test_model(void) {
    gpt2_model m;
    bpe *tok = NULL;
    calib_set cs = {0}, held = {0};
    if (gpt2_hf_load(&m, "models/mini") || bpe_load(&tok, "models/mini/vocab.json", "models/mini/merges.txt")) {
        EXPECT(0, "models/mini: %s", err_msg());
        return;
    }
    EXPECT(calib_load(&cs, tok, "data/calib.txt", 8192, 256) == 0, "calib: %s", err_msg());
    EXPECT(calib_load(&held, tok, "data/heldout.txt", 2048, 256) == 0, "held-out: %s", err_msg());
    const gpt2_config *c = &m.cfg;
    char notes[65536];

    // Whitened factors of ffn_up in layers 1 and 4 and attn_qkv in layer 2: the factorized model
    // against the dense one with the products in place.
    lowrank_opts o = lowrank_defaults();
    o.method = LOWRANK_WHITEN, o.rank = 64;
    memset(o.linears, 0, sizeof o.linears);
    o.linears[GPT2_LIN_UP] = o.linears[GPT2_LIN_QKV] = 1;
    uint8_t layers[6] = {0, 1, 1, 0, 1, 0};
    o.layers = layers;
    gpt2_model f;
    int rc = lowrank_model(&m, &cs, &o, &f, notes, sizeof notes);
    EXPECT(rc == 0, "lowrank_model: %s", err_msg());
    if (!rc) {
        size_t expect = gpt2_param_count(c);
        for (int l = 0; l < 6; l++)
            for (int k = 0; k < GPT2_LINEARS; k++) {
                int out, in;
                gpt2_linear_dims(c, l, k, &out, &in);
                if (layers[l] && o.linears[k]) expect -= (size_t)out * in - (size_t)64 * (out + in);
                EXPECT(gpt2_rank(&f.cfg, l, k) == (layers[l] && o.linears[k] ? 64 : 0), "layer %d linear %d: rank %d", l,
                       k, gpt2_rank(&f.cfg, l, k));
            }
        EXPECT(gpt2_param_count(&f.cfg) == expect, "parameters %zu, expected %zu", gpt2_param_count(&f.cfg), expect);
        gpt2_model d;
        gpt2_model_clone(&d, &m);
        for (int l = 0; l < 6; l++)
            for (int k = 0; k < GPT2_LINEARS; k++) {
                if (!gpt2_rank(&f.cfg, l, k)) continue;
                const gpt2_linear *lin = &f.layers[l].lin[k];
                lowrank_product(lin->w.data, lin->w2.data, lin->w2.rows, lin->w.cols, 64, (float *)d.layers[l].lin[k].w.data);
            }
        float *pf = logits_of(&f, held.ids, 256), *pd = logits_of(&d, held.ids, 256);
        double md = 0, mx = 0;
        for (size_t i = 0; i < (size_t)256 * c->vocab_size; i++) md = fmax(md, fabs(pf[i] - pd[i])), mx = fmax(mx, fabs(pd[i]));
        EXPECT_CLOSE("factorized model vs dense with the products (relative)", md / mx, 1e-4);
        double kl = mean_kl(&m, &f, held.ids, held.n_windows, held.ctx);
        printf("whitened rank 64, qkv+up in 3 layers: held-out KL %.5f\n", kl);
        EXPECT(kl > 0 && kl < 0.05, "held-out KL %.4f of a mild factorization", kl);
        free(pf), free(pd);
        gpt2_model_free(&d), gpt2_model_free(&f);
    }

    // Refusals, each naming its option.
    struct { lowrank_opts o; const char *says; } bad[4];
    for (int i = 0; i < 4; i++) bad[i].o = lowrank_defaults();
    bad[0].o.rank = 256, bad[0].says = "not below";               // rank = the smaller dimension
    bad[1].o.rank = 200, bad[1].says = "saves nothing";           // attn_output 256x256 breaks even at 128
    bad[2].o.rank = 8, bad[2].o.energy = 0.9, bad[2].says = "exactly one";
    bad[3].o.rank = 8, bad[3].says = "place no matrix";
    memset(bad[3].o.linears, 0, sizeof bad[3].o.linears), bad[3].o.linears[GPT2_LIN_UP] = 1;
    uint8_t none[6] = {0};
    bad[3].o.layers = none;
    for (int i = 0; i < 4; i++) {
        err_clear();
        rc = lowrank_model(&m, &cs, &bad[i].o, &f, notes, sizeof notes);
        EXPECT(rc == ERR_ARG && strstr(err_msg(), bad[i].says), "bad options %d: rc %d, '%s'", i, rc, err_msg());
        if (!rc) gpt2_model_free(&f);
    }
    bad[1].o.force = 1;  // --force lets it through
    EXPECT(lowrank_model(&m, &cs, &bad[1].o, &f, notes, sizeof notes) == 0, "--force: %s", err_msg());
    gpt2_model_free(&f);

    // --target-params at the size of a uniform MLP-only rank 128: the budget is met and the
    // measured allocation costs less KL on held-out text.
    lowrank_opts uni = lowrank_defaults();
    uni.rank = 128;
    memset(uni.linears, 0, sizeof uni.linears), uni.linears[GPT2_LIN_UP] = uni.linears[GPT2_LIN_DOWN] = 1;
    gpt2_model a, b;
    EXPECT(lowrank_model(&m, &cs, &uni, &a, notes, sizeof notes) == 0, "uniform: %s", err_msg());
    lowrank_opts bud = lowrank_defaults();
    bud.all_methods = 1, bud.target_params = gpt2_param_count(&a.cfg);
    EXPECT(lowrank_model(&m, &cs, &bud, &b, notes, sizeof notes) == 0, "--target-params: %s", err_msg());
    size_t pb = gpt2_param_count(&b.cfg);
    EXPECT(pb <= bud.target_params && pb + 16384 >= bud.target_params, "budget %zu: the allocation keeps %zu",
           bud.target_params, pb);
    double ka = mean_kl(&m, &a, held.ids, held.n_windows, held.ctx), kb = mean_kl(&m, &b, held.ids, held.n_windows, held.ctx);
    printf("%zu parameters, held-out KL: uniform MLP rank 128 (svd) %.4f; --target-params %.4f (ratio %.2f)\n", pb, ka, kb,
           kb / ka);
    EXPECT(kb <= 0.6 * ka, "the allocation's KL %.4f is not below 0.6 x the uniform rank's %.4f", kb, ka);
    gpt2_model_free(&a), gpt2_model_free(&b);

    calib_free(&cs), calib_free(&held);
    bpe_free(tok);
    gpt2_model_free(&m);
}

int main(void) {
    printf("kernels: %s\n", kernels_init());
    test_factor(40, 64);  // out-side eigenproblem
    test_factor(64, 40);  // in-side
    test_model();
    return TEST_DONE();
}
