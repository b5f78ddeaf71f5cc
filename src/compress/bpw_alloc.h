// bpw_alloc.h: --target-bpw: choose each weight matrix's type from measured sensitivity.
#pragma once
#include "calib.h"

enum { BPW_MAX_CAND = 6, BPW_DEFAULT_PROBES = 1 };

// One matrix's candidate types, cheapest first, and what each costs and does.
typedef struct bpw_unit {
    int rows, cols, n_cand;
    qtype cand[BPW_MAX_CAND];
    double bits[BPW_MAX_CAND];  // the stored matrix's size
    double err[BPW_MAX_CAND];   // Σ_ij d_j (rounded − w)²_ij, d_j: column j's mean square input
    double kl[BPW_MAX_CAND];    // mean KL per token with only this matrix in this type
    unsigned char probed[BPW_MAX_CAND];  // kl measured by a probe; else scaled by err from the nearest probed
    int pick;
} bpw_unit;

// Fills u (gpt2_n_mats entries, plan order) for a target of `target` bits per weight,
// probing `probes` types per matrix (those nearest the target, Q8_0 last; more where all
// measure 0; BPW_MAX_CAND: every type); nw, ctx (may be NULL): the probe's windows and their length.
// m is left as it was.
void bpw_sensitivity(gpt2_model *m, const calib_set *cs, double target, int probes, bpw_unit *u, int *nw, int *ctx);

// The greedy allocation: every matrix from its cheapest type, then the upgrade that saves the
// most KL per bit while the matrices average at most target bits per weight. Sets each
// pick; returns the bits per weight reached (above target only where even the cheapest
// types exceed it).
double bpw_choose(bpw_unit *u, int n, double target);

// bpw_choose, then: every matrix whose pick was scaled, not probed, is probed in that type and
// the plan chosen again, until every pick's KL is a probe's. Returns bpw_choose's figure;
// *probed: the probes it added.
double bpw_refine(gpt2_model *m, const calib_set *cs, bpw_unit *u, int n, double target, int *probed);

// For every matrix (the L*4 layer matrices, token_embd, output) and every candidate
// type its rows allow (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_0; Q4_0, Q5_0, Q8_0 where
// rows are not multiples of 256), the mean KL divergence of the model's next-token
// distributions from the fp32 model's on a slice of the calibration windows with only
// that matrix in that type: probed (kl_probe) for the `probes` types nearest the target,
// the others scaled from the nearest probed one by their activation-weighted rounding
// error (the probes are the cost: about proportional to their number). Assuming the
// effects add, it then picks types greedily by KL saved per bit spent until the matrices'
// bytes reach target bits per weight (bits of all stored matrices, output included, over
// their element count), probing the picks that were scaled until the plan stands on probes
// (bpw_refine), and applies overrides. Fills plan; one summary line goes to notes.
int bpw_allocate(gpt2_model *m, const calib_set *cs, double target, const char *overrides, gpt2_plan *plan, char *notes,
                 size_t notes_cap, int probes, int verbose);
