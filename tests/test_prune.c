// test_prune.c: structured pruning (prune/prune.h).
//
// 1. prune_apply on a model of mixed shapes (heads already pruned, low-rank linears, a
//    0-width MLP): the smaller model computes what the original computes with the removed
//    units silenced (their attn_output / ffn_down columns zero, a dropped block's two
//    branches zero), built here independently; its config and removed heads (by original
//    index) are what the mask says; it round-trips through GGUF and, when dense, HF.
// 2. prune_compensate against least squares solved here another way (Gaussian elimination
//    with pivoting on the data itself); exact recovery when the removed inputs are linear
//    in the kept ones; the bias fold against its formula, low-rank included.
// 3. Scores against their definitions computed from the inputs directly; Taylor scores
//    against Σ |g·w| summed here over each unit's weights, and better than magnitude.
// 4. The pipeline on the bundled model: calibrated scores + refit give at most half the KL
//    of activation-norm scores without compensation (issue 13's one-shot target); the KL of
//    dropping a block equals the KL of the model built without it; options that ask for
//    the impossible are refused by name.
#include "harness.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "kernels/kernels.h"
#include "modelfile/modelfile.h"
#include "model/gpt2_acts.h"
#include "prune/prune.h"
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// Pruned model vs the original with the units silenced, relative to the logits' largest
// magnitude: the same arithmetic with zero terms skipped; measured 0 (AVX-512, ref), 2.3e-7 (AVX2).
#define TOL_SILENCED 2e-6
// Refit vs least squares solved here in double (Gaussian elimination), relative to the
// largest coefficient or output: float storage of the result; measured 1.0e-8 and 1.9e-8.
#define TOL_LSQ 1e-6

static float *logits_of(const gpt2_model *m, const int *ids, int T) {
    size_t V = (size_t)m->cfg.vocab_size;
    float *out = xmalloc((size_t)T * V * sizeof(float));
    gpt2_state s;
    CHECK(gpt2_state_init(&s, m, T) == 0);
    gpt2_forward(m, &s, ids, T, 1);
    memcpy(out, s.logits, (size_t)T * V * sizeof(float));
    gpt2_state_free(&s);
    return out;
}

// --- 1. prune_apply

enum { V = 61, CTX = 32, C = 32, HS = 8, NH = 4, L = 4, FMAX = 56 };
// Original heads already removed per layer (the model as loaded), MLP widths, ranks.
static const int gone0[L][NH] = {{0, 1, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {1, 0, 1, 0}};
static const int width[L] = {40, 0, 24, FMAX};
static const int ranks[L][GPT2_LINEARS] = {{5, 3, 0, 0}, {0, 6, 0, 0}, {0, 0, 7, 4}, {0, 0, 0, 0}};

static void mixed_model(gpt2_model *m, int dense, uint64_t seed) {
    gpt2_config c;
    gpt2_config_init(&c, V, CTX, C, L, NH, FMAX);
    for (int l = 0; l < L; l++) {
        int nh = 0;
        for (int h = 0; h < NH; h++) nh += !gone0[l][h];
        c.n_head_arr[l] = nh;
        c.n_ff_arr[l] = dense ? FMAX : width[l];
        for (int k = 0; k < GPT2_LINEARS; k++) c.rank_arr[l][k] = dense ? 0 : ranks[l][k];
    }
    CHECK(gpt2_config_validate(&c, "mixed") == 0);
    gpt2_model_alloc(m, &c);
    rng r;
    rng_init(&r, seed);
    for (size_t i = 0; i < m->n_floats; i++) m->params[i] = (rng_f32(&r) - 0.5f) * 0.6f;
    for (int l = 0; l < L; l++)
        for (int i = 0; i < C; i++) m->layers[l].ln_1_w[i] += 1.0f, m->layers[l].ln_2_w[i] += 1.0f;
    for (int i = 0; i < C; i++) m->ln_f_w[i] += 1.0f;
    m->removed_heads = xcalloc((size_t)L * NH, 1);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < NH; h++) m->removed_heads[l * NH + h] = (uint8_t)gone0[l][h];
}

// Zeroes input column c of a linear (of its first factor when low-rank): that input is silenced.
static void silence_col(gpt2_linear *lin, int c) {
    float *a = (float *)lin->w.data;
    for (int i = 0; i < lin->w.rows; i++) a[(size_t)i * lin->w.cols + c] = 0;
}

static void silence_all(gpt2_linear *lin) {
    for (int c = 0; c < lin->w.cols; c++) silence_col(lin, c);
    for (int o = 0; o < (lin->w2.rows ? lin->w2.rows : lin->w.rows); o++) lin->bias[o] = 0;
}

