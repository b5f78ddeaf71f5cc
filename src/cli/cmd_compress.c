// cmd_compress.c: `shrink compress`: store a model's weight matrices in ggml block
// formats, in a GGUF file llama.cpp runs: per-tensor types from a type or preset
// (plus overrides) or from a bits-per-weight target, by one of the methods in
// compress/compress.h, calibrated on text. With --prune or --lowrank (and --recover) it is
// the whole pipeline in one command: structured pruning or compression layers to a parameter
// budget, distillation from the original, then quantization, as `shrink prune` (or `shrink
// lowrank --target-params --method all`), `shrink train --teacher` and `compress` would do
// one after the other.
#include "cli.h"
#include "args.h"
#include "../compress/compress.h"
#include "../compress/plan.h"
#include "../lowrank/lowrank.h"
#include "../prune/prune.h"
#include "../train/train.h"
#include <stdlib.h>
#include "../core/err.h"
#include "../core/hash.h"
#include "../core/fileio.h"
#include "../core/timer.h"
#include "../core/xalloc.h"
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_CALIB_TOKENS 32768

// Calibrating on the text the demo and report evaluate on would make their held-out
// numbers flattering: say so when the bytes are the bundled data/heldout.txt's.
static void warn_if_eval_text(const char *calib) {
    char *held = cli_data_path("heldout.txt"), *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    if (file_read_all(calib, &a, &la) == 0 && file_read_all(held, &b, &lb) == 0 && la == lb && fnv1a64(a, la) == fnv1a64(b, lb))
        fprintf(stderr, "shrink: warning: the calibration text %s is the evaluation text %s: perplexity on it will not be "
                        "held-out\n", calib, held);
    err_clear();
    free(a), free(b), free(held);
}

// The pipeline's --recover progress: about twenty lines, with the KL to the original and an ETA.
static void recover_line(void *user, int step, int steps, double kl, double secs) {
    const recover_opts *r = user;
    int every = steps / 20 > 0 ? steps / 20 : 1;
    if (step % every && step != steps && step != 1) return;
    double left = secs / step * (steps - step);
    fprintf(stderr, "recover: step %d/%d | KL to the original %.4f | %.0f tok/s | %.0f s elapsed | ETA %.0f s\n", step,
            steps, kl, (double)step * r->batch * r->ctx / secs, secs, left);
}

// --prune / --lowrank: *m (the original) becomes the smaller model (prune --target-params
// with prune's defaults, or lowrank --target-params with every method a candidate); with
// ids, then distilled from the original on them.
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
    fprintf(stderr, "%s%s: %zu -> %zu parameters (-%.1f%%) in %.1f s\n", notes, lowrank ? "lowrank" : "prune",
            gpt2_param_count(&m->cfg), gpt2_param_count(&small.cfg),
            100.0 * (1.0 - (double)gpt2_param_count(&small.cfg) / (double)gpt2_param_count(&m->cfg)), timer_now() - t0);
    if (ids) {
        if (!r->ctx) r->ctx = small.cfg.n_ctx;
        fprintf(stderr, "recover: distilling from the original on %llu of %zu tokens (batch %d x %d, lr %g)\n", r->tokens,
                n_ids, r->batch, r->ctx, r->lr);
        recover_result res;
        rc = train_recover(&small, m, ids, n_ids, r, recover_line, r, &res);
        if (!rc && res.evals)
            fprintf(stderr, "recover: kept step %d of %d: KL to the original %.6f on %d held-out tokens (before training "
                            "%.6f, last step %.6f)\n", res.best_step, res.steps, res.kl_best, res.val_tokens, res.kl_first,
                    res.kl_last);
    }
    if (!small.source && m->source) small.source = xstrdup(m->source);  // the GGUF's general.name stays the model's
    gpt2_model_free(m);
    *m = small;
    return rc;
}

