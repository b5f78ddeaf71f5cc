// shrink.h: shrink as a library (libshrink.so / libshrink.a; pkg-config name "shrink").
//
// Load a GPT-2-family model (a Hugging Face directory or a GGUF file), tokenize, run the
// forward pass, generate, measure perplexity, LAMBADA and agreement with an original; compress
// (quantize, optionally after pruning or compression layers and distillation) and export.
// `shrink compress`, `export`, `eval` and `generate` are built on these calls.
//
// Conventions:
// - Every function that can fail returns SHRINK_OK (0) or a negative SHRINK_E_* code, and
//   fills *err (when err is not NULL) with that code and a message naming the file and the
//   problem. Nothing is kept between calls: there is no global "last error", so two threads
//   never see each other's messages. The library never exits or prints: long jobs report
//   through the caller's callbacks. The one exception is memory exhaustion: a failed
//   allocation prints one line and aborts, as in the command-line tool. The library installs
//   no signal handlers (the tool's cleanup of temp files on SIGINT/SIGTERM is its own).
// - Handles are opaque. Distinct handles may be used from distinct threads at once; one
//   handle is not to be used by two threads at once.
// - Buffers are the caller's: a function that writes a variable amount takes a capacity
//   and reports the size it needed, so the caller can grow the buffer and call again.
// - SHRINK_API_VERSION changes whenever this header changes incompatibly; it is also the
//   shared library's soname (libshrink.so.N), so a program built against another version
//   does not load this one. shrink_api_version() tells what the loaded library was built with.
#ifndef SHRINK_H
#define SHRINK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHRINK_API_VERSION 3

#if defined(__GNUC__)
#define SHRINK_API __attribute__((visibility("default")))
#else
#define SHRINK_API
#endif

enum {
    SHRINK_OK = 0,
    SHRINK_E_IO = -1,      // a file cannot be opened, read, written or mapped
    SHRINK_E_FORMAT = -2,  // a file is malformed
    SHRINK_E_SHAPE = -3,   // a tensor or configuration has the wrong shape
    SHRINK_E_ARG = -4,     // an argument is invalid (NULL where one is needed, out of range)
    SHRINK_E_RANGE = -5,   // a value is out of range (a token id; non-finite logits)
};

typedef struct shrink_error {
    int code;            // SHRINK_OK or a SHRINK_E_* code
    char message[1024];  // "" when code is SHRINK_OK
} shrink_error;

typedef struct shrink_model shrink_model;

SHRINK_API int shrink_api_version(void);  // SHRINK_API_VERSION of the library
SHRINK_API const char *shrink_version(void);  // "0.1.0 (commit abc1234)"

// --- models
// path: a Hugging Face GPT-2 directory (config.json, model.safetensors, vocab.json,
// merges.txt) or a GGUF file (its own tokenizer). *out is NULL on failure.
SHRINK_API int shrink_model_load(const char *path, shrink_model **out, shrink_error *err);
SHRINK_API void shrink_model_free(shrink_model *m);  // NULL-safe

typedef struct shrink_model_info {
    int n_vocab, n_ctx, n_embd, n_layer;
    size_t n_params;  // parameters (the tied embedding counted once)
    int eos_id;       // <|endoftext|>, or -1
} shrink_model_info;
SHRINK_API int shrink_model_get_info(const shrink_model *m, shrink_model_info *info, shrink_error *err);

// --- tokens
// Encodes len bytes of UTF-8 text with the model's tokenizer (GPT-2 byte-level BPE, exactly
// as the reference encoder). Writes at most cap ids; *n_ids receives the number the text
// needs (call again with a larger buffer when it exceeds cap).
SHRINK_API int shrink_tokenize(const shrink_model *m, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n_ids,
                               shrink_error *err);
// Decodes n ids into at most cap bytes (not NUL-terminated); *len receives the bytes needed.
SHRINK_API int shrink_detokenize(const shrink_model *m, const int32_t *ids, size_t n, char *text, size_t cap, size_t *len,
                                 shrink_error *err);

