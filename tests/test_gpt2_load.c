// test_gpt2_load.c: gpt2_hf_load on bad input. Each case builds a model directory
// under one mkdtemp folder in /tmp by copying or altering the tiny oracle checkpoint
// (config.json text edits; tensors read with safetensors_open and written back with
// safetensors_write) and checks the error code, that the message names the file and
// the problem, that the model struct is left freed and that nothing is written into
// the directory. Also checks the layouts that must load (no prefix, mask buffers,
// shards, untied lm_head) against tiny's own weights, byte for byte, and the range
// checks of gpt2_state_init. Does not test the forward pass (test_gpt2 does).
#include "core/err.h"
#include "core/fileio.h"
#include "core/xalloc.h"
#include "formats/safetensors.h"
#include "modelfile/modelfile.h"
#include "harness.h"
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

// --- fixtures shared by every case

static char root_dir[64];   // mkdtemp: every case directory lives under it
static char tiny_dir[512];  // the oracle checkpoint, read-only
static safetensors tiny_st; // tiny's model.safetensors, open for the whole run
static char *tiny_config;   // tiny's config.json text
static gpt2_model tiny_m;   // tiny as loaded from the oracle folder: the reference weights

static void group_done(const char *name, int failed_before) {
    if (harness_failed == failed_before) printf("%s ... ok\n", name);
    else printf("%s ... FAILED (%d)\n", name, harness_failed - failed_before);
}

// A fresh empty directory root/NN-label; the path lives in one of 4 static slots.
static const char *case_dir(const char *label) {
    static char buf[4][256];
    static int n;
    char *p = buf[n % 4];
    snprintf(p, sizeof buf[0], "%s/%02d-%s", root_dir, n, label);
    n++;
    CHECK(mkdir(p, 0755) == 0);
    return p;
}

// dir/name in one of 4 static slots.
static const char *in_dir(const char *dir, const char *name) {
    static char buf[4][512];
    static int n;
    char *p = buf[n++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *path, const void *bytes, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK(f);
    CHECK(fwrite(bytes, 1, len, f) == len);
    CHECK(fclose(f) == 0);
}

static void write_text(const char *dir, const char *name, const char *text) {
    write_bytes(in_dir(dir, name), text, strlen(text));
}

// Entries in dir other than . and ..; -1 when it cannot be opened.
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

// tiny's config.json with each (old, new) pair replaced once; pairs end with NULL.
// Every old string must be present (a typo in a test must not pass silently).
static char *config_edit(const char *old, ...) {
    char *text = xstrdup(tiny_config);
    va_list ap;
    va_start(ap, old);
    for (const char *o = old; o; o = va_arg(ap, const char *)) {
        const char *nw = va_arg(ap, const char *);
        char *at = strstr(text, o);
        CHECK(at);
        size_t pre = (size_t)(at - text), ol = strlen(o), nl = strlen(nw), rest = strlen(at + ol);
        char *out = xmalloc(pre + nl + rest + 1);
        memcpy(out, text, pre);
        memcpy(out + pre, nw, nl);
        memcpy(out + pre + nl, at + ol, rest + 1);
        free(text);
        text = out;
    }
    va_end(ap);
    return text;
}

// --- tensor lists built from tiny's checkpoint

typedef struct {
    st_write_tensor t[64];
    char names[64][96];  // owned copies, so renamed entries need no allocation
    int n;
} tlist;

static void tlist_add(tlist *l, const char *name, dtype dt, int ndim, const int64_t *shape, const void *data) {
    CHECK(l->n < 64 && strlen(name) < sizeof l->names[0]);
    st_write_tensor *t = &l->t[l->n];
    memset(t, 0, sizeof *t);
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    t->name = l->names[l->n];
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    l->n++;
}

// Every tensor of tiny, in its header order (names carry the "transformer." prefix).
static void tlist_tiny(tlist *l) {
    l->n = 0;
    for (int i = 0; i < tiny_st.n_tensors; i++) {
        const st_tensor *s = &tiny_st.tensors[i];
        tlist_add(l, s->name, s->dtype, s->ndim, s->shape, s->data);
    }
}

static st_write_tensor *tlist_get(tlist *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->t[i].name, name) == 0) return &l->t[i];
    fprintf(stderr, "test bug: tensor '%s' is not in the list\n", name);
    abort();
}

static void tlist_drop(tlist *l, const char *name) {
    st_write_tensor *t = tlist_get(l, name);
    int i = (int)(t - l->t);
    for (int j = i; j + 1 < l->n; j++) {
        l->t[j] = l->t[j + 1];
        memcpy(l->names[j], l->names[j + 1], sizeof l->names[0]);
        l->t[j].name = l->names[j];
    }
    l->n--;
}

// Removes the "transformer." prefix from every name.
static void tlist_unprefix(tlist *l) {
    for (int i = 0; i < l->n; i++) {
        const char *p = "transformer.";
        if (strncmp(l->names[i], p, strlen(p)) == 0)
            memmove(l->names[i], l->names[i] + strlen(p), strlen(l->names[i]) - strlen(p) + 1);
    }
}

static void write_weights(const char *dir, const char *file, const tlist *l) {
    err_clear();
    int rc = safetensors_write(in_dir(dir, file), l->t, l->n, NULL);
    if (rc) fprintf(stderr, "safetensors_write: %s\n", err_msg());
    CHECK(rc == 0);
}

