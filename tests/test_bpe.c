// test_bpe.c: the GPT-2 tokenizer against the reference encoder's cases, byte for byte.
//
// Groups: Unicode classes, pre-tokenizer splits, loading the GPT-2 files, the 387 cases of
// tokenizer_cases.jsonl (ids exact, decode exact), invalid UTF-8, error paths (files written
// under /tmp), the 8192-token mini model's tokenizer, and WikiText-2 test (count and timing;
// the time is printed, never asserted). Reads ../shared (or $SHRINK_SHARED).
#include "core/err.h"
#include "core/fileio.h"
#include "formats/json.h"
#include "harness.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode_class.h"
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *shared_path(const char *rel) {
    char *p = path_join(shared_dir(), rel);
    return p;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void group_ok(const char *name, int failed_before, const char *detail) {
    if (harness_failed == failed_before) printf("%s ... ok%s%s\n", name, detail ? " " : "", detail ? detail : "");
    else printf("%s ... FAILED\n", name);
}

// --- Unicode classes

static void test_unicode_class(void) {
    int f0 = harness_failed;
    static const uint32_t spaces[] = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2005,
                                      0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
    for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++)
        EXPECT(unicode_class(spaces[i]) == UNI_SPACE, "U+%04X should be a space", (unsigned)spaces[i]);
    // Python's str.isspace() says yes to U+001C..001F, the regex module's \s says no.
    static const uint32_t others[] = {0x00, 0x1C, 0x1D, 0x1E, 0x1F, '\'', '!', 0x200B, 0x200D, 0xFEFF, 0x0301,
                                      0xD800, 0xE000, 0x1F600, 0x110000, 0xFFFFFFFF};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        EXPECT(unicode_class(others[i]) == UNI_OTHER, "U+%04X should be other", (unsigned)others[i]);
    static const uint32_t letters[] = {'a', 'Z', 0xAA, 0xE9, 0x3A9, 0x5D0, 0x627, 0x3400, 0x4DBF, 0x4E00, 0x9FFF,
                                       0xAC00, 0xD7A3, 0x1D400, 0x20000, 0x323AF, 0x02B0};
    for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++)
        EXPECT(unicode_class(letters[i]) == UNI_LETTER, "U+%04X should be a letter", (unsigned)letters[i]);
    static const uint32_t numbers[] = {'0', '9', 0xB2, 0xBD, 0x663, 0x2160, 0x216B, 0x1D7CE, 0xFF10};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        EXPECT(unicode_class(numbers[i]) == UNI_NUMBER, "U+%04X should be a number", (unsigned)numbers[i]);
    group_ok("unicode classes", f0, NULL);
}

// --- Pre-tokenizer

// Splits text and compares with the expected pieces, given as one string with '|' between them.
static void expect_split(const char *text, const char *want) {
    char got[512];
    size_t k = 0, len = strlen(text);
    for (size_t pos = 0; pos < len;) {
        size_t end = pretokenize_next(text, len, pos);
        if (end <= pos || end > len) {
            EXPECT(0, "pretokenize_next(\"%s\", %zu) returned %zu", text, pos, end);
            return;
        }
        if (pos) got[k++] = '|';
        memcpy(got + k, text + pos, end - pos);
        k += end - pos;
        pos = end;
    }
    got[k] = 0;
    EXPECT(strcmp(got, want) == 0, "split of \"%s\": got \"%s\", want \"%s\"", text, got, want);
}

static void test_pretokenize(void) {
    int f0 = harness_failed;
    expect_split("Hello world", "Hello| world");
    expect_split("Hello  world", "Hello| | world");
    expect_split("a \t b", "a| \t| b");
    expect_split("x   ", "x|   ");
    expect_split("   x", "  | x");
    expect_split("\tx", "\t|x");
    expect_split("a\n\nb", "a|\n|\n|b");  // the last newline is left for "b" (and fails " ?\p{L}+")
    expect_split("a\n\n", "a|\n\n");
    expect_split("a\r\nb", "a|\r|\n|b");
    expect_split("it's they're I'M we'll 'd", "it|'s| they|'re| I|'|M| we|'ll| '|d");  // contractions only start a piece
    expect_split("don't!!'s", "don|'t|!!'|s");
    expect_split("abc123 456 ..? x", "abc|123| 456| ..?| x");
    expect_split("caf\xc3\xa9 e\xcc\x81", "caf\xc3\xa9| e|\xcc\x81");              // combining mark splits off
    expect_split("a\xc2\xa0" "b", "a|\xc2\xa0|b");                                 // U+00A0 is \s
    expect_split("a\xe2\x80\x8b" "b", "a|\xe2\x80\x8b|b");                         // U+200B is not
    expect_split("\xff\xfe" "ab \xc3", "\xff\xfe|ab| \xc3");                       // invalid bytes are "other"
    expect_split("\xed\xa0\x80x", "\xed\xa0\x80|x");                               // encoded surrogate: 3 bad bytes
    expect_split("\xe2\x82 a", "\xe2\x82| a");                                     // truncated sequence
    uint32_t cp;
    EXPECT(pretokenize_utf8_decode((const uint8_t *)"\xc0\xaf", 2, &cp) == 1 && cp == 0xFFFFFFFF, "overlong");
    EXPECT(pretokenize_utf8_decode((const uint8_t *)"\xf4\x90\x80\x80", 4, &cp) == 1, "above U+10FFFF");
    EXPECT(pretokenize_utf8_decode((const uint8_t *)"\xf0\x9f\x98\x80", 4, &cp) == 4 && cp == 0x1F600, "emoji");
    group_ok("pretokenize splits", f0, NULL);
}

