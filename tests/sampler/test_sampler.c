/* Sampler with fixed logits: exact results for greedy/top-k=1, frequencies
 * over many seeded draws for the distributions, penalties on the right
 * logits, stop strings across token boundaries. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/sampler.h"

static ds4_sampler_params P(float temp, float top_p, float min_p, int top_k) {
    ds4_sampler_params p = ds4_sampler_defaults();
    p.temp = temp, p.top_p = top_p, p.min_p = min_p, p.top_k = top_k, p.seed = 1234;
    return p;
}

/* Draws n times from `logits` (copied each time) and returns frequencies. */
static void freqs(const ds4_sampler_params *p, const float *logits, int nv, int n, double *f) {
    ds4_sampler *s = ds4_sampler_new(p, nv);
    float *l = malloc(sizeof(float) * nv);
    for (int i = 0; i < nv; i++) f[i] = 0;
    for (int k = 0; k < n; k++) {
        memcpy(l, logits, sizeof(float) * nv);
        int32_t t = ds4_sampler_sample(s, l);
        cr_assert(t >= 0 && t < nv);
        f[t] += 1.0 / n;
    }
    free(l);
    ds4_sampler_free(s);
}

static int draws(void) { return getenv("DS4_TEST_LIGHT") ? 20000 : 100000; }

static void expect_near(const double *f, const double *want, int n, double tol) {
    for (int i = 0; i < n; i++)
        cr_assert(fabs(f[i] - want[i]) < tol, "token %d: freq %.4f want %.4f", i, f[i], want[i]);
}

static const float L3[3] = {0.0f, 0.0f, 0.0f}; /* filled in tests from probs */
static void from_probs(float *l, const double *p, int n) {
    for (int i = 0; i < n; i++) l[i] = (float)log(p[i]);
}

Test(sampler, greedy_and_top_k_1_are_exact) {
    float l[6] = {0.1f, 2.5f, -1.0f, 2.5f, 2.4f, 0.0f};
    ds4_sampler_params p = P(0.0f, 1.0f, 0.05f, 0);
    ds4_sampler *s = ds4_sampler_new(&p, 6);
    float c[6];
    memcpy(c, l, sizeof c);
    cr_assert_eq(ds4_sampler_sample(s, c), 1); /* tie: the lower id */
    ds4_sampler_free(s);
    p = P(1.5f, 1.0f, 0.0f, 1);
    s = ds4_sampler_new(&p, 6);
    for (int k = 0; k < 200; k++) {
        memcpy(c, l, sizeof c);
        cr_assert_eq(ds4_sampler_sample(s, c), 1);
    }
    ds4_sampler_free(s);
    (void)L3;
}

Test(sampler, plain_distribution_and_temperature) {
    double pr[4] = {0.5, 0.25, 0.15, 0.10}, f[4];
    float l[4];
    from_probs(l, pr, 4);
    ds4_sampler_params p = P(1.0f, 1.0f, 0.0f, 0);
    freqs(&p, l, 4, draws(), f);
    expect_near(f, pr, 4, 0.01);
    /* T = 2: p^(1/2), renormalized */
    p = P(2.0f, 1.0f, 0.0f, 0);
    freqs(&p, l, 4, draws(), f);
    double w[4], sum = 0;
    for (int i = 0; i < 4; i++) sum += (w[i] = sqrt(pr[i]));
    for (int i = 0; i < 4; i++) w[i] /= sum;
    expect_near(f, w, 4, 0.01);
    /* the same through the sorted (top_k) path */
    p = P(2.0f, 1.0f, 0.0f, 4);
    freqs(&p, l, 4, draws(), f);
    expect_near(f, w, 4, 0.01);
}

