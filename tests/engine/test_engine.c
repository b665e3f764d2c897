/* Engine API on the tiny oracle model (converted once, f32): sessions,
 * chunk invariance, reset, state save/load, bounds, and the logits against
 * the reference. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert/convert.h"
#include "engine/engine.h"
#include "quant/quant.h"

static const int32_t PROMPT[40] = {494, 97,  415, 218, 160, 398, 141, 404, 402, 45,  427, 255, 315, 236,
                                   385, 262, 241, 15,  385, 109, 20,  258, 479, 375, 351, 222, 465, 458,
                                   166, 408, 422, 418, 375, 127, 264, 458, 62,  112, 71,  315};
enum { NP = 40, V = 512 };

static char dir[512], tiny_path[600];
static ds4_model *model;

static void setup(void) {
    const char *b = getenv("DS4_BUILD");
    snprintf(dir, sizeof dir, "%s/test-engine-XXXXXX", b && *b ? b : "build");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(tiny_path, sizeof tiny_path, "%s/tiny.gguf", dir);
    const char *sh = getenv("DS4_SHARED");
    char hf[512];
    snprintf(hf, sizeof hf, "%s/oracle/tiny", sh && *sh ? sh : "../shared");
    ds4_convert_opts o;
    ds4_convert_opts_init(&o);
    o.hf_dir = hf;
    o.out_path = tiny_path;
    o.recipe = "f32";
    o.threads = 2;
    FILE *null = fopen("/dev/null", "w");
    o.log = null;
    o.table = null;
    ds4_error err;
    cr_assert(ds4_convert_run(&o, &err), "convert: %s", err.msg);
    fclose(null);
    ds4_model_opts mo;
    ds4_model_opts_default(&mo);
    mo.numerics = DS4_NUMERICS_EXACT;
    mo.n_threads = 2;
    model = ds4_model_load(tiny_path, &mo, &err);
    cr_assert_not_null(model, "load: %s", err.msg);
}

static void teardown(void) {
    ds4_model_free(model);
    unlink(tiny_path);
    rmdir(dir);
}

TestSuite(engine, .init = setup, .fini = teardown);

static float *run(ds4_session *s, const int *chunks, int n_chunks) {
    float *out = malloc(sizeof(float) * NP * V);
    ds4_error err;
    int done = 0;
    for (int c = 0; c < n_chunks; c++) {
        cr_assert(ds4_session_eval(s, PROMPT + done, chunks[c], out + (size_t)done * V, true, &err), "%s", err.msg);
        done += chunks[c];
    }
    cr_assert_eq(done, NP);
    cr_assert_eq(ds4_session_pos(s), NP);
    return out;
}

static double maxdiff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

Test(engine, prefill_matches_the_reference_prefix) {
    const char *sh = getenv("DS4_SHARED");
    char p[512];
    snprintf(p, sizeof p, "%s/oracle/tiny/prefill_logits.f32", sh && *sh ? sh : "../shared");
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f);
    float *ref = malloc(sizeof(float) * NP * V);
    cr_assert_eq(fread(ref, sizeof(float), NP * V, f), (size_t)NP * V);
    fclose(f);
    ds4_error err;
    ds4_session *s = ds4_session_create(model, 64, &err);
    cr_assert_not_null(s, "%s", err.msg);
    const int one[1] = {NP};
    float *got = run(s, one, 1);
    /* Causality: the first 40 positions of the 100-token reference. */
    cr_assert(maxdiff(got, ref, (size_t)NP * V) < 1e-4, "max diff %g", maxdiff(got, ref, (size_t)NP * V));
    free(got);
    free(ref);
    ds4_session_free(s);
}

Test(engine, any_chunking_gives_the_same_logits) {
    ds4_error err;
    ds4_session *s = ds4_session_create(model, NP, &err);
    const int one[1] = {NP};
    float *a = run(s, one, 1);
    const int sched[][8] = {{1, 2, 3, 4, 5, 6, 7, 12}, {3, 3, 3, 3, 3, 3, 3, 19}, {15, 1, 1, 1, 1, 1, 4, 16}};
    for (int k = 0; k < 3; k++) {
        ds4_session_reset(s);
        cr_assert_eq(ds4_session_pos(s), 0);
        float *b = run(s, sched[k], 8);
        cr_assert(maxdiff(a, b, (size_t)NP * V) < 1e-4, "schedule %d: %g", k, maxdiff(a, b, (size_t)NP * V));
        free(b);
    }
    free(a);
    ds4_session_free(s);
}

