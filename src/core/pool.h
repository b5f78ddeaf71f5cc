// pool.h: the forward pass's worker threads, built for a machine that is not idle.
//
// pool_run(n, fn, ctx) runs fn(ctx, i, worker) for every task i in [0, n) and returns when
// all have run. The caller takes tasks too; the pool's threads take them as they come,
// one at a time from a shared counter. So a thread that another process has kept off its
// core holds no work, and the caller does not wait for it: it waits only for tasks that
// a running thread has started. (An OpenMP region's static split gives every thread its
// share up front and ends on a barrier that waits for all of them: one descheduled thread
// stalls the region for its time slice, milliseconds, dozens of times per token.)
// Waiting threads spin briefly, then sleep; a caller whose last task is still running
// elsewhere yields its core rather than spin on it.
//
// Width: par_max_threads() (so -t and OMP_NUM_THREADS set it, and a NO_OMP build is serial).
// A call made while another pool_run is in progress (from a task, or another thread) runs
// all its tasks in the calling thread. worker is 0 for the caller and 1..width-1 for the
// pool's threads, stable for the duration of a call: index per-thread scratch with it.
// Which thread runs a task never changes a result: tasks write disjoint outputs.
#pragma once

typedef void (*pool_task_fn)(void *ctx, int task, int worker);

void pool_run(int n_tasks, pool_task_fn fn, void *ctx);

// Threads a pool_run may use now (the caller included): per-worker scratch needs this many.
int pool_width(void);
