/* libFuzzer target for the converter's untrusted inputs: the input is read
 * as a safetensors image (u64 header length, JSON header, data) and, in the
 * same run, as a legacy imatrix .dat file. Accepted headers must describe
 * tensors that lie inside the data and have consistent sizes; every tensor
 * is then checked as a weight (with its .scale when one exists). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/imatrix.h"
#include "convert/safetensors.h"
#include "convert/st_decode.h"

#define CHECK(c)                                                                        \
    do {                                                                                \
        if (!(c)) {                                                                     \
            fprintf(stderr, "fuzz_safetensors: invariant failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

static void as_safetensors(const uint8_t *d, size_t n) {
    if (n < 8) return;
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = len << 8 | d[i];
    if (len > n - 8) return;
    uint64_t data_size = n - 8 - len;
    ds4_st_set *s = ds4_st_new_empty();
    ds4_error err;
    if (ds4_st_parse_header(s, (const char *)d + 8, (size_t)len, 8 + len, data_size, 0, "fuzz", &err) &&
        ds4_st_finish(s, &err)) {
        for (size_t i = 0; i < ds4_st_count(s); i++) {
            const ds4_st_tensor *t = ds4_st_at(s, i);
            CHECK(t->offset >= 8 + len);
            CHECK(t->offset - 8 - len + t->nbytes <= data_size);
            CHECK(t->nbytes == ds4_st_numel(t) * ds4_st_dtype_size(t->dtype));
            CHECK(ds4_st_find(s, t->name) == t);
            char sn[512];
            snprintf(sn, sizeof sn, "%.500s.scale", t->name);
            int64_t rows, cols;
            if (ds4_st_matrix_check(t, ds4_st_find(s, sn), &rows, &cols, &err)) CHECK(rows >= 0 && cols >= 0);
        }
    }
    ds4_st_close(s);
}

static void as_imatrix(const uint8_t *d, size_t n) {
    ds4_imatrix im;
    ds4_error err;
    if (!ds4_imatrix_parse(d, n, "fuzz", &im, &err)) return;
    CHECK(im.n >= 1);
    for (int64_t i = 0; i < im.n; i++) {
        CHECK(im.e[i].nval >= 1);
        const float *v;
        if (ds4_imatrix_lookup(&im, im.e[i].name, NULL, 0, 2, im.e[i].nval, &v, &err)) CHECK(v != NULL);
    }
    ds4_imatrix_free(&im);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    as_safetensors(d, n);
    as_imatrix(d, n);
    return 0;
}
