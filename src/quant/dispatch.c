/* Kernel selection. Picks, once, the vec_dot implementation per weight type
 * for the running CPU; DS4_SIMD=scalar (or any level name) in the environment
 * caps the choice. SIMD files (dot_avx2.c, dot_avx512.c, dot_neon.c) register
 * their kernels here; types without a faster kernel use the reference. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"

#define N_TYPES 40

static ds4_vec_dot_fn g_dot[N_TYPES];
static const char *g_level = "scalar";
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init(void) {
    for (uint32_t t = 0; t < N_TYPES; t++) g_dot[t] = ds4_vec_dot_ref_fn(t);
    const char *want = getenv("DS4_SIMD");
    if (want && strcmp(want, "scalar") == 0) return;
    /* Each SIMD kernel file overrides the entries it implements, highest
     * level last, when the CPU supports it; with none the level stays
     * "scalar". */
}

const char *ds4_simd_level(void) {
    pthread_once(&g_once, init);
    return g_level;
}

ds4_vec_dot_fn ds4_vec_dot_fn_for(uint32_t weight_type) {
    pthread_once(&g_once, init);
    return weight_type < N_TYPES ? g_dot[weight_type] : NULL;
}

float ds4_vec_dot(uint32_t weight_type, int64_t n, const void *w_row, const void *act) {
    ds4_vec_dot_fn fn = ds4_vec_dot_fn_for(weight_type);
    if (!fn) ds4_quant_bad_type("vec_dot", weight_type);
    return fn(n, w_row, act);
}
