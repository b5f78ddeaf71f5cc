// sweep_report.c: `shrink sweep`'s outputs as text: sweep.md (every model by size, the
// frontier marked, the bounds and the choice), sweep.json (every number), pareto.svg
// (quality loss against size, drawn by report/svg.c) and each point's json. No I/O.
#include "sweep.h"
#include "../train/train.h"
#include "pareto.h"
#include "../report/fmt.h"
#include "../report/svg.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The plot shows Δppl unless only a KL bound is given.
static int plot_kl(const sweep_opts *o) { return isnan(o->max_dppl) && !isnan(o->max_kl); }

// "Q4_K_M", "bpw 3.0", "bpw of Q2_K (3.73)"
static const char *storage(const sweep_row *w, char *buf, size_t cap) {
    if (w->pt.type[0]) snprintf(buf, cap, "%s", w->pt.type);
    else if (w->pt.bpw[0] >= '0' && w->pt.bpw[0] <= '9') snprintf(buf, cap, "bpw %s", w->pt.bpw);
    else if (w->pt.bpw[0]) snprintf(buf, cap, "bpw of %s (%.2f)", w->pt.bpw, w->pt.target_bpw);
    else snprintf(buf, cap, "%.40s", w->types);  // the original: its dtype
    return buf;
}

// Bounds as given (%g: "2%", "0.01"), not padded to a number of digits.
static void bounds_text(const sweep_opts *o, sbuf *out) {
    if (!isnan(o->max_dppl)) sbuf_printf(out, "Δppl ≤ %g%%", o->max_dppl);
    if (!isnan(o->max_dppl) && !isnan(o->max_kl)) sbuf_puts(out, " and ");
    if (!isnan(o->max_kl)) sbuf_printf(out, "KL ≤ %g", o->max_kl);
}

static void row_brief(const sweep_row *w, sbuf *out) {
    char a[FMT_LEN], b[FMT_LEN], c[FMT_LEN];
    sbuf_printf(out, "%s (%s, Δppl %s, KL %s)", w->pt.name, fmt_mb(w->file_bytes, a), fmt_pct_signed(w->dppl_pct, b),
                fmt_sig(w->kl_mean, 3, c));
}

void sweep_choice_sentence(const sweep_opts *o, const sweep_result *r, sbuf *out) {
    int bounded = !isnan(o->max_dppl) || !isnan(o->max_kl);
    if (r->chosen >= 0) {
        if (bounded) {
            sbuf_puts(out, "Smallest meeting ");
            bounds_text(o, out);
            sbuf_puts(out, ": ");
        } else {
            sbuf_puts(out, "No bound given; smallest: ");
        }
        row_brief(&r->rows[r->chosen], out);
    } else {
        sbuf_puts(out, "None meets ");
        bounds_text(o, out);
        if (r->closest >= 0) {
            sbuf_puts(out, "; closest: ");
            row_brief(&r->rows[r->closest], out);
        }
    }
    sbuf_puts(out, ".");
}

// --- json

