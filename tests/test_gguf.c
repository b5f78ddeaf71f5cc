// test_gguf.c: the GGUF container (writer -> reader round trip with every KV type and F32, F16
// and raw Q8_0 tensors, byte exact; writer argument errors leave no file), hostile files built
// byte by byte (each truncation, bad magic/version, huge counts, lengths past the end, bad
// tensor dims/types/offsets: ERR_FORMAT with the path and the problem in the message), and
// GPT-2 in llama.cpp's layout: save -> load of the tiny oracle model (F32 identical, F16 equal to
// the f16-rounded weights, same logits), an untied head, refusals, our export of models/mini
// byte-identical to llama.cpp's converter output, and llama.cpp's files in testdata/gguf
// reproducing their reference logits.
#include "core/dtype.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/progress.h"
#include "core/xalloc.h"
#include "formats/gguf.h"
#include "formats/json.h"
#include "harness.h"
#include "kernels/kernels.h"
#include "modelfile/modelfile.h"
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// Reference logits come from a float64 forward pass of the same weights; our fp32 forward
// differs by accumulated rounding, a few 1e-5 relative on logits of magnitude ~10.
#define TOL_REF_LOGITS 1e-4
// F16 round trip vs the original fp32 model: the weights moved by f16 rounding (relative 2^-11).
#define TOL_F16_LOGITS 1e-3

// --- helpers

static void group_done(const char *name, int failed_before) {
    if (harness_failed == failed_before) printf("%s ... ok\n", name);
    else printf("%s ... FAILED (%d)\n", name, harness_failed - failed_before);
}

static char tmp_dir[64];

static const char *tmp_file(int slot, const char *name) {
    static char buf[4][256];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", tmp_dir, name);
    return buf[slot];
}

static void write_file(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f);
    CHECK(n == 0 || fwrite(bytes, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

static int is_zeroed(const gguf_file *g) {
    return !g->path && !g->map.data && g->map.len == 0 && !g->kv && g->n_kv == 0 && !g->tensors && g->n_tensors == 0;
}

static int tmp_exists(const char *path) {
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    return file_exists(tmp);
}

// gguf_open(path) must fail with ERR_FORMAT, a message holding path and phrase, and a zeroed struct.
static void expect_open_fails(const char *label, const char *path, const char *phrase) {
    gguf_file g;
    err_clear();
    int rc = gguf_open(&g, path);
    const char *msg = err_msg();
    EXPECT(rc == ERR_FORMAT && err_code() == ERR_FORMAT, "%s: rc=%d, want ERR_FORMAT (%s)", label, rc, msg);
    EXPECT(strstr(msg, path) != NULL, "%s: message lacks the path: '%s'", label, msg);
    EXPECT(!phrase || strstr(msg, phrase) != NULL, "%s: message lacks '%s': '%s'", label, phrase, msg);
    EXPECT(is_zeroed(&g), "%s: struct not zeroed after failure", label);
    if (rc == 0) gguf_close(&g);
    err_clear();
}

static double maxdiff_f32(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d;  // NaN propagates as a failure
    }
    return m;
}

// --- container round trip

typedef struct {
    float f1[7], f2[15], f4[12];
    uint16_t h[12];
    unsigned char q8[2 * 2 * 34];
} rt_data;

static void rt_fill(rt_data *d) {
    for (int i = 0; i < 7; i++) d->f1[i] = 0.5f * (float)i - 1.25f;
    for (int i = 0; i < 15; i++) d->f2[i] = (float)i * 1e-3f - 7e-3f;
    for (int i = 0; i < 12; i++) d->f4[i] = -(float)i * 3.0f;
    for (int i = 0; i < 12; i++) d->h[i] = f32_to_fp16((float)i / 7.0f - 0.5f);
    for (size_t i = 0; i < sizeof d->q8; i++) d->q8[i] = (unsigned char)(i * 37 + 11);
}

// Writes a container holding every KV type and several tensors; alignment 0 = default.
static int rt_write(const char *path, const rt_data *d, uint32_t alignment) {
    gguf_writer w;
    gguf_writer_init(&w);
    uint8_t u8 = 200;
    int8_t i8 = -5;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int64_t i64 = -(1ll << 60);
    double f64 = 3.25;
    gguf_writer_add_str(&w, "general.architecture", "test");
    if (alignment) gguf_writer_add_u32(&w, "general.alignment", alignment);
    gguf_writer_add_val(&w, "t.u8", GGUF_TYPE_UINT8, &u8);
    gguf_writer_add_val(&w, "t.i8", GGUF_TYPE_INT8, &i8);
    gguf_writer_add_val(&w, "t.u16", GGUF_TYPE_UINT16, &u16);
    gguf_writer_add_val(&w, "t.i16", GGUF_TYPE_INT16, &i16);
    gguf_writer_add_u32(&w, "t.u32", 4000000000u);
    gguf_writer_add_i32(&w, "t.i32", -2000000000);
    gguf_writer_add_f32(&w, "t.f32", 1.5f);
    gguf_writer_add_bool(&w, "t.bool", 7);  // written as 1
    gguf_writer_add_str(&w, "t.str", "hello");
    gguf_writer_add_str(&w, "t.str_empty", "");
    gguf_writer_add_u64(&w, "t.u64", 1ull << 60);
    gguf_writer_add_val(&w, "t.i64", GGUF_TYPE_INT64, &i64);
    gguf_writer_add_val(&w, "t.f64", GGUF_TYPE_FLOAT64, &f64);
    const uint8_t au8[3] = {1, 2, 255};
    const int32_t ai32[4] = {-1, 0, 1, 2147483647};
    const float af32[2] = {0.25f, -8.0f};
    const uint8_t abool[3] = {1, 0, 1};
    const uint64_t au64[2] = {0, UINT64_MAX};
    const double af64[2] = {1e300, -0.5};
    const char *strs[4] = {"a", "", "x\0y", "\xe6\x97\xa5\xe6\x9c\xac"};
    const size_t lens[4] = {1, 0, 3, 6};
    gguf_writer_add_arr(&w, "a.u8", GGUF_TYPE_UINT8, au8, 3);
    gguf_writer_add_arr_i32(&w, "a.i32", ai32, 4);
    gguf_writer_add_arr(&w, "a.f32", GGUF_TYPE_FLOAT32, af32, 2);
    gguf_writer_add_arr(&w, "a.bool", GGUF_TYPE_BOOL, abool, 3);
    gguf_writer_add_arr(&w, "a.u64", GGUF_TYPE_UINT64, au64, 2);
    gguf_writer_add_arr(&w, "a.f64", GGUF_TYPE_FLOAT64, af64, 2);
    gguf_writer_add_arr_str(&w, "a.str", strs, lens, 4);
    gguf_writer_add_arr_i32(&w, "a.empty", NULL, 0);
    gguf_writer_add_arr_str(&w, "a.str_empty", NULL, NULL, 0);
    int64_t ne1[1] = {7}, ne2[2] = {5, 3}, ne3[3] = {3, 2, 2}, ne4[4] = {2, 1, 3, 2}, neq[2] = {64, 2}, ne0[1] = {0};
    gguf_writer_add_tensor(&w, "t.f32.1d", GGUF_TENSOR_F32, 1, ne1, d->f1);
    gguf_writer_add_tensor(&w, "t.f32.2d", GGUF_TENSOR_F32, 2, ne2, d->f2);
    gguf_writer_add_tensor(&w, "t.empty", GGUF_TENSOR_F32, 1, ne0, NULL);
    gguf_writer_add_tensor(&w, "t.f16.3d", GGUF_TENSOR_F16, 3, ne3, d->h);
    gguf_writer_add_tensor(&w, "t.f32.4d", GGUF_TENSOR_F32, 4, ne4, d->f4);
    gguf_writer_add_tensor(&w, "t.q8_0", GGUF_TENSOR_Q8_0, 2, neq, d->q8);
    int rc = gguf_writer_write(&w, path);
    gguf_writer_free(&w);
    return rc;
}

static const gguf_kv *kv_of(const gguf_file *g, const char *key, gguf_type type, int is_array, uint64_t n) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    EXPECT(kv && kv->type == type && kv->is_array == is_array && kv->n == n, "key %s: missing or wrong type/count", key);
    return kv && kv->type == type && kv->is_array == is_array && kv->n == n ? kv : NULL;
}

