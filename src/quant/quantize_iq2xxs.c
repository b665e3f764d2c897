/* IQ2_XXS quantizer (formats.md B.9), importance-weighted.
 *
 * Each 32-value group gets 4 octets of grid points (magnitudes 1,3,5 on the
 * quantizer grid), 4 sign indices and a 4-bit scale. The search tables (code
 * -> grid index map and the neighbour lists of off-grid codes) are built once
 * under pthread_once and are read-only afterwards, so quantization is
 * thread-safe. Compiled with -ffp-contract=off for byte-identity with ggml. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "base/fp16.h"
#include "quant/iq2xxs_tables.h"
#include "quant/quant_internal.h"

#define MAP_SIZE 43692  /* codes u = sum l_j << 2j with l_j <= 2 fit below this */

/* Neighbour candidates are stored in chunks of 8, transposed (element j of
 * the 8 candidates is contiguous), so the distance of 8 candidates is
 * computed at once with vector extensions. Each lane performs exactly the
 * scalar sequence of binary32 operations, so the result is bit-identical to
 * evaluating the candidates one by one. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

typedef struct {
    uint16_t code[8];   /* quantizer code of each lane's grid point (level j at bits 2j) */
    uint8_t k[8];       /* grid index of each lane */
} chunk;                /* 24 bytes: the whole table stays small and cache-friendly */

typedef struct { uint32_t first; uint16_t count; } nlist;

static int16_t *g_map;        /* u -> grid index, or -(list + 1) */
static nlist *g_lists;
static chunk *g_chunks;
static int8_t g_q[256][8];    /* quantizer grid points q_j = 2*l_j + 1 */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void *xalloc(size_t align, size_t n) {
    void *p = align ? aligned_alloc(align, (n + align - 1) / align * align) : malloc(n);
    if (!p) {
        fprintf(stderr, "ds4: out of memory building the IQ2_XXS search tables\n");
        abort();
    }
    return p;
}

/* Neighbour list of code u: the grid points at the two smallest distinct
 * squared distances, ordered by distance then index (formats.md B.9). */
static int neighbours(int u, int *order) {
    int p[8];
    for (int j = 0; j < 8; j++) p[j] = 2 * ((u >> (2 * j)) & 3) + 1;
    int d2[256], lo1 = 1 << 30, lo2 = 1 << 30;
    for (int k = 0; k < 256; k++) {
        int d = 0;
        for (int j = 0; j < 8; j++) d += (g_q[k][j] - p[j]) * (g_q[k][j] - p[j]);
        d2[k] = d;
        if (d < lo1) {
            lo2 = lo1;
            lo1 = d;
        } else if (d > lo1 && d < lo2) {
            lo2 = d;
        }
    }
    int count = 0;
    for (int k = 0; k < 256; k++) if (d2[k] == lo1) order[count++] = k;
    for (int k = 0; k < 256; k++) if (d2[k] == lo2) order[count++] = k;
    return count;
}

/* Off-grid codes reachable by the quantizer have every level <= 2; codes
 * with a level of 3 are never looked up and get no list. */
static bool reachable(int u) {
    for (int j = 0; j < 8; j++)
        if (((u >> (2 * j)) & 3) == 3) return false;
    return true;
}

