// compress.c: the compression pipeline behind `shrink compress` (see compress.h):
// plan -> calibration -> AWQ scaling -> GPTQ or importance-weighted rounding -> storage.
#include "compress.h"
#include "awq.h"
#include "bpw_alloc.h"
#include "calib.h"
#include "gptq.h"
#include "plan.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/hash.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../kernels/qlevels.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *METHOD_NAMES[] = {"rtn", "imatrix", "gptq", "awq", "awq+gptq"};

int compress_method_parse(const char *s) {
    for (int i = 0; i < (int)(sizeof METHOD_NAMES / sizeof METHOD_NAMES[0]); i++)
        if (strcasecmp(s, METHOD_NAMES[i]) == 0) return i;
    return -1;
}

const char *compress_method_name(compress_method m) { return METHOD_NAMES[m]; }

// Per-column mean squares (llama.cpp's importance matrix) of every matrix's input from
// one pass over the calibration set, in plan order (mats, embd: none, head).
static float **importance_vectors(const gpt2_model *m, const calib_set *cs) {
    const gpt2_config *c = &m->cfg;
    int ns = calib_num_slots(c), n_mats = c->n_layer * GPT2_MATS_PER_LAYER;
    act_stats *st = xcalloc((size_t)ns, sizeof *st);
    for (int i = 0; i < n_mats; i++) act_stats_init(&st[i], m->mats[i].cols, 0);
    act_stats_init(&st[ns - 1], c->n_embd, 0);
    calib_collect(m, cs, st, 0, "importance");
    float **imp = xcalloc((size_t)n_mats + 2, sizeof *imp);
    for (int i = 0; i < ns; i++) {
        int slot = i < n_mats ? i : n_mats + 1;
        imp[slot] = xmalloc((size_t)st[i].cols * sizeof(float));
        for (int k = 0; k < st[i].cols; k++) imp[slot][k] = (float)(st[i].sumsq[k] / (double)(st[i].n ? st[i].n : 1));
        act_stats_free(&st[i]);
    }
    free(st);
    return imp;
}

// GPTQ of one matrix (fp32 source W, not modified) into a new buffer; NULL for types
// without levels (F32/F16), which are then stored the ordinary way.
static void *gptq_matrix(qtype t, const float *W, int rows, int cols, const act_stats *st, const compress_opts *o, int *rc) {
    if (!qlevels_bits(t)) return NULL;
    float *w = xmalloc((size_t)rows * cols * sizeof *w);
    memcpy(w, W, (size_t)rows * cols * sizeof *w);
    void *out = xmalloc((size_t)rows * qtype_row_bytes(t, (size_t)cols));
    gptq_opts go = {o->damp, o->act_order};
    *rc = gptq_quantize(t, w, rows, cols, st->H, &go, out);
    free(w);
    if (*rc) {
        free(out);
        return NULL;
    }
    return out;
}

// GPTQ block by block: each block's inputs come from the blocks before it already
// quantized (the calibration stream is advanced through the quantized block), so each
// block corrects for the error upstream. The LM head last, from the quantized stack.
static int gptq_model(gpt2_model *m, const gpt2_plan *plan, const calib_set *cs, const compress_opts *o, void **enc) {
    const gpt2_config *c = &m->cfg;
    int L = c->n_layer, ns = calib_num_slots(c), n_mats = L * GPT2_MATS_PER_LAYER, rc = 0;
    act_stats *st = xcalloc((size_t)ns, sizeof *st);
    calib_stream stream;
    calib_stream_init(&stream, m, cs);
    for (int l = 0; l < L && !rc; l++) {
        double t0 = timer_now();
        for (int k = 0; k < GPT2_MATS_PER_LAYER; k++) act_stats_init(&st[calib_slot(c, l, k)], m->mats[l * 4 + k].cols, 1);
        char label[64];
        snprintf(label, sizeof label, "gptq: block %d/%d inputs", l + 1, L);
        calib_run_block(m, cs, &stream, st, 0, label);
        for (int k = 0; k < GPT2_MATS_PER_LAYER && !rc; k++) {
            int i = l * GPT2_MATS_PER_LAYER + k;
            wmat *v = &m->mats[i];
            enc[i] = gptq_matrix(plan->mats[i], v->data, v->rows, v->cols, &st[i], o, &rc);
            act_stats_free(&st[i]);
        }
        for (int k = 0; k < GPT2_MATS_PER_LAYER; k++) {
            int i = l * GPT2_MATS_PER_LAYER + k;
            if (enc[i]) m->mats[i] = (wmat){plan->mats[i], m->mats[i].rows, m->mats[i].cols, enc[i]};
        }
        calib_run_block(m, cs, &stream, NULL, 1, NULL);  // through the quantized block
        if (o->verbose) fprintf(stderr, "gptq: block %d done in %.1f s\n", l, timer_now() - t0);
    }
    if (!rc) {
        act_stats_init(&st[ns - 1], c->n_embd, 1);
        calib_run_block(m, cs, &stream, st, 0, "gptq: output inputs");
        enc[n_mats + 1] = gptq_matrix(plan->head, m->lm_head, c->vocab_size, c->n_embd, &st[ns - 1], o, &rc);
        act_stats_free(&st[ns - 1]);
    }
    calib_stream_free(&stream);
    free(st);
    gpt2_model_set_f32_views(m);  // quantize_with reads the fp32 matrices
    return rc;
}

