// report_json.c: report.json: every number the report measured, the settings and rule
// thresholds, and the conclusions as plain sentences. Non-finite numbers are null.
// Units are in the key names (bytes, ms, tokens per second, nats, fractions).
#include "report.h"
#include "fmt.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void key(sbuf *js, const char *k) {
    fmt_json_string(js, k);
    sbuf_puts(js, ": ");
}
static void num(sbuf *js, const char *k, double v, int last) {
    key(js, k);
    fmt_json_num(js, v);
    sbuf_puts(js, last ? "" : ", ");
}
static void str(sbuf *js, const char *k, const char *v, int last) {
    key(js, k);
    if (v) fmt_json_string(js, v);
    else sbuf_puts(js, "null");
    sbuf_puts(js, last ? "" : ", ");
}
static void speed(sbuf *js, const char *k, const speed_stat *s, int tokens) {
    key(js, k);
    sbuf_puts(js, "{");
    num(js, "tokens", tokens, 0);
    num(js, "median_tps", s->median, 0);
    num(js, "min_tps", s->min, 0);
    num(js, "max_tps", s->max, 0);
    num(js, "reps", s->reps, 1);
    sbuf_puts(js, "}, ");
}

static void model_json(const report *r, int i, sbuf *js) {
    const report_model *m = &r->models[i], *o = &r->models[0];
    const report_settings *s = &r->set;
    sbuf_puts(js, "    {");
    str(js, "label", m->label, 0);
    str(js, "path", m->path, 0);
    str(js, "role", i ? "compressed" : "original", 0);
    // size
    num(js, "file_bytes", m->file_bytes, 0);
    num(js, "tensor_bytes", m->tensor_bytes, 0);
    num(js, "other_bytes", m->file_bytes - m->tensor_bytes, 0);
    num(js, "params", m->params, 0);
    num(js, "bits_per_weight", m->bits_per_weight, 0);
    num(js, "size_reduction_bytes", o->file_bytes - m->file_bytes, 0);
    num(js, "size_reduction_pct", 100 * (1 - m->file_bytes / o->file_bytes), 0);
    num(js, "params_reduction_pct", 100 * (1 - m->params / o->params), 0);
    num(js, "n_layer", m->n_layer, 0);
    key(js, "heads");
    for (int l = 0; l < m->n_layer; l++) sbuf_printf(js, "%s%d", l ? ", " : "[", m->heads[l]);
    sbuf_puts(js, m->n_layer ? "], " : "[], ");
    key(js, "ffn");
    for (int l = 0; l < m->n_layer; l++) sbuf_printf(js, "%s%d", l ? ", " : "[", m->ffn[l]);
    sbuf_puts(js, m->n_layer ? "], " : "[], ");
    num(js, "lowrank_linears", m->lowrank, 0);
    key(js, "mixed_precision");
    sbuf_puts(js, m->mixed ? "true, " : "false, ");
    key(js, "types");
    sbuf_puts(js, "[");
    for (int k = 0; k < m->n_types; k++) {
        sbuf_puts(js, k ? ", {" : "{");
        str(js, "type", m->types[k].type, 0);
        num(js, "params", m->types[k].params, 0);
        num(js, "bytes", m->types[k].bytes, 1);
        sbuf_puts(js, "}");
    }
    sbuf_puts(js, "], ");
    key(js, "tensors");
    sbuf_puts(js, "[");
    for (int g = 0; g < m->n_groups; g++) {
        const report_group *x = &m->groups[g];
        sbuf_puts(js, g ? ", {" : "{");
        str(js, "name", x->name, 0);
        str(js, "type", x->type, 0);
        num(js, "count", x->count, 0);
        num(js, "params", x->params, 0);
        num(js, "bytes", x->bytes, 1);
        sbuf_puts(js, "}");
    }
    sbuf_puts(js, "],\n     ");
    // speed
    speed(js, "pp", &m->pp, s->pp);
    speed(js, "tg", &m->tg, s->tg);
    num(js, "forward_ms_median", m->forward_ms_median, 0);
    num(js, "forward_ms_min", m->forward_ms_min, 0);
    num(js, "forward_ms_max", m->forward_ms_max, 0);
    num(js, "speedup_pp", m->pp.median / o->pp.median, 0);
    num(js, "speedup_tg", m->tg.median / o->tg.median, 0);
    // memory
    num(js, "peak_rss_bytes", m->peak_rss_bytes, 0);
    num(js, "start_rss_bytes", m->start_rss_bytes, 0);
    sbuf_puts(js, "\n     ");
    // quality
    num(js, "ppl", m->ppl.ppl, 0);
    num(js, "nll", m->ppl.nll, 0);
    num(js, "bpb", m->ppl.bpb, 0);
    num(js, "tokens_scored", (double)m->ppl.tokens, 0);
    num(js, "dppl_pct", m->dppl_pct, 0);
    num(js, "kl_mean", m->kl_mean, 0);
    num(js, "kl_p99", m->kl_p99, 0);
    num(js, "kl_max", m->kl_max, 0);
    num(js, "top1", m->top1, 0);
    key(js, "lambada");
    if (m->has_lambada) {
        sbuf_puts(js, "{");
        num(js, "n", m->lambada_n, 0);
        num(js, "correct", m->lambada_correct, 0);
        num(js, "acc", m->lambada_acc, 0);
        num(js, "ppl", m->lambada_ppl, 1);
        sbuf_puts(js, "}, ");
    } else {
        sbuf_puts(js, "null, ");
    }
    if (i) {
        const rules_result *x = &r->rres[i - 1];
        str(js, "verdict", x->verdict == RULES_CLOSE ? "close" : x->verdict == RULES_BROKE ? "broke" : "costly", 0);
        key(js, "best_trade_off");
        sbuf_puts(js, r->rsum.best == i - 1 ? "true, " : "false, ");
        str(js, "dominated_by", x->dominated_by >= 0 ? r->models[x->dominated_by + 1].label : NULL, 0);
    }
    if (s->collapse_prompts > 0) {
        key(js, "text_collapse");
        sbuf_puts(js, "{");
        num(js, "texts", m->rep.n_texts, 0);
        num(js, "rep4", m->rep.rep4, 0);
        num(js, "longest_repeat_mean", m->rep.longest, 0);
        num(js, "longest_repeat_max", m->rep.longest_max, 0);
        num(js, "distinct1", m->rep.distinct1, 0);
        num(js, "distinct2", m->rep.distinct2, 0);
        key(js, "collapsed");
        sbuf_puts(js, m->collapsed ? "true}, " : "false}, ");
    }
    sbuf_puts(js, "\n     ");
    key(js, "generations");
    sbuf_puts(js, "[");
    for (int p = 0; p < s->n_prompts; p++) {
        sbuf_puts(js, p ? ", {" : "{");
        str(js, "prompt", s->prompts[p], 0);
        str(js, "text", m->gen_text[p] ? m->gen_text[p] : "", 0);
        num(js, "tokens", m->gen_tokens[p], 1);
        sbuf_puts(js, "}");
    }
    sbuf_puts(js, "]}");
}

