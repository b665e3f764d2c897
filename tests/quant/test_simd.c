/* Every SIMD dot kernel against an independent reference computed here in
 * double precision straight from the block layouts of formats.md B.
 *
 * Two kinds of data:
 *  - "exact": all block scales 1.0 and quant ranges bounded so that every
 *    partial sum is an integer below 2^24: any float combination order is
 *    then exact, so the kernel must equal the reference bit for bit. This
 *    is the check that the integer parts (unpacking, signs, grid lookups,
 *    scale codes, saturation) are exactly right, at full weight ranges.
 *  - "wide": random scales over the whole f16 range (subnormal to 65504)
 *    and activation scales from 1e-20 to 1e20, random quants: the result
 *    must be within 1e-6 of sum |w_i x_i| (only the float summation order
 *    may differ from the reference). */
#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "quant/iq2xxs_tables.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"
#include "quant/simd.h"

typedef struct { const char *name; bool (*get)(uint32_t, ds4_dot_kernel *); } level;
static const level levels[] = {
    {"avx2", ds4_simd_avx2_kernel},
    {"avx512", ds4_simd_avx512_kernel},
    {"neon", ds4_simd_neon_kernel},
};
static const uint32_t types[] = {DS4_TYPE_F32,     DS4_TYPE_F16,  DS4_TYPE_BF16,    DS4_TYPE_Q8_0,
                                 DS4_TYPE_Q8_0_X16, DS4_TYPE_Q2_K, DS4_TYPE_Q2_K_X4, DS4_TYPE_Q4_K,
                                 DS4_TYPE_Q4_K_X4,  DS4_TYPE_IQ2_XXS};

