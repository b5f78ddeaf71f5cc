// fileio.c: whole-file reads, read-only mmaps, atomic temp-file-and-rename writes, the
// table of inputs an output may not replace, and temp-file cleanup on signals.
#include "fileio.h"
#include "err.h"
#include "xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// --- inputs read so far

typedef struct {
    dev_t dev;
    ino_t ino;
    char *path;  // for messages; the first name it was read under
} input_id;

static input_id *inputs;
static size_t n_inputs, cap_inputs;
static atomic_flag inputs_lock = ATOMIC_FLAG_INIT;

static int protect_inputs;  // set by file_protect_inputs: inputs are noted, outputs may not replace them

static void note_input(const struct stat *st, const char *path) {
    if (!protect_inputs || !S_ISREG(st->st_mode)) return;
    while (atomic_flag_test_and_set_explicit(&inputs_lock, memory_order_acquire)) {
    }
    int known = 0;
    for (size_t i = 0; i < n_inputs && !known; i++) known = inputs[i].dev == st->st_dev && inputs[i].ino == st->st_ino;
    if (!known) {
        if (n_inputs == cap_inputs) inputs = xrealloc(inputs, (cap_inputs = cap_inputs ? 2 * cap_inputs : 16) * sizeof *inputs);
        inputs[n_inputs++] = (input_id){st->st_dev, st->st_ino, xstrdup(path)};
    }
    atomic_flag_clear_explicit(&inputs_lock, memory_order_release);
}

// The name an input with st's identity was read under, or NULL.
static const char *input_named(const struct stat *st) {
    const char *hit = NULL;
    while (atomic_flag_test_and_set_explicit(&inputs_lock, memory_order_acquire)) {
    }
    for (size_t i = 0; i < n_inputs && !hit; i++)
        if (inputs[i].dev == st->st_dev && inputs[i].ino == st->st_ino) hit = inputs[i].path;
    atomic_flag_clear_explicit(&inputs_lock, memory_order_release);
    return hit;
}

void file_note_input_path(const char *path) {
    struct stat st;
    if (path && stat(path, &st) == 0) note_input(&st, path);
}

int file_read_max(const char *path, size_t max, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return err_set(ERR_IO, "%s: is a directory, not a file", path);
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        close(fd);
        return err_set(ERR_FORMAT, "%s: %lld bytes, more than the limit of %zu bytes for this file", path,
                       (long long)st.st_size, max);
    }
    note_input(&st, path);
    // A regular file's size is known (room for its NUL and for seeing the end); pipes and
    // devices grow the buffer as they go, never past max + 2 bytes.
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 2 : (size_t)1 << 16, n = 0;
    if (cap > max + 2) cap = max + 2;
    char *buf = xmalloc(cap);
    int rc = 0;
    for (;;) {
        if (n + 1 >= cap) {
            cap = cap > (max + 2) / 2 ? max + 2 : 2 * cap;
            buf = xrealloc(buf, cap);
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = err_set(ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        if (got == 0) break;
        n += (size_t)got;
        if (n > max) {
            rc = err_set(ERR_FORMAT, "%s: more than the limit of %zu bytes for this file", path, max);
            break;
        }
    }
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int file_read_all(const char *path, char **data, size_t *len) { return file_read_max(path, SIZE_MAX - 2, data, len); }

int file_map_open(file_map *m, const char *path) {
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(ERR_IO, "%s: not a regular file", path);
    }
    note_input(&st, path);
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return err_set(ERR_IO, "%s: cannot mmap: %s", path, strerror(errno));
        }
        m->data = p;
        m->len = (size_t)st.st_size;
        m->fd = fd;
        return 0;
    }
    close(fd);
    return 0;
}

