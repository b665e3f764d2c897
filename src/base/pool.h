/* A persistent worker pool.
 *
 * Threads are created once and sleep on a condition variable between jobs,
 * so a decode step costs one wake-up per layer stage, not a thread spawn.
 * ds4_pool_run() splits a job into n_tasks indices handed out by an atomic
 * counter; the calling thread works too. Tasks must be independent. */
#ifndef DS4_BASE_POOL_H
#define DS4_BASE_POOL_H

#include <stdint.h>

typedef struct ds4_pool ds4_pool;

/* fn(ctx, task, thread_index): thread_index is in [0, n_threads) and lets a
 * task use per-thread scratch memory. */
typedef void (*ds4_task_fn)(void *ctx, int64_t task, int thread_index);

/* n_threads <= 0 means "one per online CPU". A pool of 1 runs inline. */
ds4_pool *ds4_pool_create(int n_threads);
void ds4_pool_destroy(ds4_pool *pool);
int ds4_pool_threads(const ds4_pool *pool);

/* Runs fn for every task in [0, n_tasks) and returns when all are done.
 * pool may be NULL (runs inline on the caller). Not reentrant. */
void ds4_pool_run(ds4_pool *pool, ds4_task_fn fn, void *ctx, int64_t n_tasks);

/* Number of CPUs available to this process. */
int ds4_cpu_count(void);

#endif
