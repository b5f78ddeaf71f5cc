// report_measure.c: measuring every model of a report in one run: peak memory in fork()ed
// children first (see report.h for why first), then size breakdown, speed, quality and
// generations in this process, the original kept loaded and one compressed model at a time.
// Ends by applying the rules (rules.c) to the compressed models.
#include "report.h"
#include "fmt.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/parallel.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../formats/gguf.h"
#include "../kernels/kernels.h"
#include "../modelfile/modelfile.h"
#include "../tokenizer/bpe.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void logf_(report_log_fn log, void *user, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(report_log_fn log, void *user, const char *fmt, ...) {
    if (!log) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log(buf, user);
}

// -m / -c take an HF directory or a GGUF file (any regular file is read as GGUF), as the CLI does.
static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int load_model(const char *path, gpt2_model *m) {
    kernels_init();
    return is_file(path) ? gpt2_gguf_load(m, path) : gpt2_hf_load(m, path);
}

static double rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return 1024.0 * (double)ru.ru_maxrss;  // Linux reports kilobytes
}

// --- peak memory: one child per model

typedef struct mem_msg {
    int rc;
    double start, peak;  // bytes
    char msg[1000];
} mem_msg;

// Encodes a prompt for generation (an empty one starts from <|endoftext|>); ERR_ARG if it
// does not fit the context.
static int encode_prompt(const bpe *tok, const gpt2_model *m, const char *prompt, int **ids, size_t *n) {
    int rc = bpe_encode(tok, prompt, strlen(prompt), ids, n);
    if (rc) return rc;
    if (*n == 0) {
        int eot = bpe_eot(tok) >= 0 ? bpe_eot(tok) : m->cfg.eos_id;
        if (eot < 0) return err_set(ERR_ARG, "report: an empty prompt needs an <|endoftext|> token to start from");
        free(*ids);  // bpe_encode's buffer may hold 0 ints
        *ids = xmalloc(sizeof(int));
        (*ids)[0] = eot;
        *n = 1;
    }
    if (*n > (size_t)m->cfg.n_ctx)
        return err_set(ERR_ARG, "report: the prompt '%.40s...' is %zu tokens, longer than the context (%d)", prompt, *n, m->cfg.n_ctx);
    return 0;
}

static void child_measure(const char *path, const bpe *tok, const report_settings *set, mem_msg *msg) {
    msg->start = rss_bytes();
    gpt2_model m;
    int rc = load_model(path, &m);
    if (rc == 0) {
        int *ids = NULL;
        size_t n = 0;
        rc = encode_prompt(tok, &m, set->prompts[0], &ids, &n);
        if (rc == 0) {
            gen_opts o = {set->gen_tokens, set->temp, set->top_k, set->top_p, set->seed, bpe_eot(tok)};
            gen_stats st;
            int *out = xmalloc(((size_t)set->gen_tokens + 1) * sizeof(int));
            int got = eval_generate(&m, ids, (int)n, &o, NULL, NULL, out, &st);
            if (got < 0) rc = got;
            free(out);
        }
        free(ids);
        msg->peak = rss_bytes();
        gpt2_model_free(&m);
    }
    msg->rc = rc;
    if (rc) snprintf(msg->msg, sizeof msg->msg, "%s", err_msg()[0] ? err_msg() : "unknown error");
}

