// test_shapes.c: models whose shape differs per layer.
//
// 1. tiny-pruned-hf (../shared/testdata/oracle): a head-pruned GPT-2 as transformers saves
//    it (config.pruned_heads, pruned tensor shapes, narrowed n_inner), with logits, loss
//    and greedy tokens from an independent float64 implementation: load, match, save as HF,
//    reload, match again.
// 2. A model built here with different heads and MLP widths per layer, a layer with no
//    attention, a layer with no MLP, and one low-rank (factorized) linear of each kind:
//    its logits equal those of the dense GPT-2 built from the same weights (factor
//    products materialized, pruned heads and missing neurons as zero rows and columns);
//    generation through the KV cache equals the batch pass; the training forward equals
//    the inference forward; the backward pass matches central differences for every
//    tensor kind, factors included; F16 storage and GPTQ/AWQ run on it.
#include "harness.h"
#include "compress/awq.h"
#include "compress/compress.h"
#include "compress/plan.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "eval/eval.h"
#include "kernels/kernels.h"
#include "model/gpt2_acts.h"
#include "modelfile/modelfile.h"
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// The oracle's float32 tolerances (its README): logits 1e-4 absolute, loss 1e-5.
#define TOL_ORACLE_LOGITS 1e-4
#define TOL_ORACLE_LOSS 1e-5
// Non-uniform model vs its dense twin, relative to the logits' largest magnitude: the same
// arithmetic in another order (B·(A·x) vs (B·A)·x, skipped zero heads); measured 5.2e-7.
#define TOL_TWIN 2e-6
// Token-by-token through the KV cache vs one batch, same scale; measured 5.0e-7.
#define TOL_CACHE 2e-6
// Training forward (packed GEMM) vs inference forward, same scale; measured 4.6e-7.
#define TOL_TRAIN_FWD 2e-6
// AWQ folds (W diag(s), what feeds it diag(1/s)), same scale; measured 4.1e-7 (AVX2) to
// 6.7e-7 (ref).
#define TOL_AWQ_FOLD 1e-6

static double nll(const float *x, int V, int y) {
    double mx = x[0], s = 0;
    for (int i = 1; i < V; i++) mx = fmax(mx, x[i]);
    for (int i = 0; i < V; i++) s += exp(x[i] - mx);
    return log(s) + mx - x[y];
}

