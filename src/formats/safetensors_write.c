// safetensors_write.c: writes tensors to a .safetensors file atomically.
//
// The header is built in memory (metadata first, then the tensors in the
// caller's order with contiguous data_offsets), padded with spaces to a
// multiple of 8, and written with the data through atomic_file (path.tmp,
// fsync, rename). Tensor bytes are written as given: the caller supplies
// little-endian data. Does not reorder, convert or align individual tensors.
#include "safetensors.h"
#include "../core/bytes.h"
#include "../core/err.h"
#include "../core/progress.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "json.h"
#include <errno.h>
#include <inttypes.h>
#include <string.h>

// --- checks on the caller's tensors

// 1 if the NUL-terminated s is well-formed UTF-8 (RFC 3629: no overlongs,
// surrogates or code points above U+10FFFF).
static int utf8_valid(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        if (c < 0x80) { s++; continue; }
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) k = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            k = 3;
            if (c == 0xE0) lo = 0xA0;
            else if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 4;
            if (c == 0xF0) lo = 0x90;
            else if (c == 0xF4) hi = 0x8F;
        } else return 0;
        if (s[1] < lo || s[1] > hi) return 0;  // a NUL here fails too, so nothing past the end is read
        for (size_t i = 2; i < k; i++)
            if (s[i] < 0x80 || s[i] > 0xBF) return 0;
        s += k;
    }
    return 1;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Validates tensor i and returns its byte size in *nbytes.
static int check_tensor(const char *path, const st_write_tensor *t, int i, size_t *nbytes, int need_data) {
    if (!t->name) return err_set(ERR_ARG, "%s: tensor %d has no name", path, i);
    if (!utf8_valid(t->name)) return err_set(ERR_ARG, "%s: tensor %d: name is not valid UTF-8", path, i);
    if (strcmp(t->name, "__metadata__") == 0)
        return err_set(ERR_ARG, "%s: tensor %d: the name \"__metadata__\" is reserved", path, i);
    if ((unsigned)t->dtype >= DTYPE_COUNT)
        return err_set(ERR_ARG, "%s: tensor '%s': invalid dtype %d", path, t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
        return err_set(ERR_ARG, "%s: tensor '%s': ndim %d is outside 0..%d", path, t->name, t->ndim, ST_MAX_DIMS);
    size_t n = dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0)
            return err_set(ERR_ARG, "%s: tensor '%s': shape[%d] is negative (%" PRId64 ")", path, t->name, d,
                           t->shape[d]);
        uint64_t u = (uint64_t)t->shape[d];
        if ((size_t)u != u || !size_mul_ok(n, (size_t)u, &n))
            return err_set(ERR_ARG, "%s: tensor '%s': shape overflows the size of memory", path, t->name);
    }
    if (n > 0 && !t->data && need_data) return err_set(ERR_ARG, "%s: tensor '%s': data is NULL", path, t->name);
    *nbytes = n;
    return 0;
}

// Appends "__metadata__":{...} from metadata_json (NULL: {"format":"pt"}).
static int put_metadata(sbuf *h, const char *path, const char *metadata_json) {
    sbuf_puts(h, "\"__metadata__\":");
    if (!metadata_json) {
        sbuf_puts(h, "{\"format\":\"pt\"}");
        return 0;
    }
    size_t wlen = strlen(path) + sizeof ": metadata";
    char *what = xmalloc(wlen);
    snprintf(what, wlen, "%s: metadata", path);
    json_value m;
    int rc = json_parse(&m, metadata_json, strlen(metadata_json), what);
    free(what);
    if (rc) return rc;
    if (m.type != JSON_OBJECT) rc = err_set(ERR_ARG, "%s: metadata is not a JSON object", path);
    for (size_t i = 0; rc == 0 && i < m.len; i++)
        if (m.items[i].type != JSON_STRING)
            rc = err_set(ERR_ARG, "%s: metadata value for \"%s\" is not a string", path, m.keys[i]);
    if (rc == 0) {
        sbuf_puts(h, "{");
        for (size_t i = 0; i < m.len; i++) {
            if (i) sbuf_puts(h, ",");
            json_put_string(h, m.keys[i], m.key_lens[i]);
            sbuf_puts(h, ":");
            json_put_string(h, m.items[i].str, m.items[i].len);
        }
        sbuf_puts(h, "}");
    }
    json_free(&m);
    return rc;
}

