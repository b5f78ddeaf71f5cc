// api_compress.c: shrink_compress and shrink_export (include/shrink.h), the work behind
// `shrink compress` and `shrink export`, which parse their options and call these.
// With prune or lowrank it is the whole pipeline: structured pruning or compression layers to
// a parameter budget, distillation from the original, then quantization, as `shrink prune`
// (or `shrink lowrank --target-params --method all`), `shrink train --teacher` and `compress`
// would do one after the other.
#include "api.h"
#include "../compress/bpw_alloc.h"
#include "../compress/calib.h"
#include "../compress/compress.h"
#include "../compress/plan.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/msg.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include "../kernels/kernels.h"
#include "../lowrank/lowrank.h"
#include "../modelfile/modelfile.h"
#include "../prune/prune.h"
#include "../train/train.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

shrink_compress_opts shrink_compress_defaults(void) {
    shrink_compress_opts o = {0};
    o.type = "Q4_K_M";
    o.method = "rtn";
    o.calib_tokens = 32768;
    o.damp = 0.01;
    o.ffn_multiple = 256;
    o.recover_val_frac = 0.02;
    return o;
}

// 1 if a and b name the same file (a link or another spelling included).
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// The words file_check_output uses for an output that is an input.
static int refuse(const char *out, const char *in) {
    if (strcmp(out, in) == 0)
        return err_set(ERR_ARG, "%s: is one of this command's inputs; refusing to replace it (choose another output)", out);
    return err_set(ERR_ARG, "%s: is the same file as the input %s; refusing to replace it (choose another output)", out, in);
}

// An output that can be written and replaces none of the inputs: the model's files, the
// calibration text, the recovery files.
static int check_output(const char *out, const char *dir, const char *calib, const char *recover) {
    static const char *inputs[] = {"model.safetensors", "config.json", "vocab.json", "merges.txt"};
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++) {
        char *p = path_join(dir, inputs[i]);
        if (same_file(out, p)) rc = refuse(out, p);
        free(p);
    }
    if (!rc && calib && same_file(out, calib)) rc = refuse(out, calib);
    if (!rc && recover) {
        char *copy = xstrdup(recover);
        for (char *save = NULL, *f = strtok_r(copy, ",", &save); f && !rc; f = strtok_r(NULL, ",", &save))
            if (*f && same_file(out, f)) rc = refuse(out, f);
        free(copy);
    }
    return rc ? rc : file_check_output(out);
}

// The pipeline's recovery progress: about twenty lines, with the KL to the original and an ETA.
static void recover_line(void *user, int step, int steps, double kl, double secs) {
    const recover_opts *r = user;
    int every = steps / 20 > 0 ? steps / 20 : 1;
    if (step % every && step != steps && step != 1) return;
    double left = secs / step * (steps - step);
    msg("recover: step %d/%d | KL to the original %.4f | %.0f tok/s | %.0f s elapsed | ETA %.0f s\n", step, steps, kl,
        (double)step * r->batch * r->ctx / secs, secs, left);
}