static void build_tables(void) {
    g_map = xalloc(0, MAP_SIZE * sizeof *g_map);
    for (int u = 0; u < MAP_SIZE; u++) g_map[u] = -1;
    for (int k = 0; k < 256; k++) {
        const uint16_t code = ds4_kgrid_2bit_256[k];
        for (int j = 0; j < 8; j++) g_q[k][j] = (int8_t)(2 * ((code >> (2 * j)) & 3) + 1);
        g_map[code] = (int16_t)k;
    }
    int order[256];
    size_t total = 0, n_lists = 0, n_chunks = 0;
    for (int u = 0; u < MAP_SIZE; u++)
        if (g_map[u] < 0 && reachable(u)) total += (size_t)(neighbours(u, order) + 7) / 8;
    g_lists = xalloc(0, 6561 * sizeof *g_lists);
    g_chunks = xalloc(64, total * sizeof *g_chunks);
    for (int u = 0; u < MAP_SIZE; u++) {
        if (g_map[u] >= 0 || !reachable(u)) continue;
        const int count = neighbours(u, order);
        g_lists[n_lists] = (nlist){(uint32_t)n_chunks, (uint16_t)count};
        g_map[u] = (int16_t)(-(int)n_lists - 1);
        n_lists++;
        for (int i = 0; i < count; i += 8) {
            chunk *c = &g_chunks[n_chunks++];
            /* Padding lanes repeat the last candidate: equal distance at a
             * later position, so they can never win the first-minimum scan. */
            for (int l = 0; l < 8; l++) {
                const int k = order[i + l < count ? i + l : count - 1];
                c->k[l] = (uint8_t)k;
                c->code[l] = ds4_kgrid_2bit_256[k];
            }
        }
    }
}

/* Distances of the 8 candidates of chunk c: sum_j (wa_j*diff)*diff with
 * diff = scale*q_j - xv_j, accumulated from 0 in ascending j. Element j of a
 * candidate is one of 3 grid values (1, 3, 5), so the term for each is
 * computed once per search (terms[j][l], the exact scalar expression) and
 * each lane adds the term its level selects: the same binary32 operations in
 * the same order as evaluating every candidate in full. */
#if defined(__AVX2__)
typedef struct { __m256 t[8]; } dist_terms;

static inline void make_terms(dist_terms *dt, const float *xv, const float *wa, float scale) {
    /* All 24 terms at once: lanes j of T_l, then transposed so that row j
     * holds (T_0, T_1, T_2, 0) in both 128-bit halves, the table vpermilps
     * indexes by the low 2 bits of each lane's code (built in registers: a
     * store/reload here would stall on store forwarding). */
    const __m256 x = _mm256_loadu_ps(xv), w = _mm256_loadu_ps(wa), sc = _mm256_set1_ps(scale);
    __m256 t[3];
    for (int l = 0; l < 3; l++) {
        const __m256 diff = _mm256_sub_ps(_mm256_mul_ps(sc, _mm256_set1_ps((float)(2 * l + 1))), x);
        t[l] = _mm256_mul_ps(_mm256_mul_ps(w, diff), diff);
    }
    const __m256 z = _mm256_setzero_ps();
    const __m256 a01l = _mm256_unpacklo_ps(t[0], t[1]), a01h = _mm256_unpackhi_ps(t[0], t[1]);
    const __m256 a2zl = _mm256_unpacklo_ps(t[2], z), a2zh = _mm256_unpackhi_ps(t[2], z);
    /* rows[j] in 128-bit form: lanes (j%4) of half (j/4). */
    const __m256 r0 = _mm256_shuffle_ps(a01l, a2zl, 0x44), r1 = _mm256_shuffle_ps(a01l, a2zl, 0xEE);
    const __m256 r2 = _mm256_shuffle_ps(a01h, a2zh, 0x44), r3 = _mm256_shuffle_ps(a01h, a2zh, 0xEE);
    const __m256 rows[4] = {r0, r1, r2, r3};
    for (int j = 0; j < 4; j++) {
        dt->t[j] = _mm256_permute2f128_ps(rows[j], rows[j], 0x00);
        dt->t[j + 4] = _mm256_permute2f128_ps(rows[j], rows[j], 0x11);
    }
}

static inline void chunk_dist(const dist_terms *dt, const chunk *c, v8f *out) {
    const __m256i code = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)c->code));
    __m256 acc = _mm256_setzero_ps();
    /* Unrolled so the shift counts are immediates. */