static void check_tensor(const gguf_file *g, const char *name, gguf_tensor_type type, int nd, const int64_t *ne,
                         const void *data, size_t nbytes) {
    const gguf_tensor *t = gguf_find_tensor(g, name);
    EXPECT(t != NULL, "tensor %s missing", name);
    if (!t) return;
    EXPECT(t->type == type && t->n_dims == nd && t->nbytes == nbytes, "tensor %s: type %d dims %d bytes %zu", name,
           (int)t->type, t->n_dims, t->nbytes);
    for (int i = 0; i < GGUF_MAX_DIMS; i++)
        EXPECT(t->ne[i] == (i < nd ? ne[i] : 1), "tensor %s: ne[%d] = %lld", name, i, (long long)t->ne[i]);
    EXPECT(t->offset % g->alignment == 0, "tensor %s: offset %llu not aligned", name, (unsigned long long)t->offset);
    EXPECT((size_t)((const char *)t->data - (const char *)g->map.data) % g->alignment == 0, "tensor %s: data not aligned", name);
    EXPECT(nbytes == 0 || memcmp(t->data, data, nbytes) == 0, "tensor %s: bytes differ", name);
}

static void test_round_trip(uint32_t alignment) {
    int before = harness_failed;
    char label[64];
    snprintf(label, sizeof label, "container round trip (alignment %u)", alignment ? alignment : 32);
    const char *path = tmp_file(0, "rt.gguf");
    rt_data d;
    rt_fill(&d);
    int rc = rt_write(path, &d, alignment);
    EXPECT(rc == 0, "write: %s", err_msg());
    EXPECT(!tmp_exists(path), "temp file left behind");
    gguf_file g;
    rc = gguf_open(&g, path);
    EXPECT(rc == 0, "open: %s", err_msg());
    if (rc) return;
    uint32_t a = alignment ? alignment : GGUF_DEFAULT_ALIGNMENT;
    EXPECT(g.version == 3 && g.alignment == a && g.data_offset % a == 0, "version %u alignment %u data_offset %zu",
           g.version, g.alignment, g.data_offset);
    EXPECT(g.n_kv == 23u + (alignment != 0) && g.n_tensors == 6, "n_kv %zu n_tensors %zu", g.n_kv, g.n_tensors);
    EXPECT(strcmp(g.kv[0].key, "general.architecture") == 0, "KV order not kept");

    int64_t v;
    float f;
    int b;
    const char *s;
    size_t slen;
    EXPECT(gguf_get_int(&g, "t.u8", &v) == 0 && v == 200, "u8");
    EXPECT(gguf_get_int(&g, "t.i8", &v) == 0 && v == -5, "i8");
    EXPECT(gguf_get_int(&g, "t.u16", &v) == 0 && v == 60000, "u16");
    EXPECT(gguf_get_int(&g, "t.i16", &v) == 0 && v == -30000, "i16");
    EXPECT(gguf_get_int(&g, "t.u32", &v) == 0 && v == 4000000000ll, "u32");
    EXPECT(gguf_get_int(&g, "t.i32", &v) == 0 && v == -2000000000, "i32");
    EXPECT(gguf_get_f32(&g, "t.f32", &f) == 0 && f == 1.5f, "f32");
    EXPECT(gguf_get_bool(&g, "t.bool", &b) == 0 && b == 1 && gguf_find_kv(&g, "t.bool")->data[0] == 1, "bool");
    EXPECT(gguf_get_str(&g, "t.str", &s, &slen) == 0 && slen == 5 && strcmp(s, "hello") == 0, "str");
    EXPECT(gguf_get_str(&g, "t.str_empty", &s, &slen) == 0 && slen == 0 && s[0] == 0, "empty str");
    EXPECT(gguf_get_int(&g, "t.u64", &v) == 0 && v == (int64_t)(1ull << 60), "u64");
    EXPECT(gguf_get_int(&g, "t.i64", &v) == 0 && v == -(1ll << 60), "i64");
    EXPECT(gguf_get_f32(&g, "t.f64", &f) == 0 && f == 3.25f, "f64");
    EXPECT(kv_of(&g, "t.f64", GGUF_TYPE_FLOAT64, 0, 1) && gguf_kv_float(gguf_find_kv(&g, "t.f64"), 0) == 3.25, "f64 exact");
    const gguf_kv *kv;
    if ((kv = kv_of(&g, "a.u8", GGUF_TYPE_UINT8, 1, 3)))
        EXPECT(gguf_kv_int(kv, 0) == 1 && gguf_kv_int(kv, 2) == 255, "a.u8 values");
    if ((kv = kv_of(&g, "a.i32", GGUF_TYPE_INT32, 1, 4)))
        EXPECT(gguf_kv_int(kv, 0) == -1 && gguf_kv_int(kv, 3) == 2147483647, "a.i32 values");
    if ((kv = kv_of(&g, "a.f32", GGUF_TYPE_FLOAT32, 1, 2)))
        EXPECT(gguf_kv_float(kv, 0) == 0.25 && gguf_kv_float(kv, 1) == -8.0, "a.f32 values");
    if ((kv = kv_of(&g, "a.bool", GGUF_TYPE_BOOL, 1, 3)))
        EXPECT(kv->data[0] == 1 && kv->data[1] == 0 && kv->data[2] == 1, "a.bool values");
    if ((kv = kv_of(&g, "a.u64", GGUF_TYPE_UINT64, 1, 2))) {
        uint64_t u;
        memcpy(&u, kv->data + 8, 8);
        EXPECT(u == UINT64_MAX && gguf_kv_int(kv, 1) == INT64_MAX, "a.u64 values");
    }
    if ((kv = kv_of(&g, "a.f64", GGUF_TYPE_FLOAT64, 1, 2)))
        EXPECT(gguf_kv_float(kv, 0) == 1e300 && gguf_kv_float(kv, 1) == -0.5, "a.f64 values");
    if ((kv = kv_of(&g, "a.str", GGUF_TYPE_STRING, 1, 4)))
        EXPECT(kv->str_len[0] == 1 && kv->str_len[1] == 0 && kv->str_len[2] == 3 && memcmp(kv->str[2], "x\0y", 4) == 0 &&
                   strcmp(kv->str[3], "\xe6\x97\xa5\xe6\x9c\xac") == 0,
               "a.str values");
    kv_of(&g, "a.empty", GGUF_TYPE_INT32, 1, 0);
    kv_of(&g, "a.str_empty", GGUF_TYPE_STRING, 1, 0);
    // Typed getters refuse the wrong type, arrays and missing keys, naming the key.
    err_clear();
    EXPECT(gguf_get_int(&g, "t.str", &v) == ERR_FORMAT && strstr(err_msg(), "t.str") && strstr(err_msg(), path), "int of str");
    err_clear();
    EXPECT(gguf_get_str(&g, "a.str", &s, NULL) == ERR_FORMAT && strstr(err_msg(), "array"), "str of array");
    err_clear();
    EXPECT(gguf_get_f32(&g, "no.such.key", &f) == ERR_FORMAT && strstr(err_msg(), "missing key 'no.such.key'"), "missing key");
    err_clear();
    EXPECT(gguf_get_bool(&g, "t.u8", &b) == ERR_FORMAT, "bool of u8");
    err_clear();

    int64_t ne1[1] = {7}, ne2[2] = {5, 3}, ne3[3] = {3, 2, 2}, ne4[4] = {2, 1, 3, 2}, neq[2] = {64, 2}, ne0[1] = {0};
    check_tensor(&g, "t.f32.1d", GGUF_TENSOR_F32, 1, ne1, d.f1, sizeof d.f1);
    check_tensor(&g, "t.f32.2d", GGUF_TENSOR_F32, 2, ne2, d.f2, sizeof d.f2);
    check_tensor(&g, "t.empty", GGUF_TENSOR_F32, 1, ne0, NULL, 0);
    check_tensor(&g, "t.f16.3d", GGUF_TENSOR_F16, 3, ne3, d.h, sizeof d.h);
    check_tensor(&g, "t.f32.4d", GGUF_TENSOR_F32, 4, ne4, d.f4, sizeof d.f4);
    check_tensor(&g, "t.q8_0", GGUF_TENSOR_Q8_0, 2, neq, d.q8, sizeof d.q8);
    // Laid out back to back at aligned offsets, the file ending after the last padding (ggml's layout).
    size_t expect_end = 0;
    for (size_t i = 0; i < g.n_tensors; i++) {
        EXPECT(g.tensors[i].offset == expect_end, "tensor %zu at %llu, expected %zu", i,
               (unsigned long long)g.tensors[i].offset, expect_end);
        expect_end += (g.tensors[i].nbytes + a - 1) / a * a;
    }
    EXPECT(g.map.len == g.data_offset + expect_end, "file is %zu bytes, expected %zu", g.map.len, g.data_offset + expect_end);
    EXPECT(memcmp(g.map.data, "GGUF\x03\0\0\0\x06\0\0\0\0\0\0\0", 16) == 0, "header bytes");
    gguf_close(&g);
    gguf_close(&g);  // idempotent
    EXPECT(is_zeroed(&g), "close leaves it zeroed");

    // Writing the same content again gives the same bytes.
    const char *path2 = tmp_file(1, "rt2.gguf");
    EXPECT(rt_write(path2, &d, alignment) == 0, "second write: %s", err_msg());
    char *b1, *b2;
    size_t n1, n2;
    if (file_read_all(path, &b1, &n1) == 0 && file_read_all(path2, &b2, &n2) == 0) {
        EXPECT(n1 == n2 && memcmp(b1, b2, n1) == 0, "two writes of the same content differ");
        free(b1);
        free(b2);
    }
    unlink(path);
    unlink(path2);
    group_done(label, before);
}

