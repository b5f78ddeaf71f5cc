// safetensors_read.c: maps a .safetensors file and validates its header into a tensor table.
//
// Every size and offset read from the file is checked (overflow included)
// before it is used, so each st_tensor.data..data+nbytes lies inside the
// mapping and no two tensors share a byte. The header is walked member by member, so
// memory is the tensor table (bounded by ST_MAX_TENSORS) plus one entry's tree (bounded
// by ST_MAX_ENTRY_BYTES), not a tree of the whole header. Does not convert or copy tensor
// data (see dtype_to_f32), accept dtypes other than F32/F16/BF16, or follow
// sharded checkpoints (model.safetensors.index.json).
#include "safetensors.h"
#include "../core/err.h"
#include "../core/strmap.h"
#include "../core/xalloc.h"
#include "json.h"
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

// --- messages

static int bad(const safetensors *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const safetensors *st, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(ERR_FORMAT, "%s: %s", st->path, msg);
}

static const char *json_type_name(json_type t) {
    static const char *names[] = {"null", "boolean", "number", "string", "array", "object"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

// Writes the JSON shape array as "[a, b, c]" into out (truncated if long).
static const char *shape_str(char *out, size_t cap, const json_value *shape) {
    size_t n = (size_t)snprintf(out, cap, "[");
    for (size_t i = 0; i < shape->len && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%" PRId64, i ? ", " : "", shape->items[i].integer);
    if (n < cap) snprintf(out + n, cap - n, "]");
    return out;
}

// --- one header entry

// A non-negative int64 JSON integer, or -1.
static int64_t json_nonneg_int(const json_value *v) {
    return v->type == JSON_NUMBER && v->is_int && v->integer >= 0 ? v->integer : -1;
}

// Fills t (name already set) from the entry v; data_len is the size of the
// data section. On success *begin/*end are the validated data_offsets.
static int parse_entry(const safetensors *st, st_tensor *t, const json_value *v, const unsigned char *data,
                       size_t data_len, size_t *begin, size_t *end) {
    const char *name = t->name;
    if (v->type != JSON_OBJECT)
        return bad(st, "tensor '%s': entry is a JSON %s, not an object", name, json_type_name(v->type));
    const json_value *dt = json_get(v, "dtype"), *shape = json_get(v, "shape"), *offs = json_get(v, "data_offsets");
    if (!dt) return bad(st, "tensor '%s': missing \"dtype\"", name);
    if (!shape) return bad(st, "tensor '%s': missing \"shape\"", name);
    if (!offs) return bad(st, "tensor '%s': missing \"data_offsets\"", name);

    // dtype
    if (dt->type != JSON_STRING)
        return bad(st, "tensor '%s': \"dtype\" is a JSON %s, not a string", name, json_type_name(dt->type));
    int found = 0;
    for (int k = 0; k < DTYPE_COUNT; k++)
        if (dt->len == strlen(dtype_name((dtype)k)) && memcmp(dt->str, dtype_name((dtype)k), dt->len) == 0) {
            t->dtype = (dtype)k;
            found = 1;
        }
    if (!found) return bad(st, "tensor '%s': unknown dtype %s (supported: F32, F16, BF16)", name, dt->str);

    // shape
    if (shape->type != JSON_ARRAY)
        return bad(st, "tensor '%s': \"shape\" is a JSON %s, not an array", name, json_type_name(shape->type));
    if (shape->len > ST_MAX_DIMS)
        return bad(st, "tensor '%s': shape has %zu dims (at most %d supported)", name, shape->len, ST_MAX_DIMS);
    size_t nelem = 1;
    int overflow = 0;
    for (size_t i = 0; i < shape->len; i++) {
        const json_value *d = &shape->items[i];
        if (d->type != JSON_NUMBER || !d->is_int)
            return bad(st, "tensor '%s': shape[%zu] is not an integer", name, i);
        if (d->integer < 0)
            return bad(st, "tensor '%s': shape[%zu] is negative (%" PRId64 ")", name, i, d->integer);
        uint64_t u = (uint64_t)d->integer;
        if ((size_t)u != u || !size_mul_ok(nelem, (size_t)u, &nelem)) overflow = 1;
        t->shape[i] = d->integer;
    }
    t->ndim = (int)shape->len;
    char shape_text[256];
    if (overflow || !size_mul_ok(nelem, dtype_size(t->dtype), &t->nbytes))
        return bad(st, "tensor '%s': shape %s overflows the size of memory", name,
                   shape_str(shape_text, sizeof shape_text, shape));
    t->nelem = nelem;

    // data_offsets
    if (offs->type != JSON_ARRAY || offs->len != 2)
        return bad(st, "tensor '%s': \"data_offsets\" is not [begin, end]", name);
    int64_t b = json_nonneg_int(&offs->items[0]), e = json_nonneg_int(&offs->items[1]);
    if (b < 0 || e < 0) return bad(st, "tensor '%s': \"data_offsets\" are not two non-negative integers", name);
    if (b > e)
        return bad(st, "tensor '%s': data_offsets [%" PRId64 ", %" PRId64 "] have begin after end", name, b, e);
    if ((uint64_t)e > data_len)
        return bad(st, "tensor '%s': data_offsets end %" PRId64 " is beyond the data section (%zu bytes)", name, e,
                   data_len);
    if ((uint64_t)(e - b) != t->nbytes)
        return bad(st, "tensor '%s': shape %s of %s is %zu bytes but data_offsets [%" PRId64 ", %" PRId64 "] hold %" PRId64,
                   name, shape_str(shape_text, sizeof shape_text, shape), dtype_name(t->dtype), t->nbytes, b, e, e - b);
    t->data = data + b;
    *begin = (size_t)b;
    *end = (size_t)e;
    return 0;
}

// --- the whole header

typedef struct {
    size_t begin, end;
    int idx;
} byte_range;

static int byte_range_cmp(const void *a, const void *b) {
    const byte_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->idx - y->idx;
}

// Sorted by begin, a non-empty range overlaps an earlier one exactly when it
// starts before the furthest end seen so far.
static int check_overlaps(const safetensors *st, byte_range *r, int n) {
    if (n < 2) return 0;
    qsort(r, (size_t)n, sizeof *r, byte_range_cmp);
    size_t far_end = 0;
    int far = -1;
    for (int i = 0; i < n; i++) {
        if (r[i].begin == r[i].end) continue;  // an empty tensor owns no bytes
        if (far >= 0 && r[i].begin < r[far].end)
            return bad(st, "tensors '%s' [%zu, %zu) and '%s' [%zu, %zu) overlap in the data section",
                       st->tensors[r[far].idx].name, r[far].begin, r[far].end, st->tensors[r[i].idx].name, r[i].begin,
                       r[i].end);
        if (r[i].end > far_end) {
            far_end = r[i].end;
            far = i;
        }
    }
    return 0;
}

static int check_metadata(const safetensors *st, const json_value *m) {
    if (m->type != JSON_OBJECT)
        return bad(st, "\"__metadata__\" is a JSON %s, not an object", json_type_name(m->type));
    for (size_t i = 0; i < m->len; i++)
        if (m->items[i].type != JSON_STRING)
            return bad(st, "\"__metadata__\" value for \"%s\" is a JSON %s, not a string", m->keys[i],
                       json_type_name(m->items[i].type));
    return 0;
}

// The header is read member by member (json_parse_members): memory is the tensor table
// and one entry's tree, never a tree of the whole header.
typedef struct {
    safetensors *st;
    const char *header;
    size_t header_len;
    const unsigned char *data;
    size_t data_len;
    byte_range *ranges;
    size_t cap;
    int seen_metadata;
} header_walk;

static int on_member(void *ctx, const char *key, size_t key_len, const json_value *v, size_t at) {
    header_walk *w = ctx;
    safetensors *st = w->st;
    if (key_len != strlen(key)) return bad(st, "tensor name \"%s...\" contains a NUL byte", key);
    int is_meta = strcmp(key, "__metadata__") == 0;
    if (is_meta ? w->seen_metadata : strmap_get(&st->index, key, key_len) >= 0)
        return err_set(ERR_FORMAT, "%s: header: invalid JSON at line %d: duplicate key \"%s\"", st->path,
                       json_line_at(w->header, w->header_len, at), key);
    if (is_meta) {
        w->seen_metadata = 1;
        return check_metadata(st, v);
    }
    if (st->n_tensors == ST_MAX_TENSORS)
        return bad(st, "more than %d tensors in the header (the limit)", ST_MAX_TENSORS);
    if ((size_t)st->n_tensors == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        st->tensors = xrealloc(st->tensors, w->cap * sizeof *st->tensors);
        w->ranges = xrealloc(w->ranges, w->cap * sizeof *w->ranges);
    }
    int k = st->n_tensors++;
    st_tensor *t = &st->tensors[k];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(key);
    strmap_put(&st->index, t->name, key_len, k);
    w->ranges[k].idx = k;
    return parse_entry(st, t, v, w->data, w->data_len, &w->ranges[k].begin, &w->ranges[k].end);
}

static int parse_file(safetensors *st) {
    const unsigned char *b = st->map.data;
    size_t flen = st->map.len;
    if (flen < 8)
        return bad(st, "file is %zu bytes, shorter than the 8-byte header length (not a safetensors file?)", flen);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)b[i] << (8 * i);
    // The size limit comes first so a garbage length reads as garbage, not as truncation.
    if (n > ST_MAX_HEADER_BYTES)
        return bad(st, "header length %" PRIu64 " is absurd (limit %llu bytes; not a safetensors file?)", n,
                   ST_MAX_HEADER_BYTES);
    if (n > flen - 8)
        return bad(st, "header length %" PRIu64 " runs past the end of the file (%zu bytes)", n, flen);

    size_t wlen = strlen(st->path) + sizeof ": header";
    char *what = xmalloc(wlen);
    snprintf(what, wlen, "%s: header", st->path);
    header_walk w = {st, (const char *)b + 8, (size_t)n, b + 8 + n, flen - 8 - (size_t)n, NULL, 0, 0};
    strmap_init(&st->index, 0);
    json_type top;
    int rc = json_parse_members((const char *)b + 8, (size_t)n, what, ST_MAX_ENTRY_BYTES, on_member, &w, &top);
    free(what);  // "path: header: invalid JSON at line L: ..." when rc came from the JSON
    if (rc == 0 && top != JSON_OBJECT) rc = bad(st, "header is a JSON %s, not an object", json_type_name(top));
    if (rc == 0) rc = check_overlaps(st, w.ranges, st->n_tensors);
    free(w.ranges);
    return rc;
}

// --- public

int safetensors_open(safetensors *st, const char *path) {
    memset(st, 0, sizeof *st);
    st->path = xstrdup(path);
    int rc = file_map_open(&st->map, path);
    if (rc == 0) rc = parse_file(st);
    if (rc) safetensors_close(st);
    return rc;
}

const st_tensor *safetensors_find(const safetensors *st, const char *name) {
    int i = strmap_get(&st->index, name, strlen(name));
    return i >= 0 ? &st->tensors[i] : NULL;
}

int safetensors_read(const safetensors *st, const st_tensor *t, size_t off, size_t n, void *dst) {
    CHECK(off <= t->nbytes && n <= t->nbytes - off);
    size_t at = (size_t)((const char *)t->data - (const char *)st->map.data);
    return file_map_read(&st->map, st->path, at + off, n, dst);
}

int safetensors_same(const safetensors *a, const st_tensor *ta, const safetensors *b, const st_tensor *tb, int *same) {
    *same = 0;
    if (ta->dtype != tb->dtype || ta->nbytes != tb->nbytes) return 0;
    return file_map_same(&a->map, a->path, (size_t)((const char *)ta->data - (const char *)a->map.data), &b->map, b->path,
                         (size_t)((const char *)tb->data - (const char *)b->map.data), ta->nbytes, same);
}

void safetensors_close(safetensors *st) {
    if (st->tensors)
        for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    strmap_free(&st->index);
    file_map_close(&st->map);
    free(st->path);
    memset(st, 0, sizeof *st);
}
