/* Incremental-state equivalence on random micro models (micro_model.h): for
 * shapes the oracles do not cover (window of 5-8 wrapped many times, the
 * indexer choosing 3 of up to 17 entries, 2 or 4 HC streams, a clamp that
 * bites, 2 shared experts), prefill, decode, odd chunkings and a state
 * save/load in the middle of a window all give the same logits, in both
 * numerics modes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

#include "engine/engine.h"
#include "micro_model.h"

enum { NT = 70 };

static int32_t toks[NT];

static float *eval_chunks(ds4_model *m, const int *chunks, int n_chunks, int save_at) {
    ds4_error err;
    const int V = ds4_model_n_vocab(m);
    float *out = malloc(sizeof(float) * NT * (size_t)V);
    ds4_session *s = ds4_session_create(m, NT, &err);
    cr_assert_not_null(s, "%s", err.msg);
    int done = 0;
    for (int c = 0; c < n_chunks; c++) {
        if (done == save_at) { /* continue in a fresh session from the saved image */
            const size_t n = ds4_session_state_size(s);
            void *img = malloc(n);
            cr_assert(ds4_session_state_save(s, img, n, &err), "%s", err.msg);
            ds4_session_free(s);
            s = ds4_session_create(m, NT, &err);
            cr_assert(ds4_session_state_load(s, img, n, &err), "%s", err.msg);
            free(img);
        }
        cr_assert(ds4_session_eval(s, toks + done, chunks[c], out + (size_t)done * V, true, &err), "%s", err.msg);
        done += chunks[c];
    }
    cr_assert_eq(done, NT);
    ds4_session_free(s);
    return out;
}

static void check_variant(int variant, ds4_numerics num) {
    ds4_config c;
    micro_config(&c, variant);
    char path[512];
    const char *b = getenv("DS4_BUILD");
    snprintf(path, sizeof path, "%s/test-micro-%d-%d-%d.gguf", b && *b ? b : "build", variant, (int)num, (int)getpid());
    ds4_error err;
    cr_assert(micro_write(path, &c, 1234 + (uint64_t)variant, &err), "%s", err.msg);
    ds4_model_opts o;
    ds4_model_opts_default(&o);
    o.numerics = num;
    o.n_threads = 2;
    ds4_model *m = ds4_model_load(path, &o, &err);
    unlink(path);
    cr_assert_not_null(m, "%s", err.msg);
    uint64_t st = 99;
    for (int i = 0; i < NT; i++) toks[i] = (int32_t)(((micro_rand(&st) + 1.0f) * 0.5f) * (float)c.n_vocab) % c.n_vocab;

    const int V = c.n_vocab;
    const int whole[1] = {NT};
    float *ref = eval_chunks(m, whole, 1, -1);
    int ones[NT];
    for (int i = 0; i < NT; i++) ones[i] = 1;
    const int odd[7] = {5, 1, 13, 7, 3, 30, 11};
    const int *sched[3] = {ones, odd, odd};
    const int n_sched[3] = {NT, 7, 7};
    const int save[3] = {37, -1, 29}; /* 37, 29: inside a compressor window */
    for (int k = 0; k < 3; k++) {
        float *got = eval_chunks(m, sched[k], n_sched[k], save[k]);
        double md = 0;
        for (size_t i = 0; i < (size_t)NT * V; i++) md = fmax(md, fabs((double)got[i] - ref[i]));
        cr_assert(md <= 1e-5, "variant %d numerics %d schedule %d: max |diff| %g", variant, (int)num, k, md);
        free(got);
    }
    /* A context shorter than the window (the ring is sized by it) gives the same prefix. */
    {
        ds4_session *sh = ds4_session_create(m, 6, &err);
        float *got = malloc(sizeof(float) * 6 * (size_t)V);
        cr_assert(ds4_session_eval(sh, toks, 3, got, true, &err), "%s", err.msg);
        cr_assert(ds4_session_eval(sh, toks + 3, 3, got + 3 * V, true, &err), "%s", err.msg);
        for (size_t i = 0; i < 6 * (size_t)V; i++) cr_assert(fabs((double)got[i] - ref[i]) <= 1e-5, "short ctx logit %zu", i);
        free(got);
        ds4_session_free(sh);
    }
    /* the logits are finite and not all equal (the model does something) */
    double lo = 1e30, hi = -1e30;
    for (size_t i = 0; i < (size_t)NT * V; i++) {
        cr_assert(isfinite(ref[i]));
        lo = fmin(lo, ref[i]);
        hi = fmax(hi, ref[i]);
    }
    cr_assert(hi - lo > 0.1, "logit range %g", hi - lo);
    free(ref);
    ds4_model_free(m);
}

Test(micro, all_features_exact) { check_variant(0, DS4_NUMERICS_EXACT); }
Test(micro, all_features_official) { check_variant(0, DS4_NUMERICS_OFFICIAL); }
Test(micro, two_streams_clamp_shared2_exact) { check_variant(1, DS4_NUMERICS_EXACT); }
Test(micro, two_streams_clamp_shared2_official) { check_variant(1, DS4_NUMERICS_OFFICIAL); }
Test(micro, thirty_two_output_groups_exact) { check_variant(2, DS4_NUMERICS_EXACT); }
