// cmd_compress.c: `shrink compress`: its options, read into shrink_compress's (include/shrink.h,
// src/api/api_compress.c holds the work): store a model's weight matrices in ggml block formats,
// in a GGUF file llama.cpp runs, optionally after pruning or compression layers and recovery.
#include "cli.h"
#include "args.h"
#include "shrink.h"
#include "../compress/calib.h"
#include "../compress/compress.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/hash.h"
#include "../core/progress.h"
#include <stdlib.h>

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

static void to_stderr(const char *text, void *user) {
    (void)user;
    fputs(text, stderr);
}

int cmd_compress(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *type = NULL, *method = "rtn", *overrides = NULL, *calib = NULL, *bpw = NULL;
    const char *prune = NULL, *lowrank = NULL, *recover = NULL;
    int threads = 0, bpw_probes = 1, calib_tokens = DEFAULT_CALIB_TOKENS, act_order = 0, verbose = 0, no_tok = 0, multiple = 256;
    unsigned long long recover_tokens = 2000000;
    float damp = 0.01f, recover_lr = 1e-3f, recover_val_frac = 0.02f;
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
        {"bpw-probes", 0, ARG_INT, &bpw_probes, "N",
         "--target-bpw: probe the KL of N candidate types per matrix, those nearest the target, and scale "
         "the others' from them by their rounding error (the plan's scaled picks are probed after); "
         "6 probes every type (about 4x the time)", 1, 6, 0},
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
        {"recover-tokens", 0, ARG_U64, &recover_tokens, "N", "--recover: training tokens (default 2000000)", 1, 0, 0},
        {"recover-lr", 0, ARG_FLOAT, &recover_lr, "LR", "--recover: peak learning rate (default 1e-3)", 1e-9, 10, 0},
        {"recover-val-frac", 0, ARG_FLOAT, &recover_val_frac, "F",
         "--recover: hold out the last F of the tokens and keep the weights (the untrained ones included) with the "
         "least KL to the original on them (default 0.02; 0: train on all, keep the last)", 0, 0.5, 0},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
    };
    int rc = args_parse("compress",
                        "compress -m DIR -o OUT.gguf (--type TYPE | --target-bpw X) [--method rtn|imatrix|gptq|awq|awq+gptq] "
                        "[--calib FILE] [--tensor-type LIST]\n"
                        "             [--prune N|X% | --lowrank N|X% [--recover FILES [--recover-tokens N]]]\n"
                        "Cost, measured on 2 cores (bench/scale.md): Q4_K_M by rtn 13 s at GPT-2-medium's size, 20 s at "
                        "GPT-2-XL's (peak 6.9 GB); by gptq with the default 32768 calibration tokens 8 min and 38 min "
                        "(peak 8.1 GB); gptq's time grows with --calib-tokens. --target-bpw 4.5: 4 min at GPT-2-medium's size, "
                        "15 min at XL's (peak 6.7 GB; --bpw-probes 6: 15 min at medium's). awq: 20 min at GPT-2-medium's "
                        "size, 66 min at XL's (peak 8.1 GB).",
                        specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    if (recover_tokens < 1) {  // the API reads 0 as "the default"
        err_set(ERR_ARG, "compress: --recover-tokens %llu: give a number of training tokens from 1 to 10^12", recover_tokens);
        return cli_fail();
    }
    shrink_compress_opts o = shrink_compress_defaults();
    o.type = type, o.target_bpw = bpw, o.bpw_probes = bpw_probes, o.method = method, o.calib_tokens = calib_tokens;
    o.tensor_types = overrides;
    o.damp = damp, o.act_order = act_order, o.verbose = verbose, o.no_tokenizer = no_tok;
    o.prune = prune, o.lowrank = lowrank, o.ffn_multiple = multiple, o.recover = recover;
    o.recover_tokens = recover_tokens, o.recover_lr = recover_lr, o.recover_val_frac = recover_val_frac;
    o.progress = progress_to_stderr, o.log = to_stderr;
    // The bundled calibration text unless given; warned about when it is the evaluation text.
    char *calib_default = NULL;
    int mth = compress_method_parse(method);
    if (mth != METHOD_RTN || bpw || prune || lowrank) {
        o.calib_path = calib ? calib : (calib_default = cli_data_path("calib.txt"));
        if (file_exists(o.calib_path)) warn_if_eval_text(o.calib_path);
    }
    cli_set_threads(threads);
    shrink_error e;
    rc = shrink_compress(model, out, &o, NULL, &e);
    free(calib_default);
    if (rc) fprintf(stderr, "shrink: error: %s\n", e.message);
    return rc ? 1 : 0;
}
