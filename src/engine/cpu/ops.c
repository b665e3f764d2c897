/* Numeric building blocks; see ops.h. */
#include "engine/cpu/ops.h"

#include <math.h>
#include <string.h>

/* Elementwise loops in blocks of 16 through a local block (loads before
 * stores, so o may be x itself): a fixed-length block vectorizes under any
 * -O2 cost model, including GCC's default one, which leaves loops of
 * run-time length scalar (the Makefile also asks for the dynamic one). */
void ds4_vec_scale(float *o, float a, const float *x, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        float t[16];
        for (int j = 0; j < 16; j++) t[j] = a * x[i + j];
        for (int j = 0; j < 16; j++) o[i + j] = t[j];
    }
    for (; i < n; i++) o[i] = a * x[i];
}

void ds4_vec_axpy(float *restrict o, float a, const float *restrict x, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) o[i + j] += a * x[i + j];
    for (; i < n; i++) o[i] += a * x[i];
}

/* e^x = 2^k · e^r with k = round(x / ln 2) and |r| <= ln 2 / 2 (Cody-Waite:
 * ln 2 split in an exact high part and a low correction), e^r by its Taylor
 * polynomial to degree 7 (truncation < 0.1 ulp on that range), and 2^k as
 * two exponent-field factors so that k from -150 to 128 stays in range:
 * clamping x to [-104, ln FLT_MAX] leaves results that round to 0 at the
 * bottom and only the overflow to patch at the top. Integer work is on
 * bit patterns (unsigned), so NaN input cannot reach an undefined
 * conversion; it comes out NaN. */
static void exp16(float *y, const float *x) {
    const float log2e = 1.44269504f, round_magic = 12582912.0f; /* 1.5 x 2^23: adding it rounds to an integer */
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f, x_max = 88.7228317f;
    float v[16], p[16];
    uint32_t s1[16], s2[16];
    for (int j = 0; j < 16; j++) {
        float c = x[j] < -104.0f ? -104.0f : x[j];
        c = c > x_max ? x_max : c;
        const float t = c * log2e + round_magic;
        const float k = t - round_magic;
        uint32_t tb;
        memcpy(&tb, &t, 4);
        const int32_t ki = (int32_t)(tb - 0x4B400000u); /* k as an integer, from t's mantissa */
        const int32_t k1 = ki / 2, k2 = ki - k1;
        s1[j] = (uint32_t)(k1 + 127) << 23;
        s2[j] = (uint32_t)(k2 + 127) << 23;
        v[j] = (c - k * ln2_hi) - k * ln2_lo;
    }
    for (int j = 0; j < 16; j++) {
        const float r = v[j];
        p[j] = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666667e-1f + r * (4.16666667e-2f + r * (8.33333333e-3f +
                                                        r * (1.38888889e-3f + r * 1.98412698e-4f))))));
    }
    float f1[16], f2[16];
    memcpy(f1, s1, sizeof f1);
    memcpy(f2, s2, sizeof f2);
    for (int j = 0; j < 16; j++) y[j] = x[j] > x_max ? INFINITY : p[j] * f1[j] * f2[j];
}

void ds4_vec_exp(float *y, const float *x, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) exp16(y + i, x + i);
    if (i < n) { /* the tail through the same block code, padded */
        float t[16] = {0.0f};
        memcpy(t, x + i, sizeof(float) * (size_t)(n - i));
        exp16(t, t);
        memcpy(y + i, t, sizeof(float) * (size_t)(n - i));
    }
}