/* Under ASan the tests run with DS4_TEST_LIGHT=1: less work, same checks. */
#define DS4_TEST_LIGHT_OR(light, full) (getenv("DS4_TEST_LIGHT") ? (light) : (full))

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static int irange(int lo, int hi) { return lo + (int)(rnd() % (uint64_t)(hi - lo + 1)); }
static double unif(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

/* ---- reference: dequantize to double ---- */

static double f16d(uint16_t h) { return ds4_f16_to_f32(h); }

static void deq_weights(uint32_t type, const void *w, int64_t n, double *out) {
    if (type == DS4_TYPE_F32) {
        for (int64_t i = 0; i < n; i++) out[i] = ((const float *)w)[i];
    } else if (type == DS4_TYPE_F16) {
        for (int64_t i = 0; i < n; i++) out[i] = f16d(((const uint16_t *)w)[i]);
    } else if (type == DS4_TYPE_BF16) {
        for (int64_t i = 0; i < n; i++) out[i] = ds4_bf16_to_f32(((const uint16_t *)w)[i]);
    } else if (type == DS4_TYPE_Q8_0) {
        const block_q8_0 *b = w;
        for (int64_t i = 0; i < n; i++) out[i] = f16d(b[i / 32].d) * b[i / 32].qs[i % 32];
    } else if (type == DS4_TYPE_Q8_0_X16) {
        /* quant.h: byte 64k + 4l + i of group g is quant 4k + i of block
         * 16g + l, plus 128; groups two by two, each pair's 32 f16 scales
         * after its 1024 quants (an odd last group: 16 after 512) */
        const uint8_t *q = w;
        const int64_t ng = n / 512;
        for (int64_t e = 0; e < n; e++) {
            int64_t b = e / 32, j = e % 32, g = b / 16, pair = g / 2, in_pair = 2 * pair + 1 < ng ? 2 : 1;
            const uint8_t *chunk = q + 1088 * pair;
            uint16_t d;
            memcpy(&d, chunk + 512 * in_pair + 32 * (g % 2) + 2 * (b % 16), 2);
            out[e] = f16d(d) * ((int)chunk[512 * (g % 2) + 64 * (j / 4) + 4 * (b % 16) + j % 4] - 128);
        }
    } else if (type == DS4_TYPE_Q2_K_X4) {
        /* quant.h: groups of m <= 4 blocks, 84m bytes: the (d, dmin) pairs,
         * the scale bytes, then per block 64 bytes whose byte 4k + e holds
         * element 16k + 4f + e at bits 2f..2f+1 */
        const uint8_t *q = w;
        const int64_t nb = n / 256;
        for (int64_t i = 0; i < n; i++) {
            const int64_t b = i / 256, g = b / 4;
            const int m = nb - 4 * g < 4 ? (int)(nb - 4 * g) : 4, j = (int)(b % 4), e = (int)(i % 256);
            const uint8_t *grp = q + 336 * g;
            uint16_t d, dmin;
            memcpy(&d, grp + 4 * j, 2);
            memcpy(&dmin, grp + 4 * j + 2, 2);
            const int s = e / 16, sc = grp[4 * m + 16 * j + s];
            const int v = (grp[20 * m + 64 * j + 4 * s + e % 4] >> (2 * (e % 16 / 4))) & 3;
            out[i] = f16d(d) * (sc & 15) * v - f16d(dmin) * (sc >> 4);
        }
    } else if (type == DS4_TYPE_Q2_K) {
        const block_q2_K *b = w;
        for (int64_t i = 0; i < n; i++) {
            const block_q2_K *x = &b[i / 256];
            int e = (int)(i % 256), h = e / 128, j = (e % 128) / 32, l = e % 32, s = e / 16;
            int q = (x->qs[32 * h + l] >> (2 * j)) & 3;
            out[i] = f16d(x->d) * (x->scales[s] & 15) * q - f16d(x->dmin) * (x->scales[s] >> 4);
        }
    } else if (type == DS4_TYPE_Q4_K || type == DS4_TYPE_Q4_K_X4) {
        const bool x4 = type == DS4_TYPE_Q4_K_X4;
        const int64_t nb = n / 256;
        for (int64_t i = 0; i < n; i++) {
            /* Q4_K_X4 (quant.h): groups of m <= 4 blocks, 144m bytes: the
             * (d, dmin) pairs, the 12-byte scale sets, then per block 128
             * bytes whose byte 64r + 4k + e holds element 16k + 8r + e in
             * its low nibble and 16k + 8r + 4 + e in its high one */
            const int64_t blk = i / 256, g = blk / 4;
            const int m = nb - 4 * g < 4 ? (int)(nb - 4 * g) : 4, j = (int)(blk % 4);
            const uint8_t *grp = (const uint8_t *)w + 576 * g;
            const block_q4_K *x = (const block_q4_K *)w + blk;
            uint16_t xd, xdmin;
            memcpy(&xd, x4 ? grp + 4 * j : (const uint8_t *)&x->d, 2);
            memcpy(&xdmin, x4 ? grp + 4 * j + 2 : (const uint8_t *)&x->dmin, 2);
            const uint8_t *sc = x4 ? grp + 4 * m + 12 * j : x->scales;
            int e = (int)(i % 256), g4 = e / 64, r = e % 64, k = e / 32, q;
            if (x4) {
                const int kk = e / 16, rr = e % 16 / 8, hh = e % 8 / 4;
                q = (grp[16 * m + 128 * j + 64 * rr + 4 * kk + e % 4] >> (4 * hh)) & 15;
            } else {
                int bq = x->qs[32 * g4 + r % 32];
                q = r < 32 ? (bq & 15) : (bq >> 4);
            }
            int c = k < 4 ? (sc[k] & 63) : ((sc[k + 4] & 15) | ((sc[k - 4] >> 6) << 4));
            int mn = k < 4 ? (sc[k + 4] & 63) : ((sc[k + 4] >> 4) | ((sc[k] >> 6) << 4));
            out[i] = f16d(xd) * c * q - f16d(xdmin) * mn;
        }
    } else if (type == DS4_TYPE_IQ2_XXS) {
        const block_iq2_xxs *b = w;
        for (int64_t i = 0; i < n; i++) {
            const block_iq2_xxs *x = &b[i / 256];
            const uint8_t *qs = (const uint8_t *)x->qs;
            int e = (int)(i % 256), ib = e / 32, k = (e % 32) / 8, j = e % 8;
            uint32_t wd;
            memcpy(&wd, qs + 8 * ib + 4, 4);
            int t = (int)(wd >> 28), s = (int)((wd >> (7 * k)) & 127);
            int G = (int)((ds4_iq2xxs_grid[qs[8 * ib + k]] >> (8 * j)) & 0xFF);
            int sg = (ds4_ksigns_iq2xs[s] >> j) & 1 ? -1 : 1;
            out[i] = f16d(x->d) * (2 * t + 1) / 8.0 * G * sg;
        }
    }
}

static void deq_act(uint32_t type, const void *a, int64_t n, double *out) {
    uint32_t at = ds4_act_type(type);
    if (at == DS4_TYPE_F32) {
        for (int64_t i = 0; i < n; i++) out[i] = ((const float *)a)[i];
    } else if (at == DS4_TYPE_Q8_0) {
        const block_q8_0 *b = a;
        for (int64_t i = 0; i < n; i++) out[i] = f16d(b[i / 32].d) * b[i / 32].qs[i % 32];
    } else {
        const block_q8_K *b = a;
        for (int64_t i = 0; i < n; i++) out[i] = (double)b[i / 256].d * b[i / 256].qs[i % 256];
    }
}

/* ---- data ---- */

/* A random finite f16: any exponent including subnormals, sign random. */
static uint16_t rand_f16_wide(void) {
    uint16_t e = (uint16_t)irange(0, 30), m = (uint16_t)(rnd() & 0x3FF);
    if (e == 0 && m == 0) m = 1;
    return (uint16_t)((rnd() & 1) << 15 | e << 10 | m);
}

static void fill_weights(uint32_t type, void *w, int64_t n, bool exact) {
    if (type == DS4_TYPE_Q8_0_X16) { /* a Q8_0 row, regrouped */
        void *q = malloc(ds4_row_bytes(DS4_TYPE_Q8_0, (uint64_t)n));
        fill_weights(DS4_TYPE_Q8_0, q, n, exact);
        ds4_repack_row_q8_0_x16(q, w, n);
        free(q);
        return;
    }
    if (type == DS4_TYPE_Q2_K_X4 || type == DS4_TYPE_Q4_K_X4) { /* a Q2_K / Q4_K row, grouped */
        const uint32_t from = ds4_repack_source(type);
        void *q = malloc(ds4_row_bytes(from, (uint64_t)n));
        fill_weights(from, q, n, exact);
        cr_assert(ds4_repack_rows(from, type, q, 1, n, NULL, NULL));
        memcpy(w, q, ds4_row_bytes(from, (uint64_t)n));
        free(q);
        return;
    }
    if (type == DS4_TYPE_F32 || type == DS4_TYPE_F16 || type == DS4_TYPE_BF16) {
        double scale = exact ? 1.0 : pow(10.0, irange(-3, 3));
        for (int64_t i = 0; i < n; i++) {
            float v = exact ? (float)irange(-64, 64) : (float)((unif() * 2 - 1) * scale);
            if (type == DS4_TYPE_F32) ((float *)w)[i] = v;
            else if (type == DS4_TYPE_F16) ((uint16_t *)w)[i] = ds4_f32_to_f16(v);
            else ((uint16_t *)w)[i] = ds4_f32_to_bf16(v);
        }
        return;
    }
    size_t bytes = ds4_row_bytes(type, (uint64_t)n);
    for (size_t i = 0; i < bytes; i++) ((uint8_t *)w)[i] = (uint8_t)rnd();
    const uint16_t one = 0x3C00;
    int64_t nb = n / (int64_t)ds4_type_block_elems(type);
    for (int64_t b = 0; b < nb; b++) {
        if (type == DS4_TYPE_Q8_0) {
            block_q8_0 *x = (block_q8_0 *)w + b;
            x->d = exact ? one : rand_f16_wide();
        } else if (type == DS4_TYPE_Q2_K) {
            block_q2_K *x = (block_q2_K *)w + b;
            x->d = exact ? one : rand_f16_wide();
            x->dmin = exact ? one : rand_f16_wide();
        } else if (type == DS4_TYPE_Q4_K) {
            block_q4_K *x = (block_q4_K *)w + b;
            x->d = exact ? one : rand_f16_wide();
            x->dmin = exact ? one : rand_f16_wide();
        } else {
            block_iq2_xxs *x = (block_iq2_xxs *)w + b;
            x->d = exact ? one : rand_f16_wide();
        }
    }
}

/* qmax bounds the activation quants (exact mode keeps sums below 2^24). */
static void fill_act(uint32_t type, void *a, int64_t n, bool exact, int qmax) {
    uint32_t at = ds4_act_type(type);
    if (at == DS4_TYPE_F32) {
        double scale = exact ? 1.0 : pow(10.0, irange(-3, 3));
        for (int64_t i = 0; i < n; i++)
            ((float *)a)[i] = exact ? (float)irange(-64, 64) : (float)((unif() * 2 - 1) * scale);
    } else if (at == DS4_TYPE_Q8_0) {
        block_q8_0 *y = a;
        for (int64_t b = 0; b < n / 32; b++) {
            y[b].d = exact ? 0x3C00 : rand_f16_wide();
            for (int i = 0; i < 32; i++) y[b].qs[i] = (int8_t)irange(-qmax, qmax);
        }
    } else {
        block_q8_K *y = a;
        for (int64_t b = 0; b < n / 256; b++) {
            y[b].d = exact ? 1.0f : (float)((rnd() & 1 ? -1 : 1) * pow(10.0, unif() * 40 - 20));
            for (int i = 0; i < 256; i++) y[b].qs[i] = (int8_t)irange(-qmax, qmax);
            for (int g = 0; g < 16; g++) {
                int s = 0;
                for (int i = 0; i < 16; i++) s += y[b].qs[16 * g + i];
                y[b].bsums[g] = (int16_t)s;
            }
        }
    }
}

/* Largest activation quant bound that keeps an exact-mode row of nb blocks
 * below 2^24 in every partial sum (worst case over all weight bytes). */
static int exact_qmax(uint32_t type, int64_t n) {
    double per_q;
    switch (type) {
    case DS4_TYPE_Q8_0: case DS4_TYPE_Q8_0_X16: per_q = 32.0 * 128 * (double)(n / 32); break;
    case DS4_TYPE_Q2_K: case DS4_TYPE_Q2_K_X4: per_q = (256.0 * 15 * 3 + 16.0 * 15 * 16) * (double)(n / 256); break;
    case DS4_TYPE_Q4_K: case DS4_TYPE_Q4_K_X4: per_q = (256.0 * 63 * 15 + 8.0 * 63 * 32) * (double)(n / 256); break;
    case DS4_TYPE_IQ2_XXS: per_q = 256.0 * 31 * 43 * (double)(n / 256); break;
    default: return 127;
    }
    int q = 127;
    while (q > 1 && per_q * q >= 16777216.0) q /= 2;
    return q;
}

/* ---- runner ---- */

static float run_kernel(const ds4_dot_kernel *k, int64_t n, const void *w, const void *act) {
    if (!k->act_prep) return k->dot(n, w, act);
    size_t bytes = (k->act_bytes(n) + 63) & ~(size_t)63;
    void *buf = aligned_alloc(64, bytes);
    k->act_prep(n, act, buf);
    float r = k->dot(n, w, buf);
    free(buf);
    return r;
}

static int check_level_type(const level *lv, uint32_t type, bool exact) {
    ds4_dot_kernel k;
    if (!lv->get(type, &k)) return 0;
    const bool blocked = ds4_type_block_elems(type) > 1;
    /* odd counts (lone last block), and past 32 blocks (Q2_K's runs) */
    static const int64_t block_counts[] = {1, 2, 3, 4, 5, 7, 16, 17, 33, 65};
    static const int64_t float_lens[] = {1, 3, 8, 15, 17, 31, 64, 100, 257, 1001, 4096};
    const int64_t *lens = blocked ? block_counts : float_lens;
    size_t nl = blocked ? sizeof block_counts / sizeof *block_counts : sizeof float_lens / sizeof *float_lens;
    int checked = 0;
    for (size_t li = 0; li < nl; li++) {
        int64_t n = blocked ? lens[li] * ds4_type_block_elems(type) : lens[li];
        int qmax = exact ? exact_qmax(type, n) : 127;
        if (exact && blocked && qmax < 3) continue; /* too long to stay exact */
        for (int rep = 0; rep < 4; rep++) {
            size_t wb = ds4_row_bytes(type, (uint64_t)n), ab = ds4_row_bytes(ds4_act_type(type), (uint64_t)n);
            void *w = malloc(wb), *a = malloc(ab);
            double *dw = malloc(sizeof(double) * (size_t)n), *da = malloc(sizeof(double) * (size_t)n);
            fill_weights(type, w, n, exact);
            fill_act(type, a, n, exact, qmax);
            deq_weights(type, w, n, dw);
            deq_act(type, a, n, da);
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                ref += dw[i] * da[i];
                mag += fabs(dw[i] * da[i]);
            }
            float got = run_kernel(&k, n, w, a);
            /* The library's scalar path must agree the same way. */
            float scalar = ds4_vec_dot_ref(type, n, w, a);
            if (exact) {
                cr_assert_eq(got, (float)ref, "%s %s exact n=%ld rep=%d: got %.9g want %.9g", lv->name,
                             ds4_type_name(type), (long)n, rep, got, ref);
                cr_assert_eq(got, scalar, "%s %s exact n=%ld: scalar path %.9g", lv->name, ds4_type_name(type),
                             (long)n, scalar);
            } else {
                cr_assert(fabs(got - ref) <= 1e-6 * mag + 1e-37, "%s %s wide n=%ld rep=%d: got %.9g want %.9g (mag %g)",
                          lv->name, ds4_type_name(type), (long)n, rep, got, ref, mag);
                cr_assert(fabs(got - scalar) <= 1e-6 * mag + 1e-37, "%s %s wide n=%ld: scalar path %.9g",
                          lv->name, ds4_type_name(type), (long)n, scalar);
            }
            checked++;
            free(w);
            free(a);
            free(dw);
            free(da);
        }
    }
    return checked;
}

