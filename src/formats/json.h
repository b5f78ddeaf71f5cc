// json.h: a small strict JSON (RFC 8259) parser into a tree.
//
// Used for config.json, vocab.json, safetensors headers and index files.
// Strings are decoded to UTF-8 (\uXXXX escapes and surrogate pairs included)
// and may contain NUL bytes, so each carries its byte length. Object members
// keep file order; duplicate keys are rejected. Nesting is limited to JSON_MAX_DEPTH.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "../core/sbuf.h"

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
typedef struct json_arena json_arena;
struct json_value {
    json_type type;
    unsigned char boolean;  // JSON_BOOL
    unsigned char is_int;   // JSON_NUMBER written without fraction/exponent and fits int64
    size_t len;             // JSON_STRING: bytes; JSON_ARRAY/OBJECT: number of items
    union {
        struct {
            double number;    // JSON_NUMBER
            int64_t integer;  // JSON_NUMBER when is_int
        };
        char *str;  // JSON_STRING: NUL-terminated UTF-8 (may hold inner NULs)
        struct {
            json_value *items;  // JSON_ARRAY/OBJECT: len values
            char **keys;        // JSON_OBJECT: len keys (NUL-terminated UTF-8)
            size_t *key_lens;   // JSON_OBJECT: byte length of each key
        };
    };
    json_arena *arena;  // the root of a parsed tree: where every node and string lives (NULL below it)
};

// --- memory
// A tree lives in one arena sized exactly (each container's children are counted before its
// array is allocated, strings take their decoded length), and json_parse refuses a text
// whose tree would take more than JSON_TREE_FACTOR times the text plus JSON_TREE_SLACK bytes,
// checked before each allocation. The densest text (numbers two bytes apart: one 48-byte
// node per 2 bytes) would need 24 times its size, so it is refused; what real files take is
// measured in docs/reliability.md.
#define JSON_TREE_FACTOR 16
#define JSON_TREE_SLACK ((size_t)64 << 10)
#define JSON_MAX_DEPTH 64

// Parses text[0..len) into *out. `what` names the source in error messages
// (usually the file path). Returns 0 or ERR_FORMAT with "what: line L: ..." (a tree
// over the memory budget: "what: ... more memory than the limit ..."). On error *out
// is zeroed.
int json_parse(json_value *out, const char *text, size_t len, const char *what);
// Frees a tree json_parse returned (its root only); safe on a zeroed value; leaves it zeroed.
void json_free(json_value *v);
// Bytes the tree rooted at v takes (its arena), 0 for a value json_parse did not return.
size_t json_tree_bytes(const json_value *v);

// 1-based line number of byte offset `at` in text[0..len).
int json_line_at(const char *text, size_t len, size_t at);

// Member lookup in an object (NULL if v is not an object or key is absent).
const json_value *json_get(const json_value *obj, const char *key);

// Appends s[0..n) to b as a JSON string literal: quotes; '"' and '\\' escaped; \n, \t, \r
// and other control bytes as escapes; other bytes (UTF-8) as they are.
void json_put_string(sbuf *b, const char *s, size_t n);

// --- streaming the members of a large object
// For a text whose top level is an object with many members (a safetensors header,
// vocab.json): calls fn(ctx, key, key_len, value) for each member in file order, where
// value is the member's tree, valid only during the call; memory is what one member
// takes, not the whole object. Each member (key and value) may take at most
// max_member_bytes. Duplicate keys are NOT detected here: the caller's own table must.
// *top receives the type of the top-level value, judged by its first character: when it
// is not JSON_OBJECT nothing more is parsed, fn is not called and 0 is returned (the
// caller says what it expected). Returns 0, ERR_FORMAT (invalid JSON, a member over the
// limit), or the first nonzero value fn returns (which stops the walk).
// `at` is the offset of the key's opening quote in text (for json_line_at).
typedef int (*json_member_fn)(void *ctx, const char *key, size_t key_len, const json_value *value, size_t at);
int json_parse_members(const char *text, size_t len, const char *what, size_t max_member_bytes, json_member_fn fn,
                       void *ctx, json_type *top);
