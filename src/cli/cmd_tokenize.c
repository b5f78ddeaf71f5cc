// cmd_tokenize.c: `shrink tokenize`: text -> ids (space separated, or a token file with
// --out FILE.bin for `shrink train`), or ids -> text with --decode.
#include "cli.h"
#include "args.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/xalloc.h"
#include "../train/train.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int decode_ids(const bpe *tok, const char *text, const char *src) {
    size_t cap = 1024, n = 0;
    int *ids = xmalloc(cap * sizeof(int));
    const char *p = text;
    int rc = 0;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 2147483647L || (*end && !strchr(" \n\t\r,", *end))) {
            size_t w = strcspn(p, " \n\t\r,");  // quote only the offending word, on one line
            rc = err_set(ERR_FORMAT, "%s: expected token ids (non-negative integers), found '%.*s'", src,
                         (int)(w < 20 ? w : 20), p);
            break;
        }
        if (v >= bpe_vocab_size(tok)) {
            rc = err_set(ERR_RANGE, "%s: token id %ld is outside the vocabulary [0, %d)", src, v, bpe_vocab_size(tok));
            break;
        }
        if (n == cap) ids = xrealloc(ids, (cap *= 2) * sizeof(int));
        ids[n++] = (int)v;
        p = end;
    }
    if (!rc) {
        char *out;
        size_t len;
        rc = bpe_decode(tok, ids, n, &out, &len);
        if (!rc) {
            fwrite(out, 1, len, stdout);
            free(out);
        }
    }
    free(ids);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *out = NULL;
    int decode = 0, threads = 0, eot = 0;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "model directory (its vocab.json and merges.txt are used)", 0, 0, 1},
        {"file", 'f', ARG_STR, &file, "FILE", "input file (default: stdin)", 0, 0, 0},
        {"decode", 0, ARG_FLAG, &decode, NULL, "read token ids, write the text they decode to (byte-exact)", 0, 0, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
        {"out", 'o', ARG_STR, &out, "FILE.bin", "write a token file (for shrink train -d) instead of printing ids", 0, 0, 0},
        {"eot", 0, ARG_FLAG, &eot, NULL, "append <|endoftext|> after the text (as shrink train does for text files)", 0, 0, 0},
    };
    int rc = args_parse("tokenize", "tokenize -m DIR [-f FILE] [--decode | --out FILE.bin [--eot]]", specs, 6, argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    bpe *tok = NULL;
    if (cli_load_tokenizer(model, &tok)) return cli_fail();
    char *text;
    size_t len;
    if (cli_read_input(file, &text, &len)) {
        bpe_free(tok);
        return cli_fail();
    }
    if (decode && (out || eot)) {
        rc = err_set(ERR_ARG, "tokenize: --out and --eot encode text; they do not go with --decode");
    } else if (out && (rc = file_check_output(out))) {
        // checked before encoding: not the input text, and its directory takes a new file
    } else if (decode) {
        rc = decode_ids(tok, text, file ? file : "stdin");
    } else {
        int *ids = NULL;
        size_t n = 0;
        rc = bpe_encode(tok, text, len, &ids, &n);
        if (!rc && eot) {
            if (bpe_eot(tok) < 0) {
                rc = err_set(ERR_ARG, "tokenize: --eot: the vocabulary has no <|endoftext|>");
            } else {
                ids = xrealloc(ids, (n + 1) * sizeof(int));
                ids[n++] = bpe_eot(tok);
            }
        }
        if (!rc && out) {
            rc = token_file_write(out, ids, n, bpe_vocab_size(tok));
            if (!rc) fprintf(stderr, "tokenize: %zu tokens written to %s\n", n, out);
        } else if (!rc) {
            for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
            printf("\n");
        }
        free(ids);
    }
    free(text);
    bpe_free(tok);
    return rc ? cli_fail() : 0;
}
