// sampler.h: next-token choice from logits: greedy, temperature, top-k, top-p.
#pragma once
#include <stdint.h>
#include "../core/rng.h"

typedef struct sampler {
    int V;          // vocabulary size
    float temp;     // 0 = greedy (argmax)
    int top_k;      // 0 = off
    float top_p;    // 1 = off
    rng rng;        // seeded once: same seed and logits give the same tokens
    int *idx;       // (V) scratch: candidate ids
    float *prob;    // (V) scratch: candidate probabilities
} sampler;

// Options are validated by the caller (temp >= 0, top_k >= 0, 0 < top_p <= 1).
void sampler_init(sampler *s, int V, float temp, int top_k, float top_p, uint64_t seed);
void sampler_free(sampler *s);
int sampler_argmax(const float *logits, int V);  // lowest index among equal maxima
int sampler_sample(sampler *s, const float *logits);
