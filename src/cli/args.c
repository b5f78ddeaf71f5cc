// args.c: table-driven option parsing with range checks; --help generated from the table.
#include "args.h"
#include "../core/err.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void print_default(FILE *f, const arg_spec *s) {
    if (strstr(s->help, "(default")) return;  // the text gives it, with why
    switch (s->kind) {
    case ARG_FLAG: break;
    case ARG_INT: fprintf(f, " (default: %d)", *(int *)s->dest); break;
    case ARG_FLOAT: fprintf(f, " (default: %g)", *(float *)s->dest); break;
    case ARG_U64: fprintf(f, " (default: %llu)", *(unsigned long long *)s->dest); break;
    case ARG_STR:
        if (*(const char **)s->dest) fprintf(f, " (default: %s)", *(const char **)s->dest);
        break;
    case ARG_STRS: break;
    }
}

void args_help(FILE *f, const char *cmd, const char *usage, const arg_spec *specs, int n) {
    fprintf(f, "usage: shrink %s\n\noptions:\n", usage);
    for (int i = 0; i < n; i++) {
        const arg_spec *s = &specs[i];
        char left[64];
        if (s->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", s->short_name, s->name, s->metavar ? " " : "", s->metavar ? s->metavar : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", s->name, s->metavar ? " " : "", s->metavar ? s->metavar : "");
        fprintf(f, "  %-24s %s", left, s->help);
        print_default(f, s);
        if (s->required) fprintf(f, " (required)");
        fprintf(f, "\n");
    }
    fprintf(f, "  %-24s %s\n", "-h, --help", "show this help");
    (void)cmd;
}

static int set_value(const char *cmd, const arg_spec *s, const char *v) {
    char *end;
    errno = 0;
    switch (s->kind) {
    case ARG_FLAG: *(int *)s->dest = 1; return 0;
    case ARG_STR: *(const char **)s->dest = v; return 0;
    case ARG_STRS: {
        arg_strs *l = s->dest;
        if (l->n == l->max) return err_set(ERR_ARG, "%s: at most %d values of --%s", cmd, l->max, s->name);
        l->v[l->n++] = v;
        return 0;
    }
    case ARG_INT: {
        long x = strtol(v, &end, 10);
        if (*v == 0 || *end || errno || x < -2147483647L || x > 2147483647L)
            return err_set(ERR_ARG, "%s: --%s expects an integer, got '%s'", cmd, s->name, v);
        if (s->min <= s->max && (x < s->min || x > s->max))
            return err_set(ERR_ARG, "%s: --%s %ld is out of range [%g, %g]", cmd, s->name, x, s->min, s->max);
        *(int *)s->dest = (int)x;
        return 0;
    }
    case ARG_U64: {
        if (*v == '-') return err_set(ERR_ARG, "%s: --%s expects a non-negative integer, got '%s'", cmd, s->name, v);
        unsigned long long x = strtoull(v, &end, 10);
        if (*v == 0 || *end || errno) return err_set(ERR_ARG, "%s: --%s expects a non-negative integer, got '%s'", cmd, s->name, v);
        *(unsigned long long *)s->dest = x;
        return 0;
    }
    case ARG_FLOAT: {
        double x = strtod(v, &end);
        if (*v == 0 || *end || errno || !isfinite(x))
            return err_set(ERR_ARG, "%s: --%s expects a number, got '%s'", cmd, s->name, v);
        if (s->min <= s->max && (x < s->min || x > s->max))
            return err_set(ERR_ARG, "%s: --%s %g is out of range [%g, %g]", cmd, s->name, x, s->min, s->max);
        *(float *)s->dest = (float)x;
        return 0;
    }
    }
    return ERR_ARG;
}

int args_parse(const char *cmd, const char *usage, const arg_spec *specs, int n, int argc, char **argv) {
    char seen[128] = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            args_help(stdout, cmd, usage, specs, n);
            return 1;
        }
        const arg_spec *s = NULL;
        const char *inline_val = NULL;
        if (a[0] == '-' && a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            for (int j = 0; j < n; j++)
                if (strlen(specs[j].name) == len && strncmp(specs[j].name, a + 2, len) == 0) s = &specs[j];
            if (eq) inline_val = eq + 1;
        } else if (a[0] == '-' && a[1] && !a[2]) {
            for (int j = 0; j < n; j++)
                if (specs[j].short_name == a[1]) s = &specs[j];
        } else {
            return err_set(ERR_ARG, "%s: unexpected argument '%s' (see shrink %s --help)", cmd, a, cmd);
        }
        if (!s) return err_set(ERR_ARG, "%s: unknown option '%s' (see shrink %s --help)", cmd, a, cmd);
        seen[s - specs] = 1;
        if (s->kind == ARG_FLAG) {
            if (inline_val) return err_set(ERR_ARG, "%s: --%s takes no value", cmd, s->name);
            *(int *)s->dest = 1;
            continue;
        }
        const char *v = inline_val;
        if (!v) {
            if (i + 1 >= argc) return err_set(ERR_ARG, "%s: option '%s' needs a value (%s)", cmd, a, s->metavar ? s->metavar : "value");
            v = argv[++i];
        }
        int rc = set_value(cmd, s, v);
        if (rc) return rc;
    }
    for (int j = 0; j < n && j < 128; j++)
        if (specs[j].required && !seen[j]) return err_set(ERR_ARG, "%s: missing required option --%s (see shrink %s --help)", cmd, specs[j].name, cmd);
    return 0;
}
