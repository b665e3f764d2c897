/* Scalar reference dot products: one weight row against an activation row in
 * the format the weight type pairs with (formats.md B.5). Integer inner sums
 * are exact; the floats are combined per block in the order B.5 gives, and
 * blocks are summed in ascending order from 0. Float weight types accumulate
 * in double (like ggml's scalar ggml_vec_dot_f32/f16), so the reference is as
 * close to the exact dot as binary32 inputs allow. */
#include <string.h>

#include "base/fp16.h"
#include "quant/iq2xxs_tables.h"
#include "quant/quant_internal.h"

uint32_t ds4_act_type(uint32_t weight_type) {
    switch (weight_type) {
    case DS4_TYPE_Q8_0: case DS4_TYPE_Q8_0_X16: return DS4_TYPE_Q8_0;
    case DS4_TYPE_Q2_K: case DS4_TYPE_Q2_K_X4: case DS4_TYPE_Q4_K: case DS4_TYPE_Q4_K_X4: case DS4_TYPE_IQ2_XXS:
        return DS4_TYPE_Q8_K;
    case DS4_TYPE_F32: case DS4_TYPE_F16: case DS4_TYPE_BF16: return DS4_TYPE_F32;
    default: return UINT32_MAX;
    }
}

void ds4_quantize_act(uint32_t weight_type, const float *x, void *dst, int64_t n) {
    switch (ds4_act_type(weight_type)) {
    case DS4_TYPE_Q8_0: ds4_quantize_row_q8_0(x, dst, n); break;
    case DS4_TYPE_Q8_K: ds4_quantize_row_q8_K(x, dst, n); break;
    case DS4_TYPE_F32: memcpy(dst, x, (size_t)n * sizeof(float)); break;
    default: ds4_quant_bad_type("quantize_act", weight_type);
    }
}

float ds4_vec_dot_f32_ref(int64_t n, const void *w, const void *act) {
    const float *a = w, *x = act;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)(a[i] * x[i]);
    return (float)s;
}

float ds4_vec_dot_f16_ref(int64_t n, const void *w, const void *act) {
    const uint8_t *p = w;
    const float *x = act;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        s += (double)(ds4_f16_to_f32(h) * x[i]);
    }
    return (float)s;
}

float ds4_vec_dot_bf16_ref(int64_t n, const void *w, const void *act) {
    const uint8_t *p = w;
    const float *x = act;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        s += (double)(ds4_bf16_to_f32(h) * x[i]);
    }
    return (float)s;
}

float ds4_vec_dot_q8_0_ref(int64_t n, const void *w, const void *act) {
    const block_q8_0 *a = w, *b = act;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += a[i].qs[j] * b[i].qs[j];
        s += (ds4_f16_to_f32(a[i].d) * ds4_f16_to_f32(b[i].d)) * (float)isum;
    }
    return s;
}

/* The same sums as Q8_0's, read from the regrouped layout (quant.h). */
float ds4_vec_dot_q8_0_x16_ref(int64_t n, const void *w, const void *act) {
    const uint8_t *q = w;
    const block_q8_0 *b = act;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const uint8_t *grp = q + ds4_x16_quants_at(i / 16) + 4 * (i % 16);
        int isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += ((int)grp[64 * (j / 4) + j % 4] - 128) * b[i].qs[j];
        uint16_t d;
        memcpy(&d, q + ds4_x16_scales_at(n, i / 16) + 2 * (i % 16), 2);
        s += (ds4_f16_to_f32(d) * ds4_f16_to_f32(b[i].d)) * (float)isum;
    }
    return s;
}

float ds4_vec_dot_q2_K_ref(int64_t n, const void *w, const void *act) {
    const block_q2_K *a = w;
    const block_q8_K *b = act;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0, msum = 0;
        for (int sb = 0; sb < 16; sb++) {
            /* Sub-block sb = 8h + 2j + (l >= 16) covers 128h + 32j + l. */
            const int h = sb / 8, j = (sb % 8) / 2, l0 = (sb % 2) * 16;
            int dot = 0;
            for (int l = l0; l < l0 + 16; l++)
                dot += ((a[i].qs[32 * h + l] >> (2 * j)) & 3) * b[i].qs[128 * h + 32 * j + l];
            isum += (a[i].scales[sb] & 15) * dot;
            msum += (a[i].scales[sb] >> 4) * b[i].bsums[sb];
        }
        const float dall = b[i].d * ds4_f16_to_f32(a[i].d);
        const float dmin = b[i].d * ds4_f16_to_f32(a[i].dmin);
        s += dall * (float)isum - dmin * (float)msum;
    }
    return s;
}

