// qdot_k_ref.c: K-quant weight rows (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) against a Q8_K
// activation row, reference (the spec for qdot_k_avx2.c).
//
// Per 256-value super-block, with q_w the weight's unsigned levels, q_x the
// activation's int8 levels, sc/mn the sub-block's integer scale/min:
//   Q2_K (16 sub-blocks j of 16, 4-bit scale and min, levels 0..3):
//     isum = Σ_j sc_j · Σ_{i in j} q_w[i] · q_x[i]
//     msum = Σ_j mn_j · bsums[j]
//     acc += (d_w · d_x) · isum − (dmin_w · d_x) · msum
//   Q3_K (16 sub-blocks j of 16, signed 6-bit scales, levels 0..7 offset by 4):
//     isum = Σ_j sc_j · (Σ_{i in j} q_w[i] · q_x[i] − 4 · bsums[j])
//     acc += (d_w · d_x) · isum
//   Q4_K, Q5_K (8 sub-blocks j of 32):
//     isum = Σ_j sc_j · Σ_{i in j} q_w[i] · q_x[i]
//     msum = Σ_j mn_j · (bsums[2j] + bsums[2j+1])          (= Σ_j mn_j · Σ_{i in j} q_x[i])
//     acc += (d_w · d_x) · isum − (dmin_w · d_x) · msum
//   Q6_K (16 sub-blocks j of 16, signed scales, levels offset by 32):
//     isum = Σ_j sc_j · (Σ_{i in j} q_w[i] · q_x[i] − 32 · bsums[j])
//     acc += (d_w · d_x) · isum
// isum and msum are exact in int32 (|isum| < 2^29); the fp32 work is two products
// and one sum per super-block, so the only rounding beyond fp32 sums is the Q8_K
// quantization of the activation.
#include "qdot_k.h"
#include "qblock.h"
#include "../core/dtype.h"
#include "../core/err.h"

// --- Level and scale unpacking (the layouts of qblock.h / quant_k_ref.c)

// The 6-bit scale and min of Q4_K/Q5_K sub-block j (0..7) from the 12 packed bytes:
// j < 4: low 6 bits of bytes j and j+4; j >= 4: a nibble of byte j+4 plus the top
// two bits of byte j-4 (scale) or byte j (min).
static void scale_min_k4(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
        *mn = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

// Level (0..15 or 0..31) of value e in a Q4_K/Q5_K super-block: the nibble
// (e/32 odd: high) of qs[32*(e/64) + e%32], plus for Q5_K bit e/32 of qh[e%32] as 16.
static int level_k4(const uint8_t *qs, const uint8_t *qh, int e) {
    int j = e / 32, l = e % 32;
    int q = (qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xF;
    if (qh) q |= ((qh[l] >> j) & 1) << 4;
    return q;
}

// Low two bits of value e's level in a Q2_K/Q3_K super-block: bits 2*((e%128)/32)
// of qs[32*(e/128) + e%32].
static int level_2bit(const uint8_t *qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

// Level (0..7) of value e in a Q3_K super-block: the two low bits plus bit e/32 of
// hmask[e%32] as 4 (a clear bit is ggml's "subtract 4").
static int level_q3_k(const block_q3_k *b, int e) {
    return level_2bit(b->qs, e) | ((b->hmask[e % 32] >> (e / 32)) & 1) << 2;
}

// The signed scale (−32..31) of Q3_K sub-block j (0..15): low nibble from byte j % 8
// (high half for j >= 8), top two bits from bits 2*(j/4) of byte 8 + j%4.
static int scale_q3_k(const uint8_t *s, int j) {
    int lo = (s[j % 8] >> (4 * (j / 8))) & 0xF;
    int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

// Level (0..63) of value e in a Q6_K super-block.
static int level_q6_k(const block_q6_k *b, int e) {
    int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
    int lo = (b->ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xF;
    int hi = (b->qh[32 * h + l] >> (2 * k)) & 3;
    return lo | hi << 4;
}

// --- Super-block dots

static float block_dot_q2_k(const block_q2_k *b, const block_q8_k *x) {
    int32_t isum = 0, msum = 0;
    for (int j = 0; j < 16; j++) {
        int32_t s = 0;
        for (int l = 0; l < 16; l++) s += level_2bit(b->qs, 16 * j + l) * x->qs[16 * j + l];
        isum += (b->scales[j] & 0xF) * s;
        msum += (b->scales[j] >> 4) * x->bsums[j];
    }
    return fp16_to_f32(b->d) * x->d * (float)isum - fp16_to_f32(b->dmin) * x->d * (float)msum;
}

static float block_dot_q3_k(const block_q3_k *b, const block_q8_k *x) {
    int32_t isum = 0;
    for (int j = 0; j < 16; j++) {
        int32_t s = 0;
        for (int l = 0; l < 16; l++) s += level_q3_k(b, 16 * j + l) * x->qs[16 * j + l];
        isum += scale_q3_k(b->scales, j) * (s - 4 * x->bsums[j]);
    }
    return fp16_to_f32(b->d) * x->d * (float)isum;
}

// Q4_K (qh == NULL) or Q5_K super-block: the fp32 contribution.
static float block_dot_k4(uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                          const block_q8_k *x) {
    int32_t isum = 0, msum = 0;
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        scale_min_k4(scales, j, &sc, &mn);
        int32_t s = 0;
        for (int l = 0; l < 32; l++) s += level_k4(qs, qh, 32 * j + l) * x->qs[32 * j + l];
        isum += sc * s;
        msum += mn * (x->bsums[2 * j] + x->bsums[2 * j + 1]);
    }
    return fp16_to_f32(d) * x->d * (float)isum - fp16_to_f32(dmin) * x->d * (float)msum;
}

static float block_dot_q6_k(const block_q6_k *b, const block_q8_k *x) {
    int32_t isum = 0;
    for (int j = 0; j < 16; j++) {
        int32_t s = 0;
        for (int l = 0; l < 16; l++) s += level_q6_k(b, 16 * j + l) * x->qs[16 * j + l];
        isum += b->scales[j] * (s - 32 * x->bsums[j]);
    }
    return fp16_to_f32(b->d) * x->d * (float)isum;
}

// ---

void qdot_k_ref(float *out, const void *xq8k, const void *w, qtype t, const float *bias, int K, int n0, int n1) {
    CHECK(qdot_k_supports(t));
    CHECK(K % QK_K == 0);
    int nb = K / QK_K;
    size_t row_bytes = qtype_row_bytes(t, (size_t)K);
    const block_q8_k *x = xq8k;
    for (int n = n0; n < n1; n++) {
        const char *row = (const char *)w + (size_t)n * row_bytes;
        float acc = 0.0f;
        for (int i = 0; i < nb; i++) {
            if (t == QTYPE_Q2_K) {
                acc += block_dot_q2_k((const block_q2_k *)row + i, &x[i]);
            } else if (t == QTYPE_Q3_K) {
                acc += block_dot_q3_k((const block_q3_k *)row + i, &x[i]);
            } else if (t == QTYPE_Q4_K) {
                const block_q4_k *b = (const block_q4_k *)row + i;
                acc += block_dot_k4(b->d, b->dmin, b->scales, b->qs, NULL, &x[i]);
            } else if (t == QTYPE_Q5_K) {
                const block_q5_k *b = (const block_q5_k *)row + i;
                acc += block_dot_k4(b->d, b->dmin, b->scales, b->qs, b->qh, &x[i]);
            } else {
                acc += block_dot_q6_k((const block_q6_k *)row + i, &x[i]);
            }
        }
        out[n] = acc + (bias ? bias[n] : 0.0f);
    }
}
