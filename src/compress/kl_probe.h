// kl_probe.h: how far one changed weight matrix moves the model's next-token
// distributions, measured on a slice of the calibration windows.
//
// The fp32 model's probabilities and every block's input are computed once; each probe
// then swaps one matrix for a candidate, runs the forward pass from that matrix's block
// on the cached inputs, and returns the mean KL(fp32 ‖ model) per token. --target-bpw
// ranks types this way, and AWQ its scaling and rounding candidates.
#pragma once
#include "calib.h"

typedef struct kl_probe {
    gpt2_model *m;
    const calib_set *cs;
    gpt2_state s;
    int nw, ctx;      // windows used, tokens per window
    float *ref;       // (nw·ctx, V) the fp32 model's probabilities
    double *negent;   // (nw·ctx) Σ p log p at each position
    double *mass;     // (nw·ctx) Σ p at each position as stored (1 up to float rounding)
    double *kl;       // (ctx) one window's KL per position, summed in order
    float *streams;   // (L + 1, nw, ctx, C) each block's input (the last: ln_f's)
} kl_probe;

// Caches the fp32 model's outputs on about `tokens` calibration tokens (whole windows;
// fewer for large vocabularies: the probabilities are kept in memory, at most 128 MB).
void kl_probe_init(kl_probe *p, gpt2_model *m, const calib_set *cs, int tokens);
void kl_probe_free(kl_probe *p);

// Mean KL per token with matrix i (plan order, gpt2_mat) read as `as` (any stored type, same shape) and every
// other matrix as it is now; the model is left as it was.
double kl_probe_matrix(kl_probe *p, int i, wmat as);

// Mean KL per token with the model as it is now, run from block `start`'s cached input
// (0: the whole pass; whatever changed must lie in block start or later).
double kl_probe_from(kl_probe *p, int start);

// Recomputes block l's output (block l + 1's cached input) from its cached input with
// the model as it is now: after block l's matrices have been changed for good, the
// probes of later matrices see them (the reference stays the fp32 model's).
void kl_probe_advance(kl_probe *p, int l);
