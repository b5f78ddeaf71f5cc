// gguf.h: read (mmap, zero-copy) and write GGUF v3 files, the container of ggml and llama.cpp.
//
// Layout (little-endian throughout; ggml's gguf.h and gguf.cpp are the spec we follow):
//   "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   n_kv    x { string key | i32 value type | value }      array value: i32 elem type | u64 n | n elems
//   n_tensors x { string name | u32 n_dims | n_dims x i64 ne | i32 ggml type | u64 offset }
//   zero padding to the alignment | data section: each tensor at its offset, zero-padded to the alignment
// A string is a u64 byte length and that many bytes (no NUL); a bool is one byte. The alignment is
// the u32 key "general.alignment" if present, else 32. ne[0] is the contiguous dimension: a
// matrix stored out-major (OC, C) -- row r is output channel r -- has ne = [C, OC].
//
// Tensor types are ggml's type ids; one table (gguf_tensor_type_info) gives each known type's
// block size and bytes per block, so quantized types (Q8_0, Q4_K, ...) are sized the same way as
// F32 and F16. The container neither converts nor interprets tensor bytes: that is the caller's job.
// Version 1 files (32-bit counts) and big-endian files are not supported.
#pragma once
#include "../core/fileio.h"
#include <stddef.h>
#include <stdint.h>

#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 63  // longest tensor name in bytes (ggml's GGML_MAX_NAME - 1)
// Counts a file may declare: far above any real file (llama.cpp's have tens of KV pairs and
// thousands of tensors), and what bounds the reader's tables. Each is also bounded by the
// bytes the file has left.
#define GGUF_MAX_KV (1 << 16)
#define GGUF_MAX_TENSORS (1 << 20)

// KV value types (ggml's enum gguf_type).
typedef enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

// Bytes of one value of a fixed-size type; 0 for STRING, ARRAY and unknown types.
size_t gguf_type_size(gguf_type t);
const char *gguf_type_name(gguf_type t);  // "u32", "str", ... or "?"

// Tensor element types (ggml's enum ggml_type ids; gaps are ids ggml has retired).
typedef enum gguf_tensor_type {
    GGUF_TENSOR_F32 = 0,
    GGUF_TENSOR_F16 = 1,
    GGUF_TENSOR_Q4_0 = 2,
    GGUF_TENSOR_Q4_1 = 3,
    GGUF_TENSOR_Q5_0 = 6,
    GGUF_TENSOR_Q5_1 = 7,
    GGUF_TENSOR_Q8_0 = 8,
    GGUF_TENSOR_Q8_1 = 9,
    GGUF_TENSOR_Q2_K = 10,
    GGUF_TENSOR_Q3_K = 11,
    GGUF_TENSOR_Q4_K = 12,
    GGUF_TENSOR_Q5_K = 13,
    GGUF_TENSOR_Q6_K = 14,
    GGUF_TENSOR_Q8_K = 15,
    GGUF_TENSOR_IQ2_XXS = 16,
    GGUF_TENSOR_IQ2_XS = 17,
    GGUF_TENSOR_IQ3_XXS = 18,
    GGUF_TENSOR_IQ1_S = 19,
    GGUF_TENSOR_IQ4_NL = 20,
    GGUF_TENSOR_IQ3_S = 21,
    GGUF_TENSOR_IQ2_S = 22,
    GGUF_TENSOR_IQ4_XS = 23,
    GGUF_TENSOR_I8 = 24,
    GGUF_TENSOR_I16 = 25,
    GGUF_TENSOR_I32 = 26,
    GGUF_TENSOR_I64 = 27,
    GGUF_TENSOR_F64 = 28,
    GGUF_TENSOR_IQ1_M = 29,
    GGUF_TENSOR_BF16 = 30,
    GGUF_TENSOR_TQ1_0 = 34,
    GGUF_TENSOR_TQ2_0 = 35,
    GGUF_TENSOR_TYPE_COUNT = 39  // one past the largest id
} gguf_tensor_type;

