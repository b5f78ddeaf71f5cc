// xalloc.h: allocation that aborts with size and call site on failure
// (llm.c's mallocCheck). Sizes read from files must be checked for overflow
// and plausibility *before* they reach these (see size_mul_ok).
#pragma once
#include <stddef.h>
#include <stdint.h>

void *xmalloc_at(size_t n, const char *file, int line);
void *xcalloc_at(size_t count, size_t size, const char *file, int line);
void *xrealloc_at(void *p, size_t n, const char *file, int line);
char *xstrdup_at(const char *s, const char *file, int line);
// Model weights: from 4 MiB up, 2 MiB-aligned and marked for transparent huge pages.
// Generation streams every weight once per token, and the hardware prefetcher stops at
// each page boundary, so large pages stream faster (bench/README.md, "Design
// measurements"). Freed with free().
void *xmalloc_weights_at(size_t n, const char *file, int line);
#define xmalloc(n) xmalloc_at((n), __FILE__, __LINE__)
#define xmalloc_weights(n) xmalloc_weights_at((n), __FILE__, __LINE__)
#define xcalloc(c, s) xcalloc_at((c), (s), __FILE__, __LINE__)
#define xrealloc(p, n) xrealloc_at((p), (n), __FILE__, __LINE__)
#define xstrdup(s) xstrdup_at((s), __FILE__, __LINE__)

// *out = a*b; returns 0 (and leaves *out unspecified) on overflow.
static inline int size_mul_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
