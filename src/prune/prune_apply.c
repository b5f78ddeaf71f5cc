// prune_apply.c: the smaller model a keep mask describes (see prune.h).
#include "prune.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include <stdlib.h>
#include <string.h>

void prune_mask_init(prune_mask *pm, const gpt2_config *c) {
    pm->n_layer = c->n_layer;
    pm->max_head = 0;
    for (int l = 0; l < c->n_layer; l++)
        if (gpt2_n_head(c, l) > pm->max_head) pm->max_head = gpt2_n_head(c, l);
    pm->max_ff = gpt2_max_ff(c);
    pm->layer = xmalloc((size_t)c->n_layer + 1);
    pm->head = xmalloc((size_t)c->n_layer * pm->max_head + 1);
    pm->ff = xmalloc((size_t)c->n_layer * pm->max_ff + 1);
    memset(pm->layer, 1, (size_t)c->n_layer);
    memset(pm->head, 1, (size_t)c->n_layer * pm->max_head);
    memset(pm->ff, 1, (size_t)c->n_layer * pm->max_ff);
}

void prune_mask_free(prune_mask *pm) {
    free(pm->layer), free(pm->head), free(pm->ff);
    memset(pm, 0, sizeof *pm);
}

// dst (nr, nc) = the rows `rows` (NULL: all nr) and columns `cols` (NULL: all nc) of src (.., src_cols).
static void take(float *dst, const float *src, int src_cols, const int *rows, int nr, const int *cols, int nc) {
    if (nr == 0 || nc == 0) return;  // an empty tensor has no storage
    for (int i = 0; i < nr; i++) {
        const float *s = src + (size_t)(rows ? rows[i] : i) * src_cols;
        float *d = dst + (size_t)i * nc;
        if (!cols) memcpy(d, s, (size_t)nc * sizeof *d);
        else
            for (int j = 0; j < nc; j++) d[j] = s[cols[j]];
    }
}

// dst = src restricted to the output rows `rows` and input columns `cols` (NULL: all);
// a low-rank linear loses rows of its second factor and columns of its first.
static void take_linear(gpt2_linear *dst, const gpt2_linear *src, const int *rows, const int *cols) {
    int out = dst->w2.rows ? dst->w2.rows : dst->w.rows, in = dst->w.cols;
    if (dst->w2.rows) {
        take((float *)dst->w.data, src->w.data, src->w.cols, NULL, dst->w.rows, cols, in);
        take((float *)dst->w2.data, src->w2.data, src->w2.cols, rows, out, NULL, dst->w2.cols);
    } else {
        take((float *)dst->w.data, src->w.data, src->w.cols, rows, out, cols, in);
    }
    for (int i = 0; i < out; i++) dst->bias[i] = src->bias[rows ? rows[i] : i];
}

