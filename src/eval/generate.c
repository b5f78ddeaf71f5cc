// generate.c: prompt pass + token-by-token sampling with the KV cache, sliding the
// window when the context is full.
#include "eval.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "sampler.h"
#include <stdlib.h>
#include <string.h>

int eval_generate(const gpt2_model *m, const int *prompt, int n_prompt, const gen_opts *o, token_fn cb, void *user,
                  int *out, gen_stats *st) {
    const gpt2_config *c = &m->cfg;
    memset(st, 0, sizeof *st);
    gpt2_state s;
    int rc = gpt2_state_init(&s, m, n_prompt > c->n_ctx / 2 ? n_prompt : (c->n_ctx / 2 > 0 ? c->n_ctx / 2 : 1));
    if (rc) return rc;
    sampler smp;
    sampler_init(&smp, c->vocab_size, o->temp, o->top_k, o->top_p, o->seed);
    // The whole history, so a context shift can re-run the newest tokens.
    int *hist = xmalloc(((size_t)n_prompt + (size_t)o->n_new + 1) * sizeof(int));
    memcpy(hist, prompt, (size_t)n_prompt * sizeof(int));
    int n_hist = n_prompt;

    double t0 = timer_now();
    gpt2_forward(m, &s, prompt, n_prompt, 0);
    st->prompt_s = timer_now() - t0;
    st->n_prompt = n_prompt;
    t0 = timer_now();
    int produced = 0;
    while (produced < o->n_new) {
        if ((rc = eval_check_logits(m, s.logits, 1, c->vocab_size, "generated token", (size_t)produced + 1))) break;
        int id = sampler_sample(&smp, s.logits);
        hist[n_hist++] = id;
        if (out) out[produced] = id;
        produced++;
        if (cb && cb(id, user)) break;
        if (id == o->stop_id || produced == o->n_new) break;
        if (s.n_past == c->n_ctx) {
            // Context full: keep the newest half (including id) and rebuild the cache.
            int keep = c->n_ctx / 2 > 0 ? c->n_ctx / 2 : 1;
            gpt2_state_reset(&s);
            gpt2_forward(m, &s, hist + n_hist - keep, keep, 0);
            st->context_shifts++;
        } else {
            gpt2_forward(m, &s, &id, 1, 0);
        }
    }
    st->gen_s = timer_now() - t0;
    st->n_new = produced;
    free(hist);
    sampler_free(&smp);
    gpt2_state_free(&s);
    return rc ? rc : produced;
}
