// gpt2.h: the GPT-2 model: its config (with per-layer shapes), the tensor table, the
// weights as layers of linears, and the inference forward pass.
//
// One representation serves every shape and every use. A layer holds its LayerNorms and
// four linears; a linear is a matrix in any storage type (fp32, F16, ggml blocks), an
// optional second factor (W ≈ B·A, a low-rank "compression layer") and a bias. Matrices
// are out-major: row r is output channel r, its inputs contiguous (HF Conv1D stores
// (in, out); the loaders transpose once). Every fp32 tensor lives in one arena carved from
// one allocation in the tensor table's order, so training and AdamW see one flat array;
// matrices stored in other types live in a second allocation (mat_store).
// Shapes may differ per layer: heads kept (pruned attention), MLP width, the rank of each
// linear, even none at all (0 heads: no attention; width 0: no MLP, only its bias).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "../core/dtype.h"
#include "../kernels/qtype.h"

#define GPT2_MAX_LAYERS 512  // as llama.cpp's LLAMA_MAX_LAYERS: per-layer shapes are arrays

// The four linears of a layer, named as GGUF names them.
enum { GPT2_LIN_QKV, GPT2_LIN_OUT, GPT2_LIN_UP, GPT2_LIN_DOWN, GPT2_LINEARS };

typedef struct gpt2_config {
    int vocab_size;   // V
    int n_ctx;        // maximum sequence length (HF n_positions)
    int n_embd;       // C
    int n_layer;      // L
    int head_dim;     // HS (HF: n_embd / n_head): every head of every layer
    int n_head_arr[GPT2_MAX_LAYERS];                // NH_l, heads kept in layer l (0: no attention)
    int n_ff_arr[GPT2_MAX_LAYERS];                  // F_l, MLP width of layer l (0: no MLP)
    int rank_arr[GPT2_MAX_LAYERS][GPT2_LINEARS];    // 0: dense; r > 0: W = B·A with A (r, in), B (out, r)
    int src_layer[GPT2_MAX_LAYERS];                 // the layer of the original model it came from
    int tied;         // 1: the LM head is the token embedding (one parameter)
    float ln_eps;     // LayerNorm epsilon (HF layer_norm_epsilon)
    int gelu_exact;   // 1: erf GELU ("gelu"); 0: tanh approximation ("gelu_new", GPT-2's)
    int scale_attn;   // HF scale_attn_weights: divide scores by sqrt(HS)
    int scale_by_layer;  // HF scale_attn_by_inverse_layer_idx: also divide by (source layer index + 1)
    int bos_id, eos_id;  // -1 when absent
} gpt2_config;

// Per-layer shapes (llama.cpp's hparams.n_head(il) idea: a uniform model answers the same
// for every layer).
static inline int gpt2_n_head(const gpt2_config *c, int l) { return c->n_head_arr[l]; }
static inline int gpt2_n_ff(const gpt2_config *c, int l) { return c->n_ff_arr[l]; }
static inline int gpt2_rank(const gpt2_config *c, int l, int k) { return c->rank_arr[l][k]; }
// Width of layer l's attention: each of q, k, v and the input of attn_output (NH_l·HS).
static inline int gpt2_attn_width(const gpt2_config *c, int l) { return c->n_head_arr[l] * c->head_dim; }
// Output and input sizes of linear k (GPT2_LIN_*) of layer l, as a dense matrix.
void gpt2_linear_dims(const gpt2_config *c, int l, int k, int *out, int *in);
// The widest of every layer's attention, MLP and rank (scratch is sized by it).
int gpt2_max_attn_width(const gpt2_config *c);
int gpt2_max_ff(const gpt2_config *c);
int gpt2_max_rank(const gpt2_config *c);
// 1 when every layer has all its heads (n_embd / head_dim of them) and the same MLP width,
// and no linear is factorized: the shape llama.cpp's gpt2 graph and HF's GPT2Config (without
// pruned_heads) express. Layers may have been dropped (src_layer) all the same.
int gpt2_config_is_uniform(const gpt2_config *c);
// The attention score scale of layer l: 1/sqrt(HS) (if scale_attn), / (source layer + 1)
// (if scale_by_layer).
float gpt2_attn_scale(const gpt2_config *c, int l);

