// test_files.c: the guarantees about files (issue 12; docs/reliability.md), at the library
// level: atomic writes never touch a file or symlink named like their temp file (fault 3),
// two writers to one path each finish a whole file (fault 2, interleaved in one process),
// SIGINT/SIGTERM/SIGHUP remove the temp file of a write in progress (fault 9), outputs that
// are inputs or cannot be created are refused before any work (faults 4, 5), size limits
// and directories in file_read_max (fault 8, minor), and the string map behind faults 7/8.
// The command-line side is tests/cli_files.sh.
#include "core/err.h"
#include "core/fileio.h"
#include "core/strmap.h"
#include "core/xalloc.h"
#include "harness.h"
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root_dir[64];

static void group_done(const char *name, int failed_before) {
    if (harness_failed == failed_before) printf("%s ... ok\n", name);
    else printf("%s ... FAILED (%d)\n", name, harness_failed - failed_before);
}

// A fresh directory root/name (caller frees).
static char *fresh_dir(const char *name) {
    char *d = path_join(root_dir, name);
    CHECK(mkdir(d, 0755) == 0);
    return d;
}

static void put_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
}

static int file_is(const char *path, const char *text) {
    char *d;
    size_t n;
    if (file_read_all(path, &d, &n)) return 0;
    int same = n == strlen(text) && memcmp(d, text, n) == 0;
    free(d);
    return same;
}

// Entries of dir whose names end in ".tmp".
static int count_temps(const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        n += l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0;
    }
    closedir(d);
    return n;
}

static int write_text(const char *path, const char *text) {
    atomic_file a;
    int rc = atomic_file_open(&a, path);
    if (rc) return rc;
    fputs(text, a.f);
    return atomic_file_commit(&a);
}

// --- fault 3: the old temp name belongs to the user

static void test_temp_name_is_unique(void) {
    int f0 = harness_failed;
    char *d = fresh_dir("names");
    char *out = path_join(d, "out.gguf"), *old_tmp = path_join(d, "out.gguf.tmp"), *victim = path_join(d, "victim.txt"),
         *link = path_join(d, "link.gguf"), *link_tmp = path_join(d, "link.gguf.tmp");
    put_file(old_tmp, "my notes");
    put_file(victim, "victim");
    CHECK(symlink("victim.txt", link_tmp) == 0);
    err_clear();
    EXPECT(write_text(out, "new output") == 0, "write next to out.gguf.tmp: %s", err_msg());
    EXPECT(write_text(link, "new output") == 0, "write next to a symlink link.gguf.tmp: %s", err_msg());
    EXPECT(file_is(old_tmp, "my notes"), "the user's out.gguf.tmp changed");
    EXPECT(file_is(victim, "victim"), "the symlink's target changed");
    struct stat st;
    EXPECT(lstat(link_tmp, &st) == 0 && S_ISLNK(st.st_mode), "the symlink link.gguf.tmp is gone");
    EXPECT(lstat(link, &st) == 0 && S_ISREG(st.st_mode) && file_is(link, "new output"), "link.gguf is not the new file");
    EXPECT(file_is(out, "new output"), "out.gguf");
    EXPECT(count_temps(d) == 2, "temp files left: %d .tmp entries (the user's two expected)", count_temps(d));
    free(out), free(old_tmp), free(victim), free(link), free(link_tmp), free(d);
    group_done("fault 3: the temp name never meets an existing file or symlink", f0);
}

// --- fault 2: two writers to one path

