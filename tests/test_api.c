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
//      progress, its result and its log, and refuses bad options and outputs that would
//      replace an input;
//   7-10. the library prints nothing; the prune pipeline; export; LAMBADA and eval progress.
#include "shrink.h"
#include "harness.h"
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <unistd.h>
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

// A stream's pieces, kept; stop_after > 0 stops it after that many tokens.
typedef struct collected {
    char s[4096];
    size_t n;
    int calls, stop_after;
} collected;

static int collect_token(const char *bytes, size_t len, void *user) {
    collected *c = user;
    if (c->n + len < sizeof c->s) memcpy(c->s + c->n, bytes, len), c->n += len;
    c->calls++;
    return c->stop_after && c->calls >= c->stop_after;
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
    EXPECT(p.tokens == T - 1 && p.text_tokens == T && p.ctx == T && p.stride == T && p.windows == 1 && p.bytes > T,
           "perplexity scored %ld of %ld tokens in %d windows (ctx %d, stride %d), %g bytes, expected %d of %d in 1", p.tokens,
           p.text_tokens, p.windows, p.ctx, p.stride, p.bytes, T - 1, T);
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
    EXPECT(shrink_generate(m, prompt, pl, &s, gen, sizeof gen, &gl, NULL, &e) == 0 && gl > 0, "generate: %s", e.message);
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
    EXPECT(shrink_generate(m, prompt, pl, &s, a, sizeof a, &al, NULL, &e) == 0 && shrink_generate(m, prompt, pl, &s, b, sizeof b, &bl2, NULL, &e) == 0,
           "sampled generation");
    EXPECT(al == bl2 && memcmp(a, b, al) == 0, "the same seed gave different text");
    // streaming: the pieces make the returned text; the stats count the prompt and the new tokens
    collected c = {{0}, 0, 0, 0};
    s.on_token = collect_token, s.user = &c;
    shrink_generate_stats st;
    EXPECT(shrink_generate(m, prompt, pl, &s, a, sizeof a, &al, &st, &e) == 0 && c.n == al && memcmp(c.s, a, al) == 0 &&
               c.calls == st.n_new && st.n_prompt == P && st.n_new == 24 && st.prompt_s > 0 && st.gen_s > 0,
           "streamed %zu bytes in %d calls, returned %zu; stats %d + %d tokens", c.n, c.calls, al, st.n_prompt, st.n_new);
    // stop: the caller's stream says stop after 3 tokens
    c = (collected){{0}, 0, 0, 3};
    EXPECT(shrink_generate(m, prompt, pl, &s, a, sizeof a, &al, &st, &e) == 0 && c.calls == 3 && st.n_new == 3,
           "stopped after %d calls, %d tokens", c.calls, st.n_new);
    // a prompt longer than the context: refused, or cut to its last n_ctx tokens with truncate
    char longp[4000];
    for (int i = 0; i < 400; i++) memcpy(longp + 5 * i, "word ", 5);
    s = shrink_sampling_defaults();
    s.n_new = 2;
    EXPECT(shrink_generate(m, longp, 2000, &s, a, sizeof a, &al, &st, &e) == SHRINK_E_ARG && strstr(e.message, "--truncate"),
           "a 400-word prompt: '%s'", e.message);
    s.truncate = 1;
    EXPECT(shrink_generate(m, longp, 2000, &s, a, sizeof a, &al, &st, &e) == 0 && st.n_prompt == 256, "truncated prompt: %d tokens (%s)",
           st.n_prompt, e.message);
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
    EXPECT(shrink_generate(m, "Hi", 2, &s, out, sizeof out, &ol, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "top_p"), "top_p 2");
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
    job j[2];
    memset(j, 0, sizeof j);
    for (int i = 0; i < 2; i++) j[i].text = text, j[i].len = len, j[i].rc = -1;
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, thread_main, &j[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        EXPECT(j[i].rc == 0 && j[i].p.nll == one.nll && j[i].p.tokens == one.tokens,
               "thread %d: nll %.17g over %ld tokens, one thread %.17g over %ld", i, j[i].p.nll, j[i].p.tokens, one.nll, one.tokens);
}

typedef struct progress_count {
    int calls, last_done, last_total;
    int quantize_calls, quantize_done, quantize_total;  // the "quantize: ..." step's
} progress_count;

struct log_and_progress {
    progress_count *pc;
    struct sbuf_t *log;
};
typedef struct log_and_progress log_and_progress;

// The text a call logs, kept (the first 8 KB).
typedef struct sbuf_t {
    char s[8192];
    size_t n;
} sbuf_t;

static void collect_log(const char *text, void *user) {
    sbuf_t *b = ((struct log_and_progress *)user)->log;
    size_t k = strlen(text);
    if (b->n + k >= sizeof b->s) k = sizeof b->s - 1 - b->n;
    memcpy(b->s + b->n, text, k);
    b->n += k;
    b->s[b->n] = 0;
}

static void count_progress(const char *step, int done, int total, double el, double eta, void *user) {
    progress_count *c = user;
    (void)el;
    if (step && step[0] && done <= total && eta >= 0) c->calls++;
    c->last_done = done, c->last_total = total;
    if (step && !strncmp(step, "quantize", 8)) {
        c->quantize_calls += done >= c->quantize_done;  // never backwards
        c->quantize_done = done, c->quantize_total = total;
    }
}

static void count_progress_lp(const char *step, int done, int total, double el, double eta, void *user) {
    count_progress(step, done, total, el, eta, ((log_and_progress *)user)->pc);
}

static void test_compress(const char *bin_dir, shrink_model *base, const char *text, size_t len) {
    shrink_error e;
    shrink_compress_opts o = shrink_compress_defaults();
    o.method = "gptq", o.calib_path = "data/calib.txt", o.calib_tokens = 4096;
    progress_count pc = {0};
    o.progress = count_progress, o.user = &pc;
    char api_out[600], cli_out[600], x[600];
    snprintf(api_out, sizeof api_out, "%s/test_api_gptq.gguf", bin_dir);
    snprintf(cli_out, sizeof cli_out, "%s/test_api_gptq_cli.gguf", bin_dir);
    snprintf(x, sizeof x, "%s/test_api_x.gguf", bin_dir);
    shrink_compress_result res;
    sbuf_t log = {{0}, 0};
    o.log = collect_log;  // user is &pc for progress; log gets it too, so point it at a struct holding both
    log_and_progress lp = {&pc, &log};
    o.user = &lp, o.progress = count_progress_lp;
    EXPECT(shrink_compress(MODEL, api_out, &o, &res, &e) == 0, "compress: %s", e.message);
    char want[800];
    snprintf(want, sizeof want, "wrote %s: %lld bytes", api_out, res.bytes);
    EXPECT(res.params_before == res.params_after && res.params_before > 6000000 && res.n_matrices == 26 && res.bytes > 100000 &&
               fabs(res.bits_per_param - 8.0 * (double)res.bytes / (double)res.params_after) < 1e-9 && strstr(log.s, want) &&
               strstr(log.s, "gptq: 26 matrices"),
           "result: %zu -> %zu parameters, %d matrices, %lld bytes; log '%s'", res.params_before, res.params_after, res.n_matrices,
           res.bytes, log.s);
    EXPECT(pc.calls >= 6 && pc.last_done == pc.last_total, "progress: %d calls, last %d/%d", pc.calls, pc.last_done, pc.last_total);
    // The quantization step's line goes forward and ends at its total: thousands of weights of
    // the 26 matrices (models/mini: 6 blocks of 256 wide, MLP 1024, vocab 8192; each matrix's
    // count rounded down, the head counted beside the embedding it shares).
    int want_k = 6 * (768 * 256 / 1000 + 256 * 256 / 1000 + 2 * (1024 * 256 / 1000)) + 2 * (8192 * 256 / 1000);
    EXPECT(pc.quantize_calls >= 1 && pc.quantize_done == pc.quantize_total && pc.quantize_total == want_k,
           "quantize progress: %d calls, last %d/%d (%d expected)", pc.quantize_calls, pc.quantize_done, pc.quantize_total,
           want_k);
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
    EXPECT(shrink_compress(MODEL, "models/mini/model.safetensors", &o, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "model.safetensors"),
           "compress over the model's own weights: %d '%s'", e.code, e.message);
    EXPECT(shrink_compress(MODEL, "no/such/dir/x.gguf", &o, NULL, &e) == SHRINK_E_IO, "compress into a missing directory: '%s'", e.message);
    o.method = "bogus";
    EXPECT(shrink_compress(MODEL, x, &o, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "bogus"), "method bogus: '%s'", e.message);
    o.method = "gptq";
    EXPECT(shrink_compress(MODEL, x, &o, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "calib"), "gptq without text: '%s'", e.message);
    o = shrink_compress_defaults();
    o.type = "Q9_X";
    EXPECT(shrink_compress(MODEL, x, &o, NULL, &e) < 0 && strstr(e.message, "Q9_X"), "type Q9_X: '%s'", e.message);
    FILE *f = fopen(x, "rb");
    EXPECT(!f, "a refused compress left %s behind", x);
    if (f) fclose(f);
}

// 7. The library prints nothing: an awq run with verbose details and no callbacks leaves
// stderr empty; with a log callback the details arrive there.
static void test_quiet(const char *bin_dir) {
    char out[600], errf[600];
    snprintf(out, sizeof out, "%s/test_api_awq.gguf", bin_dir);
    snprintf(errf, sizeof errf, "%s/test_api_stderr.txt", bin_dir);
    shrink_compress_opts o = shrink_compress_defaults();
    o.method = "awq", o.calib_path = "data/calib.txt", o.calib_tokens = 1024, o.verbose = 1;
    fflush(stderr);
    int saved = dup(2), fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    shrink_error e;
    int rc = shrink_compress(MODEL, out, &o, NULL, &e);
    fflush(stderr);
    dup2(saved, 2);
    close(fd), close(saved);
    size_t n = 0;
    char *printed = read_text(errf, 4096, &n);
    EXPECT(rc == 0 && printed && n == 0, "awq -v through the API printed %zu bytes: '%.200s' (%s)", n, printed ? printed : "", e.message);
    free(printed);
    sbuf_t log = {{0}, 0};
    log_and_progress lp = {NULL, &log};
    o.log = collect_log, o.user = &lp;
    EXPECT(shrink_compress(MODEL, out, &o, NULL, &e) == 0 && strstr(log.s, "awq: layer 5:") && strstr(log.s, "awq: output:"),
           "awq -v details in the log: '%.300s'", log.s);
    remove(out), remove(errf);
}

// 8. The pipeline through the API: prune to 85% of the parameters, then Q8_0.
static void test_pipeline(const char *bin_dir, shrink_model *base, const char *text, size_t len) {
    char out[600];
    snprintf(out, sizeof out, "%s/test_api_pruned.gguf", bin_dir);
    shrink_compress_opts o = shrink_compress_defaults();
    o.type = "q8_0", o.prune = "85%", o.ffn_multiple = 32, o.calib_path = "data/calib.txt", o.calib_tokens = 1024;
    shrink_compress_result r;
    shrink_error e;
    EXPECT(shrink_compress(MODEL, out, &o, &r, &e) == 0, "prune 85%% + q8_0: %s", e.message);
    EXPECT(r.params_after <= (size_t)(0.85 * (double)r.params_before) && r.params_after > (size_t)(0.75 * (double)r.params_before),
           "pruned %zu -> %zu parameters", r.params_before, r.params_after);
    shrink_model *q = NULL;
    shrink_model_info info;
    shrink_agreement g;
    EXPECT(shrink_model_load(out, &q, &e) == 0 && shrink_model_get_info(q, &info, &e) == 0 && info.n_params == r.params_after &&
               shrink_eval_agreement(q, base, text, len, 128, 128, &g, &e) == 0 && g.kl_mean > 0 && g.kl_mean < 2,
           "the pruned model: %zu parameters, KL %g (%s)", info.n_params, g.kl_mean, e.message);
    shrink_model_free(q);
    remove(out);
    o.prune = "100%";
    EXPECT(shrink_compress(MODEL, out, &o, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "--prune"), "prune 100%%: '%s'", e.message);
    o.prune = "90%", o.lowrank = "90%";
    EXPECT(shrink_compress(MODEL, out, &o, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "--lowrank"), "prune and lowrank: '%s'", e.message);
    o = shrink_compress_defaults();
    o.calib_tokens = 10;
    EXPECT(shrink_compress(MODEL, out, &o, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "--calib-tokens"), "calib_tokens 10: '%s'", e.message);
    o = shrink_compress_defaults();
    o.recover = "data/calib.txt";
    EXPECT(shrink_compress(MODEL, out, &o, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "--recover"), "recover alone: '%s'", e.message);
    o = shrink_compress_defaults();
    o.type = NULL, o.target_bpw = "0.5";
    EXPECT(shrink_compress(MODEL, out, &o, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "0.5"), "target_bpw 0.5: '%s'", e.message);
    o.target_bpw = "4", o.bpw_probes = 7;
    EXPECT(shrink_compress(MODEL, out, &o, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "--bpw-probes 7"), "bpw_probes 7: '%s'",
           e.message);
    FILE *f = fopen(out, "rb");
    EXPECT(!f, "a refused compress left %s behind", out);
    if (f) fclose(f);
}

// 9. Export: F32 gives the model's logits bit for bit, F16 close to them; without a tokenizer the
// file loads and says it has none; bad types, GGUF sources and the model's own files are refused.
static void test_export(const char *bin_dir, shrink_model *m) {
    char f32[600], f16[600], bare[600];
    snprintf(f32, sizeof f32, "%s/test_api_f32.gguf", bin_dir);
    snprintf(f16, sizeof f16, "%s/test_api_f16.gguf", bin_dir);
    snprintf(bare, sizeof bare, "%s/test_api_bare.gguf", bin_dir);
    shrink_error e;
    progress_count pc = {0};
    EXPECT(shrink_export(MODEL, f32, "f32", 0, count_progress, &pc, &e) == 0 &&
               shrink_export(MODEL, f16, "f16", 0, NULL, NULL, &e) == 0 && shrink_export(MODEL, bare, "f16", 1, NULL, NULL, &e) == 0,
           "export: %s", e.message);
    // loading and writing report in MB, the write last, ending at its total (the F32 file: 27 MB and more)
    EXPECT(pc.calls >= 2 && pc.last_done == pc.last_total && pc.last_total >= 27, "export progress: %d calls, last %d/%d",
           pc.calls, pc.last_done, pc.last_total);
    int32_t ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (int32_t)(i * 509 % 8192);
    static float want[16 * 8192], got[16 * 8192];
    EXPECT(shrink_logits(m, ids, 16, want, &e) == 0, "logits");
    shrink_model *x = NULL;
    EXPECT(shrink_model_load(f32, &x, &e) == 0 && shrink_logits(x, ids, 16, got, &e) == 0 && memcmp(got, want, sizeof got) == 0,
           "the F32 export's logits are the model's: %s", e.message);
    shrink_model_free(x), x = NULL;
    double worst = 0;
    if (shrink_model_load(f16, &x, &e) == 0 && shrink_logits(x, ids, 16, got, &e) == 0)
        for (int i = 0; i < 16 * 8192; i++) worst = fabs(got[i] - want[i]) > worst ? fabs(got[i] - want[i]) : worst;
    else
        worst = 1e9;
    printf("F16 export: logits within %.3g of the model's\n", worst);  // 0.0069 measured
    EXPECT(worst > 0 && worst < 0.02, "F16 export: logits within %g of the model's", worst);
    shrink_model_free(x), x = NULL;
    size_t n = 0;
    EXPECT(shrink_model_load(bare, &x, &e) == 0 && shrink_tokenize(x, "hi", 2, ids, 16, &n, &e) == SHRINK_E_ARG &&
               strstr(e.message, "no tokenizer"),
           "a GGUF without a tokenizer loads and cannot tokenize: '%s'", e.message);
    shrink_model_free(x);
    EXPECT(shrink_export(MODEL, bare, "q4_0", 0, NULL, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "q4_0"), "export q4_0: '%s'", e.message);
    EXPECT(shrink_export(f32, bare, "f16", 0, NULL, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "GGUF"), "export of a GGUF: '%s'", e.message);
    EXPECT(shrink_export(MODEL, "models/mini/config.json", "f16", 0, NULL, NULL, &e) == SHRINK_E_ARG && strstr(e.message, "inputs"),
           "export over config.json: '%s'", e.message);
    remove(f32), remove(f16), remove(bare);
}

// 10. LAMBADA on a few hand-made documents, and a handle's evaluation progress.
static void test_lambada_and_progress(const char *bin_dir, shrink_model *m, const char *text, size_t len) {
    char path[600];
    snprintf(path, sizeof path, "%s/test_api_lambada.jsonl", bin_dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        EXPECT(0, "cannot write %s", path);
        return;
    }
    fputs("{\"text\": \"The cat sat on the mat and then the cat sat on the mat\"}\n"
          "{\"text\": \"One, two, three, four, five, six, seven\"}\n"
          "{\"text\": \"She opened the door and walked into the room\"}\n", f);
    fclose(f);
    shrink_lambada a, b;
    shrink_error e;
    EXPECT(shrink_eval_lambada(m, path, 0, &a, &e) == 0 && a.n == 3 && a.correct >= 0 && a.correct <= 3 &&
               a.acc == a.correct / 3.0 && a.nll > 0 && fabs(a.ppl - exp(a.nll)) < 1e-6 * a.ppl,
           "lambada: %d/%d, ppl %g, nll %g (%s)", a.correct, a.n, a.ppl, a.nll, e.message);
    EXPECT(shrink_eval_lambada(m, path, 2, &b, &e) == 0 && b.n == 2, "lambada limit 2: %d documents", b.n);
    EXPECT(shrink_eval_lambada(m, "no/such.jsonl", 0, &b, &e) == SHRINK_E_IO && strstr(e.message, "no/such.jsonl"), "lambada of a missing file");
    remove(path);
    progress_count pc = {0};
    shrink_model_set_progress(m, count_progress, &pc);
    shrink_perplexity p;
    EXPECT(shrink_eval_perplexity(m, text, len, 128, 64, &p, &e) == 0 && pc.calls == p.windows && pc.last_done == p.windows &&
               pc.last_total == p.windows,
           "progress: %d calls for %d windows, last %d/%d", pc.calls, p.windows, pc.last_done, pc.last_total);
    shrink_model_set_progress(m, NULL, NULL);
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
    test_quiet(bin_dir);
    test_pipeline(bin_dir, m, text, len);
    test_export(bin_dir, m);
    test_lambada_and_progress(bin_dir, m, text, len);
    free(text);
    shrink_model_free(m);
    return TEST_DONE();
}
