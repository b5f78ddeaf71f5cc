// cmd_generate.c: `shrink generate`: stream a continuation of a prompt (shrink_generate, streaming).
#include "cli.h"
#include "args.h"
#include "../api/api.h"
#include "../core/err.h"
#include "../kernels/kernels.h"
#include <string.h>

// The prompt is echoed just before the first new token (after the API has checked it).
typedef struct echo {
    const char *prompt;
    int echo, started;
} echo;

static void start(echo *e) {
    if (!e->started && e->echo) fputs(e->prompt, stdout);
    e->started = 1;
}

static int print_token(const char *bytes, size_t len, void *user) {
    start(user);
    fwrite(bytes, 1, len, stdout);
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
    shrink_model *h = NULL;
    shrink_error e;
    if (shrink_model_load(model, &h, &e)) {
        fprintf(stderr, "shrink: error: %s\n", e.message);
        return 1;
    }
    echo ec = {prompt, !no_echo, 0};
    shrink_sampling sp = shrink_sampling_defaults();
    sp.n_new = n_new, sp.temperature = temp, sp.top_k = top_k, sp.top_p = top_p, sp.seed = seed, sp.truncate = truncate;
    sp.on_token = print_token, sp.user = &ec;
    shrink_generate_stats st;
    size_t need = 0;
    if (!h->tok) {
        rc = err_set(ERR_IO, "%s: no vocab.json and merges.txt here; this command needs the tokenizer", model);
        cli_fail();
    } else if ((rc = shrink_generate(h, prompt, strlen(prompt), &sp, NULL, 0, &need, &st, &e))) {
        fprintf(stderr, "shrink: error: %s\n", e.message);
    } else {
        start(&ec);
        printf("\n");
        fflush(stdout);
        if (n_new > 0)
            fprintf(stderr, "[prompt %d tokens: %.1f ms, %.1f tok/s | generated %d tokens: %.1f ms, %.1f tok/s | %s kernels]\n",
                    st.n_prompt, 1e3 * st.prompt_s, st.n_prompt / st.prompt_s, st.n_new, 1e3 * st.gen_s,
                    st.n_new > 0 ? st.n_new / st.gen_s : 0.0, kern.isa);
    }
    shrink_model_free(h);
    return rc ? 1 : 0;
}
