// gguf_read.c: map and validate a GGUF file; the type tables shared with the writer.
//
// Every length, count and offset comes from a file we do not control, so each is checked
// against the bytes that remain before anything is allocated or read: a count of n items is
// accepted only if n times the smallest item fits in the rest of the file, so allocation stays
// proportional to the file size. Tensor data is never copied: gguf_tensor.data points into the
// read-only mapping. Does not interpret tensor bytes (no dequantization here).
#include "gguf.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include <stdlib.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "gguf_read.c assumes a little-endian host");

// --- type tables

static const size_t kv_type_size[GGUF_TYPE_COUNT] = {
    [GGUF_TYPE_UINT8] = 1, [GGUF_TYPE_INT8] = 1, [GGUF_TYPE_UINT16] = 2, [GGUF_TYPE_INT16] = 2,
    [GGUF_TYPE_UINT32] = 4, [GGUF_TYPE_INT32] = 4, [GGUF_TYPE_FLOAT32] = 4, [GGUF_TYPE_BOOL] = 1,
    [GGUF_TYPE_STRING] = 0, [GGUF_TYPE_ARRAY] = 0, [GGUF_TYPE_UINT64] = 8, [GGUF_TYPE_INT64] = 8,
    [GGUF_TYPE_FLOAT64] = 8,
};
static const char *const kv_type_name[GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64",
};

size_t gguf_type_size(gguf_type t) { return (unsigned)t < GGUF_TYPE_COUNT ? kv_type_size[t] : 0; }
const char *gguf_type_name(gguf_type t) { return (unsigned)t < GGUF_TYPE_COUNT ? kv_type_name[t] : "?"; }

// Block size and bytes per block of each type ggml can store (ggml.c's type_traits; the
// quantized block layouts are in ggml-common.h). Retired ids have no entry.
static const gguf_tensor_type_info tensor_types[GGUF_TENSOR_TYPE_COUNT] = {
    [GGUF_TENSOR_F32] = {"F32", 1, 4},         [GGUF_TENSOR_F16] = {"F16", 1, 2},
    [GGUF_TENSOR_Q4_0] = {"Q4_0", 32, 18},     [GGUF_TENSOR_Q4_1] = {"Q4_1", 32, 20},
    [GGUF_TENSOR_Q5_0] = {"Q5_0", 32, 22},     [GGUF_TENSOR_Q5_1] = {"Q5_1", 32, 24},
    [GGUF_TENSOR_Q8_0] = {"Q8_0", 32, 34},     [GGUF_TENSOR_Q8_1] = {"Q8_1", 32, 36},
    [GGUF_TENSOR_Q2_K] = {"Q2_K", 256, 84},    [GGUF_TENSOR_Q3_K] = {"Q3_K", 256, 110},
    [GGUF_TENSOR_Q4_K] = {"Q4_K", 256, 144},   [GGUF_TENSOR_Q5_K] = {"Q5_K", 256, 176},
    [GGUF_TENSOR_Q6_K] = {"Q6_K", 256, 210},   [GGUF_TENSOR_Q8_K] = {"Q8_K", 256, 292},
    [GGUF_TENSOR_IQ2_XXS] = {"IQ2_XXS", 256, 66}, [GGUF_TENSOR_IQ2_XS] = {"IQ2_XS", 256, 74},
    [GGUF_TENSOR_IQ3_XXS] = {"IQ3_XXS", 256, 98}, [GGUF_TENSOR_IQ1_S] = {"IQ1_S", 256, 50},
    [GGUF_TENSOR_IQ4_NL] = {"IQ4_NL", 32, 18},    [GGUF_TENSOR_IQ3_S] = {"IQ3_S", 256, 110},
    [GGUF_TENSOR_IQ2_S] = {"IQ2_S", 256, 82},     [GGUF_TENSOR_IQ4_XS] = {"IQ4_XS", 256, 136},
    [GGUF_TENSOR_I8] = {"I8", 1, 1},           [GGUF_TENSOR_I16] = {"I16", 1, 2},
    [GGUF_TENSOR_I32] = {"I32", 1, 4},         [GGUF_TENSOR_I64] = {"I64", 1, 8},
    [GGUF_TENSOR_F64] = {"F64", 1, 8},         [GGUF_TENSOR_IQ1_M] = {"IQ1_M", 256, 56},
    [GGUF_TENSOR_BF16] = {"BF16", 1, 2},       [GGUF_TENSOR_TQ1_0] = {"TQ1_0", 256, 54},
    [GGUF_TENSOR_TQ2_0] = {"TQ2_0", 256, 66},
};

