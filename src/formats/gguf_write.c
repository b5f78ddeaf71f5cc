// gguf_write.c: build and write a GGUF v3 file (see gguf.h for the layout).
//
// KV pairs are serialized into a buffer as they are added; tensors are only described (their
// data is borrowed) until gguf_writer_write lays them out the way ggml's own writer does: each
// at the next multiple of the alignment, zero padding after each one, including the last.
// Tensor bytes are written as given (or as a caller's fill makes them when written): the writer
// never converts or quantizes.
#include "gguf.h"
#include "../core/err.h"
#include "../core/progress.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "gguf_write.c assumes a little-endian host");

void gguf_writer_init(gguf_writer *w) {
    memset(w, 0, sizeof *w);
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
}

void gguf_writer_free(gguf_writer *w) {
    for (size_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w->kv_buf);
    memset(w, 0, sizeof *w);
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
}

// --- KV serialization

static int fail(gguf_writer *w, int rc) {
    if (!w->err) w->err = rc;
    return rc;
}

static void put(gguf_writer *w, const void *p, size_t n) {
    if (w->kv_cap - w->kv_len < n) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap - w->kv_len < n) {
            CHECK(cap <= SIZE_MAX / 2);
            cap *= 2;
        }
        w->kv_buf = xrealloc(w->kv_buf, cap);
        w->kv_cap = cap;
    }
    if (n) memcpy(w->kv_buf + w->kv_len, p, n);
    w->kv_len += n;
}

static void put_str(gguf_writer *w, const char *s, size_t len) {
    uint64_t n = len;
    put(w, &n, 8);
    put(w, s, len);
}

// Checks the key, writes it and the type header; returns 0 or the (sticky) error.
static int begin_kv(gguf_writer *w, const char *key, gguf_type type, int is_array, uint64_t n) {
    if (w->err) return w->err;
    if (!key || !*key) return fail(w, err_set(ERR_ARG, "gguf writer: empty KV key"));
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0) return fail(w, err_set(ERR_ARG, "gguf writer: key '%s' added twice", key));
    w->keys = xrealloc(w->keys, (w->n_kv + 1) * sizeof *w->keys);
    w->keys[w->n_kv++] = xstrdup(key);
    put_str(w, key, strlen(key));
    int32_t t = is_array ? GGUF_TYPE_ARRAY : (int32_t)type;
    put(w, &t, 4);
    if (is_array) {
        t = (int32_t)type;
        put(w, &t, 4);
        put(w, &n, 8);
    }
    return 0;
}

static int add_fixed(gguf_writer *w, const char *key, gguf_type type, const void *v, size_t n, int is_array) {
    if (w->err) return w->err;
    size_t es = gguf_type_size(type);
    if (es == 0) return fail(w, err_set(ERR_ARG, "gguf writer: key '%s': type %d is not a fixed-size type", key ? key : "", (int)type));
    size_t bytes;
    if (!size_mul_ok(es, n, &bytes)) return fail(w, err_set(ERR_ARG, "gguf writer: key '%s': array too large", key));
    if (!v && bytes) return fail(w, err_set(ERR_ARG, "gguf writer: key '%s': NULL values", key));
    if (key && strcmp(key, "general.alignment") == 0) {
        uint32_t a = 0;
        if (is_array || type != GGUF_TYPE_UINT32)
            return fail(w, err_set(ERR_ARG, "gguf writer: general.alignment must be a single u32"));
        memcpy(&a, v, 4);
        if (a == 0 || (a & (a - 1)) != 0)
            return fail(w, err_set(ERR_ARG, "gguf writer: general.alignment %u is not a power of two", a));
        if (begin_kv(w, key, type, 0, 1)) return w->err;
        w->alignment = a;
        put(w, v, 4);
        return 0;
    }
    if (begin_kv(w, key, type, is_array, n)) return w->err;
    if (type == GGUF_TYPE_BOOL) {  // normalize to 0/1 bytes
        for (size_t i = 0; i < n; i++) {
            uint8_t b = ((const uint8_t *)v)[i] != 0;
            put(w, &b, 1);
        }
    } else {
        put(w, v, bytes);
    }
    return 0;
}

