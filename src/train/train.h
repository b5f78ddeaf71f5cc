// train.h: training GPT-2: knowledge-distillation loss, AdamW, token files, and the
// training loop's pieces (schedule, batches, evaluation, checkpoints, resume). The
// forward and backward passes it runs are the model's (model/gpt2_acts.h).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "../core/rng.h"
#include "../model/gpt2_acts.h"
#include "../tokenizer/bpe.h"

// --- knowledge distillation (distill.c)
// Over N positions of V logits: loss = (1-alpha)·CE(student, targets) + alpha·tau²·KL(p_t ‖ p_s),
// p_t = softmax(teacher/tau), p_s = softmax(student/tau), each term a mean over positions
// (Hinton et al. 2015). Replaces student (N, V) with d(loss)/d(student); teacher (N, V) is
// left as it was. Returns the loss; *ce and *kl (may be NULL) get the mean CE and mean KL
// (the KL without the tau² factor).
double distill_loss(float *student, const float *teacher, const int *targets, int N, int V, float alpha, float tau,
                    double *ce, double *kl);

// --- AdamW (adamw.c; Loshchilov & Hutter 2019, PyTorch's update order)
typedef struct adamw {
    size_t n;
    float *m, *v;        // (n) first and second moments
    long t;              // steps taken
    float beta1, beta2, eps, weight_decay;
} adamw;
void adamw_init(adamw *o, size_t n, float beta1, float beta2, float eps, float weight_decay);
void adamw_free(adamw *o);
// One step over params (n) with gradients grads (n) multiplied by grad_scale (clipping).
// decay (n_seg) says, for consecutive segments of seg_len (n_seg) elements covering all n,
// whether weight decay applies (decoupled: p -= lr·wd·p before the Adam update).
void adamw_step(adamw *o, float *params, const float *grads, float grad_scale, float lr, const size_t *seg_len,
                const int *decay, int n_seg);
// sqrt(Σ g²) over n floats, summed in double in a fixed order.
double adamw_grad_norm(const float *g, size_t n);

// --- token files (token_file.c; format documented there and in docs/training.md)
// Writes n ids (each in [0, vocab_size)) atomically. ERR_RANGE for an id out of range.
int token_file_write(const char *path, const int *ids, size_t n, int vocab_size);
// Reads a token file: *ids malloc'd (caller frees), *n ids, *vocab_size from the header.
int token_file_read(const char *path, int **ids, size_t *n, int *vocab_size);
// 1 when the file starts with the token file magic, 0 otherwise (or unreadable).
int token_file_is(const char *path);
// Training data: list is comma-separated token files (`shrink tokenize -o`) or text files
// (encoded whole with tok, then <|endoftext|>), concatenated in order into *ids (*n ids, each
// below V). Errors name the file; "WHAT: no tokens in LIST" when there are none.
int token_ids_load(const char *list, const bpe *tok, int V, const char *what, int **ids, size_t *n);

// --- the training loop (gpt2_train.c)
typedef struct train_opts {
    int steps;           // optimizer steps in the whole run
    int batch, ctx;      // B sequences of T tokens (each window holds T+1 tokens)
    int warmup;          // linear warmup steps
    float lr, min_lr;    // peak rate; the cosine ends at min_lr at the last step
    float weight_decay, clip, beta1, beta2, eps;
    uint64_t seed;       // batch sampling, from the seed's second stream (the weights are the caller's)
    float kd_weight, kd_temp;  // distillation (used when a teacher is given)
} train_opts;

typedef struct train_log_entry { int step; float loss; float lr; double elapsed; } train_log_entry;
typedef struct train_eval_entry { int step; float loss; } train_eval_entry;

typedef struct gpt2_train {
    gpt2_model *m;                 // borrowed, updated in place
    const gpt2_model *teacher;     // borrowed, or NULL
    gpt2_acts acts;                // the student's (backward)
    gpt2_acts tacts;               // the teacher's (forward only)
    adamw opt;
    train_opts o;
    rng r;                         // batch sampling state
    int step;                      // steps done
    int *inputs;                   // (B, T) the last batch's inputs
    int *targets;                  // (B, T) and targets (the inputs shifted by one)
    double elapsed;                // training seconds, summed over resumed runs
    train_log_entry *log;          // one per step
    train_eval_entry *evals;       // one per evaluation
    int n_log, n_evals, cap_log, cap_evals;
    double last_ce, last_kl;       // the last step's CE and KL terms (KD only)
    uint64_t data_hash;            // FNV-1a of the training ids (a resume must see the same data)
    size_t data_n;
    // Data parallel: each batch is micro micro-batches of micro_rows sequences; rank r computes
    // micro-batches [r·micro/ranks, (r+1)·micro/ranks), each from zeroed gradients, and the
    // step's gradient is their mean summed in micro-batch order (dist_chain_sum).
    int rank, ranks, micro, micro_rows;
    float **parts;                 // (micro/ranks - 1) gradient buffers: the rank's earlier micro-batches
} gpt2_train;

