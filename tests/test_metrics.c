// test_metrics.c: the quality numbers against direct double-precision computations.
//   1. eval_agreement (shrink eval --base): both models' mean NLL, Δppl, KL(P_base || P_model)
//      per scored position (mean, 99th percentile, max), top-1 agreement, scored tokens and
//      bytes, against a direct computation over the positions the perplexity protocol
//      scores (windows written out here again); the KL's direction and the percentile are
//      checked to tolerances far below what the reverse KL and a neighbouring rank differ by
//      (both printed). Then the same through the CLI: `shrink eval --base --json`.
//   2. bits per byte: total NLL / ln 2 / UTF-8 bytes of the scored tokens, the bytes counted
//      from the text itself (every token but the first is scored).
//   3. calibration statistics (calib_collect, calib_run_block): per matrix, Σx², Σ|x|, the
//      token count and H = XᵀX against the same sums in double over the inputs each matrix
//      sees, gathered here by a forward hook of the test's own.
// Models: ../shared/models/mini (fp32, the base) and llama.cpp's Q2_K file of it (KL large
// enough that the two directions differ clearly).
#include "harness.h"
#include "compress/calib.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "eval/eval.h"
#include "formats/json.h"
#include "modelfile/modelfile.h"
#include "tokenizer/bpe.h"
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#define CTX 128
#define STRIDE 48
#define TEXT_BYTES 3000

// The library sums logsumexp in float per row and everything else in double; the direct
// computation is double throughout over the same float logits. Relative bounds for the
// means and KL statistics, set well above that float rounding and far below what the reverse
// KL (KL(P_model || P_base)) or a neighbouring rank in the sorted KLs would give (printed).
#define TOL_NLL 3e-6
#define TOL_KL_REL 2e-5
// The CLI prints KL with 6 significant digits, Δppl with 4 decimals, NLL, top-1 and bpb with
// 6 decimals: half a unit of the last digit on top of the bounds above.
#define TOL_CLI_KL_REL 3e-5
#define TOL_CLI_DPPL 1e-4
#define TOL_CLI_FRAC 4e-6

