// kernels.h: the dispatch table for compute kernels.
//
// Model code calls the inline wrappers below; kernels_init() fills the table
// once from the CPU's features. SHRINK_KERNELS=ref forces the scalar
// reference kernels (the spec every fast kernel is tested against).
// Kernels never allocate; the generic/SIMD ones may run OpenMP loops inside.
#pragma once
#include <stddef.h>

// out (BT, OC) = in (BT, C) · w (OC, C)ᵀ + bias (OC); bias may be NULL.
// w is out-major (each output channel's C weights are contiguous).
typedef void (*matmul_f32_fn)(float *out, const float *in, const float *w, const float *bias,
                              int BT, int C, int OC);

struct kernels {
    matmul_f32_fn matmul_f32;
    const char *isa;  // "ref", "generic", "avx2"
};
extern struct kernels kern;

// Chooses kernels once (idempotent). Returns the ISA name chosen.
const char *kernels_init(void);

void matmul_f32_ref(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC);
void matmul_f32_generic(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC);

static inline void matmul_f32(float *out, const float *in, const float *w, const float *bias, int BT, int C, int OC) {
    kern.matmul_f32(out, in, w, bias, BT, C, OC);
}