// Builds the padded header into h and each tensor's size into nbytes[n].
static int build_header(sbuf *h, size_t *nbytes, const char *path, const st_write_tensor *tensors, int n,
                        const char *metadata_json, int need_data) {
    if (n < 0 || (n > 0 && !tensors)) return err_set(ERR_ARG, "%s: bad tensor list (n = %d)", path, n);
    for (int i = 0; i < n; i++) {
        int rc = check_tensor(path, &tensors[i], i, &nbytes[i], need_data);
        if (rc) return rc;
    }
    if (n > 1) {
        const char **names = xmalloc((size_t)n * sizeof *names);
        for (int i = 0; i < n; i++) names[i] = tensors[i].name;
        qsort(names, (size_t)n, sizeof *names, name_cmp);
        int rc = 0;
        for (int i = 1; i < n && rc == 0; i++)
            if (strcmp(names[i], names[i - 1]) == 0)
                rc = err_set(ERR_ARG, "%s: duplicate tensor name '%s'", path, names[i]);
        free(names);
        if (rc) return rc;
    }

    sbuf_puts(h, "{");
    int rc = put_metadata(h, path, metadata_json);
    if (rc) return rc;
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const st_write_tensor *t = &tensors[i];
        if (offset + nbytes[i] < offset) return err_set(ERR_ARG, "%s: total data size overflows", path);
        sbuf_puts(h, ",");
        json_put_string(h, t->name, strlen(t->name));
        sbuf_puts(h, ":{\"dtype\":\"");
        sbuf_puts(h, dtype_name(t->dtype));
        sbuf_puts(h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sbuf_puts(h, ",");
            sbuf_printf(h, "%" PRId64, t->shape[d]);
        }
        sbuf_puts(h, "],\"data_offsets\":[");
        sbuf_printf(h, "%" PRId64, (int64_t)offset);
        sbuf_puts(h, ",");
        offset += nbytes[i];
        sbuf_printf(h, "%" PRId64, (int64_t)offset);
        sbuf_puts(h, "]}");
    }
    sbuf_puts(h, "}");
    while (h->len % 8) sbuf_put(h, " ", 1);
    if (h->len > ST_MAX_HEADER_BYTES)
        return err_set(ERR_ARG, "%s: header would be %zu bytes (limit %llu)", path, h->len, ST_MAX_HEADER_BYTES);
    return 0;
}

// --- public

int safetensors_write(const char *path, const st_write_tensor *tensors, int n, const char *metadata_json) {
    return safetensors_write_filled(path, tensors, n, metadata_json, NULL, NULL);
}

int safetensors_write_filled(const char *path, const st_write_tensor *tensors, int n, const char *metadata_json,
                             void (*fill)(void *user, int i, void *dst), void *user) {
    sbuf h;
    sbuf_init(&h);
    size_t *nbytes = xcalloc(n > 0 ? (size_t)n : 1, sizeof *nbytes);
    int rc = build_header(&h, nbytes, path, tensors, n, metadata_json, !fill);
    if (rc) goto out;

    atomic_file a;
    if ((rc = atomic_file_open(&a, path))) goto out;
    unsigned char len8[8];
    le_put_u64(len8, (uint64_t)h.len);
    int ok = fwrite(len8, 1, 8, a.f) == 8 && fwrite(sbuf_str(&h), 1, h.len, a.f) == h.len;
    size_t total = 0, done = 0;
    for (int i = 0; i < n; i++) total += nbytes[i];
    double t0 = timer_now();
    for (int i = 0; ok && i < n; i++) {
        if (nbytes[i] == 0) continue;
        void *buf = fill ? xmalloc(nbytes[i]) : NULL;
        if (fill) fill(user, i, buf);
        ok = fwrite(fill ? buf : tensors[i].data, 1, nbytes[i], a.f) == nbytes[i];
        free(buf);
        done += nbytes[i];
        progress_note("write: MB", (int)(done >> 20), (int)(total >> 20), t0);
    }
    if (!ok) {
        rc = err_set(ERR_IO, "%s: write failed: %s", a.tmp_path, strerror(errno));
        atomic_file_abort(&a);
    } else {
        rc = atomic_file_commit(&a);
    }
out:
    sbuf_free(&h);
    free(nbytes);
    return rc;
}
