// shrink_api.c: the public C API (include/shrink.h) over the model, tokenizer and eval parts.
// Each entry point clears the thread's recorded error, does its work, and hands the code and
// message to the caller's shrink_error (then clears them again): nothing outlives the call.
#include "api.h"
#include "../compress/calib.h"
#include "../core/err.h"
#include "../core/msg.h"
#include "../core/timer.h"
#include "../core/fileio.h"
#include "../core/progress.h"
#include "../core/version.h"
#include "../core/xalloc.h"
#include "../eval/eval.h"
#include "../kernels/kernels.h"
#include "../modelfile/modelfile.h"
#include <string.h>

_Static_assert((int)SHRINK_E_IO == (int)ERR_IO && (int)SHRINK_E_FORMAT == (int)ERR_FORMAT &&
                   (int)SHRINK_E_SHAPE == (int)ERR_SHAPE && (int)SHRINK_E_ARG == (int)ERR_ARG &&
                   (int)SHRINK_E_RANGE == (int)ERR_RANGE,
               "the public codes are the internal ones");

int api_finish(int rc, shrink_error *err) {
    if (err) {
        err->code = rc;
        snprintf(err->message, sizeof err->message, "%s", rc ? (err_msg()[0] ? err_msg() : "unknown error") : "");
    }
    err_clear();
    return rc;
}

#define BEGIN() err_clear()
#define finish api_finish

static _Thread_local const api_sink *sink;

static void relay_msg(const char *text, void *user) {
    (void)user;
    if (sink->log) sink->log(text, sink->user);
}

static void relay_progress(const char *label, int done, int total, double elapsed, double eta, void *user) {
    (void)user;
    if (sink->progress) sink->progress(label, done, total, elapsed, eta, sink->user);
}

void api_sink_begin(api_sink *s) {
    sink = s;
    msg_set_sink(relay_msg, NULL);
    progress_get_sink(&s->prev_progress, &s->prev_user);
    progress_set_sink(relay_progress, NULL);
}

void api_sink_end(void) {
    msg_set_sink(NULL, NULL);
    progress_set_sink(sink->prev_progress, sink->prev_user);
    sink = NULL;
}

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
        if (text && cap) memcpy(text, s, sl < cap ? sl : cap);  // a streaming caller may pass no buffer
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

shrink_sampling shrink_sampling_defaults(void) {
    shrink_sampling s = {0};
    s.n_new = 64, s.temperature = 0.8f, s.top_k = 40, s.top_p = 0.95f, s.seed = 1, s.stop_at_eos = 1;
    return s;
}

// Each new token to the caller's stream, the stop token excepted.
typedef struct stream {
    const shrink_model *h;
    const shrink_sampling *s;
    int stop_id;
} stream;

static int stream_token(int id, void *user) {
    const stream *st = user;
    if (id == st->stop_id) return 0;
    size_t len = 0;
    const char *b = bpe_token_bytes(st->h->tok, id, &len);
    return st->s->on_token(b ? b : "", b ? len : 0, st->s->user);
}

