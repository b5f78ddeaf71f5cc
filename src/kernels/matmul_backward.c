// matmul_backward.c: the strided product gemm_f32 (reference twin), and the matmul
// backward built on it: dinp = dout · w and dw += doutᵀ · inp (+ the bias gradient).
//
// For the forward out (BT, OC) = inp (BT, C) · w (OC, C)ᵀ + b, the two gradients are
// plain products once a is allowed to be read transposed: dinp reads dout row by row
// (sam = OC, sak = 1), dw reads it column by column (sam = 1, sak = OC). Threads split
// the output rows, so no two threads write the same element and each element is summed
// in k order: the results do not depend on the thread count.
#include "../core/parallel.h"
#include "backward.h"
#include "kernels.h"


void gemm_f32_ref(float *c, int ldc, const float *a, int sam, int sak, const float *b, int sbk, int sbn, int M, int N,
                  int K, int accumulate) {
    for (int m = 0; m < M; m++) {
        float *cr = c + (size_t)m * ldc;
        if (!accumulate)
            for (int n = 0; n < N; n++) cr[n] = 0.0f;
        // row-broadcast order: each c element is summed over k in order
        for (int k = 0; k < K; k++) {
            float av = a[(size_t)m * sam + (size_t)k * sak];
            const float *br = b + (size_t)k * sbk;
            for (int n = 0; n < N; n++) cr[n] += av * br[(size_t)n * sbn];
        }
    }
}

// The part [i0, i1) of n rows that thread ith of nth owns, in multiples of 12 (the
// AVX-512 tile height, twice the AVX2 one) so that tiles are not split.
static void split_rows(int n, int ith, int nth, int *i0, int *i1) {
    int groups = (n + 11) / 12;
    int g0 = (int)((long)groups * ith / nth), g1 = (int)((long)groups * (ith + 1) / nth);
    *i0 = g0 * 12 < n ? g0 * 12 : n;
    *i1 = g1 * 12 < n ? g1 * 12 : n;
}

void matmul_f32_packed(float *out, const float *inp, const float *w, const float *bias, int BT, int C, int OC) {
    if (!kern.gemm_packed) {
        kern.matmul_f32(out, inp, w, bias, BT, C, OC);
        return;
    }
    gemm_f32_fn gemm = kern.gemm_f32;
#pragma omp parallel
    {
        int nth = par_num_threads(), ith = par_thread_id();
        int t0, t1;
        split_rows(BT, ith, nth, &t0, &t1);
        if (t0 < t1) {
            // b(k, n) = w[n·C + k]: w read transposed through the packing
            gemm(out + (size_t)t0 * OC, OC, inp + (size_t)t0 * C, C, 1, w, 1, C, t1 - t0, OC, C, 0);
            if (bias)
                for (int t = t0; t < t1; t++) {
                    float *o = out + (size_t)t * OC;
                    for (int j = 0; j < OC; j++) o[j] += bias[j];
                }
        }
    }
}

void matmul_dinp_f32(float *dinp, const float *dout, const float *w, int BT, int C, int OC, int accumulate) {
    gemm_f32_fn gemm = kern.gemm_f32;
#pragma omp parallel
    {
        int nth = par_num_threads(), ith = par_thread_id();
        int t0, t1;
        split_rows(BT, ith, nth, &t0, &t1);
        if (t0 < t1) {
            float *c = dinp + (size_t)t0 * C;
            const float *a = dout + (size_t)t0 * OC;
            gemm(c, C, a, OC, 1, w, C, 1, t1 - t0, C, OC, accumulate);
        }
    }
}

void matmul_dw_f32(float *dw, float *db, const float *dout, const float *inp, int BT, int C, int OC) {
    gemm_f32_fn gemm = kern.gemm_f32;
#pragma omp parallel
    {
        int nth = par_num_threads(), ith = par_thread_id();
        int o0, o1;
        split_rows(OC, ith, nth, &o0, &o1);
        if (o0 < o1) {
            float *c = dw + (size_t)o0 * C;
            gemm(c, C, dout + o0, 1, OC, inp, C, 1, o1 - o0, C, BT, 1);
            if (db)
                for (int t = 0; t < BT; t++) {
                    const float *d = dout + (size_t)t * OC;
                    for (int o = o0; o < o1; o++) db[o] += d[o];
                }
        }
    }
}
