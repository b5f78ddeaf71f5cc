// json.h: a small strict JSON (RFC 8259) parser into a tree.
//
// Used for config.json, vocab.json, safetensors headers and index files.
// Strings are decoded to UTF-8 (\uXXXX escapes and surrogate pairs included)
// and may contain NUL bytes, so each carries its byte length. Object members
// keep file order; duplicate keys are rejected. Nesting is limited to 64.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "../core/sbuf.h"

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    int boolean;      // JSON_BOOL
    double number;    // JSON_NUMBER
    int is_int;       // JSON_NUMBER written without fraction/exponent and fits int64
    int64_t integer;  // JSON_NUMBER when is_int
    char *str;        // JSON_STRING: NUL-terminated UTF-8 (may hold inner NULs)
    size_t len;       // JSON_STRING: bytes; JSON_ARRAY/OBJECT: number of items
    json_value *items;  // JSON_ARRAY/OBJECT: len values
    char **keys;        // JSON_OBJECT: len keys (NUL-terminated UTF-8)
    size_t *key_lens;   // JSON_OBJECT: byte length of each key
};

// Parses text[0..len) into *out. `what` names the source in error messages
// (usually the file path). Returns 0 or ERR_FORMAT with "what: line L: ...".
int json_parse(json_value *out, const char *text, size_t len, const char *what);
void json_free(json_value *v);  // frees children; safe on a zeroed value

// Member lookup in an object (NULL if v is not an object or key is absent).
const json_value *json_get(const json_value *obj, const char *key);

// Appends s[0..n) to b as a JSON string literal: quotes; '"' and '\\' escaped; \n, \t, \r
// and other control bytes as escapes; other bytes (UTF-8) as they are.
void json_put_string(sbuf *b, const char *s, size_t n);
