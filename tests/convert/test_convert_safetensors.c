/* safetensors reader and decoders on hand-built files: special FP8/E8M0/FP4
 * values, the ceil form of 128x128 scales for shapes that are not multiples
 * of 128 on either axis, and header validation errors. */
#include "convert_util.h"

#include "convert/st_decode.h"

Test(convert_st, primitive_values) {
    cr_assert_eq(ds4_e4m3_to_f32(0x7E), 448.0f);
    cr_assert_eq(ds4_e4m3_to_f32(0xFE), -448.0f);
    cr_assert_eq(ds4_e4m3_to_f32(0x01), 1.0f / 512.0f);
    cr_assert_eq(ds4_e4m3_to_f32(0x07), 7.0f / 512.0f);
    cr_assert_eq(ds4_e4m3_to_f32(0x08), 1.0f / 64.0f);
    cr_assert_eq(ds4_e4m3_to_f32(0x38), 1.0f);
    cr_assert_eq(ds4_e4m3_to_f32(0x7F), 0.0f);
    cr_assert_eq(ds4_f32_bits(ds4_e4m3_to_f32(0x80)), 0x80000000u);
    for (int b = 0; b < 256; b++)
        cr_assert_eq(ds4_f32_bits(ds4_e4m3_to_f32((uint8_t)b)), ds4_f32_bits(cu_e4m3((uint8_t)b)), "e4m3 %02x", b);
    cr_assert_eq(ds4_e8m0_to_f32(127), 1.0f);
    cr_assert_eq(ds4_e8m0_to_f32(130), 8.0f);
    cr_assert_eq(ds4_e8m0_to_f32(1), ldexpf(1.0f, -126));
    cr_assert_eq(ds4_e8m0_to_f32(0), ldexpf(1.0f, -127));
    for (int b = 0; b < 255; b++) cr_assert_eq(ds4_e8m0_to_f32((uint8_t)b), cu_e8m0((uint8_t)b), "e8m0 %d", b);
    for (int n = 0; n < 16; n++) cr_assert_eq(ds4_f32_bits(ds4_fp4_e2m1[n]), ds4_f32_bits(cu_e2m1((uint8_t)n)), "fp4 %d", n);
    cr_assert_eq(ds4_fp4_e2m1[7], 6.0f);
    cr_assert_eq(ds4_fp4_e2m1[9], -0.5f);
}

/* Writes a safetensors file: header JSON (padded to 8) + data. */
static void write_st(const char *path, const char *json, const uint8_t *data, size_t n) {
    size_t hl = strlen(json), pad = (8 - hl % 8) % 8;
    uint64_t len = hl + pad;
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    for (int i = 0; i < 8; i++) fputc((int)(len >> (8 * i)) & 255, f);
    fwrite(json, 1, hl, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fwrite(data, 1, n, f);
    fclose(f);
}

Test(convert_st, block_scales_ceil_form_and_fp4) {
    char dir[512], path[700];
    cu_tmpdir(dir, sizeof dir, "convert-st");
    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    /* FP8 [130, 200] with scale [2, 2]; FP4 [3, 64 values] with scale [3, 2]. */
    enum { R = 130, C = 200, FR = 3, FC = 64 };
    size_t n8 = R * C, n4 = FR * FC / 2;
    uint8_t *d = malloc(n8 + 4 + n4 + FR * 2);
    uint32_t x = 12345;
    for (size_t i = 0; i < n8 + n4; i++) {
        x = x * 1103515245u + 12345u;
        d[i < n8 ? i : i + 4] = (uint8_t)(x >> 16);
    }
    const uint8_t sc8[4] = {120, 127, 131, 100};
    memcpy(d + n8, sc8, 4);
    const uint8_t sc4[6] = {126, 127, 128, 129, 90, 140};
    memcpy(d + n8 + 4 + n4, sc4, 6);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"w.weight\":{\"dtype\":\"F8_E4M3\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]},"
             "\"w.scale\":{\"dtype\":\"F8_E8M0\",\"shape\":[2,2],\"data_offsets\":[%zu,%zu]},"
             "\"e.weight\":{\"dtype\":\"I8\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]},"
             "\"e.scale\":{\"dtype\":\"F8_E8M0\",\"shape\":[%d,2],\"data_offsets\":[%zu,%zu]}}",
             R, C, n8, n8, n8 + 4, FR, FC / 2, n8 + 4, n8 + 4 + n4, FR, n8 + 4 + n4, n8 + 4 + n4 + 6);
    write_st(path, json, d, n8 + 4 + n4 + 6);
    ds4_error err = {{0}};
    ds4_st_set *s = ds4_st_open_file(path, &err);
    cr_assert_not_null(s, "%s", err.msg);
    const char *names[2][2] = {{"w.weight", "w.scale"}, {"e.weight", "e.scale"}};
    for (int k = 0; k < 2; k++) {
        const ds4_st_tensor *w = ds4_st_find(s, names[k][0]), *sc = ds4_st_find(s, names[k][1]);
        ds4_st_matrix m;
        cr_assert(ds4_st_matrix_init(&m, s, w, sc, &err), "%s", err.msg);
        int64_t n;
        float *ref = cu_decode(s, w, sc, &n);
        cr_assert_eq(n, m.rows * m.cols);
        uint8_t *raw = malloc(m.rows * m.raw_row_bytes);
        float *got = malloc((size_t)n * sizeof(float));
        /* Decode in two uneven pieces: the scale row follows the global row. */
        cr_assert(ds4_st_matrix_read(&m, 0, m.rows, raw, &err), "%s", err.msg);
        int64_t split = m.rows / 2 + 1;
        ds4_st_matrix_decode(&m, raw, 0, split, got);
        ds4_st_matrix_decode(&m, raw + split * m.raw_row_bytes, split, m.rows - split, got + split * m.cols);
        for (int64_t i = 0; i < n; i++)
            cr_assert_eq(ds4_f32_bits(got[i]), ds4_f32_bits(ref[i]), "%s element %lld (row %lld col %lld)", w->name,
                         (long long)i, (long long)(i / m.cols), (long long)(i % m.cols));
        free(raw);
        free(got);
        free(ref);
        ds4_st_matrix_free(&m);
    }
    ds4_st_close(s);
    free(d);
    cu_rmdir(dir);
}

static void expect_header_error(const char *json, uint64_t data_size, const char *want) {
    ds4_st_set *s = ds4_st_new_empty();
    ds4_error err = {{0}};
    bool ok = ds4_st_parse_header(s, json, strlen(json), 8 + strlen(json), data_size, 0, "hdr", &err) &&
              ds4_st_finish(s, &err);
    cr_assert_not(ok, "accepted: %s", json);
    cr_assert(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
    ds4_st_close(s);
}

Test(convert_st, header_errors_name_the_tensor) {
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 64, "overlap");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", 64, "tensor 'a'");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 10, "past the end");
    expect_header_error("{\"a\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,16]}}", 64, "unknown dtype");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 64, "shape[0]");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", 64,
                        "overflows");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", 64, "data_offsets");
    expect_header_error("[1,2]", 64, "not a JSON object");
    expect_header_error("{\"a\":", 64, "malformed");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 64, "malformed");
}
