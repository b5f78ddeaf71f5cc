// plan.c: storage types per weight matrix from a type name or preset plus overrides.
//
// The presets assign what llama.cpp's llama-quantize (commit c392e50) assigns to a
// GPT-2 (read off its own files in ../shared/testdata/gguf): the fused attn_qkv gets
// one step more than the base type in the _M presets, ffn_down gets Q6_K in the layers
// llama.cpp's use_more_bits picks (the first and last eighth, and every third between),
// and the LM head (output) gets Q6_K below 6 bits.
#include "plan.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include <fnmatch.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *name;
    qtype embd, qkv, proj, up, down, down_more, head;
} preset;

static const preset presets[] = {
    {"Q8_0", QTYPE_Q8_0, QTYPE_Q8_0, QTYPE_Q8_0, QTYPE_Q8_0, QTYPE_Q8_0, QTYPE_Q8_0, QTYPE_Q8_0},
    {"Q6_K", QTYPE_Q6_K, QTYPE_Q6_K, QTYPE_Q6_K, QTYPE_Q6_K, QTYPE_Q6_K, QTYPE_Q6_K, QTYPE_Q6_K},
    {"Q5_K_M", QTYPE_Q5_K, QTYPE_Q6_K, QTYPE_Q5_K, QTYPE_Q5_K, QTYPE_Q5_K, QTYPE_Q6_K, QTYPE_Q6_K},
    {"Q4_K_M", QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q4_K, QTYPE_Q4_K, QTYPE_Q4_K, QTYPE_Q6_K, QTYPE_Q6_K},
    {"Q4_0", QTYPE_Q4_0, QTYPE_Q4_0, QTYPE_Q4_0, QTYPE_Q4_0, QTYPE_Q4_0, QTYPE_Q4_0, QTYPE_Q6_K},
    {"Q3_K_M", QTYPE_Q3_K, QTYPE_Q4_K, QTYPE_Q4_K, QTYPE_Q3_K, QTYPE_Q4_K, QTYPE_Q4_K, QTYPE_Q6_K},
    {"Q2_K", QTYPE_Q2_K, QTYPE_Q2_K, QTYPE_Q3_K, QTYPE_Q2_K, QTYPE_Q3_K, QTYPE_Q3_K, QTYPE_Q6_K},
};

// llama.cpp's use_more_bits(i, n)
static int more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// The type llama.cpp falls back to when t's block does not divide the rows.
static qtype fallback(qtype t) {
    switch (t) {
    case QTYPE_Q2_K:
    case QTYPE_Q3_K: return QTYPE_Q4_0;
    case QTYPE_Q4_K: return QTYPE_Q5_0;
    case QTYPE_Q5_K: return QTYPE_Q5_1;
    case QTYPE_Q6_K: return QTYPE_Q8_0;
    default: return QTYPE_F16;
    }
}

static void note(char *notes, size_t cap, const char *fmt, const char *a, const char *b, const char *c) {
    if (!notes) return;
    size_t n = strlen(notes);
    if (n + 1 < cap) snprintf(notes + n, cap - n, fmt, a, b, c);
}

static int name_matches(const char *pattern, const char *name) {
    char with[96];
    snprintf(with, sizeof with, "%s.weight", name);
    return fnmatch(pattern, name, 0) == 0 || fnmatch(pattern, with, 0) == 0;
}

