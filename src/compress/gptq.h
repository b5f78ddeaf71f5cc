// gptq.h: GPTQ (Frantar et al. 2022) inside ggml's block formats.
//
// Minimises ||W X - Q X||² for a layer's calibration inputs X by rounding one input
// column at a time and spreading each column's rounding error over the columns not
// yet rounded, weighted by the inverse of H = Xᵀ X. Every block's scales (and mins)
// are fitted by the format's own search to the block's values as they stand when
// GPTQ reaches the block, then its values are rounded to that grid: the output is an
// ordinary ggml row that llama.cpp reads.
#pragma once
#include "../kernels/qtype.h"

typedef struct gptq_opts {
    double damp;    // added to H's diagonal, as a fraction of its mean (GPTQ's 0.01)
    int act_order;  // round columns in order of decreasing H_ii (scales then fitted up front)
} gptq_opts;

// W (rows, cols) fp32, row-major, rows are output channels; it is used as scratch and
// left modified. H (cols, cols) = sum over calibration tokens of x xᵀ (any positive
// scale). out receives rows × qtype_row_bytes(t, cols) bytes. Columns never active
// (H_ii = 0) are quantized as zeros. Returns 0, or ERR_ARG (type without levels,
// cols not a multiple of the block) / ERR_ARG (H not positive definite even after
// raising the damping), message set.
int gptq_quantize(qtype t, float *W, int rows, int cols, const double *H, const gptq_opts *o, void *out);

// The proxy loss GPTQ minimises, for checking it: sum over rows of e H eᵀ with
// e = dequantized row - W row, divided by the trace of H (so 1 is an error of one
// unit per weight on unit-energy inputs). W is the original matrix.
double gptq_output_error(qtype t, const float *W, int rows, int cols, const double *H, const void *q);
