// qblock.h: ggml's quantized block formats, byte for byte, and their reference
// quantizers and dequantizers (implemented in quant_ref.c and quant_k_ref.c, searches in quant_fit.c).
//
// Each struct is one block of a row; a row of n values is n / QK consecutive
// blocks. fp16 scales are IEEE halves stored as uint16_t (core/dtype.h converts).
// The layouts are ggml's (ggml-common.h), so rows read from a GGUF file are used
// in place and rows we write are read by llama.cpp unchanged. The comment above
// each struct says where value e of the block lives.
//
// The *_ref functions are the spec for any fast kernel. With imatrix == NULL,
// quantize_<t> produces exactly the bytes ggml's quantize_<t>(..., NULL) does for
// the same floats (same search, same float operation order, same rounding).
// With an importance vector it follows ggml's importance-weighted search.
//
// Names: snake_case with a lower-case k for the K-quants (block_q4_k,
// quantize_row_q4_k_ref) where ggml writes block_q4_K.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK_K 256         // values per K-quant super-block
#define K_SCALE_SIZE 12  // bytes of packed 6-bit scales and mins in q4_k/q5_k

// --- 32-value blocks: value = d * q (symmetric) or d * q + m (with a min)

// 4.5 bits/value. Value j is (nibble - 8) * d; qs[j] holds value j in its low
// nibble and value j + 16 in its high nibble.
typedef struct {
    uint16_t d;
    uint8_t qs[QK4_0 / 2];
} block_q4_0;
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must be 18 bytes");

// 5 bits/value: nibble * d + m, nibbles as in q4_0.
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 must be 20 bytes");

// 5.5 bits/value: (q - 16) * d with q = nibble | fifth bit << 4; bit j of the
// little-endian u32 qh is value j's fifth bit.
typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 must be 22 bytes");

// 6 bits/value: q * d + m, q as in q5_0.
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 must be 24 bytes");

// 8.5 bits/value: qs[j] * d.
typedef struct {
    uint16_t d;
    int8_t qs[QK8_0];
} block_q8_0;
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must be 34 bytes");

// --- 256-value super-blocks (K-quants): sub-block scales quantized against a
// super-block scale d (and mins against dmin)

// 2.625 bits/value; 16 sub-blocks of 16. Value e is
// d * (scales[e/16] & 15) * q - dmin * (scales[e/16] >> 4), where q is the
// 2-bit field at bits 2*((e%128)/32) of qs[32*(e/128) + e%32].
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} block_q2_k;
_Static_assert(sizeof(block_q2_k) == 84, "block_q2_k must be 84 bytes");

// 3.4375 bits/value; 16 sub-blocks of 16 with 6-bit signed scales. Value e is
// d * (s[e/16] - 32) * (q - 4 * !h): q's two low bits are placed as in q2_k, h is
// bit e/32 of hmask[e%32]; scale s[j]'s low nibble is scales[j % 8] (low nibble
// for j < 8, high for j >= 8) and its top two bits are bits 2*(j/4) of
// scales[8 + j%4].
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} block_q3_k;
_Static_assert(sizeof(block_q3_k) == 110, "block_q3_k must be 110 bytes");

// 4.5 bits/value; 8 sub-blocks of 32 with 6-bit scales and mins (packing: see
// q4k_scale_min in quant_k_ref.c). Value e is d * sc[e/32] * q - dmin * mn[e/32],
// q the nibble (e/32 odd: high) of qs[32*(e/64) + e%32].
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_k;
_Static_assert(sizeof(block_q4_k) == 144, "block_q4_k must be 144 bytes");

// 5.5 bits/value; as q4_k plus a fifth bit: bit e/32 of qh[e%32].
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_k;
_Static_assert(sizeof(block_q5_k) == 176, "block_q5_k must be 176 bytes");

// 6.5625 bits/value; 16 sub-blocks of 16 with int8 scales. Value e is
// d * scales[e/16] * (q - 32); with h = e/128, r = e%128, k = r/32, l = r%32,
// q's low nibble is nibble k/2 of ql[64*h + 32*(k%2) + l] and its top two bits
// are bits 2k of qh[32*h + l].
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_k;
_Static_assert(sizeof(block_q6_k) == 210, "block_q6_k must be 210 bytes");

// Activations for K-quant dot products (not a weight format): qs[e] * d with an
// fp32 d, and bsums[j] = the sum of qs[16j .. 16j+15].
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_k;
_Static_assert(sizeof(block_q8_k) == 292, "block_q8_k must be 292 bytes");

// --- Reference routines (quant_ref.c, quant_k_ref.c)
//
// quantize_row_<t>_ref: y = k values of x as k / QK blocks, the plain (no
//   importance) algorithm; k must be a multiple of the block size (CHECKed).
// dequantize_row_<t>: y (k) = the values of k / QK blocks at x; y's floats equal
//   ggml's dequantize_row_<t> bit for bit.
// quantize_<t>: src (nrows, n_per_row) row-major into nrows rows of
//   n_per_row / QK blocks at dst; imatrix (n_per_row), optional, weighs each
//   column's squared error (llama.cpp's importance matrix: the mean of x^2 over
//   calibration activations). q8_0 and q8_k ignore it, as ggml does.
//   n_per_row must be a multiple of the block size (CHECKed; quantize_rows in
//   qtype.h checks it and returns an error instead). Returns the bytes written.

void quantize_row_q4_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q4_1_ref(const float *x, void *y, int64_t k);
void quantize_row_q5_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q5_1_ref(const float *x, void *y, int64_t k);
void quantize_row_q8_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q2_k_ref(const float *x, void *y, int64_t k);
void quantize_row_q3_k_ref(const float *x, void *y, int64_t k);
void quantize_row_q4_k_ref(const float *x, void *y, int64_t k);
void quantize_row_q5_k_ref(const float *x, void *y, int64_t k);
void quantize_row_q6_k_ref(const float *x, void *y, int64_t k);
void quantize_row_q8_k_ref(const float *x, void *y, int64_t k);

void dequantize_row_q4_0(const void *x, float *y, int64_t k);
void dequantize_row_q4_1(const void *x, float *y, int64_t k);
void dequantize_row_q5_0(const void *x, float *y, int64_t k);
void dequantize_row_q5_1(const void *x, float *y, int64_t k);
void dequantize_row_q8_0(const void *x, float *y, int64_t k);
void dequantize_row_q2_k(const void *x, float *y, int64_t k);
void dequantize_row_q3_k(const void *x, float *y, int64_t k);
void dequantize_row_q4_k(const void *x, float *y, int64_t k);
void dequantize_row_q5_k(const void *x, float *y, int64_t k);
void dequantize_row_q6_k(const void *x, float *y, int64_t k);
void dequantize_row_q8_k(const void *x, float *y, int64_t k);

size_t quantize_q4_0(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q4_1(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q5_0(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q5_1(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q8_0(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q2_k(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q3_k(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q4_k(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q5_k(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q6_k(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q8_k(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
