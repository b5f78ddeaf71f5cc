// test_faults.c: library-level checks for faults of issue 12 (docs/reliability.md lists
// them all; the command-line ones are in tests/cli_files.sh).
//   fault 1: loading a GGUF without the optional shrink.quantize.* keys (llama.cpp's files,
//            export's) must leave no error recorded, so a later failure reports its own cause;
//   fault 6: weights that make the logits NaN or infinite must make every evaluation fail
//            with a message naming the model's file, never return a number. The broken
//            files are made from the bundled mini model: an F32 export with NaN (and +Inf)
//            written into output_norm.bias, and llama.cpp's Q8_0 file with output.weight's
//            type id changed to Q4_0 (structurally valid, its scales read from Q8_0 bytes).
// Uses only the public API (load, gpt2_state/gpt2_forward, eval_*, gguf/safetensors readers).
#include "core/err.h"
#include "core/fileio.h"
#include "core/xalloc.h"
#include "eval/eval.h"
#include "formats/gguf.h"
#include "kernels/kernels.h"
#include "modelfile/modelfile.h"
#include "tokenizer/bpe.h"
#include "harness.h"
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root_dir[64];
static char mini_dir[512], q8_path[512];

static void group_done(const char *name, int failed_before) {
    if (harness_failed == failed_before) printf("%s ... ok\n", name);
    else printf("%s ... FAILED (%d)\n", name, harness_failed - failed_before);
}

static char *in_root(const char *name) { return path_join(root_dir, name); }

// --- fault 1

static void test_no_stale_error(void) {
    int f0 = harness_failed;
    gpt2_model m;
    // llama.cpp's own Q8_0 file: no shrink.quantize.* keys.
    err_clear();
    int rc = gpt2_gguf_load(&m, q8_path);
    EXPECT(rc == 0, "load %s: %s", q8_path, err_msg());
    EXPECT(err_code() == 0 && err_msg()[0] == 0, "a successful load left an error recorded: '%s'", err_msg());
    if (rc == 0) {
        // A later failure must report its own cause.
        int ids[4] = {1, 2, 3, 4};
        ppl_result r;
        rc = eval_perplexity(&m, ids, 4, NULL, 100000, 100, &r, NULL, NULL);
        EXPECT(rc == ERR_ARG && strstr(err_msg(), "--ctx 100000"), "the later error reads '%s'", err_msg());
        gpt2_model_free(&m);
    }
    // Its tokenizer, an export without provenance keys, and an HF directory: nothing recorded either.
    bpe *tok = NULL;
    err_clear();
    EXPECT(gpt2_gguf_load_tokenizer(q8_path, &tok) == 0 && err_code() == 0, "tokenizer of %s: '%s'", q8_path, err_msg());
    bpe_free(tok);
    err_clear();
    rc = gpt2_hf_load(&m, mini_dir);
    EXPECT(rc == 0 && err_code() == 0, "load %s: '%s'", mini_dir, err_msg());
    if (rc == 0) {
        char *f32 = in_root("mini-f32.gguf");
        EXPECT(gpt2_gguf_save(&m, mini_dir, f32, 0) == 0, "export: %s", err_msg());
        gpt2_model_free(&m);
        err_clear();
        rc = gpt2_gguf_load(&m, f32);
        EXPECT(rc == 0 && err_code() == 0, "load the export: '%s'", err_msg());
        if (rc == 0) gpt2_model_free(&m);
        free(f32);
    }
    err_clear();
    group_done("fault 1: optional GGUF keys leave no error behind", f0);
}

// --- fault 6

// Writes 4 bytes at offset off of path.
static void patch(const char *path, long off, const void *bytes, size_t n) {
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, bytes, n, off) == (ssize_t)n);
    CHECK(close(fd) == 0);
}

// The file offset of tensor name's data in the GGUF at path.
static long tensor_offset(const char *path, const char *name) {
    gguf_file g;
    CHECK(gguf_open(&g, path) == 0);
    const gguf_tensor *t = gguf_find_tensor(&g, name);
    CHECK(t);
    long off = (long)((const unsigned char *)t->data - (const unsigned char *)g.map.data);
    gguf_close(&g);
    return off;
}

// Copies src to dst and changes the ggml type id of tensor name in its tensor info.
static void retype(const char *src, const char *dst, const char *name, uint32_t type) {
    char *bytes;
    size_t len;
    CHECK(file_read_all(src, &bytes, &len) == 0);
    // The tensor info is: u64 name length, the name, u32 n_dims, n_dims i64, u32 type.
    size_t nl = strlen(name);
    char *at = memmem(bytes, len, name, nl);
    CHECK(at);
    uint32_t n_dims;
    memcpy(&n_dims, at + nl, 4);
    memcpy(at + nl + 4 + 8 * n_dims, &type, 4);
    FILE *f = fopen(dst, "wb");
    CHECK(f && fwrite(bytes, 1, len, f) == len && fclose(f) == 0);
    free(bytes);
}

