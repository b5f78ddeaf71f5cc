// test_safetensors.c: the safetensors reader on the six oracle checkpoints,
// writer -> reader round trips, one hand-made file per malformed case (code,
// path and problem in the message), and writer failures that must leave no
// file or temp file behind.
#include "core/err.h"
#include "core/fileio.h"
#include "core/xalloc.h"
#include "formats/json.h"
#include "formats/safetensors.h"
#include "harness.h"
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

// --- helpers

static void group_done(const char *name, int failed_before) {
    if (harness_failed == failed_before) printf("%s ... ok\n", name);
    else printf("%s ... FAILED (%d)\n", name, harness_failed - failed_before);
}

static char tmp_dir[64];

// dir/name in a static buffer (one at a time per slot).
static const char *tmp_file(int slot, const char *name) {
    static char buf[4][256];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", tmp_dir, name);
    return buf[slot];
}

static void write_file(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f);
    CHECK(fwrite(bytes, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

// 8-byte little-endian length, then the header, then data_len bytes 0, 1, 2, ...
static void write_st(const char *path, uint64_t header_len, const char *header, size_t data_len) {
    size_t hl = strlen(header), n = 8 + hl + data_len;
    unsigned char *b = xmalloc(n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(header_len >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < data_len; i++) b[8 + hl + i] = (unsigned char)i;
    write_file(path, b, n);
    free(b);
}

static int is_zeroed(const safetensors *st) {
    return !st->path && !st->map.data && st->map.len == 0 && !st->tensors && st->n_tensors == 0;
}

// safetensors_open(path) must fail with code, a message holding path and
// phrase, and a closed struct.
static void expect_open_fails(const char *label, const char *path, int code, const char *phrase) {
    safetensors st;
    err_clear();
    int rc = safetensors_open(&st, path);
    const char *msg = err_msg();
    EXPECT(rc == code && err_code() == code, "%s: rc=%d code=%d, want %d (%s)", label, rc, err_code(), code, msg);
    EXPECT(strstr(msg, path) != NULL, "%s: message lacks the path: '%s'", label, msg);
    EXPECT(strstr(msg, phrase) != NULL, "%s: message lacks '%s': '%s'", label, phrase, msg);
    EXPECT(is_zeroed(&st), "%s: struct not closed after failure", label);
    if (rc == 0) safetensors_close(&st);
    err_clear();
}

// Writes header + data_len bytes to a temp file and expects ERR_FORMAT with phrase.
static void expect_bad_header(const char *label, const char *header, size_t data_len, const char *phrase) {
    const char *path = tmp_file(0, "bad.safetensors");
    write_st(path, strlen(header), header, data_len);
    expect_open_fails(label, path, ERR_FORMAT, phrase);
}

static char *oracle_file(const char *model, const char *file) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/testdata/oracle/%s", shared_dir(), model);
    return path_join(dir, file);
}

static int shape_is(const st_tensor *t, int ndim, const int64_t *dims) {
    if (!t || t->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != dims[i]) return 0;
    return 1;
}

// --- the oracle checkpoints

static const char *models[] = {"tiny", "tiny-hot", "tiny-f16", "tiny-bf16", "tiny-hub-layout", "small-vocab50257"};
enum { N_MODELS = sizeof models / sizeof models[0] };

// Every tensor of reference.json's checkpoint list is present with its dtype
// and shape, the count agrees, and each tensor lies inside the mapping.
static void check_against_reference(const char *model, const safetensors *st) {
    char *ref_path = oracle_file(model, "reference.json");
    char *text;
    size_t len;
    json_value ref;
    if (file_read_all(ref_path, &text, &len) || json_parse(&ref, text, len, ref_path)) {
        EXPECT(0, "%s: %s", model, err_msg());
        err_clear();
        free(ref_path);
        return;
    }
    free(text);
    const json_value *list = json_get(json_get(&ref, "checkpoint"), "tensors");
    EXPECT(list && list->type == JSON_ARRAY, "%s: no checkpoint.tensors in reference.json", model);
    if (list && list->type == JSON_ARRAY) {
        EXPECT((size_t)st->n_tensors == list->len, "%s: %d tensors, reference lists %zu", model, st->n_tensors, list->len);
        for (size_t i = 0; i < list->len; i++) {
            const json_value *e = &list->items[i];  // [name, dtype, [dims]]
            const char *name = e->items[0].str, *dt = e->items[1].str;
            const json_value *dims = &e->items[2];
            const st_tensor *t = safetensors_find(st, name);
            EXPECT(t != NULL, "%s: tensor %s missing", model, name);
            if (!t) continue;
            EXPECT(strcmp(dtype_name(t->dtype), dt) == 0, "%s: %s is %s, want %s", model, name, dtype_name(t->dtype), dt);
            int same = t->ndim == (int)dims->len;
            size_t nelem = 1;
            for (size_t d = 0; same && d < dims->len; d++) {
                same = t->shape[d] == dims->items[d].integer;
                nelem *= (size_t)dims->items[d].integer;
            }
            EXPECT(same, "%s: %s has the wrong shape", model, name);
            EXPECT(t->nelem == nelem && t->nbytes == nelem * dtype_size(t->dtype), "%s: %s nelem/nbytes", model, name);
            const char *lo = st->map.data, *p = t->data;
            EXPECT(p >= lo && p + t->nbytes <= lo + st->map.len, "%s: %s data outside the mapping", model, name);
        }
    }
    json_free(&ref);
    free(ref_path);
}

static void test_oracle(void) {
    int f0 = harness_failed;
    for (int m = 0; m < N_MODELS; m++) {
        char *path = oracle_file(models[m], "model.safetensors");
        safetensors st;
        err_clear();
        int rc = safetensors_open(&st, path);
        EXPECT(rc == 0, "%s: %s", models[m], err_msg());
        if (rc == 0) {
            EXPECT(strcmp(st.path, path) == 0, "path kept");
            check_against_reference(models[m], &st);
            EXPECT(safetensors_find(&st, "no.such.tensor") == NULL, "find of a missing name");
            safetensors_close(&st);
            EXPECT(is_zeroed(&st), "close zeroes");
            safetensors_close(&st);  // idempotent
        }
        free(path);
    }

    // Known shapes, independent of reference.json.
    char *path = oracle_file("tiny", "model.safetensors");
    safetensors st;
    if (safetensors_open(&st, path) == 0) {
        EXPECT(st.n_tensors == 28, "tiny: %d tensors", st.n_tensors);
        EXPECT(shape_is(safetensors_find(&st, "transformer.wte.weight"), 2, (int64_t[]){97, 32}), "tiny wte");
        EXPECT(shape_is(safetensors_find(&st, "transformer.wpe.weight"), 2, (int64_t[]){64, 32}), "tiny wpe");
        EXPECT(shape_is(safetensors_find(&st, "transformer.h.0.attn.c_attn.weight"), 2, (int64_t[]){32, 96}), "c_attn");
        EXPECT(shape_is(safetensors_find(&st, "transformer.h.1.attn.c_attn.bias"), 1, (int64_t[]){96}), "c_attn.bias");
        EXPECT(shape_is(safetensors_find(&st, "transformer.h.0.mlp.c_fc.weight"), 2, (int64_t[]){32, 128}), "c_fc");
        EXPECT(shape_is(safetensors_find(&st, "transformer.h.1.mlp.c_proj.weight"), 2, (int64_t[]){128, 32}), "mlp.c_proj");
        EXPECT(shape_is(safetensors_find(&st, "transformer.ln_f.bias"), 1, (int64_t[]){32}), "ln_f.bias");
        EXPECT(safetensors_find(&st, "transformer.h.2.ln_1.weight") == NULL, "tiny has 2 layers");
        EXPECT(safetensors_find(&st, "lm_head.weight") == NULL, "tiny has no lm_head");
        EXPECT(safetensors_find(&st, "transformer.h.0.attn.bias") == NULL, "tiny has no attn.bias buffer");
        for (int i = 0; i < st.n_tensors; i++) EXPECT(st.tensors[i].dtype == DTYPE_F32, "tiny is F32");
        safetensors_close(&st);
    } else EXPECT(0, "tiny: %s", err_msg());
    free(path);

    path = oracle_file("tiny-hub-layout", "model.safetensors");
    if (safetensors_open(&st, path) == 0) {
        EXPECT(st.n_tensors == 30, "hub: %d tensors", st.n_tensors);
        EXPECT(shape_is(safetensors_find(&st, "wte.weight"), 2, (int64_t[]){97, 32}), "hub wte unprefixed");
        EXPECT(safetensors_find(&st, "transformer.wte.weight") == NULL, "hub has no prefixed names");
        for (int l = 0; l < 2; l++) {
            char name[64];
            snprintf(name, sizeof name, "h.%d.attn.bias", l);
            const st_tensor *t = safetensors_find(&st, name);
            EXPECT(shape_is(t, 4, (int64_t[]){1, 1, 64, 64}), "hub %s is [1,1,64,64]", name);
            if (t && t->nelem == 64 * 64 && t->dtype == DTYPE_F32) {  // a lower-triangular mask of ones
                float *m = xmalloc(t->nelem * sizeof *m);
                dtype_to_f32(m, t->data, t->dtype, t->nelem);
                int ok = 1;
                for (int i = 0; i < 64; i++)
                    for (int j = 0; j < 64; j++) ok &= m[i * 64 + j] == (j <= i ? 1.0f : 0.0f);
                EXPECT(ok, "hub %s is the causal mask", name);
                free(m);
            }
        }
        EXPECT(shape_is(safetensors_find(&st, "h.0.attn.c_attn.bias"), 1, (int64_t[]){96}), "hub c_attn.bias");
        safetensors_close(&st);
    } else EXPECT(0, "hub: %s", err_msg());
    free(path);

    path = oracle_file("small-vocab50257", "model.safetensors");
    if (safetensors_open(&st, path) == 0) {
        EXPECT(shape_is(safetensors_find(&st, "transformer.wte.weight"), 2, (int64_t[]){50257, 64}), "small wte");
        EXPECT(shape_is(safetensors_find(&st, "transformer.wpe.weight"), 2, (int64_t[]){128, 64}), "small wpe");
        safetensors_close(&st);
    } else EXPECT(0, "small: %s", err_msg());
    free(path);
    err_clear();
    group_done("safetensors_oracle_checkpoints", f0);
}

// tiny-f16 / tiny-bf16 hold tiny's F32 values rounded to nearest even;
// tiny-hub-layout holds tiny's values under unprefixed names.
static void test_oracle_values(void) {
    int f0 = harness_failed;
    safetensors t32, t16, tb16, hub;
    char *p32 = oracle_file("tiny", "model.safetensors"), *p16 = oracle_file("tiny-f16", "model.safetensors");
    char *pb16 = oracle_file("tiny-bf16", "model.safetensors"), *phub = oracle_file("tiny-hub-layout", "model.safetensors");
    int ok = safetensors_open(&t32, p32) == 0;
    ok = (safetensors_open(&t16, p16) == 0) & ok;
    ok = (safetensors_open(&tb16, pb16) == 0) & ok;
    ok = (safetensors_open(&hub, phub) == 0) & ok;
    EXPECT(ok, "opening tiny, tiny-f16, tiny-bf16, tiny-hub-layout: %s", err_msg());
    size_t checked = 0, mismatch16 = 0, mismatchb16 = 0, mismatch_hub = 0;
    for (int i = 0; ok && i < t32.n_tensors; i++) {
        const st_tensor *a = &t32.tensors[i];
        const st_tensor *h = safetensors_find(&t16, a->name), *b = safetensors_find(&tb16, a->name);
        const st_tensor *u = safetensors_find(&hub, a->name + strlen("transformer."));
        EXPECT(h && h->dtype == DTYPE_F16 && h->nelem == a->nelem, "f16 %s", a->name);
        EXPECT(b && b->dtype == DTYPE_BF16 && b->nelem == a->nelem, "bf16 %s", a->name);
        EXPECT(u && u->dtype == DTYPE_F32 && u->nbytes == a->nbytes, "hub %s", a->name);
        if (!h || !b || !u || h->nelem != a->nelem || b->nelem != a->nelem || u->nbytes != a->nbytes) continue;
        float *x = xmalloc(a->nelem * sizeof *x), *y = xmalloc(a->nelem * sizeof *y), *z = xmalloc(a->nelem * sizeof *z);
        dtype_to_f32(x, a->data, a->dtype, a->nelem);
        dtype_to_f32(y, h->data, h->dtype, h->nelem);
        dtype_to_f32(z, b->data, b->dtype, b->nelem);
        for (size_t k = 0; k < a->nelem; k++) {
            mismatch16 += y[k] != fp16_to_f32(f32_to_fp16(x[k]));
            mismatchb16 += z[k] != bf16_to_f32(f32_to_bf16(x[k]));
        }
        mismatch_hub += memcmp(a->data, u->data, a->nbytes) != 0;
        checked += a->nelem;
        free(x), free(y), free(z);
    }
    EXPECT(checked > 0 && mismatch16 == 0, "tiny-f16: %zu of %zu values differ from f32_to_fp16(tiny)", mismatch16, checked);
    EXPECT(checked > 0 && mismatchb16 == 0, "tiny-bf16: %zu of %zu values differ from f32_to_bf16(tiny)", mismatchb16,
           checked);
    EXPECT(mismatch_hub == 0, "tiny-hub-layout: %zu tensors differ from tiny", mismatch_hub);
    if (ok) {
        const st_tensor *lm = safetensors_find(&t16, "lm_head.weight"), *wte = safetensors_find(&t16, "transformer.wte.weight");
        EXPECT(lm && lm->dtype == DTYPE_F16 && shape_is(lm, 2, (int64_t[]){97, 32}), "tiny-f16 lm_head.weight F16 [97,32]");
        EXPECT(lm && wte && lm->nbytes == wte->nbytes && memcmp(lm->data, wte->data, lm->nbytes) == 0,
               "tiny-f16 lm_head.weight equals wte");
        EXPECT(t16.n_tensors == 29 && tb16.n_tensors == 28, "f16/bf16 tensor counts");
    }
    safetensors_close(&t32), safetensors_close(&t16), safetensors_close(&tb16), safetensors_close(&hub);
    free(p32), free(p16), free(pb16), free(phub);
    err_clear();
    group_done("safetensors_oracle_values", f0);
}

// --- writer -> reader

static void test_round_trip(void) {
    int f0 = harness_failed;
    float a[6] = {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-30f};
    uint16_t h[5] = {0x3c00, 0xc000, 0x7c00, 0x0001, 0x7e00};  // 1, -2, inf, smallest subnormal, NaN
    uint16_t b[8];
    for (int i = 0; i < 8; i++) b[i] = f32_to_bf16((float)i * 0.3f - 1.0f);
    float scalar = 42.0f;
    unsigned char raw[3 * 2];  // arbitrary F16 bit patterns under an empty name
    for (int i = 0; i < 6; i++) raw[i] = (unsigned char)(0xA0 + i);
    const char *weird = "we\"ird\\na/me\n\t\x01 \xC3\xA9\xE2\x82\xAC";  // quote, backslash, controls, UTF-8
    st_write_tensor ts[] = {
        {"a.f32", DTYPE_F32, 2, {2, 3}, a},
        {weird, DTYPE_F16, 1, {5}, h},
        {"c.bf16", DTYPE_BF16, 3, {2, 2, 2}, b},
        {"scalar", DTYPE_F32, 0, {0}, &scalar},
        {"empty", DTYPE_F16, 2, {0, 4}, NULL},
        {"", DTYPE_F16, 1, {3}, raw},
    };
    int n = sizeof ts / sizeof ts[0];
    const char *path = tmp_file(1, "rt.safetensors");
    err_clear();
    int rc = safetensors_write(path, ts, n, "{\"format\":\"pt\",\"note\":\"a \\\"quoted\\\" \\u00e9 \\u0000 x\"}");
    EXPECT(rc == 0, "write: %s", err_msg());
    EXPECT(!file_exists(tmp_file(2, "rt.safetensors.tmp")), "temp file left after a good write");
    safetensors st;
    rc = safetensors_open(&st, path);
    EXPECT(rc == 0, "read back: %s", err_msg());
    if (rc == 0) {
        EXPECT(st.n_tensors == n, "count %d", st.n_tensors);
        size_t expect_off = 0;
        const unsigned char *base = st.map.data;
        uint64_t hlen = 0;
        for (int i = 0; i < 8; i++) hlen |= (uint64_t)base[i] << (8 * i);
        EXPECT(hlen % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)hlen);
        for (int i = 0; i < n && i < st.n_tensors; i++) {
            const st_tensor *t = &st.tensors[i];  // header order = the order given
            EXPECT(strcmp(t->name, ts[i].name) == 0, "tensor %d name '%s'", i, t->name);
            EXPECT(safetensors_find(&st, ts[i].name) == t, "find '%s'", ts[i].name);
            EXPECT(t->dtype == ts[i].dtype && t->ndim == ts[i].ndim, "tensor %d dtype/ndim", i);
            EXPECT(shape_is(t, ts[i].ndim, ts[i].shape), "tensor %d shape", i);
            EXPECT((const unsigned char *)t->data == base + 8 + hlen + expect_off, "tensor %d not contiguous", i);
            EXPECT(t->nbytes == 0 || memcmp(t->data, ts[i].data, t->nbytes) == 0, "tensor %d bytes differ", i);
            expect_off += t->nbytes;
        }
        EXPECT(st.map.len == 8 + hlen + expect_off, "file size %zu", st.map.len);
        EXPECT(st.tensors[3].nelem == 1 && st.tensors[3].nbytes == 4, "scalar nelem");
        EXPECT(st.tensors[4].nelem == 0 && st.tensors[4].nbytes == 0, "empty tensor");
        // The header is JSON: metadata first, kept verbatim after unescaping; header ends in padding spaces.
        json_value hdr;
        if (json_parse(&hdr, (const char *)base + 8, hlen, "header") == 0) {
            EXPECT(hdr.len == (size_t)n + 1 && strcmp(hdr.keys[0], "__metadata__") == 0, "metadata first");
            const json_value *note = json_get(json_get(&hdr, "__metadata__"), "note");
            EXPECT(note && note->len == 17 && memcmp(note->str, "a \"quoted\" \xC3\xA9 \0 x", 17) == 0, "metadata note");
            json_free(&hdr);
        } else EXPECT(0, "header does not parse: %s", err_msg());
        float back[6];
        dtype_to_f32(back, st.tensors[0].data, DTYPE_F32, 6);
        EXPECT(memcmp(back, a, sizeof a) == 0, "F32 values");
        // safetensors_read: a range of a tensor's bytes by read(2), the same as the mapping's
        unsigned char part[6] = {0};
        EXPECT(safetensors_read(&st, &st.tensors[2], 4, 6, part) == 0 && memcmp(part, (const char *)b + 4, 6) == 0,
               "safetensors_read of c.bf16's bytes 4..10: %s", err_msg());
        EXPECT(safetensors_read(&st, &st.tensors[5], 0, 6, part) == 0 && memcmp(part, raw, 6) == 0, "safetensors_read of the last tensor");
        // A file cut short after it was opened: an error naming it, where the mapping would SIGBUS.
        EXPECT(truncate(path, (off_t)(8 + hlen + 4)) == 0, "truncate");
        err_clear();
        int trc = safetensors_read(&st, &st.tensors[2], 0, 16, part);
        EXPECT(trc == ERR_IO && strstr(err_msg(), path) && strstr(err_msg(), "shorter"),
               "read past a truncated end: rc %d, '%s'", trc, err_msg());
        err_clear();
        safetensors_close(&st);
    }

    // safetensors_same: tensors of 2.5 MB (the comparison goes a MB at a time), equal, differing
    // in their first or last element only, or in dtype; across two files too.
    {
        const size_t N = 655360;
        float *x = xmalloc(N * sizeof *x), *y = xmalloc(N * sizeof *y), *z = xmalloc(N * sizeof *z);
        for (size_t i = 0; i < N; i++) x[i] = y[i] = z[i] = (float)i * 0.25f;
        y[N - 1] += 1, z[0] += 1;
        st_write_tensor big[4] = {{"x", DTYPE_F32, 1, {(int64_t)N}, x}, {"same", DTYPE_F32, 1, {(int64_t)N}, x},
                                  {"last", DTYPE_F32, 1, {(int64_t)N}, y}, {"first", DTYPE_F32, 1, {(int64_t)N}, z}};
        st_write_tensor half = {"h", DTYPE_F16, 1, {(int64_t)N * 2}, x};  // the same bytes, another dtype
        const char *p1 = tmp_file(1, "same1.safetensors"), *p2 = tmp_file(2, "same2.safetensors");
        EXPECT(safetensors_write(p1, big, 4, NULL) == 0 && safetensors_write(p2, &half, 1, NULL) == 0, "write: %s", err_msg());
        safetensors s1, s2;
        if (safetensors_open(&s1, p1) == 0 && safetensors_open(&s2, p2) == 0) {
            const st_tensor *tx = safetensors_find(&s1, "x");
            const char *names[3] = {"same", "last", "first"};
            int want[3] = {1, 0, 0};
            for (int k = 0; k < 3; k++) {
                int same = -1;
                EXPECT(safetensors_same(&s1, tx, &s1, safetensors_find(&s1, names[k]), &same) == 0 && same == want[k],
                       "safetensors_same(x, %s): %d, want %d", names[k], same, want[k]);
            }
            int same = -1;
            EXPECT(safetensors_same(&s1, tx, &s2, safetensors_find(&s2, "h"), &same) == 0 && same == 0,
                   "safetensors_same of the same bytes as F32 and F16: %d, want 0", same);
            safetensors_close(&s1), safetensors_close(&s2);
        } else EXPECT(0, "open: %s", err_msg());
        free(x), free(y), free(z);
    }

    // Golden bytes: one tensor, default metadata.
    float one = 1.0f;
    st_write_tensor g = {"a", DTYPE_F32, 1, {1}, &one};
    const char *gpath = tmp_file(1, "golden.safetensors");
    EXPECT(safetensors_write(gpath, &g, 1, NULL) == 0, "golden write: %s", err_msg());
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    unsigned char want[256] = {0};
    want[0] = (unsigned char)padded;
    memcpy(want + 8, json, jl);
    memset(want + 8 + jl, ' ', padded - jl);
    memcpy(want + 8 + padded, &one, 4);  // little-endian host assumed (x86-64, arm64)
    char *got;
    size_t got_len;
    if (file_read_all(gpath, &got, &got_len) == 0) {
        EXPECT(got_len == 8 + padded + 4 && memcmp(got, want, got_len) == 0, "golden file bytes differ");
        free(got);
    }

    // Zero tensors: a valid file with only metadata.
    const char *zpath = tmp_file(1, "zero.safetensors");
    EXPECT(safetensors_write(zpath, NULL, 0, "{}") == 0, "write of 0 tensors: %s", err_msg());
    if (safetensors_open(&st, zpath) == 0) {
        EXPECT(st.n_tensors == 0, "0 tensors read back");
        safetensors_close(&st);
    } else EXPECT(0, "0 tensors: %s", err_msg());

    // Overwrite in place: the second write replaces the first.
    EXPECT(safetensors_write(zpath, &g, 1, NULL) == 0, "overwrite: %s", err_msg());
    if (safetensors_open(&st, zpath) == 0) {
        EXPECT(st.n_tensors == 1, "overwritten file has 1 tensor");
        safetensors_close(&st);
    }
    err_clear();
    group_done("safetensors_round_trip", f0);
}

// --- malformed files

static void test_malformed(void) {
    int f0 = harness_failed;
    const char *path = tmp_file(0, "bad.safetensors");
    safetensors st;
    memset(&st, 0, sizeof st);
    safetensors_close(&st);  // safe on a zeroed struct

    expect_open_fails("missing file", tmp_file(1, "does-not-exist.safetensors"), ERR_IO, "cannot open");
    expect_open_fails("directory", tmp_dir, ERR_IO, "not a regular file");

    write_file(path, "", 0);
    expect_open_fails("empty file", path, ERR_FORMAT, "shorter than the 8-byte header length");
    write_file(path, "\x10\0\0\0\0", 5);
    expect_open_fails("5-byte file", path, ERR_FORMAT, "shorter than the 8-byte header length");

    // Header length past the end: 812-byte file claiming 1234567 header bytes.
    {
        char hdr[805];
        memset(hdr, ' ', sizeof hdr - 1);
        hdr[sizeof hdr - 1] = 0;
        write_st(path, 1234567, hdr, 0);
        expect_open_fails("header past the end", path, ERR_FORMAT,
                          "header length 1234567 runs past the end of the file (812 bytes)");
        write_st(path, 805, hdr, 0);
        expect_open_fails("header one byte past the end", path, ERR_FORMAT, "header length 805 runs past the end");
    }
    write_st(path, 200000000, "{}", 0);
    expect_open_fails("absurd header length", path, ERR_FORMAT, "header length 200000000 is absurd");
    write_st(path, UINT64_MAX, "{}", 0);
    expect_open_fails("header length 2^64-1", path, ERR_FORMAT, "is absurd");
    write_st(path, 0, "", 0);
    expect_open_fails("empty header", path, ERR_FORMAT, "invalid JSON at line 1: unexpected end of input");

    // Header JSON and its types.
    expect_bad_header("not JSON", "{abc}   ", 0, ": header: invalid JSON at line 1");
    expect_bad_header("JSON error on line 3", "{\"a\": {\"dtype\": \"F32\",\n\"shape\": [1],\n oops}}", 0,
                      "invalid JSON at line 3");
    expect_bad_header("trailing garbage", "{} x", 0, "trailing characters");
    {
        const char h[] = "{}\0\0\0\0\0\0";  // padding must be spaces, not NULs
        write_st(path, sizeof h - 1, "", 0);
        FILE *f = fopen(path, "ab");
        CHECK(f && fwrite(h, 1, sizeof h - 1, f) == sizeof h - 1 && fclose(f) == 0);
        expect_open_fails("NUL-padded header", path, ERR_FORMAT, "trailing characters");
    }
    expect_bad_header("invalid UTF-8", "{\"\xFF\": 1}", 0, "invalid UTF-8");
    expect_bad_header("header is an array", "[1, 2]  ", 0, "header is a JSON array, not an object");
    expect_bad_header("header is a string", "\"x\"", 0, "header is a JSON string, not an object");
    expect_bad_header("entry not an object", "{\"w\": 5}", 0, "tensor 'w': entry is a JSON number, not an object");
    expect_bad_header("entry is an array", "{\"w\": [\"F32\", [1], [0, 4]]}", 4, "entry is a JSON array, not an object");
    expect_bad_header("missing dtype", "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                      "tensor 'w': missing \"dtype\"");
    expect_bad_header("missing shape", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4,
                      "tensor 'w': missing \"shape\"");
    expect_bad_header("missing data_offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4,
                      "tensor 'w': missing \"data_offsets\"");
    expect_bad_header("dtype not a string", "{\"w\": {\"dtype\": 5, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                      "\"dtype\" is a JSON number, not a string");
    const char *dtypes[] = {"I64", "U8", "BOOL", "F64", "f32", "F8_E4M3", ""};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        char h[160], phrase[64];
        snprintf(h, sizeof h, "{\"w\": {\"dtype\": \"%s\", \"shape\": [1], \"data_offsets\": [0, 8]}}", dtypes[i]);
        snprintf(phrase, sizeof phrase, "tensor 'w': unknown dtype %s (", dtypes[i]);
        expect_bad_header("unknown dtype", h, 8, phrase);
    }
    expect_bad_header("shape not an array", "{\"w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}", 16,
                      "\"shape\" is a JSON number, not an array");
    expect_bad_header("9 dims", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}",
                      4, "shape has 9 dims (at most 8");
    expect_bad_header("negative dim", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -3], \"data_offsets\": [0, 4]}}", 4,
                      "tensor 'w': shape[1] is negative (-3)");
    expect_bad_header("fractional dim", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 4]}}", 4,
                      "shape[0] is not an integer");
    expect_bad_header("exponent dim", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1e0], \"data_offsets\": [0, 4]}}", 4,
                      "shape[0] is not an integer");
    expect_bad_header("string dim", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1, \"2\"], \"data_offsets\": [0, 8]}}", 8,
                      "shape[1] is not an integer");
    expect_bad_header("dim past int64",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [99999999999999999999], \"data_offsets\": [0, 4]}}", 4,
                      "shape[0] is not an integer");
    expect_bad_header("element count overflow",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 2], \"data_offsets\": [0, 4]}}", 4,
                      "shape [4294967296, 4294967296, 2] overflows");
    expect_bad_header("byte count overflow",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [9223372036854775807], \"data_offsets\": [0, 4]}}", 4,
                      "shape [9223372036854775807] overflows");
    expect_bad_header("data_offsets not an array", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": 4}}", 4,
                      "\"data_offsets\" is not [begin, end]");
    expect_bad_header("data_offsets of 3", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8,
                      "\"data_offsets\" is not [begin, end]");
    expect_bad_header("negative offset", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4,
                      "\"data_offsets\" are not two non-negative integers");
    expect_bad_header("fractional offset", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4.0]}}",
                      4, "\"data_offsets\" are not two non-negative integers");
    expect_bad_header("begin after end", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8,
                      "data_offsets [8, 4] have begin after end");
    expect_bad_header("end past the data", "{\"w\": {\"dtype\": \"F32\", \"shape\": [256], \"data_offsets\": [0, 1024]}}",
                      16, "data_offsets end 1024 is beyond the data section (16 bytes)");
    expect_bad_header("huge end", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 9223372036854775807]}}",
                      16, "is beyond the data section");
    expect_bad_header("size mismatch", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 12]}}", 16,
                      "tensor 'w': shape [2, 2] of F32 is 16 bytes but data_offsets [0, 12] hold 12");
    expect_bad_header("size mismatch f16", "{\"w\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 16,
                      "shape [4] of F16 is 8 bytes but data_offsets [0, 16] hold 16");
    expect_bad_header("overlap",
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                      " \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}",
                      24, "tensors 'a' [0, 16) and 'b' [8, 24) overlap");
    expect_bad_header("overlap, header order reversed",
                      "{\"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]},"
                      " \"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
                      24, "tensors 'a' [0, 16) and 'b' [8, 24) overlap");
    expect_bad_header("same range twice",
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                      " \"b\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [0, 8]}}",
                      8, "overlap");
    expect_bad_header("range inside a long one",
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [8], \"data_offsets\": [0, 32]},"
                      " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]},"
                      " \"c\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [16, 20]}}",
                      32, "tensors 'a' [0, 32) and 'b' [4, 8) overlap");
    expect_bad_header("metadata not an object", "{\"__metadata__\": \"pt\"}", 0,
                      "\"__metadata__\" is a JSON string, not an object");
    expect_bad_header("metadata value not a string", "{\"__metadata__\": {\"format\": \"pt\", \"n\": 1}}", 0,
                      "\"__metadata__\" value for \"n\" is a JSON number, not a string");
    expect_bad_header("duplicate tensor",
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                      "\n\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                      8, "line 2: duplicate key \"a\"");
    expect_bad_header("NUL in a name", "{\"a\\u0000b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                      "contains a NUL byte");

    // Truncated copies of a real checkpoint.
    char *tiny = oracle_file("tiny", "model.safetensors");
    char *bytes;
    size_t len;
    if (file_read_all(tiny, &bytes, &len) == 0) {
        write_file(path, bytes, 2000);  // inside the 2592-byte header
        expect_open_fails("tiny cut in the header", path, ERR_FORMAT, "runs past the end of the file (2000 bytes)");
        write_file(path, bytes, len - 1);  // one data byte short
        expect_open_fails("tiny cut by one byte", path, ERR_FORMAT, "is beyond the data section");
        free(bytes);
    } else EXPECT(0, "%s", err_msg());
    free(tiny);
    err_clear();

    // Things that look odd but are valid: header order != data order, gaps,
    // empty tensors anywhere, trailing bytes, other keys in an entry, a
    // header that is not padded to 8.
    const char *ok_hdr =
        "{\"b\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [12, 16], \"extra\": [1]},"
        " \"__metadata__\": {},"
        " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
        " \"e\": {\"dtype\": \"BF16\", \"shape\": [3, 0], \"data_offsets\": [4, 4]},"
        " \"s\": {\"dtype\": \"BF16\", \"shape\": [], \"data_offsets\": [16, 18]}}";
    write_st(path, strlen(ok_hdr), ok_hdr, 24);
    err_clear();
    int rc = safetensors_open(&st, path);
    EXPECT(rc == 0, "valid odd file rejected: %s", err_msg());
    if (rc == 0) {
        EXPECT(st.n_tensors == 4 && strcmp(st.tensors[0].name, "b") == 0 && strcmp(st.tensors[1].name, "a") == 0,
               "header order kept");
        const unsigned char *d = (const unsigned char *)st.map.data + 8 + strlen(ok_hdr);
        const st_tensor *b = safetensors_find(&st, "b"), *s = safetensors_find(&st, "s");
        EXPECT(b && b->data == d + 12 && b->nbytes == 4, "b at offset 12");
        EXPECT(s && s->ndim == 0 && s->nelem == 1 && s->data == d + 16, "scalar s");
        EXPECT(safetensors_find(&st, "e") && safetensors_find(&st, "e")->nelem == 0, "empty e");
        safetensors_close(&st);
    }
    err_clear();
    group_done("safetensors_malformed", f0);
}

