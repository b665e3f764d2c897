/* Q2_K and Q4_K quantizers and the search routines they share with IQ2_XXS,
 * transcribed from formats.md B.6-B.8. Every product and sum is binary32 in
 * the stated association; the module is compiled with -ffp-contract=off so
 * the output is byte-identical with ggml's strict build. */
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "quant/quant_internal.h"

/* KQX (B.6) for 8 independent sub-blocks at once: lane b of every vector is
 * sub-block b. Each lane performs exactly the scalar algorithm (same binary32
 * operations in the same order; the data-dependent branches become per-lane
 * selects), so the results are bit-identical to running it 8 times, and the
 * sequential sums of different sub-blocks overlap instead of waiting on each
 * other's latency.
 *
 * The scalar algorithm: fit x ~ scale*L + lo with L in [0, nmax], lo <= 0;
 * start from nmax/(hi-lo), then try nstep+1 candidate scales around it,
 * refitting (scale, lo) by weighted least squares and keeping a candidate
 * when its error is smaller. qkx3 differs from qkx2 only in its degenerate
 * test (hi <= lo instead of hi == lo).
 *
 * x and w hold 8 sub-blocks of n values (x[b*n + i]); L receives the levels
 * the same way; scale[b] and the_min[b] the fitted scale and -lo. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* KQX runs KQ_LANES sub-blocks per vector: 8 where 32-byte vectors are
 * native (AVX), else 4 (SSE, NEON), which compilers lower much better than
 * emulated 32-byte vectors. */
#if defined(__AVX__)
#define KQ_LANES 8
#else
#define KQ_LANES 4
#endif
typedef float vkf __attribute__((vector_size(4 * KQ_LANES)));
typedef int32_t vki __attribute__((vector_size(4 * KQ_LANES)));

/* Lane-wise helpers as macros: functions taking or returning 32-byte vectors
 * would trip -Wpsabi in builds without AVX (e.g. -march=x86-64-v2). */
#define SEL(m, a, b) ((vkf)(((vki)(a) & (m)) | ((vki)(b) & ~(m))))
/* nearest() of quant_internal.h, lane-wise (VI: the int vector type). */
#define NEARESTV(v, VI) (((VI)((v) + 12582912.0f) & 0x007fffff) - 0x00400000)
/* Clamp l (a vki lvalue) to [0, hi]. */
#define CLAMP8(l, hi)                              \
    do {                                           \
        (l) &= ~((l) >> 31);                       \
        const vki over_ = (l) > (hi);              \
        (l) = ((l) & ~over_) | ((hi) & over_);     \
    } while (0)
/* Error term: w*|e| (mode abs) or w*(e*e). */
#define KQX_ERR8(w, e, use_abs) ((use_abs) ? (w) * (vkf)((vki)(e) & 0x7fffffff) : (w) * ((e) * (e)))

