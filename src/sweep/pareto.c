// pareto.c: the Pareto frontier of size against a quality loss, and the choice a quality
// bound makes (see pareto.h). O(n^2) over a sweep's few dozen points; no I/O.
#include "pareto.h"
#include <math.h>

int pareto_size_cmp(double a, double b) {
    double tol = PARETO_SIZE_TIE * fmax(fabs(a), fabs(b));
    return a < b - tol ? -1 : a > b + tol ? 1 : 0;
}

void pareto_front(const double *size, const double *err, int n, int *on_front) {
    for (int i = 0; i < n; i++) {
        int ok = isfinite(size[i]) && isfinite(err[i]);
        for (int j = 0; j < n && ok; j++) {
            if (j == i || !isfinite(size[j]) || !isfinite(err[j])) continue;
            int c = pareto_size_cmp(size[j], size[i]);
            if (c <= 0 && err[j] <= err[i] && (c < 0 || err[j] < err[i])) ok = 0;
        }
        on_front[i] = ok;
    }
}

static int finite_item(const pareto_item *p) { return isfinite(p->size) && isfinite(p->dppl) && isfinite(p->kl); }

static int meets(const pareto_item *p, double max_dppl, double max_kl) {
    return finite_item(p) && (isnan(max_dppl) || p->dppl <= max_dppl) && (isnan(max_kl) || p->kl <= max_kl);
}

int pareto_choose(const pareto_item *it, int n, double max_dppl, double max_kl) {
    // The smallest size meeting the bounds, then the best item of about that size (two
    // passes: "within the tie of the smallest" is not a transitive order).
    double smallest = INFINITY;
    for (int i = 0; i < n; i++)
        if (meets(&it[i], max_dppl, max_kl)) smallest = fmin(smallest, it[i].size);
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (!meets(&it[i], max_dppl, max_kl) || pareto_size_cmp(it[i].size, smallest) != 0) continue;
        if (best < 0 || it[i].dppl < it[best].dppl || (it[i].dppl == it[best].dppl && it[i].kl < it[best].kl)) best = i;
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
        if (best < 0 || e < best_e || (e == best_e && pareto_size_cmp(it[i].size, it[best].size) < 0)) best = i, best_e = e;
    }
    return best;
}