// A directory holding tiny's config.json and the given tensors as model.safetensors.
static const char *model_dir(const char *label, const tlist *l) {
    const char *d = case_dir(label);
    write_text(d, "config.json", tiny_config);
    write_weights(d, "model.safetensors", l);
    return d;
}

// --- checks

static int model_is_zeroed(const gpt2_model *m) {
    return !m->params && !m->layers && !m->head.data && !m->source && m->n_floats == 0 && m->file_bytes == 0;
}

// gpt2_hf_load(dir) must fail with code; the message must name dir/file (or dir
// itself when file is NULL) and hold phrase; the struct must come back freed and
// the directory untouched.
static void expect_load_fails(const char *label, const char *dir, const char *file, int code, const char *phrase) {
    gpt2_model m;
    int entries = count_entries(dir);
    err_clear();
    int rc = gpt2_hf_load(&m, dir);
    const char *msg = err_msg();
    const char *where = file ? in_dir(dir, file) : dir;
    EXPECT(rc == code && err_code() == code, "%s: rc=%d code=%d, want %d ('%s')", label, rc, err_code(), code, msg);
    EXPECT(strstr(msg, where) != NULL, "%s: message does not name '%s': '%s'", label, where, msg);
    EXPECT(strstr(msg, phrase) != NULL, "%s: message lacks '%s': '%s'", label, phrase, msg);
    EXPECT(model_is_zeroed(&m), "%s: model struct not freed after failure", label);
    EXPECT(count_entries(dir) == entries, "%s: the loader left a file behind in %s", label, dir);
    if (rc == 0) gpt2_model_free(&m);
    err_clear();
}

// gpt2_hf_load(dir) must succeed with exactly tiny's config and weights.
static void expect_loads_as_tiny(const char *label, const char *dir, gpt2_model *out) {
    gpt2_model m;
    if (out) memset(out, 0, sizeof *out);
    err_clear();
    int rc = gpt2_hf_load(&m, dir);
    EXPECT(rc == 0, "%s: load failed: %s", label, err_msg());
    if (rc) return;
    EXPECT(memcmp(&m.cfg, &tiny_m.cfg, sizeof m.cfg) == 0, "%s: config differs from tiny's", label);
    EXPECT(m.n_floats == tiny_m.n_floats, "%s: %zu floats, tiny has %zu", label, m.n_floats, tiny_m.n_floats);
    EXPECT(m.n_floats == tiny_m.n_floats && memcmp(m.params, tiny_m.params, m.n_floats * sizeof(float)) == 0,
           "%s: params differ from tiny's", label);
    EXPECT(m.cfg.tied == 1 && m.head.data == m.embd.data, "%s: lm_head not tied", label);
    if (out) *out = m;
    else gpt2_model_free(&m);
}

// --- config.json

