// gpt2_load.c: load an HF GPT-2 directory (config.json + safetensors) into fp32 weights.
//
// Accepts tensor names with or without the "transformer." prefix, F32/F16/BF16,
// one file or a sharded model.safetensors.index.json. Skips the causal-mask
// buffers (".attn.bias", ".attn.masked_bias"; the leading dot matters because
// "c_attn.bias" is a real weight). lm_head.weight is optional: absent or equal
// to wte means tied. Every other tensor must be one we know, with the right shape.
#include "gpt2.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/limits.h"
#include "../core/strmap.h"
#include "../core/xalloc.h"
#include "../formats/json.h"
#include "../formats/safetensors.h"
#include <stdio.h>
#include <string.h>

void gpt2_param_sizes(const gpt2_config *cfg, size_t sizes[GPT2_NUM_PARAMS]) {
    size_t V = (size_t)cfg->vocab_size, P = (size_t)cfg->n_ctx, C = (size_t)cfg->n_embd;
    size_t L = (size_t)cfg->n_layer, F = (size_t)cfg->n_inner;
    sizes[GPT2_WTE] = V * C;
    sizes[GPT2_WPE] = P * C;
    sizes[GPT2_LN1_W] = L * C;
    sizes[GPT2_LN1_B] = L * C;
    sizes[GPT2_QKV_W] = L * 3 * C * C;
    sizes[GPT2_QKV_B] = L * 3 * C;
    sizes[GPT2_PROJ_W] = L * C * C;
    sizes[GPT2_PROJ_B] = L * C;
    sizes[GPT2_LN2_W] = L * C;
    sizes[GPT2_LN2_B] = L * C;
    sizes[GPT2_FC_W] = L * F * C;
    sizes[GPT2_FC_B] = L * F;
    sizes[GPT2_FCPROJ_W] = L * C * F;
    sizes[GPT2_FCPROJ_B] = L * C;
    sizes[GPT2_LNF_W] = C;
    sizes[GPT2_LNF_B] = C;
}

// How each parameter appears in an HF checkpoint. HF Conv1D weights are
// (in, out) = (rows, cols); we store them transposed, (out, in).
typedef struct {
    const char *fmt;  // name without "transformer."; "%d" = layer index
    int per_layer;
    int transpose;
} hf_param;

static const hf_param hf_params[GPT2_NUM_PARAMS] = {
    [GPT2_WTE] = {"wte.weight", 0, 0},
    [GPT2_WPE] = {"wpe.weight", 0, 0},
    [GPT2_LN1_W] = {"h.%d.ln_1.weight", 1, 0},
    [GPT2_LN1_B] = {"h.%d.ln_1.bias", 1, 0},
    [GPT2_QKV_W] = {"h.%d.attn.c_attn.weight", 1, 1},
    [GPT2_QKV_B] = {"h.%d.attn.c_attn.bias", 1, 0},
    [GPT2_PROJ_W] = {"h.%d.attn.c_proj.weight", 1, 1},
    [GPT2_PROJ_B] = {"h.%d.attn.c_proj.bias", 1, 0},
    [GPT2_LN2_W] = {"h.%d.ln_2.weight", 1, 0},
    [GPT2_LN2_B] = {"h.%d.ln_2.bias", 1, 0},
    [GPT2_FC_W] = {"h.%d.mlp.c_fc.weight", 1, 1},
    [GPT2_FC_B] = {"h.%d.mlp.c_fc.bias", 1, 0},
    [GPT2_FCPROJ_W] = {"h.%d.mlp.c_proj.weight", 1, 1},
    [GPT2_FCPROJ_B] = {"h.%d.mlp.c_proj.bias", 1, 0},
    [GPT2_LNF_W] = {"ln_f.weight", 0, 0},
    [GPT2_LNF_B] = {"ln_f.bias", 0, 0},
};

