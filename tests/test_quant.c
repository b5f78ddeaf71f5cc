// test_quant.c: ggml's quantized block formats (qblock.h, quant_ref.c, quant_k_ref.c, the qtype table).
//   1. struct sizes and table entries are ggml's
//   2. round-trip error per type on uniform and Gaussian data: nrmse = rms(x - deq(q(x))) / rms(x),
//      each type under its own named bound (TOL_NRMSE_*: measured value plus about 15%); and the
//      importance-weighted search lowers the importance-weighted error (TOL_IMATRIX_RATIO)
//   3. bytes equal llama.cpp's: tests/data/quant/<type>[.imatrix].bin were written by ggml itself
//      (llama.cpp c392e50, ggml_quantize_chunk) from input.f32 and imatrix.f32 (README there)
//   4. llama.cpp's GGUF files (../shared/testdata/gguf): our dequantization of every quantized
//      tensor hashes to what ggml's does (gguf_dequant.txt), and quantizing the model's fp32
//      weights (../shared/models/mini) reproduces the files' bytes, tensor by tensor
//   5. matmul_ref and matmul_generic with quantized W equal dots with the dequantized rows
#include "harness.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "kernels/kernels.h"
#include "kernels/qblock.h"
#include <stdint.h>
#include <string.h>

#define FIXTURE_DIR "tests/data/quant"
#define FIXTURE_ROWS 8
#define FIXTURE_COLS 512

// matmul with quantized W against double-precision dots of the dequantized rows: relative to
// sum |in * w| + |bias|, as TOL_MATMUL_F32 in test_kernels.c (float accumulation error only).
#define TOL_MATMUL_Q 1e-5

typedef struct qcase {
    qtype t;
    const char *file;      // fixture base name
    int has_imatrix;       // an importance-weighted search exists
    double tol_uniform;    // nrmse bound, uniform [-1, 1]
    double tol_gauss;      // nrmse bound, N(0, 1)
} qcase;

// Bounds on nrmse (RT_ROWS x RT_COLS values, seed 42): the measured value (the test prints it)
// plus about 15%. This is rms error over rms value, so not comparable with ggml's
// test-quantize-fns bounds (absolute rmse on its cosine test signal: 0.002 at 4 bits, 0.0075 at 2).
#define TOL_NRMSE_Q8_0_U 0.0044
#define TOL_NRMSE_Q8_0_G 0.0062
#define TOL_NRMSE_Q6_K_U 0.0155
#define TOL_NRMSE_Q6_K_G 0.0205
#define TOL_NRMSE_Q5_1_U 0.034
#define TOL_NRMSE_Q5_1_G 0.044
#define TOL_NRMSE_Q5_0_U 0.036
#define TOL_NRMSE_Q5_0_G 0.049
#define TOL_NRMSE_Q5_K_U 0.032
#define TOL_NRMSE_Q5_K_G 0.042
#define TOL_NRMSE_Q4_1_U 0.07
#define TOL_NRMSE_Q4_1_G 0.09
#define TOL_NRMSE_Q4_0_U 0.075
#define TOL_NRMSE_Q4_0_G 0.099
#define TOL_NRMSE_Q4_K_U 0.063
#define TOL_NRMSE_Q4_K_G 0.082
#define TOL_NRMSE_Q3_K_U 0.145
#define TOL_NRMSE_Q3_K_G 0.173
#define TOL_NRMSE_Q2_K_U 0.27
#define TOL_NRMSE_Q2_K_G 0.34
#define TOL_NRMSE_Q8_K_U 0.0045
#define TOL_NRMSE_Q8_K_G 0.008
// The importance-weighted search must cut the importance-weighted nrmse of the plain search by
// at least 5% on Gaussian data with a skewed importance vector.
#define TOL_IMATRIX_RATIO 0.95

