// strmap.c: open-addressing string -> int map (see strmap.h).
#include "strmap.h"
#include "hash.h"
#include "xalloc.h"
#include <stdlib.h>
#include <string.h>

static size_t slot_of(const strmap *m, const char *key, size_t len) {
    uint64_t h = fnv1a64(key, len);
    return (size_t)(h ^ (h >> 29)) & m->mask;
}

static void rehash(strmap *m, size_t cap) {
    strmap_slot *old = m->slots;
    size_t old_cap = old ? m->mask + 1 : 0;
    m->slots = xcalloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].key) continue;
        size_t s = slot_of(m, old[i].key, old[i].len);
        while (m->slots[s].key) s = (s + 1) & m->mask;
        m->slots[s] = old[i];
    }
    free(old);
}

void strmap_init(strmap *m, size_t expect) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap / 2 < expect && cap < ((size_t)1 << 62)) cap *= 2;
    rehash(m, cap);
}

void strmap_free(strmap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

int strmap_put(strmap *m, const char *key, size_t len, int value) {
    if (!m->slots) strmap_init(m, 0);
    if (2 * (m->n + 1) > m->mask + 1) rehash(m, 2 * (m->mask + 1));
    size_t s = slot_of(m, key, len);
    for (; m->slots[s].key; s = (s + 1) & m->mask)
        if (m->slots[s].len == len && memcmp(m->slots[s].key, key, len) == 0) return m->slots[s].value;
    m->slots[s] = (strmap_slot){key, len, value};
    m->n++;
    return -1;
}

int strmap_get(const strmap *m, const char *key, size_t len) {
    if (!m->slots) return -1;
    for (size_t s = slot_of(m, key, len); m->slots[s].key; s = (s + 1) & m->mask)
        if (m->slots[s].len == len && memcmp(m->slots[s].key, key, len) == 0) return m->slots[s].value;
    return -1;
}
