// test_api.c: the public C API (include/shrink.h), through nothing but that header.
//   1. the bundled model: its info against config.json's numbers; tokenize/detokenize round
//      trips and the size protocol (a short buffer reports the size it needs);
//   2. shrink_logits against a perplexity computed from them by hand, and against
//      shrink_eval_perplexity on the same single window; generation (greedy) against the
//      argmax chain of shrink_logits over the growing text; the same seed, the same text;
//   3. agreement: a model with itself (KL 0, top-1 1), and with its Q8_0 GGUF (KL > 0);
//   4. errors: every bad input returns a code and a message naming the problem, and a good
//      call after a failed one reports no error (nothing carried over);
//   5. two threads with two handles give the results one thread gets;
//   6. shrink_compress writes the file `shrink compress` writes, byte for byte, reports its
//      progress, and refuses bad options and outputs that would replace an input.
#include "shrink.h"
#include "harness.h"
#include <pthread.h>
#include <string.h>

static const char *MODEL = "models/mini";

static char *read_text(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = malloc(max + 1);
    *len = fread(s, 1, max, f);
    fclose(f);
    s[*len] = 0;
    return s;
}

static void test_tokens(shrink_model *m) {
    shrink_model_info info;
    shrink_error e;
    EXPECT(shrink_model_get_info(m, &info, &e) == SHRINK_OK && e.code == 0 && e.message[0] == 0, "info: %s", e.message);
    // models/mini/config.json: vocab 8192, n_positions 256, n_embd 256, 6 layers, eos 8191
    EXPECT(info.n_vocab == 8192 && info.n_ctx == 256 && info.n_embd == 256 && info.n_layer == 6 && info.eos_id == 8191,
           "info: vocab %d ctx %d embd %d layers %d eos %d", info.n_vocab, info.n_ctx, info.n_embd, info.n_layer, info.eos_id);
    // parameters: wte + wpe + 6 blocks (12 C² + 13 C) + ln_f (2 C), the head tied
    size_t C = 256, expect = 8192 * C + 256 * C + 6 * (12 * C * C + 13 * C) + 2 * C;
    EXPECT(info.n_params == expect, "info: %zu parameters, expected %zu", info.n_params, expect);

    const char *text = "Hello world, this is shrink's API: caf\xc3\xa9 \xe2\x82\xac 12345!";
    int32_t ids[256];
    size_t n = 0, need = 0, len = 0;
    EXPECT(shrink_tokenize(m, text, strlen(text), ids, 256, &n, &e) == 0 && n > 5 && n < 60, "tokenize: %zu ids, %s", n, e.message);
    int32_t few[3] = {-1, -1, -1};
    EXPECT(shrink_tokenize(m, text, strlen(text), few, 2, &need, &e) == 0 && need == n, "tokenize: needs %zu, reported %zu", n, need);
    EXPECT(few[0] == ids[0] && few[1] == ids[1] && few[2] == -1, "tokenize: a short buffer gets the first ids and no more");
    char back[512];
    EXPECT(shrink_detokenize(m, ids, n, back, sizeof back, &len, &e) == 0 && len == strlen(text) && memcmp(back, text, len) == 0,
           "detokenize: round trip gives %zu bytes", len);
    char small[4] = "xyz";
    EXPECT(shrink_detokenize(m, ids, n, small, 3, &need, &e) == 0 && need == len && memcmp(small, text, 3) == 0,
           "detokenize: a short buffer reports %zu bytes needed", need);
}

// -log softmax(row)[target] in double
static double nll_of(const float *row, int V, int target) {
    double mx = row[0], s = 0;
    for (int i = 1; i < V; i++) mx = row[i] > mx ? row[i] : mx;
    for (int i = 0; i < V; i++) s += exp((double)row[i] - mx);
    return log(s) + mx - row[target];
}

static int argmax(const float *row, int V) {
    int b = 0;
    for (int i = 1; i < V; i++) b = row[i] > row[b] ? i : b;
    return b;
}