// --- The reference cases

static int ids_equal(const int *a, size_t na, const json_value *want) {
    if (want->type != JSON_ARRAY || want->len != na) return 0;
    for (size_t i = 0; i < na; i++)
        if (want->items[i].type != JSON_NUMBER || !want->items[i].is_int || want->items[i].integer != a[i]) return 0;
    return 1;
}

static void test_reference_cases(const bpe *t) {
    int f0 = harness_failed;
    char *path = shared_path("data/gpt2/tokenizer_cases.jsonl");
    char *text;
    size_t len;
    int rc = file_read_all(path, &text, &len);
    EXPECT(rc == 0, "%s", err_msg());
    int n_cases = 0, n_ids_ok = 0, n_decode_ok = 0;
    for (size_t pos = 0; rc == 0 && pos < len;) {  // split on '\n' only
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        if (n == 0) continue;
        json_value v = {0};
        int prc = json_parse(&v, line, n, path);
        EXPECT(prc == 0, "case %d: %s", n_cases + 1, err_msg());
        const json_value *jt = json_get(&v, "text"), *jids = json_get(&v, "ids");
        n_cases++;
        if (prc || !jt || jt->type != JSON_STRING || !jids) {
            EXPECT(0, "case %d: no text/ids", n_cases);
            json_free(&v);
            continue;
        }
        int *ids;
        size_t n_ids;
        EXPECT(bpe_encode(t, jt->str, jt->len, &ids, &n_ids) == 0, "case %d: encode failed", n_cases);
        if (ids_equal(ids, n_ids, jids)) n_ids_ok++;
        else {
            fprintf(stderr, "case %d (\"%.60s\"): got", n_cases, jt->str);
            for (size_t i = 0; i < n_ids && i < 20; i++) fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\n");
        }
        char *dec;
        size_t dec_len;
        if (bpe_decode(t, ids, n_ids, &dec, &dec_len) == 0 && dec_len == jt->len && memcmp(dec, jt->str, dec_len) == 0)
            n_decode_ok++;
        else fprintf(stderr, "case %d: decode does not give the text back\n", n_cases);
        free(dec);
        free(ids);
        json_free(&v);
    }
    EXPECT(n_cases == 387, "expected 387 cases, read %d", n_cases);
    EXPECT(n_ids_ok == n_cases, "ids: %d of %d cases match", n_ids_ok, n_cases);
    EXPECT(n_decode_ok == n_cases, "decode: %d of %d cases round-trip", n_decode_ok, n_cases);
    char detail[96];
    snprintf(detail, sizeof detail, "(ids %d/%d, decode %d/%d)", n_ids_ok, n_cases, n_decode_ok, n_cases);
    group_ok("reference cases", f0, detail);
    free(text);
    free(path);
}

// --- Small API checks on the GPT-2 tokenizer

static void expect_encode(const bpe *t, const char *text, size_t len, const int *want, size_t n_want) {
    int *ids;
    size_t n;
    EXPECT(bpe_encode(t, text, len, &ids, &n) == 0, "encode");
    int same = n == n_want;
    for (size_t i = 0; same && i < n; i++) same = ids[i] == want[i];
    EXPECT(same, "encode of \"%.40s\" (%zu ids) differs", text, n);
    free(ids);
}

