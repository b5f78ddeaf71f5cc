// cli.h: subcommands and the helpers they share. Only src/cli prints errors and exits.
#pragma once
#include <stdio.h>
#include "../modelfile/modelfile.h"
#include "../tokenizer/bpe.h"

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_lowrank(int argc, char **argv);

// Prints "shrink: error: <recorded message>" and returns the exit status (1).
int cli_fail(void);
// The end of a command that may run under mpirun (train, sweep): an error is printed and ends
// every process of the job; success shuts MPI down. Returns the exit status.
int cli_dist_end(int rc);
// -m takes an HF directory or a GGUF file (any regular file is read as GGUF).
int cli_load_model(const char *path, gpt2_model *m);
// The tokenizer: vocab.json + merges.txt in the directory, or the GGUF file's own.
int cli_load_tokenizer(const char *path, bpe **tok);
// 1 if the directory holds vocab.json and merges.txt (its tokenizer goes with what is saved).
int cli_has_tokenizer_files(const char *dir);
// A randomly initialised model of a named standard shape (gpt2, gpt2-medium, ..., mini).
int cli_random_model(const char *name, unsigned long long seed, gpt2_model *m);
// Applies -t: 0 means all cores.
void cli_set_threads(int threads);
// The bundled data file data/NAME (found next to the binary, or under the working
// directory); the caller frees it. The file may not exist.
char *cli_data_path(const char *name);
// The same for any path relative to the repository root ("models/mini").
char *cli_repo_path(const char *rel);
// The directory that holds dir ("a/b/" -> "a", "b" -> "."), as a new string: where a
// directory written as a whole (a sibling temp directory, then a rename) needs room.
char *cli_parent_dir(const char *dir);
// Writes m as an HF directory (gpt2_hf_save, with tok_dir's vocab.json and merges.txt when
// given) built in a temp directory beside dir and moved into place whole, so a failure
// leaves no half-written dir; an existing dir gets those four files replaced.
int cli_save_hf_dir(const gpt2_model *m, const char *dir, const char *tok_dir);
// Before slow work: an HF directory output would replace none of the inputs (each of its
// files checked as file_check_output does); a directory not there yet is fine.
int cli_check_hf_output(const char *dir);
// Reads a file ("-" or NULL: stdin) whole.
int cli_read_input(const char *path, char **data, size_t *len);
// Writes s as a JSON string literal (with quotes).
void cli_json_string(FILE *f, const char *s, size_t len);
