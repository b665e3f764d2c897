/* AVX-512 Q8_0 x Q8_0 for one to eight tokens.
 *
 * Prefill spends about half of its kernel time in Q8_0 products (attention
 * projections, shared expert, indexer), and the AVX2 kernel pays a scalar
 * fp16 scale conversion and a horizontal step per 32-value block for every
 * (row, token). Here:
 *   - a register holds two blocks (64 values); vpdpbusd takes the weights
 *     as they are (signed) against activations stored as y + 128 (unsigned),
 *     and each token's sum starts from -128 sum(w), computed once per row;
 *   - every dword of the product belongs to one block, so the two block
 *     scales are a vector (dw0 x 8 lanes, dw1 x 8 lanes) and the sums are
 *     scaled lane-wise, with no horizontal work until the row ends;
 *   - the activation scales are prepared as two floats per block pair after
 *     all the quants (q8_act_prep), so eight tokens fit in L1; a token then
 *     costs two loads, a permute, vpdpbusd, a multiply, a conversion and an
 *     FMA (64 tokens x 1024x4096 on one core: 24 GMAC/s with the AVX2 kernel,
 *     52 with a 16-float scale vector per pair and a masked negate, 65 now);
 *   - up to eight tokens share one load/correction/scale step of the weights
 *     (ds4_matmul's token groups). Per token the operations and their order
 *     do not depend on how many tokens run together, so every form returns
 *     exactly what the one-token kernel returns;
 *   - two software prefetch policies (ds4_simd_sw_prefetch): "near", two
 *     prefetches into L1 DS4_PF_DIST (4 KiB) ahead per block pair, tuned on
 *     the Intel guest; and "far", one prefetch into L2 Q8_PF_FAR (16 KiB)
 *     ahead per pair, for AMD. On Zen 5 a core kept only ~27 GB/s in flight
 *     from DRAM with the near form (or none) against ~40 for a read-only
 *     loop; the far form raised two threads' stream of a 1.5 GB matrix from
 *     0.68-0.74 to 0.80-0.84 of the read-only stream measured between them
 *     (distances of 6-32 KiB tried; an added near L1 prefetch made it
 *     worse). */
#include "quant/simd.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__) && \
    defined(__F16C__)

#include <immintrin.h>
#include <string.h>

#include "quant/quant.h"

#ifndef Q8_PF_FAR
#define Q8_PF_FAR 16384
#endif

/* Prepared activations of one token: the quants + 128 of every block pair
 * (64 bytes each), then the two block scales of every pair (8 bytes each),
 * so eight tokens' worth stays within L1. */
static size_t q8_pairs(int64_t n) { return (size_t)((n / QK8_0 + 1) / 2); }
static size_t q8_act_bytes(int64_t n) { return q8_pairs(n) * 72; }

static void q8_act_prep(int64_t n, const void *std_act, void *out) {
    const block_q8_0 *x = std_act;
    const int64_t nb = n / QK8_0;
    uint8_t *o = out;
    float *sc = (float *)(o + 64 * q8_pairs(n));
    const __m512i bias = _mm512_set1_epi8((char)0x80); /* +128 on an int8 is a flip of its top bit */
    for (int64_t b = 0; b < nb; b += 2, o += 64, sc += 2) {
        /* odd block count: the last pair's second block is zero (quants 128, scale 0) */
        const bool two = b + 1 < nb;
        const __m256i q0 = _mm256_loadu_si256((const __m256i *)x[b].qs);
        const __m256i q1 = two ? _mm256_loadu_si256((const __m256i *)x[b + 1].qs) : _mm256_setzero_si256();
        _mm512_storeu_si512(o, _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1), bias));
        sc[0] = _cvtsh_ss(x[b].d);
        sc[1] = two ? _cvtsh_ss(x[b + 1].d) : 0.0f;
    }
}

static inline __attribute__((always_inline)) void q8_rows(int64_t n, const block_q8_0 *w, int T,
                                                           const uint8_t *const *acts, float *out, bool near) {
    const int64_t nb = n / QK8_0;
    const __m512i zero = _mm512_setzero_si512();
    const __m512i lanes = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512 acc[8];
    DS4_UNROLL
    for (int t = 0; t < 8; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b += 2) {
        const size_t pair = (size_t)(b / 2) * 64, scales = q8_pairs(n) * 64 + (size_t)(b / 2) * 8;
        if (near) {
            DS4_PREFETCH(w + b);
            DS4_PREFETCH((const uint8_t *)(w + b) + 64);
        } else {
            __builtin_prefetch((const uint8_t *)(w + b) + Q8_PF_FAR, 0, 2);
        }
        const bool two = b + 1 < nb;
        const __m256i lo = _mm256_loadu_si256((const __m256i *)w[b].qs);
        const __m256i hi = two ? _mm256_loadu_si256((const __m256i *)w[b + 1].qs) : _mm256_setzero_si256();
        const __m512i wq = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        /* vpdpbusd multiplies unsigned by signed bytes: the activations come
         * as y + 128, so the dot product is sum((y + 128) w) - 128 sum(w);
         * the second term is the same for every token and starts each
         * token's accumulator. */
        const __m512i ncorr = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8((char)0x80), wq));
        /* the two f16 block scales joined in a general register and
         * converted together (two scalar conversions, broadcasts and a
         * blend cost ~6 more vector operations per pair); per token, their
         * products with the activation scales are spread to the lanes */
        const uint32_t dh = (uint32_t)w[b].d | (two ? (uint32_t)w[b + 1].d << 16 : 0u);
        const __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dh));
        DS4_UNROLL
        for (int t = 0; t < T; t++) {
            const uint8_t *a = acts[t];
            const __m512i s = _mm512_dpbusd_epi32(ncorr, _mm512_loadu_si512((const void *)(a + pair)), wq);
            const __m128 dwx = _mm_mul_ps(dw, _mm_castpd_ps(_mm_load_sd((const double *)(a + scales))));
            const __m512 sc = _mm512_permutexvar_ps(lanes, _mm512_castps128_ps512(dwx));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc[t]);
        }
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = _mm512_reduce_add_ps(acc[t]);
}

/* the one-, two- and four-token entries (simd.h), plus the eight-token one;
 * _near and _far: the two prefetch policies */
#define Q8_ENTRIES(sfx, near)                                                                      \
    DS4_DOT_ENTRIES(q8_0, q8_rows, sfx, near)                                                      \
    static void dot8_q8_0##sfx(int64_t n, const void *w, const void *const act[8], float o[8]) {   \
        const uint8_t *a[8] = {act[0], act[1], act[2], act[3], act[4], act[5], act[6], act[7]};    \
        q8_rows(n, w, 8, a, o, near);                                                              \
    }

Q8_ENTRIES(_near, true)
Q8_ENTRIES(_far, false)

bool ds4_simd_avx512_q8_0_kernel(ds4_dot_kernel *k, bool near) {
    *k = (ds4_dot_kernel){.dot = near ? dot_q8_0_near : dot_q8_0_far, .dot2 = near ? dot2_q8_0_near : dot2_q8_0_far,
                          .dot4 = near ? dot4_q8_0_near : dot4_q8_0_far, .dot8 = near ? dot8_q8_0_near : dot8_q8_0_far,
                          .act_bytes = q8_act_bytes, .act_prep = q8_act_prep};
    return true;
}

#else

bool ds4_simd_avx512_q8_0_kernel(ds4_dot_kernel *k, bool near) {
    (void)k;
    (void)near;
    return false;
}

#endif