// Random heads and neurons removed; with `uniform` exactly 16 neurons per layer (one MLP
// width for all, which HF can hold).
static void random_mask(prune_mask *pm, const gpt2_config *c, uint64_t seed, int drop, int uniform) {
    rng r;
    rng_init(&r, seed);
    for (int l = 0; l < c->n_layer; l++) {
        int F = gpt2_n_ff(c, l);
        for (int h = 0; h < gpt2_n_head(c, l); h++) pm->head[l * pm->max_head + h] = rng_f32(&r) < 0.6f;
        for (int j = 0; j < F; j++) pm->ff[l * pm->max_ff + j] = uniform || rng_f32(&r) < 0.7f;
        for (int n = 0; uniform && n < 16;) {
            int j = (int)(rng_f32(&r) * F) % F;
            if (pm->ff[l * pm->max_ff + j]) pm->ff[l * pm->max_ff + j] = 0, n++;
        }
    }
    pm->layer[drop] = 0;
}

static void test_apply(int dense) {
    const char *what = dense ? "dense" : "mixed";
    gpt2_model m, p, s;
    mixed_model(&m, dense, 11);
    int T = CTX, ids[CTX];
    for (int i = 0; i < T; i++) ids[i] = (i * 29 + 5) % V;
    float *ref = logits_of(&m, ids, T);
    size_t n = (size_t)T * V;

    // Everything kept: the same model, bit for bit.
    prune_mask pm;
    prune_mask_init(&pm, &m.cfg);
    EXPECT(prune_apply(&m, &pm, &p) == 0, "%s: apply: %s", what, err_msg());
    float *same = logits_of(&p, ids, T);
    EXPECT(memcmp(same, ref, n * sizeof(float)) == 0, "%s: nothing removed changes the logits", what);
    free(same);
    gpt2_model_free(&p);

    // A random cut with a block dropped, against the original with those units silenced.
    int drop = 1;
    random_mask(&pm, &m.cfg, 5, drop, dense);
    EXPECT(prune_apply(&m, &pm, &p) == 0, "%s: apply: %s", what, err_msg());
    mixed_model(&s, dense, 11);
    for (int l = 0; l < L; l++) {
        gpt2_layer *ly = &s.layers[l];
        if (!pm.layer[l]) {
            silence_all(&ly->lin[GPT2_LIN_OUT]), silence_all(&ly->lin[GPT2_LIN_DOWN]);
            continue;
        }
        for (int h = 0; h < gpt2_n_head(&s.cfg, l); h++)
            if (!pm.head[l * pm.max_head + h])
                for (int e = 0; e < HS; e++) silence_col(&ly->lin[GPT2_LIN_OUT], h * HS + e);
        for (int j = 0; j < gpt2_n_ff(&s.cfg, l); j++)
            if (!pm.ff[l * pm.max_ff + j]) silence_col(&ly->lin[GPT2_LIN_DOWN], j);
    }
    float *a = logits_of(&p, ids, T), *b = logits_of(&s, ids, T);
    char name[128];
    snprintf(name, sizeof name, "%s: pruned model vs silenced original (relative)", what);
    EXPECT_CLOSE(name, harness_maxdiff(a, b, n) / harness_maxabs(b, n), TOL_SILENCED);
    EXPECT(harness_maxdiff(a, ref, n) / harness_maxabs(ref, n) > 1e-2, "%s: the cut changes the logits (or the test is void)", what);

    // Its shape and where its heads came from, counted from the mask here.
    EXPECT(p.cfg.n_layer == L - 1, "%s: %d layers", what, p.cfg.n_layer);
    for (int l = 0, l2 = 0; l < L; l++) {
        if (!pm.layer[l]) continue;
        int nh = 0, nf = 0;
        for (int h = 0; h < gpt2_n_head(&m.cfg, l); h++) nh += pm.head[l * pm.max_head + h];
        for (int j = 0; j < gpt2_n_ff(&m.cfg, l); j++) nf += pm.ff[l * pm.max_ff + j];
        EXPECT(gpt2_n_head(&p.cfg, l2) == nh && gpt2_n_ff(&p.cfg, l2) == nf && p.cfg.src_layer[l2] == l,
               "%s: block %d -> %d: %d heads, width %d, from %d", what, l, l2, gpt2_n_head(&p.cfg, l2),
               gpt2_n_ff(&p.cfg, l2), p.cfg.src_layer[l2]);
        for (int k = 0; k < GPT2_LINEARS; k++) EXPECT(p.cfg.rank_arr[l2][k] == m.cfg.rank_arr[l][k], "%s: rank kept", what);
        // The i-th head present in layer l is the i-th original head not in gone0.
        for (int h = 0, i = 0; h < NH; h++) {
            int want_gone = gone0[l][h] ? 1 : !pm.head[l * pm.max_head + i++];
            EXPECT(p.removed_heads && p.removed_heads[l2 * NH + h] == want_gone, "%s: block %d head %d removed=%d", what,
                   l2, h, p.removed_heads ? p.removed_heads[l2 * NH + h] : -1);
        }
        l2++;
    }

    // Files keep it: GGUF (shrink-gpt2 for these shapes), and HF for the dense one.
    char tmp[] = "/tmp/shrink-test-prune-XXXXXX";
    CHECK(mkdtemp(tmp));
    char path[256];
    snprintf(path, sizeof path, "%s/p.gguf", tmp);
    gpt2_model q;
    EXPECT(gpt2_gguf_save(&p, NULL, path, 0) == 0 && gpt2_gguf_load(&q, path) == 0, "%s: GGUF: %s", what, err_msg());
    float *c = logits_of(&q, ids, T);
    EXPECT(memcmp(c, a, n * sizeof(float)) == 0, "%s: GGUF round trip changes the logits", what);
    EXPECT(memcmp(q.removed_heads, p.removed_heads, (size_t)q.cfg.n_layer * NH) == 0, "%s: GGUF keeps removed heads", what);
    free(c);
    gpt2_model_free(&q);
    unlink(path);
    if (dense) {
        snprintf(path, sizeof path, "%s/hf", tmp);
        EXPECT(gpt2_hf_save(&p, path, NULL, 0) == 0 && gpt2_hf_load(&q, path) == 0, "HF: %s", err_msg());
        c = logits_of(&q, ids, T);
        EXPECT(memcmp(c, a, n * sizeof(float)) == 0, "HF round trip changes the logits");
        free(c);
        gpt2_model_free(&q);
        char f[300];
        snprintf(f, sizeof f, "%s/config.json", path), unlink(f);
        snprintf(f, sizeof f, "%s/model.safetensors", path), unlink(f);
        rmdir(path);
    }
    rmdir(tmp);
    free(a), free(b), free(ref);
    prune_mask_free(&pm);
    gpt2_model_free(&p), gpt2_model_free(&s), gpt2_model_free(&m);
}

