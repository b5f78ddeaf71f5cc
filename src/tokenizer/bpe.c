// bpe.c: GPT-2 byte-level BPE: bytes_to_unicode, vocab/merges loading, encode and decode.
//
// Reproduces OpenAI's gpt-2 src/encoder.py (Radford et al. 2019; BPE after Sennrich et al. 2016).
// Tokens are kept as raw bytes (the bytes_to_unicode spelling is undone at load), so encoding
// never builds strings: a piece starts as one symbol per byte and pairs of ids are merged.
// Two open-addressing hash tables serve the hot path: token bytes -> id, and the pair
// (left id, right id) -> (rank, merged id). The merge loop uses a heap with the lowest-rank pair
// merged everywhere at once, which is encoder.py's order even for unusual merge files, in
// O(m log m) for a piece of m bytes. Each bpe_encode call keeps a cache of the pieces it has
// already encoded (keyed by their bytes, pointing into the text and the output), so repeated
// words cost one hash lookup and a copy. Special tokens are not recognised in text (as encoder.py).
#include "bpe.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/hash.h"
#include "core/limits.h"
#include "core/xalloc.h"
#include "formats/json.h"
#include "pretokenize.h"
#include <stdint.h>
#include <string.h>

#define BPE_MAX_TEXT ((size_t)INT32_MAX)  // bpe_encode limit: positions and counts fit int32
#define BPE_MAX_VOCAB (1 << 24)           // tokens: the models' vocab_size limit, far above any real vocab
#define BPE_ALPHABET 324                  // bytes_to_unicode uses code points below U+0144

struct bpe {
    int n_vocab;
    int n_merges;
    int eot;
    int byte_id[256];   // id of each one-byte token
    char *blob;         // all token bytes, back to back
    size_t *tok_off;    // (V+1): token i is blob[tok_off[i] .. tok_off[i+1])
    int32_t *tok_slot;  // (tok_mask+1): token id or -1; open addressing on the token bytes
    size_t tok_mask;
    uint64_t *pair_key;  // (pair_mask+1): left << 32 | right, or PAIR_EMPTY
    int32_t *pair_rank;  // merge rank (line order) of the pair in the same slot
    int32_t *pair_out;   // id of the merged token
    size_t pair_mask;
};

#define PAIR_EMPTY UINT64_MAX

// --- Hashing

static uint64_t hash_bytes(const uint8_t *s, size_t n) {  // FNV-1a, its high bits folded down
    uint64_t h = fnv1a64(s, n);
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x) {  // splitmix64 finalizer
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Smallest power of two >= 2*n (load factor <= 1/2), or 0 on overflow.
static size_t table_size(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) {
        if (cap > SIZE_MAX / 2) return 0;
        cap *= 2;
    }
    return cap;
}

static int tok_find(const bpe *t, const uint8_t *s, size_t n) {
    for (size_t i = hash_bytes(s, n) & t->tok_mask;; i = (i + 1) & t->tok_mask) {
        int32_t id = t->tok_slot[i];
        if (id < 0) return -1;
        size_t off = t->tok_off[id];
        if (t->tok_off[id + 1] - off == n && memcmp(t->blob + off, s, n) == 0) return id;
    }
}

// Returns the slot holding pair (a, b), or the empty slot where it would go.
static size_t pair_slot(const bpe *t, int a, int b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (size_t i = hash_u64(key) & t->pair_mask;; i = (i + 1) & t->pair_mask)
        if (t->pair_key[i] == key || t->pair_key[i] == PAIR_EMPTY) return i;
}

// Rank of pair (a, b) and its merged id in *out, or -1 if the pair does not merge.
static inline int pair_find(const bpe *t, int a, int b, int *out) {
    size_t i = pair_slot(t, a, b);
    if (t->pair_key[i] == PAIR_EMPTY) return -1;
    *out = t->pair_out[i];
    return t->pair_rank[i];
}

// --- bytes_to_unicode

// encoder.py's bytes_to_unicode: printable Latin-1 bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand
// for themselves; the other 68 bytes, in increasing order, become U+0100, U+0101, ...
static void bytes_to_unicode(uint32_t enc[256]) {
    uint32_t n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        enc[b] = printable ? (uint32_t)b : 256 + n++;
    }
}

