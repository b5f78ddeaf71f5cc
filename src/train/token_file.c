// token_file.c: shrink's token file (.bin): a tokenized corpus that `shrink train -d`
// reads without the tokenizer, written by `shrink tokenize --out FILE.bin`.
//
// Layout (all integers little-endian):
//   offset  size  field
//   0       8     magic "SHRKTOKN"
//   8       4     u32 version = 1
//   12      4     u32 id_bytes: 2 (uint16 ids, used when vocab_size ≤ 65536) or 4 (uint32 ids)
//   16      8     u64 n_tokens
//   24      4     u32 vocab_size: the tokenizer's V; every id is < V
//   28      4     u32 reserved = 0
//   32      n_tokens · id_bytes   the ids, in order
// The file size must be exactly 32 + n_tokens · id_bytes. The ids are the stream as
// given: `shrink tokenize --out` appends <|endoftext|> only when asked (--eot).
#include "train.h"
#include "../core/bytes.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/xalloc.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <string.h>

#define TOKEN_MAGIC "SHRKTOKN"
#define TOKEN_VERSION 1
#define TOKEN_HEADER 32


int token_file_write(const char *path, const int *ids, size_t n, int vocab_size) {
    if (vocab_size < 1) return err_set(ERR_ARG, "%s: vocabulary size %d is not positive", path, vocab_size);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab_size)
            return err_set(ERR_RANGE, "%s: token id %d at position %zu is outside [0, %d)", path, ids[i], i, vocab_size);
    unsigned id_bytes = vocab_size <= 65536 ? 2 : 4;
    unsigned char hdr[TOKEN_HEADER] = {0};
    memcpy(hdr, TOKEN_MAGIC, 8);
    le_put_u32(hdr + 8, TOKEN_VERSION);
    le_put_u32(hdr + 12, id_bytes);
    le_put_u64(hdr + 16, (uint64_t)n);
    le_put_u32(hdr + 24, (uint32_t)vocab_size);
    atomic_file f;
    int rc = atomic_file_open(&f, path);
    if (rc) return rc;
    int ok = fwrite(hdr, 1, TOKEN_HEADER, f.f) == TOKEN_HEADER;
    unsigned char buf[4096];
    size_t fill = 0;
    for (size_t i = 0; i < n && ok; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (unsigned b = 0; b < id_bytes; b++) buf[fill++] = (unsigned char)(v >> (8 * b));
        if (fill + 4 > sizeof buf || i + 1 == n) {
            ok = fwrite(buf, 1, fill, f.f) == fill;
            fill = 0;
        }
    }
    if (!ok) {
        atomic_file_abort(&f);
        return err_set(ERR_IO, "%s: write failed", path);
    }
    return atomic_file_commit(&f);
}

int token_file_is(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[8];
    int is = fread(magic, 1, 8, f) == 8 && memcmp(magic, TOKEN_MAGIC, 8) == 0;
    fclose(f);
    return is;
}

