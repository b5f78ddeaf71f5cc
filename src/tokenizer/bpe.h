// bpe.h: GPT-2's byte-level BPE tokenizer (OpenAI's encoder.py, reproduced id for id).
//
// Loads a vocab.json (token string -> id) and merges.txt (ranked pairs) of any size, in the
// GPT-2 format: token strings are written in encoder.py's bytes_to_unicode alphabet, one
// printable character per byte. Text is split by GPT-2's pre-tokenizer (pretokenize.h), each
// piece is turned into bytes and merged by rank exactly as encoder.py's bpe() does (lowest-rank
// pair first, all its occurrences left to right), and the symbols are looked up in the vocab.
// There are no special tokens: "<|endoftext|>" inside text is encoded as plain text, as
// encoder.py does; use bpe_eot() to get its id and append it yourself.
//
// A loaded tokenizer is read-only, so one may be shared by threads.
#pragma once
#include <stddef.h>

typedef struct bpe bpe;

// Loads vocab.json and merges.txt into a new tokenizer (*out; free with bpe_free).
// vocab.json must be a JSON object of string -> integer id, the ids exactly 0..n-1 each once,
// every token string made of bytes_to_unicode characters (not empty), and the 256 one-byte
// tokens all present. merges.txt may start with a "#version" line; every other non-empty line
// (a trailing '\r' is ignored) is two symbols separated by one space, and both symbols and
// their concatenation must be vocab tokens. Rank is the order of the lines; a pair listed
// twice keeps its last rank (as encoder.py's dict does).
// Returns 0, ERR_IO (cannot read a file) or ERR_FORMAT (malformed file, or "vocab and merges
// disagree"); the recorded message names the file and the problem. *out is NULL on error.
int bpe_load(bpe **out, const char *vocab_path, const char *merges_path);
// The same from the two files' contents in memory (a GGUF file carries them as arrays);
// the *_what names appear in error messages.
int bpe_load_text(bpe **out, const char *vocab_json, size_t vocab_len, const char *vocab_what, const char *merges_txt,
                  size_t merges_len, const char *merges_what);
void bpe_free(bpe *t);  // NULL-safe

int bpe_vocab_size(const bpe *t);  // V, the number of tokens (ids are 0..V-1)
int bpe_merge_count(const bpe *t); // number of merge lines read
int bpe_eot(const bpe *t);         // id of "<|endoftext|>", or -1 if the vocab lacks it

// Encodes len bytes of UTF-8 text (may contain NUL bytes; invalid UTF-8 is encoded byte by byte,
// see pretokenize.h) as plain text. *ids is malloc'd (never NULL on success; caller frees), with
// *n_ids ids (at most len). Returns 0, or ERR_RANGE if len >= 2^31 (nothing allocated then).
int bpe_encode(const bpe *t, const char *text, size_t len, int **ids, size_t *n_ids);

// Decodes n ids to bytes: *out is malloc'd and NUL-terminated (caller frees), holding *out_len
// bytes (which may include NULs or be invalid UTF-8 when a token sequence is cut mid-character).
// Returns 0, or ERR_RANGE naming the first id outside [0, V) (then *out is NULL).
int bpe_decode(const bpe *t, const int *ids, size_t n, char **out, size_t *out_len);

// The bytes of one token, for streaming output: returns a pointer into the tokenizer (valid
// until bpe_free, not NUL-terminated) and sets *len, or returns NULL (and *len = 0) if id is
// outside [0, V).
const char *bpe_token_bytes(const bpe *t, int id, size_t *len);

// The id of the token whose bytes are s[0..len) (raw bytes, not the bytes_to_unicode
// spelling), or -1 if there is none.
int bpe_token_id(const bpe *t, const char *s, size_t len);