// prune / lowrank: *m (the original) becomes the smaller model (prune --target-params with
// prune's defaults, or lowrank --target-params with every method a candidate); with ids, then
// distilled from the original on them.
static int reduce_and_recover(gpt2_model *m, const bpe *tok, const char *calib_path, int calib_tokens, size_t target,
                              int lowrank, int multiple, const int *ids, size_t n_ids, recover_opts *r) {
    calib_set cs = {0};
    int ctx = m->cfg.n_ctx < 256 ? m->cfg.n_ctx : 256;
    int rc = calib_load(&cs, tok, calib_path, calib_tokens, ctx);
    gpt2_model small = {0};
    char notes[16384];
    double t0 = timer_now();
    if (!rc && lowrank) {
        lowrank_opts lo = lowrank_defaults();
        lo.target_params = target, lo.all_methods = 1;
        rc = lowrank_model(m, &cs, &lo, &small, notes, sizeof notes);
    } else if (!rc) {
        prune_opts po = prune_defaults();
        po.target_params = target, po.ffn_multiple = multiple;
        rc = prune_model(m, &cs, &po, &small, notes, sizeof notes);
    }
    calib_free(&cs);
    if (rc) return rc;
    msg("%s%s: %zu -> %zu parameters (-%.1f%%) in %.1f s\n", notes, lowrank ? "lowrank" : "prune", gpt2_param_count(&m->cfg),
        gpt2_param_count(&small.cfg), 100.0 * (1.0 - (double)gpt2_param_count(&small.cfg) / (double)gpt2_param_count(&m->cfg)),
        timer_now() - t0);
    if (ids) {
        if (!r->ctx) r->ctx = small.cfg.n_ctx;
        msg("recover: distilling from the original on %llu of %zu tokens (batch %d x %d, lr %g)\n", r->tokens, n_ids, r->batch,
            r->ctx, r->lr);
        recover_result res;
        rc = train_recover(&small, m, ids, n_ids, r, recover_line, r, &res);
        if (!rc && res.evals)
            msg("recover: kept step %d of %d: KL to the original %.6f on %d held-out tokens (before training %.6f, last step "
                "%.6f)\n", res.best_step, res.steps, res.kl_best, res.val_tokens, res.kl_first, res.kl_last);
    }
    if (!small.source && m->source) small.source = xstrdup(m->source);  // the GGUF's general.name stays the model's
    gpt2_model_free(m);
    *m = small;
    return rc;
}

// Options in the ranges `shrink compress` accepts; a zero asks for the default.
static int check_opts(const shrink_compress_opts *o, const char *dir, int *method) {
    if ((*method = compress_method_parse(o->method ? o->method : "rtn")) < 0)
        return err_set(ERR_ARG, "compress: unknown --method '%s' (available: rtn, imatrix, gptq, awq, awq+gptq)", o->method);
    if (!o->type == !o->target_bpw) return err_set(ERR_ARG, "compress: give exactly one of --type and --target-bpw");
    if (gpt2_path_is_gguf(dir))
        return err_set(ERR_ARG, "compress: %s is a GGUF file; compress reads the original Hugging Face directory", dir);
    if (o->prune && o->lowrank) return err_set(ERR_ARG, "compress: give one of --prune and --lowrank");
    if (o->recover && !o->prune && !o->lowrank)
        return err_set(ERR_ARG, "compress: --recover distils a pruned or factorized model from the original; give --prune or "
                                "--lowrank too");
    if (o->calib_tokens && (o->calib_tokens < 256 || o->calib_tokens > (1 << 26)))
        return err_set(ERR_ARG, "compress: --calib-tokens %ld is outside 256..%d", o->calib_tokens, 1 << 26);
    if (o->bpw_probes < 0 || o->bpw_probes > BPW_MAX_CAND)
        return err_set(ERR_ARG, "compress: --bpw-probes %d is outside 1..%d", o->bpw_probes, BPW_MAX_CAND);
    if (o->damp && !(o->damp >= 1e-6 && o->damp <= 10)) return err_set(ERR_ARG, "compress: --damp %g is outside 1e-6..10", o->damp);
    if (o->ffn_multiple < 0 || o->ffn_multiple > (1 << 18))
        return err_set(ERR_ARG, "compress: --ffn-multiple %d is outside 1..%d", o->ffn_multiple, 1 << 18);
    if (o->recover_tokens > 1000000000000ull)
        return err_set(ERR_ARG, "compress: --recover-tokens %llu: give a number of training tokens from 1 to 10^12",
                       o->recover_tokens);
    if (o->recover_lr && !(o->recover_lr >= 1e-9 && o->recover_lr <= 10))
        return err_set(ERR_ARG, "compress: --recover-lr %g is outside 1e-9..10", o->recover_lr);
    if (!(o->recover_val_frac >= 0 && o->recover_val_frac <= 0.5))
        return err_set(ERR_ARG, "compress: --recover-val-frac %g is outside 0..0.5", o->recover_val_frac);
    return 0;
}

