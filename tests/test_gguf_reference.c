// test_gguf_reference.c: GGUF files made by llama.cpp's own converter and quantizer
// (../shared/testdata/gguf; its README) run in shrink as the reference numbers say, on every
// kernel path: run_all.sh runs this binary with the kernels the CPU chooses and again with
// SHRINK_KERNELS=ref and =avx2 (--logits-only: the perplexity runs once).
//
// For each file in reference.json (the F32 one, not shipped, is made at test time from
// ../shared/models/mini by shrink's exporter, and must be byte-identical to llama.cpp's: size
// and SHA-256 as reference.json lists them):
//   1. the test's own float64 forward, reading the file's tensors itself, reproduces the
//      shipped reference logits (computed from the same exact weights by PyTorch in float64)
//   2. batch logits (32 tokens in one call) against the exact-weights reference, where the
//      batch path multiplies by the dequantized weights in fp32; where it runs integer dots
//      against activations rounded to Q8_0 (Q8_0/Q4_0 weights on AVX-512 VNNI), against the
//      float64 forward that rounds those activations the same way
//   3. token-by-token logits (KV cache; integer dots against activations rounded to Q8_0, or
//      Q8_K for the K-quants) against the float64 forward rounding as that path does
//   4. token-by-token against batch where neither path rounds activations (F32, F16)
//   5. the mean NLL of eval.txt (ctx 256, stride 128) against reference.json
// Where a path rounds activations, a float32 and a float64 forward can round a value lying
// on a rounding boundary differently, and such a flip moves everything after it by far more
// than float rounding (it reaches later positions through the KV cache). The float64 forward
// therefore takes each rounded activation from shrink's own input to that matrix (seen by a
// forward hook), after checking that input against its own unrounded one (TOL_ACTIVATIONS):
// the rounding decisions are shrink's, every product and sum the reference's own.
// Each tolerance is chosen per path from what was measured (the test prints every distance)
// and must be under half of what quantization itself moves the logits (the file's reference
// against the F32 file's; for the NLL: under the whole of it): a check that cannot tell
// quantized weights from unquantized ones fails.
#include "harness.h"
#include "sha256.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/xalloc.h"
#include "eval/eval.h"
#include "formats/gguf.h"
#include "formats/json.h"
#include "kernels/kernels.h"
#include "modelfile/modelfile.h"
#include "tokenizer/bpe.h"
#include <string.h>
#include <unistd.h>

// The test's float64 forward against the shipped float64 reference: float32 rounding of the
// weights' dequantization and of the stored logits only.
#define TOL_REF_FORWARD 2e-6
// Batch logits where the batch multiplies by the dequantized weights in fp32 (every file on
// ref and AVX2 kernels; the K-quant, F16 and F32 files on AVX-512): fp32 GEMM rounding.
#define TOL_BATCH_F32_REF 5e-5
#define TOL_BATCH_F32_AVX2 2e-5
#define TOL_BATCH_F32_AVX512 5e-5
// Integer dots (activations rounded), against the float64 forward that rounds the same
// activations: fp32 block scales and sums. Token by token on every ISA; batches only on
// AVX-512 VNNI (elsewhere a batch never rounds activations: 0 makes such a case fail).
#define TOL_TOKEN_INT_REF 1e-5
#define TOL_TOKEN_INT_AVX2 1e-5
#define TOL_TOKEN_INT_AVX512 1e-5
#define TOL_BATCH_INT_AVX512 5e-5
// Token by token against batch where neither rounds activations.
#define TOL_TOKEN_VS_BATCH 5e-5
// shrink's input to each matrix against the float64 forward's own, relative to its largest
// value (before any rounding).
#define TOL_ACTIVATIONS 1e-5
// Mean NLL: the batch path in fp32 (the README's float32 expectation is 5e-5), and with Q8_0
// activations (the rounding itself moves it; no float64 reference of that exists here).
#define TOL_NLL_F32 5e-6
#define TOL_NLL_Q8ACT 1.2e-4

