// bpw_alloc.h: --target-bpw: choose each weight matrix's type from measured sensitivity.
#pragma once
#include "calib.h"

// For every matrix (the L*4 layer matrices, token_embd, output) and every candidate
// type its rows allow (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_0; Q4_0, Q5_0, Q8_0 where
// rows are not multiples of 256), stores only that matrix in that type and measures
// the mean KL divergence of the model's next-token distributions from the fp32
// model's on a slice of the calibration windows. Assuming the effects add, it then
// picks types greedily by KL saved per bit spent until the matrices' bytes reach
// target bits per weight (bits of all stored matrices, output included, over their
// element count), and applies overrides. Fills plan; one summary line goes to notes.
int bpw_allocate(gpt2_model *m, const calib_set *cs, double target, const char *overrides, gpt2_plan *plan, char *notes,
                 size_t notes_cap, int verbose);
