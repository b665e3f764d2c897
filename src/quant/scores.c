/* Many-query dot products of f32 keys (quant.h: ds4_scores_f32).
 *
 * The lightning indexer scores every compressed entry against all of its
 * query heads (64 x 128 per entry in Flash), and attention every key of a
 * row against a group of heads (up to 64 x 512); at long context that is
 * millions of short dot products per token. As separate dot products each
 * one ends in a horizontal sum; here the queries come transposed, so one
 * key element is broadcast and multiplied into 16 (AVX-512), 8 (AVX2) or 4
 * (NEON) heads at once, and the accumulation runs over the key dimension
 * with no horizontal work. Every lane accumulates its head in the same
 * order with fused multiply-adds, exactly as the scalar reference does, so
 * all levels return the same bits. */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "quant/quant.h"
#include "quant/simd.h"

void ds4_scores_f32_ref(const float *const *keys, int64_t n_keys, int64_t dim, const float *qt, int64_t n_q,
                        float *out) {
    for (int64_t w = 0; w < n_keys; w++)
        for (int64_t h = 0; h < n_q; h++) {
            float acc = 0.0f;
            for (int64_t d = 0; d < dim; d++) acc = fmaf(keys[w][d], qt[d * n_q + h], acc);
            out[w * n_q + h] = acc;
        }
}

#if (defined(__AVX2__) && defined(__FMA__)) || (defined(__aarch64__) && defined(__ARM_NEON))
/* Heads h0.. of key k, scalar: the tails the AVX2 and NEON loops leave. */
static void scores_tail(const float *k, int64_t dim, const float *qt, int64_t n_q, int64_t h0, float *out) {
    for (int64_t h = h0; h < n_q; h++) {
        float acc = 0.0f;
        for (int64_t d = 0; d < dim; d++) acc = fmaf(k[d], qt[d * n_q + h], acc);
        out[h] = acc;
    }
}
#endif

typedef void (*scores_fn)(const float *const *, int64_t, int64_t, const float *, int64_t, float *);

#if defined(__AVX512F__)
#include <immintrin.h>

/* C registers of 16 heads from h0, for NK keys at once (the query loads are
 * shared by the keys); lanes past n_q are masked off. */
static inline __attribute__((always_inline)) void block512(int NK, int C, const float *const *k, int64_t dim,
                                                            const float *qt, int64_t n_q, int64_t h0, float *out) {
    __m512 acc[4][4];
    __mmask16 m[4];
    DS4_UNROLL
    for (int c = 0; c < C; c++) {
        const int64_t left = n_q - h0 - 16 * c;
        m[c] = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        DS4_UNROLL
        for (int j = 0; j < NK; j++) acc[j][c] = _mm512_setzero_ps();
    }
    for (int64_t d = 0; d < dim; d++) {
        const float *q = qt + d * n_q + h0;
        __m512 qv[4];
        DS4_UNROLL
        for (int c = 0; c < C; c++) qv[c] = _mm512_maskz_loadu_ps(m[c], q + 16 * c);
        DS4_UNROLL
        for (int j = 0; j < NK; j++) {
            const __m512 kb = _mm512_set1_ps(k[j][d]);
            DS4_UNROLL
            for (int c = 0; c < C; c++) acc[j][c] = _mm512_fmadd_ps(kb, qv[c], acc[j][c]);
        }
    }
    DS4_UNROLL
    for (int j = 0; j < NK; j++)
        DS4_UNROLL
        for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(out + j * n_q + h0 + 16 * c, m[c], acc[j][c]);
}

