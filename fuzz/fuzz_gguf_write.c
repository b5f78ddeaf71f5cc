// fuzz_gguf_write.c: GGUF writer -> reader round trip.
//
// The input is a little program: each step takes an opcode byte and then what that call
// needs from the following bytes (a key or name, a type, a value or dims and data). The
// calls go to a gguf_writer, which is then written. Invariants: when the write succeeds the
// file opens with gguf_open and holds exactly the pairs (key, type, values or strings) and
// tensors (name, type, dims, bytes) added, in order, at aligned offsets; when an add fails
// the error is sticky, gguf_writer_write returns it (ERR_ARG) and no file (and no temp file)
// appears.
#include "formats/gguf.h"
#include "fuzz_util.h"

typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static unsigned take(reader *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}
static size_t take_bytes(reader *r, void *out, size_t n) {
    size_t k = n < r->n ? n : r->n;
    memcpy(out, r->p, k);
    memset((char *)out + k, 0, n - k);
    r->p += k, r->n -= k;
    return k;
}
// A name: 0..15 bytes from the input (may be empty, may hold NULs: the writer decides).
static void take_name(reader *r, char *out, size_t cap) {
    size_t n = take(r) % 16;
    if (n >= cap) n = cap - 1;
    take_bytes(r, out, n);
    out[n] = 0;
}

#define MAX_KV 32
#define MAX_T 8

typedef struct {
    char key[16];
    gguf_type type;
    int is_array;
    size_t n;
    unsigned char vals[64];  // fixed-size values
    char strs[4][16];
    size_t str_lens[4];
} kv_rec;

