/* `ds4 bench kernels`: matvec throughput per weight type at the DeepSeek V4
 * Flash shapes, with the weights resident in DRAM.
 *
 * A matvec over a matrix that sits in cache measures the kernel, not the
 * memory system; decode reads each weight once per token from DRAM. So each
 * type gets a weight pool larger than the last-level cache (default 1.5x
 * LLC, at least 512 MiB), viewed as many distinct matrices of the shape at
 * hand, and successive calls cycle through them. Throughput is weight bytes
 * per second and its fraction of the triad bandwidth measured in the same
 * run with the same number of threads. */
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <strings.h>

#include "base/fp16.h"
#include "base/progress.h"
#include "bench/bench.h"
#include "quant/quant.h"

/* batch > 1 (at most 16): that many distinct matrices in one
 * ds4_matvec_batch, as decode issues the routed experts (engine/cpu/moe.c):
 * the gate and up matrices of the 6 selected experts against one
 * activation row, then the 6 down matrices, each against its own expert's
 * row. */
typedef struct { int64_t rows, cols; const char *what; int batch; bool own_x; } shape;

static const shape flash_shapes[] = {
    {4096, 4096, "4096x4096", 1, false},
    {2048, 4096, "2048x4096 (expert gate/up)", 1, false},
    {4096, 2048, "4096x2048 (expert down)", 1, false},
    /* attn_q_b: GGUF dims [1024, 32768] are (columns, rows) */
    {32768, 1024, "32768x1024 (attn_q_b)", 1, false},
    {2048, 4096, "12 x 2048x4096 (gate+up batch)", 12, false},
    {4096, 2048, "6 x 4096x2048 (down batch)", 6, true},
};

/* Q8_0_X16, Q4_K_X4 and Q2_K_X4 are the layouts Q8_0, Q4_K and Q2_K weights
 * take at load on CPUs with their kernels (quant.h); they are measured where
 * that is the case. */
static const uint32_t all_types[] = {DS4_TYPE_F32,     DS4_TYPE_F16,  DS4_TYPE_BF16,    DS4_TYPE_Q8_0,
                                     DS4_TYPE_Q8_0_X16, DS4_TYPE_Q4_K, DS4_TYPE_Q4_K_X4, DS4_TYPE_Q2_K,
                                     DS4_TYPE_Q2_K_X4,  DS4_TYPE_IQ2_XXS};

static bool is_layout(uint32_t type) { return ds4_repack_source(type) != type; }

