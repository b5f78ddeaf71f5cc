// test_gpt2.c: the forward pass against the oracle vectors in ../shared/testdata/oracle.
//
// For each of the six checkpoints: logits at every position, per-position loss and
// mean loss, hidden states (embeddings, each block, after ln_f), greedy generation
// with the KV cache (tokens exact, step logits within tolerance), and that feeding
// the batch token by token through the cache gives the batched logits.
// Tolerances from the oracle README: init-scale models 5e-6 (logits, hidden, loss);
// tiny-hot 1e-4 (logits, hidden) and 1e-5 (loss).
#include "harness.h"
#include "core/dtype.h"
#include "core/err.h"
#include "core/xalloc.h"
#include "eval/eval.h"
#include "kernels/kernels.h"
#include "modelfile/modelfile.h"
#include <string.h>

static double maxdiff_f32(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d;  // NaN propagates as a failure
    }
    return m;
}

static double nll_of(const float *logits, int V, int target) {
    double mx = logits[0], s = 0;
    for (int i = 1; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int i = 0; i < V; i++) s += exp(logits[i] - mx);
    return log(s) + mx - logits[target];
}

static void test_model(const char *name, double tol_logits, double tol_loss, int has_step_logits) {
    char dir[512], label[256];
    snprintf(dir, sizeof dir, "%s/testdata/oracle/%s", shared_dir(), name);
    gpt2_model m;
    int rc = gpt2_hf_load(&m, dir);
    EXPECT(rc == 0, "%s: load failed: %s", name, err_msg());
    if (rc) return;
    const gpt2_config *c = &m.cfg;
    int V = c->vocab_size, C = c->n_embd, L = c->n_layer;
    size_t n_in, n_logits, n_lpp, n_loss, n_emb, n_blk, n_lnf;
    int *in = read_bin(dir, "input_tokens.i32.bin", 4, &n_in);
    int *tg = read_bin(dir, "targets.i32.bin", 4, &n_in);
    float *ref_logits = read_bin(dir, "logits.f32.bin", 4, &n_logits);
    double *ref_lpp = read_bin(dir, "loss_per_position.f64.bin", 8, &n_lpp);
    double *ref_loss = read_bin(dir, "loss.f64.bin", 8, &n_loss);
    float *ref_emb = read_bin(dir, "hidden_embed.f32.bin", 4, &n_emb);
    float *ref_blk = read_bin(dir, "hidden_blocks.f32.bin", 4, &n_blk);
    float *ref_lnf = read_bin(dir, "hidden_lnf.f32.bin", 4, &n_lnf);
    int T = (int)(n_emb / (size_t)C), B = (int)(n_in / (size_t)T);
    EXPECT(n_logits == (size_t)B * T * V && n_blk == (size_t)L * T * C, "%s: reference shapes disagree with config", name);

    gpt2_state s;
    EXPECT(gpt2_state_init(&s, &m, T) == 0, "state init");
    float *trace = xmalloc((size_t)(L + 2) * T * C * sizeof(float));
    float *logits = xmalloc((size_t)B * T * V * sizeof(float));
    double loss = 0, lpp_diff = 0;
    for (int b = 0; b < B; b++) {
        gpt2_state_reset(&s);
        s.trace = b == 0 ? trace : NULL;
        gpt2_forward(&m, &s, in + (size_t)b * T, T, 1);
        memcpy(logits + (size_t)b * T * V, s.logits, (size_t)T * V * sizeof(float));
        for (int t = 0; t < T; t++) {
            double nll = nll_of(s.logits + (size_t)t * V, V, tg[b * T + t]);
            loss += nll;
            double d = fabs(nll - ref_lpp[b * T + t]);
            if (!(d <= lpp_diff)) lpp_diff = d;
        }
    }
    loss /= (double)(B * T);
    snprintf(label, sizeof label, "%s logits [%dx%dx%d]", name, B, T, V);
    EXPECT_CLOSE(label, maxdiff_f32(logits, ref_logits, (size_t)B * T * V), tol_logits);
    snprintf(label, sizeof label, "%s loss per position", name);
    EXPECT_CLOSE(label, lpp_diff, tol_loss);
    snprintf(label, sizeof label, "%s mean loss (%.6f)", name, loss);
    EXPECT_CLOSE(label, fabs(loss - ref_loss[0]), tol_loss);
    snprintf(label, sizeof label, "%s hidden embed", name);
    EXPECT_CLOSE(label, maxdiff_f32(trace, ref_emb, (size_t)T * C), tol_logits);
    snprintf(label, sizeof label, "%s hidden blocks", name);
    EXPECT_CLOSE(label, maxdiff_f32(trace + (size_t)T * C, ref_blk, (size_t)L * T * C), tol_logits);
    snprintf(label, sizeof label, "%s hidden after ln_f", name);
    EXPECT_CLOSE(label, maxdiff_f32(trace + (size_t)(L + 1) * T * C, ref_lnf, (size_t)T * C), tol_logits);

    // The KV cache: sequence 0 one token at a time must give the batched logits.
    gpt2_state_reset(&s);
    s.trace = NULL;
    double inc = 0;
    for (int t = 0; t < T; t++) {
        gpt2_forward(&m, &s, in + t, 1, 0);
        double d = maxdiff_f32(s.logits, logits + (size_t)t * V, (size_t)V);
        if (!(d <= inc)) inc = d;
    }
    snprintf(label, sizeof label, "%s KV-cache token-by-token vs batch", name);
    EXPECT_CLOSE(label, inc, tol_logits);
    gpt2_state_free(&s);

    // Greedy generation through eval_generate (KV cache), exact tokens.
    size_t n_prompt, n_gen, n_step = 0;
    int *prompt = read_bin(dir, "gen_prompt.i32.bin", 4, &n_prompt);
    int *ref_gen = read_bin(dir, "gen_tokens.i32.bin", 4, &n_gen);
    int out[64] = {0};
    gen_opts o = {(int)n_gen, 0.0f, 0, 1.0f, 1, -1};
    gen_stats st;
    int got = eval_generate(&m, prompt, (int)n_prompt, &o, NULL, NULL, out, &st);
    int same = got == (int)n_gen && memcmp(out, ref_gen, n_gen * sizeof(int)) == 0;
    EXPECT(same, "%s: greedy tokens differ from the reference", name);
    if (same) printf("%s greedy %zu tokens ... ok (exact)\n", name, n_gen);
    if (has_step_logits) {
        float *ref_step = read_bin(dir, "gen_step_logits.f32.bin", 4, &n_step);
        // Step s: logits at the last position given the prompt plus s new tokens.
        int *seq = xmalloc((n_prompt + n_gen) * sizeof(int));
        memcpy(seq, prompt, n_prompt * sizeof(int));
        memcpy(seq + n_prompt, ref_gen, n_gen * sizeof(int));
        gpt2_state g;
        EXPECT(gpt2_state_init(&g, &m, (int)n_prompt) == 0, "state");
        gpt2_forward(&m, &g, seq, (int)n_prompt, 0);
        double d = maxdiff_f32(g.logits, ref_step, (size_t)V);
        for (size_t k = 1; k < n_gen; k++) {
            gpt2_forward(&m, &g, seq + n_prompt + k - 1, 1, 0);
            double dk = maxdiff_f32(g.logits, ref_step + k * V, (size_t)V);
            if (!(dk <= d)) d = dk;
        }
        snprintf(label, sizeof label, "%s greedy step logits", name);
        EXPECT_CLOSE(label, d, tol_logits);
        gpt2_state_free(&g);
        free(seq);
        free(ref_step);
    }
    free(prompt);
    free(ref_gen);
    free(trace);
    free(logits);
    free(in);
    free(tg);
    free(ref_logits);
    free(ref_lpp);
    free(ref_loss);
    free(ref_emb);
    free(ref_blk);
    free(ref_lnf);
    gpt2_model_free(&m);
}