typedef struct gguf_tensor_type_info {
    const char *name;     // "F32", "Q8_0", ...
    int block_size;       // elements per block (1 for plain types); ne[0] must be a multiple
    int bytes_per_block;  // bytes of one block
} gguf_tensor_type_info;

// The table entry for type id t, or NULL if t is not a type ggml can store in a file.
const gguf_tensor_type_info *gguf_tensor_type_get(uint32_t t);

// --- reading

typedef struct gguf_kv {
    char *key;                 // NUL-terminated, non-empty, no inner NUL (owned)
    gguf_type type;            // type of the value, or of each element when is_array
    int is_array;
    uint64_t n;                // number of elements (1 when !is_array)
    const unsigned char *data; // fixed-size types: n values inside the mapping, little-endian,
                               // possibly unaligned (read with memcpy); NULL for strings
    char **str;                // GGUF_TYPE_STRING: n strings, each NUL-terminated (owned) ...
    uint64_t *str_len;         // ... of str_len[i] bytes (they may contain NUL bytes)
} gguf_kv;

typedef struct gguf_tensor {
    char *name;                   // NUL-terminated, 1..GGUF_MAX_NAME bytes (owned)
    gguf_tensor_type type;        // a type gguf_tensor_type_get knows
    int n_dims;                   // 0..GGUF_MAX_DIMS
    int64_t ne[GGUF_MAX_DIMS];    // ne[0] contiguous; entries from n_dims on are 1
    uint64_t nelem;               // product of ne
    uint64_t offset;              // from the start of the data section, a multiple of the alignment
    const void *data;             // nbytes inside the mapping (aligned as the file is)
    size_t nbytes;                // nelem / block_size * bytes_per_block
} gguf_tensor;

typedef struct gguf_file {
    char *path;
    file_map map;            // the whole file, read-only; never copied
    uint32_t version;        // 2 or 3
    uint32_t alignment;      // power of two
    size_t data_offset;      // file offset of the data section
    gguf_kv *kv;             // n_kv pairs in file order
    size_t n_kv;
    gguf_tensor *tensors;    // n_tensors in file order
    size_t n_tensors;
} gguf_file;

// Maps and validates the file at path as a hostile input: magic, version (2 or 3), counts
// bounded by the file size, every string and array length checked against the bytes left,
// value types known (arrays of arrays are refused, as ggml does), keys and tensor names
// non-empty and unique, "general.alignment" a u32 power of two, each tensor's dims (at most 4,
// non-negative, product without overflow, ne[0] a multiple of the block size), type known,
// offset aligned, data inside the file and not overlapping another tensor's.
// Returns 0, ERR_IO (cannot open or map) or ERR_FORMAT (the message names path and the problem).
// On error *g is left zeroed; nothing needs freeing.
int gguf_open(gguf_file *g, const char *path);

// Unmaps and frees. Safe on a zeroed or half-built struct; idempotent (leaves it zeroed).
void gguf_close(gguf_file *g);

// Lookups: NULL if absent. Valid until gguf_close.
const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name);

// Typed scalar getters. Return 0, or ERR_FORMAT naming the file and key when the key is
// missing, is an array, has another type, or (ints) does not fit.
// gguf_get_int accepts any integer scalar type; gguf_get_f32 accepts f32 or f64 (rounded);
// gguf_get_str gives the owned NUL-terminated string (valid until gguf_close) and its length.
int gguf_get_int(const gguf_file *g, const char *key, int64_t *out);
int gguf_get_f32(const gguf_file *g, const char *key, float *out);
int gguf_get_bool(const gguf_file *g, const char *key, int *out);
int gguf_get_str(const gguf_file *g, const char *key, const char **out, size_t *len);
// Optional keys: 1 (and the value) when key is present as a scalar of a matching type (an
// integer that fits int64; a string), 0 otherwise. They never record an error, so an
// absent optional key cannot become the message of a later, unrelated failure.
int gguf_try_int(const gguf_file *g, const char *key, int64_t *out);
int gguf_try_str(const gguf_file *g, const char *key, const char **out, size_t *len);

