/* Reader hardening: every kind of malformed file is rejected with a message
 * naming the field and offset, never a crash (these tests also run under
 * ASan+UBSan). Images are built byte by byte with gguf_build.h. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/types.h"
#include "gguf_build.h"

/* Opens g from memory and expects failure with every string of want[] in the message. */
static void expect_fail(const gb *g, const char *const *want, int nwant) {
    ds4_error err = {{0}};
    gguf_file *f = gguf_open_memory(g->b, g->n, &err);
    if (f) gguf_close(f);
    cr_assert_null(f, "malformed image accepted (expected: %s)", want[0]);
    for (int i = 0; i < nwant; i++)
        cr_assert(strstr(err.msg, want[i]), "error message \"%s\" lacks \"%s\"", err.msg, want[i]);
}
#define EXPECT_FAIL(g, ...)                                                                  \
    do {                                                                                     \
        const char *w_[] = {__VA_ARGS__};                                                    \
        expect_fail((g), w_, (int)(sizeof w_ / sizeof w_[0]));                               \
    } while (0)

static gguf_file *open_ok(const gb *g) {
    ds4_error err = {{0}};
    gguf_file *f = gguf_open_memory(g->b, g->n, &err);
    cr_assert_not_null(f, "valid image rejected: %s", err.msg);
    return f;
}

Test(gguf_corrupt, valid_image_parses) {
    gb g = {0};
    gb_pos p = gb_valid(&g);
    gguf_file *f = open_ok(&g);
    cr_assert_eq(gguf_n_kv(f), GB_VALID_KV);
    cr_assert_eq(gguf_n_tensors(f), GB_VALID_TENSORS);
    cr_assert_eq(gguf_data_offset(f), p.data_start);
    const gguf_tensor *t = gguf_find_tensor(f, "t.i32");
    cr_assert(t && t->n_dims == 5 && t->nbytes == 12 && t->offset == 96);
    cr_assert_eq(((const uint8_t *)t->data)[0], 0x40);
    cr_assert_eq(gguf_find_tensor(f, "t.q8")->nbytes, 34);
    gguf_close(f);
    gb_free(&g);
}

Test(gguf_corrupt, nested_arrays_walk) {
    gb g = {0};
    gb_valid(&g);
    gguf_file *f = open_ok(&g);
    int64_t i = gguf_find_key(f, "test.nested");
    cr_assert(i >= 0);
    gguf_val v = gguf_kv_val(f, i);
    gguf_vtype et;
    uint64_t n;
    cr_assert(gguf_val_arr_info(v, &et, &n) && et == GGUF_VT_ARRAY && n == 2);
    const void *data;
    cr_assert(gguf_get_arr(f, "test.nested", &et, &n, &data, NULL) && data == NULL && n == 2);
    gguf_val a0 = gguf_val_arr_elem(v, 0), a1 = gguf_val_arr_elem(v, 1);
    cr_assert_eq(a0.type, GGUF_VT_ARRAY);
    cr_assert_eq(gguf_val_next(a0).ptr, a1.ptr);
    int64_t s;
    cr_assert(gguf_val_i64(gguf_val_arr_elem(a0, 0), &s) && s == -1);
    cr_assert(gguf_val_i64(gguf_val_arr_elem(a0, 1), &s) && s == 7);
    cr_assert_eq(gguf_val_arr_elem(a0, 2).type, GGUF_VT_INVALID);
    gguf_str str;
    cr_assert(gguf_val_str(gguf_val_arr_elem(a1, 0), &str) && str.len == 1 && str.ptr[0] == 'x');
    cr_assert_eq(gguf_val_arr_elem(v, 2).type, GGUF_VT_INVALID);
    cr_assert_eq(gguf_kv_val(f, 99).type, GGUF_VT_INVALID);
    cr_assert_eq(gguf_kv_type(f, -1), GGUF_VT_INVALID);
    gguf_close(f);
    gb_free(&g);
}

