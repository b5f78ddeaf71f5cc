// cmd_sweep.c: `shrink sweep`: compress an original model at every point of a grid of
// settings, measure each against the original, and write the Pareto frontier, a plot and
// the smallest model meeting the quality bounds (src/sweep/). Every input is checked
// before the first point runs; a stopped sweep resumes where it stopped.
#include "cli.h"
#include "args.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/hash.h"
#include "../core/parallel.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../sweep/grid.h"
#include "../sweep/sweep.h"
#include "../dist/dist.h"
#include "../train/train.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CALIB_TOKENS 32768  // as compress

static void log_line(const char *msg, void *user) {
    (void)user;
    if (dist_size() > 1) fprintf(stderr, "[sweep, rank %d] %s\n", dist_rank(), msg);  // whose point it is
    else fprintf(stderr, "[sweep] %s\n", msg);
}

static void eval_bar(int done, int total, void *user) {
    double *t0 = user;
    if (done == 1) *t0 = timer_now();
    double el = timer_now() - *t0;
    fprintf(stderr, "\r[eval] window %d/%d  %.1fs elapsed, ETA %.1fs ", done, total, el, done ? el / done * (total - done) : 0);
    if (done == total) fprintf(stderr, "\n");
}

// --max-dppl "2%" or "2"; --max-kl "0.01"; either may be "none" (NaN).
static int parse_bound(const char *s, const char *opt, int pct, double *out) {
    if (strcmp(s, "none") == 0) {
        *out = NAN;
        return 0;
    }
    char *end;
    double x = strtod(s, &end);
    if (pct && end != s && *end == '%') end++;
    if (end == s || *end || !isfinite(x) || x <= 0)
        return err_set(ERR_ARG, "sweep: %s '%s' is not %s above 0, or none", opt, s,
                       pct ? "a percentage (2% or 2)" : "a number (nats per token)");
    *out = x;
    return 0;
}

// The command line, quoted for a POSIX shell where needed, to rerun (resume) the sweep.
static char *command_line(int argc, char **argv) {
    sbuf b;
    sbuf_init(&b);
    sbuf_puts(&b, "shrink sweep");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int plain = *a != 0;
        for (const char *p = a; *p && plain; p++)
            plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,+-%", *p) != NULL;
        sbuf_puts(&b, plain ? " " : " '");
        for (const char *p = a; *p; p++) {
            if (*p == '\'') sbuf_puts(&b, "'\\''");
            else sbuf_put(&b, p, 1);
        }
        if (!plain) sbuf_puts(&b, "'");
    }
    return b.s;
}

// A bundled data file, its path without the binary's "build/../" (the path is recorded).
static char *bundled(const char *name) {
    char *p = cli_data_path(name), *real = realpath(p, NULL);
    if (!real) return p;
    free(p);
    return real;
}

static int read_config(const char *dir, gpt2_config *c) {
    char *path = path_join(dir, "config.json"), *text = NULL;
    size_t len = 0;
    int rc = file_read_all(path, &text, &len);
    if (!rc) rc = gpt2_config_parse(c, text, len, path, NULL);
    if (!rc) rc = gpt2_config_validate(c, path);
    free(text);
    free(path);
    return rc;
}

