// gpt2_tensors.c: GPT-2's tensor table (each tensor declared once: names in both file
// formats, shape from the config and the layer, kind, initialisation, where it lives in
// the model) and the matrices' plan order. Loaders, savers, allocation, initialisation,
// AdamW's decay and the compressors all iterate these; none restates a name or a shape.
// The anchor is llama.cpp's LLM_TENSOR_NAMES (llama-arch.cpp) and its per-layer
// create_tensor loop (llama-model.cpp).
#include "gpt2.h"
#include "../core/err.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define LAYER(field) offsetof(gpt2_layer, field)
#define MODEL(field) offsetof(gpt2_model, field)

// GGUF names are llama.cpp's gpt2 ones; factor names follow llama.cpp's _a/_b spelling of
// low-rank projections (attn_q_a, attn_q_b). HF names are GPT2LMHeadModel's state dict.
const gpt2_tensor_info gpt2_tensors[GPT2_T_COUNT] = {
    [GPT2_T_TOKEN_EMBD] = {"token_embd.weight", "transformer.wte.weight", 0, GPT2_KIND_MATRIX, 0, GPT2_INIT_NORMAL, MODEL(embd)},
    [GPT2_T_POS_EMBD] = {"position_embd.weight", "transformer.wpe.weight", 0, GPT2_KIND_TABLE, 0, GPT2_INIT_NORMAL, MODEL(wpe)},
    [GPT2_T_ATTN_NORM] = {"blk.%d.attn_norm.weight", "transformer.h.%d.ln_1.weight", 1, GPT2_KIND_VECTOR, 0, GPT2_INIT_ONES, LAYER(ln_1_w)},
    [GPT2_T_ATTN_NORM_B] = {"blk.%d.attn_norm.bias", "transformer.h.%d.ln_1.bias", 1, GPT2_KIND_VECTOR, 0, GPT2_INIT_ZEROS, LAYER(ln_1_b)},
    [GPT2_T_QKV] = {"blk.%d.attn_qkv.weight", "transformer.h.%d.attn.c_attn.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_NORMAL, LAYER(lin[GPT2_LIN_QKV].w)},
    [GPT2_T_QKV_A] = {"blk.%d.attn_qkv_a.weight", "transformer.h.%d.attn.c_attn_a.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_NORMAL, LAYER(lin[GPT2_LIN_QKV].w)},
    [GPT2_T_QKV_B] = {"blk.%d.attn_qkv_b.weight", "transformer.h.%d.attn.c_attn_b.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_NORMAL, LAYER(lin[GPT2_LIN_QKV].w2)},
    [GPT2_T_QKV_BIAS] = {"blk.%d.attn_qkv.bias", "transformer.h.%d.attn.c_attn.bias", 1, GPT2_KIND_VECTOR, 0, GPT2_INIT_ZEROS, LAYER(lin[GPT2_LIN_QKV].bias)},
    [GPT2_T_OUT] = {"blk.%d.attn_output.weight", "transformer.h.%d.attn.c_proj.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_RESID, LAYER(lin[GPT2_LIN_OUT].w)},
    [GPT2_T_OUT_A] = {"blk.%d.attn_output_a.weight", "transformer.h.%d.attn.c_proj_a.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_NORMAL, LAYER(lin[GPT2_LIN_OUT].w)},
    [GPT2_T_OUT_B] = {"blk.%d.attn_output_b.weight", "transformer.h.%d.attn.c_proj_b.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_RESID, LAYER(lin[GPT2_LIN_OUT].w2)},
    [GPT2_T_OUT_BIAS] = {"blk.%d.attn_output.bias", "transformer.h.%d.attn.c_proj.bias", 1, GPT2_KIND_VECTOR, 0, GPT2_INIT_ZEROS, LAYER(lin[GPT2_LIN_OUT].bias)},
    [GPT2_T_FFN_NORM] = {"blk.%d.ffn_norm.weight", "transformer.h.%d.ln_2.weight", 1, GPT2_KIND_VECTOR, 0, GPT2_INIT_ONES, LAYER(ln_2_w)},
    [GPT2_T_FFN_NORM_B] = {"blk.%d.ffn_norm.bias", "transformer.h.%d.ln_2.bias", 1, GPT2_KIND_VECTOR, 0, GPT2_INIT_ZEROS, LAYER(ln_2_b)},
    [GPT2_T_UP] = {"blk.%d.ffn_up.weight", "transformer.h.%d.mlp.c_fc.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_NORMAL, LAYER(lin[GPT2_LIN_UP].w)},
    [GPT2_T_UP_A] = {"blk.%d.ffn_up_a.weight", "transformer.h.%d.mlp.c_fc_a.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_NORMAL, LAYER(lin[GPT2_LIN_UP].w)},
    [GPT2_T_UP_B] = {"blk.%d.ffn_up_b.weight", "transformer.h.%d.mlp.c_fc_b.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_NORMAL, LAYER(lin[GPT2_LIN_UP].w2)},
    [GPT2_T_UP_BIAS] = {"blk.%d.ffn_up.bias", "transformer.h.%d.mlp.c_fc.bias", 1, GPT2_KIND_VECTOR, 0, GPT2_INIT_ZEROS, LAYER(lin[GPT2_LIN_UP].bias)},
    [GPT2_T_DOWN] = {"blk.%d.ffn_down.weight", "transformer.h.%d.mlp.c_proj.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_RESID, LAYER(lin[GPT2_LIN_DOWN].w)},
    [GPT2_T_DOWN_A] = {"blk.%d.ffn_down_a.weight", "transformer.h.%d.mlp.c_proj_a.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_NORMAL, LAYER(lin[GPT2_LIN_DOWN].w)},
    [GPT2_T_DOWN_B] = {"blk.%d.ffn_down_b.weight", "transformer.h.%d.mlp.c_proj_b.weight", 1, GPT2_KIND_MATRIX, 1, GPT2_INIT_RESID, LAYER(lin[GPT2_LIN_DOWN].w2)},
    [GPT2_T_DOWN_BIAS] = {"blk.%d.ffn_down.bias", "transformer.h.%d.mlp.c_proj.bias", 1, GPT2_KIND_VECTOR, 0, GPT2_INIT_ZEROS, LAYER(lin[GPT2_LIN_DOWN].bias)},
    [GPT2_T_OUTPUT_NORM] = {"output_norm.weight", "transformer.ln_f.weight", 0, GPT2_KIND_VECTOR, 0, GPT2_INIT_ONES, MODEL(ln_f_w)},
    [GPT2_T_OUTPUT_NORM_B] = {"output_norm.bias", "transformer.ln_f.bias", 0, GPT2_KIND_VECTOR, 0, GPT2_INIT_ZEROS, MODEL(ln_f_b)},
    [GPT2_T_OUTPUT] = {"output.weight", "lm_head.weight", 0, GPT2_KIND_MATRIX, 0, GPT2_INIT_NORMAL, MODEL(head)},
};

// The linear (GPT2_LIN_*) and part a per-layer linear tensor belongs to.
enum { PART_DENSE, PART_A, PART_B, PART_BIAS };
static int linear_of(int id, int *part) {
    static const int first[GPT2_LINEARS] = {GPT2_T_QKV, GPT2_T_OUT, GPT2_T_UP, GPT2_T_DOWN};
    for (int k = 0; k < GPT2_LINEARS; k++)
        if (id >= first[k] && id < first[k] + 4) {
            *part = id - first[k];
            return k;
        }
    return -1;
}

int gpt2_tensor_shape(const gpt2_config *c, int id, int l, int64_t *rows, int64_t *cols) {
    int64_t C = c->n_embd;
    *rows = 1;
    *cols = C;
    switch (id) {
    case GPT2_T_TOKEN_EMBD: *rows = c->vocab_size; return 1;
    case GPT2_T_POS_EMBD: *rows = c->n_ctx; return 1;
    case GPT2_T_OUTPUT: *rows = c->vocab_size; return !c->tied;
    case GPT2_T_ATTN_NORM: case GPT2_T_ATTN_NORM_B: case GPT2_T_FFN_NORM: case GPT2_T_FFN_NORM_B:
    case GPT2_T_OUTPUT_NORM: case GPT2_T_OUTPUT_NORM_B: return 1;
    default: break;
    }
    int part = 0, k = linear_of(id, &part), out, in;
    CHECK(k >= 0);
    int r = c->rank_arr[l][k];
    gpt2_linear_dims(c, l, k, &out, &in);
    switch (part) {
    case PART_DENSE: *rows = out, *cols = in; return r == 0;
    case PART_A: *rows = r, *cols = in; return r > 0;
    case PART_B: *rows = out, *cols = r; return r > 0;
    default: *cols = out; return 1;  // the bias
    }
}

int gpt2_tensor_hf_shape(const gpt2_config *c, int id, int l, int64_t dims[2]) {
    int64_t rows, cols;
    gpt2_tensor_shape(c, id, l, &rows, &cols);
    const gpt2_tensor_info *t = &gpt2_tensors[id];
    dims[0] = t->kind == GPT2_KIND_VECTOR || t->hf_transpose ? cols : rows;
    dims[1] = t->hf_transpose ? rows : cols;
    return t->kind == GPT2_KIND_VECTOR ? 1 : 2;
}

void gpt2_tensor_name(int id, int l, int hf, char *out, size_t cap) {
    const gpt2_tensor_info *t = &gpt2_tensors[id];
    const char *fmt = hf ? t->hf : t->gguf;
    if (hf && fmt[0] == 't') fmt += sizeof "transformer." - 1;
    snprintf(out, cap, fmt, l);
}

size_t gpt2_param_count(const gpt2_config *c) {
    size_t n = 0;
    for (int id = 0; id < GPT2_T_COUNT; id++)
        for (int l = 0; l < (gpt2_tensors[id].per_layer ? c->n_layer : 1); l++) {
            int64_t rows, cols;
            if (gpt2_tensor_shape(c, id, l, &rows, &cols)) n += (size_t)(rows * cols);
        }
    return n;
}

static void *slot(gpt2_model *m, int id, int l) {
    const gpt2_tensor_info *t = &gpt2_tensors[id];
    CHECK(!t->per_layer || (l >= 0 && l < m->cfg.n_layer));
    return (char *)(t->per_layer ? (void *)&m->layers[l] : (void *)m) + t->slot;
}

wmat *gpt2_tensor_mat(gpt2_model *m, int id, int l) {
    CHECK(gpt2_tensors[id].kind == GPT2_KIND_MATRIX);
    return slot(m, id, l);
}

float **gpt2_tensor_vec(gpt2_model *m, int id, int l) {
    CHECK(gpt2_tensors[id].kind != GPT2_KIND_MATRIX);
    return slot(m, id, l);
}

// --- matrices in plan order

static int mats_in_layer(const gpt2_config *c, int l) {
    int n = 0;
    for (int k = 0; k < GPT2_LINEARS; k++) n += c->rank_arr[l][k] ? 2 : 1;
    return n;
}

int gpt2_n_mats(const gpt2_config *c) {
    int n = 2;
    for (int l = 0; l < c->n_layer; l++) n += mats_in_layer(c, l);
    return n;
}

int gpt2_mat_index(const gpt2_config *c, int l, int k, int factor) {
    int i = 0;
    for (int j = 0; j < l; j++) i += mats_in_layer(c, j);
    for (int j = 0; j < k; j++) i += c->rank_arr[l][j] ? 2 : 1;
    return i + factor;
}

void gpt2_mat_locate(const gpt2_config *c, int i, int *l, int *k, int *factor) {
    for (int j = 0; j < c->n_layer; j++) {
        int n = mats_in_layer(c, j);
        if (i >= n) {
            i -= n;
            continue;
        }
        for (int q = 0; q < GPT2_LINEARS; q++) {
            int f = c->rank_arr[j][q] ? 2 : 1;
            if (i < f) {
                *l = j, *k = q, *factor = i;
                return;
            }
            i -= f;
        }
    }
    CHECK(i >= 0 && i < 2);
    *l = c->n_layer, *k = i, *factor = 0;  // k: 0 token_embd, 1 output
}

void gpt2_mat_dims(const gpt2_config *c, int i, int *rows, int *cols) {
    int l, k, f;
    gpt2_mat_locate(c, i, &l, &k, &f);
    if (l == c->n_layer) {
        *rows = c->vocab_size, *cols = c->n_embd;
        return;
    }
    int out, in, r = c->rank_arr[l][k];
    gpt2_linear_dims(c, l, k, &out, &in);
    *rows = r && f == 0 ? r : out;
    *cols = r && f == 1 ? r : in;
}

void gpt2_mat_name(const gpt2_config *c, int i, char *out, size_t cap) {
    static const char *names[GPT2_LINEARS] = {"attn_qkv", "attn_output", "ffn_up", "ffn_down"};
    int l, k, f;
    gpt2_mat_locate(c, i, &l, &k, &f);
    if (l == c->n_layer) snprintf(out, cap, "%s", k ? "output" : "token_embd");
    else snprintf(out, cap, "blk.%d.%s%s", l, names[k], c->rank_arr[l][k] ? (f ? "_b" : "_a") : "");
}

wmat *gpt2_mat(gpt2_model *m, int i) {
    int l, k, f;
    gpt2_mat_locate(&m->cfg, i, &l, &k, &f);
    if (l == m->cfg.n_layer) return k ? &m->head : &m->embd;
    return f ? &m->layers[l].lin[k].w2 : &m->layers[l].lin[k].w;
}

int gpt2_parse_param_budget(const char *s, size_t total, const char *what, size_t *out) {
    char *end;
    double v = strtod(s, &end);
    int pct = *end == '%';
    if (end == s || (pct ? end[1] : *end) || !(v > 0) || (pct && v >= 100) || (!pct && v >= (double)total))
        return err_set(ERR_ARG, "%s '%s': give a parameter count below the model's %zu, or a "
                                "percentage of it in (0, 100) such as 75%%", what, s, total);
    *out = pct ? (size_t)(v / 100 * (double)total) : (size_t)v;
    if (*out < 1) *out = 1;
    return 0;
}
