/* Loading the ggml reference vectors (shared/testdata/quant, see its
 * README.md) for the quant tests. Header-only: each test file includes it. */
#ifndef DS4_TESTS_QUANT_TESTDATA_H
#define DS4_TESTS_QUANT_TESTDATA_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

typedef struct {
    char type_name[16];
    uint32_t type;
    bool importance;
    char quantized[64], dequantized[64];
    size_t row_bytes;
    double rel_rmse;
} qcase;

typedef struct {
    int rows, cols;
    int n_cases;
    qcase cases[16];
} qmanifest;

static inline const char *qt_dir(void) {
    static char dir[512];
    const char *s = getenv("DS4_SHARED");
    snprintf(dir, sizeof dir, "%s/testdata/quant", s ? s : "../shared");
    return dir;
}

/* Reads a whole file; asserts its size when want > 0. */
static inline void *qt_read(const char *name, size_t want, size_t *size_out) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", qt_dir(), name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (set DS4_SHARED)", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)sz + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)sz, f), (size_t)sz, "short read of %s", path);
    fclose(f);
    if (want) cr_assert_eq((size_t)sz, want, "%s: %ld bytes, expected %zu", path, sz, want);
    if (size_out) *size_out = (size_t)sz;
    return buf;
}

static inline qmanifest qt_manifest(void) {
    qmanifest m = {0};
    char path[700];
    snprintf(path, sizeof path, "%s/manifest.json", qt_dir());
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    cr_assert_not_null(root, "%s: %s", path, jerr.text);
    m.rows = (int)json_integer_value(json_object_get(root, "rows"));
    m.cols = (int)json_integer_value(json_object_get(root, "cols"));
    json_t *cases = json_object_get(root, "cases");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        cr_assert_lt(m.n_cases, 16);
        qcase *q = &m.cases[m.n_cases++];
        snprintf(q->type_name, sizeof q->type_name, "%s", json_string_value(json_object_get(c, "type")));
        cr_assert(ds4_type_from_name(q->type_name, &q->type), "unknown type %s", q->type_name);
        q->importance = json_is_true(json_object_get(c, "importance"));
        snprintf(q->quantized, sizeof q->quantized, "%s", json_string_value(json_object_get(c, "quantized")));
        snprintf(q->dequantized, sizeof q->dequantized, "%s", json_string_value(json_object_get(c, "dequantized")));
        q->row_bytes = (size_t)json_integer_value(json_object_get(c, "row_bytes"));
        q->rel_rmse = json_number_value(json_object_get(c, "rel_rmse"));
    }
    json_decref(root);
    cr_assert_eq(m.rows, 8);
    cr_assert_eq(m.cols, 4096);
    cr_assert_geq(m.n_cases, 8);
    return m;
}

/* Deterministic pseudo-random numbers (xorshift64*), N(0,1) by Box-Muller. */
static inline uint64_t qt_rand_u64(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}
static inline double qt_uniform(uint64_t *s) { return ((qt_rand_u64(s) >> 11) + 0.5) / 9007199254740992.0; }
static inline float qt_gauss(uint64_t *s) {
    double u = qt_uniform(s), v = qt_uniform(s);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

#endif
