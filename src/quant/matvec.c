/* Matrix-vector and matrix-matrix products over quantized weights.
 *
 * Decode (matvec) is a memory-streaming problem: the weights are read once
 * and every byte should arrive at the rate DRAM delivers it. So:
 *  - the activation is quantized once per call (per token for matmul) into
 *    the format the weight type pairs with, and converted once into the
 *    kernel's own layout if it has one; float weight types use the float
 *    activation directly;
 *  - scratch memory is per calling thread and reused (no allocation per
 *    call once warm);
 *  - rows are handed out to the pool in chunks of contiguous rows sized in
 *    bytes (each thread streams long sequential runs, which the hardware
 *    prefetcher follows), many chunks per thread so a thread slowed by a
 *    neighbour does not leave the other idle at the end;
 *  - the kernels prefetch DS4_PF_DIST bytes ahead of the block they read
 *    (rows of a chunk are contiguous, so this runs into the next row); a
 *    burst prefetch of whole rows here was measured to cost up to 4x on
 *    long rows (it fills the line-fill buffers), so there is none.
 * Prefill (matmul) tiles tokens so that a chunk of weight rows stays in L2
 * while a tile of activations is multiplied against it: each weight byte
 * comes from DRAM once per call. Each output is one kernel dot, so the
 * result equals ds4_vec_dot for that row and does not depend on the thread
 * count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"
#include "quant/simd.h"

/* ---- per-thread scratch ---- */

typedef struct { void *p; size_t cap; } scratch;
static _Thread_local scratch tls_scratch[2];

void *ds4_quant_scratch(int slot, size_t bytes) {
    scratch *s = &tls_scratch[slot];
    if (bytes > s->cap) {
        free(s->p);
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        s->p = aligned_alloc(64, cap);
        if (!s->p) {
            fprintf(stderr, "ds4: out of memory for %zu bytes of kernel scratch\n", cap);
            abort();
        }
        s->cap = cap;
    }
    return s->p;
}

/* Per-thread job and task tables of ds4_matvec_batch. */
typedef struct batch_job batch_job;
typedef struct { int32_t job; int64_t r0, r1; } batch_task; /* rows, or mv_rows' units (one token) */
static _Thread_local batch_job *tls_jobs;
static _Thread_local batch_task *tls_tasks;
static _Thread_local size_t tls_jobs_cap, tls_tasks_cap;

void ds4_quant_thread_release(void) {
    for (int i = 0; i < 2; i++) {
        free(tls_scratch[i].p);
        tls_scratch[i].p = NULL;
        tls_scratch[i].cap = 0;
    }
    free(tls_jobs);
    free(tls_tasks);
    tls_jobs = NULL;
    tls_tasks = NULL;
    tls_jobs_cap = tls_tasks_cap = 0;
}

/* ---- work split ---- */

typedef struct {
    ds4_dot_fn dot;
    ds4_dot2_fn dot2; /* NULL: one dot per token */
    ds4_dot4_fn dot4; /* NULL: pairs or single tokens */
    ds4_dot8_fn dot8; /* NULL: groups of four at most */
    ds4_dot_rows2_fn rows2; /* NULL: one row at a time in single-token products */
    ds4_dot2x2_fn dot2x2;   /* NULL: the token groups above, row by row */
    const uint8_t *W;
    size_t row_bytes, act_bytes;
    int64_t rows, cols, n_tok, rows_per_task, tok_tile;
    const uint8_t *act; /* n_tok prepared activation rows, act_bytes apart */
    float *Y;           /* n_tok x rows */
} mm_ctx;

/* The single-token work units of a matrix of `rows` rows: with a two-row
 * kernel, unit u < rows / 2 is the pair of rows u and rows / 2 + u, and an
 * odd last row is a unit of its own; without one, unit u is row u. */
static int64_t mv_units(const mm_ctx *c) { return c->rows2 ? (c->rows + 1) / 2 : c->rows; }

/* What ds4_matvec_batch's tasks count in: mv_rows' units for a one-token
 * job, rows otherwise; and the weight bytes of one. */
static int64_t task_units(const mm_ctx *c) { return c->n_tok == 1 ? mv_units(c) : c->rows; }
static int64_t unit_bytes(const mm_ctx *c) { return (int64_t)c->row_bytes * (c->n_tok == 1 && c->rows2 ? 2 : 1); }

