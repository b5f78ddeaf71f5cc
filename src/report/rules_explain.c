// rules_explain.c: the rules (R1-R9, rules.h) in words: the list of thresholds the report
// prints, and the conclusions, each sentence quoting the numbers it rests on and naming
// the rule that produced it. No I/O: everything is appended to an sbuf.
#include "rules.h"
#include "fmt.h"
#include <math.h>
#include <stdio.h>

// --- helpers

typedef struct {
    sbuf *o;
    int md;
} out_t;

// Stored at 16 bits per weight or more: not quantized (pruned or factorized, or f16/f32 as is).
static int unquantized(const rules_input *m) { return m->bits_per_weight >= 16; }

static void line_start(out_t *o) { sbuf_puts(o->o, o->md ? "- " : ""); }
static void line_end(out_t *o) { sbuf_puts(o->o, "\n"); }
static void label(out_t *o, const char *s) { sbuf_printf(o->o, o->md ? "**%s**" : "%s", s && *s ? s : "?"); }

void rules_describe(const rules_thresholds *t, sbuf *md) {
    sbuf_printf(md,
                "- **R1 close**: Δppl ≤ %g%% and top-1 agreement ≥ %g%%.\n"
                "- **R2 broke**: Δppl > %g%% or mean KL(original ‖ model) > %g nats/token. A model that is neither "
                "close nor broke is *costly*: usable, with a visible quality cost.\n"
                "- **R3 best trade-off**: the smallest weights file among the R1 models.\n"
                "- **R4 speed**: generation speedup ≥ %gx is *faster*; below %.3gx (1/%g) is *slower*; in between is "
                "*no speed gain*. The same test is applied to prompt processing.\n"
                "- **R5 size and memory**: a cut of at least %g%% (weights file; peak memory while generating) counts; "
                "less is *no gain*.\n"
                "- **R6 dominated**: another compressed model is no larger and has no higher Δppl (one of the two "
                "strictly): it is off the Pareto front of size vs Δppl.\n"
                "- **R7 notes**: Δppl passes R1 but top-1 fails it (perplexity hides the change); Δppl < −%g%% "
                "(lower perplexity than the original is not, alone, a better model); LAMBADA accuracy down by more "
                "than %g points.\n"
                "- **R8 next step**: the smallest model tested passes R1 → go lower; a smaller one fails → try "
                "settings between the two; none passes → more bits or an importance-aware method; all broke → "
                "more bits than the largest tested.\n"
                "- **R9 busy machine**: other processes used more than %g × the logical CPUs on average while the "
                "report measured (all CPU time in /proc/stat, steal included, less the report's own and its "
                "children's): other work competed for the cores and the speed figures are flagged as untrustworthy.\n",
                t->close_dppl_pct, 100 * t->close_top1, t->broke_dppl_pct, t->broke_kl, t->min_speedup, 1.0 / t->min_speedup,
                t->min_speedup, t->min_cut_pct, t->ppl_gain_pct, t->lambada_drop_pts, t->busy_other_per_cpu);
}

// --- the conclusions

static void size_clause(out_t *o, const rules_input *m, double orig_bytes) {
    char a[FMT_LEN], b[FMT_LEN], c[FMT_LEN];
    sbuf_printf(o->o, "%s (%s vs the original), %s bits/weight", fmt_mb(m->file_bytes, a),
                fmt_pct_signed(100.0 * (m->file_bytes / orig_bytes - 1.0), b), fmt_sig(m->bits_per_weight, 3, c));
}

