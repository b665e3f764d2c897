/* AVX-512 Q8_0 x Q8_0 for one to eight tokens, in the file's block layout
 * and in the regrouped Q8_0_X16 made at load (second half of this file).
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

/* Blocks b and b + 1 of row w against T tokens into acc[t]. */
static inline __attribute__((always_inline)) void q8_pair(int64_t n, const block_q8_0 *w, int64_t b, int T,
                                                           const uint8_t *const *acts, __m512 *acc, bool near) {
    const int64_t nb = n / QK8_0;
    const __m512i zero = _mm512_setzero_si512();
    const __m512i lanes = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
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

static inline __attribute__((always_inline)) void q8_rows(int64_t n, const block_q8_0 *w, int T,
                                                           const uint8_t *const *acts, float *out, bool near) {
    __m512 acc[8];
    DS4_UNROLL
    for (int t = 0; t < 8; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK8_0; b += 2) q8_pair(n, w, b, T, acts, acc, near);
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = _mm512_reduce_add_ps(acc[t]);
}

/* Rows w0 and w1 against one token, block pair by block pair: per row the
 * one-token steps above, so out[i] is dot(n, w_i, act) bit for bit. */
static inline __attribute__((always_inline)) void q8_two_rows(int64_t n, const block_q8_0 *w0, const block_q8_0 *w1,
                                                               const uint8_t *act, float out[2], bool near) {
    const uint8_t *a[1] = {act};
    __m512 acc0[1] = {_mm512_setzero_ps()}, acc1[1] = {_mm512_setzero_ps()};
    for (int64_t b = 0; b < n / QK8_0; b += 2) {
        q8_pair(n, w0, b, 1, a, acc0, near);
        q8_pair(n, w1, b, 1, a, acc1, near);
    }
    out[0] = _mm512_reduce_add_ps(acc0[0]);
    out[1] = _mm512_reduce_add_ps(acc1[0]);
}

/* the one- to eight-token entries (simd.h); _near and _far: the two
 * prefetch policies */
DS4_DOT_ENTRIES8(q8_0, q8_rows, _near, true)
DS4_DOT_ENTRIES8(q8_0, q8_rows, _far, false)
DS4_ROWS2_ENTRIES(q8_0, q8_two_rows) /* its _pf: the near policy, _hw: the far one */

bool ds4_simd_avx512_q8_0_kernel(ds4_dot_kernel *k, bool near) {
    *k = DS4_DOT_KERNEL8(q8_0, _near, _far, near, q8_act_bytes, q8_act_prep);
    k->rows2 = near ? rows2_q8_0_pf : rows2_q8_0_hw;
    return true;
}

/* ---- Q8_0_X16 (quant.h): the regrouped layout made at load ----
 * Per group of 16 blocks and token: eight vpdpbusd (one aligned weight load
 * each, shared by the tokens) into a chain that starts from the prepared
 * -128 x sum(y) per block, so each dword lane ends with block l's exact
 * integer sum; then one multiply of the 16 weight scales (one vcvtph2ps per
 * group) by the 16 activation scales, a conversion and an FMA. That is ~1.4
 * vector operations per 64 bytes of weights for one token, against ~6 in the
 * block-pair form above, and ~4 per token in prefill's token groups against
 * ~12.
 *
 * Prepared activations: per group 512 bytes of quants in the weights'
 * order (signed, as quantized), then 16 int32 -128 x sum of block l's quants,
 * then 16 floats: block l's scale. */
#define X16_ACT_CORR 512
#define X16_ACT_SCALE 576
#define X16_ACT_BYTES 640

static size_t x16_act_bytes(int64_t n) { return (size_t)(n / DS4_X16_VALUES) * X16_ACT_BYTES; }

static void x16_act_prep(int64_t n, const void *std_act, void *out) {
    const block_q8_0 *x = std_act;
    uint8_t *o = out;
    for (int64_t g = 0; g < n / DS4_X16_VALUES; g++, o += X16_ACT_BYTES) {
        int32_t corr[16];
        float d[16];
        for (int l = 0; l < 16; l++) {
            const block_q8_0 *b = &x[16 * g + l];
            int sum = 0;
            for (int j = 0; j < QK8_0; j++) sum += b->qs[j];
            corr[l] = -128 * sum;
            d[l] = _cvtsh_ss(b->d);
            for (int k = 0; k < 8; k++) memcpy(o + 64 * k + 4 * l, b->qs + 4 * k, 4);
        }
        memcpy(o + X16_ACT_CORR, corr, sizeof corr);
        memcpy(o + X16_ACT_SCALE, d, sizeof d);
    }
}

/* acc + (integer group sums s) x (weight scales dw) x (the group's
 * activation scales): the float step of one group and token. */
static inline __attribute__((always_inline)) __m512 x16_scale(__m512i s, __m512 dw, const uint8_t *a, __m512 acc) {
    const __m512 f = _mm512_mul_ps(dw, _mm512_loadu_ps((const float *)(const void *)(a + X16_ACT_SCALE)));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), f, acc);
}

/* One group (weights q, scales dw) against one token's prepared group a:
 * the chain split in two for latency (integer sums: exact in any order). */
