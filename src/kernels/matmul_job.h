// matmul_job.h: one matmul call's operands as the pool's tasks (core/pool.h) see them, shared
// by the fp32/typed matmuls and the integer batch kernels: out (rows, n_out) = in · Wᵀ + bias,
// with W (n_out rows of k) stored as t, and each task's share of the output in bounds.
#pragma once
#include "qtype.h"

typedef struct {
    float *out;
    const void *in;     // fp32 rows (rows, k), or their Q8_0 blocks (the integer kernels)
    const void *w;
    qtype t;
    const float *bias;
    int rows, k, n_out;
    const int *bounds;  // task i: units [bounds[i], bounds[i+1]) of the kernel's split (panels, groups, rows)
} matmul_job;