Test(engine, last_logits_only) {
    ds4_error err;
    ds4_session *s = ds4_session_create(model, NP, &err);
    const int one[1] = {NP};
    float *a = run(s, one, 1);
    ds4_session_reset(s);
    float last[V];
    cr_assert(ds4_session_eval(s, PROMPT, NP, last, false, &err));
    cr_assert(maxdiff(last, a + (size_t)(NP - 1) * V, V) < 1e-5);
    free(a);
    ds4_session_free(s);
}

Test(engine, state_save_and_load_resume_exactly) {
    ds4_error err;
    ds4_session *s = ds4_session_create(model, 48, &err);
    const int two[2] = {23, NP - 23};
    float *a = run(s, two, 2);
    ds4_session_reset(s);
    cr_assert(ds4_session_eval(s, PROMPT, 23, NULL, false, &err));
    const size_t n = ds4_session_state_size(s);
    uint8_t *img = malloc(n);
    cr_assert(ds4_session_state_save(s, img, n, &err), "%s", err.msg);
    cr_assert_not(ds4_session_state_save(s, img, n - 1, &err), "short buffer accepted");

    ds4_session *t = ds4_session_create(model, 48, &err);
    cr_assert(ds4_session_state_load(t, img, n, &err), "%s", err.msg);
    cr_assert_eq(ds4_session_pos(t), 23);
    float *b = malloc(sizeof(float) * NP * V);
    cr_assert(ds4_session_eval(t, PROMPT + 23, NP - 23, b, true, &err));
    cr_assert(maxdiff(a + 23 * V, b, (size_t)(NP - 23) * V) == 0.0, "resumed logits differ: %g",
              maxdiff(a + 23 * V, b, (size_t)(NP - 23) * V));

    /* Rejections: other ctx, truncated image, bad magic. */
    ds4_session *u = ds4_session_create(model, 40, &err);
    cr_assert_not(ds4_session_state_load(u, img, n, &err));
    cr_assert(strstr(err.msg, "context size 48"), "%s", err.msg);
    cr_assert_not(ds4_session_state_load(t, img, n - 4, &err));
    cr_assert(strstr(err.msg, "expected"), "%s", err.msg);
    img[0] ^= 0xff;
    cr_assert_not(ds4_session_state_load(t, img, n, &err));
    cr_assert(strstr(err.msg, "bad magic"), "%s", err.msg);
    free(img);
    free(a);
    free(b);
    ds4_session_free(s);
    ds4_session_free(t);
    ds4_session_free(u);
}

static int progress_calls, progress_last;
static void on_progress(void *user, int done, int total) {
    (void)user;
    progress_calls++;
    progress_last = done;
    cr_assert_eq(total, NP);
}

Test(engine, bounds_and_progress) {
    ds4_error err;
    ds4_session *s = ds4_session_create(model, 10, &err);
    int32_t bad[2] = {1, V};
    cr_assert_not(ds4_session_eval(s, bad, 2, NULL, false, &err));
    cr_assert(strstr(err.msg, "out of range"), "%s", err.msg);
    cr_assert_eq(ds4_session_pos(s), 0);
    cr_assert_not(ds4_session_eval(s, PROMPT, 11, NULL, false, &err));
    cr_assert(strstr(err.msg, "context full"), "%s", err.msg);
    cr_assert(ds4_session_memory_bytes(s) > 0);
    ds4_session_free(s);
    cr_assert_null(ds4_session_create(model, 0, &err));

    s = ds4_session_create(model, NP, &err);
    ds4_session_set_progress(s, on_progress, NULL);
    cr_assert(ds4_session_eval(s, PROMPT, NP, NULL, false, &err));
    cr_assert(progress_calls >= 1);
    cr_assert_eq(progress_last, NP);
    ds4_session_free(s);
    cr_assert_eq(ds4_model_n_vocab(model), V);
    cr_assert_eq(ds4_model_n_layers(model), 6);
}

