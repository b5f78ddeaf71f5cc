// qtype.c: the table of weight storage types, and row (de)quantization through it.
// The quantized formats themselves live in quant_ref.c and quant_k_ref.c.
#include "qtype.h"
#include "qblock.h"
#include "../core/dtype.h"
#include "../core/err.h"
#include <string.h>
#include <strings.h>

// --- F32 and F16 in the same shape as the block formats (block size 1)

static void f32_to_float(const void *x, float *y, int64_t k) { memcpy(y, x, (size_t)k * sizeof(float)); }
static void f32_from_float(const float *x, void *y, int64_t k) { memcpy(y, x, (size_t)k * sizeof(float)); }
static void f16_to_float(const void *x, float *y, int64_t k) { dtype_to_f32(y, x, DTYPE_F16, (size_t)k); }
static void f16_from_float(const float *x, void *y, int64_t k) {
    uint16_t *h = y;
    for (int64_t i = 0; i < k; i++) h[i] = f32_to_fp16(x[i]);
}
static size_t f32_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    f32_from_float(src, dst, nrows * n_per_row);
    return (size_t)(nrows * n_per_row) * sizeof(float);
}
static size_t f16_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    f16_from_float(src, dst, nrows * n_per_row);
    return (size_t)(nrows * n_per_row) * sizeof(uint16_t);
}

#define QENTRY(NAME, t, block_t, QK) \
    {NAME, QK, (int)sizeof(block_t), dequantize_row_##t, quantize_row_##t##_ref, quantize_##t}

static const qtype_info infos[] = {
    [QTYPE_F32] = {"F32", 1, 4, f32_to_float, f32_from_float, f32_quantize},
    [QTYPE_F16] = {"F16", 1, 2, f16_to_float, f16_from_float, f16_quantize},
    [QTYPE_Q4_0] = QENTRY("Q4_0", q4_0, block_q4_0, QK4_0),
    [QTYPE_Q4_1] = QENTRY("Q4_1", q4_1, block_q4_1, QK4_1),
    [QTYPE_Q5_0] = QENTRY("Q5_0", q5_0, block_q5_0, QK5_0),
    [QTYPE_Q5_1] = QENTRY("Q5_1", q5_1, block_q5_1, QK5_1),
    [QTYPE_Q8_0] = QENTRY("Q8_0", q8_0, block_q8_0, QK8_0),
    [QTYPE_Q2_K] = QENTRY("Q2_K", q2_k, block_q2_k, QK_K),
    [QTYPE_Q3_K] = QENTRY("Q3_K", q3_k, block_q3_k, QK_K),
    [QTYPE_Q4_K] = QENTRY("Q4_K", q4_k, block_q4_k, QK_K),
    [QTYPE_Q5_K] = QENTRY("Q5_K", q5_k, block_q5_k, QK_K),
    [QTYPE_Q6_K] = QENTRY("Q6_K", q6_k, block_q6_k, QK_K),
    [QTYPE_Q8_K] = QENTRY("Q8_K", q8_k, block_q8_k, QK_K),
};

#define N_INFOS ((int)(sizeof infos / sizeof infos[0]))

const qtype_info *qtype_get(int t) {
    if (t < 0 || t >= N_INFOS || !infos[t].name) return NULL;
    return &infos[t];
}

int qtype_parse(const char *name) {
    for (int t = 0; t < N_INFOS; t++)
        if (infos[t].name && !strcasecmp(infos[t].name, name)) return t;
    return -1;
}

void dequantize_row(qtype t, const void *src, float *dst, size_t n) {
    const qtype_info *q = qtype_get((int)t);
    CHECK(q && n % (size_t)q->block == 0);
    q->to_float(src, dst, (int64_t)n);
}

int quantize_rows(qtype t, const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix) {
    const qtype_info *q = qtype_get((int)t);
    if (!q) return err_set(ERR_ARG, "quantize: unknown type %d", (int)t);
    if (nrows < 0 || n_per_row < 0)
        return err_set(ERR_ARG, "quantize: negative size (%lld rows of %lld)", (long long)nrows, (long long)n_per_row);
    if (n_per_row % q->block)
        return err_set(ERR_ARG, "quantize: %s needs rows that are a multiple of %d values, got %lld", q->name, q->block,
                       (long long)n_per_row);
    q->quantize(src, dst, nrows, n_per_row, imatrix);
    return 0;
}
