// examples/perplexity.c: load a model through libshrink, continue a prompt, and measure
// its perplexity on a text file.
//   cc perplexity.c $(pkg-config --cflags --libs shrink) -o perplexity
//   ./perplexity models/mini data/heldout.txt
#include <shrink.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL TEXT_FILE\n", argv[0]);
        return 2;
    }
    shrink_error err;
    shrink_model *m = NULL;
    if (shrink_model_load(argv[1], &m, &err)) {
        fprintf(stderr, "error: %s\n", err.message);
        return 1;
    }
    shrink_model_info info;
    shrink_model_get_info(m, &info, NULL);
    printf("shrink %s: %s, %zu parameters, %d layers\n", shrink_version(), argv[1], info.n_params, info.n_layer);

    const char *prompt = "The history of the city";
    char text[4096];
    size_t len = 0;
    shrink_sampling s = shrink_sampling_defaults();
    s.n_new = 32;
    if (shrink_generate(m, prompt, 23, &s, text, sizeof text, &len, &err) == 0)
        printf("%s%.*s\n", prompt, (int)(len < sizeof text ? len : sizeof text), text);

    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        fprintf(stderr, "error: cannot open %s\n", argv[2]);
        shrink_model_free(m);
        return 1;
    }
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    shrink_perplexity p;
    int rc = shrink_eval_perplexity(m, buf, n, 0, 0, &p, &err);
    if (rc) fprintf(stderr, "error: %s\n", err.message);
    else printf("perplexity %.3f over %ld tokens (%.4f bits per byte)\n", p.ppl, p.tokens, p.bpb);
    free(buf);
    shrink_model_free(m);
    return rc ? 1 : 0;
}