static void test_logits_and_eval(shrink_model *m, const char *text, size_t len) {
    shrink_error e;
    int32_t ids[512];
    size_t n = 0;
    EXPECT(shrink_tokenize(m, text, len, ids, 512, &n, &e) == 0 && n >= 200, "tokenize the held-out text: %zu ids", n);
    int T = 200, V = 8192;
    float *lg = malloc(sizeof(float) * (size_t)T * V);
    EXPECT(shrink_logits(m, ids, T, lg, &e) == 0, "logits: %s", e.message);
    double nll = 0;
    for (int p = 1; p < T; p++) nll += nll_of(lg + (size_t)(p - 1) * V, V, ids[p]);
    nll /= T - 1;
    // the same 200 tokens as one window: decode them to text (a round trip, checked above)
    char buf[4096];
    size_t bl = 0;
    EXPECT(shrink_detokenize(m, ids, (size_t)T, buf, sizeof buf, &bl, &e) == 0 && bl < sizeof buf, "detokenize 200 ids");
    shrink_perplexity p;
    EXPECT(shrink_eval_perplexity(m, buf, bl, T, T, &p, &e) == 0, "perplexity: %s", e.message);
    EXPECT(p.tokens == T - 1, "perplexity scored %ld tokens, expected %d", p.tokens, T - 1);
    EXPECT_CLOSE("eval_perplexity's nll vs one from shrink_logits (relative)", fabs(p.nll / nll - 1), 1e-5);
    EXPECT(p.bpb > 0 && fabs(p.ppl - exp(p.nll)) < 1e-9 * p.ppl, "ppl %g = exp(nll %g), bpb %g", p.ppl, p.nll, p.bpb);

    // greedy generation = the argmax chain of full forward passes over the growing ids
    shrink_sampling s = shrink_sampling_defaults();
    s.temperature = 0, s.n_new = 8, s.stop_at_eos = 0;
    char gen[1024];
    size_t gl = 0;
    int P = 20;
    char prompt[1024];
    size_t pl = 0;
    EXPECT(shrink_detokenize(m, ids, (size_t)P, prompt, sizeof prompt, &pl, &e) == 0, "prompt text");
    EXPECT(shrink_generate(m, prompt, pl, &s, gen, sizeof gen, &gl, &e) == 0 && gl > 0, "generate: %s", e.message);
    int32_t chain[64];
    size_t cn = 0;
    EXPECT(shrink_tokenize(m, prompt, pl, chain, 64, &cn, &e) == 0 && cn == (size_t)P, "the prompt re-encodes to %zu ids", cn);
    for (int k = 0; k < 8; k++) {
        EXPECT(shrink_logits(m, chain, (int)cn, lg, &e) == 0, "logits of the chain");
        chain[cn] = argmax(lg + (cn - 1) * (size_t)V, V);
        cn++;
    }
    char want[1024];
    size_t wl = 0;
    EXPECT(shrink_detokenize(m, chain + P, 8, want, sizeof want, &wl, &e) == 0, "decode the chain");
    EXPECT(gl == wl && memcmp(gen, want, gl) == 0, "greedy generation '%.*s' vs the argmax chain '%.*s'", (int)gl, gen, (int)wl, want);
    // sampling: the same seed gives the same text
    s = shrink_sampling_defaults();
    s.n_new = 24, s.seed = 7;
    char a[2048], b[2048];
    size_t al = 0, bl2 = 0;
    EXPECT(shrink_generate(m, prompt, pl, &s, a, sizeof a, &al, &e) == 0 && shrink_generate(m, prompt, pl, &s, b, sizeof b, &bl2, &e) == 0,
           "sampled generation");
    EXPECT(al == bl2 && memcmp(a, b, al) == 0, "the same seed gave different text");
    free(lg);
}

static void test_agreement(shrink_model *m, const char *text, size_t len) {
    shrink_error e;
    shrink_agreement g;
    EXPECT(shrink_eval_agreement(m, m, text, len, 128, 128, &g, &e) == 0, "agreement with itself: %s", e.message);
    EXPECT(g.kl_mean == 0 && g.kl_max == 0 && g.top1 == 1 && g.dppl_pct == 0, "itself: KL %g, top-1 %g, dppl %g", g.kl_mean,
           g.top1, g.dppl_pct);
    const char *shared = getenv("SHRINK_SHARED") ? getenv("SHRINK_SHARED") : "../shared";
    char path[512];
    // ../shared's mini model (not the bundled one) and its Q8_0 GGUF
    snprintf(path, sizeof path, "%s/testdata/gguf/mini-Q8_0.gguf", shared);
    shrink_model *q = NULL, *orig = NULL;
    if (shrink_model_load(path, &q, &e)) {
        printf("skipped: the Q8_0 agreement check (%s)\n", e.message);
        return;
    }
    snprintf(path, sizeof path, "%s/models/mini", shared);
    EXPECT(shrink_model_load(path, &orig, &e) == 0, "load %s: %s", path, e.message);
    EXPECT(orig && shrink_eval_agreement(q, orig, text, len, 128, 128, &g, &e) == 0, "agreement Q8_0: %s", e.message);
    printf("Q8_0 against the original: KL %.3g, top-1 %.4f, dppl %+.3f%%\n", g.kl_mean, g.top1, g.dppl_pct);
    EXPECT(g.kl_mean > 0 && g.kl_mean < 0.01 && g.top1 > 0.95 && g.top1 < 1.0001, "Q8_0: KL %g top-1 %g", g.kl_mean, g.top1);
    EXPECT(g.base.ppl > 1 && g.model.tokens == g.base.tokens, "the same positions scored");
    shrink_model_free(q);
    shrink_model_free(orig);
}

