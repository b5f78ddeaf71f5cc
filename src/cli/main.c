// main.c: the shrink command line: one binary, one table of subcommands.
#include "cli.h"
#include "../core/fileio.h"
#include "../core/progress.h"
#include "../core/version.h"
#include "../kernels/kernels.h"
#include <string.h>


typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand commands[] = {
    {"info", cmd_info, "architecture, parameter count, file size and dtypes of a model"},
    {"tokenize", cmd_tokenize, "text to GPT-2 token ids, or ids back to text (--decode)"},
    {"generate", cmd_generate, "continue a prompt (greedy or sampled), streaming the text"},
    {"eval", cmd_eval, "perplexity of a text file under a stated sliding-window protocol"},
    {"compress", cmd_compress, "quantize a model into a GGUF file llama.cpp runs (types, presets, overrides)"},
    {"prune", cmd_prune, "remove attention heads, MLP neurons and blocks chosen on calibration text; the matrices shrink"},
    {"lowrank", cmd_lowrank, "replace linears by low-rank factors (compression layers): SVD, ASVD or whitened, rank by KL"},
    {"export", cmd_export, "write a model as a GGUF file llama.cpp runs (f32 or f16)"},
    {"bench", cmd_bench, "prompt and generation speed (tokens/s), median of repeats"},
    {"sweep", cmd_sweep, "compress with every setting of a grid; Pareto frontier, plot, smallest model within a bound"},
    {"report", cmd_report, "measure an original and its compressed versions; write report.md, plots, report.json"},
    {"train", cmd_train, "train from a config or a checkpoint (AdamW, cosine schedule, distillation, resume)"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "shrink: make GPT-2 models smaller and faster, and measure what it costs\n\n"
               "usage: shrink COMMAND [options]   (shrink COMMAND --help for its options; shrink --version)\n\n"
               "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    // A command never replaces one of its own inputs, and an interrupted write leaves no
    // temp file behind (docs/reliability.md).
    file_protect_inputs();
    file_cleanup_on_signals();
    progress_set_sink(progress_to_stderr, NULL);  // long steps show how far they are, on a terminal
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        // Every kernel set this binary holds, and the one kernels_init picks here (SHRINK_KERNELS
        // and the CPU decide): the avx2/avx512 sets run only on CPUs that have them.
        const char *chosen = kernels_init();
        printf("shrink %s (commit %s)\n", SHRINK_VERSION, SHRINK_COMMIT);
        printf("kernels: %s on this machine; built: ref, generic, avx2, avx512 (VNNI integer dots)%s%s\n", chosen,
               kernels_have_avx2() ? "; this CPU runs avx2" : "; this CPU lacks AVX2",
               kernels_have_avx512() ? (kernels_have_avx512_vnni() ? ", avx512 with VNNI" : ", avx512 without VNNI") : "");
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "shrink: error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