// What went where, counted by type (the LM head is stored separately: llama.cpp wants output.weight).
static void summary(const gpt2_model *m, const gpt2_plan *plan, const compress_opts *co, const char *out, double secs,
                    shrink_compress_result *res) {
    size_t count[32] = {0};
    for (int i = 0; i < plan->n; i++) count[plan->types[i]]++;
    struct stat st;
    long long bytes = stat(out, &st) == 0 ? (long long)st.st_size : -1;
    size_t params = gpt2_param_count(&m->cfg);
    msg("%s: %d matrices in %.1f s:", compress_method_name(co->method), plan->n, secs);
    for (int t = 0; t < 32; t++)
        if (count[t]) msg(" %s x%zu", qtype_get(t)->name, count[t]);
    msg(" (token_embd %s, output %s)%s%s\nwrote %s: %lld bytes, %.2f bits per parameter\n",
        qtype_get((int)plan->types[gpt2_mat_embd(&m->cfg)])->name, qtype_get((int)plan->types[gpt2_mat_head(&m->cfg)])->name,
        co->calib_path ? "; calibration " : "", co->calib_path ? co->calib_path : "", out, bytes,
        8.0 * (double)bytes / (double)params);
    res->params_after = params, res->n_matrices = plan->n, res->bytes = bytes, res->seconds = secs;
    res->bits_per_param = 8.0 * (double)bytes / (double)params;
}

static int compress_run(const char *dir, const char *out, const shrink_compress_opts *o, shrink_compress_result *res) {
    int mth, rc = check_opts(o, dir, &mth);
    if (rc) return rc;
    // damp rounded to float, as --damp is read: the CLI's files, bit for bit
    compress_opts co = {o->type, o->tensor_types, (compress_method)mth, 0, NULL, o->calib_tokens ? o->calib_tokens : 32768,
                        (float)(o->damp ? o->damp : 0.01), o->act_order, o->verbose, o->bpw_probes};
    recover_opts ro = recover_defaults();
    if (o->recover_tokens) ro.tokens = o->recover_tokens;
    if (o->recover_lr) ro.lr = (float)o->recover_lr;
    ro.val_frac = (float)o->recover_val_frac;
    bpe *tok = NULL;
    int *ids = NULL;
    size_t n_ids = 0, target = 0;
    gpt2_model m;
    kernels_init();
    if ((rc = gpt2_hf_load(&m, dir))) return rc;
    res->params_before = gpt2_param_count(&m.cfg);
    const char *reduce = o->prune ? o->prune : o->lowrank;
    if (reduce && (rc = gpt2_parse_param_budget(reduce, gpt2_param_count(&m.cfg), o->prune ? "compress: --prune" : "compress: --lowrank",
                                                &target)))
        goto done;
    if (o->target_bpw && (rc = plan_parse_target_bpw(o->target_bpw, &m.cfg, "compress: --target-bpw", &co.target_bpw)) < 0) goto done;
    if (o->target_bpw && rc == 1) msg("target-bpw %s: %.4f bits per weight (the preset's matrices)\n", o->target_bpw, co.target_bpw);
    rc = 0;
    if (compress_needs_calib(&co) || reduce) {
        co.calib_path = o->calib_path;
        if (!co.calib_path) {
            rc = err_set(ERR_ARG, "compress: %s needs calibration text (--calib FILE)",
                         reduce ? (o->prune ? "--prune" : "--lowrank") : co.target_bpw > 0 ? "--target-bpw" : compress_method_name(co.method));
            goto done;
        }
        if (!file_exists(co.calib_path)) {
            rc = err_set(ERR_IO, "%s: calibration text not found (give --calib FILE)", co.calib_path);
            goto done;
        }
        if ((rc = gpt2_load_tokenizer(dir, 1, &tok))) goto done;
    }
    // Before any slow work: the tokenizer the GGUF carries, and an output that can be
    // written and is none of the inputs.
    const char *tok_dir = o->no_tokenizer ? NULL : dir;
    if (!tok && !o->no_tokenizer && (rc = gpt2_load_tokenizer(dir, 0, &tok))) goto done;
    if (!tok && !o->no_tokenizer) {
        rc = err_set(ERR_IO, "%s: no vocab.json and merges.txt here, so the GGUF would carry no tokenizer and neither "
                             "llama.cpp nor shrink's tokenize/generate/eval could use it; give compress --no-tokenizer to "
                             "write it anyway", dir);
        goto done;
    }
    file_note_input_path(co.calib_path);
    if ((rc = check_output(out, dir, co.calib_path, o->recover))) goto done;
    if (o->recover && (rc = token_ids_load(o->recover, tok, m.cfg.vocab_size, "compress: --recover", &ids, &n_ids))) goto done;
    if (reduce && (rc = reduce_and_recover(&m, tok, co.calib_path, (int)co.calib_tokens, target, o->lowrank != NULL,
                                           o->ffn_multiple ? o->ffn_multiple : 256, ids, n_ids, &ro)))
        goto done;
    if (!compress_needs_calib(&co)) co.calib_path = NULL;  // rtn: the GGUF names no calibration text
    gpt2_plan plan = {0};
    char notes[8192];
    double t0 = timer_now();
    if ((rc = compress_model(&m, tok, &co, &plan, notes, sizeof notes))) goto done;
    double secs = timer_now() - t0;
    if (notes[0]) msg("%s", notes);
    if (!(rc = gpt2_gguf_save(&m, tok_dir, out, GPT2_GGUF_STORED))) summary(&m, &plan, &co, out, secs, res);
    gpt2_plan_free(&plan);
done:
    free(ids);
    bpe_free(tok);
    gpt2_model_free(&m);
    return rc;
}