/* The kernels with and without software prefetch (ds4_simd_sw_prefetch)
 * are both checked, whichever this CPU would pick. */
static const char *const prefetch_modes[] = {"0", "1"};

/* check(level, type, exact) over every level this CPU runs, every type and
 * both prefetch modes; the number of checks made. */
static int check_every_kernel(int (*check)(const level *, uint32_t, bool), bool exact) {
    int total = 0;
    for (size_t m = 0; m < 2; m++) {
        setenv("DS4_SW_PREFETCH", prefetch_modes[m], 1);
        for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
            if (!ds4_simd_cpu_supports(levels[l].name)) continue;
            for (size_t t = 0; t < sizeof types / sizeof *types; t++) total += check(&levels[l], types[t], exact);
        }
    }
    unsetenv("DS4_SW_PREFETCH");
    return total;
}

static void check_all(bool exact) {
    int total = check_every_kernel(check_level_type, exact);
#if defined(__AVX2__)
    /* A build for an AVX2 machine must have exercised at least the AVX2 kernels. */
    if (ds4_simd_cpu_supports("avx2")) cr_assert(total >= 7 * 8, "only %d kernel checks ran", total);
#endif
    (void)total;
}

/* The two- and four-token forms (prefill's token groups) give, per token,
 * exactly the one-token result, and so agree with the reference like it:
 * bit for bit on exact data, within 1e-6 of sum |w x| on wide data. */
