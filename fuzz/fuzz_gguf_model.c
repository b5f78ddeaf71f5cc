// fuzz_gguf_model.c: the GGUF model loader and the tokenizer a GGUF carries.
//
// Invariants: a model that loads leaves no error recorded (issue 12, fault 1), runs a
// forward pass, and its logits are finite or eval_check_logits says so by name; written back
// with gpt2_gguf_save (in the types it is stored in) and loaded again it gives the same
// logits bit for bit; a refusal is a negative ERR_* naming the file. A tokenizer that loads
// encodes and decodes a fixed text and the input's tail back to the same bytes, ids in range.
#include "eval/eval.h"
#include "formats/gguf.h"
#include "fuzz_util.h"
#include "kernels/kernels.h"
#include "modelfile/modelfile.h"
#include "tokenizer/bpe.h"

// Logits of a few tokens (caller frees), or NULL with *T = 0.
static float *logits_of(const gpt2_model *m, int *T) {
    int V = m->cfg.vocab_size;
    *T = m->cfg.n_ctx < 4 ? m->cfg.n_ctx : 4;
    gpt2_state s;
    if (*T < 1 || gpt2_state_init(&s, m, *T) != 0) {
        *T = 0;
        return NULL;
    }
    int ids[4];
    for (int i = 0; i < *T; i++) ids[i] = (int)((unsigned)(i * 7919) % (unsigned)V);
    gpt2_forward(m, &s, ids, *T, 1);
    float *out = xmalloc((size_t)*T * (size_t)V * sizeof *out);
    memcpy(out, s.logits, (size_t)*T * (size_t)V * sizeof *out);
    gpt2_state_free(&s);
    return out;
}

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
    int rc = gpt2_gguf_load(&m, path);
    if (rc) {
        INVARIANT(rc < 0 && err_code() == rc, "load returned %d with code %d", rc, err_code());
        INVARIANT(strstr(err_msg(), path) != NULL, "message does not name the file: %s", err_msg());
    } else {
        EXPECT_NO_ERROR("gpt2_gguf_load");
        // A forward pass over a few tokens (the file bounds the model's size).
        int V = m.cfg.vocab_size, T;
        float *a = logits_of(&m, &T);
        if (T) {
            err_clear();
            int fin = eval_check_logits(&m, a, (size_t)T, V, "position", 0);
            INVARIANT(fin == 0 || (fin == ERR_RANGE && strstr(err_msg(), path)), "non-finite logits not reported by name");
        }
        // The writer and the reader agree: written as stored, loaded again, the same logits.
        const char *again = fuzz_path("again.gguf");
        err_clear();
        rc = gpt2_gguf_save(&m, NULL, again, GPT2_GGUF_STORED);
        INVARIANT(rc == 0, "writing a loaded model back failed: %s", err_msg());
        gpt2_model m2;
        rc = gpt2_gguf_load(&m2, again);
        INVARIANT(rc == 0, "loading a model written back failed: %s", err_msg());
        int T2;
        float *b = logits_of(&m2, &T2);
        INVARIANT(T == T2 && (T == 0 || memcmp(a, b, (size_t)T * (size_t)V * sizeof *a) == 0),
                  "logits differ after writing the model back and loading it again");
        free(a), free(b);
        gpt2_model_free(&m2);
        unlink(again);
        gpt2_model_free(&m);
    }
    bpe *tok = NULL;
    err_clear();
    rc = gpt2_gguf_load_tokenizer(path, &tok);
    if (rc) {
        INVARIANT(rc < 0 && tok == NULL && strstr(err_msg(), path), "tokenizer refusal: %d '%s'", rc, err_msg());
    } else {
        EXPECT_NO_ERROR("gpt2_gguf_load_tokenizer");
        static const char text[] = "The old house, 1912: caf\xc3\xa9 \xe2\x82\xac 5!\n\tend";
        round_trip(tok, text, sizeof text - 1);
        size_t tail = len < 64 ? len : 64;
        round_trip(tok, (const char *)data + len - tail, tail);
        bpe_free(tok);
    }
    return 0;
}
