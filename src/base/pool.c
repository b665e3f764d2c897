#include "base/pool.h"
#include "base/error.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Dispatch latency matters: decode issues ~16 small jobs per layer, each only
 * tens of microseconds long, so a futex wake-up per job (and a worker that has
 * gone back to sleep when the next one arrives) costs a visible share of the
 * token. Both sides therefore spin for a short, bounded time before sleeping:
 * a worker on the generation counter after finishing a job, the caller on the
 * busy counter. Past the bound they block on the condition variables, so an
 * idle pool uses no CPU. */
#define POOL_SPIN_NS 50000 /* 50 us: longer than the serial gap between stages */

struct ds4_pool {
    int n_threads;            /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;      /* workers wait for a new generation */
    pthread_cond_t done;      /* caller waits for workers to finish */
    atomic_uint_fast64_t generation;
    atomic_bool stopping;
    atomic_int busy;          /* workers still inside the current job */
    /* Sleep flags: a publisher checks them after its store so that it takes
     * the mutex only when someone may be blocked (seq_cst on both sides:
     * either the sleeper sees the store or the publisher sees the flag). */
    atomic_int sleepers;      /* workers blocked (or about to) on `wake` */
    atomic_int caller_waiting;

    ds4_task_fn fn;
    void *ctx;
    int64_t n_tasks;
    atomic_int_fast64_t next; /* next task index to hand out */
};

typedef struct { ds4_pool *pool; int index; } worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void drain(ds4_pool *p, int thread_index) {
    for (;;) {
        int64_t t = atomic_fetch_add(&p->next, 1);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, t, thread_index);
    }
}

/* Spins until a generation other than `seen` (or stop) is published, for at
 * most POOL_SPIN_NS. Returns true if it saw one. */
static bool spin_for_work(ds4_pool *p, uint64_t seen) {
    uint64_t deadline = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&p->generation, memory_order_acquire) != seen ||
            atomic_load_explicit(&p->stopping, memory_order_relaxed))
            return true;
        cpu_relax();
        if ((i & 63) == 0) {
            uint64_t t = now_ns();
            if (!deadline) deadline = t + POOL_SPIN_NS;
            else if (t >= deadline) return false;
        }
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    ds4_pool *p = wa->pool;
    int index = wa->index;
    free(wa);
    uint64_t seen = 0;
    for (;;) {
        if (!spin_for_work(p, seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (!atomic_load(&p->stopping) && atomic_load(&p->generation) == seen)
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stopping)) break;
        seen = atomic_load(&p->generation);
        drain(p, index);
        if (atomic_fetch_sub(&p->busy, 1) == 1 && atomic_load(&p->caller_waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

int ds4_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

ds4_pool *ds4_pool_create(int n_threads) {
    if (n_threads <= 0) n_threads = ds4_cpu_count();
    ds4_pool *p = ds4_xcalloc(1, sizeof *p);
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->stopping, false);
    atomic_init(&p->busy, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_waiting, 0);
    atomic_init(&p->next, 0);
    p->threads = ds4_xcalloc((size_t)n_threads, sizeof(pthread_t));
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = ds4_xmalloc(sizeof *wa);
        wa->pool = p;
        wa->index = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n_threads = i; /* run with what we have */
            break;
        }
    }
    return p;
}

void ds4_pool_destroy(ds4_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stopping, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

int ds4_pool_threads(const ds4_pool *p) { return p ? p->n_threads : 1; }

void ds4_pool_run(ds4_pool *p, ds4_task_fn fn, void *ctx, int64_t n_tasks) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    /* Every worker finished the previous job (busy reached 0 before the last
     * call returned), so nobody reads these fields while they change. */
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    atomic_store(&p->busy, p->n_threads - 1);
    atomic_fetch_add(&p->generation, 1); /* publishes the fields above */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }

    drain(p, 0);

    uint64_t deadline = 0;
    for (unsigned i = 0; atomic_load_explicit(&p->busy, memory_order_acquire) > 0; i++) {
        cpu_relax();
        if ((i & 63) == 0) {
            uint64_t t = now_ns();
            if (!deadline) deadline = t + POOL_SPIN_NS;
            else if (t >= deadline) break;
        }
    }
    if (atomic_load(&p->busy) > 0) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_waiting, 1);
        while (atomic_load(&p->busy) > 0) pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->caller_waiting, 0);
        pthread_mutex_unlock(&p->mu);
    }
}
