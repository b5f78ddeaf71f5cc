// shrink_api.c: the public C API (include/shrink.h) over the model, tokenizer and eval parts.
// Each entry point clears the thread's recorded error, does its work, and hands the code and
// message to the caller's shrink_error (then clears them again): nothing outlives the call.
#include "shrink.h"
#include "../compress/calib.h"
#include "../compress/compress.h"
#include "../compress/plan.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/version.h"
#include "../core/xalloc.h"
#include "../eval/eval.h"
#include "../kernels/kernels.h"
#include "../modelfile/modelfile.h"
#include <string.h>
#include <sys/stat.h>

struct shrink_model {
    gpt2_model m;
    bpe *tok;        // NULL when the model came without one
    int *tok_bytes;  // (n_vocab) UTF-8 bytes of each token, for bits per byte
};

_Static_assert((int)SHRINK_E_IO == (int)ERR_IO && (int)SHRINK_E_FORMAT == (int)ERR_FORMAT &&
                   (int)SHRINK_E_SHAPE == (int)ERR_SHAPE && (int)SHRINK_E_ARG == (int)ERR_ARG &&
                   (int)SHRINK_E_RANGE == (int)ERR_RANGE,
               "the public codes are the internal ones");

// The end of every entry point: rc and the recorded message into err.
static int finish(int rc, shrink_error *err) {
    if (err) {
        err->code = rc;
        snprintf(err->message, sizeof err->message, "%s", rc ? (err_msg()[0] ? err_msg() : "unknown error") : "");
    }
    err_clear();
    return rc;
}

#define BEGIN() err_clear()

int shrink_api_version(void) { return SHRINK_API_VERSION; }

const char *shrink_version(void) { return SHRINK_VERSION " (commit " SHRINK_COMMIT ")"; }

int shrink_model_load(const char *path, shrink_model **out, shrink_error *err) {
    BEGIN();
    if (!out) return finish(err_set(ERR_ARG, "shrink_model_load: out is NULL"), err);
    *out = NULL;
    if (!path) return finish(err_set(ERR_ARG, "shrink_model_load: path is NULL"), err);
    kernels_init();
    shrink_model *h = xcalloc(1, sizeof *h);
    int rc = gpt2_load(&h->m, path);
    if (rc) {
        free(h);
        return finish(rc, err);
    }
    if ((rc = gpt2_load_tokenizer(path, 0, &h->tok))) {
        shrink_model_free(h);
        return finish(rc, err);
    }
    if (h->tok && bpe_vocab_size(h->tok) > h->m.cfg.vocab_size) {
        rc = err_set(ERR_SHAPE, "%s: the tokenizer has %d tokens, the model %d", path, bpe_vocab_size(h->tok), h->m.cfg.vocab_size);
        shrink_model_free(h);
        return finish(rc, err);
    }
    if (h->tok) {
        h->tok_bytes = xcalloc((size_t)h->m.cfg.vocab_size, sizeof *h->tok_bytes);
        for (int i = 0; i < bpe_vocab_size(h->tok); i++) {
            size_t len = 0;
            h->tok_bytes[i] = bpe_token_bytes(h->tok, i, &len) ? (int)len : 0;
        }
    }
    *out = h;
    return finish(0, err);
}

void shrink_model_free(shrink_model *h) {
    if (!h) return;
    gpt2_model_free(&h->m);
    bpe_free(h->tok);
    free(h->tok_bytes);
    free(h);
}

int shrink_model_get_info(const shrink_model *h, shrink_model_info *info, shrink_error *err) {
    BEGIN();
    if (!h || !info) return finish(err_set(ERR_ARG, "shrink_model_get_info: NULL argument"), err);
    const gpt2_config *c = &h->m.cfg;
    *info = (shrink_model_info){c->vocab_size, c->n_ctx, c->n_embd, c->n_layer, gpt2_param_count(c), c->eos_id};
    return finish(0, err);
}

