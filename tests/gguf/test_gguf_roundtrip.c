/* Writer -> reader round trip: metadata of every settable type, tensors of
 * several types/ranks written in pieces, layout rules of formats.md A.5/A.8
 * (cumulative padded offsets, padding after every tensor, file ends aligned),
 * and the writer's error paths (temp file removed, target untouched). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/types.h"

static char dir[64];

static void mkdir_tmp(void) {
    strcpy(dir, "/tmp/ds4-gguf-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static char *path_in(const char *name) {
    static char buf[4][256];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

TestSuite(gguf_roundtrip, .init = mkdir_tmp, .fini = rm_tmp);

typedef struct {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[4];
} spec;

static const spec specs[] = {
    {"a.f32", DS4_TYPE_F32, 2, {5, 3}},
    {"blk.0.attn_q_a.weight", DS4_TYPE_Q8_0, 2, {64, 3}},
    {"empty", DS4_TYPE_F16, 1, {0}},
    {"tid2eid", DS4_TYPE_I32, 2, {6, 7}},
    {"exps", DS4_TYPE_Q4_K, 3, {256, 2, 3}},
    {"last.bf16", DS4_TYPE_BF16, 1, {7}},
};
#define N_SPECS (sizeof specs / sizeof specs[0])

static uint64_t spec_bytes(const spec *s) {
    uint64_t rows = 1;
    for (uint32_t d = 1; d < s->n_dims; d++) rows *= s->ne[d];
    return ds4_row_bytes(s->type, s->ne[0]) * rows;
}

static uint8_t pattern(size_t t, uint64_t i) { return (uint8_t)(i * 31 + t * 7 + 1); }

static void write_file(const char *path, uint32_t alignment) {
    ds4_error err = {{0}};
    gguf_writer *w = gguf_writer_open(path, alignment, &err);
    cr_assert_not_null(w, "%s", err.msg);
    gguf_writer_set_str(w, "general.architecture", "deepseek4");
    gguf_writer_set_u32(w, "deepseek4.block_count", 43);
    gguf_writer_set_i32(w, "some.i32", -7);
    gguf_writer_set_u64(w, "quantize.imatrix.entries_count", 129);
    gguf_writer_set_f32(w, "deepseek4.expert_weights_scale", 1.5f);
    gguf_writer_set_bool(w, "deepseek4.expert_weights_norm", true);
    gguf_writer_set_strn(w, "with.nul", "a\0b", 3);
    int32_t ratios[6] = {0, 0, 4, 128, 4, 0};
    gguf_writer_set_arr(w, "deepseek4.attention.compress_ratios", GGUF_VT_INT32, ratios, 6);
    float clamp[3] = {10.0f, 10.0f, -0.5f};
    gguf_writer_set_arr(w, "deepseek4.swiglu_clamp_exp", GGUF_VT_FLOAT32, clamp, 3);
    const char *toks[4] = {"<｜begin▁of▁sentence｜>", "", "Ġthe", "x"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 4);
    gguf_writer_set_arr(w, "empty.arr", GGUF_VT_UINT8, NULL, 0);
    for (size_t t = 0; t < N_SPECS; t++)
        cr_assert(gguf_writer_add_tensor(w, specs[t].name, specs[t].n_dims, specs[t].ne, specs[t].type, &err), "%s",
                  err.msg);
    /* Stream each tensor in uneven pieces (1, 7, then the rest). */
    for (size_t t = 0; t < N_SPECS; t++) {
        uint64_t n = spec_bytes(&specs[t]);
        uint8_t *buf = malloc(n + 1);
        for (uint64_t i = 0; i < n; i++) buf[i] = pattern(t, i);
        uint64_t done = 0;
        uint64_t pieces[3] = {1, 7, UINT64_MAX};
        for (int k = 0; k < 3 && done < n; k++) {
            uint64_t m = pieces[k] < n - done ? pieces[k] : n - done;
            cr_assert(gguf_writer_write(w, buf + done, m, &err), "%s", err.msg);
            done += m;
        }
        free(buf);
    }
    uint64_t planned = gguf_writer_planned_size(w);
    cr_assert(gguf_writer_finish(w, &err), "%s", err.msg);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq((uint64_t)st.st_size, planned);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cr_assert(!exists(tmp), "temp file left behind");
}

