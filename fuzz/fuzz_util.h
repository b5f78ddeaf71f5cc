// fuzz_util.h: what the libFuzzer harnesses share (docs/reliability.md, "Fuzzing").
//
// The loaders read files by path, so each input is written to a file in a directory of
// this process (under $TMPDIR, /dev/shm when present) and read back from there. INVARIANT
// aborts with a message: libFuzzer reports it as a crash, with the input that broke it.
// Every harness also checks that a call which succeeds leaves no error recorded (a stale
// message would become the text of some later, unrelated failure: issue 12, fault 1).
#pragma once
#include "core/err.h"
#include "core/xalloc.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INVARIANT(cond, ...)                                                       \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "invariant broken at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                          \
            fprintf(stderr, "\n");                                                 \
            abort();                                                               \
        }                                                                          \
    } while (0)

// This process's scratch directory (created once, removed at exit).
static char fuzz_dir_buf[256];
static void fuzz_dir_cleanup(void) {
    char cmd[320];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_buf);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", fuzz_dir_buf);
}
static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_buf[0]) {
        struct stat st;
        const char *base = getenv("TMPDIR");
        if (!base) base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_dir_buf, sizeof fuzz_dir_buf, "%s/shrink-fuzz.XXXXXX", base);
        if (!mkdtemp(fuzz_dir_buf)) abort();
        atexit(fuzz_dir_cleanup);
    }
    return fuzz_dir_buf;
}

// fuzz_dir()/name, in one of 8 static slots.
static inline const char *fuzz_path(const char *name) {
    static char buf[8][320];
    static int n;
    char *p = buf[n++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", fuzz_dir(), name);
    return p;
}

static inline void fuzz_write(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (len && fwrite(data, 1, len, f) != len) abort();
    if (fclose(f) != 0) abort();
}

// Splits data at each occurrence of FUZZ_SEP (the separator is not part of any piece) into at
// most max pieces (the last one takes the rest). Returns the number of pieces (>= 1).
#define FUZZ_SEP "\n@@@@\n"
static inline int fuzz_split(const uint8_t *data, size_t len, int max, const uint8_t **piece, size_t *piece_len) {
    // Byte loops rather than memcmp: libFuzzer traces every memcmp, which would dominate here.
    const char *sep = FUZZ_SEP;
    size_t sl = strlen(sep);
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; n < max - 1 && i + sl <= len; i++) {
        if (data[i] != (uint8_t)sep[0]) continue;
        size_t k = 1;
        while (k < sl && data[i + k] == (uint8_t)sep[k]) k++;
        if (k < sl) continue;
        piece[n] = data + start;
        piece_len[n++] = i - start;
        start = i + sl;
        i += sl - 1;
    }
    piece[n] = data + start;
    piece_len[n++] = len - start;
    return n;
}

// A successful call must leave no error recorded.
#define EXPECT_NO_ERROR(what) INVARIANT(err_code() == 0, "%s succeeded but left the error '%s' recorded", what, err_msg())

// Entries in a directory other than . and .. (temp files must not pile up).
#include <dirent.h>
static inline int fuzz_count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}