#define DS4_IQ2_TERM(j) acc = _mm256_add_ps(acc, _mm256_permutevar_ps(dt->t[j], _mm256_srli_epi32(code, 2 * (j))))
    DS4_IQ2_TERM(0); DS4_IQ2_TERM(1); DS4_IQ2_TERM(2); DS4_IQ2_TERM(3);
    DS4_IQ2_TERM(4); DS4_IQ2_TERM(5); DS4_IQ2_TERM(6); DS4_IQ2_TERM(7);
#undef DS4_IQ2_TERM
    *out = (v8f)acc;
}
#else
typedef struct { float t[8][3]; } dist_terms;

static inline void make_terms(dist_terms *dt, const float *xv, const float *wa, float scale) {
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 3; l++) {
            const float diff = scale * (float)(2 * l + 1) - xv[j];
            dt->t[j][l] = (wa[j] * diff) * diff;
        }
}

static inline void chunk_dist(const dist_terms *dt, const chunk *c, v8f *out) {
    /* Portable vector form in 16-byte halves (native on SSE and NEON): each
     * lane selects its term by masks. */
    typedef float v4f __attribute__((vector_size(16)));
    typedef int32_t v4i __attribute__((vector_size(16)));
    for (int h = 0; h < 2; h++) {
        const v4i code = {c->code[4 * h], c->code[4 * h + 1], c->code[4 * h + 2], c->code[4 * h + 3]};
        v4f acc = {0, 0, 0, 0};
        for (int j = 0; j < 8; j++) {
            const v4i lv = (code >> (2 * j)) & 3;
            const v4i m1 = lv == 1, m2 = lv == 2;
            const float *tj = dt->t[j];
            const v4f t0 = {tj[0], tj[0], tj[0], tj[0]}, t1 = {tj[1], tj[1], tj[1], tj[1]};
            const v4f t2 = {tj[2], tj[2], tj[2], tj[2]};
            acc += (v4f)(((v4i)t2 & m2) | ((v4i)t1 & m1) | ((v4i)t0 & ~(m1 | m2)));
        }
        for (int l = 0; l < 4; l++) (*out)[4 * h + l] = acc[l];
    }
}
#endif

/* Picks, among the neighbours of an off-grid code, the first grid point
 * minimising the distance above; writes its levels. */
static void best_neighbour(const nlist *nl, const float *xv, const float *wa, float scale, int8_t *L) {
    const chunk *c0 = g_chunks + nl->first;
    const int n_chunks = (nl->count + 7) / 8;
    dist_terms dt;
    make_terms(&dt, xv, wa, scale);
    /* Per lane, the first minimum over the chunks (strict <, so NaN never
     * enters); then the smallest value over the lanes, ties to the lowest
     * list position: together the first minimum of the whole list. */
    v8f bestv = {INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY};
    v8i besti = {0, 1, 2, 3, 4, 5, 6, 7};
    v8i idx = besti;
    float d0 = 0.0f;
    for (int i = 0; i < n_chunks; i++, idx += 8) {
        v8f acc;
        chunk_dist(&dt, c0 + i, &acc);
        if (i == 0) d0 = acc[0];
        const v8i lt = acc < bestv;
        bestv = (v8f)(((v8i)acc & lt) | ((v8i)bestv & ~lt));
        besti = (idx & lt) | (besti & ~lt);
    }
    /* Horizontal: the smallest value, then the lowest position holding it
     * (bestv never holds NaN: it only takes values that compared below). */
    float best = bestv[0];
    for (int l = 1; l < 8; l++) best = bestv[l] < best ? bestv[l] : best;
    const v8i at_min = bestv == best;
    const v8i pos = (besti & at_min) | (~at_min & 0x7fffffff);
    int bi = pos[0];
    for (int l = 1; l < 8; l++) bi = pos[l] < bi ? pos[l] : bi;
    /* A scalar scan keeps a NaN first distance (nothing compares below it);
     * also, if nothing is below +inf, the first candidate wins. */
    if (isnan(d0) || !(best < INFINITY)) bi = 0;
    const int k = c0[bi / 8].k[bi % 8];
    for (int j = 0; j < 8; j++) L[j] = (int8_t)((g_q[k][j] - 1) / 2);
}