// --- the test's float64 forward, from the GGUF file's own tensors (llama.cpp's gpt2 names)

typedef struct ref_mat {
    int type, rows, cols;
    double *w;  // (rows, cols) dequantized
    double *b;  // (rows) or NULL
} ref_mat;

enum { MAX_LAYERS = 64 };

typedef struct ref_model {
    int L, C, NH, F, V;
    double eps;
    double *wte, *wpe, *lnf_w, *lnf_b;
    double *ln1_w[MAX_LAYERS], *ln1_b[MAX_LAYERS], *ln2_w[MAX_LAYERS], *ln2_b[MAX_LAYERS];
    ref_mat mat[MAX_LAYERS][4], head;  // mat[l][GPT2_LIN_*]
} ref_model;

static double *ref_tensor(const gguf_file *g, const char *name, size_t *n) {
    const gguf_tensor *t = gguf_find_tensor(g, name);
    if (!t || !qtype_get((int)t->type)) return NULL;
    float *f = xmalloc(t->nelem * sizeof *f);
    dequantize_row((qtype)t->type, t->data, f, t->nelem);
    double *d = xmalloc(t->nelem * sizeof *d);
    for (size_t i = 0; i < t->nelem; i++) d[i] = f[i];
    free(f);
    if (n) *n = t->nelem;
    return d;
}

static int ref_matrix(const gguf_file *g, ref_mat *m, const char *w, const char *b) {
    const gguf_tensor *t = gguf_find_tensor(g, w);
    if (!t) return -1;
    m->type = (int)t->type, m->cols = (int)t->ne[0], m->rows = (int)t->ne[1];
    m->w = ref_tensor(g, w, NULL);
    m->b = b ? ref_tensor(g, b, NULL) : NULL;
    return m->w && (!b || m->b) ? 0 : -1;
}

static int ref_load(ref_model *m, const char *path) {
    memset(m, 0, sizeof *m);
    gguf_file g;
    if (gguf_open(&g, path)) return -1;
    int64_t L, C, NH, F;
    float eps;
    int bad = gguf_get_int(&g, "gpt2.block_count", &L) || gguf_get_int(&g, "gpt2.embedding_length", &C) ||
              gguf_get_int(&g, "gpt2.attention.head_count", &NH) || gguf_get_int(&g, "gpt2.feed_forward_length", &F) ||
              gguf_get_f32(&g, "gpt2.attention.layer_norm_epsilon", &eps) || L > MAX_LAYERS;
    const gguf_tensor *te = gguf_find_tensor(&g, "token_embd.weight");
    if (!bad && te) {
        m->L = (int)L, m->C = (int)C, m->NH = (int)NH, m->F = (int)F, m->eps = eps, m->V = (int)te->ne[1];
        bad |= !(m->wte = ref_tensor(&g, "token_embd.weight", NULL)) || !(m->wpe = ref_tensor(&g, "position_embd.weight", NULL)) ||
               !(m->lnf_w = ref_tensor(&g, "output_norm.weight", NULL)) || !(m->lnf_b = ref_tensor(&g, "output_norm.bias", NULL));
        static const char *mats[4] = {"attn_qkv", "attn_output", "ffn_up", "ffn_down"};
        char a[96], b[96];
        for (int l = 0; l < m->L && !bad; l++) {
            snprintf(a, sizeof a, "blk.%d.attn_norm.weight", l);
            bad |= !(m->ln1_w[l] = ref_tensor(&g, a, NULL));
            snprintf(a, sizeof a, "blk.%d.attn_norm.bias", l);
            bad |= !(m->ln1_b[l] = ref_tensor(&g, a, NULL));
            snprintf(a, sizeof a, "blk.%d.ffn_norm.weight", l);
            bad |= !(m->ln2_w[l] = ref_tensor(&g, a, NULL));
            snprintf(a, sizeof a, "blk.%d.ffn_norm.bias", l);
            bad |= !(m->ln2_b[l] = ref_tensor(&g, a, NULL));
            for (int k = 0; k < 4; k++) {
                snprintf(a, sizeof a, "blk.%d.%s.weight", l, mats[k]);
                snprintf(b, sizeof b, "blk.%d.%s.bias", l, mats[k]);
                bad |= ref_matrix(&g, &m->mat[l][k], a, b);
            }
        }
        // output.weight, or the tied embedding when the file has none
        if (!bad && ref_matrix(&g, &m->head, "output.weight", NULL)) bad |= ref_matrix(&g, &m->head, "token_embd.weight", NULL);
    }
    gguf_close(&g);
    return bad || !te ? -1 : 0;
}

