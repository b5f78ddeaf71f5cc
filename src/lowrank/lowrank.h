// lowrank.h: low-rank "compression layers": a linear's weight W (out, in) replaced by two
// factors, B (out, r) · A (r, in), so the matmul and the parameters shrink from out·in to
// r·(out + in) (worth it only below r = out·in / (out + in)).
//
// Every method here is one computation: the best rank-r approximation of W in the norm
// ‖(W − B·A)·L‖ for a weighting L of the inputs. Plain SVD takes L = I (the weights' own
// error); ASVD (Yuan et al. 2023) a diagonal of the inputs' mean magnitudes to the power ½
// (channels that carry large activations matter more); SVD-LLM (Wang et al. 2024) the
// Cholesky factor of the calibration inputs' Gram matrix, so that the error truncated is
// the layer's output error on that text. The factorization solves the smaller of the two
// symmetric eigenproblems (W L Lᵀ Wᵀ or Lᵀ Wᵀ W L), once per matrix and method: every rank
// is then a truncation of the same basis (what the rank search needs).
#pragma once
#include "../compress/calib.h"

typedef enum { LOWRANK_SVD, LOWRANK_ASVD, LOWRANK_WHITEN, LOWRANK_METHOD_COUNT } lowrank_method;

int lowrank_method_parse(const char *s);  // -1 when unknown
const char *lowrank_method_name(lowrank_method m);

// One matrix's spectrum under one method.
typedef struct lowrank_basis {
    int out, in, n;   // n = min(out, in): the side whose eigenproblem was solved
    int in_side;      // 1: eigenvectors v of Lᵀ Wᵀ W L (in, when in < out); 0: u of W L Lᵀ Wᵀ (out)
    double *vec;      // (n, n) eigenvectors as rows, by descending eigenvalue
    double *val;      // (n) eigenvalues: the squared singular values of W·L
    double *T;        // in-side: W·L (out, in), B's columns come from it; out-side: W (out, in)
    double *L;        // in-side whitening: the Cholesky factor in the lower triangle (in, in); NULL otherwise
    double *s;        // in-side ASVD: the diagonal of L (in); NULL otherwise
} lowrank_basis;

// W (out, in) fp32, out-major. st: the statistics of this linear's inputs (sumabs for
// ASVD, H for whitening; NULL for plain SVD). damp: whitening's ridge, a fraction of the
// inputs' mean square added to the Gram's diagonal (it must be positive definite). Returns
// ERR_ARG when the statistics are missing or the eigensolver fails.
int lowrank_basis_init(lowrank_basis *b, const float *W, int out, int in, lowrank_method m, const act_stats *st,
                       double damp);
void lowrank_basis_free(lowrank_basis *b);

// The rank-r factors from the basis: A (r, in) and B (out, r), out-major, balanced so each
// component's row of A and column of B have the same norm (both factors then quantize
// alike). 1 <= r <= n.
void lowrank_basis_factors(const lowrank_basis *b, int r, float *A, float *B);

// Fraction of the weighted energy (Σ of the first r eigenvalues over all of them) a rank keeps.
double lowrank_basis_energy(const lowrank_basis *b, int r);

// P = B·A (out, in): the product a rank-r factorization stands for.
void lowrank_product(const float *A, const float *B, int out, int in, int r, float *P);

// Parameters a linear (out, in) holds at rank r (0: dense), bias excluded.
static inline long lowrank_params(int out, int in, int r) { return r ? (long)r * (out + in) : (long)out * in; }
// The rank below which factors hold fewer parameters than the dense matrix: out·in/(out + in).
static inline double lowrank_break_even(int out, int in) { return (double)out * in / (out + in); }

// --- placement and the whole model (lowrank.c)
typedef struct lowrank_opts {
    lowrank_method method;
    int all_methods;                 // --target-params: every method a candidate for every matrix
    uint8_t linears[GPT2_LINEARS];   // which kinds are factorized (1 = yes)
    const uint8_t *layers;           // (L) which layers; NULL: all
    int rank;                        // > 0: this rank everywhere placed
    double ratio;                    // > 0: rank = ratio · min(out, in), rounded to rank_multiple
    double energy;                   // > 0: the smallest rank keeping this fraction of the weighted energy
    size_t target_params;            // > 0: ranks (and methods) chosen per matrix by measured KL (lowrank_allocate)
    int rank_multiple;               // ranks rounded to a multiple of this (ggml blocks: 32; K-quants: 256)
    int force;                       // allow ranks that save nothing
    double damp;                     // whitening's ridge
} lowrank_opts;

// `shrink lowrank`'s defaults: plain SVD, the four kinds in every layer, ranks multiples of 32,
// whitening's damp 0.01 (as the command line's float holds it).
lowrank_opts lowrank_defaults(void);

// Parses "attn_qkv,attn_output,ffn_up,ffn_down" (also qkv, out, up, down, mlp, attn, all).
int lowrank_parse_linears(const char *s, uint8_t linears[GPT2_LINEARS]);
// Parses "all", "first:K", "middle:K", "last:K" or a comma-separated list into keep (L).
int lowrank_parse_layers(const char *s, int L, uint8_t *keep);

// The factorized model: each placed linear of m (fp32, dense there) replaced by its factors,
// ranks from o; statistics from the calibration windows (cs may be NULL for plain SVD with a
// fixed rank or ratio). notes gets a line per factorized matrix. Errors (ERR_ARG) name the
// option asking for the impossible; out is then left empty.
int lowrank_model(const gpt2_model *m, const calib_set *cs, const lowrank_opts *o, gpt2_model *out, char *notes,
                  size_t notes_cap);

// The model m with linear (l, k) of each rank[l][k] > 0 replaced by the given factors
// (A[l*4+k] (r, in), B[l*4+k] (out, r), fp32); everything else copied. m must be fp32.
void lowrank_build(const gpt2_model *m, const int (*rank)[GPT2_LINEARS], float *const *A, float *const *B,
                   gpt2_model *out);

// --target-params: every placed matrix's candidate ranks (multiples of o->rank_multiple below
// its break-even rank) under every method, each measured alone by the KL it causes on
// calibration windows with the product in place; then per matrix the (rank, method) or dense
// that meets the budget with the least summed KL (a Lagrangian search). Writes rank and
// method (L, 4) and a table into notes.
int lowrank_allocate(const gpt2_model *m, const calib_set *cs, const lowrank_opts *o, int (*rank)[GPT2_LINEARS],
                     int (*method)[GPT2_LINEARS], char *notes, size_t notes_cap);