void report_json(const report *r, sbuf *js) {
    const report_settings *s = &r->set;
    const rules_thresholds *t = &r->rules;
    sbuf_puts(js, "{");
    num(js, "shrink_report_version", 1, 0);
    str(js, "created_utc", r->created, 0);
    str(js, "command", r->command, 0);
    num(js, "measure_seconds", r->seconds, 0);
    sbuf_puts(js, "\n  \"machine\": {");
    str(js, "cpu", r->cpu, 0);
    num(js, "logical_cpus", r->logical_cpus, 0);
    num(js, "threads", s->threads, 0);
    str(js, "kernels", r->kernels, 0);
    num(js, "load_average_start", r->load_start, 0);
    num(js, "load_average_end", r->load_end, 0);
    num(js, "other_cpus_avg", r->other_cpus, 0);
    key(js, "busy");
    sbuf_puts(js, r->rsum.busy ? "true" : "false");
    sbuf_puts(js, "},\n  \"settings\": {");
    str(js, "heldout", s->heldout, 0);
    num(js, "ctx", s->ctx, 0);
    num(js, "stride", s->stride, 0);
    num(js, "pp_tokens", s->pp, 0);
    num(js, "tg_tokens", s->tg, 0);
    num(js, "reps", s->reps, 0);
    num(js, "gen_tokens", s->gen_tokens, 0);
    num(js, "temp", s->temp, 0);
    num(js, "top_k", s->top_k, 0);
    num(js, "top_p", s->top_p, 0);
    num(js, "seed", (double)s->seed, 0);
    str(js, "lambada", s->lambada, 0);
    num(js, "lambada_limit", s->lambada_limit, 0);
    key(js, "prompts");
    sbuf_puts(js, "[");
    for (int p = 0; p < s->n_prompts; p++) {
        if (p) sbuf_puts(js, ", ");
        fmt_json_string(js, s->prompts[p]);
    }
    sbuf_puts(js, "]},\n  \"rules\": {");
    num(js, "close_dppl_pct", t->close_dppl_pct, 0);
    num(js, "close_top1", t->close_top1, 0);
    num(js, "broke_dppl_pct", t->broke_dppl_pct, 0);
    num(js, "broke_kl", t->broke_kl, 0);
    num(js, "min_speedup", t->min_speedup, 0);
    num(js, "min_cut_pct", t->min_cut_pct, 0);
    num(js, "ppl_gain_pct", t->ppl_gain_pct, 0);
    num(js, "lambada_drop_pts", t->lambada_drop_pts, 0);
    num(js, "busy_other_per_cpu", t->busy_other_per_cpu, 1);
    sbuf_puts(js, "},\n  \"models\": [\n");
    for (int i = 0; i < r->n_models; i++) {
        model_json(r, i, js);
        sbuf_puts(js, i + 1 < r->n_models ? ",\n" : "\n");
    }
    sbuf_puts(js, "  ],\n  \"conclusions\": {");
    str(js, "best_trade_off", r->rsum.best >= 0 ? r->models[r->rsum.best + 1].label : NULL, 0);
    key(js, "sentences");
    sbuf_puts(js, "[");
    sbuf text;
    sbuf_init(&text);
    report_conclusions(r, 0, &text);
    const char *p = sbuf_str(&text);
    int first = 1;
    while (*p) {
        size_t n = strcspn(p, "\n");
        char *line = fmt_utf8_clean(p, n);
        sbuf_puts(js, first ? "\n    " : ",\n    ");
        fmt_json_string(js, line);
        free(line);
        first = 0;
        p += n + (p[n] == '\n');
    }
    sbuf_free(&text);
    sbuf_puts(js, "]}\n}\n");
}
