// sweep.h: `shrink sweep`: compress an original model at every point of a grid (grid.h),
// measure each against the original on held-out text, and write what is worth having:
//
//   DIR/points/NAME.gguf   the compressed model (llama.cpp runs it)
//   DIR/points/NAME.json   its numbers: file bytes, bits per parameter, ppl, Δppl, KL, top-1,
//                          compress and eval seconds, the settings it was made with
//   DIR/sweep.md           every point and the original sorted by size, the Pareto frontier
//                          marked, the bound(s) and the model they pick
//   DIR/pareto.svg         Δppl (or KL) against size, frontier joined, bound drawn
//   DIR/sweep.json         every number
//
// Pruned (and recovered) models are made once per prune= and recover= value and shared by
// the points that compress them. Each file is written atomically. A point whose json and gguf exist is not redone (a
// stopped sweep resumes where it stopped); its json must have been made with the same
// held-out tokens (count and fingerprint), windows and calibration text and tokens, else
// the run stops and says so.
#pragma once
#include <stdint.h>
#include "grid.h"
#include "../compress/calib.h"
#include "../eval/eval.h"
#include "../core/sbuf.h"

typedef void (*sweep_log_fn)(const char *msg, void *user);

typedef struct sweep_opts {
    const char *original;       // HF directory of the original (fp32/f16/bf16), loaded fresh for every point
    double original_params;     // its parameters (set by sweep_run itself, for the record)
    const char *dir;            // output directory (created with DIR/points when missing)
    const char *grid_spec;      // SPEC as given (for the record)
    const grid *g;
    const calib_set *calib;     // calibration windows, tokenized; may be NULL when no point needs them
    const char *calib_path;     // for the record (NULL: none); its file name goes into each calibrated GGUF
    uint64_t calib_fnv;         // FNV-1a 64 of the calibration file's bytes (core/hash.h), for the GGUF
    const char *heldout_path;   // for the record
    const int *ids;             // held-out text, tokenized (n_ids >= 2)
    size_t n_ids;
    const int *tok_bytes;       // UTF-8 bytes of each vocabulary id (may be NULL: no bits per byte)
    int ctx, stride;            // perplexity windows (eval.h's protocol)
    double max_dppl, max_kl;    // quality bounds: Δppl in percent, mean KL in nats; NaN: none
    const int *recover_ids;     // training tokens for recover= points (NULL when none is given)
    size_t n_recover;
    const char *recover_path;   // for the record
    uint64_t recover_fnv;       // FNV-1a 64 of the recover ids, for the record and resume checks
    float recover_lr;           // peak learning rate of the distillation (0: the recipe's, 1e-3)
    const char *tok_dir;        // directory whose vocab.json and merges.txt each GGUF carries (NULL: none)
    int threads;                // for the record
    const char *command;        // the command line, for the record (may be NULL)
    sweep_log_fn log;           // one line per step (may be NULL)
    void *log_user;
    int eta;                    // 1: the line starting each point carries elapsed time and an ETA
    progress_fn eval_progress;  // per-window progress of each evaluation (may be NULL)
    void *eval_user;
} sweep_opts;

// One point's outcome (or the original's row: method/type empty, dppl 0, KL 0).
typedef struct sweep_row {
    grid_point pt;
    int skipped;                 // 1: done by an earlier run; the numbers are from its json
    double file_bytes;           // the GGUF file (the original: its weight files)
    double params;               // unique parameters
    double bits_per_param;       // 8 * file_bytes / params
    double matrix_bpw;           // bits per weight of the stored matrices (plan_matrix_bpw)
    double ppl, base_ppl, dppl_pct, kl_mean, kl_p99, kl_max, top1;
    long tokens;                 // scored tokens
    double compress_s, eval_s;   // wall seconds (NaN for the original)
    char types[192];             // stored matrix types, e.g. "q4_k x20, q6_k x6 (token_embd q4_k, output q6_k)"
    int front_dppl, front_kl;    // on the frontier of size vs Δppl / size vs KL (the original included)
} sweep_row;

typedef struct sweep_result {
    sweep_row *rows;             // one per grid point, in grid order
    int n;
    sweep_row original;
    int chosen;                  // index of the smallest point meeting the bounds; -1: none does
    int closest;                 // when chosen < 0, the closest point (pareto_closest); else -1
    int n_run, n_skipped;
    double seconds;              // wall time of this run
} sweep_result;

// Checks that dir can be the sweep directory: every part of it that exists is a
// directory. Returns 0 or ERR_IO naming the part at fault. Nothing is created.
int sweep_check_dir(const char *dir);

// Runs (or resumes) every point, then fills the frontier and the choice and writes
// sweep.md, pareto.svg and sweep.json. Returns 0 or a negative ERR_* with a message; the
// points finished before an error stay done for the next run. r is filled as far as it got
// (free it either way).
int sweep_run(const sweep_opts *o, sweep_result *r);
void sweep_result_free(sweep_result *r);  // safe on a zeroed struct; idempotent

// The frontier flags, chosen and closest from the rows' numbers (sweep_run calls it).
void sweep_summarize(const sweep_opts *o, sweep_result *r);

// The outputs as text (sweep_report.c; no I/O).
void sweep_markdown(const sweep_opts *o, const sweep_result *r, sbuf *md);
void sweep_json(const sweep_opts *o, const sweep_result *r, sbuf *js);
void sweep_plot(const sweep_opts *o, const sweep_result *r, sbuf *svg);
// Fingerprints a point's json records, as 16 hex digits: FNV-1a 64 of the held-out token
// ids, and of the calibration text ("" for a point that does not calibrate).
void sweep_fingerprints(const sweep_opts *o, const grid_point *p, char heldout[24], char calib[24]);
// One point's numbers as a JSON object (with_settings: plus what it was made with, as its
// points/NAME.json holds them).
void sweep_row_json(const sweep_opts *o, const sweep_row *row, int with_settings, sbuf *out);
// The one sentence naming the chosen model (or that none meets the bounds, and the closest).
void sweep_choice_sentence(const sweep_opts *o, const sweep_result *r, sbuf *out);
