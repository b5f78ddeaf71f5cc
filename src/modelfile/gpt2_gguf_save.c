// gpt2_gguf_save.c: a GPT-2 model as a GGUF file in llama.cpp's "gpt2" layout, the one
// llama.cpp's convert_hf_to_gguf.py (GPT2Model) writes and its llama-model.cpp
// (LLM_ARCH_GPT2) loads; shapes that layout cannot hold (per-layer heads and widths,
// low-rank linears, erf GELU, other attention scaling) go to shrink's own "shrink-gpt2"
// layout: the same tensors and order, the factors' _a/_b tensors, the config in
// shrink-gpt2.* keys (docs/format.md) (checked against the converter's own output for models/mini,
// testdata/gguf; docs/format.md lists the keys and tensors). Tensors go in the converter's
// order: token_embd, position_embd, each block's in the tensor table's order, output_norm,
// output. ggml's ne[0] is the contiguous dimension, so our out-major (out, in) matrices are
// ne = [in, out] as they are. In an F16 file the 2-D tensors are F16 and the 1-D ones (norms,
// biases) stay F32, as the converter does. llama.cpp requires output.weight even though
// GPT-2 ties it to token_embd, so it is always written (a second copy of wte when tied).
// The tokenizer comes from vocab.json and merges.txt in their bytes_to_unicode spelling.
#include "modelfile.h"
#include "../tokenizer/bpe.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/xalloc.h"
#include "../formats/gguf.h"
#include "../formats/json.h"
#include <string.h>

// --- the tokenizer, read from vocab.json and merges.txt in their bytes_to_unicode spelling

typedef struct {
    json_value vocab;         // the parsed vocab.json (token strings point into it)
    const char **tokens;      // (V) token strings; "[PAD<i>]" for ids vocab.json lacks
    size_t *token_lens;
    int32_t *types;           // (V) llama_token_type: 1 NORMAL, 3 CONTROL, 5 UNUSED
    char **pads;              // owned "[PAD<i>]" strings, (V) entries, mostly NULL
    char *merge_text;         // merges.txt, rewritten in place into "a b\0" entries
    const char **merges;
    size_t n_merges;
} tok_data;

static void tok_data_free(tok_data *t, int V) {
    json_free(&t->vocab);
    if (t->pads)
        for (int i = 0; i < V; i++) free(t->pads[i]);
    free(t->pads);
    free(t->tokens);
    free(t->token_lens);
    free(t->types);
    free(t->merge_text);
    free(t->merges);
    memset(t, 0, sizeof *t);
}

// Tokens the converter marks CONTROL: added special tokens such as "<|endoftext|>" (its
// does_token_look_special rule for the "<|...|>" form; vocab.json alone has no added-token list).
static int looks_special(const char *s, size_t n) {
    return n >= 4 && memcmp(s, "<|", 2) == 0 && memcmp(s + n - 2, "|>", 2) == 0;
}

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'; }

