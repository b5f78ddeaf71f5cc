// gpt2_load.c: a model path of either kind, as the CLI and the library both take it: a
// regular file is a GGUF, anything else a Hugging Face directory.
#include "modelfile.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../formats/gguf.h"
#include "../tokenizer/bpe.h"
#include <stdlib.h>
#include <sys/stat.h>

int gpt2_path_is_gguf(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int gpt2_load(gpt2_model *m, const char *path) { return gpt2_path_is_gguf(path) ? gpt2_gguf_load(m, path) : gpt2_hf_load(m, path); }

// A GGUF with no tokenizer.ggml.tokens at all has none (export --no-tokenizer); one with some
// of the keys has a broken one, which gpt2_gguf_load_tokenizer reports.
static int gguf_has_tokenizer(const char *path, int *has) {
    gguf_file g;
    int rc = gguf_open(&g, path);
    if (rc) return rc;
    *has = gguf_find_kv(&g, "tokenizer.ggml.tokens") != NULL;
    gguf_close(&g);
    return 0;
}

int gpt2_load_tokenizer(const char *path, int required, bpe **tok) {
    *tok = NULL;
    if (gpt2_path_is_gguf(path)) {
        int has = 1, rc;
        if (!required && (rc = gguf_has_tokenizer(path, &has))) return rc;
        return has ? gpt2_gguf_load_tokenizer(path, tok) : 0;
    }
    char *vocab = path_join(path, "vocab.json"), *merges = path_join(path, "merges.txt");
    int rc = 0;
    if (file_exists(vocab) && file_exists(merges))
        rc = bpe_load(tok, vocab, merges);
    else if (required)
        rc = err_set(ERR_IO, "%s: no vocab.json and merges.txt here; this command needs the tokenizer", path);
    free(vocab), free(merges);
    return rc;
}
