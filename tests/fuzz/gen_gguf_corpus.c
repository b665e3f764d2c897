/* Generates the GGUF seed corpus in tests/fuzz/corpus/gguf/: small valid files
 * (written with the real writer, or byte by byte where the writer cannot
 * express the layout, e.g. nested arrays) and one corrupted file per kind of
 * damage the reader must reject. The files are committed; the integration
 * test tests/integration/inspect.sh checks `ds4 inspect` against them.
 * Deterministic: rerunning reproduces the same bytes.
 *
 *   make build/libds4.a && cc -std=c11 -D_GNU_SOURCE -Isrc -Itests/gguf \
 *     tests/fuzz/gen_gguf_corpus.c build/libds4.a -lm -lpthread -o build/gen_gguf_corpus \
 *     && build/gen_gguf_corpus tests/fuzz/corpus/gguf
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/types.h"
#include "gguf_build.h"

static const char *dir;

static void save(const char *name, const void *p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "gen_gguf_corpus: cannot write %s\n", path);
        exit(1);
    }
}

static uint8_t *slurp(const char *name, size_t *n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) exit(1);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    if (fread(b, 1, *n, f) != *n) exit(1);
    fclose(f);
    return b;
}

static void check(bool ok, const ds4_error *err) {
    if (!ok) {
        fprintf(stderr, "gen_gguf_corpus: %s\n", err->msg);
        exit(1);
    }
}

/* A miniature DS4-shaped file: one tensor of every type Flash uses. */
static void write_tiny(const char *name, uint32_t alignment) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ds4_error err;
    gguf_writer *w = gguf_writer_open(path, alignment, &err);
    check(w != NULL, &err);
    gguf_writer_set_str(w, "general.architecture", "deepseek4");
    gguf_writer_set_str(w, "general.name", "corpus tiny");
    gguf_writer_set_u32(w, "general.quantization_version", 2);
    gguf_writer_set_u32(w, "deepseek4.block_count", 2);
    gguf_writer_set_u64(w, "deepseek4.context_length", 4096);
    gguf_writer_set_f32(w, "deepseek4.expert_weights_scale", 1.5f);
    gguf_writer_set_bool(w, "deepseek4.expert_weights_norm", true);
    gguf_writer_set_i32(w, "test.negative", -12345);
    int32_t ratios[3] = {0, 4, 0};
    gguf_writer_set_arr(w, "deepseek4.attention.compress_ratios", GGUF_VT_INT32, ratios, 3);
    float clamp[2] = {10.0f, 10.0f};
    gguf_writer_set_arr(w, "deepseek4.swiglu_clamp_exp", GGUF_VT_FLOAT32, clamp, 2);
    const char *toks[20];
    char tokbuf[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(tokbuf[i], sizeof tokbuf[i], i == 0 ? "<｜bos｜>" : "tok%d", i);
        toks[i] = tokbuf[i];
    }
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 20);
    char tmpl[301];
    for (int i = 0; i < 300; i++) tmpl[i] = "{% for m in messages %}\n"[i % 24];
    tmpl[300] = 0;
    gguf_writer_set_str(w, "tokenizer.chat_template", tmpl);
    struct { const char *name; uint32_t type, nd; uint64_t ne[3]; } ts[] = {
        {"token_embd.weight", DS4_TYPE_F16, 2, {64, 20, 1}},
        {"output_norm.weight", DS4_TYPE_F32, 1, {64, 1, 1}},
        {"blk.0.attn_q_a.weight", DS4_TYPE_Q8_0, 2, {64, 32, 1}},
        {"blk.0.ffn_gate_exps.weight", DS4_TYPE_IQ2_XXS, 3, {256, 4, 2}},
        {"blk.0.ffn_down_exps.weight", DS4_TYPE_Q2_K, 3, {256, 4, 2}},
        {"blk.1.ffn_up_exps.weight", DS4_TYPE_Q4_K, 3, {256, 4, 2}},
        {"blk.0.ffn_gate_tid2eid.weight", DS4_TYPE_I32, 2, {2, 20, 1}},
        {"test.bf16", DS4_TYPE_BF16, 1, {16, 1, 1}},
    };
    size_t nts = sizeof ts / sizeof ts[0];
    for (size_t i = 0; i < nts; i++) check(gguf_writer_add_tensor(w, ts[i].name, ts[i].nd, ts[i].ne, ts[i].type, &err), &err);
    uint32_t x = 12345;
    for (size_t i = 0; i < nts; i++) {
        uint64_t n = ds4_row_bytes(ts[i].type, ts[i].ne[0]) * ts[i].ne[1] * ts[i].ne[2];
        uint8_t *b = malloc(n);
        for (uint64_t k = 0; k < n; k++) {
            x = x * 1103515245u + 12345u;
            b[k] = (uint8_t)(x >> 16);
        }
        check(gguf_writer_write(w, b, n, &err), &err);
        free(b);
    }
    check(gguf_writer_finish(w, &err), &err);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen_gguf_corpus DIR\n");
        return 2;
    }
    dir = argv[1];

    write_tiny("valid_tiny.gguf", 32);
    write_tiny("valid_align64.gguf", 64);
    char path[512];
    snprintf(path, sizeof path, "%s/valid_empty.gguf", dir);
    ds4_error err;
    gguf_writer *w = gguf_writer_open(path, 32, &err);
    check(w && gguf_writer_finish(w, &err), &err);

    gb g = {0};
    gb_pos p = gb_valid(&g);
    save("valid_nested.gguf", g.b, g.n);

    /* Corruptions of the byte-built image (field positions are known). */
