// make_seeds.c: writes the fuzzers' seed corpora (make fuzz-seeds; the output is committed
// in fuzz/corpus/). Every seed comes from shrink's own writers: a tiny random GPT-2
// (1 layer, 16 wide, 260-token vocabulary: GPT-2's 256 byte tokens and its first 4 merges)
// saved as an HF directory (F32, F16, sharded) and as GGUF (F32, F16, Q8_0, with its
// tokenizer), its config.json, safetensors header and shard index as JSON, and a few
// writer programs for the round-trip harnesses. Run from the repository root.
#include "core/err.h"
#include "core/fileio.h"
#include "core/xalloc.h"
#include "formats/gguf.h"
#include "formats/json.h"
#include "formats/safetensors.h"
#include "modelfile/modelfile.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEP "\n@@@@\n"  // fuzz_util.h's FUZZ_SEP

static const char *out_root;

static void die(const char *what) {
    fprintf(stderr, "make_seeds: %s: %s\n", what, err_msg());
    exit(1);
}

static char *slurp(const char *path, size_t *len) {
    char *d;
    if (file_read_all(path, &d, len)) die(path);
    return d;
}

// Writes n pieces (joined by SEP) as out_root/harness/name.
static void seed(const char *harness, const char *name, int n, const char *const *piece, const size_t *len) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/%s", out_root, harness);
    mkdir(out_root, 0755);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) die(path);
    for (int i = 0; i < n; i++) {
        if (i) fwrite(SEP, 1, strlen(SEP), f);
        if (len[i]) fwrite(piece[i], 1, len[i], f);
    }
    if (fclose(f) != 0) die(path);
}

static void seed1(const char *harness, const char *name, const char *data, size_t len) { seed(harness, name, 1, &data, &len); }

static void seed_file(const char *harness, const char *name, const char *path) {
    size_t len;
    char *d = slurp(path, &len);
    seed1(harness, name, d, len);
    free(d);
}

// The tiny tokenizer: mini's ids below 260 and its first 4 merges, written to dir.
static void tiny_tokenizer(const char *dir) {
    size_t vl, ml;
    char *v = slurp("models/mini/vocab.json", &vl), *m = slurp("models/mini/merges.txt", &ml);
    json_value root;
    if (json_parse(&root, v, vl, "vocab.json")) die("models/mini/vocab.json");
    char *out = xmalloc(vl + 16);
    size_t n = 0;
    out[n++] = '{';
    for (size_t i = 0; i < root.len; i++) {
        if (root.items[i].integer >= 260) continue;
        n += (size_t)sprintf(out + n, "%s\"", n > 1 ? ", " : "");
        for (size_t k = 0; k < root.key_lens[i]; k++) {
            char c = root.keys[i][k];
            if (c == '"' || c == '\\') out[n++] = '\\';
            out[n++] = c;
        }
        n += (size_t)sprintf(out + n, "\": %lld", (long long)root.items[i].integer);
    }
    out[n++] = '}';
    char *p = path_join(dir, "vocab.json");
    FILE *f = fopen(p, "wb");
    fwrite(out, 1, n, f);
    fclose(f);
    free(p);
    // merges: the version line and 4 merges
    size_t cut = 0;
    for (int lines = 0; cut < ml && lines < 5; cut++)
        if (m[cut] == '\n') lines++;
    p = path_join(dir, "merges.txt");
    f = fopen(p, "wb");
    fwrite(m, 1, cut, f);
    fclose(f);
    free(p);
    json_free(&root);
    free(out), free(v), free(m);
}

static void model_from(gpt2_model *m, const char *cfg_text, uint64_t seed_v) {
    gpt2_config cfg;
    uint8_t *removed = NULL;
    if (gpt2_config_parse(&cfg, cfg_text, strlen(cfg_text), "config", &removed)) die("config");
    gpt2_model_init_random(m, &cfg, seed_v);
    m->removed_heads = removed;
}

static void tiny_model(gpt2_model *m, int n_embd, uint64_t seed_v) {
    char cfg_text[512];
    snprintf(cfg_text, sizeof cfg_text,
             "{\"model_type\": \"gpt2\", \"vocab_size\": 260, \"n_positions\": 8, \"n_embd\": %d, \"n_layer\": 1, "
             "\"n_head\": 2, \"n_inner\": 32, \"bos_token_id\": 0, \"eos_token_id\": 1}",
             n_embd);
    model_from(m, cfg_text, seed_v);
}

