/* AVX-512 activation quantizer: Q8_K, bit-identical to
 * ds4_quantize_row_q8_K.
 *
 * Every single-token product quantizes its activation row on the calling
 * thread before the pool starts, so this is serial time in each matvec:
 * the AVX2 quantizer took ~1 us per 4096 values on the Zen 5 guest, ~2% of
 * a two-thread 2048x4096 Q2_K product from DRAM. Here a block's 256 values
 * stay in 16 registers between the max pass and the rounding, saturating
 * packs narrow the quants (the reference's clamp to [-128, 127]), and the
 * 16 sub-block sums come out of the quant registers in four vpdpbusd and
 * three pack/vpmaddwd steps instead of a horizontal add per sub-block. */
#include "quant/simd.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)

#include <immintrin.h>
#include <string.h>

#include "quant/quant.h"

/* dword 4i + j <- dword 4j + i: a 4 x 4 transpose of dwords */
#define q8k_transpose4 _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)

/* The 16 sub-block sums of a block's 256 quants q (4 registers, in order). */
static inline void q8k_bsums(const __m512i q[4], int16_t *bsums) {
    const __m512i ones8 = _mm512_set1_epi8(1), ones16 = _mm512_set1_epi16(1);
    __m512i d[4];
DS4_UNROLL
    for (int j = 0; j < 4; j++) /* dword 4i + k: quarter k of sub-block 4j + i */
        d[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones8, q[j]);
    /* vpackssdw works within 128-bit lanes, so in lane i: halves of
     * sub-blocks i, 4 + i, then 8 + i, 12 + i; then whole sub-blocks
     * 4j + i at dword 4i + j. Sums stay below 2^11: no saturation. */
    const __m512i h01 = _mm512_madd_epi16(_mm512_packs_epi32(d[0], d[1]), ones16);
    const __m512i h23 = _mm512_madd_epi16(_mm512_packs_epi32(d[2], d[3]), ones16);
    const __m512i s = _mm512_madd_epi16(_mm512_packs_epi32(h01, h23), ones16);
    _mm256_storeu_si256((__m256i *)bsums, _mm512_cvtepi32_epi16(_mm512_permutexvar_epi32(q8k_transpose4, s)));
}

/* 64 int32 in four registers -> 64 int8 in order, saturating (the clamp to
 * [-128, 127]): two in-lane packs leave in 128-bit lane i the dwords
 * 4i..4i+3 of each register, which one dword permute puts back in order. */
static inline __m512i q8k_pack64(__m512i a, __m512i b, __m512i c, __m512i d) {
    const __m512i w = _mm512_packs_epi16(_mm512_packs_epi32(a, b), _mm512_packs_epi32(c, d));
    return _mm512_permutexvar_epi32(q8k_transpose4, w);
}

/* The value whose magnitude is the block's largest, the first such one
 * when both signs reach it (B.5): from the block's max and min, and only
 * when they tie in magnitude (rare in real activations) from a search. */
static inline float q8k_signed_max(const float *x, const __m512 v[16], float *amax) {
    __m512 hi[2] = {v[0], v[1]}, lo[2] = {v[0], v[1]};
DS4_UNROLL
    for (int i = 2; i < 16; i++) {
        hi[i % 2] = _mm512_max_ps(hi[i % 2], v[i]);
        lo[i % 2] = _mm512_min_ps(lo[i % 2], v[i]);
    }
    const float mx = _mm512_reduce_max_ps(_mm512_max_ps(hi[0], hi[1]));
    const float mn = _mm512_reduce_min_ps(_mm512_min_ps(lo[0], lo[1]));
    *amax = mx > -mn ? mx : -mn;
    if (mx != -mn) return mx > -mn ? mx : mn;
    for (int i = 0; i < QK_K; i++) /* from memory: v stays in registers */
        if (x[i] == *amax || x[i] == -*amax) return x[i];
    return mx; /* not reached */
}

static void quant_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m512 v[16];
DS4_UNROLL
        for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_ps(x + 16 * i);
        float amax;
        const float mx = q8k_signed_max(x, v, &amax);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.0f / mx;
        const __m512 vis = _mm512_set1_ps(iscale);
        /* round half to even (the MXCSR default, as ds4_nearest), then the
         * saturating narrowing */
        __m512i q[4];
DS4_UNROLL
        for (int j = 0; j < 4; j++) {
            __m512i r[4];
DS4_UNROLL
            for (int i = 0; i < 4; i++) r[i] = _mm512_cvtps_epi32(_mm512_mul_ps(vis, v[4 * j + i]));
            q[j] = q8k_pack64(r[0], r[1], r[2], r[3]);
            _mm512_storeu_si512(y[b].qs + 64 * j, q[j]);
        }
        q8k_bsums(q, y[b].bsums);
        y[b].d = 1.0f / iscale;
    }
}

ds4_act_quant_fn ds4_simd_avx512_act_quant(uint32_t act_type) {
    return act_type == DS4_TYPE_Q8_K ? quant_q8_K : NULL;
}

#else

ds4_act_quant_fn ds4_simd_avx512_act_quant(uint32_t act_type) {
    (void)act_type;
    return NULL;
}

#endif
