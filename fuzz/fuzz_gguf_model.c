// fuzz_gguf_model.c: the GGUF model loader and the tokenizer a GGUF carries.
//
// Invariants: a model that loads leaves no error recorded (issue 12, fault 1), runs a
// forward pass when it is small, and its logits are finite or eval_check_logits says so by
// name; a refusal is a negative ERR_* naming the file. A tokenizer that loads encodes and
// decodes a fixed text and the input's tail back to the same bytes, every id in range.
#include "eval/eval.h"
#include "formats/gguf.h"
#include "fuzz_util.h"
#include "kernels/kernels.h"
#include "model/gpt2.h"
#include "tokenizer/bpe.h"

static void round_trip(const bpe *tok, const char *text, size_t n) {
    int *ids;
    size_t n_ids;
    INVARIANT(bpe_encode(tok, text, n, &ids, &n_ids) == 0, "encode: %s", err_msg());
    for (size_t i = 0; i < n_ids; i++) INVARIANT(ids[i] >= 0 && ids[i] < bpe_vocab_size(tok), "id %d out of range", ids[i]);
    char *back;
    size_t back_len;
    INVARIANT(bpe_decode(tok, ids, n_ids, &back, &back_len) == 0, "decode: %s", err_msg());
    INVARIANT(back_len == n && memcmp(back, text, n) == 0, "decode(encode(x)) != x for %zu bytes", n);
    free(back);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    static int init;
    if (!init) kernels_init(), init = 1;
    const char *path = fuzz_path("model.gguf");
    fuzz_write(path, data, len);
    gpt2_model m;
    err_clear();
    int rc = gpt2_model_load_gguf(&m, path);
    if (rc) {
        INVARIANT(rc < 0 && err_code() == rc, "load returned %d with code %d", rc, err_code());
        INVARIANT(strstr(err_msg(), path) != NULL, "message does not name the file: %s", err_msg());
    } else {
        EXPECT_NO_ERROR("gpt2_model_load_gguf");
        // A forward pass over a few tokens (the file bounds the model's size).
        int V = m.cfg.vocab_size, T = m.cfg.n_ctx < 4 ? m.cfg.n_ctx : 4;
        gpt2_state s;
        if (T >= 1 && gpt2_state_init(&s, &m, T) == 0) {
            int ids[4];
            for (int i = 0; i < T; i++) ids[i] = (int)((unsigned)(i * 7919) % (unsigned)V);
            gpt2_forward(&m, &s, ids, T, 1);
            err_clear();
            int fin = eval_check_logits(&m, s.logits, (size_t)T, V, "position", 0);
            INVARIANT(fin == 0 || (fin == ERR_RANGE && strstr(err_msg(), path)), "non-finite logits not reported by name");
            gpt2_state_free(&s);
        }
        gpt2_model_free(&m);
    }
    bpe *tok = NULL;
    err_clear();
    rc = gpt2_tokenizer_load_gguf(path, &tok);
    if (rc) {
        INVARIANT(rc < 0 && tok == NULL && strstr(err_msg(), path), "tokenizer refusal: %d '%s'", rc, err_msg());
    } else {
        EXPECT_NO_ERROR("gpt2_tokenizer_load_gguf");
        static const char text[] = "The old house, 1912: caf\xc3\xa9 \xe2\x82\xac 5!\n\tend";
        round_trip(tok, text, sizeof text - 1);
        size_t tail = len < 64 ? len : 64;
        round_trip(tok, (const char *)data + len - tail, tail);
        bpe_free(tok);
    }
    return 0;
}