// Every writer argument error: ERR_ARG, sticky, and no file or temp file at the target.
static void test_writer_errors(void) {
    int before = harness_failed;
    const char *path = tmp_file(0, "werr.gguf");
    float x[64] = {0};
    int64_t ne[2] = {4, 2}, ne_bad[1] = {31}, ne_neg[1] = {-1}, ne_big[4] = {1ll << 40, 1ll << 40, 1, 1};
    for (int c = 0; c < 12; c++) {
        gguf_writer w;
        gguf_writer_init(&w);
        err_clear();
        gguf_writer_add_u32(&w, "k", 1);
        gguf_writer_add_tensor(&w, "t", GGUF_TENSOR_F32, 2, ne, x);
        int rc = 0;
        switch (c) {
        case 0: rc = gguf_writer_add_u32(&w, "k", 2); break;                                  // duplicate key
        case 1: rc = gguf_writer_add_str(&w, "", "x"); break;                                 // empty key
        case 2: rc = gguf_writer_add_u32(&w, "general.alignment", 24); break;                 // not a power of two
        case 3: rc = gguf_writer_add_i32(&w, "general.alignment", 32); break;                 // not a u32
        case 4: rc = gguf_writer_add_tensor(&w, "t", GGUF_TENSOR_F32, 2, ne, x); break;       // duplicate tensor
        case 5: rc = gguf_writer_add_tensor(&w, "q", GGUF_TENSOR_Q8_0, 1, ne_bad, x); break;  // not whole blocks
        case 6: rc = gguf_writer_add_tensor(&w, "u", (gguf_tensor_type)4, 2, ne, x); break;   // retired type id
        case 7: rc = gguf_writer_add_tensor(&w, "n", GGUF_TENSOR_F32, 1, ne_neg, x); break;   // negative dim
        case 8: rc = gguf_writer_add_tensor(&w, "o", GGUF_TENSOR_F32, 4, ne_big, x); break;   // size overflow
        case 9:
            rc = gguf_writer_add_tensor(&w, "a_name_that_is_much_longer_than_sixty_three_bytes_which_ggml_refuses", GGUF_TENSOR_F32,
                                        2, ne, x);
            break;
        case 10: rc = gguf_writer_add_tensor(&w, "z", GGUF_TENSOR_F32, 5, ne, x); break;  // too many dims
        case 11: rc = gguf_writer_add_tensor_filled(&w, "f", GGUF_TENSOR_F32, 2, ne, NULL, NULL); break;  // no fill
        }
        EXPECT(rc == ERR_ARG && err_code() == ERR_ARG, "writer case %d: rc=%d (%s)", c, rc, err_msg());
        EXPECT(gguf_writer_add_u32(&w, "later", 1) == ERR_ARG, "writer case %d: error not sticky", c);
        EXPECT(gguf_writer_write(&w, path) == ERR_ARG, "writer case %d: write did not fail", c);
        EXPECT(!file_exists(path) && !tmp_exists(path), "writer case %d: file left behind", c);
        gguf_writer_free(&w);
        gguf_writer_free(&w);  // idempotent
    }
    // An unwritable target: ERR_IO naming the file, nothing left.
    gguf_writer w;
    gguf_writer_init(&w);
    err_clear();
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.gguf", tmp_dir);
    EXPECT(gguf_writer_write(&w, bad) == ERR_IO && strstr(err_msg(), bad), "unwritable path: %s", err_msg());
    gguf_writer_free(&w);
    err_clear();
    group_done("writer argument errors", before);
}

// A tensor made when written (gguf_writer_add_tensor_filled) gives the same file as one given
// whole; progress ("write: MB") is reported after each tensor and ends at its total.
typedef struct {
    const float *src;
    size_t n;
    int calls;
} fill_src;

static void fill_copy(void *user, void *dst) {
    fill_src *f = user;
    memcpy(dst, f->src, f->n * sizeof(float));
    f->calls++;
}

static int progress_calls, progress_last_done = -1, progress_last_total = -1;
static void count_progress(const char *label, int done, int total, double el, double eta, void *user) {
    (void)el, (void)eta, (void)user;
    if (strcmp(label, "write: MB") == 0) progress_calls++, progress_last_done = done, progress_last_total = total;
}

