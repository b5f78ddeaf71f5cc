// dispatch.c: fills the kernel table once from the CPU's features and SHRINK_KERNELS
// (ref: scalar reference kernels; generic: portable; avx2: no AVX-512 even where the CPU
// has it; unset: the best this CPU runs).
#include "kernels.h"
#include "backward.h"
#include "qdot_k.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct kernels kern = {matmul_f32_generic, matmul_generic, gelu_f32_ref, attn_head_f32_ref, layernorm_f32_ref,
                       logsumexp_f32_ref,
                       qdot_q8_ref, qdot_k_ref, qmatmul_q8_ref, 0, gemm_f32_ref, 0, softmax_f32_ref,
                       gelu_backward_f32_ref, "generic"};

static void choose(void) {
    const char *want = getenv("SHRINK_KERNELS");
    if (want && strcmp(want, "generic") == 0) return;
    if (want && strcmp(want, "ref") == 0) {
        kern.matmul_f32 = matmul_f32_ref;
        kern.matmul = matmul_ref;
        kern.isa = "ref";
        return;
    }
    if (kernels_have_avx2()) {
        int wide = kernels_have_avx512() && !(want && strcmp(want, "avx2") == 0);
        kern.matmul_f32 = wide ? matmul_f32_avx512 : matmul_f32_avx2;
        kern.matmul = wide ? matmul_avx512 : matmul_avx2;
        kern.gelu_f32 = wide ? gelu_f32_avx512 : gelu_f32_avx2;  // the same bits either way
        kern.attn_head_f32 = attn_head_f32_avx2;
        kern.layernorm_f32 = layernorm_f32_avx2;
        kern.logsumexp_f32 = logsumexp_f32_avx2;
        kern.gemm_f32 = wide ? gemm_f32_avx512 : gemm_f32_avx2;  // the same bits either way
        kern.gemm_packed = 1;
        kern.softmax_f32 = wide ? softmax_f32_avx512 : softmax_f32_avx2;  // the same bits either way
        kern.gelu_backward_f32 = gelu_backward_f32_avx2;
        kern.qdot_q8 = wide && kernels_have_avx512_vnni() ? qdot_q8_avx512 : qdot_q8_avx2;
        kern.qdot_k = wide && kernels_have_avx512_vnni() ? qdot_k_avx512 : qdot_k_avx2;
        kern.qmatmul_q8 = wide && kernels_have_avx512_vnni() ? qmatmul_q8_avx512 : qmatmul_q8_avx2;
        // The AVX2 batch kernel is per-row dots, slower than dequantize + GEMM (dev/qgemm_speed.c).
        kern.qmatmul_fast = kern.qmatmul_q8 == qmatmul_q8_avx512;
        kern.isa = wide ? "avx512" : "avx2";
        return;
    }
    kern.matmul_f32 = matmul_f32_generic;
    kern.matmul = matmul_generic;
    kern.isa = "generic";
}

// Once per process, and never seen half-filled: two library callers may load models at once.
const char *kernels_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, choose);
    return kern.isa;
}

int kernels_have_avx512(void) {
    __builtin_cpu_init();
    return kernels_have_avx2() && __builtin_cpu_supports("avx512f");
}

int kernels_have_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

int kernels_have_avx512_vnni(void) {
    return kernels_have_avx512() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
}