/* Units [u0, u1) of one token. A kernel with a two-row form takes row u of
 * the first half of the matrix with row u of the second: two weight
 * streams per core (the Q8_0_X16 products streamed 5-16% faster from DRAM
 * on Zen 5 than row by row, docs/performance.md); the results are the same
 * bits. The halves are the whole matrix's, not the task's, so a thread
 * whose next task follows its last one (the usual case in the tapered
 * split) continues both streams where they were: with the halves of each
 * task, every task start began a new stream, and one core streamed Q2_K at
 * 17 GB/s in tasks of 64 KiB against 27 in tasks of 4 MiB. */
static void mv_rows(const mm_ctx *c, int64_t u0, int64_t u1) {
    const size_t rb = c->row_bytes;
    if (!c->rows2) {
        for (int64_t r = u0; r < u1; r++) c->Y[r] = c->dot(c->cols, c->W + (size_t)r * rb, c->act);
        return;
    }
    const int64_t half = c->rows / 2;
    for (int64_t u = u0; u < u1 && u < half; u++) {
        float o[2];
        c->rows2(c->cols, c->W + (size_t)u * rb, c->W + (size_t)(half + u) * rb, c->act, o);
        c->Y[u] = o[0];
        c->Y[half + u] = o[1];
    }
    if (u1 > half) c->Y[2 * half] = c->dot(c->cols, c->W + (size_t)(2 * half) * rb, c->act); /* the odd last row */
}

/* Row r (weights w) against tokens t..t+k-1 through the kernel's k-token
 * form (k = 2, 4 or 8). */
static void token_group(const mm_ctx *c, const uint8_t *w, int64_t r, int64_t t, int k) {
    float o[8];
    const void *a[8];
    for (int i = 0; i < k; i++) a[i] = c->act + (size_t)(t + i) * c->act_bytes;
    if (k == 8) c->dot8(c->cols, w, a, o);
    else if (k == 4) c->dot4(c->cols, w, a, o);
    else c->dot2(c->cols, w, a[0], a[1], o);
    for (int i = 0; i < k; i++) c->Y[(t + i) * c->rows + r] = o[i];
}

/* Rows [r0, r1) of tokens [t0, t1) through the two-row, two-token form:
 * token pairs outer, so a pair's activations stay in L1 while the rows
 * pass; an odd row and an odd token go through the one-token dot. */
static void mm_rows_2x2(const mm_ctx *c, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    const size_t rb = c->row_bytes;
    const int64_t rp = r0 + (r1 - r0) / 2 * 2;
    int64_t t = t0;
    for (; t + 2 <= t1; t += 2) {
        const uint8_t *a0 = c->act + (size_t)t * c->act_bytes, *a1 = a0 + c->act_bytes;
        float *y0 = c->Y + t * c->rows, *y1 = y0 + c->rows;
        for (int64_t r = r0; r < rp; r += 2) {
            float o[4];
            c->dot2x2(c->cols, c->W + (size_t)r * rb, c->W + (size_t)(r + 1) * rb, a0, a1, o);
            y0[r] = o[0];
            y1[r] = o[1];
            y0[r + 1] = o[2];
            y1[r + 1] = o[3];
        }
        if (rp < r1) {
            y0[rp] = c->dot(c->cols, c->W + (size_t)rp * rb, a0);
            y1[rp] = c->dot(c->cols, c->W + (size_t)rp * rb, a1);
        }
    }
    for (; t < t1; t++)
        for (int64_t r = r0; r < r1; r++)
            c->Y[t * c->rows + r] = c->dot(c->cols, c->W + (size_t)r * rb, c->act + (size_t)t * c->act_bytes);
}

/* Rows [r0, r1) of every token, token tile by token tile. */
static void mm_rows(const mm_ctx *c, int64_t r0, int64_t r1) {
    for (int64_t t0 = 0; t0 < c->n_tok; t0 += c->tok_tile) {
        const int64_t t1 = t0 + c->tok_tile < c->n_tok ? t0 + c->tok_tile : c->n_tok;
        if (c->dot2x2) {
            mm_rows_2x2(c, r0, r1, t0, t1);
            continue;
        }
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *w = c->W + (size_t)r * c->row_bytes;
            int64_t t = t0;
            /* Token groups share one decode of the row where the kernel can. */
            for (; c->dot8 && t + 8 <= t1; t += 8) token_group(c, w, r, t, 8);
            for (; c->dot4 && t + 4 <= t1; t += 4) token_group(c, w, r, t, 4);
            for (; c->dot2 && t + 2 <= t1; t += 2) token_group(c, w, r, t, 2);
            for (; t < t1; t++) c->Y[t * c->rows + r] = c->dot(c->cols, w, c->act + (size_t)t * c->act_bytes);
        }
    }
}

