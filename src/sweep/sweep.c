// sweep.c: `shrink sweep`'s running, resuming and writing (see sweep.h): each grid point
// compressed from a fresh copy of the original, saved as GGUF, evaluated against the
// original, its numbers written to points/NAME.json; then the frontier, the choice and
// the three summary files. Text formatting lives in sweep_report.c.
#include "sweep.h"
#include "../dist/dist.h"
#include "../lowrank/lowrank.h"
#include "../prune/prune.h"
#include "../train/train.h"
#include "pareto.h"
#include "../compress/plan.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/hash.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../formats/json.h"
#include "../modelfile/modelfile.h"
#include "../kernels/kernels.h"
#include "../report/fmt.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define GPTQ_DAMP 0.01f  // compress's --damp default, as its float option holds it: a point = `shrink compress`

static void say(const sweep_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const sweep_opts *o, const char *fmt, ...) {
    if (!o->log) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->log(msg, o->log_user);
}

// "0.4s", "45s", "3m05s", "1h02m"
static const char *fmt_secs(double s, char *buf) {
    long t = lround(s);
    if (s < 9.95) snprintf(buf, FMT_LEN, "%.1fs", s);
    else if (t < 60) snprintf(buf, FMT_LEN, "%lds", t);
    else if (t < 3600) snprintf(buf, FMT_LEN, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, FMT_LEN, "%ldh%02ldm", t / 3600, t / 60 % 60);
    return buf;
}

// --- directories and files

int sweep_check_dir(const char *dir) {
    if (!dir || !*dir) return err_set(ERR_ARG, "sweep: the output directory (-o) is empty");
    return dir_check_creatable(dir, "sweep");
}

static int write_text(const char *path, const sbuf *b) {
    atomic_file a;
    int rc = atomic_file_open(&a, path);
    if (rc) return rc;
    if (b->len && fwrite(b->s, 1, b->len, a.f) != b->len) {
        rc = err_set(ERR_IO, "%s: write failed: %s", path, strerror(errno));
        atomic_file_abort(&a);
        return rc;
    }
    return atomic_file_commit(&a);
}

// DIR/points/NAME.EXT (caller frees)
static char *point_path(const sweep_opts *o, const grid_point *p, const char *ext) {
    size_t n = strlen(o->dir) + strlen(p->name) + strlen(ext) + 16;
    char *s = xmalloc(n);
    snprintf(s, n, "%s/points/%s.%s", o->dir, p->name, ext);
    return s;
}

static long calib_tokens_used(const sweep_opts *o) {
    return o->calib ? (long)o->calib->n_windows * o->calib->ctx : 0;
}

void sweep_fingerprints(const sweep_opts *o, const grid_point *p, char heldout[24], char calib[24]) {
    snprintf(heldout, 24, "%016llx", (unsigned long long)fnv1a64(o->ids, o->n_ids * sizeof *o->ids));
    calib[0] = 0;
    if (grid_point_needs_calib(p) && o->calib) snprintf(calib, 24, "%016llx", (unsigned long long)o->calib_fnv);
}

// --- a point's json, read back

static const char *str(const json_value *obj, const char *key) {
    const json_value *v = json_get(obj, key);
    return v && v->type == JSON_STRING ? v->str : "";
}

static double num(const json_value *obj, const char *key) {
    const json_value *v = json_get(obj, key);
    return v && v->type == JSON_NUMBER ? v->number : NAN;
}

