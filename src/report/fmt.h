// fmt.h: numbers as the report prints them, and text escaped for markdown and JSON.
//
// Every fmt_* number function writes into buf (at least FMT_LEN bytes) and returns it.
// They never print "-0" (a value that rounds to zero has no sign), print NaN as "n/a"
// and infinities as "inf" / "-inf", so a table never shows "nan" or "-0.00%".
// Sizes are decimal: 1 MB = 1e6 bytes, 1 kB = 1e3 bytes.
#pragma once
#include <stddef.h>
#include "../core/sbuf.h"

#define FMT_LEN 64

// sig significant digits (1..15): 156.75 -> "156.8" (sig 4), 0.000534 -> "0.000534" (sig 3).
// Integer parts are never cut: |v| >= 10^sig rounds to a whole number with thousands
// separators (19375.7 -> "19,376"); 0 < |v| < 1e-4 uses an exponent ("1.23e-05").
const char *fmt_sig(double v, int sig, char *buf);
// A fixed number of decimals (0..12): fmt_fixed(-0.004, 2) -> "0.00".
const char *fmt_fixed(double v, int decimals, char *buf);
// The same with a sign on nonzero results: "+1.25", "-0.50", "0.00".
const char *fmt_signed(double v, int decimals, char *buf);
// An integer with thousands separators: 6901760 -> "6,901,760".
const char *fmt_int(long long v, char *buf);
// Bytes with a unit chosen by size, 3 significant digits: "512 B", "12.3 kB", "6.45 MB", "1.50 GB".
const char *fmt_bytes(double bytes, char *buf);
// Bytes always in MB, 3 significant digits, with the unit: "27.6 MB", "0.0500 MB".
const char *fmt_mb(double bytes, char *buf);
// A signed change in percent: "+6.69%", "-75.0%", "+123%", "0.00%" (decimals: 2 below
// 10, 1 below 100, else 0).
const char *fmt_pct_signed(double pct, char *buf);
// A percentage with a fixed number of decimals, no sign for positive values: "76.52%".
const char *fmt_pct(double pct, int decimals, char *buf);
// A ratio as a speedup factor: "2.31x", "0.98x", "12.4x", "150x".
const char *fmt_speedup(double x, char *buf);

// Appends s as one markdown table cell's text: '|' and '\' escaped, newlines as <br>.
void fmt_md_cell(sbuf *b, const char *s);
// Appends s as a JSON string literal with quotes (control characters escaped; bytes
// >= 0x80 are copied, so UTF-8 stays UTF-8).
void fmt_json_string(sbuf *b, const char *s);
// Appends v as a JSON number with 10 significant digits, or null when not finite.
void fmt_json_num(sbuf *b, double v);
// Appends s with &, <, >, " and ' escaped for XML text and attribute values.
void fmt_xml(sbuf *b, const char *s);
// A malloc'd NUL-terminated copy of n bytes with every invalid UTF-8 sequence and NUL byte
// replaced by U+FFFD (a generation cut mid-character stays printable and valid JSON).
char *fmt_utf8_clean(const char *s, size_t n);