// --- forward pass
// The logits of every position of n ids (1 <= n <= n_ctx) run from an empty context:
// logits receives n * n_vocab floats, row p predicting the token after ids[p].
SHRINK_API int shrink_logits(const shrink_model *m, const int32_t *ids, int n, float *logits, shrink_error *err);

// --- generation
typedef struct shrink_sampling {
    int n_new;          // most new tokens
    float temperature;  // 0: greedy
    int top_k;          // 0: off
    float top_p;        // 1: off
    uint64_t seed;      // same seed, same text
    int stop_at_eos;    // 1: stop at <|endoftext|> (which is not part of the text)
    int truncate;       // 1: a prompt longer than the context keeps its last n_ctx tokens (else an error)
    // Streaming (NULL: none): each new token's bytes as soon as it is chosen (a UTF-8
    // character may span two calls); return nonzero to stop there.
    int (*on_token)(const char *bytes, size_t len, void *user);
    void *user;
} shrink_sampling;
SHRINK_API shrink_sampling shrink_sampling_defaults(void);  // 64 tokens, temperature 0.8, top-k 40, top-p 0.95, seed 1, stop

typedef struct shrink_generate_stats {
    int n_prompt, n_new;     // tokens run as the prompt, tokens generated
    double prompt_s, gen_s;  // wall time of the prompt pass and of all new tokens
} shrink_generate_stats;

// Continues prompt (UTF-8, len bytes; empty: from <|endoftext|>); the new text (not the prompt)
// goes into at most cap bytes of text, *text_len receives the bytes it needed. stats may be NULL.
SHRINK_API int shrink_generate(const shrink_model *m, const char *prompt, size_t len, const shrink_sampling *s, char *text,
                               size_t cap, size_t *text_len, shrink_generate_stats *stats, shrink_error *err);

// --- evaluation (`shrink eval`'s protocol: windows of ctx tokens advancing by stride, each
// token scored once; ctx 0 = the model's n_ctx, stride 0 = ctx / 2)
typedef struct shrink_perplexity {
    double ppl;         // exp(nll)
    double nll;         // mean negative log-likelihood, nats per scored token
    double bpb;         // bits per UTF-8 byte of the scored tokens
    long tokens;        // scored tokens
    long text_tokens;   // tokens of the whole text
    double bytes;       // UTF-8 bytes of the scored tokens
    int ctx, stride;    // the windows used (defaults resolved)
    int windows;
} shrink_perplexity;
SHRINK_API int shrink_eval_perplexity(const shrink_model *m, const char *text, size_t len, int ctx, int stride,
                                      shrink_perplexity *out, shrink_error *err);

// The model against its original (base) on the same windows: `shrink eval --base`.
typedef struct shrink_agreement {
    shrink_perplexity model, base;
    double dppl_pct;  // 100 * (ppl_model / ppl_base - 1)
    double kl_mean, kl_p99, kl_max;  // KL(base || model), nats per token
    double top1;      // fraction of positions whose most likely token agrees
} shrink_agreement;
SHRINK_API int shrink_eval_agreement(const shrink_model *m, const shrink_model *base, const char *text, size_t len, int ctx,
                                     int stride, shrink_agreement *out, shrink_error *err);

// LAMBADA last-word accuracy as lm-eval's lambada_openai (`shrink eval --lambada`): a jsonl
// file of {"text": ...} lines, the first limit documents (0: all).
typedef struct shrink_lambada {
    double acc;   // correct / n
    double ppl;   // exp(mean over documents of -log p(target word | context))
    double nll;   // that mean, nats
    int n, correct;
} shrink_lambada;
SHRINK_API int shrink_eval_lambada(const shrink_model *m, const char *jsonl_path, int limit, shrink_lambada *out,
                                   shrink_error *err);

// --- progress and compression: `shrink compress` and `shrink export`, the same files bit for
// bit. Messages name the options as `shrink compress --help` spells them (--type,
// --calib-tokens, ...): each field below is the option of the same name.

