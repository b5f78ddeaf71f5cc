// gpt2_train_checkpoint.c: checkpoints that a training run can resume from bit for bit.
//
// A checkpoint is a Hugging Face directory (config.json, model.safetensors, tokenizer
// files) plus training_log.json and train_state.bin, the sidecar with everything else a
// resumed run needs: AdamW moments and step count, the batch sampler's state, the
// options (a resume must use the same ones), a hash of the training data and of the
// weights (so a sidecar is never paired with other weights), and the log so far.
// The whole directory is built as "DIR.tmp" and swapped into place.
//
// train_state.bin (little-endian): "SHRKTRST", u32 version, u32 0, u64 n_params, i32 step,
// i32 teacher (0/1), u64 rng, f64 elapsed, options (i32 steps, batch, ctx, warmup; f32 lr,
// min_lr, weight_decay, clip, beta1, beta2, eps, kd_weight, kd_temp; u64 seed), u64 data_n,
// u64 data_hash, u64 params_hash, i64 adam_t, u32 n_log, u32 n_evals, log entries (i32 step,
// f32 loss, f32 lr, f64 elapsed), eval entries (i32 step, f32 loss), f32 m[n_params],
// f32 v[n_params], then u64 FNV-1a of every byte before it.
#include "train.h"
#include "../modelfile/modelfile.h"
#include "../core/bytes.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/hash.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAGIC "SHRKTRST"
#define STATE_VERSION 1
#define STATE_FILE "train_state.bin"
#define LOG_FILE "training_log.json"


// --- checkpoint: writing

typedef struct {
    FILE *f;
    uint64_t h;
    int ok;
} wstream;

static void w_bytes(wstream *w, const void *p, size_t n) {
    if (w->ok && fwrite(p, 1, n, w->f) != n) w->ok = 0;
    w->h = fnv1a64_update(w->h, p, n);
}
static void w_u32(wstream *w, uint32_t v) {
    unsigned char b[4];
    le_put_u32(b, v);
    w_bytes(w, b, 4);
}
static void w_u64(wstream *w, uint64_t v) {
    unsigned char b[8];
    le_put_u64(b, v);
    w_bytes(w, b, 8);
}
static void w_f32(wstream *w, float x) {
    unsigned char b[4];
    le_put_f32(b, x);
    w_bytes(w, b, 4);
}
static void w_f64(wstream *w, double x) {
    uint64_t u;
    memcpy(&u, &x, 8);
    w_u64(w, u);
}
static void w_f32s(wstream *w, const float *x, size_t n) {
    unsigned char buf[4096];
    while (n) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) le_put_f32(buf + 4 * i, x[i]);
        w_bytes(w, buf, 4 * k);
        x += k;
        n -= k;
    }
}

static void w_opts(wstream *w, const train_opts *o) {
    w_u32(w, (uint32_t)o->steps);
    w_u32(w, (uint32_t)o->batch);
    w_u32(w, (uint32_t)o->ctx);
    w_u32(w, (uint32_t)o->warmup);
    const float f[] = {o->lr, o->min_lr, o->weight_decay, o->clip, o->beta1, o->beta2, o->eps, o->kd_weight, o->kd_temp};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) w_f32(w, f[i]);
    w_u64(w, o->seed);
}

static uint64_t params_hash(const gpt2_model *m) { return fnv1a64(m->params, m->n_floats * sizeof(float)); }

static int write_state(const gpt2_train *tr, const char *path) {
    atomic_file af;
    int rc = atomic_file_open(&af, path);
    if (rc) return rc;
    wstream w = {af.f, FNV1A64_INIT, 1};
    w_bytes(&w, STATE_MAGIC, 8);
    w_u32(&w, STATE_VERSION);
    w_u32(&w, 0);
    w_u64(&w, tr->m->n_floats);
    w_u32(&w, (uint32_t)tr->step);
    w_u32(&w, tr->teacher ? 1 : 0);
    w_u64(&w, tr->r.s);
    w_f64(&w, tr->elapsed);
    w_opts(&w, &tr->o);
    w_u64(&w, tr->data_n);
    w_u64(&w, tr->data_hash);
    w_u64(&w, params_hash(tr->m));
    w_u64(&w, (uint64_t)tr->opt.t);
    w_u32(&w, (uint32_t)tr->n_log);
    w_u32(&w, (uint32_t)tr->n_evals);
    for (int i = 0; i < tr->n_log; i++) {
        w_u32(&w, (uint32_t)tr->log[i].step);
        w_f32(&w, tr->log[i].loss);
        w_f32(&w, tr->log[i].lr);
        w_f64(&w, tr->log[i].elapsed);
    }
    for (int i = 0; i < tr->n_evals; i++) {
        w_u32(&w, (uint32_t)tr->evals[i].step);
        w_f32(&w, tr->evals[i].loss);
    }
    w_f32s(&w, tr->opt.m, tr->opt.n);
    w_f32s(&w, tr->opt.v, tr->opt.n);
    uint64_t h = w.h;
    w_u64(&w, h);
    if (!w.ok) {
        atomic_file_abort(&af);
        return err_set(ERR_IO, "%s: write failed", path);
    }
    return atomic_file_commit(&af);
}

