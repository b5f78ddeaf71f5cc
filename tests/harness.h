// harness.h: a tiny test harness. EXPECT(cond, fmt, ...) records a failure and
// goes on; TEST_DONE() prints the tally line and returns the exit status.
#pragma once
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int harness_failed, harness_passed;

#define EXPECT(cond, ...)                                          \
    do {                                                           \
        if (cond) harness_passed++;                                \
        else {                                                     \
            harness_failed++;                                      \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
            fprintf(stderr, __VA_ARGS__);                          \
            fprintf(stderr, "\n");                                 \
        }                                                          \
    } while (0)

// Prints "name ... ok (maxdiff=...)" or FAIL and records the result.
#define EXPECT_CLOSE(name, maxdiff, tol)                                                         \
    do {                                                                                         \
        double md_ = (maxdiff), tol_ = (tol);                                                    \
        if (md_ <= tol_ && !isnan(md_)) {                                                        \
            harness_passed++;                                                                    \
            printf("%s ... ok (maxdiff=%.3g, tol=%.3g)\n", (name), md_, tol_);                   \
        } else {                                                                                 \
            harness_failed++;                                                                    \
            fprintf(stderr, "FAIL %s:%d: %s maxdiff=%.3g > tol=%.3g\n", __FILE__, __LINE__, (name), md_, tol_); \
        }                                                                                        \
    } while (0)

#define TEST_DONE()                                                          \
    (printf("%s: %d passed, %d failed\n", __FILE__, harness_passed, harness_failed), \
     harness_failed ? 1 : 0)

// Largest |a[i] - b[i]| (NaN anywhere gives NaN, so a check against it fails), and largest |a[i]|.
static inline double harness_maxdiff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return d;
        if (d > m) m = d;
    }
    return m;
}

static inline double harness_maxabs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

// Where ../shared lives (tests only; the product never reads it).
static inline const char *shared_dir(void) {
    const char *d = getenv("SHRINK_SHARED");
    return d ? d : "../shared";
}

// Reads a raw binary test vector dir/name of whole elements of es bytes (a failed
// check otherwise); *n_out = the element count. The caller frees the buffer.
static inline void *read_bin(const char *dir, const char *name, size_t es, size_t *n_out) {
    char path[768];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *n_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        EXPECT(0, "cannot open %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(sz > 0 ? (size_t)sz + 1 : 1);
    if (!buf) {
        fclose(f);
        EXPECT(0, "out of memory reading %s", path);
        return NULL;
    }
    size_t got = fread(buf, 1, (size_t)sz, f);
    fclose(f);
    EXPECT(got == (size_t)sz && sz % (long)es == 0, "short read of %s", path);
    *n_out = (size_t)sz / es;
    return buf;
}