static void test_gpt2_api(const bpe *t) {
    int f0 = harness_failed;
    EXPECT(bpe_vocab_size(t) == 50257, "vocab %d", bpe_vocab_size(t));
    EXPECT(bpe_merge_count(t) == 50000, "merges %d", bpe_merge_count(t));
    EXPECT(bpe_eot(t) == 50256, "eot %d", bpe_eot(t));
    size_t n;
    const char *b = bpe_token_bytes(t, 50256, &n);
    EXPECT(b && n == 13 && memcmp(b, "<|endoftext|>", 13) == 0, "eot bytes");
    b = bpe_token_bytes(t, 220, &n);  // "Ġ"
    EXPECT(b && n == 1 && b[0] == ' ', "token 220 is a space");
    EXPECT(bpe_token_bytes(t, 50257, &n) == NULL && n == 0, "out of range token bytes");
    EXPECT(bpe_token_bytes(t, -1, &n) == NULL, "negative token bytes");
    EXPECT(bpe_token_id(t, " the", 4) == 262, "\" the\" is 262");
    EXPECT(bpe_token_id(t, "no such token!!", 15) == -1, "absent token");
    static const int eot_text[] = {27, 91, 437, 1659, 5239, 91, 29};  // plain text, not 50256
    expect_encode(t, "<|endoftext|>", 13, eot_text, 7);
    static const int crlf[] = {201, 198}, lflf[] = {628};
    expect_encode(t, "\r\n", 2, crlf, 2);
    expect_encode(t, "\n\n", 2, lflf, 1);
    int *ids;
    EXPECT(bpe_encode(t, "", 0, &ids, &n) == 0 && ids != NULL && n == 0, "empty text");
    free(ids);
    // Invalid UTF-8 and NUL bytes: encoded byte by byte, and decoded back exactly.
    static const char junk[] = "ok \xff\xfe\x00 caf\xc3 \xed\xa0\x80 \xf4\x90\x80\x80 x\xc3\xa9\x80 end";
    size_t junk_len = sizeof junk - 1;
    EXPECT(bpe_encode(t, junk, junk_len, &ids, &n) == 0, "encode invalid UTF-8");
    char *dec;
    size_t dec_len;
    EXPECT(bpe_decode(t, ids, n, &dec, &dec_len) == 0 && dec_len == junk_len && memcmp(dec, junk, junk_len) == 0,
           "invalid UTF-8 round trip");
    free(dec);
    free(ids);
    // Long runs: one 100,000-letter word and 100,000 spaces.
    size_t big = 100000;
    char *s = malloc(big);
    memset(s, 'x', big);
    EXPECT(bpe_encode(t, s, big, &ids, &n) == 0 && bpe_decode(t, ids, n, &dec, &dec_len) == 0 && dec_len == big &&
               memcmp(dec, s, big) == 0,
           "long word round trip");
    free(ids);
    free(dec);
    memset(s, ' ', big);
    EXPECT(bpe_encode(t, s, big, &ids, &n) == 0 && bpe_decode(t, ids, n, &dec, &dec_len) == 0 && dec_len == big &&
               memcmp(dec, s, big) == 0,
           "long space run round trip");
    free(ids);
    free(dec);
    free(s);
    group_ok("gpt2 api", f0, NULL);
}

// --- Error paths

// GPT-2's bytes_to_unicode, to write small vocab files.
static uint32_t byte_char(int b) {
    static uint32_t enc[256];
    static int ready;
    if (!ready) {
        uint32_t n = 0;
        for (int i = 0; i < 256; i++) {
            int printable = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
            enc[i] = printable ? (uint32_t)i : 256 + n++;
        }
        ready = 1;
    }
    return enc[b];
}

// Writes a vocab of the 256 byte tokens (ids 0..255, except `skip_byte` if >= 0) followed by
// the extra tokens (already in JSON spelling), numbered on; `bump` is added to the last id.
static void write_vocab(const char *path, int skip_byte, const char *const *extra, int n_extra, int bump) {
    FILE *f = fopen(path, "wb");
    CHECK(f);
    int id = 0;
    fputc('{', f);
    for (int b = 0; b < 256; b++) {
        if (b == skip_byte) continue;
        uint32_t c = byte_char(b);
        if (c == '"' || c == '\\') fprintf(f, "%s\"\\%c\": %d", id ? ", " : "", (char)c, id);
        else if (c < 0x80) fprintf(f, "%s\"%c\": %d", id ? ", " : "", (char)c, id);
        else fprintf(f, "%s\"\\u%04x\": %d", id ? ", " : "", (unsigned)c, id);
        id++;
    }
    for (int i = 0; i < n_extra; i++, id++)
        fprintf(f, ", \"%s\": %d", extra[i], id + (i == n_extra - 1 ? bump : 0));
    fputc('}', f);
    fclose(f);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f);
    fputs(text, f);
    fclose(f);
}

