/* Row quantizers: Q8_0 and Q8_K (formats.md B.1, B.5), the float "quantizers",
 * the per-type dispatcher and the helpers the converter uses (multi-row
 * quantization over the pool, synthetic importance, quantization error).
 * Compiled with -ffp-contract=off (see the Makefile): results are bit-exact
 * with ggml's reference quantizers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/fp16.h"
#include "quant/quant_internal.h"

/* Q8_0, ggml's quantize_row_q8_0_ref: binary16 scale, id from the unrounded
 * binary32 d, roundf. Used for weights and, unchanged, for activations. */
void ds4_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) {
            const float a = fabsf(x[j]);
            amax = amax > a ? amax : a;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = ds4_f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* Q8_K (B.5): the signed value of the first largest |x| sets the scale, so
 * that value maps exactly to -127; bsums are filled (zeroed when all-zero). */
void ds4_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0.0f, mx = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            const float a = fabsf(x[j]);
            if (a > amax) { amax = a; mx = x[j]; }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.0f / mx;
        for (int j = 0; j < QK_K; j++) {
            const int v = ds4_nearest(iscale * x[j]);
            y[i].qs[j] = (int8_t)ds4_clampi(v, -128, 127);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)s;
        }
        y[i].d = 1.0f / iscale;
    }
}

/* Fallback importance for one row when no imatrix is given: the synthetic
 * vector of formats.md B.10 for a matrix of this single row (x[c]^2).
 * Whole-matrix callers pass ds4_quant_synthetic_importance() instead. */
static float *row_energy(const float *x, int64_t n) {
    float *w = malloc((size_t)n * sizeof *w);
    if (!w) return NULL;
    for (int64_t i = 0; i < n; i++) w[i] = x[i] * x[i];
    return w;
}

