// fuzz_hf_dir.c: the Hugging Face directory loader (config.json, model.safetensors or a
// model.safetensors.index.json with its shards).
//
// The input is up to seven files separated by FUZZ_SEP: config.json, the shard index,
// model.safetensors, model-00001-of-00002.safetensors, model-00002-of-00002.safetensors,
// vocab.json, merges.txt; an empty piece means the file is absent (config.json is always
// written). Invariants: a model that loads leaves no error recorded and runs a forward pass;
// saved back with gpt2_hf_save and loaded again it gives bit-identical logits; exported
// as an F32 GGUF (with the directory's vocab.json/merges.txt when there are any: the
// exporter parses them) it either loads again with the same logits or was refused with a
// clean error and no file; a refusal of the directory is a negative ERR_* naming a path in
// it; loading never writes into the directory.
#include "eval/eval.h"
#include "fuzz_util.h"
#include "kernels/kernels.h"
#include "modelfile/modelfile.h"

#include "tokenizer/bpe.h"

static const char *const names[7] = {"config.json", "model.safetensors.index.json", "model.safetensors",
                                     "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                     "vocab.json", "merges.txt"};

// Logits of a few tokens, or NULL (with *T = 0) when the model cannot run them.
static float *logits_of(const gpt2_model *m, int *T) {
    int V = m->cfg.vocab_size;
    *T = m->cfg.n_ctx < 3 ? m->cfg.n_ctx : 3;
    gpt2_state s;
    if (*T < 1 || gpt2_state_init(&s, m, *T) != 0) {
        *T = 0;
        return NULL;
    }
    int ids[3];
    for (int i = 0; i < *T; i++) ids[i] = (int)((unsigned)(i * 131 + 7) % (unsigned)V);
    gpt2_forward(m, &s, ids, *T, 1);
    float *out = xmalloc((size_t)*T * (size_t)V * sizeof *out);
    memcpy(out, s.logits, (size_t)*T * (size_t)V * sizeof *out);
    gpt2_state_free(&s);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    static int init;
    if (!init) kernels_init(), init = 1;
    const char *dir = fuzz_path("hf"), *dir2 = fuzz_path("hf-saved");
    mkdir(dir, 0755);
    const uint8_t *piece[7];
    size_t piece_len[7];
    int n = fuzz_split(data, len, 7, piece, piece_len);
    for (int i = 0; i < 7; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
        if (i < n && (i == 0 || piece_len[i] > 0)) fuzz_write(p, piece[i], piece_len[i]);
    }
    int before = fuzz_count_entries(dir);
    gpt2_model m;
    err_clear();
    int rc = gpt2_hf_load(&m, dir);
    INVARIANT(fuzz_count_entries(dir) == before, "loading changed the directory");
    if (rc) {
        INVARIANT(rc < 0 && err_code() == rc, "load returned %d with code %d", rc, err_code());
        INVARIANT(strstr(err_msg(), dir) != NULL, "message does not name the directory: %s", err_msg());
        return 0;
    }
    EXPECT_NO_ERROR("gpt2_hf_load");
    int T;
    float *a = logits_of(&m, &T);
    // The writer and the reader agree: save, load again, same logits bit for bit.
    err_clear();
    rc = gpt2_hf_save(&m, dir2, NULL, 0);
    INVARIANT(rc == 0, "saving a loaded model failed: %s", err_msg());
    gpt2_model m2;
    rc = gpt2_hf_load(&m2, dir2);
    INVARIANT(rc == 0, "loading a saved model failed: %s", err_msg());
    int T2;
    float *b = logits_of(&m2, &T2);
    INVARIANT(T == T2 && (T == 0 || memcmp(a, b, (size_t)T * (size_t)m.cfg.vocab_size * sizeof *a) == 0),
              "logits differ after a save and a load");
    free(b);
    gpt2_model_free(&m2);
    // GGUF export (F32), with the tokenizer when the directory has one.
    const char *gguf = fuzz_path("export.gguf");
    int has_tok = n > 6 && piece_len[5] > 0 && piece_len[6] > 0;
    err_clear();
    rc = gpt2_gguf_save(&m, has_tok ? dir : NULL, gguf, 0);
    if (rc) {
        INVARIANT(rc == ERR_ARG || rc == ERR_FORMAT || rc == ERR_SHAPE, "export returned %d: %s", rc, err_msg());
        INVARIANT(access(gguf, F_OK) != 0, "a refused export left a file");
    } else {
        EXPECT_NO_ERROR("gpt2_gguf_save");
        gpt2_model m3;
        rc = gpt2_gguf_load(&m3, gguf);
        INVARIANT(rc == 0, "loading an export failed: %s", err_msg());
        int T3;
        float *c = logits_of(&m3, &T3);
        INVARIANT(T == T3 && (T == 0 || memcmp(a, c, (size_t)T * (size_t)m.cfg.vocab_size * sizeof *a) == 0),
                  "logits differ after a GGUF export and a load");
        free(c);
        gpt2_model_free(&m3);
        bpe *tok = NULL;
        if (has_tok && gpt2_gguf_load_tokenizer(gguf, &tok) == 0) {
            static const char text[] = "The old house, caf\xc3\xa9 \xe2\x82\xac 5!";
            int *ids;
            size_t n_ids;
            char *back;
            size_t back_len;
            INVARIANT(bpe_encode(tok, text, sizeof text - 1, &ids, &n_ids) == 0, "encode");
            INVARIANT(bpe_decode(tok, ids, n_ids, &back, &back_len) == 0 && back_len == sizeof text - 1 &&
                          memcmp(back, text, back_len) == 0, "the exported tokenizer does not round-trip");
            free(ids), free(back);
            bpe_free(tok);
        }
        unlink(gguf);
    }
    free(a);
    gpt2_model_free(&m);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", dir2, files[i]);
        unlink(p);
    }
    INVARIANT(fuzz_count_entries(dir2) == 0, "saving left temp files behind");
    return 0;
}