static void ref_mat_free(ref_mat *m) { free(m->w), free(m->b); }

static void ref_free(ref_model *m) {
    free(m->wte), free(m->wpe), free(m->lnf_w), free(m->lnf_b);
    for (int l = 0; l < m->L; l++) {
        free(m->ln1_w[l]), free(m->ln1_b[l]), free(m->ln2_w[l]), free(m->ln2_b[l]);
        for (int k = 0; k < 4; k++) ref_mat_free(&m->mat[l][k]);
    }
    ref_mat_free(&m->head);
}

// --- what shrink's matrices saw: every linear layer's input, by slot (layer * 4 + mat, the
// head last) and position, from a forward hook

typedef struct captured {
    int n_slots, T, pos;  // pos: the position of the first row of the current call
    int *cols;            // (n_slots)
    float **x;            // (n_slots) of (T, cols)
} captured;

static void capture_init(captured *c, const ref_model *m, int T) {
    c->n_slots = m->L * 4 + 1, c->T = T, c->pos = 0;
    c->cols = xmalloc((size_t)c->n_slots * sizeof *c->cols);
    c->x = xmalloc((size_t)c->n_slots * sizeof *c->x);
    for (int s = 0; s < c->n_slots; s++) {
        c->cols[s] = s < c->n_slots - 1 ? m->mat[s / 4][s % 4].cols : m->head.cols;
        c->x[s] = xcalloc((size_t)T * c->cols[s], sizeof(float));
    }
}

static void capture_free(captured *c) {
    for (int s = 0; s < c->n_slots; s++) free(c->x[s]);
    free(c->x), free(c->cols);
}

static void capture_hook(void *user, int mat, const float *in, int T, int cols) {
    captured *c = user;
    // shrink's plan index: layer * 4 + linear for these dense files, token_embd at 4L (never
    // hooked), the head at 4L + 1
    int s = mat == c->n_slots ? c->n_slots - 1 : mat;
    CHECK(s >= 0 && s < c->n_slots && cols == c->cols[s] && c->pos + T <= c->T);
    memcpy(c->x[s] + (size_t)c->pos * cols, in, (size_t)T * cols * sizeof(float));
}

// --- which inputs shrink rounds (README, "Speed"): single rows against Q8_0/Q4_0 (to Q8_0)
// and Q2_K..Q6_K with rows of whole 256-blocks (to Q8_K); batches against Q8_0/Q4_0 where the
// CPU has the integer batch kernel (AVX-512 VNNI). Returns the activation type, or -1.
enum { PATH_EXACT, PATH_BATCH, PATH_TOKEN };

static int act_rounding(int wtype, int cols, int path) {
    int q8 = wtype == QTYPE_Q8_0 || wtype == QTYPE_Q4_0;
    int k8 = (wtype == QTYPE_Q2_K || wtype == QTYPE_Q3_K || wtype == QTYPE_Q4_K || wtype == QTYPE_Q5_K || wtype == QTYPE_Q6_K) &&
             cols % 256 == 0;
    if (path == PATH_TOKEN) return q8 ? QTYPE_Q8_0 : k8 ? QTYPE_Q8_K : -1;
    if (path == PATH_BATCH && q8 && kern.qmatmul_fast) return QTYPE_Q8_0;
    return -1;
}

