// shrink.h: shrink as a library (libshrink.so / libshrink.a; pkg-config name "shrink").
//
// Load a GPT-2-family model (a Hugging Face directory or a GGUF file), tokenize, run the
// forward pass, generate, and measure perplexity and agreement with an original.
//
// Conventions:
// - Every function that can fail returns SHRINK_OK (0) or a negative SHRINK_E_* code, and
//   fills *err (when err is not NULL) with that code and a message naming the file and the
//   problem. Nothing is kept between calls: there is no global "last error", so two threads
//   never see each other's messages. The library never exits or prints.
// - Handles are opaque. Distinct handles may be used from distinct threads at once; one
//   handle is not to be used by two threads at once.
// - Buffers are the caller's: a function that writes a variable amount takes a capacity
//   and reports the size it needed, so the caller can grow the buffer and call again.
// - SHRINK_API_VERSION changes whenever this header changes incompatibly;
//   shrink_api_version() tells what the library that was loaded was built with.
#ifndef SHRINK_H
#define SHRINK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHRINK_API_VERSION 1

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
    int stop_at_eos;    // 1: stop after <|endoftext|>
} shrink_sampling;
SHRINK_API shrink_sampling shrink_sampling_defaults(void);  // 64 tokens, temperature 0.8, top-k 40, top-p 0.95, seed 1, stop

// Continues prompt (UTF-8, len bytes); the new text (not the prompt) goes into at most cap
// bytes of text, *text_len receives the bytes it needed.
SHRINK_API int shrink_generate(const shrink_model *m, const char *prompt, size_t len, const shrink_sampling *s, char *text,
                               size_t cap, size_t *text_len, shrink_error *err);

// --- evaluation (`shrink eval`'s protocol: windows of ctx tokens advancing by stride, each
// token scored once; ctx 0 = the model's n_ctx, stride 0 = ctx / 2)
typedef struct shrink_perplexity {
    double ppl;   // exp(nll)
    double nll;   // mean negative log-likelihood, nats per scored token
    double bpb;   // bits per UTF-8 byte of the scored tokens
    long tokens;  // scored tokens
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

// --- compression (`shrink compress`'s quantization: the same files, bit for bit)
// Progress of a long step: step names it ("gptq: block 3/48 (run ETA 21 min)"), done of
// total units, seconds elapsed in the step and its ETA. Called on the calling thread.
typedef void (*shrink_progress_fn)(const char *step, int done, int total, double elapsed_s, double eta_s, void *user);

typedef struct shrink_compress_opts {
    const char *type;          // a type or preset ("Q4_K_M", "q8_0", ...); NULL when target_bpw is set
    double target_bpw;         // > 0: each matrix's type chosen by measured sensitivity to average this (1.5-16)
    const char *method;        // "rtn" (NULL: rtn), "imatrix", "gptq", "awq", "awq+gptq"
    const char *calib_path;    // calibration text: needed by every method but rtn, and by target_bpw
    long calib_tokens;         // tokens of it used (0: 32768)
    const char *tensor_types;  // per-tensor overrides "PATTERN=TYPE,..." (NULL: none)
    double damp;               // GPTQ dampening, fraction of the mean Hessian diagonal (0: 0.01)
    int act_order;             // GPTQ: columns by decreasing activation energy
    shrink_progress_fn progress;  // NULL: none
    void *user;                   // passed to progress
} shrink_compress_opts;
SHRINK_API shrink_compress_opts shrink_compress_defaults(void);  // Q4_K_M by rtn

// Quantizes the Hugging Face directory model_dir (fp32/f16/bf16 weights, with vocab.json
// and merges.txt) into the GGUF file out (written to a temp file and renamed into place;
// on failure nothing is left). out may not be one of the model's files or the calibration text.
SHRINK_API int shrink_compress(const char *model_dir, const char *out, const shrink_compress_opts *o, shrink_error *err);

#ifdef __cplusplus
}
#endif
#endif