Test(gguf_corrupt, too_small) {
    uint8_t buf[32];
    gb g = {0};
    gb_valid(&g);
    memcpy(buf, g.b, 32);
    for (size_t n = 0; n < 32; n++) {
        ds4_error err;
        cr_assert_null(gguf_open_memory(buf, n, &err));
        cr_assert(strstr(err.msg, "too small"), "%zu: %s", n, err.msg);
    }
    gb_free(&g);
}

Test(gguf_corrupt, bad_magic) {
    gb g = {0};
    gb_valid(&g);
    g.b[0] = 'X';
    EXPECT_FAIL(&g, "bad magic at offset 0", "58 47 55 46");
    gb_free(&g);
}

Test(gguf_corrupt, bad_versions) {
    gb g = {0};
    gb_valid(&g);
    gb_set32(&g, 4, 1);
    EXPECT_FAIL(&g, "GGUF version 1", "not supported");
    gb_set32(&g, 4, 2);
    EXPECT_FAIL(&g, "GGUF version 2", "not supported");
    gb_set32(&g, 4, 4);
    EXPECT_FAIL(&g, "unsupported GGUF version 4");
    gb_set32(&g, 4, 0x03000000u);
    EXPECT_FAIL(&g, "big-endian");
    gb_free(&g);
}

Test(gguf_corrupt, huge_counts) {
    gb g = {0};
    gb_valid(&g);
    gb_set64(&g, 8, UINT64_MAX);
    EXPECT_FAIL(&g, "tensor_count 18446744073709551615 at offset 8");
    gb_set64(&g, 8, 3);
    gb_set64(&g, 16, 1ull << 62);
    EXPECT_FAIL(&g, "metadata_kv_count", "offset 16");
    /* plausible-looking but one too many: the parse runs into the tensor infos */
    gb_set64(&g, 16, 7);
    EXPECT_FAIL(&g, "offset");
    gb_free(&g);
}

Test(gguf_corrupt, huge_string_lengths) {
    gb g = {0};
    gb_pos p = gb_valid(&g);
    gb_set64(&g, p.key0_len, UINT64_MAX);
    EXPECT_FAIL(&g, "metadata record 0", "key length 18446744073709551615 at offset 24");
    gb_free(&g);
    p = gb_valid(&g);
    gb_set64(&g, p.str_val_len, 1ull << 40);
    EXPECT_FAIL(&g, "metadata key 0 'general.name'", "string length 1099511627776");
    gb_free(&g);
    p = gb_valid(&g);
    gb_set64(&g, p.t0_name_len, UINT64_MAX - 3);
    EXPECT_FAIL(&g, "tensor 0", "name length");
    gb_free(&g);
}

Test(gguf_corrupt, huge_array_counts) {
    gb g = {0};
    gb_pos p = gb_valid(&g);
    gb_set64(&g, p.arr_count, UINT64_MAX / 2);
    EXPECT_FAIL(&g, "'deepseek4.attention.compress_ratios'", "UINT32 elements");
    gb_free(&g);
    p = gb_valid(&g);
    gb_set64(&g, p.strarr_count, 1ull << 61);
    EXPECT_FAIL(&g, "'tokenizer.ggml.tokens'", "strings");
    gb_free(&g);
}

Test(gguf_corrupt, unknown_value_types) {
    gb g = {0};
    gb_pos p = gb_valid(&g);
    gb_set32(&g, p.nested_type, 13);
    EXPECT_FAIL(&g, "'test.nested'", "unknown value type 13");
    gb_set32(&g, p.nested_type, 0xffffffffu);
    EXPECT_FAIL(&g, "unknown value type 4294967295");
    gb_free(&g);
    p = gb_valid(&g);
    gb_set32(&g, p.arr_elem_type, 77);
    EXPECT_FAIL(&g, "unknown array element type 77");
    gb_free(&g);
}

Test(gguf_corrupt, invalid_bool) {
    gb g = {0};
    gb_pos p = gb_valid(&g);
    g.b[p.bool_val] = 2;
    EXPECT_FAIL(&g, "'deepseek4.expert_weights_norm'", "invalid BOOL value 2");
    gb_free(&g);
}

