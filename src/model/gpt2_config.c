// gpt2_config.c: HF GPT2Config (config.json) -> gpt2_config, with validation.
// Training-only keys (dropout, summary_*, task_specific_params) are ignored.
#include "gpt2.h"
#include "../core/err.h"
#include "../formats/json.h"
#include <limits.h>
#include <string.h>

// Marks a size key not given in config.json. get_int never yields INT_MIN, so an
// explicit -1 or 0 reaches gpt2_config_validate and is reported as such.
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

int gpt2_config_parse(gpt2_config *cfg, const char *json_text, size_t len, const char *path) {
    memset(cfg, 0, sizeof *cfg);
    cfg->vocab_size = cfg->n_ctx = cfg->n_embd = cfg->n_layer = cfg->n_head = UNSET;
    cfg->n_inner = UNSET;
    cfg->ln_eps = 1e-5f;
    cfg->scale_attn = 1;
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
    if ((rc = get_int(&root, "n_head", &cfg->n_head, path))) goto done;
    if ((rc = get_int(&root, "n_inner", &cfg->n_inner, path))) goto done;
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
        if (eps->type != JSON_NUMBER || !(eps->number > 0 && eps->number < 1)) {
            rc = err_set(ERR_FORMAT, "%s: layer_norm_epsilon must be a number in (0, 1)", path);
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
    int *vals[] = {&cfg->vocab_size, &cfg->n_ctx, &cfg->n_embd, &cfg->n_layer, &cfg->n_head};
    for (int i = 0; i < 5; i++)
        if (*vals[i] == UNSET) {
            rc = err_set(ERR_FORMAT, "%s: missing \"%s\"", path, need[i]);
            goto done;
        }
    // null or absent: HF's 4·C. An n_embd whose 4·C overflows is left for
    // gpt2_config_validate to report (it checks n_embd before n_inner).
    if (cfg->n_inner == UNSET)
        cfg->n_inner = cfg->n_embd > 0 && cfg->n_embd <= INT_MAX / 4 ? 4 * cfg->n_embd : cfg->n_embd;
    rc = gpt2_config_validate(cfg, path);
done:
    json_free(&root);
    return rc;
}

int gpt2_config_validate(const gpt2_config *c, const char *path) {
    const char *names[] = {"vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner"};
    int vals[] = {c->vocab_size, c->n_ctx, c->n_embd, c->n_layer, c->n_head, c->n_inner};
    // Upper bounds far above any GPT-2 (xl: 1600 wide, 48 layers) but small enough
    // that every size product below fits comfortably in 64 bits.
    int limits[] = {1 << 24, 1 << 20, 1 << 16, 1 << 12, 1 << 12, 1 << 18};
    for (int i = 0; i < 6; i++) {
        if (vals[i] <= 0) return err_set(ERR_SHAPE, "%s: %s = %d must be positive", path, names[i], vals[i]);
        if (vals[i] > limits[i]) return err_set(ERR_SHAPE, "%s: %s = %d is absurdly large (limit %d)", path, names[i], vals[i], limits[i]);
    }
    if (c->n_embd % c->n_head != 0)
        return err_set(ERR_SHAPE, "%s: n_embd = %d is not divisible by n_head = %d", path, c->n_embd, c->n_head);
    if (c->bos_id >= c->vocab_size || c->eos_id >= c->vocab_size)
        return err_set(ERR_SHAPE, "%s: bos/eos token id outside the vocabulary of %d", path, c->vocab_size);
    return 0;
}
