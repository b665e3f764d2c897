/* Load-time weight layouts (gguf/types.h: layouts ds4 makes in memory and
 * never stores).
 *
 * Q8_0_X16 exists for the AVX-512 Q8_0 kernel. A Q8_0 row is a run of 34-byte
 * blocks (an f16 scale, then 32 quants), so a 64-byte vector load straddles
 * blocks and lines, and the kernel spent ~12 vector operations per block pair
 * on joining halves, converting scales and undoing the sign trick that VNNI
 * needs. Regrouped, one aligned load holds four quants of each of 16 blocks,
 * eight loads make a group of 512 values whose per-block sums land in the 16
 * dword lanes of one vpdpbusd chain, and the group costs one scale
 * conversion: about a third of the operations per byte. On the Zen 5 guest
 * that made one core 1.6x faster at one token in cache and decode of the
 * 2-layer Flash-shaped model 2-34% faster in alternating runs
 * (docs/performance.md). The quants are stored + 128 so that they are the
 * unsigned operand of vpdpbusd; the activations stay signed and each block's
 * -128 x sum(y) correction is prepared once per product with them.
 *
 * Q2_K_X4 exists for the AVX-512 Q2_K kernel. In a Q2_K block a quant byte
 * holds four elements of four different sub-blocks, so each vpdpbusd lane
 * mixed sub-blocks and the scales had to be applied to the weights first
 * (a table lookup per 64 quants). Reordered so that every dword of a 2-bit
 * plane belongs to one sub-block, the four planes sum in one vpdpbusd chain
 * and one vpmaddwd applies the 16 scales; grouping 4 blocks puts their 64
 * scale bytes in one register and their (d, dmin) pairs in one load. On the
 * Zen 5 guest one core ran 1.25x as fast at one token in cache; from DRAM
 * at two threads the gain depends on the hour (docs/performance.md).
 *
 * Q4_K_X4 does the same for Q4_K (the q4 recipe's experts): each dword of
 * its nibble planes lies in one sub-block, so one vpmaddwd applies the
 * scales where the stored layout packed sums into words and needed two
 * scale vectors per block, and a group's (d, dmin) pairs and scale bytes
 * are one 64-byte load. One core: +13-20% in cache; two threads from DRAM
 * +5-16%, and a q4 model's routed experts 13-27% faster in decode. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"
#include "quant/simd.h"

/* Whether rows of `cols` values of file type `from` can be held as `to`:
 * `to` is a layout made from `from`, and the row is whole blocks of it
 * (512 values for Q8_0_X16, 256 for the X4 layouts: gguf/types.c). */
static bool repack_fits(uint32_t from, uint32_t to, int64_t cols) {
    return to != from && ds4_repack_source(to) == from && cols > 0 && ds4_row_bytes(to, (uint64_t)cols) != 0;
}

uint32_t ds4_repack_source(uint32_t type) {
    switch (type) {
    case DS4_TYPE_Q8_0_X16: return DS4_TYPE_Q8_0;
    case DS4_TYPE_Q2_K_X4: return DS4_TYPE_Q2_K;
    case DS4_TYPE_Q4_K_X4: return DS4_TYPE_Q4_K;
    default: return type;
    }
}

uint32_t ds4_repack_type(uint32_t type, int64_t cols) {
    static const uint32_t layouts[] = {DS4_TYPE_Q8_0_X16, DS4_TYPE_Q2_K_X4, DS4_TYPE_Q4_K_X4};
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
        if (ds4_repack_source(layouts[i]) == type && repack_fits(type, layouts[i], cols) &&
            ds4_dot_kernel_is_simd(layouts[i]))
            return layouts[i];
    return type;
}

/* One row of n values, Q8_0 -> Q8_0_X16, into dst (not overlapping src). */
void ds4_repack_row_q8_0_x16(const void *src, void *dst, int64_t n) {
    const block_q8_0 *x = src;
    uint8_t *q = dst;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        uint8_t *grp = q + ds4_x16_quants_at(b / 16) + 4 * (b % 16);
        for (int j = 0; j < QK8_0; j++) grp[64 * (j / 4) + j % 4] = (uint8_t)(x[b].qs[j] ^ 0x80);
        memcpy(q + ds4_x16_scales_at(n, b / 16) + 2 * (b % 16), &x[b].d, 2);
    }
}