static int check_dot2(const level *lv, uint32_t type, bool exact) {
    ds4_dot_kernel k;
    if (!lv->get(type, &k) || (!k.dot2 && !k.dot4)) return 0;
    static const int64_t block_counts[] = {1, 2, 3, 7, 8, 16, 17, 31, 32, 33, 40, 65};
    enum { NT = 4 };
    int checked = 0;
    for (size_t li = 0; li < sizeof block_counts / sizeof *block_counts; li++) {
        const int64_t n = block_counts[li] * ds4_type_block_elems(type);
        const int qmax = exact ? exact_qmax(type, n) : 127;
        if (exact && qmax < 3) continue;
        const size_t wb = ds4_row_bytes(type, (uint64_t)n), ab = ds4_row_bytes(ds4_act_type(type), (uint64_t)n);
        const size_t pb = ((k.act_prep ? k.act_bytes(n) : ab) + 63) & ~(size_t)63; /* aligned_alloc wants a multiple */
        void *w = malloc(wb), *a[NT], *p[NT];
        double *dw = malloc(sizeof(double) * (size_t)n), *da = malloc(sizeof(double) * (size_t)n);
        fill_weights(type, w, n, exact);
        deq_weights(type, w, n, dw);
        for (int t = 0; t < NT; t++) {
            a[t] = malloc(ab);
            p[t] = aligned_alloc(64, pb);
            fill_act(type, a[t], n, exact, qmax);
            if (k.act_prep) k.act_prep(n, a[t], p[t]);
            else memcpy(p[t], a[t], ab);
        }
        float got[2][NT];
        int forms = 0;
        if (k.dot2) {
            k.dot2(n, w, p[0], p[1], got[forms]);
            k.dot2(n, w, p[2], p[3], got[forms] + 2);
            forms++;
        }
        if (k.dot4) k.dot4(n, w, (const void *const *)p, got[forms++]);
        for (int t = 0; t < NT; t++) {
            const float one = k.dot(n, w, p[t]);
            deq_act(type, a[t], n, da);
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                ref += dw[i] * da[i];
                mag += fabs(dw[i] * da[i]);
            }
            for (int f = 0; f < forms; f++) {
                const float g = got[f][t];
                const char *form = f == 0 && k.dot2 ? "dot2" : "dot4";
                cr_assert(!memcmp(&g, &one, sizeof one), "%s %s %s n=%ld token %d: %.9g vs dot %.9g", lv->name,
                          ds4_type_name(type), form, (long)n, t, g, one);
                if (exact)
                    cr_assert_eq(g, (float)ref, "%s %s %s exact n=%ld token %d: %.9g vs %.9g", lv->name,
                                 ds4_type_name(type), form, (long)n, t, g, ref);
                else
                    cr_assert(fabs(g - ref) <= 1e-6 * mag + 1e-37, "%s %s %s wide n=%ld token %d: %.9g vs %.9g", lv->name,
                              ds4_type_name(type), form, (long)n, t, g, ref);
                checked++;
            }
        }
        free(w);
        free(dw);
        free(da);
        for (int t = 0; t < NT; t++) {
            free(a[t]);
            free(p[t]);
        }
    }
    return checked;
}

static void check_all_dot2(bool exact) {
    int total = check_every_kernel(check_dot2, exact);
#if defined(__AVX512VBMI__) && defined(__AVX512VNNI__)
    /* an AVX-512 build on a VBMI/VNNI CPU has the Q2_K, Q4_K and IQ2_XXS token-group kernels */
    if (ds4_simd_cpu_supports("avx512")) cr_assert(total >= 3 * 4 * 5, "only %d token-group checks ran", total);
#endif
    (void)total;
}

Test(simd, integer_parts_exact) { check_all(true); }

Test(simd, token_group_kernels_equal_one_token_exact) { check_all_dot2(true); }

Test(simd, token_group_kernels_equal_one_token_wide) { check_all_dot2(false); }

Test(simd, wide_scales_within_1e6) { check_all(false); }

Test(simd, exact_mode_bounds_are_tight_enough_to_cover_full_weight_range) {
    /* Q8_0 keeps full-range activations for short rows, IQ2_XXS at least 15. */
    cr_assert_eq(exact_qmax(DS4_TYPE_Q8_0, 32 * 16), 127);
    cr_assert_geq(exact_qmax(DS4_TYPE_IQ2_XXS, 256), 15);
}

/* matmul over n_tok tokens (token groups of 4 and 2 through dot4/dot2 where
 * the kernel has them, then single tokens) equals per-row ds4_vec_dot
 * exactly; matvec on a pool of 2 equals it too. */
static void check_matmul_equals_vec_dot(uint32_t type, int64_t cols, int64_t rows, int64_t n_tok) {
    const size_t rb = ds4_row_bytes(type, cols);
    uint8_t *W = malloc(rb * rows);
    const uint32_t filled = ds4_repack_source(type); /* a load-time layout: rows of its file type, regrouped below */
    fill_weights(filled, W, cols * rows, false);
    if (filled == DS4_TYPE_IQ2_XXS || filled == DS4_TYPE_Q8_0 || filled == DS4_TYPE_Q2_K) /* a moderate block scale */
        for (size_t off = 0; off < rb * (size_t)rows; off += ds4_type_block_bytes(filled)) {
            uint16_t d = ds4_f32_to_f16(0.01f);
            if (filled == DS4_TYPE_Q2_K) memcpy(W + off + offsetof(block_q2_K, d), &d, 2), memcpy(W + off + offsetof(block_q2_K, dmin), &d, 2);
            else memcpy(W + off, &d, 2);
        }
    if (filled != type) cr_assert(ds4_repack_rows(filled, type, W, rows, cols, NULL, NULL));
    float *X = malloc(sizeof(float) * cols * n_tok), *Y = malloc(sizeof(float) * rows * n_tok);
    float *y = malloc(sizeof(float) * rows);
    for (int64_t i = 0; i < cols * n_tok; i++) X[i] = (float)(unif() * 2 - 1);
    void *act = malloc(ds4_row_bytes(ds4_act_type(type), cols));
    ds4_pool *pool = ds4_pool_create(2);
    ds4_matmul(type, W, rows, cols, X, n_tok, Y, pool);
    for (int64_t t = 0; t < n_tok; t++) {
        ds4_quantize_act(type, X + t * cols, act, cols);
        ds4_matvec(type, W, rows, cols, X + t * cols, y, pool);
        for (int64_t r = 0; r < rows; r++) {
            float want = ds4_vec_dot(type, cols, W + r * rb, act);
            cr_assert_eq(Y[t * rows + r], want, "%s %ldx%ld: token %ld row %ld", ds4_type_name(type), (long)rows,
                         (long)cols, (long)t, (long)r);
            cr_assert_eq(y[r], want, "%s matvec token %ld row %ld", ds4_type_name(type), (long)t, (long)r);
        }
    }
    ds4_pool_destroy(pool);
    free(act);
    free(W);
    free(X);
    free(Y);
    free(y);
}