/* Levels of the 4 octets of a group for inverse scale id, snapped to the
 * grid. All codes are looked up first and the neighbour lists prefetched,
 * so the (random) table reads of the 4 octets overlap. */
static void group_levels(const float *xv, const float *wa, float id, float scale, int8_t *L) {
    int u[4];
    for (int k = 0; k < 4; k++) {
        /* l = clamp(nearest(0.5*((id*xv) - 1)), 0, 2) for 8 values at once,
         * nearest() as in quant_internal.h (same binary32 operations). */
        v8f x;
        memcpy(&x, xv + 8 * k, sizeof x);
        const v8f t = 0.5f * ((id * x) - 1.0f) + 12582912.0f;
        v8i l = ((v8i)t & 0x007fffff) - 0x00400000;
        l &= ~(l >> 31);
        const v8i over = l > 2;
        l = (l & ~over) | (2 & over);
#if defined(__AVX2__)
        /* u = OR of l_j << 2j, and the 8 levels packed to bytes. */
        const __m256i li = (__m256i)l;
        const __m256i sh = _mm256_sllv_epi32(li, _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
        __m128i a = _mm_or_si128(_mm256_castsi256_si128(sh), _mm256_extracti128_si256(sh, 1));
        a = _mm_or_si128(a, _mm_unpackhi_epi64(a, a));
        a = _mm_or_si128(a, _mm_shuffle_epi32(a, 1));
        u[k] = _mm_cvtsi128_si32(a);
        const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(li), _mm256_extracti128_si256(li, 1));
        _mm_storel_epi64((__m128i *)(L + 8 * k), _mm_packs_epi16(p16, p16));
#else
        u[k] = 0;
        for (int j = 0; j < 8; j++) {
            L[8 * k + j] = (int8_t)l[j];
            u[k] |= l[j] << (2 * j);
        }
#endif
        if (g_map[u[k]] < 0) {
            const nlist *nl = &g_lists[-g_map[u[k]] - 1];
            const char *p = (const char *)&g_chunks[nl->first];
            const size_t bytes = (size_t)(nl->count + 7) / 8 * sizeof(chunk);
            for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o);
        }
    }
    for (int k = 0; k < 4; k++)
        if (g_map[u[k]] < 0) best_neighbour(&g_lists[-g_map[u[k]] - 1], xv + 8 * k, wa + 8 * k, scale, L + 8 * k);
}

static void fit_sums(const float *w, const float *xv, const int8_t *L, float *sqx, float *sq2) {
    float a = 0.0f, b = 0.0f;
    for (int i = 0; i < 32; i++) {
        const float q = (float)(2 * L[i] + 1);
        a += (w[i] * xv[i]) * q;
        b += (w[i] * q) * q;
    }
    *sqx = a;
    *sq2 = b;
}