static int argmax(const float *x, int V) {
    int b = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

// Logits (B, T, V) of m for B sequences of T ids, each run from an empty cache.
static float *logits_of(const gpt2_model *m, const int *ids, int B, int T) {
    size_t V = (size_t)m->cfg.vocab_size;
    float *out = xmalloc((size_t)B * T * V * sizeof(float));
    gpt2_state s;
    CHECK(gpt2_state_init(&s, m, T) == 0);
    for (int b = 0; b < B; b++) {
        gpt2_state_reset(&s);
        gpt2_forward(m, &s, ids + (size_t)b * T, T, 1);
        memcpy(out + (size_t)b * T * V, s.logits, (size_t)T * V * sizeof(float));
    }
    gpt2_state_free(&s);
    return out;
}

// --- 1. the pruned oracle

static void check_pruned(const gpt2_model *m, const char *dir, const char *what) {
    char label[256];
    size_t n_in, n_tg, n_lg, n_loss, n_p, n_g;
    int *in = read_bin(dir, "input_tokens.i32.bin", 4, &n_in);
    int *tg = read_bin(dir, "targets.i32.bin", 4, &n_tg);
    float *ref = read_bin(dir, "logits.f32.bin", 4, &n_lg);
    double *loss_ref = read_bin(dir, "loss.f64.bin", 8, &n_loss);
    int *prompt = read_bin(dir, "gen_prompt.i32.bin", 4, &n_p);
    int *gen = read_bin(dir, "gen_tokens.i32.bin", 4, &n_g);
    if (!in || !tg || !ref || !loss_ref || !prompt || !gen) goto out;
    int V = m->cfg.vocab_size, B = 2, T = (int)(n_in / 2);
    EXPECT(n_lg == (size_t)B * T * V && n_tg == n_in, "%s: reference shapes", what);
    float *lg = logits_of(m, in, B, T);
    snprintf(label, sizeof label, "%s: logits [%dx%dx%d]", what, B, T, V);
    EXPECT_CLOSE(label, harness_maxdiff(lg, ref, (size_t)B * T * V), TOL_ORACLE_LOGITS);
    double loss = 0;
    for (int i = 0; i < B * T; i++) loss += nll(lg + (size_t)i * V, V, tg[i]);
    loss /= B * T;
    snprintf(label, sizeof label, "%s: mean loss %.6f", what, loss);
    EXPECT_CLOSE(label, fabs(loss - loss_ref[0]), TOL_ORACLE_LOSS);
    // the training forward and cross-entropy on the same batch
    gpt2_acts a;
    EXPECT(gpt2_acts_init(&a, m, B, T, 1) == 0, "%s: acts: %s", what, err_msg());
    gpt2_train_forward(m, &a, in);
    snprintf(label, sizeof label, "%s: training forward logits", what);
    EXPECT_CLOSE(label, harness_maxdiff(a.logits, ref, (size_t)B * T * V), TOL_ORACLE_LOGITS);
    double tloss = gpt2_train_ce(&a, V, tg, 0);
    snprintf(label, sizeof label, "%s: training loss %.6f", what, tloss);
    EXPECT_CLOSE(label, fabs(tloss - loss_ref[0]), TOL_ORACLE_LOSS);
    gpt2_acts_free(&a);
    // greedy generation through the KV cache: the reference holds prompt + new tokens
    int P = (int)n_p, N = (int)n_g - P, ok = 1;
    gpt2_state s;
    CHECK(gpt2_state_init(&s, m, P) == 0);
    gpt2_forward(m, &s, prompt, P, 0);
    for (int i = 0; i < N; i++) {
        int t = argmax(s.logits, V);
        ok &= t == gen[P + i];
        gpt2_forward(m, &s, &t, 1, 0);
    }
    gpt2_state_free(&s);
    EXPECT(ok, "%s: greedy tokens differ from the reference", what);
    if (ok) printf("%s: %d greedy tokens ... ok\n", what, N);
    free(lg);
out:
    free(in), free(tg), free(ref), free(loss_ref), free(prompt), free(gen);
}

// m written as a GGUF (shrink-gpt2 for these shapes) and read back: the same config, weights
// and removed heads from an F32 file; from Q8_0 (with fallbacks where a width is not a block
// multiple) the same stored bytes and the same logits as the quantized model in memory.
static void gguf_roundtrip(const gpt2_model *m, const char *path, const char *what) {
    gpt2_model back;
    int NH = m->cfg.n_embd / m->cfg.head_dim;
    EXPECT(gpt2_gguf_save(m, NULL, path, 0) == 0, "%s: save GGUF: %s", what, err_msg());
    if (gpt2_gguf_load(&back, path) == 0) {
        EXPECT(memcmp(&back.cfg, &m->cfg, sizeof m->cfg) == 0 && back.n_floats == m->n_floats &&
                   memcmp(back.params, m->params, m->n_floats * sizeof(float)) == 0,
               "%s: GGUF F32 round trip changed the model", what);
        EXPECT(!m->removed_heads == !back.removed_heads &&
                   (!m->removed_heads ||
                    memcmp(m->removed_heads, back.removed_heads, (size_t)m->cfg.n_layer * NH) == 0),
               "%s: removed heads lost", what);
        gpt2_model_free(&back);
    } else {
        EXPECT(0, "%s: load GGUF: %s", what, err_msg());
    }
    gpt2_model q;
    gpt2_config c = m->cfg;
    gpt2_model_alloc(&q, &c);
    memcpy(q.params, m->params, m->n_floats * sizeof(float));
    gpt2_plan p;
    char notes[2048];
    EXPECT(plan_build(&p, &c, "q8_0", NULL, notes, sizeof notes) == 0, "%s: plan", what);
    EXPECT(gpt2_model_quantize(&q, &p, NULL, NULL) == 0, "%s: quantize: %s", what, err_msg());
    EXPECT(gpt2_gguf_save(&q, NULL, path, GPT2_GGUF_STORED) == 0, "%s: save Q8_0: %s", what, err_msg());
    if (gpt2_gguf_load(&back, path) == 0) {
        int same = 1;
        for (int i = 0; i < p.n; i++) {
            const wmat *a = gpt2_mat(&q, i), *b = gpt2_mat(&back, i);
            size_t n = (size_t)a->rows * a->cols;  // an empty matrix is not stored: no type to keep
            same &= a->rows == b->rows && a->cols == b->cols &&
                    (n == 0 || (a->type == b->type && memcmp(a->data, b->data, a->rows * qtype_row_bytes(a->type, a->cols)) == 0));
        }
        int ids[16];
        for (int i = 0; i < 16; i++) ids[i] = (i * 7 + 1) % c.vocab_size;
        float *la = logits_of(&q, ids, 1, 16), *lb = logits_of(&back, ids, 1, 16);
        EXPECT(same, "%s: the Q8_0 GGUF reads back other matrices", what);
        EXPECT(memcmp(la, lb, (size_t)16 * c.vocab_size * sizeof(float)) == 0, "%s: the Q8_0 GGUF gives other logits", what);
        free(la), free(lb);
        gpt2_model_free(&back);
    } else {
        EXPECT(0, "%s: load Q8_0 GGUF: %s", what, err_msg());
    }
    gpt2_plan_free(&p);
    gpt2_model_free(&q);
}

static void test_pruned_oracle(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/testdata/oracle/tiny-pruned-hf", shared_dir());
    gpt2_model m;
    if (gpt2_hf_load(&m, dir)) {
        EXPECT(0, "tiny-pruned-hf: %s", err_msg());
        err_clear();
        return;
    }
    const gpt2_config *c = &m.cfg;
    EXPECT(c->head_dim == 8 && gpt2_n_head(c, 0) == 3 && gpt2_n_head(c, 1) == 4 && gpt2_n_head(c, 2) == 2 &&
               gpt2_n_ff(c, 0) == 48 && gpt2_n_ff(c, 2) == 48,
           "tiny-pruned-hf: heads %d/%d/%d of %d, width %d", gpt2_n_head(c, 0), gpt2_n_head(c, 1), gpt2_n_head(c, 2),
           c->head_dim, gpt2_n_ff(c, 0));
    EXPECT(m.removed_heads && m.removed_heads[1] && m.removed_heads[2 * 4 + 0] && m.removed_heads[2 * 4 + 3] &&
               !m.removed_heads[0] && !m.removed_heads[4 + 1],
           "tiny-pruned-hf: the removed heads recorded");
    check_pruned(&m, dir, "tiny-pruned-hf");

    // Save as transformers would and reload: the same weights, config and pruned_heads.
    char tmp[] = "/tmp/shrink_test_shapes_XXXXXX";
    EXPECT(mkdtemp(tmp) != NULL, "mkdtemp");
    char *out = path_join(tmp, "pruned");
    EXPECT(gpt2_hf_save(&m, out, NULL, 0) == 0, "save pruned: %s", err_msg());
    char *cfg_path = path_join(out, "config.json"), *text = NULL;
    size_t len = 0;
    EXPECT(file_read_all(cfg_path, &text, &len) == 0 && strstr(text, "\"pruned_heads\": {\"0\": [1], \"2\": [0, 3]}") &&
               strstr(text, "\"n_head\": 4") && strstr(text, "\"n_inner\": 48"),
           "saved config.json: %s", text ? text : "(unreadable)");
    gpt2_model back;
    if (gpt2_hf_load(&back, out) == 0) {
        EXPECT(memcmp(&back.cfg, &m.cfg, sizeof m.cfg) == 0 && back.n_floats == m.n_floats &&
                   memcmp(back.params, m.params, m.n_floats * sizeof(float)) == 0,
               "pruned model: HF round trip changed the model");
        check_pruned(&back, dir, "tiny-pruned-hf saved and reloaded");
        gpt2_model_free(&back);
    } else {
        EXPECT(0, "reload pruned: %s", err_msg());
    }
    // llama.cpp's gpt2 layout cannot hold it: it goes to shrink-gpt2, and comes back the same.
    char *gg = path_join(tmp, "pruned.gguf");
    EXPECT(strcmp(gpt2_gguf_arch(&m.cfg), "shrink-gpt2") == 0, "pruned model's GGUF layout");
    gguf_roundtrip(&m, gg, "tiny-pruned-hf");
    unlink(gg);
    unlink(cfg_path), free(cfg_path), free(text);
    char *st = path_join(out, "model.safetensors");
    unlink(st), free(st);
    rmdir(out), free(out), free(gg);
    rmdir(tmp);
    gpt2_model_free(&m);
}

// --- 2. a model of mixed shapes and its dense twin

enum { V = 61, CTX = 32, C = 32, HS = 8, NH = 4, L = 4, FMAX = 56 };
// kept heads of each layer, as original head indices (-1 ends)
static const int kept[L][NH + 1] = {{0, 2, 3, -1}, {0, 1, 2, 3, -1}, {-1}, {1, 3, -1}};
static const int width[L] = {40, 0, 24, FMAX};
static const int ranks[L][GPT2_LINEARS] = {{5, 0, 0, 0}, {0, 6, 0, 0}, {0, 0, 7, 4}, {0, 0, 0, 0}};

static int n_kept(int l) {
    int n = 0;
    while (kept[l][n] >= 0) n++;
    return n;
}

static void mixed_config(gpt2_config *c) {
    gpt2_config_init(c, V, CTX, C, L, NH, FMAX);
    for (int l = 0; l < L; l++) {
        c->n_head_arr[l] = n_kept(l);
        c->n_ff_arr[l] = width[l];
        for (int k = 0; k < GPT2_LINEARS; k++) c->rank_arr[l][k] = ranks[l][k];
    }
    CHECK(gpt2_config_validate(c, "mixed") == 0);
}

// Random weights large enough that GELU, softmax and the LayerNorms are non-linear (the
// oracle's tiny-hot scale), every bias and LayerNorm parameter away from 0 and 1.
static void hot_weights(gpt2_model *m, uint64_t seed) {
    rng r;
    rng_init(&r, seed);
    for (size_t i = 0; i < m->n_floats; i++) m->params[i] = (rng_f32(&r) - 0.5f) * 0.6f;
    for (int l = 0; l < L; l++) {
        gpt2_layer *ly = &m->layers[l];
        for (int i = 0; i < C; i++) ly->ln_1_w[i] += 1.0f, ly->ln_2_w[i] += 1.0f;
    }
    for (int i = 0; i < C; i++) m->ln_f_w[i] += 1.0f;
}

// dst (out, in) = the dense matrix of linear lin (B·A when factorized), in double.
static void materialize(const gpt2_linear *lin, double *dst) {
    const float *a = lin->w.data;
    if (!lin->w2.rows) {
        for (int i = 0; i < lin->w.rows * lin->w.cols; i++) dst[i] = a[i];
        return;
    }
    const float *b = lin->w2.data;
    int out = lin->w2.rows, r = lin->w2.cols, in = lin->w.cols;
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) {
            double s = 0;
            for (int k = 0; k < r; k++) s += (double)b[(size_t)o * r + k] * a[(size_t)k * in + i];
            dst[(size_t)o * in + i] = s;
        }
}

