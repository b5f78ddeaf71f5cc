// gpt2_acts.h: the batched (B, T) forward pass that keeps its activations, cross-entropy,
// and the backward pass: what training and distillation compute with.
//
// Memory is planned from (cfg, B, T) and carved from one allocation per lifetime (llm.c):
// gpt2_acts holds the activations the backward pass reads, the gradient scratch, and the
// parameter gradients (laid out exactly like gpt2_model.params, so the optimizer runs over
// two flat arrays). Only models with fp32 weights and a tied LM head can be trained (a
// forward-only teacher may have an untied head).
// Every reduction is done in an order that does not depend on the thread count, so a
// run is reproducible bit for bit for a given seed.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "gpt2.h"

// --- activations and gradients for one (B, T) batch
// Where the time goes: parts of a training step, timed into gpt2_acts.prof.
enum {
    GPT2_PROF_MATMUL_FWD, GPT2_PROF_MATMUL_BWD, GPT2_PROF_ATTN, GPT2_PROF_SOFTMAX_CE, GPT2_PROF_OTHER,
    GPT2_PROF_OPTIMIZER, GPT2_PROF_COMM, GPT2_PROF_COUNT
};
extern const char *const gpt2_prof_names[GPT2_PROF_COUNT];

// One layer's activations (B, T rows each). W = NH_l·HS and F = F_l are the layer's own.
typedef struct gpt2_layer_acts {
    float *ln1;          // (B, T, C)
    float *ln1_mean, *ln1_rstd;  // (B, T)
    float *qkv;          // (B, T, 3W)
    float *atty;         // (B, T, W) attention output before the projection
    float *att;          // (B, NH_l, T, T) attention probabilities (row i: keys 0..i, zero after)
    float *res2;         // (B, T, C) residual after attention
    float *ln2;          // (B, T, C)
    float *ln2_mean, *ln2_rstd;  // (B, T)
    float *fch;          // (B, T, F) MLP pre-activation
    float *fch_gelu;     // (B, T, F)
    float *res3;         // (B, T, C) residual after the block
    float *lowrank[GPT2_LINEARS];  // (B, T, rank) A·x of each factorized linear (NULL when dense)
} gpt2_layer_acts;

typedef struct gpt2_acts {
    int B, T;
    int backward;        // 0: forward only (one set of layer buffers, sized for the widest layer and
                         // reused by every layer; no gradients)
    float *mem;          // the one allocation
    size_t n_floats;
    float *encoded;      // (B, T, C) token + position embeddings
    gpt2_layer_acts *layer;  // (L) when backward, else (1)
    float *lnf;          // (B, T, C)
    float *lnf_mean, *lnf_rstd;  // (B, T)
    float *logits;       // (B, T, V); gpt2_train_ce(grad=1) replaces them with d(loss)/d(logits)
    float *losses;       // (B, T) per-position cross-entropy of the last gpt2_train_ce
    // Gradient scratch (backward only), sized by the widest layer.
    float *dres;         // (B, T, C) gradient of the residual stream
    float *dbuf;         // (B, T, C) gradient of a LayerNorm output / of atty
    float *dqkv;         // (B, T, 3W)
    float *dfch;         // (B, T, F)
    float *dlowrank;     // (B, T, rank) gradient of a factorized linear's A·x
    float *scratch;      // (threads, T·T + HS·T) attention scratch per thread: dP/dS, K or V transposed
    size_t scratch_stride;
    int n_threads;       // threads the scratch was planned for
    // Parameter gradients (backward only): the model's fp32 arena's layout, so the gradient
    // of the tensor at m->params + i is grads[i] (gpt2_grad).
    float *grads;        // (n_floats of the model)
    const int *inputs;   // (B, T) ids of the last forward (borrowed; must live until backward)
    double prof[GPT2_PROF_COUNT];  // seconds spent per part, accumulated
} gpt2_acts;

// The gradient slot of the model's fp32 tensor p (in the arena).
static inline float *gpt2_grad(const gpt2_model *m, const gpt2_acts *a, const void *p) {
    return a->grads + ((const float *)p - m->params);
}

// Plans and allocates activations for batches of B sequences of T tokens (T ≤ n_ctx).
// Returns ERR_ARG (with a message) if B, T are out of range, or the model is not an fp32
// model with a tied LM head.
int gpt2_acts_init(gpt2_acts *a, const gpt2_model *m, int B, int T, int backward);
void gpt2_acts_free(gpt2_acts *a);

// Forward over inputs (B, T) (ids in [0, V)); writes a->logits (B, T, V).
void gpt2_train_forward(const gpt2_model *m, gpt2_acts *a, const int *inputs);
// Mean cross-entropy of a->logits against targets (B, T); per position in a->losses.
// grad: also replace a->logits with d(mean loss)/d(logits).
double gpt2_train_ce(gpt2_acts *a, int V, const int *targets, int grad);
// Backward from a->logits holding d(loss)/d(logits): adds the parameter gradients to
// a->grads (call gpt2_grads_zero first). Needs the activations of the last forward.
void gpt2_backward(const gpt2_model *m, gpt2_acts *a);
void gpt2_grads_zero(const gpt2_model *m, gpt2_acts *a);
