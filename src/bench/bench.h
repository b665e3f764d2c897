/* Benchmarks: memory bandwidth (STREAM-style triad) and kernel throughput.
 * The kernel numbers are reported as a fraction of the triad bandwidth
 * measured in the same run with the same thread count, so they compare
 * across machines. */
#ifndef DS4_BENCH_BENCH_H
#define DS4_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/error.h"
#include "base/pool.h"
#include "engine/engine.h"
#include "model/config.h"

/* Best and median of repeated measurements. */
typedef struct { double best, median; } ds4_bench_stat;
ds4_bench_stat ds4_bench_stat_of(double *samples, int n); /* sorts samples */

/* Nanoseconds per core clock cycle right now: the best of a few timings of
 * a chain of dependent integer adds (one cycle each on every x86-64 and
 * AArch64 core), so per-cycle figures stay comparable while a host changes
 * the clock. 0 where there is no such chain for the architecture. */
double ds4_bench_ns_per_cycle(void);

/* Last-level cache size in bytes as the OS reports it (0 if unknown). */
size_t ds4_llc_bytes(void);

/* Streaming buffers: 2 MiB aligned and advised for transparent huge pages
 * (with 4 KiB pages a DRAM stream also pays a page walk every 4 KiB).
 * Release with free(); NULL when out of memory. */
void *ds4_bench_alloc(size_t bytes);

/* Default triad array size: the three arrays together span 8x the LLC,
 * capped at a quarter of the available memory (capped is set then). */
size_t ds4_triad_default_array_bytes(bool *capped);

/* The triad's arrays kept allocated, to re-measure next to each data point
 * on machines whose bandwidth varies (shared hosts). open returns NULL with
 * a message on stderr when the arrays cannot be allocated. */
typedef struct ds4_triad ds4_triad;
ds4_triad *ds4_triad_open(ds4_pool *pool, size_t array_bytes);
ds4_bench_stat ds4_triad_run(ds4_triad *t, ds4_pool *pool, int reps);
void ds4_triad_close(ds4_triad *t);

/* A read-only stream over two of the triad's arrays (one slice per thread,
 * 2 x 8 bytes per element): the rate at which these threads can read memory
 * when nothing is written, which is what a decode does with the weights. It
 * can be well below the triad: on a 2-vCPU Zen 5 guest, two threads read at
 * 50-54 GB/s while the triad reports 57-72 (the writes add bandwidth that
 * the cores' reads alone do not reach). Reported next to the triad, which
 * stays the reference of the fractions. */
ds4_bench_stat ds4_read_run(ds4_triad *t, ds4_pool *pool, int reps);

/* STREAM triad a[i] = b[i] + s*c[i] over doubles, arrays of array_bytes
 * each, split over the pool (NULL: one thread), then the read-only stream
 * on the same arrays. Triad bandwidth counts 3 x 8 bytes per element
 * (STREAM's convention, no write-allocate traffic), in GB/s (1e9). reps
 * timed passes after one warm-up pass each. Returns false with a message on
 * stderr when the arrays cannot be allocated. */
bool ds4_bench_bandwidth(ds4_pool *pool, size_t array_bytes, int reps, ds4_bench_stat *triad, ds4_bench_stat *read);

typedef struct {
    int threads;          /* N for the "N threads" rows (1 is always measured too) */
    bool csv;
    int reps;             /* timed repetitions per point */
    double min_seconds;   /* minimum time per repetition */
    size_t pool_bytes;    /* weight bytes per type, cycled through (0: default) */
    size_t triad_bytes;   /* per triad array (0: default) */
    const char *types;    /* comma-separated type names, NULL: all with kernels */
    int64_t rows, cols;   /* one custom shape instead of the Flash shapes (rows > 0) */
    bool resident;        /* per-core compute ceiling: one cache-resident matrix, thread CPU time */
} ds4_bench_kernels_opts;

/* `ds4 bench kernels`: per type and Flash shape, matvec weight GB/s with 1
 * and N threads and the fraction of the same-run triad. Returns 0 on
 * success, non-zero with a message on stderr otherwise. */
int ds4_bench_kernels(const ds4_bench_kernels_opts *o, FILE *out);
/* `ds4 bench kernels --resident`: per type, GB/s of weights one core's
 * arithmetic sustains on a cache-resident matrix (default 64x4096), timed
 * in CPU time of the calling thread so preemption on a shared host does not
 * count; for 1 token (matvec) and 2 and 4 tokens (matmul, the prefill
 * token-group paths), the latter as weight bytes x tokens per second. */
int ds4_bench_kernels_resident(const ds4_bench_kernels_opts *o, FILE *out);

/* ---- model benchmark (model.c) ---- */

typedef struct {
    const char *model;
    ds4_weights_mode weights; /* auto (default), mmap or ram */
    int threads;          /* <= 0: one per CPU */
    int ctx_start;        /* tokens prefilled before the timed decode */
    int ctx_max;          /* session context (raised to fit the runs) */
    int gen;              /* timed decode tokens */
    int prefill[8];       /* prefill lengths to time */
    int n_prefill;
    bool csv;
    size_t triad_bytes;   /* per triad array (0: default) */
} ds4_bench_model_opts;

/* `ds4 bench -m FILE`: triad, decode tok/s with the engine-counted bytes per
 * token and their fraction of the triad, prefill tok/s, per-stage split. */
int ds4_bench_model(const ds4_bench_model_opts *o, FILE *out);

/* ---- synthetic models (synth.c) ---- */

typedef struct {
    int layers;          /* the last `layers` layers of the Flash layout */
    const char *recipe;  /* "q2-asym" (published 2-bit types) or "q4" (Q4_K experts) */
    const char *shape;   /* "flash" or "tiny" */
    const char *out;
    uint64_t seed;       /* 0: fixed default */
} ds4_synth_opts;

bool ds4_synth_recipe_known(const char *recipe);
/* The config a synthetic model of that shape and layer count gets. */
bool ds4_synth_config(const char *shape, int layers, ds4_config *c, ds4_error *err);
/* Writes the GGUF (to out.tmp, renamed when complete); err names the problem. */
bool ds4_synth(const ds4_synth_opts *o, ds4_error *err);

#endif