static bool type_runs_here(uint32_t type) {
    /* 1024 values: a row length every layout holds */
    return !is_layout(type) || ds4_repack_type(ds4_repack_source(type), 1024) == type;
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float unit(void) { return (float)((double)(rnd() >> 40) / 16777216.0 * 2.0 - 1.0); }

/* Valid blocks with random contents: float types hold values in [-1, 1],
 * quantized types random quants with small finite scales. */
static void fill_template(uint32_t type, uint8_t *t, size_t bytes) {
    if (type == DS4_TYPE_F32) {
        for (size_t i = 0; i < bytes / 4; i++) ((float *)t)[i] = unit();
        return;
    }
    /* The load-time layouts keep their scales between their groups of
     * quants: with every 16-bit word a small f16, they are valid wherever
     * the rows fall. */
    if (type == DS4_TYPE_F16 || type == DS4_TYPE_BF16 || is_layout(type)) {
        for (size_t i = 0; i < bytes / 2; i++)
            ((uint16_t *)t)[i] = type == DS4_TYPE_BF16 ? ds4_f32_to_bf16(unit()) : ds4_f32_to_f16(unit());
        return;
    }
    for (size_t i = 0; i < bytes; i++) t[i] = (uint8_t)rnd();
    const size_t bb = ds4_type_block_bytes(type);
    const uint16_t d = ds4_f32_to_f16(0.01f), dmin = ds4_f32_to_f16(0.002f);
    for (size_t off = 0; off + bb <= bytes; off += bb) {
        uint8_t *b = t + off;
        switch (type) {
        case DS4_TYPE_Q8_0: ((block_q8_0 *)b)->d = d; break;
        case DS4_TYPE_Q2_K: ((block_q2_K *)b)->d = d; ((block_q2_K *)b)->dmin = dmin; break;
        case DS4_TYPE_Q4_K: ((block_q4_K *)b)->d = d; ((block_q4_K *)b)->dmin = dmin; break;
        case DS4_TYPE_IQ2_XXS: ((block_iq2_xxs *)b)->d = d; break;
        default: break;
        }
    }
}

typedef struct { uint8_t *p; size_t bytes; const uint8_t *tpl; size_t tpl_bytes, per_task; } fill_ctx;

static void fill_task(void *p, int64_t task, int thread_index) {
    (void)thread_index;
    const fill_ctx *f = p;
    size_t off = (size_t)task * f->per_task, end = off + f->per_task < f->bytes ? off + f->per_task : f->bytes;
    while (off < end) {
        size_t k = end - off < f->tpl_bytes ? end - off : f->tpl_bytes;
        memcpy(f->p + off, f->tpl, k);
        off += k;
    }
}

/* One product of the point at matrix index i of the pool: one matvec, or
 * s->batch consecutive matrices in one batch (x holds a row per job when
 * each has its own activation). */
static void product(uint32_t type, const uint8_t *pool_mem, size_t mat, size_t copies, size_t i, const shape *s,
                    const float *x, float *y, ds4_pool *pool) {
    if (s->batch <= 1) {
        ds4_matvec(type, pool_mem + i * mat, s->rows, s->cols, x, y, pool);
        return;
    }
    ds4_matvec_job jobs[16];
    for (int j = 0; j < s->batch; j++)
        jobs[j] = (ds4_matvec_job){type, pool_mem + ((i + (size_t)j) % copies) * mat, s->rows, s->cols,
                                   x + (s->own_x ? (size_t)j * (size_t)s->cols : 0), y + (size_t)j * (size_t)s->rows, 1};
    ds4_matvec_batch(jobs, s->batch, pool);
}

/* One measurement point: repeated timed runs of calls cycling through the
 * pool's matrices. Returns GB/s statistics and the median time per call. */
static ds4_bench_stat measure(uint32_t type, const uint8_t *pool_mem, size_t pool_bytes, const shape *s,
                              const float *x, float *y, ds4_pool *pool, const ds4_bench_kernels_opts *o,
                              double *us_per_call) {
    const size_t mat = (size_t)ds4_row_bytes(type, (uint64_t)s->cols) * (size_t)s->rows;
    const size_t copies = pool_bytes / mat, per_call = s->batch > 1 ? (size_t)s->batch : 1;
    size_t next = 0;
    /* Warm-up: one pass over every matrix (page tables, kernel tables). */
    for (size_t i = 0; i < copies; i += per_call) product(type, pool_mem, mat, copies, i, s, x, y, pool);
    double *gbs = calloc((size_t)o->reps, sizeof(double)), *us = calloc((size_t)o->reps, sizeof(double));
    for (int r = 0; r < o->reps; r++) {
        long calls = 0;
        double t0 = ds4_now(), dt;
        do {
            product(type, pool_mem, mat, copies, next, s, x, y, pool);
            next = (next + per_call) % copies;
            calls++;
            dt = ds4_now() - t0;
        } while (dt < o->min_seconds || calls * per_call < copies);
        gbs[r] = (double)calls * (double)(per_call * mat) / dt / 1e9;
        us[r] = dt / (double)calls * 1e6;
    }
    ds4_bench_stat st = ds4_bench_stat_of(gbs, o->reps);
    ds4_bench_stat ust = ds4_bench_stat_of(us, o->reps);
    *us_per_call = ust.median;
    free(gbs);
    free(us);
    return st;
}

static bool type_selected(const char *list, uint32_t type) {
    if (!type_runs_here(type)) return false;
    if (!list) return true;
    const char *name = ds4_type_name(type);
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == len && !strncasecmp(p, name, n)) return true;
        p += n + (e ? 1 : 0);
    }
    return false;
}

