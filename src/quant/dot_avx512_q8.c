/* AVX-512 Q8_0 x Q8_0 for one to four tokens.
 *
 * Prefill spends about half of its kernel time in Q8_0 products (attention
 * projections, shared expert, indexer), and the AVX2 kernel pays a scalar
 * fp16 scale conversion and a horizontal step per 32-value block for every
 * (row, token). Here:
 *   - a register holds two blocks (64 values); the weight signs become a
 *     lane mask that negates the activation bytes, so vpdpbusd takes |w|;
 *   - every dword of the product belongs to one block, so the two block
 *     scales are a vector (dw0 x 8 lanes, dw1 x 8 lanes) and the sums are
 *     scaled lane-wise, with no horizontal work until the row ends;
 *   - the activation scales come prepared in the same lane layout
 *     (q8_act_prep: per block pair 64 bytes of quants, then 16 floats), so a
 *     token costs a load, a masked negate, vpdpbusd, a multiply and an FMA;
 *   - up to four tokens share one load/abs/sign/scale step of the weights
 *     (ds4_matmul's token groups). Per token the operations and their order
 *     do not depend on how many tokens run together, so every form returns
 *     exactly what the one-token kernel returns. */
#include "quant/simd.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__) && \
    defined(__F16C__)

#include <immintrin.h>
#include <string.h>

#include "quant/quant.h"

#define Q8_PAIR_BYTES 128 /* 64 quants, then 16 float scales */

static size_t q8_act_bytes(int64_t n) { return (size_t)((n / QK8_0 + 1) / 2) * Q8_PAIR_BYTES; }

static void q8_act_prep(int64_t n, const void *std_act, void *out) {
    const block_q8_0 *x = std_act;
    const int64_t nb = n / QK8_0;
    uint8_t *o = out;
    for (int64_t b = 0; b < nb; b += 2, o += Q8_PAIR_BYTES) {
        float s[16];
        const float d0 = _cvtsh_ss(x[b].d), d1 = b + 1 < nb ? _cvtsh_ss(x[b + 1].d) : 0.0f;
        for (int i = 0; i < 8; i++) {
            s[i] = d0;
            s[8 + i] = d1;
        }
        memcpy(o, x[b].qs, QK8_0);
        if (b + 1 < nb) memcpy(o + QK8_0, x[b + 1].qs, QK8_0);
        else memset(o + QK8_0, 0, QK8_0);
        memcpy(o + 64, s, sizeof s);
    }
}

static inline __attribute__((always_inline)) void q8_rows(int64_t n, const block_q8_0 *w, int T,
                                                           const void *const *acts, float *out) {
    const int64_t nb = n / QK8_0;
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t b = 0; b < nb; b += 2) {
        const size_t pair = (size_t)(b / 2) * Q8_PAIR_BYTES;
        DS4_PREFETCH(w + b);
        DS4_PREFETCH((const uint8_t *)(w + b) + 64);
        const bool two = b + 1 < nb;
        const __m256i lo = _mm256_loadu_si256((const __m256i *)w[b].qs);
        const __m256i hi = two ? _mm256_loadu_si256((const __m256i *)w[b + 1].qs) : _mm256_setzero_si256();
        const __m512i wq = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        const __mmask64 neg = _mm512_movepi8_mask(wq);
        const __m512i wa = _mm512_abs_epi8(wq);
        const __m512 dw = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(_cvtsh_ss(w[b].d)),
                                               _mm512_set1_ps(two ? _cvtsh_ss(w[b + 1].d) : 0.0f));
        DS4_UNROLL
        for (int t = 0; t < T; t++) {
            const uint8_t *a = (const uint8_t *)acts[t] + pair;
            __m512i y = _mm512_loadu_si512((const void *)a);
            y = _mm512_mask_sub_epi8(y, neg, zero, y);
            const __m512i s = _mm512_dpbusd_epi32(zero, wa, y);
            const __m512 sc = _mm512_mul_ps(dw, _mm512_loadu_ps((const float *)(a + 64)));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc[t]);
        }
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = _mm512_reduce_add_ps(acc[t]);
}

static float dot_q8_0(int64_t n, const void *w, const void *act) {
    float r;
    q8_rows(n, w, 1, &act, &r);
    return r;
}

static void dot2_q8_0(int64_t n, const void *w, const void *a0, const void *a1, float out[2]) {
    const void *acts[2] = {a0, a1};
    q8_rows(n, w, 2, acts, out);
}

static void dot4_q8_0(int64_t n, const void *w, const void *const act[4], float out[4]) {
    q8_rows(n, w, 4, act, out);
}

bool ds4_simd_avx512_q8_0_kernel(ds4_dot_kernel *k) {
    *k = (ds4_dot_kernel){.dot = dot_q8_0, .dot2 = dot2_q8_0, .dot4 = dot4_q8_0,
                          .act_bytes = q8_act_bytes, .act_prep = q8_act_prep};
    return true;
}

#else

bool ds4_simd_avx512_q8_0_kernel(ds4_dot_kernel *k) {
    (void)k;
    return false;
}

#endif