/* More tokens than one token tile (IQ2_XXS at 4096 columns: ~113 tokens per
 * tile), odd row counts, odd block counts and token counts that leave a
 * pair and a single after the groups of four. */
Test(simd, matmul_across_token_tiles_equals_vec_dot) {
    check_matmul_equals_vec_dot(DS4_TYPE_IQ2_XXS, 4096, 5, DS4_TEST_LIGHT_OR(40, 130));
    check_matmul_equals_vec_dot(DS4_TYPE_IQ2_XXS, 768, 3, 7);
    check_matmul_equals_vec_dot(DS4_TYPE_Q8_0, 4096, 5, DS4_TEST_LIGHT_OR(23, 67));
    check_matmul_equals_vec_dot(DS4_TYPE_Q8_0, 96, 7, 11);
    check_matmul_equals_vec_dot(DS4_TYPE_Q8_0, 32, 3, 7);
    /* Q8_0_X16 (its kernel where the CPU has one, else the reference):
     * eight-token groups, then four, two and one */
    check_matmul_equals_vec_dot(DS4_TYPE_Q8_0_X16, 4096, 5, DS4_TEST_LIGHT_OR(23, 67));
    check_matmul_equals_vec_dot(DS4_TYPE_Q8_0_X16, 1536, 3, 15);
    check_matmul_equals_vec_dot(DS4_TYPE_Q2_K, 768, 5, 7);
    /* Q2_K_X4 and Q4_K_X4: whole groups of 4 blocks (two pairs), and a short
     * last group of 1 (a pair with no second block), 2 (one pair) and 3 */
    check_matmul_equals_vec_dot(DS4_TYPE_Q2_K_X4, 2048, 7, DS4_TEST_LIGHT_OR(11, 23));
    check_matmul_equals_vec_dot(DS4_TYPE_Q2_K_X4, 256, 5, 7);
    check_matmul_equals_vec_dot(DS4_TYPE_Q2_K_X4, 1536, 3, 5);
    check_matmul_equals_vec_dot(DS4_TYPE_Q2_K_X4, 1792, 3, 9);
    check_matmul_equals_vec_dot(DS4_TYPE_Q4_K_X4, 2048, 7, DS4_TEST_LIGHT_OR(11, 23));
    check_matmul_equals_vec_dot(DS4_TYPE_Q4_K_X4, 256, 3, 5);
    check_matmul_equals_vec_dot(DS4_TYPE_Q4_K_X4, 1536, 5, 7);
    check_matmul_equals_vec_dot(DS4_TYPE_Q4_K_X4, 1792, 3, 5);
    /* Q2_K at 4096 columns: ~110 tokens per tile, runs of 16 blocks; 33 blocks: a run boundary and a lone block */
    check_matmul_equals_vec_dot(DS4_TYPE_Q2_K, 4096, 5, DS4_TEST_LIGHT_OR(41, 131));
    check_matmul_equals_vec_dot(DS4_TYPE_Q2_K, 33 * 256, 3, 5);
    /* Q4_K: runs of 32 blocks, 33 blocks: a run boundary and a lone block */
    check_matmul_equals_vec_dot(DS4_TYPE_Q4_K, 768, 5, 7);
    check_matmul_equals_vec_dot(DS4_TYPE_Q4_K, 4096, 5, DS4_TEST_LIGHT_OR(23, 67));
    check_matmul_equals_vec_dot(DS4_TYPE_Q4_K, 33 * 256, 3, 5);
    check_matmul_equals_vec_dot(DS4_TYPE_F16, 4096, 3, 9);
    check_matmul_equals_vec_dot(DS4_TYPE_F16, 100, 5, 7);
    check_matmul_equals_vec_dot(DS4_TYPE_F32, 257, 4, 6);
    check_matmul_equals_vec_dot(DS4_TYPE_BF16, 1001, 3, 5);
}

/* The fast activation quantizers give exactly the reference bytes: random
 * rows at many scales, rows with exact .5 ties (roundf and round-half-even
 * differ there), repeated maxima of both signs, zero blocks. */
Test(simd, activation_quantizers_bit_identical) {
    const int64_t n = 4096;
    float *x = malloc(sizeof(float) * n);
    void *want = malloc(ds4_row_bytes(DS4_TYPE_Q8_K, n)), *got = malloc(ds4_row_bytes(DS4_TYPE_Q8_K, n));
    for (int trial = 0; trial < 40; trial++) {
        double scale = pow(10.0, irange(-30, 30));
        for (int64_t i = 0; i < n; i++) {
            switch (trial % 4) {
            case 0: x[i] = (float)((unif() * 2 - 1) * scale); break;
            case 1: x[i] = (float)irange(-254, 254) * 0.5f; break;          /* halves: ties */
            case 2: x[i] = (float)(irange(0, 1) ? 127 : -127) * (float)(unif() < 0.1); break;
            default: x[i] = (i / 256) % 3 == 0 ? 0.0f : (float)((unif() * 2 - 1) * scale); break;
            }
        }
        ds4_quantize_row_q8_K(x, want, n);
        ds4_act_quant_for(DS4_TYPE_Q8_K)(x, got, n);
        cr_assert(!memcmp(want, got, ds4_row_bytes(DS4_TYPE_Q8_K, n)), "Q8_K trial %d", trial);
        ds4_quantize_row_q8_0(x, want, n);
        ds4_act_quant_for(DS4_TYPE_Q8_0)(x, got, n);
        cr_assert(!memcmp(want, got, ds4_row_bytes(DS4_TYPE_Q8_0, n)), "Q8_0 trial %d", trial);
    }
    free(x);
    free(want);
    free(got);
}

