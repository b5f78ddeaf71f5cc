// limits.h: size limits of the small text files shrink reads whole. Each is far above any
// real file of its kind and is checked before the file is read; docs/reliability.md lists
// these with every other input limit (GGUF counts, safetensors header, JSON tree, vocab).
#pragma once
#include <stddef.h>

#define LIMIT_CONFIG_JSON_BYTES ((size_t)1 << 20)   // config.json
#define LIMIT_SHARD_INDEX_BYTES ((size_t)32 << 20)  // model.safetensors.index.json
#define LIMIT_VOCAB_JSON_BYTES ((size_t)64 << 20)   // vocab.json
#define LIMIT_MERGES_TXT_BYTES ((size_t)64 << 20)   // merges.txt
