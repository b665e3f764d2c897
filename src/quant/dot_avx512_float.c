/* AVX-512 F32, F16 and BF16 weights against F32 activations, for one to
 * four tokens.
 *
 * One token is memory-bound (16-wide loads keep two cores at the DRAM rate
 * with few instructions). In prefill the same row meets many tokens, and
 * for F16/BF16 the widening of the weights to F32 is half the work, so up
 * to four tokens share each widened weight vector (ds4_matmul's token
 * groups). Every token keeps its own four accumulators, fed in the same
 * order whatever the group size, so each form returns exactly what the
 * one-token kernel returns; likewise the two-row form of decode (two weight
 * streams per core, as for the regrouped Q8_0) and the two-row, two-token
 * form that prefill prefers: four tokens' F32 activations (64 KB at 4096
 * columns) do not stay in L1 and are re-read from L2 for every row, two
 * tokens' do, while a pair of rows passes (ds4_matmul). */
#include "quant/simd.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__F16C__) && defined(__FMA__)

#include <immintrin.h>

enum { W_F32, W_F16, W_BF16 };

/* 16 weights from element i, widened to F32; m masks a tail. */
static inline __attribute__((always_inline)) __m512 load_w(int kind, const void *w, int64_t i, __mmask16 m) {
    if (kind == W_F32) return _mm512_maskz_loadu_ps(m, (const float *)w + i);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i);
    if (kind == W_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* R weight rows against T tokens (R x T <= 4: one row and up to four
 * tokens in prefill, two rows and one token in decode). Every (row, token)
 * keeps its own four accumulators, fed in the same order for any R and T. */
static inline __attribute__((always_inline)) void float_rows(int kind, int64_t n, const void *const *w, int R, int T,
                                                              const void *const *acts, float *out) {
    const __mmask16 all = 0xFFFF;
    __m512 acc[4][4];
    const float *x[4];
    DS4_UNROLL
    for (int t = 0; t < T; t++) x[t] = acts[t];
    DS4_UNROLL
    for (int a = 0; a < R * T; a++)
        DS4_UNROLL
        for (int k = 0; k < 4; k++) acc[a][k] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        DS4_UNROLL
        for (int r = 0; r < R; r++) {
            __m512 wv[4];
            DS4_UNROLL
            for (int k = 0; k < 4; k++) wv[k] = load_w(kind, w[r], i + 16 * k, all);
            DS4_UNROLL
            for (int t = 0; t < T; t++)
                DS4_UNROLL
                for (int k = 0; k < 4; k++)
                    acc[r * T + t][k] = _mm512_fmadd_ps(wv[k], _mm512_loadu_ps(x[t] + i + 16 * k), acc[r * T + t][k]);
        }
    }
    for (; i + 16 <= n; i += 16)
        DS4_UNROLL
        for (int r = 0; r < R; r++) {
            const __m512 wv = load_w(kind, w[r], i, all);
            DS4_UNROLL
            for (int t = 0; t < T; t++) acc[r * T + t][0] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x[t] + i), acc[r * T + t][0]);
        }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        DS4_UNROLL
        for (int r = 0; r < R; r++) {
            const __m512 wv = load_w(kind, w[r], i, m);
            DS4_UNROLL
            for (int t = 0; t < T; t++)
                acc[r * T + t][1] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x[t] + i), acc[r * T + t][1]);
        }
    }
    DS4_UNROLL
    for (int a = 0; a < R * T; a++)
        out[a] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[a][0], acc[a][1]), _mm512_add_ps(acc[a][2], acc[a][3])));
}

#define FLOAT_FORMS(name, kind)                                                                         \
    static float dot_##name(int64_t n, const void *w, const void *x) {                                  \
        float r;                                                                                        \
        float_rows(kind, n, &w, 1, 1, &x, &r);                                                          \
        return r;                                                                                       \
    }                                                                                                   \
    static void dot2_##name(int64_t n, const void *w, const void *x0, const void *x1, float out[2]) {   \
        const void *acts[2] = {x0, x1};                                                                 \
        float_rows(kind, n, &w, 1, 2, acts, out);                                                       \
    }                                                                                                   \
    static void dot4_##name(int64_t n, const void *w, const void *const acts[4], float out[4]) {       \
        float_rows(kind, n, &w, 1, 4, acts, out);                                                       \
    }                                                                                                   \
    static void rows2_##name(int64_t n, const void *w0, const void *w1, const void *x, float out[2]) {  \
        const void *ws[2] = {w0, w1};                                                                   \
        float_rows(kind, n, ws, 2, 1, &x, out);                                                         \
    }                                                                                                   \
    static void dot2x2_##name(int64_t n, const void *w0, const void *w1, const void *x0, const void *x1, \
                              float out[4]) {                                                           \
        const void *ws[2] = {w0, w1}, *acts[2] = {x0, x1};                                              \
        float_rows(kind, n, ws, 2, 2, acts, out);                                                       \
    }

FLOAT_FORMS(f32, W_F32)
FLOAT_FORMS(f16, W_F16)
FLOAT_FORMS(bf16, W_BF16)

#define FLOAT_KERNEL(name)                                                                               \
    ((ds4_dot_kernel){.dot = dot_##name, .dot2 = dot2_##name, .dot4 = dot4_##name, .rows2 = rows2_##name, \
                      .dot2x2 = dot2x2_##name})

bool ds4_simd_avx512_float_kernel(uint32_t type, ds4_dot_kernel *k) {
    switch (type) {
    case DS4_TYPE_F32: *k = FLOAT_KERNEL(f32); return true;
    case DS4_TYPE_F16: *k = FLOAT_KERNEL(f16); return true;
    case DS4_TYPE_BF16: *k = FLOAT_KERNEL(bf16); return true;
    default: return false;
    }
}

#else

bool ds4_simd_avx512_float_kernel(uint32_t type, ds4_dot_kernel *k) {
    (void)type;
    (void)k;
    return false;
}

#endif