/* A batch of mixed jobs (shared and distinct activations, a kernel-layout
 * type, float types, odd row counts) equals each job run alone. */
Test(simd, matvec_batch_equals_individual_matvecs) {
    const uint32_t types[] = {DS4_TYPE_IQ2_XXS, DS4_TYPE_IQ2_XXS, DS4_TYPE_Q2_K, DS4_TYPE_Q8_0,
                              DS4_TYPE_F16, DS4_TYPE_Q4_K, DS4_TYPE_F32, DS4_TYPE_BF16};
    const int64_t rows[] = {37, 5, 64, 1, 33, 7, 3, 129};
    const int64_t cols[] = {512, 512, 256, 512, 512, 512, 512, 768};
    const int xsel[] = {0, 0, 1, 0, 0, 2, 0, 3}; /* jobs 0, 1, 3, 4, 6 share x0 */
    enum { NJ = 8 };
    float *xs[4];
    for (int i = 0; i < 4; i++) {
        xs[i] = malloc(sizeof(float) * 768);
        for (int k = 0; k < 768; k++) xs[i][k] = (float)(unif() * 2 - 1);
    }
    ds4_matvec_job jobs[NJ];
    void *W[NJ];
    float *want[NJ];
    for (int j = 0; j < NJ; j++) {
        W[j] = malloc(ds4_row_bytes(types[j], (uint64_t)cols[j]) * (size_t)rows[j]);
        fill_weights(types[j], W[j], cols[j] * rows[j], false);
        want[j] = malloc(sizeof(float) * (size_t)rows[j]);
        jobs[j] = (ds4_matvec_job){types[j], W[j], rows[j], cols[j], xs[xsel[j]], malloc(sizeof(float) * (size_t)rows[j]), 1};
    }
    /* Sane scales so every output is finite. */
    for (int j = 0; j < NJ; j++) {
        if (types[j] == DS4_TYPE_F32 || types[j] == DS4_TYPE_F16 || types[j] == DS4_TYPE_BF16) continue;
        size_t rb = ds4_row_bytes(types[j], (uint64_t)cols[j]), bb = ds4_type_block_bytes(types[j]);
        for (size_t off = 0; off < rb * (size_t)rows[j]; off += bb) {
            uint8_t *b = (uint8_t *)W[j] + off;
            uint16_t d = ds4_f32_to_f16(0.01f);
            if (types[j] == DS4_TYPE_Q2_K) memcpy(b + 80, &d, 2), memcpy(b + 82, &d, 2);
            else memcpy(b, &d, 2);
            if (types[j] == DS4_TYPE_Q4_K) memcpy(b + 2, &d, 2);
        }
    }
    ds4_pool *pool = ds4_pool_create(2);
    for (int j = 0; j < NJ; j++) ds4_matvec(types[j], W[j], rows[j], cols[j], xs[xsel[j]], want[j], pool);
    for (int round = 0; round < 2; round++) {
        ds4_matvec_batch(jobs, NJ, round ? NULL : pool);
        for (int j = 0; j < NJ; j++)
            for (int64_t r = 0; r < rows[j]; r++)
                cr_assert_eq(jobs[j].y[r], want[j][r], "round %d job %d (%s) row %ld: %g vs %g", round, j,
                             ds4_type_name(types[j]), (long)r, jobs[j].y[r], want[j][r]);
    }
    ds4_pool_destroy(pool);
    for (int j = 0; j < NJ; j++) {
        free(W[j]);
        free(want[j]);
        free(jobs[j].y);
    }
    for (int i = 0; i < 4; i++) free(xs[i]);
}

/* Multi-token jobs (the grouped prefill path), with single-token jobs in
 * the same batch (split by mv_rows' row pairs, odd row counts): each equals
 * ds4_matmul of that job alone, token pairs through the two-token kernel
 * included. */
Test(simd, matvec_batch_multi_token_jobs_equal_matmul) {
    const uint32_t types[] = {DS4_TYPE_IQ2_XXS, DS4_TYPE_IQ2_XXS, DS4_TYPE_Q2_K, DS4_TYPE_F16, DS4_TYPE_Q8_0,
                              DS4_TYPE_Q2_K, DS4_TYPE_F16};
    const int64_t rows[] = {19, 19, 33, 5, 9, 33, 7}, cols[] = {512, 512, 256, 512, 480, 256, 512},
                  ntok[] = {3, 3, 2, 4, 4, 1, 1};
    enum { NJ = 7 };
    float *X = malloc(sizeof(float) * 4 * 512);
    for (int k = 0; k < 4 * 512; k++) X[k] = (float)(unif() * 2 - 1);
    ds4_matvec_job jobs[NJ];
    void *W[NJ];
    float *want[NJ];
    for (int j = 0; j < NJ; j++) {
        size_t rb = ds4_row_bytes(types[j], (uint64_t)cols[j]), bb = ds4_type_block_bytes(types[j]);
        W[j] = malloc(rb * (size_t)rows[j]);
        fill_weights(types[j], W[j], cols[j] * rows[j], false);
        if (types[j] != DS4_TYPE_F16) /* a moderate block scale */
            for (size_t off = 0; off < rb * (size_t)rows[j]; off += bb) {
                uint16_t d = ds4_f32_to_f16(0.01f);
                memcpy((uint8_t *)W[j] + off + (types[j] == DS4_TYPE_Q2_K ? 80 : 0), &d, 2);
                if (types[j] == DS4_TYPE_Q2_K) memcpy((uint8_t *)W[j] + off + 82, &d, 2);
            }
        want[j] = malloc(sizeof(float) * (size_t)(rows[j] * ntok[j]));
        jobs[j] = (ds4_matvec_job){types[j], W[j], rows[j], cols[j], X, malloc(sizeof(float) * (size_t)(rows[j] * ntok[j])),
                                   ntok[j]};
    }
    ds4_pool *pool = ds4_pool_create(2);
    for (int j = 0; j < NJ; j++) ds4_matmul(types[j], W[j], rows[j], cols[j], X, ntok[j], want[j], pool);
    ds4_matvec_batch(jobs, NJ, pool);
    for (int j = 0; j < NJ; j++)
        for (int64_t i = 0; i < rows[j] * ntok[j]; i++)
            cr_assert_eq(jobs[j].y[i], want[j][i], "job %d (%s) output %ld", j, ds4_type_name(types[j]), (long)i);
    ds4_pool_destroy(pool);
    for (int j = 0; j < NJ; j++) {
        free(W[j]);
        free(want[j]);
        free(jobs[j].y);
    }
    free(X);
}

