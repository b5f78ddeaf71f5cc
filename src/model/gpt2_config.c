// gpt2_config.c: HF GPT2Config (config.json) -> gpt2_config with its per-layer shapes,
// validation, and the per-layer shape helpers.
// Training-only keys (dropout, summary_*, task_specific_params) are ignored.
// transformers saves a head-pruned GPT-2 with "pruned_heads": {"layer": [original heads
// removed], ...} and the pruned tensor shapes; the head size stays n_embd / n_head.
#include "gpt2.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include "../formats/json.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// --- per-layer shapes

void gpt2_linear_dims(const gpt2_config *c, int l, int k, int *out, int *in) {
    int C = c->n_embd, W = gpt2_attn_width(c, l), F = c->n_ff_arr[l];
    switch (k) {
    case GPT2_LIN_QKV: *out = 3 * W, *in = C; break;
    case GPT2_LIN_OUT: *out = C, *in = W; break;
    case GPT2_LIN_UP: *out = F, *in = C; break;
    default: *out = C, *in = F; break;
    }
}

int gpt2_max_attn_width(const gpt2_config *c) {
    int w = 0;
    for (int l = 0; l < c->n_layer; l++) w = gpt2_attn_width(c, l) > w ? gpt2_attn_width(c, l) : w;
    return w;
}

int gpt2_max_ff(const gpt2_config *c) {
    int f = 0;
    for (int l = 0; l < c->n_layer; l++) f = c->n_ff_arr[l] > f ? c->n_ff_arr[l] : f;
    return f;
}

int gpt2_max_rank(const gpt2_config *c) {
    int r = 0;
    for (int l = 0; l < c->n_layer; l++)
        for (int k = 0; k < GPT2_LINEARS; k++) r = c->rank_arr[l][k] > r ? c->rank_arr[l][k] : r;
    return r;
}

int gpt2_config_is_uniform(const gpt2_config *c) {
    for (int l = 0; l < c->n_layer; l++) {
        if (c->n_head_arr[l] * c->head_dim != c->n_embd || c->n_ff_arr[l] != c->n_ff_arr[0]) return 0;
        for (int k = 0; k < GPT2_LINEARS; k++)
            if (c->rank_arr[l][k]) return 0;
    }
    return 1;
}

float gpt2_attn_scale(const gpt2_config *c, int l) {
    float s = c->scale_attn ? 1.0f / sqrtf((float)c->head_dim) : 1.0f;
    return c->scale_by_layer ? s / (float)(c->src_layer[l] + 1) : s;
}

void gpt2_config_set_uniform(gpt2_config *c, int n_head, int n_ff) {
    c->head_dim = n_head > 0 ? c->n_embd / n_head : 0;
    // entries past n_layer stay zero, so two configs of one shape compare equal byte for byte
    memset(c->n_head_arr, 0, sizeof c->n_head_arr), memset(c->n_ff_arr, 0, sizeof c->n_ff_arr);
    memset(c->src_layer, 0, sizeof c->src_layer), memset(c->rank_arr, 0, sizeof c->rank_arr);
    for (int l = 0; l < c->n_layer && l < GPT2_MAX_LAYERS; l++) {
        c->n_head_arr[l] = n_head;
        c->n_ff_arr[l] = n_ff;
        c->src_layer[l] = l;
    }
}

void gpt2_config_init(gpt2_config *c, int vocab_size, int n_ctx, int n_embd, int n_layer, int n_head, int n_ff) {
    memset(c, 0, sizeof *c);
    c->vocab_size = vocab_size, c->n_ctx = n_ctx, c->n_embd = n_embd, c->n_layer = n_layer;
    c->tied = 1, c->ln_eps = 1e-5f, c->scale_attn = 1, c->bos_id = c->eos_id = -1;
    gpt2_config_set_uniform(c, n_head, n_ff);
}

// --- config.json

// Marks a size key not given in config.json. get_int never yields INT_MIN, so an
// explicit -1 or 0 reaches the checks and is reported as such.
#define UNSET INT_MIN

// Reads an optional integer key into *out; missing or null keeps *out.
static int get_int(const json_value *root, const char *key, int *out, const char *path) {
    const json_value *v = json_get(root, key);
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type != JSON_NUMBER || !v->is_int || v->integer < -2147483647 || v->integer > 2147483647)
        return err_set(ERR_FORMAT, "%s: \"%s\" must be an integer", path, key);
    *out = (int)v->integer;
    return 0;
}

static int get_bool(const json_value *root, const char *key, int *out, const char *path) {
    const json_value *v = json_get(root, key);
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type != JSON_BOOL) return err_set(ERR_FORMAT, "%s: \"%s\" must be true or false", path, key);
    *out = v->boolean;
    return 0;
}

