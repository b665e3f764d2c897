/* The vectorised KQX search (8 sub-blocks per call, ds4_kqx8) against a
 * plain scalar transcription of formats.md B.6, on random sub-blocks mixing
 * ordinary, all-positive, all-negative, constant, sparse and zero-importance
 * data in the same call: every lane must match bit for bit (scale, min, L). */
#include "quant_testdata.h"

#include "quant/quant_internal.h"

static float err_term(float w, float e, bool use_abs) { return use_abs ? w * fabsf(e) : w * (e * e); }

static float kqx_scalar(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min, float rmin,
                        float rdelta, int nstep, bool use_abs, bool qkx3) {
    float lo = x[0], hi = x[0], sw = w[0];
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
    float is = (float)nmax / (hi - lo), sc = 1.0f / is, best = 0.0f;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)ds4_clampi(ds4_nearest(is * (x[i] - lo)), 0, nmax);
        best += err_term(w[i], (sc * (float)L[i] + lo) - x[i], use_abs);
    }
    uint8_t A[32];
    for (int s = 0; nstep >= 1 && s <= nstep; s++) {
        const float isc = (rmin + rdelta * (float)s + (float)nmax) / (hi - lo);
        float sl = 0.0f, sl2 = 0.0f, sxl = 0.0f;
        for (int i = 0; i < n; i++) {
            const float v = isc * (x[i] - lo);
            A[i] = v > 0 ? (uint8_t)ds4_nearest(v < (float)nmax ? v : (float)nmax) : 0;
            const float wa = w[i] * (float)A[i];
            sl += wa;
            sl2 += wa * (float)A[i];
            sxl += wa * x[i];
        }
        const float D = sw * sl2 - sl * sl;
        if (D > 0) {
            float a = (sw * sxl - sx * sl) / D, b = (sl2 * sx - sl * sxl) / D;
            if (b > 0) {
                b = 0;
                a = sxl / sl2;
            }
            float e2 = 0.0f;
            for (int i = 0; i < n; i++) e2 += err_term(w[i], (a * (float)A[i] + b) - x[i], use_abs);
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

static void fill(uint64_t *s, int kind, int n, float *x, float *w) {
    for (int i = 0; i < n; i++) {
        float v = qt_gauss(s);
        switch (kind) {
        case 1: v = fabsf(v) + 0.1f; break;               /* all positive */
        case 2: v = -fabsf(v) - 0.1f; break;              /* all negative */
        case 3: v = 0.5f; break;                          /* constant */
        case 4: v = (i % 5 == 0) ? v * 10.0f : 0.0f; break; /* sparse */
        case 5: v = (i % 3 == 0) ? 0.0f : -fabsf(v); break; /* max exactly 0 */
        case 6: v *= 1e-30f; break;                       /* tiny */
        case 7: v *= 3e4f; break;                         /* large */
        default: break;
        }
        x[i] = v;
        w[i] = (float)qt_uniform(s);
        if (kind == 5 && v != 0.0f) w[i] = 0.0f;          /* zero importance on the non-zeros */
        if (kind == 4 && i % 2) w[i] = 0.0f;
    }
}

Test(quant_kqx, vector_lanes_equal_scalar) {
    const bool light = getenv("DS4_TEST_LIGHT") != NULL;
    const int rounds = light ? 40 : 400;
    struct { int n, nmax; float rmin, rdelta; int nstep; bool use_abs, qkx3; } cfg[] = {
        {16, 3, -0.5f, 0.1f, 15, true, false},   /* Q2_K reference */
        {16, 3, -0.9f, 0.05f, 36, false, true},  /* Q2_K weighted */
        {32, 15, -1.0f, 0.1f, 20, false, false}, /* Q4_K reference */
        {32, 15, -0.9f, 0.05f, 36, false, true}, /* Q4_K weighted */
        {16, 3, -0.5f, 0.1f, 0, false, false},   /* no refinement steps */
    };
    uint64_t s = 2024;
    float x[8 * 32], w[8 * 32], scale[8], mn[8];
    uint8_t L[8 * 32], Ls[32];
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        const int n = cfg[c].n;
        for (int r = 0; r < rounds; r++) {
            for (int b = 0; b < 8; b++) fill(&s, (int)(qt_rand_u64(&s) % 8), n, x + b * n, w + b * n);
            ds4_kqx8(n, cfg[c].nmax, x, w, L, scale, mn, cfg[c].rmin, cfg[c].rdelta, cfg[c].nstep, cfg[c].use_abs,
                     cfg[c].qkx3);
            for (int b = 0; b < 8; b++) {
                float m1;
                const float s1 = kqx_scalar(n, cfg[c].nmax, x + b * n, w + b * n, Ls, &m1, cfg[c].rmin, cfg[c].rdelta,
                                            cfg[c].nstep, cfg[c].use_abs, cfg[c].qkx3);
                cr_assert(memcmp(&s1, &scale[b], 4) == 0, "cfg %zu round %d lane %d: scale %.9g vs %.9g", c, r, b,
                          scale[b], s1);
                cr_assert(memcmp(&m1, &mn[b], 4) == 0, "cfg %zu round %d lane %d: min %.9g vs %.9g", c, r, b, mn[b], m1);
                cr_assert(memcmp(Ls, L + b * n, (size_t)n) == 0, "cfg %zu round %d lane %d: levels differ", c, r, b);
            }
        }
    }
}

/* QP (B.6) written out plainly, L a byte array read back where the
 * reference reads it back. */
static float qp_scalar(int n, int nmax, const float *x, uint8_t *L, const float *w) {
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
        const float d = x[i] - sc * (float)L[i];
        best += (w[i] * d) * d;
    }
    for (int t = -4; t <= 4; t++) {
        if (t == 0) continue;
        const float ist = (0.1f * (float)t + (float)nmax) / mx, sct = 1.0f / ist;
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
            float s1 = slx - (w[i] * x[i]) * (float)L[i];
            float s2 = sl2 - (w[i] * (float)L[i]) * (float)L[i];
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

Test(quant_kqx, qp_equals_scalar) {
    const int rounds = getenv("DS4_TEST_LIGHT") ? 200 : 2000;
    const int shapes[][2] = {{32, 4}, {16, 15}, {8, 63}};
    uint64_t s = 77;
    float x[32], w[32];
    uint8_t La[32], Lb[32];
    for (int r = 0; r < rounds; r++) {
        const int n = shapes[r % 3][0], nmax = shapes[r % 3][1];
        fill(&s, (int)(qt_rand_u64(&s) % 8), n, x, w);
        if (r % 4 == 0) x[qt_rand_u64(&s) % (uint64_t)n] *= -1.0f; /* negatives wrap in the byte array */
        const float a = ds4_make_qp_quants(n, nmax, x, La, w), b = qp_scalar(n, nmax, x, Lb, w);
        cr_assert(memcmp(&a, &b, 4) == 0, "round %d: %.9g vs %.9g", r, a, b);
        cr_assert(memcmp(La, Lb, (size_t)n) == 0, "round %d: levels differ", r);
    }
}