static int measure_memory(const char *path, const bpe *tok, const report_settings *set, double *peak, double *start) {
    int fd[2];
    if (pipe(fd) != 0) return err_set(ERR_IO, "report: cannot create a pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return err_set(ERR_IO, "report: cannot fork to measure %s: %s", path, strerror(errno));
    }
    if (pid == 0) {
        close(fd[0]);
        mem_msg msg;
        memset(&msg, 0, sizeof msg);
        child_measure(path, tok, set, &msg);
        const char *p = (const char *)&msg;
        size_t left = sizeof msg;
        while (left > 0) {
            ssize_t w = write(fd[1], p, left);
            if (w <= 0 && errno != EINTR) break;
            if (w > 0) p += w, left -= (size_t)w;
        }
        close(fd[1]);
        _exit(0);
    }
    close(fd[1]);
    mem_msg msg;
    memset(&msg, 0, sizeof msg);
    char *p = (char *)&msg;
    size_t got = 0;
    while (got < sizeof msg) {
        ssize_t r = read(fd[0], p + got, sizeof msg - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (got != sizeof msg || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            return err_set(ERR_IO, "%s: the process measuring its memory died (signal %d)", path, WTERMSIG(status));
        return err_set(ERR_IO, "%s: the process measuring its memory ended without a result", path);
    }
    if (msg.rc) return err_set(msg.rc, "%s", msg.msg);
    *peak = msg.peak;
    *start = msg.start;
    return 0;
}

// --- size: what the file's bytes are

static void add_type(report_model *rm, const char *type, double params, double bytes) {
    int i = 0;
    while (i < rm->n_types && strcmp(rm->types[i].type, type) != 0) i++;
    if (i == rm->n_types) {
        if (rm->n_types == REPORT_MAX_TYPES) return;
        snprintf(rm->types[rm->n_types++].type, sizeof rm->types[0].type, "%s", type);
    }
    rm->types[i].params += params;
    rm->types[i].bytes += bytes;
    rm->tensor_bytes += bytes;
}

static void add_group(report_model *rm, const char *name, const char *type, int matrix, double params, double bytes) {
    char g[48];
    // "blk.12.ffn_up.weight" -> "blk.*.ffn_up.weight"
    const char *dot = strncmp(name, "blk.", 4) == 0 ? strchr(name + 4, '.') : NULL;
    if (dot) snprintf(g, sizeof g, "blk.*%s", dot);
    else snprintf(g, sizeof g, "%s", name);
    int i = 0;
    while (i < rm->n_groups && !(strcmp(rm->groups[i].name, g) == 0 && strcmp(rm->groups[i].type, type) == 0)) i++;
    if (i == rm->n_groups) {
        if (rm->n_groups == REPORT_MAX_GROUPS) return;
        report_group *ng = &rm->groups[rm->n_groups++];
        snprintf(ng->name, sizeof ng->name, "%s", g);
        snprintf(ng->type, sizeof ng->type, "%s", type);
        ng->matrix = matrix;
    }
    rm->groups[i].count++;
    rm->groups[i].params += params;
    rm->groups[i].bytes += bytes;
}

static int measure_size(report_model *rm, const gpt2_model *m) {
    rm->file_bytes = (double)m->file_bytes;
    rm->params = (double)gpt2_param_count(&m->cfg);
    const gpt2_config *c = &m->cfg;
    rm->n_layer = c->n_layer, rm->n_head_full = c->n_embd / c->head_dim, rm->lowrank = 0;
    for (int l = 0; l < c->n_layer; l++) {
        rm->heads[l] = gpt2_n_head(c, l), rm->ffn[l] = gpt2_n_ff(c, l);
        for (int k = 0; k < GPT2_LINEARS; k++) rm->lowrank += gpt2_rank(c, l, k) > 0;
    }
    rm->bits_per_weight = rm->params > 0 ? 8.0 * rm->file_bytes / rm->params : NAN;
    rm->tensor_bytes = 0;
    if (!is_file(rm->path)) {  // HF directory: stored parameters per dtype
        for (int d = 0; d < DTYPE_COUNT; d++)
            if (m->dtype_params[d])
                add_type(rm, dtype_name((dtype)d), (double)m->dtype_params[d], (double)m->dtype_params[d] * (double)dtype_size((dtype)d));
        return 0;
    }
    gguf_file g;
    int rc = gguf_open(&g, rm->path);
    if (rc) return rc;
    const char *first = NULL;
    for (size_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor *t = &g.tensors[i];
        const char *type = gguf_tensor_type_get(t->type)->name;
        add_type(rm, type, (double)t->nelem, (double)t->nbytes);
        add_group(rm, t->name, type, t->n_dims >= 2, (double)t->nelem, (double)t->nbytes);
        if (t->n_dims >= 2 && strcmp(t->name, "position_embd.weight") != 0) {
            if (!first) first = type;
            else if (strcmp(first, type) != 0) rm->mixed = 1;
        }
    }
    gguf_close(&g);
    // widest type first, as the plot's legend
    for (int i = 1; i < rm->n_types; i++)
        for (int j = i; j > 0; j--) {
            report_type_bytes *a = &rm->types[j - 1], *b = &rm->types[j];
            if (b->bytes * a->params <= a->bytes * b->params) break;  // bits/weight of b <= a's
            report_type_bytes t = *a;
            *a = *b;
            *b = t;
        }
    return 0;
}

// --- generations

static int generate_all(report_model *rm, const gpt2_model *m, const bpe *tok, const report_settings *set) {
    int *out = xmalloc(((size_t)set->gen_tokens + 1) * sizeof(int));
    int rc = 0, eot = bpe_eot(tok);
    for (int p = 0; p < set->n_prompts && !rc; p++) {
        int *ids = NULL;
        size_t n = 0;
        if ((rc = encode_prompt(tok, m, set->prompts[p], &ids, &n))) break;
        gen_opts o = {set->gen_tokens, set->temp, set->top_k, set->top_p, set->seed, eot};
        gen_stats st;
        int got = set->gen_tokens > 0 ? eval_generate(m, ids, (int)n, &o, NULL, NULL, out, &st) : 0;
        free(ids);
        if (got < 0) {
            rc = got;
            break;
        }
        int keep = got > 0 && out[got - 1] == eot ? got - 1 : got;  // the stop token is not text
        char *text = NULL;
        size_t len = 0;
        if ((rc = bpe_decode(tok, out, (size_t)keep, &text, &len))) break;
        rm->gen_text[p] = fmt_utf8_clean(text, len);
        rm->gen_tokens[p] = got;
        free(text);
    }
    free(out);
    return rc;
}

// Text collapse: continuations of set->collapse_prompts passages of the held-out text (16
// tokens each, evenly spaced), sampled with the generations' settings, prompt k with seed + k
// for every model, then their repetition (eval_repetition).
#define COLLAPSE_PROMPT_TOKENS 16
static int measure_collapse(report_model *rm, const gpt2_model *m, const bpe *tok, const report_settings *set,
                            const int *ids, size_t n_ids) {
    int n = set->collapse_prompts, T = set->collapse_tokens, rc = 0;
    memset(&rm->rep, 0, sizeof rm->rep);
    if (n <= 0 || T <= 0 || n_ids < COLLAPSE_PROMPT_TOKENS) return 0;
    int *buf = xmalloc((size_t)n * T * sizeof *buf), *lens = xmalloc((size_t)n * sizeof *lens);
    const int **texts = xmalloc((size_t)n * sizeof *texts);
    int eot = bpe_eot(tok);
    for (int k = 0; k < n && !rc; k++) {
        size_t off = (size_t)k * (n_ids - COLLAPSE_PROMPT_TOKENS) / (size_t)n;
        gen_opts o = {T, set->temp, set->top_k, set->top_p, set->seed + (uint64_t)k, eot};
        gen_stats st;
        int got = eval_generate(m, ids + off, COLLAPSE_PROMPT_TOKENS, &o, NULL, NULL, buf + (size_t)k * T, &st);
        if (got < 0) rc = got;
        lens[k] = got > 0 && buf[(size_t)k * T + got - 1] == eot ? got - 1 : got;
        texts[k] = buf + (size_t)k * T;
    }
    if (!rc) eval_repetition(texts, lens, n, &rm->rep);
    free(buf), free(lens), free(texts);
    return rc;
}

// --- speed

static int measure_speed(report_model *rm, const gpt2_model *m, const report_settings *set) {
    int rc = eval_speed_pp(m, set->pp, set->reps, &rm->pp);
    if (!rc) rc = eval_speed_tg(m, set->tg, set->reps, &rm->tg);
    if (rc) return rc;
    rm->forward_ms_median = 1e3 * set->pp / rm->pp.median;
    rm->forward_ms_min = 1e3 * set->pp / rm->pp.max;
    rm->forward_ms_max = 1e3 * set->pp / rm->pp.min;
    return 0;
}

// --- LAMBADA (eval_lambada states the protocol)

static int report_lambada(report_model *rm, const gpt2_model *m, const bpe *tok, const report_settings *set) {
    lambada_result lr;
    int rc = eval_lambada(m, tok, set->lambada, set->lambada_limit, &lr, NULL, NULL);
    if (rc) return rc;
    rm->has_lambada = 1;
    rm->lambada_n = lr.n;
    rm->lambada_correct = lr.correct;
    rm->lambada_acc = lr.acc;
    rm->lambada_ppl = lr.ppl;
    return 0;
}

// --- machine

// CPU seconds all processes have used (user, nice, system, irq, softirq, steal over every
// CPU, from /proc/stat), and this process's own with its waited-for children's.
static double cpu_busy_all(void) {
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return NAN;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8) return NAN;
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static double cpu_own(void) {
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    getrusage(RUSAGE_CHILDREN, &b);
    return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) +
           (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec) * 1e-6;
}

static double load_average(void) {
    double v = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &v) != 1) v = NAN;
        fclose(f);
    }
    return v;
}

