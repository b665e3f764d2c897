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
 * -128 x sum(y) correction is prepared once per product with them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"
#include "quant/simd.h"

uint32_t ds4_repack_type(uint32_t type, int64_t cols) {
    if (type == DS4_TYPE_Q8_0 && cols > 0 && cols % DS4_X16_VALUES == 0 && ds4_dot_kernel_is_simd(DS4_TYPE_Q8_0_X16))
        return DS4_TYPE_Q8_0_X16;
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

typedef struct {
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
        ds4_repack_row_q8_0_x16(tmp, row, c->cols);
    }
    free(tmp);
}

bool ds4_repack_rows(uint32_t from, uint32_t to, void *rows, int64_t n_rows, int64_t cols, ds4_pool *pool,
                     ds4_error *err) {
    if (from == to) return true;
    if (from != DS4_TYPE_Q8_0 || to != DS4_TYPE_Q8_0_X16 || cols <= 0 || cols % DS4_X16_VALUES) {
        ds4_fail(err, "cannot repack %s rows of %lld values as %s", ds4_type_name(from), (long long)cols,
                 ds4_type_name(to));
        return false;
    }
    const size_t rb = (size_t)ds4_row_bytes(from, (uint64_t)cols);
    repack_ctx c = {rows, rb, n_rows, cols, (int64_t)((1u << 20) / rb) + 1};
    ds4_pool_run(pool, repack_task, &c, (n_rows + c.per_task - 1) / c.per_task);
    return true;
}