static void test_two_writers(void) {
    int f0 = harness_failed;
    char *d = fresh_dir("race"), *out = path_join(d, "out.gguf");
    // A starts, B writes and commits while A is half-way, then A finishes: each is whole,
    // the last rename (A) wins.
    atomic_file a, b;
    err_clear();
    CHECK(atomic_file_open(&a, out) == 0);
    fputs("AAAA first half of A; ", a.f);
    fflush(a.f);
    CHECK(atomic_file_open(&b, out) == 0);
    fputs("BBBB the whole of B", b.f);
    EXPECT(atomic_file_commit(&b) == 0, "B's commit: %s", err_msg());
    EXPECT(file_is(out, "BBBB the whole of B"), "after B: not B's file");
    fputs("second half of A", a.f);
    EXPECT(atomic_file_commit(&a) == 0, "A's commit: %s", err_msg());
    EXPECT(file_is(out, "AAAA first half of A; second half of A"), "after A: not A's whole file");
    EXPECT(count_temps(d) == 0, "temp files left");
    // An aborted write leaves the old file and no temp file.
    CHECK(atomic_file_open(&a, out) == 0);
    fputs("discarded", a.f);
    atomic_file_abort(&a);
    EXPECT(file_is(out, "AAAA first half of A; second half of A") && count_temps(d) == 0, "abort changed something");
    free(out), free(d);
    group_done("fault 2: two writers to one path each finish a whole file", f0);
}

// --- fault 9: signals

static void test_signal_cleanup(void) {
    int f0 = harness_failed;
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    const char *names[] = {"SIGINT", "SIGTERM", "SIGHUP"};
    for (int i = 0; i < 3; i++) {
        char label[32];
        snprintf(label, sizeof label, "sig-%s", names[i]);
        char *d = fresh_dir(label), *out = path_join(d, "out.bin");
        int fd[2];
        CHECK(pipe(fd) == 0);
        fflush(stdout), fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            signal(sigs[i], SIG_DFL);
            file_cleanup_on_signals();
            atomic_file a;
            if (atomic_file_open(&a, out)) _exit(3);
            fputs("half-written", a.f);
            fflush(a.f);
            char c = 1;
            if (write(fd[1], &c, 1) != 1) _exit(4);  // the temp file exists now
            for (;;) pause();
        }
        close(fd[1]);
        char c;
        EXPECT(read(fd[0], &c, 1) == 1, "%s: the writer did not start", names[i]);
        close(fd[0]);
        EXPECT(count_temps(d) == 1, "%s: no temp file mid-write", names[i]);
        kill(pid, sigs[i]);
        int status;
        waitpid(pid, &status, 0);
        EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == sigs[i], "%s: the writer did not end by the signal", names[i]);
        EXPECT(count_temps(d) == 0, "%s: the temp file is left", names[i]);
        EXPECT(access(out, F_OK) != 0, "%s: an output appeared", names[i]);
        free(out), free(d);
    }
    group_done("fault 9: SIGINT, SIGTERM and SIGHUP remove the temp file", f0);
}

// --- faults 4 and 5: outputs checked before any work

static void test_output_checks(void) {
    int f0 = harness_failed;
    char *d = fresh_dir("outputs");
    char *in = path_join(d, "model.safetensors"), *hard = path_join(d, "hard.gguf"), *soft = path_join(d, "soft.gguf"),
         *fresh = path_join(d, "new.gguf"), *missing = path_join(d, "no/such/dir/x.gguf");
    put_file(in, "weights");
    CHECK(link(in, hard) == 0);
    CHECK(symlink("model.safetensors", soft) == 0);
    file_protect_inputs();  // as the command line does
    char *data;
    size_t n;
    CHECK(file_read_all(in, &data, &n) == 0);  // now an input
    free(data);
    err_clear();
    EXPECT(file_check_output(in) == ERR_ARG && strstr(err_msg(), "inputs"), "the input itself: '%s'", err_msg());
    err_clear();
    EXPECT(file_check_output(hard) == ERR_ARG && strstr(err_msg(), "same file"), "a hard link: '%s'", err_msg());
    err_clear();
    EXPECT(file_check_output(soft) == ERR_ARG && strstr(err_msg(), "same file"), "a symlink: '%s'", err_msg());
    err_clear();
    EXPECT(write_text(in, "output") == ERR_ARG, "an atomic write over an input: '%s'", err_msg());
    EXPECT(file_is(in, "weights"), "the input changed");
    err_clear();
    EXPECT(file_check_output(d) == ERR_IO && strstr(err_msg(), "is a directory"), "a directory: '%s'", err_msg());
    err_clear();
    EXPECT(file_check_output(missing) == ERR_IO && strstr(err_msg(), "cannot create"), "a missing directory: '%s'", err_msg());
    err_clear();
    EXPECT(file_check_output(fresh) == 0 && err_code() == 0, "a new file: '%s'", err_msg());
    EXPECT(access(fresh, F_OK) != 0 && count_temps(d) == 0, "the check left a file behind");
    err_clear();
    EXPECT(dir_check_creatable(missing, "test") == 0, "a directory to create: '%s'", err_msg());
    err_clear();
    EXPECT(dir_check_creatable(in, "test") == ERR_IO && strstr(err_msg(), "not a directory"), "a file as a directory: '%s'",
           err_msg());
    if (geteuid() != 0) {  // root ignores permissions
        char *ro = path_join(d, "ro");
        CHECK(mkdir(ro, 0555) == 0);
        char *inside = path_join(ro, "x.gguf");
        err_clear();
        EXPECT(file_check_output(inside) == ERR_IO, "a read-only directory");
        free(ro), free(inside);
    }
    free(in), free(hard), free(soft), free(fresh), free(missing), free(d);
    err_clear();
    group_done("faults 4, 5: file_check_output refuses inputs and places that take no file", f0);
}