static void machine_info(report *r) {
    snprintf(r->cpu, sizeof r->cpu, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                const char *v = strchr(line, ':');
                if (v) {
                    v++;
                    while (*v == ' ' || *v == '\t') v++;
                    snprintf(r->cpu, sizeof r->cpu, "%.*s", (int)strcspn(v, "\n"), v);
                }
                break;
            }
        fclose(f);
    }
    r->logical_cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->created, sizeof r->created, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

// --- cheap checks before anything slow: every model opens and the tests fit its context

static int model_context(const char *path, int *n_ctx) {
    if (is_file(path)) {
        gguf_file g;
        int64_t v = 0;
        const char *arch = NULL;
        char key[64];
        int rc = gguf_open(&g, path);
        if (!rc) rc = gguf_get_str(&g, "general.architecture", &arch, NULL);
        if (!rc && strcmp(arch, "gpt2") != 0 && strcmp(arch, "shrink-gpt2") != 0)  // the loader's two
            rc = err_set(ERR_FORMAT, "%s: general.architecture is \"%s\", expected \"gpt2\" or \"shrink-gpt2\"", path, arch);
        if (!rc) {
            snprintf(key, sizeof key, "%s.context_length", arch);  // pruned or factorized: shrink-gpt2
            rc = gguf_get_int(&g, key, &v);
        }
        gguf_close(&g);
        *n_ctx = (int)v;
        return rc;
    }
    char *cfg_path = path_join(path, "config.json"), *text = NULL;
    size_t len = 0;
    gpt2_config c;
    int rc = file_read_all(cfg_path, &text, &len);
    if (!rc) rc = gpt2_config_parse(&c, text, len, cfg_path, NULL);
    if (!rc) rc = gpt2_config_validate(&c, cfg_path);
    if (!rc) *n_ctx = c.n_ctx;
    free(text);
    free(cfg_path);
    return rc;
}

