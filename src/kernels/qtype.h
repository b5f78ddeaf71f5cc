// qtype.h: storage types of weight matrices. The numeric values are ggml's type
// ids, so a GGUF tensor's type maps to ours unchanged. Quantized block formats
// (Q8_0, Q4_0, the K-quants) join this table with their block structs.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum {
    QTYPE_F32 = 0,
    QTYPE_F16 = 1,
} qtype;

typedef struct qtype_info {
    const char *name;
    int block;      // elements per block
    int bytes;      // bytes per block
} qtype_info;

// NULL for a type shrink does not know.
const qtype_info *qtype_get(int t);

// Bytes of a row of n elements (n a multiple of the block size).
static inline size_t qtype_row_bytes(qtype t, size_t n) {
    const qtype_info *q = qtype_get((int)t);
    return n / (size_t)q->block * (size_t)q->bytes;
}

// dst (n) = the fp32 values of one stored row.
void dequantize_row(qtype t, const void *src, float *dst, size_t n);