int cmd_sweep(int argc, char **argv) {
    const char *model = NULL, *spec = NULL, *out = NULL, *heldout = NULL, *calib = NULL, *max_dppl_s = "2%", *max_kl_s = "none";
    const char *recover = NULL;
    int threads = 0, calib_tokens = DEFAULT_CALIB_TOKENS;
    float recover_lr = 0;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "the original: Hugging Face GPT-2 directory (what compress reads)", 0, 0, 1},
        {"grid", 0, ARG_STR, &spec, "SPEC",
         "settings to try, e.g. 'method=rtn,gptq;type=Q4_K_M,Q3_K_M,Q2_K;bpw=2.5,3.0': every method with every type "
         "(a type or preset) and every bits-per-weight target (a number in 1.5-16 or a preset's size); method defaults to rtn", 0, 0, 1},
        {"output", 'o', ARG_STR, &out, "DIR", "sweep directory (created if missing; an earlier sweep's points in it are "
                                              "reused): points/NAME.gguf and .json, sweep.md, pareto.svg, sweep.json", 0, 0, 1},
        {"file", 'f', ARG_STR, &heldout, "FILE", "held-out text for perplexity, KL and top-1 (default: the bundled "
                                                 "data/heldout.txt); windows of n_ctx tokens, stride n_ctx/2, as eval", 0, 0, 0},
        {"max-dppl", 0, ARG_STR, &max_dppl_s, "X", "quality bound: Δppl at most X percent (2% or 2), or none", 0, 0, 0},
        {"max-kl", 0, ARG_STR, &max_kl_s, "X", "quality bound: mean KL(original || model) at most X nats per token, or none", 0, 0, 0},
        {"calib", 0, ARG_STR, &calib, "FILE", "calibration text for methods other than rtn and for bpw targets (default: the "
                                             "bundled data/calib.txt); never the held-out text", 0, 0, 0},
        {"calib-tokens", 0, ARG_INT, &calib_tokens, "N", "calibration tokens to use", 256, 1 << 26, 0},
        {"recover-data", 0, ARG_STR, &recover, "FILES", "training data of recover= points: token or text files, comma "
                                                        "separated (as compress --recover); never the held-out text", 0, 0, 0},
        {"recover-lr", 0, ARG_FLOAT, &recover_lr, "LR", "peak learning rate of recover= points (default 1e-3)", 1e-9, 10, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    int rc = args_parse("sweep",
                        "sweep -m ORIGINAL --grid SPEC -o DIR [-f HELDOUT.txt] [--max-dppl 2%] [--max-kl X] [--calib FILE] "
                        "[--calib-tokens N] [-t T]\n"
                        "Compresses ORIGINAL at every grid point, evaluates each against it, and writes the Pareto frontier "
                        "(DIR/sweep.md, DIR/pareto.svg) and the smallest model meeting the bounds. Rerun the same command "
                        "to resume: points already in DIR/points are skipped.",
                        specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    // Under mpirun (a `make MPI=1` build) the points are shared among the processes; rank 0
    // alone prints the summary and writes sweep.md, sweep.json and the plot.
    dist_init(NULL, NULL);
    if (dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) return cli_fail();

    // Cheap checks first: nothing is loaded, run or written when an input is wrong.
    sweep_opts o = {0};
    if (parse_bound(max_dppl_s, "--max-dppl", 1, &o.max_dppl) || parse_bound(max_kl_s, "--max-kl", 0, &o.max_kl))
        return cli_fail();
    if (gpt2_path_is_gguf(model)) {
        err_set(ERR_ARG, "sweep: %s is a file; sweep compresses the original Hugging Face directory (-m DIR)", model);
        return cli_fail();
    }
    if (sweep_check_dir(out)) return cli_fail();
    gpt2_config cfg;
    if (read_config(model, &cfg)) return cli_fail();
    grid g;
    if (grid_parse(&g, spec, &cfg)) return cli_fail();
    int need_calib = 0, need_recover = 0;
    for (int i = 0; i < g.n; i++) need_calib |= grid_point_needs_calib(&g.pts[i]), need_recover |= g.pts[i].recover_tokens > 0;
    if (need_recover && !recover) {
        err_set(ERR_ARG, "sweep: --grid recover= distils pruned or factorized models on training tokens; give --recover-data FILES");
        grid_free(&g);
        return cli_fail();
    }
    char *heldout_default = NULL, *calib_default = NULL, *text = NULL, *cmd = NULL;
    int *ids = NULL, *tok_bytes = NULL, *rids = NULL;
    size_t n_rids = 0;
    size_t len = 0, n = 0;
    bpe *tok = NULL;
    calib_set cs = {0};
    struct stat st;
    if (!heldout) heldout = heldout_default = bundled("heldout.txt");
    if (stat(heldout, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = err_set(ERR_IO, "%s: no such file (-f, the held-out text)", heldout);
        goto done;
    }
    if (need_calib) {
        if (!calib) calib = calib_default = bundled("calib.txt");
        if (stat(calib, &st) != 0 || !S_ISREG(st.st_mode)) {
            rc = err_set(ERR_IO, "%s: calibration text not found (--calib FILE; needed by methods other than rtn and by "
                                 "bpw targets)", calib);
            goto done;
        }
    }
    if (need_calib) {  // calibrating on the evaluation text makes every number flattering
        char *a = realpath(calib, NULL), *b = realpath(heldout, NULL);
        if (a && b && strcmp(a, b) == 0)
            fprintf(stderr, "sweep: warning: --calib %s is the held-out text; the Δppl and KL measured on it will be "
                            "flattering\n", calib);
        free(a), free(b);
    }
    if ((rc = cli_load_tokenizer(model, &tok))) goto done;
    if (bpe_vocab_size(tok) != cfg.vocab_size) {
        rc = err_set(ERR_SHAPE, "%s: tokenizer has %d tokens but config.json says vocab_size %d", model, bpe_vocab_size(tok),
                     cfg.vocab_size);
        goto done;
    }
    if ((rc = file_read_all(heldout, &text, &len))) goto done;
    if ((rc = bpe_encode(tok, text, len, &ids, &n))) goto done;
    if (n < 2) {
        rc = err_set(ERR_ARG, "%s: the text is %zu token(s); perplexity needs at least 2", heldout, n);
        goto done;
    }
    if (need_recover) {
        if ((rc = token_ids_load(recover, tok, cfg.vocab_size, "sweep: --recover-data", &rids, &n_rids))) goto done;
        o.recover_ids = rids, o.n_recover = n_rids, o.recover_path = recover, o.recover_lr = recover_lr;
        o.recover_fnv = fnv1a64(rids, n_rids * sizeof *rids);
    }
    tok_bytes = xmalloc((size_t)cfg.vocab_size * sizeof(int));
    for (int i = 0; i < cfg.vocab_size; i++) {
        size_t bl = 0;
        tok_bytes[i] = bpe_token_bytes(tok, i, &bl) ? (int)bl : 0;
    }
    cli_set_threads(threads);
    // calibration windows as compress_model cuts them: at most 256 tokens
    if (need_calib && (rc = calib_load(&cs, tok, calib, calib_tokens, cfg.n_ctx < 256 ? cfg.n_ctx : 256))) goto done;
    if (need_calib) {  // its fingerprint goes into each calibrated GGUF (eval warns when scoring that text)
        char *ct = NULL;
        size_t cl = 0;
        if ((rc = file_read_all(calib, &ct, &cl))) goto done;
        o.calib_fnv = fnv1a64(ct, cl);
        free(ct);
    }

    char *vocab = path_join(model, "vocab.json");
    int have_vocab = file_exists(vocab);
    free(vocab);
    cmd = command_line(argc, argv);
    double t0 = 0;
    o.original = model;
    o.dir = out;
    o.grid_spec = spec;
    o.g = &g;
    o.calib = need_calib ? &cs : NULL;
    o.calib_path = need_calib ? calib : NULL;
    o.heldout_path = heldout;
    o.ids = ids;
    o.n_ids = n;
    o.tok_bytes = tok_bytes;
    o.ctx = cfg.n_ctx;
    o.stride = cfg.n_ctx / 2 > 0 ? cfg.n_ctx / 2 : 1;
    o.tok_dir = have_vocab ? model : NULL;
    o.threads = par_max_threads();  // what -t 0 (all cores) came to
    o.command = cmd;
    o.log = log_line;
    o.eta = isatty(2);
    o.eval_progress = isatty(2) ? eval_bar : NULL;
    o.eval_user = &t0;
    sweep_result r;
    if (dist_rank() == 0) {  // mpirun ends the job with SIGTERM when one of its processes has died
        char note[1024];
        snprintf(note, sizeof note, "shrink: error: sweep: stopped by a signal%s; the points finished are kept in "
                 "%s/points: run the same command again to go on", dist_size() > 1 ? " (under mpirun: another process "
                 "of the job has ended; mpirun's message names it)" : "", out);
        file_signal_note(note);
    }
    rc = sweep_run(&o, &r);
    file_signal_note(NULL);
    if (!rc && dist_rank() == 0) {
        sbuf s;
        sbuf_init(&s);
        sweep_choice_sentence(&o, &r, &s);
        printf("%s\nsweep: %d point%s (%d compressed, %d skipped) in %.1f s; %s/sweep.md, %s/pareto.svg, %s/sweep.json\n",
               sbuf_str(&s), r.n, r.n == 1 ? "" : "s", r.n_run, r.n_skipped, r.seconds, out, out, out);
        sbuf_free(&s);
    }
    sweep_result_free(&r);
done:
    free(rids);
    free(cmd);
    calib_free(&cs);
    free(tok_bytes);
    free(ids);
    free(text);
    bpe_free(tok);
    free(calib_default);
    free(heldout_default);
    grid_free(&g);
    return cli_dist_end(rc);
}
