// gpt2_gguf_load.c: a GPT-2 model from a GGUF file in llama.cpp's "gpt2" layout (ours or
// llama.cpp's; gpt2_gguf_save.c describes it), and the BPE tokenizer such a file carries.
// F32 files load into the fp32 model gpt2_hf_load builds; files with F16 or quantized
// matrices keep each matrix's bytes and run them in their own types.
#include "modelfile.h"
#include "../tokenizer/bpe.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/xalloc.h"
#include "../formats/gguf.h"
#include "../formats/json.h"
#include <string.h>

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

// shrink.quantize.* keys (how shrink compressed the file), when present: an absent key is
// no error (llama.cpp's files and plain exports have none).
static void read_provenance(gpt2_model *m, const gguf_file *g) {
    const char *v;
    size_t n;  // the strings are NUL-terminated
    int64_t x;
    if (gguf_try_str(g, "shrink.quantize.method", &v, &n)) m->quant_method = xstrdup(v);
    if (gguf_try_str(g, "shrink.quantize.calibration.file", &v, &n)) m->calib_file = xstrdup(v);
    if (gguf_try_int(g, "shrink.quantize.calibration.fnv1a64", &x)) m->calib_fnv = (uint64_t)x;
    if (gguf_try_int(g, "shrink.quantize.calibration.tokens", &x)) m->calib_tokens = (long)x;
}

// Reads an integer array key of n elements, each in [lo, hi], into out.
static int get_ints(const gguf_file *g, const char *key, int *out, size_t n, int64_t lo, int64_t hi) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) return err_set(ERR_FORMAT, "%s: missing key '%s'", g->path, key);
    int is_int = kv->type <= GGUF_TYPE_INT32 || kv->type == GGUF_TYPE_UINT64 || kv->type == GGUF_TYPE_INT64;
    if (!kv->is_array || !is_int || kv->n != n)
        return err_set(ERR_FORMAT, "%s: '%s' must be an array of %zu integers", g->path, key, n);
    for (size_t i = 0; i < n; i++) {
        int64_t v = gguf_kv_int(kv, i);
        if (v < lo || v > hi)
            return err_set(ERR_FORMAT, "%s: %s[%zu] = %lld is outside %lld..%lld", g->path, key, i, (long long)v,
                           (long long)lo, (long long)hi);
        out[i] = (int)v;
    }
    return 0;
}

// shrink-gpt2: the config from its keys, per-layer shapes from arrays (gpt2_gguf_save.c).
static int read_shrink_config(const gguf_file *g, gpt2_config *c, uint8_t **removed) {
    int rc;
    const char *gelu;
    if ((rc = get_size(g, "shrink-gpt2.block_count", &c->n_layer)) ||
        (rc = get_size(g, "shrink-gpt2.context_length", &c->n_ctx)) ||
        (rc = get_size(g, "shrink-gpt2.embedding_length", &c->n_embd)) ||
        (rc = get_size(g, "shrink-gpt2.attention.key_length", &c->head_dim)) ||
        (rc = gguf_get_f32(g, "shrink-gpt2.attention.layer_norm_epsilon", &c->ln_eps)) ||
        (rc = gguf_get_bool(g, "shrink-gpt2.attention.scale", &c->scale_attn)) ||
        (rc = gguf_get_bool(g, "shrink-gpt2.attention.scale_by_layer", &c->scale_by_layer)) ||
        (rc = gguf_get_str(g, "shrink-gpt2.gelu", &gelu, NULL)))
        return rc;
    if (strcmp(gelu, "tanh") != 0 && strcmp(gelu, "erf") != 0)
        return err_set(ERR_FORMAT, "%s: shrink-gpt2.gelu is \"%s\", expected \"tanh\" or \"erf\"", g->path, gelu);
    c->gelu_exact = strcmp(gelu, "erf") == 0;
    if (c->n_layer < 1 || c->n_layer > GPT2_MAX_LAYERS)
        return err_set(ERR_SHAPE, "%s: shrink-gpt2.block_count = %d is outside 1..%d", g->path, c->n_layer, GPT2_MAX_LAYERS);
    if (c->head_dim < 1 || c->n_embd % c->head_dim)
        return err_set(ERR_SHAPE, "%s: head size %d does not divide n_embd = %d", g->path, c->head_dim, c->n_embd);
    size_t L = (size_t)c->n_layer, NH = (size_t)(c->n_embd / c->head_dim);
    int *ranks = xmalloc(L * GPT2_LINEARS * sizeof *ranks);
    if (!(rc = get_ints(g, "shrink-gpt2.attention.head_count", c->n_head_arr, L, 0, (int64_t)NH)) &&
        !(rc = get_ints(g, "shrink-gpt2.feed_forward_length", c->n_ff_arr, L, 0, 1 << 30)) &&
        !(rc = get_ints(g, "shrink-gpt2.source_layer", c->src_layer, L, 0, GPT2_MAX_LAYERS - 1)) &&
        !(rc = get_ints(g, "shrink-gpt2.rank", ranks, L * GPT2_LINEARS, 0, 1 << 30)))
        for (size_t i = 0; i < L * GPT2_LINEARS; i++) c->rank_arr[i / GPT2_LINEARS][i % GPT2_LINEARS] = ranks[i];
    free(ranks);
    if (rc || !gguf_find_kv(g, "shrink-gpt2.attention.removed_heads")) return rc;
    int *rm = xmalloc(L * NH * sizeof *rm);
    if (!(rc = get_ints(g, "shrink-gpt2.attention.removed_heads", rm, L * NH, 0, 1))) {
        *removed = xmalloc(L * NH);
        for (size_t i = 0; i < L * NH; i++) (*removed)[i] = (uint8_t)rm[i];
    }
    free(rm);
    return rc;
}