static void scores_avx512(const float *const *keys, int64_t n_keys, int64_t dim, const float *qt, int64_t n_q,
                          float *out) {
    int64_t w = 0;
    for (; w < n_keys; w += 4) {
        const float *const *k = keys + w;
        float *o = out + w * n_q;
        const bool four = w + 4 <= n_keys;
        for (int64_t h0 = 0; h0 < n_q; h0 += 64) {
            const int64_t left = n_q - h0;
            const int C = left >= 64 ? 4 : (int)((left + 15) / 16);
            if (four) {
                switch (C) {
                case 4: block512(4, 4, k, dim, qt, n_q, h0, o); break;
                case 3: block512(4, 3, k, dim, qt, n_q, h0, o); break;
                case 2: block512(4, 2, k, dim, qt, n_q, h0, o); break;
                default: block512(4, 1, k, dim, qt, n_q, h0, o); break;
                }
            } else {
                for (int64_t j = w; j < n_keys; j++) {
                    const float *const *kj = keys + j;
                    float *oj = out + j * n_q;
                    switch (C) {
                    case 4: block512(1, 4, kj, dim, qt, n_q, h0, oj); break;
                    case 3: block512(1, 3, kj, dim, qt, n_q, h0, oj); break;
                    case 2: block512(1, 2, kj, dim, qt, n_q, h0, oj); break;
                    default: block512(1, 1, kj, dim, qt, n_q, h0, oj); break;
                    }
                }
            }
        }
    }
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

static inline __attribute__((always_inline)) void block256(int C, const float *k, int64_t dim, const float *qt,
                                                            int64_t n_q, int64_t h0, float *out) {
    __m256 acc[4];
    DS4_UNROLL
    for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t d = 0; d < dim; d++) {
        const __m256 kb = _mm256_set1_ps(k[d]);
        const float *q = qt + d * n_q + h0;
        DS4_UNROLL
        for (int c = 0; c < C; c++) acc[c] = _mm256_fmadd_ps(kb, _mm256_loadu_ps(q + 8 * c), acc[c]);
    }
    DS4_UNROLL
    for (int c = 0; c < C; c++) _mm256_storeu_ps(out + h0 + 8 * c, acc[c]);
}

static void scores_avx2(const float *const *keys, int64_t n_keys, int64_t dim, const float *qt, int64_t n_q,
                        float *out) {
    for (int64_t w = 0; w < n_keys; w++) {
        const float *k = keys[w];
        float *o = out + w * n_q;
        int64_t h0 = 0;
        for (; h0 + 32 <= n_q; h0 += 32) block256(4, k, dim, qt, n_q, h0, o);
        for (; h0 + 8 <= n_q; h0 += 8) block256(1, k, dim, qt, n_q, h0, o);
        scores_tail(k, dim, qt, n_q, h0, o);
    }
}
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

static inline __attribute__((always_inline)) void block128(int C, const float *k, int64_t dim, const float *qt,
                                                            int64_t n_q, int64_t h0, float *out) {
    float32x4_t acc[8];
    DS4_UNROLL
    for (int c = 0; c < C; c++) acc[c] = vdupq_n_f32(0.0f);
    for (int64_t d = 0; d < dim; d++) {
        const float32x4_t kb = vdupq_n_f32(k[d]);
        const float *q = qt + d * n_q + h0;
        DS4_UNROLL
        for (int c = 0; c < C; c++) acc[c] = vfmaq_f32(acc[c], kb, vld1q_f32(q + 4 * c));
    }
    DS4_UNROLL
    for (int c = 0; c < C; c++) vst1q_f32(out + h0 + 4 * c, acc[c]);
}

static void scores_neon(const float *const *keys, int64_t n_keys, int64_t dim, const float *qt, int64_t n_q,
                        float *out) {
    for (int64_t w = 0; w < n_keys; w++) {
        const float *k = keys[w];
        float *o = out + w * n_q;
        int64_t h0 = 0;
        for (; h0 + 32 <= n_q; h0 += 32) block128(8, k, dim, qt, n_q, h0, o);
        for (; h0 + 4 <= n_q; h0 += 4) block128(1, k, dim, qt, n_q, h0, o);
        scores_tail(k, dim, qt, n_q, h0, o);
    }
}
#endif

static scores_fn g_scores = ds4_scores_f32_ref;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* The same level the dot kernels use (DS4_SIMD caps both). */
static void pick(void) {
    const char *level = ds4_simd_level();
    (void)level;
#if defined(__AVX512F__)
    if (!strcmp(level, "avx512")) g_scores = scores_avx512;
#endif
#if defined(__AVX2__) && defined(__FMA__)
    if (!strcmp(level, "avx2")) g_scores = scores_avx2;
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
    if (!strcmp(level, "neon")) g_scores = scores_neon;
#endif
}

void ds4_scores_f32(const float *const *keys, int64_t n_keys, int64_t dim, const float *qt, int64_t n_q, float *out) {
    pthread_once(&g_once, pick);
    g_scores(keys, n_keys, dim, qt, n_q, out);
}
