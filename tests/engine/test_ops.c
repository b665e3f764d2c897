/* Numeric building blocks of the forward pass against values worked out
 * from architecture.md (§4 RoPE/YaRN, §13 rounding steps). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "engine/cpu/ops.h"

Test(ops, yarn_frequencies_match_the_tiny_worked_example) {
    /* §14: R = 16, theta_c = 160000, f = 16, L0 = 65536, beta 32/1 -> lo = 3, hi = 7. */
    const float want[8] = {1.0f, .2236068f, .05f, .01118034f, .0019140625f, 2.9697778e-4f, 3.7109375e-5f, 1.7469281e-6f};
    float w[8];
    ds4_rope_freqs_yarn(w, 16, 160000.0f, 16.0f, 65536.0, 32.0f, 1.0f);
    for (int i = 0; i < 8; i++) cr_assert(fabsf(w[i] - want[i]) <= 1e-6f * want[i] + 1e-12f, "omega[%d] = %.9g, want %.9g", i, w[i], want[i]);
    const float main_want[8] = {1, .31623f, .1f, .031623f, .01f, .0031623f, .001f, .00031623f};
    ds4_rope_freqs_main(w, 16, 10000.0f);
    for (int i = 0; i < 8; i++) cr_assert(fabsf(w[i] - main_want[i]) <= 2e-5f * main_want[i], "main omega[%d] = %g", i, w[i]);
}

Test(ops, rope_rotates_only_the_tail_and_inverse_undoes_it) {
    float v[12], orig[12], om[2] = {0.7f, 0.01f};
    for (int i = 0; i < 12; i++) orig[i] = v[i] = (float)(i + 1) * 0.25f;
    ds4_rope(v, 12, 4, om, 5, 0);
    for (int i = 0; i < 8; i++) cr_assert_eq(v[i], orig[i]);
    /* first pair rotated by 3.5 rad */
    cr_assert(fabsf(v[8] - (orig[8] * cosf(3.5f) - orig[9] * sinf(3.5f))) < 1e-6f);
    cr_assert(fabsf(v[9] - (orig[8] * sinf(3.5f) + orig[9] * cosf(3.5f))) < 1e-6f);
    ds4_rope(v, 12, 4, om, 5, 1);
    for (int i = 0; i < 12; i++) cr_assert(fabsf(v[i] - orig[i]) < 1e-6f, "channel %d", i);
}

Test(ops, rmsnorm_weighted_and_unweighted) {
    float x[4] = {1, -2, 3, -4}, y[4], w[4] = {1, 2, 3, 4};
    ds4_rmsnorm(y, x, NULL, 4, 0.0f);
    const float r = 1.0f / sqrtf(7.5f);
    for (int i = 0; i < 4; i++) cr_assert(fabsf(y[i] - x[i] * r) < 1e-6f);
    ds4_rmsnorm(y, x, w, 4, 0.0f);
    for (int i = 0; i < 4; i++) cr_assert(fabsf(y[i] - w[i] * x[i] * r) < 1e-6f);
}

/* Distance in units of the last place of want (a float), from a double reference. */
static double ulps(float got, double want) {
    int e;
    frexp(want, &e);
    const double ulp = ldexp(1.0, (e - 24 > -149 ? e - 24 : -149));
    return fabs((double)got - want) / ulp;
}

Test(ops, vec_exp_is_within_two_ulp_of_exp_and_handles_the_edges) {
    enum { N = 4099 }; /* odd length: the padded tail too */
    static float x[N], y[N];
    double worst = 0.0;
    for (int pass = 0; pass < 60; pass++) {
        const float lo = -87.0f + 2.9f * (float)pass; /* sweeps [-87, 87] in slices */
        for (int i = 0; i < N; i++) x[i] = lo + 2.9f * (float)i / (float)N;
        ds4_vec_exp(y, x, N);
        for (int i = 0; i < N; i++) {
            const double u = ulps(y[i], exp((double)x[i]));
            if (u > worst) worst = u;
        }
    }
    cr_assert(worst <= 2.0, "worst error %.3f ulp", worst);
    float e[8] = {0.0f, -200.0f, 89.0f, INFINITY, -INFINITY, NAN, 1.0f, -103.0f};
    ds4_vec_exp(e, e, 8); /* in place */
    cr_assert_eq(e[0], 1.0f);
    cr_assert_eq(e[1], 0.0f);
    cr_assert(isinf(e[2]) && e[2] > 0);
    cr_assert(isinf(e[3]) && e[3] > 0);
    cr_assert_eq(e[4], 0.0f);
    cr_assert(isnan(e[5]));
    cr_assert(ulps(e[6], exp(1.0)) <= 2.0, "e^1 = %.9g", e[6]);
    cr_assert(e[7] >= 0.0f && e[7] < 1e-44f, "e^-103 = %g", e[7]);
}

Test(ops, e4m3_rounding) {
    cr_assert_eq(ds4_e4m3_round(1.0f), 1.0f);
    cr_assert_eq(ds4_e4m3_round(1.0625f), 1.0f);   /* tie between 1 and 1.125 -> even */
    cr_assert_eq(ds4_e4m3_round(1.1875f), 1.25f);  /* tie between 1.125 and 1.25 -> even */
    cr_assert_eq(ds4_e4m3_round(-3.3f), -3.25f);
    cr_assert_eq(ds4_e4m3_round(448.0f), 448.0f);
    cr_assert_eq(ds4_e4m3_round(0.0029296875f), 0.00390625f); /* 1.5 * 2^-9: subnormal grid 2^-9 -> tie to 2^-8 */
    cr_assert_eq(ds4_e4m3_round(3.0f * 0.001953125f), 3.0f * 0.001953125f);
    cr_assert_eq(ds4_e4m3_round(0.0009765625f), 0.0f); /* 2^-10: tie between 0 and 2^-9 -> 0 */
}

