// eval.h: perplexity under shrink's stated protocol, LAMBADA accuracy, text generation, speed.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "../model/gpt2.h"
#include "../tokenizer/bpe.h"

// --- non-finite output
// Every eval_* function below that reads logits checks each row it uses: a NaN or an
// infinity is an error (ERR_RANGE; the message names the model's file, m->source, and where),
// never a number. rows rows of V logits; what and first say where ("position", 17).
int eval_check_logits(const gpt2_model *m, const float *logits, size_t rows, int V, const char *what, size_t first);

// --- perplexity
// Protocol: windows of ctx tokens start at 0 and advance by stride (the last may be
// shorter). Window [b, e) scores each position p, b < p < e, that no earlier window
// scored, with the logits at p-1. The first token is never scored; with stride == ctx
// no window's first token is. ppl = exp(mean NLL over scored tokens).
typedef struct ppl_result {
    double nll;        // mean negative log-likelihood, nats per scored token
    double ppl;        // exp(nll)
    long tokens;       // scored tokens
    double bytes;      // UTF-8 bytes of the scored tokens (0 if unknown)
    double bpb;        // bits per byte: nll * tokens / ln 2 / bytes (0 if bytes unknown)
    int ctx, stride;
    int windows;
} ppl_result;

// Optional per-window progress callback: done and total windows.
typedef void (*progress_fn)(int done, int total, void *user);

// ids: n token ids; tok_bytes: UTF-8 byte length of each vocabulary id (V entries; may be NULL).
// Returns 0, ERR_ARG for ctx/stride out of range or fewer than 2 tokens, or ERR_RANGE for
// non-finite logits.
int eval_perplexity(const gpt2_model *m, const int *ids, size_t n, const int *tok_bytes, int ctx, int stride,
                    ppl_result *r, progress_fn progress, void *user);

// Number of windows the protocol uses for n tokens.
int eval_num_windows(size_t n, int ctx, int stride);

// --- generation
typedef struct gen_opts {
    int n_new;        // most new tokens
    float temp;       // 0 = greedy
    int top_k;        // 0 = off
    float top_p;      // 1 = off
    uint64_t seed;
    int stop_id;      // stop after emitting this id (-1: never)
} gen_opts;

typedef struct gen_stats {
    int n_prompt, n_new;
    double prompt_s, gen_s;  // wall time of the prompt pass and of all new tokens
    int context_shifts;      // times the window slid because the context was full
} gen_stats;

// Called with each new token as soon as it is chosen; return nonzero to stop.
typedef int (*token_fn)(int id, void *user);

// Runs the prompt (1 ≤ n_prompt ≤ n_ctx) then samples up to n_new tokens. When the
// context fills, the newest n_ctx/2 tokens are kept and re-run (a context shift).
// out (optional, n_new ints) receives the new ids. Returns the number generated, or a
// negative ERR_* (ERR_RANGE: non-finite logits; ERR_ARG/ERR_RANGE from gpt2_state_init).
int eval_generate(const gpt2_model *m, const int *prompt, int n_prompt, const gen_opts *o, token_fn cb, void *user,
                  int *out, gen_stats *st);

// --- speed (llama-bench's pp/tg tests)
typedef struct speed_stat {
    double median, min, max;  // tokens per second over the repeats
    int reps;
} speed_stat;

// pp: one batched forward of n tokens into an empty cache. tg: n tokens generated
// one at a time from an empty cache (no prompt). One untimed warm-up run first.
// Token ids are a fixed pseudo-random sequence (speed does not depend on them).
int eval_speed_pp(const gpt2_model *m, int n, int reps, speed_stat *st);
int eval_speed_tg(const gpt2_model *m, int n, int reps, speed_stat *st);

// --- machine limits (median of reps; 0 when the CPU lacks AVX2 for the probe)
double machine_fma_gflops(int threads, int reps);
double machine_read_gbs(int threads, int reps);
double machine_matmul_gflops(int M, int K, int N, int threads, int reps);

// --- agreement with the original (shrink eval --base)
// Both models score the same windows (the perplexity protocol above); at every scored
// position the base model's next-token distribution P and the compressed one's Q give
// KL(P || Q) and whether their argmax agree.
typedef struct agree_result {
    ppl_result model, base;  // perplexity of each
    double dppl_pct;         // 100 · (ppl_model / ppl_base − 1)
    double kl_mean;          // mean KL(P_base || P_model), nats per token
    double kl_p99;           // its 99th percentile
    double kl_max;
    double top1;             // fraction of positions where the argmax agree
} agree_result;

int eval_agreement(const gpt2_model *model, const gpt2_model *base, const int *ids, size_t n, const int *tok_bytes,
                   int ctx, int stride, agree_result *r, progress_fn progress, void *user);

// --- LAMBADA (lm-evaluation-harness's lambada_openai; lambada.c states the protocol)
typedef struct lambada_result {
    int n;            // documents scored
    int correct;      // greedy prediction matched every token of the target word
    double acc;       // correct / n
    double ppl;       // exp(-mean over documents of log p(target word tokens | context)) (lm-eval's lambada ppl)
    double nll_mean;  // mean over documents of -log p(target | context), nats
} lambada_result;
// Reads a LAMBADA jsonl file (one {"text": "..."} object per line) and scores the first
// `limit` documents (0 = all). Context = text before the last space; target = " " + last word
// (lm-eval lambada_openai split; whitespace ending the context moves to the target, as lm-eval
// does). As lm-eval feeds context + target without the target's last token, a context longer
// than n_ctx + 1 - len(target) tokens is cut from the left. Two batched forwards per document
// (the context, then the target positions, so the LM head runs on the target only).
// Returns 0, ERR_IO (cannot read path), ERR_FORMAT (a line that is not a JSON object with a
// string "text", a text with no space or ending in one, no documents; the message names the
// file and line), ERR_ARG (negative limit, a last word longer than n_ctx tokens) or ERR_SHAPE
// (tokenizer larger than the model's vocabulary). progress (optional) gets documents done/total.
int eval_lambada(const gpt2_model *m, const bpe *tok, const char *path, int limit, lambada_result *r,
                 progress_fn progress, void *user);

// --- repetition of generated text (repetition.c): what collapsed text looks like
typedef struct rep_stats {
    double rep4;       // share of each text's 4-grams that repeat an earlier one of the same text (mean over texts)
    double longest;    // longest span (tokens) occurring twice in one text, mean over texts
    int longest_max;   // ... its largest
    double distinct1;  // distinct tokens / tokens, mean over texts
    double distinct2;  // distinct bigrams / bigrams, mean over texts
    int n_texts;
} rep_stats;
void eval_repetition(const int *const *texts, const int *lens, int n, rep_stats *r);

// The rule that calls a model's text collapsed against the original's on the same prompts and
// seed: its repeated-4-gram share is more than REP_COLLAPSE_MARGIN above the original's and
// more than REP_COLLAPSE_RATIO times it (a loop repeats most of its 4-grams; sampled text from
// a good model repeats few).
#define REP_COLLAPSE_MARGIN 0.10
#define REP_COLLAPSE_RATIO 2.0
int eval_collapsed(const rep_stats *model, const rep_stats *original);