#define CORRUPT(name, stmt)            \
    do {                               \
        gb_free(&g);                   \
        p = gb_valid(&g);              \
        stmt;                          \
        save(name, g.b, g.n);          \
    } while (0)
    CORRUPT("bad_magic.gguf", g.b[0] = 'X');
    CORRUPT("bad_version1.gguf", gb_set32(&g, 4, 1));
    CORRUPT("bad_version2.gguf", gb_set32(&g, 4, 2));
    CORRUPT("bad_version_bigendian.gguf", gb_set32(&g, 4, 0x03000000u));
    CORRUPT("bad_tensor_count.gguf", gb_set64(&g, 8, UINT64_MAX));
    CORRUPT("bad_kv_count.gguf", gb_set64(&g, 16, 1ull << 40));
    CORRUPT("bad_key_length.gguf", gb_set64(&g, p.key0_len, UINT64_MAX));
    CORRUPT("bad_string_length.gguf", gb_set64(&g, p.str_val_len, 1ull << 40));
    CORRUPT("bad_array_count.gguf", gb_set64(&g, p.arr_count, 1ull << 62));
    CORRUPT("bad_string_array_count.gguf", gb_set64(&g, p.strarr_count, 1ull << 59));
    CORRUPT("bad_value_type.gguf", gb_set32(&g, p.nested_type, 13));
    CORRUPT("bad_array_elem_type.gguf", gb_set32(&g, p.arr_elem_type, 99));
    CORRUPT("bad_bool.gguf", g.b[p.bool_val] = 7);
    CORRUPT("bad_ndims.gguf", gb_set32(&g, p.t0_ndims, 9));
    CORRUPT("bad_ndims_zero.gguf", gb_set32(&g, p.t0_ndims, 0));
    CORRUPT("bad_tensor_type.gguf", gb_set32(&g, p.t0_type, 31));
    CORRUPT("bad_block_multiple.gguf", gb_set32(&g, p.t0_type, DS4_TYPE_Q4_K));
    CORRUPT("bad_dim_overflow.gguf", (gb_set64(&g, p.t0_ne0, 1ull << 62), gb_set64(&g, p.t0_ne0 + 8, 1ull << 3)));
    CORRUPT("bad_misaligned_offset.gguf", gb_set64(&g, p.t1_offset, 48));
    CORRUPT("bad_past_eof.gguf", gb_set64(&g, p.t2_ne1, 4096));
    CORRUPT("bad_offset_huge.gguf", gb_set64(&g, p.t1_offset, UINT64_MAX - 31));
    CORRUPT("bad_name_length.gguf", gb_set64(&g, p.t0_name_len, 1ull << 33));
    CORRUPT("bad_duplicate_tensor.gguf", memcpy(g.b + p.t0_name_len + 8, "t.i32", 5));
    CORRUPT("bad_truncated_header.gguf", g.n = 28);
    CORRUPT("bad_truncated_metadata.gguf", g.n = p.nested_type + 20);
    CORRUPT("bad_truncated_tensor_info.gguf", g.n = p.t0_offset + 3);
    CORRUPT("bad_truncated_data.gguf", g.n = p.data_end - 1);
    gb_free(&g);

    /* Deeper than the nesting limit. */
    gb_header(&g, 3, 0, 1);
    gb_str(&g, "deep");
    gb_u32(&g, 9);
    for (int d = 0; d < 12; d++) {
        gb_u32(&g, 9);
        gb_u64(&g, 1);
    }
    gb_u32(&g, 0);
    gb_u64(&g, 0);
    gb_pad(&g, 32);
    save("bad_deep_nesting.gguf", g.b, g.n);
    gb_free(&g);

    /* Truncations of the writer-made file. */
    size_t n;
    uint8_t *b = slurp("valid_tiny.gguf", &n);
    save("bad_tiny_truncated_half.gguf", b, n / 2);
    save("bad_tiny_truncated_last_tensor.gguf", b, n - 40);
    free(b);
    return 0;
}
