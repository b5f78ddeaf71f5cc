// fuzz_json.c: the JSON parser and config.json.
//
// Invariants: a tree that parses is written back as JSON and parses again to an equal tree
// (types, numbers, strings with their NULs, keys in order); it takes at most the stated
// budget (json_tree_bytes <= 16x the text + 64 KiB); json_parse_members walks the same
// members in the same order when the top level is an object; a refusal is ERR_FORMAT with a
// message naming the source. The same bytes go to gpt2_config_parse, whose accepted configs
// must pass gpt2_config_validate.
#include "formats/json.h"
#include "fuzz_util.h"
#include "modelfile/modelfile.h"
#include <math.h>

typedef struct {
    char *s;
    size_t len, cap;
} out_buf;

static void put(out_buf *o, const char *s, size_t n) {
    if (o->len + n + 1 > o->cap) {
        o->cap = 2 * (o->len + n + 1);
        o->s = xrealloc(o->s, o->cap);
    }
    memcpy(o->s + o->len, s, n);
    o->len += n;
    o->s[o->len] = 0;
}

static void put_string(out_buf *o, const char *s, size_t n) {
    put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(o, esc, 6);
        } else {
            put(o, (const char *)&c, 1);
        }
    }
    put(o, "\"", 1);
}

static void serialize(out_buf *o, const json_value *v) {
    char num[64];
    switch (v->type) {
    case JSON_NULL: put(o, "null", 4); break;
    case JSON_BOOL: put(o, v->boolean ? "true" : "false", v->boolean ? 4 : 5); break;
    case JSON_NUMBER:
        // Integers as integers; other numbers with enough digits to read back the same double
        // (infinities, from overflowing literals, as a literal that overflows again).
        if (v->is_int) snprintf(num, sizeof num, "%lld", (long long)v->integer);
        else if (isinf(v->number)) snprintf(num, sizeof num, "%s1e999", v->number < 0 ? "-" : "");
        else snprintf(num, sizeof num, "%.17g", v->number);
        // "%.17g" of an integral double has no '.', which would read back as is_int: add an exponent.
        if (!v->is_int && !strpbrk(num, ".eEn")) strcat(num, "e0");
        put(o, num, strlen(num));
        break;
    case JSON_STRING: put_string(o, v->str, v->len); break;
    case JSON_ARRAY:
        put(o, "[", 1);
        for (size_t i = 0; i < v->len; i++) {
            if (i) put(o, ",", 1);
            serialize(o, &v->items[i]);
        }
        put(o, "]", 1);
        break;
    case JSON_OBJECT:
        put(o, "{", 1);
        for (size_t i = 0; i < v->len; i++) {
            if (i) put(o, ",", 1);
            put_string(o, v->keys[i], v->key_lens[i]);
            put(o, ":", 1);
            serialize(o, &v->items[i]);
        }
        put(o, "}", 1);
        break;
    }
}

static int same_number(const json_value *a, const json_value *b) {
    if (a->is_int != b->is_int) return 0;
    if (a->is_int) return a->integer == b->integer;
    return a->number == b->number || (isnan(a->number) && isnan(b->number));
}

static int equal(const json_value *a, const json_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case JSON_NULL: return 1;
    case JSON_BOOL: return a->boolean == b->boolean;
    case JSON_NUMBER: return same_number(a, b);
    case JSON_STRING: return a->len == b->len && memcmp(a->str, b->str, a->len) == 0 && a->str[a->len] == 0;
    case JSON_ARRAY:
    case JSON_OBJECT:
        if (a->len != b->len) return 0;
        for (size_t i = 0; i < a->len; i++) {
            if (a->type == JSON_OBJECT && (a->key_lens[i] != b->key_lens[i] || memcmp(a->keys[i], b->keys[i], a->key_lens[i]) ||
                                           a->keys[i][a->key_lens[i]] != 0))
                return 0;
            if (!equal(&a->items[i], &b->items[i])) return 0;
        }
        return 1;
    }
    return 0;
}

