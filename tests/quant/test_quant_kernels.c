/* Dequantization against ggml's reference floats (bit for bit), the Q8_0 and
 * float quantizers against ggml's bytes, the activation quantizers, and the
 * reference dot products / matvec / matmul against double-precision dots of
 * the dequantized operands. */
#include "quant_testdata.h"

#include "base/pool.h"
#include "quant/iq2xxs_tables.h"

TestSuite(quant_kernels);

Test(quant_kernels, dequantize_reference_vectors_bit_exact) {
    qmanifest m = qt_manifest();
    const size_t n = (size_t)m.rows * m.cols;
    for (int c = 0; c < m.n_cases; c++) {
        const qcase *q = &m.cases[c];
        cr_assert_eq(ds4_row_bytes(q->type, m.cols), q->row_bytes, "%s row bytes", q->quantized);
        uint8_t *bin = qt_read(q->quantized, q->row_bytes * m.rows, NULL);
        float *want = qt_read(q->dequantized, n * 4, NULL);
        float *got = malloc(n * 4);
        for (int r = 0; r < m.rows; r++)
            ds4_dequantize_row(q->type, bin + r * q->row_bytes, got + (size_t)r * m.cols, m.cols);
        size_t bad = 0, first = n;
        for (size_t i = 0; i < n; i++)
            if (memcmp(&got[i], &want[i], 4) != 0 && bad++ == 0) first = i;
        cr_expect_eq(bad, 0, "%s: %zu values differ, first at %zu (%.9g vs %.9g)", q->quantized, bad, first,
                     first < n ? got[first] : 0.0, first < n ? want[first] : 0.0);
        free(bin);
        free(want);
        free(got);
    }
}

/* Q8_0 (ggml reference quantizer) and the F16/BF16 conversions are
 * deterministic: they must reproduce ggml's bytes exactly. */
Test(quant_kernels, simple_quantizers_match_ggml_bytes) {
    qmanifest m = qt_manifest();
    float *src = qt_read("source.f32", (size_t)m.rows * m.cols * 4, NULL);
    for (int c = 0; c < m.n_cases; c++) {
        const qcase *q = &m.cases[c];
        if (q->type != DS4_TYPE_Q8_0 && q->type != DS4_TYPE_F16 && q->type != DS4_TYPE_BF16) continue;
        uint8_t *bin = qt_read(q->quantized, q->row_bytes * m.rows, NULL);
        uint8_t *out = malloc(q->row_bytes);
        for (int r = 0; r < m.rows; r++) {
            cr_assert_eq(ds4_quantize_row(q->type, src + (size_t)r * m.cols, out, m.cols, NULL), q->row_bytes);
            cr_expect_eq(memcmp(out, bin + r * q->row_bytes, q->row_bytes), 0, "%s row %d differs", q->quantized, r);
        }
        free(out);
        free(bin);
    }
    free(src);
}

Test(quant_kernels, q8_K_activation_quantizer) {
    uint64_t s = 7;
    enum { N = 1024 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = qt_gauss(&s) * (i < 256 ? 1e-3f : 50.0f);
    for (int i = 512; i < 768; i++) x[i] = 0.0f; /* an all-zero block */
    x[300] = 400.0f;                             /* positive extreme maps to -127 * d */
    block_q8_K y[N / QK_K];
    ds4_quantize_row_q8_K(x, y, N);
    cr_assert_eq(y[2].d, 0.0f);
    for (int b = 0; b < N / QK_K; b++) {
        float amax = 0.0f;
        for (int j = 0; j < QK_K; j++) amax = fmaxf(amax, fabsf(x[b * QK_K + j]));
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[b].qs[16 * g + l];
            cr_assert_eq(y[b].bsums[g], sum);
        }
        for (int j = 0; j < QK_K; j++) {
            const float err = fabsf(y[b].d * y[b].qs[j] - x[b * QK_K + j]);
            cr_assert_leq(err, fabsf(y[b].d) * 0.5001f + 1e-30f, "block %d elem %d", b, j);
        }
        if (amax > 0) cr_assert_leq(fabsf(fabsf(y[b].d) * 127.0f - amax), amax * 1e-6f);
    }
    cr_assert_eq(y[1].qs[300 - 256], -127);
    cr_assert_lt(y[1].d, 0.0f);
}