int file_map_read(const file_map *m, const char *path, size_t off, size_t n, void *dst) {
    CHECK(off <= m->len && n <= m->len - off);
    for (size_t done = 0; done < n;) {
        ssize_t got = pread(m->fd, (char *)dst + done, n - done, (off_t)(off + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return err_set(ERR_IO, "%s: read failed: %s", path, strerror(errno));
        if (got == 0) return err_set(ERR_IO, "%s: the file is shorter than when it was opened (changed while reading?)", path);
        done += (size_t)got;
    }
    return 0;
}

int file_map_same(const file_map *a, const char *path_a, size_t off_a, const file_map *b, const char *path_b, size_t off_b,
                  size_t n, int *same) {
    enum { PIECE = 1 << 20 };
    char *x = xmalloc(2 * PIECE);
    int rc = 0;
    *same = 1;
    for (size_t off = 0; *same && !rc && off < n; off += PIECE) {
        size_t k = n - off < PIECE ? n - off : PIECE;
        rc = file_map_read(a, path_a, off_a + off, k, x);
        if (!rc) rc = file_map_read(b, path_b, off_b + off, k, x + PIECE);
        if (!rc) *same = memcmp(x, x + PIECE, k) == 0;
    }
    free(x);
    return rc;
}

void file_map_close(file_map *m) {
    if (m->data) munmap(m->data, m->len), close(m->fd);
    m->data = NULL;
    m->len = 0;
}

// --- temp files and their cleanup on signals

#define TMP_SLOTS 64
static char *_Atomic tmp_slots[TMP_SLOTS];  // temp files of the atomic writes in progress
static pid_t tmp_owner;                      // the process that registered them (not a forked child)

static int tmp_register(char *path) {
    tmp_owner = getpid();
    for (int i = 0; i < TMP_SLOTS; i++) {
        char *expect = NULL;
        if (atomic_compare_exchange_strong(&tmp_slots[i], &expect, path)) return i;
    }
    return -1;  // more writes in flight than slots: this one is not cleaned up on a signal
}

static void tmp_unregister(int slot) {
    if (slot >= 0) atomic_store(&tmp_slots[slot], NULL);
}

// The line on_signal prints: two buffers, so that one is always whole while the other is
// rewritten (file_signal_note runs in the main thread, the handler may interrupt it).
static char note_buf[2][1024];
static const char *_Atomic note_line;

void file_signal_note(const char *line) {
    static int next;
    if (!line) {
        atomic_store(&note_line, NULL);
        return;
    }
    snprintf(note_buf[next], sizeof note_buf[next], "%s\n", line);
    atomic_store(&note_line, note_buf[next]);
    next ^= 1;
}

static void on_signal(int sig) {
    const char *note = atomic_load(&note_line);
    if (note) {
        ssize_t w = write(2, note, strlen(note));  // write and strlen are async-signal-safe
        (void)w;
    }
    if (getpid() == tmp_owner)
        for (int i = 0; i < TMP_SLOTS; i++) {
            char *p = atomic_load(&tmp_slots[i]);
            if (p) unlink(p);  // async-signal-safe, as are getpid and raise
        }
    raise(sig);  // SA_RESETHAND restored the default action: the process ends by this signal
}

void file_cleanup_on_signals(void) {
    static int done;
    if (done) return;
    done = 1;
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN) continue;  // nohup, `&` in sh
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

// Creates a new file "path.XXXXXX.tmp" next to path (O_EXCL|O_NOFOLLOW: never an existing
// file or symlink). Returns the fd and sets *tmp (caller frees), or -1 with errno set.
static int tmp_create(const char *path, char **tmp) {
    static atomic_uint counter;
    // Keep the name within NAME_MAX: a very long final component is cut in the temp name.
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t dir_len = (size_t)(base - path), base_len = strlen(base);
    if (base_len > 200) base_len = 200;
    size_t n = dir_len + base_len + 16;
    char *p = xmalloc(n);
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned char r[6];
        if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ ((uint64_t)atomic_fetch_add(&counter, 1) << 20);
            for (int i = 0; i < 6; i++) r[i] = (unsigned char)(x >> (8 * i)), x *= 0x9E3779B97F4A7C15ull;
        }
        char suffix[7];
        for (int i = 0; i < 6; i++) suffix[i] = alnum[r[i] % (sizeof alnum - 1)];
        suffix[6] = 0;
        snprintf(p, n, "%.*s%.*s.%s.tmp", (int)dir_len, path, (int)base_len, base, suffix);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp = p;
            return fd;
        }
        if (errno != EEXIST) break;
    }
    int e = errno;
    free(p);
    errno = e;
    return -1;
}

void file_protect_inputs(void) { protect_inputs = 1; }

// A path that an output may not replace: a directory, or (check_inputs) one of the inputs.
static int check_replaceable(const char *path, int check_inputs) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;  // absent (or unreadable: creating it will say)
    if (S_ISDIR(st.st_mode)) return err_set(ERR_IO, "%s: is a directory; give the output a file name", path);
    const char *in = check_inputs ? input_named(&st) : NULL;
    if (in) {
        if (strcmp(in, path) == 0)
            return err_set(ERR_ARG, "%s: is one of this command's inputs; refusing to replace it (choose another output)", path);
        return err_set(ERR_ARG, "%s: is the same file as the input %s; refusing to replace it (choose another output)", path, in);
    }
    return 0;
}

