// gpt2_gguf.c: GPT-2 to and from GGUF in llama.cpp's "gpt2" layout (F32 and F16 tensors).
//
// The layout is the one llama.cpp's convert_hf_to_gguf.py (GPT2Model) writes and its
// llama-model.cpp (LLM_ARCH_GPT2) loads, checked against the converter's own output for
// models/mini (testdata/gguf):
//   keys    general.architecture = "gpt2", general.name, gpt2.{block_count, context_length,
//           embedding_length, feed_forward_length, attention.head_count} (u32),
//           gpt2.attention.layer_norm_epsilon (f32), general.file_type (u32: 0 all F32, 1 mostly F16),
//           tokenizer.ggml.{model = "gpt2", pre = "gpt-2", tokens, token_type, merges,
//           bos_token_id, eos_token_id}
//   tensors token_embd, position_embd, blk.N.{attn_norm, attn_qkv, attn_output, ffn_norm, ffn_up,
//           ffn_down}.{weight,bias}, output_norm.{weight,bias}, output.weight; in that order.
// ggml's ne[0] is the contiguous dimension, so our out-major (OC, C) matrices are ne = [C, OC]
// as they are, with no transpose (HF Conv1D's (C, OC) is transposed once by gpt2_model_load).
// In an F16 file the 2-D tensors are F16 and the 1-D ones (norms, biases) stay F32, as the
// converter does. llama.cpp (at the commit we test against) requires output.weight even though
// GPT-2 ties it to token_embd, so we always write it (a second copy of wte when tied); the
// loader treats an output.weight equal to token_embd as tied.
//
// Not here: quantized tensor types (the container supports them; GPT-2 loading refuses them by
// name), tokenizer loading from a GGUF.
#include "gpt2.h"
#include "../tokenizer/bpe.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/xalloc.h"
#include "../formats/gguf.h"
#include "../formats/json.h"
#include <string.h>

// --- the tensor table

enum { PER_MODEL, PER_LAYER };

typedef struct {
    const char *fmt;  // GGUF name; "%d" = layer index
    int param;        // GPT2_* index
    int scope;        // PER_MODEL or PER_LAYER
} gguf_param;

// File order of the converter's output (output.weight follows, written separately).
static const gguf_param gguf_params[] = {
    {"token_embd.weight", GPT2_WTE, PER_MODEL},
    {"position_embd.weight", GPT2_WPE, PER_MODEL},
    {"blk.%d.attn_norm.weight", GPT2_LN1_W, PER_LAYER},
    {"blk.%d.attn_norm.bias", GPT2_LN1_B, PER_LAYER},
    {"blk.%d.attn_qkv.weight", GPT2_QKV_W, PER_LAYER},
    {"blk.%d.attn_qkv.bias", GPT2_QKV_B, PER_LAYER},
    {"blk.%d.attn_output.weight", GPT2_PROJ_W, PER_LAYER},
    {"blk.%d.attn_output.bias", GPT2_PROJ_B, PER_LAYER},
    {"blk.%d.ffn_norm.weight", GPT2_LN2_W, PER_LAYER},
    {"blk.%d.ffn_norm.bias", GPT2_LN2_B, PER_LAYER},
    {"blk.%d.ffn_up.weight", GPT2_FC_W, PER_LAYER},
    {"blk.%d.ffn_up.bias", GPT2_FC_B, PER_LAYER},
    {"blk.%d.ffn_down.weight", GPT2_FCPROJ_W, PER_LAYER},
    {"blk.%d.ffn_down.bias", GPT2_FCPROJ_B, PER_LAYER},
    {"output_norm.weight", GPT2_LNF_W, PER_MODEL},
    {"output_norm.bias", GPT2_LNF_B, PER_MODEL},
};
#define N_GGUF_PARAMS ((int)(sizeof gguf_params / sizeof gguf_params[0]))