// Fills row's numbers from the json at path, after checking it was made by the same
// settings as this run (else ERR_ARG saying what differs).
static int point_read(const sweep_opts *o, const char *path, double params, sweep_row *row) {
    char *text = NULL;
    size_t len = 0;
    int rc = file_read_all(path, &text, &len);
    if (rc) return rc;
    json_value root = {0};
    rc = json_parse(&root, text, len, path);
    free(text);
    if (rc) return rc;
    const json_value *name = json_get(&root, "name"), *set = json_get(&root, "settings"), *types = json_get(&root, "types");
    if (root.type != JSON_OBJECT || !name || name->type != JSON_STRING || !set || set->type != JSON_OBJECT) {
        json_free(&root);
        return err_set(ERR_FORMAT, "%s: not a sweep point file (no \"name\" or \"settings\"); delete it to redo the point", path);
    }
    struct {
        const char *key, *what;
        double want;
    } same[] = {
        {"heldout_tokens", "held-out tokens", (double)o->n_ids},
        {"ctx", "window (ctx)", o->ctx},
        {"stride", "stride", o->stride},
        {"calib_tokens", "calibration tokens", grid_point_needs_calib(&row->pt) ? (double)calib_tokens_used(o) : NAN},
    };
    if (strcmp(name->str, row->pt.name) != 0)
        rc = err_set(ERR_FORMAT, "%s: holds point '%s', not '%s'; delete it to redo the point", path, name->str, row->pt.name);
    for (size_t i = 0; i < sizeof same / sizeof same[0] && !rc; i++) {
        double have = num(set, same[i].key);
        if (isnan(same[i].want) ? !isnan(have) && have != 0 : have != same[i].want)
            rc = err_set(ERR_ARG, "%s: made with %g %s, this run has %g; use another -o DIR, or delete the file to redo "
                                  "the point", path, have, same[i].what, isnan(same[i].want) ? 0 : same[i].want);
    }
    char hh[24], ch[24];
    sweep_fingerprints(o, &row->pt, hh, ch);
    if (!rc && strcmp(str(set, "heldout_fnv1a64"), hh) != 0)
        rc = err_set(ERR_ARG, "%s: made on other held-out text (token fingerprint %s, this run's %s); use another -o DIR, "
                              "or delete the file to redo the point", path, str(set, "heldout_fnv1a64"), hh);
    if (!rc && strcmp(str(set, "calib_fnv1a64"), ch) != 0)
        rc = err_set(ERR_ARG, "%s: made with other calibration text (fingerprint %s, this run's %s); use another -o DIR, "
                              "or delete the file to redo the point", path, str(set, "calib_fnv1a64"), ch[0] ? ch : "none");
    double made_from = num(set, "original_params");  // files before pruning points: the point's own count
    if (isnan(made_from)) made_from = num(&root, "params");
    if (!rc && made_from != params)
        rc = err_set(ERR_ARG, "%s: made from a model with %.0f parameters, the original has %.0f; use another -o DIR", path,
                     made_from, params);
    double want_prune = row->pt.lowrank ? 0 : row->pt.keep_pct, want_lr = row->pt.lowrank ? row->pt.keep_pct : 0;
    double have_prune = num(set, "prune_keep_pct"), have_lr = num(set, "lowrank_keep_pct");  // absent or null: neither
    if (!rc && !(have_prune == want_prune || (isnan(have_prune) && !want_prune)))
        rc = err_set(ERR_FORMAT, "%s: made with other pruning; delete it to redo the point", path);
    if (!rc && !(have_lr == want_lr || (isnan(have_lr) && !want_lr)))
        rc = err_set(ERR_FORMAT, "%s: made with other compression layers; delete it to redo the point", path);
    double rt = num(set, "recover_tokens");  // absent or null: not distilled
    if (!rc && !(rt == row->pt.recover_tokens || (isnan(rt) && !row->pt.recover_tokens)))
        rc = err_set(ERR_FORMAT, "%s: made with other recovery; delete it to redo the point", path);
    char rh[24];
    snprintf(rh, sizeof rh, "%016llx", (unsigned long long)o->recover_fnv);
    if (!rc && row->pt.recover_tokens > 0 && strcmp(str(set, "recover_fnv1a64"), rh) != 0)
        rc = err_set(ERR_ARG, "%s: distilled on other training tokens (fingerprint %s, this run's %s); use another -o DIR, "
                              "or delete the file to redo the point", path, str(set, "recover_fnv1a64"), rh);
    double lr = o->recover_lr > 0 ? o->recover_lr : recover_defaults().lr;
    if (!rc && row->pt.recover_tokens > 0 && (float)num(set, "recover_lr") != (float)lr)
        rc = err_set(ERR_ARG, "%s: distilled at learning rate %g, this run's is %g; use another -o DIR, or delete the file "
                              "to redo the point", path, num(set, "recover_lr"), lr);
    if (!rc) {
        row->file_bytes = num(&root, "file_bytes");
        row->params = num(&root, "params");
        row->bits_per_param = num(&root, "bits_per_param");
        row->matrix_bpw = num(&root, "matrix_bpw");
        row->ppl = num(&root, "ppl");
        row->base_ppl = num(&root, "base_ppl");
        row->dppl_pct = num(&root, "dppl_pct");
        row->kl_mean = num(&root, "kl_mean");
        row->kl_p99 = num(&root, "kl_p99");
        row->kl_max = num(&root, "kl_max");
        row->top1 = num(&root, "top1");
        double tk = num(&root, "tokens");
        row->tokens = isfinite(tk) ? (long)tk : 0;
        row->compress_s = num(&root, "compress_seconds");
        row->eval_s = num(&root, "eval_seconds");
        snprintf(row->types, sizeof row->types, "%s", types && types->type == JSON_STRING ? types->str : "");
        if (!isfinite(row->file_bytes) || !isfinite(row->dppl_pct) || !isfinite(row->kl_mean))
            rc = err_set(ERR_FORMAT, "%s: lacks file_bytes, dppl_pct or kl_mean; delete it to redo the point", path);
    }
    json_free(&root);
    return rc;
}

