// dist.c: see dist.h. A chain sum: rank k receives the running sum of the parts before its own
// chunk by chunk, adds its parts in order and passes it on; the last rank broadcasts the total.
#include "dist.h"
#include "../core/xalloc.h"
#include <stdlib.h>
#include <string.h>


#ifdef SHRINK_MPI
#include <mpi.h>

enum { CHUNK_BYTES = 1 << 20 };
static int rank_, size_ = 1, inited;

void dist_init(int *argc, char ***argv) {
    int already = 0;
    MPI_Initialized(&already);
    if (!already) MPI_Init(argc, argv);
    inited = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

void dist_finalize(void) {
    if (inited) MPI_Finalize();
    inited = 0;
}

void dist_abort(int code) {
    if (inited && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

int dist_rank(void) { return rank_; }
int dist_size(void) { return size_; }

#define CHAIN(NAME, T, MPI_T)                                                                            \
    void NAME(T *const *parts, int n_parts, size_t n, T *out) {                                         \
        size_t chunk = CHUNK_BYTES / sizeof(T);                                                         \
        T *acc = xmalloc(chunk * sizeof(T));                                                            \
        for (size_t off = 0; off < n; off += chunk) {                                                   \
            size_t k = n - off < chunk ? n - off : chunk;                                               \
            int j = 0;                                                                                  \
            if (rank_ > 0) MPI_Recv(acc, (int)k, MPI_T, rank_ - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE); \
            else memcpy(acc, parts[j++] + off, k * sizeof(T));                                          \
            for (; j < n_parts; j++)                                                                    \
                for (size_t i = 0; i < k; i++) acc[i] = acc[i] + parts[j][off + i];                     \
            if (rank_ < size_ - 1) MPI_Send(acc, (int)k, MPI_T, rank_ + 1, 0, MPI_COMM_WORLD);           \
            else memcpy(out + off, acc, k * sizeof(T));                                                 \
        }                                                                                               \
        free(acc);                                                                                      \
        for (size_t off = 0; size_ > 1 && off < n; off += chunk) {                                      \
            size_t k = n - off < chunk ? n - off : chunk;                                               \
            MPI_Bcast(out + off, (int)k, MPI_T, size_ - 1, MPI_COMM_WORLD);                              \
        }                                                                                               \
    }
CHAIN(dist_chain_sum_f32, float, MPI_FLOAT)
CHAIN(dist_chain_sum_f64, double, MPI_DOUBLE)

int dist_min_rc(int rc) {
    if (size_ > 1) MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return rc;
}

int dist_agree_u64(uint64_t v) {
    if (size_ == 1) return 1;
    uint64_t lo = v, hi = v;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

#else  // one process

void dist_init(int *argc, char ***argv) { (void)argc, (void)argv; }
void dist_finalize(void) {}
void dist_abort(int code) { (void)code; }
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
#define CHAIN(NAME, T)                                                                                  \
    void NAME(T *const *parts, int n_parts, size_t n, T *out) {                                         \
        for (size_t i = 0; i < n; i++) {                                                                \
            T acc = parts[0][i];                                                                        \
            for (int j = 1; j < n_parts; j++) acc = acc + parts[j][i];                                  \
            out[i] = acc;                                                                               \
        }                                                                                               \
    }
CHAIN(dist_chain_sum_f32, float)
CHAIN(dist_chain_sum_f64, double)
int dist_agree_u64(uint64_t v) { (void)v; return 1; }
int dist_min_rc(int rc) { return rc; }

#endif
