// qlevels.h: a quantized block's levels apart from its scales, so that a caller
// (GPTQ) can choose a block's scales first and round its values later.
#pragma once
#include "qtype.h"
#include <stdint.h>

// Bits per level of a block weight type (2..8), or 0 for F32/F16/Q8_K.
int qlevels_bits(qtype t);

// Writes the levels lv (one per value, 0..2^bits-1; for q8_0 the stored int8 + 128,
// for q3_k/q6_k the stored value + 4/+32) into block, keeping its scales and mins.
void qlevels_set(qtype t, void *block, const uint8_t *lv);

// For each value e of block (its scales as stored): the value level L would give is
// offset[e] + step[e] * L (the dequantizer's own arithmetic at L = 0 and 1).
void qlevels_grid(qtype t, const void *block, float *offset, float *step);

// The level in 0..max_level nearest to x on that grid (0 when step is 0).
int qlevels_nearest(float x, float offset, float step, int max_level);