static void test_config(void) {
    int f0 = harness_failed;
    struct {
        const char *label, *text;  // text NULL: use edit
        const char *old, *nw, *old2, *nw2;
        int code;
        const char *phrase;
    } cases[] = {
        {"malformed JSON (truncated)", "{\"vocab_size\": 97, \"n_embd\": 32", 0, 0, 0, 0, ERR_FORMAT, "invalid JSON"},
        {"malformed JSON (trailing comma)", "{\"vocab_size\": 97,}", 0, 0, 0, 0, ERR_FORMAT, "invalid JSON"},
        {"empty file", "", 0, 0, 0, 0, ERR_FORMAT, "invalid JSON"},
        {"not an object (array)", "[1, 2, 3]", 0, 0, 0, 0, ERR_FORMAT, "expected a JSON object"},
        {"not an object (string)", "\"gpt2\"", 0, 0, 0, 0, ERR_FORMAT, "expected a JSON object"},
        {"n_embd % n_head", NULL, "\"n_head\": 4,", "\"n_head\": 3,", 0, 0, ERR_SHAPE, "not divisible by n_head"},
        {"n_layer = 0", NULL, "\"n_layer\": 2,", "\"n_layer\": 0,", 0, 0, ERR_SHAPE, "n_layer = 0 must be positive"},
        {"n_layer = -3", NULL, "\"n_layer\": 2,", "\"n_layer\": -3,", 0, 0, ERR_SHAPE, "n_layer = -3 must be positive"},
        // -1 is a number someone wrote, not a missing key.
        {"n_layer = -1", NULL, "\"n_layer\": 2,", "\"n_layer\": -1,", 0, 0, ERR_SHAPE, "n_layer = -1 must be positive"},
        {"n_layer = 2.5", NULL, "\"n_layer\": 2,", "\"n_layer\": 2.5,", 0, 0, ERR_FORMAT, "\"n_layer\" must be an integer"},
        {"n_layer a string", NULL, "\"n_layer\": 2,", "\"n_layer\": \"2\",", 0, 0, ERR_FORMAT, "\"n_layer\" must be an integer"},
        {"n_head = 0", NULL, "\"n_head\": 4,", "\"n_head\": 0,", 0, 0, ERR_SHAPE, "n_head = 0 must be positive"},
        {"n_inner = 0", NULL, "\"n_inner\": null,", "\"n_inner\": 0,", 0, 0, ERR_SHAPE, "n_inner = 0 must be positive"},
        {"vocab_size = 2^31-1", NULL, "\"vocab_size\": 97", "\"vocab_size\": 2147483647", 0, 0, ERR_SHAPE, "vocab_size = 2147483647 is absurdly large"},
        {"vocab_size = 1000000000", NULL, "\"vocab_size\": 97", "\"vocab_size\": 1000000000", 0, 0, ERR_SHAPE, "absurdly large"},
        {"vocab_size = 1e9", NULL, "\"vocab_size\": 97", "\"vocab_size\": 1e9", 0, 0, ERR_FORMAT, "\"vocab_size\" must be an integer"},
        {"vocab_size = 2^40", NULL, "\"vocab_size\": 97", "\"vocab_size\": 1099511627776", 0, 0, ERR_FORMAT, "\"vocab_size\" must be an integer"},
        {"vocab_size = -97", NULL, "\"vocab_size\": 97", "\"vocab_size\": -97", 0, 0, ERR_SHAPE, "vocab_size = -97 must be positive"},
        {"n_positions absurd", NULL, "\"n_positions\": 64,", "\"n_positions\": 2000000000,", 0, 0, ERR_SHAPE, "n_positions = 2000000000 is absurdly large"},
        // 4·n_embd (the default n_inner) must not overflow on the way to the check.
        {"n_embd = 2^31-1", NULL, "\"n_embd\": 32,", "\"n_embd\": 2147483647,", 0, 0, ERR_SHAPE, "n_embd = 2147483647 is absurdly large"},
        {"n_embd = -2^31+1", NULL, "\"n_embd\": 32,", "\"n_embd\": -2147483647,", 0, 0, ERR_SHAPE, "n_embd = -2147483647 must be positive"},
        {"n_embd = -2^31", NULL, "\"n_embd\": 32,", "\"n_embd\": -2147483648,", 0, 0, ERR_FORMAT, "\"n_embd\" must be an integer"},
        {"missing n_embd", NULL, "\"n_embd\": 32,", "", 0, 0, ERR_FORMAT, "missing \"n_embd\""},
        {"missing n_positions and n_ctx", NULL, "\"n_positions\": 64,", "", "\"n_ctx\": 64,", "", ERR_FORMAT, "missing \"n_positions\""},
        {"model_type bert", NULL, "\"model_type\": \"gpt2\",", "\"model_type\": \"bert\",", 0, 0, ERR_FORMAT, "model_type is \"bert\", expected \"gpt2\""},
        {"model_type not a string", NULL, "\"model_type\": \"gpt2\",", "\"model_type\": 2,", 0, 0, ERR_FORMAT, "model_type"},
        {"activation relu", NULL, "\"activation_function\": \"gelu_new\",", "\"activation_function\": \"relu\",", 0, 0, ERR_FORMAT, "activation_function \"relu\" is not supported"},
        {"activation not a string", NULL, "\"activation_function\": \"gelu_new\",", "\"activation_function\": 1,", 0, 0, ERR_FORMAT, "activation_function must be a string"},
        {"layer_norm_epsilon 0", NULL, "\"layer_norm_epsilon\": 1e-05,", "\"layer_norm_epsilon\": 0,", 0, 0, ERR_FORMAT, "layer_norm_epsilon"},
        // positive and below 1 as written, but 0 and 1 as the float the model keeps (found by fuzz_hf_dir:
        // such a model loaded, and its saved config.json did not)
        {"layer_norm_epsilon 1e-206", NULL, "\"layer_norm_epsilon\": 1e-05,", "\"layer_norm_epsilon\": 9.99999975e-206,", 0, 0, ERR_FORMAT,
         "layer_norm_epsilon"},
        {"layer_norm_epsilon 0.99999999999", NULL, "\"layer_norm_epsilon\": 1e-05,", "\"layer_norm_epsilon\": 0.99999999999,", 0, 0,
         ERR_FORMAT, "layer_norm_epsilon"},
        {"eos id outside vocab", NULL, "\"eos_token_id\": 96,", "\"eos_token_id\": 97,", 0, 0, ERR_SHAPE, "outside the vocabulary"},
        {"scale_attn_weights not bool", NULL, "\"scale_attn_weights\": true,", "\"scale_attn_weights\": 1,", 0, 0, ERR_FORMAT, "scale_attn_weights"},
    };
    tlist l;
    tlist_tiny(&l);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *d = case_dir("config");
        char *text = cases[i].text ? xstrdup(cases[i].text)
                                   : config_edit(cases[i].old, cases[i].nw, cases[i].old2, cases[i].nw2, (char *)NULL);
        write_text(d, "config.json", text);
        write_weights(d, "model.safetensors", &l);  // valid weights: the config is what is wrong
        expect_load_fails(cases[i].label, d, "config.json", cases[i].code, cases[i].phrase);
        free(text);
    }
    // No config.json at all.
    const char *d = case_dir("no-config");
    write_weights(d, "model.safetensors", &l);
    expect_load_fails("no config.json", d, "config.json", ERR_IO, "cannot open");
    // A missing directory.
    expect_load_fails("no such directory", in_dir(root_dir, "does-not-exist"), "config.json", ERR_IO, "cannot open");
    // n_ctx alone (older configs) stands for n_positions; gelu and gelu_pytorch_tanh are accepted.
    d = case_dir("n-ctx-only");
    char *text = config_edit("\"n_positions\": 64,", "", (char *)NULL);
    write_text(d, "config.json", text);
    write_weights(d, "model.safetensors", &l);
    expect_loads_as_tiny("n_ctx without n_positions", d, NULL);
    free(text);
    group_done("config.json errors", f0);
}

// --- absurd sizes: rejected before anything of that size is allocated