void ds4_rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    /* Eight independent partial sums: one running sum is a chain of
     * dependent double adds (~4 cycles per element, ~20 us for the 16384
     * values of a hyper-connection norm), and independent lanes vectorize. */
    double part[8] = {0.0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) part[j] += (double)x[i + j] * x[i + j];
    for (; i < n; i++) part[i % 8] += (double)x[i] * x[i];
    const double ss = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    const float r = (float)(1.0 / sqrt(ss / n + (double)eps));
    if (!w) {
        ds4_vec_scale(y, r, x, n);
        return;
    }
    for (i = 0; i + 16 <= n; i += 16) {
        float t[16];
        for (int j = 0; j < 16; j++) t[j] = w[i + j] * (x[i + j] * r);
        for (int j = 0; j < 16; j++) y[i + j] = t[j];
    }
    for (; i < n; i++) y[i] = w[i] * (x[i] * r);
}

/* The reference builds its frequencies in float32 (base^(2i/R) with a float
 * exponent, then reciprocals); doing the same keeps angles bit-close. */
void ds4_rope_freqs_main(float *omega, int n_rot, float theta) {
    for (int i = 0; i < n_rot / 2; i++) {
        const float e = (float)(2 * i) / (float)n_rot;
        omega[i] = 1.0f / powf(theta, e);
    }
}

void ds4_rope_freqs_yarn(float *omega, int n_rot, float theta, float factor, double orig_ctx, float beta_fast,
                         float beta_slow) {
    const double two_pi = 2.0 * 3.14159265358979323846;
    const double R = n_rot;
    double lo = floor(R * log(orig_ctx / (beta_fast * two_pi)) / (2.0 * log((double)theta)));
    double hi = ceil(R * log(orig_ctx / (beta_slow * two_pi)) / (2.0 * log((double)theta)));
    if (lo < 0) lo = 0;
    if (hi > R - 1) hi = R - 1;
    if (lo == hi) hi += 0.001;
    for (int i = 0; i < n_rot / 2; i++) {
        const float e = (float)(2 * i) / (float)n_rot;
        const float pos_freq = powf(theta, e);
        const float extrap = 1.0f / pos_freq;
        const float interp = 1.0f / (factor * pos_freq);
        float ramp = ((float)i - (float)lo) / (float)(hi - lo);
        if (ramp < 0.0f) ramp = 0.0f;
        if (ramp > 1.0f) ramp = 1.0f;
        const float keep = 1.0f - ramp; /* extrapolation factor */
        omega[i] = interp * (1.0f - keep) + extrap * keep;
    }
}

/* The cosines and sines are the costly part (double precision, so that
 * angles of long positions stay exact to float): at one position they are
 * the same for every head, so they are computed once per 64 pairs. */
void ds4_rope_many(float *v, size_t stride, int count, int n, int n_rot, const float *omega, int64_t pos, int inverse) {
    const float p = (float)pos;
    float c[64], s[64];
    for (int i0 = 0; i0 < n_rot / 2; i0 += 64) {
        const int np = n_rot / 2 - i0 < 64 ? n_rot / 2 - i0 : 64;
        for (int i = 0; i < np; i++) {
            const float ang = p * omega[i0 + i];
            c[i] = (float)cos((double)ang);
            s[i] = inverse ? -(float)sin((double)ang) : (float)sin((double)ang);
        }
        for (int k = 0; k < count; k++) {
            float *t = v + (size_t)k * stride + (n - n_rot) + 2 * i0;
            for (int i = 0; i < np; i++) {
                const float a = t[2 * i], b = t[2 * i + 1];
                t[2 * i] = a * c[i] - b * s[i];
                t[2 * i + 1] = a * s[i] + b * c[i];
            }
        }
    }
}

void ds4_rope(float *v, int n, int n_rot, const float *omega, int64_t pos, int inverse) {
    ds4_rope_many(v, 0, 1, n, n_rot, omega, pos, inverse);
}

/* torch.nn.functional.softplus: linear above 20. */
float ds4_softplus(float z) { return z > 20.0f ? z : log1pf(expf(z)); }

