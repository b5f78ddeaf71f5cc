// dev/qdot_exact.c: the qdot kernels' integer part, bit for bit. With every fp16 scale
// 1.0 (weights and activation), each block contributes its exact integer Σ level · x and
// the row sums stay exact below 2^24 (the random rows; the extreme rows, all blocks equal
// and above 2^24 at K = 3072, round alike), so the SIMD kernels must equal the
// reference exactly; random and extreme levels
// (Q8_0 −128/127, Q4_0 nibbles 0/15, activation ±127), K up to 3072, tails included.
// cc -O2 -fopenmp -Isrc dev/qdot_exact.c build-speed/libshrink.a -lm -o /tmp/qdot_exact
#include "core/xalloc.h"
#include "kernels/kernels.h"
#include "kernels/qblock.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    kernels_init();
    static const int Ks[] = {32, 64, 96, 128, 160, 224, 768, 800, 3072};
    qtype types[2] = {QTYPE_Q8_0, QTYPE_Q4_0};
    int bad = 0, cases = 0;
    unsigned seed = 1;
    for (int ti = 0; ti < 2; ti++)
        for (int ki = 0; ki < 9; ki++)
            for (int mode = 0; mode < 3; mode++) {  // random, max, min levels
                qtype t = types[ti];
                int K = Ks[ki], N = 5, nb = K / 32;
                size_t bb = (size_t)qtype_get((int)t)->bytes, rb = qtype_row_bytes(t, (size_t)K);
                char *w = xmalloc(rb * N);
                block_q8_0 *x = xmalloc((size_t)nb * sizeof(block_q8_0));
                for (int b = 0; b < nb; b++) {
                    x[b].d = 0x3C00;
                    for (int i = 0; i < 32; i++) {
                        seed = seed * 1103515245u + 12345u;
                        x[b].qs[i] = (int8_t)(mode == 0 ? (int)(seed >> 16) % 255 - 127 : mode == 1 ? 127 : -127);
                    }
                }
                for (int n = 0; n < N; n++)
                    for (int b = 0; b < nb; b++) {
                        char *blk = w + n * rb + b * bb;
                        uint16_t one = 0x3C00;
                        memcpy(blk, &one, 2);
                        for (size_t i = 2; i < bb; i++) {
                            seed = seed * 1103515245u + 12345u;
                            uint8_t v = (uint8_t)(seed >> 16);
                            if (mode == 1) v = t == QTYPE_Q8_0 ? 0x7F : 0xFF;
                            if (mode == 2) v = t == QTYPE_Q8_0 ? 0x80 : 0x00;
                            blk[i] = (char)v;
                        }
                    }
                float o_ref[5], o[5], o2[5];
                qdot_q8_ref(o_ref, x, w, t, NULL, K, 0, N);
                qdot_q8_avx2(o, x, w, t, NULL, K, 0, N);
                if (kernels_have_avx512_vnni()) qdot_q8_avx512(o2, x, w, t, NULL, K, 0, N);
                else memcpy(o2, o_ref, sizeof o2);
                for (int n = 0; n < N; n++) {
                    cases++;
                    if (o[n] != o_ref[n] || o2[n] != o_ref[n]) {
                        bad++;
                        printf("MISMATCH %s K=%d mode %d row %d: ref %.1f avx2 %.1f avx512 %.1f\n", qtype_get((int)t)->name,
                               K, mode, n, o_ref[n], o[n], o2[n]);
                    }
                }
                free(w);
                free(x);
            }
    printf("qdot exact integer part: %d rows, %d mismatches (avx512 %s)\n", cases, bad,
           kernels_have_avx512_vnni() ? "tested" : "not available");
    return bad != 0;
}