// Sizes each within its own limit whose products are terabytes: the loader must
// compare them with the file's tensors before it allocates the weights.
static int absurd_cases(void) {
    int f0 = harness_failed;
    tlist l;
    tlist_tiny(&l);
    const char *d = case_dir("absurd-vocab");
    char *text = config_edit("\"vocab_size\": 97", "\"vocab_size\": 16777216", (char *)NULL);
    write_text(d, "config.json", text);
    write_weights(d, "model.safetensors", &l);
    expect_load_fails("vocab_size 2^24 (within limit) vs a [97,32] wte", d, "model.safetensors", ERR_SHAPE,
                      "expected [16777216,32]");
    free(text);

    d = case_dir("absurd-all");
    text = config_edit("\"vocab_size\": 97", "\"vocab_size\": 16777216", "\"n_embd\": 32,", "\"n_embd\": 65536,",
                       "\"n_head\": 4,", "\"n_head\": 1,", "\"n_layer\": 2,", "\"n_layer\": 512,",
                       "\"n_positions\": 64,", "\"n_positions\": 1048576,", "\"n_inner\": null,", "\"n_inner\": 262144,",
                       (char *)NULL);
    write_text(d, "config.json", text);
    write_weights(d, "model.safetensors", &l);
    expect_load_fails("every size at its limit (2^50 floats)", d, "model.safetensors", ERR_SHAPE, "expected [");
    free(text);
    return harness_failed - f0;
}

