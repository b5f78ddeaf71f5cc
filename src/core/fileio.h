// fileio.h: whole-file reads, read-only mmaps, and atomic writes.
// Errors are recorded with err_set() naming the path.
#pragma once
#include <stddef.h>
#include <stdio.h>

// Reads the whole file into a NUL-terminated buffer (*data, caller frees).
int file_read_all(const char *path, char **data, size_t *len);

// Maps the whole file read-only. An empty file maps to a NULL pointer with len 0.
typedef struct file_map {
    void *data;
    size_t len;
} file_map;
int file_map_open(file_map *m, const char *path);
void file_map_close(file_map *m);

// Atomic write: open "path.tmp" for writing; commit fsyncs and renames it
// over path; abort unlinks it. Nothing half-written is ever left at path.
typedef struct atomic_file {
    FILE *f;
    char *path;
    char *tmp_path;
} atomic_file;
int atomic_file_open(atomic_file *a, const char *path);
int atomic_file_commit(atomic_file *a);
void atomic_file_abort(atomic_file *a);

int file_exists(const char *path);

// Checks before any slow work that dir can be an output directory: each of its existing
// prefixes is a directory (the rest will be created). what names it in messages ("report").
int dir_check_creatable(const char *dir, const char *what);
// mkdir -p dir (mode 0755). Returns 0 or ERR_IO naming the component that failed.
int dir_make_all(const char *dir);
// Joins dir and name with '/' into a new string (caller frees).
char *path_join(const char *dir, const char *name);
// A model's name from its path: the last component, trailing '/' and a ".gguf" suffix
// dropped ("models/mini/" -> "mini", "out/mini-Q8_0.gguf" -> "mini-Q8_0"), as a new
// string with `spare` bytes of room after it (caller frees).
char *path_model_name(const char *path, size_t spare);