typedef struct {
    const json_value *root;
    size_t next;
} walk;

static int on_member(void *ctx, const char *key, size_t key_len, const json_value *v, size_t at) {
    (void)at;
    walk *w = ctx;
    INVARIANT(w->next < w->root->len, "json_parse_members gave more members than json_parse");
    size_t i = w->next++;
    INVARIANT(key_len == w->root->key_lens[i] && memcmp(key, w->root->keys[i], key_len) == 0 && key[key_len] == 0,
              "member %zu: key differs", i);
    INVARIANT(equal(v, &w->root->items[i]), "member %zu: value differs", i);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    const char *text = (const char *)data;
    json_value v;
    err_clear();
    int rc = json_parse(&v, text, len, "input.json");
    if (rc) {
        INVARIANT(rc == ERR_FORMAT && err_code() == ERR_FORMAT, "json_parse returned %d", rc);
        INVARIANT(strncmp(err_msg(), "input.json: ", 12) == 0, "message does not name the source: %s", err_msg());
        INVARIANT(v.type == JSON_NULL && v.len == 0 && !v.arena, "output not zeroed after an error");
    } else {
        EXPECT_NO_ERROR("json_parse");
        size_t budget = JSON_TREE_FACTOR * len + JSON_TREE_SLACK;
        INVARIANT(json_tree_bytes(&v) <= budget, "tree of %zu bytes over the budget %zu", json_tree_bytes(&v), budget);
        out_buf o = {0};
        serialize(&o, &v);
        json_value w;
        rc = json_parse(&w, o.s, o.len, "again.json");
        INVARIANT(rc == 0, "the tree written back does not parse: %s\n%.200s", err_msg(), o.s);
        INVARIANT(equal(&v, &w), "the tree written back parses to another tree:\n%.300s", o.s);
        json_free(&w);
        free(o.s);
        // The streaming walk sees the same members.
        walk wk = {&v, 0};
        json_type top;
        err_clear();
        rc = json_parse_members(text, len, "input.json", SIZE_MAX / 2, on_member, &wk, &top);
        INVARIANT(rc == 0, "json_parse_members refused what json_parse accepted: %s", err_msg());
        INVARIANT(top == v.type || (v.type == JSON_BOOL && top == JSON_BOOL), "top type %d vs %d", top, v.type);
        if (top == JSON_OBJECT) INVARIANT(wk.next == v.len, "json_parse_members gave %zu of %zu members", wk.next, v.len);
        EXPECT_NO_ERROR("json_parse_members");
        json_free(&v);
        INVARIANT(v.arena == NULL && v.len == 0, "json_free left the value set");
    }
    // config.json
    gpt2_config cfg;
    err_clear();
    uint8_t *removed = NULL;
    rc = gpt2_config_parse(&cfg, text, len, "config.json", &removed);
    if (rc == 0) {
        EXPECT_NO_ERROR("gpt2_config_parse");
        INVARIANT(gpt2_config_validate(&cfg, "config.json") == 0, "an accepted config fails validation: %s", err_msg());
        int NH = cfg.n_embd / cfg.head_dim, consistent = cfg.n_embd % cfg.head_dim == 0 && cfg.vocab_size > 0 && cfg.n_ctx > 0;
        for (int l = 0; l < cfg.n_layer; l++) {  // removed heads, when listed, account for every missing head
            int gone = 0;
            for (int h = 0; removed && h < NH; h++) gone += removed[(size_t)l * NH + h];
            consistent &= cfg.n_ff_arr[l] > 0 && gpt2_n_head(&cfg, l) == NH - gone;
        }
        INVARIANT(consistent, "accepted config is inconsistent");
        free(removed);
    } else {
        INVARIANT(rc < 0 && err_code() == rc, "gpt2_config_parse returned %d with code %d", rc, err_code());
        INVARIANT(strncmp(err_msg(), "config.json: ", 13) == 0, "config message does not name the file: %s", err_msg());
    }
    return 0;
}