static void mm_task(void *p, int64_t task, int thread_index) {
    (void)thread_index;
    const mm_ctx *c = p;
    const int64_t r0 = task * c->rows_per_task;
    mm_rows(c, r0, r0 + c->rows_per_task < c->rows ? r0 + c->rows_per_task : c->rows);
}

/* ---- activation preparation ---- */

typedef struct {
    ds4_act_quant_fn quant;
    ds4_dot_kernel k;
    const float *X;
    int64_t cols;
    size_t std_bytes, act_bytes;
    uint8_t *std, *act;
} qa_ctx;

static void qa_task(void *p, int64_t t, int thread_index) {
    (void)thread_index;
    const qa_ctx *c = p;
    uint8_t *dst = c->k.act_prep ? c->std + (size_t)t * c->std_bytes : c->act + (size_t)t * c->act_bytes;
    c->quant(c->X + t * c->cols, dst, c->cols);
    if (c->k.act_prep) c->k.act_prep(c->cols, dst, c->act + (size_t)t * c->act_bytes);
}

static size_t round64(size_t v) { return (v + 63) & ~(size_t)63; }

/* Chunk size in bytes of weights per task: large enough that the hand-out
 * cost vanishes, small enough for several chunks per thread. */
#define CHUNK_BYTES (64 * 1024)
/* Single-token products (decode) have no L2 reuse to protect, and a 64 KiB
 * chunk measured poorly at two threads: Q8_0 at Flash shapes streamed 17.5
 * GB/s (0.70 of triad) with 64 KiB chunks, 21-25 with 1 MiB and 22-27
 * (0.90-1.13) with 4 MiB on a 2-core guest, where a plain two-thread read
 * loop gets 27. Longer contiguous runs per thread keep the hardware
 * prefetchers streaming; the tapered split in ds4_matvec_batch (single-token
 * products all go through it) shrinks the chunks toward the end so the
 * threads finish together. */
#define MATVEC_CHUNK_BYTES (4096 * 1024)
#define TAPER_MIN_BYTES (64 * 1024)

void ds4_matmul(uint32_t type, const void *W, int64_t rows, int64_t cols, const float *X,
                int64_t n_tok, float *Y, ds4_pool *pool) {
    const ds4_dot_kernel k = ds4_dot_kernel_for(type);
    const uint64_t row_bytes = ds4_row_bytes(type, (uint64_t)cols);
    if (!k.dot || row_bytes == 0) ds4_quant_bad_type("matmul (no kernel or bad column count)", type);
    if (rows <= 0 || n_tok <= 0) return;
    if (n_tok == 1) { /* one token: the batch path's tapered split */
        const ds4_matvec_job job = {type, W, rows, cols, X, Y, 1};
        ds4_matvec_batch(&job, 1, pool);
        return;
    }
    const uint32_t at = ds4_act_type(type);
    mm_ctx c = {k.dot, k.dot2, k.dot4, k.dot8, k.rows2, k.dot2x2, W, (size_t)row_bytes, 0, rows, cols, n_tok, 1, 1, NULL, Y};
    if (at == DS4_TYPE_F32 && !k.act_prep) {
        c.act_bytes = (size_t)cols * sizeof(float);
        c.act = (const uint8_t *)X;
    } else {
        qa_ctx q = {ds4_act_quant_for(at), k, X, cols, round64((size_t)ds4_row_bytes(at, (uint64_t)cols)), 0, NULL, NULL};
        q.act_bytes = k.act_prep ? round64(k.act_bytes(cols)) : q.std_bytes;
        q.act = ds4_quant_scratch(0, q.act_bytes * (size_t)n_tok);
        if (k.act_prep) q.std = ds4_quant_scratch(1, q.std_bytes * (size_t)n_tok);
        if (n_tok > 1) ds4_pool_run(pool, qa_task, &q, n_tok);
        else qa_task(&q, 0, 0);
        c.act = q.act;
        c.act_bytes = q.act_bytes;
    }
    const int nt = pool ? ds4_pool_threads(pool) : 1;
    int64_t rpt = (int64_t)(CHUNK_BYTES / row_bytes);
    if (rpt < 1) rpt = 1;
    /* At least ~4 chunks per thread so the split stays balanced. */
    const int64_t max_rpt = rows / (4 * (int64_t)nt);
    if (nt > 1 && rpt > max_rpt) rpt = max_rpt < 1 ? 1 : max_rpt;
    c.rows_per_task = rpt;
    /* Token tile: activations of one tile plus one weight chunk fit in L2. */
    const int64_t tile = (int64_t)((512 * 1024) / (c.act_bytes ? c.act_bytes : 1));
    c.tok_tile = tile < 1 ? 1 : tile;
    const int64_t n_tasks = (rows + rpt - 1) / rpt;
    if (n_tasks == 1) mm_task(&c, 0, 0);
    else ds4_pool_run(pool, mm_task, &c, n_tasks);
}