// Inverse table: code point -> byte, or -1.
static void unicode_to_bytes(int dec[BPE_ALPHABET]) {
    uint32_t enc[256];
    bytes_to_unicode(enc);
    for (int i = 0; i < BPE_ALPHABET; i++) dec[i] = -1;
    for (int b = 0; b < 256; b++) dec[enc[b]] = b;
}

// Turns a token string in the bytes_to_unicode spelling (UTF-8, n bytes) into raw bytes in out
// (room for n). Returns the byte count, or -1 if some character is outside the alphabet.
static long spelling_to_bytes(const int dec[BPE_ALPHABET], const char *s, size_t n, uint8_t *out) {
    size_t i = 0, k = 0;
    while (i < n) {
        uint32_t cp;
        i += pretokenize_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        if (cp >= BPE_ALPHABET || dec[cp] < 0) return -1;
        out[k++] = (uint8_t)dec[cp];
    }
    return (long)k;
}

// --- Loading

void bpe_free(bpe *t) {
    if (!t) return;
    free(t->blob);
    free(t->tok_off);
    free(t->tok_slot);
    free(t->pair_key);
    free(t->pair_rank);
    free(t->pair_out);
    free(t);
}

// vocab.json is read member by member (json_parse_members): memory is the token strings and
// the tables, never a JSON tree of the whole file.
typedef struct {
    const char *path;
    char *keys;        // every token's spelling back to back, each NUL-terminated (for messages)
    size_t keys_len, keys_cap;
    size_t *key_off;   // (n + 1): spelling i is keys[key_off[i] .. key_off[i+1] - 1)
    int64_t *ids;      // (n): the id each spelling maps to, as written
    size_t n, cap;
} vocab_walk;

static int on_vocab_member(void *ctx, const char *key, size_t key_len, const json_value *v, size_t at) {
    (void)at;
    vocab_walk *w = ctx;
    if (v->type != JSON_NUMBER || !v->is_int)
        return err_set(ERR_FORMAT, "%s: token '%.64s' has a value that is not an integer id", w->path, key);
    if (w->n == BPE_MAX_VOCAB)
        return err_set(ERR_FORMAT, "%s: more than %d tokens (the limit)", w->path, BPE_MAX_VOCAB);
    if (w->n + 1 >= w->cap) {
        w->cap = w->cap ? 2 * w->cap : 1024;
        w->key_off = xrealloc(w->key_off, w->cap * sizeof *w->key_off);
        w->ids = xrealloc(w->ids, w->cap * sizeof *w->ids);
    }
    if (w->keys_len + key_len + 1 > w->keys_cap) {
        w->keys_cap = 2 * (w->keys_len + key_len + 1);
        w->keys = xrealloc(w->keys, w->keys_cap);
    }
    w->key_off[w->n] = w->keys_len;
    memcpy(w->keys + w->keys_len, key, key_len + 1);
    w->keys_len += key_len + 1;
    w->ids[w->n++] = v->integer;
    return 0;
}