// The dense GPT-2 (NH heads, MLP width FMAX everywhere) computing what the mixed model m
// computes: kept heads at their original places, other heads' rows and columns zero (a
// zero q, k and v head outputs zero), missing MLP neurons zero.
static void dense_twin(gpt2_model *m, gpt2_model *d) {
    gpt2_config c;
    gpt2_config_init(&c, V, CTX, C, L, NH, FMAX);
    gpt2_model_alloc(d, &c);
    memset(d->params, 0, d->n_floats * sizeof(float));
    memcpy((float *)d->embd.data, m->embd.data, (size_t)V * C * sizeof(float));
    memcpy(d->wpe, m->wpe, (size_t)CTX * C * sizeof(float));
    memcpy(d->ln_f_w, m->ln_f_w, C * sizeof(float));
    memcpy(d->ln_f_b, m->ln_f_b, C * sizeof(float));
    double *w = xmalloc((size_t)3 * C * FMAX * sizeof(double));
    for (int l = 0; l < L; l++) {
        gpt2_layer *s = &m->layers[l], *t = &d->layers[l];
        memcpy(t->ln_1_w, s->ln_1_w, C * sizeof(float)), memcpy(t->ln_1_b, s->ln_1_b, C * sizeof(float));
        memcpy(t->ln_2_w, s->ln_2_w, C * sizeof(float)), memcpy(t->ln_2_b, s->ln_2_b, C * sizeof(float));
        int W = n_kept(l) * HS, F = width[l];
        float *qkv = (float *)t->lin[GPT2_LIN_QKV].w.data, *qkv_b = t->lin[GPT2_LIN_QKV].bias;
        float *out = (float *)t->lin[GPT2_LIN_OUT].w.data;
        materialize(&s->lin[GPT2_LIN_QKV], w);
        for (int j = 0; j < n_kept(l); j++)
            for (int part = 0; part < 3; part++)
                for (int i = 0; i < HS; i++) {
                    int src = part * W + j * HS + i, dst = part * C + kept[l][j] * HS + i;
                    for (int k = 0; k < C; k++) qkv[(size_t)dst * C + k] = (float)w[(size_t)src * C + k];
                    qkv_b[dst] = s->lin[GPT2_LIN_QKV].bias[src];
                }
        materialize(&s->lin[GPT2_LIN_OUT], w);
        for (int o = 0; o < C; o++)
            for (int j = 0; j < n_kept(l); j++)
                for (int i = 0; i < HS; i++) out[(size_t)o * C + kept[l][j] * HS + i] = (float)w[(size_t)o * W + j * HS + i];
        memcpy(t->lin[GPT2_LIN_OUT].bias, s->lin[GPT2_LIN_OUT].bias, C * sizeof(float));
        float *up = (float *)t->lin[GPT2_LIN_UP].w.data, *down = (float *)t->lin[GPT2_LIN_DOWN].w.data;
        materialize(&s->lin[GPT2_LIN_UP], w);
        for (int i = 0; i < F * C; i++) up[i] = (float)w[i];
        memcpy(t->lin[GPT2_LIN_UP].bias, s->lin[GPT2_LIN_UP].bias, (size_t)F * sizeof(float));
        materialize(&s->lin[GPT2_LIN_DOWN], w);
        for (int o = 0; o < C; o++)
            for (int i = 0; i < F; i++) down[(size_t)o * FMAX + i] = (float)w[(size_t)o * F + i];
        memcpy(t->lin[GPT2_LIN_DOWN].bias, s->lin[GPT2_LIN_DOWN].bias, C * sizeof(float));
    }
    free(w);
}