static void kqx_lanes(int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale, float *the_min,
                      float rmin, float rdelta, int nstep, bool use_abs, bool qkx3) {
    vkf X[32], W[32], Lf[32], A[32];
    X[0] = W[0] = (vkf){0}; /* n >= 1 always; keeps the compiler's flow analysis quiet */
    for (int i = 0; i < n; i++)
        for (int b = 0; b < KQ_LANES; b++) {
            X[i][b] = x[b * n + i];
            W[i][b] = w[b * n + i];
        }
    vkf lo = X[0], hi = X[0];
    vkf sw = W[0];
    vkf sx = sw * X[0];
    for (int i = 1; i < n; i++) {
        lo = SEL(X[i] < lo, X[i], lo);
        hi = SEL(X[i] > hi, X[i], hi);
        sw += W[i];
        sx += W[i] * X[i];
    }
    const vkf zero = {0};
    lo = SEL(lo > 0, zero, lo);
    const vki degenerate = qkx3 ? hi <= lo : hi == lo;
    const vkf lo0 = lo;
    const vkf fnmax = zero + (float)nmax;
    vkf is = fnmax / (hi - lo);
    vkf sc = 1.0f / is;
    vkf best = zero;
    for (int i = 0; i < n; i++) {
        vki l = NEARESTV(is * (X[i] - lo), vki);
        CLAMP8(l, nmax);
        Lf[i] = __builtin_convertvector(l, vkf);
        const vkf e = (sc * Lf[i] + lo) - X[i];
        best += KQX_ERR8(W[i], e, use_abs);
    }
    for (int s = 0; nstep >= 1 && s <= nstep; s++) {
        /* lo is the current value, which an accepted candidate may have replaced. */
        const vkf isc = (rmin + rdelta * (float)s + (float)nmax) / (hi - lo);
        vkf sl = zero, sl2 = zero, sxl = zero;
        for (int i = 0; i < n; i++) {
            const vkf v = isc * (X[i] - lo);
            /* v > 0 ? nearest(min(v, nmax)) : 0 -- "not > 0" includes NaN. */
            const vkf vc = SEL(v < fnmax, v, fnmax);
            const vki a = NEARESTV(vc, vki) & (v > 0);
            A[i] = __builtin_convertvector(a, vkf);
            const vkf wa = W[i] * A[i];
            sl += wa;
            sl2 += wa * A[i];
            sxl += wa * X[i];
        }
        const vkf D = sw * sl2 - sl * sl;
        vkf ca = (sw * sxl - sx * sl) / D;
        vkf cb = (sl2 * sx - sl * sxl) / D;
        const vki bpos = cb > 0;
        ca = SEL(bpos, sxl / sl2, ca);
        cb = SEL(bpos, zero, cb);
        vkf e2 = zero;
        for (int i = 0; i < n; i++) {
            const vkf e = (ca * A[i] + cb) - X[i];
            e2 += KQX_ERR8(W[i], e, use_abs);
        }
        const vki take = (D > 0) & (e2 < best);
        for (int i = 0; i < n; i++) Lf[i] = SEL(take, A[i], Lf[i]);
        best = SEL(take, e2, best);
        sc = SEL(take, ca, sc);
        lo = SEL(take, cb, lo);
    }
    for (int b = 0; b < KQ_LANES; b++) {
        scale[b] = degenerate[b] ? 0.0f : sc[b];
        the_min[b] = degenerate[b] ? -lo0[b] : -lo[b];
        for (int i = 0; i < n; i++) L[b * n + i] = degenerate[b] ? 0 : (uint8_t)Lf[i][b];
    }
}

void ds4_kqx8(int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale, float *the_min,
              float rmin, float rdelta, int nstep, bool use_abs, bool qkx3) {
    for (int g = 0; g < 8; g += KQ_LANES)
        kqx_lanes(n, nmax, x + g * n, w + g * n, L + g * n, scale + g, the_min + g, rmin, rdelta, nstep, use_abs, qkx3);
}

/* QP (B.6): symmetric fit x ~ scale*L, L in [0, nmax] (negative x give
 * negative l that wrap when stored: L is a byte array, read back at the
 * marked places, exactly like the reference). */
float ds4_make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float mx = 0.0f;
    for (int i = 0; i < n; i++) mx = mx > x[i] ? mx : x[i];
    if (mx < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float is = (float)nmax / mx;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)ds4_nearest(is * x[i]);
    const float sc = 1.0f / is;
    float best = 0.0f;
    for (int i = 0; i < n; i++) {
        const float d = x[i] - sc * (float)L[i];                 /* stored byte */
        best += (w[i] * d) * d;
    }
    /* The 8 trial scales t = -4..-1, 1..4 run in the lanes of one vector
     * (each lane the scalar sequence), then are compared in order. */
    const v8f tv = {-4, -3, -2, -1, 1, 2, 3, 4};
    const v8f ist = (0.1f * tv + (float)nmax) / mx;
    const v8f sct = 1.0f / ist;
    const v8i inmax = {nmax, nmax, nmax, nmax, nmax, nmax, nmax, nmax};
    v8f e = {0};
    for (int i = 0; i < n; i++) {
        v8i l = NEARESTV(ist * x[i], v8i);
        const v8i over = l > inmax;
        l = (l & ~over) | (inmax & over);
        const v8f d = x[i] - sct * __builtin_convertvector(l, v8f);
        e += (w[i] * d) * d;
    }
    for (int t = 0; t < 8; t++) {
        if (e[t] < best) {
            best = e[t];
            is = ist[t];
        }
    }
    float slx = 0.0f, sl2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = ds4_nearest(is * x[i]);
        l = l < nmax ? l : nmax;
        L[i] = (uint8_t)l;
        slx += (w[i] * x[i]) * (float)l;
        sl2 += (w[i] * (float)l) * (float)l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float s1 = slx - (w[i] * x[i]) * (float)L[i];           /* stored byte */
            float s2 = sl2 - (w[i] * (float)L[i]) * (float)L[i];    /* stored byte */
            if (s1 > 0 && s2 > 0) {
                int nl = ds4_nearest((x[i] * s2) / s1);
                nl = nl < nmax ? nl : nmax;
                if (nl != L[i]) {
                    s1 += (w[i] * x[i]) * (float)nl;
                    s2 += (w[i] * (float)nl) * (float)nl;
                    if ((s1 * s1) * sl2 > (slx * slx) * s2) {
                        L[i] = (uint8_t)nl;
                        slx = s1;
                        sl2 = s2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    return sl2 > 0.0f ? slx / sl2 : 0.0f;
}

static void pack_q2_K(const uint8_t *L, uint8_t *qs) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *p = L + 128 * h + l;
            qs[32 * h + l] = (uint8_t)(p[0] | (p[32] << 2) | (p[64] << 4) | (p[96] << 6));
        }
}

