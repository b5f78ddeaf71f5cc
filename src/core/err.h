// err.h: error codes, one recorded message, and CHECK for our own invariants.
//
// Two tiers (see STYLE.md). Input we do not control (files, shapes read from
// files, options) returns a negative ERR_* code and records a message with
// err_set(); the first failure wins until err_clear(). Only src/cli prints it.
// Our own invariants use CHECK(), which aborts with file:line in every build.
#pragma once
#include <stdio.h>
#include <stdlib.h>

enum {
    ERR_OK = 0,
    ERR_IO = -1,      // cannot open/read/write/map a file
    ERR_FORMAT = -2,  // a file is malformed (bad JSON, bad header, unknown dtype, ...)
    ERR_SHAPE = -3,   // a tensor or config has the wrong shape or size
    ERR_ARG = -4,     // an option or argument is invalid
    ERR_RANGE = -5,   // a value (token id, size) is out of range
};

// Records "msg" (printf-style) if no message is recorded yet; returns code so
// callers can write `return err_set(ERR_FORMAT, "%s: ...", path);`.
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *err_msg(void);  // "" when none
int err_code(void);         // 0 when none
void err_clear(void);

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "shrink: internal error: %s:%d: CHECK(%s) failed\n", \
                    __FILE__, __LINE__, #cond);                                  \
            abort();                                                             \
        }                                                                        \
    } while (0)
