// args.h: one options table per subcommand gives the parser, the defaults and --help.
#pragma once
#include <stdio.h>

typedef enum { ARG_FLAG, ARG_INT, ARG_FLOAT, ARG_STR, ARG_U64, ARG_STRS } arg_kind;

// The destination of an ARG_STRS option, which may repeat: each occurrence appends its
// value to v (room for max); one more is an error naming the option.
typedef struct arg_strs {
    const char **v;
    int n, max;
} arg_strs;

typedef struct arg_spec {
    const char *name;     // long name without "--"
    char short_name;      // 0 if none
    arg_kind kind;
    void *dest;           // int* (FLAG, INT), float*, const char**, unsigned long long*, arg_strs*
    const char *metavar;  // shown in --help ("N", "DIR", ...)
    const char *help;
    double min, max;      // inclusive range for numbers (ignored when min > max)
    int required;
} arg_spec;

// Parses argv[0..argc) (after the subcommand's name). The initial values of the
// destinations are the defaults, and --help prints them. Returns 0, 1 after
// printing --help, or ERR_ARG with a message (unknown option, missing or bad value,
// out of range, missing required option, stray argument).
int args_parse(const char *cmd, const char *usage, const arg_spec *specs, int n, int argc, char **argv);
void args_help(FILE *f, const char *cmd, const char *usage, const arg_spec *specs, int n);
