// mutate.c: applies one mutant (dev/mutants/*.mut) to a tree, for `make mutants`.
//
//   mutate ROOT MUTANT          replaces the mutant's snippet in ROOT/<file>
//   mutate --field NAME MUTANT  prints a header field (file, tests) and exits
//
// A mutant file is a few header lines, then the exact original text and its replacement:
//   # why this mutant matters (comment lines start with #)
//   file: src/compress/gptq.c
//   tests: test_gptq test_methods
//   --- original
//   <lines of the original, exactly as in the file>
//   +++ mutant
//   <lines that replace them>
// The snippet must occur exactly once in the file; otherwise the mutant is stale (the code
// moved on) and mutate says so and exits 2, so a runner never reports a mutant that was
// not applied as killed or survived. The snippet's last newline is not part of it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    *len = n;
    return buf;
}

static int die(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "mutate: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *field = NULL, *root = NULL, *mpath;
    if (argc == 4 && strcmp(argv[1], "--field") == 0) field = argv[2];
    else if (argc == 3) root = argv[1];
    else return die("usage: mutate ROOT MUTANT | mutate --field NAME MUTANT%s%s", "", "");
    mpath = argv[argc - 1];
    size_t mlen;
    char *m = read_all(mpath, &mlen);
    if (!m) return die("cannot read %s%s", mpath, "");
    char *file = NULL, *tests = NULL, *orig = NULL, *repl = NULL;
    // Header: "key: value" lines and comments, up to the "--- original" line.
    char *p = m;
    while (*p) {
        char *eol = strchr(p, '\n');
        if (!eol) return die("%s: no '--- original' line%s", mpath, "");
        *eol = 0;
        if (strcmp(p, "--- original") == 0) {
            p = eol + 1;
            break;
        }
        if (strncmp(p, "file: ", 6) == 0) file = p + 6;
        else if (strncmp(p, "tests: ", 7) == 0) tests = p + 7;
        else if (*p && *p != '#') return die("%s: unexpected header line '%s'", mpath, p);
        p = eol + 1;
    }
    char *sep = strstr(p, "\n+++ mutant\n");
    if (!file || !tests || !sep) return die("%s: needs 'file:', 'tests:', '--- original' and '+++ mutant'%s", mpath, "");
    *sep = 0;
    orig = p;
    repl = sep + strlen("\n+++ mutant\n");
    size_t rl = strlen(repl);
    if (rl && repl[rl - 1] == '\n') repl[--rl] = 0;
    if (field) {
        if (strcmp(field, "file") == 0) puts(file);
        else if (strcmp(field, "tests") == 0) puts(tests);
        else return die("unknown field %s%s", field, "");
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, file);
    size_t len;
    char *src = read_all(path, &len);
    if (!src) return die("cannot read %s%s", path, "");
    size_t ol = strlen(orig);
    if (ol == 0) return die("%s: empty original snippet%s", mpath, "");
    int count = 0;
    char *at = NULL;
    for (char *q = strstr(src, orig); q; q = strstr(q + 1, orig)) {
        if (!count) at = q;
        count++;
    }
    if (count != 1) {
        char n[32];
        snprintf(n, sizeof n, "%d", count);
        return die("%s: the original snippet occurs %s times (must be once): update the mutant", mpath, n);
    }
    FILE *f = fopen(path, "wb");
    if (!f) return die("cannot write %s%s", path, "");
    fwrite(src, 1, (size_t)(at - src), f);
    fwrite(repl, 1, rl, f);
    fputs(at + ol, f);
    if (fclose(f)) return die("cannot write %s%s", path, "");
    free(src);
    free(m);
    return 0;
}
