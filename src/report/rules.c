// rules.c: the conclusion rules R1-R9 (see rules.h) over plain numbers. Only comparisons
// here; the sentences that quote the numbers are in rules_explain.c.
#include "rules.h"
#include <math.h>
#include <stddef.h>

const rules_thresholds rules_default = {
    .close_dppl_pct = 2.0,
    .close_top1 = 0.90,
    .broke_dppl_pct = 10.0,
    .broke_kl = 0.10,
    .min_speedup = 1.05,
    .min_cut_pct = 5.0,
    .ppl_gain_pct = 0.5,
    .lambada_drop_pts = 2.0,
    .busy_other_per_cpu = 0.25,
};

// +1 at least min, -1 below 1/min, 0 between or not measured
static int speed_class(double x, double min) {
    if (!isfinite(x) || x <= 0) return 0;
    return x >= min ? 1 : x < 1.0 / min ? -1 : 0;
}

static int cut_reached(double v, double orig, double min_pct) {
    return isfinite(v) && isfinite(orig) && orig > 0 && 100.0 * (1.0 - v / orig) >= min_pct;
}

void rules_apply(const rules_thresholds *t, const rules_original *o, const rules_input *in, int n, rules_result *out,
                 rules_summary *s) {
    double orig_file_bytes = o->file_bytes, orig_peak_rss = o->peak_rss_bytes;
    *s = (rules_summary){.best = -1, .below_best = -1, .mildest = -1, .largest = -1, .smallest = -1, .fastest = -1,
                         .next = RULES_NEXT_NONE};
    s->busy = o->logical_cpus > 0 && o->other_cpus > t->busy_other_per_cpu * o->logical_cpus;  // false for NaN
    for (int i = 0; i < n; i++) {
        const rules_input *m = &in[i];
        rules_result *r = &out[i];
        r->close_dppl = m->dppl_pct <= t->close_dppl_pct;  // false for NaN
        r->close_top1 = m->top1 >= t->close_top1;
        r->broke_dppl = m->dppl_pct > t->broke_dppl_pct;
        r->broke_kl = m->kl_mean > t->broke_kl;
        r->verdict = r->broke_dppl || r->broke_kl ? RULES_BROKE : r->close_dppl && r->close_top1 ? RULES_CLOSE : RULES_COSTLY;
        r->speed_tg = speed_class(m->speedup_tg, t->min_speedup);
        r->speed_pp = speed_class(m->speedup_pp, t->min_speedup);
        r->size_cut = cut_reached(m->file_bytes, orig_file_bytes, t->min_cut_pct);
        r->mem_cut = cut_reached(m->peak_rss_bytes, orig_peak_rss, t->min_cut_pct);
        r->ppl_hides = r->close_dppl && !r->close_top1 && !r->broke_kl;
        r->ppl_gain = m->dppl_pct < -t->ppl_gain_pct;
        r->lambada_drop = m->lambada_drop_pts > t->lambada_drop_pts;
        r->dominated_by = -1;
        for (int j = 0; j < n && r->dominated_by < 0; j++) {
            if (j == i || !isfinite(in[j].file_bytes) || !isfinite(in[j].dppl_pct)) continue;
            int no_worse = in[j].file_bytes <= m->file_bytes && in[j].dppl_pct <= m->dppl_pct;
            int better = in[j].file_bytes < m->file_bytes || in[j].dppl_pct < m->dppl_pct;
            if (no_worse && better) r->dominated_by = j;
        }
        s->n_close += r->verdict == RULES_CLOSE;
        s->n_costly += r->verdict == RULES_COSTLY;
        s->n_broke += r->verdict == RULES_BROKE;
        s->n_faster += r->speed_tg > 0;
        s->n_slower += r->speed_tg < 0;
        if (s->largest < 0 || m->file_bytes > in[s->largest].file_bytes) s->largest = i;
        if (s->smallest < 0 || m->file_bytes < in[s->smallest].file_bytes) s->smallest = i;
        if (isfinite(m->speedup_tg) && (s->fastest < 0 || m->speedup_tg > in[s->fastest].speedup_tg)) s->fastest = i;
        if (r->verdict == RULES_CLOSE && (s->best < 0 || m->file_bytes < in[s->best].file_bytes)) s->best = i;
        if (r->verdict != RULES_CLOSE) {
            int k = s->mildest;
            if (k < 0 || m->kl_mean < in[k].kl_mean || (m->kl_mean == in[k].kl_mean && m->dppl_pct < in[k].dppl_pct) ||
                (!isfinite(in[k].kl_mean) && isfinite(m->kl_mean)))
                s->mildest = i;
        }
    }
    if (n == 0) return;
    if (s->best >= 0) {
        for (int i = 0; i < n; i++)
            if (in[i].file_bytes < in[s->best].file_bytes &&
                (s->below_best < 0 || in[i].file_bytes > in[s->below_best].file_bytes))
                s->below_best = i;
        s->next = s->below_best < 0 ? RULES_NEXT_GO_LOWER : RULES_NEXT_BETWEEN;
    } else {
        s->next = s->n_broke == n ? RULES_NEXT_ALL_BROKE : RULES_NEXT_MORE_BITS;
    }
}