Test(quant_kernels, type_table_and_act_types) {
    const uint32_t with[] = {DS4_TYPE_F32, DS4_TYPE_F16, DS4_TYPE_BF16, DS4_TYPE_Q8_0,
                             DS4_TYPE_Q2_K, DS4_TYPE_Q4_K, DS4_TYPE_IQ2_XXS};
    for (size_t i = 0; i < sizeof with / sizeof with[0]; i++) cr_assert(ds4_type_has_kernels(with[i]));
    cr_assert_not(ds4_type_has_kernels(DS4_TYPE_Q8_K));
    cr_assert_not(ds4_type_has_kernels(DS4_TYPE_I32));
    cr_assert_not(ds4_type_has_kernels(3));
    cr_assert_eq(ds4_act_type(DS4_TYPE_Q8_0), DS4_TYPE_Q8_0);
    cr_assert_eq(ds4_act_type(DS4_TYPE_Q2_K), DS4_TYPE_Q8_K);
    cr_assert_eq(ds4_act_type(DS4_TYPE_Q4_K), DS4_TYPE_Q8_K);
    cr_assert_eq(ds4_act_type(DS4_TYPE_IQ2_XXS), DS4_TYPE_Q8_K);
    cr_assert_eq(ds4_act_type(DS4_TYPE_BF16), DS4_TYPE_F32);
    cr_assert_eq(ds4_act_type(DS4_TYPE_I32), UINT32_MAX);
    const char *lvl = ds4_simd_level();
    cr_assert(!strcmp(lvl, "scalar") || !strcmp(lvl, "avx2") || !strcmp(lvl, "avx512") || !strcmp(lvl, "neon"));
}

/* Weights of every type from the reference .bin files, activations random
 * (with one extreme-scale row): the reference dot equals the double dot of
 * the dequantized weight row and the dequantized activation row. */
Test(quant_kernels, vec_dot_ref_matches_double_dot) {
    qmanifest m = qt_manifest();
    const int n = m.cols;
    uint64_t s = 42;
    float *x = malloc((size_t)n * 4), *xd = malloc((size_t)n * 4), *wd = malloc((size_t)n * 4);
    void *act = malloc((size_t)n * 4 + 4096);
    for (int c = 0; c < m.n_cases; c++) {
        const qcase *q = &m.cases[c];
        uint8_t *bin = qt_read(q->quantized, q->row_bytes * m.rows, NULL);
        const uint32_t at = ds4_act_type(q->type);
        for (int trial = 0; trial < 3; trial++) {
            const float scale = trial == 0 ? 1.0f : (trial == 1 ? 1e-4f : 3e3f);
            for (int i = 0; i < n; i++) x[i] = qt_gauss(&s) * scale;
            ds4_quantize_act(q->type, x, act, n);
            ds4_dequantize_row(at, act, xd, n);
            for (int r = 0; r < m.rows; r++) {
                ds4_dequantize_row(q->type, bin + r * q->row_bytes, wd, n);
                double want = 0.0, mag = 0.0;
                for (int i = 0; i < n; i++) {
                    want += (double)wd[i] * xd[i];
                    mag += fabs((double)wd[i] * xd[i]);
                }
                const float got = ds4_vec_dot_ref(q->type, n, bin + r * q->row_bytes, act);
                cr_expect_leq(fabs(got - want), 1e-5 * mag + 1e-30, "%s row %d trial %d: %.9g vs %.9g (mag %g)",
                              q->quantized, r, trial, got, want, mag);
                /* SIMD kernels sum blocks in another order: same value to 1e-6. */
                const float fast = ds4_vec_dot(q->type, n, bin + r * q->row_bytes, act);
                cr_expect_leq(fabs(fast - got), 1e-6 * mag + 1e-30, "%s row %d trial %d: dispatched %.9g vs ref %.9g",
                              q->quantized, r, trial, fast, got);
            }
        }
        free(bin);
    }
    free(x);
    free(xd);
    free(wd);
    free(act);
}

/* matvec/matmul (any thread count, odd row counts) equal per-row vec_dot
 * of the activation quantized once. */