// --- one point

static void types_text(const gpt2_plan *plan, const gpt2_config *c, char *out, size_t cap) {
    size_t count[32] = {0};
    for (int i = 0; i < plan->n; i++) count[plan->types[i]]++;
    size_t k = 0;
    out[0] = 0;
    for (int t = 0; t < 32 && k < cap; t++)
        if (count[t]) k += (size_t)snprintf(out + k, cap - k, "%s%s x%zu", k ? ", " : "", qtype_get(t)->name, count[t]);
    if (k < cap)
        snprintf(out + k, cap - k, " (token_embd %s, output %s)", qtype_get((int)plan->types[gpt2_mat_embd(c)])->name,
                 qtype_get((int)plan->types[gpt2_mat_head(c)])->name);
}

// The last pruned (or factorized) model, and the last one distilled, for the next points of
// the same prune= or lowrank= (and recover=) value.
typedef struct pruned_cache {
    int have_pruned, have_recovered, lowrank, rec_lowrank;
    double keep_pct, rec_keep_pct, rec_tokens;
    gpt2_model pruned, recovered;
} pruned_cache;

static void pruned_cache_free(pruned_cache *pc) {
    if (pc->have_pruned) gpt2_model_free(&pc->pruned);
    if (pc->have_recovered) gpt2_model_free(&pc->recovered);
    memset(pc, 0, sizeof *pc);
}

static void recover_line(void *user, int step, int steps, double kl, double secs) {
    const sweep_opts *o = user;
    int every = steps / 10 > 0 ? steps / 10 : 1;
    if (step % every == 0 || step == steps) {
        char a[FMT_LEN], b[FMT_LEN];
        say(o, "  recover: step %d/%d, KL to the original %.4f (%s elapsed, about %s left)", step, steps, kl,
            fmt_secs(secs, a), fmt_secs(secs / step * (steps - step), b));
    }
}

