// prune.h: structured pruning: whole attention heads, MLP neurons and blocks removed, so
// the matrices they touch really shrink (the file, the parameter count, the matmuls).
//
// A cut is a keep mask over the model's units. The pipeline (prune_model) goes block by
// block over calibration text, as GPTQ does: it measures the inputs of the matrix that
// reads the units (attn_output for heads, ffn_down for neurons) on the stream the blocks
// already pruned produce, scores the units, keeps the best, and compensates the removal
// by refitting that matrix and its bias on the kept units (least squares; FLAP's bias
// fold is the special case that only moves the bias). While it works, removed units sit
// as zero columns in a full-shape copy; prune_apply then builds the smaller model.
#pragma once
#include "../compress/calib.h"

typedef struct prune_mask {
    int n_layer, max_head, max_ff;  // the model's L, largest NH_l and F_l
    uint8_t *layer;                 // (L) 1 = kept
    uint8_t *head;                  // (L, max_head): head h (its index in layer l now) kept
    uint8_t *ff;                    // (L, max_ff): neuron j of layer l kept
} prune_mask;

// Everything kept.
void prune_mask_init(prune_mask *pm, const gpt2_config *c);
void prune_mask_free(prune_mask *pm);

// out = m without what pm removes: fewer rows of attn_qkv and ffn_up (and their biases),
// fewer columns of attn_output and ffn_down (of the first factor when low-rank), dropped
// blocks gone (src_layer keeps where each remaining block came from). Removed heads are
// recorded by their original index (out->removed_heads). m must be all fp32. Returns
// ERR_ARG when nothing would be left.
int prune_apply(const gpt2_model *m, const prune_mask *pm, gpt2_model *out);

// How units are ranked (higher = more important).
typedef enum {
    PRUNE_SCORE_MAGNITUDE,  // weights only: ‖v rows‖·‖attn_output columns‖, ‖ffn_up row‖·‖ffn_down column‖
    PRUNE_SCORE_ACT,        // activation norm: sqrt(E[x²])·‖column‖ of the matrix reading the unit
    PRUNE_SCORE_FLUCT,      // FLAP's fluctuation: Var[x]·‖column‖², what a bias fold cannot restore
    PRUNE_SCORE_TAYLOR,     // LLM-Pruner's first-order Taylor: Σ |g·w| over the unit's weights (prune_taylor)
    PRUNE_SCORE_COUNT
} prune_score;

// How a removal is compensated.
typedef enum {
    PRUNE_COMP_NONE,   // the units are simply gone
    PRUNE_COMP_BIAS,   // FLAP: the bias takes the removed units' mean contribution
    PRUNE_COMP_REFIT,  // least squares on the kept units' inputs, bias included
    PRUNE_COMP_COUNT
} prune_comp;

int prune_score_parse(const char *s);  // -1 when unknown
int prune_comp_parse(const char *s);
const char *prune_score_name(prune_score s);
const char *prune_comp_name(prune_comp c);

// Scores of layer l's heads (NH_l) and neurons (F_l) from the statistics of attn_output's
// and ffn_down's inputs (st may be NULL for PRUNE_SCORE_MAGNITUDE).
void prune_score_heads(const gpt2_model *m, int l, const act_stats *st, prune_score s, double *score);
void prune_score_neurons(const gpt2_model *m, int l, const act_stats *st, prune_score s, double *score);

// First-order Taylor scores of every head and neuron of m (fp32, tied LM head, dense
// linears), from the gradient g of the mean cross-entropy over the calibration windows
// (one backward pass each, summed): a unit's score is Σ |g·w| over the weights and biases it
// owns — its q, k, v rows and attn_output columns; its ffn_up row and bias and ffn_down
// column. head (L, max_head) and ff (L, max_ff), by the units' indices in m.
typedef struct prune_taylor {
    int max_head, max_ff;
    double *head, *ff;
} prune_taylor;
int prune_taylor_compute(const gpt2_model *m, const calib_set *cs, prune_taylor *t);
void prune_taylor_free(prune_taylor *t);