/* One 32-value group: returns its scale (0 = empty) and fills the two words. */
static float quantize_group(const float *xb, const float *qb, float sigma2, uint32_t *w0, uint32_t *w1) {
    float w[32], wa[32], xv[32];
    uint8_t bs[4];
    int8_t L[32], La[32];
    for (int i = 0; i < 32; i++) {
        w[i] = qb[i] * sqrtf(sigma2 + xb[i] * xb[i]);
        wa[i] = sqrtf(w[i]);
    }
    for (int k = 0; k < 4; k++) {
        unsigned s = 0;
        int nneg = 0;
        for (int i = 8 * k; i < 8 * k + 8; i++) {
            if (xb[i] >= 0) {
                xv[i] = xb[i];
            } else {
                xv[i] = -xb[i];
                nneg++;
                s |= 1u << (i - 8 * k);
            }
        }
        if (nneg % 2) {
            /* The eighth sign is implied by parity: flip the cheapest value. */
            int imin = 8 * k;
            float mn = (w[imin] * xb[imin]) * xb[imin];
            for (int i = 8 * k + 1; i < 8 * k + 8; i++) {
                const float e = (w[i] * xb[i]) * xb[i];
                if (e < mn) { mn = e; imin = i; }
            }
            xv[imin] = -xv[imin];
            s ^= 1u << (imin - 8 * k);
        }
        bs[k] = (uint8_t)(s & 127);
    }
    float mx = xv[0];
    for (int i = 1; i < 32; i++) mx = mx > xv[i] ? mx : xv[i];
    *w0 = *w1 = 0;
    if (mx < 1e-15f) return 0.0f;
    uint8_t Lq[32];
    float sc = ds4_make_qp_quants(32, 4, xv, Lq, w);
    const float em = sc * 3.0f;
    if (em <= 0) return 0.0f;
    float best = 0.0f;
    memset(L, 0, sizeof L);
    for (int t = -6; t <= 6; t++) {
        const float id = (5.0f + (float)t * 0.1f) / em;
        const float ts = 1.0f / id;
        group_levels(xv, wa, id, ts, La);
        float sqx, sq2;
        fit_sums(w, xv, La, &sqx, &sq2);
        if (sq2 > 0 && sqx * sqx > best * sq2) {
            sc = sqx / sq2;
            best = sc * sqx;
            memcpy(L, La, sizeof L);
        }
    }
    if (sc > 0) {
        const float id = 1.0f / sc;
        group_levels(xv, wa, id, sc, L);
        float sqx, sq2;
        fit_sums(w, xv, L, &sqx, &sq2);
        if (sq2 > 0) sc = sqx / sq2;
    }
    if (sc < 0) {
        sc = -sc;
        for (int k = 0; k < 4; k++) bs[k] = (uint8_t)(~bs[k] & 127);
    }
    for (int k = 0; k < 4; k++) {
        int u = 0;
        for (int j = 0; j < 8; j++) u |= L[8 * k + j] << (2 * j);
        /* Every path above leaves L on the grid; index 0 is a safe guard. */
        const int g = g_map[u] >= 0 ? g_map[u] : 0;
        *w0 |= (uint32_t)g << (8 * k);
        *w1 |= (uint32_t)bs[k] << (7 * k);
    }
    return sc;
}

void ds4_quantize_row_iq2_xxs(const float *x, block_iq2_xxs *y, int64_t n, const float *imatrix) {
    pthread_once(&g_once, build_tables);
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float *xbl = x + b * QK_K;
        const float *qw = imatrix + b * QK_K;
        uint32_t q2[16];
        float scales[8], max_scale = 0.0f;
        float sumx2 = 0.0f;
        for (int i = 0; i < QK_K; i++) sumx2 += xbl[i] * xbl[i];
        const float sigma2 = sumx2 / 256.0f;
        for (int ib = 0; ib < 8; ib++) {
            scales[ib] = quantize_group(xbl + 32 * ib, qw + 32 * ib, sigma2, &q2[2 * ib], &q2[2 * ib + 1]);
            max_scale = max_scale > scales[ib] ? max_scale : scales[ib];
        }
        if (max_scale == 0.0f) {
            y[b].d = ds4_f32_to_f16(0.0f);
            memset(y[b].qs, 0, sizeof y[b].qs);
            continue;
        }
        const float d = max_scale / 31.0f;
        y[b].d = ds4_f32_to_f16(d);
        const float id = 1.0f / d;
        for (int ib = 0; ib < 8; ib++) {
            const int t = ds4_clampi(ds4_nearest(0.5f * ((id * scales[ib]) - 1.0f)), 0, 15);
            q2[2 * ib + 1] |= (uint32_t)t << 28;
        }
        uint8_t *out = (uint8_t *)y[b].qs;
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(q2[i] >> (8 * j));
    }
}