// --- 2. compensation

enum { N = 400, IN = 10, OUT = 6, KEEP = 7 };

static void stats_of(const double *x, act_stats *st) {
    act_stats_init(st, IN, 1);
    for (int t = 0; t < N; t++)
        for (int i = 0; i < IN; i++) {
            st->sum[i] += x[t * IN + i], st->sumsq[i] += x[t * IN + i] * x[t * IN + i];
            for (int j = 0; j < IN; j++) st->H[i * IN + j] += x[t * IN + i] * x[t * IN + j];
        }
    st->n = N;
}

// Solves A θ = b (n × n, in place) by Gaussian elimination with partial pivoting.
static void gauss(double *A, double *b, int n) {
    for (int k = 0; k < n; k++) {
        int p = k;
        for (int i = k + 1; i < n; i++)
            if (fabs(A[i * n + k]) > fabs(A[p * n + k])) p = i;
        for (int j = 0; j < n; j++) {
            double t = A[k * n + j];
            A[k * n + j] = A[p * n + j], A[p * n + j] = t;
        }
        double t = b[k];
        b[k] = b[p], b[p] = t;
        for (int i = k + 1; i < n; i++) {
            double f = A[i * n + k] / A[k * n + k];
            for (int j = k; j < n; j++) A[i * n + j] -= f * A[k * n + j];
            b[i] -= f * b[k];
        }
    }
    for (int k = n - 1; k >= 0; k--) {
        for (int j = k + 1; j < n; j++) b[k] -= A[k * n + j] * b[j];
        b[k] /= A[k * n + k];
    }
}