float ds4_vec_dot_q4_K_ref(int64_t n, const void *w, const void *act) {
    const block_q4_K *a = w;
    const block_q8_K *b = act;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0, msum = 0;
        for (int k = 0; k < 8; k++) {
            int sc, m;
            ds4_q4k_scale_min(k, a[i].scales, &sc, &m);
            const uint8_t *q = a[i].qs + 32 * (k / 2);
            const int shift = (k % 2) * 4;
            int dot = 0;
            for (int l = 0; l < 32; l++) dot += ((q[l] >> shift) & 15) * b[i].qs[32 * k + l];
            isum += sc * dot;
            msum += m * (b[i].bsums[2 * k] + b[i].bsums[2 * k + 1]);
        }
        const float dall = b[i].d * ds4_f16_to_f32(a[i].d);
        const float dmin = b[i].d * ds4_f16_to_f32(a[i].dmin);
        s += dall * (float)isum - dmin * (float)msum;
    }
    return s;
}

/* The grouped layouts (quant.h): their file type's sums, block by block,
 * with each block read back into the file layout. */
static float x4_ref(uint32_t layout, int64_t n, const void *w, const void *act) {
    const ds4_vec_dot_fn block_dot = ds4_vec_dot_ref_fn(ds4_repack_source(layout));
    const block_q8_K *b = act;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        _Alignas(8) uint8_t blk[sizeof(block_q4_K)];
        ds4_x4_block(layout, w, n, i, blk);
        s += block_dot(QK_K, blk, b + i);
    }
    return s;
}

float ds4_vec_dot_q2_k_x4_ref(int64_t n, const void *w, const void *act) { return x4_ref(DS4_TYPE_Q2_K_X4, n, w, act); }

float ds4_vec_dot_q4_k_x4_ref(int64_t n, const void *w, const void *act) { return x4_ref(DS4_TYPE_Q4_K_X4, n, w, act); }

float ds4_vec_dot_iq2_xxs_ref(int64_t n, const void *w, const void *act) {
    const block_iq2_xxs *a = w;
    const block_q8_K *b = act;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *qs = (const uint8_t *)a[i].qs;
        const int8_t *y = b[i].qs;
        int bsum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *g = qs + 8 * ib;
            const uint32_t aux = (uint32_t)g[4] | (uint32_t)g[5] << 8 | (uint32_t)g[6] << 16 | (uint32_t)g[7] << 24;
            int sumi = 0;
            for (int k = 0; k < 4; k++) {
                const uint64_t grid = ds4_iq2xxs_grid[g[k]];
                const uint8_t signs = ds4_ksigns_iq2xs[(aux >> (7 * k)) & 127];
                for (int j = 0; j < 8; j++) {
                    const int v = (int)((grid >> (8 * j)) & 0xff) * y[32 * ib + 8 * k + j];
                    sumi += (signs >> j) & 1 ? -v : v;
                }
            }
            bsum += (int)(2 * (aux >> 28) + 1) * sumi;
        }
        s += (0.125f * b[i].d * ds4_f16_to_f32(a[i].d)) * (float)bsum;
    }
    return s;
}

ds4_vec_dot_fn ds4_vec_dot_ref_fn(uint32_t weight_type) {
    switch (weight_type) {
    case DS4_TYPE_F32: return ds4_vec_dot_f32_ref;
    case DS4_TYPE_F16: return ds4_vec_dot_f16_ref;
    case DS4_TYPE_BF16: return ds4_vec_dot_bf16_ref;
    case DS4_TYPE_Q8_0: return ds4_vec_dot_q8_0_ref;
    case DS4_TYPE_Q2_K: return ds4_vec_dot_q2_K_ref;
    case DS4_TYPE_Q4_K: return ds4_vec_dot_q4_K_ref;
    case DS4_TYPE_IQ2_XXS: return ds4_vec_dot_iq2_xxs_ref;
    case DS4_TYPE_Q8_0_X16: return ds4_vec_dot_q8_0_x16_ref;
    case DS4_TYPE_Q2_K_X4: return ds4_vec_dot_q2_k_x4_ref;
    case DS4_TYPE_Q4_K_X4: return ds4_vec_dot_q4_k_x4_ref;
    default: return NULL;
    }
}

float ds4_vec_dot_ref(uint32_t weight_type, int64_t n, const void *w_row, const void *act) {
    ds4_vec_dot_fn fn = ds4_vec_dot_ref_fn(weight_type);
    if (!fn) ds4_quant_bad_type("vec_dot_ref", weight_type);
    return fn(n, w_row, act);
}