static double *g_kl;  // per scored position, for qsort
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// log Σ exp over n floats, in double.
static double lse(const float *x, int n) {
    double m = x[0], s = 0;
    for (int i = 1; i < n; i++) m = fmax(m, x[i]);
    for (int i = 0; i < n; i++) s += exp((double)x[i] - m);
    return m + log(s);
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

typedef struct direct {
    long scored, agree;
    double nll_m, nll_b, bytes;  // sums
    double kl_mean, kl_rev_mean, kl_p99, kl_p99_next, kl_median, kl_max;
} direct;

// The protocol, written out: windows [b, e) of CTX tokens every STRIDE tokens from 0 (the last
// ends at n); a window scores each position p, b < p < e, that no earlier window scored, with
// the logits at p - 1.
static void direct_agreement(const gpt2_model *m, const gpt2_model *base, const int *ids, size_t n, const int *tok_bytes,
                             direct *d) {
    memset(d, 0, sizeof *d);
    int V = m->cfg.vocab_size;
    gpt2_state sm, sb;
    CHECK(gpt2_state_init(&sm, m, CTX) == 0 && gpt2_state_init(&sb, base, CTX) == 0);
    g_kl = xmalloc(n * sizeof *g_kl);
    double kl_rev = 0;
    size_t scored_to = 0;  // positions < scored_to + 1 are done
    for (size_t b = 0; b < n; b += STRIDE) {
        size_t e = b + CTX < n ? b + CTX : n;
        gpt2_state_reset(&sm);
        gpt2_state_reset(&sb);
        gpt2_forward(m, &sm, ids + b, (int)(e - b), 1);
        gpt2_forward(base, &sb, ids + b, (int)(e - b), 1);
        for (size_t p = b + 1; p < e; p++) {
            if (p <= scored_to) continue;
            const float *lm = sm.logits + (p - 1 - b) * (size_t)V, *lb = sb.logits + (p - 1 - b) * (size_t)V;
            double zm = lse(lm, V), zb = lse(lb, V), kl = 0, klr = 0;
            for (int v = 0; v < V; v++) {
                double a = lb[v] - zb, c = lm[v] - zm;
                kl += exp(a) * (a - c);
                klr += exp(c) * (c - a);
            }
            g_kl[d->scored++] = kl;
            kl_rev += klr;
            d->nll_m += zm - lm[ids[p]];
            d->nll_b += zb - lb[ids[p]];
            d->agree += argmax(lm, V) == argmax(lb, V);
            d->bytes += tok_bytes[ids[p]];
            scored_to = p;
        }
        if (e == n) break;
    }
    double s = 0;
    for (long i = 0; i < d->scored; i++) s += g_kl[i];
    d->kl_mean = s / (double)d->scored;
    d->kl_rev_mean = kl_rev / (double)d->scored;
    qsort(g_kl, (size_t)d->scored, sizeof *g_kl, cmp_double);
    // The 99th percentile as the README defines it: the sorted value at rank floor(0.99 (n - 1)).
    size_t k = (size_t)(0.99 * (double)(d->scored - 1));
    d->kl_p99 = g_kl[k];
    d->kl_p99_next = g_kl[k + 1 < (size_t)d->scored ? k + 1 : k - 1];
    d->kl_median = g_kl[(d->scored - 1) / 2];
    d->kl_max = g_kl[d->scored - 1];
    free(g_kl);
    gpt2_state_free(&sm);
    gpt2_state_free(&sb);
}

static double rel(double a, double b) { return fabs(a - b) / fabs(b); }

// `shrink eval -m model --base base -f text --json` against the direct numbers.
static void check_cli(const char *shrink, const char *model, const char *base, const char *text_path, const direct *d) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s eval -m %s --base %s -f %s --ctx %d --stride %d --json 2>/dev/null", shrink, model, base,
             text_path, CTX, STRIDE);
    FILE *p = popen(cmd, "r");
    char out[4096];
    size_t len = p ? fread(out, 1, sizeof out - 1, p) : 0;
    int rc = p ? pclose(p) : -1;
    out[len] = 0;
    json_value j = {0};
    if (rc != 0 || json_parse(&j, out, len, "shrink eval --json")) {
        EXPECT(0, "%s: exit %d, output '%s'", cmd, rc, out);
        return;
    }
    const char *keys[] = {"kl_mean", "kl_p99", "kl_max", "top1", "dppl_pct", "nll", "base_nll", "tokens", "bpb", "bytes"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_get(&j, keys[i])) {
            EXPECT(0, "shrink eval --json has no %s", keys[i]);
            json_free(&j);
            return;
        }
    double nm = d->nll_m / (double)d->scored, nb = d->nll_b / (double)d->scored;
    EXPECT_CLOSE("cli: kl_mean (relative)", rel(json_get(&j, "kl_mean")->number, d->kl_mean), TOL_CLI_KL_REL);
    EXPECT_CLOSE("cli: kl_p99 (relative)", rel(json_get(&j, "kl_p99")->number, d->kl_p99), TOL_CLI_KL_REL);
    EXPECT_CLOSE("cli: kl_max (relative)", rel(json_get(&j, "kl_max")->number, d->kl_max), TOL_CLI_KL_REL);
    EXPECT_CLOSE("cli: top1", fabs(json_get(&j, "top1")->number - (double)d->agree / (double)d->scored), TOL_CLI_FRAC);
    EXPECT_CLOSE("cli: dppl_pct (percentage points)", fabs(json_get(&j, "dppl_pct")->number - 100 * (exp(nm - nb) - 1)),
                 TOL_CLI_DPPL);
    EXPECT_CLOSE("cli: nll", fabs(json_get(&j, "nll")->number - nm), TOL_CLI_FRAC);
    EXPECT_CLOSE("cli: base_nll", fabs(json_get(&j, "base_nll")->number - nb), TOL_CLI_FRAC);
    EXPECT(json_get(&j, "tokens")->integer == d->scored && json_get(&j, "bytes")->number == d->bytes,
           "cli: tokens %lld, bytes %.0f; direct %ld, %.0f", (long long)json_get(&j, "tokens")->integer,
           json_get(&j, "bytes")->number, d->scored, d->bytes);
    EXPECT_CLOSE("cli: bpb", fabs(json_get(&j, "bpb")->number - d->nll_m / log(2.0) / d->bytes), TOL_CLI_FRAC);
    json_free(&j);
}