// The config the keys give. gpt2: a uniform model with tanh GELU and 1/sqrt(HS) scaling, as
// llama.cpp's gpt2 graph computes; shrink-gpt2: whatever its keys say. The vocabulary from
// token_embd, bos/eos from the tokenizer keys when present.
static int read_config(const gguf_file *g, gpt2_config *cfg, uint8_t **removed) {
    memset(cfg, 0, sizeof *cfg);
    cfg->scale_attn = 1;
    cfg->tied = 1;
    cfg->bos_id = cfg->eos_id = -1;
    const char *arch;
    int rc, n_head = 0, n_ff = 0;
    if ((rc = gguf_get_str(g, "general.architecture", &arch, NULL))) return rc;
    int shrink = strcmp(arch, "shrink-gpt2") == 0;
    if (strcmp(arch, "gpt2") != 0 && !shrink)
        return err_set(ERR_FORMAT, "%s: general.architecture is \"%s\", expected \"gpt2\" or \"shrink-gpt2\"", g->path, arch);
    if (shrink) rc = read_shrink_config(g, cfg, removed);
    else if (!(rc = get_size(g, "gpt2.block_count", &cfg->n_layer)) && !(rc = get_size(g, "gpt2.context_length", &cfg->n_ctx)) &&
             !(rc = get_size(g, "gpt2.embedding_length", &cfg->n_embd)) &&
             !(rc = get_size(g, "gpt2.feed_forward_length", &n_ff)) &&
             !(rc = get_size(g, "gpt2.attention.head_count", &n_head)))
        rc = gguf_get_f32(g, "gpt2.attention.layer_norm_epsilon", &cfg->ln_eps);
    if (rc) return rc;
    if (!(cfg->ln_eps > 0 && cfg->ln_eps < 1))
        return err_set(ERR_FORMAT, "%s: the layer_norm_epsilon = %g must be in (0, 1)", g->path, cfg->ln_eps);
    const gguf_tensor *te = gguf_find_tensor(g, "token_embd.weight");
    if (!te) return err_set(ERR_FORMAT, "%s: missing tensor 'token_embd.weight'", g->path);
    if (te->n_dims != 2 || te->ne[1] > 0x7fffffff)
        return err_set(ERR_SHAPE, "%s: tensor 'token_embd.weight' must be 2-D [n_embd, n_vocab]", g->path);
    cfg->vocab_size = (int)te->ne[1];
    const char *ids[2] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"};
    int *id_out[2] = {&cfg->bos_id, &cfg->eos_id};
    for (int i = 0; i < 2; i++) {
        if (!gguf_find_kv(g, ids[i])) continue;
        int64_t v;
        if ((rc = gguf_get_int(g, ids[i], &v))) return rc;
        if (v < 0 || v >= cfg->vocab_size)
            return err_set(ERR_SHAPE, "%s: %s = %lld is outside the vocabulary of %d", g->path, ids[i], (long long)v,
                           cfg->vocab_size);
        *id_out[i] = (int)v;
    }
    if (!shrink) {
        if (n_head <= 0 || cfg->n_embd % n_head)
            return err_set(ERR_SHAPE, "%s: gpt2.attention.head_count = %d does not divide n_embd = %d", g->path, n_head,
                           cfg->n_embd);
        gpt2_config_set_uniform(cfg, n_head, n_ff);
    }
    return gpt2_config_validate(cfg, g->path);
}

