/* ds4_scores_f32 (the selected SIMD level) returns exactly the scalar
 * reference's bits, for head counts around the vector widths and key
 * lengths with and without tails. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

Test(scores, simd_equals_reference_bit_for_bit) {
    static const int64_t heads[] = {1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 100, 128};
    static const int64_t dims[] = {1, 2, 64, 127, 128};
    unsigned seed = 7;
    for (size_t hi = 0; hi < sizeof heads / sizeof *heads; hi++)
        for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
            const int64_t nq = heads[hi], dim = dims[di], nk = 5;
            float *k = malloc(sizeof(float) * (size_t)(nk * dim)), *qt = malloc(sizeof(float) * (size_t)(dim * nq));
            float *got = malloc(sizeof(float) * (size_t)(nk * nq)), *want = malloc(sizeof(float) * (size_t)(nk * nq));
            for (int64_t i = 0; i < nk * dim; i++) k[i] = frand(&seed);
            for (int64_t i = 0; i < dim * nq; i++) qt[i] = frand(&seed);
            const float *rows[5]; /* out of memory order: the rows are found through their pointers */
            for (int64_t w = 0; w < nk; w++) rows[w] = k + ((w * 3) % nk) * dim;
            ds4_scores_f32(rows, nk, dim, qt, nq, got);
            ds4_scores_f32_ref(rows, nk, dim, qt, nq, want);
            for (int64_t i = 0; i < nk * nq; i++)
                cr_assert_eq(memcmp(&got[i], &want[i], sizeof(float)), 0, "%s: %ld heads, dim %ld, output %ld: %.9g vs %.9g",
                             ds4_simd_level(), (long)nq, (long)dim, (long)i, got[i], want[i]);
            /* and the reference is the plain dot product */
            double d0 = 0;
            for (int64_t d = 0; d < dim; d++) d0 += (double)rows[0][d] * qt[d * nq];
            cr_assert_float_eq(want[0], d0, 1e-4, "reference value");
            free(k);
            free(qt);
            free(got);
            free(want);
        }
}