Test(ops, e2m1_rounding) {
    const float in[] = {0.2f, 0.25f, 0.3f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, 5.5f, 7.0f, -2.6f};
    const float out[] = {0.0f, 0.0f, 0.5f, 1.0f, 1.0f, 2.0f, 2.0f, 4.0f, 4.0f, 6.0f, 6.0f, -3.0f};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        cr_assert_eq(ds4_e2m1_round(in[i]), out[i], "e2m1(%g) = %g, want %g", in[i], ds4_e2m1_round(in[i]), out[i]);
}

Test(ops, fp8_and_fp4_round_trips_are_idempotent_and_close) {
    float x[100], y[100];
    for (int i = 0; i < 100; i++) x[i] = sinf((float)i * 1.7f) * (1.0f + (float)i);
    for (int i = 0; i < 100; i++) y[i] = x[i];
    ds4_fp8_round_trip(y, 100);
    for (int i = 0; i < 100; i++) cr_assert(fabsf(y[i] - x[i]) <= fabsf(x[i]) * 0.0625f + 0.02f, "fp8 %d", i);
    float z[100];
    for (int i = 0; i < 100; i++) z[i] = y[i];
    ds4_fp8_round_trip(z, 100);
    for (int i = 0; i < 100; i++) cr_assert_eq(z[i], y[i]);
    for (int i = 0; i < 100; i++) y[i] = x[i];
    ds4_fp4_round_trip(y, 100);
    for (int b = 0; b < 100; b += 32) {
        float amax = 0;
        for (int i = b; i < b + 32 && i < 100; i++) amax = fmaxf(amax, fabsf(x[i]));
        for (int i = b; i < b + 32 && i < 100; i++) cr_assert(fabsf(y[i] - x[i]) <= amax / 6.0f * 2.0f, "fp4 %d", i);
    }
}

Test(ops, hadamard_is_orthonormal) {
    float x[128], y[128];
    double n0 = 0, n1 = 0;
    for (int i = 0; i < 128; i++) n0 += (x[i] = y[i] = cosf((float)i * 0.37f) + 0.1f * (float)i);
    n0 = 0;
    for (int i = 0; i < 128; i++) n0 += (double)x[i] * x[i];
    ds4_hadamard(y, 128);
    for (int i = 0; i < 128; i++) n1 += (double)y[i] * y[i];
    cr_assert(fabs(n0 - n1) < 1e-3 * n0);
    ds4_hadamard(y, 128); /* H·H = I for the normalised transform */
    for (int i = 0; i < 128; i++) cr_assert(fabsf(y[i] - x[i]) < 1e-4f, "channel %d", i);
    float e[4] = {1, 0, 0, 0};
    ds4_hadamard(e, 4);
    for (int i = 0; i < 4; i++) cr_assert(fabsf(e[i] - 0.5f) < 1e-7f);
}

Test(ops, softplus_matches_torch_threshold) {
    cr_assert_eq(ds4_softplus(25.0f), 25.0f);
    cr_assert(fabsf(ds4_softplus(0.0f) - logf(2.0f)) < 1e-7f);
    cr_assert(fabsf(ds4_softplus(-30.0f) - expf(-30.0f)) < 1e-15f);
}

static int cmp_i32(const void *a, const void *b) { return *(const int32_t *)a - *(const int32_t *)b; }

Test(ops, topk_keeps_the_lowest_index_among_ties) {
    const float s[10] = {0, 3, 0, 5, 3, 0, 3, 7, 0, 3};
    int32_t idx[10];
    float heap[10];
    int n = ds4_topk(s, 10, 4, idx, heap);
    cr_assert_eq(n, 4);
    qsort(idx, 4, sizeof idx[0], cmp_i32);
    const int32_t want[4] = {1, 3, 4, 7}; /* 7, 5 and the first two of the four 3s */
    for (int i = 0; i < 4; i++) cr_assert_eq(idx[i], want[i], "idx[%d] = %d", i, idx[i]);
    n = ds4_topk(s, 10, 7, idx, heap); /* all nonzero entries, then the zero at index 0 */
    qsort(idx, 7, sizeof idx[0], cmp_i32);
    const int32_t want7[7] = {0, 1, 3, 4, 6, 7, 9};
    for (int i = 0; i < 7; i++) cr_assert_eq(idx[i], want7[i], "idx[%d] = %d", i, idx[i]);
    cr_assert_eq(ds4_topk(s, 3, 8, idx, heap), 3);
    /* larger random check against a stable sort */
    enum { N = 500, K = 37 };
    float r[N], h[K];
    int32_t got[K];
    for (int i = 0; i < N; i++) r[i] = (float)((i * 7919) % 61) * 0.5f; /* many ties */
    ds4_topk(r, N, K, got, h);
    qsort(got, K, sizeof got[0], cmp_i32);
    int32_t ref[K], nref = 0;
    bool used[N] = {0};
    for (int k = 0; k < K; k++) { /* K times the strictly largest remaining, ascending scan */
        int best = -1;
        for (int i = 0; i < N; i++)
            if (!used[i] && (best < 0 || r[i] > r[best])) best = i;
        used[best] = true;
        ref[nref++] = best;
    }
    qsort(ref, K, sizeof ref[0], cmp_i32);
    for (int i = 0; i < K; i++) cr_assert_eq(got[i], ref[i]);
}