// The perplexity protocol on a tiny model: compare against a direct computation.
static void test_perplexity_protocol(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/testdata/oracle/tiny-hot", shared_dir());
    gpt2_model m;
    if (gpt2_hf_load(&m, dir)) {
        EXPECT(0, "load: %s", err_msg());
        return;
    }
    int V = m.cfg.vocab_size, n = 150;
    int *ids = xmalloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) ids[i] = (i * 37 + i / 7) % V;
    // Direct: window starts 0, s, 2s...; each position scored once, by the first window covering it.
    int ctx = 40, stride = 15;
    gpt2_state s;
    gpt2_state_init(&s, &m, ctx);
    double sum = 0;
    long cnt = 0;
    char *scored = calloc((size_t)n, 1);
    for (int b = 0;; b += stride) {
        int e = b + ctx < n ? b + ctx : n;
        gpt2_state_reset(&s);
        gpt2_forward(&m, &s, ids + b, e - b, 1);
        for (int p = b + 1; p < e; p++)
            if (!scored[p]) {
                scored[p] = 1;
                sum += nll_of(s.logits + (size_t)(p - 1 - b) * V, V, ids[p]);
                cnt++;
            }
        if (e == n) break;
    }
    ppl_result r;
    EXPECT(eval_perplexity(&m, ids, (size_t)n, NULL, ctx, stride, &r, NULL, NULL) == 0, "eval_perplexity");
    EXPECT(r.tokens == n - 1 && cnt == n - 1, "every token but the first scored once (%ld, %ld)", r.tokens, cnt);
    // eval uses a float log-sum-exp per token, the direct sum doubles: agree to 1e-6 nats
    EXPECT_CLOSE("perplexity protocol vs direct", fabs(r.nll - sum / cnt), 1e-6);
    EXPECT(r.windows == eval_num_windows((size_t)n, ctx, stride), "window count");
    // stride == ctx: each window's first token is not scored
    EXPECT(eval_perplexity(&m, ids, (size_t)n, NULL, ctx, ctx, &r, NULL, NULL) == 0, "eval stride=ctx");
    EXPECT(r.tokens == n - (n + ctx - 1) / ctx, "stride=ctx scores n - windows tokens (%ld)", r.tokens);
    err_clear();
    EXPECT(eval_perplexity(&m, ids, 1, NULL, ctx, stride, &r, NULL, NULL) == ERR_ARG, "one token is an error");
    err_clear();
    EXPECT(eval_perplexity(&m, ids, (size_t)n, NULL, 1, 1, &r, NULL, NULL) == ERR_ARG, "ctx 1 is an error");
    err_clear();
    EXPECT(eval_perplexity(&m, ids, (size_t)n, NULL, ctx, ctx + 1, &r, NULL, NULL) == ERR_ARG, "stride > ctx is an error");
    err_clear();
    free(scored);
    free(ids);
    gpt2_state_free(&s);
    gpt2_model_free(&m);
}