// Element i (< kv->n) of a fixed-size integer value (scalar or array) widened to int64
// (u64 above INT64_MAX saturates), and of a float value as double. The caller checks the type.
int64_t gguf_kv_int(const gguf_kv *kv, uint64_t i);
double gguf_kv_float(const gguf_kv *kv, uint64_t i);

// --- writing

typedef struct gguf_write_tensor {
    char *name;                 // owned copy
    gguf_tensor_type type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;           // borrowed until gguf_writer_write returns
    size_t nbytes;
    void (*fill)(void *user, void *dst);  // or made when written (gguf_writer_add_tensor_filled)
    void *fill_user;
} gguf_write_tensor;

// Collects KV pairs (copied, serialized at once) and tensors (borrowed), then writes the file in
// one go. Errors are sticky: after the first failed add every later add does nothing and
// gguf_writer_write returns that error, so a caller may add everything and check once.
typedef struct gguf_writer {
    uint32_t alignment;          // GGUF_DEFAULT_ALIGNMENT unless "general.alignment" is added
    unsigned char *kv_buf;       // the serialized KV section so far
    size_t kv_len, kv_cap;
    char **keys;                 // n_kv keys, for duplicate detection
    size_t n_kv;
    gguf_write_tensor *tensors;
    size_t n_tensors, cap_tensors;
    int err;                     // first error (negative ERR_*), or 0
} gguf_writer;

void gguf_writer_init(gguf_writer *w);
void gguf_writer_free(gguf_writer *w);  // safe on a zeroed struct; idempotent

// Adds one KV pair, in call order. key must be non-empty and not added before (ERR_ARG).
// Adding "general.alignment" (a u32 power of two) sets the alignment of the data section.
// Strings are written without their NUL; str/arr_str take lengths from strlen, or from lens when
// given (then the strings may hold NUL bytes).
int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_add_bool(gguf_writer *w, const char *key, int v);
int gguf_writer_add_str(gguf_writer *w, const char *key, const char *s);
int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *s, const size_t *lens, size_t n);
int gguf_writer_add_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n);
// Any fixed-size type (not STRING/ARRAY): a scalar from *v, or an array of n values at v.
// v holds host values (little-endian hosts only; see the static assert in gguf_write.c).
int gguf_writer_add_val(gguf_writer *w, const char *key, gguf_type type, const void *v);
int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_type type, const void *v, size_t n);

// Adds a tensor of ggml type `type` with n_dims (1..4) dims ne (ne[0] contiguous, a multiple of
// the type's block size). data is borrowed until gguf_writer_write and holds exactly the
// (nelem / block_size) * bytes_per_block bytes of the tensor. name: 1..GGUF_MAX_NAME bytes, unique.
// Returns 0 or ERR_ARG (bad name, type, dims, size overflow, NULL data with nonzero size).
int gguf_writer_add_tensor(gguf_writer *w, const char *name, gguf_tensor_type type, int n_dims,
                           const int64_t *ne, const void *data);
// The same, the bytes made when the file is written: fill(user, dst) writes the tensor's nbytes
// into dst (one tensor's buffer at a time, so a converted copy of the model is never held).
// user is borrowed until gguf_writer_write returns.
int gguf_writer_add_tensor_filled(gguf_writer *w, const char *name, gguf_tensor_type type, int n_dims,
                                  const int64_t *ne, void (*fill)(void *user, void *dst), void *user);

// Writes version 3: header, KV pairs and tensor infos in call order, tensors laid out in
// order, each at the next aligned offset (as ggml's writer does). Written to "path.tmp",
// fsynced and renamed over path; on failure the temp file is removed and path is untouched.
// Progress ("write: MB") goes to progress_note (core/progress.h).
// Returns 0, the sticky error of an earlier add, or ERR_IO (the message names the file).
int gguf_writer_write(gguf_writer *w, const char *path);