// --- file_read_max

static void test_read_limits(void) {
    int f0 = harness_failed;
    char *d = fresh_dir("limits"), *p = path_join(d, "f.json");
    put_file(p, "0123456789");
    char *data;
    size_t n;
    err_clear();
    EXPECT(file_read_max(p, 10, &data, &n) == 0 && n == 10 && data[10] == 0, "10 bytes within 10: '%s'", err_msg());
    free(data);
    err_clear();
    EXPECT(file_read_max(p, 9, &data, &n) == ERR_FORMAT && strstr(err_msg(), "more than the limit of 9 bytes") && !data,
           "10 bytes over 9: '%s'", err_msg());
    err_clear();
    EXPECT(file_read_all(d, &data, &n) == ERR_IO && strstr(err_msg(), "is a directory"), "a directory: '%s'", err_msg());
    err_clear();
    EXPECT(file_read_max("/dev/zero", 1000, &data, &n) == ERR_FORMAT && strstr(err_msg(), "limit"),
           "an endless device: '%s'", err_msg());
    free(p), free(d);
    err_clear();
    group_done("file_read_max: size limits, directories, devices", f0);
}

// --- strmap

static void test_strmap(void) {
    int f0 = harness_failed;
    strmap m;
    strmap_init(&m, 0);
    enum { N = 100000 };
    char *keys = xmalloc((size_t)N * 16);
    for (int i = 0; i < N; i++) snprintf(keys + 16 * i, 16, "k%d", i);
    int bad_put = 0, bad_get = 0;
    for (int i = 0; i < N; i++) bad_put += strmap_put(&m, keys + 16 * i, strlen(keys + 16 * i), i) != -1;
    for (int i = 0; i < N; i++) bad_get += strmap_get(&m, keys + 16 * i, strlen(keys + 16 * i)) != i;
    EXPECT(!bad_put && !bad_get && m.n == N, "%d puts and %d gets wrong", bad_put, bad_get);
    EXPECT(strmap_put(&m, "k17", 3, 5) == 17 && strmap_get(&m, "k17", 3) == 17, "a repeated key keeps its value");
    EXPECT(strmap_get(&m, "k1", 2) == 1 && strmap_get(&m, "k", 1) == -1 && strmap_get(&m, "", 0) == -1, "lookups");
    EXPECT(strmap_put(&m, "a\0b", 3, 7) == -1 && strmap_get(&m, "a\0b", 3) == 7 && strmap_get(&m, "a", 1) == -1,
           "keys with NUL bytes are compared by length");
    strmap_free(&m);
    strmap_free(&m);
    EXPECT(strmap_get(&m, "k1", 2) == -1, "a freed map finds nothing");
    free(keys);
    group_done("strmap", f0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void) {
    snprintf(root_dir, sizeof root_dir, "/tmp/shrink_test_files.XXXXXX");
    CHECK(mkdtemp(root_dir));
    test_temp_name_is_unique();
    test_two_writers();
    test_signal_cleanup();
    test_read_limits();
    test_strmap();
    test_output_checks();  // last: it turns on file_protect_inputs for the process
    nftw(root_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return TEST_DONE();
}
