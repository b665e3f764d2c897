#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "base/pool.h"

typedef struct { atomic_int hits[1000]; atomic_int max_thread; } pool_ctx;

static void mark(void *p, int64_t task, int thread) {
    pool_ctx *c = p;
    atomic_fetch_add(&c->hits[task], 1);
    int m = atomic_load(&c->max_thread);
    while (thread > m && !atomic_compare_exchange_weak(&c->max_thread, &m, thread)) {}
}

Test(pool, every_task_runs_exactly_once_many_rounds) {
    ds4_pool *pool = ds4_pool_create(3);
    cr_assert_eq(ds4_pool_threads(pool), 3);
    static pool_ctx c;
    for (int round = 0; round < 200; round++) {
        memset(&c, 0, sizeof c);
        int n = 1 + round * 5 % 1000;
        ds4_pool_run(pool, mark, &c, n);
        for (int i = 0; i < n; i++) cr_assert_eq(atomic_load(&c.hits[i]), 1, "round %d task %d", round, i);
        cr_assert(atomic_load(&c.max_thread) < 3);
    }
    ds4_pool_destroy(pool);
}

Test(pool, null_pool_runs_inline) {
    static pool_ctx c;
    memset(&c, 0, sizeof c);
    ds4_pool_run(NULL, mark, &c, 10);
    for (int i = 0; i < 10; i++) cr_assert_eq(atomic_load(&c.hits[i]), 1);
}

/* Gaps longer than the spin bound send workers to the condition variable;
 * jobs dispatched then must still all run, and an idle pool must not burn a
 * core (the bounded spin ends, so CPU time stays far below wall time). */
Test(pool, sleeping_workers_wake_and_idle_pool_does_not_spin) {
    ds4_pool *pool = ds4_pool_create(2);
    static pool_ctx c;
    for (int round = 0; round < 20; round++) {
        memset(&c, 0, sizeof c);
        ds4_pool_run(pool, mark, &c, 64);
        for (int i = 0; i < 64; i++) cr_assert_eq(atomic_load(&c.hits[i]), 1, "round %d task %d", round, i);
        struct timespec gap = {0, (round % 3) * 1000000L}; /* 0, 1 or 2 ms */
        nanosleep(&gap, NULL);
    }
    struct timespec t0, t1, idle = {0, 200000000L};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    nanosleep(&idle, NULL);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    double cpu_s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cr_assert_lt(cpu_s, 0.05, "idle pool used %.3f s of CPU in 0.2 s", cpu_s);
    ds4_pool_destroy(pool);
}
