// compress.c: the compression pipeline behind `shrink compress` (see compress.h):
// plan -> calibration -> AWQ scaling -> GPTQ or importance-weighted rounding -> storage.
#include "compress.h"
#include "awq.h"
#include "bpw_alloc.h"
#include "calib.h"
#include "gptq.h"
#include "plan.h"
#include "../core/msg.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/hash.h"
#include "../core/progress.h"
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

// GPTQ of one matrix (fp32 source W, not modified) into a new buffer; NULL for types
// without levels (F32/F16) and empty matrices, which are then stored the ordinary way.
static void *gptq_matrix(qtype t, const float *W, int rows, int cols, const act_stats *st, const compress_opts *o, int *rc) {
    if (!qlevels_bits(t) || rows == 0 || cols == 0) return NULL;  // nothing to round, or an empty matrix
    void *out = xmalloc((size_t)rows * qtype_row_bytes(t, (size_t)cols));
    gptq_opts go = {o->damp, o->act_order};
    *rc = gptq_quantize(t, W, rows, cols, st->H, &go, out);
    if (*rc) {
        free(out);
        return NULL;
    }
    return out;
}

// GPTQ block by block: each block's inputs come from the blocks before it already
// quantized (the calibration stream is advanced through the quantized block), so each
// block corrects for the error upstream. Within a block the matrices go in plan order
// with the statistics of one pass, as GPTQ's sequential mode per block. The LM head last,
// from the quantized stack.
static int gptq_model(gpt2_model *m, const gpt2_plan *plan, const calib_set *cs, const compress_opts *o, void **enc) {
    const gpt2_config *c = &m->cfg;
    int L = c->n_layer, n = gpt2_n_mats(c), head = n - 1, rc = 0;
    act_stats *st = xcalloc((size_t)n, sizeof *st);
    wmat *saved = xmalloc((size_t)n * sizeof *saved);
    for (int i = 0; i < n; i++) saved[i] = *gpt2_mat(m, i);
    calib_stream stream;
    calib_stream_init(&stream, m, cs);
    double t_start = timer_now();
    for (int l = 0; l < L && !rc; l++) {
        double t0 = timer_now();
        int i0 = gpt2_mat_index(c, l, 0, 0), i1 = gpt2_mat_index(c, l + 1, 0, 0);  // this block's matrices
        for (int i = i0; i < i1; i++) act_stats_init(&st[i], gpt2_mat(m, i)->cols, 1);
        char label[96];
        progress_block_label(label, sizeof label, "gptq", l, L, t_start);
        calib_run_block(m, cs, &stream, st, 0, label);
        double t1 = timer_now();
        for (int i = i0; i < i1 && !rc; i++) {
            const wmat *v = gpt2_mat(m, i);
            enc[i] = gptq_matrix(plan->types[i], v->data, v->rows, v->cols, &st[i], o, &rc);
            act_stats_free(&st[i]);
        }
        for (int i = i0; i < i1; i++)
            if (enc[i]) *gpt2_mat(m, i) = (wmat){plan->types[i], saved[i].rows, saved[i].cols, enc[i]};
        double t2 = timer_now();
        calib_run_block(m, cs, &stream, NULL, 1, NULL);  // through the quantized block
        if (o->verbose)
            msg("gptq: block %d done in %.1f s (inputs and H %.1f s, GPTQ %.1f s, quantized block %.1f s)\n", l,
                    timer_now() - t0, t1 - t0, t2 - t1, timer_now() - t2);
    }
    if (!rc) {
        act_stats_init(&st[head], c->n_embd, 1);
        calib_run_block(m, cs, &stream, st, 0, "gptq: output inputs");
        enc[head] = gptq_matrix(plan->types[head], saved[head].data, c->vocab_size, c->n_embd, &st[head], o, &rc);
        act_stats_free(&st[head]);
    }
    calib_stream_free(&stream);
    for (int i = 0; i < n; i++) *gpt2_mat(m, i) = saved[i];  // quantize reads the fp32 matrices
    free(saved);
    free(st);
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

static void quantize_tick(int done, int total, void *t0) { progress_note("quantize: k weights", done, total, *(double *)t0); }

int compress_model_calibrated(gpt2_model *m, const calib_set *cs, const compress_opts *o, gpt2_plan *plan, char *notes,
                              size_t notes_cap) {
    const gpt2_config *c = &m->cfg;
    int n = gpt2_n_mats(c), rc = 0;
    memset(plan, 0, sizeof *plan);
    if (notes && notes_cap) notes[0] = 0;
    if (!gpt2_model_is_f32(m)) return err_set(ERR_ARG, "compress: the model is already quantized; start from its fp32 original");
    if (compress_needs_calib(o) && (!cs || cs->n_windows < 1)) return err_set(ERR_ARG, "compress: this method needs calibration text");
    if (o->target_bpw > 0) rc = bpw_allocate(m, cs, o->target_bpw, o->overrides, plan, notes, notes_cap, o->bpw_probes ? o->bpw_probes : BPW_DEFAULT_PROBES,
                                             o->verbose);
    else rc = plan_build(plan, c, o->type, o->overrides, notes, notes_cap);
    if (rc) return rc;
    unsigned char *weighted = NULL;  // awq: per matrix, 1 = importance-weighted rounding
    if (o->method == METHOD_AWQ || o->method == METHOD_AWQ_GPTQ) {
        weighted = xcalloc((size_t)n, 1);
        awq_apply(m, plan, cs, o->verbose, weighted);
    }
    void **enc = xcalloc((size_t)n, sizeof *enc);
    float **imp = NULL;
    if (o->method == METHOD_GPTQ || o->method == METHOD_AWQ_GPTQ) rc = gptq_model(m, plan, cs, o, enc);
    else if (o->method != METHOD_RTN) imp = calib_importance(m, cs, "importance");
    for (int i = 0; imp && weighted && i < n; i++)
        if (!weighted[i]) free(imp[i]), imp[i] = NULL;
    double t0 = timer_now();
    if (!rc) rc = gpt2_model_quantize_progress(m, plan, (const float *const *)imp, (const void *const *)enc, quantize_tick, &t0);
    if (!rc) {
        free(m->quant_method);
        m->quant_method = xstrdup(compress_method_name(o->method));
    }
    for (int i = 0; i < n; i++) {
        free(enc[i]);
        if (imp) free(imp[i]);
    }
    free(enc), free(imp), free(weighted);
    if (rc) gpt2_plan_free(plan);
    return rc;
}