static int is_f32(const gguf_tensor *t) { return t->type == GGUF_TENSOR_F32; }

// 1 when tensors a and b hold the same bytes; read a piece at a time (file_map_read), so the
// comparison leaves no pages of the mapping in the process while the weights load. -1: a read failed.
int gpt2_gguf_load(gpt2_model *m, const char *path) {
    memset(m, 0, sizeof *m);
    gguf_file g;
    const gguf_tensor **found = NULL;  // (GPT2_T_COUNT, L)
    int rc = gguf_open(&g, path);
    if (rc) return rc;
    gpt2_config cfg;
    uint8_t *removed = NULL;
    if ((rc = read_config(&g, &cfg, &removed))) goto fail;

    // Find and check every tensor before allocating: the sizes are then backed by the file.
    size_t L = (size_t)cfg.n_layer;
    found = xcalloc((size_t)GPT2_T_COUNT * L, sizeof *found);
    int all_f32 = 1;
    for (int id = 0; id < GPT2_T_OUTPUT && !rc; id++) {
        const gpt2_tensor_info *ti = &gpt2_tensors[id];
        for (int l = 0; l < (ti->per_layer ? cfg.n_layer : 1) && !rc; l++) {
            int64_t rows, cols;
            if (!gpt2_tensor_shape(&cfg, id, l, &rows, &cols)) continue;
            char name[128];
            gpt2_tensor_name(id, l, 0, name, sizeof name);
            const gguf_tensor *t = gguf_find_tensor(&g, name);
            int64_t ne[2] = {cols, rows};
            if (!t && rows * cols == 0) continue;  // an empty attention or MLP stores nothing
            if (!t) rc = err_set(ERR_FORMAT, "%s: missing tensor '%s'", path, name);
            else rc = check_tensor(&g, t, ti->kind == GPT2_KIND_VECTOR ? 1 : 2, ne);
            found[(size_t)id * L + (size_t)l] = t;
            if (t && ti->kind == GPT2_KIND_MATRIX && !is_f32(t)) all_f32 = 0;
        }
    }
    const gguf_tensor *out = gguf_find_tensor(&g, "output.weight");
    int64_t ne_out[2] = {cfg.n_embd, cfg.vocab_size};
    if (!rc && out) rc = check_tensor(&g, out, 2, ne_out);
    for (size_t i = 0; i < g.n_tensors && !rc; i++) {
        const gguf_tensor *t = &g.tensors[i];
        int known = t == out;
        for (size_t k = 0; k < (size_t)GPT2_T_COUNT * L && !known; k++) known = found[k] == t;
        if (!known)
            rc = err_set(ERR_FORMAT, "%s: unexpected tensor '%s' (not part of this model's %d layers)", path, t->name,
                         cfg.n_layer);
    }
    if (rc) goto fail;

    // output.weight absent, or the same bytes as token_embd, is the tied head. One stored in
    // another type (llama.cpp's presets give it Q6_K) is still GPT-2's tied head, one
    // parameter encoded twice; only a float copy that differs is an untied model.
    const gguf_tensor *te = found[GPT2_T_TOKEN_EMBD * L];
    int same_head = 1;
    if (out && (out->type != te->type || out->nbytes != te->nbytes)) same_head = 0;
    else if (out && (rc = file_map_same(&g.map, g.path, g.data_offset + out->offset, &g.map, g.path,
                                        g.data_offset + te->offset, out->nbytes, &same_head)))
        goto fail;
    if (out && !is_f32(out)) all_f32 = 0;
    cfg.tied = same_head || (out->type != GGUF_TENSOR_F32 && out->type != GGUF_TENSOR_F16);

    // Widen vectors and wpe to fp32; all-F32 files get their matrices in the fp32 arena too,
    // others keep each matrix's stored bytes in mat_store.
    if (all_f32) gpt2_model_alloc(m, &cfg);
    else gpt2_model_alloc_vectors(m, &cfg);
    size_t total = 0;
    for (int id = 0; id < GPT2_T_COUNT * (int)L; id++)
        if (found[id] && gpt2_tensors[id / L].kind == GPT2_KIND_MATRIX) total += found[id]->nbytes;
    if (!same_head) total += out->nbytes;
    char *store = all_f32 ? NULL : xmalloc_weights(total ? total : 1), *p = store;
    m->mat_store = store;
    for (int id = 0; id < GPT2_T_OUTPUT; id++) {
        const gpt2_tensor_info *ti = &gpt2_tensors[id];
        for (int l = 0; l < (ti->per_layer ? cfg.n_layer : 1); l++) {
            const gguf_tensor *t = found[(size_t)id * L + (size_t)l];
            int64_t rows, cols;
            if (!t && !all_f32 && ti->kind == GPT2_KIND_MATRIX && gpt2_tensor_shape(&cfg, id, l, &rows, &cols))
                *gpt2_tensor_mat(m, id, l) = (wmat){QTYPE_F32, (int)rows, (int)cols, p};  // empty: no bytes
            if (!t) continue;
            m->qtype_params[t->type] += (size_t)t->nelem;
            if (ti->kind != GPT2_KIND_MATRIX) {
                dequantize_row((qtype)t->type, t->data, *gpt2_tensor_vec(m, id, l), (size_t)t->nelem);
                continue;
            }
            wmat *v = gpt2_tensor_mat(m, id, l);
            // read(2), not a copy through the mapping: no page faults (file_map_read)
            if ((rc = file_map_read(&g.map, g.path, g.data_offset + t->offset, t->nbytes, all_f32 ? (void *)v->data : p)))
                goto fail;
            if (!all_f32) {
                *v = (wmat){(qtype)t->type, (int)t->ne[1], (int)t->ne[0], p};
                p += t->nbytes;
            }
        }
    }
    if (same_head) {
        m->head = m->embd;
    } else {
        m->qtype_params[out->type] += (size_t)out->nelem;
        if ((rc = file_map_read(&g.map, g.path, g.data_offset + out->offset, out->nbytes, all_f32 ? (void *)m->head.data : p)))
            goto fail;
        if (!all_f32) m->head = (wmat){(qtype)out->type, cfg.vocab_size, cfg.n_embd, p};
    }
    for (int t = 0; t < 2; t++) m->dtype_params[t] = m->qtype_params[t];
    m->file_bytes = g.map.len;
    m->source = xstrdup(path);
    m->removed_heads = removed;
    read_provenance(m, &g);
    free(found);
    gguf_close(&g);
    return 0;

fail:
    free(found);
    free(removed);
    gguf_close(&g);
    gpt2_model_free(m);
    return rc ? rc : ERR_FORMAT;
}

