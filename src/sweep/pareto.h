// pareto.h: which sweep points are worth having (the Pareto frontier of size against a
// quality loss) and which one a quality bound picks. Plain numbers in, indices out; no I/O.
#pragma once

// Sizes within this fraction of each other count as equal: files of the same storage
// differ by a few hundred bytes of metadata (a calibrated model records its calibration
// text), which must not decide between a better and a worse model.
#define PARETO_SIZE_TIE 1e-3

// -1: size a is smaller than b, 0: the same (within PARETO_SIZE_TIE), 1: larger.
int pareto_size_cmp(double a, double b);

typedef struct pareto_item {
    double size;  // bytes of the file (smaller is better)
    double dppl;  // Δppl in percent against the original (lower is better; may be negative)
    double kl;    // mean KL(original || model) per token (lower is better)
} pareto_item;

// on_front[i] = 1 when no other item is at most as large and at most as bad (err) and
// strictly better in one of the two: the frontier of size against err, sizes compared
// with PARETO_SIZE_TIE. Items equal in both are all on it (neither dominates the other).
// An item whose size or err is not finite is never on it and dominates nothing.
void pareto_front(const double *size, const double *err, int n, int *on_front);

// The item a bound picks: the smallest whose dppl <= max_dppl and kl <= max_kl (a NaN
// bound is no bound; equality meets it); among sizes equal to the smallest (within
// PARETO_SIZE_TIE) the lower dppl, then the lower kl, then the earlier index. -1 when none meets the bounds. Items with a non-finite
// size, dppl or kl never meet.
int pareto_choose(const pareto_item *it, int n, double max_dppl, double max_kl);

// When none meets the bounds, the closest: the item whose worst metric exceeds its bound
// by the least, relative to the bound (excess = (value - bound) / bound, a bound <= 0
// counting absolute excess), ties to the smaller size, then the earlier index. -1 when
// no item has finite numbers. A metric under its bound counts as excess 0 (so with no
// bound at all this is the smallest item).
int pareto_closest(const pareto_item *it, int n, double max_dppl, double max_kl);