int gguf_writer_add_val(gguf_writer *w, const char *key, gguf_type type, const void *v) {
    return add_fixed(w, key, type, v, 1, 0);
}
int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_type type, const void *v, size_t n) {
    return add_fixed(w, key, type, v, n, 1);
}
int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v) { return add_fixed(w, key, GGUF_TYPE_UINT32, &v, 1, 0); }
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v) { return add_fixed(w, key, GGUF_TYPE_INT32, &v, 1, 0); }
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v) { return add_fixed(w, key, GGUF_TYPE_UINT64, &v, 1, 0); }
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v) { return add_fixed(w, key, GGUF_TYPE_FLOAT32, &v, 1, 0); }
int gguf_writer_add_bool(gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    return add_fixed(w, key, GGUF_TYPE_BOOL, &b, 1, 0);
}
int gguf_writer_add_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n) {
    return add_fixed(w, key, GGUF_TYPE_INT32, v, n, 1);
}

int gguf_writer_add_str(gguf_writer *w, const char *key, const char *s) {
    if (w->err) return w->err;
    if (!s) return fail(w, err_set(ERR_ARG, "gguf writer: key '%s': NULL string", key ? key : ""));
    if (begin_kv(w, key, GGUF_TYPE_STRING, 0, 1)) return w->err;
    put_str(w, s, strlen(s));
    return 0;
}

int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *s, const size_t *lens, size_t n) {
    if (w->err) return w->err;
    for (size_t i = 0; i < n; i++)
        if (!s[i]) return fail(w, err_set(ERR_ARG, "gguf writer: key '%s': string %zu is NULL", key ? key : "", i));
    if (begin_kv(w, key, GGUF_TYPE_STRING, 1, n)) return w->err;
    for (size_t i = 0; i < n; i++) put_str(w, s[i], lens ? lens[i] : strlen(s[i]));
    return 0;
}

// --- tensors

static int add_tensor(gguf_writer *w, const char *name, gguf_tensor_type type, int n_dims, const int64_t *ne,
                      const void *data, void (*fill)(void *, void *), void *fill_user) {
    if (w->err) return w->err;
    size_t nlen = name ? strlen(name) : 0;
    if (nlen == 0 || nlen > GGUF_MAX_NAME)
        return fail(w, err_set(ERR_ARG, "gguf writer: tensor name '%s' must be 1..%d bytes", name ? name : "", GGUF_MAX_NAME));
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return fail(w, err_set(ERR_ARG, "gguf writer: tensor '%s' added twice", name));
    const gguf_tensor_type_info *ti = gguf_tensor_type_get((uint32_t)type);
    if (!ti) return fail(w, err_set(ERR_ARG, "gguf writer: tensor '%s': unknown ggml type %d", name, (int)type));
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return fail(w, err_set(ERR_ARG, "gguf writer: tensor '%s': %d dimensions, expected 1..%d", name, n_dims, GGUF_MAX_DIMS));
    gguf_write_tensor t = {0};
    uint64_t nelem = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 0 || __builtin_mul_overflow(nelem, (uint64_t)t.ne[d], &nelem) || nelem > (uint64_t)INT64_MAX)
            return fail(w, err_set(ERR_ARG, "gguf writer: tensor '%s': bad dimension ne[%d] = %lld", name, d, (long long)t.ne[d]));
    }
    if (t.ne[0] % ti->block_size != 0)
        return fail(w, err_set(ERR_ARG, "gguf writer: tensor '%s': ne[0] = %lld is not a multiple of %s's block size %d",
                               name, (long long)t.ne[0], ti->name, ti->block_size));
    uint64_t nbytes = nelem / (uint64_t)ti->block_size;
    if (__builtin_mul_overflow(nbytes, (uint64_t)ti->bytes_per_block, &nbytes) || nbytes > SIZE_MAX / 2)
        return fail(w, err_set(ERR_ARG, "gguf writer: tensor '%s': size overflows", name));
    if (!data && !fill && nbytes) return fail(w, err_set(ERR_ARG, "gguf writer: tensor '%s': NULL data", name));
    t.name = xstrdup(name);
    t.type = type;
    t.n_dims = n_dims;
    t.data = data;
    t.nbytes = (size_t)nbytes;
    t.fill = fill, t.fill_user = fill_user;
    if (w->n_tensors == w->cap_tensors) {
        w->cap_tensors = w->cap_tensors ? 2 * w->cap_tensors : 64;
        w->tensors = xrealloc(w->tensors, w->cap_tensors * sizeof *w->tensors);
    }
    w->tensors[w->n_tensors++] = t;
    return 0;
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, gguf_tensor_type type, int n_dims,
                           const int64_t *ne, const void *data) {
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL);
}