// Progress of a long step: step names it ("gptq: block 3/48 (run ETA 21 min)"), done of
// total units, seconds elapsed in the step and its ETA. Called on the calling thread.
typedef void (*shrink_progress_fn)(const char *step, int done, int total, double elapsed_s, double eta_s, void *user);
// Text `shrink compress` prints on stderr (notes, per-layer details with verbose, the summary);
// a line may arrive in pieces. Called on the calling thread.
typedef void (*shrink_log_fn)(const char *text, void *user);

// Evaluation's progress on this handle (windows, documents; step "eval" or "lambada"); NULL: none.
SHRINK_API void shrink_model_set_progress(shrink_model *m, shrink_progress_fn fn, void *user);

typedef struct shrink_compress_opts {
    const char *type;          // a type or preset ("Q4_K_M", "q8_0", ...); NULL when target_bpw is set
    const char *target_bpw;    // or "X" bits per weight (1.5-16), or a preset's ("Q2_K"): each matrix's
                               // type chosen by measured sensitivity
    int bpw_probes;            // target_bpw: types whose KL is probed per matrix, 1-6 (0: 1); the others'
                               // are scaled from them by rounding error, and the plan's scaled picks are
                               // probed after (6: every type, ~4x the time)
    const char *method;        // "rtn" (NULL: rtn), "imatrix", "gptq", "awq", "awq+gptq"
    const char *calib_path;    // calibration text: needed by every method but rtn, target_bpw, prune, lowrank
    long calib_tokens;         // tokens of it used (0: 32768; else 256 to 2^26)
    const char *tensor_types;  // per-tensor overrides "PATTERN=TYPE,..." (NULL: none)
    double damp;               // GPTQ dampening, fraction of the mean Hessian diagonal (0: 0.01)
    int act_order;             // GPTQ: columns by decreasing activation energy
    int verbose;               // per-layer details through log
    int no_tokenizer;          // write no tokenizer when the directory has no vocab.json/merges.txt
    // A smaller model first (the pipeline: prune or factorize, distil, then quantize)
    const char *prune;         // "N" or "X%": prune heads/neurons/blocks to at most N parameters
    const char *lowrank;       // or replace linears by compression layers to at most N parameters
    int ffn_multiple;          // prune: kept MLP widths a multiple of this (0: 256)
    const char *recover;       // then distil from the original on these token or text files (comma separated)
    unsigned long long recover_tokens;  // training tokens (0: 2,000,000)
    double recover_lr;         // peak learning rate (0: 1e-3)
    double recover_val_frac;   // held out to keep the best weights (defaults: 0.02; 0: keep the last)
    shrink_progress_fn progress;  // NULL: none
    shrink_log_fn log;            // NULL: none
    void *user;                   // passed to progress and log
} shrink_compress_opts;
SHRINK_API shrink_compress_opts shrink_compress_defaults(void);  // Q4_K_M by rtn; start from these

typedef struct shrink_compress_result {
    size_t params_before, params_after;  // differ with prune or lowrank
    int n_matrices;                      // matrices quantized
    long long bytes;                     // size of the file written
    double bits_per_param;               // 8 * bytes / params_after
    double seconds;                      // quantization alone
} shrink_compress_result;

// Quantizes the Hugging Face directory model_dir (fp32/f16/bf16 weights, with vocab.json and
// merges.txt) into the GGUF file out (written to a temp file and renamed into place; on failure
// nothing is left). out may not be one of the inputs. res may be NULL.
SHRINK_API int shrink_compress(const char *model_dir, const char *out, const shrink_compress_opts *o,
                               shrink_compress_result *res, shrink_error *err);

// The Hugging Face directory model_dir as a GGUF in llama.cpp's gpt2 layout: type "f32" or "f16"
// (matrices; 1-D tensors stay f32), with the directory's tokenizer (an error without one, unless
// no_tokenizer). progress (may be NULL): loading and writing, in MB ("load: MB", "write: MB").
SHRINK_API int shrink_export(const char *model_dir, const char *out, const char *type, int no_tokenizer,
                             shrink_progress_fn progress, void *user, shrink_error *err);

#ifdef __cplusplus
}
#endif
#endif
