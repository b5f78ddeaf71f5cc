// gptq.h: GPTQ (Frantar et al. 2022, Algorithm 1 with lazy batches), a core that runs
// with any grid quantizer, and the ggml block formats as one such quantizer.
//
// Minimises ||W X - Q X||² for a layer's calibration inputs X by rounding one input
// column at a time and spreading each column's rounding error over the columns not
// yet rounded, weighted by the inverse of H = Xᵀ X. The core does not know the
// storage format: a quantizer (gptq_grid) says which columns share a grid, fits that
// grid, and takes each finished row's levels. With ggml's formats (gptq_quantize)
// every block's scales (and mins) are fitted by the format's own search to the
// block's values as they stand when GPTQ reaches the block, then its values are
// rounded to that grid: the output is an ordinary ggml row that llama.cpp reads.
#pragma once
#include "../kernels/qtype.h"
#include <stdint.h>

typedef struct gptq_opts {
    double damp;    // added to H's diagonal, as a fraction of its mean (GPTQ's 0.01)
    int act_order;  // round columns in order of decreasing H_ii (grids then fitted up front)
} gptq_opts;

// A grid quantizer. Row r's columns fall into groups of `group` consecutive columns
// (natural order); each group's grid gives column c the values off[c] + stp[c]·L for
// levels L = 0..max_level. Callbacks run concurrently for different rows.
typedef struct gptq_grid {
    int group;          // columns fitted together (divides cols)
    int max_level;      // 1..255
    int fit_when_reached;  // 1: fit each group when GPTQ reaches it, to the row's values
                        // then (without act_order; with it, and with 0, every group is
                        // fitted up front to the original row)
    // Fits group g of row r: w (group) its values, imp (group) H's diagonal there (0 for
    // columns no input reached); writes off and stp (group).
    void (*fit)(void *user, int r, int g, const float *w, const float *imp, float *off, float *stp);
    // Receives row r's chosen levels (cols, natural order) once all are rounded.
    void (*store)(void *user, int r, const uint8_t *levels);
    void *user;
} gptq_grid;

// The core. W (rows, cols) fp32, row-major, rows are output channels; not modified. H (cols, cols) = sum over calibration tokens of x xᵀ (any
// positive scale). Columns never active (H_ii = 0) are rounded from zero and spread no
// error. batch: columns per lazy batch (0: 128), rounded up to whole groups when groups
// are fitted as GPTQ reaches them; in exact arithmetic the result does not depend on it.
// Returns 0, or ERR_ARG (cols not whole groups, a grid outside 2..256 levels, H not
// positive definite even after raising the damping), message set.
int gptq_run(const gptq_grid *q, const float *W, int rows, int cols, const double *H, const gptq_opts *o, int batch);

// GPTQ into ggml block type t: out receives rows × qtype_row_bytes(t, cols) bytes.
// W, H and the errors as gptq_run; ERR_ARG also for a type without levels.
int gptq_quantize(qtype t, const float *W, int rows, int cols, const double *H, const gptq_opts *o, void *out);

// The proxy loss GPTQ minimises, for checking it: sum over rows of e H eᵀ with
// e = dequantized row - W row, divided by the trace of H (so 1 is an error of one
// unit per weight on unit-energy inputs). W is the original matrix.
double gptq_output_error(qtype t, const float *W, int rows, int cols, const double *H, const void *q);