int shrink_generate(const shrink_model *h, const char *prompt, size_t len, const shrink_sampling *sp, char *text, size_t cap,
                    size_t *text_len, shrink_generate_stats *stats, shrink_error *err) {
    BEGIN();
    if (!sp || !text_len || (cap && !text)) return finish(err_set(ERR_ARG, "shrink_generate: NULL argument"), err);
    int *ids = NULL;
    size_t n = 0;
    int rc = encode(h, "shrink_generate", prompt, len, &ids, &n);
    const gpt2_config *c = h ? &h->m.cfg : NULL;
    // <|endoftext|> as the tokenizer spells it, else as config.json gives it
    int eot = h && h->tok && bpe_eot(h->tok) >= 0 ? bpe_eot(h->tok) : c ? c->eos_id : -1;
    if (!rc && sp->n_new < 0) rc = err_set(ERR_ARG, "generate: --n %d is negative", sp->n_new);
    if (!rc && !(sp->temperature >= 0)) rc = err_set(ERR_ARG, "generate: --temp must be >= 0");
    if (!rc && !(sp->top_p > 0 && sp->top_p <= 1)) rc = err_set(ERR_ARG, "generate: --top-p (top_p) must be in (0, 1]");
    if (!rc && sp->top_k < 0) rc = err_set(ERR_ARG, "generate: --top-k must be >= 0");
    if (!rc && n == 0) {  // an empty prompt starts from <|endoftext|>, as GPT-2 was trained
        if (eot < 0) rc = err_set(ERR_ARG, "generate: empty prompt and the model has no <|endoftext|> token to start from");
        else ids = xrealloc(ids, sizeof *ids), ids[0] = eot, n = 1;
    }
    int *start = ids;
    if (!rc && n > (size_t)c->n_ctx) {
        if (!sp->truncate)
            rc = err_set(ERR_ARG, "generate: the prompt is %zu tokens, longer than the model's context (%d); pass --truncate "
                                  "to keep its last %d tokens", n, c->n_ctx, c->n_ctx);
        start = ids + (n - (size_t)c->n_ctx), n = (size_t)c->n_ctx;
    }
    int *out = NULL, got = 0;
    char *s = NULL;
    size_t sl = 0;
    gen_stats st = {0};
    if (!rc && sp->n_new > 0) {
        gen_opts o = {sp->n_new, sp->temperature, sp->top_k, sp->top_p, sp->seed, sp->stop_at_eos ? eot : -1};
        out = xmalloc((size_t)sp->n_new * sizeof *out);
        stream sm = {h, sp, o.stop_id};
        got = eval_generate(&h->m, start, (int)n, &o, sp->on_token ? stream_token : NULL, &sm, out, &st);
        if (got < 0) rc = got;
        else if (got > 0 && out[got - 1] == o.stop_id) got--;  // the stop token is not text
    }
    if (!rc) rc = bpe_decode(h->tok, out ? out : ids, (size_t)got, &s, &sl);
    if (!rc) {
        if (text && cap) memcpy(text, s, sl < cap ? sl : cap);  // a streaming caller may pass no buffer
        *text_len = sl;
        if (stats) *stats = (shrink_generate_stats){st.n_prompt, st.n_new, st.prompt_s, st.gen_s};
    }
    free(ids), free(out), free(s);
    return finish(rc, err);
}

static void to_public(const ppl_result *r, size_t text_tokens, shrink_perplexity *p) {
    *p = (shrink_perplexity){r->ppl, r->nll, r->bpb, r->tokens, (long)text_tokens, r->bytes, r->ctx, r->stride, r->windows};
}

void shrink_model_set_progress(shrink_model *h, shrink_progress_fn fn, void *user) {
    if (h) h->progress = fn, h->progress_user = user;
}

// eval's progress (done, total) as the handle's callback, with the step's time and ETA.
typedef struct eval_relay {
    const shrink_model *h;
    const char *step;
    double t0;
} eval_relay;

static void eval_progress(int done, int total, void *user) {
    const eval_relay *r = user;
    double el = timer_now() - r->t0;
    r->h->progress(r->step, done, total, el, done ? el / done * (total - done) : 0, r->h->progress_user);
}

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
        eval_relay er = {h, "eval", timer_now()};
        if (!(rc = eval_perplexity(&h->m, ids, n, h->tok_bytes, ctx, stride, &r, h->progress ? eval_progress : NULL, &er)))
            to_public(&r, n, out);
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
        eval_relay er = {h, "eval", timer_now()};
        if (!(rc = eval_agreement(&h->m, &base->m, ids, n, h->tok_bytes, ctx, stride, &a, h->progress ? eval_progress : NULL,
                                  &er))) {
            to_public(&a.model, n, &out->model);
            to_public(&a.base, n, &out->base);
            out->dppl_pct = a.dppl_pct, out->kl_mean = a.kl_mean, out->kl_p99 = a.kl_p99, out->kl_max = a.kl_max;
            out->top1 = a.top1;
        }
    }
    free(ids);
    return finish(rc, err);
}

int shrink_eval_lambada(const shrink_model *h, const char *path, int limit, shrink_lambada *out, shrink_error *err) {
    BEGIN();
    if (!h || !path || !out) return finish(err_set(ERR_ARG, "shrink_eval_lambada: NULL argument"), err);
    if (limit < 0) return finish(err_set(ERR_ARG, "--lambada-limit %d is negative", limit), err);
    if (!h->tok)
        return finish(err_set(ERR_ARG, "%s: no tokenizer (vocab.json and merges.txt); LAMBADA needs it",
                              h->m.source ? h->m.source : "the model"), err);
    lambada_result r;
    eval_relay er = {h, "lambada", timer_now()};
    int rc = eval_lambada(&h->m, h->tok, path, limit, &r, h->progress ? eval_progress : NULL, &er);
    if (!rc) *out = (shrink_lambada){r.acc, r.ppl, r.nll_mean, r.n, r.correct};
    return finish(rc, err);
}
