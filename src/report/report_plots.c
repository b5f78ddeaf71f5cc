// report_plots.c: the report's three plots from its numbers (svg.c draws them):
// quality vs size (Δppl against MB, the Pareto front, the R1/R2 thresholds as lines),
// speed vs size (generation and prompt tokens/s, whiskers min..max), and where each
// weights file's bytes are (stacked bars by storage type). Text only, no I/O.
#include "report.h"
#include "fmt.h"
#include "svg.h"
#include "../core/xalloc.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *original_label(const report *r) {
    size_t n = strlen(r->models[0].label) + 16;
    char *s = xmalloc(n);
    snprintf(s, n, "%s (original)", r->models[0].label);
    return s;
}

void report_plot_quality(const report *r, sbuf *svg) {
    int n = r->n_models;
    svg_point *orig = xcalloc(1, sizeof *orig), *comp = xcalloc((size_t)n, sizeof *comp), *front = xcalloc((size_t)n, sizeof *front);
    char *olab = original_label(r);
    orig[0] = (svg_point){r->models[0].file_bytes / 1e6, 0, NAN, NAN, olab};
    char **labels = xcalloc((size_t)n, sizeof *labels);
    for (int i = 1; i < n; i++) {
        char a[FMT_LEN];
        size_t len = strlen(r->models[i].label) + FMT_LEN + 4;
        labels[i] = xmalloc(len);
        snprintf(labels[i], len, "%s (%s)", r->models[i].label, fmt_pct_signed(r->models[i].dppl_pct, a));
        comp[i - 1] = (svg_point){r->models[i].file_bytes / 1e6, r->models[i].dppl_pct, NAN, NAN, labels[i]};
    }
    // Pareto front over all models (original at Δppl 0): by size, each point better than every smaller one
    int *idx = xmalloc((size_t)n * sizeof(int)), nf = 0;
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++)  // insertion sort by size
        for (int j = i; j > 0 && r->models[idx[j]].file_bytes < r->models[idx[j - 1]].file_bytes; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    double best = INFINITY;
    for (int k = 0; k < n; k++) {
        const report_model *m = &r->models[idx[k]];
        double d = idx[k] == 0 ? 0 : m->dppl_pct;
        if (isfinite(d) && d < best) {
            best = d;
            front[nf++] = (svg_point){m->file_bytes / 1e6, d, NAN, NAN, NULL};
        }
    }
    double max_d = 0;
    for (int i = 1; i < n; i++)
        if (isfinite(r->models[i].dppl_pct)) max_d = fmax(max_d, r->models[i].dppl_pct);
    char l1[96], l2[96];
    snprintf(l1, sizeof l1, "R1 close: Δppl ≤ %g%%", r->rules.close_dppl_pct);
    snprintf(l2, sizeof l2, "R2 broke: Δppl > %g%%", r->rules.broke_dppl_pct);
    svg_rule rules[2] = {{r->rules.close_dppl_pct, l1, "#009E73", 1},
                         {r->rules.broke_dppl_pct, l2, "#D55E00", max_d > r->rules.close_dppl_pct}};
    svg_series s[3] = {
        {"Pareto front (no model both smaller and better)", "#999999", SVG_MARK_NONE, 1, 1, front, nf},
        {"original", "#000000", SVG_MARK_SQUARE, 0, 0, orig, 1},
        {"compressed", svg_color(0), SVG_MARK_CIRCLE, 0, 0, comp, n - 1},
    };
    char title[160];
    snprintf(title, sizeof title, "Quality vs size: perplexity change on %s", r->set.heldout);
    svg_xy_plot p = {title, "weights file (MB)", "Δ perplexity vs the original (%)", 760, 460, s, 3, rules, 2, 1, 0};
    svg_xy_plot_write(&p, svg);
    for (int i = 0; i < n; i++) free(labels[i]);
    free(labels);
    free(olab);
    free(idx);
    free(orig);
    free(comp);
    free(front);
}