// --- writer failures leave nothing behind

static void expect_write_fails(const char *label, const char *path, const st_write_tensor *ts, int n,
                               const char *meta, int code, const char *phrase) {
    err_clear();
    int rc = safetensors_write(path, ts, n, meta);
    const char *msg = err_msg();
    EXPECT(rc == code && err_code() == code, "%s: rc=%d code=%d, want %d (%s)", label, rc, err_code(), code, msg);
    EXPECT(strstr(msg, path) != NULL, "%s: message lacks the path: '%s'", label, msg);
    EXPECT(strstr(msg, phrase) != NULL, "%s: message lacks '%s': '%s'", label, phrase, msg);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    EXPECT(!file_exists(tmp), "%s: %s left behind", label, tmp);
    err_clear();
}

static void test_write_failures(void) {
    int f0 = harness_failed;
    float x[4] = {1, 2, 3, 4};
    st_write_tensor good = {"x", DTYPE_F32, 1, {4}, x};

    char path[512];
    snprintf(path, sizeof path, "%s/no-such-dir/out.safetensors", tmp_dir);
    expect_write_fails("missing directory", path, &good, 1, NULL, ERR_IO, "cannot create");
    EXPECT(!file_exists(path), "missing directory: file created");

    const char *plain = tmp_file(1, "plain-file");
    write_file(plain, "x", 1);
    snprintf(path, sizeof path, "%s/out.safetensors", plain);
    expect_write_fails("parent is a file", path, &good, 1, NULL, ERR_IO, "cannot create");

    // The target is a directory: refused before anything is written.
    snprintf(path, sizeof path, "%s/a-dir", tmp_dir);
    CHECK(mkdir(path, 0755) == 0);
    expect_write_fails("target is a directory", path, &good, 1, NULL, ERR_IO, "is a directory");
    struct stat sb;
    EXPECT(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "target directory disturbed");
    rmdir(path);

    // A read-only directory (root ignores permissions, so only as a normal user).
    snprintf(path, sizeof path, "%s/ro", tmp_dir);
    CHECK(mkdir(path, 0555) == 0);
    if (geteuid() != 0) {
        char out[600];
        snprintf(out, sizeof out, "%s/out.safetensors", path);
        expect_write_fails("read-only directory", out, &good, 1, NULL, ERR_IO, "cannot create");
        EXPECT(!file_exists(out), "read-only directory: file created");
    }
    rmdir(path);

    // A write that fails half-way (file size limit): the old file stays as it was.
    const char *target = tmp_file(1, "keep.safetensors");
    EXPECT(safetensors_write(target, &good, 1, NULL) == 0, "first write: %s", err_msg());
    char *before;
    size_t before_len;
    CHECK(file_read_all(target, &before, &before_len) == 0);
    size_t big_n = 1 << 16;
    float *big = xcalloc(big_n, sizeof *big);
    st_write_tensor bt = {"big", DTYPE_F32, 1, {(int64_t)big_n}, big};
    struct rlimit old_lim, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &old_lim) == 0);
    lim = old_lim;
    lim.rlim_cur = 4096;
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        err_clear();
        int rc = safetensors_write(target, &bt, 1, NULL);
        CHECK(setrlimit(RLIMIT_FSIZE, &old_lim) == 0);
        EXPECT(rc == ERR_IO, "write past the size limit: rc=%d (%s)", rc, err_msg());
        EXPECT(strstr(err_msg(), "keep.safetensors.") && strstr(err_msg(), ".tmp"), "message names the temp file: %s", err_msg());
        char tmp[300];
        snprintf(tmp, sizeof tmp, "%s.tmp", target);
        EXPECT(!file_exists(tmp), "partial temp file left behind");
        char *after;
        size_t after_len;
        CHECK(file_read_all(target, &after, &after_len) == 0);
        EXPECT(after_len == before_len && memcmp(after, before, after_len) == 0, "old file changed by a failed write");
        free(after);
    }
    signal(SIGXFSZ, old_sig);
    free(before);
    free(big);
    err_clear();

    // Bad arguments: nothing is created at all.
    const char *out = tmp_file(1, "args.safetensors");
    st_write_tensor two[2] = {good, good};
    expect_write_fails("duplicate names", out, two, 2, NULL, ERR_ARG, "duplicate tensor name 'x'");
    st_write_tensor t = good;
    t.name = "__metadata__";
    expect_write_fails("reserved name", out, &t, 1, NULL, ERR_ARG, "\"__metadata__\" is reserved");
    t.name = "bad\xC3(";
    expect_write_fails("name not UTF-8", out, &t, 1, NULL, ERR_ARG, "not valid UTF-8");
    t.name = NULL;
    expect_write_fails("no name", out, &t, 1, NULL, ERR_ARG, "has no name");
    t = good;
    t.shape[0] = -1;
    expect_write_fails("negative dim", out, &t, 1, NULL, ERR_ARG, "shape[0] is negative (-1)");
    t = good;
    t.ndim = 9;
    expect_write_fails("9 dims", out, &t, 1, NULL, ERR_ARG, "ndim 9 is outside 0..8");
    t = good;
    t.dtype = DTYPE_COUNT;
    expect_write_fails("bad dtype", out, &t, 1, NULL, ERR_ARG, "invalid dtype");
    t = good;
    t.ndim = 3;
    t.shape[0] = t.shape[1] = t.shape[2] = INT64_C(1) << 40;
    expect_write_fails("size overflow", out, &t, 1, NULL, ERR_ARG, "overflows");
    t = good;
    t.data = NULL;
    expect_write_fails("NULL data", out, &t, 1, NULL, ERR_ARG, "data is NULL");
    expect_write_fails("negative count", out, &good, -1, NULL, ERR_ARG, "bad tensor list");
    expect_write_fails("metadata not JSON", out, &good, 1, "{format: pt}", ERR_FORMAT, "metadata: invalid JSON");
    expect_write_fails("metadata not an object", out, &good, 1, "[\"pt\"]", ERR_ARG, "metadata is not a JSON object");
    expect_write_fails("metadata value not a string", out, &good, 1, "{\"n\": 1}", ERR_ARG,
                       "metadata value for \"n\" is not a string");
    EXPECT(!file_exists(out), "a failed write created %s", out);
    group_done("safetensors_write_failures", f0);
}

// --- main

// Removes what the tests wrote (only the names they use).
static void cleanup(void) {
    const char *names[] = {"bad.safetensors", "rt.safetensors", "golden.safetensors", "zero.safetensors",
                           "keep.safetensors", "plain-file", "args.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unlink(tmp_file(3, names[i]));
    rmdir(tmp_dir);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/shrink_test_st_%ld", (long)getpid());
    if (mkdir(tmp_dir, 0700) != 0) {
        fprintf(stderr, "cannot create %s: %s\n", tmp_dir, strerror(errno));
        return 1;
    }
    test_oracle();
    test_oracle_values();
    test_round_trip();
    test_malformed();
    test_write_failures();
    cleanup();
    return TEST_DONE();
}