static void test_agreement(const char *shrink) {
    char base_dir[512], model_path[512], text_path[512];
    snprintf(base_dir, sizeof base_dir, "%s/models/mini", shared_dir());
    snprintf(model_path, sizeof model_path, "%s/testdata/gguf/mini-Q2_K.gguf", shared_dir());
    snprintf(text_path, sizeof text_path, "%s/testdata/gguf/eval.txt", shared_dir());
    gpt2_model base, m;
    bpe *tok = NULL;
    char *text = NULL;
    size_t len = 0;
    if (gpt2_hf_load(&base, base_dir) || gpt2_gguf_load(&m, model_path) ||
        gpt2_gguf_load_tokenizer(model_path, &tok) || file_read_all(text_path, &text, &len)) {
        EXPECT(0, "cannot load the models, tokenizer or text: %s", err_msg());
        return;
    }
    // The first TEXT_BYTES bytes, ended at a space so no token is cut.
    len = TEXT_BYTES;
    while (len > 0 && text[len - 1] != ' ') len--;
    int *ids = NULL;
    size_t n = 0;
    CHECK(bpe_encode(tok, text, len, &ids, &n) == 0);
    int V = m.cfg.vocab_size, *tok_bytes = xmalloc((size_t)V * sizeof *tok_bytes);
    for (int i = 0; i < V; i++) {
        size_t bl = 0;
        tok_bytes[i] = bpe_token_bytes(tok, i, &bl) ? (int)bl : 0;
    }

    agree_result ag;
    EXPECT(eval_agreement(&m, &base, ids, n, tok_bytes, CTX, STRIDE, &ag, NULL, NULL) == 0, "eval_agreement: %s", err_msg());
    direct d;
    direct_agreement(&m, &base, ids, n, tok_bytes, &d);
    double nm = d.nll_m / (double)d.scored, nb = d.nll_b / (double)d.scored, dppl = 100 * (exp(nm - nb) - 1);
    printf("agreement on %zu tokens (ctx %d, stride %d): %ld scored; KL(base||model) mean %.6g, p99 %.6g, max %.6g; "
           "reverse KL mean %.6g; p99's neighbouring rank %.6g; median %.6g; top-1 %.4f; dppl %+.4f%%\n",
           n, CTX, STRIDE, d.scored, d.kl_mean, d.kl_p99, d.kl_max, d.kl_rev_mean, d.kl_p99_next, d.kl_median,
           (double)d.agree / (double)d.scored, dppl);
    EXPECT(ag.model.tokens == d.scored && ag.base.tokens == d.scored, "scored tokens %ld / %ld, direct %ld", ag.model.tokens,
           ag.base.tokens, d.scored);
    EXPECT(ag.model.bytes == d.bytes, "scored bytes %.0f, direct %.0f", ag.model.bytes, d.bytes);
    EXPECT_CLOSE("agreement: model mean NLL", fabs(ag.model.nll - nm), TOL_NLL);
    EXPECT_CLOSE("agreement: base mean NLL", fabs(ag.base.nll - nb), TOL_NLL);
    EXPECT_CLOSE("agreement: dppl_pct (percentage points)", fabs(ag.dppl_pct - dppl), 100 * 2 * TOL_NLL);
    EXPECT_CLOSE("agreement: KL mean (relative)", rel(ag.kl_mean, d.kl_mean), TOL_KL_REL);
    EXPECT_CLOSE("agreement: KL p99 (relative)", rel(ag.kl_p99, d.kl_p99), TOL_KL_REL);
    EXPECT_CLOSE("agreement: KL max (relative)", rel(ag.kl_max, d.kl_max), TOL_KL_REL);
    EXPECT(ag.top1 == (double)d.agree / (double)d.scored, "top-1 %.6f, direct %ld of %ld", ag.top1, d.agree, d.scored);
    EXPECT_CLOSE("agreement: bits per byte", fabs(ag.model.bpb - d.nll_m / log(2.0) / d.bytes), TOL_NLL);
    // The checks above can tell the neighbours apart: the reverse KL and the next rank differ
    // by far more than the tolerance.
    EXPECT(rel(d.kl_rev_mean, d.kl_mean) > 10 * TOL_KL_REL && rel(d.kl_p99_next, d.kl_p99) > 10 * TOL_KL_REL,
           "the KL direction or the p99 rank is not distinguishable on this text");

    // Bits per byte from the text itself: every token but the first is scored, so the bytes
    // are the text's less the first token's (the text decodes back from its ids).
    char *dec = NULL;
    size_t dec_len = 0;
    CHECK(bpe_decode(tok, ids, n, &dec, &dec_len) == 0);
    EXPECT(dec_len == len && memcmp(dec, text, len) == 0, "the text does not decode back from its ids");
    free(dec);
    size_t first_len = 0;
    bpe_token_bytes(tok, ids[0], &first_len);
    ppl_result r;
    EXPECT(eval_perplexity(&base, ids, n, tok_bytes, CTX, STRIDE, &r, NULL, NULL) == 0, "eval_perplexity: %s", err_msg());
    double bytes = (double)(len - first_len);
    EXPECT(r.bytes == bytes, "perplexity: %.0f scored bytes, the text less its first token has %.0f", r.bytes, bytes);
    EXPECT_CLOSE("bits per byte = total NLL / ln 2 / bytes", fabs(r.bpb - d.nll_b / log(2.0) / bytes), TOL_NLL);
    EXPECT_CLOSE("perplexity = exp(mean NLL)", rel(r.ppl, exp(nb)), TOL_NLL);

    // The same through the CLI, on the same bytes written to a file.
    char tmp[] = "/tmp/shrink_test_metrics.XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0 && write(fd, text, len) == (ssize_t)len && close(fd) == 0);
    check_cli(shrink, model_path, base_dir, tmp, &d);
    unlink(tmp);

    free(tok_bytes), free(ids), free(text);
    bpe_free(tok);
    gpt2_model_free(&m);
    gpt2_model_free(&base);
}