/* Step 5 of B.7: requantize with the stored (rounded) scales; a sub-block
 * whose scale is 0 keeps its first-pass L. */
static void requant_q2_K(const float *x, const block_q2_K *y, uint8_t *L) {
    const float dm = ds4_f16_to_f32(y->d), mm = ds4_f16_to_f32(y->dmin);
    for (int j = 0; j < 16; j++) {
        const float dd = dm * (float)(y->scales[j] & 15);
        if (dd == 0.0f) continue;
        const float m = mm * (float)(y->scales[j] >> 4);
        for (int i = 16 * j; i < 16 * j + 16; i++) L[i] = (uint8_t)ds4_clampi(ds4_nearest((x[i] + m) / dd), 0, 3);
    }
}

static void q2_K_ref_block(const float *x, block_q2_K *y) {
    uint8_t L[QK_K];
    float scales[16], mins[16], w[QK_K];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int i = 0; i < QK_K; i++) w[i] = fabsf(x[i]);
    for (int h = 0; h < 2; h++)
        ds4_kqx8(16, 3, x + 128 * h, w + 128 * h, L + 128 * h, scales + 8 * h, mins + 8 * h,
                 -0.5f, 0.1f, 15, true, false);
    for (int j = 0; j < 16; j++) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
        const float iscale = 15.0f / max_scale;
        for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)ds4_nearest(iscale * scales[j]);
        y->d = ds4_f32_to_f16(max_scale / 15.0f);
    } else {
        memset(y->scales, 0, sizeof y->scales);
        y->d = ds4_f32_to_f16(0.0f);
    }
    if (max_min > 0) {
        const float iscale = 15.0f / max_min;
        for (int j = 0; j < 16; j++)
            y->scales[j] = (uint8_t)(y->scales[j] | ((unsigned)ds4_nearest(iscale * mins[j]) << 4));
        y->dmin = ds4_f32_to_f16(max_min / 15.0f);
    } else {
        y->dmin = ds4_f32_to_f16(0.0f);
    }
    requant_q2_K(x, y, L);
    pack_q2_K(L, y->qs);
}

static void q2_K_impl_block(const float *x, const float *qw, block_q2_K *y) {
    uint8_t L[QK_K], Ls[16], Lm[16];
    float scales[16], mins[16], sw[16], w[QK_K];
    float sumx2 = 0.0f;
    for (int i = 0; i < QK_K; i++) sumx2 += x[i] * x[i];
    const float sigma2 = sumx2 / 256.0f;
    for (int j = 0; j < 16; j++) {
        sw[j] = 0.0f;
        for (int l = 16 * j; l < 16 * j + 16; l++) w[l] = qw[l] * sqrtf(sigma2 + x[l] * x[l]);
        for (int l = 16 * j; l < 16 * j + 16; l++) sw[j] += w[l];
    }
    for (int h = 0; h < 2; h++)
        ds4_kqx8(16, 3, x + 128 * h, w + 128 * h, L + 128 * h, scales + 8 * h, mins + 8 * h,
                 -0.9f, 0.05f, 36, false, true);
    const float dm = ds4_make_qp_quants(16, 15, scales, Ls, sw);
    const float mm = ds4_make_qp_quants(16, 15, mins, Lm, sw);
    y->d = ds4_f32_to_f16(dm);
    y->dmin = ds4_f32_to_f16(mm);
    for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
    requant_q2_K(x, y, L);
    pack_q2_K(L, y->qs);
}

