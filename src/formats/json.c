// json.c: strict recursive-descent JSON parser (RFC 8259) into json_value trees.
#include "json.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct {
    const char *s, *end, *start;
    const char *what;
} parser;

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

// Parses a string at p->s (which points at the opening quote).
static int parse_string(parser *p, char **out, size_t *out_len) {
    p->s++;
    // Decoded text is never longer than the escaped text.
    const char *q = p->s;
    while (q < p->end && *q != '"') q += (*q == '\\' && q + 1 < p->end) ? 2 : 1;
    if (q >= p->end) return fail(p, "unterminated string");
    char *buf = xmalloc((size_t)(q - p->s) + 1);
    size_t n = 0;
    while (*p->s != '"') {
        unsigned char c = (unsigned char)*p->s;
        if (c < 0x20) { free(buf); return fail(p, "control character in string"); }
        if (c >= 0x80) {  // raw UTF-8: copy one well-formed sequence (RFC 8259 section 8.1)
            size_t k = utf8_seq_len((const unsigned char *)p->s);
            if (k == 0) { free(buf); return fail(p, "invalid UTF-8 in string"); }
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
            if (hex4(p, &cp)) { free(buf); return ERR_FORMAT; }
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (p->end - p->s < 6 || p->s[0] != '\\' || p->s[1] != 'u') { free(buf); return fail(p, "unpaired surrogate"); }
                p->s += 2;
                if (hex4(p, &lo)) { free(buf); return ERR_FORMAT; }
                if (lo < 0xDC00 || lo > 0xDFFF) { free(buf); return fail(p, "unpaired surrogate"); }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                free(buf);
                return fail(p, "unpaired surrogate");
            }
            n += put_utf8(buf + n, cp);
            break;
        }
        default: free(buf); return fail(p, "bad escape in string");
        }
    }
    p->s++;
    buf[n] = 0;
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
    v->type = is_object ? JSON_OBJECT : JSON_ARRAY;
    char close = is_object ? '}' : ']';
    p->s++;
    skip_ws(p);
    if (p->s < p->end && *p->s == close) { p->s++; return 0; }
    size_t cap = 0;
    const char **key_at = NULL;  // objects: where each key starts
    int rc = 0;
    for (;;) {
        if (v->len == cap) {
            cap = cap ? cap * 2 : 8;
            v->items = xrealloc(v->items, cap * sizeof *v->items);
            if (is_object) {
                v->keys = xrealloc(v->keys, cap * sizeof *v->keys);
                v->key_lens = xrealloc(v->key_lens, cap * sizeof *v->key_lens);
                key_at = xrealloc(key_at, cap * sizeof *key_at);
            }
        }
        json_value *item = &v->items[v->len];
        memset(item, 0, sizeof *item);
        skip_ws(p);
        if (is_object) {
            if (p->s >= p->end || *p->s != '"') { rc = fail(p, "expected a string key"); break; }
            key_at[v->len] = p->s;
            if ((rc = parse_string(p, &v->keys[v->len], &v->key_lens[v->len]))) break;
            v->len++;  // count it now so json_free releases the key on any later failure
            skip_ws(p);
            if (p->s >= p->end || *p->s != ':') { rc = fail(p, "expected ':'"); break; }
            p->s++;
        } else {
            v->len++;
        }
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

int json_parse(json_value *out, const char *text, size_t len, const char *what) {
    memset(out, 0, sizeof *out);
    parser p = {text, text + len, text, what};
    if (parse_value(&p, out, 0)) {
        json_free(out);
        return ERR_FORMAT;
    }
    skip_ws(&p);
    if (p.s != p.end) {
        json_free(out);
        return fail(&p, "trailing characters after the value");
    }
    return 0;
}

void json_free(json_value *v) {
    if (!v) return;
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            json_free(&v->items[i]);
            if (v->keys) free(v->keys[i]);
        }
    }
    free(v->items);
    free(v->keys);
    free(v->key_lens);
    free(v->str);
    memset(v, 0, sizeof *v);
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