int gguf_writer_add_tensor_filled(gguf_writer *w, const char *name, gguf_tensor_type type, int n_dims,
                                  const int64_t *ne, void (*fill)(void *user, void *dst), void *user) {
    if (!fill) return fail(w, err_set(ERR_ARG, "gguf writer: tensor '%s': NULL fill", name ? name : ""));
    return add_tensor(w, name, type, n_dims, ne, NULL, fill, user);
}

// --- the file

static size_t pad_to(size_t n, size_t a) { return (n + a - 1) / a * a; }

static int fwrite_all(atomic_file *af, const void *p, size_t n, const char *path) {
    if (n && fwrite(p, 1, n, af->f) != n) return err_set(ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

static int write_zeros(atomic_file *af, size_t n, const char *path) {
    static const unsigned char zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        int rc = fwrite_all(af, zeros, k, path);
        if (rc) return rc;
        n -= k;
    }
    return 0;
}

int gguf_writer_write(gguf_writer *w, const char *path) {
    if (w->err) return w->err;
    // Tensor infos, with offsets from the data layout.
    gguf_writer info = {0};  // reuse the byte buffer helpers; only kv_buf is used
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const gguf_write_tensor *t = &w->tensors[i];
        put_str(&info, t->name, strlen(t->name));
        uint32_t nd = (uint32_t)t->n_dims;
        put(&info, &nd, 4);
        put(&info, t->ne, (size_t)t->n_dims * 8);
        int32_t type = (int32_t)t->type;
        put(&info, &type, 4);
        put(&info, &offset, 8);
        offset += pad_to(t->nbytes, w->alignment);
    }
    uint32_t version = GGUF_VERSION;
    uint64_t n_tensors = w->n_tensors, n_kv = w->n_kv;
    size_t header = 4 + 4 + 8 + 8 + w->kv_len + info.kv_len;

    atomic_file af;
    int rc = atomic_file_open(&af, path);
    if (rc) {
        free(info.kv_buf);
        return rc;
    }
    rc = fwrite_all(&af, "GGUF", 4, path);
    if (!rc) rc = fwrite_all(&af, &version, 4, path);
    if (!rc) rc = fwrite_all(&af, &n_tensors, 8, path);
    if (!rc) rc = fwrite_all(&af, &n_kv, 8, path);
    if (!rc) rc = fwrite_all(&af, w->kv_buf, w->kv_len, path);
    if (!rc) rc = fwrite_all(&af, info.kv_buf, info.kv_len, path);
    if (!rc) rc = write_zeros(&af, pad_to(header, w->alignment) - header, path);
    double t0 = timer_now();
    size_t done = 0, mb_total = (size_t)(offset >> 20);
    for (size_t i = 0; i < w->n_tensors && !rc; i++) {
        const gguf_write_tensor *t = &w->tensors[i];
        void *buf = t->fill && t->nbytes ? xmalloc(t->nbytes) : NULL;
        if (buf) t->fill(t->fill_user, buf);
        rc = fwrite_all(&af, buf ? buf : t->data, t->nbytes, path);
        free(buf);
        if (!rc) rc = write_zeros(&af, pad_to(t->nbytes, w->alignment) - t->nbytes, path);
        done += pad_to(t->nbytes, w->alignment);
        progress_note("write: MB", (int)(done >> 20), (int)mb_total, t0);
    }
    free(info.kv_buf);
    if (rc) {
        atomic_file_abort(&af);
        return rc;
    }
    return atomic_file_commit(&af);
}
