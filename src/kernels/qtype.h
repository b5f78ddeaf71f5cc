// qtype.h: storage types of weight matrices. The numeric values are ggml's type
// ids, so a GGUF tensor's type maps to ours unchanged. The quantized types are
// ggml's block formats (structs in qblock.h, reference code in quant_ref.c and quant_k_ref.c):
// a row of n values (n a multiple of the block size) is n / block blocks.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum {
    QTYPE_F32 = 0,
    QTYPE_F16 = 1,
    QTYPE_Q4_0 = 2,
    QTYPE_Q4_1 = 3,
    QTYPE_Q5_0 = 6,
    QTYPE_Q5_1 = 7,
    QTYPE_Q8_0 = 8,
    QTYPE_Q2_K = 10,
    QTYPE_Q3_K = 11,
    QTYPE_Q4_K = 12,
    QTYPE_Q5_K = 13,
    QTYPE_Q6_K = 14,
    QTYPE_Q8_K = 15,  // activations for K-quant dot products; not a weight type llama.cpp writes
} qtype;

// y (k) = the values stored at x; k a multiple of the block size.
typedef void (*dequantize_row_fn)(const void *x, float *y, int64_t k);
// y = x (k values) stored as the type; the plain (reference) algorithm.
typedef void (*quantize_row_fn)(const float *x, void *y, int64_t k);
// src (nrows, n_per_row) into nrows stored rows at dst, weighted by the optional
// importance vector imatrix (n_per_row); returns the bytes written.
typedef size_t (*quantize_fn)(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);

typedef struct qtype_info {
    const char *name;               // as ggml/llama.cpp print it: "F32", "Q4_0", "Q4_K", ...
    int block;                      // elements per block
    int bytes;                      // bytes per block
    dequantize_row_fn to_float;     // reference dequantizer
    quantize_row_fn from_float;     // reference quantizer (no importance)
    quantize_fn quantize;           // whole-matrix quantizer (optional importance)
} qtype_info;

// NULL for a type shrink does not know.
const qtype_info *qtype_get(int t);

// The type called name (case-insensitive: "q4_k", "Q8_0", "f16"), or -1.
int qtype_parse(const char *name);

// Bytes of a row of n elements (n a multiple of the block size).
static inline size_t qtype_row_bytes(qtype t, size_t n) {
    const qtype_info *q = qtype_get((int)t);
    return n / (size_t)q->block * (size_t)q->bytes;
}

// dst (n) = the fp32 values of one stored row (n a multiple of the block size;
// CHECKed, as is a known type).
void dequantize_row(qtype t, const void *src, float *dst, size_t n);

// dst = src (nrows, n_per_row; row-major fp32) stored as type t, nrows rows of
// qtype_row_bytes(t, n_per_row) bytes. imatrix (n_per_row), optional, weighs the
// error in each column (llama.cpp's importance matrix); types without an
// importance-weighted search (F32, F16, Q8_0, Q8_K) ignore it. With imatrix ==
// NULL the bytes equal llama.cpp's for the same input.
// Returns 0, or ERR_ARG (message set) for an unknown type, negative sizes, or
// n_per_row not a multiple of the block size.
int quantize_rows(qtype t, const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