// Runs absurd_cases in a child process with its address space capped at what it
// uses now plus 256 MB (not under ASan, which reserves terabytes of shadow), so a
// large allocation aborts the child rather than succeeding lazily.
static void test_absurd_sizes(void) {
    int f0 = harness_failed;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (!UNDER_ASAN) {
            long pages = 0, page = sysconf(_SC_PAGESIZE);
            FILE *f = fopen("/proc/self/statm", "r");
            if (f) {
                if (fscanf(f, "%ld", &pages) != 1) pages = 0;
                fclose(f);
            }
            if (pages > 0) {
                struct rlimit lim;
                CHECK(getrlimit(RLIMIT_AS, &lim) == 0);
                rlim_t want = (rlim_t)pages * (rlim_t)page + ((rlim_t)256 << 20);
                if (lim.rlim_max == RLIM_INFINITY || want <= lim.rlim_max) {
                    lim.rlim_cur = want;
                    setrlimit(RLIMIT_AS, &lim);
                }
            }
        }
        int failed = absurd_cases();
        fflush(stdout);
        fflush(stderr);
        _exit(failed > 100 ? 100 : failed);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    EXPECT(WIFEXITED(status), "absurd sizes: the loader crashed (signal %d)", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "absurd sizes: the child exited with %d (failed checks, or a sanitizer abort: see above)",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    group_done("absurd sizes rejected before allocation", f0);
}

// --- model.safetensors errors

static void test_weights(void) {
    int f0 = harness_failed;
    tlist l;

    // No weight file at all.
    const char *d = case_dir("no-weights");
    write_text(d, "config.json", tiny_config);
    expect_load_fails("no model.safetensors, no index", d, NULL, ERR_IO,
                      "no model.safetensors or model.safetensors.index.json");

    tlist_tiny(&l);
    tlist_drop(&l, "transformer.h.1.mlp.c_fc.bias");
    expect_load_fails("missing h.1.mlp.c_fc.bias", model_dir("missing", &l), "model.safetensors", ERR_FORMAT,
                      "missing tensor 'h.1.mlp.c_fc.bias'");

    tlist_tiny(&l);
    tlist_drop(&l, "transformer.wte.weight");
    expect_load_fails("missing wte", model_dir("missing-wte", &l), "model.safetensors", ERR_FORMAT,
                      "missing tensor 'wte.weight'");

    tlist_tiny(&l);
    st_write_tensor *t = tlist_get(&l, "transformer.h.0.attn.c_attn.weight");
    t->shape[1] = 95;  // [32,95]: the data pointer still holds enough bytes
    expect_load_fails("c_attn.weight [32,95]", model_dir("shape", &l), "model.safetensors", ERR_SHAPE,
                      "tensor 'transformer.h.0.attn.c_attn.weight' is [32,95], expected [32,96]");

    tlist_tiny(&l);
    t = tlist_get(&l, "transformer.h.1.attn.c_attn.weight");
    t->shape[0] = 96, t->shape[1] = 32;  // transposed: same size, wrong layout
    expect_load_fails("c_attn.weight transposed [96,32]", model_dir("transposed", &l), "model.safetensors", ERR_SHAPE,
                      "is [96,32], expected [32,96]");

    tlist_tiny(&l);
    t = tlist_get(&l, "transformer.h.0.attn.c_attn.weight");
    t->ndim = 1, t->shape[0] = 32 * 96, t->shape[1] = 0;
    expect_load_fails("c_attn.weight rank 1", model_dir("rank1", &l), "model.safetensors", ERR_SHAPE,
                      "is [3072], expected [32,96]");

    tlist_tiny(&l);
    t = tlist_get(&l, "transformer.ln_f.weight");
    t->ndim = 2, t->shape[0] = 1, t->shape[1] = 32;
    expect_load_fails("ln_f.weight rank 2", model_dir("rank2", &l), "model.safetensors", ERR_SHAPE,
                      "is [1,32], expected [32]");

    tlist_tiny(&l);
    t = tlist_get(&l, "transformer.h.1.ln_2.bias");
    t->ndim = 0, t->shape[0] = 0;
    expect_load_fails("ln_2.bias scalar", model_dir("rank0", &l), "model.safetensors", ERR_SHAPE,
                      "is [], expected [32]");

    tlist_tiny(&l);
    t = tlist_get(&l, "transformer.wpe.weight");
    t->shape[0] = 63;
    expect_load_fails("wpe [63,32] vs n_positions 64", model_dir("wpe", &l), "model.safetensors", ERR_SHAPE,
                      "is [63,32], expected [64,32]");

    tlist_tiny(&l);
    const st_write_tensor *ln = tlist_get(&l, "transformer.h.1.ln_1.weight");
    tlist_add(&l, "transformer.h.2.ln_1.weight", ln->dtype, ln->ndim, ln->shape, ln->data);
    expect_load_fails("extra layer h.2", model_dir("extra-layer", &l), "model.safetensors", ERR_FORMAT,
                      "unexpected tensor 'transformer.h.2.ln_1.weight'");

    tlist_tiny(&l);
    ln = tlist_get(&l, "transformer.ln_f.bias");
    tlist_add(&l, "score.weight", ln->dtype, ln->ndim, ln->shape, ln->data);
    expect_load_fails("extra tensor score.weight", model_dir("extra", &l), "model.safetensors", ERR_FORMAT,
                      "unexpected tensor 'score.weight'");

    tlist_tiny(&l);
    const st_write_tensor *wpe = tlist_get(&l, "transformer.wpe.weight");
    tlist_add(&l, "wpe.weight", wpe->dtype, wpe->ndim, wpe->shape, wpe->data);
    expect_load_fails("wpe with and without prefix", model_dir("twice", &l), "model.safetensors", ERR_FORMAT,
                      "tensor 'wpe.weight' appears twice");

    // Truncated files: cut mid-data, mid-header, inside the length, empty.
    tlist_tiny(&l);
    d = model_dir("truncated", &l);
    const char *path = in_dir(d, "model.safetensors");
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    CHECK(truncate(path, sb.st_size / 2) == 0);
    expect_load_fails("truncated mid-data", d, "model.safetensors", ERR_FORMAT, "beyond the data section");
    CHECK(truncate(path, 100) == 0);
    expect_load_fails("truncated mid-header", d, "model.safetensors", ERR_FORMAT, "header");
    CHECK(truncate(path, 5) == 0);
    expect_load_fails("truncated to 5 bytes", d, "model.safetensors", ERR_FORMAT, "bytes");
    CHECK(truncate(path, 0) == 0);
    expect_load_fails("empty model.safetensors", d, "model.safetensors", ERR_FORMAT, "bytes");

    // model.safetensors is a directory.
    d = case_dir("weights-dir");
    write_text(d, "config.json", tiny_config);
    CHECK(mkdir(in_dir(d, "model.safetensors"), 0755) == 0);
    expect_load_fails("model.safetensors is a directory", d, "model.safetensors", ERR_IO, "not a regular file");
    group_done("model.safetensors errors", f0);
}

// --- layouts that must load: no prefix, mask buffers

static void test_layouts(void) {
    int f0 = harness_failed;
    tlist l;
    tlist_tiny(&l);
    expect_loads_as_tiny("a copy of tiny", model_dir("copy", &l), NULL);

    tlist_tiny(&l);
    tlist_unprefix(&l);
    expect_loads_as_tiny("no transformer. prefix", model_dir("unprefixed", &l), NULL);

    // Mask buffers as the Hub's gpt2 and DialoGPT store them are skipped, with or
    // without the prefix.
    int64_t mshape[4] = {1, 1, 64, 64};
    float *mask = xcalloc(64 * 64, sizeof(float));
    for (int i = 0; i < 64; i++)
        for (int j = 0; j <= i; j++) mask[i * 64 + j] = 1.0f;
    static const float masked_bias = -1e4f;
    tlist_tiny(&l);
    tlist_add(&l, "transformer.h.0.attn.bias", DTYPE_F32, 4, mshape, mask);
    tlist_add(&l, "transformer.h.1.attn.bias", DTYPE_F32, 4, mshape, mask);
    tlist_add(&l, "transformer.h.0.attn.masked_bias", DTYPE_F32, 0, mshape, &masked_bias);
    tlist_add(&l, "transformer.h.1.attn.masked_bias", DTYPE_F32, 0, mshape, &masked_bias);
    gpt2_model m;
    expect_loads_as_tiny("attn.bias + attn.masked_bias skipped", model_dir("masks", &l), &m);
    if (m.params) {
        EXPECT(gpt2_param_count(&m.cfg) == gpt2_param_count(&tiny_m.cfg), "mask buffers counted as parameters");
        gpt2_model_free(&m);
    }
    tlist_unprefix(&l);
    expect_loads_as_tiny("h.N.attn.bias without prefix skipped", model_dir("masks-hub", &l), NULL);

    // c_attn.bias is a weight, not a mask: dropping it while the mask stays must fail.
    tlist_tiny(&l);
    tlist_add(&l, "transformer.h.0.attn.bias", DTYPE_F32, 4, mshape, mask);
    tlist_drop(&l, "transformer.h.0.attn.c_attn.bias");
    expect_load_fails("c_attn.bias dropped, attn.bias kept", model_dir("no-c-attn-bias", &l), "model.safetensors",
                      ERR_FORMAT, "missing tensor 'h.0.attn.c_attn.bias'");
    tlist_tiny(&l);
    tlist_add(&l, "transformer.h.1.attn.masked_bias", DTYPE_F32, 0, mshape, &masked_bias);
    tlist_drop(&l, "transformer.h.1.attn.c_proj.bias");
    expect_load_fails("c_proj.bias dropped, masked_bias kept", model_dir("no-c-proj-bias", &l), "model.safetensors",
                      ERR_FORMAT, "missing tensor 'h.1.attn.c_proj.bias'");
    free(mask);
    group_done("prefix and mask-buffer layouts", f0);
}

// --- lm_head.weight

static void test_lm_head(void) {
    int f0 = harness_failed;
    const size_t VC = 97 * 32;
    tlist l;
    tlist_tiny(&l);
    const st_write_tensor *wte = tlist_get(&l, "transformer.wte.weight");
    float *head = xmalloc(VC * sizeof(float));
    memcpy(head, wte->data, VC * sizeof(float));
    head[VC - 1] += 0.5f;  // one element differs: untied
    tlist_add(&l, "lm_head.weight", DTYPE_F32, 2, wte->shape, head);
    const char *d = model_dir("untied", &l);
    gpt2_model m;
    err_clear();
    int rc = gpt2_hf_load(&m, d);
    EXPECT(rc == 0, "untied lm_head: load failed: %s", err_msg());
    if (rc == 0) {
        EXPECT(m.cfg.tied == 0 && m.head.data != m.embd.data, "untied lm_head: loaded as tied");
        EXPECT(gpt2_param_count(&m.cfg) == gpt2_param_count(&tiny_m.cfg) + VC, "untied lm_head: %zu params, want %zu",
               gpt2_param_count(&m.cfg), gpt2_param_count(&tiny_m.cfg) + VC);
        EXPECT(m.head.data && memcmp(m.head.data, head, VC * sizeof(float)) == 0, "untied lm_head: values differ");
        EXPECT(memcmp(m.params, tiny_m.params, tiny_m.n_floats * sizeof(float)) == 0, "untied lm_head: other weights differ");
        EXPECT(m.dtype_params[DTYPE_F32] == tiny_m.dtype_params[DTYPE_F32] + VC, "untied lm_head: dtype count");
        gpt2_model_free(&m);
    }

    tlist_tiny(&l);
    wte = tlist_get(&l, "transformer.wte.weight");
    tlist_add(&l, "lm_head.weight", DTYPE_F32, 2, wte->shape, wte->data);
    expect_loads_as_tiny("lm_head equal to wte: tied", model_dir("tied", &l), &m);
    if (m.params) {
        EXPECT(m.dtype_params[DTYPE_F32] == tiny_m.dtype_params[DTYPE_F32], "tied lm_head counted twice");
        gpt2_model_free(&m);
    }

    // lm_head as F16 beside an F32 wte holding the same values: stored differently, so untied
    // (the stored bytes are compared), and widened as any F16 tensor is.
    tlist_tiny(&l);
    wte = tlist_get(&l, "transformer.wte.weight");
    uint16_t *h16 = xmalloc(VC * sizeof *h16);
    for (size_t i = 0; i < VC; i++) h16[i] = f32_to_fp16(((const float *)wte->data)[i]);
    tlist_add(&l, "lm_head.weight", DTYPE_F16, 2, wte->shape, h16);
    err_clear();
    rc = gpt2_hf_load(&m, model_dir("head-f16", &l));
    EXPECT(rc == 0, "F16 lm_head: load failed: %s", err_msg());
    if (rc == 0) {
        size_t bad = 0;
        for (size_t i = 0; i < VC; i++) bad += ((const float *)m.head.data)[i] != fp16_to_f32(h16[i]);
        EXPECT(m.cfg.tied == 0 && m.head.data != m.embd.data && bad == 0 && m.dtype_params[DTYPE_F16] == VC,
               "F16 lm_head beside F32 wte: tied %d, %zu values differ, %zu F16 parameters", m.cfg.tied, bad,
               m.dtype_params[DTYPE_F16]);
        gpt2_model_free(&m);
    }
    free(h16);

    tlist_tiny(&l);
    wte = tlist_get(&l, "transformer.wte.weight");
    int64_t bad_shape[2] = {96, 32};
    tlist_add(&l, "lm_head.weight", DTYPE_F32, 2, bad_shape, wte->data);
    expect_load_fails("lm_head [96,32]", model_dir("head-shape", &l), "model.safetensors", ERR_SHAPE,
                      "tensor 'lm_head.weight' is [96,32], expected [97,32]");
    free(head);
    group_done("lm_head.weight tied and untied", f0);
}

// --- sharded checkpoints (model.safetensors.index.json)

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"

// Writes an index mapping the tensors of a to name_a and of b to name_b.
static void write_index(const char *dir, const tlist *a, const char *name_a, const tlist *b, const char *name_b) {
    size_t cap = 16384, n = 0;
    int entries = 0;
    char *s = xmalloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "{\n  \"metadata\": {\"total_size\": 124928},\n  \"weight_map\": {\n");
    for (int k = 0; k < 2; k++) {
        const tlist *l = k ? b : a;
        for (int i = 0; l && i < l->n; i++)
            n += (size_t)snprintf(s + n, cap - n, "%s    \"%s\": \"%s\"", entries++ ? ",\n" : "", l->t[i].name,
                                  k ? name_b : name_a);
    }
    n += (size_t)snprintf(s + n, cap - n, "\n  }\n}\n");
    CHECK(n < cap);
    write_text(dir, "model.safetensors.index.json", s);
    free(s);
}

