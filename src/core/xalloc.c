// xalloc.c: malloc family that aborts loudly; never returns NULL.
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void die_alloc(size_t n, const char *file, int line) {
    fprintf(stderr, "shrink: out of memory: %zu bytes at %s:%d\n", n, file, line);
    abort();
}

void *xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) die_alloc(n, file, line);
    return p;
}

void *xmalloc_weights_at(size_t n, const char *file, int line) {
    const size_t huge = (size_t)2 << 20;
    if (n < 2 * huge) return xmalloc_at(n, file, line);
    size_t len = (n + huge - 1) / huge * huge;  // aligned_alloc wants a multiple of the alignment
    void *p = aligned_alloc(huge, len);
    if (!p) die_alloc(len, file, line);
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE);  // a hint: without it (or without THP) the pages stay 4 KiB
#endif
    return p;
}

void *xcalloc_at(size_t count, size_t size, const char *file, int line) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) die_alloc(count * size, file, line);
    return p;
}

void *xrealloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die_alloc(n, file, line);
    return q;
}

char *xstrdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}
