// strmap.h: a hash map from byte strings to int, for lookups by name in tables read from
// files (tensor names, shard names, duplicate keys) in O(1) instead of a scan per lookup.
//
// Open addressing with linear probing, load factor at most 1/2, FNV-1a hashes. Keys are
// borrowed, not copied: each key's bytes must stay valid and unchanged while it is in the
// map. Not thread-safe for writers; lookups on a map nobody modifies may run concurrently.
#pragma once
#include <stddef.h>

typedef struct strmap_slot {
    const char *key;  // NULL: empty
    size_t len;
    int value;
} strmap_slot;

typedef struct strmap {
    strmap_slot *slots;  // (mask + 1)
    size_t mask;
    size_t n;            // keys held
} strmap;

// An empty map with room for about `expect` keys before it grows (0 is fine).
void strmap_init(strmap *m, size_t expect);
void strmap_free(strmap *m);  // safe on a zeroed map; idempotent

// Inserts key -> value unless key is already there. Returns -1 if it was inserted, else the
// value already stored for key (the map is then unchanged).
int strmap_put(strmap *m, const char *key, size_t len, int value);
// The value stored for key, or -1.
int strmap_get(const strmap *m, const char *key, size_t len);