// Loads and expects failure with `code` and a message that names `file` and contains `what`.
static void expect_load_error(const char *vocab, const char *merges, int code, const char *file, const char *what) {
    err_clear();
    bpe *t = (bpe *)1;
    int rc = bpe_load(&t, vocab, merges);
    EXPECT(rc == code && t == NULL, "load(%s, %s): rc %d, want %d", vocab, merges, rc, code);
    EXPECT(strstr(err_msg(), file) != NULL, "message \"%s\" does not name %s", err_msg(), file);
    EXPECT(strstr(err_msg(), what) != NULL, "message \"%s\" does not say \"%s\"", err_msg(), what);
    err_clear();
}

static void test_errors(const bpe *gpt2) {
    int f0 = harness_failed;
    char vocab[128], merges[128];
    snprintf(vocab, sizeof vocab, "/tmp/shrink_test_bpe_%d_vocab.json", (int)getpid());
    snprintf(merges, sizeof merges, "/tmp/shrink_test_bpe_%d_merges.txt", (int)getpid());
    static const char *const extra[] = {"ab", "abc", "\\u0120a", "<|endoftext|>"};

    // A good small pair first, so that each bad file below fails for its own reason.
    write_vocab(vocab, -1, extra, 4, 0);
    write_text(merges, "#version: 0.2\r\na b\r\nab c\r\n\xc4\xa0 a\r\n");
    bpe *t = NULL;
    err_clear();
    EXPECT(bpe_load(&t, vocab, merges) == 0, "small tokenizer: %s", err_msg());
    if (t) {
        EXPECT(bpe_vocab_size(t) == 260 && bpe_eot(t) == 259 && bpe_merge_count(t) == 3, "small tokenizer sizes");
        // Byte b is id b here. " abc": (a,b) ranks before (Ġ,a), so Ġ never merges: Ġ + abc.
        static const int want[] = {257, ' ', 257, ' '};
        expect_encode(t, "abc abc ", 8, want, 4);
        static const int want_a[] = {258, ' ', 'b', 'c', 'a'};  // " a", " b", "ca"
        expect_encode(t, " a bca", 6, want_a, 5);
        bpe_free(t);
    }
    bpe_free(NULL);

    char missing[160];
    snprintf(missing, sizeof missing, "%s.does-not-exist", vocab);
    expect_load_error(missing, merges, ERR_IO, missing, "cannot open");
    snprintf(missing, sizeof missing, "%s.does-not-exist", merges);
    expect_load_error(vocab, missing, ERR_IO, missing, "cannot open");

    write_text(vocab, "{\"a\": 0, \"b\": 1,");
    expect_load_error(vocab, merges, ERR_FORMAT, vocab, "");
    write_text(vocab, "[1, 2, 3]");
    expect_load_error(vocab, merges, ERR_FORMAT, vocab, "JSON object");
    write_vocab(vocab, -1, extra, 4, 10);  // last id 269 with 260 tokens: a gap
    expect_load_error(vocab, merges, ERR_FORMAT, vocab, "no gaps");
    write_vocab(vocab, -1, extra, 4, -1);  // last id repeats the one before
    expect_load_error(vocab, merges, ERR_FORMAT, vocab, "used by both");
    write_vocab(vocab, 'q', extra, 4, 0);
    expect_load_error(vocab, merges, ERR_FORMAT, vocab, "0x71");
    static const char *const bad_char[] = {"ab", "abc", "\\u0120a", "\\u4e00"};
    write_vocab(vocab, -1, bad_char, 4, 0);
    expect_load_error(vocab, merges, ERR_FORMAT, vocab, "byte alphabet");
    write_text(vocab, "{\"a\": 0, \"b\": \"1\"}");
    expect_load_error(vocab, merges, ERR_FORMAT, vocab, "not an integer");

    write_vocab(vocab, -1, extra, 4, 0);
    write_text(merges, "#version: 0.2\na b\nab zz\n");
    expect_load_error(vocab, merges, ERR_FORMAT, merges, "vocab and merges disagree");
    write_text(merges, "#version: 0.2\na b\nb c\n");  // "bc" is not a token
    expect_load_error(vocab, merges, ERR_FORMAT, merges, "vocab and merges disagree");
    write_text(merges, "#version: 0.2\na b c\n");
    expect_load_error(vocab, merges, ERR_FORMAT, merges, "line 2");
    write_text(merges, "#version: 0.2\nab\n");
    expect_load_error(vocab, merges, ERR_FORMAT, merges, "one space");

    char *out = (char *)1;
    size_t n;
    static const int bad_ids[] = {464, 50257};
    err_clear();
    EXPECT(bpe_decode(gpt2, bad_ids, 2, &out, &n) == ERR_RANGE && out == NULL, "decode of id 50257");
    EXPECT(strstr(err_msg(), "50257") != NULL, "decode message \"%s\"", err_msg());
    err_clear();
    static const int neg_ids[] = {-1};
    EXPECT(bpe_decode(gpt2, neg_ids, 1, &out, &n) == ERR_RANGE, "decode of id -1");
    err_clear();
    unlink(vocab);
    unlink(merges);
    group_ok("error paths", f0, NULL);
}