// vocab.json's text (len bytes); path names it in messages.
static int load_vocab(bpe *t, const char *text, size_t len, const char *path, const int dec[BPE_ALPHABET]) {
    vocab_walk w = {path, NULL, 0, 0, NULL, NULL, 0, 0};
    json_type top;
    // A member is a token and a number: a larger one is not a vocabulary entry.
    int rc = json_parse_members(text, len, path, (size_t)64 << 10, on_vocab_member, &w, &top);
    if (!rc && (top != JSON_OBJECT || w.n == 0))
        rc = err_set(ERR_FORMAT, "%s: expected a non-empty JSON object of token -> id", path);
    if (rc) {
        free(w.keys), free(w.key_off), free(w.ids);
        return rc;
    }
    size_t n = w.n, total = w.keys_len;  // the decoded bytes are never longer than the spellings
    w.key_off[n] = w.keys_len;
#define KEY(i) (w.keys + w.key_off[i])
#define KEY_LEN(i) (w.key_off[(i) + 1] - w.key_off[i] - 1)
    t->n_vocab = (int)n;
    t->tok_off = xcalloc(n + 1, sizeof *t->tok_off);
    t->blob = xmalloc(total + 1);
    size_t cap = table_size(n);
    CHECK(cap != 0);  // n <= BPE_MAX_VOCAB
    t->tok_mask = cap - 1;
    t->tok_slot = xmalloc(cap * sizeof *t->tok_slot);
    memset(t->tok_slot, 0xff, cap * sizeof *t->tok_slot);

    // First pass: ids must be integers in [0, n), each used once (so none is missing).
    char *seen = xcalloc(n, 1);                   // id already used
    size_t *key_of = xcalloc(n, sizeof *key_of);  // member index of token id
    for (size_t i = 0; i < n && !rc; i++) {
        int64_t id = w.ids[i];
        if (id < 0 || (uint64_t)id >= n)
            rc = err_set(ERR_FORMAT, "%s: token '%.64s' has id %lld, outside [0, %zu) (ids must be 0..%zu with no gaps)",
                         path, KEY(i), (long long)id, n, n - 1);
        else if (seen[id])
            rc = err_set(ERR_FORMAT, "%s: id %lld is used by both '%.64s' and '%.64s'", path, (long long)id,
                         KEY(key_of[id]), KEY(i));
        else {
            seen[id] = 1;
            key_of[id] = i;
        }
    }
    // Second pass, in id order: undo the bytes_to_unicode spelling and fill the table.
    size_t off = 0;
    for (size_t id = 0; id < n && !rc; id++) {
        size_t i = key_of[id];
        const char *key = KEY(i);
        long nb = spelling_to_bytes(dec, key, KEY_LEN(i), (uint8_t *)t->blob + off);
        if (nb <= 0) {
            rc = err_set(ERR_FORMAT, "%s: token '%.64s' (id %zu) %s", path, key, id,
                         nb == 0 ? "is empty" : "has a character outside the GPT-2 byte alphabet (bytes_to_unicode)");
            break;
        }
        t->tok_off[id] = off;
        t->tok_off[id + 1] = off + (size_t)nb;
        const uint8_t *bytes = (const uint8_t *)t->blob + off;
        size_t s = hash_bytes(bytes, (size_t)nb) & t->tok_mask;
        for (; t->tok_slot[s] >= 0; s = (s + 1) & t->tok_mask) {
            int other = t->tok_slot[s];
            if (t->tok_off[other + 1] - t->tok_off[other] == (size_t)nb &&
                memcmp(t->blob + t->tok_off[other], bytes, (size_t)nb) == 0) {
                rc = err_set(ERR_FORMAT, "%s: tokens '%.64s' and '%.64s' spell the same bytes", path,
                             KEY(key_of[other]), key);
                break;
            }
        }
        if (rc) break;
        t->tok_slot[s] = (int32_t)id;
        off += (size_t)nb;
    }
    free(seen);
    free(key_of);
#undef KEY
#undef KEY_LEN
    free(w.keys), free(w.key_off), free(w.ids);
    if (rc) return rc;

    uint32_t enc[256];
    bytes_to_unicode(enc);
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = tok_find(t, &c, 1);
        if (t->byte_id[b] < 0)
            return err_set(ERR_FORMAT, "%s: the one-byte token for byte 0x%02x (U+%04X) is missing", path, b,
                           (unsigned)enc[b]);
    }
    t->eot = tok_find(t, (const uint8_t *)"<|endoftext|>", 13);
    return 0;
}

// Looks up one merges.txt symbol (bytes_to_unicode spelling); returns its id or a negative code.
static int merge_symbol(const bpe *t, const char *path, size_t line, const int dec[BPE_ALPHABET], const char *s,
                        size_t n, uint8_t *scratch, size_t *nbytes) {
    long nb = spelling_to_bytes(dec, s, n, scratch);
    if (nb < 0)
        return err_set(ERR_FORMAT, "%s: line %zu: symbol '%.*s' has a character outside the GPT-2 byte alphabet",
                       path, line, (int)(n > 64 ? 64 : n), s);
    int id = tok_find(t, scratch, (size_t)nb);
    if (id < 0)
        return err_set(ERR_FORMAT, "%s: line %zu: symbol '%.*s' is not in the vocab (vocab and merges disagree)",
                       path, line, (int)(n > 64 ? 64 : n), s);
    *nbytes = (size_t)nb;
    return id;
}