// Two blocks of other shapes: a head pruned from block 1 (pruned_heads) and MLP widths 32 and 16
// (shrink_n_inner): HF directories and GGUF files in shrink's own shrink-gpt2 layout.
static void pruned_model(gpt2_model *m) {
    model_from(m, "{\"model_type\": \"gpt2\", \"vocab_size\": 260, \"n_positions\": 8, \"n_embd\": 16, \"n_layer\": 2, "
                  "\"n_head\": 2, \"n_inner\": 32, \"pruned_heads\": {\"1\": [0]}, \"shrink_n_inner\": [32, 16], "
                  "\"bos_token_id\": 0, \"eos_token_id\": 1}", 3);
}

// Two blocks with factorized linears (shrink_rank) and the config keys the other seeds leave out.
static void lowrank_model(gpt2_model *m) {
    model_from(m, "{\"model_type\": \"gpt2\", \"vocab_size\": 260, \"n_positions\": 8, \"n_embd\": 16, \"n_layer\": 2, "
                  "\"n_head\": 2, \"n_inner\": 32, \"shrink_rank\": [[4, 0, 8, 0], [0, 4, 0, 8]], "
                  "\"activation_function\": \"gelu\", \"layer_norm_epsilon\": 1e-6, \"scale_attn_by_inverse_layer_idx\": true, "
                  "\"bos_token_id\": 0, \"eos_token_id\": null}", 4);
}

// m saved as an HF directory (seeds NAME for fuzz_hf_dir, NAME-config.json for fuzz_json) and
// as a GGUF (seed GGUF_NAME for fuzz_gguf and fuzz_gguf_model).
static void shape_seeds(const gpt2_model *m, const char *tmp, const char *tok, const char *name, const char *gguf_name) {
    char *hf = path_join(tmp, name), gname[64], cname[64];
    snprintf(gname, sizeof gname, "%s.gguf", name);
    snprintf(cname, sizeof cname, "%s-config.json", name);
    char *g = path_join(tmp, gname);
    if (gpt2_hf_save(m, hf, tok, 0) || gpt2_gguf_save(m, tok, g, 0)) die(name);
    char *c_p = path_join(hf, "config.json"), *s_p = path_join(hf, "model.safetensors");
    size_t cl, sl;
    char *c = slurp(c_p, &cl), *st = slurp(s_p, &sl);
    const char *p[3] = {c, "", st};
    size_t l[3] = {cl, 0, sl};
    seed("fuzz_hf_dir", name, 3, p, l);
    seed1("fuzz_json", cname, c, cl);
    seed_file("fuzz_gguf", gguf_name, g);
    seed_file("fuzz_gguf_model", gguf_name, g);
    free(c), free(st), free(c_p), free(s_p), free(hf), free(g);
}