static void test_twin(gpt2_model *m, const int *ids, int B, int T) {
    gpt2_model d;
    dense_twin(m, &d);
    size_t n = (size_t)B * T * V;
    float *a = logits_of(m, ids, B, T), *b = logits_of(&d, ids, B, T);
    double scale = harness_maxabs(b, n);
    EXPECT(scale > 1, "the twin's logits are too small to test anything (max %g)", scale);
    EXPECT_CLOSE("mixed shapes vs dense twin: logits (relative)", harness_maxdiff(a, b, n) / scale, TOL_TWIN);
    free(a), free(b);
    gpt2_model_free(&d);
}

// Token by token through the KV cache equals the batch pass.
static void test_cache(const gpt2_model *m, const int *ids, int T) {
    float *batch = logits_of(m, ids, 1, T), *step = xmalloc((size_t)T * V * sizeof(float));
    gpt2_state s;
    CHECK(gpt2_state_init(&s, m, T) == 0);
    for (int t = 0; t < T; t++) {
        gpt2_forward(m, &s, ids + t, 1, 0);
        memcpy(step + (size_t)t * V, s.logits, V * sizeof(float));
    }
    EXPECT(s.n_past == T, "cache holds %d positions", s.n_past);
    gpt2_state_free(&s);
    EXPECT_CLOSE("mixed shapes: KV-cache steps vs batch (relative)", harness_maxdiff(step, batch, (size_t)T * V) / harness_maxabs(batch, (size_t)T * V),
                 TOL_CACHE);
    free(batch), free(step);
}