int compress_model(gpt2_model *m, const bpe *tok, const compress_opts *o, gpt2_plan *plan, char *notes, size_t notes_cap) {
    memset(plan, 0, sizeof *plan);
    calib_set cs = {0};
    if (compress_needs_calib(o)) {
        if (!o->calib_path) return err_set(ERR_ARG, "compress: no calibration text given");
        int ctx = m->cfg.n_ctx < 256 ? m->cfg.n_ctx : 256;
        int rc = calib_load(&cs, tok, o->calib_path, o->calib_tokens, ctx);
        if (rc) return rc;
    }
    int rc = compress_model_calibrated(m, &cs, o, plan, notes, notes_cap);
    if (!rc && compress_needs_calib(o)) {  // which text calibrated it, for eval's held-out check
        char *text = NULL;
        size_t len = 0;
        if (file_read_all(o->calib_path, &text, &len) == 0) {
            const char *slash = strrchr(o->calib_path, '/');
            m->calib_file = xstrdup(slash ? slash + 1 : o->calib_path);
            m->calib_fnv = fnv1a64(text, len);
            m->calib_tokens = (long)cs.n_windows * cs.ctx;
            free(text);
        }
    }
    calib_free(&cs);
    return rc;
}

int compress_model_calibrated(gpt2_model *m, const calib_set *cs, const compress_opts *o, gpt2_plan *plan, char *notes,
                              size_t notes_cap) {
    const gpt2_config *c = &m->cfg;
    int n_mats = c->n_layer * GPT2_MATS_PER_LAYER, rc = 0;
    memset(plan, 0, sizeof *plan);
    if (notes && notes_cap) notes[0] = 0;
    if (m->mat_store || !m->w.wte) return err_set(ERR_ARG, "compress: the model is already quantized; start from its fp32 original");
    if (compress_needs_calib(o) && (!cs || cs->n_windows < 1)) return err_set(ERR_ARG, "compress: this method needs calibration text");
    if (o->target_bpw > 0) rc = bpw_allocate(m, cs, o->target_bpw, o->overrides, plan, notes, notes_cap, o->verbose);
    else rc = plan_build(plan, c, o->type, o->overrides, notes, notes_cap);
    if (rc) return rc;
    unsigned char *weighted = NULL;  // awq: per matrix, 1 = importance-weighted rounding
    if (o->method == METHOD_AWQ || o->method == METHOD_AWQ_GPTQ) {
        weighted = xcalloc((size_t)n_mats + 2, 1);
        awq_apply(m, plan, cs, o->verbose, weighted);
    }
    void **enc = xcalloc((size_t)n_mats + 2, sizeof *enc);
    float **imp = NULL;
    if (o->method == METHOD_GPTQ || o->method == METHOD_AWQ_GPTQ) rc = gptq_model(m, plan, cs, o, enc);
    else if (o->method != METHOD_RTN) imp = importance_vectors(m, cs);
    for (int i = 0; imp && weighted && i < n_mats + 2; i++)
        if (!weighted[i]) free(imp[i]), imp[i] = NULL;
    if (!rc) rc = gpt2_model_quantize_with(m, plan, (const float *const *)imp, (const void *const *)enc);
    if (!rc) {
        free(m->quant_method);
        m->quant_method = xstrdup(compress_method_name(o->method));
    }
    for (int i = 0; i < n_mats + 2; i++) {
        free(enc[i]);
        if (imp) free(imp[i]);
    }
    free(enc), free(imp), free(weighted);
    if (rc) gpt2_plan_free(plan);
    return rc;
}
