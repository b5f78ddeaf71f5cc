// dispatch.c: fills the kernel table once from the CPU's features and SHRINK_KERNELS.
#include "kernels.h"
#include <stdlib.h>
#include <string.h>

struct kernels kern = {matmul_f32_generic, "generic"};

const char *kernels_init(void) {
    static int done;
    if (done) return kern.isa;
    done = 1;
    const char *want = getenv("SHRINK_KERNELS");
    if (want && strcmp(want, "ref") == 0) {
        kern.matmul_f32 = matmul_f32_ref;
        kern.isa = "ref";
        return kern.isa;
    }
    kern.matmul_f32 = matmul_f32_generic;
    kern.isa = "generic";
    return kern.isa;
}
