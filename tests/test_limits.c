// test_limits.c: resource bounds on hostile input (docs/reliability.md states them).
//
// Each case runs in a child process (fork) with a time limit (alarm) and, outside
// sanitizer builds, an address-space limit, so a regression shows up as a failed check
// instead of a machine out of memory; the child reports its result code, its peak RSS
// (getrusage) and its wall time through a pipe. Cases: a 200,000-entry shard index
// (fault 7 of issue 12: quadratic before), safetensors headers built to blow up the
// JSON tree (fault 8), a GGUF whose string array is as many empty strings as fit, the
// size limits of config.json / vocab.json / merges.txt / the shard index, and the JSON
// tree budget itself.
#include "core/err.h"
#include "core/fileio.h"
#include "core/xalloc.h"
#include "formats/gguf.h"
#include "formats/json.h"
#include "formats/safetensors.h"
#include "modelfile/modelfile.h"
#include "tokenizer/bpe.h"
#include "harness.h"
#include <ftw.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
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

#define MB (1024.0 * 1024.0)

static char root_dir[64];

static char *in_root(const char *name) { return path_join(root_dir, name); }

static void write_file(const char *path, const void *a, size_t na, const void *b, size_t nb) {
    FILE *f = fopen(path, "wb");
    CHECK(f);
    CHECK(fwrite(a, 1, na, f) == na);
    if (nb) CHECK(fwrite(b, 1, nb, f) == nb);
    CHECK(fclose(f) == 0);
}

// --- a growable text buffer for generated inputs

typedef struct {
    char *s;
    size_t len, cap;
} text;

static void put(text *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->s = xrealloc(t->s, t->cap);
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = 0;
}
static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

// --- running a case in a child

typedef struct {
    int rc;           // what the case returned
    double rss_mb;    // the child's peak RSS
    double seconds;   // wall time of the case alone
    char msg[400];    // the recorded error message
} outcome;

typedef int (*case_fn)(const void *arg);

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Runs fn(arg) in a child limited to timeout_s seconds and (outside ASan) as_mb of address
// space. Returns 0 and fills *o when the child finished; -1 (after a failed check) if it was
// killed (by the alarm, or by abort when an allocation hit the limit).
static int run_child(const char *name, case_fn fn, const void *arg, int timeout_s, double as_mb, outcome *o) {
    int fd[2];
    CHECK(pipe(fd) == 0);
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        if (!UNDER_ASAN) {
            struct rlimit rl = {(rlim_t)(as_mb * MB), (rlim_t)(as_mb * MB)};
            setrlimit(RLIMIT_AS, &rl);
        }
        alarm((unsigned)timeout_s);
        outcome r;
        memset(&r, 0, sizeof r);
        err_clear();
        double t0 = now_s();
        r.rc = fn(arg);
        r.seconds = now_s() - t0;
        snprintf(r.msg, sizeof r.msg, "%s", err_msg());
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        r.rss_mb = (double)ru.ru_maxrss * 1024.0 / MB;
        CHECK(write(fd[1], &r, sizeof r) == (ssize_t)sizeof r);
        _exit(0);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], o, sizeof *o);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof *o || !WIFEXITED(status)) {
        EXPECT(0, "%s: the child died (%s %d) instead of finishing within %d s and %.0f MB", name,
               WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
               timeout_s, as_mb);
        return -1;
    }
    return 0;
}

// --- fault 7: a shard index with 200,000 entries

typedef struct {
    const char *dir;
} dir_arg;

static int load_dir(const void *arg) {
    gpt2_model m;
    int rc = gpt2_hf_load(&m, ((const dir_arg *)arg)->dir);
    if (!rc) gpt2_model_free(&m);
    return rc;
}

