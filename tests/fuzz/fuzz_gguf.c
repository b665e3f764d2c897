/* libFuzzer target for the GGUF reader: parses the input with
 * gguf_open_memory and, when it is accepted, walks every metadata value
 * (nested arrays included), calls every getter on every key and touches the
 * first and last byte of every tensor, checking the reader's invariants.
 * libFuzzer hands us an exactly-sized heap copy, so ASan flags any read
 * outside the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/types.h"

static volatile uint64_t sink;

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "fuzz_gguf: invariant failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                               \
        }                                                                          \
    } while (0)

static void walk(gguf_val v, int depth) {
    CHECK(depth <= GGUF_MAX_ARRAY_NESTING);
    uint64_t u;
    int64_t s;
    double d;
    gguf_str str;
    if (gguf_val_u64(v, &u)) sink += u;
    if (gguf_val_i64(v, &s)) sink += (uint64_t)s;
    if (gguf_val_f64(v, &d)) sink += (uint64_t)(d == d);
    if (gguf_val_str(v, &str) && str.len) sink += (uint8_t)str.ptr[0] + (uint8_t)str.ptr[str.len - 1];
    gguf_vtype et;
    uint64_t n;
    if (!gguf_val_arr_info(v, &et, &n)) return;
    gguf_val e = {GGUF_VT_INVALID, NULL, 0};
    for (uint64_t i = 0; i < n; i++) {
        e = i ? gguf_val_next(e) : gguf_val_arr_elem(v, 0);
        CHECK(e.type == et);
        walk(e, depth + 1);
    }
    if (n) CHECK(gguf_val_arr_elem(v, n - 1).ptr == e.ptr);
    CHECK(gguf_val_arr_elem(v, n).type == GGUF_VT_INVALID);
}

static void getters(const gguf_file *f, const char *key) {
    uint32_t u32;
    int32_t i32;
    uint64_t u64, n;
    float f32;
    bool b;
    gguf_str s;
    double d;
    gguf_vtype et;
    const void *data;
    ds4_error err;
    sink += gguf_get_u32(f, key, &u32, &err) + gguf_get_i32(f, key, &i32, &err) + gguf_get_u64(f, key, &u64, &err) +
            gguf_get_f32(f, key, &f32, &err) + gguf_get_bool(f, key, &b, &err) + gguf_get_str(f, key, &s, &err) +
            gguf_get_number(f, key, &d, &err);
    if (gguf_get_arr(f, key, &et, &n, &data, &err) && n) {
        uint64_t idx[3] = {0, n / 2, n - 1};
        for (int k = 0; k < 3; k++) {
            if (gguf_get_arr_str(f, key, idx[k], &s, &err) && s.len) sink += (uint8_t)s.ptr[s.len - 1];
            if (gguf_get_arr_number(f, key, idx[k], &d, &err)) sink += (uint64_t)(d == d);
        }
        CHECK(!gguf_get_arr_str(f, key, n, &s, &err));
        CHECK(!gguf_get_arr_number(f, key, n, &d, &err));
        if (data) sink += ((const uint8_t *)data)[n * gguf_vtype_size(et) - 1];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size) {
    ds4_error err;
    err.msg[0] = 0;
    gguf_file *f = gguf_open_memory(buf, size, &err);
    if (!f) {
        CHECK(err.msg[0] != 0); /* every rejection explains itself */
        return 0;
    }
    CHECK(gguf_alignment(f) != 0);
    CHECK(gguf_data_offset(f) % gguf_alignment(f) == 0);
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        gguf_str k = gguf_kv_key(f, i);
        gguf_val v = gguf_kv_val(f, i);
        CHECK(v.type == gguf_kv_type(f, i) && v.type != GGUF_VT_INVALID);
        CHECK(v.ptr >= buf && v.ptr + v.nbytes <= buf + size);
        walk(v, 0);
        if (k.len < 256 && !memchr(k.ptr, 0, k.len)) {
            char key[256];
            memcpy(key, k.ptr, k.len);
            key[k.len] = 0;
            CHECK(gguf_find_key(f, key) == i);
            getters(f, key);
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        CHECK(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS);
        CHECK(ds4_type_known(t->type));
        CHECK(t->offset % gguf_alignment(f) == 0);
        CHECK(gguf_find_tensor(f, t->cname) == t);
        const uint8_t *p = t->data;
        CHECK(p >= buf + gguf_data_offset(f) && t->nbytes <= (uint64_t)(buf + size - p));
        if (t->nbytes) sink += p[0] + p[t->nbytes - 1];
    }
    CHECK(gguf_tensor_at(f, gguf_n_tensors(f)) == NULL);
    gguf_close(f);
    return 0;
}