static int path_rounds(const ref_model *m, int path) {
    int any = act_rounding(m->head.type, m->head.cols, path) >= 0;
    for (int l = 0; l < m->L; l++)
        for (int k = 0; k < 4; k++) any |= act_rounding(m->mat[l][k].type, m->mat[l][k].cols, path) >= 0;
    return any;
}

typedef struct ref_run {
    const ref_model *m;
    int path;
    const captured *cap;  // shrink's inputs (NULL: none; then nothing is rounded)
    double act_dev;       // largest relative deviation of shrink's inputs from ours
} ref_run;

// out (T, W->rows) = in (T, W->cols) · Wᵀ + b; slot's inputs compared with shrink's and,
// where the path rounds them, replaced by shrink's, rounded.
static void ref_linear(ref_run *r, int slot, const ref_mat *W, const double *in, int T, double *out) {
    int at = r->cap ? act_rounding(W->type, W->cols, r->path) : -1, K = W->cols;
    double *x = xmalloc((size_t)T * K * sizeof *x), dmax = 0, xmax = 0;
    float *f = xmalloc((size_t)K * sizeof *f);
    void *q = xmalloc((size_t)K * 2 + 1024);
    memcpy(x, in, (size_t)T * K * sizeof *x);
    for (int t = 0; r->cap && t < T; t++) {
        const float *xc = r->cap->x[slot] + (size_t)t * K;
        for (int i = 0; i < K; i++) dmax = fmax(dmax, fabs(xc[i] - x[(size_t)t * K + i])), xmax = fmax(xmax, fabs(x[(size_t)t * K + i]));
        if (at < 0) continue;
        CHECK(quantize_rows((qtype)at, xc, q, 1, K, NULL) == 0);
        dequantize_row((qtype)at, q, f, (size_t)K);
        for (int i = 0; i < K; i++) x[(size_t)t * K + i] = f[i];
    }
#pragma omp parallel for schedule(static)
    for (int o = 0; o < W->rows; o++) {
        const double *w = W->w + (size_t)o * K;
        for (int t = 0; t < T; t++) {
            const double *xt = x + (size_t)t * K;
            double s = W->b ? W->b[o] : 0;
            for (int i = 0; i < K; i++) s += w[i] * xt[i];
            out[(size_t)t * W->rows + o] = s;
        }
    }
    if (xmax > 0) r->act_dev = fmax(r->act_dev, dmax / xmax);
    free(x), free(f), free(q);
}

static void ref_layernorm(double *o, const double *x, const double *w, const double *b, int C, double eps) {
    double mu = 0, var = 0;
    for (int i = 0; i < C; i++) mu += x[i];
    mu /= C;
    for (int i = 0; i < C; i++) var += (x[i] - mu) * (x[i] - mu);
    double rs = 1 / sqrt(var / C + eps);
    for (int i = 0; i < C; i++) o[i] = (x[i] - mu) * rs * w[i] + b[i];
}