void sweep_row_json(const sweep_opts *o, const sweep_row *w, int with_settings, sbuf *b) {
    sbuf_puts(b, "{\"name\": ");
    fmt_json_string(b, w->pt.name);
    sbuf_puts(b, ", \"method\": ");
    fmt_json_string(b, compress_method_name(w->pt.method));
    sbuf_puts(b, ", \"type\": ");
    if (w->pt.type[0]) fmt_json_string(b, w->pt.type);
    else sbuf_puts(b, "null");
    sbuf_puts(b, ", \"bpw\": ");
    if (w->pt.bpw[0]) fmt_json_string(b, w->pt.bpw);
    else sbuf_puts(b, "null");
    sbuf_puts(b, ", \"target_bpw\": ");
    fmt_json_num(b, w->pt.bpw[0] ? w->pt.target_bpw : NAN);
    sbuf_printf(b, ", \"gguf\": \"points/%s.gguf\"", w->pt.name);  // names are file-safe: no escaping needed
    struct {
        const char *key;
        double v;
    } nums[] = {{"file_bytes", w->file_bytes}, {"params", w->params}, {"bits_per_param", w->bits_per_param},
                {"matrix_bpw", w->matrix_bpw}, {"ppl", w->ppl}, {"base_ppl", w->base_ppl}, {"dppl_pct", w->dppl_pct},
                {"kl_mean", w->kl_mean}, {"kl_p99", w->kl_p99}, {"kl_max", w->kl_max}, {"top1", w->top1},
                {"tokens", (double)w->tokens}, {"compress_seconds", w->compress_s}, {"eval_seconds", w->eval_s}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        sbuf_printf(b, ", \"%s\": ", nums[i].key);
        fmt_json_num(b, nums[i].v);
    }
    sbuf_puts(b, ", \"types\": ");
    fmt_json_string(b, w->types);
    if (with_settings) {
        sbuf_puts(b, ",\n \"settings\": {\"original\": ");
        fmt_json_string(b, o->original);
        sbuf_puts(b, ", \"heldout\": ");
        fmt_json_string(b, o->heldout_path ? o->heldout_path : "");
        sbuf_printf(b, ", \"heldout_tokens\": %zu, \"ctx\": %d, \"stride\": %d, \"calib\": ", o->n_ids, o->ctx, o->stride);
        int calib = grid_point_needs_calib(&w->pt) && o->calib;
        if (calib && o->calib_path) fmt_json_string(b, o->calib_path);
        else sbuf_puts(b, "null");
        sbuf_puts(b, ", \"calib_tokens\": ");
        if (calib) sbuf_printf(b, "%ld", (long)o->calib->n_windows * o->calib->ctx);
        else sbuf_puts(b, "null");
        char hh[24], ch[24];
        sweep_fingerprints(o, &w->pt, hh, ch);
        sbuf_printf(b, ", \"heldout_fnv1a64\": \"%s\", \"calib_fnv1a64\": ", hh);
        if (ch[0]) sbuf_printf(b, "\"%s\"", ch);
        else sbuf_puts(b, "null");
        sbuf_printf(b, ", \"original_params\": %.0f, \"prune_keep_pct\": ", o->original_params);
        fmt_json_num(b, w->pt.keep_pct > 0 && !w->pt.lowrank ? w->pt.keep_pct : NAN);  // null: not pruned
        sbuf_puts(b, ", \"lowrank_keep_pct\": ");
        fmt_json_num(b, w->pt.keep_pct > 0 && w->pt.lowrank ? w->pt.keep_pct : NAN);  // null: not factorized
        sbuf_puts(b, ", \"recover_tokens\": ");
        fmt_json_num(b, w->pt.recover_tokens > 0 ? w->pt.recover_tokens : NAN);  // null: not distilled
        if (w->pt.recover_tokens > 0) {
            sbuf_puts(b, ", \"recover_data\": ");
            fmt_json_string(b, o->recover_path ? o->recover_path : "");
            sbuf_printf(b, ", \"recover_fnv1a64\": \"%016llx\", \"recover_lr\": %g", (unsigned long long)o->recover_fnv,
                        o->recover_lr > 0 ? o->recover_lr : recover_defaults().lr);
        }
        sbuf_printf(b, ", \"damp\": 0.01, \"act_order\": false, \"threads\": %d, \"kernels\": ", o->threads);
        fmt_json_string(b, kern.isa ? kern.isa : "");
        sbuf_puts(b, "}");
    }
    sbuf_puts(b, "}");
    if (with_settings) sbuf_puts(b, "\n");
}

static void json_name_or_null(sbuf *b, const sweep_result *r, int i) {
    if (i >= 0) fmt_json_string(b, r->rows[i].pt.name);
    else sbuf_puts(b, "null");
}