static void test_compensate(void) {
    rng r;
    rng_init(&r, 3);
    double *x = xmalloc((size_t)N * IN * sizeof *x);
    float w[OUT * IN], w0[OUT * IN], bias[OUT], b0[OUT];
    for (int i = 0; i < OUT * IN; i++) w0[i] = rng_f32(&r) - 0.5f;
    for (int o = 0; o < OUT; o++) b0[o] = rng_f32(&r) - 0.5f;
    uint8_t keep[IN];
    for (int i = 0; i < IN; i++) keep[i] = i < KEEP;
    for (int exact = 1; exact >= 0; exact--) {
        // Inputs with a mean, correlated; when exact, the removed ones are linear in the kept ones.
        for (int t = 0; t < N; t++) {
            for (int i = 0; i < KEEP; i++) x[t * IN + i] = 0.3 * i + (rng_f32(&r) - 0.5) + (i ? 0.5 * x[t * IN + i - 1] : 0);
            for (int i = KEEP; i < IN; i++)
                x[t * IN + i] = 0.7 - 0.4 * x[t * IN + i - KEEP] + 0.9 * x[t * IN + i - KEEP + 2] +
                                (exact ? 0 : 0.3 * (rng_f32(&r) - 0.5));
        }
        act_stats st;
        stats_of(x, &st);
        memcpy(w, w0, sizeof w), memcpy(bias, b0, sizeof bias);
        gpt2_linear lin = {{QTYPE_F32, OUT, IN, w}, {0}, bias};
        EXPECT(prune_compensate(&lin, &st, keep, PRUNE_COMP_REFIT, 0) == 0, "refit: %s", err_msg());
        for (int o = 0; o < OUT; o++)
            for (int i = KEEP; i < IN; i++) EXPECT(w[o * IN + i] == 0, "removed column %d not zeroed", i);
        if (exact) {  // the outputs are reproduced on every input
            double md = 0, mx = 0;
            for (int t = 0; t < N; t++)
                for (int o = 0; o < OUT; o++) {
                    double y = b0[o], z = bias[o];
                    for (int i = 0; i < IN; i++) y += w0[o * IN + i] * x[t * IN + i], z += w[o * IN + i] * x[t * IN + i];
                    md = fmax(md, fabs(y - z)), mx = fmax(mx, fabs(y));
                }
            EXPECT_CLOSE("refit, removed inputs linear in the kept: outputs reproduced (relative)", md / mx, TOL_LSQ);
        } else {  // least squares of y on [x_K, 1], solved from the data here; with 2 outputs
                  // (fewer than the 3 removed inputs) the refit solves for the update's rows instead
            int k1 = KEEP + 1;
            double md = 0, mx = 0;
            for (int no = OUT; no >= 2; no -= OUT - 2) {
                float w2[OUT * IN], b2[OUT];
                memcpy(w2, w0, sizeof w2), memcpy(b2, b0, sizeof b2);
                gpt2_linear l2 = {{QTYPE_F32, no, IN, w2}, {0}, b2};
                EXPECT(prune_compensate(&l2, &st, keep, PRUNE_COMP_REFIT, 0) == 0, "refit: %s", err_msg());
                for (int o = 0; o < no; o++) {
                    double A[(KEEP + 1) * (KEEP + 1)] = {0}, rhs[KEEP + 1] = {0};
                    for (int t = 0; t < N; t++) {
                        double z[KEEP + 1], y = b0[o];
                        for (int i = 0; i < KEEP; i++) z[i] = x[t * IN + i];
                        z[KEEP] = 1;
                        for (int i = 0; i < IN; i++) y += w0[o * IN + i] * x[t * IN + i];
                        for (int i = 0; i < k1; i++) {
                            rhs[i] += z[i] * y;
                            for (int j = 0; j < k1; j++) A[i * k1 + j] += z[i] * z[j];
                        }
                    }
                    gauss(A, rhs, k1);
                    for (int i = 0; i < KEEP; i++) md = fmax(md, fabs(rhs[i] - w2[o * IN + i])), mx = fmax(mx, fabs(rhs[i]));
                    md = fmax(md, fabs(rhs[KEEP] - b2[o])), mx = fmax(mx, fabs(rhs[KEEP]));
                }
            }
            EXPECT_CLOSE("refit vs least squares solved by elimination, 6 and 2 outputs (relative)", md / mx, TOL_LSQ);
            // The bias fold: kept columns unchanged, b += W_R mean(x_R).
            memcpy(w, w0, sizeof w), memcpy(bias, b0, sizeof bias);
            EXPECT(prune_compensate(&lin, &st, keep, PRUNE_COMP_BIAS, 0) == 0, "bias: %s", err_msg());
            md = 0;
            for (int o = 0; o < OUT; o++) {
                double want = b0[o];
                for (int i = KEEP; i < IN; i++) want += w0[o * IN + i] * (st.sum[i] / N);
                md = fmax(md, fabs(want - bias[o]));
                for (int i = 0; i < KEEP; i++) EXPECT(w[o * IN + i] == w0[o * IN + i], "bias fold changed a kept column");
            }
            EXPECT_CLOSE("bias fold vs b + W_R mean(x_R)", md, 1e-6);
            // Low-rank (B·A, rank 3): the fold goes through both factors; A's removed columns zeroed.
            enum { R = 3 };
            float A3[R * IN], B3[OUT * R];
            for (int i = 0; i < R * IN; i++) A3[i] = rng_f32(&r) - 0.5f;
            for (int i = 0; i < OUT * R; i++) B3[i] = rng_f32(&r) - 0.5f;
            float A0[R * IN];
            memcpy(A0, A3, sizeof A3), memcpy(bias, b0, sizeof bias);
            gpt2_linear lr = {{QTYPE_F32, R, IN, A3}, {QTYPE_F32, OUT, R, B3}, bias};
            EXPECT(prune_compensate(&lr, &st, keep, PRUNE_COMP_REFIT, 0.01) == 0, "low-rank: %s", err_msg());
            md = 0;
            for (int o = 0; o < OUT; o++) {
                double want = b0[o];
                for (int i = KEEP; i < IN; i++) {
                    double wi = 0;
                    for (int q = 0; q < R; q++) wi += B3[o * R + q] * A0[q * IN + i];
                    want += wi * (st.sum[i] / N);
                }
                md = fmax(md, fabs(want - bias[o]));
            }
            EXPECT_CLOSE("low-rank: the bias fold through B·A", md, 1e-6);
            for (int q = 0; q < R; q++)
                for (int i = 0; i < IN; i++) EXPECT(A3[q * IN + i] == (i < KEEP ? A0[q * IN + i] : 0), "low-rank: A's columns");
        }
        act_stats_free(&st);
    }
    free(x);
}