// GPT-2 (tanh GELU, 1/sqrt(HS) attention scaling, as llama.cpp's gpt2 graph) on T tokens at
// positions 0..T-1: logits (T, V).
static void ref_forward(ref_run *r, const int *tok, int T, double *logits) {
    const ref_model *m = r->m;
    int C = m->C, F = m->F, NH = m->NH, HS = C / NH;
    double *x = xmalloc((size_t)T * C * sizeof *x), *xn = xmalloc((size_t)T * C * sizeof *xn);
    double *qkv = xmalloc((size_t)T * 3 * C * sizeof *qkv), *att = xmalloc((size_t)T * C * sizeof *att);
    double *h = xmalloc((size_t)T * F * sizeof *h), *y = xmalloc((size_t)T * C * sizeof *y), *sc = xmalloc((size_t)T * sizeof *sc);
    r->act_dev = 0;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < C; i++) x[(size_t)t * C + i] = m->wte[(size_t)tok[t] * C + i] + m->wpe[(size_t)t * C + i];
    for (int l = 0; l < m->L; l++) {
        for (int t = 0; t < T; t++) ref_layernorm(xn + (size_t)t * C, x + (size_t)t * C, m->ln1_w[l], m->ln1_b[l], C, m->eps);
        ref_linear(r, l * 4 + GPT2_LIN_QKV, &m->mat[l][GPT2_LIN_QKV], xn, T, qkv);
        for (int t = 0; t < T; t++)
            for (int hh = 0; hh < NH; hh++) {
                const double *q = qkv + (size_t)t * 3 * C + hh * HS;
                double mx = -INFINITY, z = 0;
                for (int j = 0; j <= t; j++) {
                    const double *k = qkv + (size_t)j * 3 * C + C + hh * HS;
                    double s = 0;
                    for (int i = 0; i < HS; i++) s += q[i] * k[i];
                    sc[j] = s / sqrt((double)HS);
                    mx = fmax(mx, sc[j]);
                }
                for (int j = 0; j <= t; j++) z += sc[j] = exp(sc[j] - mx);
                double *o = att + (size_t)t * C + hh * HS;
                for (int i = 0; i < HS; i++) o[i] = 0;
                for (int j = 0; j <= t; j++)
                    for (int i = 0; i < HS; i++) o[i] += sc[j] / z * qkv[(size_t)j * 3 * C + 2 * C + hh * HS + i];
            }
        ref_linear(r, l * 4 + GPT2_LIN_OUT, &m->mat[l][GPT2_LIN_OUT], att, T, y);
        for (size_t i = 0; i < (size_t)T * C; i++) x[i] += y[i];
        for (int t = 0; t < T; t++) ref_layernorm(xn + (size_t)t * C, x + (size_t)t * C, m->ln2_w[l], m->ln2_b[l], C, m->eps);
        ref_linear(r, l * 4 + GPT2_LIN_UP, &m->mat[l][GPT2_LIN_UP], xn, T, h);
        for (size_t i = 0; i < (size_t)T * F; i++) {
            double u = h[i];
            h[i] = 0.5 * u * (1 + tanh(sqrt(2 / M_PI) * (u + 0.044715 * u * u * u)));
        }
        ref_linear(r, l * 4 + GPT2_LIN_DOWN, &m->mat[l][GPT2_LIN_DOWN], h, T, y);
        for (size_t i = 0; i < (size_t)T * C; i++) x[i] += y[i];
    }
    for (int t = 0; t < T; t++) ref_layernorm(xn + (size_t)t * C, x + (size_t)t * C, m->lnf_w, m->lnf_b, C, m->eps);
    ref_linear(r, m->L * 4, &m->head, xn, T, logits);
    free(x), free(xn), free(qkv), free(att), free(h), free(y), free(sc);
}

// --- comparisons

static double maxdiff(const float *a, const double *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double x = fabs((double)a[i] - b[i]);
        if (!(x <= d)) d = x;  // NaN wins
    }
    return d;
}

typedef struct isa_tol {
    const char *isa;
    double batch_f32, batch_int, token_int;
} isa_tol;

// "generic" is the portable build's matmul with the reference kernels for the rest.
static const isa_tol TOLS[] = {
    {"ref", TOL_BATCH_F32_REF, 0, TOL_TOKEN_INT_REF},
    {"generic", TOL_BATCH_F32_REF, 0, TOL_TOKEN_INT_REF},
    {"avx2", TOL_BATCH_F32_AVX2, 0, TOL_TOKEN_INT_AVX2},
    {"avx512", TOL_BATCH_F32_AVX512, TOL_BATCH_INT_AVX512, TOL_TOKEN_INT_AVX512},
};

