/* STREAM-style triad on arrays much larger than the last-level cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/file.h"
#include "base/progress.h"
#include "bench/bench.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

ds4_bench_stat ds4_bench_stat_of(double *s, int n) {
    ds4_bench_stat r = {0, 0};
    if (n <= 0) return r;
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    r.best = s[n - 1];
    r.median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    return r;
}

size_t ds4_llc_bytes(void) {
#ifdef _SC_LEVEL3_CACHE_SIZE
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0) return (size_t)l3;
#endif
#ifdef _SC_LEVEL2_CACHE_SIZE
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l2 > 0) return (size_t)l2;
#endif
    return 0;
}

size_t ds4_triad_default_array_bytes(bool *capped) {
    size_t llc = ds4_llc_bytes();
    if (llc == 0) llc = 64u << 20;
    size_t want = llc * 8 / 3 + 1;
    size_t avail = (size_t)ds4_meminfo_bytes("MemAvailable");
    *capped = false;
    if (avail && want * 3 > avail / 4) {
        want = avail / 12;
        *capped = true;
    }
    return (want + 4095) & ~(size_t)4095;
}

void *ds4_bench_alloc(size_t bytes) {
    const size_t huge = 2u << 20;
    bytes = (bytes + huge - 1) & ~(huge - 1);
    void *p = aligned_alloc(huge, bytes);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

/* The streams split the arrays into one contiguous slice per thread, as
 * STREAM's static OpenMP schedule does: per_task elements each, the last
 * one shorter. */
static size_t slice_len(size_t n, int threads) { return (n + (size_t)threads - 1) / (size_t)threads; }

static void slice_bounds(size_t n, size_t per_task, int64_t task, size_t *i0, size_t *i1) {
    *i0 = (size_t)task * per_task;
    *i1 = *i0 + per_task < n ? *i0 + per_task : n;
}

typedef struct {
    double *a;
    const double *b, *c;
    size_t n, per_task;
    double s;
} triad_ctx;

static void triad_task(void *p, int64_t task, int thread_index) {
    (void)thread_index;
    const triad_ctx *t = p;
    size_t i0, i1;
    slice_bounds(t->n, t->per_task, task, &i0, &i1);
    double *restrict a = t->a;
    const double *restrict b = t->b, *restrict c = t->c;
    const double s = t->s;
    for (size_t i = i0; i < i1; i++) a[i] = b[i] + s * c[i];
}

typedef struct { double *a, *b, *c; size_t n, per_task; } init_ctx;

/* First touch from the thread that will stream the slice (NUMA placement). */
static void init_task(void *p, int64_t task, int thread_index) {
    (void)thread_index;
    const init_ctx *t = p;
    size_t i0, i1;
    slice_bounds(t->n, t->per_task, task, &i0, &i1);
    for (size_t i = i0; i < i1; i++) {
        t->a[i] = 0.0;
        t->b[i] = 1.0;
        t->c[i] = 2.0;
    }
}

struct ds4_triad {
    double *a, *b, *c;
    size_t n;
};

ds4_triad *ds4_triad_open(ds4_pool *pool, size_t array_bytes) {
    ds4_triad *t = calloc(1, sizeof *t);
    const size_t n = array_bytes / sizeof(double);
    if (t) {
        t->n = n;
        t->a = ds4_bench_alloc(n * sizeof(double));
        t->b = ds4_bench_alloc(n * sizeof(double));
        t->c = ds4_bench_alloc(n * sizeof(double));
    }
    if (!t || !t->a || !t->b || !t->c) {
        fprintf(stderr, "ds4 bench: cannot allocate 3 x %zu bytes for the triad\n", n * sizeof(double));
        ds4_triad_close(t);
        return NULL;
    }
    /* First touch by the threads that stream each slice (NUMA placement). */
    const int nt = ds4_pool_threads(pool);
    init_ctx ic = {t->a, t->b, t->c, n, slice_len(n, nt)};
    ds4_pool_run(pool, init_task, &ic, nt);
    return t;
}

void ds4_triad_close(ds4_triad *t) {
    if (!t) return;
    free(t->a);
    free(t->b);
    free(t->c);
    free(t);
}

/* GB/s of reps timed passes of fn over nt slices (after one warm-up pass),
 * bytes_per_pass bytes each. */
static ds4_bench_stat timed_passes(ds4_pool *pool, ds4_task_fn fn, void *ctx, int nt, int reps, double bytes_per_pass) {
    double *samples = calloc((size_t)reps, sizeof(double));
    ds4_pool_run(pool, fn, ctx, nt); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = ds4_now();
        ds4_pool_run(pool, fn, ctx, nt);
        samples[r] = bytes_per_pass / (ds4_now() - t0) / 1e9;
    }
    ds4_bench_stat st = ds4_bench_stat_of(samples, reps);
    free(samples);
    return st;
}

ds4_bench_stat ds4_triad_run(ds4_triad *t, ds4_pool *pool, int reps) {
    const int nt = ds4_pool_threads(pool);
    triad_ctx tc = {t->a, t->b, t->c, t->n, slice_len(t->n, nt), 3.0};
    return timed_passes(pool, triad_task, &tc, nt, reps, 3.0 * (double)t->n * sizeof(double));
}

typedef struct {
    const double *b, *c;
    size_t n, per_task;
    double sums[64]; /* one per task, so the reads cannot be optimized away */
} read_ctx;

/* Sums b[i] + c[i] over the slice in eight independent partial sums (one
 * chain of dependent adds would bound the loop by add latency, not memory). */
static void read_task(void *p, int64_t task, int thread_index) {
    (void)thread_index;
    read_ctx *t = p;
    size_t i, i1;
    slice_bounds(t->n, t->per_task, task, &i, &i1);
    double part[8] = {0.0};
    for (; i + 8 <= i1; i += 8)
        for (int j = 0; j < 8; j++) part[j] += t->b[i + j] + t->c[i + j];
    for (; i < i1; i++) part[0] += t->b[i] + t->c[i];
    t->sums[task % 64] = part[0] + part[1] + part[2] + part[3] + part[4] + part[5] + part[6] + part[7];
}

ds4_bench_stat ds4_read_run(ds4_triad *t, ds4_pool *pool, int reps) {
    const int nt = ds4_pool_threads(pool);
    read_ctx rc = {t->b, t->c, t->n, slice_len(t->n, nt), {0}};
    return timed_passes(pool, read_task, &rc, nt, reps, 2.0 * (double)t->n * sizeof(double));
}

bool ds4_bench_bandwidth(ds4_pool *pool, size_t array_bytes, int reps, ds4_bench_stat *triad, ds4_bench_stat *read) {
    ds4_triad *t = ds4_triad_open(pool, array_bytes);
    if (!t) return false;
    *triad = ds4_triad_run(t, pool, reps);
    *read = ds4_read_run(t, pool, reps);
    ds4_triad_close(t);
    return true;
}