void ds4_matvec(uint32_t type, const void *W, int64_t rows, int64_t cols, const float *x, float *y,
                ds4_pool *pool) {
    ds4_matmul(type, W, rows, cols, x, 1, y, pool);
}

/* ---- batched matvec ---- */

/* Token tile: activations of one tile plus one weight chunk fit in L2. */
static void set_tok_tile(mm_ctx *c) {
    const int64_t tile = (int64_t)((512 * 1024) / (c->act_bytes ? c->act_bytes : 1));
    c->tok_tile = tile < 1 ? 1 : tile;
}

struct batch_job {
    mm_ctx c;
    ds4_act_quant_fn quant; /* NULL: float activation used in place */
    ds4_act_prep_fn prep;
    uint32_t at;
    int share;              /* earlier job whose prepared activation this one reuses, or -1 */
};
typedef struct { const batch_job *jobs; const batch_task *tasks; } batch_ctx;

static void batch_task_fn(void *p, int64_t task, int thread_index) {
    const batch_ctx *b = p;
    const batch_task *t = &b->tasks[task];
    const mm_ctx *c = &b->jobs[t->job].c;
    (void)thread_index;
    (c->n_tok == 1 ? mv_rows : mm_rows)(c, t->r0, t->r1);
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    size_t n = need * 2;
    void *q = realloc(p, n * elem);
    if (!q) {
        fprintf(stderr, "ds4: out of memory for %zu batch entries\n", n);
        abort();
    }
    *cap = n;
    return q;
}