/* Q2_K quants -> Q2_K_X4 order. Output dword k (its bytes e = 0..3) takes
 * field f from the four bytes at 32 (k / 8) + 16 (k % 2) + 4f of the Q2_K
 * quants, all at field (k % 8) / 2 there: four fields of four bytes a step. */
static void q2k_to_x4(const uint8_t *qs, uint8_t *q) {
    for (int k = 0; k < 16; k++) {
        const int from = 32 * (k / 8) + 16 * (k % 2), shift = 2 * ((k % 8) / 2);
        uint32_t out = 0;
        for (int f = 0; f < 4; f++) {
            uint32_t w;
            memcpy(&w, qs + from + 4 * f, 4);
            out |= ((w >> shift) & 0x03030303u) << (2 * f);
        }
        memcpy(q + 4 * k, &out, 4);
    }
}

/* And back, element by element: element i = 16k + 4f + e sits at bits
 * 2 (i % 128 / 32) of Q2_K byte 32 (i / 128) + i % 32. */
static void q2k_from_x4(const uint8_t *q, uint8_t *qs) {
    memset(qs, 0, QK_K / 4);
    for (int i = 0; i < QK_K; i++) {
        const int v = (q[4 * (i / 16) + i % 4] >> (2 * (i % 16 / 4))) & 3;
        qs[32 * (i / 128) + i % 32] |= (uint8_t)(v << (2 * (i % 128 / 32)));
    }
}

/* Q4_K quants -> Q4_K_X4 order. Output dword (r, k) holds elements
 * 16k + 8r + e (low nibbles) and 16k + 8r + 4 + e (high), e = 0..3; in Q4_K
 * those are nibble (k % 4) / 2 of the four bytes at 32 (k / 4) + 16 (k % 2)
 * + 8r and of the four after them. */
static void q4k_to_x4(const uint8_t *qs, uint8_t *q) {
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 16; k++) {
            const int from = 32 * (k / 4) + 16 * (k % 2) + 8 * r, shift = 4 * ((k % 4) / 2);
            uint32_t lo, hi;
            memcpy(&lo, qs + from, 4);
            memcpy(&hi, qs + from + 4, 4);
            const uint32_t out = ((lo >> shift) & 0x0F0F0F0Fu) | ((hi >> shift) & 0x0F0F0F0Fu) << 4;
            memcpy(q + 64 * r + 4 * k, &out, 4);
        }
}

/* And back: element i = 16k + 8r + 4h + e is nibble h of X4 byte
 * 64r + 4k + e and nibble (i % 64) / 32 of Q4_K byte 32 (i / 64) + i % 32. */
static void q4k_from_x4(const uint8_t *q, uint8_t *qs) {
    memset(qs, 0, QK_K / 2);
    for (int i = 0; i < QK_K; i++) {
        const int v = (q[64 * (i % 16 / 8) + 4 * (i / 16) + i % 4] >> (4 * (i % 8 / 4))) & 15;
        qs[32 * (i / 64) + i % 32] |= (uint8_t)(v << (4 * (i % 64 / 32)));
    }
}

/* Where a block of the file type keeps its parts, and how its quants move.
 * A group of m blocks is their (d, dmin) pairs, their scale bytes, then
 * their quants (quant.h). */
typedef struct {
    uint32_t layout;
    size_t bytes, d_at, scales_at, n_scales, qs_at, n_qs;
    void (*to_x4)(const uint8_t *qs, uint8_t *q);
    void (*from_x4)(const uint8_t *q, uint8_t *qs);
} x4_kind;