static void check_file(const char *path, uint32_t alignment) {
    ds4_error err = {{0}};
    gguf_file *f = gguf_open(path, &err);
    cr_assert_not_null(f, "%s", err.msg);
    cr_assert_eq(gguf_alignment(f), alignment);
    cr_assert_eq(gguf_file_size(f) % alignment, 0, "file must end on an alignment boundary");
    cr_assert_eq(gguf_data_offset(f) % alignment, 0);

    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f32;
    bool b;
    gguf_str s;
    double d;
    cr_assert(gguf_get_u32(f, "deepseek4.block_count", &u32, &err) && u32 == 43);
    cr_assert(gguf_get_i32(f, "some.i32", &i32, &err) && i32 == -7);
    cr_assert(gguf_get_u64(f, "quantize.imatrix.entries_count", &u64, &err) && u64 == 129);
    cr_assert(gguf_get_f32(f, "deepseek4.expert_weights_scale", &f32, &err) && f32 == 1.5f);
    cr_assert(gguf_get_bool(f, "deepseek4.expert_weights_norm", &b, &err) && b);
    cr_assert(gguf_get_str(f, "general.architecture", &s, &err));
    cr_assert(s.len == 9 && !memcmp(s.ptr, "deepseek4", 9));
    cr_assert(gguf_get_str(f, "with.nul", &s, &err) && s.len == 3 && !memcmp(s.ptr, "a\0b", 3));
    cr_assert(gguf_get_number(f, "deepseek4.block_count", &d, &err) && d == 43.0);
    cr_assert(gguf_get_number(f, "some.i32", &d, &err) && d == -7.0);

    gguf_vtype et;
    uint64_t n;
    const void *data;
    cr_assert(gguf_get_arr(f, "deepseek4.attention.compress_ratios", &et, &n, &data, &err));
    cr_assert(et == GGUF_VT_INT32 && n == 6 && data);
    int32_t r[6];
    memcpy(r, data, sizeof r);
    cr_assert(r[3] == 128 && r[5] == 0);
    cr_assert(gguf_get_arr_number(f, "deepseek4.attention.compress_ratios", 2, &d, &err) && d == 4.0);
    cr_assert(gguf_get_arr_number(f, "deepseek4.swiglu_clamp_exp", 2, &d, &err) && d == -0.5);
    cr_assert(!gguf_get_arr_number(f, "deepseek4.swiglu_clamp_exp", 3, &d, &err));
    cr_assert(strstr(err.msg, "out of range"), "%s", err.msg);
    cr_assert(gguf_get_arr(f, "tokenizer.ggml.tokens", &et, &n, &data, &err));
    cr_assert(et == GGUF_VT_STRING && n == 4 && data == NULL);
    cr_assert(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 0, &s, &err));
    cr_assert(s.len == strlen("<｜begin▁of▁sentence｜>") && !memcmp(s.ptr, "<｜begin▁of▁sentence｜>", s.len));
    cr_assert(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 1, &s, &err) && s.len == 0);
    cr_assert(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 3, &s, &err) && s.len == 1 && s.ptr[0] == 'x');
    cr_assert(gguf_get_arr(f, "empty.arr", &et, &n, &data, &err) && et == GGUF_VT_UINT8 && n == 0);

    /* strict getters name the key and both types */
    cr_assert(!gguf_get_u32(f, "some.i32", &u32, &err));
    cr_assert(strstr(err.msg, "some.i32") && strstr(err.msg, "INT32") && strstr(err.msg, "UINT32"), "%s", err.msg);
    cr_assert(!gguf_get_u32(f, "no.such.key", &u32, &err));
    cr_assert(strstr(err.msg, "no.such.key") && strstr(err.msg, "missing"), "%s", err.msg);
    cr_assert(!gguf_get_arr_str(f, "deepseek4.swiglu_clamp_exp", 0, &s, &err));
    cr_assert(!gguf_get_number(f, "general.architecture", &d, &err));
    cr_assert(gguf_find_key(f, "nope") < 0);
    int64_t nkv = gguf_n_kv(f);
    cr_assert_eq(nkv, 11 + (alignment != GGUF_DEFAULT_ALIGNMENT));
    if (alignment != GGUF_DEFAULT_ALIGNMENT)
        cr_assert(gguf_get_u32(f, "general.alignment", &u32, &err) && u32 == alignment);

    cr_assert_eq(gguf_n_tensors(f), (int64_t)N_SPECS);
    uint64_t expect_off = 0;
    for (size_t t = 0; t < N_SPECS; t++) {
        const gguf_tensor *gt = gguf_tensor_at(f, (int64_t)t);
        cr_assert_not_null(gt);
        cr_assert_eq(gguf_find_tensor(f, specs[t].name), gt);
        cr_assert_str_eq(gt->cname, specs[t].name);
        cr_assert_eq(gt->type, specs[t].type);
        cr_assert_eq(gt->n_dims, specs[t].n_dims);
        for (uint32_t k = 0; k < GGUF_MAX_DIMS; k++)
            cr_assert_eq(gt->ne[k], k < specs[t].n_dims ? specs[t].ne[k] : 1);
        uint64_t nb = spec_bytes(&specs[t]);
        cr_assert_eq(gt->nbytes, nb);
        cr_assert_eq(gt->offset, expect_off, "tensor %zu offset %lu expected %lu", t, (unsigned long)gt->offset,
                     (unsigned long)expect_off);
        const uint8_t *p = gt->data;
        cr_assert_eq(p, (const uint8_t *)gguf_base(f) + gguf_data_offset(f) + gt->offset);
        for (uint64_t i = 0; i < nb; i++) cr_assert_eq(p[i], pattern(t, i), "tensor %zu byte %lu", t, (unsigned long)i);
        uint64_t padded = (nb + alignment - 1) / alignment * alignment;
        for (uint64_t i = nb; i < padded; i++) cr_assert_eq(p[i], 0, "padding after tensor %zu", t);
        expect_off += padded;
    }
    cr_assert_eq(gguf_data_offset(f) + expect_off, gguf_file_size(f));
    cr_assert_null(gguf_find_tensor(f, "a.f3"));
    cr_assert_null(gguf_tensor_at(f, (int64_t)N_SPECS));
    gguf_close(f);
}

