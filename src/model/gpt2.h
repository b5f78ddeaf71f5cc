// gpt2.h: the GPT-2 model: config, weights, loading, and the inference forward pass.
//
// Weights are held in fp32, out-major: every linear layer's matrix is (OC, C) so
// a row is one output channel (HF Conv1D stores (C, OC); it is transposed once at
// load). Memory is planned from the config and carved from one allocation.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "../core/dtype.h"
#include "../kernels/qtype.h"

typedef struct gpt2_config {
    int vocab_size;   // V
    int n_ctx;        // maximum sequence length (HF n_positions)
    int n_embd;       // C
    int n_layer;      // L
    int n_head;       // NH
    int n_inner;      // F, the MLP width (HF n_inner; null means 4·C)
    float ln_eps;     // LayerNorm epsilon (HF layer_norm_epsilon)
    int gelu_exact;   // 1: erf GELU ("gelu"); 0: tanh approximation ("gelu_new", GPT-2's)
    int scale_attn;   // HF scale_attn_weights: divide scores by sqrt(HS)
    int scale_by_layer;  // HF scale_attn_by_inverse_layer_idx: also divide by (layer index + 1)
    int bos_id, eos_id;  // -1 when absent
} gpt2_config;

// Parses an HF GPT-2 config.json. `path` names the file in error messages.
int gpt2_config_parse(gpt2_config *cfg, const char *json_text, size_t len, const char *path);
// Checks sizes for sanity (positive, n_embd % n_head == 0, no overflow).
int gpt2_config_validate(const gpt2_config *cfg, const char *path);

// --- parameters
enum {
    GPT2_WTE, GPT2_WPE, GPT2_LN1_W, GPT2_LN1_B, GPT2_QKV_W, GPT2_QKV_B, GPT2_PROJ_W, GPT2_PROJ_B,
    GPT2_LN2_W, GPT2_LN2_B, GPT2_FC_W, GPT2_FC_B, GPT2_FCPROJ_W, GPT2_FCPROJ_B, GPT2_LNF_W, GPT2_LNF_B,
    GPT2_NUM_PARAMS
};

typedef struct gpt2_weights {
    float *wte;         // (V, C) token embedding; also the LM head when tied
    float *wpe;         // (n_ctx, C)
    float *ln_1_w;      // (L, C)
    float *ln_1_b;      // (L, C)
    float *attn_qkv_w;  // (L, 3C, C) rows: [q | k | v], head h owns rows h*HS..(h+1)*HS-1 of each
    float *attn_qkv_b;  // (L, 3C)
    float *attn_proj_w; // (L, C, C)
    float *attn_proj_b; // (L, C)
    float *ln_2_w;      // (L, C)
    float *ln_2_b;      // (L, C)
    float *mlp_fc_w;    // (L, F, C)
    float *mlp_fc_b;    // (L, F)
    float *mlp_proj_w;  // (L, C, F)
    float *mlp_proj_b;  // (L, C)
    float *ln_f_w;      // (C)
    float *ln_f_b;      // (C)
} gpt2_weights;

// Number of floats in each parameter tensor, in the enum's order.
void gpt2_param_sizes(const gpt2_config *cfg, size_t sizes[GPT2_NUM_PARAMS]);

// A weight matrix as inference reads it: rows output channels, each row's cols
// inputs contiguous (out-major), stored as type (F32, F16, later quantized blocks).
typedef struct wmat {
    qtype type;
    int rows, cols;
    const void *data;
} wmat;

enum { GPT2_MAT_QKV, GPT2_MAT_PROJ, GPT2_MAT_FC, GPT2_MAT_FCPROJ, GPT2_MATS_PER_LAYER };