// Splits tiny in two: the first half of its tensors and the rest.
static void split_tiny(tlist *a, tlist *b) {
    tlist all;
    tlist_tiny(&all);
    a->n = b->n = 0;
    for (int i = 0; i < all.n; i++) {
        const st_write_tensor *t = &all.t[i];
        tlist_add(i < all.n / 2 ? a : b, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
}

static const char *sharded_dir(const char *label, const tlist *a, const tlist *b) {
    const char *d = case_dir(label);
    write_text(d, "config.json", tiny_config);
    write_weights(d, SHARD1, a);
    write_weights(d, SHARD2, b);
    return d;
}

static void test_sharded(void) {
    int f0 = harness_failed;
    tlist a, b;
    split_tiny(&a, &b);
    const char *d = sharded_dir("sharded", &a, &b);
    write_index(d, &a, SHARD1, &b, SHARD2);
    gpt2_model m;
    expect_loads_as_tiny("two shards", d, &m);
    if (m.params) {
        struct stat s1, s2;
        CHECK(stat(in_dir(d, SHARD1), &s1) == 0 && stat(in_dir(d, SHARD2), &s2) == 0);
        EXPECT(m.file_bytes == (size_t)(s1.st_size + s2.st_size), "two shards: file_bytes %zu, want %lld", m.file_bytes,
               (long long)(s1.st_size + s2.st_size));
        gpt2_model_free(&m);
    }

    // Broken indexes.
    d = sharded_dir("index-no-map", &a, &b);
    write_text(d, "model.safetensors.index.json", "{\"metadata\": {\"total_size\": 124928}}");
    expect_load_fails("index without weight_map", d, "model.safetensors.index.json", ERR_FORMAT,
                      "missing or empty \"weight_map\"");
    d = sharded_dir("index-empty-map", &a, &b);
    write_text(d, "model.safetensors.index.json", "{\"weight_map\": {}}");
    expect_load_fails("index with an empty weight_map", d, "model.safetensors.index.json", ERR_FORMAT,
                      "missing or empty \"weight_map\"");
    d = sharded_dir("index-map-array", &a, &b);
    write_text(d, "model.safetensors.index.json", "{\"weight_map\": [\"" SHARD1 "\"]}");
    expect_load_fails("weight_map an array", d, "model.safetensors.index.json", ERR_FORMAT, "\"weight_map\"");
    d = sharded_dir("index-malformed", &a, &b);
    write_text(d, "model.safetensors.index.json", "{\"weight_map\": {\"wte.weight\": ");
    expect_load_fails("index malformed JSON", d, "model.safetensors.index.json", ERR_FORMAT, "invalid JSON");
    d = sharded_dir("index-not-string", &a, &b);
    write_text(d, "model.safetensors.index.json", "{\"weight_map\": {\"transformer.wte.weight\": 1}}");
    expect_load_fails("weight_map value not a string", d, "model.safetensors.index.json", ERR_FORMAT,
                      "is not a plain file name");

    d = sharded_dir("shard-missing", &a, &b);
    write_index(d, &a, SHARD1, &b, SHARD2);
    CHECK(unlink(in_dir(d, SHARD2)) == 0);
    expect_load_fails("shard file missing", d, SHARD2, ERR_IO, "cannot open");

    d = sharded_dir("shard-slash", &a, &b);
    write_index(d, &a, SHARD1, &b, "../" SHARD2);
    expect_load_fails("shard name with '/'", d, "model.safetensors.index.json", ERR_FORMAT, "is not a plain file name");
    d = sharded_dir("shard-abs", &a, &b);
    write_index(d, &a, SHARD1, &b, "/etc/passwd");
    expect_load_fails("absolute shard path", d, "model.safetensors.index.json", ERR_FORMAT, "is not a plain file name");
    d = sharded_dir("shard-empty-name", &a, &b);
    write_index(d, &a, SHARD1, &b, "");
    expect_load_fails("empty shard name", d, "model.safetensors.index.json", ERR_FORMAT, "is not a plain file name");

    // The index lists only the first shard: the rest is missing.
    d = sharded_dir("index-one-shard", &a, &b);
    write_index(d, &a, SHARD1, NULL, NULL);
    expect_load_fails("index lists one shard of two", d, SHARD1, ERR_FORMAT, "missing tensor");

    // A truncated shard.
    d = sharded_dir("shard-truncated", &a, &b);
    write_index(d, &a, SHARD1, &b, SHARD2);
    struct stat sb;
    CHECK(stat(in_dir(d, SHARD2), &sb) == 0);
    CHECK(truncate(in_dir(d, SHARD2), sb.st_size - 7) == 0);
    expect_load_fails("truncated shard", d, SHARD2, ERR_FORMAT, "beyond the data section");

    // The same tensor in both shards (wpe is in the second half: tiny's header is sorted).
    tlist a2 = a;
    for (int i = 0; i < a2.n; i++) a2.t[i].name = a2.names[i];
    const st_write_tensor *ln = tlist_get(&b, "transformer.wpe.weight");
    tlist_add(&a2, ln->name, ln->dtype, ln->ndim, ln->shape, ln->data);
    d = sharded_dir("shard-dup", &a2, &b);
    write_index(d, &a, SHARD1, &b, SHARD2);  // JSON keys are unique: the index names it once
    expect_load_fails("a tensor in both shards", d, SHARD2, ERR_FORMAT, "appears twice");

    // An untied lm_head in both shards is one tensor stored twice: refuse it too.
    const size_t VC = 97 * 32;
    float *head = xmalloc(VC * sizeof(float));
    const st_write_tensor *wte = tlist_get(&b, "transformer.wte.weight");
    for (size_t i = 0; i < VC; i++) head[i] = 0.5f * ((const float *)wte->data)[i];
    tlist a3 = a, b3 = b;
    for (int i = 0; i < a3.n; i++) a3.t[i].name = a3.names[i];
    for (int i = 0; i < b3.n; i++) b3.t[i].name = b3.names[i];
    tlist_add(&a3, "lm_head.weight", DTYPE_F32, 2, wte->shape, head);
    tlist_add(&b3, "lm_head.weight", DTYPE_F32, 2, wte->shape, head);
    d = sharded_dir("head-dup", &a3, &b3);
    write_index(d, &a3, SHARD1, &b, SHARD2);
    expect_load_fails("lm_head.weight in both shards", d, SHARD2, ERR_FORMAT, "'lm_head.weight' appears twice");
    free(head);

    // model.safetensors wins over an index when both are present.
    d = sharded_dir("single-and-index", &a, &b);
    write_text(d, "model.safetensors.index.json", "{ not json");
    tlist all;
    tlist_tiny(&all);
    write_weights(d, "model.safetensors", &all);
    expect_loads_as_tiny("model.safetensors preferred over an index", d, NULL);
    group_done("sharded checkpoints", f0);
}

// --- gpt2_state_init

static void test_state_init(void) {
    int f0 = harness_failed;
    int bad[] = {0, -1, tiny_m.cfg.n_ctx + 1, 1 << 30};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gpt2_state s;
        err_clear();
        int rc = gpt2_state_init(&s, &tiny_m, bad[i]);
        EXPECT(rc == ERR_ARG && err_code() == ERR_ARG, "state_init(%d): rc=%d, want ERR_ARG", bad[i], rc);
        EXPECT(strstr(err_msg(), "n_ctx") != NULL, "state_init(%d): message lacks n_ctx: '%s'", bad[i], err_msg());
        EXPECT(!s.kv && !s.logits && s.max_tokens == 0, "state_init(%d): state not zeroed", bad[i]);
        gpt2_state_free(&s);
    }
    int good[] = {1, tiny_m.cfg.n_ctx};
    for (size_t i = 0; i < 2; i++) {
        gpt2_state s;
        err_clear();
        int rc = gpt2_state_init(&s, &tiny_m, good[i]);
        EXPECT(rc == 0 && s.max_tokens == good[i], "state_init(%d): rc=%d (%s)", good[i], rc, err_msg());
        gpt2_state_free(&s);
    }
    err_clear();
    group_done("gpt2_state_init max_tokens range", f0);
}

// --- shapes past one read band

// Stored rows beyond the loader's band of 64 and not a multiple of it, rows and columns not
// multiples of 4 (its 4x4 register blocks): every tail of the transposition. Real GPT-2 sizes
// are multiples of 64; pruned and custom widths are not. Saved as F32 and as F16, loaded back.
static void test_odd_shapes(void) {
    gpt2_config c;
    gpt2_config_init(&c, 61, 16, 70, 2, 5, 102);  // c_attn stored [70, 210], c_fc [70, 102], mlp c_proj [102, 70]
    gpt2_model m, h;
    gpt2_model_init_random(&m, &c, 7);
    const char *dir = case_dir("odd-shapes");
    for (int f16 = 0; f16 <= 1; f16++) {
        err_clear();
        EXPECT(gpt2_hf_save(&m, dir, NULL, f16) == 0, "odd shapes: save (f16 %d): %s", f16, err_msg());
        int rc = gpt2_hf_load(&h, dir);
        EXPECT(rc == 0, "odd shapes: load (f16 %d): %s", f16, err_msg());
        if (rc) continue;
        size_t bad = h.n_floats == m.n_floats ? 0 : m.n_floats;
        for (size_t i = 0; h.n_floats == m.n_floats && i < m.n_floats; i++)
            bad += h.params[i] != (f16 ? fp16_to_f32(f32_to_fp16(m.params[i])) : m.params[i]);
        EXPECT(bad == 0, "odd shapes (f16 %d): %zu of %zu weights differ from the saved ones", f16, bad, m.n_floats);
        gpt2_model_free(&h);
    }
    gpt2_model_free(&m);
}

int main(void) {
    snprintf(tiny_dir, sizeof tiny_dir, "%s/testdata/oracle/tiny", shared_dir());
    snprintf(root_dir, sizeof root_dir, "/tmp/shrink_test_gpt2_load.XXXXXX");
    CHECK(mkdtemp(root_dir) != NULL);

    size_t len;
    char *cfg_path = path_join(tiny_dir, "config.json"), *st_path = path_join(tiny_dir, "model.safetensors");
    int rc = file_read_all(cfg_path, &tiny_config, &len);
    if (!rc) rc = safetensors_open(&tiny_st, st_path);
    if (!rc) rc = gpt2_hf_load(&tiny_m, tiny_dir);
    free(cfg_path);
    free(st_path);
    EXPECT(rc == 0, "cannot read the tiny oracle checkpoint (set SHRINK_SHARED?): %s", err_msg());
    if (rc == 0) {
        test_config();
        test_absurd_sizes();
        test_weights();
        test_layouts();
        test_lm_head();
        test_sharded();
        test_state_init();
        test_odd_shapes();
    }

    gpt2_model_free(&tiny_m);
    safetensors_close(&tiny_st);
    free(tiny_config);
    EXPECT(nftw(root_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0, "cannot remove %s", root_dir);
    struct stat sb;
    EXPECT(stat(root_dir, &sb) != 0, "%s left behind", root_dir);
    return TEST_DONE();
}