static const isa_tol *tol_for(const char *isa) {
    for (size_t i = 0; i < sizeof TOLS / sizeof TOLS[0]; i++)
        if (strcmp(TOLS[i].isa, isa) == 0) return &TOLS[i];
    EXPECT(0, "no tolerances for the %s kernels", isa);
    return &TOLS[0];
}

// Records a distance against its tolerance, and the tolerance against what quantization
// moves (quant_effect: 0 for unquantized files, where there is nothing to tell apart).
static void check(const char *file, const char *what, double d, double tol, double quant_effect) {
    char label[256];
    snprintf(label, sizeof label, "%s %s", file, what);
    EXPECT_CLOSE(label, d, tol);
    EXPECT(quant_effect == 0 || 2 * tol < quant_effect,
           "%s %s: tolerance %.3g cannot tell quantized weights from unquantized ones (they move it %.3g)", file, what, tol,
           quant_effect);
}

// The F32 file llama.cpp's converter writes, made from ../shared's model by shrink's exporter:
// byte-identical (size and SHA-256 from reference.json). Returns its path (static) or NULL.
static const char *make_f32(const json_value *e, const char *tmp_dir) {
    static char path[600];
    char mdir[512];
    snprintf(mdir, sizeof mdir, "%s/models/mini", shared_dir());
    snprintf(path, sizeof path, "%s/mini-F32.gguf", tmp_dir);
    gpt2_model m;
    if (gpt2_hf_load(&m, mdir) || gpt2_gguf_save(&m, mdir, path, 0)) {
        EXPECT(0, "make the F32 file from %s: %s", mdir, err_msg());
        return NULL;
    }
    gpt2_model_free(&m);
    char hex[65];
    size_t bytes = 0;
    const json_value *want_hex = json_get(e, "sha256"), *want_bytes = json_get(e, "bytes");
    int same = sha256_file(path, hex, &bytes) == 0 && want_hex && want_bytes && bytes == (size_t)want_bytes->integer &&
               strcmp(hex, want_hex->str) == 0;
    EXPECT(same, "mini-F32.gguf made by shrink export (%zu bytes, sha256 %s) differs from llama.cpp's (%lld bytes, %s)", bytes,
           hex, want_bytes ? (long long)want_bytes->integer : -1LL, want_hex ? want_hex->str : "?");
    if (same) printf("mini-F32.gguf made from ../shared by shrink export == llama.cpp's converter output (%zu bytes, sha256) ... ok\n", bytes);
    return path;
}