static void test_big_index(void) {
    char tiny[512];
    snprintf(tiny, sizeof tiny, "%s/testdata/oracle/tiny", shared_dir());
    char *src = path_join(tiny, "model.safetensors"), *cfg_src = path_join(tiny, "config.json");
    safetensors st;
    CHECK(safetensors_open(&st, src) == 0);
    char *dir = in_root("big-index");
    CHECK(mkdir(dir, 0755) == 0);
    char *cfg;
    size_t cfg_len;
    CHECK(file_read_all(cfg_src, &cfg, &cfg_len) == 0);
    char *cfg_dst = path_join(dir, "config.json");
    write_file(cfg_dst, cfg, cfg_len, NULL, 0);
    // Two shards: tiny's tensors split in half.
    st_write_tensor *ts = xcalloc((size_t)st.n_tensors, sizeof *ts);
    for (int i = 0; i < st.n_tensors; i++) {
        const st_tensor *t = &st.tensors[i];
        ts[i] = (st_write_tensor){t->name, t->dtype, t->ndim, {0}, t->data};
        memcpy(ts[i].shape, t->shape, sizeof ts[i].shape);
    }
    const char *shard[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    int half = st.n_tensors / 2;
    for (int s = 0; s < 2; s++) {
        char *p = path_join(dir, shard[s]);
        CHECK(safetensors_write(p, ts + (s ? half : 0), s ? st.n_tensors - half : half, NULL) == 0);
        free(p);
    }
    // The index: tiny's names, then 200,000 more entries over the same two shards.
    text t = {0};
    puts_(&t, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    char buf[160];
    for (int i = 0; i < st.n_tensors; i++) {
        snprintf(buf, sizeof buf, "%s\"%s\": \"%s\"", i ? ", " : "", st.tensors[i].name, shard[i >= half]);
        puts_(&t, buf);
    }
    for (int i = 0; i < 200000; i++) {
        snprintf(buf, sizeof buf, ", \"transformer.h.%d.extra.weight\": \"%s\"", i, shard[i % 2]);
        puts_(&t, buf);
    }
    puts_(&t, "}}");
    char *idx = path_join(dir, "model.safetensors.index.json");
    write_file(idx, t.s, t.len, NULL, 0);
    printf("shard index: %.1f MB, 200,000 extra entries\n", (double)t.len / MB);
    outcome o;
    dir_arg a = {dir};
    // Bound: the target (1 s), five times that under sanitizers.
    double bound = UNDER_ASAN ? 5.0 : 1.0;
    if (run_child("200k-entry index", load_dir, &a, 60, 2048, &o) == 0) {
        EXPECT(o.rc == 0, "200k-entry index: load failed: %s", o.msg);
        EXPECT(o.seconds < bound, "200k-entry index: load took %.2f s (bound %.1f s)", o.seconds, bound);
        printf("200k-entry index ... %s (%.3f s, peak RSS %.0f MB)\n", o.rc == 0 && o.seconds < bound ? "ok" : "FAILED",
               o.seconds, o.rss_mb);
    }
    free(t.s), free(idx), free(ts), free(cfg), free(cfg_dst), free(dir), free(src), free(cfg_src);
    safetensors_close(&st);
}

// --- fault 8: safetensors headers built to blow up a JSON tree

typedef struct {
    const char *path;
} file_arg;

static int open_st(const void *arg) {
    safetensors st;
    int rc = safetensors_open(&st, ((const file_arg *)arg)->path);
    if (!rc) safetensors_close(&st);
    return rc;
}

// A safetensors file whose header is `pre` + `unit` repeated until the header holds about
// `bytes` bytes at most (units after the first take `sep` before them) + `post`. No data section.
static char *hostile_file(const char *name, const char *pre, const char *unit, const char *sep, const char *post,
                          size_t bytes, int numbered) {
    text h = {0};
    puts_(&h, pre);
    char buf[256];
    for (size_t i = 0;; i++) {
        if (numbered) snprintf(buf, sizeof buf, unit, i);
        else snprintf(buf, sizeof buf, "%s", unit);
        if (h.len + strlen(sep) + strlen(buf) + strlen(post) > bytes) break;
        if (i) puts_(&h, sep);
        puts_(&h, buf);
    }
    puts_(&h, post);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    char *p = in_root(name);
    write_file(p, len8, 8, h.s, h.len);
    free(h.s);
    return p;
}

static void test_hostile_headers(void) {
    // The target: a 100 MB hostile header refused with a peak RSS under 500 MB
    // (the mapped header itself counts). Sanitizer builds inflate memory, so they run
    // smaller headers and check only that each is refused.
    size_t bytes = UNDER_ASAN ? 10000000 : 100000000;
    double rss_bound = 500;
    struct {
        const char *name, *pre, *unit, *sep, *post;
        int numbered;
    } cases[] = {
        {"root-array", "[", "[0]", ",", "]", 0},
        {"member-array", "{\"a\":[", "[0]", ",", "]}", 0},
        {"member-numbers", "{\"a\":[", "0", ",", "]}", 0},
        {"many-tensors", "{", "\"t%zu\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}", ",", "}", 1},
        {"metadata", "{\"__metadata__\":{", "\"k%zu\":\"\"", ",", "}}", 1},
        {"deep", "", "[", "", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        // 10 MB of minimal entries is fewer than ST_MAX_TENSORS: a valid file, not a hostile one.
        if (UNDER_ASAN && strcmp(cases[i].name, "many-tensors") == 0) continue;
        char *p = hostile_file(cases[i].name, cases[i].pre, cases[i].unit, cases[i].sep, cases[i].post, bytes,
                               cases[i].numbered);
        outcome o;
        file_arg a = {p};
        char label[96];
        snprintf(label, sizeof label, "hostile header %s (%.0f MB)", cases[i].name, (double)bytes / 1e6);
        if (run_child(label, open_st, &a, 120, 2048, &o) == 0) {
            int ok = o.rc == ERR_FORMAT && (UNDER_ASAN || o.rss_mb < rss_bound);
            EXPECT(o.rc == ERR_FORMAT, "%s: expected ERR_FORMAT, got %d (%s)", label, o.rc, o.msg);
            if (!UNDER_ASAN) EXPECT(o.rss_mb < rss_bound, "%s: peak RSS %.0f MB (bound %.0f)", label, o.rss_mb, rss_bound);
            printf("%s ... %s (%.2f s, peak RSS %.0f MB: %s)\n", label, ok ? "ok" : "FAILED", o.seconds, o.rss_mb, o.msg);
        }
        unlink(p);
        free(p);
    }
}

// --- GGUF: a string array of as many empty strings as fit

static int open_gguf(const void *arg) {
    gguf_file g;
    int rc = gguf_open(&g, ((const file_arg *)arg)->path);
    if (!rc) gguf_close(&g);
    return rc;
}

static void test_hostile_gguf(void) {
    size_t bytes = UNDER_ASAN ? 10000000 : 100000000;
    char *p = in_root("strings.gguf");
    FILE *f = fopen(p, "wb");
    CHECK(f);
    uint32_t version = 3, type_arr = GGUF_TYPE_ARRAY, type_str = GGUF_TYPE_STRING;
    uint64_t n_tensors = 0, n_kv = 1, klen = 1, n = (bytes - 41) / 8;
    CHECK(fwrite("GGUF", 1, 4, f) == 4);
    fwrite(&version, 4, 1, f), fwrite(&n_tensors, 8, 1, f), fwrite(&n_kv, 8, 1, f);
    fwrite(&klen, 8, 1, f), fwrite("k", 1, 1, f), fwrite(&type_arr, 4, 1, f), fwrite(&type_str, 4, 1, f);
    fwrite(&n, 8, 1, f);
    uint64_t *zeros = xcalloc(1 << 16, 8);
    for (uint64_t left = n; left;) {
        size_t k = left < (1 << 16) ? (size_t)left : (1 << 16);
        CHECK(fwrite(zeros, 8, k, f) == k);
        left -= k;
    }
    free(zeros);
    CHECK(fclose(f) == 0);
    outcome o;
    file_arg a = {p};
    char label[96];
    snprintf(label, sizeof label, "GGUF of %.1f M empty strings (%.0f MB)", (double)n / 1e6, (double)bytes / 1e6);
    if (run_child(label, open_gguf, &a, 120, 2048, &o) == 0) {
        EXPECT(o.rc == 0, "%s: %s", label, o.msg);
        if (!UNDER_ASAN) EXPECT(o.rss_mb < 500, "%s: peak RSS %.0f MB (bound 500)", label, o.rss_mb);
        printf("%s ... %s (%.2f s, peak RSS %.0f MB)\n", label, o.rc == 0 && (UNDER_ASAN || o.rss_mb < 500) ? "ok" : "FAILED",
               o.seconds, o.rss_mb);
    }
    unlink(p);
    free(p);
}

// --- size limits of the small files: refused before they are read whole

static void expect_refused(const char *label, int rc, const char *phrase) {
    EXPECT(rc != 0, "%s: accepted", label);
    EXPECT(strstr(err_msg(), phrase) != NULL, "%s: message '%s' lacks '%s'", label, err_msg(), phrase);
    if (rc != 0 && strstr(err_msg(), phrase)) printf("%s ... ok (%s)\n", label, err_msg());
}

static void test_file_limits(void) {
    char tiny[512];
    snprintf(tiny, sizeof tiny, "%s/testdata/oracle/tiny", shared_dir());
    char *dir = in_root("big-config");
    CHECK(mkdir(dir, 0755) == 0);
    char *cfg_src = path_join(tiny, "config.json"), *cfg;
    size_t cfg_len;
    CHECK(file_read_all(cfg_src, &cfg, &cfg_len) == 0);
    // config.json: tiny's, then 2 MiB of spaces (valid JSON, past the 1 MiB limit).
    size_t pad = 2u << 20;
    char *spaces = xmalloc(pad);
    memset(spaces, ' ', pad);
    char *p = path_join(dir, "config.json"), *w_rel = path_join(tiny, "model.safetensors"), *w = path_join(dir, "model.safetensors");
    char *w_src = realpath(w_rel, NULL);
    CHECK(w_src);
    free(w_rel);
    write_file(p, cfg, cfg_len, spaces, pad);
    CHECK(symlink(w_src, w) == 0);
    free(w_src), free(w);
    gpt2_model m;
    err_clear();
    expect_refused("config.json of 2 MiB", gpt2_hf_load(&m, dir), "more than the limit");
    free(p);

    // vocab.json and merges.txt past their 64 MiB limits: valid text padded with blank space.
    char *v = path_join(dir, "vocab.json"), *mg = path_join(dir, "merges.txt");
    char *tv = path_join(tiny, "vocab.json"), *tm = path_join(tiny, "merges.txt");
    char *vt, *mt;
    size_t vl, ml;
    snprintf(tiny, sizeof tiny, "%s/models/mini", shared_dir());
    free(tv), free(tm);
    tv = path_join(tiny, "vocab.json"), tm = path_join(tiny, "merges.txt");
    CHECK(file_read_all(tv, &vt, &vl) == 0 && file_read_all(tm, &mt, &ml) == 0);
    size_t big = (size_t)65 << 20;
    char *blank = xmalloc(big);
    memset(blank, ' ', big);
    write_file(v, vt, vl, blank, big);
    write_file(mg, mt, ml, NULL, 0);
    bpe *tok = NULL;
    err_clear();
    expect_refused("vocab.json of 65 MiB", bpe_load(&tok, v, mg), "more than the limit");
    bpe_free(tok);
    memset(blank, '\n', big);
    write_file(v, vt, vl, NULL, 0);
    write_file(mg, mt, ml, blank, big);
    tok = NULL;
    err_clear();
    expect_refused("merges.txt of 65 MiB", bpe_load(&tok, v, mg), "more than the limit");
    bpe_free(tok);
    free(v), free(mg), free(tv), free(tm), free(vt), free(mt), free(blank);

    // The shard index past its 32 MiB limit (no model.safetensors, so the index is read).
    char *d2 = in_root("big-index-file");
    CHECK(mkdir(d2, 0755) == 0);
    char *c2 = path_join(d2, "config.json"), *ix = path_join(d2, "model.safetensors.index.json");
    write_file(c2, cfg, cfg_len, NULL, 0);
    write_file(ix, "{}", 2, spaces, 0);
    {
        size_t nb = (size_t)33 << 20;
        char *sp = xmalloc(nb);
        memset(sp, ' ', nb);
        write_file(ix, "{}", 2, sp, nb);
        free(sp);
    }
    err_clear();
    expect_refused("shard index of 33 MiB", gpt2_hf_load(&m, d2), "more than the limit");
    free(c2), free(ix), free(d2);
    free(spaces), free(cfg), free(cfg_src), free(dir);
}

// --- the JSON tree budget

static void test_json_budget(void) {
    // The densest tree per byte of text: numbers two bytes apart. It must be refused, not built.
    size_t n = 1u << 20;
    text t = {0};
    puts_(&t, "[");
    for (size_t i = 0; t.len < n; i++) puts_(&t, i ? ",0" : "0");
    puts_(&t, "]");
    json_value v;
    err_clear();
    int rc = json_parse(&v, t.s, t.len, "dense.json");
    EXPECT(rc == ERR_FORMAT, "dense array: accepted");
    EXPECT(strstr(err_msg(), "dense.json") && strstr(err_msg(), "memory"), "dense array: message '%s'", err_msg());
    if (rc == ERR_FORMAT) printf("JSON budget, dense array ... ok (%s)\n", err_msg());
    // Ordinary shapes stay well inside it: an object of short keys (vocab.json's shape)
    // and an index-like object of strings. json_tree_bytes is what the tree took.
    const char *shapes[][3] = {{"{", "\"%zu\": %zu", "}"}, {"{", "\"t.%zu.w\": \"m-%zu.safetensors\"", "}"}};
    for (int s = 0; s < 2; s++) {
        text u = {0};
        puts_(&u, shapes[s][0]);
        char buf[96];
        for (size_t i = 0; u.len < n; i++) {
            snprintf(buf, sizeof buf, shapes[s][1], i, i);
            if (i) puts_(&u, ", ");
            puts_(&u, buf);
        }
        puts_(&u, shapes[s][2]);
        err_clear();
        rc = json_parse(&v, u.s, u.len, "ordinary.json");
        EXPECT(rc == 0, "ordinary shape %d refused: %s", s, err_msg());
        if (rc == 0) {
            double ratio = (double)json_tree_bytes(&v) / (double)u.len;
            EXPECT(ratio <= JSON_TREE_FACTOR, "ordinary shape %d: tree is %.1fx its text", s, ratio);
            printf("JSON tree of shape %d ... ok (%.2fx its %zu-byte text)\n", s, ratio, u.len);
            json_free(&v);
        }
        free(u.s);
    }
    free(t.s);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void) {
    snprintf(root_dir, sizeof root_dir, "/tmp/shrink_test_limits.XXXXXX");
    CHECK(mkdtemp(root_dir));
    test_big_index();
    test_hostile_headers();
    test_hostile_gguf();
    test_file_limits();
    test_json_budget();
    nftw(root_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return TEST_DONE();
}
