/* AVX2 (+FMA, F16C) dot-product kernels for every weight type.
 *
 * Float combination per block follows formats.md B.5: the integer inner
 * sums are exact (int32 lanes), then each block adds scale * sum to float
 * lane accumulators. Only the order of the float additions across blocks
 * differs from the scalar reference. AVX-VNNI (vpdpbusd on ymm) is used for
 * Q8_0 when the compiler targets it.
 *
 * Activation ranges the kernels rely on (what the activation quantizers
 * produce): Q8_0 and Q8_K activation quants lie in [-127, 127], so
 * maddubs pair sums never saturate and sign flips never overflow. */
#include "quant/simd.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <pthread.h>
#include <string.h>

#include "base/fp16.h"
#include "quant/iq2xxs_tables.h"
#include "quant/quant.h"

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float f16(uint16_t h) { return _cvtsh_ss(h); }

/* ---- float weights x float activations ---- */

static float dot_f32(int64_t n, const void *wv, const void *xv) {
    const float *w = wv, *x = xv;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

static inline __m256 load_f16x8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static float dot_f16(int64_t n, const void *wv, const void *xv) {
    const uint16_t *w = wv;
    const float *x = xv;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(load_f16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_f16x8(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_f16x8(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += f16(w[i]) * x[i];
    return s;
}

static inline __m256 load_bf16x8(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static float dot_bf16(int64_t n, const void *wv, const void *xv) {
    const uint16_t *w = wv;
    const float *x = xv;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(load_bf16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_bf16x8(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_bf16x8(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) {
        uint32_t u = (uint32_t)w[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        s += f * x[i];
    }
    return s;
}

/* ---- Q8_0 x Q8_0 ---- */

/* 32 signed bytes . 32 signed bytes -> 8 int32 partial sums, given
 * aw = |w|: the sign of w moves onto x so the unsigned x signed multiply
 * applies. */
static inline __m256i dot_i8x32_abs(__m256i aw, __m256i w, __m256i x) {
    const __m256i sx = _mm256_sign_epi8(x, w);
#if defined(__AVXVNNI__) || (defined(__AVX512VNNI__) && defined(__AVX512VL__))
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sx);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1));
#endif
}

/* Row w against T activation rows x[t] (T <= 4): each weight block is
 * loaded, its |w| and f16 scale computed once for all tokens; per token the
 * operations and their order are those of T = 1 (two FMA chains over block
 * pairs, then the odd block). */
static inline __attribute__((always_inline)) void q8_0_rows(int64_t n, const block_q8_0 *w, int T,
                                                             const block_q8_0 *const *x, float *out) {
    const int64_t nb = n / QK8_0;
    int64_t b = 0;
    __m256 a0[4], a1[4];
    DS4_UNROLL
    for (int t = 0; t < T; t++) a0[t] = a1[t] = _mm256_setzero_ps();
    for (; b + 2 <= nb; b += 2) {
        DS4_PREFETCH(w + b);
        DS4_PREFETCH((const uint8_t *)(w + b) + 64);
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)w[b].qs), w1 = _mm256_loadu_si256((const __m256i *)w[b + 1].qs);
        const __m256i aw0 = _mm256_abs_epi8(w0), aw1 = _mm256_abs_epi8(w1);
        const float d0 = f16(w[b].d), d1 = f16(w[b + 1].d);
        DS4_UNROLL
        for (int t = 0; t < T; t++) {
            const __m256i p0 = dot_i8x32_abs(aw0, w0, _mm256_loadu_si256((const __m256i *)x[t][b].qs));
            const __m256i p1 = dot_i8x32_abs(aw1, w1, _mm256_loadu_si256((const __m256i *)x[t][b + 1].qs));
            a0[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * f16(x[t][b].d)), _mm256_cvtepi32_ps(p0), a0[t]);
            a1[t] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * f16(x[t][b + 1].d)), _mm256_cvtepi32_ps(p1), a1[t]);
        }
    }
    for (; b < nb; b++) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)w[b].qs), aw0 = _mm256_abs_epi8(w0);
        const float d0 = f16(w[b].d);
        DS4_UNROLL
        for (int t = 0; t < T; t++) {
            const __m256i p = dot_i8x32_abs(aw0, w0, _mm256_loadu_si256((const __m256i *)x[t][b].qs));
            a0[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * f16(x[t][b].d)), _mm256_cvtepi32_ps(p), a0[t]);
        }
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = hsum_ps(_mm256_add_ps(a0[t], a1[t]));
}