const gguf_tensor_type_info *gguf_tensor_type_get(uint32_t t) {
    if (t >= GGUF_TENSOR_TYPE_COUNT || tensor_types[t].block_size == 0) return NULL;
    return &tensor_types[t];
}

// --- a bounds-checked cursor over the mapping

typedef struct {
    const unsigned char *p;
    size_t len, pos;
    const char *path;
} cursor;

static size_t cur_left(const cursor *c) { return c->len - c->pos; }

static int cur_read(cursor *c, void *dst, size_t n, const char *what) {
    if (cur_left(c) < n)
        return err_set(ERR_FORMAT, "%s: file truncated: %s at byte %zu needs %zu bytes, only %zu left", c->path, what,
                       c->pos, n, cur_left(c));
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return 0;
}

// Reads a GGUF string into a new NUL-terminated buffer; the length is checked before allocating.
static int cur_string(cursor *c, char **out, uint64_t *len_out, const char *what) {
    uint64_t len;
    int rc = cur_read(c, &len, 8, what);
    if (rc) return rc;
    if (len > cur_left(c))
        return err_set(ERR_FORMAT, "%s: %s at byte %zu has length %llu, past the end of the file (%zu bytes left)",
                       c->path, what, c->pos - 8, (unsigned long long)len, cur_left(c));
    char *s = xmalloc((size_t)len + 1);
    memcpy(s, c->p + c->pos, (size_t)len);
    s[len] = 0;
    c->pos += (size_t)len;
    *out = s;
    if (len_out) *len_out = len;
    return 0;
}

// --- KV pairs

static void kv_free(gguf_kv *kv) {
    free(kv->key);
    if (kv->str && kv->n) free(kv->str[0]);  // one block holds all the strings of a value
    free(kv->str);
    free(kv->str_len);
    memset(kv, 0, sizeof *kv);
}

static int read_kv(cursor *c, gguf_kv *kv, size_t index) {
    char what[64];
    snprintf(what, sizeof what, "key of KV pair %zu", index);
    uint64_t klen;
    int rc = cur_string(c, &kv->key, &klen, what);
    if (rc) return rc;
    if (klen == 0) return err_set(ERR_FORMAT, "%s: KV pair %zu has an empty key", c->path, index);
    if (strlen(kv->key) != klen) return err_set(ERR_FORMAT, "%s: KV pair %zu: key contains a NUL byte", c->path, index);

    int32_t type;
    if ((rc = cur_read(c, &type, 4, "KV value type"))) return rc;
    kv->n = 1;
    if (type == GGUF_TYPE_ARRAY) {
        kv->is_array = 1;
        if ((rc = cur_read(c, &type, 4, "array element type"))) return rc;
        if ((rc = cur_read(c, &kv->n, 8, "array length"))) return rc;
        if (type == GGUF_TYPE_ARRAY)
            return err_set(ERR_FORMAT, "%s: key '%s' is an array of arrays, which ggml does not support", c->path, kv->key);
    }
    if (type < 0 || type >= GGUF_TYPE_COUNT)
        return err_set(ERR_FORMAT, "%s: key '%s' has unknown value type %d (known: 0..%d)", c->path, kv->key, (int)type,
                       GGUF_TYPE_COUNT - 1);
    kv->type = (gguf_type)type;

    if (kv->type == GGUF_TYPE_STRING) {
        // Each string takes at least its 8-byte length: bound n before allocating the tables.
        if (kv->n > cur_left(c) / 8)
            return err_set(ERR_FORMAT, "%s: key '%s' claims %llu strings, more than the %zu bytes left can hold", c->path,
                           kv->key, (unsigned long long)kv->n, cur_left(c));
        // First pass: every length checked, the total measured; then one block for all of
        // them (per string: its bytes, a NUL, a pointer and a length).
        snprintf(what, sizeof what, "a string value of key #%zu", index);
        size_t start = c->pos, total = 0;
        for (uint64_t i = 0; i < kv->n; i++) {
            uint64_t len;
            if ((rc = cur_read(c, &len, 8, what))) return rc;
            if (len > cur_left(c))
                return err_set(ERR_FORMAT, "%s: %s at byte %zu has length %llu, past the end of the file (%zu bytes left)",
                               c->path, what, c->pos - 8, (unsigned long long)len, cur_left(c));
            c->pos += (size_t)len;
            total += (size_t)len + 1;
        }
        c->pos = start;
        size_t n = (size_t)kv->n;
        kv->str = xcalloc(n ? n : 1, sizeof *kv->str);
        kv->str_len = xcalloc(n ? n : 1, sizeof *kv->str_len);
        char *pool = n ? xmalloc(total) : NULL;
        for (size_t i = 0; i < n; i++) {
            uint64_t len;
            memcpy(&len, c->p + c->pos, 8);
            c->pos += 8;
            memcpy(pool, c->p + c->pos, (size_t)len);
            pool[len] = 0;
            kv->str[i] = pool;
            kv->str_len[i] = len;
            pool += len + 1;
            c->pos += (size_t)len;
        }
        return 0;
    }
    size_t es = kv_type_size[kv->type];
    if (kv->n > cur_left(c) / es)
        return err_set(ERR_FORMAT, "%s: key '%s' holds %llu values of %zu bytes, past the end of the file (%zu bytes left)",
                       c->path, kv->key, (unsigned long long)kv->n, es, cur_left(c));
    kv->data = c->p + c->pos;
    c->pos += (size_t)kv->n * es;
    return 0;
}

