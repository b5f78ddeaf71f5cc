// json.c: strict recursive-descent JSON parser (RFC 8259) into json_value trees.
//
// Each tree is built in two passes over its text. count_value walks the value once without
// allocating (beyond one count per container) to find where it ends, how many children
// each container has and how many string bytes there are: that is the tree's exact size
// (an upper bound for strings with escapes). The size is checked against the budget, one
// block is allocated, and the recursive parse validates everything while carving each
// container's array and each string from the block. So memory is known, and refused when
// too much, before it is allocated; a tree is one allocation, freed at once.
#include "json.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

// --- the parser and its arena

// One exactly sized block per tree: the scan (count_value) measures what the tree needs, the
// budget is checked, then the parse carves nodes, key tables and strings from the block.
struct json_arena {
    size_t cap, used;
    unsigned char *base;  // cap bytes right after this header
};

typedef struct {
    const char *s, *end, *start;
    const char *what;
    json_arena *arena;
    size_t *counts;  // children of each container of the value being parsed, in opening order
    size_t n_counts, next_count, counts_cap;
} parser;

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

// n bytes (8-aligned, zeroed) from the block; NULL if the scan under-counted, which only a
// malformed text can cause (the parse reports it).
static void *arena_take(parser *p, size_t n) {
    json_arena *a = p->arena;
    n = align8(n);
    if (a->cap - a->used < n) return NULL;
    void *r = a->base + a->used;
    a->used += n;
    memset(r, 0, n);
    return r;
}

// Gives back the unused tail of the last allocation (a decoded string shorter than its text).
static void arena_trim(parser *p, void *last, size_t used_now) {
    json_arena *a = p->arena;
    a->used = (size_t)((unsigned char *)last - a->base) + align8(used_now);
}

static json_arena *arena_new(size_t cap) {
    json_arena *a = xmalloc(sizeof *a + cap);
    a->cap = cap;
    a->used = 0;
    a->base = (unsigned char *)(a + 1);
    return a;
}

// --- the counting scan

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// From p->s (at the first byte of a value), finds the end of that value without moving p->s,
// records the children of each container in p->counts (opening order) and returns the bytes
// its tree needs below the root node: nodes, key tables, strings. Text that is not JSON is
// counted as far as it goes; the parse that follows reports the error. Stops as soon as the
// tree and the counts pass limit bytes (returning more than limit), so the counts too stay
// within the budget.
static size_t count_value(parser *p, size_t limit) {
    typedef struct {
        size_t idx, commas;
        int nonempty, object;
    } open_t;
    open_t stack[JSON_MAX_DEPTH + 1];
    int depth = 0;
    size_t bytes = 0;
    p->n_counts = p->next_count = 0;
    const char *s = p->s, *end = p->end;
    while (s < end) {
        char c = *s;
        if (is_ws(c) || c == ':') {
            s++;
            continue;
        }
        if (c == ',') {
            if (depth == 0) break;
            stack[depth - 1].commas++;
            s++;
            continue;
        }
        if (c == ']' || c == '}') {
            if (depth == 0) break;
            open_t *o = &stack[--depth];
            size_t n = o->commas + (size_t)o->nonempty;
            p->counts[o->idx] = n;
            bytes += align8(n * sizeof(json_value));
            if (o->object) bytes += align8(n * sizeof(char *)) + align8(n * sizeof(size_t));
            if (bytes > limit) return limit + 1;
            s++;
            if (depth == 0) break;
            continue;
        }
        if (depth > 0) {
            stack[depth - 1].nonempty = 1;
            // A container's children take a node each, counted when it closes: stop early on
            // a huge container, one comma at a time.
            if (stack[depth - 1].commas > limit / sizeof(json_value)) return limit + 1;
        }
        if (c == '[' || c == '{') {
            if (depth == JSON_MAX_DEPTH) break;  // the parse refuses it before it needs more counts
            // Every container takes at least its node and its count: stop once past the limit.
            if (bytes > limit || (p->n_counts + 1) * (sizeof *p->counts + sizeof(json_value)) > limit - bytes)
                return limit + 1;
            if (p->n_counts == p->counts_cap) {
                p->counts_cap = p->counts_cap ? 2 * p->counts_cap : 64;
                p->counts = xrealloc(p->counts, p->counts_cap * sizeof *p->counts);
            }
            p->counts[p->n_counts] = 0;
            stack[depth++] = (open_t){p->n_counts++, 0, 0, c == '{'};
            s++;
            continue;
        }
        if (c == '"') {
            const char *q = s + 1;
            while (q < end && *q != '"') q += (*q == '\\' && q + 1 < end) ? 2 : 1;
            bytes += align8((size_t)(q - s - 1) + 1);
            if (bytes > limit) return limit + 1;
            s = q + 1;
        } else {
            while (s < end && !is_ws(*s) && *s != ',' && *s != ']' && *s != '}' && *s != ':' && *s != '"' &&
                   *s != '[' && *s != '{')
                s++;
        }
        if (depth == 0) break;
    }
    // Containers the text leaves open (it is not JSON): count them as if closed here, so the
    // parse gets as far as the error it reports.
    while (depth > 0) {
        open_t *o = &stack[--depth];
        size_t n = o->commas + (size_t)o->nonempty;
        p->counts[o->idx] = n;
        bytes += align8(n * sizeof(json_value));
        if (o->object) bytes += align8(n * sizeof(char *)) + align8(n * sizeof(size_t));
    }
    return bytes;
}