// --- calibration statistics

typedef struct direct_stats {
    const gpt2_config *cfg;
    int want_head;       // the head sees every position's input when all logits are computed
    long *n;             // per slot
    double **sq, **ab, **H, **sm;
} direct_stats;

static void direct_hook(void *user, int mat, const float *in, int T, int cols) {
    direct_stats *d = user;
    int slot = mat;  // the matrix's plan index
    CHECK(mat >= 0 && mat < gpt2_n_mats(d->cfg) && mat != gpt2_mat_embd(d->cfg));
    for (int t = 0; t < T; t++) {
        const float *x = in + (size_t)t * cols;
        for (int i = 0; i < cols; i++) {
            d->sm[slot][i] += (double)x[i];
            d->sq[slot][i] += (double)x[i] * x[i];
            d->ab[slot][i] += fabs((double)x[i]);
            for (int k = 0; k < cols; k++) d->H[slot][(size_t)i * cols + k] += (double)x[i] * x[k];
        }
    }
    d->n[slot] += T;
}

// Largest |a - b| over n doubles, relative to the largest |b|.
static double rel_maxdiff(const double *a, const double *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i])), m = fmax(m, fabs(b[i]));
    return m > 0 ? d / m : d;
}

// H is summed in double from float products of each window: relative to its largest entry
// it agrees with the double sums to float rounding.
#define TOL_CALIB_REL 1e-5