int main(int argc, char **argv) {
    int logits_only = argc > 1 && strcmp(argv[1], "--logits-only") == 0;
    kernels_init();
    const isa_tol *tol = tol_for(kern.isa);
    printf("kernels: %s (integer batches: %s)\n", kern.isa, kern.qmatmul_fast ? "yes" : "no");
    char dir[512], path[640], tmp_dir[64] = "/tmp/shrink_test_gguf_ref.XXXXXX";
    CHECK(mkdtemp(tmp_dir));
    snprintf(dir, sizeof dir, "%s/testdata/gguf", shared_dir());
    snprintf(path, sizeof path, "%s/reference.json", dir);
    char *text;
    size_t len;
    json_value ref;
    if (file_read_all(path, &text, &len) || json_parse(&ref, text, len, path)) {
        EXPECT(0, "cannot read %s: %s", path, err_msg());
        return TEST_DONE();
    }
    free(text);
    const json_value *toks = json_get(&ref, "logits_tokens"), *models = json_get(&ref, "models");
    const json_value *f32 = models ? json_get(models, "mini-F32") : NULL;
    if (!(toks && toks->type == JSON_ARRAY && models && models->type == JSON_OBJECT && f32)) {
        EXPECT(0, "reference.json layout");
        return TEST_DONE();
    }
    int T = (int)toks->len;
    int *tok = xmalloc((size_t)T * sizeof(int));
    for (int i = 0; i < T; i++) tok[i] = (int)toks->items[i].integer;
    char *eval_text = NULL;
    size_t eval_len = 0;
    snprintf(path, sizeof path, "%s/eval.txt", dir);
    if (!logits_only) EXPECT(file_read_all(path, &eval_text, &eval_len) == 0, "read %s", path);

    // The unquantized reference: the F32 file's float64 forward (it has no shipped logits).
    double *unq = NULL, unq_nll = json_get(f32, "mean_nll")->number;
    for (size_t k = 0; k < models->len; k++) {
        const json_value *e = &models->items[k];
        const json_value *file = json_get(e, "file"), *nll = json_get(e, "mean_nll");
        const char *fp = path;
        snprintf(path, sizeof path, "%s/%s", dir, file->str);
        int is_f32 = e == f32;
        if (!file_exists(path)) {
            // The README: the F32 file is not shipped (36 MB); shrink export makes the same file.
            if (is_f32) fp = make_f32(e, tmp_dir);
            else EXPECT(0, "%s: missing (reference.json lists it)", path);
            if (!is_f32 || !fp) continue;
        }
        gpt2_model m;
        ref_model rm;
        if (gpt2_gguf_load(&m, fp) || ref_load(&rm, fp)) {
            EXPECT(0, "load %s: %s", fp, err_msg());
            err_clear();
            continue;
        }
        int V = m.cfg.vocab_size;
        size_t n = (size_t)T * V;
        double *want = xmalloc(n * sizeof *want), *emu = xmalloc(n * sizeof *emu);
        captured cap;
        capture_init(&cap, &rm, T);
        // 1. the float64 forward of the exact weights against the shipped logits
        ref_run rr = {&rm, PATH_EXACT, NULL, 0};
        ref_forward(&rr, tok, T, want);
        char lpath[700];
        snprintf(lpath, sizeof lpath, "%s/%.*s.logits.f32.bin", dir, (int)(strlen(file->str) - 5), file->str);
        char *lraw = NULL;
        size_t lbytes = 0;
        if (file_read_all(lpath, &lraw, &lbytes) == 0 && lbytes == n * sizeof(float)) {
            char label[200];
            snprintf(label, sizeof label, "%s float64 forward of its weights here vs its reference logits", file->str);
            EXPECT_CLOSE(label, maxdiff((const float *)lraw, want, n), TOL_REF_FORWARD);
            for (size_t i = 0; i < n; i++) want[i] = ((const float *)lraw)[i];
        } else if (!is_f32) {
            EXPECT(0, "%s: missing or wrong-sized", lpath);
        }
        free(lraw);
        double qe = 0;
        if (is_f32) {
            unq = xmalloc(n * sizeof *unq);
            memcpy(unq, want, n * sizeof *unq);
        } else if (unq && strcmp(file->str, "mini-F16.gguf") != 0) {
            for (size_t i = 0; i < n; i++) qe = fmax(qe, fabs(want[i] - unq[i]));
        }
        gpt2_state s;
        CHECK(gpt2_state_init(&s, &m, T) == 0);
        s.hook = capture_hook, s.hook_user = &cap;
        // 2. batch
        float *batch = xmalloc(n * sizeof *batch);
        gpt2_forward(&m, &s, tok, T, 1);
        memcpy(batch, s.logits, n * sizeof *batch);
        int batch_rounds = path_rounds(&rm, PATH_BATCH), token_rounds = path_rounds(&rm, PATH_TOKEN);
        ref_run rb = {&rm, PATH_BATCH, &cap, 0};
        ref_forward(&rb, tok, T, emu);
        char what[128];
        snprintf(what, sizeof what, "shrink's batch inputs vs the float64 forward's (relative)");
        check(file->str, what, rb.act_dev, TOL_ACTIVATIONS, 0);
        double d_batch = batch_rounds ? maxdiff(batch, emu, n) : maxdiff(batch, want, n);
        snprintf(what, sizeof what, "batch logits [%d x %d] vs %s", T, V,
                 batch_rounds ? "float64 with the same Q8_0 activations" : "exact weights");
        check(file->str, what, d_batch, batch_rounds ? tol->batch_int : tol->batch_f32, qe);
        // 3. token by token
        gpt2_state_reset(&s);
        float *inc = xmalloc(n * sizeof *inc);
        for (int t = 0; t < T; t++) {
            cap.pos = t;
            gpt2_forward(&m, &s, tok + t, 1, 0);
            memcpy(inc + (size_t)t * V, s.logits, (size_t)V * sizeof *inc);
        }
        cap.pos = 0;
        ref_run rt = {&rm, PATH_TOKEN, &cap, 0};
        ref_forward(&rt, tok, T, emu);
        snprintf(what, sizeof what, "shrink's token-by-token inputs vs the float64 forward's (relative)");
        check(file->str, what, rt.act_dev, TOL_ACTIVATIONS, 0);
        double d_tok = token_rounds ? maxdiff(inc, emu, n) : maxdiff(inc, want, n);
        snprintf(what, sizeof what, "token-by-token logits vs %s",
                 token_rounds ? "float64 with the same Q8_0/Q8_K activations" : "exact weights");
        check(file->str, what, d_tok, token_rounds ? tol->token_int : tol->batch_f32, qe);
        // 4. token by token vs batch
        double d_tb = 0;
        for (size_t i = 0; i < n; i++) d_tb = fmax(d_tb, fabs((double)inc[i] - batch[i]));
        if (!batch_rounds && !token_rounds) {
            check(file->str, "token-by-token vs batch logits", d_tb, TOL_TOKEN_VS_BATCH, 0);
        } else {
            double d_tw = maxdiff(inc, want, n);
            printf("%s: token-by-token vs batch %.3g, vs exact weights %.3g (activation rounding); quantization moves the "
                   "logits %.3g\n", file->str, d_tb, d_tw, qe);
        }
        gpt2_state_free(&s);
        free(batch), free(inc), free(emu), free(want);
        capture_free(&cap);
        ref_free(&rm);
        // 5. perplexity protocol on eval.txt with the file's own tokenizer
        if (!logits_only && eval_text) {
            bpe *bt = NULL;
            int *ids = NULL;
            size_t nid = 0;
            if (gpt2_gguf_load_tokenizer(fp, &bt) == 0 && bpe_encode(bt, eval_text, eval_len, &ids, &nid) == 0) {
                ppl_result r;
                EXPECT(eval_perplexity(&m, ids, nid, NULL, 256, 128, &r, NULL, NULL) == 0, "eval %s", file->str);
                char label[200];
                snprintf(label, sizeof label, "%s mean NLL %.6f (ref %.6f), %ld tokens", file->str, r.nll, nll->number,
                         r.tokens);
                double dq = is_f32 ? 0 : fabs(nll->number - unq_nll);
                double t_nll = batch_rounds ? TOL_NLL_Q8ACT : TOL_NLL_F32;
                EXPECT_CLOSE(label, fabs(r.nll - nll->number), t_nll);
                EXPECT(is_f32 || strcmp(file->str, "mini-F16.gguf") == 0 || t_nll < dq,
                       "%s: NLL tolerance %.3g cannot tell quantized weights from unquantized ones (they move it %.3g)",
                       file->str, t_nll, dq);
            } else {
                EXPECT(0, "tokenizer of %s: %s", fp, err_msg());
            }
            free(ids);
            bpe_free(bt);
        }
        gpt2_model_free(&m);
        if (fp != path) unlink(fp);
    }
    rmdir(tmp_dir);
    free(unq);
    free(eval_text);
    free(tok);
    json_free(&ref);
    return TEST_DONE();
}