// 1-based line number of position at.
static int line_at(const parser *p, const char *at) {
    int line = 1;
    for (const char *c = p->start; c < at && c < p->end; c++) line += *c == '\n';
    return line;
}

static int fail(parser *p, const char *msg) {
    return err_set(ERR_FORMAT, "%s: invalid JSON at line %d: %s", p->what, line_at(p, p->s), msg);
}

static void skip_ws(parser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static int hex4(parser *p, unsigned *out) {
    if (p->end - p->s < 4) return fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return fail(p, "bad hex digit in \\u escape");
    }
    p->s += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 63));
    o[2] = (char)(0x80 | (cp >> 6 & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

// Length of the well-formed UTF-8 sequence at s (s[0] >= 0x80), or 0 if it is
// malformed: bad lead byte, overlong form, surrogate, above U+10FFFF, or a
// missing continuation byte. Reading stops at the first byte that is not a
// continuation byte, so it never passes the string's closing quote.
static size_t utf8_seq_len(const unsigned char *s) {
    unsigned c = s[0];
    size_t k;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0) lo = 0xA0;       // overlong
        else if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0) lo = 0x90;       // overlong
        else if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return k;
}

// Parses a string at p->s (which points at the opening quote) into the arena.
static int parse_string(parser *p, char **out, size_t *out_len) {
    p->s++;
    // Decoded text is never longer than the escaped text.
    const char *q = p->s;
    while (q < p->end && *q != '"') q += (*q == '\\' && q + 1 < p->end) ? 2 : 1;
    if (q >= p->end) return fail(p, "unterminated string");
    char *buf = arena_take(p, (size_t)(q - p->s) + 1);
    if (!buf) return fail(p, "unexpected structure");
    size_t n = 0;
    while (*p->s != '"') {
        unsigned char c = (unsigned char)*p->s;
        if (c < 0x20) return fail(p, "control character in string");
        if (c >= 0x80) {  // raw UTF-8: copy one well-formed sequence (RFC 8259 section 8.1)
            size_t k = utf8_seq_len((const unsigned char *)p->s);
            if (k == 0) return fail(p, "invalid UTF-8 in string");
            memcpy(buf + n, p->s, k);
            n += k;
            p->s += k;
            continue;
        }
        if (c != '\\') { buf[n++] = (char)c; p->s++; continue; }
        p->s++;
        char e = *p->s++;
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(p, &cp)) return ERR_FORMAT;
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (p->end - p->s < 6 || p->s[0] != '\\' || p->s[1] != 'u') return fail(p, "unpaired surrogate");
                p->s += 2;
                if (hex4(p, &lo)) return ERR_FORMAT;
                if (lo < 0xDC00 || lo > 0xDFFF) return fail(p, "unpaired surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                return fail(p, "unpaired surrogate");
            }
            n += put_utf8(buf + n, cp);
            break;
        }
        default: return fail(p, "bad escape in string");
        }
    }
    p->s++;
    buf[n] = 0;
    arena_trim(p, buf, n + 1);
    *out = buf;
    *out_len = n;
    return 0;
}

