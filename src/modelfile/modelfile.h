// modelfile.h: GPT-2 models to and from files: Hugging Face directories (config.json +
// safetensors) and GGUF files in llama.cpp's gpt2 layout, and the tokenizer a GGUF carries.
// Every function here walks the model's tensor table (model/gpt2.h); errors return a
// negative ERR_* with a message naming the file, and writers write atomically.
#pragma once
#include "../model/gpt2.h"

// --- either kind of path (gpt2_load.c): a regular file is a GGUF, anything else an HF directory
typedef struct bpe bpe;
int gpt2_path_is_gguf(const char *path);
int gpt2_load(gpt2_model *m, const char *path);
// The tokenizer that goes with the model at path: the one a GGUF carries, or the directory's
// vocab.json + merges.txt. When there is none: ERR_IO naming the path if required, else 0 and
// *tok NULL. A malformed one is always an error.
int gpt2_load_tokenizer(const char *path, int required, bpe **tok);

// --- Hugging Face directories (gpt2_hf_load.c, gpt2_hf_save.c)
// Loads config.json and model.safetensors (or a sharded model.safetensors.index.json):
// F32/F16/BF16 tensors, names with or without "transformer.", the causal-mask buffers
// skipped, lm_head.weight optional (absent or equal to wte: tied), head-pruned checkpoints
// as transformers saves them (config.pruned_heads and the pruned shapes). Every other
// tensor must be one the config implies, with its shape. On error *m is zeroed.
int gpt2_hf_load(gpt2_model *m, const char *dir);

// Writes an HF directory: config.json and model.safetensors (HF names and Conv1D
// layouts; F32, or F16 when f16), each atomically. When tok_dir is given its vocab.json
// and merges.txt are copied too. Creates dir if needed. Refuses (ERR_ARG) models stored
// in other types and shapes transformers cannot express (MLP widths that differ per
// layer, low-rank linears); pruned heads are written as config.pruned_heads.
int gpt2_hf_save(const gpt2_model *m, const char *dir, const char *tok_dir, int f16);

// --- GGUF files (gpt2_gguf_save.c, gpt2_gguf_load.c)
// Writes m to path as a GGUF llama.cpp can load: F32 everywhere (f16 = 0, general.file_type 0),
// or F16 2-D tensors with F32 norms and biases (f16 = 1, general.file_type 1), keys and tensor
// names as llama.cpp's convert_hf_to_gguf.py writes them, output.weight always present (llama.cpp
// requires it; a copy of token_embd when tied). tok_dir names a directory holding the model's
// vocab.json and merges.txt, whose bytes_to_unicode token strings and "a b" merges become
// tokenizer.ggml.*; NULL writes no tokenizer (llama.cpp then cannot run the file).
// f16: 0 writes the matrices as F32, 1 as F16 (those already in the file's type without a
// copy, the others converted), GPT2_GGUF_STORED in the types they are stored in (quantized
// models; output.weight then holds the head's own encoding).
// What llama.cpp's gpt2 graph cannot express (shapes that differ per layer, pruned heads,
// low-rank linears, erf GELU, other attention scaling) is written in shrink's "shrink-gpt2"
// layout (gpt2_gguf_arch says which; docs/format.md describes it), which llama.cpp does not run.
// Unless stored, matrices in block types are refused (ERR_ARG).
// Returns 0, ERR_ARG, ERR_IO, or ERR_FORMAT/ERR_SHAPE for a bad vocab.json/merges.txt.
enum { GPT2_GGUF_STORED = 2 };
int gpt2_gguf_save(const gpt2_model *m, const char *tok_dir, const char *path, int f16);
// "gpt2" when llama.cpp's gpt2 layout holds the config, else "shrink-gpt2".
const char *gpt2_gguf_arch(const gpt2_config *c);

// Loads a gpt2 GGUF (ours or llama.cpp's) or a shrink-gpt2 one: cfg from the gpt2.* keys (vocab size from
// token_embd, bos/eos from tokenizer.ggml.* when present, tanh GELU and 1/sqrt(HS) scaling
// as llama.cpp computes). An all-F32 file gives the fp32 model gpt2_hf_load builds; F16 and
// block-quantized matrices keep their stored bytes and run in their own types. output.weight
// equal to token_embd (or absent) is the tied head. shrink.quantize.* keys fill the model's
// provenance. Returns 0, ERR_IO, ERR_FORMAT or ERR_SHAPE (message names the file); on error
// *m is zeroed and nothing needs freeing. m->source is path.
int gpt2_gguf_load(gpt2_model *m, const char *path);
// Loads the GPT-2 BPE tokenizer a GGUF file carries (tokenizer.ggml.tokens and .merges).
int gpt2_gguf_load_tokenizer(const char *path, bpe **out);
