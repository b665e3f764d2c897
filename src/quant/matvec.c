/* Matrix-vector and matrix-matrix products over quantized weights.
 *
 * The activation is quantized once per call (per token for matmul) into the
 * format the weight type pairs with; float weight types use the float
 * activation directly, so F32/F16/BF16 products are plain binary32 math.
 * Rows are split into tasks on the pool; each output is one vec_dot, so the
 * result does not depend on the number of threads. */
#include <stdlib.h>

#include "quant/quant_internal.h"

typedef struct {
    ds4_vec_dot_fn dot;
    const uint8_t *W;
    size_t row_bytes, act_bytes;
    int64_t rows, cols, n_tok, rows_per_task;
    const void *act;   /* n_tok activation rows of act_bytes each */
    float *Y;          /* n_tok x rows */
} mm_ctx;

static void mm_task(void *p, int64_t task, int thread_index) {
    (void)thread_index;
    const mm_ctx *c = p;
    const int64_t r0 = task * c->rows_per_task;
    const int64_t r1 = r0 + c->rows_per_task < c->rows ? r0 + c->rows_per_task : c->rows;
    const uint8_t *acts = c->act;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *w = c->W + (size_t)r * c->row_bytes;
        for (int64_t t = 0; t < c->n_tok; t++)
            c->Y[t * c->rows + r] = c->dot(c->cols, w, acts + (size_t)t * c->act_bytes);
    }
}

typedef struct {
    uint32_t type;
    const float *X;
    int64_t cols;
    size_t act_bytes;
    uint8_t *act;
} qa_ctx;

static void qa_task(void *p, int64_t t, int thread_index) {
    (void)thread_index;
    const qa_ctx *c = p;
    ds4_quantize_act(c->type, c->X + t * c->cols, c->act + (size_t)t * c->act_bytes, c->cols);
}

void ds4_matmul(uint32_t type, const void *W, int64_t rows, int64_t cols, const float *X,
                int64_t n_tok, float *Y, ds4_pool *pool) {
    ds4_vec_dot_fn dot = ds4_vec_dot_fn_for(type);
    const uint64_t row_bytes = ds4_row_bytes(type, (uint64_t)cols);
    if (!dot || row_bytes == 0) ds4_quant_bad_type("matmul (no kernel or bad column count)", type);
    if (rows <= 0 || n_tok <= 0) return;
    const uint32_t at = ds4_act_type(type);
    mm_ctx c = {dot, W, (size_t)row_bytes, 0, rows, cols, n_tok, 1, X, Y};
    uint8_t *act = NULL;
    if (at == DS4_TYPE_F32) {
        c.act_bytes = (size_t)cols * sizeof(float);
    } else {
        c.act_bytes = (size_t)ds4_row_bytes(at, (uint64_t)cols);
        act = malloc(c.act_bytes * (size_t)n_tok);
        if (!act) ds4_quant_bad_type("matmul (out of memory for the activations)", type);
        qa_ctx q = {type, X, cols, c.act_bytes, act};
        if (n_tok > 1) ds4_pool_run(pool, qa_task, &q, n_tok);
        else qa_task(&q, 0, 0);
        c.act = act;
    }
    /* About 4 tasks per thread balances uneven progress; at least 4 rows
     * per task keeps the hand-out overhead small. */
    const int nt = pool ? ds4_pool_threads(pool) : 1;
    int64_t rpt = rows / ((int64_t)nt * 4);
    c.rows_per_task = rpt < 4 ? 4 : rpt;
    const int64_t n_tasks = (rows + c.rows_per_task - 1) / c.rows_per_task;
    if (n_tasks == 1) mm_task(&c, 0, 0);
    else ds4_pool_run(pool, mm_task, &c, n_tasks);
    free(act);
}

void ds4_matvec(uint32_t type, const void *W, int64_t rows, int64_t cols, const float *x, float *y,
                ds4_pool *pool) {
    ds4_matmul(type, W, rows, cols, x, 1, y, pool);
}
