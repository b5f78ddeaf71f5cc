// pareto.c: the Pareto frontier of size against a quality loss, and the choice a quality
// bound makes (see pareto.h). O(n^2) over a sweep's few dozen points; no I/O.
#include "pareto.h"
#include <math.h>

void pareto_front(const double *size, const double *err, int n, int *on_front) {
    for (int i = 0; i < n; i++) {
        int ok = isfinite(size[i]) && isfinite(err[i]);
        for (int j = 0; j < n && ok; j++) {
            if (j == i || !isfinite(size[j]) || !isfinite(err[j])) continue;
            if (size[j] <= size[i] && err[j] <= err[i] && (size[j] < size[i] || err[j] < err[i])) ok = 0;
        }
        on_front[i] = ok;
    }
}

static int finite_item(const pareto_item *p) { return isfinite(p->size) && isfinite(p->dppl) && isfinite(p->kl); }

// a before b: smaller, then lower dppl, then lower kl (the earlier index wins a full tie).
static int better(const pareto_item *a, const pareto_item *b) {
    if (a->size != b->size) return a->size < b->size;
    if (a->dppl != b->dppl) return a->dppl < b->dppl;
    return a->kl < b->kl;
}

int pareto_choose(const pareto_item *it, int n, double max_dppl, double max_kl) {
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (!finite_item(&it[i])) continue;
        if (!isnan(max_dppl) && !(it[i].dppl <= max_dppl)) continue;
        if (!isnan(max_kl) && !(it[i].kl <= max_kl)) continue;
        if (best < 0 || better(&it[i], &it[best])) best = i;
    }
    return best;
}

static double excess(double v, double bound) {
    if (isnan(bound) || v <= bound) return 0;
    return bound > 0 ? (v - bound) / bound : v - bound;
}

int pareto_closest(const pareto_item *it, int n, double max_dppl, double max_kl) {
    int best = -1;
    double best_e = INFINITY;
    for (int i = 0; i < n; i++) {
        if (!finite_item(&it[i])) continue;
        double e = fmax(excess(it[i].dppl, max_dppl), excess(it[i].kl, max_kl));
        if (best < 0 || e < best_e || (e == best_e && it[i].size < it[best].size)) best = i, best_e = e;
    }
    return best;
}