static void test_train_forward(const gpt2_model *m, const int *ids, int B, int T) {
    float *ref = logits_of(m, ids, B, T);
    size_t n = (size_t)B * T * V;
    for (int backward = 0; backward < 2; backward++) {
        gpt2_acts a;
        EXPECT(gpt2_acts_init(&a, m, B, T, backward) == 0, "acts: %s", err_msg());
        gpt2_train_forward(m, &a, ids);
        EXPECT_CLOSE(backward ? "mixed shapes: training forward vs inference (relative)"
                              : "mixed shapes: forward-only plan vs inference (relative)",
                     harness_maxdiff(a.logits, ref, n) / harness_maxabs(ref, n), TOL_TRAIN_FWD);
        gpt2_acts_free(&a);
    }
    free(ref);
}

// Central differences of the mean loss on three elements of every tensor kind (the largest
// |grad| one and two at random), factors included, against the backward pass.
static void test_finite_differences(gpt2_model *m, const int *ids, const int *tg, int B, int T) {
    gpt2_acts a, f;
    EXPECT(gpt2_acts_init(&a, m, B, T, 1) == 0 && gpt2_acts_init(&f, m, B, T, 0) == 0, "acts: %s", err_msg());
    gpt2_grads_zero(m, &a);
    gpt2_train_forward(m, &a, ids);
    gpt2_train_ce(&a, V, tg, 1);
    gpt2_backward(m, &a);
    rng r;
    rng_init(&r, 11);
    double worst = 0;
    int checked = 0, kinds = 0, factor_kinds = 0;
    const float h = 1e-2f;
    for (int id = 0; id < GPT2_T_COUNT; id++) {
        const gpt2_tensor_info *ti = &gpt2_tensors[id];
        // one layer that has this tensor, non-empty
        for (int l = 0; l < (ti->per_layer ? L : 1); l++) {
            int64_t rows, cols;
            if (!gpt2_tensor_shape(&m->cfg, id, l, &rows, &cols) || rows * cols == 0) continue;
            float *w = ti->kind == GPT2_KIND_MATRIX ? (float *)gpt2_tensor_mat(m, id, l)->data : *gpt2_tensor_vec(m, id, l);
            const float *g = gpt2_grad(m, &a, w);
            size_t n = (size_t)(rows * cols), big = 0;
            for (size_t i = 1; i < n; i++)
                if (fabs(g[i]) > fabs(g[big])) big = i;
            size_t pick[3] = {big, rng_u64(&r) % n, rng_u64(&r) % n};
            for (int k = 0; k < 3; k++) {
                float *wp = w + pick[k], w0 = *wp;
                *wp = w0 + h;
                gpt2_train_forward(m, &f, ids);
                double lp = gpt2_train_ce(&f, V, tg, 0);
                *wp = w0 - h;
                gpt2_train_forward(m, &f, ids);
                double lm = gpt2_train_ce(&f, V, tg, 0);
                *wp = w0;
                double fd = (lp - lm) / (2.0 * (double)h), e = fabs(fd - g[pick[k]]) / (1e-5 + 2e-3 * fabs(g[pick[k]]));
                if (!(e <= worst)) worst = e;
                checked++;
            }
            kinds++;
            factor_kinds += strstr(ti->gguf, "_a.") || strstr(ti->gguf, "_b.");
            break;
        }
    }
    char label[160];
    snprintf(label, sizeof label, "mixed shapes: finite differences, %d weights of %d kinds (%d factor kinds)", checked,
             kinds, factor_kinds);
    EXPECT(factor_kinds == 8, "expected both factors of all four linears, got %d factor kinds", factor_kinds);
    EXPECT_CLOSE(label, worst, 1.0);
    gpt2_acts_free(&a), gpt2_acts_free(&f);
}