// HF shape (rows, cols) of one layer's slice; cols = 0 for vectors.
static void hf_shape(const gpt2_config *c, int p, int64_t *rows, int64_t *cols) {
    int64_t V = c->vocab_size, P = c->n_ctx, C = c->n_embd, F = c->n_inner;
    int64_t r = C, k = 0;
    switch (p) {
    case GPT2_WTE: r = V; k = C; break;
    case GPT2_WPE: r = P; k = C; break;
    case GPT2_QKV_W: r = C; k = 3 * C; break;
    case GPT2_QKV_B: r = 3 * C; break;
    case GPT2_PROJ_W: r = C; k = C; break;
    case GPT2_FC_W: r = C; k = F; break;
    case GPT2_FC_B: r = F; break;
    case GPT2_FCPROJ_W: r = F; k = C; break;
    default: break;  // LayerNorm weights/biases and C-wide biases
    }
    *rows = r;
    *cols = k;
}

// --- the set of open weight files

typedef struct {
    safetensors *files;
    int n_files;
    char **used;  // per file, per tensor: 1 once consumed
} weight_set;

static void weight_set_free(weight_set *ws) {
    for (int i = 0; i < ws->n_files; i++) {
        safetensors_close(&ws->files[i]);
        if (ws->used) free(ws->used[i]);
    }
    free(ws->files);
    free(ws->used);
    memset(ws, 0, sizeof *ws);
}

static int weight_set_add(weight_set *ws, const char *path) {
    ws->files = xrealloc(ws->files, (size_t)(ws->n_files + 1) * sizeof *ws->files);
    ws->used = xrealloc(ws->used, (size_t)(ws->n_files + 1) * sizeof *ws->used);
    memset(&ws->files[ws->n_files], 0, sizeof ws->files[0]);
    ws->used[ws->n_files] = NULL;
    int rc = safetensors_open(&ws->files[ws->n_files], path);
    if (rc) return rc;
    ws->used[ws->n_files] = xcalloc((size_t)ws->files[ws->n_files].n_tensors + 1, 1);
    ws->n_files++;
    return 0;
}

// Opens model.safetensors, or the shards listed by model.safetensors.index.json.
static int weight_set_open(weight_set *ws, const char *dir) {
    char *single = path_join(dir, "model.safetensors");
    char *index = path_join(dir, "model.safetensors.index.json");
    int rc = 0;
    if (file_exists(single)) {
        rc = weight_set_add(ws, single);
    } else if (file_exists(index)) {
        char *text;
        size_t len;
        json_value root = {0};
        strmap shards = {0};
        if ((rc = file_read_max(index, LIMIT_SHARD_INDEX_BYTES, &text, &len))) goto out;
        rc = json_parse(&root, text, len, index);
        free(text);
        if (rc) goto out;
        const json_value *map = json_get(&root, "weight_map");
        if (!map || map->type != JSON_OBJECT || map->len == 0) {
            rc = err_set(ERR_FORMAT, "%s: missing or empty \"weight_map\" object", index);
        } else {
            // Open each distinct shard once, in order of first mention.
            for (size_t i = 0; i < map->len && !rc; i++) {
                const json_value *f = &map->items[i];
                if (f->type != JSON_STRING || strchr(f->str, '/') || f->len == 0) {
                    rc = err_set(ERR_FORMAT, "%s: weight_map entry \"%s\" is not a plain file name", index, map->keys[i]);
                    break;
                }
                if (strmap_put(&shards, f->str, strlen(f->str), (int)i) >= 0) continue;  // seen
                char *shard = path_join(dir, f->str);
                rc = weight_set_add(ws, shard);
                free(shard);
            }
        }
        strmap_free(&shards);
        json_free(&root);
    } else {
        rc = err_set(ERR_IO, "%s: no model.safetensors or model.safetensors.index.json in this directory", dir);
    }
out:
    free(single);
    free(index);
    return rc;
}

