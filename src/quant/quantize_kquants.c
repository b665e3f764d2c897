/* Q2_K and Q4_K quantizers and the search routines they share with IQ2_XXS,
 * transcribed from formats.md B.6-B.8. Every product and sum is binary32 in
 * the stated association; the module is compiled with -ffp-contract=off so
 * the output is byte-identical with ggml's strict build. */
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "quant/quant_internal.h"

/* Error term of KQX: w*|e| (mode abs) or w*(e*e). */
static inline float kqx_err(float w, float e, bool use_abs) { return use_abs ? w * fabsf(e) : w * (e * e); }

/* KQX (B.6): fits x ~ scale*L + lo with L in [0, nmax] and lo <= 0, trying
 * nstep+1 candidate scales around nmax/(hi-lo) and refitting (scale, lo) by
 * weighted least squares. qkx3 differs only in its degenerate test. */
static float kqx(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                 float rmin, float rdelta, int nstep, bool use_abs, bool qkx3) {
    float lo = x[0], hi = x[0];
    float sw = w[0];
    float sx = sw * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        sw += w[i];
        sx += w[i] * x[i];
    }
    if (lo > 0) lo = 0;
    if (qkx3 ? hi <= lo : hi == lo) {
        memset(L, 0, (size_t)n);
        *the_min = -lo;
        return 0.0f;
    }
    float is = (float)nmax / (hi - lo);
    float sc = 1.0f / is;
    float best = 0.0f;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)ds4_clampi(ds4_nearest(is * (x[i] - lo)), 0, nmax);
        const float e = (sc * (float)L[i] + lo) - x[i];
        best += kqx_err(w[i], e, use_abs);
    }
    if (nstep < 1) {
        *the_min = -lo;
        return sc;
    }
    uint8_t A[32];
    for (int s = 0; s <= nstep; s++) {
        /* lo may have been replaced by an accepted candidate (B.6). */
        const float isc = (rmin + rdelta * (float)s + (float)nmax) / (hi - lo);
        float sl = 0.0f, sl2 = 0.0f, sxl = 0.0f;
        for (int i = 0; i < n; i++) {
            const float v = isc * (x[i] - lo);
            /* "not > 0" also catches NaN when hi - lo became 0. */
            A[i] = v > 0 ? (uint8_t)ds4_nearest(v < (float)nmax ? v : (float)nmax) : 0;
            const float wa = w[i] * (float)A[i];
            sl += wa;
            sl2 += wa * (float)A[i];
            sxl += wa * x[i];
        }
        const float D = sw * sl2 - sl * sl;
        if (D > 0) {
            float a = (sw * sxl - sx * sl) / D;
            float b = (sl2 * sx - sl * sxl) / D;
            if (b > 0) {
                b = 0;
                a = sxl / sl2;
            }
            float e2 = 0.0f;
            for (int i = 0; i < n; i++) e2 += kqx_err(w[i], (a * (float)A[i] + b) - x[i], use_abs);
            if (e2 < best) {
                memcpy(L, A, (size_t)n);
                best = e2;
                sc = a;
                lo = b;
            }
        }
    }
    *the_min = -lo;
    return sc;
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
    for (int t = -4; t <= 4; t++) {
        if (t == 0) continue;
        const float ist = (0.1f * (float)t + (float)nmax) / mx;
        const float sct = 1.0f / ist;
        float e = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = ds4_nearest(ist * x[i]);
            l = l < nmax ? l : nmax;
            const float d = x[i] - sct * (float)l;
            e += (w[i] * d) * d;
        }
        if (e < best) {
            best = e;
            is = ist;
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
    float scales[16], mins[16], w[16];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
        scales[j] = kqx(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true, false);
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
    float scales[16], mins[16], sw[16], w[16];
    float sumx2 = 0.0f;
    for (int i = 0; i < QK_K; i++) sumx2 += x[i] * x[i];
    const float sigma2 = sumx2 / 256.0f;
    for (int j = 0; j < 16; j++) {
        sw[j] = 0.0f;
        for (int l = 0; l < 16; l++) {
            const float v = x[16 * j + l];
            w[l] = qw[16 * j + l] * sqrtf(sigma2 + v * v);
        }
        for (int l = 0; l < 16; l++) sw[j] += w[l];
        scales[j] = kqx(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.9f, 0.05f, 36, false, true);
    }
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
    float scales[8], mins[8], w[32];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float s2 = 0.0f;
        for (int l = 0; l < 32; l++) s2 += xs[l] * xs[l];
        const float av = sqrtf(s2 / 32.0f);
        for (int l = 0; l < 32; l++) w[l] = av + fabsf(xs[l]);
        scales[j] = kqx(32, 15, xs, w, L + 32 * j, &mins[j], -1.0f, 0.1f, 20, false, false);
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
    float scales[8], mins[8], sw[8], w[32];
    float sumx2 = 0.0f;
    for (int i = 0; i < QK_K; i++) sumx2 += x[i] * x[i];
    const float sigma2 = (2.0f * sumx2) / 256.0f;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        for (int l = 0; l < 32; l++) w[l] = qw[32 * j + l] * sqrtf(sigma2 + xs[l] * xs[l]);
        float s = 0.0f;
        for (int l = 0; l < 32; l++) s += w[l];
        sw[j] = s;
        scales[j] = kqx(32, 15, xs, w, L + 32 * j, &mins[j], -0.9f, 0.05f, 36, false, true);
    }
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