// Layer l's unit scores under s: its heads (k = GPT2_LIN_OUT) or neurons (GPT2_LIN_DOWN), from
// st (the statistics of that linear's inputs) or, for PRUNE_SCORE_TAYLOR, from t.
void prune_unit_scores(const gpt2_model *m, int l, int k, const act_stats *st, prune_score s, const prune_taylor *t,
                       double *score);

// Compensates removing the input columns of lin whose keep[c] is 0 (lin dense fp32; low-rank
// linears take the bias fold), given the statistics of its inputs (H needed for refit), then
// zeroes those columns. damp: the refit's ridge, a fraction of the kept inputs' mean square.
// Returns ERR_ARG (naming --damp) when the kept inputs' statistics stay singular when damped.
int prune_compensate(gpt2_linear *lin, const act_stats *st, const uint8_t *keep, prune_comp comp, double damp);

// The mean KL(m ‖ m without block l) per token, for every block, on up to `windows` of the
// calibration windows (how much each block matters: dropping the least costly first).
void prune_layer_kl(const gpt2_model *m, const calib_set *cs, int windows, double *kl);

// ShortGPT's block influence of every block: 1 − cos(its input, its output) of the residual
// stream, averaged over the positions of up to `windows` calibration windows (low: the
// block changes little; a cheap stand-in for the KL of dropping it).
void prune_block_influence(const gpt2_model *m, const calib_set *cs, int windows, double *bi);

typedef struct prune_opts {
    double heads;       // fraction of each kept layer's heads removed
    double ffn;         // fraction of each kept layer's MLP neurons removed
    int drop_layers;    // blocks removed, those whose removal costs the least KL
    int drop_by_bi;     // rank blocks for drop_layers by block influence instead of KL
    const uint8_t *keep_layers;  // (L) or NULL: exactly these blocks stay (1 = kept); excludes drop_layers
    size_t target_params;  // > 0: keep at most this many parameters, cut where the measured KL is least
                           // (prune_allocate); excludes heads, ffn, drop_layers and keep_layers
    int ffn_multiple;   // kept MLP widths rounded to a multiple of this (K-quants need 256)
    prune_score score;
    prune_comp comp;
    double damp;        // the refit's ridge (prune_compensate)
} prune_opts;

// `shrink prune`'s defaults: nothing removed, fluct scores, refit with damp 0.01 (as the
// command line's float holds it), MLP widths multiples of 256. compress --prune and sweep's
// prune= start from these, so one budget gives one model whichever command makes it.
prune_opts prune_defaults(void);

// --target-params: each layer's options (k/8 of its heads or neurons removed, k = 1..7, or
// the whole block) measured alone by the KL they cause on calibration windows, scored and
// compensated as o says; then, per layer, the choice that meets o->target_params with the
// least summed KL (a Lagrangian search). Writes n_head, n_ff and keep_layer (L each) and a
// table of the choices into notes.
int prune_allocate(const gpt2_model *m, const calib_set *cs, const prune_opts *o, const prune_taylor *t, int *n_head,
                   int *n_ff, uint8_t *keep_layer, char *notes, size_t notes_cap);

// mask[i] = 1 for the `keep` highest of n scores, 0 for the rest; ties go to the lower index,
// so a cut is deterministic.
void prune_keep_top(const double *score, int n, int keep, uint8_t *mask);

// Appends printf-style text to notes (cap bytes in all), silently cut when full.
void prune_note(char *notes, size_t cap, const char *fmt, ...);

// The whole cut on m (fp32; left as it was) calibrated on cs: out is the pruned model.
// notes gets one line per block (kept heads and width) and the dropped blocks with their
// KL. Errors (ERR_ARG) name the option that asks for the impossible.
int prune_model(const gpt2_model *m, const calib_set *cs, const prune_opts *o, gpt2_model *out, char *notes,
                size_t notes_cap);