// merges.txt's text (len bytes); path names it in messages.
static int load_merges(bpe *t, const char *text, size_t len, const char *path, const int dec[BPE_ALPHABET]) {
    int rc = 0;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    size_t cap = table_size(lines);
    size_t bytes;
    if (lines > INT32_MAX || cap == 0 || !size_mul_ok(cap, sizeof(uint64_t), &bytes)) {
        return err_set(ERR_FORMAT, "%s: %zu lines is too many merges", path, lines);
    }
    t->pair_mask = cap - 1;
    t->pair_key = xmalloc(bytes);
    memset(t->pair_key, 0xff, bytes);
    t->pair_rank = xmalloc(cap * sizeof *t->pair_rank);
    t->pair_out = xmalloc(cap * sizeof *t->pair_out);
    uint8_t *scratch = xmalloc(len + 1);  // bytes of "left right" concatenated, at most a line long

    int rank = 0;
    size_t line_no = 0;
    for (size_t pos = 0; pos < len && !rc;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        line_no++;
        if (n > 0 && line[n - 1] == '\r') n--;
        if (n == 0) continue;
        if (line_no == 1 && n >= 8 && memcmp(line, "#version", 8) == 0) continue;
        const char *sp = memchr(line, ' ', n);
        if (!sp || sp == line || sp == line + n - 1 || memchr(sp + 1, ' ', (size_t)(line + n - sp - 1))) {
            rc = err_set(ERR_FORMAT, "%s: line %zu: expected two symbols separated by one space, got '%.*s'", path,
                         line_no, (int)(n > 64 ? 64 : n), line);
            break;
        }
        size_t na, nb;
        int a = merge_symbol(t, path, line_no, dec, line, (size_t)(sp - line), scratch, &na);
        if (a < 0) {
            rc = a;
            break;
        }
        int b = merge_symbol(t, path, line_no, dec, sp + 1, (size_t)(line + n - sp - 1), scratch + na, &nb);
        if (b < 0) {
            rc = b;
            break;
        }
        int ab = tok_find(t, scratch, na + nb);
        if (ab < 0) {
            int la = (int)(sp - line), lb = (int)(line + n - sp - 1);
            rc = err_set(ERR_FORMAT, "%s: line %zu: merge result '%.*s%.*s' is not in the vocab (vocab and merges disagree)",
                         path, line_no, la > 64 ? 64 : la, line, lb > 64 ? 64 : lb, sp + 1);
            break;
        }
        size_t s = pair_slot(t, a, b);
        t->pair_key[s] = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
        t->pair_rank[s] = rank++;  // a repeated pair keeps its last rank, as encoder.py's dict
        t->pair_out[s] = ab;
    }
    t->n_merges = rank;
    free(scratch);
    return rc;
}