/* ---- Q2_K x Q8_K ---- */

/* The end of a K-quant block (Q2_K, Q4_K) for T tokens: per token, its
 * integer sum s[t] scaled by d x y.d, less the mins (16 int16 pairing the
 * token's 16 bsums) scaled by dmin x y.d (dx, mx: the block's d and dmin). */
static inline __attribute__((always_inline)) void kquant_block_end(int T, __m256i mins, const block_q8_K *const *y,
                                                                   int64_t b, float dx, float mx, const __m256i *s,
                                                                   __m256 *acc) {
    DS4_UNROLL
    for (int t = 0; t < T; t++) {
        const __m256i pm = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y[t][b].bsums));
        const float d = y[t][b].d * dx, dmin = y[t][b].d * mx;
        acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s[t]), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(pm), acc[t]);
    }
}

/* Shuffle controls that turn the 16 scale nibbles (duplicated in both
 * 128-bit lanes) into int16 multipliers: for quant group (h, j) lane 0
 * holds sub-block 8h+2j (elements l = 0..15) and lane 1 sub-block 8h+2j+1. */
static __m256i q2k_sc_ctrl[8];

/* Row x against T activation rows y[t] (T <= 4), each block's quants and
 * scale words decoded once for all tokens; per token the operations and
 * their order are those of T = 1 (so dot2/dot4 equal dot exactly). */
static inline __attribute__((always_inline)) void q2k_rows(int64_t n, const block_q2_K *x, int T,
                                                            const block_q8_K *const *y, float *out) {
    const int64_t nb = n / QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(15);
    __m256 acc[4];
    DS4_UNROLL
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        DS4_PREFETCH(x + b);
        DS4_PREFETCH((const uint8_t *)(x + b) + 64);
        const float dx = f16(x[b].d), mx = f16(x[b].dmin);
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)x[b].scales);
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
        const __m256i scl = _mm256_broadcastsi128_si256(_mm_and_si128(sc8, m4));
        __m256i s[4];
        DS4_UNROLL
        for (int t = 0; t < T; t++) s[t] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q2 = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * h));
            const __m256i q[4] = {_mm256_and_si256(q2, m3), _mm256_and_si256(_mm256_srli_epi16(q2, 2), m3),
                                  _mm256_and_si256(_mm256_srli_epi16(q2, 4), m3),
                                  _mm256_and_si256(_mm256_srli_epi16(q2, 6), m3)};
            __m256i sc[4];
            DS4_UNROLL
            for (int j = 0; j < 4; j++) sc[j] = _mm256_shuffle_epi8(scl, q2k_sc_ctrl[4 * h + j]);
            DS4_UNROLL
            for (int t = 0; t < T; t++) {
                const int8_t *q8 = y[t][b].qs + 128 * h;
                DS4_UNROLL
                for (int j = 0; j < 4; j++)
                    s[t] = _mm256_add_epi32(
                        s[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q[j], _mm256_loadu_si256((const __m256i *)(q8 + 32 * j))), sc[j]));
            }
        }
        kquant_block_end(T, mins16, y, b, dx, mx, s, acc);
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = hsum_ps(acc[t]);
}

/* ---- Q4_K x Q8_K ---- */