// --- duplicate detection (sort pointers to names, compare neighbours: O(n log n) on hostile counts)

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const char *first_duplicate(char **names, size_t n) {
    if (n < 2) return NULL;
    qsort(names, n, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    return NULL;
}

typedef struct {
    uint64_t offset;
    size_t nbytes, index;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

// --- tensor infos

static int read_tensor_info(cursor *c, gguf_tensor *t, size_t index) {
    char what[64];
    snprintf(what, sizeof what, "name of tensor %zu", index);
    uint64_t nlen;
    int rc = cur_string(c, &t->name, &nlen, what);
    if (rc) return rc;
    if (nlen == 0) return err_set(ERR_FORMAT, "%s: tensor %zu has an empty name", c->path, index);
    if (strlen(t->name) != nlen) return err_set(ERR_FORMAT, "%s: tensor %zu: name contains a NUL byte", c->path, index);
    if (nlen > GGUF_MAX_NAME)
        return err_set(ERR_FORMAT, "%s: tensor %zu: name is %llu bytes, longer than ggml's limit of %d", c->path, index,
                       (unsigned long long)nlen, GGUF_MAX_NAME);

    uint32_t n_dims;
    if ((rc = cur_read(c, &n_dims, 4, "tensor dimension count"))) return rc;
    if (n_dims > GGUF_MAX_DIMS)
        return err_set(ERR_FORMAT, "%s: tensor '%s' has %u dimensions, more than %d", c->path, t->name, n_dims, GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    uint64_t nelem = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims) continue;
        if ((rc = cur_read(c, &t->ne[d], 8, "tensor dimension"))) return rc;
        if (t->ne[d] < 0)
            return err_set(ERR_FORMAT, "%s: tensor '%s' has negative dimension ne[%d] = %lld", c->path, t->name, d,
                           (long long)t->ne[d]);
        if (__builtin_mul_overflow(nelem, (uint64_t)t->ne[d], &nelem) || nelem > (uint64_t)INT64_MAX)
            return err_set(ERR_FORMAT, "%s: tensor '%s': the product of its dimensions overflows", c->path, t->name);
    }
    t->nelem = nelem;

    uint32_t type;
    if ((rc = cur_read(c, &type, 4, "tensor type"))) return rc;
    const gguf_tensor_type_info *ti = gguf_tensor_type_get(type);
    if (!ti) return err_set(ERR_FORMAT, "%s: tensor '%s' has unknown ggml type %u", c->path, t->name, type);
    t->type = (gguf_tensor_type)type;
    if (t->ne[0] % ti->block_size != 0)
        return err_set(ERR_FORMAT, "%s: tensor '%s' of type %s has %lld elements per row, not a multiple of the block size %d",
                       c->path, t->name, ti->name, (long long)t->ne[0], ti->block_size);
    uint64_t nbytes = nelem / (uint64_t)ti->block_size;
    if (__builtin_mul_overflow(nbytes, (uint64_t)ti->bytes_per_block, &nbytes) || nbytes > SIZE_MAX)
        return err_set(ERR_FORMAT, "%s: tensor '%s': byte size overflows", c->path, t->name);
    t->nbytes = (size_t)nbytes;
    return cur_read(c, &t->offset, 8, "tensor data offset");
}

// --- open / close

int gguf_open(gguf_file *g, const char *path) {
    memset(g, 0, sizeof *g);
    int rc = file_map_open(&g->map, path);
    if (rc) return rc;
    g->path = xstrdup(path);
    cursor c = {g->map.data, g->map.len, 0, g->path};
    char **names = NULL;
    span *order = NULL;

    if (g->map.len < 24) {
        rc = err_set(ERR_FORMAT, "%s: file is %zu bytes, too short for a GGUF header (24 bytes)", path, g->map.len);
        goto fail;
    }
    if (memcmp(c.p, "GGUF", 4) != 0) {
        rc = err_set(ERR_FORMAT, "%s: not a GGUF file (starts with bytes %02x %02x %02x %02x, expected \"GGUF\")", path,
                     c.p[0], c.p[1], c.p[2], c.p[3]);
        goto fail;
    }
    c.pos = 4;
    cur_read(&c, &g->version, 4, "version");
    if (g->version != 2 && g->version != 3) {
        if (g->version == 0x03000000u || g->version == 0x02000000u)
            rc = err_set(ERR_FORMAT, "%s: big-endian GGUF files are not supported", path);
        else if (g->version == 1)
            rc = err_set(ERR_FORMAT, "%s: GGUF version 1 is not supported (only 2 and 3); re-convert with a current llama.cpp", path);
        else
            rc = err_set(ERR_FORMAT, "%s: GGUF version %u is not supported (only 2 and 3)", path, g->version);
        goto fail;
    }
    uint64_t n_tensors, n_kv;
    cur_read(&c, &n_tensors, 8, "tensor count");
    cur_read(&c, &n_kv, 8, "KV count");
    // Smallest KV: 8-byte key length, 1-byte key, 4-byte type, 1-byte value. Smallest tensor
    // info: 8-byte name length, 1-byte name, 4-byte n_dims, 4-byte type, 8-byte offset.
    if (n_kv > GGUF_MAX_KV) {
        rc = err_set(ERR_FORMAT, "%s: header claims %llu KV pairs, more than the limit of %d", path, (unsigned long long)n_kv,
                     GGUF_MAX_KV);
        goto fail;
    }
    if (n_tensors > GGUF_MAX_TENSORS) {
        rc = err_set(ERR_FORMAT, "%s: header claims %llu tensors, more than the limit of %d", path,
                     (unsigned long long)n_tensors, GGUF_MAX_TENSORS);
        goto fail;
    }
    if (n_kv > cur_left(&c) / 14) {
        rc = err_set(ERR_FORMAT, "%s: header claims %llu KV pairs, more than the file's %zu bytes can hold", path,
                     (unsigned long long)n_kv, g->map.len);
        goto fail;
    }
    if (n_tensors > cur_left(&c) / 25) {
        rc = err_set(ERR_FORMAT, "%s: header claims %llu tensors, more than the file's %zu bytes can hold", path,
                     (unsigned long long)n_tensors, g->map.len);
        goto fail;
    }

    g->kv = xcalloc((size_t)n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    for (size_t i = 0; i < n_kv; i++) {
        g->n_kv = i + 1;  // so gguf_close frees a half-read pair
        if ((rc = read_kv(&c, &g->kv[i], i))) goto fail;
    }
    names = xmalloc(((size_t)n_kv + (size_t)n_tensors + 1) * sizeof *names);
    for (size_t i = 0; i < g->n_kv; i++) names[i] = g->kv[i].key;
    const char *dup = first_duplicate(names, g->n_kv);
    if (dup) {
        rc = err_set(ERR_FORMAT, "%s: key '%s' appears twice", path, dup);
        goto fail;
    }

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *al = gguf_find_kv(g, "general.alignment");
    if (al) {
        uint32_t a = 0;
        if (al->is_array || al->type != GGUF_TYPE_UINT32) {
            rc = err_set(ERR_FORMAT, "%s: general.alignment must be a u32, not %s%s", path, al->is_array ? "an array of " : "",
                         gguf_type_name(al->type));
            goto fail;
        }
        memcpy(&a, al->data, 4);
        if (a == 0 || (a & (a - 1)) != 0) {
            rc = err_set(ERR_FORMAT, "%s: general.alignment is %u, not a power of two", path, a);
            goto fail;
        }
        g->alignment = a;
    }

    g->tensors = xcalloc((size_t)n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    for (size_t i = 0; i < n_tensors; i++) {
        g->n_tensors = i + 1;
        if ((rc = read_tensor_info(&c, &g->tensors[i], i))) goto fail;
    }
    for (size_t i = 0; i < g->n_tensors; i++) names[i] = g->tensors[i].name;
    if ((dup = first_duplicate(names, g->n_tensors))) {
        rc = err_set(ERR_FORMAT, "%s: tensor '%s' appears twice", path, dup);
        goto fail;
    }

    // The data section starts at the next multiple of the alignment after the tensor infos.
    size_t data_off = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors > 0 && data_off > g->map.len) {
        rc = err_set(ERR_FORMAT, "%s: file truncated: the data section would start at byte %zu, past the end (%zu bytes)",
                     path, data_off, g->map.len);
        goto fail;
    }
    g->data_offset = data_off;
    size_t data_len = data_off <= g->map.len ? g->map.len - data_off : 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0) {
            rc = err_set(ERR_FORMAT, "%s: tensor '%s' has offset %llu, not a multiple of the alignment %u", path, t->name,
                         (unsigned long long)t->offset, g->alignment);
            goto fail;
        }
        if (t->offset > data_len || t->nbytes > data_len - t->offset) {
            rc = err_set(ERR_FORMAT, "%s: tensor '%s' (%zu bytes at data offset %llu) extends past the end of the file "
                         "(data section is %zu bytes)", path, t->name, t->nbytes, (unsigned long long)t->offset, data_len);
            goto fail;
        }
        t->data = (const unsigned char *)g->map.data + data_off + t->offset;
    }
    // No two tensors may share bytes (empty tensors take none).
    order = xmalloc(((size_t)g->n_tensors + 1) * sizeof *order);
    size_t n_spans = 0;
    for (size_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].nbytes) order[n_spans++] = (span){g->tensors[i].offset, g->tensors[i].nbytes, i};
    qsort(order, n_spans, sizeof *order, cmp_span);
    for (size_t k = 1; k < n_spans; k++) {
        if (order[k - 1].offset + order[k - 1].nbytes > order[k].offset) {
            rc = err_set(ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data section", path,
                         g->tensors[order[k - 1].index].name, g->tensors[order[k].index].name);
            goto fail;
        }
    }
    free(names);
    free(order);
    return 0;