/* ---- Q8_0_X16, the layout Q8_0 takes at load (quant.h) ---- */

/* Regrouping moves bytes only: the dequantized row and the reference dot
 * product are bit for bit those of the Q8_0 row it came from. */
Test(simd, q8_0_x16_holds_the_same_values_as_its_q8_0_row) {
    const int64_t lens[] = {512, 1024, 4096, 33 * 512};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        const int64_t n = lens[li];
        const size_t rb = ds4_row_bytes(DS4_TYPE_Q8_0, (uint64_t)n);
        cr_assert_eq(ds4_row_bytes(DS4_TYPE_Q8_0_X16, (uint64_t)n), rb, "same bytes per row");
        uint8_t *q = malloc(rb), *x = malloc(rb), *a = malloc(rb);
        float *dq = malloc(sizeof(float) * (size_t)n), *dx = malloc(sizeof(float) * (size_t)n);
        fill_weights(DS4_TYPE_Q8_0, q, n, false);
        fill_act(DS4_TYPE_Q8_0, a, n, false, 127);
        ds4_repack_row_q8_0_x16(q, x, n);
        ds4_dequantize_row(DS4_TYPE_Q8_0, q, dq, n);
        ds4_dequantize_row(DS4_TYPE_Q8_0_X16, x, dx, n);
        cr_assert_eq(memcmp(dq, dx, sizeof(float) * (size_t)n), 0, "n=%ld: dequantized rows differ", (long)n);
        const float rq = ds4_vec_dot_ref(DS4_TYPE_Q8_0, n, q, a), rx = ds4_vec_dot_ref(DS4_TYPE_Q8_0_X16, n, x, a);
        cr_assert(!memcmp(&rq, &rx, sizeof rq), "n=%ld: reference dots %.9g vs %.9g", (long)n, rq, rx);
        /* in place over many rows, on a pool, equals row by row */
        uint8_t *rows = malloc(3 * rb), *want = malloc(3 * rb);
        for (int r = 0; r < 3; r++) {
            fill_weights(DS4_TYPE_Q8_0, rows + r * rb, n, false);
            ds4_repack_row_q8_0_x16(rows + r * rb, want + r * rb, n);
        }
        ds4_pool *pool = ds4_pool_create(2);
        cr_assert(ds4_repack_rows(DS4_TYPE_Q8_0, DS4_TYPE_Q8_0_X16, rows, 3, n, pool, NULL));
        ds4_pool_destroy(pool);
        cr_assert_eq(memcmp(rows, want, 3 * rb), 0);
        free(q), free(x), free(a), free(dq), free(dx), free(rows), free(want);
    }
}

Test(simd, q8_0_x16_is_a_memory_layout_only) {
    /* never a file type: the GGUF reader and writer reject it by this test */
    cr_assert_not(ds4_type_known(DS4_TYPE_Q8_0_X16));
    cr_assert_not(ds4_type_has_kernels(DS4_TYPE_Q8_0_X16));
    cr_assert_str_eq(ds4_type_name(DS4_TYPE_Q8_0_X16), "Q8_0_X16");
    uint32_t t;
    cr_assert_not(ds4_type_from_name("Q8_0_X16", &t));
    cr_assert_eq(ds4_act_type(DS4_TYPE_Q8_0_X16), DS4_TYPE_Q8_0);
    /* rows of whole groups of 512 values only */
    cr_assert_eq(ds4_row_bytes(DS4_TYPE_Q8_0_X16, 256), 0);
    cr_assert_eq(ds4_repack_type(DS4_TYPE_Q8_0, 256), DS4_TYPE_Q8_0);
    cr_assert_eq(ds4_repack_type(DS4_TYPE_Q8_0, 768), DS4_TYPE_Q8_0);
    cr_assert_eq(ds4_repack_type(DS4_TYPE_F16, 4096), DS4_TYPE_F16);
    const uint32_t want = ds4_simd_cpu_supports("avx512") && !strcmp(ds4_simd_level(), "avx512") ? DS4_TYPE_Q8_0_X16
                                                                                              : DS4_TYPE_Q8_0;
    cr_assert_eq(ds4_repack_type(DS4_TYPE_Q8_0, 4096), want);
    /* conversions it cannot make are refused with a message */
    uint8_t buf[1088] = {0};
    ds4_error err;
    cr_assert_not(ds4_repack_rows(DS4_TYPE_Q8_0, DS4_TYPE_Q8_0_X16, buf, 1, 544, NULL, &err));
    cr_assert(strstr(err.msg, "544") != NULL, "%s", err.msg);
    cr_assert_not(ds4_repack_rows(DS4_TYPE_Q2_K, DS4_TYPE_Q8_0_X16, buf, 1, 512, NULL, &err));
    cr_assert(ds4_repack_rows(DS4_TYPE_Q8_0, DS4_TYPE_Q8_0, buf, 1, 512, NULL, &err), "same layout: nothing to do");
}

/* ---- Q2_K_X4 and Q4_K_X4, the layouts Q2_K and Q4_K take at load (quant.h) ---- */

/* Grouping moves bytes only: every block reads back as the block it came
 * from, and the dequantized row and the reference dot product are bit for
 * bit those of the stored row. Rows of 1..9 blocks cover every length of a
 * short last group. */