// --- the tokenizer stored in a GGUF file

int gpt2_gguf_load_tokenizer(const char *path, bpe **out) {
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
    sbuf vocab, mtxt;
    sbuf_init(&vocab), sbuf_init(&mtxt);
    sbuf_put(&vocab, "{", 1);
    for (uint64_t i = 0; i < toks->n; i++) {
        if (i) sbuf_put(&vocab, ",", 1);
        json_put_string(&vocab, toks->str[i], (size_t)toks->str_len[i]);
        sbuf_printf(&vocab, ":%llu", (unsigned long long)i);
    }
    sbuf_put(&vocab, "}", 1);
    for (uint64_t i = 0; i < merges->n; i++) {
        sbuf_put(&mtxt, merges->str[i], (size_t)merges->str_len[i]);
        sbuf_put(&mtxt, "\n", 1);
    }
    size_t wl = strlen(path) + 32;
    char *vw = xmalloc(wl), *mw = xmalloc(wl);
    snprintf(vw, wl, "%s (tokenizer.ggml.tokens)", path);
    snprintf(mw, wl, "%s (tokenizer.ggml.merges)", path);
    rc = bpe_load_text(out, sbuf_str(&vocab), vocab.len, vw, sbuf_str(&mtxt), mtxt.len, mw);
    free(vw);
    free(mw);
    sbuf_free(&vocab), sbuf_free(&mtxt);
    gguf_close(&g);
    return rc;
}
