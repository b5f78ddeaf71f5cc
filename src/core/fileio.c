// fileio.c: whole-file reads, read-only mmaps, atomic temp-file-and-rename writes.
#include "fileio.h"
#include "err.h"
#include "xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_all(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return err_set(ERR_IO, "%s: read error", path);
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int file_map_open(file_map *m, const char *path) {
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return err_set(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return err_set(ERR_IO, "%s: cannot mmap: %s", path, strerror(errno));
        }
        m->data = p;
        m->len = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

void file_map_close(file_map *m) {
    if (m->data) munmap(m->data, m->len);
    m->data = NULL;
    m->len = 0;
}

int atomic_file_open(atomic_file *a, const char *path) {
    a->path = xstrdup(path);
    size_t n = strlen(path) + 5;
    a->tmp_path = xmalloc(n);
    snprintf(a->tmp_path, n, "%s.tmp", path);
    a->f = fopen(a->tmp_path, "wb");
    if (!a->f) {
        int e = err_set(ERR_IO, "%s: cannot create: %s", a->tmp_path, strerror(errno));
        free(a->path);
        free(a->tmp_path);
        a->path = a->tmp_path = NULL;
        return e;
    }
    return 0;
}

int atomic_file_commit(atomic_file *a) {
    int rc = 0;
    if (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0 || ferror(a->f))
        rc = err_set(ERR_IO, "%s: write failed: %s", a->tmp_path, strerror(errno));
    if (fclose(a->f) != 0 && rc == 0) rc = err_set(ERR_IO, "%s: close failed", a->tmp_path);
    a->f = NULL;
    if (rc == 0 && rename(a->tmp_path, a->path) != 0)
        rc = err_set(ERR_IO, "%s: cannot rename into place: %s", a->path, strerror(errno));
    if (rc != 0) unlink(a->tmp_path);
    free(a->path);
    free(a->tmp_path);
    a->path = a->tmp_path = NULL;
    return rc;
}

void atomic_file_abort(atomic_file *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp_path) unlink(a->tmp_path);
    free(a->path);
    free(a->tmp_path);
    a->path = a->tmp_path = NULL;
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *path_model_name(const char *path, size_t spare) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    size_t len = n - b;
    if (len > 5 && memcmp(path + n - 5, ".gguf", 5) == 0) len -= 5;
    char *s = xmalloc(len + 1 + spare);
    memcpy(s, path + b, len);
    s[len] = 0;
    return s;
}

int dir_check_creatable(const char *dir, const char *what) {
    // every existing prefix must be a directory; the first missing one (and the rest) can be created
    char *p = xstrdup(dir);
    size_t n = strlen(p);
    int rc = 0;
    for (size_t i = 1; i <= n && !rc; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        struct stat st;
        if (stat(p, &st) != 0) {
            if (errno != ENOENT) rc = err_set(ERR_IO, "%s: %s (the %s directory is %s)", p, strerror(errno), what, dir);
            p[i] = c;
            break;
        }
        if (!S_ISDIR(st.st_mode)) rc = err_set(ERR_IO, "%s: not a directory (the %s directory is %s)", p, what, dir);
        p[i] = c;
    }
    free(p);
    return rc;
}

int dir_make_all(const char *dir) {
    char *p = xstrdup(dir);
    size_t n = strlen(p);
    int rc = 0;
    for (size_t i = 1; i <= n && !rc; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = err_set(ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
        p[i] = c;
    }
    free(p);
    return rc;
}