// A uniform GPT-2 of the given sizes with GPT-2's defaults (tied head, tanh GELU, eps 1e-5,
// 1/sqrt(HS) scaling, no bos/eos); validate before use.
void gpt2_config_init(gpt2_config *c, int vocab_size, int n_ctx, int n_embd, int n_layer, int n_head, int n_ff);
// Fills the per-layer arrays of a uniform model of c->n_layer layers: n_head heads of
// n_embd / n_head, MLP width n_ff, dense, layers in order (entries past n_layer zero).
// The other fields are the caller's.
void gpt2_config_set_uniform(gpt2_config *c, int n_head, int n_ff);
// Parses an HF GPT-2 config.json (pruned_heads included: layer -> original heads removed,
// which must be consistent with the head count). `path` names the file in error messages.
// removed (optional): per layer l and original head h, removed[l * (n_embd / head_dim) + h]
// = 1 when config.json prunes it (*removed malloc'd, NULL when nothing is pruned).
int gpt2_config_parse(gpt2_config *cfg, const char *json_text, size_t len, const char *path, uint8_t **removed);
// Checks sizes for sanity (positive where they must be, per-layer shapes within the
// original's, no overflow).
int gpt2_config_validate(const gpt2_config *cfg, const char *path);

// --- the tensor table: every tensor declared once (tensors.c)
// Table order is the GGUF converter's file order, and the fp32 arena's: each entry's
// tensors for every layer, one entry after the other (llm.c's layout), so AdamW, the
// checkpoint and the gradients see one flat array. A linear's matrix is either the dense
// .weight or the two factors _a (A) and _b (B), never both.
typedef enum {
    GPT2_T_TOKEN_EMBD, GPT2_T_POS_EMBD,
    GPT2_T_ATTN_NORM, GPT2_T_ATTN_NORM_B,
    GPT2_T_QKV, GPT2_T_QKV_A, GPT2_T_QKV_B, GPT2_T_QKV_BIAS,
    GPT2_T_OUT, GPT2_T_OUT_A, GPT2_T_OUT_B, GPT2_T_OUT_BIAS,
    GPT2_T_FFN_NORM, GPT2_T_FFN_NORM_B,
    GPT2_T_UP, GPT2_T_UP_A, GPT2_T_UP_B, GPT2_T_UP_BIAS,
    GPT2_T_DOWN, GPT2_T_DOWN_A, GPT2_T_DOWN_B, GPT2_T_DOWN_BIAS,
    GPT2_T_OUTPUT_NORM, GPT2_T_OUTPUT_NORM_B,
    GPT2_T_OUTPUT,
    GPT2_T_COUNT
} gpt2_tensor_id;

typedef enum {
    GPT2_KIND_MATRIX,  // a weight matrix: stored in any type, quantized by plans, decayed by AdamW
    GPT2_KIND_TABLE,   // the position embedding: fp32, decayed, read by row
    GPT2_KIND_VECTOR,  // LayerNorm parameters and biases: fp32, never decayed
} gpt2_tensor_kind;

typedef enum { GPT2_INIT_NORMAL, GPT2_INIT_RESID, GPT2_INIT_ONES, GPT2_INIT_ZEROS } gpt2_init_kind;

typedef struct gpt2_tensor_info {
    const char *gguf;     // GGUF name; "%d" = layer index
    const char *hf;       // HF name without "transformer."
    int per_layer;
    gpt2_tensor_kind kind;
    int hf_transpose;     // HF stores it as Conv1D (in, out)
    gpt2_init_kind init;  // GPT-2's initialisation (Radford et al. 2019)
    size_t slot;          // offsetof its field in gpt2_layer (per layer) or gpt2_model
} gpt2_tensor_info;

extern const gpt2_tensor_info gpt2_tensors[GPT2_T_COUNT];

// Whether tensor id exists in layer l (l ignored for model-wide ones), and its out-major
// shape: rows × cols for matrices and tables, 1 × n for vectors.
int gpt2_tensor_shape(const gpt2_config *c, int id, int l, int64_t *rows, int64_t *cols);
// Its shape as a Hugging Face checkpoint stores it: [n] for vectors, [rows, cols] for
// matrices and tables, Conv1D ones transposed ([in, out]). Returns the number of dimensions.
int gpt2_tensor_hf_shape(const gpt2_config *c, int id, int l, int64_t dims[2]);
// Its name in GGUF or HF spelling (HF without "transformer.").
void gpt2_tensor_name(int id, int l, int hf, char *out, size_t cap);
// Parameters of the architecture: every tensor's elements (a tied head counted once).
size_t gpt2_param_count(const gpt2_config *c);
// A parameter budget: "N" parameters, or "X%" of total; at least 1. ERR_ARG names `what`
// (e.g. "prune: --target-params") when it is not below total.
int gpt2_parse_param_budget(const char *s, size_t total, const char *what, size_t *out);