// --- 3. scores

static void test_scores(void) {
    gpt2_model m;
    mixed_model(&m, 0, 17);
    rng r;
    rng_init(&r, 9);
    for (int l = 0; l < L; l++) {
        int F = gpt2_n_ff(&m.cfg, l), W = gpt2_attn_width(&m.cfg, l);
        for (int k = GPT2_LIN_OUT; k <= GPT2_LIN_DOWN; k += 2) {
            int cols = k == GPT2_LIN_OUT ? W : F;
            if (!cols) continue;
            act_stats st;
            act_stats_init(&st, cols, 0);
            st.n = 50;
            for (int i = 0; i < cols; i++) {
                st.sum[i] = (rng_f32(&r) - 0.5) * 50, st.sumsq[i] = st.sum[i] * st.sum[i] / 50 + rng_f32(&r) * 40;
            }
            // The matrix reading the units, materialized (B·A when low-rank), and its column norms.
            const gpt2_linear *lin = &m.layers[l].lin[k];
            int out = lin->w2.rows ? lin->w2.rows : lin->w.rows;
            double *n2 = xcalloc((size_t)cols, sizeof *n2);
            for (int o = 0; o < out; o++)
                for (int i = 0; i < cols; i++) {
                    double v = 0;
                    if (lin->w2.rows)
                        for (int q = 0; q < lin->w.rows; q++)
                            v += (double)((const float *)lin->w2.data)[o * lin->w2.cols + q] *
                                 ((const float *)lin->w.data)[q * cols + i];
                    else v = ((const float *)lin->w.data)[o * cols + i];
                    n2[i] += v * v;
                }
            int units = k == GPT2_LIN_OUT ? gpt2_n_head(&m.cfg, l) : F, per = k == GPT2_LIN_OUT ? HS : 1;
            double *got = xmalloc((size_t)units * sizeof *got), md = 0;
            for (int s = PRUNE_SCORE_ACT; s <= PRUNE_SCORE_FLUCT; s++) {
                if (k == GPT2_LIN_OUT) prune_score_heads(&m, l, &st, s, got);
                else prune_score_neurons(&m, l, &st, s, got);
                for (int u = 0; u < units; u++) {
                    double want = 0;
                    for (int i = u * per; i < (u + 1) * per; i++) {
                        double mean = st.sum[i] / st.n, msq = st.sumsq[i] / st.n;
                        want += (s == PRUNE_SCORE_ACT ? msq : msq - mean * mean) * n2[i];
                    }
                    if (s == PRUNE_SCORE_ACT) want = sqrt(want);
                    md = fmax(md, fabs(got[u] - want) / want);
                }
            }
            char name[96];
            snprintf(name, sizeof name, "layer %d %s scores (act, fluct) vs definition (relative)", l,
                     k == GPT2_LIN_OUT ? "head" : "neuron");
            EXPECT_CLOSE(name, md, 1e-9);
            free(got), free(n2);
            act_stats_free(&st);
        }
    }
    gpt2_model_free(&m);
}

// --- 4. the pipeline on the bundled model

static double mean_kl(const gpt2_model *a, const gpt2_model *b, const int *ids, int nw, int T) {
    int V2 = a->cfg.vocab_size;
    double sum = 0;
    for (int w = 0; w < nw; w++) {
        float *p = logits_of(a, ids + w * T, T), *q = logits_of(b, ids + w * T, T);
        for (int t = 0; t < T; t++) {
            const float *x = p + (size_t)t * V2, *y = q + (size_t)t * V2;
            double mx = x[0], my = y[0], sx = 0, sy = 0, kl = 0;
            for (int i = 1; i < V2; i++) mx = fmax(mx, x[i]), my = fmax(my, y[i]);
            for (int i = 0; i < V2; i++) sx += exp(x[i] - mx), sy += exp(y[i] - my);
            for (int i = 0; i < V2; i++) {
                double lp = x[i] - mx - log(sx), lq = y[i] - my - log(sy);
                kl += exp(lp) * (lp - lq);
            }
            sum += kl;
        }
        free(p), free(q);
    }
    return sum / ((double)nw * T);
}