void report_plot_speed(const report *r, sbuf *svg) {
    int n = r->n_models;
    svg_point *tg = xcalloc((size_t)n, sizeof *tg), *pp = xcalloc((size_t)n, sizeof *pp);
    char *olab = original_label(r);
    for (int i = 0; i < n; i++) {
        const report_model *m = &r->models[i];
        tg[i] = (svg_point){m->file_bytes / 1e6, m->tg.median, m->tg.min, m->tg.max, i ? m->label : olab};
        pp[i] = (svg_point){m->file_bytes / 1e6, m->pp.median, m->pp.min, m->pp.max, NULL};  // same x as its tg label
    }
    char ntg[64], npp[64], title[160];
    snprintf(ntg, sizeof ntg, "generation (tg%d)", r->set.tg);
    snprintf(npp, sizeof npp, "prompt (pp%d)", r->set.pp);
    svg_series s[2] = {{npp, svg_color(1), SVG_MARK_TRIANGLE, 0, 0, pp, n}, {ntg, svg_color(0), SVG_MARK_CIRCLE, 0, 0, tg, n}};
    snprintf(title, sizeof title, "Speed vs size (%d thread%s, median of %d; whiskers min to max)%s", r->set.threads,
             r->set.threads == 1 ? "" : "s", r->set.reps, r->rsum.busy ? ": busy machine, R9" : "");
    svg_xy_plot p = {title, "weights file (MB)", "tokens per second", 760, 460, s, 2, NULL, 0, 1, 1};
    svg_xy_plot_write(&p, svg);
    free(olab);
    free(tg);
    free(pp);
}

// Bits per weight of a storage type (the first model that has it), for ordering types from
// wide to narrow.
static double type_bpw(const report *r, const char *type) {
    for (int i = 0; i < r->n_models; i++)
        for (int k = 0; k < r->models[i].n_types; k++)
            if (strcmp(r->models[i].types[k].type, type) == 0 && r->models[i].types[k].params > 0)
                return 8 * r->models[i].types[k].bytes / r->models[i].types[k].params;
    return 0;
}