typedef struct {
    float *out;
    bool ok;
} thread_run;

static void *eval_thread(void *p) {
    thread_run *r = p;
    ds4_error err;
    ds4_session *s = ds4_session_create(model, NP, &err);
    r->ok = s != NULL;
    for (int i = 0; r->ok && i < NP; i += 8) r->ok = ds4_session_eval(s, PROMPT + i, 8, r->out + (size_t)i * V, true, &err);
    ds4_session_free(s);
    ds4_quant_thread_release(); /* as any exiting thread that ran kernels must (quant.h) */
    return NULL;
}

Test(engine, sessions_on_two_threads_share_one_model) {
    ds4_error err;
    ds4_session *s = ds4_session_create(model, NP, &err);
    const int sched[5] = {8, 8, 8, 8, 8};
    float *ref = run(s, sched, 5);
    ds4_session_free(s);
    thread_run r[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        r[k].out = malloc(sizeof(float) * NP * V);
        pthread_create(&th[k], NULL, eval_thread, &r[k]);
    }
    for (int k = 0; k < 2; k++) {
        pthread_join(th[k], NULL);
        cr_assert(r[k].ok);
        cr_assert(maxdiff(ref, r[k].out, (size_t)NP * V) == 0.0, "thread %d differs", k);
        free(r[k].out);
    }
    free(ref);
}

/* Weights read into RAM (huge pages) and weights mapped from the file are
 * the same bytes: the logits must be bit-identical. */
Test(engine, mapped_and_ram_weights_give_identical_logits) {
    ds4_error err;
    ds4_model_opts mo;
    ds4_model_opts_default(&mo);
    mo.numerics = DS4_NUMERICS_EXACT;
    mo.n_threads = 2;
    float *out[2];
    for (int k = 0; k < 2; k++) {
        mo.weights = k ? DS4_WEIGHTS_RAM : DS4_WEIGHTS_MMAP;
        ds4_model *m = ds4_model_load(tiny_path, &mo, &err);
        cr_assert_not_null(m, "load: %s", err.msg);
        cr_assert_eq(ds4_model_weights_in_ram(m), k == 1);
        ds4_session *s = ds4_session_create(m, NP, &err);
        cr_assert_not_null(s, "%s", err.msg);
        out[k] = malloc(sizeof(float) * NP * V);
        cr_assert(ds4_session_eval(s, PROMPT, NP, out[k], true, &err), "%s", err.msg);
        ds4_session_free(s);
        ds4_model_free(m);
    }
    cr_assert_eq(memcmp(out[0], out[1], sizeof(float) * NP * V), 0);
    free(out[0]);
    free(out[1]);
}

Test(engine, weights_mode_names_env_and_auto_rule) {
    ds4_weights_mode w;
    cr_assert(ds4_weights_mode_parse("ram", &w) && w == DS4_WEIGHTS_RAM);
    cr_assert(ds4_weights_mode_parse("mmap", &w) && w == DS4_WEIGHTS_MMAP);
    cr_assert(ds4_weights_mode_parse("auto", &w) && w == DS4_WEIGHTS_AUTO);
    cr_assert_not(ds4_weights_mode_parse("RAM", &w));
    cr_assert_str_eq(ds4_weights_mode_name(DS4_WEIGHTS_RAM), "ram");
    /* Nothing fits 2^62 bytes; AUTO then maps. */
    cr_assert_not(ds4_weights_auto_ram((uint64_t)1 << 62));
    ds4_model_opts mo;
    ds4_model_opts_default(&mo);
    mo.n_threads = 1;
    ds4_error err;
    setenv("DS4_WEIGHTS", "mmap", 1);
    ds4_model *m = ds4_model_load(tiny_path, &mo, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_not(ds4_model_weights_in_ram(m), "DS4_WEIGHTS=mmap maps");
    ds4_model_free(m);
    setenv("DS4_WEIGHTS", "fast", 1);
    cr_assert_null(ds4_model_load(tiny_path, &mo, &err));
    cr_assert(strstr(err.msg, "DS4_WEIGHTS") && strstr(err.msg, "fast"), "%s", err.msg);
    unsetenv("DS4_WEIGHTS");
}
