/* The dispatcher's kernels against the scalar reference, as a standalone
 * program (no Criterion), so it can be cross-compiled and run where the
 * unit-test stack is not available: `make cross-check` builds it for
 * aarch64 and runs it under user-mode QEMU, which is how the NEON kernels
 * (the ones Macs and DGX Sparks run) get executed on an x86 CI machine.
 * Natively it checks the host's level (AVX2/AVX-512) the same way.
 *
 * For every weight type with kernels and several block counts:
 *   - ds4_vec_dot (the selected SIMD kernel, activation layout prepared
 *     as the kernel wants) within 2e-6 of sum |w x| of ds4_vec_dot_ref;
 *   - ds4_matmul over 1..9 tokens and ds4_matvec equal ds4_vec_dot bit for
 *     bit per token (token groups must not change a result).
 *   - ds4_scores_f32 equals its scalar reference bit for bit.
 * Exits 1 after printing every failure. The optional argument is the
 * number of pool threads (default 2); under QEMU it is 1 (see
 * tools/cross_check.sh). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "gguf/types.h"
#include "quant/quant.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double unif(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
/* Roughly normal, with a few large outliers as real weights have. */
static float sample(void) {
    double s = 0;
    for (int i = 0; i < 4; i++) s += unif() - 0.5;
    return (float)(unif() < 0.01 ? 8 * s : s);
}

static int failures;
#define CHECK(cond, ...)                   \
    do {                                   \
        if (!(cond)) {                     \
            printf("FAIL: " __VA_ARGS__);  \
            printf("\n");                  \
            failures++;                    \
        }                                  \
    } while (0)

static void check_type(uint32_t type, ds4_pool *pool) {
    const int64_t be = ds4_type_block_elems(type);
    static const int64_t blocks[] = {1, 2, 3, 5, 16, 17, 33};
    for (size_t bi = 0; bi < sizeof blocks / sizeof *blocks; bi++) {
        const int64_t n = blocks[bi] * (be > 1 ? be : 64) + (be > 1 ? 0 : (int64_t)bi); /* odd float lengths */
        const int rows = 7, ntok = 9;
        const size_t rb = ds4_row_bytes(type, (uint64_t)n), ab = ds4_row_bytes(ds4_act_type(type), (uint64_t)n);
        float *wf = malloc(sizeof(float) * (size_t)n * rows), *wd = malloc(sizeof(float) * (size_t)n);
        float *X = malloc(sizeof(float) * (size_t)n * ntok);
        uint8_t *W = malloc(rb * rows), *act = malloc(ab);
        for (int64_t i = 0; i < n * rows; i++) wf[i] = sample();
        for (int64_t i = 0; i < n * ntok; i++) X[i] = sample();
        for (int r = 0; r < rows; r++) ds4_quantize_row(type, wf + (size_t)r * n, W + (size_t)r * rb, n, NULL);
        float *Y = malloc(sizeof(float) * rows * ntok), *y = malloc(sizeof(float) * rows);
        for (int t = 1; t <= ntok; t++) {
            ds4_matmul(type, W, rows, n, X, t, Y, pool);
            for (int k = 0; k < t; k++) {
                ds4_quantize_act(type, X + (size_t)k * n, act, n);
                if (t == ntok) ds4_matvec(type, W, rows, n, X + (size_t)k * n, y, pool);
                for (int r = 0; r < rows; r++) {
                    const uint8_t *w = W + (size_t)r * rb;
                    const float got = ds4_vec_dot(type, n, w, act), ref = ds4_vec_dot_ref(type, n, w, act);
                    ds4_dequantize_row(type, w, wd, n);
                    double mag = 0;
                    for (int64_t i = 0; i < n; i++) mag += fabs((double)wd[i] * X[(size_t)k * n + i]);
                    CHECK(fabs((double)got - ref) <= 2e-6 * mag + 1e-30, "%s n=%ld row %d: %s kernel %.9g, reference %.9g",
                          ds4_type_name(type), (long)n, r, ds4_simd_level(), got, ref);
                    CHECK(Y[(size_t)k * rows + r] == got, "%s n=%ld: matmul of %d tokens, token %d row %d: %.9g != %.9g",
                          ds4_type_name(type), (long)n, t, k, r, Y[(size_t)k * rows + r], got);
                    if (t == ntok) CHECK(y[r] == got, "%s n=%ld: matvec row %d differs", ds4_type_name(type), (long)n, r);
                }
            }
        }
        free(wf);
        free(wd);
        free(X);
        free(W);
        free(act);
        free(Y);
        free(y);
    }
}

/* ds4_scores_f32 must equal the scalar reference bit for bit. */
static void check_scores(void) {
    static const int64_t heads[] = {1, 3, 4, 7, 16, 31, 32, 33, 64, 65};
    for (size_t hi = 0; hi < sizeof heads / sizeof *heads; hi++) {
        const int64_t nq = heads[hi], dim = 131, nk = 3;
        float *k = malloc(sizeof(float) * (size_t)(nk * dim)), *qt = malloc(sizeof(float) * (size_t)(dim * nq));
        float *got = malloc(sizeof(float) * (size_t)(nk * nq)), *want = malloc(sizeof(float) * (size_t)(nk * nq));
        for (int64_t i = 0; i < nk * dim; i++) k[i] = sample();
        for (int64_t i = 0; i < dim * nq; i++) qt[i] = sample();
        const float *rows[3] = {k + 2 * dim, k, k + dim}; /* out of memory order */
        ds4_scores_f32(rows, nk, dim, qt, nq, got);
        ds4_scores_f32_ref(rows, nk, dim, qt, nq, want);
        for (int64_t i = 0; i < nk * nq; i++)
            CHECK(memcmp(&got[i], &want[i], sizeof(float)) == 0, "scores: %ld heads, output %ld: %.9g vs %.9g", (long)nq,
                  (long)i, got[i], want[i]);
        free(k);
        free(qt);
        free(got);
        free(want);
    }
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "cross-check: thread count must be 1..64, got '%s'\n", argv[1]);
        return 2;
    }
    static const uint32_t types[] = {DS4_TYPE_F32,  DS4_TYPE_F16,  DS4_TYPE_BF16,   DS4_TYPE_Q8_0,
                                     DS4_TYPE_Q2_K, DS4_TYPE_Q4_K, DS4_TYPE_IQ2_XXS};
    ds4_pool *pool = ds4_pool_create(threads);
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) check_type(types[i], pool);
    ds4_pool_destroy(pool);
    check_scores();
    printf("cross-check (%s kernels vs scalar reference): %s\n", ds4_simd_level(), failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