// F16 storage runs every shape (one row and batches) close to fp32.
static void test_f16(const gpt2_model *m, const int *ids, int T) {
    gpt2_model q;
    gpt2_config c = m->cfg;
    gpt2_model_alloc(&q, &c);
    memcpy(q.params, m->params, m->n_floats * sizeof(float));
    EXPECT(gpt2_model_convert(&q, QTYPE_F16) == 0, "convert: %s", err_msg());
    float *a = logits_of(m, ids, 1, T), *b = logits_of(&q, ids, 1, T);
    double rel = harness_maxdiff(a, b, (size_t)T * V) / harness_maxabs(a, (size_t)T * V);
    printf("mixed shapes in F16: logits within %.2e of fp32 (relative)\n", rel);
    EXPECT(rel > 0 && rel < 5e-3, "F16 logits %.3g from fp32 (relative)", rel);
    free(a), free(b);
    gpt2_model_free(&q);
}

// GPTQ and AWQ over the mixed model (per-matrix fallbacks where a factor's width is not a
// block multiple): the calibration hook, the block streams and the folds see every shape.
static void test_compress(const gpt2_model *m, const int *ids, int n) {
    calib_set cs = {xmalloc(sizeof(int) * 4 * CTX), 4, CTX};
    for (int i = 0; i < 4 * CTX; i++) cs.ids[i] = (i * 13 + 5) % V;
    const compress_method methods[] = {METHOD_GPTQ, METHOD_AWQ_GPTQ};
    for (int k = 0; k < 2; k++) {
        gpt2_model q;
        gpt2_config c = m->cfg;
        gpt2_model_alloc(&q, &c);
        memcpy(q.params, m->params, m->n_floats * sizeof(float));
        compress_opts o = {"q8_0", NULL, methods[k], 0, NULL, 0, 0.01, 0, 0, 0};
        gpt2_plan plan;
        int rc = compress_model_calibrated(&q, &cs, &o, &plan, NULL, 0);
        EXPECT(rc == 0, "%s on mixed shapes: %s", compress_method_name(methods[k]), err_msg());
        if (rc) {
            gpt2_model_free(&q);
            continue;
        }
        int q8 = 0;
        for (int i = 0; i < plan.n; i++) q8 += plan.types[i] == QTYPE_Q8_0;
        agree_result ag;
        EXPECT(eval_agreement(&q, m, ids, (size_t)n, NULL, CTX, CTX, &ag, NULL, NULL) == 0, "agreement");
        printf("mixed shapes, %s q8_0: %d of %d matrices Q8_0, KL %.2e, top-1 %.3f\n", compress_method_name(methods[k]), q8,
               plan.n, ag.kl_mean, ag.top1);
        EXPECT(q8 >= 8 && ag.kl_mean < 1e-3 && ag.top1 > 0.95, "%s: KL %g top-1 %g", compress_method_name(methods[k]),
               ag.kl_mean, ag.top1);
        gpt2_plan_free(&plan);
        gpt2_model_free(&q);
    }
    calib_free(&cs);
}