// The model a point compresses: the original, or the original pruned to keep_pct of its
// parameters (prune --target-params with prune's defaults, MLP widths multiples of 32) or
// factorized to it (lowrank --target-params --method all, compress --lowrank's), then
// distilled from it on recover_tokens tokens (compress --recover's recipe).
static int start_model(const sweep_opts *o, const gpt2_model *base, const grid_point *pt, pruned_cache *pc,
                       gpt2_model *m, const char *tag) {
    if (pt->keep_pct <= 0) return gpt2_hf_load(m, o->original);
    if (pt->recover_tokens > 0 && !o->recover_ids)
        return err_set(ERR_ARG, "sweep: point %s distils on training tokens and none were given (--recover-data)", pt->name);
    int rc = 0;
    if (!pc->have_pruned || pc->keep_pct != pt->keep_pct || pc->lowrank != pt->lowrank) {
        if (pc->have_pruned) gpt2_model_free(&pc->pruned);
        pc->have_pruned = 0;
        char notes[16384];
        size_t target = (size_t)((double)gpt2_param_count(&base->cfg) * pt->keep_pct / 100);
        if (pt->lowrank) {
            lowrank_opts lo = lowrank_defaults();
            lo.target_params = target, lo.all_methods = 1;
            rc = lowrank_model(base, o->calib, &lo, &pc->pruned, notes, sizeof notes);
        } else {
            prune_opts po = prune_defaults();
            po.target_params = target, po.ffn_multiple = 32;
            rc = prune_model(base, o->calib, &po, &pc->pruned, notes, sizeof notes);
        }
        if (rc) return rc;
        if (base->source) {  // the GGUF's general.name stays the original's (lowrank already copies it)
            free(pc->pruned.source);
            pc->pruned.source = xstrdup(base->source);
        }
        pc->have_pruned = 1, pc->keep_pct = pt->keep_pct, pc->lowrank = pt->lowrank;
        say(o, "%s %s to %zu parameters", tag, pt->lowrank ? "factorized" : "pruned", gpt2_param_count(&pc->pruned.cfg));
    }
    if (pt->recover_tokens <= 0) {
        gpt2_model_clone(m, &pc->pruned);
        return 0;
    }
    if (pc->have_recovered && pc->rec_keep_pct == pt->keep_pct && pc->rec_lowrank == pt->lowrank &&
        pc->rec_tokens == pt->recover_tokens) {
        gpt2_model_clone(m, &pc->recovered);
        return 0;
    }
    if (pc->have_recovered) gpt2_model_free(&pc->recovered);
    pc->have_recovered = 0;
    recover_opts ro = recover_defaults();
    ro.tokens = (unsigned long long)pt->recover_tokens;
    if (o->recover_lr > 0) ro.lr = o->recover_lr;
    say(o, "%s distilling from the original on %.0f tokens of %s", tag, pt->recover_tokens, o->recover_path);
    gpt2_model_clone(m, &pc->pruned);
    recover_result res;
    if ((rc = train_recover(m, base, o->recover_ids, o->n_recover, &ro, recover_line, (void *)o, &res))) {
        gpt2_model_free(m);
        return rc;
    }
    if (res.evals)
        say(o, "%s kept step %d of %d: KL to the original %.6f on %d held-out tokens (before training %.6f)", tag,
            res.best_step, res.steps, res.kl_best, res.val_tokens, res.kl_first);
    gpt2_model_clone(&pc->recovered, m);
    pc->have_recovered = 1, pc->rec_keep_pct = pt->keep_pct, pc->rec_lowrank = pt->lowrank, pc->rec_tokens = pt->recover_tokens;
    return 0;
}

// Under MPI: a point is taken by the process that creates points/NAME.claim first (O_EXCL,
// which holds on one host and on the shared file systems a sweep over hosts needs anyway).
static char *claim_path(const sweep_opts *o, const grid_point *p) { return point_path(o, p, "claim"); }

static void clear_claims(const sweep_opts *o, const grid *g) {
    for (int i = 0; i < g->n; i++) {
        char *path = claim_path(o, &g->pts[i]);
        unlink(path);
        free(path);
    }
}

static int try_claim(const sweep_opts *o, const grid_point *p) {
    char *path = claim_path(o, p);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    free(path);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

// The next point this process runs: first one that starts from the model it pruned (or
// distilled) last, so that work is not repeated by another process, then the next one in the
// grid's order that nobody has claimed; -1 when none is left.
static int next_claim(const sweep_opts *o, sweep_result *r, const pruned_cache *pc, char *mine) {
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < r->n; i++) {
            const sweep_row *w = &r->rows[i];
            if (w->skipped || mine[i]) continue;
            if (pass == 0 && !(pc->have_pruned && w->pt.keep_pct == pc->keep_pct && w->pt.lowrank == pc->lowrank)) continue;
            if (try_claim(o, &w->pt)) return mine[i] = 1, i;
        }
    return -1;
}

