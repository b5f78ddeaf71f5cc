// cmd_report.c: `shrink report`: measure an original model and its compressed versions in
// one run and write REPORT_DIR/report.md (with SVG plots) and report.json (src/report/).
#include "cli.h"
#include "args.h"
#include "../core/err.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../report/fmt.h"
#include "../report/report.h"
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_COMPRESSED 64

static void log_line(const char *msg, void *user) {
    fprintf(stderr, "[report %6.1fs] %s\n", timer_now() - *(const double *)user, msg);
}

// The command line, quoted for a POSIX shell where needed, for the report's header.
static char *command_line(int argc, char **argv) {
    sbuf b;
    sbuf_init(&b);
    sbuf_puts(&b, "shrink report");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int plain = *a != 0;
        for (const char *p = a; *p && plain; p++)
            plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,+-", *p) != NULL;
        sbuf_puts(&b, " ");
        if (plain) {
            sbuf_puts(&b, a);
            continue;
        }
        sbuf_puts(&b, "'");
        for (const char *p = a; *p; p++) {
            if (*p == '\'') sbuf_puts(&b, "'\\''");
            else sbuf_put(&b, p, 1);
        }
        sbuf_puts(&b, "'");
    }
    return b.s;
}

int cmd_report(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *heldout = "data/heldout.txt", *lambada = NULL;
    const char *comp_v[MAX_COMPRESSED], *prompt_v[REPORT_MAX_PROMPTS];
    arg_strs comp = {comp_v, 0, MAX_COMPRESSED}, prompts = {prompt_v, 0, REPORT_MAX_PROMPTS};
    int n_new = 40, top_k = 40, pp = 128, tg = 64, reps = 5, threads = 0, ctx = 0, stride = 0, lambada_limit = 0;
    int collapse_n = 32, collapse_tokens = 128;
    float temp = 0.8f, top_p = 0.95f;
    unsigned long long seed = 42;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "PATH", "the original: Hugging Face directory or GGUF file", 0, 0, 1},
        {"compressed", 'c', ARG_STRS, &comp, "PATH", "a compressed model (GGUF file or directory); repeat for more", 0, 0, 1},
        {"output", 'o', ARG_STR, &out, "DIR", "report directory (created if missing): report.md, report.json, *.svg", 0, 0, 1},
        {"file", 'f', ARG_STR, &heldout, "FILE", "held-out text for perplexity, KL and top-1", 0, 0, 0},
        {"lambada", 0, ARG_STR, &lambada, "FILE", "also LAMBADA accuracy on this jsonl file (lm-eval's lambada_openai)", 0, 0, 0},
        {"lambada-limit", 0, ARG_INT, &lambada_limit, "N", "score only the first N LAMBADA passages; 0 = all", 0, 1 << 30, 0},
        {"prompt", 'p', ARG_STRS, &prompts, "TEXT", "prompt for the generations; repeat for more (default: \"Artificial "
                                                      "intelligence will\" and \"The future of technology is\")", 0, 0, 0},
        {"n", 'n', ARG_INT, &n_new, "N", "new tokens per generation (and in the memory measurement)", 1, 100000, 0},
        {"temp", 0, ARG_FLOAT, &temp, "T", "sampling temperature; 0 = greedy", 0, 100, 0},
        {"top-k", 0, ARG_INT, &top_k, "K", "sample among the K most likely tokens; 0 = off", 0, 1 << 24, 0},
        {"top-p", 0, ARG_FLOAT, &top_p, "P", "nucleus sampling; 1 = off", 1e-6, 1, 0},
        {"seed", 's', ARG_U64, &seed, "S", "sampling seed (the same for every model)", 0, 0, 0},
        {"collapse-samples", 0, ARG_INT, &collapse_n, "N",
         "text collapse: continue N passages of the held-out text and measure their repetition; 0 = off", 0,
         4096, 0},
        {"collapse-tokens", 0, ARG_INT, &collapse_tokens, "N", "text collapse: tokens per continuation", 1,
         1 << 16, 0},
        {"pp", 0, ARG_INT, &pp, "N", "speed: tokens in the one-batch forward pass (prompt processing)", 1, 1 << 20, 0},
        {"tg", 0, ARG_INT, &tg, "N", "speed: tokens generated one at a time", 1, 1 << 20, 0},
        {"reps", 'r', ARG_INT, &reps, "N", "speed: timed repeats per test (after one warm-up)", 1, 1000, 0},
        {"ctx", 0, ARG_INT, &ctx, "N", "perplexity window in tokens; 0 = the shortest n_ctx among the models", 0, 1 << 20, 0},
        {"stride", 0, ARG_INT, &stride, "S", "perplexity window step; 0 = ctx/2", 0, 1 << 20, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    const int n_specs = (int)(sizeof specs / sizeof specs[0]);
    const char *usage = "report -m ORIGINAL -c COMPRESSED [-c COMPRESSED ...] -o REPORT_DIR [-f HELDOUT.txt] [--lambada FILE] "
                        "[-p PROMPT ...] [-n N] [--seed S] [-t T]\n"
                        "Cost, measured on 2 cores with the defaults and one compressed model (bench/scale.md): 6 min at "
                        "GPT-2-medium's size, 28 min at GPT-2-XL's (peak 8.6 GB); each further model adds its share.";
    int rc = args_parse("report", usage, specs, n_specs, argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    if (ctx && stride > ctx) {
        err_set(ERR_ARG, "report: --stride %d is larger than --ctx %d", stride, ctx);
        return cli_fail();
    }
    // Cheap checks first: nothing is measured or written when an input is missing.
    if (report_check_dir(out)) return cli_fail();
    struct stat st;
    if (stat(model, &st) != 0) {
        err_set(ERR_IO, "%s: no such file or directory (-m, the original model)", model);
        return cli_fail();
    }
    for (int i = 0; i < comp.n; i++)
        if (stat(comp.v[i], &st) != 0) {
            err_set(ERR_IO, "%s: no such file or directory (-c, a compressed model)", comp.v[i]);
            return cli_fail();
        }
    if (stat(heldout, &st) != 0 || !S_ISREG(st.st_mode)) {
        err_set(ERR_IO, "%s: no such file (-f, the held-out text)", heldout);
        return cli_fail();
    }
    cli_set_threads(threads);
    bpe *tok = NULL;
    if (cli_load_tokenizer(model, &tok)) return cli_fail();

    report r;
    report_init(&r, model, comp.v, comp.n);
    report_settings *s = &r.set;
    s->heldout = heldout;
    s->lambada = lambada;
    s->lambada_limit = lambada_limit;
    s->ctx = ctx;
    s->stride = stride;
    s->pp = pp;
    s->tg = tg;
    s->reps = reps;
    s->gen_tokens = n_new;
    s->temp = temp;
    s->top_k = top_k;
    s->top_p = top_p;
    s->seed = seed;
    s->collapse_prompts = collapse_n;
    s->collapse_tokens = collapse_tokens;
    if (prompts.n) {
        for (int i = 0; i < prompts.n; i++) s->prompts[i] = prompts.v[i];
        s->n_prompts = prompts.n;
    }
    char *cmd = command_line(argc, argv);
    r.command = cmd;
    double t0 = timer_now();
    rc = report_measure(&r, tok, isatty(2) ? log_line : NULL, &t0);  // progress only on a terminal, as eval's
    if (!rc) rc = report_write(&r, out);
    if (!rc) {
        sbuf text;
        sbuf_init(&text);
        report_conclusions(&r, 0, &text);
        printf("%s\nreport: %s/report.md (plots: %s, %s, %s; every number: %s/report.json)\n", sbuf_str(&text), out,
               REPORT_SVG_QUALITY, REPORT_SVG_SPEED, REPORT_SVG_BREAKDOWN, out);
        sbuf_free(&text);
    }
    report_free(&r);
    free(cmd);
    bpe_free(tok);
    return rc ? cli_fail() : 0;
}