static void check_x4_holds_the_same_values(uint32_t layout) {
    const uint32_t from = ds4_repack_source(layout);
    const size_t bb = ds4_type_block_bytes(from);
    for (int64_t nb = 1; nb <= 9; nb++) {
        const int64_t n = 256 * nb;
        const size_t rb = ds4_row_bytes(from, (uint64_t)n);
        cr_assert_eq(ds4_row_bytes(layout, (uint64_t)n), rb, "same bytes per row");
        uint8_t *q = malloc(rb), *x = malloc(rb), *a = malloc(ds4_row_bytes(DS4_TYPE_Q8_K, (uint64_t)n)), back[144];
        float *dq = malloc(sizeof(float) * (size_t)n), *dx = malloc(sizeof(float) * (size_t)n);
        fill_weights(from, q, n, false);
        fill_act(from, a, n, false, 127);
        ds4_repack_row_x4(layout, q, x, n);
        for (int64_t b = 0; b < nb; b++) {
            ds4_x4_block(layout, x, n, b, back);
            cr_assert_eq(memcmp(back, q + b * bb, bb), 0, "%s nb=%ld: block %ld", ds4_type_name(layout), (long)nb, (long)b);
        }
        ds4_dequantize_row(from, q, dq, n);
        ds4_dequantize_row(layout, x, dx, n);
        cr_assert_eq(memcmp(dq, dx, sizeof(float) * (size_t)n), 0, "%s nb=%ld: dequantized rows differ",
                     ds4_type_name(layout), (long)nb);
        const float rq = ds4_vec_dot_ref(from, n, q, a), rx = ds4_vec_dot_ref(layout, n, x, a);
        cr_assert(!memcmp(&rq, &rx, sizeof rq), "%s nb=%ld: reference dots %.9g vs %.9g", ds4_type_name(layout),
                  (long)nb, rq, rx);
        /* in place over many rows, on a pool, equals row by row */
        uint8_t *rows = malloc(3 * rb), *want = malloc(3 * rb);
        for (int r = 0; r < 3; r++) {
            fill_weights(from, rows + r * rb, n, false);
            memcpy(want + r * rb, rows + r * rb, rb);
            cr_assert(ds4_repack_rows(from, layout, want + r * rb, 1, n, NULL, NULL));
        }
        ds4_pool *pool = ds4_pool_create(2);
        cr_assert(ds4_repack_rows(from, layout, rows, 3, n, pool, NULL));
        ds4_pool_destroy(pool);
        cr_assert_eq(memcmp(rows, want, 3 * rb), 0);
        free(q), free(x), free(a), free(dq), free(dx), free(rows), free(want);
    }
}

Test(simd, q2_k_x4_holds_the_same_values_as_its_q2_k_row) { check_x4_holds_the_same_values(DS4_TYPE_Q2_K_X4); }

Test(simd, q4_k_x4_holds_the_same_values_as_its_q4_k_row) { check_x4_holds_the_same_values(DS4_TYPE_Q4_K_X4); }

static void check_x4_is_a_memory_layout_only(uint32_t layout, const char *name) {
    const uint32_t from = ds4_repack_source(layout);
    cr_assert_neq(from, layout);
    cr_assert_not(ds4_type_known(layout));
    cr_assert_not(ds4_type_has_kernels(layout));
    cr_assert_str_eq(ds4_type_name(layout), name);
    uint32_t t;
    cr_assert_not(ds4_type_from_name(name, &t));
    cr_assert_eq(ds4_act_type(layout), DS4_TYPE_Q8_K);
    /* chosen exactly where its kernel runs: AVX-512 VNNI with GFNI */
    const bool runs = ds4_simd_cpu_supports("avx512") && ds4_simd_cpu_has_gfni() && !strcmp(ds4_simd_level(), "avx512");
    ds4_dot_kernel k;
    cr_assert_eq(ds4_dot_kernel_is_simd(layout), runs && ds4_simd_avx512_kernel(layout, &k));
    const uint32_t want = ds4_dot_kernel_is_simd(layout) ? layout : from;
    cr_assert_eq(ds4_repack_type(from, 4096), want);
    cr_assert_eq(ds4_repack_type(from, 768), want, "a short last group is part of the layout");
    uint8_t buf[576] = {0};
    ds4_error err;
    cr_assert_not(ds4_repack_rows(from, layout, buf, 1, 300, NULL, &err));
    cr_assert(strstr(err.msg, "300") != NULL, "%s", err.msg);
    cr_assert_not(ds4_repack_rows(DS4_TYPE_Q8_0, layout, buf, 1, 512, NULL, &err));
}

Test(simd, q2_k_x4_and_q4_k_x4_are_memory_layouts_only) {
    check_x4_is_a_memory_layout_only(DS4_TYPE_Q2_K_X4, "Q2_K_X4");
    check_x4_is_a_memory_layout_only(DS4_TYPE_Q4_K_X4, "Q4_K_X4");
    cr_assert_eq(ds4_repack_source(DS4_TYPE_Q8_0_X16), DS4_TYPE_Q8_0);
    cr_assert_eq(ds4_repack_source(DS4_TYPE_Q2_K), DS4_TYPE_Q2_K);
    cr_assert_eq(ds4_repack_type(DS4_TYPE_IQ2_XXS, 4096), DS4_TYPE_IQ2_XXS);
}

/* The two-row form (decode's two weight streams per core) returns, per row,
 * exactly the one-row result. */
static int check_rows2(const level *lv, uint32_t type, bool exact) {
    ds4_dot_kernel k;
    if (!lv->get(type, &k) || !k.rows2) return 0;
    const int64_t counts[] = {1, 2, 3, 8, 17};
    int checked = 0;
    for (size_t ci = 0; ci < sizeof counts / sizeof *counts; ci++) {
        const int64_t n = counts[ci] * ds4_type_block_elems(type);
        const size_t wb = ds4_row_bytes(type, (uint64_t)n), ab = ds4_row_bytes(ds4_act_type(type), (uint64_t)n);
        void *w0 = malloc(wb), *w1 = malloc(wb), *a = malloc(ab);
        void *p = aligned_alloc(64, ((k.act_prep ? k.act_bytes(n) : ab) + 63) & ~(size_t)63);
        fill_weights(type, w0, n, exact);
        fill_weights(type, w1, n, exact);
        fill_act(type, a, n, exact, exact ? exact_qmax(type, n) : 127);
        if (k.act_prep) k.act_prep(n, a, p);
        else memcpy(p, a, ab);
        float two[2];
        k.rows2(n, w0, w1, p, two);
        const float one0 = k.dot(n, w0, p), one1 = k.dot(n, w1, p);
        cr_assert(!memcmp(&two[0], &one0, sizeof one0) && !memcmp(&two[1], &one1, sizeof one1),
                  "%s %s n=%ld: rows2 (%.9g, %.9g) vs dot (%.9g, %.9g)", lv->name, ds4_type_name(type), (long)n,
                  two[0], two[1], one0, one1);
        checked++;
        free(w0), free(w1), free(a), free(p);
    }
    return checked;
}

Test(simd, two_row_form_equals_one_row) {
    const int total = check_every_kernel(check_rows2, false) + check_every_kernel(check_rows2, true);
#if defined(__AVX512VBMI__) && defined(__AVX512VNNI__)
    if (ds4_simd_cpu_supports("avx512")) cr_assert(total >= 2 * 2 * 5, "only %d two-row checks ran", total);
#endif
    (void)total;
}