void sweep_json(const sweep_opts *o, const sweep_result *r, sbuf *b) {
    sbuf_puts(b, "{\"original\": {\"path\": ");
    fmt_json_string(b, o->original);
    sbuf_puts(b, ", \"file_bytes\": ");
    fmt_json_num(b, r->original.file_bytes);
    sbuf_puts(b, ", \"params\": ");
    fmt_json_num(b, r->original.params);
    sbuf_puts(b, ", \"bits_per_param\": ");
    fmt_json_num(b, r->original.bits_per_param);
    sbuf_puts(b, ", \"ppl\": ");
    fmt_json_num(b, r->original.ppl);
    sbuf_printf(b, ", \"front_dppl\": %s, \"front_kl\": %s},\n \"grid\": ", r->original.front_dppl ? "true" : "false",
                r->original.front_kl ? "true" : "false");
    fmt_json_string(b, o->grid_spec ? o->grid_spec : "");
    sbuf_puts(b, ", \"heldout\": ");
    fmt_json_string(b, o->heldout_path ? o->heldout_path : "");
    sbuf_printf(b, ", \"heldout_tokens\": %zu, \"ctx\": %d, \"stride\": %d, \"calib\": ", o->n_ids, o->ctx, o->stride);
    if (o->calib && o->calib_path) fmt_json_string(b, o->calib_path);
    else sbuf_puts(b, "null");
    sbuf_puts(b, ", \"calib_tokens\": ");
    if (o->calib) sbuf_printf(b, "%ld", (long)o->calib->n_windows * o->calib->ctx);
    else sbuf_puts(b, "null");
    sbuf_printf(b, ", \"threads\": %d, \"command\": ", o->threads);
    if (o->command) fmt_json_string(b, o->command);
    else sbuf_puts(b, "null");
    sbuf_puts(b, ",\n \"bounds\": {\"max_dppl_pct\": ");
    fmt_json_num(b, o->max_dppl);
    sbuf_puts(b, ", \"max_kl\": ");
    fmt_json_num(b, o->max_kl);
    sbuf_puts(b, "}, \"chosen\": ");
    json_name_or_null(b, r, r->chosen);
    sbuf_puts(b, ", \"closest\": ");
    json_name_or_null(b, r, r->closest);
    sbuf_puts(b, ", \"choice\": ");
    sbuf s;
    sbuf_init(&s);
    sweep_choice_sentence(o, r, &s);
    fmt_json_string(b, sbuf_str(&s));
    sbuf_free(&s);
    for (int k = 0; k < 2; k++) {
        sbuf_printf(b, ",\n \"%s\": [", k ? "frontier_kl" : "frontier_dppl");
        int first = 1;
        for (int i = 0; i < r->n; i++)
            if (k ? r->rows[i].front_kl : r->rows[i].front_dppl) {
                if (!first) sbuf_puts(b, ", ");
                fmt_json_string(b, r->rows[i].pt.name);
                first = 0;
            }
        sbuf_puts(b, "]");
    }
    sbuf_printf(b, ",\n \"seconds\": ");
    fmt_json_num(b, r->seconds);
    sbuf_printf(b, ", \"points_run\": %d, \"points_skipped\": %d,\n \"points\": [\n", r->n_run, r->n_skipped);
    for (int i = 0; i < r->n; i++) {
        const sweep_row *w = &r->rows[i];
        sbuf_puts(b, "  ");
        sweep_row_json(o, w, 0, b);
        b->len--;  // reopen the object for the sweep's own flags
        sbuf_printf(b, ", \"skipped\": %s, \"front_dppl\": %s, \"front_kl\": %s}%s\n", w->skipped ? "true" : "false",
                    w->front_dppl ? "true" : "false", w->front_kl ? "true" : "false", i + 1 < r->n ? "," : "");
    }
    sbuf_puts(b, " ]}\n");
}

// --- markdown

// Indices into rows, -1 for the original, by ascending file size; equal sizes (within
// PARETO_SIZE_TIE) by Δppl, then KL (the better first), then grid order.
static int *by_size(const sweep_result *r) {
    int n = r->n + 1, *idx = xmalloc((size_t)n * sizeof *idx);
    for (int i = 0; i < n; i++) idx[i] = i - 1;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0; j--) {
            const sweep_row *a = idx[j] < 0 ? &r->original : &r->rows[idx[j]];
            const sweep_row *b = idx[j - 1] < 0 ? &r->original : &r->rows[idx[j - 1]];
            int c = pareto_size_cmp(a->file_bytes, b->file_bytes);
            int before = c ? c < 0 : a->dppl_pct != b->dppl_pct ? a->dppl_pct < b->dppl_pct : a->kl_mean < b->kl_mean;
            if (!before) break;
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    return idx;
}