typedef struct {
    char name[16];
    int type, n_dims;
    int64_t ne[4];
    size_t nbytes;
    unsigned char *data;
} t_rec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    reader r = {data, len};
    gguf_writer w;
    gguf_writer_init(&w);
    kv_rec kv[MAX_KV];
    t_rec ts[MAX_T];
    int n_kv = 0, n_t = 0, failed = 0;
    uint32_t alignment = GGUF_DEFAULT_ALIGNMENT;
    err_clear();
    while (r.n && n_kv < MAX_KV && n_t < MAX_T) {
        unsigned op = take(&r) % 7;
        int rc = 0;
        if (op == 6) {  // the typed helpers: u32, i32, u64, f32, bool, an i32 array
            kv_rec *k = &kv[n_kv];
            memset(k, 0, sizeof *k);
            take_name(&r, k->key, sizeof k->key);
            unsigned which = take(&r) % 6;
            static const gguf_type types[6] = {GGUF_TYPE_UINT32, GGUF_TYPE_INT32, GGUF_TYPE_UINT64, GGUF_TYPE_FLOAT32,
                                               GGUF_TYPE_BOOL, GGUF_TYPE_INT32};
            k->type = types[which];
            k->is_array = which == 5;
            k->n = k->is_array ? take(&r) % 16 : 1;
            take_bytes(&r, k->vals, k->n * gguf_type_size(k->type));
            uint32_t u32;
            int32_t i32;
            uint64_t u64;
            float f32;
            memcpy(&u32, k->vals, 4), memcpy(&i32, k->vals, 4), memcpy(&u64, k->vals, 8), memcpy(&f32, k->vals, 4);
            switch (which) {
            case 0: rc = gguf_writer_add_u32(&w, k->key, u32); break;
            case 1: rc = gguf_writer_add_i32(&w, k->key, i32); break;
            case 2: rc = gguf_writer_add_u64(&w, k->key, u64); break;
            case 3: rc = gguf_writer_add_f32(&w, k->key, f32); break;
            case 4: k->vals[0] &= 1, rc = gguf_writer_add_bool(&w, k->key, k->vals[0]); break;
            default: rc = gguf_writer_add_arr_i32(&w, k->key, (const int32_t *)(const void *)k->vals, k->n); break;
            }
            if (rc == 0 && which == 0 && strcmp(k->key, "general.alignment") == 0) alignment = u32;
            if (rc == 0) n_kv++;
        } else if (op <= 1) {  // a fixed-size scalar or array
            kv_rec *k = &kv[n_kv];
            memset(k, 0, sizeof *k);
            take_name(&r, k->key, sizeof k->key);
            k->type = (gguf_type)(take(&r) % GGUF_TYPE_COUNT);
            if (k->type == GGUF_TYPE_STRING || k->type == GGUF_TYPE_ARRAY) k->type = GGUF_TYPE_UINT8;
            size_t es = gguf_type_size(k->type);
            k->is_array = op == 1;
            k->n = k->is_array ? take(&r) % (64 / es + 1) : 1;
            take_bytes(&r, k->vals, k->n * es);
            if (k->type == GGUF_TYPE_BOOL)
                for (size_t i = 0; i < k->n; i++) k->vals[i] &= 1;
            int is_align = strcmp(k->key, "general.alignment") == 0;
            rc = k->is_array ? gguf_writer_add_arr(&w, k->key, k->type, k->vals, k->n) : gguf_writer_add_val(&w, k->key, k->type, k->vals);
            if (rc == 0 && is_align) memcpy(&alignment, k->vals, 4);
            if (rc == 0) n_kv++;
        } else if (op <= 3) {  // a string or an array of strings
            kv_rec *k = &kv[n_kv];
            memset(k, 0, sizeof *k);
            take_name(&r, k->key, sizeof k->key);
            k->type = GGUF_TYPE_STRING;
            k->is_array = op == 3;
            k->n = k->is_array ? take(&r) % 5 : 1;
            const char *s[4];
            for (size_t i = 0; i < k->n; i++) {
                k->str_lens[i] = take(&r) % 16;
                take_bytes(&r, k->strs[i], k->str_lens[i]);
                s[i] = k->strs[i];
            }
            if (k->is_array) {
                rc = gguf_writer_add_arr_str(&w, k->key, s, k->str_lens, k->n);
            } else {  // a scalar string is taken NUL-terminated: it ends at its first NUL
                k->str_lens[0] = strnlen(k->strs[0], k->str_lens[0]);
                k->strs[0][k->str_lens[0]] = 0;
                rc = gguf_writer_add_str(&w, k->key, k->strs[0]);
            }
            if (rc == 0) n_kv++;
        } else {  // a tensor
            t_rec *t = &ts[n_t];
            memset(t, 0, sizeof *t);
            take_name(&r, t->name, sizeof t->name);
            static const int types[] = {GGUF_TENSOR_F32, GGUF_TENSOR_F16, GGUF_TENSOR_Q8_0, GGUF_TENSOR_Q4_K,
                                        GGUF_TENSOR_BF16, GGUF_TENSOR_I8, 5, 40};
            t->type = types[take(&r) % 8];
            t->n_dims = (int)(take(&r) % 6);
            size_t nelem = 1;
            for (int d = 0; d < t->n_dims && d < 4; d++) {
                t->ne[d] = take(&r) % 4;
                if (d == 0) t->ne[d] *= 32;
                nelem *= (size_t)t->ne[d];
            }
            const gguf_tensor_type_info *ti = gguf_tensor_type_get((uint32_t)t->type);
            t->nbytes = ti ? nelem / (size_t)ti->block_size * (size_t)ti->bytes_per_block : 0;
            t->data = xmalloc(t->nbytes + 1);
            take_bytes(&r, t->data, t->nbytes);
            rc = gguf_writer_add_tensor(&w, t->name, (gguf_tensor_type)t->type, t->n_dims, t->ne, t->nbytes ? t->data : NULL);
            if (rc == 0) n_t++;
            else free(t->data);
        }
        if (rc) {
            INVARIANT(rc == ERR_ARG, "an add returned %d", rc);
            failed = 1;
            break;
        }
    }
    const char *path = fuzz_path("written.gguf");
    unlink(path);
    int rc = gguf_writer_write(&w, path);
    if (failed) {
        INVARIANT(rc == ERR_ARG && access(path, F_OK) != 0, "a failed add did not stick: write returned %d", rc);
    } else if (rc == 0) {
        EXPECT_NO_ERROR("gguf_writer_write");
        gguf_file g;
        INVARIANT(gguf_open(&g, path) == 0, "a written file does not open: %s", err_msg());
        INVARIANT(g.n_kv == (size_t)n_kv && g.n_tensors == (size_t)n_t && g.alignment == alignment, "counts differ");
        for (int i = 0; i < n_kv; i++) {
            const gguf_kv *a = &g.kv[i];
            const kv_rec *k = &kv[i];
            INVARIANT(strcmp(a->key, k->key) == 0 && a->type == k->type && a->is_array == k->is_array && a->n == k->n,
                      "KV %d ('%s') differs", i, k->key);
            if (k->type == GGUF_TYPE_STRING) {
                for (size_t j = 0; j < k->n; j++)
                    INVARIANT(a->str_len[j] == k->str_lens[j] && memcmp(a->str[j], k->strs[j], k->str_lens[j]) == 0,
                              "string %zu of '%s' differs", j, k->key);
            } else {
                INVARIANT(memcmp(a->data, k->vals, k->n * gguf_type_size(k->type)) == 0, "values of '%s' differ", k->key);
            }
        }
        for (int i = 0; i < n_t; i++) {
            const gguf_tensor *a = &g.tensors[i];
            const t_rec *t = &ts[i];
            INVARIANT(strcmp(a->name, t->name) == 0 && (int)a->type == t->type && a->n_dims == t->n_dims &&
                      a->nbytes == t->nbytes && a->offset % g.alignment == 0,
                      "tensor %d ('%s') differs", i, t->name);
            for (int d = 0; d < t->n_dims; d++) INVARIANT(a->ne[d] == t->ne[d], "dims of '%s' differ", t->name);
            INVARIANT(t->nbytes == 0 || memcmp(a->data, t->data, t->nbytes) == 0, "bytes of '%s' differ", t->name);
        }
        gguf_close(&g);
    } else {
        INVARIANT(0, "a write with no failed add returned %d: %s", rc, err_msg());
    }
    unlink(path);
    INVARIANT(fuzz_count_entries(fuzz_dir()) == 0, "temp files left behind");
    for (int i = 0; i < n_t; i++) free(ts[i].data);
    gguf_writer_free(&w);
    return 0;
}