// ggml shape of one layer's slice of parameter p: ne[0] contiguous; *n_dims 1 or 2.
static void param_ne(const gpt2_config *c, int p, int64_t ne[2], int *n_dims) {
    int64_t V = c->vocab_size, P = c->n_ctx, C = c->n_embd, F = c->n_inner;
    int64_t rows = 0, cols = C;  // our out-major (rows, cols); rows = 0 marks a vector of cols
    switch (p) {
    case GPT2_WTE: rows = V; break;
    case GPT2_WPE: rows = P; break;
    case GPT2_QKV_W: rows = 3 * C; break;
    case GPT2_QKV_B: cols = 3 * C; break;
    case GPT2_PROJ_W: rows = C; break;
    case GPT2_FC_W: rows = F; break;
    case GPT2_FC_B: cols = F; break;
    case GPT2_FCPROJ_W: rows = C; cols = F; break;
    default: break;  // LayerNorm weights/biases and C-wide biases
    }
    ne[0] = cols;
    ne[1] = rows ? rows : 1;
    *n_dims = rows ? 2 : 1;
}

static float **param_slot(gpt2_weights *w, int p) {
    float **slot[GPT2_NUM_PARAMS];
    gpt2_param_slots(w, slot);
    return slot[p];
}

// The weight-matrix view of parameter p in layer l, or NULL for a vector (or wpe, which is
// always fp32 and read through its slot).
static const wmat *param_mat(const gpt2_model *m, int p, int l) {
    const wmat *layer = m->mats + (size_t)l * GPT2_MATS_PER_LAYER;
    switch (p) {
    case GPT2_WTE: return &m->embd;
    case GPT2_QKV_W: return &layer[GPT2_MAT_QKV];
    case GPT2_PROJ_W: return &layer[GPT2_MAT_PROJ];
    case GPT2_FC_W: return &layer[GPT2_MAT_FC];
    case GPT2_FCPROJ_W: return &layer[GPT2_MAT_FCPROJ];
    default: return NULL;
    }
}

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

// Buffers made while saving, freed once the file is written.
typedef struct {
    void **bufs;
    size_t n;
} owned_bufs;

static void *owned_alloc(owned_bufs *o, size_t bytes) {
    o->bufs = xrealloc(o->bufs, (o->n + 1) * sizeof *o->bufs);
    return o->bufs[o->n++] = xmalloc(bytes ? bytes : 1);
}

static void owned_free(owned_bufs *o) {
    for (size_t i = 0; i < o->n; i++) free(o->bufs[i]);
    free(o->bufs);
    memset(o, 0, sizeof *o);
}