Test(sampler, min_p_top_k_top_p) {
    double pr[4] = {0.5, 0.3, 0.15, 0.05}, f[4];
    float l[4];
    from_probs(l, pr, 4);
    /* min_p = 0.35: p/p_max = 1, 0.6, 0.3, 0.1 -> tokens 0 and 1 */
    ds4_sampler_params p = P(1.0f, 1.0f, 0.35f, 0);
    freqs(&p, l, 4, draws(), f);
    double w1[4] = {0.625, 0.375, 0, 0};
    expect_near(f, w1, 4, 0.01);
    /* top_k = 3 (min_p 0): 0.5/0.95, 0.3/0.95, 0.15/0.95 */
    p = P(1.0f, 1.0f, 0.0f, 3);
    freqs(&p, l, 4, draws(), f);
    double w2[4] = {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0};
    expect_near(f, w2, 4, 0.01);
    /* top_p = 0.7: 0.5 then 0.8 >= 0.7 -> tokens 0 and 1 (whole-vocab sort path) */
    p = P(1.0f, 0.7f, 0.0f, 0);
    freqs(&p, l, 4, draws(), f);
    expect_near(f, w1, 4, 0.01);
    /* top_p = 0.45 keeps just the best */
    p = P(1.0f, 0.45f, 0.0f, 0);
    freqs(&p, l, 4, 2000, f);
    cr_assert_float_eq(f[0], 1.0, 1e-9);
    /* the best token always stays, whatever min_p says */
    p = P(1.0f, 1.0f, 5.0f, 2);
    freqs(&p, l, 4, 2000, f);
    cr_assert_float_eq(f[0], 1.0, 1e-9);
}

Test(sampler, parameter_clamping) {
    ds4_sampler_params p = P(1.0f, 0.0f, -1.0f, 5000);
    ds4_sampler *s = ds4_sampler_new(&p, 8);
    const ds4_sampler_params *q = ds4_sampler_get_params(s);
    cr_assert_eq(q->top_p, 1.0f);
    cr_assert_eq(q->min_p, 0.0f);
    cr_assert_eq(q->top_k, DS4_SAMPLER_MAX_TOP_K);
    ds4_sampler_free(s);
    p.top_p = 1.5f;
    s = ds4_sampler_new(&p, 8);
    cr_assert_eq(ds4_sampler_get_params(s)->top_p, 1.0f);
    ds4_sampler_free(s);
}

Test(sampler, seed_reproducible) {
    float base[64];
    for (int i = 0; i < 64; i++) base[i] = (float)((i * 37) % 11) * 0.3f;
    int32_t a[50], b[50], c[50];
    ds4_sampler_params p = P(1.0f, 0.9f, 0.0f, 0);
    for (int run = 0; run < 3; run++) {
        p.seed = run == 2 ? 99 : 1234;
        ds4_sampler *s = ds4_sampler_new(&p, 64);
        cr_assert_eq(ds4_sampler_seed(s), p.seed);
        for (int k = 0; k < 50; k++) {
            float l[64];
            memcpy(l, base, sizeof l);
            (run == 0 ? a : run == 1 ? b : c)[k] = ds4_sampler_sample(s, l);
        }
        ds4_sampler_free(s);
    }
    cr_assert_arr_eq(a, b, sizeof a);
    cr_assert(memcmp(a, c, sizeof a) != 0);
    /* seed 0: taken from the clock and reported */
    p.seed = 0;
    ds4_sampler *s = ds4_sampler_new(&p, 64);
    cr_assert_neq(ds4_sampler_seed(s), 0);
    ds4_sampler_free(s);
}

Test(sampler, penalties_change_the_right_logits) {
    float l[6] = {2.0f, -2.0f, 1.0f, 0.5f, 3.0f, -1.0f};
    ds4_sampler_params p = P(0.0f, 1.0f, 0.0f, 0);
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    p.penalty_last_n = 4;
    ds4_sampler *s = ds4_sampler_new(&p, 6);
    int32_t hist[] = {4, 0, 1, 0, 1, 0}; /* window of 4: 0, 1, 0 (x2... ) -> {0:2, 1:2} */
    for (int i = 0; i < 6; i++) ds4_sampler_accept(s, hist[i]);
    float c[6];
    memcpy(c, l, sizeof c);
    ds4_sampler_apply_penalties(s, c);
    cr_assert_float_eq(c[0], 2.0f / 2 - 0.5f * 2 - 0.25f, 1e-6);
    cr_assert_float_eq(c[1], -2.0f * 2 - 0.5f * 2 - 0.25f, 1e-6);
    cr_assert_eq(c[2], l[2]);
    cr_assert_eq(c[3], l[3]);
    cr_assert_eq(c[4], l[4]); /* outside the last-4 window */
    cr_assert_eq(c[5], l[5]);
    /* applying again from scratch gives the same (the counts are reset) */
    memcpy(c, l, sizeof c);
    ds4_sampler_apply_penalties(s, c);
    cr_assert_float_eq(c[0], -0.25f, 1e-6);
    /* greedy follows the penalized logits */
    memcpy(c, l, sizeof c);
    cr_assert_eq(ds4_sampler_sample(s, c), 4);
    ds4_sampler_reset_history(s);
    memcpy(c, l, sizeof c);
    ds4_sampler_apply_penalties(s, c);
    cr_assert_arr_eq(c, l, sizeof c);
    ds4_sampler_free(s);
}