int main(int argc, char **argv) {
    out_root = argc > 1 ? argv[1] : "fuzz/corpus";
    char tmp[] = "/tmp/shrink_make_seeds.XXXXXX";
    if (!mkdtemp(tmp)) die("mkdtemp");
    char *tok = path_join(tmp, "tok");
    mkdir(tok, 0755);
    tiny_tokenizer(tok);
    char *vocab_p = path_join(tok, "vocab.json"), *merges_p = path_join(tok, "merges.txt");

    // --- HF directories: F32 and F16, and F32 split into two shards with an index
    gpt2_model m;
    tiny_model(&m, 16, 1);
    char *hf32 = path_join(tmp, "hf32"), *hf16 = path_join(tmp, "hf16");
    if (gpt2_hf_save(&m, hf32, tok, 0) || gpt2_hf_save(&m, hf16, tok, 1)) die("save_hf");
    char *cfg_p = path_join(hf32, "config.json"), *st32_p = path_join(hf32, "model.safetensors"),
         *st16_p = path_join(hf16, "model.safetensors");
    size_t cl, sl32, sl16, vl, ml;
    char *cfg = slurp(cfg_p, &cl), *st32 = slurp(st32_p, &sl32), *st16 = slurp(st16_p, &sl16);
    char *vocab = slurp(vocab_p, &vl), *merges = slurp(merges_p, &ml);
    {
        const char *p[7] = {cfg, "", st32, "", "", vocab, merges};
        size_t l[7] = {cl, 0, sl32, 0, 0, vl, ml};
        seed("fuzz_hf_dir", "f32", 7, p, l);
        p[2] = st16, l[2] = sl16;
        seed("fuzz_hf_dir", "f16", 3, p, l);
    }
    safetensors st;
    if (safetensors_open(&st, st32_p)) die("open");
    {
        st_write_tensor *ts = xcalloc((size_t)st.n_tensors + 2, sizeof *ts);
        for (int i = 0; i < st.n_tensors; i++) {
            const st_tensor *t = &st.tensors[i];
            ts[i] = (st_write_tensor){t->name, t->dtype, t->ndim, {0}, t->data};
            memcpy(ts[i].shape, t->shape, sizeof ts[i].shape);
        }
        // An untied LM head (half of wte) and a causal-mask buffer, which the loader skips.
        const st_tensor *wte = safetensors_find(&st, "transformer.wte.weight");
        if (!wte) die("wte");
        float *head = xmalloc(wte->nbytes), *mask = xcalloc(64, sizeof *mask);
        memcpy(head, wte->data, wte->nbytes);
        for (size_t i = 0; i < wte->nelem; i++) head[i] *= 0.5f;
        ts[st.n_tensors] = (st_write_tensor){"lm_head.weight", DTYPE_F32, 2, {wte->shape[0], wte->shape[1]}, head};
        ts[st.n_tensors + 1] = (st_write_tensor){"transformer.h.0.attn.bias", DTYPE_F32, 4, {1, 1, 8, 8}, mask};
        char *un = path_join(tmp, "untied.safetensors");
        if (safetensors_write(un, ts, st.n_tensors + 2, NULL)) die("untied");
        size_t ul;
        char *ub = slurp(un, &ul);
        const char *pu[3] = {cfg, "", ub};
        size_t lu[3] = {cl, 0, ul};
        seed("fuzz_hf_dir", "untied-with-mask", 3, pu, lu);
        free(ub), free(un), free(head), free(mask);
        int half = st.n_tensors / 2;
        char *s1 = path_join(tmp, "s1"), *s2 = path_join(tmp, "s2");
        if (safetensors_write(s1, ts, half, NULL) || safetensors_write(s2, ts + half, st.n_tensors - half, NULL)) die("shards");
        char idx[8192];
        size_t n = (size_t)snprintf(idx, sizeof idx, "{\"metadata\": {\"total_size\": %zu}, \"weight_map\": {", sl32);
        for (int i = 0; i < st.n_tensors; i++)
            n += (size_t)snprintf(idx + n, sizeof idx - n, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"", i ? ", " : "",
                                  st.tensors[i].name, i < half ? 1 : 2);
        n += (size_t)snprintf(idx + n, sizeof idx - n, "}}");
        size_t l1, l2;
        char *b1 = slurp(s1, &l1), *b2 = slurp(s2, &l2);
        const char *p[5] = {cfg, idx, "", b1, b2};
        size_t l[5] = {cl, n, 0, l1, l2};
        seed("fuzz_hf_dir", "sharded", 5, p, l);
        seed1("fuzz_json", "index.json", idx, n);
        seed1("fuzz_safetensors", "shard-2", b2, l2);
        free(b1), free(b2), free(s1), free(s2), free(ts);
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)(unsigned char)st32[i] << (8 * i);
    seed1("fuzz_json", "safetensors-header.json", st32 + 8, (size_t)hlen);
    safetensors_close(&st);
    seed1("fuzz_safetensors", "f32", st32, sl32);
    seed1("fuzz_safetensors", "f16", st16, sl16);
    {  // metadata, a scalar, an empty tensor, BF16, header order unlike data order
        float x[3] = {1, 2, 3};
        uint16_t h[2] = {0x3f80, 0xc000};
        st_write_tensor ts[4] = {{"scalar", DTYPE_F32, 0, {0}, x}, {"empty", DTYPE_F16, 2, {0, 3}, NULL},
                                 {"bf", DTYPE_BF16, 1, {2}, h}, {"v\xc3\xa9", DTYPE_F32, 2, {1, 2}, x + 1}};
        char *p = path_join(tmp, "misc.safetensors");
        if (safetensors_write(p, ts, 4, "{\"format\": \"pt\", \"note\": \"caf\\u00e9\"}")) die("misc");
        seed_file("fuzz_safetensors", "misc", p);
        free(p);
    }
    seed1("fuzz_json", "config.json", cfg, cl);
    seed1("fuzz_json", "vocab.json", vocab, vl);
    const char *js[] = {"{\"text\": \"The old house stood at the end of the lane\"}",
                        "[1, -0, 2.5e-3, 1e400, \"\\ud83d\\ude00\\u0000\", true, false, null, {\"a\": []}]"};
    seed1("fuzz_json", "lambada-line.json", js[0], strlen(js[0]));
    seed1("fuzz_json", "values.json", js[1], strlen(js[1]));

    // --- models of other shapes, as HF directories (config.json keys, tensor shapes) and GGUF
    // files in the shrink-gpt2 layout: a pruned one and a factorized one
    gpt2_model pm, lm;
    pruned_model(&pm);
    shape_seeds(&pm, tmp, tok, "pruned", "shrink-gpt2");
    gpt2_model_free(&pm);
    lowrank_model(&lm);
    shape_seeds(&lm, tmp, tok, "lowrank", "shrink-gpt2-lowrank");
    gpt2_model_free(&lm);

    // --- GGUF: F32 and F16 with the tokenizer, Q8_0 (32 wide), and every KV type
    char *g32 = path_join(tmp, "f32.gguf"), *g16 = path_join(tmp, "f16.gguf"), *gq = path_join(tmp, "q8.gguf");
    if (gpt2_gguf_save(&m, tok, g32, 0) || gpt2_gguf_save(&m, tok, g16, 1)) die("save_gguf");
    gpt2_model_free(&m);
    tiny_model(&m, 32, 2);
    if (gpt2_model_convert(&m, QTYPE_Q8_0) || gpt2_gguf_save(&m, tok, gq, GPT2_GGUF_STORED)) die("q8_0");
    gpt2_model_free(&m);
    const char *gname[3] = {"f32", "f16", "q8_0"}, *gpath[3] = {g32, g16, gq};
    for (int i = 0; i < 3; i++) {
        seed_file("fuzz_gguf", gname[i], gpath[i]);
        seed_file("fuzz_gguf_model", gname[i], gpath[i]);
    }
    {
        gguf_writer w;
        gguf_writer_init(&w);
        uint8_t u8 = 7;
        int16_t i16[3] = {-1, 2, -3};
        double f64 = 0.25;
        int64_t i64 = -5;
        const char *strs[2] = {"a", "b\0c"};
        size_t lens[2] = {1, 3};
        gguf_writer_add_u32(&w, "general.alignment", 64);
        gguf_writer_add_val(&w, "k.u8", GGUF_TYPE_UINT8, &u8);
        gguf_writer_add_arr(&w, "k.i16", GGUF_TYPE_INT16, i16, 3);
        gguf_writer_add_val(&w, "k.f64", GGUF_TYPE_FLOAT64, &f64);
        gguf_writer_add_val(&w, "k.i64", GGUF_TYPE_INT64, &i64);
        gguf_writer_add_bool(&w, "k.bool", 1);
        gguf_writer_add_f32(&w, "k.f32", 1.5f);
        gguf_writer_add_str(&w, "k.str", "hello");
        gguf_writer_add_arr_str(&w, "k.strs", strs, lens, 2);
        float data[64] = {0};
        int64_t ne[2] = {32, 2};
        gguf_writer_add_tensor(&w, "t.f32", GGUF_TENSOR_F32, 2, ne, data);
        gguf_writer_add_tensor(&w, "t.q8", GGUF_TENSOR_Q8_0, 1, ne, data);
        char *p = path_join(tmp, "kv.gguf");
        if (gguf_writer_write(&w, p)) die("kv.gguf");
        gguf_writer_free(&w);
        seed_file("fuzz_gguf", "all-kv-types", p);
        free(p);
    }

    // --- BPE: the tiny tokenizer with a text; texts for GPT-2's own tokenizer
    {
        const char *text = "The old house, 1912: caf\xc3\xa9 \xe2\x82\xac 5!  \n\tend \xff\xfe";
        const char *p[3] = {vocab, merges, text};
        size_t l[3] = {vl, ml, strlen(text)};
        seed("fuzz_bpe", "tiny", 3, p, l);
        seed1("fuzz_bpe_encode", "mixed", text, strlen(text));
        size_t hl;
        char *held = slurp("data/heldout.txt", &hl);
        seed1("fuzz_bpe_encode", "heldout", held, hl < 2000 ? hl : 2000);
        free(held);
        const char *sp = "   a  b\r\n\r\n's 've 'RE 123456 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80!!";
        seed1("fuzz_bpe_encode", "spaces-contractions", sp, strlen(sp));
    }

    // --- writer programs (see fuzz_gguf_write.c and fuzz_safetensors_write.c for the encoding)
    {
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (int s = 0; s < 4; s++) {
            unsigned char prog[512];
            for (size_t i = 0; i < sizeof prog; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                prog[i] = (unsigned char)x;
            }
            char name[32];
            snprintf(name, sizeof name, "program-%d", s);
            seed1("fuzz_gguf_write", name, (const char *)prog, sizeof prog);
            prog[0] = (unsigned char)(3 + s);  // tensor count
            seed1("fuzz_safetensors_write", name, (const char *)prog, sizeof prog);
        }
    }

    free(cfg), free(st32), free(st16), free(vocab), free(merges);
    free(cfg_p), free(st32_p), free(st16_p), free(vocab_p), free(merges_p);
    free(g32), free(g16), free(gq), free(hf32), free(hf16), free(tok);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "make_seeds: could not remove %s\n", tmp);
    printf("seeds written to %s/\n", out_root);
    return 0;
}
