// qtype.c: the table of weight storage types and row dequantization (reference).
#include "qtype.h"
#include "../core/dtype.h"
#include <string.h>

static const qtype_info infos[] = {
    [QTYPE_F32] = {"F32", 1, 4},
    [QTYPE_F16] = {"F16", 1, 2},
};

const qtype_info *qtype_get(int t) {
    if (t < 0 || t >= (int)(sizeof infos / sizeof infos[0]) || !infos[t].name) return NULL;
    return &infos[t];
}

void dequantize_row(qtype t, const void *src, float *dst, size_t n) {
    switch (t) {
    case QTYPE_F32: memcpy(dst, src, n * sizeof(float)); break;
    case QTYPE_F16: dtype_to_f32(dst, src, DTYPE_F16, n); break;
    }
}