static int tok_data_load(tok_data *t, const char *dir, int V) {
    memset(t, 0, sizeof *t);
    char *vpath = path_join(dir, "vocab.json"), *mpath = path_join(dir, "merges.txt");
    char *text = NULL;
    size_t len;
    int rc = file_read_all(vpath, &text, &len);
    if (!rc) rc = json_parse(&t->vocab, text, len, vpath);
    free(text);
    if (rc) goto out;
    if (t->vocab.type != JSON_OBJECT) {
        rc = err_set(ERR_FORMAT, "%s: expected a JSON object of token -> id", vpath);
        goto out;
    }
    t->tokens = xcalloc((size_t)V, sizeof *t->tokens);
    t->token_lens = xcalloc((size_t)V, sizeof *t->token_lens);
    t->types = xcalloc((size_t)V, sizeof *t->types);
    t->pads = xcalloc((size_t)V, sizeof *t->pads);
    for (size_t i = 0; i < t->vocab.len; i++) {
        const json_value *id = &t->vocab.items[i];
        if (id->type != JSON_NUMBER || !id->is_int || id->integer < 0) {
            rc = err_set(ERR_FORMAT, "%s: token \"%s\" has no valid integer id", vpath, t->vocab.keys[i]);
            goto out;
        }
        if (id->integer >= V) {
            rc = err_set(ERR_SHAPE, "%s: token \"%s\" has id %lld, outside the model's vocabulary of %d", vpath,
                         t->vocab.keys[i], (long long)id->integer, V);
            goto out;
        }
        if (t->tokens[id->integer]) {
            rc = err_set(ERR_FORMAT, "%s: id %lld is used by two tokens", vpath, (long long)id->integer);
            goto out;
        }
        t->tokens[id->integer] = t->vocab.keys[i];
        t->token_lens[id->integer] = t->vocab.key_lens[i];
        t->types[id->integer] = looks_special(t->vocab.keys[i], t->vocab.key_lens[i]) ? 3 : 1;
    }
    for (int i = 0; i < V; i++)  // ids the vocab lacks (a padded embedding): as the converter
        if (!t->tokens[i]) {
            char buf[32];
            snprintf(buf, sizeof buf, "[PAD%d]", i);
            t->pads[i] = xstrdup(buf);
            t->tokens[i] = t->pads[i];
            t->token_lens[i] = strlen(buf);
            t->types[i] = 5;
        }

    // merges.txt: an optional first line starting with '#', then "a b" per line; each line is
    // trimmed and rewritten as "a b" with one space (as gguf-py's SpecialVocab does).
    if ((rc = file_read_all(mpath, &t->merge_text, &len))) goto out;
    size_t cap = 1024, line_no = 0;
    t->merges = xmalloc(cap * sizeof *t->merges);
    char *p = t->merge_text, *end = t->merge_text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        line_no++;
        char *a = p;
        p = nl ? nl + 1 : end;
        while (a < line_end && is_space(*a)) a++;
        char *e = line_end;
        while (e > a && is_space(e[-1])) e--;
        if (a == e || (line_no == 1 && *a == '#')) continue;
        char *sp = a;
        while (sp < e && !is_space(*sp)) sp++;
        char *b = sp;
        while (b < e && is_space(*b)) b++;
        char *b_end = b;
        while (b_end < e && !is_space(*b_end)) b_end++;
        if (sp == e || b_end != e || memchr(a, 0, (size_t)(e - a))) {
            rc = err_set(ERR_FORMAT, "%s: line %zu is not two symbols separated by a space", mpath, line_no);
            goto out;
        }
        // Rewrite in place: "a" + ' ' + "b" + NUL fits within the line (the separator is >= 1 byte).
        size_t la = (size_t)(sp - a), lb = (size_t)(e - b);
        a[la] = ' ';
        memmove(a + la + 1, b, lb);
        a[la + 1 + lb] = 0;
        if (t->n_merges == cap) t->merges = xrealloc(t->merges, (cap *= 2) * sizeof *t->merges);
        t->merges[t->n_merges++] = a;
    }
out:
    free(vpath);
    free(mpath);
    return rc;
}

// --- saving

// general.name: the model's name from its source path (path_model_name), else "gpt2".
static void model_name(const gpt2_model *m, char *out, size_t cap) {
    char *name = path_model_name(m->source ? m->source : "", 0);
    size_t len = strlen(name);
    if (len == 0 || len >= cap) snprintf(out, cap, "gpt2");
    else memcpy(out, name, len + 1);
    free(name);
}

// A matrix written in another type than it is stored in: converted when the writer reaches it,
// so the file's copy of the model is never held in memory whole.
typedef struct {
    wmat v;
    qtype out;  // QTYPE_F32 or QTYPE_F16
} mat_convert;

// v's rows widened to fp32 and, for F16, rounded to nearest even.
static void fill_converted(void *user, void *dst) {
    const mat_convert *c = user;
    size_t rows = (size_t)c->v.rows, cols = (size_t)c->v.cols;
    size_t in_rb = qtype_row_bytes(c->v.type, cols), out_rb = qtype_row_bytes(c->out, cols);
    float *row = c->v.type == QTYPE_F32 ? NULL : xmalloc((cols ? cols : 1) * sizeof(float));
    for (size_t r = 0; r < rows; r++) {
        const char *src = (const char *)c->v.data + r * in_rb;
        const float *x = (const float *)src;
        if (row) dequantize_row(c->v.type, src, row, cols), x = row;
        if (c->out == QTYPE_F32) memcpy((char *)dst + r * out_rb, x, cols * sizeof(float));
        else
            for (size_t k = 0; k < cols; k++) ((uint16_t *)((char *)dst + r * out_rb))[k] = f32_to_fp16(x[k]);
    }
    free(row);
}

// Adds v as tensor name in type out: its own bytes when it is stored so, else converted when written.
static void add_mat(gguf_writer *w, const char *name, const int64_t *ne, const wmat *v, qtype out, mat_convert *slot) {
    if (v->type == out) {
        gguf_writer_add_tensor(w, name, (gguf_tensor_type)out, 2, ne, v->data);
        return;
    }
    slot->v = *v, slot->out = out;
    gguf_writer_add_tensor_filled(w, name, (gguf_tensor_type)out, 2, ne, fill_converted, slot);
}

