// lowrank.c: where compression layers go, at what rank, and the factorized model (see lowrank.h).
#include "lowrank.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include "../prune/prune.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const lin_names[GPT2_LINEARS] = {"attn_qkv", "attn_output", "ffn_up", "ffn_down"};

lowrank_opts lowrank_defaults(void) {
    lowrank_opts o = {.method = LOWRANK_SVD, .rank_multiple = 32, .damp = 0.01f};
    memset(o.linears, 1, sizeof o.linears);
    return o;
}

int lowrank_parse_linears(const char *s, uint8_t linears[GPT2_LINEARS]) {
    static const struct { const char *name; uint8_t set[GPT2_LINEARS]; } names[] = {
        {"attn_qkv", {1, 0, 0, 0}}, {"qkv", {1, 0, 0, 0}}, {"attn_output", {0, 1, 0, 0}}, {"out", {0, 1, 0, 0}},
        {"ffn_up", {0, 0, 1, 0}}, {"up", {0, 0, 1, 0}}, {"ffn_down", {0, 0, 0, 1}}, {"down", {0, 0, 0, 1}},
        {"attn", {1, 1, 0, 0}}, {"mlp", {0, 0, 1, 1}}, {"all", {1, 1, 1, 1}},
    };
    memset(linears, 0, GPT2_LINEARS);
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = 0;
        for (size_t i = 0; i < sizeof names / sizeof *names && !found; i++)
            if (strlen(names[i].name) == n && !strncmp(p, names[i].name, n)) {
                for (int k = 0; k < GPT2_LINEARS; k++) linears[k] |= names[i].set[k];
                found = 1;
            }
        if (!found)
            return err_set(ERR_ARG, "lowrank: --linears '%s': '%.*s' is not attn_qkv, attn_output, ffn_up, ffn_down "
                                    "(or qkv, out, up, down, attn, mlp, all)", s, (int)n, p);
        p += n + (p[n] == ',');
    }
    for (int k = 0; k < GPT2_LINEARS; k++)
        if (linears[k]) return 0;
    return err_set(ERR_ARG, "lowrank: --linears '%s' names no matrix", s);
}

int lowrank_parse_layers(const char *s, int L, uint8_t *keep) {
    memset(keep, 0, (size_t)L);
    if (!strcmp(s, "all")) {
        memset(keep, 1, (size_t)L);
        return 0;
    }
    const char *where[] = {"first:", "middle:", "last:"};
    for (int w = 0; w < 3; w++) {
        size_t n = strlen(where[w]);
        if (strncmp(s, where[w], n)) continue;
        char *end;
        long k = strtol(s + n, &end, 10);
        if (end == s + n || *end || k < 1 || k > L)
            return err_set(ERR_ARG, "lowrank: --layers '%s': K must be in 1..%d (the model's layers)", s, L);
        long first = w == 0 ? 0 : w == 2 ? L - k : (L - k) / 2;
        for (long l = first; l < first + k; l++) keep[l] = 1;
        return 0;
    }
    const char *p = s;
    for (;;) {
        char *end;
        long l = strtol(p, &end, 10);
        if (end == p || (*end && *end != ','))
            return err_set(ERR_ARG, "lowrank: --layers '%s': expected all, first:K, middle:K, last:K or block indices", s);
        if (l < 0 || l >= L) return err_set(ERR_ARG, "lowrank: --layers: block %ld is not in 0..%d", l, L - 1);
        keep[l] = 1;
        if (!*end) return 0;
        p = end + 1;
    }
}

static int placed(const lowrank_opts *o, const gpt2_config *c, int l, int k) {
    int out, in;
    gpt2_linear_dims(c, l, k, &out, &in);
    return o->linears[k] && (!o->layers || o->layers[l]) && out > 0 && in > 0;
}

