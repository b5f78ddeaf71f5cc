// safetensors.h: read (mmap, zero-copy) and write Hugging Face .safetensors files.
//
// Layout: an 8-byte little-endian u64 N, N bytes of JSON header, then the raw
// little-endian tensor data. The header maps each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end)}, offsets relative to the
// first byte after the header; an optional "__metadata__" object holds
// string-to-string pairs. Header order need not match data order.
//
// Only F32, F16 and BF16 tensors are supported; a file holding any other
// dtype (I64, U8, BOOL, ...) is rejected by name. The reader never converts
// or copies tensor data: st_tensor.data points into the read-only mapping
// (safetensors_read copies a range of it without touching the mapping).
#pragma once
#include "../core/dtype.h"
#include "../core/fileio.h"
#include "../core/strmap.h"
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
// Larger headers are refused as absurd before any parsing (the reference
// implementation uses the same limit).
#define ST_MAX_HEADER_BYTES 100000000ull
// Tensors in one file, and the memory one header entry (its name and its JSON tree) may
// take: both far above any real checkpoint, and what bounds the reader's memory.
#define ST_MAX_TENSORS (1 << 20)
#define ST_MAX_ENTRY_BYTES ((size_t)16 << 20)

// --- reading

typedef struct st_tensor {
    char *name;                    // NUL-terminated UTF-8 (owned by the safetensors)
    dtype dtype;                   // DTYPE_F32, DTYPE_F16 or DTYPE_BF16
    int ndim;                      // 0..ST_MAX_DIMS (0: a scalar, nelem 1)
    int64_t shape[ST_MAX_DIMS];    // dims beyond ndim are 0
    size_t nelem;                  // product of shape
    const void *data;              // nbytes bytes inside the mapping: little-endian, possibly unaligned
    size_t nbytes;                 // nelem * dtype_size(dtype)
} st_tensor;

typedef struct safetensors {
    char *path;
    file_map map;        // the whole file, mapped read-only, never copied
    st_tensor *tensors;  // n_tensors entries, in header order
    int n_tensors;
    strmap index;        // name -> position in tensors
} safetensors;

// Maps and validates the file at path: header length and size, strict JSON,
// each entry's dtype/shape/data_offsets, size agreement, offsets inside the
// data section, no two tensors overlapping. Returns 0, ERR_IO (cannot open or
// map) or ERR_FORMAT (malformed; the message names path and the problem).
// On error *st is left closed (zeroed); nothing needs freeing.
int safetensors_open(safetensors *st, const char *path);

// The tensor called name, or NULL if absent. Valid until safetensors_close.
const st_tensor *safetensors_find(const safetensors *st, const char *name);

// Copies n bytes at byte off of t's data (a tensor of st) into dst with read(2) rather than
// through the mapping (file_map_read says why): for loaders converting whole tensors.
// ERR_IO naming the file.
int safetensors_read(const safetensors *st, const st_tensor *t, size_t off, size_t n, void *dst);

// *same = 1 when tensors ta (of a) and tb (of b) have the same dtype and the same stored
// bytes, else 0; compared a MB at a time with read(2). Returns 0 or the read's ERR_IO.
int safetensors_same(const safetensors *a, const st_tensor *ta, const safetensors *b, const st_tensor *tb, int *same);

// Unmaps the file and frees the table. Safe on a zeroed or half-built struct;
// idempotent (leaves it zeroed).
void safetensors_close(safetensors *st);

// --- writing

typedef struct st_write_tensor {
    const char *name;            // valid UTF-8 other than "__metadata__"; escaped as needed
    dtype dtype;
    int ndim;                    // 0..ST_MAX_DIMS
    int64_t shape[ST_MAX_DIMS];  // each >= 0
    const void *data;            // prod(shape) * dtype_size(dtype) bytes, little-endian
                                 // (may be NULL only when that is 0)
} st_write_tensor;

// Writes n tensors to path, data laid out contiguously in the given order and
// header entries in the same order, after "__metadata__". metadata_json is a
// JSON object of string values (e.g. "{\"format\":\"pt\"}"), or NULL for
// {"format":"pt"}. The header is padded with spaces to a multiple of 8 bytes,
// so the data section starts 8-byte aligned.
// Written to "path.tmp", fsynced and renamed over path; on any failure the
// temp file is removed and path is untouched. Returns 0, ERR_ARG (bad tensor
// list: duplicate, reserved or non-UTF-8 name, bad dtype/ndim/dim, NULL data,
// size overflow; or metadata that is not an object of strings), ERR_FORMAT
// (metadata_json is not valid JSON) or ERR_IO (the message names the file).
int safetensors_write(const char *path, const st_write_tensor *tensors, int n, const char *metadata_json);

// The same, but the tensors' data pointers are ignored: fill(user, i, dst) writes tensor i's
// bytes into dst when its turn comes, so a writer converting a large model holds one
// tensor's bytes at a time, not a second copy of the model.
int safetensors_write_filled(const char *path, const st_write_tensor *tensors, int n, const char *metadata_json,
                             void (*fill)(void *user, int i, void *dst), void *user);