void sweep_markdown(const sweep_opts *o, const sweep_result *r, sbuf *md) {
    char a[FMT_LEN], b[FMT_LEN];
    sbuf_printf(md, "# Compression sweep: %s\n\n", o->original);
    sbuf_printf(md, "%d point%s from `--grid %s`, each compressed from `%s` and measured against it on `%s` (%s tokens "
                    "scored; windows of %d tokens, stride %d).",
                r->n, r->n == 1 ? "" : "s", o->grid_spec ? o->grid_spec : "", o->original, o->heldout_path ? o->heldout_path : "",
                fmt_int(r->original.tokens, a), o->ctx, o->stride);
    int any_calib = 0;
    for (int i = 0; i < r->n; i++) any_calib |= grid_point_needs_calib(&r->rows[i].pt);
    if (any_calib && o->calib)
        sbuf_printf(md, " Calibration (methods other than rtn, and bpw targets): `%s`, its first %s tokens.",
                    o->calib_path ? o->calib_path : "", fmt_int((long long)o->calib->n_windows * o->calib->ctx, b));
    sbuf_printf(md, " This run: %d compressed, %d skipped (done before), %s s.\n\n**", r->n_run, r->n_skipped,
                fmt_sig(r->seconds, 3, a));
    sweep_choice_sentence(o, r, md);
    sbuf_puts(md, "**\n\n");

    sbuf_puts(md, "| model | method | storage | file | bits/param | matrices bpw | ppl | Δppl | KL mean | KL p99 | top-1 | "
                  "compress | frontier |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    int *idx = by_size(r);
    for (int k = 0; k <= r->n; k++) {
        const sweep_row *w = idx[k] < 0 ? &r->original : &r->rows[idx[k]];
        int orig = idx[k] < 0, chosen = idx[k] >= 0 && idx[k] == r->chosen;
        char st[64], c1[FMT_LEN], c2[FMT_LEN], c3[FMT_LEN], c4[FMT_LEN], c5[FMT_LEN], c6[FMT_LEN], c7[FMT_LEN], c8[FMT_LEN],
            c9[FMT_LEN], c10[FMT_LEN];
        sbuf_puts(md, "| ");
        if (chosen) sbuf_printf(md, "**%s** (chosen)", w->pt.name);
        else if (orig) sbuf_puts(md, "*original*");
        else sbuf_puts(md, w->pt.name);
        const char *front = w->front_dppl && w->front_kl ? "Δppl, KL" : w->front_dppl ? "Δppl" : w->front_kl ? "KL" : "";
        sbuf_printf(md, " | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                    orig ? "—" : compress_method_name(w->pt.method), storage(w, st, sizeof st), fmt_mb(w->file_bytes, c1),
                    fmt_fixed(w->bits_per_param, 2, c2), orig ? "—" : fmt_fixed(w->matrix_bpw, 2, c3), fmt_sig(w->ppl, 4, c4),
                    orig ? "0" : fmt_pct_signed(w->dppl_pct, c5), orig ? "0" : fmt_sig(w->kl_mean, 3, c6),
                    orig ? "0" : fmt_sig(w->kl_p99, 3, c7), fmt_pct(100 * w->top1, 1, c8),
                    orig ? "—" : (snprintf(c10, sizeof c10, "%s s", fmt_sig(w->compress_s, 3, c9)), c10), front);
    }
    free(idx);
    sbuf_puts(md, "\n- **file**: the GGUF file (the original: its weight files), MB = 10⁶ bytes. **bits/param**: 8 × file "
                  "bytes / unique parameters (a GGUF also carries the tokenizer, and a tied LM head's own copy as `output`). "
                  "**matrices bpw**: bits per weight of the stored weight matrices alone.\n");
    sbuf_puts(md, "- **Δppl**: perplexity change against the original on the same windows. **KL**: KL(original ‖ model) in "
                  "nats per scored token, mean and 99th percentile. **top-1**: share of positions where both models' most "
                  "likely next token is the same. **compress**: wall time of calibration and quantization.\n");
    sbuf_puts(md, "- **frontier**: `Δppl` marks a model on the Pareto frontier of file size against Δppl (no other model, "
                  "the original included, is at most as large and at most as far off, and better in one of the two; sizes "
                  "within 0.1% count as equal, as files of one storage differ by bytes of metadata); `KL` the same "
                  "against mean KL.\n");
    sbuf_puts(md, "- **bounds**: ");
    if (isnan(o->max_dppl)) sbuf_puts(md, "Δppl: none");
    else sbuf_printf(md, "Δppl ≤ %g%%", o->max_dppl);
    if (isnan(o->max_kl)) sbuf_puts(md, " (`--max-dppl`); KL: none (`--max-kl`)");
    else sbuf_printf(md, " (`--max-dppl`); KL ≤ %g (`--max-kl`)", o->max_kl);
    sbuf_printf(md, "; a value equal to its bound meets it. The choice is the smallest compressed "
                    "model meeting %s (among sizes within 0.1%% of the smallest, the lowest Δppl); when none does, the "
                    "closest is the one whose worst metric is least over its bound, relative to the bound.\n\n",
                isnan(o->max_dppl) || isnan(o->max_kl) ? "it" : "both");
    sbuf_printf(md, "![%s against file size](pareto.svg)\n\nEvery number: `sweep.json`; each point's, with the settings "
                    "it was made with: `points/NAME.json` beside `points/NAME.gguf`.\n",
                plot_kl(o) ? "Mean KL" : "Δppl");
    if (o->command) sbuf_printf(md, "\nCommand: `%s`\n", o->command);
}

// --- plot

void sweep_plot(const sweep_opts *o, const sweep_result *r, sbuf *svg) {
    int kl = plot_kl(o), n = r->n;
    // one series per method present, in the methods' order
    svg_series s[8];
    int ns = 0;
    svg_point *front = xcalloc((size_t)n + 1, sizeof *front), *pts = xcalloc((size_t)n, sizeof *pts);
    char **labels = xcalloc((size_t)n, sizeof *labels);
    int *idx = by_size(r), nf = 0;
    for (int k = 0; k <= n; k++) {  // the frontier among the compressed points, by size
        if (idx[k] < 0) continue;
        const sweep_row *w = &r->rows[idx[k]];
        if (kl ? w->front_kl : w->front_dppl) front[nf++] = (svg_point){w->file_bytes / 1e6, kl ? w->kl_mean : w->dppl_pct, NAN, NAN, NULL};
    }
    s[ns++] = (svg_series){"Pareto frontier", "#999999", SVG_MARK_NONE, 1, 1, front, nf};
    static const svg_marker marks[] = {SVG_MARK_CIRCLE, SVG_MARK_SQUARE, SVG_MARK_DIAMOND, SVG_MARK_TRIANGLE, SVG_MARK_CIRCLE};
    int np = 0;
    for (int m = METHOD_RTN; m <= METHOD_AWQ_GPTQ; m++) {
        int start = np;
        for (int i = 0; i < n; i++) {
            const sweep_row *w = &r->rows[i];
            if ((int)w->pt.method != m) continue;
            size_t len = strlen(w->pt.name) + 16;
            labels[i] = xmalloc(len);
            snprintf(labels[i], len, "%s%s", w->pt.name, i == r->chosen ? " (chosen)" : "");
            pts[np++] = (svg_point){w->file_bytes / 1e6, kl ? w->kl_mean : w->dppl_pct, NAN, NAN, labels[i]};
        }
        if (np > start) s[ns++] = (svg_series){compress_method_name((compress_method)m), svg_color(m), marks[m], 0, 0, pts + start, np - start};
    }
    // The original sits far to the right of its compressed versions: it is a line at 0
    // (its Δppl and KL), named in the x label, not a point that would squeeze the others.
    char bl[96], xl[128], a[FMT_LEN], title[256];
    double bound = kl ? o->max_kl : o->max_dppl;
    svg_rule rules[2];
    int nr = 0;
    snprintf(xl, sizeof xl, "GGUF file (MB); the original (%s, off the plot) is the line at 0", fmt_mb(r->original.file_bytes, a));
    rules[nr++] = (svg_rule){0, NULL, "#555555", 1};
    if (!isnan(bound)) {
        if (kl) snprintf(bl, sizeof bl, "bound: KL ≤ %g", bound);
        else snprintf(bl, sizeof bl, "bound: Δppl ≤ %g%%", bound);
        rules[nr++] = (svg_rule){bound, bl, "#D55E00", 1};
    }
    snprintf(title, sizeof title, "%s vs size: %d compressed model%s of %s", kl ? "Mean KL" : "Perplexity change", n,
             n == 1 ? "" : "s", o->original);
    svg_xy_plot p = {title, xl, kl ? "mean KL(original ‖ model), nats/token" : "Δ perplexity vs the original (%)",
                     760, 480, s, ns, rules, nr, 0, 0};
    svg_xy_plot_write(&p, svg);
    for (int i = 0; i < n; i++) free(labels[i]);
    free(labels), free(pts), free(front), free(idx);
}
