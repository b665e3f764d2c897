/* Dequantization of every block type (formats.md B.1-B.5).
 *
 * Bit-exact with ggml: each value is evaluated in binary32 in the same
 * association as the reference, and the module is compiled with
 * -ffp-contract=off so that a*b - c*d is never fused into an FMA. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "quant/iq2xxs_tables.h"
#include "quant/quant_internal.h"

bool ds4_type_has_kernels(uint32_t type) {
    switch (type) {
    case DS4_TYPE_F32: case DS4_TYPE_F16: case DS4_TYPE_BF16: case DS4_TYPE_Q8_0:
    case DS4_TYPE_Q2_K: case DS4_TYPE_Q4_K: case DS4_TYPE_IQ2_XXS:
        return true;
    default:
        return false;
    }
}

void ds4_quant_bad_type(const char *what, uint32_t type) {
    fprintf(stderr, "ds4: %s: tensor type %u (%s) has no kernels\n", what, type, ds4_type_name(type));
    abort();
}

static void deq_q8_0(const block_q8_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = ds4_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[i * QK8_0 + j] = d * (float)x[i].qs[j];
    }
}

static void deq_q8_0_x16(const uint8_t *q, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const uint8_t *grp = q + ds4_x16_quants_at(i / 16) + 4 * (i % 16);
        uint16_t h;
        memcpy(&h, q + ds4_x16_scales_at(n, i / 16) + 2 * (i % 16), 2);
        const float d = ds4_f16_to_f32(h);
        for (int j = 0; j < QK8_0; j++) y[i * QK8_0 + j] = d * (float)((int)grp[64 * (j / 4) + j % 4] - 128);
    }
}

static void deq_q2_K(const block_q2_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        const float d = ds4_f16_to_f32(x[i].d);
        const float dmin = ds4_f16_to_f32(x[i].dmin);
        for (int s = 0; s < 16; s++) {
            const uint8_t sc = x[i].scales[s];
            const float dl = d * (float)(sc & 15);
            const float ml = dmin * (float)(sc >> 4);
            /* Sub-block s = 8h + 2j + (l >= 16): values 128h + 32j + l. */
            const int h = s / 8, j = (s % 8) / 2, l0 = (s % 2) * 16;
            for (int l = l0; l < l0 + 16; l++) {
                const int q = (x[i].qs[32 * h + l] >> (2 * j)) & 3;
                y[128 * h + 32 * j + l] = dl * (float)q - ml;
            }
        }
    }
}

static void deq_q4_K(const block_q4_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        const float d = ds4_f16_to_f32(x[i].d);
        const float dmin = ds4_f16_to_f32(x[i].dmin);
        for (int k = 0; k < 8; k++) {
            int sc, m;
            ds4_q4k_scale_min(k, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc;
            const float m1 = dmin * (float)m;
            const uint8_t *q = x[i].qs + 32 * (k / 2);
            const int shift = (k % 2) * 4;
            for (int l = 0; l < 32; l++) y[32 * k + l] = d1 * (float)((q[l] >> shift) & 15) - m1;
        }
    }
}

static void deq_iq2_xxs(const block_iq2_xxs *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = ds4_f16_to_f32(x[i].d);
        const uint8_t *qs = (const uint8_t *)x[i].qs;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *g = qs + 8 * ib;
            const uint32_t w = (uint32_t)g[4] | (uint32_t)g[5] << 8 | (uint32_t)g[6] << 16 | (uint32_t)g[7] << 24;
            const float db = d * (0.5f + (float)(w >> 28)) * 0.25f;
            for (int k = 0; k < 4; k++) {
                const uint64_t grid = ds4_iq2xxs_grid[g[k]];
                const uint8_t signs = ds4_ksigns_iq2xs[(w >> (7 * k)) & 127];
                for (int j = 0; j < 8; j++) {
                    const float mag = (float)((grid >> (8 * j)) & 0xff);
                    *y++ = db * mag * ((signs >> j) & 1 ? -1.0f : 1.0f);
                }
            }
        }
    }
}

static void deq_q8_K(const block_q8_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++)
        for (int j = 0; j < QK_K; j++) y[i * QK_K + j] = x[i].d * (float)x[i].qs[j];
}

void ds4_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n) {
    const uint32_t be = ds4_type_block_elems(type);
    if (be == 0 || n % be != 0) ds4_quant_bad_type("dequantize_row (unknown type or bad length)", type);
    const int64_t nb = n / be;
    switch (type) {
    case DS4_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case DS4_TYPE_F16: {
        const uint8_t *p = src;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = ds4_f16_to_f32(h);
        }
        break;
    }
    case DS4_TYPE_BF16: {
        const uint8_t *p = src;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = ds4_bf16_to_f32(h);
        }
        break;
    }
    case DS4_TYPE_Q8_0: deq_q8_0(src, dst, nb); break;
    case DS4_TYPE_Q2_K: deq_q2_K(src, dst, nb); break;
    case DS4_TYPE_Q4_K: deq_q4_K(src, dst, nb); break;
    case DS4_TYPE_IQ2_XXS: deq_iq2_xxs(src, dst, nb); break;
    case DS4_TYPE_Q8_K: deq_q8_K(src, dst, nb); break;
    case DS4_TYPE_Q8_0_X16: deq_q8_0_x16(src, dst, n); break;
    case DS4_TYPE_Q2_K_X4:
    case DS4_TYPE_Q4_K_X4: /* block by block, each read back into its file layout */
        for (int64_t b = 0; b < nb; b++) {
            _Alignas(8) uint8_t blk[sizeof(block_q4_K)];
            ds4_x4_block(type, src, n, b, blk);
            ds4_dequantize_row(ds4_repack_source(type), blk, dst + b * QK_K, QK_K);
        }
        break;
    default: ds4_quant_bad_type("dequantize_row", type);
    }
}