// --- The mini model's 8192-token tokenizer

static void test_mini(void) {
    int f0 = harness_failed;
    char *vocab = shared_path("models/mini/vocab.json"), *merges = shared_path("models/mini/merges.txt");
    bpe *t = NULL;
    err_clear();
    EXPECT(bpe_load(&t, vocab, merges) == 0, "mini: %s", err_msg());
    if (t) {
        EXPECT(bpe_vocab_size(t) == 8192, "mini vocab %d", bpe_vocab_size(t));
        EXPECT(bpe_eot(t) == 8191, "mini eot %d", bpe_eot(t));
        static const char text[] = "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
                                   "All:  Speak, speak!  caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac 2024 <|endoftext|>";
        int *ids;
        size_t n;
        char *dec;
        size_t dec_len;
        EXPECT(bpe_encode(t, text, sizeof text - 1, &ids, &n) == 0, "mini encode");
        int in_range = 1, has_eot = 0;
        for (size_t i = 0; i < n; i++) {
            in_range &= ids[i] >= 0 && ids[i] < 8192;
            has_eot |= ids[i] == 8191;
        }
        EXPECT(in_range && !has_eot && n < sizeof text - 1, "mini ids (%zu of them)", n);
        EXPECT(bpe_decode(t, ids, n, &dec, &dec_len) == 0 && dec_len == sizeof text - 1 &&
                   memcmp(dec, text, dec_len) == 0,
               "mini round trip");
        free(dec);
        free(ids);
        bpe_free(t);
    }
    free(vocab);
    free(merges);
    group_ok("mini tokenizer", f0, NULL);
}

// --- WikiText-2 test: the whole file, timed

static void test_wikitext(const bpe *t) {
    int f0 = harness_failed;
    char *path = shared_path("data/wikitext-2-raw/wiki.test.raw");
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len) != 0) {
        EXPECT(0, "%s", err_msg());
        free(path);
        return;
    }
    int *ids;
    size_t n;
    double t0 = now_ms();
    int rc = bpe_encode(t, text, len, &ids, &n);
    double ms = now_ms() - t0;
    EXPECT(rc == 0, "wikitext encode");
    // Reference count: encoder.py's algorithm in Python with the regex module, same files, this exact file.
    EXPECT(n == 286221, "wikitext: %zu tokens, reference 286221", n);
    char *dec;
    size_t dec_len;
    EXPECT(bpe_decode(t, ids, n, &dec, &dec_len) == 0 && dec_len == len && memcmp(dec, text, len) == 0,
           "wikitext round trip");
    char detail[128];
    snprintf(detail, sizeof detail, "(%zu bytes -> %zu tokens in %.1f ms, %.1f MB/s)", len, n, ms,
             len / 1e3 / (ms > 0 ? ms : 1e-3));
    group_ok("wikitext-2 test encode", f0, detail);
    free(dec);
    free(ids);
    free(text);
    free(path);
}

int main(void) {
    test_unicode_class();
    test_pretokenize();
    char *vocab = shared_path("data/gpt2/vocab.json"), *merges = shared_path("data/gpt2/merges.txt");
    bpe *t = NULL;
    double t0 = now_ms();
    int rc = bpe_load(&t, vocab, merges);
    double ms = now_ms() - t0;
    EXPECT(rc == 0, "load: %s", err_msg());
    if (t) {
        char detail[64];
        snprintf(detail, sizeof detail, "(%.1f ms)", ms);
        group_ok("load gpt2", harness_failed, detail);
        test_gpt2_api(t);
        test_reference_cases(t);
        test_errors(t);
        test_wikitext(t);
    }
    test_mini();
    bpe_free(t);
    free(vocab);
    free(merges);
    return TEST_DONE();
}