float ds4_e4m3_round(float v) {
    const float a = fabsf(v);
    if (a == 0.0f || isnan(v)) return v;
    /* Spacing 2^(e-3) for normals (e >= -6), 2^-9 for subnormals. */
    int e;
    frexpf(a, &e); /* a = f·2^e, f in [0.5, 1): exponent of a is e-1 */
    int ex = e - 1;
    if (ex < -6) ex = -6;
    const float step = ldexpf(1.0f, ex - 3);
    float r = rintf(a / step) * step; /* ties to even under the default rounding mode */
    if (r > 448.0f) r = 448.0f;
    return v < 0 ? -r : r;
}

void ds4_fp8_round_trip(float *x, int n) {
    for (int b = 0; b < n; b += 64) {
        const int len = n - b < 64 ? n - b : 64;
        float amax = 0.0f;
        for (int i = 0; i < len; i++) amax = fmaxf(amax, fabsf(x[b + i]));
        const float scale = exp2f(ceilf(log2f(fmaxf(amax, 1e-4f) / 448.0f)));
        for (int i = 0; i < len; i++) {
            float v = x[b + i] / scale;
            if (v > 448.0f) v = 448.0f;
            if (v < -448.0f) v = -448.0f;
            x[b + i] = ds4_e4m3_round(v) * scale;
        }
    }
}

void ds4_hadamard(float *x, int n) {
    for (int h = 1; h < n; h *= 2)
        for (int i = 0; i < n; i += 2 * h)
            for (int j = i; j < i + h; j++) {
                const float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
    const float s = 1.0f / sqrtf((float)n);
    for (int i = 0; i < n; i++) x[i] *= s;
}

float ds4_e2m1_round(float v) {
    float a = fabsf(v);
    if (a > 6.0f) a = 6.0f;
    /* Grid {0,.5,1,1.5} step .5, {2,3} step 1, {4,6} step 2; ties to even mantissa. */
    const float step = a < 2.0f ? 0.5f : a < 4.0f ? 1.0f : 2.0f;
    float r = rintf(a / step) * step;
    if (r > 6.0f) r = 6.0f;
    return v < 0 ? -r : r;
}

void ds4_fp4_round_trip(float *x, int n) {
    for (int b = 0; b < n; b += 32) {
        const int len = n - b < 32 ? n - b : 32;
        float amax = 0.0f;
        for (int i = 0; i < len; i++) amax = fmaxf(amax, fabsf(x[b + i]));
        if (amax == 0.0f) continue;
        const float scale = exp2f(ceilf(log2f(amax / 6.0f)));
        for (int i = 0; i < len; i++) x[b + i] = ds4_e2m1_round(x[b + i] / scale) * scale;
    }
}

/* A min-heap of the kept entries, rooted at the worst (lowest score; among
 * equal scores the highest index). Scanning ascending indices and replacing
 * the root only on a strictly better score keeps the lowest index among
 * equal scores. */
int ds4_topk(const float *score, int n, int k, int32_t *idx, float *heap_s) {
    int hn = 0;
    for (int w = 0; w < n; w++) {
        const float sc = score[w];
        if (hn < k) {
            int p = hn++;
            while (p > 0) {
                const int par = (p - 1) / 2;
                if (heap_s[par] < sc || (heap_s[par] == sc && idx[par] > w)) break;
                heap_s[p] = heap_s[par];
                idx[p] = idx[par];
                p = par;
            }
            heap_s[p] = sc;
            idx[p] = w;
        } else if (sc > heap_s[0]) {
            int p = 0;
            for (;;) {
                const int a = 2 * p + 1, b = a + 1;
                int worst = p, wi = w;
                float ws = sc;
                if (a < hn && (heap_s[a] < ws || (heap_s[a] == ws && idx[a] > wi))) {
                    worst = a;
                    ws = heap_s[a];
                    wi = idx[a];
                }
                if (b < hn && (heap_s[b] < ws || (heap_s[b] == ws && idx[b] > wi))) worst = b;
                if (worst == p) break;
                heap_s[p] = heap_s[worst];
                idx[p] = idx[worst];
                p = worst;
            }
            heap_s[p] = sc;
            idx[p] = w;
        }
    }
    return hn;
}
