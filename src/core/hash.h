// hash.h: FNV-1a, 64-bit: a fingerprint of a file's bytes (which calibration text made a
// model), not a cryptographic hash.
#pragma once
#include <stddef.h>
#include <stdint.h>

static inline uint64_t fnv1a64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
