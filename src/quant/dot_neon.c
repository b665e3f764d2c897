/* NEON (AArch64 Advanced SIMD) dot-product kernels.
 *
 * Integer products accumulate in int32x4 vectors: with the dot-product
 * extension (__ARM_FEATURE_DOTPROD: every Apple M and Neoverse core; built
 * in with -march=native or armv8.2-a+dotprod) one sdot per 16 products, else
 * widening 8x8->16-bit multiplies with pairwise accumulation. Each scale
 * group's vector is multiplied by its integer scale into one block vector,
 * and only that is reduced across lanes, once per block. Integer sums are
 * exact, so the result is the same whatever the path; the float combination
 * per block is exactly as formats.md B.5 writes it. */
#include "quant/simd.h"

#if defined(__aarch64__) && defined(__ARM_NEON)

#include <arm_neon.h>
#include <string.h>

#include "quant/iq2xxs_tables.h"
#include "quant/quant.h"

static inline float f16(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

/* acc + the 16 int8 x int8 products of a and b, summed into 4 lanes (which
 * products land in which lane differs between the paths; only lane sums
 * are used). */
static inline int32x4_t dot16_acc(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    return vpadalq_s16(vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b))), vmull_high_s8(a, b));
#endif
}

/* the 32 products of a0:a1 and b0:b1 in 4 lanes */
static inline int32x4_t dot32(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1) {
    return dot16_acc(dot16_acc(vdupq_n_s32(0), a0, b0), a1, b1);
}

static float dot_f32(int64_t n, const void *wv, const void *xv) {
    const float *w = wv, *x = xv;
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 = vfmaq_f32(a0, vld1q_f32(w + i), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, vld1q_f32(w + i + 4), vld1q_f32(x + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

static float dot_f16(int64_t n, const void *wv, const void *xv) {
    const uint16_t *w = wv;
    const float *x = xv;
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(w + i));
        a0 = vfmaq_f32(a0, vcvt_f32_f16(vget_low_f16(h)), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, vcvt_high_f32_f16(h), vld1q_f32(x + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; i++) s += f16(w[i]) * x[i];
    return s;
}

static float dot_bf16(int64_t n, const void *wv, const void *xv) {
    const uint16_t *w = wv;
    const float *x = xv;
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t h = vld1q_u16(w + i);
        a0 = vfmaq_f32(a0, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16)), vld1q_f32(x + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; i++) {
        uint32_t u = (uint32_t)w[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        s += f * x[i];
    }
    return s;
}

/* The rows functions below take T activation rows (T <= 4) for one weight
 * row: each weight block is loaded and unpacked once for all of them, and
 * per token the operations and their order are those of T = 1, so the
 * two- and four-token entries (prefill) return exactly the one-token
 * result. */
static inline __attribute__((always_inline)) void q8_0_rows(int64_t n, const block_q8_0 *w, int T,
                                                             const block_q8_0 *const *x, float *out) {
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n / QK8_0; b++) {
        DS4_PREFETCH(w + b);
        const int8x16_t w0 = vld1q_s8(w[b].qs), w1 = vld1q_s8(w[b].qs + 16);
        const float dw = f16(w[b].d);
        DS4_UNROLL
        for (int t = 0; t < T; t++) {
            const int32_t isum = vaddvq_s32(dot32(w0, w1, vld1q_s8(x[t][b].qs), vld1q_s8(x[t][b].qs + 16)));
            s[t] += dw * f16(x[t][b].d) * (float)isum;
        }
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = s[t];
}

static inline __attribute__((always_inline)) void q2_K_rows(int64_t n, const block_q2_K *x, int T,
                                                             const block_q8_K *const *y, float *out) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n / QK_K; b++) {
        DS4_PREFETCH(x + b);
        int32x4_t iacc[4];
        DS4_UNROLL
        for (int t = 0; t < T; t++) iacc[t] = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++)
            for (int half = 0; half < 2; half++) {
                const uint8x16_t q2 = vld1q_u8(x[b].qs + 32 * h + 16 * half);
                DS4_UNROLL
                for (int j = 0; j < 4; j++) {
                    /* elements 128h + 32j + 16half + (0..15): sub-block 8h + 2j + half */
                    const int sb = 8 * h + 2 * j + half;
                    const int8x16_t q = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q2, vdupq_n_s8((int8_t)(-2 * j))), m3));
                    DS4_UNROLL
                    for (int t = 0; t < T; t++) {
                        const int32x4_t d = dot16_acc(vdupq_n_s32(0), q, vld1q_s8(y[t][b].qs + 128 * h + 32 * j + 16 * half));
                        iacc[t] = vmlaq_n_s32(iacc[t], d, x[b].scales[sb] & 15);
                    }
                }
            }
        /* mins: the 16 high nibbles against the 16 sub-block sums */
        const uint8x16_t mins = vshrq_n_u8(vld1q_u8(x[b].scales), 4);
        const int16x8_t m0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
        const int16x8_t m1 = vreinterpretq_s16_u16(vmovl_high_u8(mins));
        const float dx = f16(x[b].d), mx = f16(x[b].dmin);
        DS4_UNROLL
        for (int t = 0; t < T; t++) {
            const int16_t *bs = y[t][b].bsums;
            int32x4_t macc = vmull_s16(vget_low_s16(m0), vld1_s16(bs));
            macc = vmlal_high_s16(macc, m0, vld1q_s16(bs));
            macc = vmlal_s16(macc, vget_low_s16(m1), vld1_s16(bs + 8));
            macc = vmlal_high_s16(macc, m1, vld1q_s16(bs + 8));
            const int32_t isum = vaddvq_s32(iacc[t]), msum = vaddvq_s32(macc);
            s[t] += y[t][b].d * dx * (float)isum - y[t][b].d * mx * (float)msum;
        }
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = s[t];
}

