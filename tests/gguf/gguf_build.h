/* Test helper: builds GGUF images byte by byte in memory, so tests can
 * produce exactly the malformed layouts the writer refuses to emit, and
 * remembers where the interesting fields are for targeted corruption. */
#ifndef DS4_TESTS_GGUF_BUILD_H
#define DS4_TESTS_GGUF_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gb {
    uint8_t *b;
    size_t n, cap;
} gb;

static inline void gb_put(gb *g, const void *p, size_t n) {
    if (g->n + n > g->cap) {
        g->cap = (g->n + n) * 2 + 64;
        g->b = realloc(g->b, g->cap);
    }
    if (n) memcpy(g->b + g->n, p, n);
    g->n += n;
}
static inline void gb_u8(gb *g, uint8_t v) { gb_put(g, &v, 1); }
static inline void gb_u32(gb *g, uint32_t v) { gb_put(g, &v, 4); }
static inline void gb_u64(gb *g, uint64_t v) { gb_put(g, &v, 8); }
static inline void gb_str(gb *g, const char *s) {
    gb_u64(g, strlen(s));
    gb_put(g, s, strlen(s));
}
static inline void gb_pad(gb *g, size_t a) {
    while (g->n % a) gb_u8(g, 0);
}
static inline void gb_header(gb *g, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gb_put(g, "GGUF", 4);
    gb_u32(g, version);
    gb_u64(g, n_tensors);
    gb_u64(g, n_kv);
}
static inline void gb_set32(gb *g, size_t at, uint32_t v) { memcpy(g->b + at, &v, 4); }
static inline void gb_set64(gb *g, size_t at, uint64_t v) { memcpy(g->b + at, &v, 8); }
static inline void gb_free(gb *g) {
    free(g->b);
    g->b = NULL;
    g->n = g->cap = 0;
}

/* Field positions in the image made by gb_valid(). */
typedef struct gb_pos {
    size_t key0_len;        /* u64 length of the first key */
    size_t str_val_len;     /* u64 length of the "general.name" value */
    size_t arr_elem_type;   /* u32 element type of the u32 array */
    size_t arr_count;       /* u64 count of the u32 array */
    size_t strarr_count;    /* u64 count of the string array */
    size_t nested_type;     /* u32 value type of the nested-array record */
    size_t bool_val;        /* the BOOL byte */
    size_t t0_name_len, t0_ndims, t0_ne0, t0_type, t0_offset;
    size_t t1_offset, t2_ne1;
    size_t data_start;      /* absolute start of tensor data */
    size_t data_end;        /* end of the last tensor's bytes (before its padding) */
} gb_pos;

#define GB_VALID_KV 6
#define GB_VALID_TENSORS 3

/* A small valid v3 file: 6 metadata records (string, u32 array, string
 * array, nested array of arrays, bool, u32) and 3 tensors (F32 [4,2],
 * Q8_0 [32,1], I32 [3,1,1,1,1] 5-D) with their data, alignment 32. */
static inline gb_pos gb_valid(gb *g) {
    gb_pos p;
    memset(&p, 0, sizeof p);
    gb_header(g, 3, GB_VALID_TENSORS, GB_VALID_KV);
    p.key0_len = g->n;
    gb_str(g, "general.name");
    gb_u32(g, 8);
    p.str_val_len = g->n;
    gb_str(g, "tiny");
    gb_str(g, "deepseek4.attention.compress_ratios");
    gb_u32(g, 9);
    p.arr_elem_type = g->n;
    gb_u32(g, 4);
    p.arr_count = g->n;
    gb_u64(g, 3);
    gb_u32(g, 0); gb_u32(g, 4); gb_u32(g, 128);
    gb_str(g, "tokenizer.ggml.tokens");
    gb_u32(g, 9);
    gb_u32(g, 8);
    p.strarr_count = g->n;
    gb_u64(g, 3);
    gb_str(g, "a"); gb_str(g, ""); gb_str(g, "Ġb");
    gb_str(g, "test.nested");
    p.nested_type = g->n;
    gb_u32(g, 9);
    gb_u32(g, 9); gb_u64(g, 2);              /* array of 2 arrays */
    gb_u32(g, 5); gb_u64(g, 2); gb_u32(g, (uint32_t)-1); gb_u32(g, 7); /* [-1, 7] INT32 */
    gb_u32(g, 8); gb_u64(g, 1); gb_str(g, "x");                          /* ["x"] */
    gb_str(g, "deepseek4.expert_weights_norm");
    gb_u32(g, 7);
    p.bool_val = g->n;
    gb_u8(g, 1);
    gb_str(g, "deepseek4.block_count");
    gb_u32(g, 4);
    gb_u32(g, 6);
    /* tensor infos */
    p.t0_name_len = g->n;
    gb_str(g, "t.f32");
    p.t0_ndims = g->n;
    gb_u32(g, 2);
    p.t0_ne0 = g->n;
    gb_u64(g, 4); gb_u64(g, 2);
    p.t0_type = g->n;
    gb_u32(g, 0);
    p.t0_offset = g->n;
    gb_u64(g, 0);
    gb_str(g, "t.q8");
    gb_u32(g, 2); gb_u64(g, 32); gb_u64(g, 1);
    gb_u32(g, 8);
    p.t1_offset = g->n;
    gb_u64(g, 32);
    gb_str(g, "t.i32");
    gb_u32(g, 5); gb_u64(g, 3);
    p.t2_ne1 = g->n;
    gb_u64(g, 1); gb_u64(g, 1); gb_u64(g, 1); gb_u64(g, 1);
    gb_u32(g, 26);
    gb_u64(g, 96);
    gb_pad(g, 32);
    p.data_start = g->n;
    for (int i = 0; i < 32; i++) gb_u8(g, (uint8_t)(i + 1)); /* F32 [4,2]: 32 bytes */
    for (int i = 0; i < 34; i++) gb_u8(g, (uint8_t)(0x80 | i)); /* Q8_0: 34 bytes */
    gb_pad(g, 32);
    for (int i = 0; i < 12; i++) gb_u8(g, (uint8_t)(0x40 | i)); /* I32 [3]: 12 bytes */
    p.data_end = g->n;
    gb_pad(g, 32);
    return p;
}

#endif