// The directory part of path ("." for a bare name), as a new string.
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char *d = xmalloc(n + 1);
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

int file_check_output(const char *path) {
    if (!path || !*path) return err_set(ERR_ARG, "the output file name is empty");
    int rc = check_replaceable(path, protect_inputs);
    if (rc) return rc;
    char *tmp;
    int fd = tmp_create(path, &tmp);
    if (fd < 0) {
        char *dir = dir_of(path);
        rc = err_set(ERR_IO, "%s: cannot create a file in %s: %s", path, dir, strerror(errno));
        free(dir);
        return rc;
    }
    close(fd);
    unlink(tmp);
    free(tmp);
    return 0;
}

int atomic_file_open(atomic_file *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->slot = -1;
    int rc = check_replaceable(path, protect_inputs);
    if (rc) return rc;
    int fd = tmp_create(path, &a->tmp_path);
    if (fd < 0) {
        char *dir = dir_of(path);
        rc = err_set(ERR_IO, "%s: cannot create a file in %s: %s", path, dir, strerror(errno));
        free(dir);
        return rc;
    }
    a->slot = tmp_register(a->tmp_path);
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        rc = err_set(ERR_IO, "%s: %s", a->tmp_path, strerror(errno));
        close(fd);
        atomic_file_abort(a);
        return rc;
    }
    a->path = xstrdup(path);
    return 0;
}

// The test hook: wait until the file named by SHRINK_DEBUG_COMMIT_WAIT exists.
static void debug_commit_wait(const atomic_file *a) {
    const char *flag = getenv(FILE_DEBUG_COMMIT_WAIT);
    if (!flag || !*flag) return;
    fprintf(stderr, "shrink: debug: %s written to %s; waiting for %s before renaming\n", a->path, a->tmp_path, flag);
    struct timespec ts = {0, 10 * 1000 * 1000};
    while (access(flag, F_OK) != 0) nanosleep(&ts, NULL);
}

// fsync of the directory holding path, so the rename itself survives a crash. File systems
// that cannot sync a directory (EINVAL) are not an error.
static int sync_dir_of(const char *path) {
    char *dir = dir_of(path);
    int rc = 0, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
            rc = err_set(ERR_IO, "%s: cannot sync the directory after writing %s: %s", dir, path, strerror(errno));
        close(fd);
    }
    free(dir);
    return rc;
}

int atomic_file_commit(atomic_file *a) {
    int rc = 0;
    if (fflush(a->f) != 0 || ferror(a->f) || fsync(fileno(a->f)) != 0)
        rc = err_set(ERR_IO, "%s: write failed: %s", a->tmp_path, strerror(errno));
    if (fclose(a->f) != 0 && rc == 0) rc = err_set(ERR_IO, "%s: close failed: %s", a->tmp_path, strerror(errno));
    a->f = NULL;
    if (rc == 0) debug_commit_wait(a);
    if (rc == 0) rc = check_replaceable(a->path, protect_inputs);  // it may have changed meanwhile
    if (rc == 0 && rename(a->tmp_path, a->path) != 0)
        rc = err_set(ERR_IO, "%s: cannot rename into place: %s", a->path, strerror(errno));
    if (rc != 0) unlink(a->tmp_path);
    tmp_unregister(a->slot);
    if (rc == 0) rc = sync_dir_of(a->path);
    free(a->path);
    free(a->tmp_path);
    a->path = a->tmp_path = NULL;
    a->slot = -1;
    return rc;
}

void atomic_file_abort(atomic_file *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp_path) unlink(a->tmp_path);
    tmp_unregister(a->slot);
    free(a->path);
    free(a->tmp_path);
    a->path = a->tmp_path = NULL;
    a->slot = -1;
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
    // every existing prefix must be a directory; the first missing one (and the rest) can be
    // created, so the deepest existing one must accept new entries
    char *p = xstrdup(dir);
    size_t n = strlen(p);
    int rc = 0;
    char *deepest = xstrdup(dir[0] == '/' ? "/" : ".");
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
        else free(deepest), deepest = xstrdup(p);
        p[i] = c;
    }
    if (!rc) {
        char *probe = path_join(deepest, ".shrink-probe"), *tmp;
        int fd = tmp_create(probe, &tmp);
        if (fd < 0) {
            rc = err_set(ERR_IO, "%s: cannot create entries there: %s (the %s directory is %s)", deepest, strerror(errno),
                         what, dir);
        } else {
            close(fd);
            unlink(tmp);
            free(tmp);
        }
        free(probe);
    }
    free(deepest);
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
