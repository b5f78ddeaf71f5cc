// gpt2_hf_load.c: load an HF GPT-2 directory (config.json + safetensors) into fp32 weights.
//
// Accepts tensor names with or without the "transformer." prefix, F32/F16/BF16,
// one file or a sharded model.safetensors.index.json. Skips the causal-mask
// buffers (".attn.bias", ".attn.masked_bias"; the leading dot matters because
// "c_attn.bias" is a real weight). lm_head.weight is optional: absent or equal
// to wte means tied. Every other tensor must be one we know, with the right shape.
#include "modelfile.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/limits.h"
#include "../core/strmap.h"
#include "../core/timer.h"
#include "../core/pool.h"
#include "../core/progress.h"
#include "../core/xalloc.h"
#include "../formats/json.h"
#include "../formats/safetensors.h"
#include <stdio.h>
#include <string.h>

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

// Finds `name` (the table's HF name) as it is or without its "transformer." prefix;
// rejects a name present both ways or in two shards.
static const st_tensor *weight_set_find(weight_set *ws, const char *name, const char **file) {
    const char *bare = strncmp(name, "transformer.", 12) == 0 ? name + 12 : NULL;
    const st_tensor *hit = NULL;
    for (int i = 0; i < ws->n_files; i++) {
        for (int pass = 0; pass < (bare ? 2 : 1); pass++) {
            const st_tensor *t = safetensors_find(&ws->files[i], pass ? bare : name);
            if (!t) continue;
            if (hit) {
                err_set(ERR_FORMAT, "%s: tensor '%s' appears twice (with and without the transformer. prefix, or in two shards)",
                        ws->files[i].path, bare ? bare : name);
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

typedef struct transpose_job {
    float *dst;
    const st_tensor *t;
    int64_t rows, cols;
    int n_tasks;
} transpose_job;

// Task k converts and transposes the stored columns [c0, c1) of every row, BR stored rows at
// a time: each output row then receives BR neighbouring floats (a cache line) per visit,
// where one row at a time wrote one float per line touched.
static void transpose_task(void *ctx, int k, int worker) {
    (void)worker;
    enum { BR = 16 };
    const transpose_job *j = ctx;
    int64_t rows = j->rows, cols = j->cols, c0 = cols * k / j->n_tasks, c1 = cols * (k + 1) / j->n_tasks, w = c1 - c0;
    if (w <= 0) return;
    float *buf = xmalloc((size_t)BR * (size_t)w * sizeof(float));
    size_t es = dtype_size(j->t->dtype);
    for (int64_t r0 = 0; r0 < rows; r0 += BR) {
        int n = rows - r0 < BR ? (int)(rows - r0) : BR;
        for (int i = 0; i < n; i++)
            dtype_to_f32(buf + (size_t)i * (size_t)w, (const char *)j->t->data + ((size_t)(r0 + i) * (size_t)cols + (size_t)c0) * es,
                         j->t->dtype, (size_t)w);
        for (int64_t c = 0; c < w; c++) {
            float *d = j->dst + (size_t)(c0 + c) * (size_t)rows + (size_t)r0;
            for (int i = 0; i < n; i++) d[i] = buf[(size_t)i * (size_t)w + (size_t)c];
        }
    }
    free(buf);
}

// Converts one stored tensor to fp32 at dst, transposing (rows, cols) -> (cols, rows) if asked.
// The stored bytes are given back afterwards (file_map_release), so that loading does not
// hold the file and its fp32 copy at once.
static void convert_tensor(float *dst, const st_tensor *t, int64_t rows, int64_t cols, int transpose) {
    if (!transpose) {
        dtype_to_f32(dst, t->data, t->dtype, t->nelem);
        file_map_release(t->data, t->nbytes);
        return;
    }
    int n_tasks = (int)(cols / 128);  // column ranges of 128 or more, on the pool
    n_tasks = n_tasks < 1 ? 1 : n_tasks > 64 ? 64 : n_tasks;
    transpose_job j = {dst, t, rows, cols, n_tasks};
    pool_run(n_tasks, transpose_task, &j);
    file_map_release(t->data, t->nbytes);
}

static int check_shape(const st_tensor *t, const char *file, const char *name, int nd, const int64_t want[2]) {
    int ok = t->ndim == nd && t->shape[0] == want[0] && (nd == 1 || t->shape[1] == want[1]);
    if (ok) return 0;
    char got[128] = "", w[64];
    size_t off = 0;
    for (int i = 0; i < t->ndim && off < sizeof got - 24; i++)
        off += (size_t)snprintf(got + off, sizeof got - off, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (nd == 1) snprintf(w, sizeof w, "%lld", (long long)want[0]);
    else snprintf(w, sizeof w, "%lld,%lld", (long long)want[0], (long long)want[1]);
    return err_set(ERR_SHAPE, "%s: tensor '%s' is [%s], expected [%s] from config.json", file, name, got, w);
}

int gpt2_hf_load(gpt2_model *m, const char *dir) {
    memset(m, 0, sizeof *m);
    weight_set ws = {0};
    const st_tensor **found = NULL;  // (GPT2_T_COUNT, L): the tensor for each table entry and layer
    uint8_t *removed = NULL;
    char *cfg_path = path_join(dir, "config.json");
    char *text = NULL;
    size_t len;
    gpt2_config cfg;
    int rc = file_read_max(cfg_path, LIMIT_CONFIG_JSON_BYTES, &text, &len);
    if (!rc) rc = gpt2_config_parse(&cfg, text, len, cfg_path, &removed);
    free(text);
    if (!rc) rc = weight_set_open(&ws, dir);
    if (rc) goto fail;

    // Find and shape-check every tensor before allocating anything sized by the
    // config: sizes each within its limit can still multiply to terabytes, and
    // only the tensors actually in the file bound them. The LM head is looked at
    // after: absent, or equal to wte, means tied.
    size_t L = (size_t)cfg.n_layer;
    found = xcalloc((size_t)GPT2_T_COUNT * L, sizeof *found);
    for (int id = 0; id < GPT2_T_COUNT && !rc; id++) {
        const gpt2_tensor_info *ti = &gpt2_tensors[id];
        int64_t rows, cols;
        for (int l = 0; l < (ti->per_layer ? cfg.n_layer : 1) && !rc; l++) {
            if (id == GPT2_T_OUTPUT || !gpt2_tensor_shape(&cfg, id, l, &rows, &cols)) continue;
            char name[128];
            snprintf(name, sizeof name, ti->hf, l);
            const char *file = NULL;
            const st_tensor *t = weight_set_find(&ws, name, &file);
            if (!t) {
                rc = err_code() ? err_code()
                                : err_set(ERR_FORMAT, "%s: missing tensor '%s' (or '%s')", ws.files[0].path, name + 12, name);
                break;
            }
            int64_t want[2];
            int nd = gpt2_tensor_hf_shape(&cfg, id, l, want);
            if ((rc = check_shape(t, file, t->name, nd, want))) break;
            found[(size_t)id * L + (size_t)l] = t;
        }
    }
    // The LM head is optional, but one tensor stored in two shards is refused.
    const st_tensor *head_t = NULL;
    for (int i = 0; i < ws.n_files && !rc; i++) {
        const st_tensor *t = safetensors_find(&ws.files[i], gpt2_tensors[GPT2_T_OUTPUT].hf);
        if (!t) continue;
        if (head_t) {
            rc = err_set(ERR_FORMAT, "%s: tensor 'lm_head.weight' appears twice (in two shards)", ws.files[i].path);
            break;
        }
        ws.used[i][t - ws.files[i].tensors] = 1;
        head_t = t;
        int64_t want[2] = {cfg.vocab_size, cfg.n_embd};
        rc = check_shape(t, ws.files[i].path, t->name, 2, want);
    }
    // Anything left over is a tensor we do not understand: refuse rather than guess.
    for (int i = 0; i < ws.n_files && !rc; i++) {
        m->file_bytes += ws.files[i].map.len;
        for (int j = 0; j < ws.files[i].n_tensors && !rc; j++) {
            const char *name = ws.files[i].tensors[j].name;
            if (!ws.used[i][j] && !is_mask_buffer(name))
                rc = err_set(ERR_FORMAT, "%s: unexpected tensor '%s' (not part of a GPT-2 LM checkpoint with %d layers)",
                             ws.files[i].path, name, cfg.n_layer);
        }
    }
    if (rc) goto fail;

    // The LM head: absent or equal to wte means tied.
    float *head = NULL;
    size_t VC = (size_t)cfg.vocab_size * (size_t)cfg.n_embd;
    if (head_t) {
        const st_tensor *wte = found[GPT2_T_TOKEN_EMBD * L];
        head = xmalloc(VC * sizeof(float));
        convert_tensor(head, head_t, cfg.vocab_size, cfg.n_embd, 0);
        float *e = xmalloc(VC * sizeof(float));
        convert_tensor(e, wte, cfg.vocab_size, cfg.n_embd, 0);
        cfg.tied = memcmp(head, e, VC * sizeof(float)) == 0;
        free(e);
    }
    size_t file_bytes = m->file_bytes, mb_total = file_bytes >> 20, done = 0;
    double t0 = timer_now();
    gpt2_model_alloc(m, &cfg);
    m->file_bytes = file_bytes;
    m->removed_heads = removed;
    removed = NULL;
    for (int id = 0; id < GPT2_T_COUNT; id++) {
        const gpt2_tensor_info *ti = &gpt2_tensors[id];
        for (int l = 0; l < (ti->per_layer ? cfg.n_layer : 1); l++) {
            const st_tensor *t = found[(size_t)id * L + (size_t)l];
            if (!t) continue;
            int64_t rows, cols;
            gpt2_tensor_shape(&cfg, id, l, &rows, &cols);
            float *dst = ti->kind == GPT2_KIND_MATRIX ? (float *)gpt2_tensor_mat(m, id, l)->data : *gpt2_tensor_vec(m, id, l);
            convert_tensor(dst, t, cols, rows, ti->hf_transpose);
            m->dtype_params[t->dtype] += t->nelem;
            done += t->nbytes;
            progress_note("load: MB", (int)(done >> 20), (int)mb_total, t0);
        }
    }
    if (!cfg.tied) {
        memcpy((float *)m->head.data, head, VC * sizeof(float));
        m->dtype_params[head_t->dtype] += head_t->nelem;
    }
    free(head);
    progress_note("load: MB", (int)mb_total, (int)mb_total, t0);
    m->source = xstrdup(dir);
    free(found);
    weight_set_free(&ws);
    free(cfg_path);
    return 0;

fail:
    free(found);
    free(removed);
    weight_set_free(&ws);
    free(cfg_path);
    gpt2_model_free(m);
    return rc ? rc : ERR_FORMAT;
}
