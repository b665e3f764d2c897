/* Importance-weighted quantizers (Q2_K, Q4_K, IQ2_XXS; formats.md B.6-B.10)
 * on ggml's reference rows: the quantization error may exceed ggml's by at
 * most 5%, and the number of rows byte-identical with ggml's output is
 * reported. Also: multi-threaded quantization equals the serial one, and the
 * no-imatrix fallback behaves. */
#include "quant_testdata.h"

#include <time.h>

#include "base/pool.h"

TestSuite(quantize);

static double rel_rmse(const float *a, const float *b, size_t n) {
    double e = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - b[i];
        e += d * d;
        s += (double)b[i] * b[i];
    }
    return sqrt(e / s);
}

Test(quantize, rel_rmse_within_5_percent_of_ggml) {
    qmanifest m = qt_manifest();
    const size_t n = (size_t)m.rows * m.cols;
    float *src = qt_read("source.f32", n * 4, NULL);
    float *imp = qt_read("importance.f32", (size_t)m.cols * 4, NULL);
    float *deq = malloc(n * 4);
    for (int c = 0; c < m.n_cases; c++) {
        const qcase *q = &m.cases[c];
        uint8_t *bin = qt_read(q->quantized, q->row_bytes * m.rows, NULL);
        uint8_t *out = malloc(q->row_bytes * m.rows);
        int same = 0;
        for (int r = 0; r < m.rows; r++) {
            uint8_t *o = out + r * q->row_bytes;
            ds4_quantize_row(q->type, src + (size_t)r * m.cols, o, m.cols, q->importance ? imp : NULL);
            ds4_dequantize_row(q->type, o, deq + (size_t)r * m.cols, m.cols);
            same += memcmp(o, bin + r * q->row_bytes, q->row_bytes) == 0;
        }
        const double err = rel_rmse(deq, src, n);
        cr_log_info("%-8s imatrix=%d rel_rmse %.6f (ggml %.6f, ratio %.4f), rows byte-identical with ggml: %d/%d",
                    q->type_name, q->importance, err, q->rel_rmse, err / q->rel_rmse, same, m.rows);
        /* Same algorithms, strict binary32 evaluation (formats.md B.11):
         * every reference row comes out byte-identical. */
        cr_expect_eq(same, m.rows, "%s: only %d rows byte-identical with ggml", q->quantized, same);
        cr_expect_leq(err, q->rel_rmse * 1.05, "%s: rel_rmse %g exceeds ggml's %g by more than 5%%", q->quantized,
                      err, q->rel_rmse);
        /* The error helper the converter uses agrees with the direct computation. */
        const double h = ds4_quant_rel_rmse_matrix(q->type, src, m.rows, m.cols, q->importance ? imp : NULL);
        if (q->type != DS4_TYPE_IQ2_XXS || q->importance) cr_expect_float_eq(h, err, 1e-12);
        free(out);
        free(bin);
    }
    free(deq);
    free(imp);
    free(src);
}

/* Quantizing a matrix over a pool gives exactly the serial bytes (the
 * quantizers share only init-once read-only tables). */
Test(quantize, threaded_equals_serial) {
    const bool light = getenv("DS4_TEST_LIGHT") != NULL;
    const int rows = light ? 8 : 32, cols = 1024;
    uint64_t s = 5;
    float *src = malloc(sizeof(float) * rows * cols), *imp = malloc(sizeof(float) * cols);
    for (int i = 0; i < rows * cols; i++) src[i] = qt_gauss(&s) * (i % 7 == 0 ? 3.0f : 1.0f);
    for (int i = 0; i < cols; i++) imp[i] = (float)qt_uniform(&s) + 0.01f;
    const uint32_t types[] = {DS4_TYPE_Q8_0, DS4_TYPE_Q2_K, DS4_TYPE_Q4_K, DS4_TYPE_IQ2_XXS};
    ds4_pool *pool = ds4_pool_create(4);
    for (size_t t = 0; t < 4; t++) {
        for (int with_imp = 0; with_imp < 2; with_imp++) {
            const size_t rb = ds4_row_bytes(types[t], cols);
            uint8_t *a = malloc(rb * rows), *b = malloc(rb * rows);
            cr_assert(ds4_quantize_rows(types[t], src, a, rows, cols, with_imp ? imp : NULL, pool, NULL));
            cr_assert(ds4_quantize_rows(types[t], src, b, rows, cols, with_imp ? imp : NULL, NULL, NULL));
            cr_expect_eq(memcmp(a, b, rb * rows), 0, "%s imatrix=%d", ds4_type_name(types[t]), with_imp);
            free(a);
            free(b);
        }
    }
    ds4_pool_destroy(pool);
    free(src);
    free(imp);
}

/* Without an imatrix: Q2_K/Q4_K use the reference path, IQ2_XXS the
 * synthetic importance of the matrix (B.10): equal to passing it explicitly. */