// AWQ's folds on every shape: a factorized attn_qkv takes attn_output's 1/s in the value
// rows of its second factor, a factorized linear's scale goes into its first factor's
// columns, pruned layers fold over their own widths. The fp32 function must not move.
static void test_awq_folds(const gpt2_model *m, const int *ids, int T) {
    gpt2_model q;
    gpt2_config c = m->cfg;
    gpt2_model_alloc(&q, &c);
    memcpy(q.params, m->params, m->n_floats * sizeof(float));
    rng r;
    rng_init(&r, 9);
    float s[C > FMAX ? C : FMAX];
    int folds = 0;
    for (int l = 0; l < L; l++)
        for (int k = 0; k < GPT2_LIN_DOWN; k++) {
            int out, in;
            gpt2_linear_dims(&c, l, k, &out, &in);
            if (gpt2_n_head(&c, l) == 0 && k != GPT2_LIN_UP) continue;  // no attention to fold into
            if (gpt2_n_ff(&c, l) == 0 && k == GPT2_LIN_UP) continue;
            for (int i = 0; i < in; i++) s[i] = expf((rng_f32(&r) * 2 - 1) * 1.3862944f);
            awq_fold(&q, l, k, s);
            folds++;
        }
    float *a = logits_of(m, ids, 1, T), *b = logits_of(&q, ids, 1, T);
    char label[96];
    snprintf(label, sizeof label, "mixed shapes: %d AWQ folds leave the logits (relative)", folds);
    EXPECT_CLOSE(label, harness_maxdiff(a, b, (size_t)T * V) / harness_maxabs(a, (size_t)T * V), TOL_AWQ_FOLD);
    EXPECT(memcmp(q.params, m->params, m->n_floats * sizeof(float)) != 0, "the folds changed nothing");
    free(a), free(b);
    gpt2_model_free(&q);
}