static void test_errors(const char *bin_dir, shrink_model *m) {
    shrink_error e;
    shrink_model *x = (shrink_model *)1;
    EXPECT(shrink_model_load("no/such/dir", &x, &e) == SHRINK_E_IO && e.code == SHRINK_E_IO && x == NULL &&
               strstr(e.message, "no/such/dir"),
           "load of a missing path: %d '%s'", e.code, e.message);
    // a truncated GGUF
    char trunc[600];
    snprintf(trunc, sizeof trunc, "%s/test_api_truncated.gguf", bin_dir);
    FILE *f = fopen(trunc, "wb");
    EXPECT(f != NULL, "cannot write %s", trunc);
    if (f) {
        fwrite("GGUF\3\0\0\0\1\0", 1, 10, f);
        fclose(f);
        EXPECT(shrink_model_load(trunc, &x, &e) < 0 && strstr(e.message, "test_api_truncated.gguf"),
               "load of a truncated GGUF: %d '%s'", e.code, e.message);
        remove(trunc);
    }
    EXPECT(shrink_model_load(NULL, &x, &e) == SHRINK_E_ARG && e.message[0], "load(NULL)");
    // a good call after a failed one: no stale message
    shrink_model_info info;
    EXPECT(shrink_model_get_info(m, &info, &e) == 0 && e.code == 0 && e.message[0] == 0, "a stale error after success: '%s'",
           e.message);
    int32_t ids[3] = {1, 8192, 2};  // 8192: the first id past the vocabulary
    float lg[3 * 8192];
    EXPECT(shrink_logits(m, ids, 3, lg, &e) == SHRINK_E_RANGE && strstr(e.message, "8192"), "logits of id 8192: '%s'", e.message);
    EXPECT(shrink_logits(m, ids, 0, lg, &e) == SHRINK_E_ARG, "logits of 0 tokens");
    int32_t many[300] = {0};
    static float big[300 * 8192];
    EXPECT(shrink_logits(m, many, 300, big, &e) == SHRINK_E_ARG && strstr(e.message, "256"), "300 tokens: '%s'", e.message);
    shrink_perplexity p;
    EXPECT(shrink_eval_perplexity(m, "a", 1, 0, 0, &p, &e) < 0 && e.message[0], "perplexity of one token: '%s'", e.message);
    EXPECT(shrink_eval_perplexity(m, "some text here", 14, 100000, 0, &p, &e) < 0 && e.message[0], "ctx 100000: '%s'", e.message);
    shrink_sampling s = shrink_sampling_defaults();
    s.top_p = 2;
    char out[16];
    size_t ol;
    EXPECT(shrink_generate(m, "Hi", 2, &s, out, sizeof out, &ol, &e) == SHRINK_E_ARG && strstr(e.message, "top_p"), "top_p 2");
    EXPECT(shrink_tokenize(NULL, "a", 1, ids, 3, &ol, NULL) == SHRINK_E_ARG, "a NULL model, err NULL");
}

typedef struct job {
    const char *text;
    size_t len;
    shrink_perplexity p;
    int rc;
} job;

static void *thread_main(void *arg) {
    job *j = arg;
    shrink_model *m = NULL;
    shrink_error e;
    j->rc = shrink_model_load(MODEL, &m, &e);
    if (!j->rc) j->rc = shrink_eval_perplexity(m, j->text, j->len, 128, 64, &j->p, &e);
    shrink_model_free(m);
    return NULL;
}

