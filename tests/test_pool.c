// test_pool.c: the forward's thread pool. Every task of a job runs exactly once, whatever
// the task counts (1, a few, more than the threads, many) and over many jobs in a row (a
// thread late for one job must not take another's task, also when the next job is larger,
// with more threads than cores); worker ids stay below
// pool_width(), and no two threads use one worker id at once; a pool_run from inside a
// task runs in the calling thread; the width follows the thread count (1 thread: the
// caller alone); pool_guided covers its units exactly once, largest tasks first; pool_for
// hands out runs that cover [0, n) once, each starting on a multiple of its alignment.
#include "core/parallel.h"
#include "core/pool.h"
#include "core/xalloc.h"
#include "harness.h"
#include <stdatomic.h>
#include <string.h>

enum { MAX_TASKS = 5000, MAX_WORKERS = 64 };

typedef struct {
    _Atomic int runs[MAX_TASKS];
    _Atomic int inside[MAX_WORKERS];  // tasks running under each worker id now
    _Atomic int bad_worker, overlap, nested_ok, nested_runs, by_pool;
    int width, spin;
} job;

static void count_task(void *ctx, int task, int worker) {
    job *j = ctx;
    if (worker < 0 || worker >= j->width) {
        atomic_fetch_add(&j->bad_worker, 1);
        return;
    }
    if (atomic_fetch_add(&j->inside[worker], 1) != 0) atomic_fetch_add(&j->overlap, 1);
    for (volatile int i = 0; i < j->spin; i++) {
    }
    atomic_fetch_add(&j->runs[task], 1);
    if (worker > 0) atomic_fetch_add(&j->by_pool, 1);
    atomic_fetch_sub(&j->inside[worker], 1);
}

static void inner_task(void *ctx, int task, int worker) {
    (void)task;
    job *j = ctx;
    if (worker == 0) atomic_fetch_add(&j->nested_runs, 1);  // run by the calling thread
}

static void outer_task(void *ctx, int task, int worker) {
    (void)task;
    (void)worker;
    job *j = ctx;
    int before = atomic_load(&j->nested_runs);
    pool_run(7, inner_task, ctx);
    if (atomic_load(&j->nested_runs) - before >= 7) atomic_fetch_add(&j->nested_ok, 1);
}

// n tasks, `jobs` times in a row; returns how many tasks did not run exactly once per job.
static int run_jobs(job *j, int n, int jobs, int spin) {
    memset(j, 0, sizeof *j);
    j->width = pool_width();
    j->spin = spin;
    for (int r = 0; r < jobs; r++) pool_run(n, count_task, j);
    int wrong = 0;
    for (int i = 0; i < n; i++) wrong += atomic_load(&j->runs[i]) != jobs;
    return wrong;
}

// pool_for's runs: marks every unit it is given, counts runs that start off the alignment.
typedef struct {
    _Atomic int hits[MAX_TASKS];
    _Atomic int misaligned, empty, runs;
    int align;
} range_check;

static void mark_range(void *ctx, int u0, int u1, int worker) {
    (void)worker;
    range_check *r = ctx;
    if (u0 % r->align) atomic_fetch_add(&r->misaligned, 1);
    if (u1 <= u0) atomic_fetch_add(&r->empty, 1);
    for (int u = u0; u < u1; u++) atomic_fetch_add(&r->hits[u], 1);
    atomic_fetch_add(&r->runs, 1);
}

