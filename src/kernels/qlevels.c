// qlevels.c: a block's quantization levels, apart from its scales. GPTQ rounds one
// column at a time, each value to the grid its block's scales (chosen beforehand)
// allow; this is what lets it write ordinary ggml blocks. Every format's value is
// affine in its level (qblock.h): value = offset + step * level, level 0..2^bits-1.
#include "qlevels.h"
#include "qblock.h"
#include "../core/err.h"
#include <string.h>

int qlevels_bits(qtype t) {
    switch (t) {
    case QTYPE_Q2_K: return 2;
    case QTYPE_Q3_K: return 3;
    case QTYPE_Q4_0: case QTYPE_Q4_1: case QTYPE_Q4_K: return 4;
    case QTYPE_Q5_0: case QTYPE_Q5_1: case QTYPE_Q5_K: return 5;
    case QTYPE_Q6_K: return 6;
    case QTYPE_Q8_0: return 8;
    default: return 0;
    }
}

// Nibble layout shared by q4_0/q4_1/q5_0/q5_1: value j low nibble, value j + 16 high.
static void set_nibbles32(uint8_t *qs, const uint8_t *lv) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((lv[j] & 15) | (lv[j + 16] & 15) << 4);
}

static void set_high_bits32(uint8_t qh[4], const uint8_t *lv) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++) h |= (uint32_t)(lv[j] >> 4 & 1) << j;
    memcpy(qh, &h, 4);
}

// q2_k/q3_k: two low bits of value e at bits 2*((e%128)/32) of qs[32*(e/128) + e%32].
static void set_2bit_fields(uint8_t *qs, const uint8_t *lv) {
    memset(qs, 0, QK_K / 4);
    for (int e = 0; e < QK_K; e++) qs[32 * (e / 128) + e % 32] |= (uint8_t)((lv[e] & 3) << (2 * ((e % 128) / 32)));
}

// q4_k/q5_k: nibble of value e (high when e/32 is odd) in qs[32*(e/64) + e%32].
static void set_k_nibbles(uint8_t *qs, const uint8_t *lv) {
    memset(qs, 0, QK_K / 2);
    for (int e = 0; e < QK_K; e++) qs[32 * (e / 64) + e % 32] |= (uint8_t)((lv[e] & 15) << (4 * ((e / 32) & 1)));
}

void qlevels_set(qtype t, void *block, const uint8_t *lv) {
    switch (t) {
    case QTYPE_Q4_0: set_nibbles32(((block_q4_0 *)block)->qs, lv); break;
    case QTYPE_Q4_1: set_nibbles32(((block_q4_1 *)block)->qs, lv); break;
    case QTYPE_Q5_0: {
        block_q5_0 *b = block;
        set_nibbles32(b->qs, lv);
        set_high_bits32(b->qh, lv);
        break;
    }
    case QTYPE_Q5_1: {
        block_q5_1 *b = block;
        set_nibbles32(b->qs, lv);
        set_high_bits32(b->qh, lv);
        break;
    }
    case QTYPE_Q8_0: {
        block_q8_0 *b = block;
        for (int j = 0; j < QK8_0; j++) b->qs[j] = (int8_t)(lv[j] - 128);
        break;
    }
    case QTYPE_Q2_K: set_2bit_fields(((block_q2_k *)block)->qs, lv); break;
    case QTYPE_Q3_K: {
        block_q3_k *b = block;
        set_2bit_fields(b->qs, lv);
        memset(b->hmask, 0, sizeof b->hmask);
        for (int e = 0; e < QK_K; e++) b->hmask[e % 32] |= (uint8_t)((lv[e] >> 2 & 1) << (e / 32));
        break;
    }
    case QTYPE_Q4_K: set_k_nibbles(((block_q4_k *)block)->qs, lv); break;
    case QTYPE_Q5_K: {
        block_q5_k *b = block;
        set_k_nibbles(b->qs, lv);
        memset(b->qh, 0, sizeof b->qh);
        for (int e = 0; e < QK_K; e++) b->qh[e % 32] |= (uint8_t)((lv[e] >> 4 & 1) << (e / 32));
        break;
    }
    case QTYPE_Q6_K: {
        block_q6_k *b = block;
        memset(b->ql, 0, sizeof b->ql);
        memset(b->qh, 0, sizeof b->qh);
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
            b->ql[64 * h + 32 * (k % 2) + l] |= (uint8_t)((lv[e] & 15) << (4 * (k / 2)));
            b->qh[32 * h + l] |= (uint8_t)((lv[e] >> 4 & 3) << (2 * k));
        }
        break;
    }
    default: CHECK(!"qlevels_set: type without levels");
    }
}

void qlevels_grid(qtype t, const void *block, float *offset, float *step) {
    const qtype_info *q = qtype_get((int)t);
    CHECK(q && qlevels_bits(t) && q->block <= QK_K);
    uint8_t tmp[256], lv[QK_K];
    CHECK(q->bytes <= (int)sizeof tmp);
    memcpy(tmp, block, (size_t)q->bytes);
    memset(lv, 0, sizeof lv);
    qlevels_set(t, tmp, lv);
    q->to_float(tmp, offset, q->block);
    memset(lv, 1, sizeof lv);
    qlevels_set(t, tmp, lv);
    q->to_float(tmp, step, q->block);
    for (int e = 0; e < q->block; e++) step[e] -= offset[e];
}

int qlevels_nearest(float x, float offset, float step, int max_level) {
    if (step == 0.0f) return 0;
    float v = (x - offset) / step;
    if (!(v > 0.0f)) return 0;  // also NaN
    if (v >= (float)max_level) return max_level;
    return (int)(v + 0.5f);
}
