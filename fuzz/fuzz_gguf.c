// fuzz_gguf.c: the GGUF reader.
//
// Invariants on a file that opens: version 2 or 3, alignment a power of two, counts within
// the limits; every KV pair's key non-empty and NUL-free, found again by gguf_find_kv, its
// fixed-size values inside the mapping, its strings NUL-terminated at their length; every
// tensor's name 1..63 bytes, found again by gguf_find_tensor, dims non-negative with nelem
// their product, nbytes what its type's blocks take, offset aligned, bytes inside the data
// section, no two sharing a byte; the typed getters and the gguf_try_* readers agree, and a
// gguf_try_* call never records an error. A refusal is ERR_FORMAT/ERR_IO naming the file.
#include "formats/gguf.h"
#include "fuzz_util.h"

static int by_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    const char *path = fuzz_path("model.gguf");
    fuzz_write(path, data, len);
    gguf_file g;
    err_clear();
    int rc = gguf_open(&g, path);
    if (rc) {
        INVARIANT(rc == ERR_FORMAT || rc == ERR_IO, "gguf_open returned %d", rc);
        INVARIANT(strncmp(err_msg(), path, strlen(path)) == 0, "message does not name the file: %s", err_msg());
        INVARIANT(g.kv == NULL && g.tensors == NULL && g.map.data == NULL, "struct not zeroed after an error");
        return 0;
    }
    EXPECT_NO_ERROR("gguf_open");
    const unsigned char *base = g.map.data, *end = base + g.map.len;
    INVARIANT(g.version == 2 || g.version == 3, "version %u", g.version);
    INVARIANT(g.alignment && (g.alignment & (g.alignment - 1)) == 0, "alignment %u", g.alignment);
    INVARIANT(g.n_kv <= GGUF_MAX_KV && g.n_tensors <= GGUF_MAX_TENSORS, "counts %zu %zu", g.n_kv, g.n_tensors);
    for (size_t i = 0; i < g.n_kv; i++) {
        const gguf_kv *kv = &g.kv[i];
        INVARIANT(kv->key && kv->key[0], "KV %zu has an empty key", i);
        INVARIANT(gguf_find_kv(&g, kv->key) == kv, "find_kv('%s') gives another pair", kv->key);
        INVARIANT((unsigned)kv->type < GGUF_TYPE_COUNT && kv->type != GGUF_TYPE_ARRAY, "KV '%s' type %d", kv->key, kv->type);
        INVARIANT(kv->is_array || kv->n == 1, "scalar with n = %llu", (unsigned long long)kv->n);
        if (kv->type == GGUF_TYPE_STRING) {
            for (uint64_t j = 0; j < kv->n; j++) INVARIANT(kv->str[j][kv->str_len[j]] == 0, "string not terminated");
        } else {
            size_t es = gguf_type_size(kv->type);
            INVARIANT(es > 0 && kv->data >= base && kv->data <= end && kv->n <= (uint64_t)(end - kv->data) / es,
                      "KV '%s' values outside the mapping", kv->key);
        }
        if (i >= 256) continue;  // the lookups below scan the pairs: keep a hostile count cheap
        // The getters agree with the optional readers, which never record an error.
        int64_t a = 0, b = 0;
        const char *s1 = NULL, *s2 = NULL;
        err_clear();
        int got_try = gguf_try_int(&g, kv->key, &a);
        EXPECT_NO_ERROR("gguf_try_int");
        int got_get = gguf_get_int(&g, kv->key, &b) == 0;
        INVARIANT(got_try == got_get && (!got_try || a == b), "gguf_try_int and gguf_get_int disagree on '%s'", kv->key);
        err_clear();
        got_try = gguf_try_str(&g, kv->key, &s1, NULL);
        EXPECT_NO_ERROR("gguf_try_str");
        got_get = gguf_get_str(&g, kv->key, &s2, NULL) == 0;
        INVARIANT(got_try == got_get && s1 == s2, "gguf_try_str and gguf_get_str disagree on '%s'", kv->key);
        float f;
        int bl;
        err_clear();
        if (gguf_get_f32(&g, kv->key, &f) == 0) INVARIANT(kv->type == GGUF_TYPE_FLOAT32 || kv->type == GGUF_TYPE_FLOAT64, "f32");
        if (gguf_get_bool(&g, kv->key, &bl) == 0) INVARIANT(kv->type == GGUF_TYPE_BOOL && (bl == 0 || bl == 1), "bool");
        for (uint64_t j = 0; j < kv->n && j < 4; j++) {
            if (kv->type == GGUF_TYPE_FLOAT32 || kv->type == GGUF_TYPE_FLOAT64) (void)gguf_kv_float(kv, j);
            else if (kv->type != GGUF_TYPE_STRING) (void)gguf_kv_int(kv, j);
        }
    }
    const gguf_tensor **order = xmalloc((g.n_tensors + 1) * sizeof *order);
    size_t n_order = 0;
    const unsigned char *data_lo = base + g.data_offset;
    for (size_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor *t = &g.tensors[i];
        size_t nl = strlen(t->name);
        INVARIANT(nl >= 1 && nl <= GGUF_MAX_NAME, "tensor %zu name of %zu bytes", i, nl);
        INVARIANT(gguf_find_tensor(&g, t->name) == t, "find_tensor('%s') gives another tensor", t->name);
        const gguf_tensor_type_info *ti = gguf_tensor_type_get(t->type);
        INVARIANT(ti, "tensor '%s' of unknown type %d", t->name, t->type);
        INVARIANT(t->n_dims >= 0 && t->n_dims <= GGUF_MAX_DIMS, "n_dims %d", t->n_dims);
        uint64_t nelem = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            INVARIANT(t->ne[d] >= 0 && (d < t->n_dims || t->ne[d] == 1), "ne[%d] = %lld", d, (long long)t->ne[d]);
            nelem *= (uint64_t)t->ne[d];
        }
        INVARIANT(nelem == t->nelem && t->ne[0] % ti->block_size == 0, "nelem of '%s'", t->name);
        INVARIANT(t->nbytes == nelem / (uint64_t)ti->block_size * (uint64_t)ti->bytes_per_block, "nbytes of '%s'", t->name);
        INVARIANT(t->offset % g.alignment == 0, "offset of '%s' not aligned", t->name);
        const unsigned char *p = t->data;
        INVARIANT(p == data_lo + t->offset && p >= data_lo && p <= end && t->nbytes <= (size_t)(end - p),
                  "tensor '%s' lies outside the data section", t->name);
        if (t->nbytes) order[n_order++] = t;
    }
    qsort(order, n_order, sizeof *order, by_offset);
    for (size_t i = 1; i < n_order; i++)
        INVARIANT(order[i - 1]->offset + order[i - 1]->nbytes <= order[i]->offset, "tensors '%s' and '%s' overlap",
                  order[i - 1]->name, order[i]->name);
    free(order);
    gguf_close(&g);
    INVARIANT(g.kv == NULL && g.map.data == NULL, "close left the struct set");
    return 0;
}
