// common.c: helpers shared by the subcommands (loading, input, JSON output).
#include "cli.h"
#include "../dist/dist.h"
#include "../core/err.h"
#include "../core/fileio.h"
#include "../core/parallel.h"
#include "../core/xalloc.h"
#include "../formats/json.h"
#include "../kernels/kernels.h"
#include "../train/train.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_fail(void) {
    fprintf(stderr, "shrink: error: %s\n", err_msg()[0] ? err_msg() : "unknown error");
    return 1;
}

int cli_dist_end(int rc) {
    if (rc) {
        cli_fail();
        dist_abort(1);  // the other processes would wait for this one forever
        return 1;
    }
    dist_finalize();
    return 0;
}

int cli_load_model(const char *path, gpt2_model *m) {
    kernels_init();
    return gpt2_load(m, path);
}

int cli_has_tokenizer_files(const char *dir) {
    char *vocab = path_join(dir, "vocab.json"), *merges = path_join(dir, "merges.txt");
    int have = file_exists(vocab) && file_exists(merges);
    free(vocab), free(merges);
    return have;
}

int cli_load_tokenizer(const char *dir, bpe **tok) { return gpt2_load_tokenizer(dir, 1, tok); }

char *cli_repo_path(const char *rel) {
    // Next to the binary (./shrink), one level up (build/shrink), in an installed tree's
    // share/shrink (PREFIX/bin/shrink), then the working directory.
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        const char *up[] = {".", "..", "../share/shrink"};
        for (int i = 0; i < 3; i++) {
            char *dir = path_join(exe, up[i]), *p = path_join(dir, rel);
            free(dir);
            if (file_exists(p)) return p;
            free(p);
        }
    }
    return xstrdup(rel);
}

char *cli_data_path(const char *name) {
    char *rel = path_join("data", name), *p = cli_repo_path(rel);
    free(rel);
    return p;
}

char *cli_parent_dir(const char *dir) {
    char *p = xstrdup(dir);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    char *slash = strrchr(p, '/');
    if (!slash) {
        free(p);
        return xstrdup(".");
    }
    if (slash == p) slash[1] = 0;
    else *slash = 0;
    return p;
}

void cli_set_threads(int threads) {
    if (threads > 0) par_set_threads(threads);
}

int cli_read_input(const char *path, char **data, size_t *len) {
    if (path && strcmp(path, "-") != 0) return file_read_all(path, data, len);
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += got;
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

void cli_json_string(FILE *f, const char *s, size_t len) {
    sbuf b;
    sbuf_init(&b);
    json_put_string(&b, s, len);
    fputs(sbuf_str(&b), f);
    sbuf_free(&b);
}

static const char *const hf_files[] = {"config.json", "model.safetensors", "vocab.json", "merges.txt"};

int cli_check_hf_output(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0) return 0;  // made when saved
    if (!S_ISDIR(st.st_mode)) return err_set(ERR_ARG, "%s: exists and is not a directory", dir);
    int rc = 0;
    for (size_t i = 0; i < sizeof hf_files / sizeof hf_files[0] && !rc; i++) {
        char *p = path_join(dir, hf_files[i]);
        rc = file_check_output(p);
        free(p);
    }
    return rc;
}

int cli_save_hf_dir(const gpt2_model *m, const char *dir, const char *tok) {
    const char *const *files = hf_files;
    const size_t n_files = sizeof hf_files / sizeof hf_files[0];
    if (cli_check_hf_output(dir)) return err_code();
    char *parent = cli_parent_dir(dir);
    int rc = dir_make_all(parent);
    char *tmp = path_join(parent, ".shrink-save.XXXXXX");
    if (!rc && !mkdtemp(tmp)) rc = err_set(ERR_IO, "%s: cannot create a temp directory: %s", parent, strerror(errno));
    int made = rc == 0;
    if (!rc) rc = gpt2_hf_save(m, tmp, tok, 0);
    struct stat st;
    if (!rc && stat(dir, &st) != 0) {
        if (rename(tmp, dir) != 0) rc = err_set(ERR_IO, "%s: cannot move the saved model into place: %s", dir, strerror(errno));
        else made = 0;
    } else if (!rc) {
        for (size_t i = 0; i < n_files && !rc; i++) {
            char *src = path_join(tmp, files[i]), *dst = path_join(dir, files[i]);
            if (file_exists(src) && rename(src, dst) != 0)
                rc = err_set(ERR_IO, "%s: cannot move into place: %s", dst, strerror(errno));
            free(src), free(dst);
        }
    }
    if (made) {  // what is left of the temp directory (all of it after a failure)
        for (size_t i = 0; i < n_files; i++) {
            char *p = path_join(tmp, files[i]);
            unlink(p);
            free(p);
        }
        rmdir(tmp);
    }
    free(tmp), free(parent);
    return rc;
}
