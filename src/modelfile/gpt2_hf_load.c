// gpt2_hf_load.c: load an HF GPT-2 directory (config.json + safetensors) into fp32 weights.
//
// Accepts tensor names with or without the "transformer." prefix, F32/F16/BF16,
// one file or a sharded model.safetensors.index.json. Skips the causal-mask
// buffers (".attn.bias", ".attn.masked_bias"; the leading dot matters because
// "c_attn.bias" is a real weight). lm_head.weight is optional: absent or stored as
// wte means tied. Every other tensor must be one we know, with the right shape.
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
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

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
static const st_tensor *weight_set_find(weight_set *ws, const char *name, int *file) {
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
            *file = i;
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

// dst[c·ldd + r] = src[r·lds + c] for r < n, c < w: 4x4 blocks through SSE registers
// (x86-64's baseline) where they fit, single floats at the edges.
static void transpose_block(float *dst, size_t ldd, const float *src, size_t lds, int n, int64_t w) {
    int64_t c = 0;
#if defined(__SSE__)
    int n4 = n & ~3;
    for (; c + 4 <= w; c += 4) {
        for (int r = 0; r < n4; r += 4) {
            const float *s = src + (size_t)r * lds + (size_t)c;
            __m128 a = _mm_loadu_ps(s), b = _mm_loadu_ps(s + lds), e = _mm_loadu_ps(s + 2 * lds), f = _mm_loadu_ps(s + 3 * lds);
            _MM_TRANSPOSE4_PS(a, b, e, f);
            float *d = dst + (size_t)c * ldd + (size_t)r;
            _mm_storeu_ps(d, a), _mm_storeu_ps(d + ldd, b), _mm_storeu_ps(d + 2 * ldd, e), _mm_storeu_ps(d + 3 * ldd, f);
        }
        for (int r = n4; r < n; r++)
            for (int k = 0; k < 4; k++) dst[(size_t)(c + k) * ldd + (size_t)r] = src[(size_t)r * lds + (size_t)(c + k)];
    }
#endif
    for (; c < w; c++)
        for (int r = 0; r < n; r++) dst[(size_t)c * ldd + (size_t)r] = src[(size_t)r * lds + (size_t)c];
}

// One stored tensor converted to fp32 on the pool. The bytes come in with read(2) a piece at a
// time (safetensors_read; through the mapping, page faults cost 3-5x the copy on this
// project's VMs: bench/scale.md) into a per-worker buffer that stays in the core's cache.
enum { BAND_ROWS = 64, PLAIN_CHUNK = 4 << 20 };  // a transposing task's stored rows; a plain task's bytes

typedef struct convert_job {
    float *dst;
    const safetensors *f;
    const st_tensor *t;
    int64_t rows, cols;  // as stored
    char **buf;          // per worker
    atomic_int failed;
    int rc;              // the first failure, its message in msg
    char msg[512];
} convert_job;

static void job_fail(convert_job *j) {  // the message is the worker thread's: kept for the caller
    if (atomic_exchange(&j->failed, 1)) return;
    snprintf(j->msg, sizeof j->msg, "%s", err_msg());
    j->rc = err_code() ? err_code() : ERR_IO;
}

// Task k: stored rows [k·BAND_ROWS, ...), every column, read whole (sequential) and written
// transposed: each output row receives up to BAND_ROWS neighbouring floats per task.
static void transpose_task(void *ctx, int k, int worker) {
    convert_job *j = ctx;
    int64_t r0 = (int64_t)k * BAND_ROWS, n = j->rows - r0 < BAND_ROWS ? j->rows - r0 : BAND_ROWS;
    size_t es = dtype_size(j->t->dtype), row_bytes = (size_t)j->cols * es;
    char *raw = j->buf[worker];
    if (safetensors_read(j->f, j->t, (size_t)r0 * row_bytes, (size_t)n * row_bytes, raw)) {
        job_fail(j);
        return;
    }
    const float *src = (const float *)raw;
    if (j->t->dtype != DTYPE_F32) {  // F16/BF16: widened after the stored band
        float *wide = (float *)(raw + (size_t)BAND_ROWS * row_bytes);
        dtype_to_f32(wide, raw, j->t->dtype, (size_t)n * (size_t)j->cols);
        src = wide;
    }
    transpose_block(j->dst + r0, (size_t)j->rows, src, (size_t)j->cols, (int)n, j->cols);
}

// Task k: elements [k·chunk, ...) as stored, F32 read straight into place.
static void plain_task(void *ctx, int k, int worker) {
    convert_job *j = ctx;
    size_t es = dtype_size(j->t->dtype), chunk = PLAIN_CHUNK / es, e0 = (size_t)k * chunk;
    size_t n = j->t->nelem - e0 < chunk ? j->t->nelem - e0 : chunk;
    void *at = j->t->dtype == DTYPE_F32 ? (void *)(j->dst + e0) : j->buf[worker];
    if (safetensors_read(j->f, j->t, e0 * es, n * es, at)) {
        job_fail(j);
        return;
    }
    if (j->t->dtype != DTYPE_F32) dtype_to_f32(j->dst + e0, at, j->t->dtype, n);
}

// Converts stored tensor t of file f to fp32 at dst, transposing (rows, cols) -> (cols, rows)
// if asked. Returns 0 or ERR_IO (a read failed; the message names the file).
static int convert_tensor(float *dst, const safetensors *f, const st_tensor *t, int64_t rows, int64_t cols, int transpose) {
    convert_job j = {.dst = dst, .f = f, .t = t, .rows = rows, .cols = cols};
    size_t es = dtype_size(t->dtype), wide = t->dtype == DTYPE_F32 ? 0 : sizeof(float);
    size_t buf_bytes = transpose ? (size_t)BAND_ROWS * (size_t)cols * (es + wide) : PLAIN_CHUNK;
    int width = pool_width(), n_tasks;
    if (transpose) n_tasks = (int)((rows + BAND_ROWS - 1) / BAND_ROWS);
    else n_tasks = (int)((t->nelem + PLAIN_CHUNK / es - 1) / (PLAIN_CHUNK / es));
    j.buf = xcalloc((size_t)width, sizeof *j.buf);
    for (int w = 0; w < width && (transpose || wide); w++) j.buf[w] = xmalloc(buf_bytes);
    pool_run(n_tasks, transpose ? transpose_task : plain_task, &j);
    for (int w = 0; w < width; w++) free(j.buf[w]);
    free(j.buf);
    return j.rc ? err_set(j.rc, "%s", j.msg) : 0;
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
    int *found_file = NULL;          // (GPT2_T_COUNT, L): the file it is in
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
    found_file = xcalloc((size_t)GPT2_T_COUNT * L, sizeof *found_file);
    for (int id = 0; id < GPT2_T_COUNT && !rc; id++) {
        const gpt2_tensor_info *ti = &gpt2_tensors[id];
        int64_t rows, cols;
        for (int l = 0; l < (ti->per_layer ? cfg.n_layer : 1) && !rc; l++) {
            if (id == GPT2_T_OUTPUT || !gpt2_tensor_shape(&cfg, id, l, &rows, &cols)) continue;
            char name[128];
            snprintf(name, sizeof name, ti->hf, l);
            int file = 0;
            const st_tensor *t = weight_set_find(&ws, name, &file);
            if (!t) {
                rc = err_code() ? err_code()
                                : err_set(ERR_FORMAT, "%s: missing tensor '%s' (or '%s')", ws.files[0].path, name + 12, name);
                break;
            }
            int64_t want[2];
            int nd = gpt2_tensor_hf_shape(&cfg, id, l, want);
            if ((rc = check_shape(t, ws.files[file].path, t->name, nd, want))) break;
            found[(size_t)id * L + (size_t)l] = t;
            found_file[(size_t)id * L + (size_t)l] = file;
        }
    }
    // The LM head is optional, but one tensor stored in two shards is refused.
    const st_tensor *head_t = NULL;
    int head_file = 0;
    for (int i = 0; i < ws.n_files && !rc; i++) {
        const st_tensor *t = safetensors_find(&ws.files[i], gpt2_tensors[GPT2_T_OUTPUT].hf);
        if (!t) continue;
        if (head_t) {
            rc = err_set(ERR_FORMAT, "%s: tensor 'lm_head.weight' appears twice (in two shards)", ws.files[i].path);
            break;
        }
        ws.used[i][t - ws.files[i].tensors] = 1;
        head_t = t, head_file = i;
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

    // The LM head: absent, or stored as wte is (the same dtype and bytes), means tied.
    cfg.tied = 1;
    if (head_t) {
        size_t te = (size_t)GPT2_T_TOKEN_EMBD * L;
        if ((rc = safetensors_same(&ws.files[head_file], head_t, &ws.files[found_file[te]], found[te], &cfg.tied))) goto fail;
    }
    size_t file_bytes = m->file_bytes, mb_total = file_bytes >> 20, done = 0;
    double t0 = timer_now();
    gpt2_model_alloc(m, &cfg);
    m->file_bytes = file_bytes;
    m->removed_heads = removed;
    removed = NULL;
    for (int id = 0; id < GPT2_T_COUNT && !rc; id++) {
        const gpt2_tensor_info *ti = &gpt2_tensors[id];
        for (int l = 0; l < (ti->per_layer ? cfg.n_layer : 1) && !rc; l++) {
            const st_tensor *t = found[(size_t)id * L + (size_t)l];
            if (!t) continue;
            int64_t rows, cols;
            gpt2_tensor_shape(&cfg, id, l, &rows, &cols);
            float *dst = ti->kind == GPT2_KIND_MATRIX ? (float *)gpt2_tensor_mat(m, id, l)->data : *gpt2_tensor_vec(m, id, l);
            rc = convert_tensor(dst, &ws.files[found_file[(size_t)id * L + (size_t)l]], t, cols, rows, ti->hf_transpose);
            m->dtype_params[t->dtype] += t->nelem;
            done += t->nbytes;
            progress_note("load: MB", (int)(done >> 20), (int)mb_total, t0);
        }
    }
    if (!rc && !cfg.tied) {
        rc = convert_tensor((float *)m->head.data, &ws.files[head_file], head_t, cfg.vocab_size, cfg.n_embd, 0);
        m->dtype_params[head_t->dtype] += head_t->nelem;
    }
    if (rc) goto fail;
    progress_note("load: MB", (int)mb_total, (int)mb_total, t0);
    m->source = xstrdup(dir);
    free(found);
    free(found_file);
    weight_set_free(&ws);
    free(cfg_path);
    return 0;

fail:
    free(found);
    free(found_file);
    free(removed);
    weight_set_free(&ws);
    free(cfg_path);
    gpt2_model_free(m);
    return rc ? rc : ERR_FORMAT;
}
