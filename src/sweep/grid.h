// grid.h: `shrink sweep --grid SPEC`: the settings to try, as a list of named points.
//
// SPEC is clauses separated by ';', each KEY=VALUE[,VALUE...]:
//   method=rtn,imatrix,gptq,awq,awq+gptq   (compress methods; default rtn)
//   type=Q4_K_M,q4_k,...                     (types or presets plan_build accepts)
//   bpw=3.0,Q2_K,...                         (bits-per-weight targets: a number in 1.5-16 or a preset)
//   prune=none,75%,66%                       (prune to that share of the parameters first: prune --target-params)
//   lowrank=none,83%                         (or factorize to it: lowrank --target-params --method all)
//   recover=none,500k,2M                     (then distil the pruned model from the original on that many
//                                             training tokens: compress --recover; needs pruned points)
// The points are the cross product shape × recover × method × (each type, then each bpw), in
// SPEC order, where the shapes are the prune= values then the lowrank= ones (a point is pruned
// or factorized, not both), the unreduced points once (without recovery);
// a point has one type OR one bpw target. Names and values are case-insensitive.
#pragma once
#include "../compress/compress.h"

#define GRID_MAX_POINTS 256

typedef struct grid_point {
    char name[48];          // unique and file-safe: "gptq-Q4_K_M", "rtn-bpw3.0", "p75-gptq-Q4_K_M", "p75-r2M-gptq-Q4_K_M"
    compress_method method;
    char type[16];          // type or preset in upper case ("Q4_K_M", "F16"); "" for a bpw point
    char bpw[16];           // the bpw item, canonical ("3.0", "2.75", "Q2_K"); "" for a type point
    double target_bpw;      // what bpw means on the model's shape (a preset: its matrices' bits); 0 for a type point
    double keep_pct;        // prune (or factorize) to this percentage of the parameters before compressing; 0: neither
    int lowrank;            // 1: keep_pct is reached by compression layers (names "l83-..."), 0: by pruning ("p75-...")
    double recover_tokens;  // then distil from the original on this many tokens; 0: no recovery
} grid_point;

typedef struct grid {
    grid_point *pts;
    int n;
} grid;

// Parses spec and checks every item against the model shape c (types through plan_build,
// bpw presets through plan_parse_target_bpw, prune shares: "none" or a percentage in (0, 100)),
// before anything is run. Returns 0, or
// ERR_ARG with a message naming the bad item: a clause that is not KEY=VALUES, an unknown
// or repeated key, an empty value, an unknown method/type, a bpw that is neither a number
// in 1.5-16 nor a preset, a value given twice, no type and no bpw, more than
// GRID_MAX_POINTS points. On error g is empty.
int grid_parse(grid *g, const char *spec, const gpt2_config *c);
void grid_free(grid *g);  // safe on a zeroed struct; idempotent

// Whether the point's compression reads calibration text (methods other than rtn, and
// bpw targets, whose allocation measures each matrix's sensitivity).
// Pruning and factorizing read it too.
static inline int grid_point_needs_calib(const grid_point *p) {
    return p->method != METHOD_RTN || p->target_bpw > 0 || p->keep_pct > 0;
}