void lowrank_build(const gpt2_model *m, const int (*rank)[GPT2_LINEARS], float *const *A, float *const *B,
                   gpt2_model *out) {
    static const int ids_a[GPT2_LINEARS] = {GPT2_T_QKV_A, GPT2_T_OUT_A, GPT2_T_UP_A, GPT2_T_DOWN_A};
    static const int ids_b[GPT2_LINEARS] = {GPT2_T_QKV_B, GPT2_T_OUT_B, GPT2_T_UP_B, GPT2_T_DOWN_B};
    CHECK(gpt2_model_is_f32(m));
    static gpt2_config nc;  // large (per-layer arrays): not on the stack
    nc = m->cfg;
    for (int l = 0; l < nc.n_layer; l++)
        for (int k = 0; k < GPT2_LINEARS; k++)
            if (rank[l][k]) nc.rank_arr[l][k] = rank[l][k];
    gpt2_model_alloc(out, &nc);
    gpt2_model *src = (gpt2_model *)m;  // the accessors take a mutable model; nothing is written
    for (int id = 0; id < GPT2_T_COUNT; id++) {
        const gpt2_tensor_info *ti = &gpt2_tensors[id];
        for (int l = 0; l < (ti->per_layer ? nc.n_layer : 1); l++) {
            int64_t rows, cols;
            if (!gpt2_tensor_shape(&nc, id, l, &rows, &cols) || rows * cols == 0) continue;
            if (id == GPT2_T_OUTPUT && nc.tied) continue;
            size_t bytes = (size_t)(rows * cols) * sizeof(float);
            void *dst = ti->kind == GPT2_KIND_MATRIX ? (void *)gpt2_tensor_mat(out, id, l)->data : *gpt2_tensor_vec(out, id, l);
            int k = -1, is_b = 0;
            for (int q = 0; q < GPT2_LINEARS; q++)
                if (id == ids_a[q] || id == ids_b[q]) k = q, is_b = id == ids_b[q];
            if (k >= 0 && rank[l][k]) memcpy(dst, is_b ? B[l * GPT2_LINEARS + k] : A[l * GPT2_LINEARS + k], bytes);
            else
                memcpy(dst, ti->kind == GPT2_KIND_MATRIX ? gpt2_tensor_mat(src, id, l)->data : *gpt2_tensor_vec(src, id, l), bytes);
        }
    }
    if (m->removed_heads) {
        size_t n = (size_t)nc.n_layer * (nc.n_embd / nc.head_dim);
        out->removed_heads = xmalloc(n);
        memcpy(out->removed_heads, m->removed_heads, n);
    }
    if (m->source) out->source = xstrdup(m->source);
}

// A fixed rank for (l, k) from --rank or --ratio, checked; 0 with --energy or --target-params.
static int fixed_rank(const lowrank_opts *o, const gpt2_config *c, int l, int k, int *r) {
    int out, in;
    gpt2_linear_dims(c, l, k, &out, &in);
    int n = out < in ? out : in;
    *r = 0;
    if (o->rank > 0) *r = o->rank;
    else if (o->ratio > 0) {
        *r = (int)lround(o->ratio * n / o->rank_multiple) * o->rank_multiple;
        if (*r < o->rank_multiple) *r = o->rank_multiple;
    } else return 0;
    const char *opt = o->rank > 0 ? "--rank" : "--ratio";
    if (*r >= n)
        return err_set(ERR_ARG, "lowrank: %s: rank %d is not below blk.%d.%s's smaller dimension (%d x %d): nothing to "
                                "factorize", opt, *r, l, lin_names[k], out, in);
    if (*r >= lowrank_break_even(out, in) && !o->force)
        return err_set(ERR_ARG, "lowrank: %s: rank %d saves nothing on blk.%d.%s (%d x %d): factors hold %ld parameters, "
                                "the matrix %ld; ranks below %.0f save (--force to factorize anyway)", opt, *r, l,
                       lin_names[k], out, in, lowrank_params(out, in, *r), (long)out * in, ceil(lowrank_break_even(out, in)));
    return 0;
}

static int check_opts(const lowrank_opts *o, const gpt2_model *m, const calib_set *cs) {
    const gpt2_config *c = &m->cfg;
    int modes = (o->rank > 0) + (o->ratio > 0) + (o->energy > 0) + (o->target_params > 0);
    if (modes != 1) return err_set(ERR_ARG, "lowrank: give exactly one of --rank, --ratio, --energy and --target-params");
    if (o->ratio > 0 && !(o->ratio < 1)) return err_set(ERR_ARG, "lowrank: --ratio %g: a fraction below 1", o->ratio);
    if (o->energy > 0 && !(o->energy < 1)) return err_set(ERR_ARG, "lowrank: --energy %g: a fraction below 1", o->energy);
    if (o->rank_multiple < 1) return err_set(ERR_ARG, "lowrank: --rank-multiple %d: must be positive", o->rank_multiple);
    if (o->all_methods && !o->target_params)
        return err_set(ERR_ARG, "lowrank: --method all (every method a candidate) needs --target-params");
    if (!gpt2_model_is_f32(m)) return err_set(ERR_ARG, "lowrank: the model's matrices must be fp32 (factorize before quantizing)");
    int any = 0;
    for (int l = 0; l < c->n_layer; l++)
        for (int k = 0; k < GPT2_LINEARS; k++) {
            if (!placed(o, c, l, k)) continue;
            if (gpt2_rank(c, l, k))
                return err_set(ERR_ARG, "lowrank: blk.%d.%s is factorized already (rank %d)", l, lin_names[k], gpt2_rank(c, l, k));
            int r;
            int rc = fixed_rank(o, c, l, k, &r);
            if (rc) return rc;
            any = 1;
        }
    if (!any) return err_set(ERR_ARG, "lowrank: --linears and --layers place no matrix (the layers named have none)");
    int needs_stats = o->target_params || o->all_methods || o->method != LOWRANK_SVD;
    if (needs_stats && (!cs || cs->n_windows == 0))
        return err_set(ERR_ARG, "lowrank: %s needs calibration text", o->target_params ? "--target-params" : lowrank_method_name(o->method));
    return 0;
}

