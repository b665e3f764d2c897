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
    v8f q[8];       /* q[j][lane]: grid point element j of candidate lane */
    uint8_t k[8];   /* grid index of each lane */
} chunk;

typedef struct { uint32_t first; uint16_t count; } nlist;

static int32_t *g_map;        /* u -> grid index, or -(list + 1) */
static nlist *g_lists;
static chunk *g_chunks;
static int8_t g_q[256][8];    /* quantizer grid points q_j = 2*l_j + 1 */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void *xalloc(void *old, size_t n) {
    void *p = realloc(old, n);
    if (!p) {
        fprintf(stderr, "ds4: out of memory building the IQ2_XXS search tables\n");
        abort();
    }
    return p;
}

/* For each off-grid code u reachable by the quantizer (every level <= 2),
 * the neighbour list holds the grid points at the two smallest distinct
 * squared distances, ordered by distance then index (formats.md B.9). Codes
 * with a level of 3 are never looked up and get no list. */
static void build_tables(void) {
    g_map = xalloc(NULL, MAP_SIZE * sizeof *g_map);
    for (int u = 0; u < MAP_SIZE; u++) g_map[u] = -1;
    for (int k = 0; k < 256; k++) {
        const uint16_t code = ds4_kgrid_2bit_256[k];
        for (int j = 0; j < 8; j++) g_q[k][j] = (int8_t)(2 * ((code >> (2 * j)) & 3) + 1);
        g_map[code] = k;
    }
    size_t n_lists = 0, cap_chunks = 4096, n_chunks = 0;
    g_lists = xalloc(NULL, 6561 * sizeof *g_lists);
    g_chunks = xalloc(NULL, cap_chunks * sizeof *g_chunks);
    for (int u = 0; u < MAP_SIZE; u++) {
        if (g_map[u] >= 0) continue;
        int p[8], reachable = 1;
        for (int j = 0; j < 8; j++) {
            const int l = (u >> (2 * j)) & 3;
            reachable &= l <= 2;
            p[j] = 2 * l + 1;
        }
        if (!reachable) continue;
        int d2[256], lo1 = 1 << 30, lo2 = 1 << 30;
        for (int k = 0; k < 256; k++) {
            int d = 0;
            for (int j = 0; j < 8; j++) d += (g_q[k][j] - p[j]) * (g_q[k][j] - p[j]);
            d2[k] = d;
            if (d < lo1) { lo2 = lo1; lo1 = d; }
            else if (d > lo1 && d < lo2) lo2 = d;
        }
        int order[256], count = 0;
        for (int k = 0; k < 256; k++) if (d2[k] == lo1) order[count++] = k;
        for (int k = 0; k < 256; k++) if (d2[k] == lo2) order[count++] = k;
        const size_t need = (size_t)(count + 7) / 8;
        if (n_chunks + need > cap_chunks) {
            cap_chunks *= 2;
            g_chunks = xalloc(g_chunks, cap_chunks * sizeof *g_chunks);
        }
        g_lists[n_lists] = (nlist){(uint32_t)n_chunks, (uint16_t)count};
        g_map[u] = -(int32_t)n_lists - 1;
        n_lists++;
        for (int i = 0; i < count; i += 8) {
            chunk *c = &g_chunks[n_chunks++];
            memset(c, 0, sizeof *c);
            /* Padding lanes repeat the last candidate: equal distance at a
             * later position, so they can never win the first-minimum scan. */
            for (int l = 0; l < 8; l++) {
                const int k = order[i + l < count ? i + l : count - 1];
                c->k[l] = (uint8_t)k;
                for (int j = 0; j < 8; j++) c->q[j][l] = (float)g_q[k][j];
            }
        }
    }
}

/* Picks, among the neighbours of an off-grid code, the first grid point
 * minimising sum_j (wa_j*(scale*q_j - xv_j))*(scale*q_j - xv_j), summed in
 * ascending j; writes its levels. */
static void best_neighbour(const nlist *nl, const float *xv, const float *wa, float scale, int8_t *L) {
    const chunk *c0 = g_chunks + nl->first;
    const int n_chunks = (nl->count + 7) / 8;
    /* Per lane, the first minimum over the chunks (strict <, so NaN never
     * enters); then the smallest value over the lanes, ties to the lowest
     * list position: together the first minimum of the whole list. */
    v8f bestv = {INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY};
    v8i besti = {0, 1, 2, 3, 4, 5, 6, 7};
    v8i idx = besti;
    float d0 = 0.0f;
    for (int i = 0; i < n_chunks; i++, idx += 8) {
        const chunk *c = c0 + i;
        v8f acc = {0};
        for (int j = 0; j < 8; j++) {
            const v8f diff = scale * c->q[j] - xv[j];
            acc += (wa[j] * diff) * diff;
        }
        if (i == 0) d0 = acc[0];
        const v8i lt = acc < bestv;
        bestv = (v8f)(((v8i)acc & lt) | ((v8i)bestv & ~lt));
        besti = (idx & lt) | (besti & ~lt);
    }
    float best = bestv[0];
    int bi = besti[0];
    for (int l = 1; l < 8; l++) {
        if (bestv[l] < best || (bestv[l] == best && besti[l] < bi)) {
            best = bestv[l];
            bi = besti[l];
        }
    }
    /* A scalar scan keeps a NaN first distance (nothing compares below it);
     * also, if nothing is below +inf, the first candidate wins. */
    if (isnan(d0) || !(best < INFINITY)) bi = 0;
    const int k = c0[bi / 8].k[bi % 8];
    for (int j = 0; j < 8; j++) L[j] = (int8_t)((g_q[k][j] - 1) / 2);
}

/* Levels of one octet for inverse scale id, snapped to the grid. */
static void octet_levels(const float *xv, const float *wa, float id, float scale, int8_t *L) {
    int u = 0;
    for (int j = 0; j < 8; j++) {
        L[j] = (int8_t)ds4_clampi(ds4_nearest(0.5f * ((id * xv[j]) - 1.0f)), 0, 2);
        u |= L[j] << (2 * j);
    }
    if (g_map[u] < 0) best_neighbour(&g_lists[-g_map[u] - 1], xv, wa, scale, L);
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
        for (int k = 0; k < 4; k++) octet_levels(xv + 8 * k, wa + 8 * k, id, ts, La + 8 * k);
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
        for (int k = 0; k < 4; k++) octet_levels(xv + 8 * k, wa + 8 * k, id, sc, L + 8 * k);
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