static int parse_number(parser *p, json_value *v) {
    const char *b = p->s, *s = p->s;
    int is_int = 1;
    if (s < p->end && *s == '-') s++;
    if (s >= p->end) return fail(p, "bad number");
    if (*s == '0') {
        s++;
        if (s < p->end && *s >= '0' && *s <= '9') return fail(p, "leading zero in number");
    } else if (*s >= '1' && *s <= '9') while (s < p->end && *s >= '0' && *s <= '9') s++;
    else return fail(p, "bad number");
    if (s < p->end && *s == '.') {
        is_int = 0;
        s++;
        if (s >= p->end || *s < '0' || *s > '9') return fail(p, "bad number");
        while (s < p->end && *s >= '0' && *s <= '9') s++;
    }
    if (s < p->end && (*s == 'e' || *s == 'E')) {
        is_int = 0;
        s++;
        if (s < p->end && (*s == '+' || *s == '-')) s++;
        if (s >= p->end || *s < '0' || *s > '9') return fail(p, "bad number");
        while (s < p->end && *s >= '0' && *s <= '9') s++;
    }
    // A valid number of any length is accepted; one too long for int64 is
    // simply not is_int (strtoll reports ERANGE for those that fit the buffer).
    char tmp[64];
    size_t n = (size_t)(s - b);
    char *txt = n < sizeof tmp ? tmp : xmalloc(n + 1);
    memcpy(txt, b, n);
    txt[n] = 0;
    v->number = strtod(txt, NULL);
    if (is_int && n < sizeof tmp) {
        errno = 0;
        long long ll = strtoll(txt, NULL, 10);
        if (errno == 0) { v->is_int = 1; v->integer = ll; }
    }
    if (txt != tmp) free(txt);
    v->type = JSON_NUMBER;
    p->s = s;
    return 0;
}

static int parse_value(parser *p, json_value *v, int depth);

// --- duplicate keys

typedef struct {
    const char *key;
    size_t len;
    const char *at;  // where the key starts in the text (for the line number)
} key_ref;

static int key_ref_cmp(const void *a, const void *b) {
    const key_ref *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    int c = memcmp(x->key, y->key, x->len);
    if (c) return c;
    return x->at < y->at ? -1 : x->at > y->at;
}

// Rejects an object that has the same key twice, naming the first repeat in
// file order. Sorting keeps this O(n log n), so it holds for vocab.json too.
static int check_duplicate_keys(parser *p, const json_value *v, const char *const *key_at) {
    key_ref *refs = xmalloc(v->len * sizeof *refs);
    for (size_t i = 0; i < v->len; i++) refs[i] = (key_ref){v->keys[i], v->key_lens[i], key_at[i]};
    qsort(refs, v->len, sizeof *refs, key_ref_cmp);
    const key_ref *dup = NULL;
    for (size_t i = 1; i < v->len; i++)
        if (refs[i].len == refs[i - 1].len && memcmp(refs[i].key, refs[i - 1].key, refs[i].len) == 0 &&
            (!dup || refs[i].at < dup->at))
            dup = &refs[i];
    int rc = 0;
    if (dup)
        rc = err_set(ERR_FORMAT, "%s: invalid JSON at line %d: duplicate key \"%s\"", p->what, line_at(p, dup->at),
                     dup->key);
    free(refs);
    return rc;
}

// --- arrays and objects

