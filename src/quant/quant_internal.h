/* Helpers shared by the quant module's source files (not a public API). */
#ifndef DS4_QUANT_INTERNAL_H
#define DS4_QUANT_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "quant/quant.h"

/* nearest(v) of formats.md B.0: round half to even through the 1.5*2^23
 * trick, valid for |v| <= 4194303. Out of range it returns a wrong but
 * defined value (no UB), which is what the reference does. */
static inline int ds4_nearest(float v) {
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int ds4_clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* 6-bit scale/min codes of Q4_K sub-block k (formats.md B.3). */
static inline void ds4_q4k_scale_min(int k, const uint8_t *s, int *sc, int *m) {
    if (k < 4) {
        *sc = s[k] & 63;
        *m = s[k + 4] & 63;
    } else {
        *sc = (s[k + 4] & 15) | ((s[k - 4] >> 6) << 4);
        *m = (s[k + 4] >> 4) | ((s[k] >> 6) << 4);
    }
}

/* Search routines of formats.md B.6 (quantize_kquants.c). QP on n values;
 * KQX on 8 sub-blocks of n <= 32 values at once (x[b*n + i], lane-exact
 * with the scalar algorithm; qkx3 selects the weighted variant's
 * degenerate test). */
float ds4_make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *w);
void ds4_kqx8(int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale, float *the_min,
              float rmin, float rdelta, int nstep, bool use_abs, bool qkx3);

/* Per-type quantizers of one row (n a multiple of 256). imatrix may be NULL
 * for the K-quants (reference path); IQ2_XXS requires it. */
void ds4_quantize_row_q2_K(const float *x, block_q2_K *y, int64_t n, const float *imatrix);
void ds4_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n, const float *imatrix);
void ds4_quantize_row_iq2_xxs(const float *x, block_iq2_xxs *y, int64_t n, const float *imatrix);

/* Scalar reference dot products (dot_ref.c); act is in ds4_act_type(type). */
float ds4_vec_dot_f32_ref(int64_t n, const void *w, const void *act);
float ds4_vec_dot_f16_ref(int64_t n, const void *w, const void *act);
float ds4_vec_dot_bf16_ref(int64_t n, const void *w, const void *act);
float ds4_vec_dot_q8_0_ref(int64_t n, const void *w, const void *act);
float ds4_vec_dot_q2_K_ref(int64_t n, const void *w, const void *act);
float ds4_vec_dot_q4_K_ref(int64_t n, const void *w, const void *act);
float ds4_vec_dot_iq2_xxs_ref(int64_t n, const void *w, const void *act);
float ds4_vec_dot_q8_0_x16_ref(int64_t n, const void *w, const void *act);
float ds4_vec_dot_q2_k_x4_ref(int64_t n, const void *w, const void *act);
float ds4_vec_dot_q4_k_x4_ref(int64_t n, const void *w, const void *act);

typedef float (*ds4_vec_dot_fn)(int64_t n, const void *w, const void *act);
/* The reference kernel of a weight type, NULL if it has none. */
ds4_vec_dot_fn ds4_vec_dot_ref_fn(uint32_t weight_type);
/* The kernel the dispatcher picked for a weight type (dispatch.c). */
ds4_vec_dot_fn ds4_vec_dot_fn_for(uint32_t weight_type);
/* True when that kernel comes from a SIMD level, not the reference. */
bool ds4_dot_kernel_is_simd(uint32_t weight_type);

/* Aborts with a message: a kernel was asked for a type without kernels.
 * Callers (model loader, converter) validate types with
 * ds4_type_has_kernels first, so this is a programming error. */
_Noreturn void ds4_quant_bad_type(const char *what, uint32_t type);

#endif
