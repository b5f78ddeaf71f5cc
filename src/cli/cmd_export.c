// cmd_export.c: `shrink export`: a Hugging Face directory as a GGUF file in
// llama.cpp's gpt2 layout, F32 or F16, with the tokenizer when the source has one: the
// options read into shrink_export (src/api/api_compress.c).
#include "cli.h"
#include "args.h"
#include "shrink.h"
#include "../core/progress.h"
#include <string.h>

int cmd_export(int argc, char **argv) {
    const char *model = NULL, *type = "f16", *out = NULL;
    int threads = 0, no_tok = 0;
    arg_spec specs[] = {
        {"model", 'm', ARG_STR, &model, "DIR", "Hugging Face GPT-2 directory (its vocab.json/merges.txt are embedded)", 0, 0, 1},
        {"type", 0, ARG_STR, &type, "T", "f32 or f16 (matrices; 1-D tensors stay f32, as llama.cpp's converter)", 0, 0, 0},
        {"output", 'o', ARG_STR, &out, "FILE", "GGUF file to write (atomically)", 0, 0, 1},
        {"threads", 't', ARG_INT, &threads, "N", "threads (0 = all cores)", 0, 1024, 0},
        {"no-tokenizer", 0, ARG_FLAG, &no_tok, NULL, "write the GGUF without a tokenizer when DIR has no vocab.json/merges.txt "
                                                    "(llama.cpp then cannot run it)", 0, 0, 0},
    };
    int rc = args_parse("export",
                        "export -m DIR --type f32|f16 -o FILE.gguf\n"
                        "Cost, measured on 2 cores (bench/scale.md): F16 at GPT-2-large's size 9 s, at GPT-2-XL's 19 s "
                        "(peak 6.0 GB: the fp32 model and one converted tensor at a time).",
                        specs,
                        (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    cli_set_threads(threads);
    shrink_error e;
    if (shrink_export(model, out, type, no_tok, progress_to_stderr, NULL, &e)) {
        fprintf(stderr, "shrink: error: %s\n", e.message);
        return 1;
    }
    fprintf(stderr, "wrote %s (%s)\n", out, strcmp(type, "f16") == 0 ? "F16" : "F32");
    return 0;
}