int cmd_compress(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *type = NULL, *method = "rtn", *overrides = NULL, *calib = NULL, *bpw = NULL;
    const char *prune = NULL, *lowrank = NULL, *recover = NULL;
    int threads = 0, calib_tokens = DEFAULT_CALIB_TOKENS, act_order = 0, verbose = 0, no_tok = 0, multiple = 256;
    recover_opts ro = recover_defaults();
    float damp = 0.01f;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "Hugging Face GPT-2 directory (fp32/f16/bf16 weights)", 0, 0, 1},
        {"output", 'o', ARG_STR, &out, "FILE", "GGUF file to write (atomically)", 0, 0, 1},
        {"type", 0, ARG_STR, &type, "TYPE",
         "a type (f16, q8_0, q6_k, q5_k, q5_0, q5_1, q4_k, q4_0, q4_1, q3_k, q2_k) or a preset "
         "(Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K); or give --target-bpw", 0, 0, 0},
        {"method", 0, ARG_STR, &method, "M",
         "rtn: round to nearest, ggml's scale searches; imatrix: the same weighted by each input channel's "
         "mean square on the calibration text; gptq: GPTQ error compensation inside the block format; "
         "awq: activation-aware channel scaling folded into the LayerNorms, then imatrix rounding; awq+gptq", 0, 0, 0},
        {"tensor-type", 0, ARG_STR, &overrides, "LIST", "per-tensor overrides PATTERN=TYPE[,...], e.g. 'output=q8_0,blk.*.ffn_down=q6_k'", 0, 0, 0},
        {"target-bpw", 0, ARG_STR, &bpw, "X",
         "choose each matrix's type from its measured sensitivity so the stored matrices average X bits per weight "
         "(1.5-16), or as many as a preset's (e.g. Q2_K: the same size as llama.cpp's Q2_K, spent where it matters)", 0, 0, 0},
        {"calib", 0, ARG_STR, &calib, "FILE", "calibration text (default: the bundled data/calib.txt, training-side text); "
                                             "never the text you evaluate on", 0, 0, 0},
        {"calib-tokens", 0, ARG_INT, &calib_tokens, "N", "calibration tokens to use", 256, 1 << 26, 0},
        {"damp", 0, ARG_FLOAT, &damp, "D", "GPTQ dampening, fraction of the mean Hessian diagonal", 1e-6, 10, 0},
        {"act-order", 0, ARG_FLAG, &act_order, NULL, "GPTQ: round columns by decreasing activation energy", 0, 0, 0},
        {"verbose", 'v', ARG_FLAG, &verbose, NULL, "per-layer details", 0, 0, 0},
        {"no-tokenizer", 0, ARG_FLAG, &no_tok, NULL, "write the GGUF without a tokenizer when DIR has no vocab.json/merges.txt "
                                                    "(llama.cpp and shrink's eval/generate then cannot use it)", 0, 0, 0},
        {"prune", 0, ARG_STR, &prune, "N|X%",
         "first prune to at most N parameters (or X% of the model's), as `shrink prune --target-params` does", 0, 0, 0},
        {"lowrank", 0, ARG_STR, &lowrank, "N|X%",
         "or first replace linears by compression layers to at most N parameters (or X%), ranks, places and "
         "methods chosen by measured KL, as `shrink lowrank --target-params N --method all` does", 0, 0, 0},
        {"ffn-multiple", 0, ARG_INT, &multiple, "N", "--prune: kept MLP widths are a multiple of N (default 256: K-quant "
                                                     "blocks fit)", 1, 1 << 18, 0},
        {"recover", 0, ARG_STR, &recover, "FILES", "--prune/--lowrank: then distil the smaller model from the original on these "
                                                   "token or text files (comma separated), as `shrink train --teacher`", 0, 0, 0},
        {"recover-tokens", 0, ARG_U64, &ro.tokens, "N", "--recover: training tokens (default 2000000)", 1, 0, 0},
        {"recover-lr", 0, ARG_FLOAT, &ro.lr, "LR", "--recover: peak learning rate (default 1e-3)", 1e-9, 10, 0},
        {"recover-val-frac", 0, ARG_FLOAT, &ro.val_frac, "F",
         "--recover: hold out the last F of the tokens and keep the weights (the untrained ones included) with the "
         "least KL to the original on them (default 0.02; 0: train on all, keep the last)", 0, 0.5, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    int rc = args_parse("compress",
                        "compress -m DIR -o OUT.gguf (--type TYPE | --target-bpw X) [--method rtn|imatrix|gptq|awq|awq+gptq] "
                        "[--calib FILE] [--tensor-type LIST]\n"
                        "             [--prune N|X% | --lowrank N|X% [--recover FILES [--recover-tokens N]]]",
                        specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    int mth = compress_method_parse(method);
    if (mth < 0) {
        err_set(ERR_ARG, "compress: unknown --method '%s' (available: rtn, imatrix, gptq, awq, awq+gptq)", method);
        return cli_fail();
    }
    if (!type == !bpw) {
        err_set(ERR_ARG, "compress: give exactly one of --type and --target-bpw");
        return cli_fail();
    }
    if (gpt2_path_is_gguf(model)) {
        err_set(ERR_ARG, "compress: %s is a GGUF file; compress reads the original Hugging Face directory", model);
        return cli_fail();
    }
    if (prune && lowrank) {
        err_set(ERR_ARG, "compress: give one of --prune and --lowrank");
        return cli_fail();
    }
    if (recover && !prune && !lowrank) {
        err_set(ERR_ARG, "compress: --recover distils a pruned or factorized model from the original; give --prune or "
                         "--lowrank too");
        return cli_fail();
    }
    if (ro.tokens < 1 || ro.tokens > 1000000000000ull) {
        err_set(ERR_ARG, "compress: --recover-tokens %llu: give a number of training tokens from 1 to 10^12", ro.tokens);
        return cli_fail();
    }
    cli_set_threads(threads);
    compress_opts o = {type, overrides, (compress_method)mth, 0, NULL, calib_tokens, damp, act_order, verbose};
    char *calib_default = NULL;
    bpe *tok = NULL;
    int *ids = NULL;
    size_t n_ids = 0, target = 0;
    gpt2_model m;
    if (cli_load_model(model, &m)) return cli_fail();
    const char *reduce = prune ? prune : lowrank;
    if (reduce && (rc = cli_parse_target_params(reduce, gpt2_param_count(&m.cfg), prune ? "compress: --prune" : "compress: --lowrank",
                                                &target)))
        goto done;
    if (bpw && (rc = plan_parse_target_bpw(bpw, &m.cfg, "compress: --target-bpw", &o.target_bpw)) < 0) goto done;
    if (bpw && rc == 1) fprintf(stderr, "target-bpw %s: %.4f bits per weight (the preset's matrices)\n", bpw, o.target_bpw);
    rc = 0;
    if (compress_needs_calib(&o) || reduce) {
        o.calib_path = calib ? calib : (calib_default = cli_data_path("calib.txt"));
        if (!file_exists(o.calib_path)) {
            rc = err_set(ERR_IO, "%s: calibration text not found (give --calib FILE)", o.calib_path);
            goto done;
        }
        if ((rc = cli_load_tokenizer(model, &tok))) goto done;
        warn_if_eval_text(o.calib_path);
    }
    // Before any slow work: the tokenizer the GGUF carries, and an output that can be
    // written and is none of the inputs (the model's files, the tokenizer, the calibration text).
    const char *tok_dir = NULL;
    if (!tok && (rc = cli_output_tokenizer(model, no_tok, "compress", &tok, &tok_dir))) goto done;
    if (tok && !no_tok) tok_dir = model;
    file_note_input_path(o.calib_path);
    if ((rc = file_check_output(out))) goto done;
    if (recover && (rc = cli_load_ids(recover, tok, m.cfg.vocab_size, "compress: --recover", &ids, &n_ids))) goto done;
    double t0 = timer_now();
    if (reduce && (rc = reduce_and_recover(&m, tok, o.calib_path, calib_tokens, target, lowrank != NULL, multiple, ids, n_ids,
                                           &ro)))
        goto done;
    if (!compress_needs_calib(&o)) o.calib_path = NULL;  // rtn: the GGUF names no calibration text
    gpt2_plan plan = {0};
    char notes[8192];
    t0 = timer_now();
    if ((rc = compress_model(&m, tok, &o, &plan, notes, sizeof notes))) goto done;
    double secs = timer_now() - t0;
    if (notes[0]) fprintf(stderr, "%s", notes);
    rc = gpt2_gguf_save(&m, tok_dir, out, GPT2_GGUF_STORED);
    if (!rc) {
        // What went where, counted by type (the LM head is stored separately: llama.cpp wants output.weight).
        size_t count[32] = {0};
        for (int i = 0; i < plan.n; i++) count[plan.types[i]]++;
        struct stat st;
        long long bytes = stat(out, &st) == 0 ? (long long)st.st_size : -1;
        fprintf(stderr, "%s: %d matrices in %.1f s:", compress_method_name(o.method), plan.n, secs);
        for (int t = 0; t < 32; t++)
            if (count[t]) fprintf(stderr, " %s x%zu", qtype_get(t)->name, count[t]);
        fprintf(stderr, " (token_embd %s, output %s)%s%s\nwrote %s: %lld bytes, %.2f bits per parameter\n",
                qtype_get((int)plan.types[gpt2_mat_embd(&m.cfg)])->name, qtype_get((int)plan.types[gpt2_mat_head(&m.cfg)])->name,
                o.calib_path ? "; calibration " : "", o.calib_path ? o.calib_path : "", out, bytes,
                8.0 * (double)bytes / (double)gpt2_param_count(&m.cfg));
    }
    gpt2_plan_free(&plan);
done:
    free(ids);
    free(calib_default);
    bpe_free(tok);
    gpt2_model_free(&m);
    return rc ? cli_fail() : 0;
}