// Finds `name` with or without the "transformer." prefix; rejects a name present both ways.
static const st_tensor *weight_set_find(weight_set *ws, const char *name, const char **file) {
    char prefixed[256];
    snprintf(prefixed, sizeof prefixed, "transformer.%s", name);
    const st_tensor *hit = NULL;
    for (int i = 0; i < ws->n_files; i++) {
        for (int pass = 0; pass < 2; pass++) {
            const st_tensor *t = safetensors_find(&ws->files[i], pass ? name : prefixed);
            if (!t) continue;
            if (hit) {
                err_set(ERR_FORMAT, "%s: tensor '%s' appears twice (with and without the transformer. prefix, or in two shards)",
                        ws->files[i].path, name);
                return NULL;
            }
            hit = t;
            *file = ws->files[i].path;
            ws->used[i][t - ws->files[i].tensors] = 1;
        }
    }
    return hit;
}

static int is_mask_buffer(const char *name) {
    size_t n = strlen(name);
    const char *sfx[] = {".attn.bias", ".attn.masked_bias"};
    for (int i = 0; i < 2; i++) {
        size_t k = strlen(sfx[i]);
        if (n >= k && strcmp(name + n - k, sfx[i]) == 0) return 1;
    }
    return 0;
}

// Converts one stored tensor to fp32 at dst, transposing (rows, cols) -> (cols, rows) if asked.
static void convert_tensor(float *dst, const st_tensor *t, int64_t rows, int64_t cols, int transpose) {
    if (!transpose || cols == 0) {
        dtype_to_f32(dst, t->data, t->dtype, t->nelem);
        return;
    }
    float *row = xmalloc((size_t)cols * sizeof(float));
    size_t es = dtype_size(t->dtype);
    for (int64_t r = 0; r < rows; r++) {
        dtype_to_f32(row, (const char *)t->data + (size_t)r * (size_t)cols * es, t->dtype, (size_t)cols);
        for (int64_t c = 0; c < cols; c++) dst[(size_t)c * (size_t)rows + (size_t)r] = row[c];
    }
    free(row);
}

