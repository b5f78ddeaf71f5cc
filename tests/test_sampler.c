// test_sampler.c: next-token sampling (eval/sampler.c) and generation with context shifts
// (eval/generate.c), against direct computations.
//   1. sampling: for fixed logits, the tokens drawn (fixed seeds, N draws) never fall outside
//      the candidates a direct double computation keeps — temperature softmax, then top-k (by
//      probability, ties by lower id), then top-p over what top-k kept (the smallest prefix
//      whose mass reaches p of it) — and their counts match the renormalized probabilities by
//      a chi-square test; greedy is the argmax (lowest id among ties); a seed repeats its
//      draws and another seed does not
//   2. generation past the context (tiny-hot oracle checkpoint, n_ctx 64): the tokens that
//      eval_generate emits, greedy and sampled, equal those chosen from a fresh full forward
//      of the window the README states (when the context fills, the newest n_ctx/2 tokens are
//      kept and re-run), step by step, and the number of shifts agrees
#include "harness.h"
#include "core/err.h"
#include "core/xalloc.h"
#include "eval/eval.h"
#include "modelfile/modelfile.h"
#include "eval/sampler.h"
#include <string.h>

// --- the direct computation: the distribution the sampler should draw from, in double

static const double *g_p;
static int cmp_prob(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (g_p[i] != g_p[j]) return g_p[i] > g_p[j] ? -1 : 1;
    return i - j;
}

// q (V) = the probabilities the sampler should draw each id with (0 outside the kept set).
// Returns the number of ids kept.
static int direct_dist(const float *logits, int V, double temp, int top_k, double top_p, double *q) {
    double *p = xmalloc((size_t)V * sizeof *p), m = -INFINITY, z = 0;
    int *idx = xmalloc((size_t)V * sizeof *idx);
    for (int i = 0; i < V; i++) m = fmax(m, logits[i]);
    for (int i = 0; i < V; i++) z += p[i] = exp((logits[i] - m) / temp);
    for (int i = 0; i < V; i++) p[i] /= z, idx[i] = i;
    g_p = p;
    qsort(idx, (size_t)V, sizeof *idx, cmp_prob);
    int n = top_k > 0 && top_k < V ? top_k : V;
    double mass = 0, acc = 0;
    for (int i = 0; i < n; i++) mass += p[idx[i]];
    if (top_p < 1)
        for (int i = 0; i < n; i++)
            if ((acc += p[idx[i]]) >= top_p * mass) {
                n = i + 1;
                break;
            }
    double kept = 0;
    for (int i = 0; i < n; i++) kept += p[idx[i]];
    memset(q, 0, (size_t)V * sizeof *q);
    for (int i = 0; i < n; i++) q[idx[i]] = p[idx[i]] / kept;
    free(p), free(idx);
    return n;
}

// Upper 1e-6 tail of the chi-square distribution with df degrees of freedom
// (Wilson-Hilferty): a correct sampler exceeds it once in a million seeds.
static double chi2_bound(int df) {
    double z = 4.753, a = 2.0 / (9.0 * df), c = 1 - a + z * sqrt(a);
    return df * c * c * c;
}