// The bundled model, its tokenizer, calib_tokens of data/calib.txt and 2,048 of the held-out
// text in windows of 256. Returns nonzero (a failure recorded) when the model cannot be read.
static int load_mini(gpt2_model *m, bpe **tok, calib_set *cs, long calib_tokens, calib_set *held) {
    *tok = NULL;
    if (gpt2_hf_load(m, "models/mini") || bpe_load(tok, "models/mini/vocab.json", "models/mini/merges.txt")) {
        EXPECT(0, "models/mini: %s", err_msg());
        return 1;
    }
    EXPECT(calib_load(cs, *tok, "data/calib.txt", calib_tokens, 256) == 0, "calib: %s", err_msg());
    EXPECT(calib_load(held, *tok, "data/heldout.txt", 2048, 256) == 0, "held-out: %s", err_msg());
    return 0;
}

// Taylor scores against Σ |g·w| computed here from the tensor table (gradient from the
// training backward pass, which test_train checks against reference gradients) on a mixed
// model; on the bundled model they rank neurons far better than weight magnitude.
static void test_taylor(void) {
    gpt2_model m;
    bpe *tok;
    calib_set cs, held;
    if (load_mini(&m, &tok, &cs, 3 * 256, &held)) return;
    prune_taylor t;
    EXPECT(prune_taylor_compute(&m, &cs, &t) == 0, "taylor: %s", err_msg());
    // The gradient again: windows 0 and 1, each one's last target the next window's first token.
    gpt2_acts a;
    CHECK(gpt2_acts_init(&a, &m, 1, 256, 1) == 0);
    gpt2_grads_zero(&m, &a);
    int tg[256];
    for (int w = 0; w < 2; w++) {
        for (int i = 0; i < 256; i++) tg[i] = cs.ids[w * 256 + i + 1];
        gpt2_train_forward(&m, &a, cs.ids + w * 256);
        gpt2_train_ce(&a, m.cfg.vocab_size, tg, 1);
        gpt2_backward(&m, &a);
    }
    const int E = 256, D = 32, W = 256, F = 1024;  // n_embd, head size, attention and MLP width
    double worst = 0;
    for (int l = 0; l < 6; l += 5) {
        wmat *qkv = gpt2_tensor_mat(&m, GPT2_T_QKV, l), *out = gpt2_tensor_mat(&m, GPT2_T_OUT, l);
        wmat *up = gpt2_tensor_mat(&m, GPT2_T_UP, l), *down = gpt2_tensor_mat(&m, GPT2_T_DOWN, l);
        float *qb = *gpt2_tensor_vec(&m, GPT2_T_QKV_BIAS, l), *ub = *gpt2_tensor_vec(&m, GPT2_T_UP_BIAS, l);
        const float *wq = qkv->data, *wo = out->data, *wu = up->data, *wd = down->data;
        const float *gq = gpt2_grad(&m, &a, wq), *go = gpt2_grad(&m, &a, wo), *gu = gpt2_grad(&m, &a, wu);
        const float *gd = gpt2_grad(&m, &a, wd), *gqb = gpt2_grad(&m, &a, qb), *gub = gpt2_grad(&m, &a, ub);
        for (int h = 0; h < 8; h += 3) {
            double s = 0;
            for (int r = 0; r < 3 * W; r++) {
                if ((r % W) / D != h) continue;  // q, k and v rows of head h
                for (int c = 0; c < E; c++) s += fabs((double)gq[r * E + c] * wq[r * E + c]);
                s += fabs((double)gqb[r] * qb[r]);
            }
            for (int r = 0; r < E; r++)
                for (int e = h * D; e < (h + 1) * D; e++) s += fabs((double)go[r * W + e] * wo[r * W + e]);
            worst = fmax(worst, fabs(t.head[l * t.max_head + h] - s) / s);
        }
        for (int j = 0; j < F; j += 101) {
            double s = fabs((double)gub[j] * ub[j]);
            for (int c = 0; c < E; c++) s += fabs((double)gu[j * E + c] * wu[j * E + c]) + fabs((double)gd[c * F + j] * wd[c * F + j]);
            worst = fmax(worst, fabs(t.ff[l * t.max_ff + j] - s) / s);
        }
    }
    EXPECT_CLOSE("taylor scores vs sum |g.w| over each unit's weights (relative)", worst, 1e-9);
    gpt2_acts_free(&a);
    prune_taylor_free(&t);

    char notes[4096];
    prune_opts mag = {.ffn = 0.25, .ffn_multiple = 256, .score = PRUNE_SCORE_MAGNITUDE, .comp = PRUNE_COMP_NONE, .damp = 0.01};
    prune_opts tay = mag;
    tay.score = PRUNE_SCORE_TAYLOR;
    gpt2_model pm, pt;
    EXPECT(prune_model(&m, &cs, &mag, &pm, notes, sizeof notes) == 0, "prune: %s", err_msg());
    EXPECT(prune_model(&m, &cs, &tay, &pt, notes, sizeof notes) == 0, "prune: %s", err_msg());
    double km = mean_kl(&m, &pm, held.ids, held.n_windows, held.ctx), kt = mean_kl(&m, &pt, held.ids, held.n_windows, held.ctx);
    printf("MLP -25%%, no compensation, held-out KL: magnitude %.4f, taylor (%d calibration tokens) %.4f\n", km, 3 * 256, kt);
    EXPECT(kt <= 0.5 * km, "taylor's KL %.4f is not at most half of magnitude's %.4f", kt, km);
    gpt2_model_free(&pm), gpt2_model_free(&pt);
    calib_free(&cs), calib_free(&held);
    bpe_free(tok);
    gpt2_model_free(&m);
}