static int parse_container(parser *p, json_value *v, int depth, int is_object) {
    if (depth >= JSON_MAX_DEPTH) return fail(p, "nested too deeply");
    if (p->next_count >= p->n_counts) return fail(p, "unexpected structure");
    size_t cap = p->counts[p->next_count++];  // the scan's count: exact for valid JSON
    v->type = is_object ? JSON_OBJECT : JSON_ARRAY;
    char close = is_object ? '}' : ']';
    p->s++;
    skip_ws(p);
    if (p->s < p->end && *p->s == close) { p->s++; return 0; }
    v->items = arena_take(p, cap * sizeof *v->items);
    if (is_object) {
        v->keys = arena_take(p, cap * sizeof *v->keys);
        v->key_lens = arena_take(p, cap * sizeof *v->key_lens);
    }
    if (!v->items || (is_object && (!v->keys || !v->key_lens))) return fail(p, "unexpected structure");
    const char **key_at = is_object ? xmalloc(cap * sizeof *key_at) : NULL;  // where each key starts
    int rc = 0;
    for (;;) {
        skip_ws(p);
        if (v->len == cap) { rc = fail(p, "unexpected structure"); break; }
        json_value *item = &v->items[v->len];
        if (is_object) {
            if (p->s >= p->end || *p->s != '"') { rc = fail(p, "expected a string key"); break; }
            key_at[v->len] = p->s;
            if ((rc = parse_string(p, &v->keys[v->len], &v->key_lens[v->len]))) break;
            skip_ws(p);
            if (p->s >= p->end || *p->s != ':') { rc = fail(p, "expected ':'"); break; }
            p->s++;
        }
        v->len++;
        if ((rc = parse_value(p, item, depth + 1))) break;
        skip_ws(p);
        if (p->s < p->end && *p->s == ',') { p->s++; continue; }
        if (p->s < p->end && *p->s == close) { p->s++; break; }
        rc = fail(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
    }
    if (rc == 0 && is_object && v->len > 1) rc = check_duplicate_keys(p, v, key_at);
    free(key_at);
    return rc ? ERR_FORMAT : 0;
}

static int match_word(parser *p, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0) return 0;
    p->s += n;
    return 1;
}

static int parse_value(parser *p, json_value *v, int depth) {
    skip_ws(p);
    if (p->s >= p->end) return fail(p, "unexpected end of input");
    switch (*p->s) {
    case '{': return parse_container(p, v, depth, 1);
    case '[': return parse_container(p, v, depth, 0);
    case '"': v->type = JSON_STRING; return parse_string(p, &v->str, &v->len);
    case 't': if (match_word(p, "true")) { v->type = JSON_BOOL; v->boolean = 1; return 0; } break;
    case 'f': if (match_word(p, "false")) { v->type = JSON_BOOL; v->boolean = 0; return 0; } break;
    case 'n': if (match_word(p, "null")) { v->type = JSON_NULL; return 0; } break;
    default:
        if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9')) return parse_number(p, v);
    }
    return fail(p, "unexpected character");
}

// --- trees

// Parses the value at p->s into *v (a root: its tree gets its own arena), refusing a tree
// that needs more than budget bytes (its nodes and strings, and the scan's counts).
static int parse_tree(parser *p, json_value *v, size_t budget, int depth) {
    skip_ws(p);
    size_t need = count_value(p, budget);
    size_t counts = p->n_counts * sizeof *p->counts;
    if (need > budget || counts > budget - need) {
        if (depth > 0)
            return err_set(ERR_FORMAT, "%s: the member at line %d needs more than %zu bytes as a tree (the limit)", p->what,
                           line_at(p, p->s), budget);
        return err_set(ERR_FORMAT, "%s: a JSON tree of this %zu-byte text needs more memory than the limit of %zu bytes "
                       "(%dx the text + %zu)", p->what, (size_t)(p->end - p->start), budget, JSON_TREE_FACTOR,
                       JSON_TREE_SLACK);
    }
    if (!p->arena || p->arena->cap < need) {
        free(p->arena);
        p->arena = arena_new(need);
    }
    p->arena->used = 0;
    return parse_value(p, v, depth);
}

int json_parse(json_value *out, const char *text, size_t len, const char *what) {
    memset(out, 0, sizeof *out);
    parser p = {text, text + len, text, what, NULL, NULL, 0, 0, 0};
    size_t budget = len > (SIZE_MAX - JSON_TREE_SLACK) / JSON_TREE_FACTOR ? SIZE_MAX : JSON_TREE_FACTOR * len + JSON_TREE_SLACK;
    int rc = parse_tree(&p, out, budget, 0);
    free(p.counts);
    if (rc == 0) {
        skip_ws(&p);
        if (p.s != p.end) rc = fail(&p, "trailing characters after the value");
    }
    if (rc) {
        free(p.arena);
        memset(out, 0, sizeof *out);
        return ERR_FORMAT;
    }
    if (out->type == JSON_STRING || out->type == JSON_ARRAY || out->type == JSON_OBJECT) out->arena = p.arena;
    else free(p.arena);
    return 0;
}