/* Unpacks the 12 scale bytes into sc[0..7] and m[0..7] (formats.md B.3). */
static inline void q4k_scales(const uint8_t *s, uint8_t sc[8], uint8_t m[8]) {
    uint32_t a, b, c;
    memcpy(&a, s, 4);
    memcpy(&b, s + 4, 4);
    memcpy(&c, s + 8, 4);
    uint32_t v[4];
    v[0] = a & 0x3f3f3f3fu;
    v[1] = (c & 0x0f0f0f0fu) | (((a >> 6) & 0x03030303u) << 4);
    v[2] = b & 0x3f3f3f3fu;
    v[3] = ((c >> 4) & 0x0f0f0f0fu) | (((b >> 6) & 0x03030303u) << 4);
    memcpy(sc, v, 8);
    memcpy(m, v + 2, 8);
}

/* Row x against T activation rows y[t] (T <= 4), as q2k_rows. */
static inline __attribute__((always_inline)) void q4k_rows(int64_t n, const block_q4_K *x, int T,
                                                            const block_q8_K *const *y, float *out) {
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(15);
    /* Duplicates each min byte so madd pairs bsums[2k], bsums[2k+1] with m_k. */
    const __m128i dup = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    __m256 acc[4];
    DS4_UNROLL
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        DS4_PREFETCH(x + b);
        DS4_PREFETCH((const uint8_t *)(x + b) + 64);
        DS4_PREFETCH((const uint8_t *)(x + b) + 128);
        uint8_t sc[8], m[8];
        q4k_scales(x[b].scales, sc, m);
        const float dx = f16(x[b].d), mx = f16(x[b].dmin);
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)m), dup));
        __m256i s[4];
        DS4_UNROLL
        for (int t = 0; t < T; t++) s[t] = _mm256_setzero_si256();
        for (int g = 0; g < 4; g++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * g));
            const __m256i lo4 = _mm256_and_si256(q4, m4), hi4 = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            const __m256i slo = _mm256_set1_epi16(sc[2 * g]), shi = _mm256_set1_epi16(sc[2 * g + 1]);
            DS4_UNROLL
            for (int t = 0; t < T; t++) {
                const int8_t *q8 = y[t][b].qs + 64 * g;
                const __m256i lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo4, _mm256_loadu_si256((const __m256i *)q8)), slo);
                const __m256i hi =
                    _mm256_madd_epi16(_mm256_maddubs_epi16(hi4, _mm256_loadu_si256((const __m256i *)(q8 + 32))), shi);
                s[t] = _mm256_add_epi32(s[t], _mm256_add_epi32(lo, hi));
            }
        }
        kquant_block_end(T, m16, y, b, dx, mx, s, acc);
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = hsum_ps(acc[t]);
}

/* ---- IQ2_XXS x Q8_K ---- */

/* Sign index -> 8 bytes of +1/-1 (byte j = -1 where bit j of the sign mask
 * is set), so _mm256_sign_epi8 applies an octet's signs in one step. */
static uint64_t iq2_sign_bytes[128];

/* Row x against T activation rows y[t] (T <= 4): the grid rows and sign
 * bytes of each pair of groups are assembled once (the scalar loads that
 * bound this kernel) and applied to every token; per token the operations
 * and their order are those of T = 1, so the token forms return exactly
 * dot_iq2_xxs's result. */