Test(quantize, no_imatrix_fallbacks) {
    qmanifest m = qt_manifest();
    const int rows = 4, cols = m.cols;
    float *src = qt_read("source.f32", (size_t)m.rows * cols * 4, NULL);
    float *syn = malloc(sizeof(float) * cols);
    ds4_quant_synthetic_importance(src, rows, cols, syn);
    for (int c = 0; c < cols; c++) {
        float want = 0.0f;
        for (int r = 0; r < rows; r++) {
            /* Two statements: compilers that contract a*b+c (clang) may not
             * fuse across them, so this stays plain binary32 like the library. */
            const float sq = src[r * cols + c] * src[r * cols + c];
            want += sq;
        }
        cr_assert_eq(syn[c], want);
    }
    const size_t rb = ds4_row_bytes(DS4_TYPE_IQ2_XXS, cols);
    uint8_t *a = malloc(rb * rows), *b = malloc(rb * rows);
    cr_assert(ds4_quantize_rows(DS4_TYPE_IQ2_XXS, src, a, rows, cols, NULL, NULL, NULL));
    cr_assert(ds4_quantize_rows(DS4_TYPE_IQ2_XXS, src, b, rows, cols, syn, NULL, NULL));
    cr_assert_eq(memcmp(a, b, rb * rows), 0);
    /* Per-row fallback is still a sane quantization of N(0,1) data. */
    const double e = ds4_quant_rel_rmse(DS4_TYPE_IQ2_XXS, src, cols, NULL);
    cr_expect(e > 0.2 && e < 0.45, "IQ2_XXS per-row fallback rel_rmse %g", e);
    ds4_error err;
    cr_assert_not(ds4_quantize_rows(DS4_TYPE_Q4_K, src, a, 1, 100, NULL, NULL, &err));
    cr_assert(strstr(err.msg, "100") != NULL, "%s", err.msg);
    free(a);
    free(b);
    free(syn);
    free(src);
}

/* Degenerate blocks: all zero, one value, constant, zero importance, and
 * B.6's hi - lo == 0 case (a sub-block whose maximum is exactly 0 and whose
 * non-zero values carry zero importance), which must not abort. */
Test(quantize, degenerate_blocks) {
    float x[256], imp[256], deq[256];
    uint8_t out[512];
    const uint32_t types[] = {DS4_TYPE_Q8_0, DS4_TYPE_Q2_K, DS4_TYPE_Q4_K, DS4_TYPE_IQ2_XXS};
    for (int pattern = 0; pattern < 5; pattern++) {
        for (int i = 0; i < 256; i++) {
            x[i] = pattern == 0 ? 0.0f : pattern == 1 ? (i == 17 ? -2.5f : 0.0f) : pattern == 2 ? 0.75f : (float)(i % 5) - 2.0f;
            imp[i] = pattern == 3 && i < 128 ? 0.0f : 1.0f;
            if (pattern == 4) {
                x[i] = i % 3 == 0 ? 0.0f : -(float)(i % 7) - 1.0f;
                imp[i] = x[i] != 0.0f ? 0.0f : 1.0f;
            }
        }
        for (size_t t = 0; t < 4; t++) {
            for (int w = 0; w < 2; w++) {
                ds4_quantize_row(types[t], x, out, 256, w ? imp : NULL);
                ds4_dequantize_row(types[t], out, deq, 256);
                for (int i = 0; i < 256; i++) cr_assert(isfinite(deq[i]), "%s pattern %d", ds4_type_name(types[t]), pattern);
                if (pattern == 0)
                    for (int i = 0; i < 256; i++) cr_assert_eq(deq[i], 0.0f, "%s zero block", ds4_type_name(types[t]));
            }
        }
    }
}

/* Conversion speed: quantizes a slice of an expert-shaped matrix (2048
 * columns) on one thread and reports the time extrapolated to a whole
 * 4096 x 2048 expert. The bound is loose (it only catches pathological
 * regressions on a loaded machine); the log line is the measurement. */
Test(quantize, throughput_per_expert) {
    const bool light = getenv("DS4_TEST_LIGHT") != NULL;
    const int rows = light ? 16 : 256, cols = 2048;
    uint64_t s = 11;
    float *src = malloc(sizeof(float) * rows * cols), *imp = malloc(sizeof(float) * cols);
    for (int i = 0; i < rows * cols; i++) src[i] = qt_gauss(&s) * 0.02f;
    for (int i = 0; i < cols; i++) imp[i] = (float)qt_uniform(&s) + 0.05f;
    uint8_t *dst = malloc((size_t)ds4_row_bytes(DS4_TYPE_Q8_0, cols) * rows);
    ds4_quantize_rows(DS4_TYPE_IQ2_XXS, src, dst, 1, cols, imp, NULL, NULL); /* builds the tables */
    const uint32_t types[] = {DS4_TYPE_Q8_0, DS4_TYPE_Q2_K, DS4_TYPE_Q4_K, DS4_TYPE_IQ2_XXS};
    for (size_t t = 0; t < 4; t++) {
        for (int w = 0; w < 2; w++) {
            if (types[t] == DS4_TYPE_Q8_0 && w) continue;
            struct timespec a, b;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
            cr_assert(ds4_quantize_rows(types[t], src, dst, rows, cols, w ? imp : NULL, NULL, NULL));
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
            const double sec = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
            const double expert = sec * 4096.0 / rows;
            cr_log_info("quantize %-8s imatrix=%d: %.3f s CPU per 4096x2048 expert (1 thread)", ds4_type_name(types[t]), w,
                        expert);
            if (!light) cr_expect_lt(expert, 30.0, "%s quantization is pathologically slow", ds4_type_name(types[t]));
        }
    }
    free(dst);
    free(src);
    free(imp);
}