static void check_stats(const char *what, const act_stats *st, const direct_stats *d, int ns) {
    double dq = 0, da = 0, dh = 0, dm = 0;
    int n_ok = 1;
    for (int s = 0; s < ns; s++) {
        int cols = st[s].cols;
        n_ok &= st[s].n == d->n[s];
        dm = fmax(dm, rel_maxdiff(st[s].sum, d->sm[s], (size_t)cols));
        dq = fmax(dq, rel_maxdiff(st[s].sumsq, d->sq[s], (size_t)cols));
        da = fmax(da, rel_maxdiff(st[s].sumabs, d->ab[s], (size_t)cols));
        dh = fmax(dh, rel_maxdiff(st[s].H, d->H[s], (size_t)cols * cols));
    }
    char label[160];
    EXPECT(n_ok, "%s: token counts differ from the inputs the matrices saw", what);
    snprintf(label, sizeof label, "%s: sum of x per channel (relative to the largest)", what);
    EXPECT_CLOSE(label, dm, TOL_CALIB_REL);
    snprintf(label, sizeof label, "%s: sum of x^2 per channel (relative to the largest)", what);
    EXPECT_CLOSE(label, dq, TOL_CALIB_REL);
    snprintf(label, sizeof label, "%s: sum of |x| per channel (relative to the largest)", what);
    EXPECT_CLOSE(label, da, TOL_CALIB_REL);
    snprintf(label, sizeof label, "%s: H = X^T X (relative to the largest entry)", what);
    EXPECT_CLOSE(label, dh, TOL_CALIB_REL);
}

// ../shared's mini model and its tokenizer; 0 (a failed check recorded) if either fails to load.
static int load_shared_mini(gpt2_model *m, bpe **tok) {
    char dir[512], vocab[600], merges[600];
    snprintf(dir, sizeof dir, "%s/models/mini", shared_dir());
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    *tok = NULL;
    if (gpt2_hf_load(m, dir) || bpe_load(tok, vocab, merges)) {
        EXPECT(0, "cannot load %s: %s", dir, err_msg());
        return 0;
    }
    return 1;
}

static void test_calib(void) {
    gpt2_model m;
    bpe *tok = NULL;
    if (!load_shared_mini(&m, &tok)) return;
    const gpt2_config *c = &m.cfg;
    calib_set cs;
    // Two windows of 32 tokens from the bundled calibration text (80 tokens asked: the rest
    // of a window is dropped).
    EXPECT(calib_load(&cs, tok, "data/calib.txt", 80, 32) == 0 && cs.n_windows == 2, "calib_load: %s", err_msg());
    int ns = gpt2_n_mats(c);  // plan order; token_embd's slot stays empty (a lookup)
    direct_stats d = {c, 1, xcalloc((size_t)ns, sizeof(long)), xcalloc((size_t)ns, sizeof(double *)),
                      xcalloc((size_t)ns, sizeof(double *)), xcalloc((size_t)ns, sizeof(double *)),
                      xcalloc((size_t)ns, sizeof(double *))};
    act_stats *st = xcalloc((size_t)ns, sizeof *st), *sb = xcalloc((size_t)ns, sizeof *sb);
    for (int s = 0; s < ns; s++) {
        int rows, cols;
        gpt2_mat_dims(c, s, &rows, &cols);
        if (s == gpt2_mat_embd(c)) cols = 0;
        act_stats_init(&st[s], cols, 1);
        act_stats_init(&sb[s], cols, 1);
        d.sq[s] = xcalloc((size_t)cols, sizeof(double));
        d.ab[s] = xcalloc((size_t)cols, sizeof(double));
        d.sm[s] = xcalloc((size_t)cols, sizeof(double));
        d.H[s] = xcalloc((size_t)cols * cols, sizeof(double));
    }
    // The inputs every matrix sees, window by window, with all positions' logits (so the
    // head's inputs are every position's).
    gpt2_state s;
    CHECK(gpt2_state_init(&s, &m, cs.ctx) == 0);
    s.hook = direct_hook, s.hook_user = &d;
    for (int w = 0; w < cs.n_windows; w++) {
        gpt2_state_reset(&s);
        gpt2_forward(&m, &s, cs.ids + (size_t)w * cs.ctx, cs.ctx, 1);
    }
    gpt2_state_free(&s);
    for (int k = 0; k < ns; k++)
        CHECK(k == gpt2_mat_embd(c) || d.n[k] == (long)cs.n_windows * cs.ctx);  // every matrix saw every token

    calib_collect(&m, &cs, st, 0, NULL);
    check_stats("calib_collect", st, &d, ns);
    // Block by block, as GPTQ runs them: the stream advanced through each block, then the head.
    calib_stream stream;
    calib_stream_init(&stream, &m, &cs);
    for (int l = 0; l <= c->n_layer; l++) calib_run_block(&m, &cs, &stream, sb, 1, NULL);
    calib_stream_free(&stream);
    check_stats("calib_run_block", sb, &d, ns);

    for (int k = 0; k < ns; k++) {
        act_stats_free(&st[k]);
        act_stats_free(&sb[k]);
        free(d.sq[k]), free(d.ab[k]), free(d.H[k]), free(d.sm[k]);
    }
    free(st), free(sb), free(d.n), free(d.sq), free(d.ab), free(d.H), free(d.sm);
    calib_free(&cs);
    bpe_free(tok);
    gpt2_model_free(&m);
}