static void test_threads(shrink_model *m, const char *text, size_t len) {
    shrink_error e;
    shrink_perplexity one;
    EXPECT(shrink_eval_perplexity(m, text, len, 128, 64, &one, &e) == 0, "perplexity: %s", e.message);
    job j[2] = {{text, len, {0, 0, 0, 0}, -1}, {text, len, {0, 0, 0, 0}, -1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, thread_main, &j[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        EXPECT(j[i].rc == 0 && j[i].p.nll == one.nll && j[i].p.tokens == one.tokens,
               "thread %d: nll %.17g over %ld tokens, one thread %.17g over %ld", i, j[i].p.nll, j[i].p.tokens, one.nll, one.tokens);
}

typedef struct progress_count {
    int calls, last_done, last_total;
} progress_count;

static void count_progress(const char *step, int done, int total, double el, double eta, void *user) {
    progress_count *c = user;
    (void)el;
    if (step && step[0] && done <= total && eta >= 0) c->calls++;
    c->last_done = done, c->last_total = total;
}

static void test_compress(const char *bin_dir, shrink_model *base, const char *text, size_t len) {
    shrink_error e;
    shrink_compress_opts o = shrink_compress_defaults();
    o.method = "gptq", o.calib_path = "data/calib.txt", o.calib_tokens = 4096;
    progress_count pc = {0, 0, 0};
    o.progress = count_progress, o.user = &pc;
    char api_out[600], cli_out[600], x[600];
    snprintf(api_out, sizeof api_out, "%s/test_api_gptq.gguf", bin_dir);
    snprintf(cli_out, sizeof cli_out, "%s/test_api_gptq_cli.gguf", bin_dir);
    snprintf(x, sizeof x, "%s/test_api_x.gguf", bin_dir);
    EXPECT(shrink_compress(MODEL, api_out, &o, &e) == 0, "compress: %s", e.message);
    EXPECT(pc.calls >= 6 && pc.last_done == pc.last_total, "progress: %d calls, last %d/%d", pc.calls, pc.last_done, pc.last_total);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s/shrink compress -m %s -o %s --type Q4_K_M --method gptq --calib data/calib.txt --calib-tokens 4096 2>/dev/null",
             bin_dir, MODEL, cli_out);
    EXPECT(system(cmd) == 0, "%s", cmd);
    size_t la = 0, lb = 0;
    char *a = read_text(api_out, 1 << 26, &la), *b = read_text(cli_out, 1 << 26, &lb);
    EXPECT(a && b && la == lb && la > 100000 && memcmp(a, b, la) == 0, "the API's GGUF (%zu bytes) differs from the CLI's (%zu)", la, lb);
    free(a), free(b);
    shrink_model *q = NULL;
    shrink_agreement g;
    EXPECT(shrink_model_load(api_out, &q, &e) == 0 && shrink_eval_agreement(q, base, text, len, 128, 128, &g, &e) == 0,
           "the compressed model: %s", e.message);
    printf("Q4_K_M gptq through the API: KL %.4f, top-1 %.3f\n", g.kl_mean, g.top1);
    EXPECT(g.kl_mean > 0 && g.kl_mean < 0.1 && g.top1 > 0.8, "Q4_K_M gptq: KL %g, top-1 %g", g.kl_mean, g.top1);
    shrink_model_free(q);
    remove(api_out), remove(cli_out);
    // refusals, before any work
    o = shrink_compress_defaults();
    EXPECT(shrink_compress(MODEL, "models/mini/model.safetensors", &o, &e) == SHRINK_E_ARG && strstr(e.message, "model.safetensors"),
           "compress over the model's own weights: %d '%s'", e.code, e.message);
    EXPECT(shrink_compress(MODEL, "no/such/dir/x.gguf", &o, &e) == SHRINK_E_IO, "compress into a missing directory: '%s'", e.message);
    o.method = "bogus";
    EXPECT(shrink_compress(MODEL, x, &o, &e) == SHRINK_E_ARG && strstr(e.message, "bogus"), "method bogus: '%s'", e.message);
    o.method = "gptq";
    EXPECT(shrink_compress(MODEL, x, &o, &e) == SHRINK_E_ARG && strstr(e.message, "calib"), "gptq without text: '%s'", e.message);
    o = shrink_compress_defaults();
    o.type = "Q9_X";
    EXPECT(shrink_compress(MODEL, x, &o, &e) < 0 && strstr(e.message, "Q9_X"), "type Q9_X: '%s'", e.message);
    FILE *f = fopen(x, "rb");
    EXPECT(!f, "a refused compress left %s behind", x);
    if (f) fclose(f);
}

int main(int argc, char **argv) {
    (void)argc;
    char bin_dir[512];
    snprintf(bin_dir, sizeof bin_dir, "%s", argv[0]);
    char *slash = strrchr(bin_dir, '/');
    if (slash) *slash = 0;
    else snprintf(bin_dir, sizeof bin_dir, ".");
    EXPECT(shrink_api_version() == SHRINK_API_VERSION, "api version %d", shrink_api_version());
    EXPECT(strncmp(shrink_version(), "0.", 2) == 0 && strstr(shrink_version(), "commit"), "version '%s'", shrink_version());
    shrink_model *m = NULL;
    shrink_error e;
    if (shrink_model_load(MODEL, &m, &e)) {
        EXPECT(0, "load %s: %s", MODEL, e.message);
        return TEST_DONE();
    }
    size_t len = 0;
    char *text = read_text("data/heldout.txt", 6000, &len);
    EXPECT(text && len > 3000, "data/heldout.txt");
    test_tokens(m);
    test_logits_and_eval(m, text, len);
    test_agreement(m, text, len);
    test_errors(bin_dir, m);
    test_threads(m, text, len);
    test_compress(bin_dir, m, text, len);
    free(text);
    shrink_model_free(m);
    return TEST_DONE();
}
