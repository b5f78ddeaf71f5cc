// rules.h: the report's conclusions as explicit rules over plain numbers. No I/O: the
// inputs are a struct of measurements per compressed model, the outputs flags and indices,
// so every rule is testable at its boundary. All thresholds live in rules_default, and the
// report prints them (rules_describe) next to the conclusions they produced.
//
// The rules (t = the thresholds; "quality" compares each compressed model to the original):
//   R1 close      Δppl <= t.close_dppl_pct and top-1 >= t.close_top1
//   R2 broke      Δppl >  t.broke_dppl_pct or  mean KL > t.broke_kl
//                 (neither: "costly": usable, with a visible quality cost)
//   R3 best       the smallest weights file among the R1 models (the best trade-off)
//   R4 speed      generation speedup >= t.min_speedup: faster; below 1/t.min_speedup:
//                 slower; otherwise no speed gain (the same test for prompt processing)
//   R5 size       file at least t.min_cut_pct smaller than the original's; the same for
//                 peak memory while generating
//   R6 dominated  another compressed model is no larger and has no higher Δppl (one of
//                 the two strictly): it sits off the Pareto front of size vs Δppl
//   R7 notes      Δppl passes R1 but top-1 fails it (perplexity hides the change);
//                 Δppl < -t.ppl_gain_pct (lower perplexity than the original is not, alone,
//                 a better model); LAMBADA accuracy down more than t.lambada_drop_pts points
//   R8 next step  from R1-R3: the smallest model tested passes -> go lower; a smaller one
//                 fails -> try settings between the two; none passes -> more bits or an
//                 importance-aware method; all broke -> well above the largest tested
//   R9 busy       other processes used more than t.busy_other_per_cpu x logical CPUs on
//                 average while the report measured (CPU time from /proc/stat, less the
//                 report's own and its children's): the speed figures (R4) are not trustworthy
#pragma once
#include "../core/sbuf.h"

typedef struct rules_thresholds {
    double close_dppl_pct;    // R1: Δppl at most this (%) ...
    double close_top1;        // ... and top-1 agreement at least this (fraction)
    double broke_dppl_pct;    // R2: Δppl above this (%) ...
    double broke_kl;          // ... or mean KL(original || model) above this (nats/token)
    double min_speedup;       // R4: at least this factor counts as faster
    double min_cut_pct;       // R5: at least this % smaller (file, peak memory)
    double ppl_gain_pct;      // R7: Δppl below minus this (%)
    double lambada_drop_pts;  // R7: LAMBADA accuracy drop above this (percentage points)
    double busy_other_per_cpu; // R9: other processes' average CPU use, per logical CPU, above this
} rules_thresholds;

extern const rules_thresholds rules_default;

// One compressed model, measured against the original. NaN means "not measured"; a
// NaN never makes a rule fire that needs the number (and R1 then fails).
typedef struct rules_input {
    const char *label;
    double file_bytes, bits_per_weight;
    double dppl_pct, kl_mean, top1;     // top1 as a fraction
    double speedup_tg, speedup_pp;      // model tokens/s over the original's
    double peak_rss_bytes;
    double lambada_drop_pts;            // original accuracy minus this model's, in points
} rules_input;

// The original and the machine. NaN skips the rules that need a number.
typedef struct rules_original {
    double file_bytes, peak_rss_bytes;
    double other_cpus;  // logical CPUs other processes used on average while measuring (NaN: unknown)
    int threads, logical_cpus;
} rules_original;

typedef enum { RULES_CLOSE, RULES_COSTLY, RULES_BROKE } rules_verdict;

typedef struct rules_result {
    rules_verdict verdict;
    int close_dppl, close_top1;   // which halves of R1 hold
    int broke_dppl, broke_kl;     // which halves of R2 fired
    int speed_tg, speed_pp;       // R4: +1 faster, 0 no gain, -1 slower (0 when not measured)
    int size_cut, mem_cut;        // R5: 1 when the cut reaches t.min_cut_pct
    int dominated_by;             // R6: index of a dominating model, or -1
    int ppl_hides, ppl_gain, lambada_drop;  // R7 notes
} rules_result;

typedef enum {
    RULES_NEXT_NONE,      // no compressed model
    RULES_NEXT_GO_LOWER,  // the smallest model tested passes R1
    RULES_NEXT_BETWEEN,   // best passes, a smaller one fails: try settings between them
    RULES_NEXT_MORE_BITS, // none passes R1, not all broke
    RULES_NEXT_ALL_BROKE, // every model broke (R2)
} rules_next;

typedef struct rules_summary {
    int best;        // R3: index of the smallest close model, or -1
    int below_best;  // the largest model smaller than best (it fails R1), or -1
    int mildest;     // lowest mean KL (then Δppl) among the models that fail R1, or -1
    int largest;     // largest file among all models, or -1
    int smallest;    // smallest file among all models, or -1
    int n_close, n_costly, n_broke;
    int n_faster, n_slower;
    int fastest;     // highest generation speedup, or -1
    rules_next next;
    int busy;        // R9
} rules_summary;

// Applies the rules to n models (out: n results).
void rules_apply(const rules_thresholds *t, const rules_original *o, const rules_input *in, int n, rules_result *out,
                 rules_summary *s);

// Appends the rules with their thresholds as a markdown list (the report's "Rules" section).
void rules_describe(const rules_thresholds *t, sbuf *md);

// Appends the conclusions, one per line, each sentence quoting the numbers it rests on:
// the best trade-off, per-model verdicts, speed, memory, dominated models, notes, and what
// to try next. markdown: lines start with "- " and labels are bold; else plain text.
void rules_explain(const rules_thresholds *t, const rules_original *o, const rules_input *in, const rules_result *r, int n,
                   const rules_summary *s, int markdown, sbuf *out);