// H gathered over many windows, as GPTQ at scale sees it: 36 windows of 250 tokens (the
// product's 1024-token batches cut windows; the float part is flushed into double mid-pass
// and at the end), at block 0's QKV (256 columns) and MLP down projection (1024 columns:
// tiles of the product, the last one short), against double sums of the same inputs.
typedef struct wide_direct {
    int mats[2];
    double *H[2];
} wide_direct;

static void wide_hook(void *user, int mat, const float *in, int T, int cols) {
    wide_direct *d = user;
    for (int q = 0; q < 2; q++) {
        if (mat != d->mats[q]) continue;
        for (int t = 0; t < T; t++) {
            const float *x = in + (size_t)t * cols;
            for (int i = 0; i < cols; i++) {
                double *h = d->H[q] + (size_t)i * cols, xi = x[i];
                for (int k = i; k < cols; k++) h[k] += xi * x[k];
            }
        }
    }
}

static void test_calib_long(void) {
    gpt2_model m;
    bpe *tok = NULL;
    if (!load_shared_mini(&m, &tok)) return;
    const gpt2_config *c = &m.cfg;
    calib_set cs;
    EXPECT(calib_load(&cs, tok, "data/calib.txt", 9000, 250) == 0 && cs.n_windows == 36, "calib_load: %s", err_msg());
    int ns = gpt2_n_mats(c);
    wide_direct d = {{gpt2_mat_index(c, 0, GPT2_LIN_QKV, 0), gpt2_mat_index(c, 0, GPT2_LIN_DOWN, 0)}, {NULL, NULL}};
    act_stats *st = xcalloc((size_t)ns, sizeof *st);
    int cols[2];
    for (int q = 0; q < 2; q++) {
        cols[q] = gpt2_mat(&m, d.mats[q])->cols;
        d.H[q] = xcalloc((size_t)cols[q] * cols[q], sizeof(double));
        act_stats_init(&st[d.mats[q]], cols[q], 1);
    }
    gpt2_state s;
    CHECK(gpt2_state_init(&s, &m, cs.ctx) == 0);
    s.hook = wide_hook, s.hook_user = &d, s.stop_after = 1;
    for (int w = 0; w < cs.n_windows; w++) {
        gpt2_state_reset(&s);
        gpt2_forward(&m, &s, cs.ids + (size_t)w * cs.ctx, cs.ctx, 0);
    }
    gpt2_state_free(&s);
    calib_collect(&m, &cs, st, 1, NULL);
    for (int q = 0; q < 2; q++) {
        int C = cols[q];
        for (int i = 0; i < C; i++)  // the direct sums are upper; H must be symmetric
            for (int k = 0; k < i; k++) d.H[q][(size_t)i * C + k] = d.H[q][(size_t)k * C + i];
        char label[128];
        snprintf(label, sizeof label, "calib_collect, %d tokens: H (%d columns) relative to the largest entry",
                 cs.n_windows * cs.ctx, C);
        EXPECT_CLOSE(label, rel_maxdiff(st[d.mats[q]].H, d.H[q], (size_t)C * C), TOL_CALIB_REL);
        EXPECT(st[d.mats[q]].n == (long)cs.n_windows * cs.ctx, "calib_collect: %ld tokens counted", st[d.mats[q]].n);
        act_stats_free(&st[d.mats[q]]);
        free(d.H[q]);
    }
    free(st);
    calib_free(&cs);
    bpe_free(tok);
    gpt2_model_free(&m);
}