// Upper bounds far above any GPT-2 (xl: 1600 wide, 48 layers, 25 heads) but small enough
// that every size product fits comfortably in 64 bits.
enum { MAX_VOCAB = 1 << 24, MAX_CTX = 1 << 20, MAX_EMBD = 1 << 16, MAX_HEADS = 1 << 12, MAX_FF = 1 << 18 };

static int check_size(const char *path, const char *name, int v, int limit, int zero_ok) {
    if (v < 0 || (v == 0 && !zero_ok)) return err_set(ERR_SHAPE, "%s: %s = %d must be positive", path, name, v);
    if (v > limit) return err_set(ERR_SHAPE, "%s: %s = %d is absurdly large (limit %d)", path, name, v, limit);
    return 0;
}

// "shrink_n_inner": [w0, w1, ...]: each layer's MLP width (shrink's extension for pruned
// models; transformers has one n_inner for every layer).
static int parse_widths(const json_value *wl, gpt2_config *c, const char *path) {
    if (wl->type != JSON_ARRAY || wl->len != (size_t)c->n_layer)
        return err_set(ERR_FORMAT, "%s: \"shrink_n_inner\" must be a list of n_layer (%d) MLP widths", path, c->n_layer);
    for (size_t l = 0; l < wl->len; l++) {
        const json_value *w = &wl->items[l];
        if (w->type != JSON_NUMBER || !w->is_int || w->integer < 0 || w->integer > MAX_FF)
            return err_set(ERR_FORMAT, "%s: shrink_n_inner[%zu] is not an MLP width in 0..%d", path, l, MAX_FF);
        c->n_ff_arr[l] = (int)w->integer;
    }
    return 0;
}

// "shrink_rank": [[r_qkv, r_out, r_up, r_down], ...]: each layer's factorized linears (shrink's
// extension for low-rank compression layers; 0 = dense). Ranks are checked by validate.
static int parse_ranks(const json_value *rl, gpt2_config *c, const char *path) {
    if (rl->type != JSON_ARRAY || rl->len != (size_t)c->n_layer)
        return err_set(ERR_FORMAT, "%s: \"shrink_rank\" must be a list of n_layer (%d) lists of 4 ranks", path, c->n_layer);
    for (size_t l = 0; l < rl->len; l++) {
        const json_value *r = &rl->items[l];
        if (r->type != JSON_ARRAY || r->len != GPT2_LINEARS)
            return err_set(ERR_FORMAT, "%s: shrink_rank[%zu] must list 4 ranks (attn_qkv, attn_output, ffn_up, ffn_down)",
                           path, l);
        for (int k = 0; k < GPT2_LINEARS; k++) {
            const json_value *v = &r->items[k];
            if (v->type != JSON_NUMBER || !v->is_int || v->integer < 0 || v->integer > MAX_FF)
                return err_set(ERR_FORMAT, "%s: shrink_rank[%zu][%d] is not a rank in 0..%d", path, l, k, MAX_FF);
            c->rank_arr[l][k] = (int)v->integer;
        }
    }
    return 0;
}

// "pruned_heads": {"1": [0, 3], ...}: marks removed[l * NH + h] and lowers n_head_arr[l].
static int parse_pruned_heads(const json_value *ph, gpt2_config *c, int NH, const char *path, uint8_t **removed) {
    if (ph->type != JSON_OBJECT)
        return err_set(ERR_FORMAT, "%s: \"pruned_heads\" must be an object of layer -> list of heads", path);
    if (ph->len == 0) return 0;
    uint8_t *rm = xcalloc((size_t)c->n_layer * (size_t)NH, 1);
    for (size_t i = 0; i < ph->len; i++) {
        const char *key = ph->keys[i];
        char *end;
        long l = strtol(key, &end, 10);
        const json_value *list = &ph->items[i];
        if (!*key || *end || l < 0 || l >= c->n_layer) {
            free(rm);
            return err_set(ERR_FORMAT, "%s: pruned_heads key \"%s\" is not a layer index in 0..%d", path, key, c->n_layer - 1);
        }
        if (list->type != JSON_ARRAY) {
            free(rm);
            return err_set(ERR_FORMAT, "%s: pruned_heads[\"%s\"] must be a list of head indices", path, key);
        }
        for (size_t j = 0; j < list->len; j++) {
            const json_value *h = &list->items[j];
            if (h->type != JSON_NUMBER || !h->is_int || h->integer < 0 || h->integer >= NH) {
                free(rm);
                return err_set(ERR_FORMAT, "%s: pruned_heads[\"%s\"] holds something that is not a head index in 0..%d",
                               path, key, NH - 1);
            }
            uint8_t *r = &rm[(size_t)l * NH + (size_t)h->integer];
            if (*r) {
                free(rm);
                return err_set(ERR_FORMAT, "%s: pruned_heads[\"%s\"] names head %lld twice", path, key,
                               (long long)h->integer);
            }
            *r = 1;
            c->n_head_arr[l]--;
        }
    }
    if (removed) *removed = rm;
    else free(rm);
    return 0;
}