fail:
    free(names);
    free(order);
    gguf_close(g);
    return rc ? rc : ERR_FORMAT;
}

void gguf_close(gguf_file *g) {
    for (size_t i = 0; i < g->n_kv; i++) kv_free(&g->kv[i]);
    free(g->kv);
    for (size_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->tensors);
    file_map_close(&g->map);
    free(g->path);
    memset(g, 0, sizeof *g);
}

// --- lookups

const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key) {
    for (size_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name) {
    for (size_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

int64_t gguf_kv_int(const gguf_kv *kv, uint64_t i) {
    const unsigned char *p = kv->data + i * kv_type_size[kv->type];
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: { uint8_t v; memcpy(&v, p, 1); return v; }
    case GGUF_TYPE_INT8: { int8_t v; memcpy(&v, p, 1); return v; }
    case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case GGUF_TYPE_UINT64: { uint64_t v; memcpy(&v, p, 8); return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v; }
    case GGUF_TYPE_INT64: { int64_t v; memcpy(&v, p, 8); return v; }
    default: CHECK(!"gguf_kv_int on a non-integer value"); return 0;
    }
}

double gguf_kv_float(const gguf_kv *kv, uint64_t i) {
    const unsigned char *p = kv->data + i * kv_type_size[kv->type];
    if (kv->type == GGUF_TYPE_FLOAT32) { float v; memcpy(&v, p, 4); return v; }
    CHECK(kv->type == GGUF_TYPE_FLOAT64);
    double v;
    memcpy(&v, p, 8);
    return v;
}

static const gguf_kv *find_scalar(const gguf_file *g, const char *key, int *rc) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    *rc = 0;
    if (!kv) *rc = err_set(ERR_FORMAT, "%s: missing key '%s'", g->path, key);
    else if (kv->is_array)
        *rc = err_set(ERR_FORMAT, "%s: key '%s' is an array of %s, expected a single value", g->path, key,
                      gguf_type_name(kv->type));
    return *rc ? NULL : kv;
}

static int type_error(const gguf_file *g, const gguf_kv *kv, const char *want) {
    return err_set(ERR_FORMAT, "%s: key '%s' has type %s, expected %s", g->path, kv->key, gguf_type_name(kv->type), want);
}

int gguf_get_int(const gguf_file *g, const char *key, int64_t *out) {
    int rc;
    const gguf_kv *kv = find_scalar(g, key, &rc);
    if (!kv) return rc;
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        *out = gguf_kv_int(kv, 0);
        return 0;
    case GGUF_TYPE_UINT64: {
        uint64_t v;
        memcpy(&v, kv->data, 8);
        if (v > (uint64_t)INT64_MAX)
            return err_set(ERR_FORMAT, "%s: key '%s' is %llu, too large", g->path, key, (unsigned long long)v);
        *out = (int64_t)v;
        return 0;
    }
    default: return type_error(g, kv, "an integer");
    }
}

