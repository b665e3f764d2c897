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

static int32_t *g_map;        /* u -> grid index, or -(pool offset + 1) */
static uint16_t *g_pool;      /* neighbour lists: [count, k1, k2, ...] */
static int8_t g_q[256][8];    /* quantizer grid points q_j = 2*l_j + 1 */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

typedef struct { int d2, k; } dist_entry;

static int cmp_dist(const void *a, const void *b) {
    const dist_entry *x = a, *y = b;
    if (x->d2 != y->d2) return x->d2 < y->d2 ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k);
}

/* Neighbour lists keep the grid points at the two smallest distinct squared
 * distances from each off-grid code (ties by index), laid out by ascending u. */
static void build_tables(void) {
    g_map = malloc(MAP_SIZE * sizeof *g_map);
    /* Lists are short (a handful of entries); 64 per code is a safe bound
     * only if we grow on demand, so use a growable pool. */
    size_t cap = 1 << 20, used = 0;
    g_pool = malloc(cap * sizeof *g_pool);
    if (!g_map || !g_pool) {
        fprintf(stderr, "ds4: out of memory building the IQ2_XXS search tables\n");
        abort();
    }
    for (int u = 0; u < MAP_SIZE; u++) g_map[u] = -1;
    for (int k = 0; k < 256; k++) {
        const uint16_t code = ds4_kgrid_2bit_256[k];
        for (int j = 0; j < 8; j++) g_q[k][j] = (int8_t)(2 * ((code >> (2 * j)) & 3) + 1);
        g_map[code] = k;
    }
    dist_entry dist[256];
    for (int u = 0; u < MAP_SIZE; u++) {
        if (g_map[u] >= 0) continue;
        int p[8];
        for (int j = 0; j < 8; j++) p[j] = 2 * ((u >> (2 * j)) & 3) + 1;
        for (int k = 0; k < 256; k++) {
            int d2 = 0;
            for (int j = 0; j < 8; j++) d2 += (g_q[k][j] - p[j]) * (g_q[k][j] - p[j]);
            dist[k] = (dist_entry){d2, k};
        }
        qsort(dist, 256, sizeof dist[0], cmp_dist);
        int count = 0, shells = 1, d2 = dist[0].d2;
        for (int i = 0; i < 256; i++) {
            if (dist[i].d2 > d2) {
                if (shells == 2) break;
                d2 = dist[i].d2;
                shells++;
            }
            count++;
        }
        if (used + (size_t)count + 1 > cap) {
            cap *= 2;
            uint16_t *np = realloc(g_pool, cap * sizeof *g_pool);
            if (!np) {
                fprintf(stderr, "ds4: out of memory building the IQ2_XXS search tables\n");
                abort();
            }
            g_pool = np;
        }
        g_map[u] = -(int32_t)used - 1;
        g_pool[used++] = (uint16_t)count;
        for (int i = 0; i < count; i++) g_pool[used++] = (uint16_t)dist[i].k;
    }
}

/* Picks, among the neighbours of an off-grid code, the first grid point
 * minimising sum (wa*(scale*q - xv))*(scale*q - xv); writes its levels. */
static int best_neighbour(const uint16_t *nb, const float *xv, const float *wa, float scale, int8_t *L) {
    int best_k = nb[1];
    float best = 0.0f;
    for (int i = 1; i <= nb[0]; i++) {
        const int8_t *q = g_q[nb[i]];
        float d2 = 0.0f;
        for (int j = 0; j < 8; j++) {
            const float diff = scale * (float)q[j] - xv[j];
            d2 += (wa[j] * diff) * diff;
        }
        if (i == 1 || d2 < best) {
            best = d2;
            best_k = nb[i];
        }
    }
    for (int j = 0; j < 8; j++) L[j] = (int8_t)((g_q[best_k][j] - 1) / 2);
    return best_k;
}

/* Levels of one octet for inverse scale id, snapped to the grid. */
static void octet_levels(const float *xv, const float *wa, float id, float scale, int8_t *L) {
    int u = 0;
    for (int j = 0; j < 8; j++) {
        L[j] = (int8_t)ds4_clampi(ds4_nearest(0.5f * ((id * xv[j]) - 1.0f)), 0, 2);
        u |= L[j] << (2 * j);
    }
    if (g_map[u] < 0) best_neighbour(g_pool + (-g_map[u] - 1), xv, wa, scale, L);
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