static const x4_kind x4_kinds[] = {
    {DS4_TYPE_Q2_K_X4, sizeof(block_q2_K), offsetof(block_q2_K, d), offsetof(block_q2_K, scales), QK_K / 16,
     offsetof(block_q2_K, qs), QK_K / 4, q2k_to_x4, q2k_from_x4},
    {DS4_TYPE_Q4_K_X4, sizeof(block_q4_K), offsetof(block_q4_K, d), offsetof(block_q4_K, scales), 12,
     offsetof(block_q4_K, qs), QK_K / 2, q4k_to_x4, q4k_from_x4},
};

static const x4_kind *x4_kind_of(uint32_t layout) {
    for (size_t i = 0; i < sizeof x4_kinds / sizeof x4_kinds[0]; i++)
        if (x4_kinds[i].layout == layout) return &x4_kinds[i];
    return NULL;
}

/* Block b's (d, dmin), scales and quants within a row of nb blocks. */
typedef struct {
    uint8_t *dd, *scales, *q;
} x4_parts;

static x4_parts x4_parts_at(const x4_kind *k, const void *row, int64_t nb, int64_t b) {
    int m, j;
    uint8_t *grp = (uint8_t *)(uintptr_t)row + ds4_x4_group_at(nb, b, k->bytes, &m, &j);
    return (x4_parts){grp + 4 * j, grp + 4 * m + k->n_scales * (size_t)j,
                      grp + (4 + k->n_scales) * (size_t)m + k->n_qs * (size_t)j};
}

void ds4_repack_row_x4(uint32_t layout, const void *src, void *dst, int64_t n) {
    const x4_kind *k = x4_kind_of(layout);
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *x = (const uint8_t *)src + b * k->bytes;
        const x4_parts p = x4_parts_at(k, dst, nb, b);
        memcpy(p.dd, x + k->d_at, 4); /* d, then dmin */
        memcpy(p.scales, x + k->scales_at, k->n_scales);
        k->to_x4(x + k->qs_at, p.q);
    }
}

void ds4_x4_block(uint32_t layout, const void *row, int64_t n, int64_t b, void *out) {
    const x4_kind *k = x4_kind_of(layout);
    const x4_parts p = x4_parts_at(k, row, n / QK_K, b);
    uint8_t *x = out;
    memcpy(x + k->d_at, p.dd, 4);
    memcpy(x + k->scales_at, p.scales, k->n_scales);
    k->from_x4(p.q, x + k->qs_at);
}

typedef struct {
    uint32_t to;
    uint8_t *rows;
    size_t row_bytes;
    int64_t n_rows, cols, per_task;
} repack_ctx;

static void repack_task(void *p, int64_t task, int thread_index) {
    (void)thread_index;
    const repack_ctx *c = p;
    uint8_t *tmp = malloc(c->row_bytes); /* not the kernel scratch: a pool made for the load would leak it */
    if (!tmp) {
        fprintf(stderr, "ds4: out of memory for a %zu-byte row while repacking weights\n", c->row_bytes);
        abort();
    }
    const int64_t r0 = task * c->per_task, r1 = r0 + c->per_task < c->n_rows ? r0 + c->per_task : c->n_rows;
    for (int64_t r = r0; r < r1; r++) {
        uint8_t *row = c->rows + (size_t)r * c->row_bytes;
        memcpy(tmp, row, c->row_bytes);
        if (c->to == DS4_TYPE_Q8_0_X16) ds4_repack_row_q8_0_x16(tmp, row, c->cols);
        else ds4_repack_row_x4(c->to, tmp, row, c->cols);
    }
    free(tmp);
}

bool ds4_repack_rows(uint32_t from, uint32_t to, void *rows, int64_t n_rows, int64_t cols, ds4_pool *pool,
                     ds4_error *err) {
    if (from == to) return true;
    if (!repack_fits(from, to, cols)) {
        ds4_fail(err, "cannot repack %s rows of %lld values as %s", ds4_type_name(from), (long long)cols,
                 ds4_type_name(to));
        return false;
    }
    const size_t rb = (size_t)ds4_row_bytes(from, (uint64_t)cols);
    repack_ctx c = {to, rows, rb, n_rows, cols, (int64_t)((1u << 20) / rb) + 1};
    ds4_pool_run(pool, repack_task, &c, (n_rows + c.per_task - 1) / c.per_task);
    return true;
}