int shrink_compress(const char *dir, const char *out, const shrink_compress_opts *o, shrink_compress_result *res,
                    shrink_error *err) {
    err_clear();
    if (!dir || !out || !o) return api_finish(err_set(ERR_ARG, "shrink_compress: NULL argument"), err);
    shrink_compress_result r = {0};
    api_sink s = {.log = o->log, .progress = o->progress, .user = o->user};
    api_sink_begin(&s);
    int rc = compress_run(dir, out, o, &r);
    api_sink_end();
    if (res) *res = r;
    return api_finish(rc, err);
}

static int export_run(const char *dir, const char *out, const char *type, int no_tokenizer) {
    int f16 = strcmp(type, "f16") == 0;
    if (!f16 && strcmp(type, "f32") != 0) return err_set(ERR_ARG, "export: --type must be f32 or f16, got '%s'", type);
    if (gpt2_path_is_gguf(dir)) return err_set(ERR_ARG, "export: %s is already a GGUF file; export reads a Hugging Face directory", dir);
    kernels_init();
    gpt2_model m;
    int rc = gpt2_hf_load(&m, dir);
    if (rc) return rc;
    bpe *tok = NULL;
    if (!no_tokenizer && !(rc = gpt2_load_tokenizer(dir, 0, &tok)) && !tok)
        rc = err_set(ERR_IO, "%s: no vocab.json and merges.txt here, so the GGUF would carry no tokenizer and neither "
                             "llama.cpp nor shrink's tokenize/generate/eval could use it; give export --no-tokenizer to "
                             "write it anyway", dir);
    if (!rc) rc = check_output(out, dir, NULL, NULL);
    if (!rc) rc = gpt2_gguf_save(&m, no_tokenizer ? NULL : dir, out, f16);
    bpe_free(tok);
    gpt2_model_free(&m);
    return rc;
}

int shrink_export(const char *dir, const char *out, const char *type, int no_tokenizer, shrink_progress_fn progress, void *user,
                  shrink_error *err) {
    err_clear();
    if (!dir || !out || !type) return api_finish(err_set(ERR_ARG, "shrink_export: NULL argument"), err);
    api_sink s = {.progress = progress, .user = user};
    api_sink_begin(&s);
    int rc = export_run(dir, out, type, no_tokenizer);
    api_sink_end();
    return api_finish(rc, err);
}
