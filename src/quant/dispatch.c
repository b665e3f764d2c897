/* Kernel selection. Picks, once, the vec_dot implementation per weight type
 * for the running CPU; DS4_SIMD=scalar|avx2|avx512|neon in the environment
 * caps the choice (scalar forces the reference path). The SIMD files
 * (dot_avx2.c, dot_avx512.c, dot_neon.c) provide their kernels through
 * quant/simd.h; a level is used only when it is compiled in (-march) and the
 * running CPU supports it; types without a faster kernel use the reference. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"
#include "quant/simd.h"

#define N_TYPES (DS4_TYPE_Q4_K_X4 + 1) /* every ggml id and the in-memory layouts */

static ds4_vec_dot_fn g_dot[N_TYPES];
static ds4_dot_kernel g_kern[N_TYPES];
static bool g_simd[N_TYPES]; /* g_kern[t] comes from a SIMD level */
static const char *g_level = "scalar";
static ds4_act_quant_fn g_q8_0, g_q8_K;

static void ref_q8_0(const float *x, void *y, int64_t n) { ds4_quantize_row_q8_0(x, y, n); }
static void ref_q8_K(const float *x, void *y, int64_t n) { ds4_quantize_row_q8_K(x, y, n); }
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Rank of a DS4_SIMD value: levels up to that rank may be used. */
static int level_cap(const char *want) {
    if (!want || !*want) return 2;
    if (!strcmp(want, "scalar")) return 0;
    if (!strcmp(want, "avx2") || !strcmp(want, "neon")) return 1;
    if (!strcmp(want, "avx512")) return 2;
    fprintf(stderr, "ds4: DS4_SIMD=%s is not one of scalar, avx2, avx512, neon; using the best available\n", want);
    return 2;
}

static void take_level(const char *name, bool (*get)(uint32_t, ds4_dot_kernel *)) {
    if (!ds4_simd_cpu_supports(name)) return;
    bool any = false;
    for (uint32_t t = 0; t < N_TYPES; t++) {
        ds4_dot_kernel k;
        if (!g_dot[t] || !get(t, &k)) continue;
        g_kern[t] = k;
        g_simd[t] = true;
        if (!k.act_prep) g_dot[t] = k.dot; /* g_dot takes the standard activation layout */
        any = true;
    }
    if (any) g_level = name;
}

static void init(void) {
    for (uint32_t t = 0; t < N_TYPES; t++) {
        g_dot[t] = ds4_vec_dot_ref_fn(t);
        g_kern[t] = (ds4_dot_kernel){.dot = g_dot[t]};
    }
    g_q8_0 = ref_q8_0;
    g_q8_K = ref_q8_K;
    const int cap = level_cap(getenv("DS4_SIMD"));
    if (cap >= 1 && ds4_simd_cpu_supports("avx2") && ds4_simd_avx2_act_quant(DS4_TYPE_Q8_K)) {
        g_q8_0 = ds4_simd_avx2_act_quant(DS4_TYPE_Q8_0);
        g_q8_K = ds4_simd_avx2_act_quant(DS4_TYPE_Q8_K);
    }
    if (cap >= 2 && ds4_simd_cpu_supports("avx512") && ds4_simd_avx512_act_quant(DS4_TYPE_Q8_K))
        g_q8_K = ds4_simd_avx512_act_quant(DS4_TYPE_Q8_K);
    if (cap >= 1) {
        take_level("avx2", ds4_simd_avx2_kernel);
        take_level("neon", ds4_simd_neon_kernel);
    }
    if (cap >= 2) take_level("avx512", ds4_simd_avx512_kernel);
}

ds4_act_quant_fn ds4_act_quant_for(uint32_t act_type) {
    pthread_once(&g_once, init);
    return act_type == DS4_TYPE_Q8_0 ? g_q8_0 : act_type == DS4_TYPE_Q8_K ? g_q8_K : NULL;
}

ds4_dot_kernel ds4_dot_kernel_for(uint32_t weight_type) {
    pthread_once(&g_once, init);
    return weight_type < N_TYPES ? g_kern[weight_type] : (ds4_dot_kernel){.dot = NULL};
}

const char *ds4_simd_level(void) {
    pthread_once(&g_once, init);
    return g_level;
}

bool ds4_dot_kernel_is_simd(uint32_t weight_type) {
    pthread_once(&g_once, init);
    return weight_type < N_TYPES && g_simd[weight_type];
}

ds4_vec_dot_fn ds4_vec_dot_fn_for(uint32_t weight_type) {
    pthread_once(&g_once, init);
    return weight_type < N_TYPES ? g_dot[weight_type] : NULL;
}

/* One row against a standard activation row. A kernel that wants its own
 * activation layout gets it converted here (into per-thread scratch), so
 * ds4_vec_dot returns exactly what ds4_matvec computes for that row. */
float ds4_vec_dot(uint32_t weight_type, int64_t n, const void *w_row, const void *act) {
    ds4_dot_kernel k = ds4_dot_kernel_for(weight_type);
    if (!k.dot) ds4_quant_bad_type("vec_dot", weight_type);
    if (k.act_prep) {
        void *buf = ds4_quant_scratch(1, k.act_bytes(n));
        k.act_prep(n, act, buf);
        act = buf;
    }
    return k.dot(n, w_row, act);
}
