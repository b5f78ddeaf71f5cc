// sampler.c: greedy / temperature / top-k / nucleus (top-p, Holtzman et al. 2019) sampling.
// Candidates are ordered by probability, then by id, so results never depend on sort stability.
#include "sampler.h"
#include "../core/xalloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void sampler_init(sampler *s, int V, float temp, int top_k, float top_p, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->V = V;
    s->temp = temp;
    s->top_k = top_k;
    s->top_p = top_p;
    rng_init(&s->rng, seed);
    s->idx = xmalloc((size_t)V * sizeof(int));
    s->prob = xmalloc((size_t)V * sizeof(float));
}

void sampler_free(sampler *s) {
    free(s->idx);
    free(s->prob);
    memset(s, 0, sizeof *s);
}

int sampler_argmax(const float *logits, int V) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

// Sort key for qsort over candidate ids: by probability descending, then id.
// (A file-level pointer because C11 qsort has no context argument; sampling is single-threaded.)
static const float *sort_prob;
static int cmp_cand(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_prob[i] != sort_prob[j]) return sort_prob[i] > sort_prob[j] ? -1 : 1;
    return i - j;
}

// The k-th largest of p[0..V), by insertion into a small sorted buffer (k is small in practice).
static float kth_largest(const float *p, int V, int k) {
    float *best = xmalloc((size_t)k * sizeof(float));
    int nb = 0;
    for (int i = 0; i < V; i++) {
        if (nb == k && p[i] <= best[k - 1]) continue;
        int j = nb < k ? nb++ : k - 1;
        while (j > 0 && best[j - 1] < p[i]) { best[j] = best[j - 1]; j--; }
        best[j] = p[i];
    }
    float kth = best[k - 1];
    free(best);
    return kth;
}

int sampler_sample(sampler *s, const float *logits) {
    int V = s->V;
    if (s->temp == 0.0f) return sampler_argmax(logits, V);
    // Softmax at temperature (unnormalized: the draw scales by the kept mass).
    float maxv = logits[sampler_argmax(logits, V)];
    double total = 0.0;
    for (int i = 0; i < V; i++) {
        s->prob[i] = expf((logits[i] - maxv) / s->temp);
        total += s->prob[i];
    }
    int k = (s->top_k > 0 && s->top_k < V) ? s->top_k : V;
    int n = 0;
    if (k == V && s->top_p >= 1.0f) {
        for (int i = 0; i < V; i++) s->idx[i] = i;
        n = V;
    } else {
        // Sort only plausible candidates: with top-k, those at least as likely as the
        // k-th best; with top-p alone, those above (1-p)/(V-1) of the mass, which are
        // never needed to reach p (llama2.c's cut).
        float cut = k < V ? kth_largest(s->prob, V, k) : 0.0f;
        if (k == V) cut = (float)((1.0 - s->top_p) / (V - 1) * total);
        for (int i = 0; i < V; i++)
            if (s->prob[i] >= cut) s->idx[n++] = i;
        sort_prob = s->prob;
        qsort(s->idx, (size_t)n, sizeof(int), cmp_cand);
        if (n > k) n = k;  // ties at the cut can admit more than k
        if (s->top_p < 1.0f) {
            // Nucleus over what top-k left (HF order: top-k, then top-p).
            double mass = 0.0;
            if (k < V) for (int i = 0; i < n; i++) mass += s->prob[s->idx[i]];
            else mass = total;
            double acc = 0.0, target = s->top_p * mass;
            for (int i = 0; i < n; i++) {
                acc += s->prob[s->idx[i]];
                if (acc >= target) { n = i + 1; break; }
            }
        }
    }
    double kept = 0.0;
    for (int i = 0; i < n; i++) kept += s->prob[s->idx[i]];
    double r = rng_f32(&s->rng) * kept, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += s->prob[s->idx[i]];
        if (r < acc) return s->idx[i];
    }
    return s->idx[n - 1];
}