static const qcase cases[] = {
    {QTYPE_Q8_0, "q8_0", 0, TOL_NRMSE_Q8_0_U, TOL_NRMSE_Q8_0_G},
    {QTYPE_Q6_K, "q6_k", 1, TOL_NRMSE_Q6_K_U, TOL_NRMSE_Q6_K_G},
    {QTYPE_Q5_1, "q5_1", 1, TOL_NRMSE_Q5_1_U, TOL_NRMSE_Q5_1_G},
    {QTYPE_Q5_0, "q5_0", 1, TOL_NRMSE_Q5_0_U, TOL_NRMSE_Q5_0_G},
    {QTYPE_Q5_K, "q5_k", 1, TOL_NRMSE_Q5_K_U, TOL_NRMSE_Q5_K_G},
    {QTYPE_Q4_1, "q4_1", 1, TOL_NRMSE_Q4_1_U, TOL_NRMSE_Q4_1_G},
    {QTYPE_Q4_0, "q4_0", 1, TOL_NRMSE_Q4_0_U, TOL_NRMSE_Q4_0_G},
    {QTYPE_Q4_K, "q4_k", 1, TOL_NRMSE_Q4_K_U, TOL_NRMSE_Q4_K_G},
    {QTYPE_Q3_K, "q3_k", 1, TOL_NRMSE_Q3_K_U, TOL_NRMSE_Q3_K_G},
    {QTYPE_Q2_K, "q2_k", 1, TOL_NRMSE_Q2_K_U, TOL_NRMSE_Q2_K_G},
    {QTYPE_Q8_K, "q8_k", 0, TOL_NRMSE_Q8_K_U, TOL_NRMSE_Q8_K_G},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static float gauss(rng *r) {
    float u = rng_f32(r), v = rng_f32(r);
    if (u < 1e-7f) u = 1e-7f;
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static void *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = xmalloc(len > 0 ? (size_t)len : 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    if (*n != (size_t)len) {
        free(p);
        return NULL;
    }
    return p;
}

static uint64_t fnv1a(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

// --------------------------------------------------------------------------
// 1. sizes

static void test_sizes(void) {
    static const struct { int t; const char *name; int block, bytes; } ggml[] = {
        {2, "Q4_0", 32, 18},  {3, "Q4_1", 32, 20},   {6, "Q5_0", 32, 22},   {7, "Q5_1", 32, 24},
        {8, "Q8_0", 32, 34},  {10, "Q2_K", 256, 84}, {11, "Q3_K", 256, 110}, {12, "Q4_K", 256, 144},
        {13, "Q5_K", 256, 176}, {14, "Q6_K", 256, 210}, {15, "Q8_K", 256, 292},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof ggml / sizeof ggml[0]; i++) {
        const qtype_info *q = qtype_get(ggml[i].t);
        if (!q || strcmp(q->name, ggml[i].name) || q->block != ggml[i].block || q->bytes != ggml[i].bytes ||
            !q->to_float || !q->from_float || !q->quantize || qtype_parse(ggml[i].name) != ggml[i].t) {
            ok = 0;
            fprintf(stderr, "type %d: table entry differs from ggml's %s (%d, %d)\n", ggml[i].t, ggml[i].name,
                    ggml[i].block, ggml[i].bytes);
        }
    }
    EXPECT(ok, "qtype table entries match ggml's type traits");
    EXPECT(sizeof(block_q4_0) == 18 && sizeof(block_q6_k) == 210 && sizeof(block_q8_k) == 292, "block sizes");
    EXPECT(qtype_parse("q4_k") == QTYPE_Q4_K && qtype_parse("f16") == QTYPE_F16 && qtype_parse("Q9_0") == -1,
           "qtype_parse");
    EXPECT(qtype_get(4) == NULL && qtype_get(9) == NULL && qtype_get(16) == NULL && qtype_get(-1) == NULL,
           "ids ggml retired or shrink lacks are unknown");
    EXPECT(qtype_row_bytes(QTYPE_Q4_K, 768) == 3 * 144, "row bytes");
    if (ok) printf("sizes: 11 block formats as ggml ... ok\n");
}

// --------------------------------------------------------------------------
// 2. round-trip error

#define RT_ROWS 64
#define RT_COLS 1024

// nrmse of quantize_rows + dequantize_row over x (RT_ROWS, RT_COLS); with weights w (RT_COLS)
// (may be NULL) the errors and energies are weighted per column.
static double roundtrip_nrmse(qtype t, const float *x, const float *imatrix, const float *w) {
    size_t rb = qtype_row_bytes(t, RT_COLS);
    unsigned char *q = xmalloc(rb * RT_ROWS);
    float *y = xmalloc(RT_COLS * sizeof(float));
    int rc = quantize_rows(t, x, q, RT_ROWS, RT_COLS, imatrix);
    double se = 0, sx = 0;
    for (int r = 0; r < RT_ROWS && rc == 0; r++) {
        for (int c = 0; c < RT_COLS; c++) y[c] = NAN;
        dequantize_row(t, q + r * rb, y, RT_COLS);
        for (int c = 0; c < RT_COLS; c++) {
            double wc = w ? w[c] : 1, d = (double)x[r * RT_COLS + c] - y[c];
            se += wc * d * d;
            sx += wc * (double)x[r * RT_COLS + c] * x[r * RT_COLS + c];
        }
    }
    free(q);
    free(y);
    return rc ? NAN : sqrt(se / sx);
}

static void test_roundtrip(void) {
    float *xu = xmalloc(RT_ROWS * RT_COLS * sizeof(float)), *xg = xmalloc(RT_ROWS * RT_COLS * sizeof(float));
    float *imp = xmalloc(RT_COLS * sizeof(float));
    rng r;
    rng_init(&r, 42);
    for (int i = 0; i < RT_ROWS * RT_COLS; i++) xu[i] = rng_f32(&r) * 2 - 1;
    for (int i = 0; i < RT_ROWS * RT_COLS; i++) xg[i] = gauss(&r);
    // Skewed importance, like an imatrix: a few columns matter far more than the rest.
    for (int c = 0; c < RT_COLS; c++) {
        float u = rng_f32(&r);
        imp[c] = 0.05f + u * u * u * u * 20;
    }
    for (int i = 0; i < N_CASES; i++) {
        const qcase *k = &cases[i];
        const char *name = qtype_get(k->t)->name;
        char label[96];
        snprintf(label, sizeof label, "roundtrip %s uniform nrmse", name);
        EXPECT_CLOSE(label, roundtrip_nrmse(k->t, xu, NULL, NULL), k->tol_uniform);
        snprintf(label, sizeof label, "roundtrip %s gaussian nrmse", name);
        EXPECT_CLOSE(label, roundtrip_nrmse(k->t, xg, NULL, NULL), k->tol_gauss);
        if (k->has_imatrix) {
            // The importance-weighted search must beat the plain one on the weighted error.
            double plain = roundtrip_nrmse(k->t, xg, NULL, imp), weighted = roundtrip_nrmse(k->t, xg, imp, imp);
            snprintf(label, sizeof label, "roundtrip %s gaussian, imatrix-weighted nrmse / plain's", name);
            EXPECT_CLOSE(label, weighted / plain, TOL_IMATRIX_RATIO);
        }
    }
    free(xu);
    free(xg);
    free(imp);
}

// --------------------------------------------------------------------------
// 3. bytes equal llama.cpp's

static void compare_bytes(const char *label, const unsigned char *ours, const unsigned char *ref, size_t n,
                          size_t block_bytes) {
    size_t diff = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (ours[i] != ref[i]) {
            if (first == n) first = i;
            diff++;
        }
    if (diff) {
        fprintf(stderr, "%s: %zu of %zu bytes differ, first at byte %zu (block %zu, offset %zu): ours %02x ggml %02x\n",
                label, diff, n, first, first / block_bytes, first % block_bytes, ours[first], ref[first]);
    }
    EXPECT_CLOSE(label, (double)diff, 0.0);
}

static void test_ggml_bytes(void) {
    size_t nx = 0, nim = 0;
    float *x = read_all(FIXTURE_DIR "/input.f32", &nx), *imatrix = read_all(FIXTURE_DIR "/imatrix.f32", &nim);
    EXPECT(x && imatrix && nx == FIXTURE_ROWS * FIXTURE_COLS * 4 && nim == FIXTURE_COLS * 4,
           "fixtures %s/input.f32 and imatrix.f32 present", FIXTURE_DIR);
    if (!x || !imatrix || nx != FIXTURE_ROWS * FIXTURE_COLS * 4 || nim != FIXTURE_COLS * 4) {
        free(x);
        free(imatrix);
        return;
    }
    for (int i = 0; i < N_CASES; i++) {
        const qcase *k = &cases[i];
        const qtype_info *q = qtype_get(k->t);
        size_t n = qtype_row_bytes(k->t, FIXTURE_COLS) * FIXTURE_ROWS;
        unsigned char *ours = xmalloc(n);
        for (int with_im = 0; with_im <= k->has_imatrix; with_im++) {
            char path[256], label[128];
            snprintf(path, sizeof path, "%s/%s%s.bin", FIXTURE_DIR, k->file, with_im ? ".imatrix" : "");
            size_t nref = 0;
            unsigned char *ref = read_all(path, &nref);
            EXPECT(ref && nref == n, "%s: missing or %zu bytes, expected %zu", path, nref, n);
            if (ref && nref == n) {
                memset(ours, 0xAA, n);
                int rc = quantize_rows(k->t, x, ours, FIXTURE_ROWS, FIXTURE_COLS, with_im ? imatrix : NULL);
                EXPECT(rc == 0, "quantize_rows %s: %d", q->name, rc);
                snprintf(label, sizeof label, "ggml bytes %s%s: differing bytes", q->name, with_im ? " imatrix" : "");
                compare_bytes(label, ours, ref, n, (size_t)q->bytes);
                if (!with_im) {  // the row function and the whole-matrix one agree
                    unsigned char *row = xmalloc(n);
                    q->from_float(x, row, FIXTURE_ROWS * FIXTURE_COLS);
                    EXPECT(!memcmp(row, ref, n), "quantize_row_%s_ref bytes", k->file);
                    free(row);
                }
            }
            free(ref);
        }
        free(ours);
    }
    // Rows that are not whole blocks are refused with a message, not CHECKed.
    err_clear();
    unsigned char dummy[64];
    EXPECT(quantize_rows(QTYPE_Q4_K, x, dummy, 1, 128, NULL) == ERR_ARG && strstr(err_msg(), "multiple of 256"),
           "quantize_rows rejects 128-value Q4_K rows: '%s'", err_msg());
    err_clear();
    EXPECT(quantize_rows((qtype)9, x, dummy, 1, 32, NULL) == ERR_ARG, "quantize_rows rejects unknown types");
    err_clear();
    free(x);
    free(imatrix);
}

// --------------------------------------------------------------------------
// 4. llama.cpp's GGUF files

// The safetensors name of a GGUF weight, and whether the converter transposed it (HF Conv1D
// weights are (in, out); llama.cpp's are out-major).
static int hf_name(const char *gguf_name, char *out, size_t n, int *transposed) {
    int layer;
    char rest[64];
    *transposed = 1;
    if (!strcmp(gguf_name, "token_embd.weight") || !strcmp(gguf_name, "output.weight")) {
        *transposed = 0;
        snprintf(out, n, "transformer.wte.weight");
        return 1;
    }
    if (sscanf(gguf_name, "blk.%d.%63s", &layer, rest) != 2) return 0;
    const char *hf = !strcmp(rest, "attn_qkv.weight")      ? "attn.c_attn.weight"
                     : !strcmp(rest, "attn_output.weight") ? "attn.c_proj.weight"
                     : !strcmp(rest, "ffn_up.weight")      ? "mlp.c_fc.weight"
                     : !strcmp(rest, "ffn_down.weight")    ? "mlp.c_proj.weight"
                                                           : NULL;
    if (!hf) return 0;
    snprintf(out, n, "transformer.h.%d.%s", layer, hf);
    return 1;
}

// Quantizes each quantized tensor of g from the fp32 source weights; returns how many of
// them differ from the file's bytes (and counts the ones compared in *n).
static int requantize_file(const gguf_file *g, const safetensors *st, int *n) {
    int bad = 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *gt = &g->tensors[i];
        if (gt->type == GGUF_TENSOR_F32 || gt->type == GGUF_TENSOR_F16) continue;
        char name[128];
        int tr;
        const st_tensor *s = hf_name(gt->name, name, sizeof name, &tr) ? safetensors_find(st, name) : NULL;
        int64_t cols = gt->ne[0], rows = gt->ne[1];
        if (!s || s->dtype != DTYPE_F32 || (int64_t)s->nelem != cols * rows || !qtype_get((int)gt->type)) {
            fprintf(stderr, "%s: %s has no fp32 source\n", g->path, gt->name);
            bad++;
            continue;
        }
        float *src = xmalloc(s->nelem * sizeof(float));
        const unsigned char *sp = s->data;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++)
                memcpy(&src[r * cols + c], sp + 4 * (size_t)(tr ? c * rows + r : r * cols + c), 4);
        unsigned char *q = xmalloc(gt->nbytes);
        int rc = quantize_rows((qtype)gt->type, src, q, rows, cols, NULL);
        if (rc || memcmp(q, gt->data, gt->nbytes)) {
            size_t first = 0;
            while (first < gt->nbytes && q[first] == ((const unsigned char *)gt->data)[first]) first++;
            fprintf(stderr, "%s: %s (%s) differs from our quantization at byte %zu\n", g->path, gt->name,
                    qtype_get((int)gt->type)->name, first);
            bad++;
        }
        (*n)++;
        free(q);
        free(src);
    }
    return bad;
}

static void test_gguf_files(void) {
    char path[512], line[512], cur[128] = "";
    snprintf(path, sizeof path, "%s/testdata/gguf/mini-Q4_0.gguf", shared_dir());
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        EXPECT(0, "%s is missing: llama.cpp's quantized files cannot be compared", path);
        return;
    }
    fclose(probe);
    FILE *f = fopen(FIXTURE_DIR "/gguf_dequant.txt", "r");
    EXPECT(f != NULL, "fixture %s/gguf_dequant.txt present", FIXTURE_DIR);
    if (!f) return;
    // llama.cpp's files were made from the shared reference model (the bundled one was retrained)
    safetensors st = {0};
    char st_path[512];
    snprintf(st_path, sizeof st_path, "%s/models/mini/model.safetensors", shared_dir());
    int have_st = safetensors_open(&st, st_path) == 0;
    EXPECT(have_st, "%s: %s", st_path, err_msg());
    err_clear();
    gguf_file g = {0};
    int open_ok = 0, n_hash = 0, bad_hash = 0, n_files = 0;
    int n_req = 0, bad_req = 0;
    while (fgets(line, sizeof line, f)) {
        char file[128], tname[128];
        int type;
        long long ne;
        unsigned long long want;
        if (line[0] == '#' || sscanf(line, "%127s %127s %d %lld %llx", file, tname, &type, &ne, &want) != 5) continue;
        if (strcmp(file, cur)) {
            if (open_ok && !strstr(cur, "imatrix") && have_st) bad_req += requantize_file(&g, &st, &n_req);
            gguf_close(&g);
            snprintf(cur, sizeof cur, "%s", file);
            snprintf(path, sizeof path, "%s/testdata/gguf/%s.gguf", shared_dir(), file);
            open_ok = gguf_open(&g, path) == 0;
            EXPECT(open_ok, "gguf_open %s: %s", path, err_msg());
            err_clear();
            n_files++;
        }
        if (!open_ok) continue;
        const gguf_tensor *t = gguf_find_tensor(&g, tname);
        if (!t || (int)t->type != type || (long long)t->nelem != ne || !qtype_get(type)) {
            fprintf(stderr, "%s: tensor %s missing or not type %d with %lld values\n", file, tname, type, ne);
            bad_hash++;
            continue;
        }
        float *y = xmalloc((size_t)ne * sizeof(float));
        dequantize_row((qtype)type, t->data, y, (size_t)ne);
        uint64_t h = fnv1a(y, (size_t)ne * sizeof(float));
        if (h != want) {
            fprintf(stderr, "%s: %s (%s) dequantizes to hash %016llx, ggml's is %016llx\n", file, tname,
                    qtype_get(type)->name, (unsigned long long)h, want);
            bad_hash++;
        }
        n_hash++;
        free(y);
    }
    if (open_ok && !strstr(cur, "imatrix") && have_st) bad_req += requantize_file(&g, &st, &n_req);
    gguf_close(&g);
    safetensors_close(&st);
    fclose(f);
    char label[128];
    snprintf(label, sizeof label, "gguf: dequantized tensors differing from ggml's (of %d in %d files)", n_hash,
             n_files);
    EXPECT_CLOSE(label, (double)bad_hash, 0.0);
    EXPECT(n_hash >= 200, "only %d tensors checked", n_hash);
    if (have_st) {
        snprintf(label, sizeof label, "gguf: requantized tensors differing from llama-quantize's (of %d)", n_req);
        EXPECT_CLOSE(label, (double)bad_req, 0.0);
        EXPECT(n_req >= 150, "only %d tensors requantized", n_req);
    }
}