Test(gguf_roundtrip, default_alignment) {
    const char *p = path_in("rt32.gguf");
    write_file(p, 0);
    check_file(p, 32);
}

Test(gguf_roundtrip, alignment_64_is_recorded) {
    const char *p = path_in("rt64.gguf");
    write_file(p, 64);
    check_file(p, 64);
}

/* GGUF_OPEN_READ reads the file into 2 MiB-aligned anonymous memory
 * instead of mapping it; everything must read back the same. */
Test(gguf_roundtrip, read_into_memory_reads_the_same) {
    const char *p = path_in("hp.gguf");
    write_file(p, 64);
    ds4_error err = {{0}};
    const gguf_open_opts ro = {GGUF_OPEN_READ, false};
    gguf_file *m = gguf_open(p, &err), *f = gguf_open_with(p, &ro, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_not_null(f, "%s", err.msg);
    cr_assert_not(gguf_is_copy(m));
    cr_assert(gguf_is_copy(f));
    cr_assert_eq((uintptr_t)gguf_base(f) % ((uintptr_t)2 << 20), 0, "copy is 2 MiB aligned");
    cr_assert_eq(gguf_file_size(f), gguf_file_size(m));
    cr_assert_eq(memcmp(gguf_base(f), gguf_base(m), gguf_file_size(m)), 0);
    cr_assert_eq(gguf_n_tensors(f), gguf_n_tensors(m));
    gguf_close(f);
    gguf_close(m);
    /* a truncated file is an error naming the file, in either mode */
    cr_assert_eq(truncate(p, 40), 0);
    cr_assert_null(gguf_open_with(p, &ro, &err));
    cr_assert(strstr(err.msg, "hp.gguf"), "%s", err.msg);
}

Test(gguf_roundtrip, memory_image_matches_file) {
    const char *p = path_in("mem.gguf");
    write_file(p, 32);
    FILE *fp = fopen(p, "rb");
    cr_assert_not_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    ds4_error err;
    gguf_file *f = gguf_open_memory(buf, (size_t)n, &err);
    cr_assert_not_null(f, "%s", err.msg);
    cr_assert_eq(gguf_n_tensors(f), (int64_t)N_SPECS);
    cr_assert_eq(gguf_n_kv(f), 11);
    cr_assert_str_eq(gguf_path(f), "<memory>");
    gguf_close(f);
    free(buf);
}

Test(gguf_roundtrip, copy_kv_from_template) {
    const char *a = path_in("tmpl.gguf"), *b = path_in("copy.gguf");
    write_file(a, 64);
    ds4_error err;
    gguf_file *src = gguf_open(a, &err);
    cr_assert_not_null(src, "%s", err.msg);
    gguf_writer *w = gguf_writer_open(b, 64, &err);
    cr_assert_not_null(w);
    for (int64_t i = 0; i < gguf_n_kv(src); i++) gguf_writer_copy_kv(w, src, i);
    cr_assert_eq(gguf_writer_n_kv(w), gguf_n_kv(src));
    cr_assert(gguf_writer_finish(w, &err), "%s", err.msg);
    gguf_file *dst = gguf_open(b, &err);
    cr_assert_not_null(dst, "%s", err.msg);
    cr_assert_eq(gguf_n_kv(dst), gguf_n_kv(src));
    for (int64_t i = 0; i < gguf_n_kv(src); i++) {
        gguf_str k = gguf_kv_key(src, i);
        char key[128];
        memcpy(key, k.ptr, k.len);
        key[k.len] = 0;
        int64_t j = gguf_find_key(dst, key);
        cr_assert(j >= 0, "key %s", key);
        gguf_val va = gguf_kv_val(src, i), vb = gguf_kv_val(dst, j);
        cr_assert_eq(va.type, vb.type);
        cr_assert_eq(va.nbytes, vb.nbytes);
        cr_assert(!memcmp(va.ptr, vb.ptr, va.nbytes));
    }
    cr_assert_eq(gguf_n_tensors(dst), 0);
    gguf_close(dst);
    gguf_close(src);
}

Test(gguf_roundtrip, writer_errors_remove_temp_file) {
    const char *p = path_in("bad.gguf");
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    ds4_error err;
    uint64_t ne[2] = {32, 2};
    uint8_t buf[200] = {0};

    /* crossing into the next tensor */
    gguf_writer *w = gguf_writer_open(p, 32, &err);
    cr_assert(gguf_writer_add_tensor(w, "t0", 1, ne, DS4_TYPE_F32, &err));
    cr_assert(gguf_writer_add_tensor(w, "t1", 1, ne, DS4_TYPE_F32, &err));
    cr_assert(exists(tmp));
    cr_assert(!gguf_writer_write(w, buf, 129, &err));
    cr_assert(strstr(err.msg, "crosses the end of tensor 't0'"), "%s", err.msg);
    cr_assert(!exists(tmp));
    gguf_writer_abort(w);
    cr_assert(!exists(p));

    /* incomplete tensor at finish */
    w = gguf_writer_open(p, 32, &err);
    cr_assert(gguf_writer_add_tensor(w, "t0", 2, ne, DS4_TYPE_F16, &err));
    cr_assert(gguf_writer_write(w, buf, 100, &err), "%s", err.msg);
    cr_assert(!gguf_writer_finish(w, &err));
    cr_assert(strstr(err.msg, "'t0' is incomplete: 100 of 128"), "%s", err.msg);
    cr_assert(!exists(tmp) && !exists(p));

    /* duplicate key is sticky and reported later */
    w = gguf_writer_open(p, 32, &err);
    gguf_writer_set_u32(w, "k", 1);
    gguf_writer_set_u32(w, "k", 2);
    cr_assert(!gguf_writer_add_tensor(w, "t0", 1, ne, DS4_TYPE_F32, &err));
    cr_assert(strstr(err.msg, "'k' set twice"), "%s", err.msg);
    cr_assert(!gguf_writer_finish(w, &err));
    cr_assert(!exists(tmp) && !exists(p));

    /* tensor-level validation */
    w = gguf_writer_open(p, 32, &err);
    cr_assert(gguf_writer_add_tensor(w, "t0", 1, ne, DS4_TYPE_F32, &err));
    cr_assert(!gguf_writer_add_tensor(w, "t0", 1, ne, DS4_TYPE_F32, &err));
    cr_assert(strstr(err.msg, "declared twice"), "%s", err.msg);
    cr_assert(!gguf_writer_add_tensor(w, "q", 1, ne, DS4_TYPE_Q4_K, &err));
    cr_assert(strstr(err.msg, "not a multiple of the Q4_K block size 256"), "%s", err.msg);
    cr_assert(!gguf_writer_add_tensor(w, "u", 1, ne, 4, &err));
    cr_assert(strstr(err.msg, "unknown ggml type id 4"), "%s", err.msg);
    cr_assert(!gguf_writer_add_tensor(w, "d", 9, ne, DS4_TYPE_F32, &err));
    cr_assert(!gguf_writer_add_tensor(w, "0123456789012345678901234567890123456789012345678901234567890123", 1, ne,
                                      DS4_TYPE_F32, &err));
    gguf_writer_set_u32(w, "general.alignment", 64);
    cr_assert(!gguf_writer_write(w, buf, 4, &err));
    cr_assert(strstr(err.msg, "general.alignment 64 differs"), "%s", err.msg);
    gguf_writer_abort(w);
    cr_assert(!exists(tmp) && !exists(p));

    /* an existing target survives a failed rewrite */
    write_file(p, 32);
    w = gguf_writer_open(p, 32, &err);
    cr_assert(gguf_writer_add_tensor(w, "t0", 1, ne, DS4_TYPE_F32, &err));
    gguf_writer_abort(w);
    check_file(p, 32);
}

Test(gguf_roundtrip, no_tensors_and_zero_size_tensors) {
    const char *p = path_in("z.gguf");
    ds4_error err;
    gguf_writer *w = gguf_writer_open(p, 32, &err);
    uint64_t ne[1] = {0};
    cr_assert(gguf_writer_add_tensor(w, "z0", 1, ne, DS4_TYPE_F32, &err));
    cr_assert(gguf_writer_add_tensor(w, "z1", 1, ne, DS4_TYPE_Q8_0, &err));
    cr_assert(gguf_writer_finish(w, &err), "%s", err.msg);
    gguf_file *f = gguf_open(p, &err);
    cr_assert_not_null(f, "%s", err.msg);
    cr_assert_eq(gguf_n_tensors(f), 2);
    cr_assert_eq(gguf_tensor_at(f, 1)->nbytes, 0);
    cr_assert_eq(gguf_tensor_at(f, 1)->offset, 0);
    cr_assert_eq(gguf_file_size(f), gguf_data_offset(f));
    gguf_close(f);
}

Test(gguf_types, table) {
    struct { uint32_t id; const char *name; uint32_t be, bb; } want[] = {
        {0, "F32", 1, 4},        {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},     {3, "Q4_1", 32, 20},
        {6, "Q5_0", 32, 22},     {7, "Q5_1", 32, 24},      {8, "Q8_0", 32, 34},     {9, "Q8_1", 32, 36},
        {10, "Q2_K", 256, 84},   {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},  {13, "Q5_K", 256, 176},
        {14, "Q6_K", 256, 210},  {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74},
        {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},  {20, "IQ4_NL", 32, 18},  {21, "IQ3_S", 256, 110},
        {22, "IQ2_S", 256, 82},  {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},        {25, "I16", 1, 2},
        {26, "I32", 1, 4},       {27, "I64", 1, 8},        {28, "F64", 1, 8},       {29, "IQ1_M", 256, 56},
        {30, "BF16", 1, 2},      {34, "TQ1_0", 256, 54},   {35, "TQ2_0", 256, 66},  {39, "MXFP4", 32, 17},
    };
    int known = 0;
    for (uint32_t id = 0; id < 64; id++) known += ds4_type_known(id);
    cr_assert_eq(known, (int)(sizeof want / sizeof want[0]));
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_assert(ds4_type_known(want[i].id));
        cr_assert_str_eq(ds4_type_name(want[i].id), want[i].name);
        cr_assert_eq(ds4_type_block_elems(want[i].id), want[i].be, "%s", want[i].name);
        cr_assert_eq(ds4_type_block_bytes(want[i].id), want[i].bb, "%s", want[i].name);
        uint32_t t;
        cr_assert(ds4_type_from_name(want[i].name, &t) && t == want[i].id);
    }
    uint32_t t;
    cr_assert(ds4_type_from_name("iq2_xxs", &t) && t == DS4_TYPE_IQ2_XXS);
    cr_assert(!ds4_type_from_name("Q8", &t));
    cr_assert(!ds4_type_known(4) && !ds4_type_known(5) && !ds4_type_known(31) && !ds4_type_known(40));
    cr_assert_str_eq(ds4_type_name(4), "?");
    cr_assert_eq(ds4_row_bytes(DS4_TYPE_Q4_K, 4096), 16 * 144);
    cr_assert_eq(ds4_row_bytes(DS4_TYPE_Q4_K, 100), 0);
    cr_assert_eq(ds4_row_bytes(DS4_TYPE_F32, UINT64_MAX / 2), 0); /* overflow */
    cr_assert_eq(ds4_row_bytes(31, 32), 0);
}
