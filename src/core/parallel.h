// parallel.h: a thin OpenMP wrapper with a serial fallback (built with NO_OMP=1).
#pragma once
#ifdef _OPENMP
#include <omp.h>
static inline int par_max_threads(void) { return omp_get_max_threads(); }
static inline void par_set_threads(int n) { omp_set_num_threads(n); }
static inline int par_thread_id(void) { return omp_get_thread_num(); }
static inline int par_num_threads(void) { return omp_get_num_threads(); }  // inside a region
static inline int par_in_parallel(void) { return omp_in_parallel(); }
#else
static inline int par_max_threads(void) { return 1; }
static inline void par_set_threads(int n) { (void)n; }
static inline int par_thread_id(void) { return 0; }
static inline int par_num_threads(void) { return 1; }
static inline int par_in_parallel(void) { return 0; }
#endif
