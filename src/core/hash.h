// hash.h: FNV-1a, 64-bit: a fingerprint of a file's bytes (which calibration text made a
// model), not a cryptographic hash.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define FNV1A64_INIT 0xcbf29ce484222325ull

// Continues hash h over n more bytes (a stream hashed piece by piece equals it hashed whole).
static inline uint64_t fnv1a64_update(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static inline uint64_t fnv1a64(const void *data, size_t n) { return fnv1a64_update(FNV1A64_INIT, data, n); }