// The bytes of matrix v stored as out (F32 or F16): v's own bytes when it is already stored
// so (no copy), else each row dequantized to fp32 and, for F16, rounded to nearest even.
static const void *mat_as(const wmat *v, qtype out, owned_bufs *o) {
    if (v->type == out) return v->data;
    size_t rows = (size_t)v->rows, cols = (size_t)v->cols;
    size_t in_rb = qtype_row_bytes(v->type, cols), out_rb = qtype_row_bytes(out, cols);
    char *dst = owned_alloc(o, rows * out_rb);
    float *row = xmalloc((cols ? cols : 1) * sizeof(float));
    for (size_t r = 0; r < rows; r++) {
        dequantize_row(v->type, (const char *)v->data + r * in_rb, row, cols);
        if (out == QTYPE_F32) memcpy(dst + r * out_rb, row, cols * sizeof(float));
        else
            for (size_t k = 0; k < cols; k++) ((uint16_t *)(dst + r * out_rb))[k] = f32_to_fp16(row[k]);
    }
    free(row);
    return dst;
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

int gpt2_model_save_gguf(const gpt2_model *m, const char *tok_dir, const char *path, int f16) {
    const gpt2_config *c = &m->cfg;
    if (c->gelu_exact || !c->scale_attn || c->scale_by_layer)
        return err_set(ERR_ARG, "%s: llama.cpp's gpt2 graph has the tanh GELU and 1/sqrt(head size) attention scaling only; "
                       "this model uses %s", path, c->gelu_exact ? "the exact erf GELU" : "another attention scaling");
    int stored = f16 == GPT2_GGUF_STORED;
    if (!stored) {
        const wmat *views[] = {&m->embd, &m->head, &m->mats[0]};
        for (int i = 0; i < 3; i++)
            if (views[i]->type != QTYPE_F32 && views[i]->type != QTYPE_F16)
                return err_set(ERR_ARG, "%s: the model's matrices are %s; write them as stored (GPT2_GGUF_STORED)", path,
                               qtype_get((int)views[i]->type)->name);
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
    gguf_writer_add_str(&w, "general.architecture", "gpt2");
    gguf_writer_add_str(&w, "general.name", name);
    gguf_writer_add_u32(&w, "gpt2.block_count", (uint32_t)L);
    gguf_writer_add_u32(&w, "gpt2.context_length", (uint32_t)c->n_ctx);
    gguf_writer_add_u32(&w, "gpt2.embedding_length", (uint32_t)c->n_embd);
    gguf_writer_add_u32(&w, "gpt2.feed_forward_length", (uint32_t)c->n_inner);
    gguf_writer_add_u32(&w, "gpt2.attention.head_count", (uint32_t)c->n_head);
    gguf_writer_add_f32(&w, "gpt2.attention.layer_norm_epsilon", c->ln_eps);
    gguf_writer_add_u32(&w, "general.file_type", stored ? llama_ftype(m->mats[GPT2_MAT_FC].type) : f16 ? 1 : 0);
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
    gguf_tensor_type mat_gtype = f16 ? GGUF_TENSOR_F16 : GGUF_TENSOR_F32;
    owned_bufs owned = {0};
    const void *embd_data = NULL;
    gpt2_weights wt = m->w;  // param_slot needs a non-const struct; the pointers are only read
    for (int pass = 0; pass < 3; pass++) {  // model-wide head, the layers, model-wide tail
        for (int l = 0; l < (pass == 1 ? L : 1); l++) {
            for (int i = 0; i < N_GGUF_PARAMS; i++) {
                const gguf_param *gp = &gguf_params[i];
                int want = gp->scope == PER_LAYER ? 1 : (gp->param == GPT2_LNF_W || gp->param == GPT2_LNF_B) ? 2 : 0;
                if (want != pass) continue;
                int64_t ne[2];
                int nd;
                param_ne(c, gp->param, ne, &nd);
                const wmat *v = param_mat(m, gp->param, l);
                wmat wpe = {QTYPE_F32, c->n_ctx, c->n_embd, m->w.wpe};
                if (gp->param == GPT2_WPE) v = &wpe;
                const void *data;
                gguf_tensor_type gtype = v ? mat_gtype : GGUF_TENSOR_F32;
                if (stored && v) {  // as stored: quantized blocks and F16 are written unchanged
                    data = v->data;
                    gtype = (gguf_tensor_type)v->type;
                } else if (v) {
                    data = mat_as(v, mat_type, &owned);
                } else {
                    data = *param_slot(&wt, gp->param) + (size_t)l * (size_t)(ne[0] * ne[1]);
                }
                if (gp->param == GPT2_WTE) embd_data = data;
                snprintf(name, sizeof name, gp->fmt, l);
                gguf_writer_add_tensor(&w, name, gtype, nd, ne, data);
            }
        }
    }
    // output.weight: required by llama.cpp; the same bytes as token_embd when tied.
    int64_t ne_out[2] = {c->n_embd, V};
    if (stored) {
        gguf_writer_add_tensor(&w, "output.weight", (gguf_tensor_type)m->head.type, 2, ne_out, m->head.data);
    } else {
        const void *out_data = m->tied ? embd_data : mat_as(&m->head, mat_type, &owned);
        gguf_writer_add_tensor(&w, "output.weight", mat_gtype, 2, ne_out, out_data);
    }

    rc = gguf_writer_write(&w, path);
    gguf_writer_free(&w);
    owned_free(&owned);
    tok_data_free(&tok, V);
    return rc;
}

// --- loading

// Reads a u32-ish size key into an int (range checked later by gpt2_config_validate).
static int get_size(const gguf_file *g, const char *key, int *out) {
    int64_t v;
    int rc = gguf_get_int(g, key, &v);
    if (rc) return rc;
    if (v < 0 || v > 0x7fffffff) return err_set(ERR_FORMAT, "%s: %s = %lld is out of range", g->path, key, (long long)v);
    *out = (int)v;
    return 0;
}

// Checks one tensor's type (any type shrink computes with; 1-D tensors F32/F16) and ggml shape.
static int check_tensor(const gguf_file *g, const gguf_tensor *t, int nd, const int64_t ne[2]) {
    const qtype_info *q = qtype_get((int)t->type);
    if (!q || t->type == GGUF_TENSOR_Q8_K || (nd == 1 && t->type != GGUF_TENSOR_F32 && t->type != GGUF_TENSOR_F16))
        return err_set(ERR_FORMAT, "%s: tensor '%s' has type %s, which shrink does not run%s", g->path, t->name,
                       gguf_tensor_type_get(t->type)->name, nd == 1 ? " for a 1-D tensor" : "");
    if (t->n_dims == nd && t->ne[0] == ne[0] && t->ne[1] == ne[1] && t->ne[2] == 1 && t->ne[3] == 1) return 0;
    char want[64];
    if (nd == 1) snprintf(want, sizeof want, "[%lld]", (long long)ne[0]);
    else snprintf(want, sizeof want, "[%lld,%lld]", (long long)ne[0], (long long)ne[1]);
    return err_set(ERR_SHAPE, "%s: tensor '%s' has ne = [%lld,%lld,%lld,%lld] (%d dims), expected %s from the gpt2.* keys",
                   g->path, t->name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                   t->n_dims, want);
}

static void convert_tensor(const gguf_tensor *t, float *dst, size_t dtype_params[DTYPE_COUNT]) {
    dtype dt = t->type == GGUF_TENSOR_F32 ? DTYPE_F32 : DTYPE_F16;
    dtype_to_f32(dst, t->data, dt, (size_t)t->nelem);
    dtype_params[dt] += (size_t)t->nelem;
}

// A file with F16 or quantized matrices: each matrix keeps its stored bytes (one copy into
// mat_store) and runs in its own type; vectors and wpe are widened to fp32. GPT-2 ties its
// LM head, so a separately stored output.weight (llama.cpp always writes one, often in
// another type) is counted as the same parameters, unless it is a float copy that differs.
// shrink.quantize.* keys (how shrink compressed the file), when present.
static void read_provenance(gpt2_model *m, const gguf_file *g) {
    const char *v;
    size_t n;  // the strings are NUL-terminated
    int64_t x;
    if (gguf_try_str(g, "shrink.quantize.method", &v, &n)) m->quant_method = xstrdup(v);
    if (gguf_try_str(g, "shrink.quantize.calibration.file", &v, &n)) m->calib_file = xstrdup(v);
    if (gguf_try_int(g, "shrink.quantize.calibration.fnv1a64", &x)) m->calib_fnv = (uint64_t)x;
    if (gguf_try_int(g, "shrink.quantize.calibration.tokens", &x)) m->calib_tokens = (long)x;
}

static int load_typed(gpt2_model *m, const gguf_file *g, const gpt2_config *cfg, const gguf_tensor **found,
                      const gguf_tensor *out) {
    gpt2_model_alloc_typed(m, cfg);
    size_t L = (size_t)cfg->n_layer, total = 0;
    for (int i = 0; i < N_GGUF_PARAMS; i++)
        for (size_t l = 0; l < (gguf_params[i].scope == PER_LAYER ? L : 1); l++)
            if (gpt2_param_is_matrix(gguf_params[i].param)) total += found[(size_t)i * L + l]->nbytes;
    const gguf_tensor *te = found[0];  // token_embd.weight is the table's first entry
    int same_head = !out || (out->type == te->type && out->nbytes == te->nbytes && memcmp(out->data, te->data, te->nbytes) == 0);
    if (!same_head) total += out->nbytes;
    char *store = xmalloc_weights(total ? total : 1), *p = store;
    m->mat_store = store;
    for (int i = 0; i < N_GGUF_PARAMS; i++) {
        const gguf_param *gp = &gguf_params[i];
        int64_t ne[2];
        int nd;
        param_ne(cfg, gp->param, ne, &nd);
        size_t per = (size_t)(ne[0] * ne[1]);
        for (size_t l = 0; l < (gp->scope == PER_LAYER ? L : 1); l++) {
            const gguf_tensor *t = found[(size_t)i * L + l];
            m->qtype_params[t->type] += (size_t)t->nelem;
            if (!gpt2_param_is_matrix(gp->param)) {
                // vectors (F32/F16) and wpe (any type) widened to fp32
                dequantize_row((qtype)t->type, t->data, *param_slot(&m->w, gp->param) + l * per, per);
                continue;
            }
            memcpy(p, t->data, t->nbytes);
            wmat v = {(qtype)t->type, (int)ne[1], (int)ne[0], p};
            p += t->nbytes;
            if (gp->param == GPT2_WTE) m->embd = v;
            else *(wmat *)param_mat(m, gp->param, (int)l) = v;
        }
    }
    m->head = m->embd;
    if (!same_head) {
        memcpy(p, out->data, out->nbytes);
        m->head = (wmat){(qtype)out->type, cfg->vocab_size, cfg->n_embd, p};
        m->qtype_params[out->type] += (size_t)out->nelem;
        if (out->type == GGUF_TENSOR_F32 || out->type == GGUF_TENSOR_F16) {
            m->tied = 0;  // a float head that differs from token_embd: a genuinely untied model
            m->n_params += (size_t)out->nelem;
        }
    }
    for (int t = 0; t < 2; t++) m->dtype_params[t] = m->qtype_params[t];
    m->file_bytes = g->map.len;
    m->source = xstrdup(g->path);
    read_provenance(m, g);
    return 0;
}

int gpt2_model_load_gguf(gpt2_model *m, const char *path) {
    memset(m, 0, sizeof *m);
    gguf_file g;
    const gguf_tensor **found = NULL;
    int rc = gguf_open(&g, path);
    if (rc) return rc;

    const char *arch;
    if ((rc = gguf_get_str(&g, "general.architecture", &arch, NULL))) goto fail;
    if (strcmp(arch, "gpt2") != 0) {
        rc = err_set(ERR_FORMAT, "%s: general.architecture is \"%s\", expected \"gpt2\"", path, arch);
        goto fail;
    }
    gpt2_config cfg = {0};
    cfg.scale_attn = 1;  // what llama.cpp's gpt2 graph computes: tanh GELU, 1/sqrt(HS) scaling
    cfg.bos_id = cfg.eos_id = -1;
    if ((rc = get_size(&g, "gpt2.block_count", &cfg.n_layer)) || (rc = get_size(&g, "gpt2.context_length", &cfg.n_ctx)) ||
        (rc = get_size(&g, "gpt2.embedding_length", &cfg.n_embd)) ||
        (rc = get_size(&g, "gpt2.feed_forward_length", &cfg.n_inner)) ||
        (rc = get_size(&g, "gpt2.attention.head_count", &cfg.n_head)) ||
        (rc = gguf_get_f32(&g, "gpt2.attention.layer_norm_epsilon", &cfg.ln_eps)))
        goto fail;
    if (!(cfg.ln_eps > 0 && cfg.ln_eps < 1)) {
        rc = err_set(ERR_FORMAT, "%s: gpt2.attention.layer_norm_epsilon = %g must be in (0, 1)", path, cfg.ln_eps);
        goto fail;
    }
    const gguf_tensor *te = gguf_find_tensor(&g, "token_embd.weight");
    if (!te) {
        rc = err_set(ERR_FORMAT, "%s: missing tensor 'token_embd.weight'", path);
        goto fail;
    }
    if (te->n_dims != 2 || te->ne[1] > 0x7fffffff) {
        rc = err_set(ERR_SHAPE, "%s: tensor 'token_embd.weight' must be 2-D [n_embd, n_vocab]", path);
        goto fail;
    }
    cfg.vocab_size = (int)te->ne[1];
    const char *ids[2] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"};
    int *id_out[2] = {&cfg.bos_id, &cfg.eos_id};
    for (int i = 0; i < 2; i++) {
        if (!gguf_find_kv(&g, ids[i])) continue;
        int64_t v;
        if ((rc = gguf_get_int(&g, ids[i], &v))) goto fail;
        if (v < 0 || v >= cfg.vocab_size) {
            rc = err_set(ERR_SHAPE, "%s: %s = %lld is outside the vocabulary of %d", path, ids[i], (long long)v, cfg.vocab_size);
            goto fail;
        }
        *id_out[i] = (int)v;
    }
    if ((rc = gpt2_config_validate(&cfg, path))) goto fail;

    // Find and check every tensor before allocating: the sizes are then backed by the file.
    size_t L = (size_t)cfg.n_layer;
    found = xcalloc((size_t)N_GGUF_PARAMS * L, sizeof *found);
    for (int i = 0; i < N_GGUF_PARAMS && !rc; i++) {
        const gguf_param *gp = &gguf_params[i];
        int64_t ne[2];
        int nd;
        param_ne(&cfg, gp->param, ne, &nd);
        for (size_t l = 0; l < (gp->scope == PER_LAYER ? L : 1) && !rc; l++) {
            char name[128];
            snprintf(name, sizeof name, gp->fmt, (int)l);
            const gguf_tensor *t = gguf_find_tensor(&g, name);
            if (!t) rc = err_set(ERR_FORMAT, "%s: missing tensor '%s'", path, name);
            else rc = check_tensor(&g, t, nd, ne);
            found[(size_t)i * L + l] = t;
        }
    }
    const gguf_tensor *out = gguf_find_tensor(&g, "output.weight");
    int64_t ne_out[2] = {cfg.n_embd, cfg.vocab_size};
    if (!rc && out) rc = check_tensor(&g, out, 2, ne_out);
    for (size_t i = 0; i < g.n_tensors && !rc; i++) {
        const gguf_tensor *t = &g.tensors[i];
        int known = t == out;
        for (size_t k = 0; k < (size_t)N_GGUF_PARAMS * L && !known; k++) known = found[k] == t;
        if (!known)
            rc = err_set(ERR_FORMAT, "%s: unexpected tensor '%s' (not part of a gpt2 model with %d layers)", path, t->name,
                         cfg.n_layer);
    }
    if (rc) goto fail;

    int all_f32 = !out || out->type == GGUF_TENSOR_F32;
    for (int i = 0; i < N_GGUF_PARAMS; i++)
        for (size_t l = 0; l < (gguf_params[i].scope == PER_LAYER ? L : 1); l++)
            if (gpt2_param_is_matrix(gguf_params[i].param) && found[(size_t)i * L + l]->type != GGUF_TENSOR_F32) all_f32 = 0;
    if (!all_f32) {
        rc = load_typed(m, &g, &cfg, found, out);
        free(found);
        gguf_close(&g);
        if (rc) gpt2_model_free(m);
        return rc;
    }

    gpt2_model_alloc(m, &cfg);
    for (int i = 0; i < N_GGUF_PARAMS; i++) {
        const gguf_param *gp = &gguf_params[i];
        int64_t ne[2];
        int nd;
        param_ne(&cfg, gp->param, ne, &nd);
        size_t per = (size_t)(ne[0] * ne[1]);
        for (size_t l = 0; l < (gp->scope == PER_LAYER ? L : 1); l++)
            convert_tensor(found[(size_t)i * L + l], *param_slot(&m->w, gp->param) + l * per, m->dtype_params);
    }
    // output.weight: absent or equal to token_embd means tied (as gpt2_model_alloc left it).
    if (out) {
        size_t n = (size_t)cfg.vocab_size * (size_t)cfg.n_embd;
        float *head = xmalloc(n * sizeof(float));
        size_t counts[DTYPE_COUNT] = {0};
        convert_tensor(out, head, counts);
        if (memcmp(head, m->w.wte, n * sizeof(float)) == 0) {
            free(head);
        } else {
            m->tied = 0;
            m->lm_head = head;
            gpt2_model_set_f32_views(m);
            m->n_params += n;
            for (int d = 0; d < DTYPE_COUNT; d++) m->dtype_params[d] += counts[d];
        }
    }
    m->file_bytes = g.map.len;
    m->source = xstrdup(path);
    read_provenance(m, &g);
    m->qtype_params[QTYPE_F32] = m->dtype_params[DTYPE_F32];
    free(found);
    gguf_close(&g);
    return 0;

fail:
    free(found);
    gguf_close(&g);
    gpt2_model_free(m);
    return rc ? rc : ERR_FORMAT;
}

// --- the tokenizer stored in a GGUF file

// Appends s as a JSON string literal to buf.
static void json_escape_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + 6 * n + 3 > *cap) {
        *cap = (*len + 6 * n + 3) * 2;
        *buf = xrealloc(*buf, *cap);
    }
    char *o = *buf + *len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') { *o++ = '\\'; *o++ = (char)ch; }
        else if (ch < 0x20) o += sprintf(o, "\\u%04x", ch);
        else *o++ = (char)ch;
    }
    *o++ = '"';
    *len = (size_t)(o - *buf);
}

