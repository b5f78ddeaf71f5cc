// sbuf.h: a growable NUL-terminated string (report text, JSON, SVG, file headers).
// Allocation failure aborts (xalloc), so appending never fails.
#pragma once
#include <stddef.h>

typedef struct sbuf {
    char *s;     // NUL-terminated text (NULL until the first append)
    size_t len;  // bytes before the NUL
    size_t cap;
} sbuf;

void sbuf_init(sbuf *b);                 // empty buffer
void sbuf_free(sbuf *b);                 // safe on a zeroed struct; idempotent
void sbuf_reset(sbuf *b);                // empty again, keeping the memory
void sbuf_put(sbuf *b, const char *s, size_t n);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sbuf_str(const sbuf *b);     // "" for an empty buffer
