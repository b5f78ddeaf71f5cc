// fuzz_bpe.c: loading a BPE tokenizer (vocab.json + merges.txt) and using it.
//
// The input is vocab.json, merges.txt and a text, separated by FUZZ_SEP. Invariants: a
// tokenizer that loads leaves no error recorded; every id encode gives is in range;
// decode(encode(text)) is the text, byte for byte (any bytes: invalid UTF-8 included);
// bpe_token_bytes and bpe_token_id agree for every id. A refusal names the file.
#include "fuzz_util.h"
#include "tokenizer/bpe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    const uint8_t *piece[3];
    size_t piece_len[3];
    if (fuzz_split(data, len, 3, piece, piece_len) < 3) return 0;
    bpe *tok = NULL;
    err_clear();
    int rc = bpe_load_text(&tok, (const char *)piece[0], piece_len[0], "vocab.json", (const char *)piece[1], piece_len[1],
                           "merges.txt");
    if (rc) {
        INVARIANT(rc < 0 && tok == NULL && err_code() == rc, "load returned %d", rc);
        INVARIANT(strncmp(err_msg(), "vocab.json", 10) == 0 || strncmp(err_msg(), "merges.txt", 10) == 0,
                  "message does not name the file: %s", err_msg());
        return 0;
    }
    EXPECT_NO_ERROR("bpe_load_text");
    int V = bpe_vocab_size(tok);
    INVARIANT(V >= 256, "a vocabulary of %d tokens loaded", V);
    for (int id = 0; id < V; id++) {
        size_t n;
        const char *b = bpe_token_bytes(tok, id, &n);
        INVARIANT(b && n > 0 && bpe_token_id(tok, b, n) == id, "token %d: bytes and id disagree", id);
    }
    int *ids;
    size_t n_ids;
    const char *text = (const char *)piece[2];
    INVARIANT(bpe_encode(tok, text, piece_len[2], &ids, &n_ids) == 0, "encode: %s", err_msg());
    INVARIANT(n_ids <= piece_len[2], "%zu ids for %zu bytes", n_ids, piece_len[2]);
    for (size_t i = 0; i < n_ids; i++) INVARIANT(ids[i] >= 0 && ids[i] < V, "id %d out of range", ids[i]);
    char *back;
    size_t back_len;
    INVARIANT(bpe_decode(tok, ids, n_ids, &back, &back_len) == 0, "decode: %s", err_msg());
    INVARIANT(back_len == piece_len[2] && memcmp(back, text, back_len) == 0, "decode(encode(x)) != x");
    free(back);
    free(ids);
    bpe_free(tok);
    return 0;
}