/* A load-time layout named in --types (the file types come from
 * ds4_type_from_name). */
static bool layout_from_name(const char *name, uint32_t *type) {
    for (size_t i = 0; i < sizeof all_types / sizeof *all_types; i++)
        if (is_layout(all_types[i]) && !strcasecmp(name, ds4_type_name(all_types[i]))) {
            *type = all_types[i];
            return true;
        }
    return false;
}

static bool types_valid(const char *list) {
    if (!list) return true;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char name[32];
        uint32_t t;
        snprintf(name, sizeof name, "%.*s", (int)(n < 31 ? n : 31), p);
        const bool file = ds4_type_from_name(name, &t);
        if (!file && layout_from_name(name, &t)) {
            if (!type_runs_here(t)) {
                fprintf(stderr, "ds4 bench kernels: --types: %s is used only on CPUs with its kernel (AVX-512 VNNI%s)\n",
                        ds4_type_name(t), t == DS4_TYPE_Q8_0_X16 ? "" : " and GFNI");
                return false;
            }
        } else if (!file || !ds4_type_has_kernels(t)) {
            fprintf(stderr, "ds4 bench kernels: --types: '%s' is not a weight type with kernels\n", name);
            return false;
        }
        p += n + (e ? 1 : 0);
    }
    return true;
}

