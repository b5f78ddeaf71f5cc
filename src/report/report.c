// report.c: a report's life cycle: set-up with default settings, the rules applied to the
// measured numbers, the output directory checked before and written after measuring
// (each file atomically, report.md last), and freeing.
#include "report.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/xalloc.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void report_init(report *r, const char *original, const char *const *compressed, int n) {
    memset(r, 0, sizeof *r);
    report_settings *s = &r->set;
    s->heldout = "data/heldout.txt";
    s->pp = 128;
    s->tg = 64;
    s->reps = 5;
    s->gen_tokens = 40;
    s->temp = 0.8f;
    s->top_k = 40;
    s->top_p = 0.95f;
    s->seed = 42;
    s->collapse_prompts = 32;
    s->collapse_tokens = 128;
    s->prompts[0] = "Artificial intelligence will";
    s->prompts[1] = "The future of technology is";
    s->n_prompts = 2;
    r->rules = rules_default;
    r->n_models = n + 1;
    r->models = xcalloc((size_t)n + 1, sizeof *r->models);
    for (int i = 0; i <= n; i++) {
        report_model *m = &r->models[i];
        m->path = xstrdup(i == 0 ? original : compressed[i - 1]);
        m->label = path_model_name(m->path, 8);
        m->is_original = i == 0;
        m->dppl_pct = m->kl_mean = m->kl_p99 = m->kl_max = m->top1 = NAN;
        m->peak_rss_bytes = m->start_rss_bytes = NAN;
        m->lambada_acc = m->lambada_ppl = NAN;
    }
    r->load_start = r->load_end = r->other_cpus = NAN;
    // inputs with the same name get "#2", "#3", ... so every row and point is told apart
    for (int i = 1; i <= n; i++) {
        int k = 1;
        for (int j = 0; j < i; j++) {
            char *base = path_model_name(r->models[j].path, 0);
            k += strcmp(base, r->models[i].label) == 0;
            free(base);
        }
        if (k > 1 && k < 1000) sprintf(r->models[i].label + strlen(r->models[i].label), " #%d", k);  // 8 bytes were reserved
    }
}

void report_free(report *r) {
    for (int i = 0; i < r->n_models && r->models; i++) {
        free(r->models[i].path);
        free(r->models[i].label);
        for (int p = 0; p < REPORT_MAX_PROMPTS; p++) free(r->models[i].gen_text[p]);
    }
    free(r->models);
    free(r->rin);
    free(r->rres);
    memset(r, 0, sizeof *r);
}

void report_apply_rules(report *r) {
    int n = r->n_models - 1;
    const report_model *o = &r->models[0];
    free(r->rin);
    free(r->rres);
    r->rin = xcalloc((size_t)(n > 0 ? n : 1), sizeof *r->rin);
    r->rres = xcalloc((size_t)(n > 0 ? n : 1), sizeof *r->rres);
    for (int i = 0; i < n; i++) {
        const report_model *m = &r->models[i + 1];
        r->rin[i] = (rules_input){
            .label = m->label,
            .file_bytes = m->file_bytes,
            .bits_per_weight = m->bits_per_weight,
            .dppl_pct = m->dppl_pct,
            .kl_mean = m->kl_mean,
            .top1 = m->top1,
            .speedup_tg = o->tg.median > 0 ? m->tg.median / o->tg.median : NAN,
            .speedup_pp = o->pp.median > 0 ? m->pp.median / o->pp.median : NAN,
            .peak_rss_bytes = m->peak_rss_bytes,
            .lambada_drop_pts = o->has_lambada && m->has_lambada ? 100.0 * (o->lambada_acc - m->lambada_acc) : NAN,
        };
    }
    r->rorig = (rules_original){o->file_bytes, o->peak_rss_bytes, r->other_cpus, r->set.threads, r->logical_cpus};
    rules_apply(&r->rules, &r->rorig, r->rin, n, r->rres, &r->rsum);
}

void report_conclusions(const report *r, int markdown, sbuf *out) {
    rules_explain(&r->rules, &r->rorig, r->rin, r->rres, r->n_models - 1, &r->rsum, markdown, out);
}

// --- the directory

int report_check_dir(const char *dir) {
    if (!dir || !*dir) return err_set(ERR_ARG, "report: -o needs a directory");
    return dir_check_creatable(dir, "report");
}

static int write_file(const char *dir, const char *name, const sbuf *b) {
    char *path = path_join(dir, name);
    atomic_file a;
    int rc = atomic_file_open(&a, path);
    if (rc == 0) {
        if (b->len && fwrite(b->s, 1, b->len, a.f) != b->len) {
            rc = err_set(ERR_IO, "%s: write failed: %s", path, strerror(errno));
            atomic_file_abort(&a);
        } else {
            rc = atomic_file_commit(&a);
        }
    }
    free(path);
    return rc;
}

int report_write(const report *r, const char *dir) {
    int rc = report_check_dir(dir);
    if (!rc) rc = dir_make_all(dir);
    sbuf b;
    sbuf_init(&b);
    if (!rc) report_plot_quality(r, &b), rc = write_file(dir, REPORT_SVG_QUALITY, &b);
    sbuf_reset(&b);
    if (!rc) report_plot_speed(r, &b), rc = write_file(dir, REPORT_SVG_SPEED, &b);
    sbuf_reset(&b);
    if (!rc) report_plot_breakdown(r, &b), rc = write_file(dir, REPORT_SVG_BREAKDOWN, &b);
    for (int i = 0; i < r->n_models && !rc; i++) {
        if (!r->models[i].mixed) continue;
        char name[128];
        report_tensor_plot_name(&r->models[i], name, sizeof name);
        sbuf_reset(&b);
        report_plot_tensors(r, i, &b);
        rc = write_file(dir, name, &b);
    }
    sbuf_reset(&b);
    if (!rc) report_json(r, &b), rc = write_file(dir, "report.json", &b);
    sbuf_reset(&b);
    if (!rc) report_markdown(r, &b), rc = write_file(dir, "report.md", &b);
    sbuf_free(&b);
    return rc;
}