Test(sampler, rng_uniform) {
    ds4_rng r;
    ds4_rng_seed(&r, 0);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = ds4_rng_uniform(&r);
        cr_assert(u >= 0.0 && u < 1.0);
        sum += u;
    }
    cr_assert(fabs(sum / 100000 - 0.5) < 0.01);
}

/* ---- stop strings ---- */

static void feed_all(ds4_stopper *st, const char *const *pieces, int n, char *shown, bool *stopped) {
    shown[0] = 0;
    *stopped = false;
    for (int i = 0; i < n && !*stopped; i++) {
        const char *o;
        size_t ol;
        *stopped = ds4_stopper_feed(st, pieces[i], strlen(pieces[i]), &o, &ol);
        strncat(shown, o, ol);
    }
    if (!*stopped) {
        const char *o;
        size_t ol;
        ds4_stopper_flush(st, &o, &ol);
        strncat(shown, o, ol);
    }
}

Test(stopper, across_token_boundaries) {
    const char *stops[] = {"\n\nUser:", "END"};
    ds4_stopper *st = ds4_stopper_new(stops, 2);
    const char *pieces[] = {"Hello", " world\n", "\nUs", "er:", " more"};
    char shown[256];
    bool stopped;
    feed_all(st, pieces, 5, shown, &stopped);
    cr_assert(stopped);
    cr_assert_str_eq(shown, "Hello world");
    cr_assert_eq(ds4_stopper_matched(st), 0);
    ds4_stopper_free(st);

    st = ds4_stopper_new(stops, 2);
    const char *p2[] = {"a\n", "\nUs", "e", "EN", "!"}; /* a false start is released */
    feed_all(st, p2, 5, shown, &stopped);
    cr_assert_not(stopped);
    cr_assert_str_eq(shown, "a\n\nUseEN!");
    ds4_stopper_free(st);

    st = ds4_stopper_new(stops, 2);
    const char *p3[] = {"xxEND\n\nUser:"}; /* earliest match wins */
    feed_all(st, p3, 1, shown, &stopped);
    cr_assert(stopped);
    cr_assert_str_eq(shown, "xx");
    cr_assert_eq(ds4_stopper_matched(st), 1);
    ds4_stopper_free(st);
}

Test(stopper, holds_only_real_prefixes_and_eos) {
    const char *stops[] = {"STOP"};
    ds4_stopper *st = ds4_stopper_new(stops, 1);
    const char *o;
    size_t ol;
    cr_assert_not(ds4_stopper_feed(st, "abcd", 4, &o, &ol));
    cr_assert_eq(ol, 4); /* nothing looks like "STOP": nothing held */
    cr_assert_not(ds4_stopper_feed(st, "xST", 3, &o, &ol));
    cr_assert_eq(ol, 1);
    cr_assert_eq(o[0], 'x');
    cr_assert_not(ds4_stopper_is_eos(st, 1));
    ds4_stopper_add_eos(st, 1);
    cr_assert(ds4_stopper_is_eos(st, 1));
    cr_assert_not(ds4_stopper_is_eos(st, 2));
    ds4_stopper_free(st);
    /* no stop strings: everything passes straight through */
    st = ds4_stopper_new(NULL, 0);
    cr_assert_not(ds4_stopper_feed(st, "abc", 3, &o, &ol));
    cr_assert_eq(ol, 3);
    ds4_stopper_free(st);
}