static void test_pipeline(void) {
    gpt2_model m;
    bpe *tok;
    calib_set cs, held;
    if (load_mini(&m, &tok, &cs, 8192, &held)) return;
    char notes[4096];
    prune_opts plain = {.ffn = 0.25, .ffn_multiple = 256, .score = PRUNE_SCORE_ACT, .comp = PRUNE_COMP_NONE, .damp = 0.01};
    prune_opts best = {.ffn = 0.25, .ffn_multiple = 256, .score = PRUNE_SCORE_FLUCT, .comp = PRUNE_COMP_REFIT, .damp = 0.01};
    gpt2_model a, b;
    EXPECT(prune_model(&m, &cs, &plain, &a, notes, sizeof notes) == 0, "prune: %s", err_msg());
    EXPECT(prune_model(&m, &cs, &best, &b, notes, sizeof notes) == 0, "prune: %s", err_msg());
    EXPECT(a.cfg.n_ff_arr[0] == 768 && b.cfg.n_ff_arr[5] == 768, "25%% of 1024 neurons removed: %d", b.cfg.n_ff_arr[0]);
    double ka = mean_kl(&m, &a, held.ids, held.n_windows, held.ctx), kb = mean_kl(&m, &b, held.ids, held.n_windows, held.ctx);
    printf("MLP -25%%, held-out KL: act scores, no compensation %.4f; fluct + refit %.4f (ratio %.2f)\n", ka, kb, kb / ka);
    EXPECT(kb <= 0.5 * ka && ka > 0.01, "calibrated + refit KL %.4f is not at most half of %.4f", kb, ka);
    gpt2_model_free(&a), gpt2_model_free(&b);

    // --target-params: the budget is met (not by far more than one option's step), and the
    // allocation measured per layer costs less KL than a uniform cut of the same size.
    prune_opts uni = {.heads = 0.25, .ffn = 0.4375, .ffn_multiple = 32, .score = PRUNE_SCORE_FLUCT,
                      .comp = PRUNE_COMP_REFIT, .damp = 0.01};
    EXPECT(prune_model(&m, &cs, &uni, &a, notes, sizeof notes) == 0, "uniform: %s", err_msg());
    prune_opts bud = {.target_params = gpt2_param_count(&a.cfg), .ffn_multiple = 32, .score = PRUNE_SCORE_FLUCT,
                      .comp = PRUNE_COMP_REFIT, .damp = 0.01};
    EXPECT(prune_model(&m, &cs, &bud, &b, notes, sizeof notes) == 0, "--target-params: %s", err_msg());
    size_t pb = gpt2_param_count(&b.cfg);
    EXPECT(pb <= bud.target_params && pb >= bud.target_params - 50000, "budget %zu: the allocation keeps %zu",
           bud.target_params, pb);
    int differs = 0;
    for (int l = 0; l < b.cfg.n_layer; l++) differs |= gpt2_n_ff(&b.cfg, l) != gpt2_n_ff(&b.cfg, 0);
    ka = mean_kl(&m, &a, held.ids, held.n_windows, held.ctx), kb = mean_kl(&m, &b, held.ids, held.n_windows, held.ctx);
    printf("%zu parameters, held-out KL: uniform (heads -25%%, MLP -43.75%%) %.4f; --target-params %.4f (ratio %.2f)\n%s",
           pb, ka, kb, kb / ka, notes);
    EXPECT(kb <= 0.85 * ka && differs, "the allocation's KL %.4f is not below 0.85 x the uniform cut's %.4f", kb, ka);
    gpt2_model_free(&a), gpt2_model_free(&b);

    // The KL of dropping a block alone, as prune_layer_kl measures it, equals the KL of the model built without it.
    double kl[6];
    prune_layer_kl(&m, &held, 2, kl);
    int lo = 0;
    for (int l = 1; l < 6; l++) lo = kl[l] < kl[lo] ? l : lo;
    prune_mask pm;
    prune_mask_init(&pm, &m.cfg);
    pm.layer[lo] = 0;
    EXPECT(prune_apply(&m, &pm, &a) == 0, "apply: %s", err_msg());
    double direct = mean_kl(&m, &a, held.ids, 2, held.ctx);
    EXPECT_CLOSE("KL of dropping the least costly block vs the model without it (relative)", fabs(direct - kl[lo]) / direct, 1e-4);
    EXPECT(kl[0] > 10 * kl[lo], "block 0 (KL %.3f) should matter far more than block %d (%.3f)", kl[0], lo, kl[lo]);
    gpt2_model_free(&a);
    prune_mask_free(&pm);

    // Block influence against 1 - cos(x_l, x_l+1) from residual streams taken here (the forward
    // pass stopped after l and l + 1 blocks; the embeddings summed by hand for block 0's input).
    {
        double bi[6], ref[6] = {0};
        prune_block_influence(&m, &held, 2, bi);
        int T = held.ctx, E = m.cfg.n_embd;
        gpt2_state s;
        CHECK(gpt2_state_init(&s, &m, T) == 0);
        float *x = xmalloc((size_t)T * E * sizeof *x), *y = xmalloc((size_t)T * E * sizeof *y);
        const float *wte = m.embd.data;
        for (int w = 0; w < 2; w++) {
            const int *ids = held.ids + w * T;
            for (int t = 0; t < T; t++)
                for (int i = 0; i < E; i++) x[t * E + i] = wte[(size_t)ids[t] * E + i] + m.wpe[(size_t)t * E + i];
            for (int l = 0; l < 6; l++) {
                gpt2_state_reset(&s);
                s.stop_after = l + 1;
                gpt2_forward(&m, &s, ids, T, 0);
                memcpy(y, s.x, (size_t)T * E * sizeof *y);
                for (int t = 0; t < T; t++) {
                    double xy = 0, xx = 0, yy = 0;
                    for (int i = 0; i < E; i++) {
                        double u = x[t * E + i], v = y[t * E + i];
                        xy += u * v, xx += u * u, yy += v * v;
                    }
                    ref[l] += (1 - xy / sqrt(xx * yy)) / (2.0 * T);
                }
                memcpy(x, y, (size_t)T * E * sizeof *x);
            }
        }
        double worst = 0;
        for (int l = 0; l < 6; l++) worst = fmax(worst, fabs(bi[l] - ref[l]) / ref[l]);
        EXPECT_CLOSE("block influence vs 1 - cos of the residual streams (relative)", worst, 1e-6);
        s.stop_after = 0;
        gpt2_state_free(&s);
        free(x), free(y);
    }

    // Asking for the impossible: refused, naming the option.
#define BAD(h, f, d, mult) {.heads = h, .ffn = f, .drop_layers = d, .ffn_multiple = mult, .score = PRUNE_SCORE_FLUCT, \
                               .comp = PRUNE_COMP_REFIT, .damp = 0.01}
    struct {
        prune_opts o;
        const char *says;
    } bad[] = {
        {BAD(1.0, 0, 0, 256), "--heads"},
        {BAD(0.95, 0, 0, 256), "--heads"},
        {BAD(0, 0.9, 0, 256), "--ffn-multiple"},
        {BAD(0, 0, 6, 256), "--drop-layers"},
        {BAD(0, 0.25, 0, 0), "--ffn-multiple"},
        {{.target_params = 100000000, .ffn_multiple = 32, .comp = PRUNE_COMP_REFIT}, "--target-params"},
        {{.target_params = 1000, .ffn_multiple = 32, .comp = PRUNE_COMP_REFIT}, "--target-params"},
        {{.target_params = 5000000, .heads = 0.25, .ffn_multiple = 32, .comp = PRUNE_COMP_REFIT}, "--target-params"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = prune_model(&m, &cs, &bad[i].o, &a, notes, sizeof notes);
        EXPECT(rc == ERR_ARG && strstr(err_msg(), bad[i].says), "bad option %zu: rc %d, '%s'", i, rc, err_msg());
        err_clear();
    }
    gpt2_model q;
    CHECK(gpt2_hf_load(&q, "models/mini") == 0);
    CHECK(gpt2_model_convert(&q, QTYPE_Q8_0) == 0);
    EXPECT(prune_model(&q, &cs, &best, &a, notes, sizeof notes) == ERR_ARG && strstr(err_msg(), "fp32"),
           "a quantized model is refused: %s", err_msg());
    err_clear();
    gpt2_model_free(&q);
    calib_free(&cs), calib_free(&held);
    bpe_free(tok);
    gpt2_model_free(&m);
}

int main(void) {
    printf("kernels: %s\n", kernels_init());
    test_apply(0);
    test_apply(1);
    test_compensate();
    test_scores();
    test_taylor();
    test_pipeline();
    return TEST_DONE();
}