static void verdict_line(out_t *o, const rules_thresholds *t, const rules_input *m, const rules_result *r, double orig_bytes) {
    char a[FMT_LEN], b[FMT_LEN], c[FMT_LEN];
    fmt_pct_signed(m->dppl_pct, a);
    fmt_pct(100.0 * m->top1, 1, b);
    fmt_sig(m->kl_mean, 3, c);
    line_start(o);
    label(o, m->label);
    if (!isfinite(m->dppl_pct) || !isfinite(m->top1) || !isfinite(m->kl_mean)) {
        sbuf_puts(o->o, ": quality not measured (R1 and R2 need Δppl, top-1 and KL); ");
    } else if (r->verdict == RULES_CLOSE) {
        sbuf_printf(o->o, " stays close to the original (R1): Δppl %s (≤ %g%%), top-1 agreement %s (≥ %g%%), mean KL %s; ", a,
                    t->close_dppl_pct, b, 100 * t->close_top1, c);
    } else if (r->verdict == RULES_BROKE) {
        sbuf_printf(o->o, " broke quality (R2): ");
        if (r->broke_dppl) sbuf_printf(o->o, "Δppl %s (> %g%%)", a, t->broke_dppl_pct);
        else sbuf_printf(o->o, "Δppl %s", a);
        if (r->broke_kl) sbuf_printf(o->o, ", mean KL %s (> %g)", c, t->broke_kl);
        else sbuf_printf(o->o, ", mean KL %s", c);
        sbuf_printf(o->o, ", top-1 agreement %s; ", b);
    } else {
        sbuf_printf(o->o, " has a visible quality cost (neither R1 nor R2): Δppl %s (%s %g%%), top-1 agreement %s (%s %g%%), "
                          "mean KL %s (≤ %g); ", a, r->close_dppl ? "≤" : ">", t->close_dppl_pct, b,
                    r->close_top1 ? "≥" : "<", 100 * t->close_top1, c, t->broke_kl);
    }
    size_clause(o, m, orig_bytes);
    if (!r->size_cut) sbuf_printf(o->o, ", less than %g%% smaller than the original: no size gain (R5)", t->min_cut_pct);
    sbuf_puts(o->o, ".");
    line_end(o);
}

static void speed_line(out_t *o, const rules_thresholds *t, const rules_input *m, const rules_result *r, double orig_rss, int busy) {
    char a[FMT_LEN], b[FMT_LEN], c[FMT_LEN], d[FMT_LEN], e[FMT_LEN];
    line_start(o);
    label(o, m->label);
    if (isfinite(m->speedup_tg)) {
        const char *what = r->speed_tg > 0 ? "faster" : r->speed_tg < 0 ? "slower" : "no speed gain";
        if (r->speed_tg > 0) snprintf(e, sizeof e, "≥ %gx", t->min_speedup);
        else if (r->speed_tg < 0) snprintf(e, sizeof e, "below %.3gx", 1.0 / t->min_speedup);
        else snprintf(e, sizeof e, "below %gx", t->min_speedup);
        sbuf_printf(o->o, " generates at %s the original's speed (R4: %s, %s)", fmt_speedup(m->speedup_tg, a), what, e);
        if (isfinite(m->speedup_pp)) {
            const char *pw = r->speed_pp > 0 ? "faster" : r->speed_pp < 0 ? "slower" : "no gain";
            sbuf_printf(o->o, " and processes prompts at %s (%s)", fmt_speedup(m->speedup_pp, b), pw);
        }
        if (busy) sbuf_puts(o->o, " (unreliable: busy machine, R9)");
    } else {
        sbuf_puts(o->o, " was not timed");
    }
    if (isfinite(m->peak_rss_bytes) && isfinite(orig_rss) && orig_rss > 0) {
        sbuf_printf(o->o, "; peak memory while generating %s vs the original's %s (%s", fmt_mb(m->peak_rss_bytes, c),
                    fmt_mb(orig_rss, d), fmt_pct_signed(100.0 * (m->peak_rss_bytes / orig_rss - 1.0), e));
        if (!r->mem_cut) sbuf_printf(o->o, ", less than a %g%% cut: no memory gain, R5", t->min_cut_pct);
        sbuf_puts(o->o, ")");
    }
    sbuf_puts(o->o, ".");
    line_end(o);
}