// Also sets the default perplexity window: the shortest context among the models.
static int check_inputs(report *r) {
    report_settings *s = &r->set;
    int min_ctx = 0;
    for (int i = 0; i < r->n_models; i++) {
        int n_ctx = 0, rc = model_context(r->models[i].path, &n_ctx);
        if (rc) return rc;
        if (s->pp > n_ctx || s->tg > n_ctx)
            return err_set(ERR_ARG, "report: --pp %d / --tg %d: the speed tests must fit %s's context (%d tokens)", s->pp, s->tg,
                           r->models[i].path, n_ctx);
        if (s->ctx > n_ctx)
            return err_set(ERR_ARG, "report: --ctx %d is longer than %s's context (%d tokens)", s->ctx, r->models[i].path, n_ctx);
        if (i == 0 || n_ctx < min_ctx) min_ctx = n_ctx;
    }
    if (s->ctx == 0) s->ctx = min_ctx;
    return 0;
}

// --- all of it

int report_measure(report *r, const bpe *tok, report_log_fn log, void *user) {
    report_settings *set = &r->set;
    double t_start = timer_now();
    machine_info(r);
    r->load_start = load_average();
    double busy0 = cpu_busy_all(), own0 = cpu_own();
    if (set->n_prompts == 0) return err_set(ERR_ARG, "report: no prompt to generate from");
    int V = bpe_vocab_size(tok);
    // the held-out text first: a bad file fails before anything slow
    char *text = NULL;
    size_t len = 0, n_ids = 0;
    int *ids = NULL, *tok_bytes = NULL, rc;
    if ((rc = file_read_all(set->heldout, &text, &len))) return rc;
    rc = bpe_encode(tok, text, len, &ids, &n_ids);
    free(text);
    if (rc) return rc;
    if (n_ids < 2) {
        free(ids);
        return err_set(ERR_ARG, "%s: the text is %zu token(s); perplexity needs at least 2", set->heldout, n_ids);
    }
    if (set->lambada && !is_file(set->lambada)) {
        free(ids);
        return err_set(ERR_IO, "%s: no such file (--lambada)", set->lambada);
    }
    if ((rc = check_inputs(r))) {
        free(ids);
        return rc;
    }

    // 1. peak memory, one child per model, before this process loads any model
    for (int i = 0; i < r->n_models && !rc; i++) {
        report_model *rm = &r->models[i];
        logf_(log, user, "%s: peak memory (a child process loads it and generates %d tokens)", rm->label, set->gen_tokens);
        rc = measure_memory(rm->path, tok, set, &rm->peak_rss_bytes, &rm->start_rss_bytes);
    }
    if (rc) {
        free(ids);
        return rc;
    }

    // 2. the original: size, speed, perplexity, generations
    gpt2_model orig, cm;
    memset(&cm, 0, sizeof cm);
    report_model *ro = &r->models[0];
    if ((rc = load_model(ro->path, &orig))) {
        free(ids);
        return rc;
    }
    r->kernels = kern.isa;
    set->threads = par_max_threads();
    if (orig.cfg.vocab_size != V) {
        rc = err_set(ERR_SHAPE, "%s: the tokenizer has %d tokens but the model %d", ro->path, V, orig.cfg.vocab_size);
        goto out;
    }
    if (set->stride == 0) set->stride = set->ctx / 2 > 0 ? set->ctx / 2 : 1;
    tok_bytes = xmalloc((size_t)V * sizeof(int));
    for (int i = 0; i < V; i++) {
        size_t bl = 0;
        tok_bytes[i] = bpe_token_bytes(tok, i, &bl) ? (int)bl : 0;
    }
    if ((rc = measure_size(ro, &orig))) goto out;
    logf_(log, user, "%s: speed (pp%d, tg%d, %d repeats, %d threads)", ro->label, set->pp, set->tg, set->reps, set->threads);
    if ((rc = measure_speed(ro, &orig, set))) goto out;
    logf_(log, user, "%s: perplexity on %s", ro->label, set->heldout);
    if ((rc = eval_perplexity(&orig, ids, n_ids, tok_bytes, set->ctx, set->stride, &ro->ppl, NULL, NULL))) goto out;
    ro->dppl_pct = ro->kl_mean = ro->kl_p99 = ro->kl_max = ro->top1 = NAN;
    if (set->lambada) {
        logf_(log, user, "%s: LAMBADA (%s)", ro->label, set->lambada);
        if ((rc = report_lambada(ro, &orig, tok, set))) goto out;
    }
    logf_(log, user, "%s: %d generations", ro->label, set->n_prompts);
    if ((rc = generate_all(ro, &orig, tok, set))) goto out;
    logf_(log, user, "%s: text collapse (%d continuations of %d tokens)", ro->label, set->collapse_prompts, set->collapse_tokens);
    if ((rc = measure_collapse(ro, &orig, tok, set, ids, n_ids))) goto out;

    // 3. each compressed model against the original
    for (int i = 1; i < r->n_models; i++) {
        report_model *rm = &r->models[i];
        if ((rc = load_model(rm->path, &cm))) goto out;
        if (cm.cfg.vocab_size != V) {
            rc = err_set(ERR_SHAPE, "%s: %d tokens in its vocabulary, the original %s has %d", rm->path, cm.cfg.vocab_size, ro->path, V);
            goto out;
        }
        if ((rc = measure_size(rm, &cm))) goto out;
        logf_(log, user, "%s: speed (pp%d, tg%d, %d repeats, %d threads)", rm->label, set->pp, set->tg, set->reps, set->threads);
        if ((rc = measure_speed(rm, &cm, set))) goto out;
        logf_(log, user, "%s: perplexity, KL and top-1 against the original", rm->label);
        agree_result ag;
        if ((rc = eval_agreement(&cm, &orig, ids, n_ids, tok_bytes, set->ctx, set->stride, &ag, NULL, NULL))) goto out;
        rm->ppl = ag.model;
        rm->dppl_pct = 100.0 * (ag.model.ppl / ro->ppl.ppl - 1.0);
        rm->kl_mean = ag.kl_mean;
        rm->kl_p99 = ag.kl_p99;
        rm->kl_max = ag.kl_max;
        rm->top1 = ag.top1;
        if (set->lambada) {
            logf_(log, user, "%s: LAMBADA (%s)", rm->label, set->lambada);
            if ((rc = report_lambada(rm, &cm, tok, set))) goto out;
        }
        logf_(log, user, "%s: %d generations", rm->label, set->n_prompts);
        if ((rc = generate_all(rm, &cm, tok, set))) goto out;
        logf_(log, user, "%s: text collapse (%d continuations of %d tokens)", rm->label, set->collapse_prompts, set->collapse_tokens);
        if ((rc = measure_collapse(rm, &cm, tok, set, ids, n_ids))) goto out;
        rm->collapsed = set->collapse_prompts > 0 && eval_collapsed(&rm->rep, &ro->rep);
        gpt2_model_free(&cm);
    }
    r->load_end = load_average();
    r->seconds = timer_now() - t_start;
    double other = (cpu_busy_all() - busy0) - (cpu_own() - own0);
    r->other_cpus = isfinite(other) && r->seconds > 0 ? fmax(other, 0.0) / r->seconds : NAN;
    report_apply_rules(r);
out:
    gpt2_model_free(&cm);
    gpt2_model_free(&orig);
    free(tok_bytes);
    free(ids);
    return rc;
}
