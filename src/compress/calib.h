// calib.h: calibration data and the activation statistics methods learn from.
//
// A calibration set is a text file's first N tokens, cut into windows of ctx tokens
// that are run through the model one by one; a forward hook (gpt2_state.hook) sees
// every linear layer's input and accumulates, per matrix, what the methods need:
// the per-channel mean square (llama.cpp's importance matrix), mean magnitude (AWQ),
// mean (pruning's bias fold) and H = Σ x xᵀ (GPTQ, pruning's refits).
#pragma once
#include "../model/gpt2.h"
#include "../tokenizer/bpe.h"

typedef struct calib_set {
    int *ids;       // n_windows * ctx token ids
    int n_windows, ctx;
} calib_set;

// Tokenizes the text file at path and keeps its first n_tokens tokens (rounded down to
// whole windows of ctx). Errors (message names the file): unreadable, or fewer tokens
// than one window.
int calib_load(calib_set *cs, const bpe *tok, const char *path, long n_tokens, int ctx);
void calib_free(calib_set *cs);

// What has been seen at one matrix's input. cols == 0 means "not wanted".
typedef struct act_stats {
    int cols;
    long n;          // tokens seen
    double *sum;     // (cols) Σ x
    double *sumsq;   // (cols) Σ x²
    double *sumabs;  // (cols) Σ |x|
    double *H;       // (cols, cols) Σ x xᵀ, only when asked for
} act_stats;

void act_stats_init(act_stats *s, int cols, int want_h);
void act_stats_free(act_stats *s);

// Runs every window through m (only the first stop_after blocks when > 0) and adds
// each wanted matrix's inputs to stats (gpt2_n_mats entries, plan order; token_embd's
// is never filled: a lookup has no inputs). label names the
// step on the progress line (shown when stderr is a terminal).
void calib_collect(const gpt2_model *m, const calib_set *cs, act_stats *stats, int stop_after, const char *label);

// Every matrix's per-column mean square input over cs (llama.cpp's importance matrix), in
// plan order; token_embd's entry is NULL (a lookup). The caller frees each entry and the array.
float **calib_importance(const gpt2_model *m, const calib_set *cs, const char *label);

// The residual stream at the input of one block, for every window (n_windows, ctx, C),
// so that methods going block by block run each block, not the whole prefix, per step.
typedef struct calib_stream {
    float *x;
    int layer;  // the block whose input x is (n_layer: the final LayerNorm's)
} calib_stream;

// Block 0's input: token plus position embeddings of every window.
void calib_stream_init(calib_stream *st, const gpt2_model *m, const calib_set *cs);
void calib_stream_free(calib_stream *st);

// Runs block st->layer of m (at st->layer == n_layer: the final LayerNorm and the LM
// head) over every window, adding the wanted inputs to stats (may be NULL). With
// advance, the stream then holds the next block's input, as m's block computes it.
void calib_run_block(const gpt2_model *m, const calib_set *cs, calib_stream *st, act_stats *stats, int advance,
                     const char *label);
