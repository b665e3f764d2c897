#include "convert/st_decode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "base/fp16.h"

const float ds4_fp4_e2m1[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                                -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

float ds4_e4m3_to_f32(uint8_t b) {
    int sign = b >> 7, e = (b >> 3) & 15, m = b & 7;
    if (e == 15 && m == 7) return 0.0f; /* NaN encodings decode as 0, as ds4 does */
    float v = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return sign ? -v : v;
}

float ds4_e8m0_to_f32(uint8_t b) {
    if (b == 0) return ds4_bits_f32(0x00400000u); /* 2^-127, a binary32 subnormal */
    if (b == 255) return INFINITY;
    return ds4_bits_f32((uint32_t)b << 23);
}

/* The FP8 decode of every byte value, built once: the hot loop is then a
 * lookup and a multiply. */
static float e4m3_table[256];
static pthread_once_t e4m3_once = PTHREAD_ONCE_INIT;
static void e4m3_init(void) {
    for (int i = 0; i < 256; i++) e4m3_table[i] = ds4_e4m3_to_f32((uint8_t)i);
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static const char *shape_str(const ds4_st_tensor *t, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < t->n_dims && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}

/* Shared by check and init: fills the layout fields of m from w and scale. */
static bool layout(ds4_st_matrix *m, const ds4_st_tensor *w, const ds4_st_tensor *scale, ds4_error *err) {
    memset(m, 0, sizeof *m);
    m->w = w;
    m->scale = scale;
    int64_t last = w->n_dims ? w->shape[w->n_dims - 1] : 1;
    int64_t rows = 1;
    for (int i = 0; i + 1 < w->n_dims; i++) rows *= w->shape[i];
    m->rows = rows;
    m->cols = last;
    m->raw_row_bytes = (uint64_t)last * ds4_st_dtype_size(w->dtype);
    char a[96], b[96];
    switch (w->dtype) {
    case DS4_ST_F32: case DS4_ST_F16: case DS4_ST_BF16: case DS4_ST_F64:
        if (scale)
            return ds4_fail(err, "tensor '%s': dtype %s does not take a block scale, but '%s' exists", w->name,
                            ds4_st_dtype_name(w->dtype), scale->name);
        m->enc = DS4_ENC_PLAIN;
        return true;
    case DS4_ST_F8_E4M3:
        m->enc = DS4_ENC_FP8_BLOCK;
        if (!scale) return ds4_fail(err, "tensor '%s': F8_E4M3 weight without its .scale tensor (missing scale)", w->name);
        if (w->n_dims != 2) return ds4_fail(err, "tensor '%s': F8_E4M3 weight must be 2-D, shape %s", w->name, shape_str(w, a, sizeof a));
        m->scale_rows = cdiv(m->rows, 128);
        m->scale_cols = cdiv(m->cols, 128);
        break;
    case DS4_ST_I8:
        m->enc = DS4_ENC_FP4_BLOCK;
        if (!scale) return ds4_fail(err, "tensor '%s': I8 (packed FP4) weight without its .scale tensor (missing scale)", w->name);
        if (w->n_dims != 2) return ds4_fail(err, "tensor '%s': packed FP4 weight must be 2-D, shape %s", w->name, shape_str(w, a, sizeof a));
        m->cols = 2 * last;
        if (m->cols % 32)
            return ds4_fail(err, "tensor '%s': FP4 row of %lld values is not a multiple of the 32-value scale block",
                            w->name, (long long)m->cols);
        m->scale_rows = m->rows;
        m->scale_cols = m->cols / 32;
        break;
    default:
        return ds4_fail(err, "tensor '%s': dtype %s is not a float weight encoding (wrong dtype)", w->name,
                        ds4_st_dtype_name(w->dtype));
    }
    if (scale->dtype != DS4_ST_F8_E8M0 && scale->dtype != DS4_ST_F32)
        return ds4_fail(err, "tensor '%s': scale dtype %s, expected F8_E8M0", scale->name, ds4_st_dtype_name(scale->dtype));
    if (scale->n_dims != 2 || scale->shape[0] != m->scale_rows || scale->shape[1] != m->scale_cols)
        return ds4_fail(err, "tensor '%s': scale shape %s does not match [%lld, %lld] required by '%s' %s", scale->name,
                        shape_str(scale, a, sizeof a), (long long)m->scale_rows, (long long)m->scale_cols, w->name,
                        shape_str(w, b, sizeof b));
    return true;
}

bool ds4_st_matrix_check(const ds4_st_tensor *w, const ds4_st_tensor *scale, int64_t *rows, int64_t *cols,
                         ds4_error *err) {
    ds4_st_matrix m;
    if (!layout(&m, w, scale, err)) return false;
    *rows = m.rows;
    *cols = m.cols;
    return true;
}

bool ds4_st_matrix_init(ds4_st_matrix *m, const ds4_st_set *s, const ds4_st_tensor *w,
                        const ds4_st_tensor *scale, ds4_error *err) {
    if (!layout(m, w, scale, err)) return false;
    m->set = s;
    if (m->enc == DS4_ENC_PLAIN) return true;
    pthread_once(&e4m3_once, e4m3_init);
    uint64_t n = (uint64_t)m->scale_rows * (uint64_t)m->scale_cols;
    m->scale_f = malloc((n ? n : 1) * sizeof(float));
    uint8_t *raw = malloc(scale->nbytes ? scale->nbytes : 1);
    if (!m->scale_f || !raw) {
        free(raw);
        return ds4_fail(err, "tensor '%s': cannot allocate the scale", scale->name);
    }
    bool ok = ds4_st_read(s, scale, 0, scale->nbytes, raw, err);
    for (uint64_t i = 0; ok && i < n; i++) {
        float v;
        if (scale->dtype == DS4_ST_F8_E8M0) v = ds4_e8m0_to_f32(raw[i]);
        else memcpy(&v, raw + 4 * i, 4);
        if (!isfinite(v)) ok = ds4_fail(err, "tensor '%s': non-finite scale at element %llu", scale->name, (unsigned long long)i);
        m->scale_f[i] = v;
    }
    free(raw);
    return ok;
}

void ds4_st_matrix_free(ds4_st_matrix *m) {
    free(m->scale_f);
    m->scale_f = NULL;
}

bool ds4_st_matrix_read(const ds4_st_matrix *m, int64_t r0, int64_t nr, void *raw, ds4_error *err) {
    return ds4_st_read(m->set, m->w, (uint64_t)r0 * m->raw_row_bytes, (size_t)((uint64_t)nr * m->raw_row_bytes), raw, err);
}

static void decode_plain(ds4_st_dtype dt, const uint8_t *src, float *dst, int64_t n) {
    switch (dt) {
    case DS4_ST_F32: memcpy(dst, src, (size_t)n * 4); break;
    case DS4_ST_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = ds4_f16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
        break;
    case DS4_ST_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = ds4_bf16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
        break;
    case DS4_ST_F64:
        for (int64_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    default: break;
    }
}

void ds4_st_matrix_decode(const ds4_st_matrix *m, const void *raw, int64_t r0, int64_t nr, float *dst) {
    const uint8_t *src = raw;
    for (int64_t r = 0; r < nr; r++) {
        const uint8_t *row = src + (uint64_t)r * m->raw_row_bytes;
        float *out = dst + r * m->cols;
        int64_t gr = r0 + r;
        if (m->enc == DS4_ENC_PLAIN) {
            decode_plain(m->w->dtype, row, out, m->cols);
        } else if (m->enc == DS4_ENC_FP8_BLOCK) {
            const float *sc = m->scale_f + (gr / 128) * m->scale_cols;
            for (int64_t c = 0; c < m->cols; c++) out[c] = e4m3_table[row[c]] * sc[c / 128];
        } else {
            const float *sc = m->scale_f + gr * m->scale_cols;
            for (int64_t j = 0; j < m->cols / 2; j++) {
                float s = sc[(2 * j) / 32];
                out[2 * j] = ds4_fp4_e2m1[row[j] & 15] * s;
                out[2 * j + 1] = ds4_fp4_e2m1[row[j] >> 4] * s;
            }
        }
    }
}

bool ds4_st_read_i32(const ds4_st_set *s, const ds4_st_tensor *t, int32_t *dst, ds4_error *err) {
    uint64_t n = ds4_st_numel(t);
    if (t->dtype == DS4_ST_I32) {
        if (!ds4_st_read(s, t, 0, t->nbytes, dst, err)) return false;
        return true;
    }
    if (t->dtype != DS4_ST_I64)
        return ds4_fail(err, "tensor '%s': dtype %s, expected I32 or I64 (wrong dtype)", t->name, ds4_st_dtype_name(t->dtype));
    int64_t *tmp = malloc(t->nbytes ? t->nbytes : 1);
    if (!tmp) return ds4_fail(err, "tensor '%s': cannot allocate %llu bytes", t->name, (unsigned long long)t->nbytes);
    bool ok = ds4_st_read(s, t, 0, t->nbytes, tmp, err);
    for (uint64_t i = 0; ok && i < n; i++) {
        if (tmp[i] < INT32_MIN || tmp[i] > INT32_MAX)
            ok = ds4_fail(err, "tensor '%s': element %llu = %lld does not fit in I32", t->name, (unsigned long long)i,
                          (long long)tmp[i]);
        dst[i] = (int32_t)tmp[i];
    }
    free(tmp);
    return ok;
}
