// fuzz_bpe_encode.c: GPT-2's tokenizer (the bundled model's 8,192-token vocabulary, read
// from models/mini, or $SHRINK_FUZZ_TOKENIZER) on arbitrary bytes.
//
// Invariants: every id is in range, there are no more ids than bytes, decode(encode(x)) is
// x byte for byte, and encoding is deterministic (the same ids twice: the per-call cache of
// pieces must not change what comes out).
#include "fuzz_util.h"
#include "tokenizer/bpe.h"

static bpe *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("SHRINK_FUZZ_TOKENIZER");
    if (!dir) dir = "models/mini";
    char v[512], m[512];
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    if (bpe_load(&tok, v, m) != 0) {
        fprintf(stderr, "fuzz_bpe_encode: %s (run from the repository root or set SHRINK_FUZZ_TOKENIZER)\n", err_msg());
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    const char *text = (const char *)data;
    int *ids, *again;
    size_t n, n2;
    INVARIANT(bpe_encode(tok, text, len, &ids, &n) == 0, "encode: %s", err_msg());
    INVARIANT(n <= len, "%zu ids for %zu bytes", n, len);
    for (size_t i = 0; i < n; i++) INVARIANT(ids[i] >= 0 && ids[i] < bpe_vocab_size(tok), "id %d out of range", ids[i]);
    char *back;
    size_t back_len;
    INVARIANT(bpe_decode(tok, ids, n, &back, &back_len) == 0, "decode: %s", err_msg());
    INVARIANT(back_len == len && memcmp(back, text, len) == 0, "decode(encode(x)) != x");
    INVARIANT(bpe_encode(tok, text, len, &again, &n2) == 0 && n2 == n && memcmp(again, ids, n * sizeof *ids) == 0,
              "encoding the same text twice gave different ids");
    free(again);
    free(back);
    free(ids);
    return 0;
}