int gpt2_config_parse(gpt2_config *cfg, const char *json_text, size_t len, const char *path, uint8_t **removed) {
    memset(cfg, 0, sizeof *cfg);
    if (removed) *removed = NULL;
    cfg->vocab_size = cfg->n_ctx = cfg->n_embd = cfg->n_layer = UNSET;
    int n_head = UNSET, n_inner = UNSET;
    cfg->ln_eps = 1e-5f;
    cfg->scale_attn = 1;
    cfg->tied = 1;
    cfg->bos_id = cfg->eos_id = -1;
    json_value root;
    if (json_parse(&root, json_text, len, path)) return ERR_FORMAT;
    int rc = 0;
    if (root.type != JSON_OBJECT) {
        rc = err_set(ERR_FORMAT, "%s: expected a JSON object", path);
        goto done;
    }
    const json_value *mt = json_get(&root, "model_type");
    if (mt && (mt->type != JSON_STRING || strcmp(mt->str, "gpt2") != 0)) {
        rc = err_set(ERR_FORMAT, "%s: model_type is \"%s\", expected \"gpt2\"", path,
                     mt->type == JSON_STRING ? mt->str : "(not a string)");
        goto done;
    }
    int n_ctx_alt = UNSET;
    if ((rc = get_int(&root, "vocab_size", &cfg->vocab_size, path))) goto done;
    if ((rc = get_int(&root, "n_positions", &cfg->n_ctx, path))) goto done;
    if ((rc = get_int(&root, "n_ctx", &n_ctx_alt, path))) goto done;
    if (cfg->n_ctx == UNSET) cfg->n_ctx = n_ctx_alt;
    if ((rc = get_int(&root, "n_embd", &cfg->n_embd, path))) goto done;
    if ((rc = get_int(&root, "n_layer", &cfg->n_layer, path))) goto done;
    if ((rc = get_int(&root, "n_head", &n_head, path))) goto done;
    if ((rc = get_int(&root, "n_inner", &n_inner, path))) goto done;
    const char *ids[2] = {"bos_token_id", "eos_token_id"};
    int *id_out[2] = {&cfg->bos_id, &cfg->eos_id};
    for (int i = 0; i < 2; i++) {  // absent or null: none (-1); a negative id is an error, not "none"
        if ((rc = get_int(&root, ids[i], id_out[i], path))) goto done;
        const json_value *id = json_get(&root, ids[i]);
        if (id && id->type == JSON_NUMBER && *id_out[i] < 0) {
            rc = err_set(ERR_SHAPE, "%s: \"%s\" = %d is negative (omit it or use null when there is none)", path, ids[i],
                         *id_out[i]);
            goto done;
        }
    }
    if ((rc = get_bool(&root, "scale_attn_weights", &cfg->scale_attn, path))) goto done;
    if ((rc = get_bool(&root, "scale_attn_by_inverse_layer_idx", &cfg->scale_by_layer, path))) goto done;
    const json_value *eps = json_get(&root, "layer_norm_epsilon");
    if (eps && eps->type != JSON_NULL) {
        // checked as the float the model keeps: 1e-206 would be 0 there, and not load once saved
        if (eps->type != JSON_NUMBER || !((float)eps->number > 0 && (float)eps->number < 1)) {
            rc = err_set(ERR_FORMAT, "%s: layer_norm_epsilon must be a number in (0, 1) (as a 32-bit float)", path);
            goto done;
        }
        cfg->ln_eps = (float)eps->number;
    }
    const json_value *act = json_get(&root, "activation_function");
    if (act && act->type != JSON_NULL) {
        if (act->type != JSON_STRING) {
            rc = err_set(ERR_FORMAT, "%s: activation_function must be a string", path);
            goto done;
        }
        if (strcmp(act->str, "gelu_new") == 0 || strcmp(act->str, "gelu_pytorch_tanh") == 0) cfg->gelu_exact = 0;
        else if (strcmp(act->str, "gelu") == 0) cfg->gelu_exact = 1;
        else {
            rc = err_set(ERR_FORMAT, "%s: activation_function \"%s\" is not supported (gelu_new, gelu_pytorch_tanh, gelu)",
                         path, act->str);
            goto done;
        }
    }
    const char *need[] = {"vocab_size", "n_positions", "n_embd", "n_layer", "n_head"};
    int *vals[] = {&cfg->vocab_size, &cfg->n_ctx, &cfg->n_embd, &cfg->n_layer, &n_head};
    for (int i = 0; i < 5; i++)
        if (*vals[i] == UNSET) {
            rc = err_set(ERR_FORMAT, "%s: missing \"%s\"", path, need[i]);
            goto done;
        }
    // n_inner null or absent: HF's 4·C. Sizes are checked before they are multiplied.
    if ((rc = check_size(path, "vocab_size", cfg->vocab_size, MAX_VOCAB, 0)) ||
        (rc = check_size(path, "n_positions", cfg->n_ctx, MAX_CTX, 0)) ||
        (rc = check_size(path, "n_embd", cfg->n_embd, MAX_EMBD, 0)) ||
        (rc = check_size(path, "n_layer", cfg->n_layer, GPT2_MAX_LAYERS, 0)) ||
        (rc = check_size(path, "n_head", n_head, MAX_HEADS, 0)))
        goto done;
    if (n_inner == UNSET) n_inner = 4 * cfg->n_embd;
    if ((rc = check_size(path, "n_inner", n_inner, MAX_FF, 0))) goto done;
    if (cfg->n_embd % n_head != 0) {
        rc = err_set(ERR_SHAPE, "%s: n_embd = %d is not divisible by n_head = %d", path, cfg->n_embd, n_head);
        goto done;
    }
    gpt2_config_set_uniform(cfg, n_head, n_inner);
    const json_value *wl = json_get(&root, "shrink_n_inner");
    if (wl && wl->type != JSON_NULL && (rc = parse_widths(wl, cfg, path))) goto done;
    const json_value *ph = json_get(&root, "pruned_heads");
    if (ph && ph->type != JSON_NULL && (rc = parse_pruned_heads(ph, cfg, n_head, path, removed))) goto done;
    const json_value *rl = json_get(&root, "shrink_rank");
    if (rl && rl->type != JSON_NULL && (rc = parse_ranks(rl, cfg, path))) goto done;
    rc = gpt2_config_validate(cfg, path);
done:
    if (rc && removed) {
        free(*removed);
        *removed = NULL;
    }
    json_free(&root);
    return rc;
}