// llama.cpp's general.file_type (LLAMA_FTYPE_MOSTLY_*) for a file whose main type is t.
static uint32_t llama_ftype(qtype t) {
    switch (t) {
    case QTYPE_F32: return 0;
    case QTYPE_F16: return 1;
    case QTYPE_Q4_0: return 2;
    case QTYPE_Q4_1: return 3;
    case QTYPE_Q8_0: return 7;
    case QTYPE_Q5_0: return 8;
    case QTYPE_Q5_1: return 9;
    case QTYPE_Q2_K: return 10;
    case QTYPE_Q3_K: return 12;
    case QTYPE_Q4_K: return 15;
    case QTYPE_Q5_K: return 17;
    case QTYPE_Q6_K: return 18;
    default: return 0;
    }
}

const char *gpt2_gguf_arch(const gpt2_config *c) {
    return gpt2_config_is_uniform(c) && !c->gelu_exact && c->scale_attn && !c->scale_by_layer ? "gpt2" : "shrink-gpt2";
}

// shrink-gpt2's keys: the whole config, per-layer shapes as arrays (docs/format.md).
static void write_shrink_keys(gguf_writer *w, const gpt2_model *m) {
    const gpt2_config *c = &m->cfg;
    int L = c->n_layer, NH = c->n_embd / c->head_dim;
    uint32_t *a = xmalloc((size_t)(GPT2_LINEARS * L + L * NH + 1) * sizeof *a);
    gguf_writer_add_u32(w, "shrink-gpt2.block_count", (uint32_t)L);
    gguf_writer_add_u32(w, "shrink-gpt2.context_length", (uint32_t)c->n_ctx);
    gguf_writer_add_u32(w, "shrink-gpt2.embedding_length", (uint32_t)c->n_embd);
    gguf_writer_add_u32(w, "shrink-gpt2.attention.key_length", (uint32_t)c->head_dim);
    gguf_writer_add_f32(w, "shrink-gpt2.attention.layer_norm_epsilon", c->ln_eps);
    gguf_writer_add_bool(w, "shrink-gpt2.attention.scale", c->scale_attn);
    gguf_writer_add_bool(w, "shrink-gpt2.attention.scale_by_layer", c->scale_by_layer);
    gguf_writer_add_str(w, "shrink-gpt2.gelu", c->gelu_exact ? "erf" : "tanh");
    for (int l = 0; l < L; l++) a[l] = (uint32_t)gpt2_n_head(c, l);
    gguf_writer_add_arr(w, "shrink-gpt2.attention.head_count", GGUF_TYPE_UINT32, a, (size_t)L);
    for (int l = 0; l < L; l++) a[l] = (uint32_t)gpt2_n_ff(c, l);
    gguf_writer_add_arr(w, "shrink-gpt2.feed_forward_length", GGUF_TYPE_UINT32, a, (size_t)L);
    for (int l = 0; l < L; l++) a[l] = (uint32_t)c->src_layer[l];
    gguf_writer_add_arr(w, "shrink-gpt2.source_layer", GGUF_TYPE_UINT32, a, (size_t)L);
    for (int l = 0; l < L; l++)
        for (int k = 0; k < GPT2_LINEARS; k++) a[l * GPT2_LINEARS + k] = (uint32_t)gpt2_rank(c, l, k);
    gguf_writer_add_arr(w, "shrink-gpt2.rank", GGUF_TYPE_UINT32, a, (size_t)L * GPT2_LINEARS);
    if (m->removed_heads) {
        for (int i = 0; i < L * NH; i++) a[i] = m->removed_heads[i];
        gguf_writer_add_arr(w, "shrink-gpt2.attention.removed_heads", GGUF_TYPE_UINT32, a, (size_t)L * NH);
    }
    free(a);
}

