// pool.h: the worker threads of the forward pass and of training, built for a machine that is not idle.
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

// Splits n units into tasks for pool_run, largest first ("guided"): each task takes
// 1/(2·width) of the units left, but at least min_units (so its work outweighs claiming it,
// a contended cache line). Running threads start on large contiguous runs and finish on
// small tasks that even out their finishing times: an idle machine loses little to the
// last task, where equal tasks lose up to one of them per call. Task i is units
// [bounds[i], bounds[i+1]); bounds has room for max_tasks + 1; returns the task count
// (the last tasks grow once max_tasks is reached).
int pool_guided(int n, int min_units, int *bounds, int max_tasks);
enum { POOL_MAX_TASKS = 128 };

// pool_for(n, align, min_units, fn, ctx) runs fn(ctx, u0, u1, worker) over runs [u0, u1)
// that cover [0, n) once: pool_guided's split, every run starting on a multiple of align
// (a tile, a cache line) and holding at least min_units units where n allows. What a run
// computes must not depend on where it starts or ends (rows, columns, elements), so the
// result is the same for any width.
typedef void (*pool_range_fn)(void *ctx, int u0, int u1, int worker);
void pool_for(int n, int align, int min_units, pool_range_fn fn, void *ctx);