// --- the weights
// A weight matrix as the forward pass reads it: rows output channels, each row's cols
// inputs contiguous, stored as type.
typedef struct wmat {
    qtype type;
    int rows, cols;
    const void *data;
} wmat;

typedef struct gpt2_linear {
    wmat w;       // dense: W (out, in). Low-rank: A (rank, in), the factor applied first
    wmat w2;      // low-rank: B (out, rank), so y = B·(A·x) + bias; rows = 0 when dense
    float *bias;  // (out)
} gpt2_linear;

typedef struct gpt2_layer {
    float *ln_1_w, *ln_1_b;         // (C) before attention
    float *ln_2_w, *ln_2_b;         // (C) before the MLP
    gpt2_linear lin[GPT2_LINEARS];  // attn_qkv (3W, C), rows [q | k | v], head h of each owns rows
                                    // h·HS..(h+1)·HS-1 (W = NH_l·HS); attn_output (C, W);
                                    // ffn_up (F_l, C); ffn_down (C, F_l)
} gpt2_layer;

typedef struct gpt2_model {
    gpt2_config cfg;
    gpt2_layer *layers;  // (L)
    wmat embd;           // (V, C) token embedding rows
    wmat head;           // (V, C) LM head: the same data as embd when tied and stored alike
    float *wpe;          // (n_ctx, C) position embedding
    float *ln_f_w, *ln_f_b;  // (C)
    float *params;       // the fp32 arena (xmalloc_weights): every fp32 tensor, table order
    size_t n_floats;     // its size
    void *mat_store;     // matrices stored in other types (NULL while every matrix is fp32)
    uint8_t *removed_heads;  // (L, n_embd / head_dim): 1 = that original head is pruned; NULL: none
    // What the checkpoint held, for `info`.
    size_t file_bytes;               // bytes of the weight file(s)
    size_t dtype_params[DTYPE_COUNT];// stored parameters per dtype (unique, buffers excluded)
    size_t qtype_params[32];         // GGUF: stored parameters per ggml type (output.weight included)
    char *source;                    // path it was loaded from
    // How a compressed model was made: GGUF keys shrink.quantize.* (NULL/0 when unknown).
    char *quant_method;              // "gptq", ...
    char *calib_file;                // the calibration text's file name
    uint64_t calib_fnv;              // FNV-1a 64 of its bytes (core/hash.h)
    long calib_tokens;               // tokens of it used
} gpt2_model;

// The field of tensor id of layer l: a wmat (GPT2_KIND_MATRIX) or a float * (the others).
wmat *gpt2_tensor_mat(gpt2_model *m, int id, int l);
float **gpt2_tensor_vec(gpt2_model *m, int id, int l);

// Allocates the fp32 arena for cfg (contents undefined), points every tensor at it and
// sets the views; the LM head is token_embd when cfg->tied.
void gpt2_model_alloc(gpt2_model *m, const gpt2_config *cfg);
// The same, but the arena holds only the fp32 tensors that are not matrices; the matrix
// views are left empty for the caller to point into storage of its own (mat_store).
void gpt2_model_alloc_vectors(gpt2_model *m, const gpt2_config *cfg);
// 1 when every matrix is fp32 in the arena (what training and the compressors start from).
int gpt2_model_is_f32(const gpt2_model *m);
// GPT-2's initialisation, deterministic for a seed: N(0, 0.02) weights, residual projections
// scaled by 1/sqrt(2·L), zero biases, LayerNorm 1/0.
void gpt2_model_init_random(gpt2_model *m, const gpt2_config *cfg, uint64_t seed);
void gpt2_model_free(gpt2_model *m);
// dst = an fp32 model's copy: shape, weights, removed heads and source (the file facts are
// not copied).
void gpt2_model_clone(gpt2_model *dst, const gpt2_model *m);

// --- the matrices, in plan order
// Every stored matrix has an index: each layer's linears in order, each linear's w then
// (low-rank) w2; then token_embd (n - 2) and output (n - 1). Compression plans, importance
// vectors and calibration statistics are arrays in this order.
int gpt2_n_mats(const gpt2_config *c);
int gpt2_mat_index(const gpt2_config *c, int l, int k, int factor);  // factor 0: w, 1: w2
// Which layer, linear and factor matrix i is (l = n_layer for token_embd and output).
void gpt2_mat_locate(const gpt2_config *c, int i, int *l, int *k, int *factor);
// Its shape (rows, cols) and GGUF-style name without ".weight" ("blk.3.ffn_down",
// "blk.3.ffn_down_a", "token_embd", "output").
void gpt2_mat_dims(const gpt2_config *c, int i, int *rows, int *cols);
void gpt2_mat_name(const gpt2_config *c, int i, char *out, size_t cap);
wmat *gpt2_mat(gpt2_model *m, int i);
static inline int gpt2_mat_embd(const gpt2_config *c) { return gpt2_n_mats(c) - 2; }
static inline int gpt2_mat_head(const gpt2_config *c) { return gpt2_n_mats(c) - 1; }

