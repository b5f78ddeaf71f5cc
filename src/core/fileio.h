// fileio.h: whole-file reads, read-only mmaps, atomic writes, and the checks that keep a
// command from losing a user's file (docs/reliability.md states the guarantees).
// Errors are recorded with err_set() naming the path.
#pragma once
#include <stddef.h>
#include <stdio.h>

// Reads the whole file into a NUL-terminated buffer (*data, caller frees). A directory is
// refused by name (ERR_IO).
int file_read_all(const char *path, char **data, size_t *len);
// The same for a file that may hold at most max bytes: a larger one is refused (ERR_FORMAT,
// "... more than the limit of N bytes ...") before it is read.
int file_read_max(const char *path, size_t max, char **data, size_t *len);

// Maps the whole file read-only. An empty file maps to a NULL pointer with len 0.
typedef struct file_map {
    void *data;
    size_t len;
    int fd;  // the open file behind a non-empty mapping, for file_map_read
} file_map;
int file_map_open(file_map *m, const char *path);
void file_map_close(file_map *m);
// Copies bytes [off, off + n) of the mapped file into dst with read(2), not through the mapping:
// touching a mapping costs a page fault per few pages, several times the copy itself on this
// project's VMs (bench/scale.md, loading), while read() copies from the page cache directly.
// For loaders that convert a large file once. ERR_IO naming path on a read error or a file
// that shrank since it was mapped.
int file_map_read(const file_map *m, const char *path, size_t off, size_t n, void *dst);
// Whether bytes [off_a, off_a + n) of mapped file a equal [off_b, off_b + n) of b (the same
// file or two), compared a MB at a time with file_map_read (neither mapping is touched): *same
// receives 1 or 0. Returns 0 or file_map_read's error.
int file_map_same(const file_map *a, const char *path_a, size_t off_a, const file_map *b, const char *path_b, size_t off_b,
                  size_t n, int *same);

// --- inputs and outputs
// After file_protect_inputs (src/cli's main calls it first thing), every file read through
// this module (file_read_*, file_map_open) is remembered by device and inode for the life
// of the process, and an output about to replace one of them is refused (under another
// name, through a symlink or a hard link too) by file_check_output, atomic_file_open and
// atomic_file_commit. A library caller that does not call it may rewrite a file it read.
void file_protect_inputs(void);
// Notes one more input (a path that does not exist is ignored); only after file_protect_inputs.
void file_note_input_path(const char *path);

// Checks, before any slow work, that path can be written as an output file: it is not a
// directory, not one of the inputs noted so far (ERR_ARG naming both), and its directory
// accepts a new file (a temp file is created there and removed; ERR_IO with the reason:
// missing directory, read-only file system, permission).
int file_check_output(const char *path);

// Atomic write: the data goes to a new file with a unique name in path's directory
// ("path.XXXXXX.tmp", created with O_EXCL|O_NOFOLLOW, so no existing file or symlink is
// ever opened or followed); commit flushes, fsyncs it, renames it over path and fsyncs
// the directory; abort removes it. Nothing half-written is ever at path, and two writers
// to one path each produce a whole file (the last rename wins). open refuses a path that
// is a directory, and after file_protect_inputs one of the inputs.
typedef struct atomic_file {
    FILE *f;
    char *path;
    char *tmp_path;
    int slot;  // the temp file's place in the signal-cleanup table, or -1
} atomic_file;
int atomic_file_open(atomic_file *a, const char *path);
int atomic_file_commit(atomic_file *a);
void atomic_file_abort(atomic_file *a);

// Installs handlers for SIGINT, SIGTERM and SIGHUP (those not ignored) that remove the temp
// file of every atomic write in progress, then end the process by the same signal. For
// src/cli's main; idempotent.
void file_cleanup_on_signals(void);
// A line those handlers write to stderr before the process ends (what was kept, how to go
// on); NULL: none. The line is copied; it is cut at 1,023 bytes.
void file_signal_note(const char *line);

// Test hook (docs/reliability.md): when the environment variable SHRINK_DEBUG_COMMIT_WAIT
// names a file, atomic_file_commit prints "shrink: debug: ..." to stderr and waits until
// that file exists before it renames, so a test can hold a writer between writing and
// committing (two writers to one output, a signal mid-write).
#define FILE_DEBUG_COMMIT_WAIT "SHRINK_DEBUG_COMMIT_WAIT"

int file_exists(const char *path);

// Checks before any slow work that dir can be an output directory: each of its existing
// prefixes is a directory (the rest will be created) and the deepest existing one accepts
// new entries (a temp file is created there and removed). what names it in messages ("report").
int dir_check_creatable(const char *dir, const char *what);
// mkdir -p dir (mode 0755). Returns 0 or ERR_IO naming the component that failed.
int dir_make_all(const char *dir);
// Joins dir and name with '/' into a new string (caller frees).
char *path_join(const char *dir, const char *name);
// A model's name from its path: the last component, trailing '/' and a ".gguf" suffix
// dropped ("models/mini/" -> "mini", "out/mini-Q8_0.gguf" -> "mini-Q8_0"), as a new
// string with `spare` bytes of room after it (caller frees).
char *path_model_name(const char *path, size_t spare);
