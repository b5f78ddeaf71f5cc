// lambada.c: LAMBADA last-word accuracy and perplexity, as lm-evaluation-harness's lambada_openai.
//
// Each line of the file is a JSON object whose "text" is one passage (other keys are ignored).
// lm-eval's split: context = the text before its last space, target = " " + the last word; as
// lm-eval's _encode_pair does, whitespace at the end of the context moves to the front of the
// target. Context and target are encoded separately (with GPT-2's pre-tokenizer this equals
// splitting the encoding of the whole text, because the context ends in a non-space). An empty
// context is the <|endoftext|> token, as lm-eval does. The model is fed the last n_ctx tokens of
// context + target without the final target token (lm-eval's `(ctx + cont)[-(max_length+1):][:-1]`),
// so a context is cut from the left to n_ctx + 1 - len(target) tokens. A document is correct when
// the argmax at every target position is that target token; its log-likelihood is the sum of the
// target tokens' log-probabilities. ppl = exp(-mean log-likelihood), lm-eval's lambada perplexity.
// Not done: lm-eval's other LAMBADA variants (standard, cloze, multilingual).
#include "eval.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/xalloc.h"
#include "../formats/json.h"
#include "../kernels/kernels.h"
#include <math.h>
#include <string.h>

// The documents to score, tokenized: doc d is ids[off[d] .. off[d] + n_ctx[d] + n_tgt[d]).
typedef struct lambada_docs {
    int n;
    int *ids;
    size_t n_ids, cap_ids;
    size_t *off;
    int *n_ctx, *n_tgt;
} lambada_docs;

static void docs_free(lambada_docs *d) {
    free(d->ids);
    free(d->off);
    free(d->n_ctx);
    free(d->n_tgt);
    memset(d, 0, sizeof *d);
}