int ds4_bench_kernels(const ds4_bench_kernels_opts *o, FILE *out) {
    if (o->resident) return ds4_bench_kernels_resident(o, out);
    if (!types_valid(o->types)) return 2;
    shape one = {o->rows, o->cols, NULL, 1, false};
    char one_name[64];
    const shape *shapes = flash_shapes;
    size_t n_shapes = sizeof flash_shapes / sizeof *flash_shapes;
    if (o->rows > 0) {
        snprintf(one_name, sizeof one_name, "%lldx%lld", (long long)o->rows, (long long)o->cols);
        one.what = one_name;
        shapes = &one;
        n_shapes = 1;
    }
    for (size_t ti = 0; ti < sizeof all_types / sizeof *all_types; ti++)
        for (size_t si = 0; si < n_shapes; si++)
            if (type_selected(o->types, all_types[ti]) && ds4_row_bytes(all_types[ti], (uint64_t)shapes[si].cols) == 0) {
                fprintf(stderr, "ds4 bench kernels: %lld columns is not a whole number of %s blocks\n",
                        (long long)shapes[si].cols, ds4_type_name(all_types[ti]));
                return 2;
            }
    const int nthr[2] = {1, o->threads};
    const int n_counts = o->threads > 1 ? 2 : 1;
    ds4_pool *pools[2] = {ds4_pool_create(1), n_counts > 1 ? ds4_pool_create(o->threads) : NULL};

    bool capped = false;
    size_t triad_bytes = o->triad_bytes ? o->triad_bytes : ds4_triad_default_array_bytes(&capped);
    ds4_bench_stat triad[2] = {{0, 0}, {0, 0}}, readbw[2] = {{0, 0}, {0, 0}};
    ds4_triad *tr = ds4_triad_open(pools[n_counts - 1], triad_bytes);
    if (!tr) return 1;
    for (int i = 0; i < n_counts; i++) {
        triad[i] = ds4_triad_run(tr, pools[i], o->reps);
        readbw[i] = ds4_read_run(tr, pools[i], o->reps);
    }

    size_t llc = ds4_llc_bytes();
    size_t pool_bytes = o->pool_bytes;
    if (!pool_bytes) {
        pool_bytes = llc + llc / 2;
        if (pool_bytes < (512u << 20)) pool_bytes = 512u << 20;
    }
    char b1[32], b2[32], b3[32];
    if (o->csv) {
        fprintf(out, "type,rows,cols,threads,gbs_best,gbs_median,triad_best,triad_median,frac_best,frac_median,us_per_call,"
                     "point_triad_best,point_frac_best,read_best,read_frac_best,batch\n");
    } else {
        fprintf(out, "ds4 bench kernels: simd %s, LLC %s, weights cycled over %s per type\n", ds4_simd_level(),
                ds4_format_bytes((double)llc, b1, sizeof b1), ds4_format_bytes((double)pool_bytes, b2, sizeof b2));
        fprintf(out, "triad (3 arrays of %s%s):", ds4_format_bytes((double)triad_bytes, b3, sizeof b3),
                capped ? ", capped by available memory" : "");
        for (int i = 0; i < n_counts; i++)
            fprintf(out, "  %d thread%s %.1f GB/s (median %.1f)", nthr[i], nthr[i] > 1 ? "s" : "", triad[i].best,
                    triad[i].median);
        fprintf(out, "\nread-only stream (2 of those arrays):");
        for (int i = 0; i < n_counts; i++)
            fprintf(out, "  %d thread%s %.1f GB/s (median %.1f)", nthr[i], nthr[i] > 1 ? "s" : "", readbw[i].best,
                    readbw[i].median);
        fprintf(out, "\n\n%-8s %-31s %3s %10s %10s %7s %7s %10s %8s %7s %7s\n", "type", "shape (rows x cols)", "thr",
                "GB/s best", "GB/s med", "frac", "fracmed", "us/call", "ptriad", "pfrac", "rfrac");
    }
    int64_t max_cols = 0, max_rows = 0;
    for (size_t si = 0; si < n_shapes; si++) {
        const int64_t jobs = shapes[si].batch > 1 ? shapes[si].batch : 1;
        const int64_t cols = shapes[si].cols * (shapes[si].own_x ? jobs : 1), rows = shapes[si].rows * jobs;
        if (cols > max_cols) max_cols = cols;
        if (rows > max_rows) max_rows = rows;
    }
    float *x = malloc(sizeof(float) * (size_t)max_cols), *y = malloc(sizeof(float) * (size_t)max_rows);
    for (int64_t i = 0; i < max_cols; i++) x[i] = unit();
    int status = 0;
    for (size_t ti = 0; ti < sizeof all_types / sizeof *all_types; ti++) {
        const uint32_t type = all_types[ti];
        if (!type_selected(o->types, type)) continue;
        /* The pool holds at least one matrix of every shape. */
        size_t type_pool = pool_bytes;
        for (size_t si = 0; si < n_shapes; si++) {
            size_t mat = (size_t)ds4_row_bytes(type, (uint64_t)shapes[si].cols) * (size_t)shapes[si].rows;
            if (mat > type_pool) type_pool = mat;
        }
        uint8_t *mem = ds4_bench_alloc(type_pool);
        if (!mem) {
            fprintf(stderr, "ds4 bench kernels: cannot allocate %zu bytes of weights\n", pool_bytes);
            status = 1;
            break;
        }
        const size_t tpl_bytes = (size_t)ds4_type_block_bytes(type) * 4096;
        uint8_t *tpl = malloc(tpl_bytes);
        fill_template(type, tpl, tpl_bytes);
        fill_ctx fc = {mem, type_pool, tpl, tpl_bytes, 0};
        const int nt = ds4_pool_threads(pools[n_counts - 1]);
        fc.per_task = ((type_pool / (size_t)nt + tpl_bytes - 1) / tpl_bytes) * tpl_bytes;
        ds4_pool_run(pools[n_counts - 1], fill_task, &fc, nt);
        free(tpl);
        for (size_t si = 0; si < n_shapes; si++) {
            for (int i = 0; i < n_counts; i++) {
                double us;
                /* A triad right before the point: on a shared host the bandwidth of
                 * the moment is the fairer reference (pfrac); frac uses the run's. */
                const ds4_bench_stat pt = ds4_triad_run(tr, pools[i], 3);
                ds4_bench_stat g = measure(type, mem, type_pool, &shapes[si], x, y, pools[i], o, &us);
                const double fb = g.best / triad[i].best, fm = g.median / triad[i].median, pf = g.best / pt.best;
                const double rf = g.best / readbw[i].best;
                if (o->csv)
                    fprintf(out, "%s,%lld,%lld,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.1f,%.3f,%.3f,%.3f,%.3f,%d\n",
                            ds4_type_name(type), (long long)shapes[si].rows, (long long)shapes[si].cols, nthr[i], g.best,
                            g.median, triad[i].best, triad[i].median, fb, fm, us, pt.best, pf, readbw[i].best, rf,
                            shapes[si].batch);
                else
                    fprintf(out, "%-8s %-31s %3d %10.2f %10.2f %7.2f %7.2f %10.1f %8.2f %7.2f %7.2f\n", ds4_type_name(type),
                            shapes[si].what, nthr[i], g.best, g.median, fb, fm, us, pt.best, pf, rf);
                fflush(out);
            }
        }
        free(mem);
    }
    free(x);
    free(y);
    ds4_triad_close(tr);
    for (int i = 0; i < 2; i++) ds4_pool_destroy(pools[i]);
    return status;
}