int lowrank_model(const gpt2_model *m, const calib_set *cs, const lowrank_opts *o, gpt2_model *out, char *notes,
                  size_t notes_cap) {
    const gpt2_config *c = &m->cfg;
    int L = c->n_layer, rc;
    memset(out, 0, sizeof *out);
    if (notes_cap) notes[0] = 0;
    if ((rc = check_opts(o, m, cs))) return rc;
    int (*rank)[GPT2_LINEARS] = xcalloc((size_t)L, sizeof *rank);
    int (*method)[GPT2_LINEARS] = xcalloc((size_t)L, sizeof *method);
    for (int l = 0; l < L; l++)
        for (int k = 0; k < GPT2_LINEARS; k++) {
            method[l][k] = o->method;
            if (placed(o, c, l, k)) fixed_rank(o, c, l, k, &rank[l][k]);
        }
    if (o->target_params) rc = lowrank_allocate(m, cs, o, rank, method, notes, notes_cap);
    float **A = xcalloc((size_t)L * GPT2_LINEARS, sizeof *A), **B = xcalloc((size_t)L * GPT2_LINEARS, sizeof *B);
    int nm = gpt2_n_mats(c);
    act_stats *stats = xcalloc((size_t)nm, sizeof *stats);
    calib_stream st = {0};
    int have_stream = cs && cs->n_windows > 0;
    if (have_stream) calib_stream_init(&st, m, cs);
    for (int l = 0; l < L && !rc; l++) {
        // This block's statistics, for the methods that weight by them (the original model's inputs).
        int want = 0;
        for (int k = 0; k < GPT2_LINEARS; k++) {
            if (!placed(o, c, l, k) || (!rank[l][k] && !o->energy) || (method[l][k] == LOWRANK_SVD)) continue;
            int i = gpt2_mat_index(c, l, k, 0), out_, in;
            gpt2_linear_dims(c, l, k, &out_, &in);
            act_stats_init(&stats[i], in, method[l][k] == LOWRANK_WHITEN);
            want = 1;
        }
        if (have_stream) calib_run_block(m, cs, &st, want ? stats : NULL, 1, "lowrank: statistics");
        for (int k = 0; k < GPT2_LINEARS && !rc; k++) {
            if (!placed(o, c, l, k) || (!rank[l][k] && !o->energy)) continue;
            int i = gpt2_mat_index(c, l, k, 0), rows, cols;
            gpt2_linear_dims(c, l, k, &rows, &cols);
            lowrank_basis b;
            const float *W = m->layers[l].lin[k].w.data;
            if ((rc = lowrank_basis_init(&b, W, rows, cols, (lowrank_method)method[l][k], &stats[i], o->damp))) break;
            int r = rank[l][k];
            if (o->energy) {
                while (r < b.n && lowrank_basis_energy(&b, r) < o->energy) r++;
                r = (r + o->rank_multiple - 1) / o->rank_multiple * o->rank_multiple;
                if (r >= b.n || (r >= lowrank_break_even(rows, cols) && !o->force)) {
                    prune_note(notes, notes_cap, "blk.%d.%s: --energy %g needs rank %d of %d, which saves nothing: kept dense\n",
                               l, lin_names[k], o->energy, r, b.n);
                    lowrank_basis_free(&b);
                    continue;
                }
                rank[l][k] = r;
            }
            A[l * GPT2_LINEARS + k] = xmalloc((size_t)r * cols * sizeof(float));
            B[l * GPT2_LINEARS + k] = xmalloc((size_t)rows * r * sizeof(float));
            lowrank_basis_factors(&b, r, A[l * GPT2_LINEARS + k], B[l * GPT2_LINEARS + k]);
            prune_note(notes, notes_cap, "blk.%d.%s: %d x %d -> rank %d (%s, %.1f%% of the weighted energy), %ld -> %ld parameters\n",
                       l, lin_names[k], rows, cols, r, lowrank_method_name((lowrank_method)method[l][k]),
                       100 * lowrank_basis_energy(&b, r), (long)rows * cols, lowrank_params(rows, cols, r));
            lowrank_basis_free(&b);
        }
        for (int k = 0; k < GPT2_LINEARS; k++) act_stats_free(&stats[gpt2_mat_index(c, l, k, 0)]);
    }
    if (have_stream) calib_stream_free(&st);
    if (!rc) lowrank_build(m, (const int(*)[GPT2_LINEARS])rank, A, B, out);
    for (int i = 0; i < L * GPT2_LINEARS; i++) free(A[i]), free(B[i]);
    free(A), free(B), free(stats), free(rank), free(method);
    return rc;
}
