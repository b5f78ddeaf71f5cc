// repetition.c: how repetitive generated text is (see eval.h): the measures of degenerate,
// looping text used in the neural text degeneration literature (Holtzman et al. 2020's
// repetition; Li et al. 2016's distinct-n), on token ids.
#include "eval.h"
#include "../core/xalloc.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// n-grams are pointers into the text, compared as int tuples (qsort_r: no shared state).
static int cmp_ngram(const void *a, const void *b, void *nptr) {
    const int *x = *(const int *const *)a, *y = *(const int *const *)b;
    int n = *(const int *)nptr;
    for (int i = 0; i < n; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return (x > y) - (x < y);
}

// Number of distinct n-grams; with repeats != NULL, also the n-grams equal to an earlier one.
static int distinct(const int *t, int len, int n, int *repeats) {
    int cnt = len - n + 1;
    if (cnt <= 0) {
        if (repeats) *repeats = 0;
        return 0;
    }
    const int **p = xmalloc((size_t)cnt * sizeof *p);
    for (int i = 0; i < cnt; i++) p[i] = t + i;
    qsort_r(p, (size_t)cnt, sizeof *p, cmp_ngram, &n);
    int d = 1;
    for (int i = 1; i < cnt; i++) d += memcmp(p[i], p[i - 1], (size_t)n * sizeof(int)) != 0;
    free(p);
    if (repeats) *repeats = cnt - d;
    return d;
}

// The longest span that occurs twice (overlap allowed): the longest common suffix of two
// different prefixes, by dynamic programming over pairs (texts are short).
static int longest_repeat(const int *t, int len) {
    int *prev = xcalloc((size_t)len + 1, sizeof *prev), *cur = xcalloc((size_t)len + 1, sizeof *cur), best = 0;
    for (int i = 1; i <= len; i++) {
        for (int j = 1; j <= len; j++) {
            cur[j] = (j < i && t[i - 1] == t[j - 1]) ? prev[j - 1] + 1 : 0;
            if (cur[j] > best) best = cur[j];
        }
        int *s = prev;
        prev = cur, cur = s;
    }
    free(prev), free(cur);
    return best;
}

void eval_repetition(const int *const *texts, const int *lens, int n, rep_stats *r) {
    memset(r, 0, sizeof *r);
    int n4 = 0, n2 = 0, n1 = 0;
    for (int i = 0; i < n; i++) {
        const int *t = texts[i];
        int len = lens[i];
        if (len >= 4) {
            int rep;
            distinct(t, len, 4, &rep);
            r->rep4 += (double)rep / (len - 3);
            n4++;
        }
        if (len >= 2) r->distinct2 += (double)distinct(t, len, 2, NULL) / (len - 1), n2++;
        if (len >= 1) r->distinct1 += (double)distinct(t, len, 1, NULL) / len, n1++;
        int lr = longest_repeat(t, len);
        r->longest += lr;
        if (lr > r->longest_max) r->longest_max = lr;
    }
    r->n_texts = n;
    if (n4) r->rep4 /= n4;
    if (n2) r->distinct2 /= n2;
    if (n1) r->distinct1 /= n1;
    if (n) r->longest /= n;
}

int eval_collapsed(const rep_stats *model, const rep_stats *original) {
    return model->rep4 > original->rep4 + REP_COLLAPSE_MARGIN && model->rep4 > REP_COLLAPSE_RATIO * original->rep4;
}