static void docs_push(lambada_docs *d, const int *ids, size_t n) {
    if (d->n_ids + n > d->cap_ids) {
        while (d->n_ids + n > d->cap_ids) d->cap_ids = d->cap_ids ? 2 * d->cap_ids : 4096;
        d->ids = xrealloc(d->ids, d->cap_ids * sizeof(int));
    }
    memcpy(d->ids + d->n_ids, ids, n * sizeof(int));
    d->n_ids += n;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Parses one line into *v, rewording the parser's message to name the file's line (the
// parser, given one line, would call it line 1).
static int line_parse(json_value *v, const char *s, size_t len, const char *path, int line) {
    if (json_parse(v, s, len, path) == 0) return 0;
    const char *msg = err_msg(), *tag = "invalid JSON at line 1: ", *at = strstr(msg, tag);
    char detail[512];
    snprintf(detail, sizeof detail, "%s", at ? at + strlen(tag) : msg);
    err_clear();
    return err_set(ERR_FORMAT, "%s: line %d: not valid JSON: %s", path, line, detail);
}

// Reads one document (line `line`, s[0..len)) and appends its context and target tokens.
static int doc_add(lambada_docs *d, const bpe *tok, int n_ctx_model, const char *s, size_t len, const char *path,
                   int line) {
    json_value v;
    memset(&v, 0, sizeof v);
    int rc = line_parse(&v, s, len, path, line);
    if (rc) return rc;
    const json_value *t = json_get(&v, "text");
    if (v.type != JSON_OBJECT) rc = err_set(ERR_FORMAT, "%s: line %d: expected a JSON object {\"text\": ...}", path, line);
    else if (!t) rc = err_set(ERR_FORMAT, "%s: line %d: the object has no \"text\" key", path, line);
    else if (t->type != JSON_STRING) rc = err_set(ERR_FORMAT, "%s: line %d: \"text\" is not a string", path, line);
    if (rc) {
        json_free(&v);
        return rc;
    }
    size_t sp = t->len;
    while (sp > 0 && t->str[sp - 1] != ' ') sp--;
    if (sp == 0) rc = err_set(ERR_FORMAT, "%s: line %d: the text has no space, so no last word to predict", path, line);
    else if (sp == t->len) rc = err_set(ERR_FORMAT, "%s: line %d: the text ends with a space, so no last word", path, line);
    if (rc) {
        json_free(&v);
        return rc;
    }
    size_t ce = sp - 1;  // the context is str[0..ce); the target starts at the last space
    while (ce > 0 && is_space(t->str[ce - 1])) ce--;
    int *cids = NULL, *tids = NULL;
    size_t nc = 0, nt = 0;
    if ((rc = bpe_encode(tok, t->str, ce, &cids, &nc)) || (rc = bpe_encode(tok, t->str + ce, t->len - ce, &tids, &nt)))
        goto out;
    if (nc == 0) {
        int eot = bpe_eot(tok);
        if (eot < 0) {
            rc = err_set(ERR_FORMAT, "%s: line %d: the context before the last word is empty and the tokenizer has no "
                         "<|endoftext|> to stand for it", path, line);
            goto out;
        }
        free(cids);
        cids = xmalloc(sizeof(int));
        cids[0] = eot;
        nc = 1;
    }
    if (nt > (size_t)n_ctx_model) {
        rc = err_set(ERR_ARG, "%s: line %d: the last word is %zu tokens, more than the model's context (%d)", path,
                     line, nt, n_ctx_model);
        goto out;
    }
    d->off = xrealloc(d->off, (size_t)(d->n + 1) * sizeof(size_t));
    d->n_ctx = xrealloc(d->n_ctx, (size_t)(d->n + 1) * sizeof(int));
    d->n_tgt = xrealloc(d->n_tgt, (size_t)(d->n + 1) * sizeof(int));
    // Only the last n_ctx + 1 - nt context tokens can reach the model; keep no more.
    size_t keep = (size_t)n_ctx_model + 1 - nt;
    if (nc > keep) {
        memmove(cids, cids + (nc - keep), keep * sizeof(int));
        nc = keep;
    }
    d->off[d->n] = d->n_ids;
    d->n_ctx[d->n] = (int)nc;
    d->n_tgt[d->n] = (int)nt;
    docs_push(d, cids, nc);
    docs_push(d, tids, nt);
    d->n++;
out:
    free(cids);
    free(tids);
    json_free(&v);
    return rc;
}

// Splits the file into lines and tokenizes the first `limit` documents (0 = all).
static int docs_read(lambada_docs *d, const bpe *tok, int n_ctx_model, const char *path, int limit) {
    char *text = NULL;
    size_t len = 0;
    int rc = file_read_all(path, &text, &len);
    if (rc) return rc;
    int line = 0;
    for (size_t b = 0; b < len && (limit == 0 || d->n < limit);) {
        size_t e = b;
        while (e < len && text[e] != '\n') e++;
        line++;
        if ((rc = doc_add(d, tok, n_ctx_model, text + b, e - b, path, line))) break;
        b = e + 1;
    }
    if (!rc && d->n == 0) rc = err_set(ERR_FORMAT, "%s: no documents (the file is empty)", path);
    free(text);
    return rc;
}

// Index of the largest of x[0..n), the first one on ties (torch.argmax's choice).
static int argmax_f32(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

int eval_lambada(const gpt2_model *m, const bpe *tok, const char *path, int limit, lambada_result *r,
                 progress_fn progress, void *user) {
    memset(r, 0, sizeof *r);
    const gpt2_config *c = &m->cfg;
    if (limit < 0) return err_set(ERR_ARG, "%s: document limit %d is negative (0 = all)", path, limit);
    if (bpe_vocab_size(tok) > c->vocab_size)
        return err_set(ERR_SHAPE, "%s: the tokenizer has %d tokens but the model only %d", path, bpe_vocab_size(tok),
                       c->vocab_size);
    lambada_docs d;
    memset(&d, 0, sizeof d);
    int rc = docs_read(&d, tok, c->n_ctx, path, limit);
    if (rc) {
        docs_free(&d);
        return rc;
    }
    // Each document is fed in two calls (together at most n_ctx tokens once the context is
    // cut): the context but its last token, which only fills the KV cache, then that token and
    // the target but its last, whose logits score the target. The LM head runs on the target
    // positions only, not on every context position.
    int max_t = 1;
    for (int i = 0; i < d.n; i++) {
        if (d.n_ctx[i] - 1 > max_t) max_t = d.n_ctx[i] - 1;
        if (d.n_tgt[i] > max_t) max_t = d.n_tgt[i];
    }
    gpt2_state s;
    if ((rc = gpt2_state_init(&s, m, max_t))) {
        docs_free(&d);
        return rc;
    }
    int V = c->vocab_size, correct = 0;
    double ll_sum = 0.0;
    for (int i = 0; i < d.n; i++) {
        const int *ids = d.ids + d.off[i];
        int nc = d.n_ctx[i], nt = d.n_tgt[i];
        gpt2_state_reset(&s);
        if (nc > 1) gpt2_forward(m, &s, ids, nc - 1, 0);
        gpt2_forward(m, &s, ids + nc - 1, nt, 1);
        // Logits row j (position nc - 1 + j) predicts target token j, ids[nc + j].
        if ((rc = eval_check_logits(m, s.logits, (size_t)nt, V, "document", (size_t)i + 1))) break;
        double ll = 0.0;
        int greedy = 1;
        for (int j = 0; j < nt; j++) {
            const float *lg = s.logits + (size_t)j * (size_t)V;
            int target = ids[nc + j];
            ll += (double)lg[target] - (double)kern.logsumexp_f32(lg, V);
            if (argmax_f32(lg, V) != target) greedy = 0;
        }
        ll_sum += ll;
        correct += greedy;
        if (progress) progress(i + 1, d.n, user);
    }
    gpt2_state_free(&s);
    if (rc) {
        docs_free(&d);
        return rc;
    }
    r->n = d.n;
    r->correct = correct;
    r->acc = (double)correct / d.n;
    r->nll_mean = -ll_sum / d.n;
    r->ppl = exp(r->nll_mean);
    docs_free(&d);
    return 0;
}
