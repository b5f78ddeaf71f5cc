// qmatmul_avx512.c: AVX-512 VNNI batch kernel for Q4_0 and Q8_0 weights against T
// activation rows quantized to Q8_0, the twin of qmatmul_ref.c (grown from
// dev/qgemm_speed.c). Each output is computed with the reference's arithmetic in the
// reference's order (exact int32 block dots; per block fp32 (d_w · d_x) · Σ, added in
// block order from 0; bias last; no FMA), so it is bitwise qdot_q8_ref.
//
// Weights are packed per panel of NP = 16 rows and KB blocks into k-interleaved bytes:
// zmm c of block b holds k = 4c..4c+3 of row j in bytes 4j..4j+3, as vpdpbusd's
// unsigned side (Q4_0: the nibbles as stored, level + 8; Q8_0: level + 128, sign bit
// flipped), plus the 16 scales as floats. The MR × 16 micro-kernel broadcasts 4
// activation bytes (the signed side) per vpdpbusd into one int32 lane per output
// channel. The offset the unsigned weights add, o · Σ x over the block, depends on the
// activation alone: it is computed per (row, block) for a tile of rows and is the
// accumulator's starting value, so each lane ends exact. Panels missing rows (N not a
// multiple of 16) are zero-padded and stored masked; T not a multiple of MR runs
// smaller tiles (4, 2, 1 rows).
//
// Loop order per task: row tiles of up to TB rows, k-chunks of KB blocks (the packed
// chunk is 12 KB and stays in L1), the task's run of panels (threads take runs of panels
// from the pool, so each output is written by one task and the result does not depend
// on the thread count), row tiles of MR. Scratch lives on the stack: kernels never allocate.
//
// Needs AVX-512 F, BW and VNNI (kernels_have_avx512_vnni()); compiled for them by the
// target pragma below, reached only through the dispatch table.
#pragma GCC target("avx512f,avx512bw,avx512vnni,avx2,fma,f16c")
#include "kernels.h"
#include "qblock.h"
#include "../core/dtype.h"
#include "../core/pool.h"
#include "matmul_job.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define MR 8    // activation rows per micro-tile
#define NP 16   // output channels per packed panel (one zmm of int32 lanes)
#define KB 24   // blocks per k-chunk
#define TB 128  // activation rows whose offsets and scales are laid out at once

// Packs rows [n, n + nr) (nr <= NP; the rest zero) of blocks [b0, b0 + kb) into wp, dw.
static void pack_panel(uint8_t *wp, float *dw, const void *w, qtype t, size_t row_bytes, int n, int nr, int b0, int kb) {
    if (nr < NP) memset(wp, t == QTYPE_Q4_0 ? 0 : 0x80, (size_t)kb * 512);  // padding rows: any level, scale 0
    for (int j = 0; j < NP; j++) {
        const char *row = (const char *)w + (size_t)(n + j) * row_bytes;
        for (int b = 0; b < kb; b++) {
            uint32_t *dst = (uint32_t *)(wp + (size_t)b * 512) + j;
            if (j >= nr) {
                dw[b * NP + j] = 0.0f;
                continue;
            }
            if (t == QTYPE_Q4_0) {
                const block_q4_0 *blk = (const block_q4_0 *)row + b0 + b;
                dw[b * NP + j] = fp16_to_f32(blk->d);
                uint32_t q[4];
                memcpy(q, blk->qs, 16);
                for (int c = 0; c < 4; c++) {
                    dst[16 * c] = q[c] & 0x0f0f0f0fu;
                    dst[16 * (4 + c)] = (q[c] >> 4) & 0x0f0f0f0fu;
                }
            } else {
                const block_q8_0 *blk = (const block_q8_0 *)row + b0 + b;
                dw[b * NP + j] = fp16_to_f32(blk->d);
                uint32_t q[8];
                memcpy(q, blk->qs, 32);
                for (int c = 0; c < 8; c++) dst[16 * c] = q[c] ^ 0x80808080u;
            }
        }
    }
}