static int write_log(const gpt2_train *tr, const char *path, const char *extra_json) {
    atomic_file af;
    int rc = atomic_file_open(&af, path);
    if (rc) return rc;
    FILE *f = af.f;
    const gpt2_config *c = &tr->m->cfg;
    const train_opts *o = &tr->o;
    fprintf(f, "{\n \"config\": {\"vocab_size\": %d, \"n_positions\": %d, \"n_embd\": %d, \"n_layer\": %d, "
               "\"n_head\": %d, \"n_inner\": %d},\n",
            c->vocab_size, c->n_ctx, c->n_embd, c->n_layer, c->n_embd / c->head_dim, gpt2_n_ff(c, 0));
    fprintf(f, " \"params\": %zu,\n \"train_tokens_available\": %zu,\n \"batch\": %d,\n \"ctx\": %d,\n",
            gpt2_param_count(c), tr->data_n, o->batch, o->ctx);
    fprintf(f, " \"lr\": %.7g,\n \"min_lr\": %.7g,\n \"warmup\": %d,\n \"weight_decay\": %.7g,\n \"clip\": %.7g,\n"
               " \"betas\": [%.7g, %.7g],\n \"eps\": %.7g,\n \"seed\": %llu,\n",
            o->lr, o->min_lr, o->warmup, o->weight_decay, o->clip, o->beta1, o->beta2, o->eps,
            (unsigned long long)o->seed);
    if (tr->teacher) fprintf(f, " \"kd_weight\": %.7g,\n \"kd_temp\": %.7g,\n", o->kd_weight, o->kd_temp);
    if (extra_json && *extra_json) fprintf(f, " %s,\n", extra_json);
    fprintf(f, " \"planned_steps\": %d,\n \"trained_steps\": %d,\n \"trained_tokens\": %llu,\n \"elapsed_s\": %.1f,\n",
            o->steps, tr->step, (unsigned long long)tr->step * (unsigned long long)(o->batch * o->ctx), tr->elapsed);
    fprintf(f, " \"evals\": [");
    for (int i = 0; i < tr->n_evals; i++) fprintf(f, "%s[%d, %.9g]", i ? ", " : "", tr->evals[i].step, tr->evals[i].loss);
    fprintf(f, "],\n \"steps\": [");
    for (int i = 0; i < tr->n_log; i++)
        fprintf(f, "%s\n  [%d, %.9g, %.4g, %.1f]", i ? "," : "", tr->log[i].step, tr->log[i].loss, tr->log[i].lr,
                tr->log[i].elapsed);
    fprintf(f, "\n ]\n}\n");
    if (ferror(f)) {
        atomic_file_abort(&af);
        return err_set(ERR_IO, "%s: write failed", path);
    }
    return atomic_file_commit(&af);
}

static char *suffixed(const char *s, const char *suffix) {
    size_t n = strlen(s) + strlen(suffix) + 1;
    char *p = xmalloc(n);
    snprintf(p, n, "%s%s", s, suffix);
    return p;
}

// Removes the files a checkpoint directory holds (and temp files of interrupted
// writes), then the directory if that left it empty. Never touches other files.
static void remove_checkpoint_dir(const char *dir) {
    static const char *const files[] = {"config.json", "model.safetensors", "vocab.json", "merges.txt", LOG_FILE,
                                        STATE_FILE};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *p = path_join(dir, files[i]), *t = suffixed(p, ".tmp");
        unlink(p);
        unlink(t);
        free(p);
        free(t);
    }
    rmdir(dir);
}