static inline __attribute__((always_inline)) void iq2_rows(int64_t n, const block_iq2_xxs *x, int T,
                                                            const block_q8_K *const *y, float *out) {
    const int64_t nb = n / QK_K;
    __m256 acc[4];
    DS4_UNROLL
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        DS4_PREFETCH(x + b);
        DS4_PREFETCH((const uint8_t *)(x + b) + 64);
        const uint8_t *qs = (const uint8_t *)x[b].qs;
        __m256i s[4];
        DS4_UNROLL
        for (int t = 0; t < T; t++) s[t] = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib += 2) {
            uint32_t w0, w1;
            memcpy(&w0, qs + 8 * ib + 4, 4);
            memcpy(&w1, qs + 8 * ib + 12, 4);
            const uint8_t *a0 = qs + 8 * ib, *a1 = qs + 8 * ib + 8;
            const __m256i g0 = _mm256_set_epi64x((long long)ds4_iq2xxs_grid[a0[3]], (long long)ds4_iq2xxs_grid[a0[2]],
                                                 (long long)ds4_iq2xxs_grid[a0[1]], (long long)ds4_iq2xxs_grid[a0[0]]);
            const __m256i g1 = _mm256_set_epi64x((long long)ds4_iq2xxs_grid[a1[3]], (long long)ds4_iq2xxs_grid[a1[2]],
                                                 (long long)ds4_iq2xxs_grid[a1[1]], (long long)ds4_iq2xxs_grid[a1[0]]);
            const __m256i z0 = _mm256_set_epi64x((long long)iq2_sign_bytes[(w0 >> 21) & 127],
                                                 (long long)iq2_sign_bytes[(w0 >> 14) & 127],
                                                 (long long)iq2_sign_bytes[(w0 >> 7) & 127], (long long)iq2_sign_bytes[w0 & 127]);
            const __m256i z1 = _mm256_set_epi64x((long long)iq2_sign_bytes[(w1 >> 21) & 127],
                                                 (long long)iq2_sign_bytes[(w1 >> 14) & 127],
                                                 (long long)iq2_sign_bytes[(w1 >> 7) & 127], (long long)iq2_sign_bytes[w1 & 127]);
            const __m256i sc0 = _mm256_set1_epi16((short)(2 * (w0 >> 28) + 1));
            const __m256i sc1 = _mm256_set1_epi16((short)(2 * (w1 >> 28) + 1));
            DS4_UNROLL
            for (int t = 0; t < T; t++) {
                const int8_t *q8 = y[t][b].qs + 32 * ib;
                const __m256i y0 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), z0);
                const __m256i y1 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(q8 + 32)), z1);
                const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(g0, y0), sc0);
                const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(g1, y1), sc1);
                s[t] = _mm256_add_epi32(s[t], _mm256_add_epi32(p0, p1));
            }
        }
        const float dx = f16(x[b].d);
        DS4_UNROLL
        for (int t = 0; t < T; t++) {
            const float d = 0.125f * y[t][b].d * dx;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s[t]), acc[t]);
        }
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = hsum_ps(acc[t]);
}

DS4_TYPED_DOT_ENTRIES(q8_0, q8_0_rows, block_q8_0, block_q8_0)
DS4_TYPED_DOT_ENTRIES(q2_K, q2k_rows, block_q2_K, block_q8_K)
DS4_TYPED_DOT_ENTRIES(q4_K, q4k_rows, block_q4_K, block_q8_K)
DS4_TYPED_DOT_ENTRIES(iq2_xxs, iq2_rows, block_iq2_xxs, block_q8_K)

/* ---- activation quantizers (bit-identical to ds4_quantize_row_q8_0/_q8_K) ---- */

static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