// Draws n tokens with the options and checks them against direct_dist. Bins with expected
// counts below 20 are merged (in id order) so the chi-square approximation holds.
static void check_sampling(const char *what, const float *logits, int V, float temp, int top_k, float top_p, int n,
                           uint64_t seed) {
    double *q = xmalloc((size_t)V * sizeof *q);
    long *cnt = xcalloc((size_t)V, sizeof *cnt);
    int kept = direct_dist(logits, V, temp, top_k, top_p, q);
    sampler s;
    sampler_init(&s, V, temp, top_k, top_p, seed);
    long outside = 0;
    for (int i = 0; i < n; i++) {
        int id = sampler_sample(&s, logits);
        if (id < 0 || id >= V || q[id] == 0) outside++;
        else cnt[id]++;
    }
    sampler_free(&s);
    double chi2 = 0, e_bin = 0, c_bin = 0;
    int df = -1;
    for (int i = 0; i < V; i++) {
        if (q[i] == 0) continue;
        e_bin += q[i] * n, c_bin += (double)cnt[i];
        if (e_bin >= 20) {
            chi2 += (c_bin - e_bin) * (c_bin - e_bin) / e_bin;
            df++;
            e_bin = c_bin = 0;
        }
    }
    if (e_bin > 0) chi2 += (c_bin - e_bin) * (c_bin - e_bin) / fmax(e_bin, 1), df++;
    double bound = df > 0 ? chi2_bound(df) : 0;
    printf("%s: %d of %d ids kept, %d draws: %ld outside, chi2 %.1f (df %d, bound %.1f)\n", what, kept, V, n, outside, chi2,
           df, bound);
    EXPECT(outside == 0, "%s: %ld of %d draws outside the %d ids the direct computation keeps", what, outside, n, kept);
    EXPECT(df <= 0 || chi2 <= bound, "%s: chi2 %.1f over the bound %.1f (df %d)", what, chi2, bound, df);
    free(q), free(cnt);
}