// The text's ids (caller frees), or an error naming what is missing.
static int encode(const shrink_model *h, const char *what, const char *text, size_t len, int **ids, size_t *n) {
    *ids = NULL, *n = 0;
    if (!h || (!text && len)) return err_set(ERR_ARG, "%s: NULL argument", what);
    if (!h->tok) return err_set(ERR_ARG, "%s: %s has no tokenizer (vocab.json and merges.txt)", what, h->m.source ? h->m.source : "the model");
    return bpe_encode(h->tok, text ? text : "", len, ids, n);
}

int shrink_tokenize(const shrink_model *h, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n_ids,
                    shrink_error *err) {
    BEGIN();
    if (!n_ids || (cap && !ids)) return finish(err_set(ERR_ARG, "shrink_tokenize: NULL argument"), err);
    int *v = NULL;
    size_t n = 0;
    int rc = encode(h, "shrink_tokenize", text, len, &v, &n);
    if (!rc) {
        for (size_t i = 0; i < n && i < cap; i++) ids[i] = v[i];
        *n_ids = n;
    }
    free(v);
    return finish(rc, err);
}

int shrink_detokenize(const shrink_model *h, const int32_t *ids, size_t n, char *text, size_t cap, size_t *len,
                      shrink_error *err) {
    BEGIN();
    if (!h || !len || (n && !ids) || (cap && !text)) return finish(err_set(ERR_ARG, "shrink_detokenize: NULL argument"), err);
    if (!h->tok) return finish(err_set(ERR_ARG, "shrink_detokenize: the model has no tokenizer"), err);
    int *v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = ids[i];
    char *s = NULL;
    size_t sl = 0;
    int rc = bpe_decode(h->tok, v, n, &s, &sl);
    if (!rc) {
        memcpy(text, s, sl < cap ? sl : cap);
        *len = sl;
    }
    free(v), free(s);
    return finish(rc, err);
}

int shrink_logits(const shrink_model *h, const int32_t *ids, int n, float *logits, shrink_error *err) {
    BEGIN();
    if (!h || !ids || !logits) return finish(err_set(ERR_ARG, "shrink_logits: NULL argument"), err);
    const gpt2_config *c = &h->m.cfg;
    if (n < 1 || n > c->n_ctx) return finish(err_set(ERR_ARG, "shrink_logits: %d tokens; give 1 to %d (the context)", n, c->n_ctx), err);
    int *v = xmalloc((size_t)n * sizeof *v), rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        v[i] = ids[i];
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            rc = err_set(ERR_RANGE, "shrink_logits: token %d is id %d, outside 0..%d", i, (int)ids[i], c->vocab_size - 1);
    }
    gpt2_state s;
    if (!rc && !(rc = gpt2_state_init(&s, &h->m, n))) {
        gpt2_forward(&h->m, &s, v, n, 1);
        rc = eval_check_logits(&h->m, s.logits, (size_t)n, c->vocab_size, "position", 0);
        if (!rc) memcpy(logits, s.logits, (size_t)n * (size_t)c->vocab_size * sizeof *logits);
        gpt2_state_free(&s);
    }
    free(v);
    return finish(rc, err);
}

shrink_sampling shrink_sampling_defaults(void) { return (shrink_sampling){64, 0.8f, 40, 0.95f, 1, 1}; }

