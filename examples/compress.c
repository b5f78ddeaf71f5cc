// examples/compress.c: compress a model through libshrink and compare it with the original.
//   cc compress.c $(pkg-config --cflags --libs shrink) -o compress
//   ./compress models/mini data/calib.txt data/heldout.txt /tmp/mini-Q4_K_M.gguf
#include <shrink.h>
#include <stdio.h>
#include <stdlib.h>

static void progress(const char *step, int done, int total, double elapsed, double eta, void *user) {
    (void)user, (void)elapsed;
    if (done == total) fprintf(stderr, "%s: %d/%d (ETA %.0f s)\n", step, done, total, eta);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL_DIR CALIB_TEXT EVAL_TEXT OUT.gguf\n", argv[0]);
        return 2;
    }
    shrink_error err;
    shrink_compress_opts o = shrink_compress_defaults();  // Q4_K_M
    o.method = "gptq", o.calib_path = argv[2], o.calib_tokens = 8192, o.progress = progress;
    if (shrink_compress(argv[1], argv[4], &o, NULL, &err)) return fprintf(stderr, "error: %s\n", err.message), 1;

    shrink_model *orig = NULL, *small = NULL;
    if (shrink_model_load(argv[1], &orig, &err) || shrink_model_load(argv[4], &small, &err))
        return fprintf(stderr, "error: %s\n", err.message), 1;
    FILE *f = fopen(argv[3], "rb");
    if (!f) return fprintf(stderr, "error: cannot open %s\n", argv[3]), 1;
    char *text = malloc(1 << 20);
    size_t len = fread(text, 1, 1 << 20, f);
    fclose(f);
    shrink_agreement a;
    int rc = shrink_eval_agreement(small, orig, text, len, 0, 0, &a, &err);
    if (rc) fprintf(stderr, "error: %s\n", err.message);
    else
        printf("%s (shrink %s)\noriginal   perplexity %.3f\nQ4_K_M     perplexity %.3f (%+.2f%%), KL %.5f, top-1 %.1f%%\n",
               argv[4], shrink_version(), a.base.ppl, a.model.ppl, a.dppl_pct, a.kl_mean, 100 * a.top1);
    free(text);
    shrink_model_free(orig), shrink_model_free(small);
    return rc ? 1 : 0;
}