typedef struct gpt2_model {
    gpt2_config cfg;
    gpt2_weights w;      // fp32 tensors; the matrices (wte, *_w) are NULL once stored as another type
    float *params;       // one allocation holding every fp32 tensor of w
    size_t n_params;     // unique parameters (tied head counted once)
    float *lm_head;      // (V, C) fp32: == w.wte when tied, else its own allocation; NULL when converted
    int tied;            // 1 when the LM head is wte
    // What the forward pass reads: views into params, or into typed storage.
    wmat *mats;          // (L, GPT2_MATS_PER_LAYER)
    wmat embd;           // (V, C) token embedding rows
    wmat head;           // (V, C) LM head (same data as embd when tied)
    void *mat_store;     // owned storage of typed matrices (NULL while all are fp32)
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

// Allocates fp32 weights for cfg (contents undefined; LM head tied to wte) and
// points the matrix views at them.
void gpt2_model_alloc(gpt2_model *m, const gpt2_config *cfg);
// Allocates fp32 vectors (LayerNorms, biases, wpe) only, for a model whose matrices
// live in typed storage the caller fills (mats, embd, head, mat_store); n_params
// counts the tied architecture.
void gpt2_model_alloc_typed(gpt2_model *m, const gpt2_config *cfg);
// 1 for the parameters stored as weight matrices (wte and the four per-layer ones).
int gpt2_param_is_matrix(int p);
// (Re)points mats/embd/head at the fp32 tensors (after lm_head changes, say).
void gpt2_model_set_f32_views(gpt2_model *m);
// Storage types for every weight matrix: mats (L, GPT2_MATS_PER_LAYER) in the mats
// order, the token embedding, and the LM head.
typedef struct gpt2_plan {
    qtype *mats;
    qtype embd, head;
} gpt2_plan;
void gpt2_plan_uniform(gpt2_plan *p, const gpt2_config *c, qtype t);  // every matrix t
void gpt2_plan_free(gpt2_plan *p);

// Stores each weight matrix as its plan type (round to nearest with ggml's scale
// searches), dropping the fp32 copies of the matrices; vectors and wpe stay fp32.
// imatrix (optional): per matrix, in the plan's order (mats, embd, head), an
// importance vector over its input columns, or NULL entries. Returns ERR_ARG if the
// model is already converted or a type cannot hold its matrix's rows.
int gpt2_model_quantize(gpt2_model *m, const gpt2_plan *plan, const float *const *imatrix);
// The same, but a matrix whose encoded entry (plan order) is non-NULL takes those bytes
// (rows × the type's row bytes, e.g. from GPTQ) instead of being rounded to nearest.
int gpt2_model_quantize_with(gpt2_model *m, const gpt2_plan *plan, const float *const *imatrix,
                             const void *const *encoded);
// The same with every matrix stored as t.
int gpt2_model_convert(gpt2_model *m, qtype t);
// Pointers to the fields of w in the GPT2_* enum order.
void gpt2_param_slots(gpt2_weights *w, float **slot[GPT2_NUM_PARAMS]);
// GPT-2's initialisation, deterministic for a seed.
void gpt2_model_init_random(gpt2_model *m, const gpt2_config *cfg, uint64_t seed);

// Loads config.json and model.safetensors (or a sharded model.safetensors.index.json)
// from an HF directory. Returns 0 or a negative ERR_* with a message naming the file.
int gpt2_model_load(gpt2_model *m, const char *dir);
void gpt2_model_free(gpt2_model *m);

// Writes an HF directory: config.json and model.safetensors (HF names and Conv1D
// layouts; F32, or F16 when f16), each atomically. When tok_dir is given its
// vocab.json and merges.txt are copied too. Creates dir if needed.
int gpt2_model_save_hf(const gpt2_model *m, const char *dir, const char *tok_dir, int f16);

// --- GGUF files (llama.cpp's gpt2 layout; gpt2_gguf.c)
// Writes m to path as a GGUF llama.cpp can load: F32 everywhere (f16 = 0, general.file_type 0),
// or F16 2-D tensors with F32 norms and biases (f16 = 1, general.file_type 1), keys and tensor
// names as llama.cpp's convert_hf_to_gguf.py writes them, output.weight always present (llama.cpp
// requires it; a copy of token_embd when tied). tok_dir names a directory holding the model's
// vocab.json and merges.txt, whose bytes_to_unicode token strings and "a b" merges become
// tokenizer.ggml.*; NULL writes no tokenizer (llama.cpp then cannot run the file).
// The model's matrices may be fp32 or stored as F16 (gpt2_model_convert): those already in the
// file's type are written without a copy, the others converted (wpe and vectors are fp32 in m).
// Refuses (ERR_ARG) configs llama.cpp's gpt2 graph cannot express (erf GELU, other attention
// scaling) and matrices stored in other types.
// Returns 0, ERR_ARG, ERR_IO, or ERR_FORMAT/ERR_SHAPE for a bad vocab.json/merges.txt; the file
// is written atomically (path.tmp + rename), so nothing is left at path on failure.
// f16: 0 writes the matrices as F32, 1 as F16, GPT2_GGUF_STORED in the types they are
// stored in (quantized models; output.weight then holds the head's own encoding).
enum { GPT2_GGUF_STORED = 2 };
int gpt2_model_save_gguf(const gpt2_model *m, const char *tok_dir, const char *path, int f16);

// Loads an F32/F16 gpt2 GGUF (ours or llama.cpp's) into the same fp32 model gpt2_model_load
// builds: cfg from the gpt2.* keys (vocab size from token_embd, bos/eos from tokenizer.ggml.* when
// present, tanh GELU and 1/sqrt(HS) scaling as llama.cpp computes), weights converted to fp32,
// output.weight equal to token_embd (or absent) means tied. Quantized tensors are refused by
// name. Returns 0, ERR_IO, ERR_FORMAT or ERR_SHAPE (message names the file); on error *m is
// zeroed and nothing needs freeing. m->source is path.
int gpt2_model_load_gguf(gpt2_model *m, const char *path);
// Loads the GPT-2 BPE tokenizer a GGUF file carries (tokenizer.ggml.tokens and .merges).
typedef struct bpe bpe;
int gpt2_tokenizer_load_gguf(const char *path, bpe **out);

// --- inference
// Per-sequence state: KV cache plus scratch for up to max_tokens positions per call.
typedef struct gpt2_state {
    int max_tokens;      // most tokens one gpt2_forward call may take
    int n_past;          // positions already in the KV cache
    float *k_cache;      // (L, n_ctx, C)
    float *v_cache;      // (L, n_ctx, C)
    float *x;            // (T, C) residual stream
    float *xn;           // (T, C) LayerNorm output
    float *qkv;          // (T, 3C)
    float *att;          // (T, C) attention output before the projection
    float *scores;       // (threads, n_ctx) attention scores per thread
    float *fc;           // (T, F)
    float *logits;       // (T, V) logits (only row 0 used when all_logits == 0)
    void *xq;            // max_tokens activation rows in Q8_0, or one in Q8_K (quantized matmuls)
    float *trace;        // optional, caller-owned (L+2, T, C): embeddings, each block, after ln_f
    int scores_stride;   // floats per thread in scores
    // Optional, caller-set (calibration): hook sees every linear layer's input before its
    // matmul, as (layer, GPT2_MAT_*) or (n_layer, GPT2_HOOK_HEAD) for the LM head; with
    // stop_after > 0 the pass ends after that many blocks (no logits, n_past unchanged,
    // x holds the residual stream); with start_layer > 0 it skips the embeddings and
    // the blocks before start_layer, taking x (T, C) as that block's input.
    void (*hook)(void *user, int layer, int mat, const float *in, int T, int cols);
    void *hook_user;
    int stop_after, start_layer;
} gpt2_state;
enum { GPT2_HOOK_HEAD = 0 };

int gpt2_state_init(gpt2_state *s, const gpt2_model *m, int max_tokens);
void gpt2_state_free(gpt2_state *s);
static inline void gpt2_state_reset(gpt2_state *s) { s->n_past = 0; }

// Runs T tokens at positions n_past .. n_past+T-1 (T ≤ max_tokens, n_past+T ≤ n_ctx),
// appending their keys and values to the cache. Writes logits for every position
// into s->logits (T, V) when all_logits, else only the last position's into row 0.
void gpt2_forward(const gpt2_model *m, gpt2_state *s, const int *tokens, int T, int all_logits);