Test(quant_kernels, matvec_and_matmul_equal_per_row_vec_dot) {
    const uint32_t types[] = {DS4_TYPE_F32, DS4_TYPE_F16, DS4_TYPE_BF16, DS4_TYPE_Q8_0,
                              DS4_TYPE_Q2_K, DS4_TYPE_Q4_K, DS4_TYPE_IQ2_XXS};
    const int cols = 512, rows = 37, n_tok = 3;
    uint64_t s = 99;
    float *src = malloc(sizeof(float) * rows * cols), *X = malloc(sizeof(float) * n_tok * cols);
    for (int i = 0; i < rows * cols; i++) src[i] = qt_gauss(&s);
    for (int i = 0; i < n_tok * cols; i++) X[i] = qt_gauss(&s) * 2.0f;
    ds4_pool *pool = ds4_pool_create(3);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const uint32_t t = types[ti];
        const size_t rb = ds4_row_bytes(t, cols);
        uint8_t *W = malloc(rb * rows);
        cr_assert(ds4_quantize_rows(t, src, W, rows, cols, NULL, pool, NULL));
        void *act = malloc((size_t)ds4_row_bytes(ds4_act_type(t), cols));
        float y[37], Y[3 * 37], y1[37];
        ds4_matmul(t, W, rows, cols, X, n_tok, Y, pool);
        for (int tok = 0; tok < n_tok; tok++) {
            ds4_quantize_act(t, X + tok * cols, act, cols);
            ds4_matvec(t, W, rows, cols, X + tok * cols, y, pool);
            ds4_matvec(t, W, rows, cols, X + tok * cols, y1, NULL);
            for (int r = 0; r < rows; r++) {
                const float want = ds4_vec_dot(t, cols, W + r * rb, act);
                cr_expect_eq(y[r], want, "%s matvec row %d", ds4_type_name(t), r);
                cr_expect_eq(y1[r], want, "%s matvec (no pool) row %d", ds4_type_name(t), r);
                cr_expect_eq(Y[tok * rows + r], want, "%s matmul tok %d row %d", ds4_type_name(t), tok, r);
            }
        }
        free(act);
        free(W);
    }
    ds4_pool_destroy(pool);
    free(src);
    free(X);
}

/* The generated C tables equal shared/docs/iq2xxs_tables.txt, and the
 * properties formats.md B.4 states hold (sign parity, codes from the grid). */
Test(quant_kernels, iq2xxs_tables_match_reference_file) {
    char path[600];
    const char *sh = getenv("DS4_SHARED");
    snprintf(path, sizeof path, "%s/docs/iq2xxs_tables.txt", sh ? sh : "../shared");
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    char line[4096]; /* comment lines are long; values are one per line */
    int sec = 0, idx[4] = {0};
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "# SECTION ", 10)) {
            sec = atoi(line + 10);
            continue;
        }
        if (line[0] == '#' || line[0] == '\n') continue;
        const unsigned long long v = strtoull(line, NULL, 16);
        cr_assert(sec >= 1 && sec <= 3);
        const int i = idx[sec]++;
        if (sec == 1) cr_assert_eq(ds4_iq2xxs_grid[i], v, "grid %d", i);
        if (sec == 2) cr_assert_eq(ds4_ksigns_iq2xs[i], v, "ksigns %d", i);
        if (sec == 3) cr_assert_eq(ds4_kgrid_2bit_256[i], v, "kgrid %d", i);
    }
    fclose(f);
    cr_assert_eq(idx[1], 256);
    cr_assert_eq(idx[2], 128);
    cr_assert_eq(idx[3], 256);
    for (int s = 0; s < 128; s++) cr_assert_eq(ds4_ksigns_iq2xs[s], s | (__builtin_parity(s) << 7));
    for (int k = 0; k < 256; k++) {
        unsigned code = 0;
        for (int j = 0; j < 8; j++) {
            const unsigned b = (ds4_iq2xxs_grid[k] >> (8 * j)) & 0xff;
            cr_assert(b == 8 || b == 25 || b == 43);
            code |= (b == 8 ? 0u : b == 25 ? 1u : 2u) << (2 * j);
        }
        cr_assert_eq(code, ds4_kgrid_2bit_256[k], "kgrid %d", k);
        if (k) cr_assert_gt(ds4_iq2xxs_grid[k], ds4_iq2xxs_grid[k - 1], "grid sorted at %d", k);
    }
}