int gpt2_train_save(const gpt2_train *tr, const char *dir_arg, const char *tok_dir, const char *extra_json) {
    char *dir = xstrdup(dir_arg);  // "runs/x/" names the directory runs/x, not a sibling ".tmp" inside it
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--) dir[n - 1] = 0;
    char *tmp = suffixed(dir, ".tmp"), *old = suffixed(dir, ".old");
    char *log_path = path_join(tmp, LOG_FILE), *state_path = path_join(tmp, STATE_FILE);
    remove_checkpoint_dir(tmp);  // what an interrupted save left
    int rc = gpt2_hf_save(tr->m, tmp, tok_dir, 0);
    if (!rc) rc = write_log(tr, log_path, extra_json);
    if (!rc) rc = write_state(tr, state_path);
    if (!rc) {
        struct stat st;
        if (stat(dir, &st) != 0) {
            if (rename(tmp, dir) != 0) rc = err_set(ERR_IO, "%s: cannot rename into place: %s", dir, strerror(errno));
        } else {
            int swapped = 0;
#ifdef RENAME_EXCHANGE
            swapped = renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0;  // one atomic swap
            if (swapped) remove_checkpoint_dir(tmp);
#endif
            if (!swapped) {  // two renames: a crash in between leaves the last checkpoint in DIR.old
                remove_checkpoint_dir(old);
                if (rename(dir, old) != 0 || rename(tmp, dir) != 0)
                    rc = err_set(ERR_IO, "%s: cannot swap the new checkpoint into place: %s", dir, strerror(errno));
                else remove_checkpoint_dir(old);
            }
        }
    }
    if (rc) remove_checkpoint_dir(tmp);
    free(dir);
    free(tmp);
    free(old);
    free(log_path);
    free(state_path);
    return rc;
}

// --- checkpoint: resuming

typedef struct {
    const unsigned char *p;
    size_t n, at;
    int ok;
} rstream;

static const unsigned char *r_take(rstream *r, size_t n) {
    if (!r->ok || r->n - r->at < n) {
        r->ok = 0;
        return NULL;
    }
    const unsigned char *p = r->p + r->at;
    r->at += n;
    return p;
}
static uint32_t r_u32(rstream *r) {
    const unsigned char *b = r_take(r, 4);
    return b ? le_get_u32(b) : 0;
}
static uint64_t r_u64(rstream *r) {
    const unsigned char *b = r_take(r, 8);
    return b ? le_get_u64(b) : 0;
}
static float r_f32(rstream *r) {
    const unsigned char *b = r_take(r, 4);
    return b ? le_get_f32(b) : 0.0f;
}
static double r_f64(rstream *r) {
    uint64_t u = r_u64(r);
    double x;
    memcpy(&x, &u, 8);
    return x;
}

// Compares the saved options with the current ones; names the first that differs.
static int check_opts(const train_opts *s, const train_opts *o, const char *path) {
    const char *hint = "; resume with the options the run started with";
#define SAME_I(field, name)                                                                                         \
    if (s->field != o->field)                                                                                       \
        return err_set(ERR_ARG, "%s: --%s was %d when this run started, now %d%s", path, name, (int)s->field,      \
                       (int)o->field, hint);
#define SAME_F(field, name)                                                                                         \
    if (memcmp(&s->field, &o->field, sizeof(float)) != 0)                                                          \
        return err_set(ERR_ARG, "%s: --%s was %g when this run started, now %g%s", path, name, (double)s->field,    \
                       (double)o->field, hint);
    SAME_I(steps, "steps") SAME_I(batch, "batch") SAME_I(ctx, "ctx") SAME_I(warmup, "warmup")
    SAME_F(lr, "lr") SAME_F(min_lr, "min-lr") SAME_F(weight_decay, "weight-decay") SAME_F(clip, "clip")
    SAME_F(beta1, "beta1") SAME_F(beta2, "beta2") SAME_F(eps, "eps") SAME_F(kd_weight, "kd-weight")
    SAME_F(kd_temp, "kd-temp")
#undef SAME_I
#undef SAME_F
    if (s->seed != o->seed)
        return err_set(ERR_ARG, "%s: --seed was %llu when this run started, now %llu%s", path,
                       (unsigned long long)s->seed, (unsigned long long)o->seed, hint);
    return 0;
}