// --- storage types
// A storage type for every matrix, in plan order.
typedef struct gpt2_plan {
    qtype *types;
    int n;
} gpt2_plan;
void gpt2_plan_uniform(gpt2_plan *p, const gpt2_config *c, qtype t);  // every matrix t
void gpt2_plan_free(gpt2_plan *p);

// Stores each matrix of the fp32 model as its plan type (round to nearest with ggml's scale
// searches), dropping the fp32 copies; vectors and wpe stay fp32. imatrix (optional, plan
// order): an importance vector over each matrix's input columns, or NULL entries. encoded
// (optional, plan order): a matrix whose entry is non-NULL takes those bytes (rows × the
// type's row bytes, e.g. from GPTQ) instead. The LM head gets storage of its own unless it
// is tied and stored exactly as token_embd. Returns ERR_ARG if the model is not all fp32 or
// a type cannot hold a matrix's rows.
int gpt2_model_quantize(gpt2_model *m, const gpt2_plan *plan, const float *const *imatrix, const void *const *encoded);
// The same, calling tick(done, total, user) from the calling thread as it goes, in thousands
// of weights, and once at the end with done = total (for a progress line: the step takes
// seconds at GPT-2-XL's size).
typedef void (*gpt2_tick_fn)(int done, int total, void *user);
int gpt2_model_quantize_progress(gpt2_model *m, const gpt2_plan *plan, const float *const *imatrix,
                                 const void *const *encoded, gpt2_tick_fn tick, void *user);
// The same with every matrix stored as t.
int gpt2_model_convert(gpt2_model *m, qtype t);

// --- inference
// Per-sequence state: KV cache plus scratch for up to max_tokens positions per call.
typedef struct gpt2_state {
    int max_tokens;      // most tokens one gpt2_forward call may take
    int n_past;          // positions already in the KV cache
    float *kv;           // per layer l: keys (n_ctx, W_l) then values (n_ctx, W_l), at kv_off[l]
    size_t *kv_off;      // (L)
    float *x;            // (T, C) residual stream
    float *xn;           // (T, C) LayerNorm output
    float *qkv;          // (T, 3·max W)
    float *att;          // (T, max W) attention output before the projection
    float *scores;       // (scores_workers, scores_stride) attention scores per thread
    float *fc;           // (T, max F)
    float *lowrank;      // (T, max rank) a factorized linear's A·x
    float *logits;       // (T, V) logits (only row 0 used when all_logits == 0)
    void *xq;            // max_tokens activation rows in Q8_0, or one in Q8_K (quantized matmuls)
    float *trace;        // optional, caller-owned (L+2, T, C): embeddings, each block, after ln_f
    int scores_stride;   // floats per thread in scores
    int scores_workers;  // threads scores has room for (pool_width() at init)
    // Optional, caller-set (calibration): hook sees every matrix's input before its matmul,
    // with the matrix's plan index (gpt2_mat_index; the LM head's is gpt2_mat_head); with
    // stop_after > 0 the pass ends after that many blocks (no logits, n_past unchanged, x
    // holds the residual stream); with start_layer > 0 it skips the embeddings and the
    // blocks before start_layer, taking x (T, C) as that block's input.
    void (*hook)(void *user, int mat, const float *in, int T, int cols);
    void *hook_user;
    int stop_after, start_layer;
} gpt2_state;

int gpt2_state_init(gpt2_state *s, const gpt2_model *m, int max_tokens);
void gpt2_state_free(gpt2_state *s);
static inline void gpt2_state_reset(gpt2_state *s) { s->n_past = 0; }

// Runs T tokens at positions n_past .. n_past+T-1 (T ≤ max_tokens, n_past+T ≤ n_ctx),
// appending their keys and values to the cache. Writes logits for every position
// into s->logits (T, V) when all_logits, else only the last position's into row 0.
void gpt2_forward(const gpt2_model *m, gpt2_state *s, const int *tokens, int T, int all_logits);
