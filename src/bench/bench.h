/* Benchmarks: memory bandwidth (STREAM-style triad) and kernel throughput.
 * The kernel numbers are reported as a fraction of the triad bandwidth
 * measured in the same run with the same thread count, so they compare
 * across machines. */
#ifndef DS4_BENCH_BENCH_H
#define DS4_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/pool.h"

/* Best and median of repeated measurements. */
typedef struct { double best, median; } ds4_bench_stat;
ds4_bench_stat ds4_bench_stat_of(double *samples, int n); /* sorts samples */

/* Last-level cache size in bytes as the OS reports it (0 if unknown). */
size_t ds4_llc_bytes(void);
/* MemAvailable from /proc/meminfo in bytes (0 if unknown). */
size_t ds4_mem_available(void);

/* Streaming buffers: 2 MiB aligned and advised for transparent huge pages
 * (with 4 KiB pages a DRAM stream also pays a page walk every 4 KiB).
 * Release with free(); NULL when out of memory. */
void *ds4_bench_alloc(size_t bytes);

/* Default triad array size: the three arrays together span 8x the LLC,
 * capped at a quarter of the available memory (capped is set then). */
size_t ds4_triad_default_array_bytes(bool *capped);

/* STREAM triad a[i] = b[i] + s*c[i] over doubles, arrays of array_bytes
 * each, split over the pool (NULL: one thread). Bandwidth counts 3 x 8
 * bytes per element (STREAM's convention, no write-allocate traffic), in
 * GB/s (1e9). reps timed passes after one warm-up pass. Returns false with
 * a message on stderr when the arrays cannot be allocated. */
bool ds4_bench_triad(ds4_pool *pool, size_t array_bytes, int reps, ds4_bench_stat *gbs);

typedef struct {
    int threads;          /* N for the "N threads" rows (1 is always measured too) */
    bool csv;
    int reps;             /* timed repetitions per point */
    double min_seconds;   /* minimum time per repetition */
    size_t pool_bytes;    /* weight bytes per type, cycled through (0: default) */
    size_t triad_bytes;   /* per triad array (0: default) */
    const char *types;    /* comma-separated type names, NULL: all with kernels */
    int64_t rows, cols;   /* one custom shape instead of the Flash shapes (rows > 0) */
} ds4_bench_kernels_opts;

/* `ds4 bench kernels`: per type and Flash shape, matvec weight GB/s with 1
 * and N threads and the fraction of the same-run triad. Returns 0 on
 * success, non-zero with a message on stderr otherwise. */
int ds4_bench_kernels(const ds4_bench_kernels_opts *o, FILE *out);

#endif