static inline __attribute__((always_inline)) void q4_K_rows(int64_t n, const block_q4_K *x, int T,
                                                             const block_q8_K *const *y, float *out) {
    const uint8x16_t m4 = vdupq_n_u8(15);
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n / QK_K; b++) {
        DS4_PREFETCH(x + b);
        DS4_PREFETCH((const uint8_t *)(x + b) + 64);
        const uint8_t *sc = x[b].scales;
        int32x4_t iacc[4];
        int32_t msum[4] = {0, 0, 0, 0};
        DS4_UNROLL
        for (int t = 0; t < T; t++) iacc[t] = vdupq_n_s32(0);
        for (int k = 0; k < 8; k++) {
            int c, m;
            if (k < 4) {
                c = sc[k] & 63;
                m = sc[k + 4] & 63;
            } else {
                c = (sc[k + 4] & 15) | ((sc[k - 4] >> 6) << 4);
                m = (sc[k + 4] >> 4) | ((sc[k] >> 6) << 4);
            }
            const int g = k / 2;
            const uint8x16_t q0 = vld1q_u8(x[b].qs + 32 * g), q1 = vld1q_u8(x[b].qs + 32 * g + 16);
            const int8x16_t l0 = vreinterpretq_s8_u8(k % 2 ? vshrq_n_u8(q0, 4) : vandq_u8(q0, m4));
            const int8x16_t l1 = vreinterpretq_s8_u8(k % 2 ? vshrq_n_u8(q1, 4) : vandq_u8(q1, m4));
            DS4_UNROLL
            for (int t = 0; t < T; t++) {
                const int8_t *q8 = y[t][b].qs + 32 * k;
                iacc[t] = vmlaq_n_s32(iacc[t], dot32(l0, l1, vld1q_s8(q8), vld1q_s8(q8 + 16)), c);
                msum[t] += m * (y[t][b].bsums[2 * k] + y[t][b].bsums[2 * k + 1]);
            }
        }
        const float dx = f16(x[b].d), mx = f16(x[b].dmin);
        DS4_UNROLL
        for (int t = 0; t < T; t++)
            s[t] += y[t][b].d * dx * (float)vaddvq_s32(iacc[t]) - y[t][b].d * mx * (float)msum[t];
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = s[t];
}

