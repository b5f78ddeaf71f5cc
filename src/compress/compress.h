// compress.h: `shrink compress` as a library call: a storage plan (type or preset,
// overrides, or a bits-per-weight target), a method, calibration, and the model's
// matrices stored accordingly (ready for gpt2_gguf_save(..., GPT2_GGUF_STORED)).
#pragma once
#include "../model/gpt2.h"
#include "../tokenizer/bpe.h"
#include "calib.h"

typedef enum {
    METHOD_RTN,       // round to nearest, ggml's scale searches
    METHOD_IMATRIX,   // the same, each column's error weighted by its mean square input
    METHOD_GPTQ,      // GPTQ with error compensation, block scales fitted with the importance
    METHOD_AWQ,       // AWQ scaling, then importance-weighted rounding
    METHOD_AWQ_GPTQ,  // AWQ scaling, then GPTQ
} compress_method;

typedef struct compress_opts {
    const char *type;         // type or preset (plan_build); NULL with target_bpw
    const char *overrides;    // PATTERN=TYPE,... (applied after the type or the allocation)
    compress_method method;
    double target_bpw;        // > 0: choose types per tensor from measured sensitivity
    const char *calib_path;   // calibration text (methods other than rtn, and target_bpw)
    long calib_tokens;        // tokens of it to use
    double damp;              // GPTQ dampening (fraction of mean diag H)
    int act_order;            // GPTQ column order
    int verbose;              // per-layer lines on stderr
    int bpw_probes;           // target_bpw: types probed per matrix (bpw_allocate; 0: BPW_DEFAULT_PROBES)
} compress_opts;

// Parses "rtn", "imatrix", "gptq", "awq", "awq+gptq"; -1 if unknown.
int compress_method_parse(const char *s);
const char *compress_method_name(compress_method m);
static inline int compress_needs_calib(const compress_opts *o) { return o->method != METHOD_RTN || o->target_bpw > 0; }

// Compresses the fp32 model m in place (tok tokenizes the calibration text). plan
// receives the types chosen (caller frees with gpt2_plan_free); notes (optional)
// collects fallback and allocation messages. Returns 0 or an ERR_* with a message.
int compress_model(gpt2_model *m, const bpe *tok, const compress_opts *o, gpt2_plan *plan, char *notes, size_t notes_cap);
// The same with calibration windows already tokenized (o->calib_path unused; cs may be
// NULL for rtn with a --type).
int compress_model_calibrated(gpt2_model *m, const calib_set *cs, const compress_opts *o, gpt2_plan *plan, char *notes,
                              size_t notes_cap);
