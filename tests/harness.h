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

// Where ../shared lives (tests only; the product never reads it).
static inline const char *shared_dir(void) {
    const char *d = getenv("SHRINK_SHARED");
    return d ? d : "../shared";
}