static inline float hmax_ps(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* 16 int32 (two registers, in order) -> 16 int8 with saturation, in order. */
static inline __m128i pack16(__m256i a, __m256i b) {
    __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    return _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

/* C roundf (half away from zero), exact: trunc, then step away from zero
 * when the dropped fraction is at least one half. */
static inline __m256 roundf_ps(__m256 v) {
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 up = _mm256_cmp_ps(abs_ps(_mm256_sub_ps(v, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

static void quant_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        __m256 v[4];
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
        __m256 m = _mm256_max_ps(_mm256_max_ps(abs_ps(v[0]), abs_ps(v[1])), _mm256_max_ps(abs_ps(v[2]), abs_ps(v[3])));
        const float amax = hmax_ps(m);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ds4_f32_to_f16(d);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; i++) q[i] = _mm256_cvtps_epi32(roundf_ps(_mm256_mul_ps(v[i], vid)));
        _mm_storeu_si128((__m128i *)y[b].qs, pack16(q[0], q[1]));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), pack16(q[2], q[3]));
    }
}

static void quant_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m256 m0 = _mm256_setzero_ps(), m1 = m0;
        for (int i = 0; i < QK_K; i += 16) {
            m0 = _mm256_max_ps(m0, abs_ps(_mm256_loadu_ps(x + i)));
            m1 = _mm256_max_ps(m1, abs_ps(_mm256_loadu_ps(x + i + 8)));
        }
        const float amax = hmax_ps(_mm256_max_ps(m0, m1));
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        /* The first element with the largest |x| sets the sign (B.5). */
        int first = 0;
        const __m256 va = _mm256_set1_ps(amax);
        for (int i = 0; i < QK_K; i += 8) {
            int mask = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + i)), va, _CMP_EQ_OQ));
            if (mask) {
                first = i + __builtin_ctz((unsigned)mask);
                break;
            }
        }
        const float iscale = -127.0f / x[first];
        const __m256 vis = _mm256_set1_ps(iscale);
        const __m256i lo = _mm256_set1_epi32(-128), hi = _mm256_set1_epi32(127);
        for (int g = 0; g < QK_K / 16; g++) {
            __m256i a = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(vis, _mm256_loadu_ps(x + 16 * g)),
                                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            __m256i c = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(vis, _mm256_loadu_ps(x + 16 * g + 8)),
                                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            a = _mm256_max_epi32(_mm256_min_epi32(a, hi), lo);
            c = _mm256_max_epi32(_mm256_min_epi32(c, hi), lo);
            __m256i s = _mm256_add_epi32(a, c);
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            s4 = _mm_hadd_epi32(s4, s4);
            s4 = _mm_hadd_epi32(s4, s4);
            y[b].bsums[g] = (int16_t)_mm_cvtsi128_si32(s4);
            _mm_storeu_si128((__m128i *)(y[b].qs + 16 * g), pack16(a, c));
        }
        y[b].d = 1.0f / iscale;
    }
}

ds4_act_quant_fn ds4_simd_avx2_act_quant(uint32_t act_type) {
    if (act_type == DS4_TYPE_Q8_0) return quant_q8_0;
    if (act_type == DS4_TYPE_Q8_K) return quant_q8_K;
    return NULL;
}

/* ---- tables and getter ---- */

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
    for (int s = 0; s < 128; s++) {
        uint8_t mask = ds4_ksigns_iq2xs[s];
        uint64_t v = 0;
        for (int j = 0; j < 8; j++) v |= (uint64_t)((mask >> j) & 1 ? 0xFF : 0x01) << (8 * j);
        iq2_sign_bytes[s] = v;
    }
    for (int hj = 0; hj < 8; hj++) {
        int s = 2 * hj; /* sub-block of group (h, j) = 8h + 2j = 2 * (4h + j) */
        int8_t c[32];
        for (int i = 0; i < 16; i++) {
            c[i] = (int8_t)((i & 1) ? 0x80 : s);
            c[16 + i] = (int8_t)((i & 1) ? 0x80 : s + 1);
        }
        memcpy(&q2k_sc_ctrl[hj], c, 32);
    }
}

bool ds4_simd_avx2_kernel(uint32_t type, ds4_dot_kernel *k) {
    pthread_once(&tables_once, init_tables);
    /* the quantized types have two- and four-token forms (prefill): each
     * weight block is decoded once per group of tokens */
    static const ds4_dot_set set = {{dot_f32, NULL, NULL},   {dot_f16, NULL, NULL},   {dot_bf16, NULL, NULL},
                                    DS4_DOT_FORMS(q8_0),     DS4_DOT_FORMS(q2_K),     DS4_DOT_FORMS(q4_K),
                                    DS4_DOT_FORMS(iq2_xxs)};
    return ds4_dot_kernel_from_set(&set, type, k);
}

#else

bool ds4_simd_avx2_kernel(uint32_t type, ds4_dot_kernel *k) {
    (void)type;
    (void)k;
    return false;
}

ds4_act_quant_fn ds4_simd_avx2_act_quant(uint32_t act_type) {
    (void)act_type;
    return NULL;
}

#endif
