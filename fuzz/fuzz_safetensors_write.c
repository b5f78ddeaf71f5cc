// fuzz_safetensors_write.c: safetensors writer -> reader round trip.
//
// The input describes up to 8 tensors (a name of arbitrary bytes, a dtype id, dims, data)
// and optionally the __metadata__ JSON text. Invariants: when safetensors_write succeeds
// the file opens and holds exactly those tensors in that order (name, dtype, shape, bytes);
// when it refuses, the code is ERR_ARG or ERR_FORMAT, and neither the file nor a temp file
// appears.
#include "formats/safetensors.h"
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
static void take_bytes(reader *r, void *out, size_t n) {
    size_t k = n < r->n ? n : r->n;
    memcpy(out, r->p, k);
    memset((char *)out + k, 0, n - k);
    r->p += k, r->n -= k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    reader r = {data, len};
    st_write_tensor ts[8];
    char names[8][24];
    unsigned char *bufs[8] = {0};
    int n = (int)(take(&r) % 9);
    for (int i = 0; i < n; i++) {
        size_t nl = take(&r) % 20;
        take_bytes(&r, names[i], nl);
        names[i][nl] = 0;
        st_write_tensor *t = &ts[i];
        memset(t, 0, sizeof *t);
        t->name = names[i];
        t->dtype = (dtype)(take(&r) % 4);  // 3 is not a dtype
        t->ndim = (int)(take(&r) % 10);     // more than ST_MAX_DIMS is refused
        size_t nelem = 1;
        for (int d = 0; d < t->ndim && d < ST_MAX_DIMS; d++) {
            unsigned b = take(&r);
            t->shape[d] = b == 255 ? -1 : (int64_t)(b % 4);
            nelem *= (size_t)(t->shape[d] < 0 ? 0 : t->shape[d]);
        }
        size_t nbytes = t->dtype < DTYPE_COUNT ? nelem * dtype_size(t->dtype) : 0;
        bufs[i] = xmalloc(nbytes + 1);
        take_bytes(&r, bufs[i], nbytes);
        t->data = take(&r) == 7 ? NULL : bufs[i];
    }
    char *meta = NULL;
    if (take(&r) & 1) {  // the rest is the metadata text
        meta = xmalloc(r.n + 1);
        memcpy(meta, r.p, r.n);
        meta[r.n] = 0;
    }
    const char *path = fuzz_path("written.safetensors");
    unlink(path);
    err_clear();
    int rc = safetensors_write(path, ts, n, meta);
    if (rc) {
        INVARIANT(rc == ERR_ARG || rc == ERR_FORMAT, "safetensors_write returned %d: %s", rc, err_msg());
        INVARIANT(access(path, F_OK) != 0, "a refused write left a file");
    } else {
        EXPECT_NO_ERROR("safetensors_write");
        safetensors st;
        INVARIANT(safetensors_open(&st, path) == 0, "a written file does not open: %s", err_msg());
        INVARIANT(st.n_tensors == n, "%d tensors written, %d read", n, st.n_tensors);
        for (int i = 0; i < n; i++) {
            const st_tensor *a = &st.tensors[i];
            const st_write_tensor *t = &ts[i];
            INVARIANT(strcmp(a->name, t->name) == 0 && a->dtype == t->dtype && a->ndim == t->ndim, "tensor %d differs", i);
            for (int d = 0; d < t->ndim; d++) INVARIANT(a->shape[d] == t->shape[d], "shape of tensor %d differs", i);
            INVARIANT(a->nbytes == 0 || memcmp(a->data, t->data, a->nbytes) == 0, "bytes of tensor %d differ", i);
        }
        safetensors_close(&st);
    }
    unlink(path);
    INVARIANT(fuzz_count_entries(fuzz_dir()) == 0, "temp files left behind");
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(meta);
    return 0;
}