static inline __attribute__((always_inline)) void iq2_xxs_rows(int64_t n, const block_iq2_xxs *x, int T,
                                                                const block_q8_K *const *y, float *out) {
    const uint8x16_t bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ull));
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n / QK_K; b++) {
        DS4_PREFETCH(x + b);
        const uint8_t *qs = (const uint8_t *)x[b].qs;
        int32x4_t iacc[4];
        DS4_UNROLL
        for (int t = 0; t < T; t++) iacc[t] = vdupq_n_s32(0);
        for (int ib = 0; ib < 8; ib++) {
            uint32_t w;
            memcpy(&w, qs + 8 * ib + 4, 4);
            int8x16_t gs[2];
            DS4_UNROLL
            for (int k = 0; k < 4; k += 2) {
                const uint8x16_t g = vcombine_u8(vcreate_u8(ds4_iq2xxs_grid[qs[8 * ib + k]]),
                                                 vcreate_u8(ds4_iq2xxs_grid[qs[8 * ib + k + 1]]));
                const uint8x16_t sm = vcombine_u8(vdup_n_u8(ds4_ksigns_iq2xs[(w >> (7 * k)) & 127]),
                                                  vdup_n_u8(ds4_ksigns_iq2xs[(w >> (7 * (k + 1))) & 127]));
                const uint8x16_t neg = vtstq_u8(sm, bit); /* 0xFF where the element is negated */
                const int8x16_t v = vreinterpretq_s8_u8(g);
                gs[k / 2] = vbslq_s8(neg, vnegq_s8(v), v);
            }
            const int32_t scale = (int32_t)(2 * (w >> 28) + 1);
            DS4_UNROLL
            for (int t = 0; t < T; t++) {
                const int8_t *q8 = y[t][b].qs + 32 * ib;
                iacc[t] = vmlaq_n_s32(iacc[t], dot32(gs[0], gs[1], vld1q_s8(q8), vld1q_s8(q8 + 16)), scale);
            }
        }
        const float dx = f16(x[b].d);
        DS4_UNROLL
        for (int t = 0; t < T; t++) s[t] += 0.125f * y[t][b].d * dx * (float)vaddvq_s32(iacc[t]);
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = s[t];
}

DS4_TYPED_DOT_ENTRIES(q8_0, q8_0_rows, block_q8_0, block_q8_0)
DS4_TYPED_DOT_ENTRIES(q2_K, q2_K_rows, block_q2_K, block_q8_K)
DS4_TYPED_DOT_ENTRIES(q4_K, q4_K_rows, block_q4_K, block_q8_K)
DS4_TYPED_DOT_ENTRIES(iq2_xxs, iq2_xxs_rows, block_iq2_xxs, block_q8_K)

bool ds4_simd_neon_kernel(uint32_t type, ds4_dot_kernel *k) {
    /* the quantized types have two- and four-token forms (prefill): each
     * weight block is decoded once per group of tokens */
    static const ds4_dot_set set = {{dot_f32, NULL, NULL},   {dot_f16, NULL, NULL},   {dot_bf16, NULL, NULL},
                                    DS4_DOT_FORMS(q8_0),     DS4_DOT_FORMS(q2_K),     DS4_DOT_FORMS(q4_K),
                                    DS4_DOT_FORMS(iq2_xxs)};
    return ds4_dot_kernel_from_set(&set, type, k);
}

#else

bool ds4_simd_neon_kernel(uint32_t type, ds4_dot_kernel *k) {
    (void)type;
    (void)k;
    return false;
}

#endif