// Repetition measures: a hand-counted loop and a text without repeats, then random texts over
// a small vocabulary against brute-force definitions; the collapse rule at its edges.
static void naive_rep(const int *t, int len, double *rep4, double *d1, double *d2, int *longest) {
    int rep = 0, u1 = 0, u2 = 0;
    for (int i = 0; i + 4 <= len; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = !memcmp(t + i, t + j, 4 * sizeof(int));
        rep += seen;
    }
    for (int i = 0; i < len; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = t[i] == t[j];
        u1 += !seen;
    }
    for (int i = 0; i + 2 <= len; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = !memcmp(t + i, t + j, 2 * sizeof(int));
        u2 += !seen;
    }
    *longest = 0;
    for (int i = 0; i < len; i++)
        for (int j = i + 1; j < len; j++) {
            int k = 0;
            while (j + k < len && t[i + k] == t[j + k]) k++;
            if (k > *longest) *longest = k;
        }
    *rep4 = len >= 4 ? (double)rep / (len - 3) : 0;
    *d1 = (double)u1 / len, *d2 = len >= 2 ? (double)u2 / (len - 1) : 0;
}

static void test_repetition(void) {
    int loop[12] = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}, plain[5] = {5, 6, 7, 8, 9};
    const int *texts[2] = {loop, plain};
    int lens[2] = {12, 5};
    rep_stats r;
    eval_repetition(texts, lens, 2, &r);
    // loop: 9 4-grams, 4 distinct (5 repeats); 4 of 12 tokens, 4 of 11 bigrams distinct; "1 2 3 4 1 2 3 4" twice.
    EXPECT_CLOSE("rep4 of a loop and a plain text", fabs(r.rep4 - (5.0 / 9) / 2), 1e-12);
    EXPECT_CLOSE("distinct-1", fabs(r.distinct1 - (4.0 / 12 + 1) / 2), 1e-12);
    EXPECT_CLOSE("distinct-2", fabs(r.distinct2 - (4.0 / 11 + 1) / 2), 1e-12);
    EXPECT(r.longest_max == 8 && fabs(r.longest - 4.0) < 1e-12, "longest repeat: max %d, mean %g (expected 8, 4)",
           r.longest_max, r.longest);
    rng g;
    rng_init(&g, 5);
    double worst = 0;
    int longest_ok = 1;
    for (int trial = 0; trial < 40; trial++) {
        int len = 1 + trial * 3, t[128];
        for (int i = 0; i < len; i++) t[i] = (int)(rng_f32(&g) * (2 + trial % 5));
        const int *tp = t;
        eval_repetition(&tp, &len, 1, &r);
        double rep4, d1, d2;
        int lg;
        naive_rep(t, len, &rep4, &d1, &d2, &lg);
        worst = fmax(worst, fmax(fabs(r.rep4 - rep4), fmax(fabs(r.distinct1 - d1), fabs(r.distinct2 - d2))));
        longest_ok &= r.longest_max == lg;
    }
    EXPECT_CLOSE("repetition measures vs brute force on random texts", worst, 1e-12);
    EXPECT(longest_ok, "longest repeat differs from brute force");
    rep_stats o = {.rep4 = 0.05}, m1 = {.rep4 = 0.5}, m2 = {.rep4 = 0.14}, o2 = {.rep4 = 0.35}, m3 = {.rep4 = 0.5};
    EXPECT(eval_collapsed(&m1, &o) && !eval_collapsed(&m2, &o) && !eval_collapsed(&m3, &o2) && !eval_collapsed(&o, &o),
           "collapse rule: margin %.2f and ratio %.1f", REP_COLLAPSE_MARGIN, REP_COLLAPSE_RATIO);
}

int main(int argc, char **argv) {
    (void)argc;
    char self[1024], shrink[1100];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(shrink, sizeof shrink, "%s/shrink", dirname(self));
    EXPECT(access(shrink, X_OK) == 0, "%s is not built (make test builds it first)", shrink);
    test_agreement(shrink);
    test_calib();
    test_calib_long();
    test_repetition();
    return TEST_DONE();
}
