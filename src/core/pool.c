// pool.c: pool.h's task loop. One job at a time: the caller publishes (fn, ctx, n) and a
// new epoch; every thread then claims tasks from `next`, a 64-bit counter holding the
// epoch in its high half and the next task in its low half, so a thread still looking at
// an old job can never claim a task of a new one (its compare-and-swap fails; pool_run
// says why `next` is written first). A job's
// fn and ctx are read only after a successful claim; the caller cannot publish another
// job before that task is reported done, so they are still the claimed job's.
// Waiting workers spin on the epoch word, after YIELD_NS yielding their core every few
// pauses, and after SPIN_NS sleep on it (a Linux futex); bench/README.md has the
// measurements behind the two times.
#include "pool.h"
#include "parallel.h"
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { POOL_MAX = 64 };                 // threads, the caller included
#define YIELD_NS 20000                  // a waiting worker spins this long, then also yields,
#define SPIN_NS 200000                  // and after this long sleeps
#define STACK_BYTES (8u << 20)          // kernels keep packing buffers on the stack

// Fields that different threads write often live on their own cache lines: workers spin
// reading epoch while the claims hammer next and the finishes done.
#define LINE _Alignas(64)
static struct {
    LINE _Atomic uint32_t epoch;  // bumped once per job; sleeping workers wait on it
    _Atomic int n;                // tasks of this job
    _Atomic int width;            // workers 0..width-1 take part in this job
    pool_task_fn fn;
    void *ctx;
    LINE _Atomic uint64_t next;   // epoch << 32 | the next unclaimed task
    LINE _Atomic int done;        // tasks of this job finished
    LINE _Atomic int sleepers;    // workers in (or about to enter) futex_wait
    int threads;                  // pool threads created so far (workers 1..threads)
    atomic_flag busy;             // a job is in progress: only its caller touches `threads`
} P = {.busy = ATOMIC_FLAG_INIT};

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

// Claims and runs tasks of job e until none is left.
static void run_tasks(uint32_t e, int worker) {
    for (;;) {
        uint64_t v = atomic_load_explicit(&P.next, memory_order_acquire);
        do {
            if ((uint32_t)(v >> 32) != e || (int)(uint32_t)v >= atomic_load_explicit(&P.n, memory_order_acquire))
                return;
        } while (!atomic_compare_exchange_weak_explicit(&P.next, &v, v + 1, memory_order_acq_rel,
                                                        memory_order_acquire));
        P.fn(P.ctx, (int)(uint32_t)v, worker);
        atomic_fetch_add_explicit(&P.done, 1, memory_order_release);
    }
}

static void *worker_main(void *arg) {
    int id = (int)(intptr_t)arg;
    uint32_t seen = atomic_load(&P.epoch);
    for (;;) {
        uint32_t e;
        long spin_from = now_ns();
        int spins = 0;
        while ((e = atomic_load_explicit(&P.epoch, memory_order_acquire)) == seen) {
            cpu_relax();
            if (++spins % 64) continue;
            // After YIELD_NS, offer the core every 64 pauses: on a busy machine another
            // process's thread (or ours that holds the work) runs instead of this spin; on
            // an idle one the call returns at once. Not before: the gaps between a token's
            // ops are shorter, and a yield there hands a nice-19 process a whole time slice.
            long waited = now_ns() - spin_from;
            if (waited >= YIELD_NS) sched_yield();
            if (waited < SPIN_NS) continue;
            // Sleep. The caller bumps epoch before it reads sleepers, this thread counts
            // itself before it reads epoch (both sequentially consistent), and the futex
            // sleeps only while epoch still holds seen: a wake-up cannot be missed.
            atomic_fetch_add(&P.sleepers, 1);
            if (atomic_load(&P.epoch) == seen) syscall(SYS_futex, &P.epoch, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
            atomic_fetch_sub(&P.sleepers, 1);
            spin_from = now_ns();
        }
        seen = e;
        if (id < atomic_load_explicit(&P.width, memory_order_relaxed)) run_tasks(e, id);
    }
    return NULL;
}

// Starts pool threads until workers 1..width-1 exist; returns the width it can offer.
static int ensure_threads(int width) {
    if (width - 1 <= P.threads) return width;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, STACK_BYTES);
    while (P.threads < width - 1) {
        pthread_t t;
        if (pthread_create(&t, &attr, worker_main, (void *)(intptr_t)(P.threads + 1)) != 0) break;
        P.threads++;
    }
    pthread_attr_destroy(&attr);
    return P.threads + 1 < width ? P.threads + 1 : width;
}

int pool_width(void) {
    int w = par_max_threads();
    return w < 1 ? 1 : w > POOL_MAX ? POOL_MAX : w;
}

void pool_run(int n_tasks, pool_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    int width = pool_width();
    if (width == 1 || n_tasks == 1 || par_in_parallel() || atomic_flag_test_and_set(&P.busy)) {
        for (int i = 0; i < n_tasks; i++) fn(ctx, i, 0);
        return;
    }
    width = ensure_threads(width);
    // The new epoch goes into `next` before anything of the job is written: a thread still in
    // the last job's run_tasks that reads this job's n then fails its claim. The other order
    // let it claim task "last job's n" under the old epoch: a task of this job run twice and
    // counted twice in done, so this call could return before its last task had finished.
    uint32_t e = atomic_load_explicit(&P.epoch, memory_order_relaxed) + 1;
    atomic_store(&P.next, (uint64_t)e << 32);
    P.fn = fn;
    P.ctx = ctx;
    atomic_store_explicit(&P.n, n_tasks, memory_order_release);
    atomic_store_explicit(&P.width, width, memory_order_relaxed);
    atomic_store_explicit(&P.done, 0, memory_order_relaxed);
    atomic_store(&P.epoch, e);
    if (atomic_load(&P.sleepers) > 0) syscall(SYS_futex, &P.epoch, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    run_tasks(e, 0);
    // Tasks still running elsewhere: spin a little, then give the core away while waiting,
    // in case the thread that holds the last task needs it.
    for (int spins = 0; atomic_load_explicit(&P.done, memory_order_acquire) < n_tasks; spins++) {
        if (spins < 4096) cpu_relax();
        else sched_yield();
    }
    atomic_flag_clear(&P.busy);
}

int pool_guided(int n, int min_units, int *bounds, int max_tasks) {
    int w2 = 2 * pool_width(), k = 0, u = 0;
    if (min_units < 1) min_units = 1;
    bounds[0] = 0;
    while (u < n) {
        int left = n - u, take = (left + w2 - 1) / w2;
        if (take < min_units) take = min_units;
        if (k + 1 == max_tasks || take > left) take = left;
        u += take;
        bounds[++k] = u;
    }
    return k;
}

typedef struct {
    pool_range_fn fn;
    void *ctx;
    int n, align;
    int bounds[POOL_MAX_TASKS + 1];  // in units of align
} range_job;

static void range_task(void *ctx, int task, int worker) {
    const range_job *j = ctx;
    long u0 = (long)j->bounds[task] * j->align, u1 = (long)j->bounds[task + 1] * j->align;
    j->fn(j->ctx, (int)u0, u1 < j->n ? (int)u1 : j->n, worker);
}

void pool_for(int n, int align, int min_units, pool_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (align < 1) align = 1;
    range_job j = {fn, ctx, n, align, {0}};
    int groups = (int)(((long)n + align - 1) / align);
    pool_run(pool_guided(groups, (min_units + align - 1) / align, j.bounds, POOL_MAX_TASKS), range_task, &j);
}