// The next point to report or run: in the grid's order; under MPI the points done by an
// earlier run first, then the ones this process claims.
static int next_point(const sweep_opts *o, sweep_result *r, const pruned_cache *pc, char *mine, int *cursor, int ranks) {
    if (ranks == 1) return *cursor < r->n ? (*cursor)++ : -1;
    while (*cursor < r->n)
        if (r->rows[(*cursor)++].skipped) return *cursor - 1;
    return next_claim(o, r, pc, mine);
}

static int run_point(const sweep_opts *o, const gpt2_model *base, pruned_cache *pc, sweep_row *row, const char *gguf,
                     const char *json, const char *tag) {
    const grid_point *pt = &row->pt;
    gpt2_model m;
    double t0 = timer_now();
    int rc = start_model(o, base, pt, pc, &m, tag);
    if (rc) return rc;
    char notes[8192];
    compress_opts co = {pt->type[0] ? pt->type : NULL, NULL, pt->method, pt->target_bpw, o->calib_path,
                        calib_tokens_used(o), GPTQ_DAMP, 0, 0, 0};
    gpt2_plan plan = {0};
    rc = compress_model_calibrated(&m, grid_point_needs_calib(pt) ? o->calib : NULL, &co, &plan, notes, sizeof notes);
    row->compress_s = timer_now() - t0;
    if (!rc) {
        for (char *line = notes, *nl; *line; line = nl + 1) {  // fallbacks and allocation notes, one log line each
            nl = strchr(line, '\n');
            if (!nl) {
                say(o, "%s %s", tag, line);
                break;
            }
            *nl = 0;
            say(o, "%s %s", tag, line);
        }
        if (grid_point_needs_calib(pt) && o->calib_path) {  // the GGUF's shrink.quantize.calibration.* keys, as compress writes them
            const char *slash = strrchr(o->calib_path, '/');
            m.calib_file = xstrdup(slash ? slash + 1 : o->calib_path);
            m.calib_fnv = o->calib_fnv;
            m.calib_tokens = calib_tokens_used(o);
        }
        row->matrix_bpw = plan_matrix_bpw(&plan, &m.cfg);
        types_text(&plan, &m.cfg, row->types, sizeof row->types);
        rc = gpt2_gguf_save(&m, o->tok_dir, gguf, GPT2_GGUF_STORED);
    }
    gpt2_plan_free(&plan);
    struct stat st;
    if (!rc && stat(gguf, &st) != 0) rc = err_set(ERR_IO, "%s: cannot stat the file just written: %s", gguf, strerror(errno));
    if (!rc) {
        char a[FMT_LEN];
        say(o, "%s compressed in %s; evaluating on %s", tag, fmt_secs(row->compress_s, a), o->heldout_path);
        row->file_bytes = (double)st.st_size;
        row->params = (double)gpt2_param_count(&m.cfg);
        row->bits_per_param = 8 * row->file_bytes / row->params;
        agree_result ag;
        t0 = timer_now();
        rc = eval_agreement(&m, base, o->ids, o->n_ids, o->tok_bytes, o->ctx, o->stride, &ag, o->eval_progress, o->eval_user);
        row->eval_s = timer_now() - t0;
        if (!rc) {
            row->ppl = ag.model.ppl;
            row->base_ppl = ag.base.ppl;
            row->dppl_pct = ag.dppl_pct;
            row->kl_mean = ag.kl_mean;
            row->kl_p99 = ag.kl_p99;
            row->kl_max = ag.kl_max;
            row->top1 = ag.top1;
            row->tokens = ag.model.tokens;
        }
    }
    gpt2_model_free(&m);
    if (!rc) {
        sbuf b;
        sbuf_init(&b);
        sweep_row_json(o, row, 1, &b);
        rc = write_text(json, &b);
        sbuf_free(&b);
    }
    // The numbers as the json holds them, so that a resumed run reports exactly what this one does.
    if (!rc) rc = point_read(o, json, (double)gpt2_param_count(&base->cfg), row);
    return rc;
}

// --- the frontier and the choice

