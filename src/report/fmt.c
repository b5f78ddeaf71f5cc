// fmt.c: the report's number formatting (significant digits, sizes, signed percentages,
// speedups) and escaping for markdown cells, JSON strings and XML. No I/O.
#include "fmt.h"
#include "../formats/json.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// --- helpers

// "-0.00" -> "0.00", "-0" -> "0": a value that rounded to zero carries no sign.
static void drop_negative_zero(char *s) {
    if (s[0] != '-') return;
    for (const char *p = s + 1; *p && *p != 'e'; p++)
        if (*p >= '1' && *p <= '9') return;
    memmove(s, s + 1, strlen(s));
}

static int not_finite(double v, char *buf) {
    if (isnan(v)) snprintf(buf, FMT_LEN, "n/a");
    else if (isinf(v)) snprintf(buf, FMT_LEN, v > 0 ? "inf" : "-inf");
    else return 0;
    return 1;
}

// Inserts thousands separators into the integer part of a plain decimal string in place.
static void group_thousands(char *s) {
    char *start = s[0] == '-' ? s + 1 : s;
    size_t int_len = strcspn(start, ".");
    if (int_len <= 3) return;
    char tmp[FMT_LEN];
    size_t o = 0;
    for (size_t i = 0; i < int_len && o + 2 < sizeof tmp; i++) {
        tmp[o++] = start[i];
        if ((int_len - i - 1) % 3 == 0 && i + 1 < int_len) tmp[o++] = ',';
    }
    tmp[o] = 0;
    if ((size_t)(start - s) + o + strlen(start + int_len) + 1 > FMT_LEN) return;  // does not fit: leave it plain
    char rest[FMT_LEN];
    snprintf(rest, sizeof rest, "%s", start + int_len);
    snprintf(start, FMT_LEN - (size_t)(start - s), "%s%s", tmp, rest);
}

// Appends suffix to the FMT_LEN buffer buf, cutting it if it would not fit.
static const char *append(char *buf, const char *suffix) {
    size_t n = strlen(buf), k = strlen(suffix);
    if (n + k >= FMT_LEN) k = FMT_LEN - 1 - n;
    memcpy(buf + n, suffix, k);
    buf[n + k] = 0;
    return buf;
}

// --- numbers

const char *fmt_fixed(double v, int decimals, char *buf) {
    if (not_finite(v, buf)) return buf;
    if (decimals < 0) decimals = 0;
    if (decimals > 12) decimals = 12;
    if (fabs(v) >= 1e21) snprintf(buf, FMT_LEN, "%.*e", decimals, v);  // %f would not fit
    else snprintf(buf, FMT_LEN, "%.*f", decimals, v);
    drop_negative_zero(buf);
    return buf;
}

const char *fmt_signed(double v, int decimals, char *buf) {
    fmt_fixed(v, decimals, buf);
    int zero = strspn(buf, "0.") == strlen(buf);
    if (isfinite(v) && buf[0] != '-' && !zero && strlen(buf) + 2 <= FMT_LEN) {
        memmove(buf + 1, buf, strlen(buf) + 1);
        buf[0] = '+';
    }
    return buf;
}

const char *fmt_sig(double v, int sig, char *buf) {
    if (not_finite(v, buf)) return buf;
    if (sig < 1) sig = 1;
    if (sig > 15) sig = 15;
    double a = fabs(v);
    if (a == 0) return snprintf(buf, FMT_LEN, "0"), buf;
    if (a >= 1e21) {
        snprintf(buf, FMT_LEN, "%.*e", sig - 1, v);
    } else if (a >= pow(10, sig) - 0.5) {
        snprintf(buf, FMT_LEN, "%.0f", v);
        group_thousands(buf);
    } else if (a < 1e-4) {
        snprintf(buf, FMT_LEN, "%.*e", sig - 1, v);
    } else {
        int mag = (int)floor(log10(a));
        int dec = sig - 1 - mag;
        if (dec < 0) dec = 0;
        snprintf(buf, FMT_LEN, "%.*f", dec, v);
        // rounding can carry into the next digit (9.996 -> "10.00"): one decimal fewer then
        if (dec > 0 && fabs(atof(buf)) >= pow(10, mag + 1)) snprintf(buf, FMT_LEN, "%.*f", dec - 1, v);
        group_thousands(buf);
    }
    drop_negative_zero(buf);
    return buf;
}

