// cmd_export.c: `shrink export`: a model (HF directory or GGUF) as a GGUF file in
// llama.cpp's gpt2 layout, F32 or F16, with the tokenizer when the source has one.
#include "cli.h"
#include "args.h"
#include "../core/err.h"
#include "../core/fileio.h"
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
    int rc = args_parse("export", "export -m DIR --type f32|f16 -o FILE.gguf", specs,
                        (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (rc) return rc > 0 ? 0 : cli_fail();
    int f16 = strcmp(type, "f16") == 0;
    if (!f16 && strcmp(type, "f32") != 0) {
        err_set(ERR_ARG, "export: --type must be f32 or f16, got '%s'", type);
        return cli_fail();
    }
    if (gpt2_path_is_gguf(model)) {
        err_set(ERR_ARG, "export: %s is already a GGUF file; export reads a Hugging Face directory", model);
        return cli_fail();
    }
    cli_set_threads(threads);
    gpt2_model m;
    if (cli_load_model(model, &m)) return cli_fail();
    bpe *tok = NULL;
    const char *tok_dir = NULL;
    rc = cli_output_tokenizer(model, no_tok, "export", &tok, &tok_dir);
    if (!rc) rc = file_check_output(out);
    if (!rc) rc = gpt2_gguf_save(&m, tok_dir, out, f16);
    bpe_free(tok);
    gpt2_model_free(&m);
    if (rc) return cli_fail();
    fprintf(stderr, "wrote %s (%s)\n", out, f16 ? "F16" : "F32");
    return 0;
}