size_t ds4_quantize_row(uint32_t type, const float *src, void *dst, int64_t n, const float *imatrix) {
    if (n == 0) return 0;
    const uint64_t bytes = ds4_row_bytes(type, (uint64_t)n);
    if (bytes == 0) ds4_quant_bad_type("quantize_row (unknown type or bad length)", type);
    switch (type) {
    case DS4_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case DS4_TYPE_F16: {
        uint8_t *p = dst;
        for (int64_t i = 0; i < n; i++) {
            const uint16_t h = ds4_f32_to_f16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    }
    case DS4_TYPE_BF16: {
        uint8_t *p = dst;
        for (int64_t i = 0; i < n; i++) {
            const uint16_t h = ds4_f32_to_bf16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    }
    case DS4_TYPE_Q8_0: ds4_quantize_row_q8_0(src, dst, n); break;
    case DS4_TYPE_Q8_K: ds4_quantize_row_q8_K(src, dst, n); break;
    case DS4_TYPE_Q2_K: ds4_quantize_row_q2_K(src, dst, n, imatrix); break;
    case DS4_TYPE_Q4_K: ds4_quantize_row_q4_K(src, dst, n, imatrix); break;
    case DS4_TYPE_IQ2_XXS:
        if (imatrix) {
            ds4_quantize_row_iq2_xxs(src, dst, n, imatrix);
        } else {
            float *w = row_energy(src, n);
            if (!w) ds4_quant_bad_type("quantize_row (out of memory for importance)", type);
            ds4_quantize_row_iq2_xxs(src, dst, n, w);
            free(w);
        }
        break;
    default: ds4_quant_bad_type("quantize_row", type);
    }
    return (size_t)bytes;
}

void ds4_quant_synthetic_importance(const float *W, int64_t rows, int64_t cols, float *imp) {
    for (int64_t c = 0; c < cols; c++) imp[c] = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        const float *w = W + r * cols;
        for (int64_t c = 0; c < cols; c++) imp[c] += w[c] * w[c];
    }
}

typedef struct {
    uint32_t type;
    const float *src;
    uint8_t *dst;
    int64_t rows, cols, rows_per_task;
    size_t row_bytes;
    const float *imatrix;
    bool synthetic;        /* imatrix was computed here and must be freed */
} rows_ctx;

static void rows_task(void *p, int64_t task, int thread_index) {
    (void)thread_index;
    const rows_ctx *c = p;
    const int64_t r0 = task * c->rows_per_task;
    const int64_t r1 = r0 + c->rows_per_task < c->rows ? r0 + c->rows_per_task : c->rows;
    for (int64_t r = r0; r < r1; r++)
        ds4_quantize_row(c->type, c->src + r * c->cols, c->dst + (size_t)r * c->row_bytes, c->cols, c->imatrix);
}

bool ds4_quantize_rows(uint32_t type, const float *src, void *dst, int64_t rows, int64_t cols,
                       const float *imatrix, ds4_pool *pool, ds4_error *err) {
    const uint64_t row_bytes = ds4_row_bytes(type, (uint64_t)cols);
    if (row_bytes == 0 || !ds4_type_has_kernels(type))
        return ds4_fail(err, "quantize %s: %lld columns is not a multiple of the block size %u (or no quantizer)",
                        ds4_type_name(type), (long long)cols, ds4_type_block_elems(type));
    rows_ctx c = {type, src, dst, rows, cols, 1, (size_t)row_bytes, imatrix, false};
    if (type == DS4_TYPE_IQ2_XXS && !imatrix) {
        float *imp = malloc((size_t)cols * sizeof *imp);
        if (!imp) return ds4_fail(err, "quantize IQ2_XXS: out of memory for the importance vector");
        ds4_quant_synthetic_importance(src, rows, cols, imp);
        c.imatrix = imp;
        c.synthetic = true;
    }
    const int nt = pool ? ds4_pool_threads(pool) : 1;
    c.rows_per_task = rows / (nt * 8) > 1 ? rows / (nt * 8) : 1;
    ds4_pool_run(pool, rows_task, &c, (rows + c.rows_per_task - 1) / c.rows_per_task);
    if (c.synthetic) free((void *)c.imatrix);
    return true;
}

/* Accumulates sum (deq - src)^2 and sum src^2 for one row. */
static bool row_error(uint32_t type, const float *src, int64_t n, const float *imatrix, double *e2, double *s2) {
    void *q = malloc((size_t)ds4_row_bytes(type, (uint64_t)n));
    float *deq = malloc((size_t)n * sizeof *deq);
    if (!q || !deq) {
        free(q);
        free(deq);
        return false;
    }
    ds4_quantize_row(type, src, q, n, imatrix);
    ds4_dequantize_row(type, q, deq, n);
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)deq[i] - (double)src[i];
        *e2 += d * d;
        *s2 += (double)src[i] * (double)src[i];
    }
    free(q);
    free(deq);
    return true;
}

double ds4_quant_rel_rmse(uint32_t type, const float *src, int64_t n, const float *imatrix) {
    return ds4_quant_rel_rmse_matrix(type, src, 1, n, imatrix);
}

double ds4_quant_rel_rmse_matrix(uint32_t type, const float *src, int64_t rows, int64_t cols,
                                 const float *imatrix) {
    if (!ds4_type_has_kernels(type) || ds4_row_bytes(type, (uint64_t)cols) == 0) return -1.0;
    float *imp = NULL;
    if (type == DS4_TYPE_IQ2_XXS && !imatrix && rows > 1) {
        imp = malloc((size_t)cols * sizeof *imp);
        if (!imp) return -1.0;
        ds4_quant_synthetic_importance(src, rows, cols, imp);
        imatrix = imp;
    }
    double e2 = 0.0, s2 = 0.0;
    bool ok = true;
    for (int64_t r = 0; r < rows && ok; r++) ok = row_error(type, src + r * cols, cols, imatrix, &e2, &s2);
    free(imp);
    if (!ok) return -1.0;
    return s2 > 0.0 ? sqrt(e2 / s2) : sqrt(e2);
}