// rm rows (x: rows of nb blocks, from the chunk's first block) × one packed panel over kb
// blocks into out (rows ldo apart, nr valid lanes). xoff, xd: the rows' offsets and
// scales, KB per row. first: start from 0 (else from out); last: add bias, then store.
static inline __attribute__((always_inline)) void micro(float *out, int ldo, const block_q8_0 *x, int nb,
                                                        const int32_t *xoff, const float *xd, const uint8_t *wp,
                                                        const float *dw, int kb, int rm, __mmask16 mask,
                                                        const float *bias, int first, int last) {
    __m512 f[MR];
    for (int i = 0; i < rm; i++) f[i] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + (size_t)i * ldo);
    for (int b = 0; b < kb; b++) {
        __m512i s[MR];
        for (int i = 0; i < rm; i++) s[i] = _mm512_set1_epi32(xoff[i * KB + b]);
        for (int c = 0; c < 8; c++) {
            __m512i wv = _mm512_load_si512(wp + (size_t)b * 512 + 64 * c);
            for (int i = 0; i < rm; i++) {
                int32_t x4;
                memcpy(&x4, x[(size_t)i * nb + b].qs + 4 * c, 4);
                s[i] = _mm512_dpbusd_epi32(s[i], wv, _mm512_set1_epi32(x4));
            }
        }
        __m512 d = _mm512_load_ps(dw + b * NP);
        for (int i = 0; i < rm; i++) {
            __m512 sc = _mm512_mul_ps(d, _mm512_set1_ps(xd[i * KB + b]));
            f[i] = _mm512_add_ps(f[i], _mm512_mul_ps(_mm512_cvtepi32_ps(s[i]), sc));
        }
    }
    __m512 bv = last && bias ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
    for (int i = 0; i < rm; i++) {
        if (last) f[i] = _mm512_add_ps(f[i], bv);
        _mm512_mask_storeu_ps(out + (size_t)i * ldo, mask, f[i]);
    }
}

// Task `task`'s panels for all T rows.
static void qmatmul_task(void *ctx, int task, int worker) {
    (void)worker;
    const matmul_job *j = ctx;
    float *out = j->out;
    const void *w = j->w;
    const float *bias = j->bias;
    qtype t = j->t;
    const int T = j->rows, K = j->k, N = j->n_out, nb = K / 32, o = t == QTYPE_Q4_0 ? 8 : 128;
    const size_t row_bytes = qtype_row_bytes(t, (size_t)K);
    const block_q8_0 *x = j->in;
    {
        uint8_t wp[KB * 512] __attribute__((aligned(64)));
        float dw[KB * NP] __attribute__((aligned(64)));
        int32_t xoff[TB * KB];
        float xd[TB * KB];
        int p0 = j->bounds[task], p1 = j->bounds[task + 1];
        for (int t0 = 0; t0 < T && p0 < p1; t0 += TB) {
            int tn = T - t0 < TB ? T - t0 : TB;
            for (int b0 = 0; b0 < nb; b0 += KB) {
                int kb = nb - b0 < KB ? nb - b0 : KB;
                for (int i = 0; i < tn; i++)
                    for (int b = 0; b < kb; b++) {
                        const block_q8_0 *blk = &x[(size_t)(t0 + i) * nb + b0 + b];
                        int32_t sx = 0;
                        for (int k = 0; k < 32; k++) sx += blk->qs[k];
                        xoff[i * KB + b] = -o * sx;
                        xd[i * KB + b] = fp16_to_f32(blk->d);
                    }
                int first = b0 == 0, last = b0 + kb == nb;
                for (int p = p0; p < p1; p++) {
                    int n = p * NP, nr = N - n < NP ? N - n : NP;
                    __mmask16 mask = (__mmask16)((1u << nr) - 1);
                    pack_panel(wp, dw, w, t, row_bytes, n, nr, b0, kb);
                    const float *bb = bias ? bias + n : NULL;
                    for (int i = 0; i < tn;) {
                        float *po = out + (size_t)(t0 + i) * N + n;
                        const block_q8_0 *px = x + (size_t)(t0 + i) * nb + b0;
                        int rem = tn - i, rm = rem >= MR ? MR : rem >= 4 ? 4 : rem >= 2 ? 2 : 1;
                        if (rm == MR) micro(po, N, px, nb, xoff + i * KB, xd + i * KB, wp, dw, kb, MR, mask, bb, first, last);
                        else if (rm == 4) micro(po, N, px, nb, xoff + i * KB, xd + i * KB, wp, dw, kb, 4, mask, bb, first, last);
                        else if (rm == 2) micro(po, N, px, nb, xoff + i * KB, xd + i * KB, wp, dw, kb, 2, mask, bb, first, last);
                        else micro(po, N, px, nb, xoff + i * KB, xd + i * KB, wp, dw, kb, 1, mask, bb, first, last);
                        i += rm;
                    }
                }
            }
        }
    }
}

void qmatmul_q8_avx512(float *out, const void *xq, const void *w, qtype t, const float *bias, int T, int K, int N) {
    int bounds[POOL_MAX_TASKS + 1];
    int tasks = pool_guided((N + NP - 1) / NP, 1, bounds, POOL_MAX_TASKS);
    matmul_job j = {out, xq, w, t, bias, T, K, N, bounds};
    pool_run(tasks, qmatmul_task, &j);
}
