// cmd_eval.c: `shrink eval`: perplexity of a text file under the stated protocol.
#include "cli.h"
#include "args.h"
#include "../core/err.h"
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

static void progress_bar(int done, int total, void *user) {
    double t0 = *(double *)user, el = timer_now() - t0;
    double eta = done ? el / done * (total - done) : 0;
    fprintf(stderr, "\r[eval] window %d/%d  %.1fs elapsed, ETA %.1fs ", done, total, el, eta);
    if (done == total) fprintf(stderr, "\n");
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *base_path = NULL;
    int ctx = 0, stride = 0, json = 0, threads = 0;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "model directory", 0, 0, 1},
        {"file", 'f', ARG_STR, &file, "FILE", "text file to score", 0, 0, 1},
        {"ctx", 0, ARG_INT, &ctx, "N", "window length in tokens; 0 = the model's n_ctx", 0, 1 << 20, 0},
        {"stride", 0, ARG_INT, &stride, "S", "window step in tokens; 0 = ctx/2", 0, 1 << 20, 0},
        {"base", 0, ARG_STR, &base_path, "PATH", "the original model: also report Δppl, KL(original || model) per token "
                                                 "(mean, p99, max) and top-1 agreement on the same positions", 0, 0, 0},
        {"json", 0, ARG_FLAG, &json, NULL, "print one JSON object: ppl, nll, tokens, bpb, ctx, stride, ...", 0, 0, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    int rc = args_parse("eval", "eval -m DIR -f FILE [--ctx N] [--stride S] [--base ORIGINAL] [--json]\n\nprotocol: " EVAL_PROTOCOL,
                        specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    cli_set_threads(threads);
    gpt2_model m, base;
    int have_base = 0;
    bpe *tok = NULL;
    char *text = NULL;
    int *ids = NULL, *tok_bytes = NULL;
    size_t len = 0, n = 0;
    if (cli_load_model(model, &m)) return cli_fail();
    if ((rc = cli_load_tokenizer(model, &tok))) goto out;
    if (bpe_vocab_size(tok) != m.cfg.vocab_size) {
        rc = err_set(ERR_SHAPE, "%s: tokenizer has %d tokens but config.json says vocab_size %d", model,
                     bpe_vocab_size(tok), m.cfg.vocab_size);
        goto out;
    }
    if ((rc = cli_read_input(file, &text, &len))) goto out;
    if ((rc = bpe_encode(tok, text, len, &ids, &n))) goto out;
    if (n < 2) {
        rc = err_set(ERR_ARG, "%s: the text is %zu token(s); perplexity needs at least 2", file, n);
        goto out;
    }
    if (ctx == 0) ctx = m.cfg.n_ctx;
    if (stride == 0) stride = ctx / 2 > 0 ? ctx / 2 : 1;
    tok_bytes = xmalloc((size_t)m.cfg.vocab_size * sizeof(int));
    for (int i = 0; i < m.cfg.vocab_size; i++) {
        size_t bl = 0;
        tok_bytes[i] = bpe_token_bytes(tok, i, &bl) ? (int)bl : 0;
    }
    ppl_result r;
    agree_result ag;
    double t0 = timer_now();
    int show = !json && isatty(2);
    if (base_path) {
        if ((rc = cli_load_model(base_path, &base))) goto out;
        have_base = 1;
        if ((rc = eval_agreement(&m, &base, ids, n, tok_bytes, ctx, stride, &ag, show ? progress_bar : NULL, &t0))) goto out;
        r = ag.model;
    } else if ((rc = eval_perplexity(&m, ids, n, tok_bytes, ctx, stride, &r, show ? progress_bar : NULL, &t0))) {
        goto out;
    }
    double secs = timer_now() - t0;
    if (json) {
        printf("{\"ppl\": %.6f, \"nll\": %.6f, \"tokens\": %ld, \"bpb\": %.6f, \"ctx\": %d, \"stride\": %d, "
               "\"windows\": %d, \"bytes\": %.0f, \"file\": ",
               r.ppl, r.nll, r.tokens, r.bpb, r.ctx, r.stride, r.windows, r.bytes);
        cli_json_string(stdout, file, strlen(file));
        if (base_path)
        {
            printf(", \"base\": ");
            cli_json_string(stdout, base_path, strlen(base_path));
            printf(", \"base_ppl\": %.6f, \"base_nll\": %.6f, \"dppl_pct\": %.4f, \"kl_mean\": %.6g, "
                   "\"kl_p99\": %.6g, \"kl_max\": %.6g, \"top1\": %.6f",
                   ag.base.ppl, ag.base.nll, ag.dppl_pct, ag.kl_mean, ag.kl_p99, ag.kl_max, ag.top1);
        }
        printf(", \"seconds\": %.3f, \"threads\": %d, \"kernels\": \"%s\"}\n", secs, threads, kern.isa);
    } else {
        printf("file         %s (%zu bytes, %zu tokens)\n", file, len, n);
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
out:
    free(tok_bytes);
    free(ids);
    free(text);
    bpe_free(tok);
    if (have_base) gpt2_model_free(&base);
    gpt2_model_free(&m);
    return rc ? cli_fail() : 0;
}
