// test_json.c: the strict JSON parser on valid documents (nesting, escapes,
// surrogate pairs, inner NULs, numbers) and on invalid ones, each of which
// must fail with ERR_FORMAT and a message naming the source, the line and the
// problem, leaving the output value zeroed.
#include "core/err.h"
#include "core/xalloc.h"
#include "formats/json.h"
#include "harness.h"
#include <string.h>

// --- helpers

// Prints "name ... ok" if the group added no failures since start.
static void group_done(const char *name, int failed_before) {
    if (harness_failed == failed_before) printf("%s ... ok\n", name);
    else printf("%s ... FAILED (%d)\n", name, harness_failed - failed_before);
}

static int parse_ok(json_value *v, const char *text) {
    err_clear();
    int rc = json_parse(v, text, strlen(text), "doc.json");
    EXPECT(rc == 0, "valid JSON rejected: %s\n  -> %s", text, err_msg());
    return rc == 0;
}

static int str_is(const json_value *v, const char *bytes, size_t n) {
    return v && v->type == JSON_STRING && v->len == n && memcmp(v->str, bytes, n) == 0 && v->str[n] == 0;
}

// Parses text[0..len) expecting ERR_FORMAT with "doc.json", "line <line>" and
// phrase in the message, and a zeroed output.
static void bad_n(const char *label, const char *text, size_t len, int line, const char *phrase) {
    json_value v;
    memset(&v, 0xAB, sizeof v);  // the parser must reset it
    err_clear();
    int rc = json_parse(&v, text, len, "doc.json");
    const char *msg = err_msg();
    char want_line[32];
    snprintf(want_line, sizeof want_line, "line %d:", line);
    EXPECT(rc == ERR_FORMAT && err_code() == ERR_FORMAT, "%s: rc=%d code=%d", label, rc, err_code());
    EXPECT(strncmp(msg, "doc.json: ", 10) == 0, "%s: message does not start with the name: '%s'", label, msg);
    EXPECT(strstr(msg, want_line) != NULL, "%s: message lacks '%s': '%s'", label, want_line, msg);
    EXPECT(strstr(msg, phrase) != NULL, "%s: message lacks '%s': '%s'", label, phrase, msg);
    EXPECT(v.type == JSON_NULL && v.len == 0 && !v.items && !v.keys && !v.str, "%s: output not zeroed", label);
    json_free(&v);
    err_clear();
}

static void bad(const char *label, const char *text, int line, const char *phrase) {
    bad_n(label, text, strlen(text), line, phrase);
}

// --- valid documents

static void test_nesting(void) {
    int f0 = harness_failed;
    json_value v;
    const char *doc = "  {\"a\": [1, {\"b\": [true, false, null]}, \"x\", []],\n \"c\": {}, \"d\": -0.5 }\n";
    if (!parse_ok(&v, doc)) return;
    EXPECT(v.type == JSON_OBJECT && v.len == 3, "root");
    EXPECT(strcmp(v.keys[0], "a") == 0 && strcmp(v.keys[1], "c") == 0 && strcmp(v.keys[2], "d") == 0,
           "keys keep file order");
    const json_value *a = json_get(&v, "a");
    EXPECT(a && a->type == JSON_ARRAY && a->len == 4, "a");
    if (a && a->len == 4) {
        EXPECT(a->items[0].type == JSON_NUMBER && a->items[0].is_int && a->items[0].integer == 1, "a[0]");
        const json_value *b = json_get(&a->items[1], "b");
        EXPECT(b && b->type == JSON_ARRAY && b->len == 3, "b");
        if (b && b->len == 3) {
            EXPECT(b->items[0].type == JSON_BOOL && b->items[0].boolean == 1, "true");
            EXPECT(b->items[1].type == JSON_BOOL && b->items[1].boolean == 0, "false");
            EXPECT(b->items[2].type == JSON_NULL, "null");
        }
        EXPECT(str_is(&a->items[2], "x", 1), "a[2]");
        EXPECT(a->items[3].type == JSON_ARRAY && a->items[3].len == 0, "empty array");
    }
    const json_value *c = json_get(&v, "c");
    EXPECT(c && c->type == JSON_OBJECT && c->len == 0, "empty object");
    const json_value *d = json_get(&v, "d");
    EXPECT(d && d->type == JSON_NUMBER && !d->is_int && d->number == -0.5, "d");
    EXPECT(json_get(&v, "zz") == NULL && json_get(a, "a") == NULL && json_get(NULL, "a") == NULL, "json_get misses");
    json_free(&v);
    json_free(&v);  // idempotent on the zeroed value

    // Exactly 64 levels of nesting are allowed.
    char deep[2 * 64 + 1];
    for (int i = 0; i < 64; i++) deep[i] = '[', deep[64 + i] = ']';
    deep[128] = 0;
    if (parse_ok(&v, deep)) {
        const json_value *x = &v;
        int depth = 1;
        while (x->len == 1) x = &x->items[0], depth++;
        EXPECT(depth == 64 && x->type == JSON_ARRAY && x->len == 0, "depth 64: got %d", depth);
        json_free(&v);
    }

    // Scalars at the top level, surrounded by whitespace.
    if (parse_ok(&v, " \t\r\n\"s\" \n")) { EXPECT(str_is(&v, "s", 1), "top-level string"); json_free(&v); }
    if (parse_ok(&v, "null")) { EXPECT(v.type == JSON_NULL, "top-level null"); json_free(&v); }
    group_done("json_nesting", f0);
}