void sweep_summarize(const sweep_opts *o, sweep_result *r) {
    int n = r->n + 1;  // [0] the original, then the points
    double *size = xmalloc((size_t)n * sizeof *size), *ed = xmalloc((size_t)n * sizeof *ed), *ek = xmalloc((size_t)n * sizeof *ek);
    int *fd = xmalloc((size_t)n * sizeof *fd), *fk = xmalloc((size_t)n * sizeof *fk);
    pareto_item *it = xmalloc((size_t)(r->n ? r->n : 1) * sizeof *it);
    size[0] = r->original.file_bytes, ed[0] = 0, ek[0] = 0;
    for (int i = 0; i < r->n; i++) {
        const sweep_row *w = &r->rows[i];
        size[i + 1] = w->file_bytes, ed[i + 1] = w->dppl_pct, ek[i + 1] = w->kl_mean;
        it[i] = (pareto_item){w->file_bytes, w->dppl_pct, w->kl_mean};
    }
    pareto_front(size, ed, n, fd);
    pareto_front(size, ek, n, fk);
    r->original.front_dppl = fd[0], r->original.front_kl = fk[0];
    for (int i = 0; i < r->n; i++) r->rows[i].front_dppl = fd[i + 1], r->rows[i].front_kl = fk[i + 1];
    r->chosen = pareto_choose(it, r->n, o->max_dppl, o->max_kl);
    r->closest = r->chosen < 0 ? pareto_closest(it, r->n, o->max_dppl, o->max_kl) : -1;
    free(size), free(ed), free(ek), free(fd), free(fk), free(it);
}

// --- the run