const char *fmt_int(long long v, char *buf) {
    snprintf(buf, FMT_LEN, "%lld", v);
    group_thousands(buf);
    return buf;
}

const char *fmt_bytes(double bytes, char *buf) {
    if (not_finite(bytes, buf)) return buf;
    static const char *unit[] = {"B", "kB", "MB", "GB", "TB"};
    double a = fabs(bytes);
    int u = 0;
    // the unit is picked after rounding, so 999,999 bytes is "1.00 MB", not "1,000 kB"
    while (u < 4 && a >= 1e3 * (1 - 5e-4)) a /= 1e3, u++;
    if (u == 0) return snprintf(buf, FMT_LEN, "%.0f B", bytes), drop_negative_zero(buf), buf;
    fmt_sig(bytes < 0 ? -a : a, 3, buf);
    append(buf, " ");
    return append(buf, unit[u]);
}

const char *fmt_mb(double bytes, char *buf) {
    if (not_finite(bytes, buf)) return buf;
    fmt_sig(bytes / 1e6, 3, buf);
    return append(buf, " MB");
}

static int pct_decimals(double pct) {
    double a = fabs(pct);
    return a < 9.995 ? 2 : a < 99.95 ? 1 : 0;
}

const char *fmt_pct_signed(double pct, char *buf) {
    if (not_finite(pct, buf)) return buf;
    fmt_signed(pct, pct_decimals(pct), buf);
    return append(buf, "%");
}

const char *fmt_pct(double pct, int decimals, char *buf) {
    if (not_finite(pct, buf)) return buf;
    fmt_fixed(pct, decimals, buf);
    return append(buf, "%");
}

const char *fmt_speedup(double x, char *buf) {
    if (not_finite(x, buf)) return buf;
    double a = fabs(x);
    fmt_fixed(x, a < 9.995 ? 2 : a < 99.95 ? 1 : 0, buf);
    return append(buf, "x");
}

// --- text

void fmt_md_cell(sbuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '|' || *s == '\\') {
            char e[2] = {'\\', *s};
            sbuf_put(b, e, 2);
        } else if (*s == '\n') {
            sbuf_puts(b, "<br>");
        } else if (*s != '\r') {
            sbuf_put(b, s, 1);
        }
    }
}

void fmt_json_string(sbuf *b, const char *s) { json_put_string(b, s, strlen(s)); }

void fmt_json_num(sbuf *b, double v) {
    if (!isfinite(v)) {
        sbuf_puts(b, "null");
        return;
    }
    char buf[FMT_LEN];
    snprintf(buf, sizeof buf, "%.10g", v);
    drop_negative_zero(buf);
    sbuf_puts(b, buf);
}

void fmt_xml(sbuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': sbuf_puts(b, "&amp;"); break;
        case '<': sbuf_puts(b, "&lt;"); break;
        case '>': sbuf_puts(b, "&gt;"); break;
        case '"': sbuf_puts(b, "&quot;"); break;
        case '\'': sbuf_puts(b, "&apos;"); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n') sbuf_put(b, s, 1);  // XML forbids other controls
        }
    }
}

// Length of the valid UTF-8 sequence at s (n bytes left), or 0 if it is invalid.
static size_t utf8_seq(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return s[0] ? 1 : 0;
    size_t len = s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (s[0] == 0xE0 && s[1] < 0xA0) return 0;  // overlong
    if (s[0] == 0xED && s[1] >= 0xA0) return 0; // surrogates
    if (s[0] == 0xF0 && s[1] < 0x90) return 0;  // overlong
    if (s[0] == 0xF4 && s[1] >= 0x90) return 0; // above U+10FFFF
    return len;
}

char *fmt_utf8_clean(const char *s, size_t n) {
    sbuf b;
    sbuf_init(&b);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (k) sbuf_put(&b, s + i, k), i += k;
        else sbuf_puts(&b, "\xEF\xBF\xBD"), i++;
    }
    if (!b.s) sbuf_put(&b, "", 0);
    return b.s;  // the caller owns it
}