int bpe_load_text(bpe **out, const char *vocab_json, size_t vocab_len, const char *vocab_what, const char *merges_txt,
                  size_t merges_len, const char *merges_what) {
    *out = NULL;
    int dec[BPE_ALPHABET];
    unicode_to_bytes(dec);
    bpe *t = xcalloc(1, sizeof *t);
    int rc = load_vocab(t, vocab_json, vocab_len, vocab_what, dec);
    if (!rc) rc = load_merges(t, merges_txt, merges_len, merges_what, dec);
    if (rc) {
        bpe_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int bpe_load(bpe **out, const char *vocab_path, const char *merges_path) {
    *out = NULL;
    char *vocab = NULL, *merges = NULL;
    size_t vl = 0, ml = 0;
    int rc = file_read_max(vocab_path, LIMIT_VOCAB_JSON_BYTES, &vocab, &vl);
    if (!rc) rc = file_read_max(merges_path, LIMIT_MERGES_TXT_BYTES, &merges, &ml);
    if (!rc) rc = bpe_load_text(out, vocab, vl, vocab_path, merges, ml, merges_path);
    free(vocab);
    free(merges);
    return rc;
}

int bpe_vocab_size(const bpe *t) { return t->n_vocab; }
int bpe_merge_count(const bpe *t) { return t->n_merges; }
int bpe_eot(const bpe *t) { return t->eot; }

const char *bpe_token_bytes(const bpe *t, int id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) {
        *len = 0;
        return NULL;
    }
    *len = t->tok_off[id + 1] - t->tok_off[id];
    return t->blob + t->tok_off[id];
}

int bpe_token_id(const bpe *t, const char *s, size_t len) { return tok_find(t, (const uint8_t *)s, len); }

// --- The merge loop

typedef struct {
    int32_t rank, pos, left, right;  // pair (left, right) of ids starting at symbol pos
    int32_t merged;                  // id of left+right
} merge_cand;

typedef struct {
    int32_t *id;    // (m): symbol id at each start position, -1 once absorbed by its left neighbour
    int32_t *prev;  // (m): previous live position or -1
    int32_t *next;  // (m): next live position or m
    merge_cand *heap;
    int32_t *touched;  // positions merged in the current rank
    size_t cap;        // room for pieces of cap bytes (heap has 3*cap)
} merge_work;

static void work_reserve(merge_work *w, size_t m) {
    if (m <= w->cap) return;
    free(w->id);
    free(w->prev);
    free(w->next);
    free(w->heap);
    free(w->touched);
    w->cap = m;  // m < 2^31, so none of these products overflow
    w->id = xmalloc(m * sizeof *w->id);
    w->prev = xmalloc(m * sizeof *w->prev);
    w->next = xmalloc(m * sizeof *w->next);
    w->heap = xmalloc(3 * m * sizeof *w->heap);
    w->touched = xmalloc(m * sizeof *w->touched);
}

static void work_free(merge_work *w) {
    free(w->id);
    free(w->prev);
    free(w->next);
    free(w->heap);
    free(w->touched);
}

static inline int cand_less(const merge_cand *x, const merge_cand *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static void heap_push(merge_cand *h, size_t *n, merge_cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static merge_cand heap_pop(merge_cand *h, size_t *n) {
    merge_cand top = h[0], last = h[--*n];
    size_t i = 0, len = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= len) break;
        if (c + 1 < len && cand_less(&h[c + 1], &h[c])) c++;
        if (!cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (len > 0) h[i] = last;
    return top;
}

static void push_pair(const bpe *t, merge_work *w, size_t *hn, int32_t pos, int32_t m) {
    int32_t q = w->next[pos];
    if (q >= m) return;
    int out;
    int rank = pair_find(t, w->id[pos], w->id[q], &out);
    if (rank >= 0) heap_push(w->heap, hn, (merge_cand){rank, pos, w->id[pos], w->id[q], out});
}

// BPE of one piece of m bytes; appends its ids to ids[*n...]. encoder.py's order: take the
// lowest-rank pair present and merge every occurrence left to right, then look again. A merged
// symbol never forms the pair it came from, so one rank is done as a batch: all its heap
// entries pop in position order, stale ones (a side already merged) are skipped, and the new
// neighbour pairs are pushed only after the batch.
static void bpe_piece(const bpe *t, merge_work *w, const uint8_t *s, int32_t m, int *ids, size_t *n) {
    if (m == 1) {
        ids[(*n)++] = t->byte_id[s[0]];
        return;
    }
    work_reserve(w, (size_t)m);
    size_t hn = 0;
    for (int32_t i = 0; i < m; i++) {
        w->id[i] = t->byte_id[s[i]];
        w->prev[i] = i - 1;
        w->next[i] = i + 1;
    }
    for (int32_t i = 0; i + 1 < m; i++) push_pair(t, w, &hn, i, m);
    while (hn > 0) {
        int32_t rank = w->heap[0].rank, nt = 0;
        while (hn > 0 && w->heap[0].rank == rank) {
            merge_cand c = heap_pop(w->heap, &hn);
            int32_t q = w->next[c.pos];
            if (w->id[c.pos] != c.left || q >= m || w->id[q] != c.right) continue;  // stale
            w->id[c.pos] = c.merged;
            w->id[q] = -1;
            w->next[c.pos] = w->next[q];
            if (w->next[q] < m) w->prev[w->next[q]] = c.pos;
            w->touched[nt++] = c.pos;
        }
        for (int32_t k = 0; k < nt; k++) {
            int32_t p = w->touched[k];
            if (w->prev[p] >= 0) push_pair(t, w, &hn, w->prev[p], m);
            push_pair(t, w, &hn, p, m);
        }
    }
    for (int32_t i = 0; i < m; i = w->next[i]) ids[(*n)++] = w->id[i];
}

// --- Encode / decode

typedef struct {  // a piece already encoded in this call: where its text and ids are
    uint64_t hash;
    uint32_t text_off, text_len, ids_off, n_ids;
} piece_entry;

int bpe_encode(const bpe *t, const char *text, size_t len, int **ids, size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    if (len >= BPE_MAX_TEXT)
        return err_set(ERR_RANGE, "bpe_encode: text of %zu bytes is too long (limit %zu)", len, BPE_MAX_TEXT - 1);
    int *out = xmalloc((len + 1) * sizeof *out);  // BPE never yields more tokens than bytes
    size_t n = 0;
    merge_work w = {0};
    size_t cache_mask = 1023, cache_used = 0;
    piece_entry *cache = xcalloc(cache_mask + 1, sizeof *cache);  // text_len 0 = empty slot
    const uint8_t *s = (const uint8_t *)text;
    for (size_t pos = 0; pos < len;) {
        size_t end = pretokenize_next(text, len, pos);
        size_t m = end - pos;
        if (m == 1) {
            out[n++] = t->byte_id[s[pos]];
            pos = end;
            continue;
        }
        uint64_t h = hash_bytes(s + pos, m);
        size_t i = h & cache_mask;
        for (; cache[i].text_len; i = (i + 1) & cache_mask) {
            const piece_entry *e = &cache[i];
            if (e->hash == h && e->text_len == m && memcmp(s + e->text_off, s + pos, m) == 0) break;
        }
        if (cache[i].text_len) {  // seen before in this text: copy its ids
            memcpy(out + n, out + cache[i].ids_off, cache[i].n_ids * sizeof *out);
            n += cache[i].n_ids;
        } else {
            size_t start = n;
            bpe_piece(t, &w, s + pos, (int32_t)m, out, &n);
            cache[i] = (piece_entry){h, (uint32_t)pos, (uint32_t)m, (uint32_t)start, (uint32_t)(n - start)};
            if (++cache_used * 2 > cache_mask) {  // grow to keep the load under 1/2
                size_t new_mask = cache_mask * 2 + 1;
                piece_entry *grown = xcalloc(new_mask + 1, sizeof *grown);
                for (size_t k = 0; k <= cache_mask; k++) {
                    if (!cache[k].text_len) continue;
                    size_t j = cache[k].hash & new_mask;
                    while (grown[j].text_len) j = (j + 1) & new_mask;
                    grown[j] = cache[k];
                }
                free(cache);
                cache = grown;
                cache_mask = new_mask;
            }
        }
        pos = end;
    }
    free(cache);
    work_free(&w);
    *ids = out;
    *n_ids = n;
    return 0;
}

int bpe_decode(const bpe *t, const int *ids, size_t n, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return err_set(ERR_RANGE, "bpe_decode: token id %d at position %zu is outside [0, %d)", ids[i], i,
                           t->n_vocab);
        total += t->tok_off[ids[i] + 1] - t->tok_off[ids[i]];
        if (total > SIZE_MAX / 2) return err_set(ERR_RANGE, "bpe_decode: output of %zu ids is too large", n);
    }
    char *buf = xmalloc(total + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t off = t->tok_off[ids[i]], len = t->tok_off[ids[i] + 1] - off;
        memcpy(buf + k, t->blob + off, len);
        k += len;
    }
    buf[k] = 0;
    *out = buf;
    *out_len = k;
    return 0;
}