/* ---- per-core compute ceiling (--resident) ---- */

static double thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#if defined(__x86_64__)
#define ADD_CHAIN8(x) __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t" \
                                       "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"     \
                                       : "+r"(x))
#elif defined(__aarch64__)
#define ADD_CHAIN8(x) __asm__ volatile("add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"     \
                                       "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"     \
                                       "add %0, %0, #1\n\tadd %0, %0, #1"                               \
                                       : "+r"(x))
#endif

double ds4_bench_ns_per_cycle(void) {
#ifdef ADD_CHAIN8
    enum { ITERS = 1 << 20 }; /* 8 Mi cycles, ~3 ms at 3 GHz */
    double best = 0;
    for (int r = 0; r < 3; r++) {
        uint64_t x = 0;
        const double t0 = thread_cpu_seconds();
        for (int i = 0; i < ITERS; i++) ADD_CHAIN8(x);
        const double ns = (thread_cpu_seconds() - t0) * 1e9 / (8.0 * ITERS);
        if (ns > 0 && (best == 0 || ns < best)) best = ns;
    }
    return best;
#else
    return 0;
#endif
}

/* One matrix small enough to stay in L2 (64x4096 Q2_K is 336 KiB), run
 * inline on the calling thread: the rate is what the arithmetic allows, the
 * ceiling a core can contribute to a DRAM-bound matvec. CPU time, not wall
 * time, so a host that preempts the thread does not lower the figure; and
 * core cycles per 256 weights and token, each repetition divided by the
 * clock measured just before it, so a host that changes the clock between
 * two runs does not move that column. */