int main(void) {
    job *j = xmalloc(sizeof *j);
    int threads[] = {2, 4, 1, 3};
    int counts[] = {1, 2, 3, 17, 128, MAX_TASKS};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        par_set_threads(threads[t]);
        int w = pool_width();
        EXPECT(w == (par_max_threads() < 1 ? 1 : par_max_threads()), "pool_width %d with %d threads", w,
               par_max_threads());
        long by_pool = 0;
        for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
            int n = counts[c], jobs = n > 1000 ? 20 : 500;
            int wrong = run_jobs(j, n, jobs, n < 100 ? 20000 : 500);
            by_pool += atomic_load(&j->by_pool);
            EXPECT(wrong == 0, "%d threads, %d tasks x %d jobs: %d tasks did not run once per job", threads[t], n, jobs,
                   wrong);
            EXPECT(atomic_load(&j->bad_worker) == 0, "%d threads: worker id outside 0..%d", threads[t], w - 1);
            EXPECT(atomic_load(&j->overlap) == 0, "%d threads: two threads ran under one worker id", threads[t]);
        }
        printf("%d threads (width %d): every task once over %d job sizes, 20-500 jobs each (%ld tasks ran on the "
               "pool's threads) ... ok\n", threads[t], w, (int)(sizeof counts / sizeof *counts), by_pool);
        memset(j, 0, sizeof *j);
        j->width = w;
        pool_run(5, outer_task, j);
        EXPECT(atomic_load(&j->nested_ok) == 5, "%d threads: a pool_run inside a task did not run all its tasks in "
                                                "the calling thread (%d of 5)", threads[t], atomic_load(&j->nested_ok));
    }

    // Jobs of 2 and 3 tasks in turn, many threads on few cores: a thread preempted while it
    // looks at a finished 2-task job must not claim task 2 of the next one under the old
    // epoch. It did when the job's size was published before its epoch reached `next`: 20-100
    // tasks of 300,000 jobs then ran twice or had not finished at return (2 cores, 16
    // threads; with 64-task jobs the race showed about once in 500,000). Each task counts
    // itself when it ends; at return every task of the job has run exactly once.
    {
        enum { STRESS_JOBS = 1000000 };
        par_set_threads(16);
        long anomalies = 0;
        for (long r = 0; r < STRESS_JOBS; r++) {
            int n = 2 + (int)(r & 1);
            for (int i = 0; i < n; i++) atomic_store(&j->runs[i], 0);
            j->width = pool_width(), j->spin = 0;
            pool_run(n, count_task, j);
            for (int i = 0; i < n; i++) anomalies += atomic_load(&j->runs[i]) != 1;
        }
        EXPECT(anomalies == 0, "16 threads, jobs of 2 and 3 tasks in turn: %ld tasks had not run exactly once at return",
               anomalies);
        if (!anomalies) printf("16 threads, %d jobs of 2 and 3 tasks in turn: every task once at return ... ok\n", STRESS_JOBS);
    }

    // pool_guided: exact cover, non-increasing sizes (the last task may be the remainder),
    // at least min_units each but the last, and never more than max_tasks.
    par_set_threads(2);
    int bounds[POOL_MAX_TASKS + 1], ok = 1;
    int ns[] = {1, 5, 72, 96, 1000, 50257};
    int mins[] = {1, 8, 100};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof mins / sizeof *mins; b++)
            for (int cap = 4; cap <= POOL_MAX_TASKS; cap *= 32) {
                int k = pool_guided(ns[a], mins[b], bounds, cap);
                if (k < 1 || k > cap || bounds[0] != 0 || bounds[k] != ns[a]) ok = 0;
                for (int i = 0; i < k; i++) {
                    int size = bounds[i + 1] - bounds[i];
                    if (size <= 0) ok = 0;
                    if (i + 1 < k && size < mins[b]) ok = 0;
                    if (i + 2 < k && bounds[i + 2] - bounds[i + 1] > size) ok = 0;
                }
            }
    EXPECT(ok, "pool_guided: a split that does not cover its units once, largest first");
    if (ok) printf("pool_guided covers 1..50257 units once, largest tasks first, within its task cap ... ok\n");

    // pool_for at 1, 2 and 3 threads: every unit once, runs aligned and non-empty, and more
    // than one run when the units allow (so the other checks see a split).
    range_check *rc = xmalloc(sizeof *rc);
    int rn[] = {1, 15, 16, 17, 1000, MAX_TASKS}, ral[] = {1, 16, 12}, rmin[] = {1, 40};
    int rok = 1, split_seen = 0;
    for (int th = 1; th <= 3; th++) {
        par_set_threads(th);
        for (size_t a = 0; a < sizeof rn / sizeof *rn; a++)
            for (size_t b = 0; b < sizeof ral / sizeof *ral; b++)
                for (size_t c = 0; c < sizeof rmin / sizeof *rmin; c++) {
                    memset(rc, 0, sizeof *rc);
                    rc->align = ral[b];
                    pool_for(rn[a], ral[b], rmin[c], mark_range, rc);
                    for (int u = 0; u < rn[a]; u++) rok &= atomic_load(&rc->hits[u]) == 1;
                    rok &= atomic_load(&rc->misaligned) == 0 && atomic_load(&rc->empty) == 0;
                    if (rn[a] >= 4 * ral[b] * rmin[c] && atomic_load(&rc->runs) > 1) split_seen++;
                }
    }
    EXPECT(rok, "pool_for: a unit not covered once, or a run empty or off its alignment");
    EXPECT(split_seen > 0, "pool_for never split its units into more than one run");
    if (rok && split_seen) printf("pool_for covers 1..%d units once in aligned runs at 1-3 threads ... ok\n", MAX_TASKS);
    free(rc);
    free(j);
    return TEST_DONE();
}