static void test_sampling(void) {
    enum { V = 12, N = 100000 };
    // distinct logits, not in order, one clear favourite and a long tail
    const float lg[V] = {0.3f, 2.1f, -1.0f, 1.4f, 0.9f, -0.2f, 1.7f, -2.5f, 0.0f, 1.1f, -0.7f, 0.5f};
    check_sampling("temperature 0.7", lg, V, 0.7f, 0, 1.0f, N, 1);
    check_sampling("temperature 1.6", lg, V, 1.6f, 0, 1.0f, N, 2);
    check_sampling("top-k 4 at temperature 1.3", lg, V, 1.3f, 4, 1.0f, N, 3);
    check_sampling("top-p 0.8", lg, V, 1.0f, 0, 0.8f, N, 4);
    check_sampling("top-p 0.5 at temperature 0.8", lg, V, 0.8f, 0, 0.5f, N, 5);
    check_sampling("top-k 6 then top-p 0.7 at temperature 0.9", lg, V, 0.9f, 6, 0.7f, N, 6);
    check_sampling("top-k 12 (= V) and top-p 0.95", lg, V, 1.0f, V, 0.95f, N, 7);
    // Ties at the top-k cut: ids 2, 3, 4 share the second value; top-k 2 keeps the lowest id.
    const float tie[6] = {3.0f, 1.0f, 2.0f, 2.0f, 2.0f, 0.0f};
    check_sampling("top-k 2 with ties at the cut", tie, 6, 1.0f, 2, 1.0f, N, 8);
    // A large vocabulary (Zipf-like logits) where top-p alone keeps a few hundred ids.
    enum { VL = 2000 };
    float *big = xmalloc(VL * sizeof *big);
    for (int i = 0; i < VL; i++) big[(i * 7919) % VL] = -1.1f * logf(1.0f + (float)i);
    check_sampling("top-p 0.9 over 2000 ids", big, VL, 1.0f, 0, 0.9f, 10000, 9);
    check_sampling("top-k 50 over 2000 ids", big, VL, 0.9f, 50, 1.0f, 10000, 10);
    free(big);

    // Greedy: the argmax, the lowest id among equal maxima, whatever top-k/top-p say.
    const float g[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
    sampler s;
    sampler_init(&s, 5, 0.0f, 3, 0.5f, 1);
    EXPECT(sampler_sample(&s, g) == 1 && sampler_argmax(g, 5) == 1, "greedy: argmax of tied maxima is the lower id");
    sampler_free(&s);
    // Same seed, same draws; another seed, other draws.
    int a[200], b[200], c[200];
    sampler sa, sb, sc;
    sampler_init(&sa, V, 1.0f, 0, 1.0f, 42);
    sampler_init(&sb, V, 1.0f, 0, 1.0f, 42);
    sampler_init(&sc, V, 1.0f, 0, 1.0f, 43);
    for (int i = 0; i < 200; i++) a[i] = sampler_sample(&sa, lg), b[i] = sampler_sample(&sb, lg), c[i] = sampler_sample(&sc, lg);
    EXPECT(memcmp(a, b, sizeof a) == 0 && memcmp(a, c, sizeof a) != 0, "a seed repeats its draws; another seed differs");
    sampler_free(&sa), sampler_free(&sb), sampler_free(&sc);
}

// --- generation past the context

// The tokens generate should emit: each chosen (greedy, or by a sampler with the same seed)
// from a fresh forward of the window, which is the prompt and what followed until the
// context is full, then the newest n_ctx/2 tokens and what follows, and so on.
static int direct_generate(const gpt2_model *m, const int *prompt, int n_prompt, const gen_opts *o, int *out, int *shifts) {
    int n_ctx = m->cfg.n_ctx, keep = n_ctx / 2, V = m->cfg.vocab_size;
    int *hist = xmalloc(((size_t)n_prompt + (size_t)o->n_new) * sizeof *hist), n_hist = n_prompt, ws = 0;
    memcpy(hist, prompt, (size_t)n_prompt * sizeof *hist);
    sampler smp;
    sampler_init(&smp, V, o->temp, o->top_k, o->top_p, o->seed);
    gpt2_state s;
    CHECK(gpt2_state_init(&s, m, n_ctx) == 0);
    *shifts = 0;
    for (int i = 0; i < o->n_new; i++) {
        gpt2_state_reset(&s);
        gpt2_forward(m, &s, hist + ws, n_hist - ws, 0);
        int id = sampler_sample(&smp, s.logits);
        out[i] = id;
        hist[n_hist++] = id;
        if (n_hist - 1 - ws == n_ctx) {  // the window held n_ctx tokens: keep the newest half
            ws = n_hist - keep;
            ++*shifts;
        }
    }
    gpt2_state_free(&s);
    sampler_free(&smp);
    free(hist);
    return o->n_new;
}

static void test_context_shift(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/testdata/oracle/tiny-hot", shared_dir());
    gpt2_model m;
    if (gpt2_hf_load(&m, dir)) {
        EXPECT(0, "load %s: %s", dir, err_msg());
        return;
    }
    int n_ctx = m.cfg.n_ctx, V = m.cfg.vocab_size, prompt[40];
    for (int i = 0; i < 40; i++) prompt[i] = (i * 37 + 11) % V;
    // 40 prompt tokens and 150 new ones in a context of 64: several shifts.
    enum { NEW = 150 };
    gen_opts opts[2] = {{NEW, 0.0f, 0, 1.0f, 1, -1}, {NEW, 0.8f, 20, 0.95f, 7, -1}};
    const char *names[2] = {"greedy", "temperature 0.8, top-k 20, top-p 0.95"};
    for (int k = 0; k < 2; k++) {
        int got[NEW], want[NEW], shifts;
        gen_stats st;
        int n = eval_generate(&m, prompt, 40, &opts[k], NULL, NULL, got, &st);
        direct_generate(&m, prompt, 40, &opts[k], want, &shifts);
        int first_diff = -1;
        for (int i = 0; i < NEW && first_diff < 0; i++)
            if (got[i] != want[i]) first_diff = i;
        printf("generation past the context (%s, n_ctx %d): %d tokens, %d shifts (direct: %d), first difference at %d\n",
               names[k], n_ctx, n, st.context_shifts, shifts, first_diff);
        EXPECT(n == NEW && first_diff < 0, "%s: generated tokens differ from the direct computation at step %d", names[k],
               first_diff);
        EXPECT(st.context_shifts == shifts && shifts >= 3, "%s: %d context shifts, direct %d", names[k], st.context_shifts,
               shifts);
    }
    gpt2_model_free(&m);
}

int main(void) {
    test_sampling();
    test_context_shift();
    return TEST_DONE();
}
