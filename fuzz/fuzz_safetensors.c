// fuzz_safetensors.c: the safetensors reader.
//
// Invariants on a file that opens: every tensor's bytes lie in the data section of the
// mapping; nbytes = nelem * dtype size and nelem = the product of the shape; names are
// unique, NUL-free, and safetensors_find gives back each tensor; no two non-empty tensors
// share a byte. A refusal is ERR_FORMAT (or ERR_IO) naming the file, with the struct zeroed.
#include "formats/safetensors.h"
#include "fuzz_util.h"

static int by_begin(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    const char *p = x->data, *q = y->data;
    return p < q ? -1 : p > q;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    const char *path = fuzz_path("model.safetensors");
    fuzz_write(path, data, len);
    safetensors st;
    err_clear();
    int rc = safetensors_open(&st, path);
    if (rc) {
        INVARIANT(rc == ERR_FORMAT || rc == ERR_IO, "safetensors_open returned %d", rc);
        INVARIANT(strncmp(err_msg(), path, strlen(path)) == 0, "message does not name the file: %s", err_msg());
        INVARIANT(st.tensors == NULL && st.n_tensors == 0 && st.map.data == NULL, "struct not zeroed after an error");
        return 0;
    }
    EXPECT_NO_ERROR("safetensors_open");
    INVARIANT(len >= 8, "a file of %zu bytes opened", len);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)data[i] << (8 * i);
    const char *lo = (const char *)st.map.data + 8 + hlen, *hi = (const char *)st.map.data + st.map.len;
    INVARIANT(st.map.len == len && hlen <= len - 8, "mapping of %zu bytes, header %llu", st.map.len, (unsigned long long)hlen);
    INVARIANT(st.n_tensors >= 0 && st.n_tensors <= ST_MAX_TENSORS, "%d tensors", st.n_tensors);
    const st_tensor **order = xmalloc(((size_t)st.n_tensors + 1) * sizeof *order);
    int n_order = 0;
    for (int i = 0; i < st.n_tensors; i++) {
        const st_tensor *t = &st.tensors[i];
        INVARIANT(t->name != NULL, "tensor %d has no name", i);
        INVARIANT(t->dtype == DTYPE_F32 || t->dtype == DTYPE_F16 || t->dtype == DTYPE_BF16, "dtype %d", t->dtype);
        INVARIANT(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS, "ndim %d", t->ndim);
        size_t nelem = 1;
        for (int d = 0; d < t->ndim; d++) {
            INVARIANT(t->shape[d] >= 0, "negative dim");
            nelem *= (size_t)t->shape[d];
        }
        INVARIANT(nelem == t->nelem && t->nbytes == nelem * dtype_size(t->dtype), "sizes disagree for '%s'", t->name);
        const char *p = t->data;
        INVARIANT(p >= lo && p <= hi && t->nbytes <= (size_t)(hi - p), "tensor '%s' lies outside the data section", t->name);
        INVARIANT(safetensors_find(&st, t->name) == t, "find('%s') gives another tensor", t->name);
        INVARIANT(strcmp(t->name, "__metadata__") != 0, "__metadata__ listed as a tensor");
        if (t->nbytes) order[n_order++] = t;
    }
    qsort(order, (size_t)n_order, sizeof *order, by_begin);
    for (int i = 1; i < n_order; i++)
        INVARIANT((const char *)order[i - 1]->data + order[i - 1]->nbytes <= (const char *)order[i]->data,
                  "tensors '%s' and '%s' overlap", order[i - 1]->name, order[i]->name);
    INVARIANT(safetensors_find(&st, "__no such tensor__") == NULL || st.n_tensors > 0, "find of an absent name");
    free(order);
    safetensors_close(&st);
    INVARIANT(st.tensors == NULL && st.map.data == NULL, "close left the struct set");
    return 0;
}