int prune_apply(const gpt2_model *m, const prune_mask *pm, gpt2_model *out) {
    const gpt2_config *c = &m->cfg;
    memset(out, 0, sizeof *out);
    if (!gpt2_model_is_f32(m)) return err_set(ERR_ARG, "prune: the model's matrices must be fp32 (prune before quantizing)");
    if (pm->n_layer != c->n_layer) return err_set(ERR_ARG, "prune: the mask is for %d layers, the model has %d", pm->n_layer, c->n_layer);
    gpt2_config nc = *c;
    int L2 = 0, HS = c->head_dim, NH0 = c->n_embd / c->head_dim;
    for (int l = 0; l < c->n_layer; l++) {
        if (!pm->layer[l]) continue;
        int nh = 0, nf = 0;
        for (int h = 0; h < gpt2_n_head(c, l); h++) nh += pm->head[(size_t)l * pm->max_head + h] != 0;
        for (int j = 0; j < gpt2_n_ff(c, l); j++) nf += pm->ff[(size_t)l * pm->max_ff + j] != 0;
        nc.n_head_arr[L2] = nh;
        nc.n_ff_arr[L2] = nf;
        memcpy(nc.rank_arr[L2], c->rank_arr[l], sizeof c->rank_arr[l]);
        nc.src_layer[L2] = c->src_layer[l];
        L2++;
    }
    if (L2 == 0) return err_set(ERR_ARG, "prune: every layer would be dropped");
    for (int l = L2; l < GPT2_MAX_LAYERS; l++) {
        nc.n_head_arr[l] = nc.n_ff_arr[l] = nc.src_layer[l] = 0;
        memset(nc.rank_arr[l], 0, sizeof nc.rank_arr[l]);
    }
    nc.n_layer = L2;
    int rc = gpt2_config_validate(&nc, "prune");
    if (rc) return rc;
    gpt2_model_alloc(out, &nc);

    // Model-wide tensors unchanged.
    for (int id = 0; id < GPT2_T_COUNT; id++) {
        int64_t rows, cols;
        if (gpt2_tensors[id].per_layer || !gpt2_tensor_shape(c, id, 0, &rows, &cols)) continue;
        if (id == GPT2_T_OUTPUT && c->tied) continue;
        const void *src = gpt2_tensors[id].kind == GPT2_KIND_MATRIX ? gpt2_tensor_mat((gpt2_model *)m, id, 0)->data
                                                                     : *gpt2_tensor_vec((gpt2_model *)m, id, 0);
        void *dst = gpt2_tensors[id].kind == GPT2_KIND_MATRIX ? (void *)gpt2_tensor_mat(out, id, 0)->data
                                                               : *gpt2_tensor_vec(out, id, 0);
        memcpy(dst, src, (size_t)(rows * cols) * sizeof(float));
    }

    int W_max = gpt2_max_attn_width(c), F_max = gpt2_max_ff(c);
    int *qkv_rows = xmalloc((size_t)3 * W_max * sizeof(int) + 1), *att_cols = xmalloc((size_t)W_max * sizeof(int) + 1);
    int *ff = xmalloc((size_t)F_max * sizeof(int) + 1);
    uint8_t *removed = xcalloc((size_t)L2 * NH0, 1);
    int any_removed = 0;
    for (int l = 0, l2 = 0; l < c->n_layer; l++) {
        if (!pm->layer[l]) continue;
        const gpt2_layer *s = &m->layers[l];
        gpt2_layer *d = &out->layers[l2];
        int C = c->n_embd, W = gpt2_attn_width(c, l), nh = 0, nf = 0;
        memcpy(d->ln_1_w, s->ln_1_w, C * sizeof(float)), memcpy(d->ln_1_b, s->ln_1_b, C * sizeof(float));
        memcpy(d->ln_2_w, s->ln_2_w, C * sizeof(float)), memcpy(d->ln_2_b, s->ln_2_b, C * sizeof(float));
        // Heads: the i-th head now is the i-th original head not already removed.
        for (int h = 0, i = 0; h < NH0; h++) {
            int gone = m->removed_heads ? m->removed_heads[(size_t)l * NH0 + h] : h >= gpt2_n_head(c, l);
            if (!gone && !pm->head[(size_t)l * pm->max_head + i]) gone = 1, i++;
            else if (!gone) {
                for (int e = 0; e < HS; e++) att_cols[nh * HS + e] = i * HS + e;
                nh++, i++;
            }
            removed[(size_t)l2 * NH0 + h] = (uint8_t)gone;
            any_removed |= gone;
        }
        int W2 = nh * HS;
        for (int p = 0; p < 3; p++)
            for (int e = 0; e < W2; e++) qkv_rows[p * W2 + e] = p * W + att_cols[e];
        for (int j = 0; j < gpt2_n_ff(c, l); j++)
            if (pm->ff[(size_t)l * pm->max_ff + j]) ff[nf++] = j;
        take_linear(&d->lin[GPT2_LIN_QKV], &s->lin[GPT2_LIN_QKV], qkv_rows, NULL);
        take_linear(&d->lin[GPT2_LIN_OUT], &s->lin[GPT2_LIN_OUT], NULL, att_cols);
        take_linear(&d->lin[GPT2_LIN_UP], &s->lin[GPT2_LIN_UP], ff, NULL);
        take_linear(&d->lin[GPT2_LIN_DOWN], &s->lin[GPT2_LIN_DOWN], NULL, ff);
        l2++;
    }
    if (any_removed) out->removed_heads = removed;
    else free(removed);
    free(qkv_rows), free(att_cols), free(ff);
    return 0;
}