int gpt2_tokenizer_load_gguf(const char *path, bpe **out) {
    *out = NULL;
    gguf_file g;
    int rc = gguf_open(&g, path);
    if (rc) return rc;
    const char *model = NULL;
    size_t model_len = 0;
    const gguf_kv *toks = gguf_find_kv(&g, "tokenizer.ggml.tokens"), *merges = gguf_find_kv(&g, "tokenizer.ggml.merges");
    if (gguf_get_str(&g, "tokenizer.ggml.model", &model, &model_len) || strcmp(model, "gpt2") != 0 || !toks ||
        !merges || !toks->is_array || !merges->is_array || toks->type != GGUF_TYPE_STRING ||
        merges->type != GGUF_TYPE_STRING) {
        err_clear();
        gguf_close(&g);
        return err_set(ERR_FORMAT, "%s: no GPT-2 BPE tokenizer (tokenizer.ggml.model \"gpt2\" with tokens and merges arrays)", path);
    }
    // Rebuild vocab.json and merges.txt text and parse them with the tokenizer's own checks.
    size_t vlen = 0, vcap = 1024, mlen = 0, mcap = 1024;
    char *vocab = xmalloc(vcap), *mtxt = xmalloc(mcap);
    vocab[vlen++] = '{';
    for (uint64_t i = 0; i < toks->n; i++) {
        if (i) vocab[vlen++] = ',';
        json_escape_append(&vocab, &vlen, &vcap, toks->str[i], (size_t)toks->str_len[i]);
        char num[32];
        int k = snprintf(num, sizeof num, ":%llu", (unsigned long long)i);
        if (vlen + (size_t)k + 2 > vcap) vocab = xrealloc(vocab, vcap = (vlen + (size_t)k + 2) * 2);
        memcpy(vocab + vlen, num, (size_t)k);
        vlen += (size_t)k;
    }
    vocab[vlen++] = '}';
    for (uint64_t i = 0; i < merges->n; i++) {
        size_t n = (size_t)merges->str_len[i];
        if (mlen + n + 2 > mcap) mtxt = xrealloc(mtxt, mcap = (mlen + n + 2) * 2);
        memcpy(mtxt + mlen, merges->str[i], n);
        mlen += n;
        mtxt[mlen++] = '\n';
    }
    size_t wl = strlen(path) + 32;
    char *vw = xmalloc(wl), *mw = xmalloc(wl);
    snprintf(vw, wl, "%s (tokenizer.ggml.tokens)", path);
    snprintf(mw, wl, "%s (tokenizer.ggml.merges)", path);
    rc = bpe_load_text(out, vocab, vlen, vw, mtxt, mlen, mw);
    free(vw);
    free(mw);
    free(vocab);
    free(mtxt);
    gguf_close(&g);
    return rc;
}