// --------------------------------------------------------------------------
// 5. matmul with quantized weights

static void test_matmul_q(void) {
    enum { BT = 3, C = 512, OC = 20 };
    rng r;
    rng_init(&r, 7);
    float *in = xmalloc(BT * C * sizeof(float)), *w = xmalloc(OC * C * sizeof(float));
    float *bias = xmalloc(OC * sizeof(float)), *wd = xmalloc(OC * C * sizeof(float));
    float *out = xmalloc(BT * OC * sizeof(float)), *out2 = xmalloc(BT * OC * sizeof(float));
    for (int i = 0; i < BT * C; i++) in[i] = gauss(&r);
    for (int i = 0; i < OC * C; i++) w[i] = 0.05f * gauss(&r);
    for (int i = 0; i < OC; i++) bias[i] = rng_f32(&r) - 0.5f;
    for (int i = 0; i < N_CASES; i++) {
        qtype t = cases[i].t;
        size_t rb = qtype_row_bytes(t, C);
        unsigned char *wq = xmalloc(rb * OC);
        EXPECT(quantize_rows(t, w, wq, OC, C, NULL) == 0, "quantize");
        for (int o = 0; o < OC; o++) dequantize_row(t, wq + o * rb, wd + o * C, C);
        double worst = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (int j = 0; j < BT * OC; j++) out[j] = out2[j] = NAN;
            const float *b = pass ? bias : NULL;
            matmul_ref(out, in, wq, t, b, BT, C, OC);
            matmul_generic(out2, in, wq, t, b, BT, C, OC);
            for (int tt = 0; tt < BT; tt++)
                for (int o = 0; o < OC; o++) {
                    double want = b ? b[o] : 0, mag = fabs(want);
                    for (int c = 0; c < C; c++) {
                        want += (double)in[tt * C + c] * wd[o * C + c];
                        mag += fabs((double)in[tt * C + c] * wd[o * C + c]);
                    }
                    double e1 = fabs(out[tt * OC + o] - want) / mag, e2 = fabs(out2[tt * OC + o] - want) / mag;
                    if (!(e1 <= worst)) worst = e1;
                    if (!(e2 <= worst)) worst = e2;
                }
        }
        char label[96];
        snprintf(label, sizeof label, "matmul_ref/generic %s weights vs dequantized dots", qtype_get(t)->name);
        EXPECT_CLOSE(label, worst, TOL_MATMUL_Q);
        free(wq);
    }
    free(in);
    free(w);
    free(bias);
    free(wd);
    free(out);
    free(out2);
}