int ds4_bench_kernels_resident(const ds4_bench_kernels_opts *o, FILE *out) {
    if (!types_valid(o->types)) return 2;
    const int64_t rows = o->rows > 0 ? o->rows : 64, cols = o->rows > 0 ? o->cols : 4096;
    for (size_t ti = 0; ti < sizeof all_types / sizeof *all_types; ti++)
        if (type_selected(o->types, all_types[ti]) && ds4_row_bytes(all_types[ti], (uint64_t)cols) == 0) {
            fprintf(stderr, "ds4 bench kernels: %lld columns is not a whole number of %s blocks\n", (long long)cols,
                    ds4_type_name(all_types[ti]));
            return 2;
        }
    enum { NTOK = 4 };
    float *x = malloc(sizeof(float) * (size_t)(cols * NTOK)), *y = malloc(sizeof(float) * (size_t)(rows * NTOK));
    if (!x || !y) {
        free(x);
        free(y);
        fprintf(stderr, "ds4 bench kernels: out of memory for the activations\n");
        return 1;
    }
    for (int64_t i = 0; i < cols * NTOK; i++) x[i] = unit();
    if (o->csv)
        fprintf(out, "type,rows,cols,tokens,gbs_best,gbs_median,ns_per_row,cycles_per_256_best,cycles_per_256_median\n");
    else
        fprintf(out, "ds4 bench kernels --resident: simd %s, one %lldx%lld matrix in cache, one thread, CPU time\n"
                     "(tok 2, 4: ds4_matmul of that many tokens, GB/s = weight bytes x tokens / time;\n"
                     " cyc/256: core clock cycles per 256 weights and token, clock measured per repetition)\n\n"
                     "%-8s %-12s %4s %10s %10s %10s %10s %10s\n",
                ds4_simd_level(), (long long)rows, (long long)cols, "type", "shape", "tok", "GB/s best", "GB/s med",
                "ns/row", "cyc/256", "cyc/256 med");
    int status = 0;
    for (size_t ti = 0; ti < sizeof all_types / sizeof *all_types; ti++) {
        const uint32_t type = all_types[ti];
        if (!type_selected(o->types, type)) continue;
        const size_t mat = (size_t)ds4_row_bytes(type, (uint64_t)cols) * (size_t)rows;
        uint8_t *w = aligned_alloc(64, (mat + 63) & ~(size_t)63); /* rows start where a model's do: on lines */
        double *gbs = calloc((size_t)o->reps, sizeof(double)), *ns = calloc((size_t)o->reps, sizeof(double));
        double *cyc = calloc((size_t)o->reps, sizeof(double));
        if (!w || !gbs || !ns || !cyc) {
            free(w);
            free(gbs);
            free(ns);
            free(cyc);
            fprintf(stderr, "ds4 bench kernels: cannot allocate %zu bytes of weights\n", mat);
            status = 1;
            break;
        }
        fill_template(type, w, mat);
        char shp[48];
        snprintf(shp, sizeof shp, "%lldx%lld", (long long)rows, (long long)cols);
        for (int nt = 1; nt <= NTOK; nt *= 2) {
            ds4_matmul(type, w, rows, cols, x, nt, y, NULL); /* warm-up: caches, tables, scratch */
            for (int r = 0; r < o->reps; r++) {
                const double ns_cycle = ds4_bench_ns_per_cycle();
                long calls = 0;
                double t0 = thread_cpu_seconds(), dt;
                do {
                    ds4_matmul(type, w, rows, cols, x, nt, y, NULL);
                    calls++;
                    dt = thread_cpu_seconds() - t0;
                } while (dt < o->min_seconds);
                gbs[r] = (double)calls * (double)mat * nt / dt / 1e9;
                ns[r] = dt / ((double)calls * (double)rows * nt) * 1e9;
                /* ns per 256 weights and token over ns per cycle (0: no clock) */
                cyc[r] = ns_cycle > 0 ? ns[r] * 256.0 / (double)cols / ns_cycle : 0;
            }
            ds4_bench_stat g = ds4_bench_stat_of(gbs, o->reps), t = ds4_bench_stat_of(ns, o->reps);
            ds4_bench_stat c = ds4_bench_stat_of(cyc, o->reps); /* sorted ascending: best is the fewest */
            const double c_best = cyc[0];
            if (o->csv)
                fprintf(out, "%s,%lld,%lld,%d,%.3f,%.3f,%.1f,%.2f,%.2f\n", ds4_type_name(type), (long long)rows,
                        (long long)cols, nt, g.best, g.median, t.median, c_best, c.median);
            else
                fprintf(out, "%-8s %-12s %4d %10.2f %10.2f %10.1f %10.2f %10.2f\n", ds4_type_name(type), shp, nt, g.best,
                        g.median, t.median, c_best, c.median);
            fflush(out);
        }
        free(w);
        free(gbs);
        free(ns);
        free(cyc);
    }
    free(x);
    free(y);
    return status;
}