static int check_shape(const st_tensor *t, const char *file, const char *name, int64_t rows, int64_t cols) {
    int ok = cols == 0 ? (t->ndim == 1 && t->shape[0] == rows)
                       : (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols);
    if (ok) return 0;
    char got[128] = "", want[64];
    size_t off = 0;
    for (int i = 0; i < t->ndim && off < sizeof got - 24; i++)
        off += (size_t)snprintf(got + off, sizeof got - off, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (cols == 0) snprintf(want, sizeof want, "%lld", (long long)rows);
    else snprintf(want, sizeof want, "%lld,%lld", (long long)rows, (long long)cols);
    return err_set(ERR_SHAPE, "%s: tensor '%s' is [%s], expected [%s] from config.json", file, name, got, want);
}

int gpt2_model_load(gpt2_model *m, const char *dir) {
    memset(m, 0, sizeof *m);
    weight_set ws = {0};
    const st_tensor **found = NULL;  // (NUM_PARAMS, L): the tensor for each parameter and layer
    char *cfg_path = path_join(dir, "config.json");
    char *text = NULL;
    size_t len;
    int rc = file_read_max(cfg_path, LIMIT_CONFIG_JSON_BYTES, &text, &len);
    if (!rc) rc = gpt2_config_parse(&m->cfg, text, len, cfg_path);
    free(text);
    if (!rc) rc = weight_set_open(&ws, dir);
    if (rc) goto fail;

    // Find and shape-check every tensor before allocating anything sized by the
    // config: sizes each within its limit can still multiply to terabytes, and
    // only the tensors actually in the file bound them.
    const gpt2_config *c = &m->cfg;
    size_t L = (size_t)c->n_layer;
    found = xcalloc((size_t)GPT2_NUM_PARAMS * L, sizeof *found);
    for (int p = 0; p < GPT2_NUM_PARAMS && !rc; p++) {
        const hf_param *hp = &hf_params[p];
        int64_t rows, cols;
        hf_shape(c, p, &rows, &cols);
        int layers = hp->per_layer ? c->n_layer : 1;
        for (int l = 0; l < layers; l++) {
            char name[128];
            snprintf(name, sizeof name, hp->fmt, l);
            const char *file = NULL;
            const st_tensor *t = weight_set_find(&ws, name, &file);
            if (!t) {
                rc = err_code() ? err_code()
                                : err_set(ERR_FORMAT, "%s: missing tensor '%s' (or 'transformer.%s')", ws.files[0].path, name, name);
                break;
            }
            if ((rc = check_shape(t, file, t->name, rows, cols))) break;
            found[(size_t)p * L + (size_t)l] = t;
        }
    }
    // The LM head is optional, but one tensor stored in two shards is refused.
    const st_tensor *head_t = NULL;
    for (int i = 0; i < ws.n_files && !rc; i++) {
        const st_tensor *t = safetensors_find(&ws.files[i], "lm_head.weight");
        if (!t) continue;
        if (head_t) {
            rc = err_set(ERR_FORMAT, "%s: tensor 'lm_head.weight' appears twice (in two shards)", ws.files[i].path);
            break;
        }
        ws.used[i][t - ws.files[i].tensors] = 1;
        head_t = t;
        rc = check_shape(t, ws.files[i].path, t->name, c->vocab_size, c->n_embd);
    }
    if (rc) goto fail;

    gpt2_config cfg = m->cfg;
    gpt2_model_alloc(m, &cfg);
    c = &m->cfg;
    size_t sizes[GPT2_NUM_PARAMS];
    gpt2_param_sizes(c, sizes);
    float **slot[GPT2_NUM_PARAMS];
    gpt2_param_slots(&m->w, slot);
    for (int p = 0; p < GPT2_NUM_PARAMS; p++) {
        int64_t rows, cols;
        hf_shape(c, p, &rows, &cols);
        size_t per = (size_t)rows * (size_t)(cols ? cols : 1);
        int layers = hf_params[p].per_layer ? c->n_layer : 1;
        for (int l = 0; l < layers; l++) {
            const st_tensor *t = found[(size_t)p * L + (size_t)l];
            convert_tensor(*slot[p] + (size_t)l * per, t, rows, cols, hf_params[p].transpose);
            m->dtype_params[t->dtype] += t->nelem;
        }
    }

    // The LM head: absent or equal to wte means tied (as gpt2_model_alloc left it).
    if (head_t) {
        float *head = xmalloc(sizes[GPT2_WTE] * sizeof(float));
        convert_tensor(head, head_t, c->vocab_size, c->n_embd, 0);
        if (memcmp(head, m->w.wte, sizes[GPT2_WTE] * sizeof(float)) == 0) {
            free(head);
        } else {
            m->tied = 0;
            m->lm_head = head;
            gpt2_model_set_f32_views(m);
            m->n_params += sizes[GPT2_WTE];
            m->dtype_params[head_t->dtype] += head_t->nelem;
        }
    }

    // Anything left over is a tensor we do not understand: refuse rather than guess.
    for (int i = 0; i < ws.n_files; i++) {
        m->file_bytes += ws.files[i].map.len;
        for (int j = 0; j < ws.files[i].n_tensors; j++) {
            const char *name = ws.files[i].tensors[j].name;
            if (!ws.used[i][j] && !is_mask_buffer(name)) {
                rc = err_set(ERR_FORMAT, "%s: unexpected tensor '%s' (not part of a GPT-2 LM checkpoint with %d layers)",
                             ws.files[i].path, name, c->n_layer);
                goto fail;
            }
        }
    }
    m->source = xstrdup(dir);
    free(found);
    weight_set_free(&ws);
    free(cfg_path);
    return 0;

fail:
    free(found);
    weight_set_free(&ws);
    free(cfg_path);
    gpt2_model_free(m);
    return rc ? rc : ERR_FORMAT;
}

void gpt2_model_free(gpt2_model *m) {
    if (m->lm_head && m->lm_head != m->w.wte) free(m->lm_head);
    free(m->params);
    free(m->mats);
    free(m->mat_store);
    free(m->source);
    free(m->quant_method);
    free(m->calib_file);
    memset(m, 0, sizeof *m);
}
