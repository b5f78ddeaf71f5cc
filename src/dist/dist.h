// dist.h: the processes of one job (MPI), for data-parallel training. Built without MPI (the
// default; `make MPI=1` adds it) every function is that of a job of one process.
#pragma once
#include <stddef.h>
#include <stdint.h>

// MPI_Init when built with MPI (harmless for a process that mpirun did not start: one rank).
void dist_init(int *argc, char ***argv);
void dist_finalize(void);
// Ends every process of the job (MPI_Abort): after an error in one rank, the others would
// wait for it forever. A job of one process just returns.
void dist_abort(int code);
int dist_rank(void);  // 0 .. dist_size() - 1
int dist_size(void);

// out = (((p0 + p1) + p2) + ...) over every rank's parts in rank order (rank 0's parts first,
// each rank's in their own order), element by element, n of each; every rank gets the same
// bits, whatever the MPI library's reduction algorithms would do. One process: its parts
// alone, the same association. out may be one of the parts. Chunks pass along the ranks as
// a pipeline, so the time is about one pass of the data plus a chunk per rank.
void dist_chain_sum_f32(float *const *parts, int n_parts, size_t n, float *out);
void dist_chain_sum_f64(double *const *parts, int n_parts, size_t n, double *out);
// 1 when every rank passed the same v (a data file's hash, say); the same answer on every rank.
int dist_agree_u64(uint64_t v);
// The worst (lowest) rc of every rank, on every rank: one rank's error fails them all.
int dist_min_rc(int rc);
