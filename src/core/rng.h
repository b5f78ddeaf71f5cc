// rng.h: small deterministic PRNG (xorshift64*), seeded explicitly; never global state.
#pragma once
#include <stdint.h>
typedef struct rng { uint64_t s; } rng;
static inline void rng_init(rng *r, uint64_t seed) {
    // splitmix64 scramble so that nearby seeds give unrelated streams; never zero
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    r->s = (z ^ (z >> 31)) | 1;
}
static inline uint64_t rng_u64(rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}
// uniform in [0, 1)
static inline float rng_f32(rng *r) { return (float)(rng_u64(r) >> 40) / 16777216.0f; }