// Every evaluation of the broken model at path must fail naming it.
static void expect_evals_fail(const char *label, const char *path, const gpt2_model *good, const bpe *tok,
                              const char *lambada) {
    int f0 = harness_failed;
    gpt2_model m;
    err_clear();
    if (gpt2_gguf_load(&m, path) != 0) {
        EXPECT(0, "%s: load: %s", label, err_msg());
        return;
    }
    const char *text = "The old house stood at the end of the lane, and nobody had lived in it for years.";
    int *ids;
    size_t n;
    CHECK(bpe_encode(tok, text, strlen(text), &ids, &n) == 0);
    ppl_result r;
    err_clear();
    int rc = eval_perplexity(&m, ids, n, NULL, 16, 8, &r, NULL, NULL);
    EXPECT(rc == ERR_RANGE && strstr(err_msg(), path) && strstr(err_msg(), "logit"), "%s: perplexity rc=%d '%s' (ppl %g)",
           label, rc, err_msg(), rc ? 0.0 : r.ppl);
    agree_result ag;
    err_clear();
    rc = eval_agreement(&m, good, ids, n, NULL, 16, 8, &ag, NULL, NULL);
    EXPECT(rc == ERR_RANGE && strstr(err_msg(), path), "%s: agreement (broken model) rc=%d '%s' (top-1 %g)", label, rc,
           err_msg(), rc ? 0.0 : ag.top1);
    err_clear();
    rc = eval_agreement(good, &m, ids, n, NULL, 16, 8, &ag, NULL, NULL);
    EXPECT(rc == ERR_RANGE && strstr(err_msg(), path), "%s: agreement (broken base) rc=%d '%s'", label, rc, err_msg());
    lambada_result lr;
    err_clear();
    rc = eval_lambada(&m, tok, lambada, 0, &lr, NULL, NULL);
    EXPECT(rc == ERR_RANGE && strstr(err_msg(), path), "%s: lambada rc=%d '%s' (acc %g)", label, rc, err_msg(),
           rc ? 0.0 : lr.acc);
    gen_opts go = {8, 0.8f, 40, 0.95f, 42, -1};
    gen_stats gs;
    int out[8];
    err_clear();
    int got = eval_generate(&m, ids, (int)n, &go, NULL, NULL, out, &gs);
    EXPECT(got == ERR_RANGE && strstr(err_msg(), path), "%s: generate returned %d '%s'", label, got, err_msg());
    free(ids);
    gpt2_model_free(&m);
    err_clear();
    group_done(label, f0);
}

static void test_non_finite(void) {
    gpt2_model good;
    CHECK(gpt2_hf_load(&good, mini_dir) == 0);
    bpe *tok;
    char *v = path_join(mini_dir, "vocab.json"), *mg = path_join(mini_dir, "merges.txt");
    CHECK(bpe_load(&tok, v, mg) == 0);
    free(v), free(mg);
    char *lambada = in_root("lambada.jsonl");
    FILE *f = fopen(lambada, "wb");
    CHECK(f);
    fputs("{\"text\": \"The old house stood at the end of the lane\"}\n{\"text\": \"She opened the door and saw the sea\"}\n", f);
    CHECK(fclose(f) == 0);

    char *nan_path = in_root("mini-nan.gguf"), *inf_path = in_root("mini-inf.gguf"), *q4_path = in_root("mini-retyped.gguf");
    CHECK(gpt2_gguf_save(&good, mini_dir, nan_path, 0) == 0);
    CHECK(gpt2_gguf_save(&good, mini_dir, inf_path, 0) == 0);
    float nan = NAN, inf = INFINITY;
    patch(nan_path, tensor_offset(nan_path, "output_norm.bias"), &nan, 4);
    patch(inf_path, tensor_offset(inf_path, "output_norm.bias"), &inf, 4);
    retype(q8_path, q4_path, "output.weight", GGUF_TENSOR_Q4_0);
    expect_evals_fail("fault 6: NaN in output_norm.bias", nan_path, &good, tok, lambada);
    expect_evals_fail("fault 6: +Inf in output_norm.bias", inf_path, &good, tok, lambada);
    expect_evals_fail("fault 6: output.weight retyped Q8_0 -> Q4_0", q4_path, &good, tok, lambada);
    // NaN activations inside the layer stack: the activation quantizer converted them to
    // int (undefined behaviour: make asan, and run_all.sh's SHRINK_KERNELS=ref run).
    retype(q8_path, q4_path, "blk.0.ffn_down.weight", GGUF_TENSOR_Q4_0);
    expect_evals_fail("fault 6: blk.0.ffn_down.weight retyped Q8_0 -> Q4_0", q4_path, &good, tok, lambada);
    free(nan_path), free(inf_path), free(q4_path), free(lambada);
    bpe_free(tok);
    gpt2_model_free(&good);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void) {
    snprintf(root_dir, sizeof root_dir, "/tmp/shrink_test_faults.XXXXXX");
    CHECK(mkdtemp(root_dir));
    snprintf(mini_dir, sizeof mini_dir, "%s/models/mini", shared_dir());
    snprintf(q8_path, sizeof q8_path, "%s/testdata/gguf/mini-Q8_0.gguf", shared_dir());
    kernels_init();
    test_no_stale_error();
    test_non_finite();
    nftw(root_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return TEST_DONE();
}