Test(gguf_corrupt, nesting_limit) {
    for (int depth = 1; depth <= GGUF_MAX_ARRAY_NESTING + 1; depth++) {
        gb g = {0};
        gb_header(&g, 3, 0, 1);
        gb_str(&g, "deep");
        gb_u32(&g, 9);
        for (int d = 1; d < depth; d++) {
            gb_u32(&g, 9);
            gb_u64(&g, 1);
        }
        gb_u32(&g, 0);
        gb_u64(&g, 1);
        gb_u8(&g, 42);
        gb_pad(&g, 32);
        ds4_error err;
        gguf_file *f = gguf_open_memory(g.b, g.n, &err);
        if (depth <= GGUF_MAX_ARRAY_NESTING) {
            cr_assert_not_null(f, "depth %d: %s", depth, err.msg);
            gguf_val v = gguf_kv_val(f, 0);
            for (int d = 1; d < depth; d++) v = gguf_val_arr_elem(v, 0);
            uint64_t u;
            cr_assert(gguf_val_u64(gguf_val_arr_elem(v, 0), &u) && u == 42);
            gguf_close(f);
        } else {
            cr_assert_null(f);
            cr_assert(strstr(err.msg, "nested more than"), "%s", err.msg);
        }
        gb_free(&g);
    }
}

Test(gguf_corrupt, n_dims_range) {
    gb g = {0};
    gb_pos p = gb_valid(&g);
    gb_set32(&g, p.t0_ndims, 0);
    EXPECT_FAIL(&g, "tensor 0 't.f32'", "n_dims 0", "out of range (1..8)");
    gb_set32(&g, p.t0_ndims, 9);
    EXPECT_FAIL(&g, "n_dims 9");
    gb_free(&g);

    /* 8 dims is accepted */
    gb_header(&g, 3, 1, 0);
    gb_str(&g, "eight");
    gb_u32(&g, 8);
    for (int d = 0; d < 8; d++) gb_u64(&g, d == 0 ? 2 : 1);
    gb_u32(&g, 0);
    gb_u64(&g, 0);
    gb_pad(&g, 32);
    gb_u64(&g, 0);
    gb_pad(&g, 32);
    gguf_file *f = open_ok(&g);
    cr_assert_eq(gguf_tensor_at(f, 0)->n_dims, 8);
    cr_assert_eq(gguf_tensor_at(f, 0)->nbytes, 8);
    gguf_close(f);
    gb_free(&g);
}

Test(gguf_corrupt, unknown_tensor_types) {
    uint32_t bad[] = {4, 5, 31, 32, 33, 36, 40, 1000, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gb g = {0};
        gb_pos p = gb_valid(&g);
        gb_set32(&g, p.t0_type, bad[i]);
        char want[64];
        snprintf(want, sizeof want, "unknown ggml type id %u", bad[i]);
        EXPECT_FAIL(&g, "tensor 0 't.f32'", want);
        gb_free(&g);
    }
}

Test(gguf_corrupt, block_multiple_and_overflow) {
    gb g = {0};
    gb_pos p = gb_valid(&g);
    gb_set32(&g, p.t0_type, DS4_TYPE_Q8_0); /* ne0 = 4 */
    EXPECT_FAIL(&g, "ne[0] = 4 is not a multiple of the Q8_0 block size 32");
    gb_free(&g);
    p = gb_valid(&g);
    gb_set64(&g, p.t0_ne0, 1ull << 63);
    EXPECT_FAIL(&g, "ne[0] = 9223372036854775808", "too large");
    gb_set64(&g, p.t0_ne0, 1ull << 40);
    gb_set64(&g, p.t0_ne0 + 8, 1ull << 40);
    EXPECT_FAIL(&g, "overflows");
    gb_set64(&g, p.t0_ne0, 1ull << 62); /* 2^62 F32 elements = 2^64 bytes */
    gb_set64(&g, p.t0_ne0 + 8, 1);
    EXPECT_FAIL(&g, "tensor 0 't.f32': byte size overflows");
    gb_free(&g);
}