static void test_filled(void) {
    int before = harness_failed;
    enum { R = 300, C = 1024 };  // 1.2 MB: the MB count moves
    float *a = xmalloc(R * C * sizeof(float)), b[5] = {1, 2, 3, 4, 5};
    for (int i = 0; i < R * C; i++) a[i] = (float)i * 0.5f - 7;
    int64_t ne[2] = {C, R}, ne1[1] = {5};
    char *bytes[2] = {NULL, NULL};
    size_t lens[2] = {0, 0};
    fill_src f = {a, (size_t)R * C, 0};
    progress_set_sink(count_progress, NULL);
    for (int k = 0; k < 2; k++) {
        const char *path = tmp_file(0, k ? "filled.gguf" : "given.gguf");
        gguf_writer w;
        gguf_writer_init(&w);
        gguf_writer_add_u32(&w, "k", 7);
        gguf_writer_add_tensor(&w, "small", GGUF_TENSOR_F32, 1, ne1, b);
        if (k) gguf_writer_add_tensor_filled(&w, "big", GGUF_TENSOR_F32, 2, ne, fill_copy, &f);
        else gguf_writer_add_tensor(&w, "big", GGUF_TENSOR_F32, 2, ne, a);
        progress_calls = 0;
        EXPECT(gguf_writer_write(&w, path) == 0, "write %s: %s", path, err_msg());
        EXPECT(progress_calls == 2 && progress_last_done == progress_last_total && progress_last_total == 1,
               "progress: %d calls, last %d/%d", progress_calls, progress_last_done, progress_last_total);
        gguf_writer_free(&w);
        EXPECT(file_read_all(path, &bytes[k], &lens[k]) == 0, "read %s", path);
        unlink(path);
    }
    progress_set_sink(NULL, NULL);
    EXPECT(f.calls == 1, "fill called %d times", f.calls);
    EXPECT(lens[0] == lens[1] && lens[0] > (size_t)R * C * 4 && memcmp(bytes[0], bytes[1], lens[0]) == 0,
           "filled file differs from the given one (%zu vs %zu bytes)", lens[1], lens[0]);
    free(bytes[0]), free(bytes[1]), free(a);
    group_done("filled tensors and write progress", before);
}

// --- hostile files, built byte by byte