void ds4_matvec_batch(const ds4_matvec_job *jobs, int n_jobs, ds4_pool *pool) {
    if (n_jobs <= 0) return;
    tls_jobs = grow(tls_jobs, &tls_jobs_cap, (size_t)n_jobs, sizeof *tls_jobs);
    batch_job *bj = tls_jobs;
    /* Activation bytes: one prepared copy per distinct (x, cols, format). */
    size_t act_total = 0, std_max = 0;
    int64_t total_rows_bytes = 0;
    for (int j = 0; j < n_jobs; j++) {
        const ds4_matvec_job *jb = &jobs[j];
        const ds4_dot_kernel k = ds4_dot_kernel_for(jb->type);
        const uint64_t rb = ds4_row_bytes(jb->type, (uint64_t)jb->cols);
        if (!k.dot || rb == 0) ds4_quant_bad_type("matvec_batch (no kernel or bad column count)", jb->type);
        batch_job *b = &bj[j];
        memset(b, 0, sizeof *b);
        b->share = -1;
        b->c.dot = k.dot;
        b->c.dot2 = k.dot2;
        b->c.dot4 = k.dot4;
        b->c.dot8 = k.dot8;
        b->c.rows2 = k.rows2;
        b->c.dot2x2 = k.dot2x2;
        b->c.W = jb->W;
        b->c.row_bytes = (size_t)rb;
        b->c.rows = jb->rows;
        b->c.cols = jb->cols;
        b->c.n_tok = jb->n_tok > 1 ? jb->n_tok : 1;
        b->c.tok_tile = 1;
        b->c.Y = jb->y;
        b->at = ds4_act_type(jb->type);
        b->prep = k.act_prep;
        total_rows_bytes += jb->rows * (int64_t)rb;
        if (b->at == DS4_TYPE_F32 && !k.act_prep) {
            b->c.act = (const uint8_t *)jb->x;
            b->c.act_bytes = (size_t)jb->cols * sizeof(float);
            set_tok_tile(&b->c);
            continue;
        }
        b->quant = ds4_act_quant_for(b->at);
        const size_t std = round64((size_t)ds4_row_bytes(b->at, (uint64_t)jb->cols));
        b->c.act_bytes = k.act_prep ? round64(k.act_bytes(jb->cols)) : std;
        set_tok_tile(&b->c);
        if (std > std_max) std_max = std;
        b->share = -1;
        for (int i = 0; i < j && b->share < 0; i++)
            if (jobs[i].x == jb->x && jobs[i].cols == jb->cols && bj[i].c.n_tok == b->c.n_tok && bj[i].at == b->at &&
                bj[i].prep == b->prep && bj[i].quant)
                b->share = i;
        if (b->share < 0) act_total += b->c.act_bytes * (size_t)b->c.n_tok;
    }
    uint8_t *act = act_total ? ds4_quant_scratch(0, act_total) : NULL;
    uint8_t *std = std_max ? ds4_quant_scratch(1, std_max) : NULL;
    size_t off = 0;
    for (int j = 0; j < n_jobs; j++) {
        batch_job *b = &bj[j];
        if (!b->quant) continue;
        if (b->share >= 0) {
            b->c.act = bj[b->share].c.act;
            continue;
        }
        uint8_t *dst = act + off;
        off += b->c.act_bytes * (size_t)b->c.n_tok;
        for (int64_t t = 0; t < b->c.n_tok; t++) {
            const float *xt = jobs[j].x + t * jobs[j].cols;
            uint8_t *dt = dst + (size_t)t * b->c.act_bytes;
            if (b->prep) {
                b->quant(xt, std, jobs[j].cols);
                b->prep(jobs[j].cols, std, dt);
            } else {
                b->quant(xt, dt, jobs[j].cols);
            }
        }
        b->c.act = dst;
    }
    /* Row chunks of every job in one task list: the threads stream from one
     * matrix to the next without a barrier in between. */
    const int nt = pool ? ds4_pool_threads(pool) : 1;
    bool single_tok = true;
    for (int j = 0; j < n_jobs; j++) single_tok = single_tok && bj[j].c.n_tok == 1;
    size_t n_tasks = 0;
    if (single_tok) {
        /* Tapered split: chunks of the remaining bytes / threads, between
         * TAPER_MIN_BYTES and MATVEC_CHUNK_BYTES. Long runs keep the
         * prefetchers streaming, and the small chunks at the end leave the
         * threads finishing together (with equal chunks, a compute-bound
         * kernel left one thread alone on the last chunk: ~10-20% of a
         * 2048-row expert matrix at two threads). Every chunk start costs a
         * stream ramp-up, so the taper is as steep as balance allows: with
         * remaining / (2 x threads) the threads still finished within 1 us
         * of each other, but Q2_K streamed 0.78-0.86 of the triad against
         * 0.88-0.91 now (docs/performance.md). */
        int64_t left = total_rows_bytes;
        for (int j = 0; j < n_jobs; j++) {
            const mm_ctx *c = &bj[j].c;
            const int64_t units = task_units(c), ub = unit_bytes(c);
            for (int64_t u = 0; u < units;) {
                int64_t bytes = nt > 1 ? left / nt : MATVEC_CHUNK_BYTES;
                bytes = bytes < TAPER_MIN_BYTES ? TAPER_MIN_BYTES : bytes > MATVEC_CHUNK_BYTES ? MATVEC_CHUNK_BYTES : bytes;
                int64_t n = bytes / ub;
                if (n < 1) n = 1;
                if (n > units - u) n = units - u;
                tls_tasks = grow(tls_tasks, &tls_tasks_cap, n_tasks + 1, sizeof *tls_tasks);
                tls_tasks[n_tasks++] = (batch_task){j, u, u + n};
                u += n;
                left -= n * ub;
            }
        }
    } else {
        int64_t chunk = CHUNK_BYTES;
        if (nt > 1 && total_rows_bytes / (8 * nt) < chunk) chunk = total_rows_bytes / (8 * nt);
        /* rows_per_task counts task_units here */
        for (int j = 0; j < n_jobs; j++) {
            batch_job *b = &bj[j];
            int64_t rpt = chunk / unit_bytes(&b->c);
            b->c.rows_per_task = rpt < 1 ? 1 : rpt;
            n_tasks += (size_t)((task_units(&b->c) + b->c.rows_per_task - 1) / b->c.rows_per_task);
        }
        tls_tasks = grow(tls_tasks, &tls_tasks_cap, n_tasks, sizeof *tls_tasks);
        size_t t = 0;
        for (int j = 0; j < n_jobs; j++) {
            const int64_t units = task_units(&bj[j].c);
            for (int64_t r = 0; r < units; r += bj[j].c.rows_per_task) {
                const int64_t r1 = r + bj[j].c.rows_per_task;
                tls_tasks[t++] = (batch_task){j, r, r1 < units ? r1 : units};
            }
        }
    }
    batch_ctx bc = {bj, tls_tasks};
    ds4_pool_run(pool, batch_task_fn, &bc, (int64_t)n_tasks);
}