void rules_explain(const rules_thresholds *t, const rules_original *og, const rules_input *in, const rules_result *r, int n,
                   const rules_summary *s, int markdown, sbuf *sb) {
    out_t o = {sb, markdown};
    double orig_file_bytes = og->file_bytes, orig_peak_rss = og->peak_rss_bytes;
    char a[FMT_LEN], b[FMT_LEN], c[FMT_LEN], d[FMT_LEN], e[FMT_LEN];
    if (n == 0) {
        line_start(&o);
        sbuf_puts(sb, "No compressed model was given, so there is nothing to conclude.");
        line_end(&o);
        return;
    }
    // R9 first: it says how far to trust every speed figure below
    if (s->busy) {
        line_start(&o);
        sbuf_printf(sb, "The machine was busy (R9): other processes used %.2f logical CPUs on average while this report "
                        "measured, above %g x %d; they competed for the cores, so the speed figures and speedups below are not "
                        "trustworthy. Rerun on an idle machine.",
                    og->other_cpus, t->busy_other_per_cpu, og->logical_cpus);
        line_end(&o);
    }
    // R3
    line_start(&o);
    if (s->best >= 0) {
        const rules_input *m = &in[s->best];
        sbuf_printf(sb, "Best trade-off (R3: the smallest model with Δppl ≤ %g%% and top-1 ≥ %g%%): ", t->close_dppl_pct,
                    100 * t->close_top1);
        label(&o, m->label);
        sbuf_printf(sb, ", %s, %s smaller than the original's %s, with Δppl %s and top-1 agreement %s", fmt_mb(m->file_bytes, a),
                    fmt_speedup(orig_file_bytes / m->file_bytes, b), fmt_mb(orig_file_bytes, c), fmt_pct_signed(m->dppl_pct, d),
                    fmt_pct(100 * m->top1, 1, e));
        if (isfinite(m->speedup_tg)) sbuf_printf(sb, ", generating at %s the original's speed", fmt_speedup(m->speedup_tg, a));
        sbuf_puts(sb, ".");
    } else {
        sbuf_printf(sb, "No compressed model meets R1 (Δppl ≤ %g%% and top-1 ≥ %g%%), so none is a safe replacement", t->close_dppl_pct,
                    100 * t->close_top1);
        if (s->mildest >= 0) {
            const rules_input *m = &in[s->mildest];
            sbuf_puts(sb, "; the mildest is ");
            label(&o, m->label);
            sbuf_printf(sb, " with Δppl %s, top-1 agreement %s and mean KL %s", fmt_pct_signed(m->dppl_pct, a),
                        fmt_pct(100 * m->top1, 1, b), fmt_sig(m->kl_mean, 3, c));
        }
        sbuf_puts(sb, ".");
    }
    line_end(&o);
    // R1, R2, R5 per model; R4 and R5 (memory) per model
    for (int i = 0; i < n; i++) verdict_line(&o, t, &in[i], &r[i], orig_file_bytes);
    for (int i = 0; i < n; i++) speed_line(&o, t, &in[i], &r[i], orig_peak_rss, s->busy);
    if (s->n_faster == 0 && s->fastest >= 0 && !s->busy) {
        line_start(&o);
        sbuf_printf(sb, "No compressed model generates at least %gx as fast as the original (R4; the fastest, ", t->min_speedup);
        label(&o, in[s->fastest].label);
        sbuf_printf(sb, ", reaches %s): on this machine and thread count these settings buy size, not speed.",
                    fmt_speedup(in[s->fastest].speedup_tg, a));
        line_end(&o);
    }
    // R6
    for (int i = 0; i < n; i++) {
        int j = r[i].dominated_by;
        if (j < 0) continue;
        line_start(&o);
        label(&o, in[i].label);
        sbuf_puts(sb, " is dominated (R6) by ");
        label(&o, in[j].label);
        sbuf_printf(sb, ": %s vs %s, Δppl %s vs %s.", fmt_mb(in[j].file_bytes, a), fmt_mb(in[i].file_bytes, b),
                    fmt_pct_signed(in[j].dppl_pct, c), fmt_pct_signed(in[i].dppl_pct, d));
        line_end(&o);
    }
    // R7
    for (int i = 0; i < n; i++) {
        const rules_input *m = &in[i];
        if (r[i].ppl_hides) {
            line_start(&o);
            label(&o, m->label);
            sbuf_printf(sb, ": Δppl %s passes R1 but top-1 agreement %s does not (< %g%%): perplexity hides how often its "
                            "choices changed (R7).", fmt_pct_signed(m->dppl_pct, a), fmt_pct(100 * m->top1, 1, b), 100 * t->close_top1);
            line_end(&o);
        }
        if (r[i].ppl_gain) {
            line_start(&o);
            label(&o, m->label);
            sbuf_printf(sb, " scores lower perplexity than the original (Δppl %s, below −%g%%); with mean KL %s that is a "
                            "shifted distribution, not by itself a better model (R7).", fmt_pct_signed(m->dppl_pct, a),
                        t->ppl_gain_pct, fmt_sig(m->kl_mean, 3, b));
            line_end(&o);
        }
        if (r[i].lambada_drop) {
            line_start(&o);
            label(&o, m->label);
            sbuf_printf(sb, " loses %s points of LAMBADA accuracy (more than %g, R7).", fmt_sig(m->lambada_drop_pts, 3, a),
                        t->lambada_drop_pts);
            line_end(&o);
        }
    }
    // R8. Bits per weight are the knob of quantized models; a model stored at 16 bits or more
    // (pruned or factorized, not quantized) is made smaller or better by its cut instead.
    line_start(&o);
    sbuf_puts(sb, "Next (R8): ");
    if (s->next == RULES_NEXT_GO_LOWER) {
        const rules_input *m = &in[s->best];
        sbuf_puts(sb, "even the smallest setting tested, ");
        label(&o, m->label);
        sbuf_printf(sb, " (%s, %s bits/weight), passes R1: %s to find where quality breaks.", fmt_mb(m->file_bytes, a),
                    fmt_sig(m->bits_per_weight, 3, b),
                    unquantized(m) ? "quantize it (shrink compress), or cut more parameters," : "try fewer bits per weight, or pruning,");
    } else if (s->next == RULES_NEXT_BETWEEN && (unquantized(&in[s->best]) || unquantized(&in[s->below_best]))) {
        const rules_input *hi = &in[s->best], *lo = &in[s->below_best];
        sbuf_puts(sb, "quality goes from close at ");
        label(&o, hi->label);
        sbuf_printf(sb, " (%s, Δppl %s) to %s at ", fmt_mb(hi->file_bytes, a), fmt_pct_signed(hi->dppl_pct, b),
                    r[s->below_best].verdict == RULES_BROKE ? "broken" : "costly");
        label(&o, lo->label);
        sbuf_printf(sb, " (%s, Δppl %s): try sizes between the two.", fmt_mb(lo->file_bytes, c), fmt_pct_signed(lo->dppl_pct, d));
    } else if (s->next == RULES_NEXT_BETWEEN) {
        const rules_input *hi = &in[s->best], *lo = &in[s->below_best];
        sbuf_puts(sb, "quality goes from close at ");
        label(&o, hi->label);
        sbuf_printf(sb, " (%s bits/weight, Δppl %s) to %s at ", fmt_sig(hi->bits_per_weight, 3, a), fmt_pct_signed(hi->dppl_pct, b),
                    r[s->below_best].verdict == RULES_BROKE ? "broken" : "costly");
        label(&o, lo->label);
        sbuf_printf(sb, " (%s bits/weight, Δppl %s): try settings between %s and %s bits/weight, e.g. the smaller one with its "
                        "most sensitive tensors kept at more bits (compress --tensor-type).",
                    fmt_sig(lo->bits_per_weight, 3, c), fmt_pct_signed(lo->dppl_pct, d), fmt_sig(lo->bits_per_weight, 3, e),
                    fmt_sig(hi->bits_per_weight, 3, a));
    } else if (s->next == RULES_NEXT_MORE_BITS && unquantized(&in[s->mildest])) {
        const rules_input *m = &in[s->mildest];
        sbuf_puts(sb, "no setting passes R1; the mildest, ");
        label(&o, m->label);
        sbuf_printf(sb, " (%s bits/weight, Δppl %s, top-1 %s), still misses it: cut fewer parameters, or recover it by "
                        "distillation from the original (shrink train --teacher).",
                    fmt_sig(m->bits_per_weight, 3, a), fmt_pct_signed(m->dppl_pct, b), fmt_pct(100 * m->top1, 1, c));
    } else if (s->next == RULES_NEXT_MORE_BITS) {
        const rules_input *m = &in[s->mildest];
        sbuf_puts(sb, "no setting passes R1; the mildest, ");
        label(&o, m->label);
        sbuf_printf(sb, " (%s bits/weight, Δppl %s, top-1 %s), still misses it: try more bits per weight than %s, or an "
                        "importance-aware method (GPTQ/AWQ) at the same size.",
                    fmt_sig(m->bits_per_weight, 3, a), fmt_pct_signed(m->dppl_pct, b), fmt_pct(100 * m->top1, 1, c),
                    fmt_sig(m->bits_per_weight, 3, d));
    } else {
        const rules_input *m = &in[s->largest];
        sbuf_puts(sb, "every setting broke quality, even the largest, ");
        label(&o, m->label);
        if (unquantized(m))
            sbuf_printf(sb, " (%s bits/weight, Δppl %s, mean KL %s): cut fewer parameters, or recover by distillation, before "
                            "anything else.",
                        fmt_sig(m->bits_per_weight, 3, a), fmt_pct_signed(m->dppl_pct, b), fmt_sig(m->kl_mean, 3, c));
        else
            sbuf_printf(sb, " (%s bits/weight, Δppl %s, mean KL %s): use more bits per weight than %s before anything else.",
                        fmt_sig(m->bits_per_weight, 3, a), fmt_pct_signed(m->dppl_pct, b), fmt_sig(m->kl_mean, 3, c),
                        fmt_sig(m->bits_per_weight, 3, d));
    }
    line_end(&o);
}