// Shapes transformers cannot hold go through shrink's config.json keys: ranks (shrink_rank),
// per-layer widths (shrink_n_inner).
static void test_hf_shapes(const gpt2_model *m) {
    char tmp[] = "/tmp/shrink_test_shapes_XXXXXX";
    EXPECT(mkdtemp(tmp) != NULL, "mkdtemp");
    char *gg = path_join(tmp, "mixed.gguf");  // while here: every shape through a GGUF
    gguf_roundtrip(m, gg, "mixed shapes");
    unlink(gg), free(gg);
    err_clear();
    // Every shape, low-rank linears included (config.json shrink_rank), through an HF directory.
    EXPECT(gpt2_hf_save(m, tmp, NULL, 0) == 0, "HF save of mixed shapes: %s", err_msg());
    gpt2_model h;
    int hl = gpt2_hf_load(&h, tmp) == 0;
    EXPECT(hl, "HF reload of mixed shapes: %s", err_msg());
    if (hl) {
        int same = h.cfg.n_layer == m->cfg.n_layer && h.n_floats == m->n_floats;
        for (int l = 0; same && l < m->cfg.n_layer; l++)
            same = !memcmp(h.cfg.rank_arr[l], m->cfg.rank_arr[l], sizeof h.cfg.rank_arr[l]) &&
                   gpt2_n_ff(&h.cfg, l) == gpt2_n_ff(&m->cfg, l) && gpt2_n_head(&h.cfg, l) == gpt2_n_head(&m->cfg, l);
        EXPECT(same && memcmp(h.params, m->params, m->n_floats * sizeof(float)) == 0,
               "mixed shapes through config.json shrink_rank: shapes or weights differ");
        gpt2_model_free(&h);
    }
    gpt2_config c = m->cfg;  // the same widths, all linears dense
    memset(c.rank_arr, 0, sizeof c.rank_arr);
    gpt2_model d;
    gpt2_model_init_random(&d, &c, 1);
    err_clear();
    // Per-layer MLP widths go into shrink_n_inner and come back the same.
    EXPECT(gpt2_hf_save(&d, tmp, NULL, 0) == 0, "HF save of per-layer MLP widths: %s", err_msg());
    gpt2_model e;
    int loaded = gpt2_hf_load(&e, tmp) == 0;
    EXPECT(loaded, "reload: %s", err_msg());
    if (loaded) {
        int same = e.cfg.n_layer == d.cfg.n_layer && e.n_floats == d.n_floats;
        for (int l = 0; same && l < d.cfg.n_layer; l++)
            same = gpt2_n_ff(&e.cfg, l) == gpt2_n_ff(&d.cfg, l) && gpt2_n_head(&e.cfg, l) == gpt2_n_head(&d.cfg, l);
        EXPECT(same && memcmp(e.params, d.params, d.n_floats * sizeof(float)) == 0,
               "per-layer widths through config.json shrink_n_inner: shapes or weights differ");
        gpt2_model_free(&e);
    }
    char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char *f = path_join(tmp, files[i]);
        unlink(f), free(f);
    }
    err_clear();
    gpt2_model_free(&d);
    rmdir(tmp);
}

static void test_mixed(void) {
    gpt2_config c;
    mixed_config(&c);
    gpt2_model m;
    gpt2_model_alloc(&m, &c);
    hot_weights(&m, 7);
    EXPECT(gpt2_n_mats(&c) == 4 * L + 4 + 2, "plan order: %d matrices", gpt2_n_mats(&c));
    int B = 2, T = CTX, n = B * T, *ids = xmalloc((size_t)n * sizeof(int)), *tg = xmalloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) ids[i] = (i * 29 + i / 7) % V, tg[i] = (i * 17 + 3) % V;
    test_twin(&m, ids, B, T);
    test_cache(&m, ids, T);
    test_train_forward(&m, ids, B, T);
    test_finite_differences(&m, ids, tg, B, T);
    test_f16(&m, ids, T);
    test_awq_folds(&m, ids, T);
    test_compress(&m, ids, n);
    test_hf_shapes(&m);
    free(ids), free(tg);
    gpt2_model_free(&m);
}

int main(void) {
    printf("kernels: %s\n", kernels_init());
    test_pruned_oracle();
    test_mixed();
    return TEST_DONE();
}