int gpt2_train_resume(gpt2_train *tr, const char *dir) {
    char *path = path_join(dir, STATE_FILE);
    char *data;
    size_t len;
    int rc = file_read_all(path, &data, &len);
    if (rc) {
        free(path);
        return rc;
    }
    rstream r = {(const unsigned char *)data, len, 0, 1};
    if (len < 16 || memcmp(data, STATE_MAGIC, 8) != 0) {
        rc = err_set(ERR_FORMAT, "%s: not a shrink training state (bad magic)", path);
        goto done;
    }
    if (fnv1a64(data, len - 8) != (r.at = len - 8, r_u64(&r))) {
        rc = err_set(ERR_FORMAT, "%s: checksum mismatch (truncated or damaged file)", path);
        goto done;
    }
    r.at = 8;
    r.n = len - 8;
    uint32_t version = r_u32(&r);
    r_u32(&r);
    if (version != STATE_VERSION) {
        rc = err_set(ERR_FORMAT, "%s: training state version %u, this build reads version %d", path, version,
                     STATE_VERSION);
        goto done;
    }
    uint64_t n_params = r_u64(&r);
    int step = (int)r_u32(&r), had_teacher = (int)r_u32(&r);
    uint64_t rs = r_u64(&r);
    double elapsed = r_f64(&r);
    train_opts so = tr->o;  // fields not stored keep the current values
    so.steps = (int)r_u32(&r);
    so.batch = (int)r_u32(&r);
    so.ctx = (int)r_u32(&r);
    so.warmup = (int)r_u32(&r);
    float *fs[] = {&so.lr, &so.min_lr, &so.weight_decay, &so.clip, &so.beta1, &so.beta2, &so.eps, &so.kd_weight, &so.kd_temp};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) *fs[i] = r_f32(&r);
    so.seed = r_u64(&r);
    uint64_t data_n = r_u64(&r), data_hash = r_u64(&r), phash = r_u64(&r), adam_t = r_u64(&r);
    uint32_t n_log = r_u32(&r), n_evals = r_u32(&r);
    if (!r.ok) {
        rc = err_set(ERR_FORMAT, "%s: truncated header", path);
        goto done;
    }
    if (n_params != tr->m->n_floats) {
        rc = err_set(ERR_FORMAT, "%s: state for %llu parameters, the model has %zu", path,
                     (unsigned long long)n_params, tr->m->n_floats);
        goto done;
    }
    if (phash != params_hash(tr->m)) {
        rc = err_set(ERR_FORMAT, "%s: the weights in %s are not the ones this state was saved with", path, dir);
        goto done;
    }
    if (had_teacher != (tr->teacher != NULL)) {
        rc = err_set(ERR_ARG, "%s: the run was started %s a teacher; resume it the same way", path,
                     had_teacher ? "with" : "without");
        goto done;
    }
    if ((rc = check_opts(&so, &tr->o, path))) goto done;
    if (data_n != tr->data_n || data_hash != tr->data_hash) {
        rc = err_set(ERR_ARG, "%s: the training data differ from the run's (%llu tokens then, %zu now); resume with "
                              "the same -d files", path, (unsigned long long)data_n, tr->data_n);
        goto done;
    }
    if (step < 0 || step > so.steps || n_log > (uint32_t)step || n_evals > (uint32_t)step + 1) {
        rc = err_set(ERR_FORMAT, "%s: inconsistent step counts", path);
        goto done;
    }
    free(tr->log);
    free(tr->evals);
    tr->n_log = (int)n_log;
    tr->n_evals = (int)n_evals;
    tr->log = xmalloc((n_log ? n_log : 1) * sizeof *tr->log);
    tr->evals = xmalloc((n_evals ? n_evals : 1) * sizeof *tr->evals);
    tr->cap_log = n_log ? (int)n_log : 1;
    tr->cap_evals = n_evals ? (int)n_evals : 1;
    for (uint32_t i = 0; i < n_log; i++) {
        tr->log[i].step = (int)r_u32(&r);
        tr->log[i].loss = r_f32(&r);
        tr->log[i].lr = r_f32(&r);
        tr->log[i].elapsed = r_f64(&r);
    }
    for (uint32_t i = 0; i < n_evals; i++) {
        tr->evals[i].step = (int)r_u32(&r);
        tr->evals[i].loss = r_f32(&r);
    }
    const unsigned char *mv = r_take(&r, 8 * tr->opt.n);
    if (!r.ok || r.at != r.n) {
        rc = err_set(ERR_FORMAT, "%s: size does not match its header", path);
        goto done;
    }
    for (size_t i = 0; i < tr->opt.n; i++) {
        tr->opt.m[i] = le_get_f32(mv + 4 * i);
        tr->opt.v[i] = le_get_f32(mv + 4 * (tr->opt.n + i));
    }
    tr->opt.t = (long)adam_t;
    tr->step = step;
    tr->r.s = rs;
    tr->elapsed = elapsed;
done:
    free(data);
    free(path);
    return rc;
}