Test(gguf_corrupt, misaligned_offset) {
    gb g = {0};
    gb_pos p = gb_valid(&g);
    gb_set64(&g, p.t1_offset, 40);
    EXPECT_FAIL(&g, "tensor 1 't.q8'", "offset 40 is not a multiple of the alignment 32");
    gb_free(&g);
}

Test(gguf_corrupt, tensor_past_eof) {
    gb g = {0};
    gb_pos p = gb_valid(&g);
    gb_set64(&g, p.t1_offset, 1u << 20);
    EXPECT_FAIL(&g, "tensor 1 't.q8': data extends past end of file", "offset 1048576", "size 34");
    gb_set64(&g, p.t1_offset, UINT64_MAX - 31);
    EXPECT_FAIL(&g, "data extends past end of file");
    gb_free(&g);
    p = gb_valid(&g);
    gb_set64(&g, p.t2_ne1, 1000);
    EXPECT_FAIL(&g, "tensor 2 't.i32': data extends past end of file", "size 12000");
    gb_free(&g);
}

Test(gguf_corrupt, duplicates) {
    gb g = {0};
    gb_header(&g, 3, 2, 0);
    for (int i = 0; i < 2; i++) {
        gb_str(&g, "same");
        gb_u32(&g, 1); gb_u64(&g, 1); gb_u32(&g, 0); gb_u64(&g, (uint64_t)i * 32);
    }
    gb_pad(&g, 32);
    gb_u32(&g, 0); gb_pad(&g, 32); gb_u32(&g, 0); gb_pad(&g, 32);
    EXPECT_FAIL(&g, "tensor 1 'same': duplicate name (same as tensor 0)");
    gb_free(&g);
    gb_header(&g, 3, 0, 2);
    gb_str(&g, "k"); gb_u32(&g, 0); gb_u8(&g, 1);
    gb_str(&g, "k"); gb_u32(&g, 0); gb_u8(&g, 2);
    gb_pad(&g, 32);
    EXPECT_FAIL(&g, "metadata key 1 'k' duplicates metadata key 0");
    gb_free(&g);
}

Test(gguf_corrupt, long_and_nul_names) {
    gb g = {0};
    gb_header(&g, 3, 1, 0);
    gb_str(&g, "0123456789012345678901234567890123456789012345678901234567890123"); /* 64 */
    gb_u32(&g, 1); gb_u64(&g, 1); gb_u32(&g, 0); gb_u64(&g, 0);
    gb_pad(&g, 32); gb_u32(&g, 0); gb_pad(&g, 32);
    EXPECT_FAIL(&g, "is 64 bytes long (at most 63 allowed)");
    gb_free(&g);
    gb_header(&g, 3, 1, 0);
    gb_u64(&g, 3); gb_put(&g, "a\0b", 3);
    gb_u32(&g, 1); gb_u64(&g, 1); gb_u32(&g, 0); gb_u64(&g, 0);
    gb_pad(&g, 32); gb_u32(&g, 0); gb_pad(&g, 32);
    EXPECT_FAIL(&g, "contains a NUL byte");
    gb_free(&g);
}

static gb alignment_image(uint32_t vtype, uint32_t value) {
    gb g = {0};
    gb_header(&g, 3, 2, 1);
    gb_str(&g, "general.alignment");
    gb_u32(&g, vtype);
    gb_u32(&g, value);
    gb_str(&g, "a"); gb_u32(&g, 1); gb_u64(&g, 1); gb_u32(&g, 0); gb_u64(&g, 0);
    gb_str(&g, "b"); gb_u32(&g, 1); gb_u64(&g, 1); gb_u32(&g, 0); gb_u64(&g, 64);
    gb_pad(&g, 64);
    for (int i = 0; i < 128; i++) gb_u8(&g, (uint8_t)i);
    return g;
}