// The AVX2 row dequantizers are bit-identical to the reference ones (same products,
// same order), on rows quantized from random data of several scales.
static void test_dequant_avx2(void) {
    if (!kernels_have_avx2()) {
        printf("dequantize_row_avx2 skipped: no AVX2\n");
        return;
    }
    qtype types[] = {QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q6_K, QTYPE_Q8_0, QTYPE_Q4_0, QTYPE_Q5_0, QTYPE_Q5_1, QTYPE_Q3_K, QTYPE_Q2_K};
    enum { NT = sizeof types / sizeof types[0] };
    int n = 1024, bad = 0;
    float *x = xmalloc((size_t)n * sizeof(float)), *a = xmalloc((size_t)n * sizeof(float)), *b = xmalloc((size_t)n * sizeof(float));
    void *q = xmalloc((size_t)n * 2);
    for (int ti = 0; ti < NT; ti++)
        for (int rep = 0; rep < 4; rep++) {
            for (int i = 0; i < n; i++) x[i] = (float)sin(0.37 * i + rep) * (rep == 3 ? 1e-3f : 1.0f + (float)(i % 97));
            quantize_rows(types[ti], x, q, 1, n, NULL);
            dequantize_row(types[ti], q, a, (size_t)n);
            for (int i = 0; i < n; i++) b[i] = NAN;
            dequantize_row_avx2(types[ti], q, b, (size_t)n);
            bad += memcmp(a, b, (size_t)n * sizeof(float)) != 0;
        }
    EXPECT(bad == 0, "dequantize_row_avx2 differs from the reference in %d of %d rows", bad, 4 * NT);
    if (!bad) printf("dequantize_row_avx2 bit-identical to the reference (%d types) ... ok\n", NT);
    free(x);
    free(a);
    free(b);
    free(q);
}

int main(void) {
    test_dequant_avx2();
    test_sizes();
    test_roundtrip();
    test_ggml_bytes();
    test_gguf_files();
    test_matmul_q();
    return TEST_DONE();
}