static inline __attribute__((always_inline)) __m512 x16_one_token(const __m512i q[8], __m512 dw, const uint8_t *a,
                                                                   __m512 acc) {
    __m512i s = _mm512_loadu_si512((const void *)(a + X16_ACT_CORR)), s1 = _mm512_setzero_si512();
    DS4_UNROLL
    for (int k = 0; k < 8; k += 2) {
        s = _mm512_dpbusd_epi32(s, q[k], _mm512_loadu_si512((const void *)(a + 64 * k)));
        s1 = _mm512_dpbusd_epi32(s1, q[k + 1], _mm512_loadu_si512((const void *)(a + 64 * k + 64)));
    }
    return x16_scale(_mm512_add_epi32(s, s1), dw, a, acc);
}

/* Group g of row w: its eight weight vectors (and the prefetch of the lines
 * DS4_PF_DIST ahead when pf) and its 16 scales. */
static inline __attribute__((always_inline)) __m512 x16_load_group(int64_t n, const uint8_t *w, int64_t g, bool pf,
                                                                    __m512i q[8]) {
    const uint8_t *wg = w + ds4_x16_quants_at(g);
    if (pf) {
        DS4_UNROLL
        for (int o = 0; o < DS4_X16_VALUES; o += 64) DS4_PREFETCH(wg + o);
    }
    DS4_UNROLL
    for (int k = 0; k < 8; k++) q[k] = _mm512_loadu_si512((const void *)(wg + 64 * k));
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(w + ds4_x16_scales_at(n, g))));
}

/* Row w (n values) against T prepared activation rows; out[t] per row. The
 * integer sums are exact in any order (the one-token form splits its chain
 * in two for latency), and the float steps per token are the same for any
 * T, so every form returns the one-token result. pf: one line into L1
 * DS4_PF_DIST ahead per line read, where ds4_simd_sw_prefetch() says so; on
 * Zen 5 (where it does not) no software prefetch streamed from DRAM as well
 * as any of the L1 and L2 variants tried, and the L1 one was 5-10% slower
 * (docs/performance.md). */
static inline __attribute__((always_inline)) void x16_rows(int64_t n, const uint8_t *w, int T,
                                                            const uint8_t *const *acts, float *out, bool pf) {
    const int64_t ng = n / DS4_X16_VALUES;
    __m512 acc[8];
    DS4_UNROLL
    for (int t = 0; t < 8; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < ng; g++) {
        __m512i q[8];
        const __m512 dw = x16_load_group(n, w, g, pf, q);
        DS4_UNROLL
        for (int t = 0; t < T; t++) {
            const uint8_t *a = acts[t] + g * X16_ACT_BYTES;
            if (T == 1) {
                acc[t] = x16_one_token(q, dw, a, acc[t]);
                continue;
            }
            __m512i s = _mm512_loadu_si512((const void *)(a + X16_ACT_CORR));
            DS4_UNROLL
            for (int k = 0; k < 8; k++) s = _mm512_dpbusd_epi32(s, q[k], _mm512_loadu_si512((const void *)(a + 64 * k)));
            acc[t] = x16_scale(s, dw, a, acc[t]);
        }
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = _mm512_reduce_add_ps(acc[t]);
}

DS4_DOT_ENTRIES8(q8_0_x16, x16_rows, _pf, true)
DS4_DOT_ENTRIES8(q8_0_x16, x16_rows, _hw, false)

/* Rows w0 and w1 against one token, group by group: per row exactly the
 * one-token steps of x16_rows, so out[i] is dot(n, w_i, act) bit for bit. */
static inline __attribute__((always_inline)) void x16_two_rows(int64_t n, const uint8_t *w0, const uint8_t *w1,
                                                                const uint8_t *act, float out[2], bool pf) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t g = 0; g < n / DS4_X16_VALUES; g++) {
        const uint8_t *a = act + g * X16_ACT_BYTES;
        __m512i q[8];
        __m512 dw = x16_load_group(n, w0, g, pf, q);
        acc0 = x16_one_token(q, dw, a, acc0);
        dw = x16_load_group(n, w1, g, pf, q);
        acc1 = x16_one_token(q, dw, a, acc1);
    }
    out[0] = _mm512_reduce_add_ps(acc0);
    out[1] = _mm512_reduce_add_ps(acc1);
}

DS4_ROWS2_ENTRIES(q8_0_x16, x16_two_rows)

bool ds4_simd_avx512_q8_0_x16_kernel(ds4_dot_kernel *k, bool pf) {
    *k = DS4_DOT_KERNEL8(q8_0_x16, _pf, _hw, pf, x16_act_bytes, x16_act_prep);
    k->rows2 = pf ? rows2_q8_0_x16_pf : rows2_q8_0_x16_hw;
    return true;
}

#else

bool ds4_simd_avx512_q8_0_kernel(ds4_dot_kernel *k, bool near) {
    (void)k;
    (void)near;
    return false;
}

bool ds4_simd_avx512_q8_0_x16_kernel(ds4_dot_kernel *k, bool pf) {
    (void)k;
    (void)pf;
    return false;
}

#endif