int shrink_generate(const shrink_model *h, const char *prompt, size_t len, const shrink_sampling *sp, char *text, size_t cap,
                    size_t *text_len, shrink_error *err) {
    BEGIN();
    if (!sp || !text_len || (cap && !text)) return finish(err_set(ERR_ARG, "shrink_generate: NULL argument"), err);
    int *ids = NULL;
    size_t n = 0;
    int rc = encode(h, "shrink_generate", prompt, len, &ids, &n);
    const gpt2_config *c = h ? &h->m.cfg : NULL;
    if (!rc && sp->n_new < 0) rc = err_set(ERR_ARG, "shrink_generate: n_new %d is negative", sp->n_new);
    if (!rc && !(sp->temperature >= 0) ) rc = err_set(ERR_ARG, "shrink_generate: temperature must be >= 0");
    if (!rc && !(sp->top_p > 0 && sp->top_p <= 1)) rc = err_set(ERR_ARG, "shrink_generate: top_p must be in (0, 1]");
    if (!rc && sp->top_k < 0) rc = err_set(ERR_ARG, "shrink_generate: top_k must be >= 0");
    if (!rc && n == 0) {  // an empty prompt starts from <|endoftext|>, as GPT-2 was trained
        if (c->eos_id < 0) rc = err_set(ERR_ARG, "shrink_generate: an empty prompt needs the model's <|endoftext|> id");
        else ids = xrealloc(ids, sizeof *ids), ids[0] = c->eos_id, n = 1;
    }
    if (!rc && n > (size_t)c->n_ctx)
        rc = err_set(ERR_ARG, "shrink_generate: the prompt is %zu tokens, more than the context (%d)", n, c->n_ctx);
    int *out = NULL;
    char *s = NULL;
    size_t sl = 0;
    if (!rc) {
        gen_opts o = {sp->n_new, sp->temperature, sp->top_k, sp->top_p, sp->seed, sp->stop_at_eos ? c->eos_id : -1};
        out = xmalloc((size_t)(sp->n_new ? sp->n_new : 1) * sizeof *out);
        gen_stats st;
        int got = eval_generate(&h->m, ids, (int)n, &o, NULL, NULL, out, &st);
        if (got < 0) rc = got;
        else rc = bpe_decode(h->tok, out, (size_t)got, &s, &sl);
    }
    if (!rc) {
        memcpy(text, s, sl < cap ? sl : cap);
        *text_len = sl;
    }
    free(ids), free(out), free(s);
    return finish(rc, err);
}

static void to_public(const ppl_result *r, shrink_perplexity *p) { *p = (shrink_perplexity){r->ppl, r->nll, r->bpb, r->tokens}; }

// ctx 0: the model's n_ctx; stride 0: ctx / 2 (shrink eval's defaults).
static void windows(const gpt2_model *m, int *ctx, int *stride) {
    if (*ctx == 0) *ctx = m->cfg.n_ctx;
    if (*stride == 0) *stride = *ctx / 2 > 0 ? *ctx / 2 : 1;
}

int shrink_eval_perplexity(const shrink_model *h, const char *text, size_t len, int ctx, int stride, shrink_perplexity *out,
                           shrink_error *err) {
    BEGIN();
    if (!out) return finish(err_set(ERR_ARG, "shrink_eval_perplexity: out is NULL"), err);
    int *ids = NULL;
    size_t n = 0;
    int rc = encode(h, "shrink_eval_perplexity", text, len, &ids, &n);
    if (!rc) {
        windows(&h->m, &ctx, &stride);
        ppl_result r;
        if (!(rc = eval_perplexity(&h->m, ids, n, h->tok_bytes, ctx, stride, &r, NULL, NULL))) to_public(&r, out);
    }
    free(ids);
    return finish(rc, err);
}

int shrink_eval_agreement(const shrink_model *h, const shrink_model *base, const char *text, size_t len, int ctx, int stride,
                          shrink_agreement *out, shrink_error *err) {
    BEGIN();
    if (!out || !base) return finish(err_set(ERR_ARG, "shrink_eval_agreement: NULL argument"), err);
    int *ids = NULL;
    size_t n = 0;
    int rc = encode(h, "shrink_eval_agreement", text, len, &ids, &n);
    if (!rc && base->m.cfg.vocab_size != h->m.cfg.vocab_size)
        rc = err_set(ERR_SHAPE, "shrink_eval_agreement: the models' vocabularies differ (%d and %d tokens)", h->m.cfg.vocab_size,
                     base->m.cfg.vocab_size);
    if (!rc) {
        windows(&h->m, &ctx, &stride);
        agree_result a;
        if (!(rc = eval_agreement(&h->m, &base->m, ids, n, h->tok_bytes, ctx, stride, &a, NULL, NULL))) {
            to_public(&a.model, &out->model);
            to_public(&a.base, &out->base);
            out->dppl_pct = a.dppl_pct, out->kl_mean = a.kl_mean, out->kl_p99 = a.kl_p99, out->kl_max = a.kl_max;
            out->top1 = a.top1;
        }
    }
    free(ids);
    return finish(rc, err);
}

