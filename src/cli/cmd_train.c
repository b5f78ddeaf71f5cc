// cmd_train.c: `shrink train`: train a GPT-2 from a config (random init) or continue from
// a checkpoint, optionally distilling a teacher; checkpoints are HF directories that
// `--resume` continues bit for bit. The recipe's defaults reproduce the bundled model
// (docs/training.md).
#include "cli.h"
#include "../dist/dist.h"
#include "args.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/parallel.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include "../formats/json.h"
#include "../train/train.h"
#include <math.h>
#include <string.h>

// --- output

static void fmt_time(char *buf, size_t n, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

static void print_breakdown(FILE *f, const gpt2_train *tr, double seconds) {
    double total = 0;
    double parts[GPT2_PROF_COUNT];
    for (int p = 0; p < GPT2_PROF_COUNT; p++) {
        parts[p] = tr->acts.prof[p] + tr->tacts.prof[p];
        total += parts[p];
    }
    fprintf(f, "time per part (%.1f s of %.1f s measured):\n", total, seconds);
    for (int p = 0; p < GPT2_PROF_COUNT; p++)
        if (p != GPT2_PROF_COMM || tr->ranks > 1)
            fprintf(f, "  %-34s %8.2f s  %5.1f%%\n", gpt2_prof_names[p], parts[p], total > 0 ? 100 * parts[p] / total : 0);
}

// --- the command

// Distillation compares distributions over token ids: the teacher's ids must mean what the
// student's do. When the teacher's directory has a tokenizer, every id must decode to the
// same bytes as in the student's (tok), and the merges must be as many.
static int same_tokenizer(const bpe *tok, const char *teacher_dir) {
    if (!cli_has_tokenizer_files(teacher_dir)) return 0;
    bpe *t = NULL;
    int rc = cli_load_tokenizer(teacher_dir, &t);
    if (rc) return rc;
    int V = bpe_vocab_size(tok), bad = -1;
    if (bpe_vocab_size(t) != V || bpe_merge_count(t) != bpe_merge_count(tok)) bad = V;
    for (int id = 0; id < V && bad < 0; id++) {
        size_t na, nb;
        const char *a = bpe_token_bytes(tok, id, &na), *b = bpe_token_bytes(t, id, &nb);
        if (na != nb || memcmp(a, b, na) != 0) bad = id;
    }
    if (bad >= 0)
        rc = bad < V ? err_set(ERR_ARG, "train: --teacher %s: token %d is another string in its tokenizer; distillation "
                                        "needs the student's tokenizer", teacher_dir, bad)
                     : err_set(ERR_ARG, "train: --teacher %s: its tokenizer (%d tokens, %d merges) is not the student's "
                                        "(%d, %d); distillation needs the same one", teacher_dir, bpe_vocab_size(t),
                                        bpe_merge_count(t), V, bpe_merge_count(tok));
    bpe_free(t);
    return rc;
}

// What rank 0 prints if a signal ends the run: mpirun ends every process with SIGTERM when
// one of them has died, and a user's Ctrl-C lands here too. Checkpoints are whole (they are
// swapped in atomically), so the last one saved is where to continue from.
static void signal_note(int rank, int ranks, const char *out, int saved_step) {
    if (rank > 0) return;
    char line[1024];
    int n = snprintf(line, sizeof line, "shrink: error: train: stopped by a signal%s; ",
                     ranks > 1 ? " (under mpirun: another process of the job has ended; mpirun's message names it)" : "");
    if (!out) snprintf(line + n, sizeof line - (size_t)n, "nothing is saved (no --out)");
    else if (saved_step < 0) snprintf(line + n, sizeof line - (size_t)n, "no checkpoint saved yet in %s", out);
    else snprintf(line + n, sizeof line - (size_t)n, "%s holds the whole checkpoint after %d steps: continue with the same command and --resume", out, saved_step);
    file_signal_note(line);
}

int cmd_train(int argc, char **argv) {
    const char *model = NULL, *config = NULL, *data = NULL, *out = NULL, *val = NULL, *teacher_dir = NULL;
    const char *tok_dir = NULL;
    int steps = 900, batch = 16, ctx = 0, warmup = -1, eval_every = 100, save_every = 0, log_every = 10;
    int resume = 0, threads = 0, stop_at = 0, micro = 0;
    unsigned long long tokens = 0, seed = 1337;
    float lr = 1.5e-3f, min_lr = -1.0f, wd = 0.1f, clip = 1.0f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
    float val_frac = 0.02f, kd_weight = 0.5f, kd_temp = 2.0f;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "start from this checkpoint (HF directory)", 0, 0, 0},
        {"config", 0, ARG_STR, &config, "JSON", "or start from scratch: an HF GPT2Config config.json", 0, 0, 0},
        {"data", 'd', ARG_STR, &data, "FILES", "training data: text or token files, comma separated, concatenated",
         0, 0, 1},
        {"out", 'o', ARG_STR, &out, "DIR", "checkpoint directory, replaced atomically (none: nothing is saved)", 0, 0, 0},
        {"steps", 0, ARG_INT, &steps, "N", "optimizer steps", 1, 1e9, 0},
        {"tokens", 0, ARG_U64, &tokens, "N", "or train on N tokens: steps = ceil(N / (batch*ctx)) (0 = use --steps)", 0, 0, 0},
        {"batch", 'b', ARG_INT, &batch, "B", "sequences per step", 1, 65536, 0},
        {"ctx", 0, ARG_INT, &ctx, "T", "tokens per sequence (0 = the model's n_ctx)", 0, 1 << 20, 0},
        {"lr", 0, ARG_FLOAT, &lr, "LR", "peak learning rate", 1e-9, 10, 0},
        {"min-lr", 0, ARG_FLOAT, &min_lr, "LR", "learning rate at the end of the cosine (-1 = lr/10)", -1, 10, 0},
        {"warmup", 0, ARG_INT, &warmup, "N", "linear warmup steps (-1 = 5% of the steps)", -1, 1e9, 0},
        {"weight-decay", 0, ARG_FLOAT, &wd, "W", "AdamW decoupled weight decay, on 2-D weights only", 0, 10, 0},
        {"clip", 0, ARG_FLOAT, &clip, "C", "global gradient-norm clip (0 = off)", 0, 1e9, 0},
        {"beta1", 0, ARG_FLOAT, &beta1, "B1", "AdamW beta1", 0, 0.999999, 0},
        {"beta2", 0, ARG_FLOAT, &beta2, "B2", "AdamW beta2", 0, 0.999999, 0},
        {"eps", 0, ARG_FLOAT, &eps, "E", "AdamW epsilon", 1e-30, 1, 0},
        {"seed", 's', ARG_U64, &seed, "S", "seed of the initial weights (--config) and of the batch sampler", 0, 0, 0},
        {"val", 0, ARG_STR, &val, "FILES", "validation data (default: the last --val-frac of the training stream)", 0, 0, 0},
        {"val-frac", 0, ARG_FLOAT, &val_frac, "F", "fraction of the stream held out when --val is not given", 0, 0.5, 0},
        {"eval-every", 0, ARG_INT, &eval_every, "N", "validation loss + checkpoint every N steps, and at the end (0 = end only)", 0, 1e9, 0},
        {"save-every", 0, ARG_INT, &save_every, "N", "extra checkpoints every N steps (0 = none)", 0, 1e9, 0},
        {"log-every", 0, ARG_INT, &log_every, "N", "progress line every N steps", 1, 1e9, 0},
        {"teacher", 0, ARG_STR, &teacher_dir, "DIR", "distil this model (same vocabulary; forward only)", 0, 0, 0},
        {"kd-weight", 0, ARG_FLOAT, &kd_weight, "A", "distillation weight A: (1-A)*CE + A*tau^2*KL", 0, 1, 0},
        {"kd-temp", 0, ARG_FLOAT, &kd_temp, "TAU", "distillation temperature", 1e-3, 1e3, 0},
        {"resume", 0, ARG_FLAG, &resume, NULL, "continue the run whose checkpoint is in --out (same options and data)", 0, 0, 0},
        {"stop-at", 0, ARG_INT, &stop_at, "N", "checkpoint and stop after N steps (resume later; 0 = run to the end)", 0, 1e9, 0},
        {"tokenizer", 0, ARG_STR, &tok_dir, "DIR", "vocab.json + merges.txt (default: the model's or config's directory)", 0, 0, 0},
        {"micro-batches", 0, ARG_INT, &micro, "M",
         "split each batch into M micro-batches whose gradients are summed in order (0 = one per process): the result "
         "depends on --batch and M, not on how many processes (mpirun -np N, N dividing M) share them", 0, 65536, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    const char *usage = "train (-m DIR | --config JSON) -d FILES [-o DIR] [--steps N | --tokens N] [--batch B] [--ctx T]\n"
                        "             [--lr LR] [--warmup N] [--teacher DIR --kd-weight A --kd-temp TAU] [--resume]";
    int n_specs = (int)(sizeof specs / sizeof specs[0]);
    int rc = args_parse("train", usage, specs, n_specs, argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    if (!resume && !model == !config) {
        err_set(ERR_ARG, "train: give exactly one of -m DIR (continue a checkpoint) or --config JSON (from scratch)");
        return cli_fail();
    }
    cli_set_threads(threads);
    kernels_init();
    // Under mpirun (a `make MPI=1` build) each process trains on its share of every batch;
    // rank 0 alone prints and writes checkpoints.
    dist_init(NULL, NULL);
    int rank = dist_rank(), ranks = dist_size();
    if (rank > 0 && !freopen("/dev/null", "w", stdout)) return cli_fail();

    // Where the run starts: the checkpoint in --out (resume), a model directory, or a config.
    if (resume && !out) {
        err_set(ERR_ARG, "train: --resume continues the checkpoint in --out DIR; give --out");
        return cli_fail();
    }
    int have_state = 0;
    if (out) {
        char *state_path = path_join(out, "train_state.bin");
        have_state = file_exists(state_path);
        free(state_path);
    }
    if (resume && !have_state) {
        err_set(ERR_ARG, "train: --resume: %s holds no checkpoint (train_state.bin)", out);
        return cli_fail();
    }
    if (!resume && have_state) {
        err_set(ERR_ARG, "train: %s already holds a training checkpoint; pass --resume to continue it, or choose "
                         "another --out", out);
        return cli_fail();
    }
    if (!resume && out && file_exists(out)) {
        char *cfg_path = path_join(out, "config.json");
        int is_model = file_exists(cfg_path);
        free(cfg_path);
        if (is_model) {
            err_set(ERR_ARG, "train: %s already holds a model; choose a new --out (checkpoints replace the directory)", out);
            return cli_fail();
        }
    }
    if (out) {  // checkpoints are built in a sibling directory of --out, then swapped in
        char *parent = cli_parent_dir(out);
        rc = dir_check_creatable(parent, "train --out's parent");
        free(parent);
        if (rc) return cli_fail();
    }
    char *config_dir = NULL;
    if (config) {
        config_dir = xstrdup(config);
        char *slash = strrchr(config_dir, '/');
        if (slash) *slash = 0;
        else strcpy(config_dir, ".");
    }
    const char *start_dir = resume ? out : model;
    if (!tok_dir) tok_dir = start_dir ? start_dir : config_dir;

    gpt2_model m, teacher;
    memset(&m, 0, sizeof m);
    memset(&teacher, 0, sizeof teacher);
    bpe *tok = NULL;
    int *ids = NULL, *vids = NULL;
    size_t n_ids = 0, n_val = 0;
    gpt2_train tr;
    memset(&tr, 0, sizeof tr);
    sbuf extra;  // training_log.json's extra fields
    sbuf_init(&extra);
    int have_teacher = teacher_dir != NULL;
    char *vocab = path_join(tok_dir, "vocab.json");
    int have_tok = file_exists(vocab);
    free(vocab);

    if (start_dir) {
        rc = gpt2_hf_load(&m, start_dir);
    } else {
        char *text;
        size_t len;
        gpt2_config cfg;
        rc = file_read_all(config, &text, &len);
        if (!rc) {
            rc = gpt2_config_parse(&cfg, text, len, config, NULL);
            if (!rc) rc = gpt2_config_validate(&cfg, config);
            free(text);
        }
        if (!rc) gpt2_model_init_random(&m, &cfg, seed);
    }
    if (!rc && have_teacher) rc = gpt2_hf_load(&teacher, teacher_dir);
    if (!rc && have_tok) rc = cli_load_tokenizer(tok_dir, &tok);
    if (!rc && have_teacher && tok) rc = same_tokenizer(tok, teacher_dir);
    int V = m.cfg.vocab_size;
    if (!rc) rc = token_ids_load(data, tok, V, "train", &ids, &n_ids);
    if (!rc && val) rc = token_ids_load(val, tok, V, "train", &vids, &n_val);
    if (rc) goto done;
    size_t n_train = n_ids;
    const int *val_ids = vids;
    if (!val && val_frac > 0) {  // hold out the end of the stream
        n_val = (size_t)floor((double)n_ids * val_frac);
        n_train = n_ids - n_val;
        val_ids = ids + n_train;
    }
    if (ctx == 0) ctx = m.cfg.n_ctx;
    if (ctx > m.cfg.n_ctx) {
        rc = err_set(ERR_ARG, "train: --ctx %d is longer than the model's n_ctx (%d)", ctx, m.cfg.n_ctx);
        goto done;
    }
    if (n_train < (size_t)ctx + 1) {
        rc = err_set(ERR_ARG, "train: %zu training tokens; need at least ctx+1 = %d", n_train, ctx + 1);
        goto done;
    }
    if (tokens > 0) {
        unsigned long long per = (unsigned long long)batch * (unsigned long long)ctx;
        unsigned long long s = (tokens + per - 1) / per;
        if (s > 1000000000ull) {
            rc = err_set(ERR_ARG, "train: --tokens %llu means %llu steps, too many", tokens, s);
            goto done;
        }
        steps = (int)s;
    }
    if (warmup < 0) warmup = steps / 20;
    if (warmup > steps) {
        rc = err_set(ERR_ARG, "train: --warmup %d is longer than the run (%d steps)", warmup, steps);
        goto done;
    }
    train_opts o = {steps, batch, ctx, warmup, lr, min_lr < 0 ? lr / 10 : min_lr, wd, clip, beta1, beta2, eps,
                    seed, have_teacher ? kd_weight : 0, have_teacher ? kd_temp : 0};
    rc = gpt2_train_init_dist(&tr, &m, have_teacher ? &teacher : NULL, &o, rank, ranks, micro);
    if (rc) goto done;
    gpt2_train_set_data(&tr, ids, n_train);
    if (!dist_agree_u64(tr.data_hash ^ (uint64_t)n_train)) {
        rc = err_set(ERR_ARG, "train: the training data differs between the %d processes (%s read on each host must be "
                              "the same bytes)", ranks, data);
        goto done;
    }
    if (resume && (rc = gpt2_train_resume(&tr, out))) goto done;

    printf("train: %zu parameters, %d layers, %d wide, %d heads, vocab %d; %s\n", gpt2_param_count(&m.cfg), m.cfg.n_layer,
           m.cfg.n_embd, m.cfg.n_embd / m.cfg.head_dim, V, resume ? "resuming" : start_dir ? "from a checkpoint" : "from scratch");
    printf("train: %zu training tokens, %zu validation tokens; %d steps of %d x %d tokens; %d threads, kernels %s\n",
           n_train, n_val, steps, batch, ctx, par_max_threads(), kern.isa);
    if (tr.micro > 1) printf("train: %d process(es) (MPI), %d micro-batches of %d sequences, %d per process\n", ranks, tr.micro, tr.micro_rows, tr.micro / ranks);
    if (have_teacher)
        printf("train: distilling %s (%zu parameters), A = %g, tau = %g\n", teacher_dir, gpt2_param_count(&teacher.cfg), kd_weight, kd_temp);
    if (resume) printf("train: resuming at step %d of %d\n", tr.step, steps);
    if (!have_tok && out) printf("train: no tokenizer in %s; checkpoints will hold no vocab.json/merges.txt\n", tok_dir);
    if (!out) printf("train: no --out: nothing will be saved\n");
    fflush(stdout);

    signal_note(rank, ranks, out, resume ? tr.step : -1);
    double step_time = 0;
    int first_step = tr.step;
    int last = stop_at > 0 && stop_at < steps ? stop_at : steps;
    while (tr.step < last) {
        double t0 = timer_now(), norm;
        double loss = gpt2_train_step(&tr, ids, n_train, &norm);
        step_time += timer_now() - t0;
        if (!isfinite(loss)) {
            rc = err_set(ERR_RANGE, "train: the loss is %g at step %d; lower --lr or raise --warmup", loss, tr.step - 1);
            goto done;
        }
        int k = tr.step, done_steps = k - first_step;
        if (k % log_every == 0 || k == last || done_steps == 1) {
            double tps = done_steps * (double)batch * ctx / step_time;
            char eta[32], el[32];
            fmt_time(eta, sizeof eta, (steps - k) * step_time / done_steps);
            fmt_time(el, sizeof el, tr.elapsed);
            printf("step %5d/%d | loss %.4f", k - 1, steps, loss);
            if (have_teacher) printf(" (ce %.4f kl %.4f)", tr.last_ce, tr.last_kl);
            printf(" | lr %.3e | norm %.3f | %.0f tok/s | %s elapsed | ETA %s\n", tr.log[tr.n_log - 1].lr, norm, tps,
                   el, eta);
            fflush(stdout);
        }
        int eval_now = (eval_every > 0 && k % eval_every == 0) || k == steps;
        int save_now = eval_now || k == last || (save_every > 0 && k % save_every == 0);
        if (eval_now && n_val > (size_t)ctx) {
            double t1 = timer_now();
            double v = gpt2_train_eval(&tr, val_ids, n_val);
            if (!isfinite(v)) {  // never a "nan" in the log or training_log.json
                rc = err_set(ERR_RANGE, "train: the validation loss is %g at step %d; the weights have diverged", v, k - 1);
                goto done;
            }
            printf("eval  step %d | val loss %.4f | %zu windows of %d | %.1f s\n", k - 1, v, (n_val - 1) / (size_t)ctx,
                   ctx, timer_now() - t1);
            fflush(stdout);
        }
        if (save_now && out && rank == 0) {
            double tps = done_steps * (double)batch * ctx / step_time;
            sbuf_reset(&extra);
            sbuf_puts(&extra, "\"data\": ");
            json_put_string(&extra, data, strlen(data));
            sbuf_printf(&extra, ", \"val_tokens\": %zu, \"tokens_per_s\": %.1f, \"threads\": %d", n_val, tps,
                        par_max_threads());
            rc = gpt2_train_save(&tr, out, have_tok ? tok_dir : NULL, sbuf_str(&extra));
            if (rc) goto done;
            signal_note(rank, ranks, out, k);
        }
    }
    if (tr.step > first_step) {
        double tps = (tr.step - first_step) * (double)batch * ctx / step_time;
        printf("train: %d steps in %.1f s, %.0f tokens/s", tr.step - first_step, step_time, tps);
        if (out) printf("; checkpoint in %s%s", out, tr.step < steps ? " (stopped early: continue with --resume)" : "");
        printf("\n");
        print_breakdown(stdout, &tr, step_time);
    } else {
        printf("train: nothing to do: the run in %s has finished all %d steps\n", out, steps);
    }
done:
    file_signal_note(NULL);
    sbuf_free(&extra);
    gpt2_train_free(&tr);
    free(ids);
    free(vids);
    bpe_free(tok);
    free(config_dir);
    gpt2_model_free(&m);
    if (have_teacher) gpt2_model_free(&teacher);
    return cli_dist_end(rc);
}