// Learning rate at step s (0-based): linear warmup lr·(s+1)/warmup for s < warmup, then
// cosine from lr down to min_lr at the last step.
float gpt2_train_lr(const train_opts *o, int s);
// Sets up the optimizer and buffers. Returns ERR_ARG for bad options or a teacher whose
// vocabulary differs or whose n_ctx < ctx.
int gpt2_train_init(gpt2_train *tr, gpt2_model *m, const gpt2_model *teacher, const train_opts *o);
// The same as one of ranks processes of a data-parallel job (src/dist), the batch in micro
// micro-batches (0: one per rank; a multiple of ranks, dividing B). Every rank draws the same
// B windows and computes its micro-batches; the gradients are summed in micro-batch order, so
// every rank takes the same step, and the result depends on B and micro, not on ranks: the
// same micro with 1, 2 or 4 processes gives the same bits. ranks 1, micro 0 is gpt2_train_init.
int gpt2_train_init_dist(gpt2_train *tr, gpt2_model *m, const gpt2_model *teacher, const train_opts *o, int rank, int ranks,
                         int micro);
void gpt2_train_free(gpt2_train *tr);
// One optimizer step on B random windows of T+1 tokens of data (n ≥ T+1 ids): forward,
// loss (CE, or KD with a teacher), backward, global-norm clip, AdamW. Returns the loss;
// *grad_norm (may be NULL) gets the norm before clipping.
double gpt2_train_step(gpt2_train *tr, const int *data, size_t n, double *grad_norm);
// Mean cross-entropy over the floor((n-1)/T) non-overlapping windows of T inputs (targets
// shifted by one) of ids, also appended to tr->evals; NAN when n < T+1. Uses the student's
// buffers (the last batch is overwritten) but changes no training state.
double gpt2_train_eval(gpt2_train *tr, const int *ids, size_t n);
// Records the data hash (call once with the training ids before stepping or resuming).
void gpt2_train_set_data(gpt2_train *tr, const int *data, size_t n);

// Writes a checkpoint directory: config.json, model.safetensors, vocab.json + merges.txt
// (copied from tok_dir when given), training_log.json, and train_state.bin (optimizer
// moments, step, sampler state, options, log). Everything is written into "dir.tmp" first
// and then swapped into place, so dir always holds one complete checkpoint. extra_json
// (may be NULL) is a JSON object body inserted into training_log.json.
int gpt2_train_save(const gpt2_train *tr, const char *dir, const char *tok_dir, const char *extra_json);
// Restores optimizer, step, sampler and log from dir/train_state.bin into tr (set up by
// gpt2_train_init with the model loaded from dir and the same options). Returns ERR_FORMAT
// or ERR_ARG with a message when the file is bad or the options, model or data differ.
int gpt2_train_resume(gpt2_train *tr, const char *dir);

// --- recovery: distillation from the original in memory (recover.c)
// The pipeline's recipe (bench/recovery.md): tokens, batch 16, ctx 0 (= the student's
// n_ctx), lr 1e-3 (cosine to a tenth, 5% warmup), pure KD (weight 1, tau 2), seed 1337;
// weight decay, clipping and AdamW as `shrink train`'s defaults. The last val_frac of the
// stream is held out as `shrink train --val-frac` holds it out, and the weights with the
// least KL to the teacher on it (the first RECOVER_VAL_WINDOWS windows) are kept, the
// untrained ones included: distillation can move a nearly exact model away from its
// teacher (bench/lowrank.md, the -4.7% cut). With val_frac 0,
// `shrink train -m SMALL --teacher ORIGINAL --kd-weight 1 --lr 1e-3 --val-frac 0 --tokens N`
// on the same data trains the same weights.
enum { RECOVER_VAL_WINDOWS = 16 };
typedef struct recover_opts {
    unsigned long long tokens;
    int batch, ctx;
    float lr, kd_weight, kd_temp;
    uint64_t seed;
    float val_frac;  // held out to choose the weights kept; 0: none, the last weights are kept
} recover_opts;
recover_opts recover_defaults(void);
// The training options those stand for, at sequence length ctx.
train_opts recover_train_opts(const recover_opts *r, int ctx);
// Called after each step with the step count, the steps in all, the step's mean KL to the
// teacher and the seconds since the start.
typedef void (*recover_progress)(void *user, int step, int steps, double kl, double seconds);
// What the held-out text said: mean KL(teacher || student) before training, at the step
// kept and at the last step; evals = 0 when nothing was held out (val_frac 0, or fewer
// than ctx+1 tokens held out) and the last weights were kept.
typedef struct recover_result {
    int steps, evals, best_step, val_tokens;
    double kl_first, kl_best, kl_last;
} recover_result;
// Trains student in place on ids (n ≥ ctx+1) against teacher; res (may be NULL) gets the
// choice. ERR_ARG for options gpt2_train_init refuses, ERR_RANGE when the loss diverges
// (the student is then garbage).
int train_recover(gpt2_model *student, const gpt2_model *teacher, const int *ids, size_t n, const recover_opts *r,
                  recover_progress progress, void *user, recover_result *res);