Test(gguf_corrupt, alignment_key) {
    gb g = alignment_image(GGUF_VT_UINT32, 64);
    gguf_file *f = open_ok(&g);
    cr_assert_eq(gguf_alignment(f), 64);
    cr_assert_eq(gguf_data_offset(f) % 64, 0);
    gguf_close(f);
    gb_free(&g);
    /* zero or a non-UINT32 type fall back to 32 (b's offset 64 stays aligned) */
    uint32_t types[] = {GGUF_VT_UINT32, GGUF_VT_INT32, GGUF_VT_FLOAT32};
    uint32_t values[] = {0, 64, 64};
    for (int i = 0; i < 3; i++) {
        g = alignment_image(types[i], values[i]);
        f = open_ok(&g);
        cr_assert_eq(gguf_alignment(f), 32, "case %d", i);
        gguf_close(f);
        gb_free(&g);
    }
    /* alignment 128 makes offset 64 misaligned */
    g = alignment_image(GGUF_VT_UINT32, 128);
    EXPECT_FAIL(&g, "tensor 1 'b'", "not a multiple of the alignment 128");
    gb_free(&g);
}

/* Every prefix that cuts into the header or the tensor data must be rejected;
 * prefixes that only lose trailing padding are still valid. */
Test(gguf_corrupt, truncate_everywhere) {
    gb g = {0};
    gb_pos p = gb_valid(&g);
    for (size_t n = 0; n <= g.n; n++) {
        ds4_error err = {{0}};
        gguf_file *f = gguf_open_memory(g.b, n, &err);
        if (n < p.data_end) {
            cr_assert_null(f, "prefix of %zu bytes accepted", n);
            cr_assert(err.msg[0], "no message for prefix %zu", n);
        } else {
            cr_assert_not_null(f, "prefix of %zu bytes rejected: %s", n, err.msg);
            gguf_close(f);
        }
    }
    gb_free(&g);
}

/* Deterministic mini-fuzz (the libFuzzer target explores far more): byte
 * mutations of the valid image never crash, and accepted images have
 * tensors inside the buffer. */
Test(gguf_corrupt, random_mutations) {
    gb g = {0};
    gb_valid(&g);
    uint8_t *buf = malloc(g.n);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    int iters = getenv("DS4_TEST_LIGHT") ? 3000 : 20000;
    for (int it = 0; it < iters; it++) {
        memcpy(buf, g.b, g.n);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            size_t at = (size_t)(s % g.n);
            uint8_t vals[] = {0, 0xff, 0x80, 0x7f, 1, (uint8_t)(s >> 32)};
            buf[at] = vals[(s >> 40) % 6];
        }
        ds4_error err;
        gguf_file *f = gguf_open_memory(buf, g.n, &err);
        if (!f) continue;
        for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
            const gguf_tensor *t = gguf_tensor_at(f, i);
            cr_assert((const uint8_t *)t->data + t->nbytes <= buf + g.n);
        }
        gguf_close(f);
    }
    free(buf);
    gb_free(&g);
}

Test(gguf_corrupt, open_errors_name_the_file) {
    ds4_error err;
    cr_assert_null(gguf_open("/nonexistent/x.gguf", &err));
    cr_assert(strstr(err.msg, "/nonexistent/x.gguf: cannot open"), "%s", err.msg);
    cr_assert_null(gguf_open("/tmp", &err));
    cr_assert(strstr(err.msg, "not a regular file"), "%s", err.msg);
    char path[] = "/tmp/ds4-gguf-corrupt-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    gb g = {0};
    gb_pos p = gb_valid(&g);
    cr_assert_eq(write(fd, g.b, p.data_end - 1), (ssize_t)(p.data_end - 1));
    close(fd);
    cr_assert_null(gguf_open(path, &err));
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "tensor 2 't.i32': data extends past end of file"), "%s",
              err.msg);
    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, g.b, 20), 20);
    close(fd);
    cr_assert_null(gguf_open(path, &err));
    cr_assert(strstr(err.msg, "too small"), "%s", err.msg);
    unlink(path);
    gb_free(&g);
}