int gpt2_gguf_save(const gpt2_model *m, const char *tok_dir, const char *path, int f16) {
    const gpt2_config *c = &m->cfg;
    int llama = strcmp(gpt2_gguf_arch(c), "gpt2") == 0;
    int stored = f16 == GPT2_GGUF_STORED;
    gpt2_model *mm = (gpt2_model *)m;  // the table's accessors take a mutable model; nothing is written
    if (!stored)
        for (int i = 0; i < gpt2_n_mats(c); i++) {
            const wmat *v = gpt2_mat(mm, i);
            if (v->type != QTYPE_F32 && v->type != QTYPE_F16)
                return err_set(ERR_ARG, "%s: the model's matrices are %s; write them as stored (GPT2_GGUF_STORED)", path,
                               qtype_get((int)v->type)->name);
        }
    int V = c->vocab_size, L = c->n_layer;
    tok_data tok = {0};
    int rc = tok_dir ? tok_data_load(&tok, tok_dir, V) : 0;
    if (rc) {
        tok_data_free(&tok, V);
        return rc;
    }

    gguf_writer w;
    gguf_writer_init(&w);
    char name[128];
    model_name(m, name, sizeof name);
    gguf_writer_add_str(&w, "general.architecture", gpt2_gguf_arch(c));
    gguf_writer_add_str(&w, "general.name", name);
    if (llama) {
        gguf_writer_add_u32(&w, "gpt2.block_count", (uint32_t)L);
        gguf_writer_add_u32(&w, "gpt2.context_length", (uint32_t)c->n_ctx);
        gguf_writer_add_u32(&w, "gpt2.embedding_length", (uint32_t)c->n_embd);
        gguf_writer_add_u32(&w, "gpt2.feed_forward_length", (uint32_t)gpt2_n_ff(c, 0));
        gguf_writer_add_u32(&w, "gpt2.attention.head_count", (uint32_t)gpt2_n_head(c, 0));
        gguf_writer_add_f32(&w, "gpt2.attention.layer_norm_epsilon", c->ln_eps);
    } else {
        write_shrink_keys(&w, m);
    }
    gguf_writer_add_u32(&w, "general.file_type", stored ? llama_ftype(m->layers[0].lin[GPT2_LIN_UP].w.type) : f16 ? 1 : 0);
    if (tok_dir) {
        gguf_writer_add_str(&w, "tokenizer.ggml.model", "gpt2");
        gguf_writer_add_str(&w, "tokenizer.ggml.pre", "gpt-2");
        gguf_writer_add_arr_str(&w, "tokenizer.ggml.tokens", tok.tokens, tok.token_lens, (size_t)V);
        gguf_writer_add_arr_i32(&w, "tokenizer.ggml.token_type", tok.types, (size_t)V);
        gguf_writer_add_arr_str(&w, "tokenizer.ggml.merges", tok.merges, NULL, tok.n_merges);
    }
    // bos/eos are model config (HF config.json), so they are written even without a tokenizer.
    if (m->quant_method) gguf_writer_add_str(&w, "shrink.quantize.method", m->quant_method);
    if (m->calib_file) {
        gguf_writer_add_str(&w, "shrink.quantize.calibration.file", m->calib_file);
        gguf_writer_add_u64(&w, "shrink.quantize.calibration.fnv1a64", m->calib_fnv);
        gguf_writer_add_u64(&w, "shrink.quantize.calibration.tokens", (uint64_t)m->calib_tokens);
    }
    if (c->bos_id >= 0) gguf_writer_add_u32(&w, "tokenizer.ggml.bos_token_id", (uint32_t)c->bos_id);
    if (c->eos_id >= 0) gguf_writer_add_u32(&w, "tokenizer.ggml.eos_token_id", (uint32_t)c->eos_id);

    // 2-D tensors in the file's type, 1-D ones always F32 (the converter's rule).
    qtype mat_type = f16 ? QTYPE_F16 : QTYPE_F32;
    mat_convert *conv = xcalloc((size_t)gpt2_n_mats(c) + 1, sizeof *conv);  // every matrix (head included) and wpe
    int n_conv = 0;
    for (int pass = 0; pass < 3; pass++)  // token and position embeddings, the blocks, output_norm
        for (int l = 0; l < (pass == 1 ? L : 1); l++)
            for (int id = 0; id < GPT2_T_OUTPUT; id++) {
                const gpt2_tensor_info *ti = &gpt2_tensors[id];
                int64_t rows, cols;
                if ((ti->per_layer ? 1 : id < GPT2_T_ATTN_NORM ? 0 : 2) != pass || !gpt2_tensor_shape(c, id, l, &rows, &cols) ||
                    rows * cols == 0)  // an empty attention or MLP: nothing to store
                    continue;
                int64_t ne[2] = {cols, rows};
                gpt2_tensor_name(id, l, 0, name, sizeof name);
                if (ti->kind == GPT2_KIND_VECTOR) {
                    gguf_writer_add_tensor(&w, name, GGUF_TENSOR_F32, 1, ne, *gpt2_tensor_vec(mm, id, l));
                    continue;
                }
                wmat wpe = {QTYPE_F32, (int)rows, (int)cols, m->wpe};
                const wmat *v = ti->kind == GPT2_KIND_TABLE ? &wpe : gpt2_tensor_mat(mm, id, l);
                add_mat(&w, name, ne, v, stored ? v->type : mat_type, &conv[n_conv++]);  // as stored: unchanged
            }
    // output.weight: required by llama.cpp; the same bytes as token_embd when tied.
    int64_t ne_out[2] = {c->n_embd, V};
    add_mat(&w, "output.weight", ne_out, &m->head, stored ? m->head.type : mat_type, &conv[n_conv++]);

    rc = gguf_writer_write(&w, path);
    gguf_writer_free(&w);
    free(conv);
    tok_data_free(&tok, V);
    return rc;
}