static void test_strings(void) {
    int f0 = harness_failed;
    json_value v;
    if (parse_ok(&v, "\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"")) {
        EXPECT(str_is(&v, "q\" b\\ s/ \b\f\n\r\t", 14), "simple escapes: '%s'", v.str);
        json_free(&v);
    }
    // \uXXXX -> UTF-8 of 1, 2, 3 and (surrogate pair) 4 bytes; hex in either case.
    if (parse_ok(&v, "\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\uD834\\uDD1E\"")) {
        EXPECT(str_is(&v, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF0\x9D\x84\x9E", 14), "\\u escapes: len %zu", v.len);
        json_free(&v);
    }
    // \u0000 stays inside the string; len counts past it.
    if (parse_ok(&v, "{\"k\\u0000ey\": \"a\\u0000b\"}")) {
        EXPECT(v.key_lens[0] == 4 && memcmp(v.keys[0], "k\0ey", 4) == 0, "NUL in key");
        EXPECT(str_is(&v.items[0], "a\0b", 3), "NUL in value: len %zu", v.items[0].len);
        json_free(&v);
    }
    // Raw UTF-8 (2, 3, 4 bytes) passes through unchanged; DEL is not a control character.
    const char *raw = "\"\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \x7F\"";
    if (parse_ok(&v, raw)) {
        EXPECT(str_is(&v, raw + 1, strlen(raw) - 2), "raw UTF-8");
        json_free(&v);
    }
    if (parse_ok(&v, "\"\"")) { EXPECT(str_is(&v, "", 0), "empty string"); json_free(&v); }
    group_done("json_strings", f0);
}

static void test_numbers(void) {
    int f0 = harness_failed;
    json_value v;
    struct { const char *text; double number; int is_int; int64_t integer; } cases[] = {
        {"0", 0, 1, 0},
        {"-0", 0, 1, 0},
        {"42", 42, 1, 42},
        {"-17", -17, 1, -17},
        {"6000000000", 6e9, 1, 6000000000LL},
        {"9223372036854775807", 9223372036854775807.0, 1, INT64_MAX},
        {"-9223372036854775808", -9223372036854775808.0, 1, INT64_MIN},
        {"9223372036854775808", 9223372036854775808.0, 0, 0},  // past int64: a double only
        {"1.5", 1.5, 0, 0},
        {"-2.5e-3", -2.5e-3, 0, 0},
        {"1E10", 1e10, 0, 0},
        {"1e+2", 100, 0, 0},
        {"0.000001", 1e-6, 0, 0},
        {"1e5", 1e5, 0, 0},  // an exponent makes it not an integer literal
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!parse_ok(&v, cases[i].text)) continue;
        EXPECT(v.type == JSON_NUMBER && v.number == cases[i].number, "%s: number %.17g", cases[i].text, v.number);
        EXPECT(v.is_int == cases[i].is_int, "%s: is_int %d", cases[i].text, v.is_int);
        if (cases[i].is_int) EXPECT(v.integer == cases[i].integer, "%s: integer %lld", cases[i].text, (long long)v.integer);
        json_free(&v);
    }
    // A valid integer of any length parses (as a double).
    char big[128];
    big[0] = '1';
    memset(big + 1, '0', 100);
    big[101] = 0;
    if (parse_ok(&v, big)) {
        EXPECT(v.type == JSON_NUMBER && !v.is_int && v.number == 1e100, "1e100 as digits: %.17g", v.number);
        json_free(&v);
    }
    if (parse_ok(&v, "[1,2.0,3e0]")) {
        EXPECT(v.len == 3 && v.items[0].is_int && !v.items[1].is_int && !v.items[2].is_int, "is_int per element");
        json_free(&v);
    }
    group_done("json_numbers", f0);
}

// An object with many keys (like vocab.json): unique keys pass; one repeat is caught.
static void test_big_object(void) {
    int f0 = harness_failed;
    int n = 6000;
    size_t cap = (size_t)n * 24 + 16;
    char *doc = xmalloc(cap);
    size_t len = 0;
    doc[len++] = '{';
    for (int i = 0; i < n; i++) len += (size_t)snprintf(doc + len, cap - len, "%s\"k%d\":%d", i ? ",\n" : "", i, i);
    doc[len++] = '}';
    doc[len] = 0;
    json_value v;
    if (parse_ok(&v, doc)) {
        EXPECT(v.len == (size_t)n, "big object size");
        const json_value *x = json_get(&v, "k5999");
        EXPECT(x && x->integer == 5999, "big object lookup");
        json_free(&v);
    }
    // Rename the last key to repeat "k17" (same length as "k5999" after padding).
    char *last = strstr(doc, "\"k5999\"");
    memcpy(last, "\"k17\"  ", 7);  // "k17" then spaces, still valid syntax: "k17"  :5999
    bad("duplicate key among 6000", doc, n, "duplicate key \"k17\"");
    free(doc);
    group_done("json_big_object", f0);
}

// --- invalid documents

static void test_invalid(void) {
    int f0 = harness_failed;
    bad("trailing comma in object", "{\"a\": 1,\n}", 2, "expected a string key");
    bad("trailing comma in array", "[1, 2,]", 1, "unexpected character");
    bad("unquoted key", "{\n  a: 1}", 2, "expected a string key");
    bad("single-quoted key", "{'a': 1}", 1, "expected a string key");
    bad("single-quoted value", "[\n\n'a']", 3, "unexpected character");
    bad("missing colon", "{\"a\" 1}", 1, "expected ':'");
    bad("missing comma", "[1 2]", 1, "expected ',' or ']'");
    bad("missing close brace", "{\"a\": 1", 1, "expected ',' or '}'");
    bad("trailing garbage", "{}\n x", 2, "trailing characters");
    bad("two values", "1 2", 1, "trailing characters");
    bad("unterminated string", "[\"abc", 1, "unterminated string");
    bad("unterminated after backslash", "\"abc\\", 1, "unterminated string");
    bad("bad escape", "\"a\\x\"", 1, "bad escape");
    bad("bad hex in \\u", "\"\\u12G4\"", 1, "bad hex digit");
    bad("short \\u", "\"\\u12\"", 1, "truncated \\u escape");
    bad("lone high surrogate", "\n\"\\ud800\"", 2, "unpaired surrogate");
    bad("high surrogate then letter", "\"\\ud800\\u0041\"", 1, "unpaired surrogate");
    bad("lone low surrogate", "\"\\udc00\"", 1, "unpaired surrogate");
    bad("control char (tab) in string", "\"a\tb\"", 1, "control character");
    bad("raw newline in string", "\"a\nb\"", 1, "control character");
    bad_n("NUL byte in string", "\"a\0b\"", 5, 1, "control character");
    bad("invalid UTF-8 lead byte", "\"\xFF\"", 1, "invalid UTF-8");
    bad("overlong UTF-8", "\"\xC0\x80\"", 1, "invalid UTF-8");
    bad("UTF-8 surrogate", "\"\xED\xA0\x80\"", 1, "invalid UTF-8");
    bad("truncated UTF-8", "\"\xE2\x82\"", 1, "invalid UTF-8");
    bad("UTF-8 past U+10FFFF", "\"\xF4\x90\x80\x80\"", 1, "invalid UTF-8");
    bad("duplicate key", "{\"a\": 1,\n \"b\": 2,\n \"a\": 3}", 3, "duplicate key \"a\"");
    bad("nested duplicate key", "[{}, {\"x\": {\"k\": 1, \"k\": 1}}]", 1, "duplicate key \"k\"");
    bad("leading zero", "01", 1, "leading zero");
    bad("leading zero in array", "[\n-007]", 2, "leading zero");
    bad("lone minus", "-", 1, "bad number");
    bad("minus then letter", "[-a]", 1, "bad number");
    bad("dot without digits", "1.", 1, "bad number");
    bad("dot then exponent", "1.e5", 1, "bad number");
    bad("empty exponent", "1e", 1, "bad number");
    bad("leading dot", ".5", 1, "unexpected character");
    bad("leading plus", "+1", 1, "unexpected character");
    bad("hex number", "0x10", 1, "trailing characters");
    bad("NaN", "NaN", 1, "unexpected character");
    bad("truncated literal", "[tru]", 1, "unexpected character");
    bad("capitalised literal", "True", 1, "unexpected character");
    bad("empty input", "", 1, "unexpected end of input");
    bad("only whitespace", "  \n\n ", 3, "unexpected end of input");
    bad("value missing after colon", "{\"a\":", 1, "unexpected end of input");
    bad("comment", "// c\n{}", 1, "unexpected character");

    char deep[2 * 65 + 1];
    for (int i = 0; i < 65; i++) deep[i] = '[', deep[65 + i] = ']';
    deep[130] = 0;
    bad("depth 65", deep, 1, "nested too deeply");
    char deep_obj[8 * 70];
    size_t n = 0;
    for (int i = 0; i < 70; i++) n += (size_t)snprintf(deep_obj + n, sizeof deep_obj - n, "{\"a\":");
    bad("objects nested 70 deep", deep_obj, 1, "nested too deeply");
    group_done("json_invalid", f0);
}

int main(void) {
    test_nesting();
    test_strings();
    test_numbers();
    test_big_object();
    test_invalid();
    return TEST_DONE();
}
