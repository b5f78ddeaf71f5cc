// report.h: `shrink report`: the original model and each compressed one measured in one
// run on one machine (size, parameters, speed, peak memory, quality, generations), the
// rules applied (rules.h), and the result written as REPORT_DIR/report.md with SVG plots
// and REPORT_DIR/report.json holding every number.
//
// Measuring order (report_measure): first the peak-memory children -- one fork()ed process
// per model that loads it and generates, reporting getrusage's ru_maxrss through a pipe --
// while this process holds no model and has started no OpenMP threads (a child starts with
// its parent's resident pages, and forking a running OpenMP pool is unsafe); then, in this
// process, the original and one compressed model at a time for size, speed, quality and
// generations. Nothing is written until every measurement succeeded (report_write).
#pragma once
#include <stddef.h>
#include "../eval/eval.h"
#include "rules.h"
#include "../core/sbuf.h"

#define REPORT_MAX_PROMPTS 16
#define REPORT_MAX_TYPES 40   // storage types in one file (ggml's type ids are below this)
#define REPORT_MAX_GROUPS 64  // (tensor role, type) pairs in one file

// What one file's bytes are: per storage type, and per tensor role ("blk.*.ffn_up.weight").
typedef struct report_type_bytes {
    char type[16];    // "F32", "Q4_K", ...
    double params;    // elements stored in this type
    double bytes;
} report_type_bytes;

typedef struct report_group {
    char name[48];    // tensor name with the layer number replaced by '*'
    char type[16];
    int count;        // tensors in the group
    int matrix;       // 2-D tensors (weight matrices, embeddings); 0 for norms and biases
    double params, bytes;
} report_group;

typedef struct report_model {
    char *path;       // as given on the command line (owned copy)
    char *label;      // file or directory name without ".gguf" (owned)
    int is_original;
    // size
    double file_bytes;     // the weights file(s): model.safetensors (all shards) or the .gguf
    double tensor_bytes;   // of which tensor data (the rest: headers, metadata, GGUF's tokenizer, padding)
    double params;         // unique parameters (tied LM head counted once), as `shrink info`
    double bits_per_weight;  // file_bytes * 8 / params
    int n_types;
    report_type_bytes types[REPORT_MAX_TYPES];
    int n_groups;
    report_group groups[REPORT_MAX_GROUPS];
    int mixed;             // weight matrices stored in more than one type
    // architecture: blocks, and per block the heads kept and the MLP width (pruning changes them)
    int n_layer, n_head_full, lowrank;   // n_head_full: heads of an unpruned layer; lowrank: factorized linears
    int heads[GPT2_MAX_LAYERS], ffn[GPT2_MAX_LAYERS];
    // speed (tokens/s over the repeats); forward_ms = pp tokens / pp tokens/s, in ms
    speed_stat pp, tg;
    double forward_ms_median, forward_ms_min, forward_ms_max;
    // memory: ru_maxrss of the child (load + generate), and its RSS before loading
    double peak_rss_bytes, start_rss_bytes;
    // quality on the held-out text (compressed: against the original, same positions)
    ppl_result ppl;
    double dppl_pct, kl_mean, kl_p99, kl_max, top1;  // NaN for the original
    int has_lambada;
    double lambada_acc, lambada_ppl;  // accuracy as a fraction
    int lambada_n, lambada_correct;
    // generations, one per prompt: decoded continuation (owned) and its token count
    char *gen_text[REPORT_MAX_PROMPTS];
    int gen_tokens[REPORT_MAX_PROMPTS];
    // text collapse: repetition of collapse_prompts sampled continuations (eval_repetition), and
    // whether eval_collapsed calls it collapsed against the original's (0 for the original)
    rep_stats rep;
    int collapsed;
} report_model;

typedef struct report_settings {
    const char *heldout;           // held-out text for perplexity
    int ctx, stride;               // perplexity windows (0: the shortest n_ctx among the models, ctx/2)
    int pp, tg, reps;              // speed: prompt tokens, generated tokens, timed repeats
    int threads;                   // 0: all cores (the measured count is stored back)
    int gen_tokens;                // new tokens per generation
    float temp, top_p;
    int top_k;
    unsigned long long seed;
    const char *prompts[REPORT_MAX_PROMPTS];
    int n_prompts;
    int collapse_prompts;          // text collapse: continuations of this many held-out passages (0: off)
    int collapse_tokens;           // ... of this many tokens each, sampled as the generations are
    const char *lambada;           // NULL: not measured
    int lambada_limit;             // 0: every passage
} report_settings;

typedef struct report {
    report_settings set;
    report_model *models;          // [0] is the original
    int n_models;
    // where and when, for the header
    const char *command;           // the command line, to rerun it (may be NULL)
    char cpu[128];
    int logical_cpus;
    const char *kernels;
    char created[32];              // UTC, ISO 8601
    double seconds;                // wall time of the measuring
    double load_start, load_end;   // 1-minute load average when measuring began and ended (NaN: unknown)
    double other_cpus;             // logical CPUs other processes used on average while measuring (NaN: unknown)
    // the rules, applied to models[1..]
    rules_thresholds rules;
    rules_original rorig;
    rules_input *rin;
    rules_result *rres;
    rules_summary rsum;
} report;

// Progress lines ("measuring mini-Q8_0: speed ...") for the command line; may be NULL.
typedef void (*report_log_fn)(const char *msg, void *user);

// Sets r up for the original and n compressed paths (copied) with default settings.
void report_init(report *r, const char *original, const char *const *compressed, int n);
void report_free(report *r);  // safe on a zeroed struct; idempotent

// Measures everything (see the order above) and applies the rules. tok is the original's
// tokenizer: it encodes the held-out text and the prompts for every model. Returns 0 or a
// negative ERR_* with a message naming the file at fault; nothing is written.
typedef struct bpe bpe;
int report_measure(report *r, const bpe *tok, report_log_fn log, void *user);
// Fills r->rorig, r->rin, r->rres and r->rsum from the measured models (report_measure calls it).
void report_apply_rules(report *r);
// Appends the conclusions (rules_explain): markdown bullets, or plain lines.
void report_conclusions(const report *r, int markdown, sbuf *out);

// The report's parts as text (no I/O): report.md, report.json, and the three plots.
void report_markdown(const report *r, sbuf *md);
void report_json(const report *r, sbuf *js);
void report_plot_quality(const report *r, sbuf *svg);
void report_plot_speed(const report *r, sbuf *svg);
void report_plot_breakdown(const report *r, sbuf *svg);
// For a mixed-precision model (models[i].mixed): one bar per tensor, split by storage type,
// written as the file report_tensor_plot_name gives (letters, digits, '.', '-', '_' only).
void report_plot_tensors(const report *r, int i, sbuf *svg);
void report_tensor_plot_name(const report_model *m, char *buf, size_t n);
// The plots' file names inside the report directory.
#define REPORT_SVG_QUALITY "quality_vs_size.svg"
#define REPORT_SVG_SPEED "speed_vs_size.svg"
#define REPORT_SVG_BREAKDOWN "size_breakdown.svg"

// Checks that dir can be the report directory: an existing directory, or a path whose
// parent is one (it is created by report_write). Nothing is created. ERR_IO naming dir.
int report_check_dir(const char *dir);
// Creates dir if missing and writes the plots, report.json and last report.md, each
// atomically (name.tmp, fsync, rename). Returns 0 or ERR_IO naming the file.
int report_write(const report *r, const char *dir);
