/* Helpers shared by the converter tests: paths, scratch folders, a quiet
 * conversion call, and an independent decoder for the checkpoint encodings
 * (bit-level, written from formats.md D.3/D.4 without the converter's tables). */
#ifndef DS4_TEST_CONVERT_UTIL_H
#define DS4_TEST_CONVERT_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fp16.h"
#include "convert/convert.h"
#include "convert/safetensors.h"
#include "gguf/gguf.h"

static inline const char *cu_shared(void) {
    const char *s = getenv("DS4_SHARED");
    return s && *s ? s : "../shared";
}

static inline void cu_path(char *buf, size_t n, const char *rel) { snprintf(buf, n, "%s/%s", cu_shared(), rel); }

/* A fresh scratch folder under $DS4_BUILD (default build/). */
static inline void cu_tmpdir(char *buf, size_t n, const char *tag) {
    const char *b = getenv("DS4_BUILD");
    snprintf(buf, n, "%s/test-%s-XXXXXX", b && *b ? b : "build", tag);
    mkdir(b && *b ? b : "build", 0755);
    cr_assert_not_null(mkdtemp(buf), "mkdtemp %s", buf);
}

static inline void cu_rmdir(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Runs a conversion with warnings going to a scratch stream. */
static inline bool cu_convert(const char *hf, const char *out, const char *recipe, bool vocab_only, ds4_error *err) {
    ds4_convert_opts o;
    ds4_convert_opts_init(&o);
    o.hf_dir = hf;
    o.out_path = out;
    o.recipe = recipe;
    o.vocab_only = vocab_only;
    o.threads = 2;
    FILE *null = fopen("/dev/null", "w");
    o.log = null;
    o.table = null;
    bool ok = ds4_convert_run(&o, err);
    fclose(null);
    return ok;
}

/* A u32 metadata value that must be present. */
static inline uint32_t cu_u32(gguf_file *g, const char *k) {
    uint32_t v = 0;
    ds4_error err;
    cr_assert(gguf_get_u32(g, k, &v, &err), "%s", err.msg);
    return v;
}

/* ---- independent decoding ---- */

/* E4M3FN: normal numbers are rebuilt as binary32 bit patterns (exponent
 * rebias 7 -> 127, mantissa shifted into place); subnormals are m/512. */
static inline float cu_e4m3(uint8_t b) {
    uint32_t s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    if (e == 15 && m == 7) return 0.0f;
    if (e == 0) return s ? -(float)m / 512.0f : (float)m / 512.0f;
    return ds4_bits_f32(s << 31 | (e - 7 + 127) << 23 | m << 20);
}

static inline float cu_e8m0(uint8_t b) { return exp2f((float)b - 127.0f); }

/* E2M1: sign bit 3, exponent bits 2..1 (bias 1), mantissa bit 0. */
static inline float cu_e2m1(uint8_t n) {
    int s = n >> 3, e = (n >> 1) & 3, m = n & 1;
    float v = e == 0 ? 0.5f * (float)m : (1.0f + 0.5f * (float)m) * (float)(1 << (e - 1));
    return s ? -v : v;
}

/* Whole tensor t (with optional scale) decoded to binary32, row-major with
 * the logical width (FP4 unpacked). Caller frees. */
static inline float *cu_decode(const ds4_st_set *s, const ds4_st_tensor *t, const ds4_st_tensor *scale, int64_t *n_out) {
    uint8_t *raw = malloc(t->nbytes + 1);
    ds4_error err;
    cr_assert(ds4_st_read(s, t, 0, t->nbytes, raw, &err), "%s", err.msg);
    int64_t cols = t->n_dims ? t->shape[t->n_dims - 1] : 1, rows = 1;
    for (int i = 0; i + 1 < t->n_dims; i++) rows *= t->shape[i];
    uint8_t *sraw = NULL;
    if (scale) {
        sraw = malloc(scale->nbytes + 1);
        cr_assert(ds4_st_read(s, scale, 0, scale->nbytes, sraw, &err), "%s", err.msg);
    }
    int64_t lcols = t->dtype == DS4_ST_I8 ? 2 * cols : cols;
    float *out = malloc((size_t)(rows * lcols) * sizeof(float) + 4);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < lcols; c++) {
            float v = 0;
            switch (t->dtype) {
            case DS4_ST_F32: memcpy(&v, raw + 4 * (r * cols + c), 4); break;
            case DS4_ST_BF16: {
                uint16_t h;
                memcpy(&h, raw + 2 * (r * cols + c), 2);
                v = ds4_bits_f32((uint32_t)h << 16);
                break;
            }
            case DS4_ST_F8_E4M3: {
                int64_t sc = (int64_t)ceil((double)cols / 128.0);
                v = cu_e4m3(raw[r * cols + c]) * cu_e8m0(sraw[(r / 128) * sc + c / 128]);
                break;
            }
            case DS4_ST_I8: {
                uint8_t byte = raw[r * cols + c / 2];
                uint8_t nib = c % 2 ? byte >> 4 : byte & 15;
                v = cu_e2m1(nib) * cu_e8m0(sraw[r * (lcols / 32) + c / 32]);
                break;
            }
            default: cr_assert_fail("unexpected dtype %s in %s", ds4_st_dtype_name(t->dtype), t->name);
            }
            out[r * lcols + c] = v;
        }
    free(raw);
    free(sraw);
    *n_out = rows * lcols;
    return out;
}

#endif
