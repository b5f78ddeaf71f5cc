// pretokenize.c: GPT-2's pre-tokenization regex, as a hand-written scanner over UTF-8.
//
// The pattern's alternatives are tried in order at each start, as the backtracking regex
// engine does (see pretokenize.h for the pattern and the behaviours it implies). Only the
// first one or two code points decide which alternative matches; the rest is a greedy run of
// one class. It does not allocate and does not handle special tokens (encoder.py has none).
#include "pretokenize.h"
#include "unicode_class.h"

// --- UTF-8

size_t pretokenize_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp) {
    const uint32_t bad = 0xFFFFFFFFu;
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t n;
    uint32_t c, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) n = 2, c = b0 & 0x1F, min = 0x80;
    else if (b0 >= 0xE0 && b0 <= 0xEF) n = 3, c = b0 & 0x0F, min = 0x800;
    else if (b0 >= 0xF0 && b0 <= 0xF4) n = 4, c = b0 & 0x07, min = 0x10000;
    else {  // continuation byte as lead, C0/C1 (always overlong), F5..FF
        *cp = bad;
        return 1;
    }
    if (len < n) {
        *cp = bad;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = bad;
            return 1;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = bad;
        return 1;
    }
    *cp = c;
    return n;
}

// Class of the code point at s[pos..len) (pos < len); sets *n to its byte length.
static int class_at(const uint8_t *s, size_t len, size_t pos, size_t *n) {
    if (s[pos] < 0x80) {  // fast path: most text is ASCII
        *n = 1;
        return unicode_class(s[pos]);
    }
    uint32_t cp;
    *n = pretokenize_utf8_decode(s + pos, len - pos, &cp);
    return unicode_class(cp);
}

// End of the run of code points of class cls that starts at pos.
static size_t run_end(const uint8_t *s, size_t len, size_t pos, int cls) {
    size_t n;
    while (pos < len && class_at(s, len, pos, &n) == cls) pos += n;
    return pos;
}

// --- The pattern

size_t pretokenize_next(const char *text, size_t len, size_t pos) {
    const uint8_t *s = (const uint8_t *)text;
    // 's|'t|'re|'ve|'m|'ll|'d
    if (s[pos] == '\'' && pos + 1 < len) {
        uint8_t c1 = s[pos + 1];
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return pos + 2;
        if (pos + 2 < len) {
            uint8_t c2 = s[pos + 2];
            if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
                return pos + 3;
        }
    }
    size_t n0;
    int c0 = class_at(s, len, pos, &n0);
    //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+  with the optional space taken
    if (s[pos] == ' ' && pos + 1 < len) {
        size_t n1;
        int c1 = class_at(s, len, pos + 1, &n1);
        if (c1 != UNI_SPACE) return run_end(s, len, pos + 1 + n1, c1);
    }
    // the same three without the space
    if (c0 != UNI_SPACE) return run_end(s, len, pos + n0, c0);
    // \s+(?!\S) | \s+ : take the whole run; if a non-space follows, give its last code
    // point back to the next piece, unless the run is a single code point.
    size_t end = pos + n0, last = pos;
    while (end < len) {
        size_t n;
        if (class_at(s, len, end, &n) != UNI_SPACE) break;
        last = end;
        end += n;
    }
    if (end < len && last > pos) return last;
    return end;
}