typedef struct {
    unsigned char *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *v, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, v, n);
    b->n += n;
}
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_str(bytes *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

// Byte positions of the fields the cases patch.
typedef struct {
    size_t version, n_tensors, n_kv;
    size_t key1_len, key1_type, key2_name, key2_elem_type, key2_count, key4_value;
    size_t t0_ndims, t0_ne0, t0_ne1, t0_type, t0_offset, t1_name, t1_offset;
    size_t data_end;  // end of the last tensor's bytes
} layout;

// A valid file: 4 KV pairs, tensors "ta" F32 [4,2] and "tb" F16 [8], default alignment.
static bytes base_file(layout *at) {
    bytes b = {0};
    put(&b, "GGUF", 4);
    at->version = b.n;
    put_u32(&b, 3);
    at->n_tensors = b.n;
    put_u64(&b, 2);
    at->n_kv = b.n;
    put_u64(&b, 4);
    at->key1_len = b.n;
    put_str(&b, "k.one");
    at->key1_type = b.n;
    put_u32(&b, GGUF_TYPE_UINT32);
    put_u32(&b, 7);
    at->key2_name = b.n + 8;
    put_str(&b, "k.two");
    put_u32(&b, GGUF_TYPE_ARRAY);
    at->key2_elem_type = b.n;
    put_u32(&b, GGUF_TYPE_STRING);
    at->key2_count = b.n;
    put_u64(&b, 2);
    put_str(&b, "ab");
    put_str(&b, "c");
    put_str(&b, "k.str");
    put_u32(&b, GGUF_TYPE_STRING);
    put_str(&b, "hello");
    put_str(&b, "general.alignment");
    put_u32(&b, GGUF_TYPE_UINT32);
    at->key4_value = b.n;
    put_u32(&b, 32);
    put_str(&b, "ta");
    at->t0_ndims = b.n;
    put_u32(&b, 2);
    at->t0_ne0 = b.n;
    put_u64(&b, 4);
    at->t0_ne1 = b.n;
    put_u64(&b, 2);
    at->t0_type = b.n;
    put_u32(&b, GGUF_TENSOR_F32);
    at->t0_offset = b.n;
    put_u64(&b, 0);
    at->t1_name = b.n + 8;
    put_str(&b, "tb");
    put_u32(&b, 1);
    put_u64(&b, 8);
    put_u32(&b, GGUF_TENSOR_F16);
    at->t1_offset = b.n;
    put_u64(&b, 32);
    while (b.n % 32) put(&b, "", 1);
    for (int i = 0; i < 32 + 16; i++) put(&b, &(unsigned char){(unsigned char)i}, 1);
    at->data_end = b.n;
    while (b.n % 32) put(&b, "", 1);
    return b;
}

static void patch32(bytes *b, size_t at, uint32_t v) { memcpy(b->p + at, &v, 4); }
static void patch64(bytes *b, size_t at, uint64_t v) { memcpy(b->p + at, &v, 8); }

static void test_hostile(void) {
    int before = harness_failed;
    const char *path = tmp_file(0, "bad.gguf");
    layout at;
    bytes base = base_file(&at);

    // The unmodified file is valid.
    write_file(path, base.p, base.n);
    gguf_file g;
    int rc = gguf_open(&g, path);
    EXPECT(rc == 0, "base file rejected: %s", err_msg());
    if (rc == 0) {
        const gguf_tensor *tb = gguf_find_tensor(&g, "tb");
        EXPECT(g.n_kv == 4 && g.n_tensors == 2 && tb && tb->nbytes == 16 && ((const unsigned char *)tb->data)[0] == 32,
               "base file parsed wrong");
        gguf_close(&g);
    }

    // Every truncation before the end of the last tensor's bytes.
    int trunc_ok = 1;
    for (size_t n = 0; n < at.data_end; n++) {
        write_file(path, base.p, n);
        err_clear();
        rc = gguf_open(&g, path);
        if (rc != ERR_FORMAT || !strstr(err_msg(), path) || !is_zeroed(&g)) {
            EXPECT(0, "truncated to %zu bytes: rc=%d '%s'", n, rc, err_msg());
            trunc_ok = 0;
            if (rc == 0) gguf_close(&g);
            break;
        }
    }
    EXPECT(trunc_ok, "truncations");
    err_clear();

    struct {
        const char *label, *phrase;
        size_t at;
        int width;  // 4 or 8: patch a u32/u64; 0: patch bytes
        uint64_t value;
        const char *text;
    } cases[] = {
        {"bad magic", "not a GGUF file", 0, 0, 0, "GGUG"},
        {"version 1", "version 1", at.version, 4, 1, NULL},
        {"version 4", "version 4", at.version, 4, 4, NULL},
        {"big-endian", "big-endian", at.version, 4, 0x03000000u, NULL},
        {"huge KV count", "KV pairs", at.n_kv, 8, 1ull << 40, NULL},
        {"huge tensor count", "tensors", at.n_tensors, 8, UINT64_MAX, NULL},
        {"key length past the end", "past the end", at.key1_len, 8, 1ull << 40, NULL},
        {"key length 2^64-1", "past the end", at.key1_len, 8, UINT64_MAX, NULL},
        {"empty key", "empty key", at.key1_len, 8, 0, NULL},
        {"key with NUL", "NUL", at.key1_len + 9, 0, 0, "\0"},
        {"unknown KV type", "unknown value type", at.key1_type, 4, 13, NULL},
        {"negative KV type", "unknown value type", at.key1_type, 4, 0xffffffffu, NULL},
        {"array of arrays", "array of arrays", at.key2_elem_type, 4, GGUF_TYPE_ARRAY, NULL},
        {"huge string array", "strings", at.key2_count, 8, 1ull << 61, NULL},
        {"huge u64 array", "past the end", at.key2_elem_type, 4, GGUF_TYPE_UINT64, NULL},  // 2 u64 fit; see below
        {"duplicate key", "appears twice", at.key2_name, 0, 0, "k.one"},
        {"alignment not a power of two", "power of two", at.key4_value, 4, 24, NULL},
        {"alignment zero", "power of two", at.key4_value, 4, 0, NULL},
        {"five dims", "dimensions", at.t0_ndims, 4, 5, NULL},
        {"negative dim", "negative", at.t0_ne0, 8, (uint64_t)-4, NULL},
        {"dims overflow", "overflow", at.t0_ne0, 8, 1ull << 62, NULL},
        {"unknown type", "unknown ggml type", at.t0_type, 4, 99, NULL},
        {"retired type id", "unknown ggml type 4", at.t0_type, 4, 4, NULL},
        {"rows not whole blocks", "block size", at.t0_type, 4, GGUF_TENSOR_Q8_0, NULL},
        {"offset misaligned", "not a multiple of the alignment", at.t1_offset, 8, 40, NULL},
        {"offset out of range", "past the end", at.t1_offset, 8, 1ull << 20, NULL},
        {"offset near 2^64", "past the end", at.t1_offset, 8, UINT64_MAX - 31, NULL},
        {"overlapping tensors", "overlap", at.t1_offset, 8, 0, NULL},
        {"duplicate tensor", "appears twice", at.t1_name, 0, 0, "ta"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytes b = {xmalloc(base.n), base.n, base.n};
        memcpy(b.p, base.p, base.n);
        if (cases[i].width == 4) patch32(&b, cases[i].at, (uint32_t)cases[i].value);
        else if (cases[i].width == 8) patch64(&b, cases[i].at, cases[i].value);
        else memcpy(b.p + cases[i].at, cases[i].text, cases[i].text[0] ? strlen(cases[i].text) : 1);
        if (strcmp(cases[i].label, "huge u64 array") == 0) patch64(&b, at.key2_count, 1ull << 40);
        write_file(path, b.p, b.n);
        expect_open_fails(cases[i].label, path, cases[i].phrase);
        free(b.p);
    }
    // A name longer than ggml's limit, and an empty file.
    {
        bytes b = {0};
        put(&b, "GGUF", 4);
        put_u32(&b, 3);
        put_u64(&b, 1);
        put_u64(&b, 0);
        char name[80];
        memset(name, 'x', 64);
        name[64] = 0;
        put_str(&b, name);
        put_u32(&b, 1);
        put_u64(&b, 1);
        put_u32(&b, GGUF_TENSOR_F32);
        put_u64(&b, 0);
        while (b.n % 32) put(&b, "", 1);
        put_u32(&b, 0);
        write_file(path, b.p, b.n);
        expect_open_fails("name too long", path, "longer than");
        free(b.p);
        write_file(path, "", 0);
        expect_open_fails("empty file", path, "too short");
    }
    // Missing file: ERR_IO naming it.
    unlink(path);
    err_clear();
    EXPECT(gguf_open(&g, path) == ERR_IO && strstr(err_msg(), path) && is_zeroed(&g), "missing file: %s", err_msg());
    err_clear();
    free(base.p);
    group_done("hostile files rejected (ERR_FORMAT, path and problem named)", before);
}

// --- GPT-2

// Logits (T, V) of tokens under m, every position.
static float *logits_of(const gpt2_model *m, const int *tokens, int T) {
    gpt2_state s;
    CHECK(gpt2_state_init(&s, m, T) == 0);
    gpt2_forward(m, &s, tokens, T, 1);
    size_t n = (size_t)T * (size_t)m->cfg.vocab_size;
    float *out = xmalloc(n * sizeof(float));
    memcpy(out, s.logits, n * sizeof(float));
    gpt2_state_free(&s);
    return out;
}

static int cfg_equal(const gpt2_config *a, const gpt2_config *b) { return memcmp(a, b, sizeof *a) == 0; }

// The fp32 values of tensor id of layer l (a matrix in any stored type is decoded into buf).
static const float *tensor_f32(gpt2_model *m, int id, int l, float *buf) {
    if (gpt2_tensors[id].kind != GPT2_KIND_MATRIX) return *gpt2_tensor_vec(m, id, l);
    const wmat *v = gpt2_tensor_mat(m, id, l);
    size_t rb = qtype_row_bytes(v->type, (size_t)v->cols);
    for (int r = 0; r < v->rows; r++) dequantize_row(v->type, (const char *)v->data + r * rb, buf + (size_t)r * v->cols, (size_t)v->cols);
    return buf;
}

// An untied copy of the fp32 model m: its own LM head (values set by the caller).
static void untie(const gpt2_model *m, gpt2_model *u) {
    gpt2_config c = m->cfg;
    c.tied = 0;
    gpt2_model_alloc(u, &c);
    gpt2_model *mm = (gpt2_model *)m;
    for (int id = 0; id < GPT2_T_OUTPUT; id++)
        for (int l = 0; l < (gpt2_tensors[id].per_layer ? c.n_layer : 1); l++) {
            int64_t rows, cols;
            if (!gpt2_tensor_shape(&c, id, l, &rows, &cols)) continue;
            size_t nbytes = (size_t)(rows * cols) * sizeof(float);
            if (gpt2_tensors[id].kind == GPT2_KIND_MATRIX)
                memcpy((void *)gpt2_tensor_mat(u, id, l)->data, gpt2_tensor_mat(mm, id, l)->data, nbytes);
            else memcpy(*gpt2_tensor_vec(u, id, l), *gpt2_tensor_vec(mm, id, l), nbytes);
        }
}

static void test_gpt2_tiny(void) {
    int before = harness_failed;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/testdata/oracle/tiny", shared_dir());
    gpt2_model m;
    int rc = gpt2_hf_load(&m, dir);
    EXPECT(rc == 0, "load tiny: %s", err_msg());
    if (rc) return;
    const gpt2_config *c = &m.cfg;
    int T = c->n_ctx < 16 ? c->n_ctx : 16;
    int tokens[16];
    for (int i = 0; i < T; i++) tokens[i] = (i * 7 + 3) % c->vocab_size;
    float *ref = logits_of(&m, tokens, T);
    size_t nl = (size_t)T * (size_t)c->vocab_size, VC = (size_t)c->vocab_size * c->n_embd;
    size_t params = gpt2_param_count(c);

    // F32: identical parameters and logits.
    const char *p32 = tmp_file(0, "tiny-f32.gguf");
    EXPECT(gpt2_gguf_save(&m, NULL, p32, 0) == 0, "save F32: %s", err_msg());
    gpt2_model g;
    rc = gpt2_gguf_load(&g, p32);
    EXPECT(rc == 0, "load F32 gguf: %s", err_msg());
    if (rc == 0) {
        EXPECT(cfg_equal(&g.cfg, c), "F32: config differs");
        EXPECT(g.n_floats == m.n_floats && g.cfg.tied == 1 && g.head.data == g.embd.data, "F32: size/tied");
        EXPECT(memcmp(g.params, m.params, m.n_floats * sizeof(float)) == 0, "F32: parameters differ");
        EXPECT(g.dtype_params[DTYPE_F32] == params && g.dtype_params[DTYPE_F16] == 0, "F32: dtype counts");
        struct stat st;
        EXPECT(stat(p32, &st) == 0 && g.file_bytes == (size_t)st.st_size, "F32: file_bytes");
        EXPECT(g.source && strcmp(g.source, p32) == 0, "F32: source");
        float *lg = logits_of(&g, tokens, T);
        EXPECT_CLOSE("tiny F32 gguf: logits", maxdiff_f32(lg, ref, nl), 0.0);
        free(lg);
        gpt2_model_free(&g);
    }
    gguf_file gf;
    if (gguf_open(&gf, p32) == 0) {
        const char *s;
        int64_t v;
        EXPECT(gguf_get_str(&gf, "general.name", &s, NULL) == 0 && strcmp(s, "tiny") == 0, "general.name");
        EXPECT(gguf_get_int(&gf, "general.file_type", &v) == 0 && v == 0, "file_type 0");
        EXPECT(gguf_find_kv(&gf, "tokenizer.ggml.model") == NULL, "no tokenizer without tok_dir");
        EXPECT(gf.n_tensors == (size_t)(5 + 12 * c->n_layer), "tensor count %zu", gf.n_tensors);
        const gguf_tensor *qkv = gguf_find_tensor(&gf, "blk.1.attn_qkv.weight");
        EXPECT(qkv && qkv->ne[0] == c->n_embd && qkv->ne[1] == 3 * c->n_embd, "qkv ne = [C, 3C]");
        EXPECT(qkv && memcmp(qkv->data, m.layers[1].lin[GPT2_LIN_QKV].w.data, qkv->nbytes) == 0,
               "qkv bytes are our out-major rows");
        const gguf_tensor *down = gguf_find_tensor(&gf, "blk.0.ffn_down.weight");
        EXPECT(down && down->ne[0] == gpt2_n_ff(c, 0) && down->ne[1] == c->n_embd, "ffn_down ne = [F, C]");
        gguf_close(&gf);
    } else {
        EXPECT(0, "reopen: %s", err_msg());
    }

    // F16: matrices and wpe equal to their f16 rounding, vectors exact; logits of the rounded model exact.
    const char *p16 = tmp_file(1, "tiny-f16.gguf");
    EXPECT(gpt2_gguf_save(&m, NULL, p16, 1) == 0, "save F16: %s", err_msg());
    rc = gpt2_gguf_load(&g, p16);
    EXPECT(rc == 0, "load F16 gguf: %s", err_msg());
    if (rc == 0) {
        gpt2_model r;  // m with every matrix (and wpe) rounded through f16
        EXPECT(gpt2_hf_load(&r, dir) == 0, "reload tiny");
        // An F16 file loads with its matrices stored as F16 and the vectors as fp32; read each
        // back through its own storage.
        EXPECT(g.head.type == QTYPE_F16 && !gpt2_model_is_f32(&g), "F16 gguf loads as F16 matrices");
        size_t n16 = 0, bad = 0;
        for (int id = 0; id < GPT2_T_COUNT; id++)
            for (int l = 0; l < (gpt2_tensors[id].per_layer ? c->n_layer : 1); l++) {
                int64_t rows, cols;
                if (!gpt2_tensor_shape(c, id, l, &rows, &cols)) continue;
                int rounded = gpt2_tensors[id].kind != GPT2_KIND_VECTOR;
                float *buf = xmalloc((size_t)(rows * cols) * sizeof(float));
                const float *got = tensor_f32(&g, id, l, buf);
                float *want = gpt2_tensors[id].kind == GPT2_KIND_MATRIX ? (float *)gpt2_tensor_mat(&r, id, l)->data
                                                                         : *gpt2_tensor_vec(&r, id, l);
                for (int64_t i = 0; i < rows * cols; i++) {
                    if (rounded) want[i] = fp16_to_f32(f32_to_fp16(want[i]));
                    if (memcmp(&got[i], &want[i], 4) != 0) bad++;
                }
                if (rounded) n16 += (size_t)(rows * cols);
                free(buf);
            }
        EXPECT(bad == 0, "F16: %zu parameters differ from their f16 rounding", bad);
        EXPECT(cfg_equal(&g.cfg, c), "F16: config");
        EXPECT(g.dtype_params[DTYPE_F16] == n16 && g.dtype_params[DTYPE_F32] == params - n16, "F16: dtype counts");
        float *lg = logits_of(&g, tokens, T), *lr = logits_of(&r, tokens, T);
        EXPECT_CLOSE("tiny F16 gguf: logits vs f16-rounded model", maxdiff_f32(lg, lr, nl), 0.0);
        EXPECT_CLOSE("tiny F16 gguf: logits vs fp32 model", maxdiff_f32(lg, ref, nl), TOL_F16_LOGITS);
        free(lg);
        free(lr);
        gpt2_model_free(&r);
        gpt2_model_free(&g);
    }
    if (gguf_open(&gf, p16) == 0) {
        int64_t v;
        EXPECT(gguf_get_int(&gf, "general.file_type", &v) == 0 && v == 1, "file_type 1");
        int n_f16 = 0, n_f32 = 0, bad = 0;
        for (size_t i = 0; i < gf.n_tensors; i++) {
            const gguf_tensor *t = &gf.tensors[i];
            n_f16 += t->type == GGUF_TENSOR_F16;
            n_f32 += t->type == GGUF_TENSOR_F32;
            bad += (t->n_dims == 2) != (t->type == GGUF_TENSOR_F16);
        }
        EXPECT(bad == 0 && n_f16 == 3 + 4 * c->n_layer && n_f32 == 2 + 8 * c->n_layer, "F16 file: %d F16, %d F32 tensors", n_f16,
               n_f32);
        gguf_close(&gf);
    }

    // A model whose matrices are stored as F16 (gpt2_model_convert) writes the same F16 file
    // without a copy, and an F32 file that loads back to the f16-rounded weights.
    gpt2_model cv;
    EXPECT(gpt2_hf_load(&cv, dir) == 0 && gpt2_model_convert(&cv, QTYPE_F16) == 0, "convert tiny: %s", err_msg());
    const char *pc16 = tmp_file(2, "conv-f16.gguf"), *pc32 = tmp_file(3, "conv-f32.gguf");
    EXPECT(gpt2_gguf_save(&cv, NULL, pc16, 1) == 0, "save converted F16: %s", err_msg());
    EXPECT(gpt2_gguf_save(&cv, NULL, pc32, 0) == 0, "save converted F32: %s", err_msg());
    char *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    EXPECT(file_read_all(p16, &b1, &n1) == 0 && file_read_all(pc16, &b2, &n2) == 0 && n1 == n2 && memcmp(b1, b2, n1) == 0,
           "converted model's F16 file differs from the fp32 model's");
    free(b1);
    free(b2);
    gpt2_model g32, g16;
    if (gpt2_gguf_load(&g32, pc32) == 0 && gpt2_gguf_load(&g16, p16) == 0) {
        // gpt2_model_convert keeps wpe in fp32, so only wpe differs from the F16 file's rounding.
        // g16 holds F16 matrices; g32 is the rounded model in fp32, so storing it as F16 is exact.
        int same = gpt2_param_count(&g32.cfg) == gpt2_param_count(&g16.cfg) && g32.dtype_params[DTYPE_F32] == params;
        same = same && gpt2_model_convert(&g32, QTYPE_F16) == 0;
        for (int id = 0; id < GPT2_T_COUNT && same; id++)
            for (int l = 0; l < (gpt2_tensors[id].per_layer ? c->n_layer : 1) && same; l++) {
                int64_t rows, cols;
                if (!gpt2_tensor_shape(c, id, l, &rows, &cols)) continue;
                if (gpt2_tensors[id].kind == GPT2_KIND_MATRIX)
                    same = memcmp(gpt2_tensor_mat(&g32, id, l)->data, gpt2_tensor_mat(&g16, id, l)->data,
                                  (size_t)(rows * cols) * 2) == 0;
                else
                    same = memcmp(*gpt2_tensor_vec(&g32, id, l), id == GPT2_T_POS_EMBD ? m.wpe : *gpt2_tensor_vec(&g16, id, l),
                                  (size_t)(rows * cols) * sizeof(float)) == 0;
            }
        EXPECT(same, "converted model's F32 file is not the f16-rounded model");
        gpt2_model_free(&g32);
        gpt2_model_free(&g16);
    } else {
        EXPECT(0, "load converted: %s", err_msg());
    }
    gpt2_model_free(&cv);
    unlink(pc16);
    unlink(pc32);

    // An untied head survives the trip; the tied one is written as output.weight too.
    gpt2_model u;
    untie(&m, &u);
    float *uh = (float *)u.head.data;
    for (size_t i = 0; i < VC; i++) uh[i] = ((const float *)m.embd.data)[i] * 0.5f + 1e-3f;
    const char *pu = tmp_file(2, "untied.gguf");
    EXPECT(gpt2_gguf_save(&u, NULL, pu, 0) == 0, "save untied: %s", err_msg());
    rc = gpt2_gguf_load(&g, pu);
    EXPECT(rc == 0, "load untied: %s", err_msg());
    if (rc == 0) {
        EXPECT(g.cfg.tied == 0 && g.head.data != g.embd.data && gpt2_param_count(&g.cfg) == params + VC, "untied: tied=%d",
               g.cfg.tied);
        EXPECT(memcmp(g.head.data, u.head.data, VC * sizeof(float)) == 0, "untied: head differs");
        float *lg = logits_of(&g, tokens, T), *lu = logits_of(&u, tokens, T);
        EXPECT_CLOSE("untied gguf: logits", maxdiff_f32(lg, lu, nl), 0.0);
        free(lg);
        free(lu);
        gpt2_model_free(&g);
    }
    gpt2_model_free(&u);

    // Configs llama.cpp's graph cannot express go to the shrink-gpt2 layout and come back as they were.
    const char *px = tmp_file(3, "shrink-gpt2.gguf");
    for (int k = 0; k < 2; k++) {
        if (k == 0) m.cfg.gelu_exact = 1;
        else m.cfg.scale_by_layer = 1;
        EXPECT(strcmp(gpt2_gguf_arch(&m.cfg), "shrink-gpt2") == 0, "%s: arch", k ? "layer-scaled attention" : "erf GELU");
        EXPECT(gpt2_gguf_save(&m, NULL, px, 0) == 0, "save shrink-gpt2: %s", err_msg());
        gpt2_model x;
        if (gpt2_gguf_load(&x, px) == 0) {
            EXPECT(cfg_equal(&x.cfg, &m.cfg) && x.n_floats == m.n_floats &&
                       memcmp(x.params, m.params, m.n_floats * sizeof(float)) == 0,
                   "%s: the shrink-gpt2 round trip changed the model", k ? "layer-scaled attention" : "erf GELU");
            gpt2_model_free(&x);
        } else {
            EXPECT(0, "load shrink-gpt2: %s", err_msg());
        }
        m.cfg.gelu_exact = m.cfg.scale_by_layer = 0;
        unlink(px);
    }
    err_clear();
    // A tokenizer directory without vocab.json: ERR_IO naming it, no file.
    EXPECT(gpt2_gguf_save(&m, dir, px, 0) == ERR_IO && strstr(err_msg(), "vocab.json") && !file_exists(px),
           "missing vocab.json: %s", err_msg());
    err_clear();

    unlink(p16);
    unlink(pu);
    free(ref);
    gpt2_model_free(&m);
    group_done("gpt2 save/load round trip (tiny oracle)", before);

    // Malformed gpt2 files, made by copying the F32 file with one change.
    before = harness_failed;
    struct {
        const char *label, *phrase, *drop, *arch, *extra, *reshape;
    } cases[] = {
        {"wrong architecture", "expected \"gpt2\"", NULL, "llama", NULL, NULL},
        {"missing tensor", "missing tensor 'blk.1.ffn_up.bias'", "blk.1.ffn_up.bias", NULL, NULL, NULL},
        {"missing key", "missing key 'gpt2.block_count'", NULL, NULL, NULL, NULL},
        {"unexpected tensor", "unexpected tensor 'rope_freqs.weight'", NULL, NULL, "rope_freqs.weight", NULL},
        {"wrong shape", "blk.0.attn_qkv.bias", NULL, NULL, NULL, "blk.0.attn_qkv.bias"},
    };
    gguf_file src;
    rc = gguf_open(&src, p32);
    EXPECT(rc == 0, "open F32: %s", err_msg());
    for (size_t k = 0; rc == 0 && k < sizeof cases / sizeof cases[0]; k++) {
        gguf_writer w;
        gguf_writer_init(&w);
        for (size_t i = 0; i < src.n_kv; i++) {
            const gguf_kv *kv = &src.kv[i];
            if (k == 2 && strcmp(kv->key, "gpt2.block_count") == 0) continue;
            if (kv->type == GGUF_TYPE_STRING)
                gguf_writer_add_str(&w, kv->key, cases[k].arch && strcmp(kv->key, "general.architecture") == 0 ? cases[k].arch : kv->str[0]);
            else
                gguf_writer_add_val(&w, kv->key, kv->type, kv->data);
        }
        for (size_t i = 0; i < src.n_tensors; i++) {
            const gguf_tensor *t = &src.tensors[i];
            if (cases[k].drop && strcmp(t->name, cases[k].drop) == 0) continue;
            int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
            if (cases[k].reshape && strcmp(t->name, cases[k].reshape) == 0) ne[0] -= 1;
            gguf_writer_add_tensor(&w, t->name, t->type, t->n_dims, ne, t->data);
        }
        int64_t ne_extra[1] = {4};
        float zeros[4] = {0};  // borrowed until gguf_writer_write
        if (cases[k].extra) gguf_writer_add_tensor(&w, cases[k].extra, GGUF_TENSOR_F32, 1, ne_extra, zeros);
        EXPECT(gguf_writer_write(&w, px) == 0, "%s: write: %s", cases[k].label, err_msg());
        gguf_writer_free(&w);
        err_clear();
        rc = gpt2_gguf_load(&g, px);
        EXPECT(rc < 0 && strstr(err_msg(), px) && strstr(err_msg(), cases[k].phrase), "%s: rc=%d '%s'", cases[k].label, rc,
               err_msg());
        EXPECT(g.params == NULL && g.source == NULL, "%s: model not zeroed", cases[k].label);
        if (rc == 0) gpt2_model_free(&g);
        rc = 0;
        err_clear();
    }
    gguf_close(&src);
    unlink(px);
    unlink(p32);
    group_done("malformed gpt2 GGUF files rejected", before);
}

// Reads reference.json's logits_tokens (T ids) into a new array.
static int *reference_tokens(const char *gdir, int *T) {
    char *path = path_join(gdir, "reference.json"), *text;
    size_t len;
    json_value root;
    int *ids = NULL;
    *T = 0;
    if (file_read_all(path, &text, &len) == 0) {
        if (json_parse(&root, text, len, path) == 0) {
            const json_value *a = json_get(&root, "logits_tokens");
            if (a && a->type == JSON_ARRAY) {
                ids = xmalloc((a->len + 1) * sizeof *ids);
                for (size_t i = 0; i < a->len; i++) ids[i] = (int)a->items[i].integer;
                *T = (int)a->len;
            }
            json_free(&root);
        }
        free(text);
    }
    free(path);
    err_clear();
    return ids;
}

static void test_gpt2_mini(void) {
    int before = harness_failed;
    char mdir[512], gdir[512];
    snprintf(mdir, sizeof mdir, "%s/models/mini", shared_dir());
    snprintf(gdir, sizeof gdir, "%s/testdata/gguf", shared_dir());
    gpt2_model m;
    int rc = gpt2_hf_load(&m, mdir);
    EXPECT(rc == 0, "load mini: %s", err_msg());
    if (rc) return;

    // Our F16 export is byte-identical to llama.cpp's converter output for the same model.
    const char *p16 = tmp_file(0, "mini-F16.gguf"), *p32 = tmp_file(1, "mini-F32.gguf");
    EXPECT(gpt2_gguf_save(&m, mdir, p16, 1) == 0, "save mini F16: %s", err_msg());
    char *ref16_path = path_join(gdir, "mini-F16.gguf");
    if (file_exists(ref16_path)) {
        char *a, *b;
        size_t na, nb;
        if (file_read_all(p16, &a, &na) == 0 && file_read_all(ref16_path, &b, &nb) == 0) {
            EXPECT(na == nb && memcmp(a, b, na) == 0, "mini F16: our file (%zu bytes) differs from llama.cpp's (%zu bytes)", na, nb);
            if (na == nb && memcmp(a, b, na) == 0) printf("mini F16 export == llama.cpp converter output (%zu bytes) ... ok\n", na);
            free(a);
            free(b);
        }
    } else {
        EXPECT(0, "%s is missing: the F16 export cannot be compared with llama.cpp's", ref16_path);
    }
    free(ref16_path);
    gguf_file gf;
    if (gguf_open(&gf, p16) == 0) {
        const gguf_kv *tok = gguf_find_kv(&gf, "tokenizer.ggml.tokens"), *ty = gguf_find_kv(&gf, "tokenizer.ggml.token_type"),
                      *mg = gguf_find_kv(&gf, "tokenizer.ggml.merges");
        const char *s;
        EXPECT(gguf_get_str(&gf, "tokenizer.ggml.pre", &s, NULL) == 0 && strcmp(s, "gpt-2") == 0, "tokenizer.ggml.pre");
        EXPECT(tok && tok->n == 8192 && strcmp(tok->str[8191], "<|endoftext|>") == 0 && strcmp(tok->str[0], "!") == 0, "tokens");
        EXPECT(ty && ty->n == 8192 && gguf_kv_int(ty, 8191) == 3 && gguf_kv_int(ty, 0) == 1, "token types");
        EXPECT(mg && mg->n == 7935 && strcmp(mg->str[0], "\xc4\xa0 t") == 0, "merges");
        gguf_close(&gf);
    }

    // F32: load gives back exactly what gpt2_hf_load gave.
    EXPECT(gpt2_gguf_save(&m, mdir, p32, 0) == 0, "save mini F32: %s", err_msg());
    gpt2_model g;
    rc = gpt2_gguf_load(&g, p32);
    EXPECT(rc == 0, "load mini F32 gguf: %s", err_msg());
    if (rc == 0) {
        EXPECT(cfg_equal(&g.cfg, &m.cfg) && g.cfg.tied && g.n_floats == m.n_floats &&
                   memcmp(g.params, m.params, m.n_floats * sizeof(float)) == 0,
               "mini F32: model differs");
        gpt2_model_free(&g);
    }
    unlink(p16);
    unlink(p32);

    // llama.cpp's own files reproduce their reference logits (float64 forward of the same weights).
    // Its F32 file is not shipped (../shared/testdata/gguf/README.md): test_gguf_reference makes
    // it with shrink export, checks it byte for byte against llama.cpp's (SHA-256), and runs it.
    int T;
    int *ids = reference_tokens(gdir, &T);
    const char *names[1] = {"mini-F16"};
    for (int k = 0; k < 1 && ids; k++) {
        char file[64], bin[64];
        snprintf(file, sizeof file, "%s.gguf", names[k]);
        snprintf(bin, sizeof bin, "%s.logits.f32.bin", names[k]);
        char *fp = path_join(gdir, file), *bp = path_join(gdir, bin);
        if (!file_exists(fp) || !file_exists(bp)) {
            EXPECT(0, "%s or its logits are missing", fp);
        } else {
            rc = gpt2_gguf_load(&g, fp);
            EXPECT(rc == 0, "load %s: %s", fp, err_msg());
            char *refb = NULL;
            size_t nb = 0;
            EXPECT(file_read_all(bp, &refb, &nb) == 0, "read %s", bp);
            if (rc == 0 && refb) {
                size_t n = (size_t)T * (size_t)g.cfg.vocab_size;
                EXPECT(nb == n * sizeof(float), "%s: %zu bytes, expected %zu", bp, nb, n * sizeof(float));
                EXPECT(g.cfg.vocab_size == 8192 && g.cfg.n_layer == 6 && g.cfg.bos_id == 8191 && g.cfg.tied == 1,
                       "%s: config/tied as expected", file);
                if (nb == n * sizeof(float)) {
                    float *ref = xmalloc(n * sizeof(float));
                    memcpy(ref, refb, n * sizeof(float));
                    float *lg = logits_of(&g, ids, T);
                    char label[128];
                    snprintf(label, sizeof label, "llama.cpp's %s: logits vs reference", file);
                    EXPECT_CLOSE(label, maxdiff_f32(lg, ref, n), TOL_REF_LOGITS);
                    free(lg);
                    free(ref);
                }
            }
            free(refb);
            if (rc == 0) gpt2_model_free(&g);
        }
        free(fp);
        free(bp);
    }
    free(ids);
    // A quantized file loads with its matrices kept in their stored type
    // (test_gguf_reference checks its numbers against the reference).
    char *q8 = path_join(gdir, "mini-Q8_0.gguf");
    rc = gpt2_gguf_load(&g, q8);
    EXPECT(rc == 0, "load %s: %s", q8, err_msg());
    if (rc == 0) {
        EXPECT(g.layers[0].lin[0].w.type == QTYPE_Q8_0 && g.embd.type == QTYPE_Q8_0 && g.cfg.tied == 1 &&
                   gpt2_param_count(&g.cfg) == gpt2_param_count(&m.cfg),
               "Q8_0 file: typed matrices, tied head counted once");
        gpt2_model_free(&g);
    }
    err_clear();
    free(q8);
    gpt2_model_free(&m);
    group_done("gpt2 mini: llama.cpp-identical export, llama.cpp files load", before);
}

int main(void) {
    kernels_init();
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/shrink_test_gguf.XXXXXX");
    CHECK(mkdtemp(tmp_dir));
    test_round_trip(0);
    test_round_trip(64);
    test_writer_errors();
    test_filled();
    test_hostile();
    test_gpt2_tiny();
    test_gpt2_mini();
    rmdir(tmp_dir);
    return TEST_DONE();
}