shrink_compress_opts shrink_compress_defaults(void) {
    shrink_compress_opts o = {0};
    o.type = "Q4_K_M";
    o.method = "rtn";
    o.calib_tokens = 32768;
    o.damp = 0.01;
    return o;
}

typedef struct progress_relay {
    shrink_progress_fn fn;
    void *user;
} progress_relay;

static void relay(const char *label, int done, int total, double elapsed, double eta, void *user) {
    const progress_relay *r = user;
    r->fn(label, done, total, elapsed, eta, r->user);
}

// 1 if path names the same file as dir/name (a link or another spelling included).
static int same_file(const char *path, const char *dir, const char *name) {
    struct stat a, b;
    char *p = dir ? path_join(dir, name) : NULL;
    int same = stat(path, &a) == 0 && stat(p ? p : name, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    free(p);
    return same;
}

int shrink_compress(const char *dir, const char *out, const shrink_compress_opts *o, shrink_error *err) {
    BEGIN();
    if (!dir || !out || !o) return finish(err_set(ERR_ARG, "shrink_compress: NULL argument"), err);
    int mth = compress_method_parse(o->method ? o->method : "rtn");
    if (mth < 0) return finish(err_set(ERR_ARG, "shrink_compress: unknown method '%s' (rtn, imatrix, gptq, awq, awq+gptq)", o->method), err);
    if (!o->type == !(o->target_bpw > 0)) return finish(err_set(ERR_ARG, "shrink_compress: give exactly one of type and target_bpw"), err);
    if (o->target_bpw > 0 && !(o->target_bpw >= 1.5 && o->target_bpw <= 16))
        return finish(err_set(ERR_ARG, "shrink_compress: target_bpw %g is outside 1.5-16", o->target_bpw), err);
    if (o->calib_tokens < 0 || o->damp < 0 || o->damp > 10) return finish(err_set(ERR_ARG, "shrink_compress: calib_tokens or damp out of range"), err);
    if (gpt2_path_is_gguf(dir))
        return finish(err_set(ERR_ARG, "shrink_compress: %s is a file; compression reads the original Hugging Face directory", dir), err);
    // damp rounded to float, as --damp is read: the CLI's files, bit for bit
    compress_opts co = {o->type, o->tensor_types, (compress_method)mth, o->target_bpw, o->calib_path,
                        o->calib_tokens ? o->calib_tokens : 32768, (float)(o->damp > 0 ? o->damp : 0.01), o->act_order, 0};
    if (compress_needs_calib(&co) && !co.calib_path)
        return finish(err_set(ERR_ARG, "shrink_compress: method %s needs calibration text (calib_path)", compress_method_name(co.method)), err);
    static const char *inputs[] = {"model.safetensors", "config.json", "vocab.json", "merges.txt"};
    for (int i = 0; i < 4; i++)
        if (same_file(out, dir, inputs[i])) return finish(err_set(ERR_ARG, "shrink_compress: %s is the model's own %s", out, inputs[i]), err);
    if (co.calib_path && same_file(out, NULL, co.calib_path))
        return finish(err_set(ERR_ARG, "shrink_compress: %s is the calibration text", out), err);
    int rc = file_check_output(out);
    if (rc) return finish(rc, err);
    kernels_init();
    shrink_model *h = xcalloc(1, sizeof *h);
    if (!(rc = gpt2_hf_load(&h->m, dir)) && !(rc = gpt2_load_tokenizer(dir, 0, &h->tok)) && !h->tok)
        rc = err_set(ERR_IO, "%s: no vocab.json and merges.txt here; the GGUF would carry no tokenizer", dir);
    progress_relay r = {o->progress, o->user};
    if (o->progress) calib_set_progress(relay, &r);
    gpt2_plan plan = {0};
    char notes[8192];
    if (!rc && !(rc = compress_model(&h->m, h->tok, &co, &plan, notes, sizeof notes))) rc = gpt2_gguf_save(&h->m, dir, out, GPT2_GGUF_STORED);
    if (o->progress) calib_set_progress(NULL, NULL);
    gpt2_plan_free(&plan);
    shrink_model_free(h);
    return finish(rc, err);
}
