// cmd_generate.c: `shrink generate`: stream a continuation of a prompt.
#include "cli.h"
#include "args.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include "../eval/eval.h"
#include "../kernels/kernels.h"
#include <string.h>

typedef struct {
    const bpe *tok;
    int stop_id;
} stream_ctx;

static int print_token(int id, void *user) {
    const stream_ctx *s = user;
    if (id == s->stop_id) return 0;
    size_t len;
    const char *b = bpe_token_bytes(s->tok, id, &len);
    if (b) fwrite(b, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int cmd_generate(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL;
    int n_new = 64, top_k = 40, threads = 0, truncate = 0, no_echo = 0;
    float temp = 0.8f, top_p = 0.95f;
    unsigned long long seed = 42;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "model directory", 0, 0, 1},
        {"prompt", 'p', ARG_STR, &prompt, "TEXT", "prompt text (empty: start from <|endoftext|>)", 0, 0, 1},
        {"n", 'n', ARG_INT, &n_new, "N", "most new tokens; stops early at <|endoftext|>", 0, 1000000, 0},
        {"temp", 0, ARG_FLOAT, &temp, "T", "temperature; 0 = greedy", 0, 100, 0},
        {"top-k", 0, ARG_INT, &top_k, "K", "sample among the K most likely tokens; 0 = off", 0, 1 << 24, 0},
        {"top-p", 0, ARG_FLOAT, &top_p, "P", "nucleus: smallest set with probability >= P; 1 = off", 1e-6, 1, 0},
        {"seed", 's', ARG_U64, &seed, "S", "random seed: same seed, same text", 0, 0, 0},
        {"truncate", 0, ARG_FLAG, &truncate, NULL, "keep the last n_ctx tokens of a prompt longer than the context", 0, 0, 0},
        {"no-echo", 0, ARG_FLAG, &no_echo, NULL, "print only the continuation, not the prompt", 0, 0, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    int rc = args_parse("generate", "generate -m DIR -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S]",
                        specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    cli_set_threads(threads);
    gpt2_model m;
    bpe *tok = NULL;
    if (cli_load_model(model, &m)) return cli_fail();
    if (cli_load_tokenizer(model, &tok)) {
        gpt2_model_free(&m);
        return cli_fail();
    }
    int *ids = NULL;
    size_t n = 0;
    if (bpe_vocab_size(tok) != m.cfg.vocab_size) {
        rc = err_set(ERR_SHAPE, "%s: tokenizer has %d tokens but config.json says vocab_size %d", model,
                     bpe_vocab_size(tok), m.cfg.vocab_size);
        goto out;
    }
    int eot = bpe_eot(tok) >= 0 ? bpe_eot(tok) : m.cfg.eos_id;
    if ((rc = bpe_encode(tok, prompt, strlen(prompt), &ids, &n))) goto out;
    if (n == 0) {
        if (eot < 0) {
            rc = err_set(ERR_ARG, "generate: empty prompt and the model has no <|endoftext|> token to start from");
            goto out;
        }
        free(ids);
        ids = xmalloc(sizeof(int));
        ids[0] = eot;
        n = 1;
    }
    int *start = ids;
    if (n > (size_t)m.cfg.n_ctx) {
        if (!truncate) {
            rc = err_set(ERR_ARG, "generate: the prompt is %zu tokens, longer than the model's context (%d); "
                                  "pass --truncate to keep its last %d tokens", n, m.cfg.n_ctx, m.cfg.n_ctx);
            goto out;
        }
        start = ids + (n - (size_t)m.cfg.n_ctx);
        n = (size_t)m.cfg.n_ctx;
    }
    if (!no_echo) {
        fwrite(prompt, 1, strlen(prompt), stdout);
        fflush(stdout);
    }
    gen_opts o = {n_new, temp, top_k, top_p, seed, eot};
    gen_stats st;
    stream_ctx sc = {tok, eot};
    if (n_new > 0) {
        int got = eval_generate(&m, start, (int)n, &o, print_token, &sc, NULL, &st);
        if (got < 0) { rc = got; goto out; }
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "[prompt %d tokens: %.1f ms, %.1f tok/s | generated %d tokens: %.1f ms, %.1f tok/s | %s kernels]\n",
                st.n_prompt, 1e3 * st.prompt_s, st.n_prompt / st.prompt_s, st.n_new, 1e3 * st.gen_s,
                st.n_new > 0 ? st.n_new / st.gen_s : 0.0, kern.isa);
    } else {
        printf("\n");
    }
out:
    free(ids);
    bpe_free(tok);
    gpt2_model_free(&m);
    return rc ? cli_fail() : 0;
}