void ds4_quantize_row_q2_K(const float *x, block_q2_K *y, int64_t n, const float *imatrix) {
    for (int64_t b = 0; b < n / QK_K; b++) {
        if (imatrix) q2_K_impl_block(x + b * QK_K, imatrix + b * QK_K, &y[b]);
        else q2_K_ref_block(x + b * QK_K, &y[b]);
    }
}

/* 6-bit code packing of B.3; bytes 0..7 are assigned before being OR-ed. */
static void pack_q4_K_scales(const uint8_t *ls, const uint8_t *lm, uint8_t *s) {
    for (int k = 0; k < 8; k++) {
        if (k < 4) {
            s[k] = ls[k];
            s[k + 4] = lm[k];
        } else {
            s[k + 4] = (uint8_t)((ls[k] & 15) | ((lm[k] & 15) << 4));
            s[k - 4] |= (uint8_t)((ls[k] >> 4) << 6);
            s[k] |= (uint8_t)((lm[k] >> 4) << 6);
        }
    }
}

static void requant_pack_q4_K(const float *x, block_q4_K *y, uint8_t *L) {
    const float d = ds4_f16_to_f32(y->d), dmin = ds4_f16_to_f32(y->dmin);
    for (int k = 0; k < 8; k++) {
        int sc, m;
        ds4_q4k_scale_min(k, y->scales, &sc, &m);
        const float dd = d * (float)sc;
        if (dd == 0.0f) continue;
        const float dm = dmin * (float)m;
        for (int i = 32 * k; i < 32 * k + 32; i++) L[i] = (uint8_t)ds4_clampi(ds4_nearest((x[i] + dm) / dd), 0, 15);
    }
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++) y->qs[32 * g + l] = (uint8_t)(L[64 * g + l] | (L[64 * g + 32 + l] << 4));
}

static void q4_K_ref_block(const float *x, block_q4_K *y) {
    uint8_t L[QK_K], ls[8], lm[8];
    float scales[8], mins[8], w[QK_K];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float s2 = 0.0f;
        for (int l = 0; l < 32; l++) s2 += xs[l] * xs[l];
        const float av = sqrtf(s2 / 32.0f);
        for (int l = 0; l < 32; l++) w[32 * j + l] = av + fabsf(xs[l]);
    }
    ds4_kqx8(32, 15, x, w, L, scales, mins, -1.0f, 0.1f, 20, false, false);
    for (int j = 0; j < 8; j++) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_s = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_m = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; j++) {
        const uint8_t a = (uint8_t)ds4_nearest(inv_s * scales[j]);
        const uint8_t b = (uint8_t)ds4_nearest(inv_m * mins[j]);
        ls[j] = a < 63 ? a : 63;
        lm[j] = b < 63 ? b : 63;
    }
    pack_q4_K_scales(ls, lm, y->scales);
    y->d = ds4_f32_to_f16(max_scale / 63.0f);
    y->dmin = ds4_f32_to_f16(max_min / 63.0f);
    requant_pack_q4_K(x, y, L);
}

static void q4_K_impl_block(const float *x, const float *qw, block_q4_K *y) {
    uint8_t L[QK_K], Ls[8], Lm[8];
    float scales[8], mins[8], sw[8], w[QK_K];
    float sumx2 = 0.0f;
    for (int i = 0; i < QK_K; i++) sumx2 += x[i] * x[i];
    const float sigma2 = (2.0f * sumx2) / 256.0f;
    for (int j = 0; j < 8; j++) {
        for (int l = 32 * j; l < 32 * j + 32; l++) w[l] = qw[l] * sqrtf(sigma2 + x[l] * x[l]);
        float s = 0.0f;
        for (int l = 32 * j; l < 32 * j + 32; l++) s += w[l];
        sw[j] = s;
    }
    ds4_kqx8(32, 15, x, w, L, scales, mins, -0.9f, 0.05f, 36, false, true);
    const float d_block = ds4_make_qp_quants(8, 63, scales, Ls, sw);
    const float m_block = ds4_make_qp_quants(8, 63, mins, Lm, sw);
    pack_q4_K_scales(Ls, Lm, y->scales);
    y->d = ds4_f32_to_f16(d_block);
    y->dmin = ds4_f32_to_f16(m_block);
    requant_pack_q4_K(x, y, L);
}

void ds4_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n, const float *imatrix) {
    for (int64_t b = 0; b < n / QK_K; b++) {
        if (imatrix) q4_K_impl_block(x + b * QK_K, imatrix + b * QK_K, &y[b]);
        else q4_K_ref_block(x + b * QK_K, &y[b]);
    }
}