// Every storage type of every model, widest first, with one colour each: the same type has
// the same colour in every plot of a report. Returns the count.
static int type_keys(const report *r, const char **keys, const char **colors) {
    int nk = 0;
    for (int i = 0; i < r->n_models; i++)
        for (int k = 0; k < r->models[i].n_types; k++) {
            int have = 0;
            for (int j = 0; j < nk; j++) have |= strcmp(keys[j], r->models[i].types[k].type) == 0;
            if (!have && nk < REPORT_MAX_TYPES) keys[nk++] = r->models[i].types[k].type;
        }
    for (int i = 1; i < nk; i++)
        for (int j = i; j > 0 && type_bpw(r, keys[j]) > type_bpw(r, keys[j - 1]); j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    for (int k = 0; k < nk; k++) colors[k] = svg_color(k >= 6 ? k + 1 : k);  // skip the palette's pale yellow
    return nk;
}

void report_plot_breakdown(const report *r, sbuf *svg) {
    int n = r->n_models;
    const char *keys[REPORT_MAX_TYPES + 1], *colors[REPORT_MAX_TYPES + 1];
    int nk = type_keys(r, keys, colors);
    keys[nk] = "other: headers, metadata, tokenizer";
    colors[nk] = "#cccccc";
    double *v = xcalloc((size_t)n * (size_t)(nk + 1), sizeof *v);
    const char **bars = xcalloc((size_t)n, sizeof *bars);
    char **totals = xcalloc((size_t)n, sizeof *totals);
    char *olab = original_label(r);
    for (int i = 0; i < n; i++) {
        const report_model *m = &r->models[i];
        bars[i] = i ? m->label : olab;
        for (int k = 0; k < m->n_types; k++)
            for (int j = 0; j < nk; j++)
                if (strcmp(keys[j], m->types[k].type) == 0) v[(size_t)i * (nk + 1) + j] += m->types[k].bytes / 1e6;
        v[(size_t)i * (nk + 1) + nk] = (m->file_bytes - m->tensor_bytes) / 1e6;
        char a[FMT_LEN], b[FMT_LEN];
        totals[i] = xmalloc(2 * FMT_LEN);
        snprintf(totals[i], 2 * FMT_LEN, "%s, %s bits/weight", fmt_mb(m->file_bytes, a), fmt_sig(m->bits_per_weight, 3, b));
    }
    svg_stacked_bars p = {"Weights file by storage type", "MB (10⁶ bytes)", 760, keys, colors, nk + 1, bars, n, v,
                          (const char *const *)totals};
    svg_stacked_bars_write(&p, svg);
    for (int i = 0; i < n; i++) free(totals[i]);
    free(totals);
    free(bars);
    free(v);
    free(olab);
}

void report_tensor_plot_name(const report_model *m, char *buf, size_t n) {
    snprintf(buf, n, "tensors_%s.svg", m->label);
    for (char *p = buf; *p; p++)  // a file name and a markdown link without quoting
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
            *p = '_';
}

void report_plot_tensors(const report *r, int i, sbuf *svg) {
    const report_model *m = &r->models[i];
    const char *keys[REPORT_MAX_TYPES + 1], *colors[REPORT_MAX_TYPES + 1];
    int nk = type_keys(r, keys, colors);
    // rows: each matrix group (its layers summed), then every 1-D tensor together
    const char *rows[REPORT_MAX_GROUPS + 1];
    char names[REPORT_MAX_GROUPS + 1][48];
    int nr = 0;
    double *v = xcalloc((size_t)(REPORT_MAX_GROUPS + 1) * (size_t)nk, sizeof *v);
    for (int g = 0; g < m->n_groups; g++) {
        const report_group *x = &m->groups[g];
        const char *name = x->matrix ? x->name : "norms, biases (1-D)";
        size_t len = strlen(name);
        if (x->matrix && len > 7 && strcmp(name + len - 7, ".weight") == 0) len -= 7;
        int row = 0;
        while (row < nr && !(strlen(names[row]) == len && strncmp(names[row], name, len) == 0)) row++;
        if (row == nr) {
            snprintf(names[nr], sizeof names[nr], "%.*s", (int)len, name);
            rows[nr] = names[nr];
            nr++;
        }
        for (int k = 0; k < nk; k++)
            if (strcmp(keys[k], x->type) == 0) v[(size_t)row * nk + k] += x->bytes / 1e6;
    }
    // the legend lists this model's types only, in the report's colours
    const char *ukeys[REPORT_MAX_TYPES], *ucolors[REPORT_MAX_TYPES];
    int nu = 0;
    double *uv = xcalloc((size_t)(REPORT_MAX_GROUPS + 1) * (size_t)nk, sizeof *uv);
    for (int k = 0; k < nk; k++) {
        double used = 0;
        for (int row = 0; row < nr; row++) used += v[(size_t)row * nk + k];
        if (used <= 0) continue;
        for (int row = 0; row < nr; row++) uv[(size_t)row * nk + nu] = v[(size_t)row * nk + k];
        ukeys[nu] = keys[k];
        ucolors[nu++] = colors[k];
    }
    // compact the (rows, nu) values
    for (int row = 0; row < nr; row++)
        for (int k = 0; k < nu; k++) v[(size_t)row * nu + k] = uv[(size_t)row * nk + k];
    char *totals[REPORT_MAX_GROUPS + 1];
    for (int row = 0; row < nr; row++) {
        double sum = 0;
        for (int k = 0; k < nu; k++) sum += v[(size_t)row * nu + k];
        totals[row] = xmalloc(FMT_LEN);
        fmt_bytes(sum * 1e6, totals[row]);
    }
    char title[160];
    snprintf(title, sizeof title, "%s: bytes per tensor and their storage types", m->label);
    svg_stacked_bars p = {title, "MB (10⁶ bytes; blk.* sums the layers)", 760, ukeys, ucolors, nu, rows, nr, v,
                          (const char *const *)totals};
    svg_stacked_bars_write(&p, svg);
    for (int row = 0; row < nr; row++) free(totals[row]);
    free(uv);
    free(v);
}