int gguf_get_f32(const gguf_file *g, const char *key, float *out) {
    int rc;
    const gguf_kv *kv = find_scalar(g, key, &rc);
    if (!kv) return rc;
    if (kv->type != GGUF_TYPE_FLOAT32 && kv->type != GGUF_TYPE_FLOAT64) return type_error(g, kv, "f32");
    *out = (float)gguf_kv_float(kv, 0);
    return 0;
}

int gguf_get_bool(const gguf_file *g, const char *key, int *out) {
    int rc;
    const gguf_kv *kv = find_scalar(g, key, &rc);
    if (!kv) return rc;
    if (kv->type != GGUF_TYPE_BOOL) return type_error(g, kv, "bool");
    *out = kv->data[0] != 0;
    return 0;
}

int gguf_try_int(const gguf_file *g, const char *key, int64_t *out) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv || kv->is_array) return 0;
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64: case GGUF_TYPE_UINT64: {
        uint64_t u;
        if (kv->type == GGUF_TYPE_UINT64 && (memcpy(&u, kv->data, 8), u > (uint64_t)INT64_MAX)) return 0;
        *out = gguf_kv_int(kv, 0);
        return 1;
    }
    default: return 0;
    }
}

int gguf_try_str(const gguf_file *g, const char *key, const char **out, size_t *len) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv || kv->is_array || kv->type != GGUF_TYPE_STRING) return 0;
    *out = kv->str[0];
    if (len) *len = (size_t)kv->str_len[0];
    return 1;
}

int gguf_get_str(const gguf_file *g, const char *key, const char **out, size_t *len) {
    int rc;
    const gguf_kv *kv = find_scalar(g, key, &rc);
    if (!kv) return rc;
    if (kv->type != GGUF_TYPE_STRING) return type_error(g, kv, "str");
    *out = kv->str[0];
    if (len) *len = (size_t)kv->str_len[0];
    return 0;
}