int token_file_read(const char *path, int **ids, size_t *n, int *vocab_size) {
    *ids = NULL;
    *n = 0;
    file_map fm;
    int rc = file_map_open(&fm, path);
    if (rc) return rc;
    const unsigned char *p = fm.data;
    if (fm.len < TOKEN_HEADER || memcmp(p, TOKEN_MAGIC, 8) != 0) {
        file_map_close(&fm);
        return err_set(ERR_FORMAT, "%s: not a shrink token file (no \"" TOKEN_MAGIC "\" magic); "
                                   "HINT: write one with `shrink tokenize -m DIR -f TEXT --out FILE.bin`", path);
    }
    uint32_t version = le_get_u32(p + 8), id_bytes = le_get_u32(p + 12), V = le_get_u32(p + 24);
    uint64_t count = le_get_u64(p + 16);
    if (version != TOKEN_VERSION) rc = err_set(ERR_FORMAT, "%s: token file version %u, this build reads version %d",
                                               path, version, TOKEN_VERSION);
    else if (id_bytes != 2 && id_bytes != 4)
        rc = err_set(ERR_FORMAT, "%s: id width %u bytes (expected 2 or 4)", path, id_bytes);
    else if (V < 1 || V > 0x7fffffffu || (id_bytes == 2 && V > 65536))
        rc = err_set(ERR_FORMAT, "%s: vocabulary size %u does not fit %u-byte ids", path, V, id_bytes);
    else if (count > (uint64_t)(fm.len - TOKEN_HEADER) / id_bytes || TOKEN_HEADER + count * id_bytes != fm.len)
        rc = err_set(ERR_FORMAT, "%s: header says %llu tokens of %u bytes, but the file has %zu bytes of ids", path,
                     (unsigned long long)count, id_bytes, fm.len - TOKEN_HEADER);
    if (rc) {
        file_map_close(&fm);
        return rc;
    }
    int *out = xmalloc((count ? count : 1) * sizeof(int));
    const unsigned char *d = p + TOKEN_HEADER;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t v = id_bytes == 2 ? (uint32_t)d[2 * i] | (uint32_t)d[2 * i + 1] << 8 : le_get_u32(d + 4 * i);
        if (v >= V) {
            rc = err_set(ERR_RANGE, "%s: token id %u at position %llu is outside [0, %u)", path, v,
                         (unsigned long long)i, V);
            break;
        }
        out[i] = (int)v;
    }
    file_map_close(&fm);
    if (rc) {
        free(out);
        return rc;
    }
    *ids = out;
    *n = (size_t)count;
    *vocab_size = (int)V;
    return 0;
}

// Appends the ids of one file to (*ids, *n): a token file as it is; a text file encoded
// whole, then <|endoftext|> when the vocabulary has it.
static int load_one(const char *path, const bpe *tok, int V, int **ids, size_t *n, size_t *cap) {
    int *got = NULL;
    size_t k = 0;
    int rc = 0, eot = -1;
    if (token_file_is(path)) {
        int fv;
        rc = token_file_read(path, &got, &k, &fv);
        if (!rc && fv > V)
            rc = err_set(ERR_RANGE, "%s: token file for a %d-token vocabulary; the model has %d", path, fv, V);
    } else {
        if (!tok) return err_set(ERR_ARG, "%s: a text file needs the tokenizer (vocab.json + merges.txt); pass "
                                          "--tokenizer DIR or a token file written by `shrink tokenize --out`", path);
        char *text;
        size_t len;
        rc = file_read_all(path, &text, &len);
        if (rc) return rc;
        rc = bpe_encode(tok, text, len, &got, &k);
        free(text);
        eot = bpe_eot(tok);
    }
    if (rc) return rc;
    size_t need = *n + k + 1;
    if (need > *cap) {
        *cap = need > 2 * *cap ? need : 2 * *cap;
        *ids = xrealloc(*ids, *cap * sizeof(int));
    }
    for (size_t i = 0; i < k; i++) {
        if (got[i] >= V) {
            free(got);
            return err_set(ERR_RANGE, "%s: token id %d is outside the model's vocabulary (%d)", path, got[i], V);
        }
        (*ids)[(*n)++] = got[i];
    }
    if (eot >= 0 && eot < V) (*ids)[(*n)++] = eot;
    free(got);
    return 0;
}

int token_ids_load(const char *list, const bpe *tok, int V, const char *cmd, int **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    size_t cap = 0;
    char *copy = xstrdup(list);
    int rc = 0;
    for (char *save = NULL, *f = strtok_r(copy, ",", &save); f && !rc; f = strtok_r(NULL, ",", &save))
        if (*f) rc = load_one(f, tok, V, ids, n, &cap);
    free(copy);
    if (!rc && *n == 0) rc = err_set(ERR_ARG, "%s: no tokens in '%s'", cmd, list);
    return rc;
}
