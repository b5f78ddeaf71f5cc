// cmd_eval.c: `shrink eval`: perplexity of a text file under the stated protocol, and LAMBADA accuracy.
#include "cli.h"
#include "args.h"
#include "../api/api.h"
#include "../core/err.h"
#include "../core/hash.h"
#include "../core/parallel.h"
#include "../core/progress.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../eval/eval.h"
#include "../kernels/kernels.h"
#include <string.h>
#include <unistd.h>

#define EVAL_PROTOCOL                                                                                  \
    "ids = encode(whole file), nothing prepended; windows of ctx tokens start at 0 and advance by "    \
    "stride (the last may be shorter); window [b,e) scores each position p, b < p < e, not scored "    \
    "by an earlier window, with the logits at p-1 (the file's first token is never scored); "          \
    "ppl = exp(mean NLL over scored tokens); bits/byte = total NLL / ln 2 / UTF-8 bytes of the scored tokens"

#define LAMBADA_PROTOCOL                                                                               \
    "lm-eval's lambada_openai: each jsonl line's \"text\" is split at its last space into context and " \
    "target \" word\"; a document is correct when greedy decoding gives every token of the target; "    \
    "ppl = exp(mean over documents of -log p(target | context)); the model sees the last n_ctx tokens "  \
    "of context + target without its final token (longer contexts are cut from the left)"

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *base_path = NULL, *lambada = NULL;
    int ctx = 0, stride = 0, json = 0, threads = 0, lambada_limit = 0;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "model directory", 0, 0, 1},
        {"file", 'f', ARG_STR, &file, "FILE", "text file to score (perplexity)", 0, 0, 0},
        {"ctx", 0, ARG_INT, &ctx, "N", "window length in tokens; 0 = the model's n_ctx", 0, 1 << 20, 0},
        {"stride", 0, ARG_INT, &stride, "S", "window step in tokens; 0 = ctx/2", 0, 1 << 20, 0},
        {"base", 0, ARG_STR, &base_path, "PATH", "the original model: also report Δppl, KL(original || model) per token "
                                                 "(mean, p99, max) and top-1 agreement on the same positions", 0, 0, 0},
        {"lambada", 0, ARG_STR, &lambada, "FILE", "LAMBADA jsonl file (one {\"text\": ...} per line): last-word accuracy "
                                                  "and perplexity, as lm-eval's lambada_openai", 0, 0, 0},
        {"lambada-limit", 0, ARG_INT, &lambada_limit, "N", "score only the first N LAMBADA documents; 0 = all", 0, 1 << 30, 0},
        {"json", 0, ARG_FLAG, &json, NULL, "print one JSON object: ppl, nll, tokens, bpb, ctx, stride, ...; "
                                          "lambada_acc, lambada_ppl, lambada_n with --lambada", 0, 0, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    int rc = args_parse("eval",
                        "eval -m DIR -f FILE [--ctx N] [--stride S] [--base ORIGINAL] [--lambada FILE] [--json]\n"
                        "       shrink eval -m DIR --lambada FILE [--lambada-limit N] [--json]\n"
                        "At least one of -f and --lambada.\n\nprotocol: " EVAL_PROTOCOL "\n\nlambada: " LAMBADA_PROTOCOL
                        "\n\ncost, measured on 2 cores (bench/scale.md): 226 tokens/s at GPT-2-medium's size in Q4_K_M "
                        "(67,557 tokens in 5 min); --base runs the original too.",
                        specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    if (!file && !lambada) {
        err_set(ERR_ARG, "eval: give -f FILE (perplexity), --lambada FILE (LAMBADA accuracy), or both");
        return cli_fail();
    }
    if (!file && (ctx || stride || base_path)) {
        err_set(ERR_ARG, "eval: --ctx, --stride and --base apply to -f FILE's perplexity; give -f too");
        return cli_fail();
    }
    if (!lambada && lambada_limit) {
        err_set(ERR_ARG, "eval: --lambada-limit needs --lambada FILE");
        return cli_fail();
    }
    cli_set_threads(threads);
    shrink_model *h = NULL, *hb = NULL;
    shrink_error e = {0, ""};
    const char *about = NULL;
    char *text = NULL;
    size_t len = 0;
    shrink_perplexity r = {0};
    shrink_agreement ag = {0};
    shrink_lambada lr = {0};
    double secs = 0, lsecs = 0;
    if ((rc = shrink_model_load(model, &h, &e))) goto out;
    if (!h->tok) {
        rc = err_set(ERR_IO, "%s: no vocab.json and merges.txt here; this command needs the tokenizer", model);
        goto out;
    }
    if (!json && isatty(2)) shrink_model_set_progress(h, progress_to_stderr, NULL);
    if (file) {
        if ((rc = cli_read_input(file, &text, &len))) goto out;
        if (h->m.calib_fnv && fnv1a64(text, len) == h->m.calib_fnv)
            fprintf(stderr, "shrink: warning: %s is the text %s was calibrated on (%s): this perplexity is not held-out\n",
                    file, model, h->m.calib_file ? h->m.calib_file : "same bytes");
        double t0 = timer_now();
        if (base_path) {
            if (!(rc = shrink_model_load(base_path, &hb, &e)) && !(rc = shrink_eval_agreement(h, hb, text, len, ctx, stride, &ag, &e)))
                r = ag.model;
        } else {
            rc = shrink_eval_perplexity(h, text, len, ctx, stride, &r, &e);
        }
        if (rc && !hb == !base_path) about = file;  // the evaluation's own error: say of which file
        if (rc) goto out;
        secs = timer_now() - t0;
    }
    if (lambada) {
        double t0 = timer_now();
        if ((rc = shrink_eval_lambada(h, lambada, lambada_limit, &lr, &e))) goto out;
        lsecs = timer_now() - t0;
    }
    if (json) {
        if (file) {
            printf("{\"ppl\": %.6f, \"nll\": %.6f, \"tokens\": %ld, \"bpb\": %.6f, \"ctx\": %d, \"stride\": %d, "
                   "\"windows\": %d, \"bytes\": %.0f, \"file\": ",
                   r.ppl, r.nll, r.tokens, r.bpb, r.ctx, r.stride, r.windows, r.bytes);
            cli_json_string(stdout, file, strlen(file));
            if (base_path) {
                printf(", \"base\": ");
                cli_json_string(stdout, base_path, strlen(base_path));
                printf(", \"base_ppl\": %.6f, \"base_nll\": %.6f, \"dppl_pct\": %.4f, \"kl_mean\": %.6g, "
                       "\"kl_p99\": %.6g, \"kl_max\": %.6g, \"top1\": %.6f",
                       ag.base.ppl, ag.base.nll, ag.dppl_pct, ag.kl_mean, ag.kl_p99, ag.kl_max, ag.top1);
            }
            printf(", \"seconds\": %.3f, \"threads\": %d, \"kernels\": \"%s\"", secs, par_max_threads(), kern.isa);
        } else {
            printf("{\"model\": ");
            cli_json_string(stdout, model, strlen(model));
        }
        if (lambada)
            printf(", \"lambada_acc\": %.6f, \"lambada_ppl\": %.6f, \"lambada_n\": %d, \"lambada_correct\": %d, "
                   "\"lambada_nll\": %.6f, \"lambada_seconds\": %.3f",
                   lr.acc, lr.ppl, lr.n, lr.correct, lr.nll, lsecs);
        printf("}\n");
    } else {
        if (file) {
            printf("file         %s (%zu bytes, %ld tokens)\n", file, len, r.text_tokens);
            printf("perplexity   %.4f\n", r.ppl);
            printf("nll          %.6f nats/token\n", r.nll);
            printf("tokens       %ld scored in %d windows (ctx %d, stride %d)\n", r.tokens, r.windows, r.ctx, r.stride);
            printf("bits/byte    %.4f\n", r.bpb);
            if (base_path) {
                printf("base         %s: perplexity %.4f (nll %.6f)\n", base_path, ag.base.ppl, ag.base.nll);
                printf("delta ppl    %+.3f%%\n", ag.dppl_pct);
                printf("KL(base||m)  mean %.6f, p99 %.6f, max %.6f nats/token\n", ag.kl_mean, ag.kl_p99, ag.kl_max);
                printf("top-1 agree  %.2f%%\n", 100.0 * ag.top1);
            }
            printf("time         %.2f s (%.0f scored tokens/s, %s kernels)\n", secs, r.tokens / secs, kern.isa);
            printf("protocol     %s\n", EVAL_PROTOCOL);
        }
        if (lambada) {
            printf("lambada      acc %.4f (%d/%d), ppl %.2f (nll %.4f nats/word)\n", lr.acc, lr.correct, lr.n, lr.ppl,
                   lr.nll);
            printf("lambada time %.2f s (%d documents of %s, %s kernels); protocol: lm-eval's lambada_openai, "
                   "see shrink eval --help\n", lsecs, lr.n, lambada, kern.isa);
        }
    }
out:
    if (rc && e.code) fprintf(stderr, "shrink: error: %s%s%s\n", about ? about : "", about ? ": " : "", e.message);
    else if (rc) cli_fail();
    free(text);
    shrink_model_free(hb);
    shrink_model_free(h);
    return rc ? 1 : 0;
}