// Storing the matrices as F16 (gpt2_model_convert) must reproduce the oracle's
// tiny-f16 logits, computed from tiny's weights all rounded to f16. convert rounds
// only the matrices, so the vectors and wpe are rounded here first; then the same
// init-scale tolerance applies.
static void test_convert_f16(const char *name, const char *f16_name, double tol) {
    char dir[512], ref_dir[512], label[128];
    snprintf(dir, sizeof dir, "%s/testdata/oracle/%s", shared_dir(), name);
    snprintf(ref_dir, sizeof ref_dir, "%s/testdata/oracle/%s", shared_dir(), f16_name);
    gpt2_model m;
    if (gpt2_hf_load(&m, dir)) {
        EXPECT(0, "load: %s", err_msg());
        return;
    }
    size_t f32_floats = m.n_floats;
    for (size_t i = 0; i < m.n_floats; i++) m.params[i] = fp16_to_f32(f32_to_fp16(m.params[i]));
    EXPECT(gpt2_model_convert(&m, QTYPE_F16) == 0, "convert: %s", err_msg());
    EXPECT(m.n_floats < f32_floats && !gpt2_model_is_f32(&m) && m.head.type == QTYPE_F16 && m.embd.type == QTYPE_F16,
           "converted model bookkeeping");
    err_clear();
    EXPECT(gpt2_model_convert(&m, QTYPE_F16) == ERR_ARG, "converting twice is refused");
    err_clear();
    size_t n_in, n_logits, n_emb;
    int *in = read_bin(ref_dir, "input_tokens.i32.bin", 4, &n_in);
    float *ref = read_bin(ref_dir, "logits.f32.bin", 4, &n_logits);
    float *emb = read_bin(ref_dir, "hidden_embed.f32.bin", 4, &n_emb);  // (T, C): gives T
    int V = m.cfg.vocab_size, T = (int)(n_emb / (size_t)m.cfg.n_embd), B = (int)(n_in / (size_t)T);
    free(emb);
    gpt2_state s;
    gpt2_state_init(&s, &m, T);
    double d = 0;
    for (int b = 0; b < B; b++) {
        gpt2_state_reset(&s);
        gpt2_forward(&m, &s, in + (size_t)b * T, T, 1);
        double db = maxdiff_f32(s.logits, ref + (size_t)b * T * V, (size_t)T * V);
        if (!(db <= d)) d = db;
    }
    snprintf(label, sizeof label, "%s converted to F16 vs %s logits", name, f16_name);
    EXPECT_CLOSE(label, d, tol);
    gpt2_state_free(&s);
    free(in);
    free(ref);
    gpt2_model_free(&m);
}

int main(void) {
    printf("kernels: %s\n", kernels_init());
    test_model("tiny", 5e-6, 5e-6, 1);
    test_model("tiny-f16", 5e-6, 5e-6, 1);
    test_model("tiny-bf16", 5e-6, 5e-6, 1);
    test_model("tiny-hub-layout", 5e-6, 5e-6, 1);
    test_model("tiny-hot", 1e-4, 1e-5, 1);
    test_model("small-vocab50257", 5e-6, 5e-6, 0);
    test_perplexity_protocol();
    test_convert_f16("tiny", "tiny-f16", 5e-6);
    return TEST_DONE();
}
