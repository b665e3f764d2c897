/* NEON (AArch64 Advanced SIMD) dot-product kernels.
 *
 * Deliberately plain: widening 8x8->16-bit multiplies with pairwise
 * accumulation (no dependency on the optional dot-product extension), one
 * integer sum per scale group, and the float combination per block exactly
 * as formats.md B.5 writes it. */
#include "quant/simd.h"

#if defined(__aarch64__) && defined(__ARM_NEON)

#include <arm_neon.h>
#include <string.h>

#include "quant/iq2xxs_tables.h"
#include "quant/quant.h"

static inline float f16(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

/* sum of 16 int8 x int8 products */
static inline int32_t dot16(int8x16_t a, int8x16_t b) {
    int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    int16x8_t hi = vmull_s8(vget_high_s8(a), vget_high_s8(b));
    return vaddvq_s32(vaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
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

static float dot_q8_0(int64_t n, const void *wv, const void *xv) {
    const block_q8_0 *w = wv, *x = xv;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        DS4_PREFETCH(w + b);
        int32_t isum = dot16(vld1q_s8(w[b].qs), vld1q_s8(x[b].qs)) + dot16(vld1q_s8(w[b].qs + 16), vld1q_s8(x[b].qs + 16));
        s += f16(w[b].d) * f16(x[b].d) * (float)isum;
    }
    return s;
}

static float dot_q2_K(int64_t n, const void *wv, const void *yv) {
    const block_q2_K *x = wv;
    const block_q8_K *y = yv;
    const uint8x16_t m3 = vdupq_n_u8(3);
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int32_t isum = 0, msum = 0;
        for (int h = 0; h < 2; h++)
            for (int half = 0; half < 2; half++) {
                uint8x16_t q2 = vld1q_u8(x[b].qs + 32 * h + 16 * half);
                for (int j = 0; j < 4; j++) {
                    /* elements 128h + 32j + 16half + (0..15): sub-block 8h + 2j + half */
                    int sb = 8 * h + 2 * j + half;
                    uint8x16_t q = vandq_u8(vshlq_u8(q2, vdupq_n_s8((int8_t)(-2 * j))), m3);
                    int32_t d = dot16(vreinterpretq_s8_u8(q), vld1q_s8(y[b].qs + 128 * h + 32 * j + 16 * half));
                    isum += (x[b].scales[sb] & 15) * d;
                }
            }
        for (int sb = 0; sb < 16; sb++) msum += (x[b].scales[sb] >> 4) * y[b].bsums[sb];
        s += y[b].d * f16(x[b].d) * (float)isum - y[b].d * f16(x[b].dmin) * (float)msum;
    }
    return s;
}

static float dot_q4_K(int64_t n, const void *wv, const void *yv) {
    const block_q4_K *x = wv;
    const block_q8_K *y = yv;
    const uint8x16_t m4 = vdupq_n_u8(15);
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const uint8_t *sc = x[b].scales;
        int32_t isum = 0, msum = 0;
        for (int k = 0; k < 8; k++) {
            int c, m;
            if (k < 4) {
                c = sc[k] & 63;
                m = sc[k + 4] & 63;
            } else {
                c = (sc[k + 4] & 15) | ((sc[k - 4] >> 6) << 4);
                m = (sc[k + 4] >> 4) | ((sc[k] >> 6) << 4);
            }
            int g = k / 2, hi = k % 2;
            int32_t d = 0;
            for (int half = 0; half < 2; half++) {
                uint8x16_t q4 = vld1q_u8(x[b].qs + 32 * g + 16 * half);
                uint8x16_t q = hi ? vshrq_n_u8(q4, 4) : vandq_u8(q4, m4);
                d += dot16(vreinterpretq_s8_u8(q), vld1q_s8(y[b].qs + 32 * k + 16 * half));
            }
            isum += c * d;
            msum += m * (y[b].bsums[2 * k] + y[b].bsums[2 * k + 1]);
        }
        s += y[b].d * f16(x[b].d) * (float)isum - y[b].d * f16(x[b].dmin) * (float)msum;
    }
    return s;
}

static float dot_iq2_xxs(int64_t n, const void *wv, const void *yv) {
    const block_iq2_xxs *x = wv;
    const block_q8_K *y = yv;
    const uint8x16_t bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ull));
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const uint8_t *qs = (const uint8_t *)x[b].qs;
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            uint32_t w;
            memcpy(&w, qs + 8 * ib + 4, 4);
            int32_t gsum = 0;
            for (int k = 0; k < 4; k += 2) {
                uint8x16_t g = vcombine_u8(vcreate_u8(ds4_iq2xxs_grid[qs[8 * ib + k]]),
                                           vcreate_u8(ds4_iq2xxs_grid[qs[8 * ib + k + 1]]));
                uint8x16_t sm = vcombine_u8(vdup_n_u8(ds4_ksigns_iq2xs[(w >> (7 * k)) & 127]),
                                            vdup_n_u8(ds4_ksigns_iq2xs[(w >> (7 * (k + 1))) & 127]));
                uint8x16_t neg = vtstq_u8(sm, bit); /* 0xFF where the element is negated */
                int8x16_t gs = vreinterpretq_s8_u8(g);
                gs = vbslq_s8(neg, vnegq_s8(gs), gs);
                gsum += dot16(gs, vld1q_s8(y[b].qs + 32 * ib + 8 * k));
            }
            isum += (int32_t)(2 * (w >> 28) + 1) * gsum;
        }
        s += 0.125f * y[b].d * f16(x[b].d) * (float)isum;
    }
    return s;
}

bool ds4_simd_neon_kernel(uint32_t type, ds4_dot_kernel *k) {
    static const ds4_dot_set set = {dot_f32, dot_f16, dot_bf16, dot_q8_0, dot_q2_K, dot_q4_K, dot_iq2_xxs};
    return ds4_dot_kernel_from_set(&set, type, k);
}

#else

bool ds4_simd_neon_kernel(uint32_t type, ds4_dot_kernel *k) {
    (void)type;
    (void)k;
    return false;
}

#endif