int sweep_run(const sweep_opts *o, sweep_result *r) {
    memset(r, 0, sizeof *r);
    r->chosen = r->closest = -1;
    double t_start = timer_now();
    const grid *g = o->g;
    int rc = 0;
    if (!g || g->n < 1) return err_set(ERR_ARG, "sweep: the grid has no points");
    for (int i = 0; i < g->n; i++)
        if (grid_point_needs_calib(&g->pts[i]) && (!o->calib || o->calib->n_windows < 1))
            return err_set(ERR_ARG, "sweep: point %s needs calibration text and none was given", g->pts[i].name);
    if ((rc = sweep_check_dir(o->dir))) return rc;
    char *points_dir = path_join(o->dir, "points");
    rc = dir_make_all(points_dir);
    free(points_dir);
    if (rc) return rc;
    kernels_init();
    gpt2_model base;
    if ((rc = gpt2_hf_load(&base, o->original))) return rc;
    r->rows = xcalloc((size_t)g->n, sizeof *r->rows);
    r->n = g->n;
    r->original.file_bytes = (double)base.file_bytes;
    r->original.params = (double)gpt2_param_count(&base.cfg);
    sweep_opts with_params = *o;  // every point's json records what it was made from
    with_params.original_params = r->original.params;
    o = &with_params;
    r->original.bits_per_param = 8 * r->original.file_bytes / r->original.params;
    r->original.compress_s = r->original.eval_s = NAN;
    int main_dtype = 0;  // the stored dtype holding most parameters, for the original's row
    for (int t = 1; t < DTYPE_COUNT; t++)
        if (base.dtype_params[t] > base.dtype_params[main_dtype]) main_dtype = t;
    snprintf(r->original.types, sizeof r->original.types, "%s safetensors", dtype_name((dtype)main_dtype));

    // Points done by an earlier run first: a stale file stops the run before any work.
    int to_run = 0;
    for (int i = 0; i < g->n && !rc; i++) {
        sweep_row *w = &r->rows[i];
        w->pt = g->pts[i];
        char *gguf = point_path(o, &w->pt, "gguf"), *json = point_path(o, &w->pt, "json");
        if (file_exists(json) && file_exists(gguf)) {
            rc = point_read(o, json, r->original.params, w);
            w->skipped = 1;
        } else {
            to_run++;
        }
        free(gguf), free(json);
    }
    double t_runs = 0;
    pruned_cache pc = {0};
    // Under MPI each process claims one point at a time (next_claim), so a process with
    // cheap points takes more of them; rank 0 then reads the others' point files and writes
    // the summary.
    int rank = dist_rank(), ranks = dist_size();
    char *mine = xcalloc((size_t)g->n, 1);
    if (ranks > 1) {
        if (rank == 0 && !rc) clear_claims(o, g);  // an earlier job's, which ended before its points did
        int all = dist_min_rc(rc);                 // and no process claims before that
        if (all && !rc) rc = err_set(ERR_ARG, "sweep: another process failed (its error is above)");
    }
    for (int cursor = 0, i; !rc && (i = next_point(o, r, &pc, mine, &cursor, ranks)) >= 0;) {
        sweep_row *w = &r->rows[i];
        char tag[96], a[FMT_LEN], b[FMT_LEN], c[FMT_LEN], d[FMT_LEN], e[FMT_LEN], f[FMT_LEN], h[FMT_LEN];
        snprintf(tag, sizeof tag, "[%d/%d] %s:", i + 1, g->n, w->pt.name);
        if (w->skipped) {
            say(o, "%s skipped (done): %s, Δppl %s, KL %s", tag, fmt_mb(w->file_bytes, a), fmt_pct_signed(w->dppl_pct, b),
                fmt_sig(w->kl_mean, 3, c));
            r->n_skipped++;
            continue;
        }
        if (o->eta) {
            double el = timer_now() - t_start;
            if (r->n_run) say(o, "%s compressing (%d of %d to run; %s elapsed, about %s left)", tag, r->n_run + 1, to_run,
                              fmt_secs(el, a), fmt_secs(t_runs / r->n_run * (to_run - r->n_run), b));
            else say(o, "%s compressing (%d of %d to run; %s elapsed)", tag, 1, to_run, fmt_secs(el, a));
        } else {
            say(o, "%s compressing", tag);
        }
        char *gguf = point_path(o, &w->pt, "gguf"), *json = point_path(o, &w->pt, "json");
        double t0 = timer_now();
        rc = run_point(o, &base, &pc, w, gguf, json, tag);
        t_runs += timer_now() - t0;
        free(gguf), free(json);
        if (rc) break;
        r->n_run++;
        say(o, "%s %s (%s bits/param), Δppl %s, KL %s, top-1 %s (compress %s, eval %s)", tag, fmt_mb(w->file_bytes, a),
            fmt_sig(w->bits_per_param, 3, b), fmt_pct_signed(w->dppl_pct, c), fmt_sig(w->kl_mean, 3, d),
            fmt_pct(100 * w->top1, 1, e), fmt_secs(w->compress_s, f), fmt_secs(w->eval_s, h));
    }
    pruned_cache_free(&pc);
    gpt2_model_free(&base);
    if (ranks > 1) {
        int all = dist_min_rc(rc);
        if (rank == 0) clear_claims(o, g);
        if (rc || all) rc = rc ? rc : err_set(ERR_ARG, "sweep: another process failed (its error is above)");
        if (rc || rank > 0) {
            free(mine);
            return rc;
        }
        for (int i = 0; i < g->n && !rc; i++) {  // the points the other ranks ran
            sweep_row *w = &r->rows[i];
            if (w->skipped || mine[i]) continue;
            char *json = point_path(o, &w->pt, "json");
            rc = point_read(o, json, r->original.params, w);
            free(json);
            r->n_run++;
        }
    }
    free(mine);
    if (rc) return rc;
    r->original.ppl = r->original.base_ppl = r->rows[0].base_ppl;
    r->original.dppl_pct = r->original.kl_mean = r->original.kl_p99 = r->original.kl_max = 0;
    r->original.top1 = 1;
    r->original.tokens = r->rows[0].tokens;
    sweep_summarize(o, r);
    r->seconds = timer_now() - t_start;
    struct {
        const char *name;
        void (*make)(const sweep_opts *, const sweep_result *, sbuf *);
    } outs[] = {{"pareto.svg", sweep_plot}, {"sweep.json", sweep_json}, {"sweep.md", sweep_markdown}};
    sbuf b;
    sbuf_init(&b);
    for (size_t i = 0; i < sizeof outs / sizeof outs[0] && !rc; i++) {
        sbuf_reset(&b);
        outs[i].make(o, r, &b);
        char *path = path_join(o->dir, outs[i].name);
        rc = write_text(path, &b);
        free(path);
    }
    sbuf_free(&b);
    return rc;
}

void sweep_result_free(sweep_result *r) {
    free(r->rows);
    r->rows = NULL;
    r->n = 0;
}