void json_free(json_value *v) {
    if (!v) return;
    free(v->arena);
    memset(v, 0, sizeof *v);
}

size_t json_tree_bytes(const json_value *v) { return v && v->arena ? sizeof *v->arena + v->arena->cap : 0; }

static json_type peek_type(char c) {
    switch (c) {
    case '{': return JSON_OBJECT;
    case '[': return JSON_ARRAY;
    case '"': return JSON_STRING;
    case 't': case 'f': return JSON_BOOL;
    case 'n': return JSON_NULL;
    default: return JSON_NUMBER;
    }
}

int json_parse_members(const char *text, size_t len, const char *what, size_t max_member_bytes, json_member_fn fn,
                       void *ctx, json_type *top) {
    parser p = {text, text + len, text, what, NULL, NULL, 0, 0, 0};
    int rc = 0;
    skip_ws(&p);
    if (p.s >= p.end) return fail(&p, "unexpected end of input");
    *top = peek_type(*p.s);
    if (*top != JSON_OBJECT) {
        if (*p.s != '-' && (*p.s < '0' || *p.s > '9') && !strchr("[\"tfn", *p.s)) return fail(&p, "unexpected character");
        return 0;
    }
    p.s++;
    skip_ws(&p);
    if (p.s < p.end && *p.s == '}') {
        p.s++;
    } else {
        for (;;) {
            skip_ws(&p);
            if (p.s >= p.end || *p.s != '"') { rc = fail(&p, "expected a string key"); break; }
            // The key goes into a block of its own, reused member after member.
            const char *q = p.s + 1;
            while (q < p.end && *q != '"') q += (*q == '\\' && q + 1 < p.end) ? 2 : 1;
            size_t key_need = align8((size_t)(q - p.s));
            if (key_need > max_member_bytes) {
                rc = err_set(ERR_FORMAT, "%s: a key at line %d is %zu bytes, more memory than the limit of %zu", what,
                             line_at(&p, p.s), (size_t)(q - p.s - 1), max_member_bytes);
                break;
            }
            if (!p.arena || p.arena->cap < key_need) {
                free(p.arena);
                p.arena = arena_new(key_need);
            }
            p.arena->used = 0;
            char *key;
            size_t key_len, at = (size_t)(p.s - text);
            if ((rc = parse_string(&p, &key, &key_len))) break;
            // Keep the key: copy it out of the block the value reuses.
            char *key_copy = xmalloc(key_len + 1);
            memcpy(key_copy, key, key_len + 1);
            skip_ws(&p);
            json_value v;
            memset(&v, 0, sizeof v);
            if (p.s >= p.end || *p.s != ':') rc = fail(&p, "expected ':'");
            else p.s++, rc = parse_tree(&p, &v, max_member_bytes - key_need, 1);
            if (!rc) rc = fn(ctx, key_copy, key_len, &v, at);
            free(key_copy);
            if (rc) break;
            skip_ws(&p);
            if (p.s < p.end && *p.s == ',') { p.s++; continue; }
            if (p.s < p.end && *p.s == '}') { p.s++; break; }
            rc = fail(&p, "expected ',' or '}'");
            break;
        }
    }
    if (!rc) {
        skip_ws(&p);
        if (p.s != p.end) rc = fail(&p, "trailing characters after the value");
    }
    free(p.arena);
    free(p.counts);
    return rc;
}

int json_line_at(const char *text, size_t len, size_t at) {
    parser p = {text, text + len, text, NULL, NULL, NULL, 0, 0, 0};
    return line_at(&p, text + (at < len ? at : len));
}

const json_value *json_get(const json_value *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->len; i++)
        if (obj->key_lens[i] == n && memcmp(obj->keys[i], key, n) == 0) return &obj->items[i];
    return NULL;
}

void json_put_string(sbuf *b, const char *s, size_t n) {
    sbuf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') sbuf_printf(b, "\\%c", c);
        else if (c == '\n') sbuf_puts(b, "\\n");
        else if (c == '\t') sbuf_puts(b, "\\t");
        else if (c == '\r') sbuf_puts(b, "\\r");
        else if (c < 0x20) sbuf_printf(b, "\\u%04x", c);
        else sbuf_put(b, s + i, 1);
    }
    sbuf_put(b, "\"", 1);
}