int plan_build(gpt2_plan *p, const gpt2_config *c, const char *spec, const char *overrides, char *notes,
               size_t notes_cap) {
    int L = c->n_layer;
    if (notes && notes_cap) notes[0] = 0;
    const preset *pr = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcasecmp(spec, presets[i].name) == 0) pr = &presets[i];
    if (pr) {
        gpt2_plan_uniform(p, c, pr->embd);
        for (int i = 0; i < p->n; i++) {
            int l, k, f;
            gpt2_mat_locate(c, i, &l, &k, &f);
            if (l == L) continue;
            const qtype by_linear[GPT2_LINEARS] = {pr->qkv, pr->proj, pr->up, more_bits(l, L) ? pr->down_more : pr->down};
            p->types[i] = by_linear[k];  // both factors of a low-rank linear take its type
        }
        p->types[gpt2_mat_head(c)] = pr->head;
    } else {
        int t = qtype_parse(spec);
        if (t < 0 || t == QTYPE_Q8_K)
            return err_set(ERR_ARG, "compress: unknown --type '%s' (a type such as q8_0, q4_k, f16, or a preset: Q8_0, "
                                    "Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K)", spec);
        gpt2_plan_uniform(p, c, (qtype)t);
        // below 6 bits the LM head keeps Q6_K, as llama.cpp does
        if (t != QTYPE_F32 && t != QTYPE_F16 && t != QTYPE_Q8_0 && t != QTYPE_Q6_K) p->types[gpt2_mat_head(c)] = QTYPE_Q6_K;
    }
    return plan_apply_overrides(p, c, overrides, notes, notes_cap);
}

int plan_apply_overrides(gpt2_plan *p, const gpt2_config *c, const char *overrides, char *notes, size_t notes_cap) {
    // Overrides, in order: later ones win.
    const char *o = overrides;
    char name[64];
    while (o && *o) {
        const char *comma = strchr(o, ',');
        size_t len = comma ? (size_t)(comma - o) : strlen(o);
        char item[128];
        if (len >= sizeof item) len = sizeof item - 1;
        memcpy(item, o, len);
        item[len] = 0;
        o = comma ? comma + 1 : o + len;
        char *eq = strchr(item, '=');
        int t = eq ? qtype_parse(eq + 1) : -1;
        if (!eq || t < 0 || t == QTYPE_Q8_K) {
            gpt2_plan_free(p);
            return err_set(ERR_ARG, "compress: --tensor-type item '%s' is not PATTERN=TYPE with a known type", item);
        }
        *eq = 0;
        int hits = 0;
        for (int i = 0; i < p->n; i++) {
            gpt2_mat_name(c, i, name, sizeof name);
            if (name_matches(item, name)) p->types[i] = (qtype)t, hits++;
        }
        if (!hits) {
            gpt2_plan_free(p);
            return err_set(ERR_ARG, "compress: --tensor-type pattern '%s' matches no tensor (names: token_embd, output, "
                                    "blk.N.attn_qkv, blk.N.attn_output, blk.N.ffn_up, blk.N.ffn_down)", item);
        }
    }
    // Fallbacks for rows a block cannot divide (K-quants need multiples of 256).
    for (int i = 0; i < p->n; i++) {
        int rows, cols;
        gpt2_mat_dims(c, i, &rows, &cols);
        while (cols % qtype_get((int)p->types[i])->block) {
            gpt2_mat_name(c, i, name, sizeof name);
            qtype f = fallback(p->types[i]);
            note(notes, notes_cap, "%s: %s cannot hold its rows; using %s\n", name, qtype_get((int)p->types[i])->name,
                 qtype_get((int)f)->name);
            p->types[i] = f;
        }
    }
    return 0;
}

double plan_matrix_bpw(const gpt2_plan *p, const gpt2_config *c) {
    double bits = 0, weights = 0;
    for (int i = 0; i < p->n; i++) {
        int rows, cols;
        gpt2_mat_dims(c, i, &rows, &cols);
        bits += 8.0 * rows * (double)qtype_row_bytes(p->types[i], (size_t)cols);
        weights += (double)rows * cols;
    }
    return bits / weights;
}
int plan_parse_target_bpw(const char *s, const gpt2_config *c, const char *what, double *out) {
    char *end;
    double x = strtod(s, &end);
    if (end != s && *end == 0) {
        if (!(x >= 1.5 && x <= 16)) return err_set(ERR_ARG, "%s %g is outside 1.5-16", what, x);
        *out = x;
        return 0;
    }
    gpt2_plan p;
    if (plan_build(&p, c, s, NULL, NULL, 0)) {
        err_clear();  // plan_build's message is about --type
        return err_set(ERR_ARG, "%s '%s' is neither a number nor a preset (Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, "
                                "Q2_K)", what, s);
    }
    *out = plan_matrix_bpw(&p, c);
    gpt2_plan_free(&p);
    return 1;
}
