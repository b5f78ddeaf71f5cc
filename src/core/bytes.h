// bytes.h: little-endian integers and floats in byte buffers, whatever the host's order
// (shrink's own file formats and ggml's blocks are little-endian).
#pragma once
#include <stdint.h>
#include <string.h>

static inline void le_put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void le_put_u64(unsigned char *p, uint64_t v) {
    le_put_u32(p, (uint32_t)v);
    le_put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t le_get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t le_get_u64(const unsigned char *p) { return (uint64_t)le_get_u32(p) | (uint64_t)le_get_u32(p + 4) << 32; }
static inline void le_put_f32(unsigned char *p, float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    le_put_u32(p, u);
}
static inline float le_get_f32(const unsigned char *p) {
    uint32_t u = le_get_u32(p);
    float x;
    memcpy(&x, &u, 4);
    return x;
}