int gpt2_config_validate(const gpt2_config *c, const char *path) {
    int rc;
    if ((rc = check_size(path, "vocab_size", c->vocab_size, MAX_VOCAB, 0)) ||
        (rc = check_size(path, "n_positions", c->n_ctx, MAX_CTX, 0)) ||
        (rc = check_size(path, "n_embd", c->n_embd, MAX_EMBD, 0)) ||
        (rc = check_size(path, "n_layer", c->n_layer, GPT2_MAX_LAYERS, 0)) ||
        (rc = check_size(path, "head size", c->head_dim, MAX_EMBD, 0)))
        return rc;
    if (c->n_embd % c->head_dim != 0)
        return err_set(ERR_SHAPE, "%s: n_embd = %d is not a whole number of heads of %d", path, c->n_embd, c->head_dim);
    int NH = c->n_embd / c->head_dim;
    if (NH > MAX_HEADS) return err_set(ERR_SHAPE, "%s: %d heads is absurdly many (limit %d)", path, NH, MAX_HEADS);
    for (int l = 0; l < c->n_layer; l++) {
        if (c->n_head_arr[l] < 0 || c->n_head_arr[l] > NH)
            return err_set(ERR_SHAPE, "%s: layer %d has %d heads, outside 0..%d", path, l, c->n_head_arr[l], NH);
        if ((rc = check_size(path, "n_inner", c->n_ff_arr[l], MAX_FF, 1))) return rc;
        if (c->src_layer[l] < 0 || c->src_layer[l] >= GPT2_MAX_LAYERS)
            return err_set(ERR_SHAPE, "%s: layer %d comes from layer %d, outside 0..%d", path, l, c->src_layer[l],
                           GPT2_MAX_LAYERS - 1);
        for (int k = 0; k < GPT2_LINEARS; k++) {
            int out, in, r = c->rank_arr[l][k];
            gpt2_linear_dims(c, l, k, &out, &in);
            if (r < 0 || r > (out < in ? out : in))
                return err_set(ERR_SHAPE, "%s: layer %d linear %d has rank %d, outside 0..%d", path, l, k, r,
                               out < in ? out : in);
        }
    }
    if (c->bos_id >= c->vocab_size || c->eos_id >= c->vocab_size)
        return err_set(ERR_SHAPE, "%s: bos/eos token id outside the vocabulary of %d", path, c->vocab_size);
    return 0;
}
