/* Tensor element types, quantization block formats and the numeric kernels
 * that consume them (formats.md A.6 and B).
 *
 * Every kernel has a scalar reference (suffix _ref / the *_scalar entry
 * points) that is always compiled; the public entry points dispatch to the
 * fastest path the CPU supports (AVX-512 / AVX2 / NEON, chosen at build time
 * by -march and at run time by CPU detection). DS4_SIMD=scalar in the
 * environment forces the reference path (used by tests and for debugging). */
#ifndef DS4_QUANT_H
#define DS4_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/pool.h"
#include "gguf/types.h"

#define QK8_0 32
#define QK_K 256

/* Block layouts, byte-exact with ggml. */
typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;                       /* 34 B */
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d; uint16_t dmin; } block_q2_K; /* 84 B */
typedef struct { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; } block_q4_K;        /* 144 B */
typedef struct { uint16_t d; uint16_t qs[QK_K / 8]; } block_iq2_xxs;               /* 66 B */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K; /* 292 B */

_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
_Static_assert(sizeof(block_iq2_xxs) == 66, "block_iq2_xxs size");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

/* True for the file weight types with quantize/dequantize/vec_dot kernels
 * (F32 F16 BF16 Q8_0 Q2_K Q4_K IQ2_XXS). The in-memory Q8_0_X16, Q2_K_X4 and
 * Q4_K_X4 have dequantize and vec_dot kernels but no quantizer: they are made by
 * repacking. */
bool ds4_type_has_kernels(uint32_t type);

/* ---- conversion ---- */
/* y[0..n) = dequantized row; n must be a multiple of the block size. Also
 * accepts Q8_K and the load-time layouts. Bit-exact with ggml's dequantizers. */
void ds4_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/* Quantizes one row of n values. imatrix (n per-column importance values) may
 * be NULL: importance-weighted types then use the weight-energy fallback of
 * formats.md. Supported: F32 F16 BF16 Q8_0 Q2_K Q4_K IQ2_XXS (and Q8_K).
 * Returns the bytes written (ds4_row_bytes). Thread-safe (no global state
 * after init). Without imatrix, Q2_K/Q4_K take ggml's reference path and
 * IQ2_XXS uses the energy of this one row (x[c]^2), i.e. B.10's synthetic
 * vector for a one-row matrix; whole matrices should use ds4_quantize_rows.
 * Bit-exact with ggml's quantizers in a strict (no FMA contraction) build. */
size_t ds4_quantize_row(uint32_t type, const float *src, void *dst, int64_t n, const float *imatrix);

/* Quantizes rows x cols floats (row-major) into rows consecutive rows of
 * type, split over the pool (NULL = inline). imatrix: cols values or NULL;
 * for IQ2_XXS without imatrix the synthetic vector of formats.md B.10 is
 * built from this whole matrix (ds4_quant_synthetic_importance). Fails with
 * a message if cols is not a multiple of the block size. */
bool ds4_quantize_rows(uint32_t type, const float *src, void *dst, int64_t rows, int64_t cols,
                       const float *imatrix, ds4_pool *pool, ds4_error *err);
/* formats.md B.10: imp[c] = sum_r W[r][c]^2 (binary32, rows in order). */
void ds4_quant_synthetic_importance(const float *W, int64_t rows, int64_t cols, float *imp);
/* Quantization error: sqrt(sum (deq - src)^2 / sum src^2) after a round trip
 * through type (for `convert --report`). The first form takes one row of n
 * values (imatrix n values or NULL, as ds4_quantize_row); the matrix form
 * sums over all rows and, for IQ2_XXS without imatrix, uses the matrix's
 * synthetic importance like ds4_quantize_rows. Returns -1 for a type
 * without a quantizer, a bad length, or out of memory. */
double ds4_quant_rel_rmse(uint32_t type, const float *src, int64_t n, const float *imatrix);
double ds4_quant_rel_rmse_matrix(uint32_t type, const float *src, int64_t rows, int64_t cols,
                                 const float *imatrix);

/* Activation quantizers.
 * Q8_0 activations use ggml's Q8_0 reference quantizer unchanged (binary16
 * scale d = amax/127, q = roundf(x/d) with 1/d from the unrounded d), i.e.
 * the same blocks as weights, so ds4_row_bytes(Q8_0, n) sizes them and
 * results match ggml's CPU Q8_0 x Q8_0 product. ds4's own CPU path uses a
 * binary32 scale and rint (formats.md B.5 note); that is not a file format
 * and would need a different block, so we follow ggml here. */
void ds4_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void ds4_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n);

/* ---- dot products ----
 * Weight type -> activation type it pairs with:
 *   Q8_0, Q8_0_X16 -> Q8_0;  Q2_K, Q2_K_X4, Q4_K, Q4_K_X4, IQ2_XXS -> Q8_K;  F32, F16, BF16 -> F32. */
uint32_t ds4_act_type(uint32_t weight_type); /* UINT32_MAX: no kernels */
/* Quantize an activation row x[0..n) to the format the weight type pairs
 * with (for float types this is a copy). dst must hold ds4_row_bytes(ds4_act_type(t), n). */
void ds4_quantize_act(uint32_t weight_type, const float *x, void *dst, int64_t n);

/* sum_i w[i]*x[i] for one weight row of n elements against a prepared
 * activation row. The reference combines floats in formats.md B.5's order;
 * for F32/F16/BF16 weights it sums the binary32 products in double. */
float ds4_vec_dot(uint32_t weight_type, int64_t n, const void *w_row, const void *act);
float ds4_vec_dot_ref(uint32_t weight_type, int64_t n, const void *w_row, const void *act);

/* y[r] = W[r,:] . x for r in [0, rows). W is rows x cols (row-major, GGUF
 * ne0 = cols). x is plain float; it is quantized once internally. Split over
 * the pool by row blocks. */
void ds4_matvec(uint32_t type, const void *W, int64_t rows, int64_t cols, const float *x, float *y,
                ds4_pool *pool);
/* Y[t][r] = W[r,:] . X[t,:] for t in [0, n_tok): batched form for prefill,
 * reading each weight block once per batch tile. */
void ds4_matmul(uint32_t type, const void *W, int64_t rows, int64_t cols, const float *X,
                int64_t n_tok, float *Y, ds4_pool *pool);

/* Several independent products in one pool dispatch (decode: the routed
 * experts' gate and up projections, then their down projections; prefill:
 * the same over each expert's rows). A job has n_tok activation rows
 * (0 means 1): x is n_tok x cols and y n_tok x rows, as in ds4_matmul.
 * Jobs with the same x pointer, column count, token count and activation
 * format share one quantized activation. Each output equals what
 * ds4_matvec / ds4_matmul gives for that job alone. */
typedef struct ds4_matvec_job {
    uint32_t type;
    const void *W;
    int64_t rows, cols;
    const float *x;
    float *y;
    int64_t n_tok;
} ds4_matvec_job;
void ds4_matvec_batch(const ds4_matvec_job *jobs, int n_jobs, ds4_pool *pool);

/* ---- load-time layouts (gguf/types.h) ----
 * Q8_0_X16 holds a Q8_0 row of n values (n a multiple of 512) as groups of
 * 16 blocks (512 values) taken two at a time: each pair of groups is its
 * 1024 quant bytes, then the 32 f16 scales of its blocks in block order
 * (1088 bytes, 17 cache lines); an odd last group is 512 + 32 bytes. In a
 * group, byte 64k + 4l + i (k < 8, l < 16, i < 4) is quant 4k + i of the
 * group's block l, plus 128 (as an unsigned byte). Its dot product pairs
 * with Q8_0 activations, like Q8_0's, and gives the same result up to the
 * order of float additions. (Scales kept at the row's end instead made rows
 * of 8192 values stream 15% slower than the block layout: the scale reads
 * ran a second stream 8 KiB ahead of the quants.) */
#define DS4_X16_VALUES 512
#define DS4_X16_CHUNK 1088 /* two groups: 1024 quants + 32 x f16 */

/* Byte offsets, in a Q8_0_X16 row of n values, of group g's quants and of
 * its 16 f16 block scales. */
static inline size_t ds4_x16_quants_at(int64_t g) { return (size_t)(g / 2) * DS4_X16_CHUNK + (size_t)(g % 2) * 512; }
static inline size_t ds4_x16_scales_at(int64_t n, int64_t g) {
    const int64_t first = g - g % 2, in_chunk = n / DS4_X16_VALUES - first >= 2 ? 2 : 1;
    return (size_t)(g / 2) * DS4_X16_CHUNK + (size_t)in_chunk * 512 + (size_t)(g % 2) * 32;
}

/* Q2_K_X4 holds a Q2_K row of n values (n a multiple of 256) as groups of
 * 4 blocks (1024 values); the row's last group has m = 1..4 blocks. A group
 * of m blocks is 84m bytes, in the order the kernel reads them:
 *   [0, 4m)      block j's f16 d and dmin at 4j;
 *   [4m, 20m)    block j's 16 scale bytes at 4m + 16j, as in Q2_K (low
 *                nibble the sub-block scale, high nibble its min);
 *   [20m, 84m)   block j's 64 quant bytes at 20m + 64j: bits 2f..2f+1 of
 *                byte 4k + e (k < 16, f < 4, e < 4) hold the block's
 *                element 16k + 4f + e, so dword k holds only sub-block k.
 * With every dword in one sub-block, a block's four 2-bit planes against
 * the matching activations sum in vpdpbusd lanes that each belong to one
 * sub-block (lane k: sub-block k), and one vpmaddwd applies the 16 scales. Its
 * dot product pairs with Q8_K activations, like Q2_K's, and gives the same
 * result up to the order of float additions. */

/* Q4_K_X4 holds a Q4_K row of n values (n a multiple of 256) the same way,
 * in groups of 4 blocks (the last may have m = 1..3). A group of m blocks is
 * 144m bytes:
 *   [0, 4m)      block j's f16 d and dmin at 4j;
 *   [4m, 16m)    block j's 12 packed 6-bit scale and min bytes at 4m + 12j,
 *                as in Q4_K;
 *   [16m, 144m)  block j's 128 quant bytes at 16m + 128j, two registers of
 *                64: the low nibble of byte 64r + 4k + e (r < 2, k < 16,
 *                e < 4) holds the block's element 16k + 8r + e, its high
 *                nibble element 16k + 8r + 4 + e, so dword k of each nibble
 *                plane holds only sub-block k / 2.
 * A full group's 16 (d, dmin) bytes and 48 scale bytes are one 64-byte
 * load ahead of its quants. */
#define DS4_X4_BLOCKS 4

/* Where block b of a Q2_K_X4 or Q4_K_X4 row of nb blocks of block_bytes
 * each lies: its group's byte offset, the group's block count m, and b's
 * index j in it. */
static inline size_t ds4_x4_group_at(int64_t nb, int64_t b, size_t block_bytes, int *m, int *j) {
    const int64_t g = b / DS4_X4_BLOCKS, left = nb - g * DS4_X4_BLOCKS;
    *m = left < DS4_X4_BLOCKS ? (int)left : DS4_X4_BLOCKS;
    *j = (int)(b % DS4_X4_BLOCKS);
    return (size_t)g * DS4_X4_BLOCKS * block_bytes;
}

/* Block b of a Q2_K_X4 / Q4_K_X4 row of n values, back in the block layout
 * it came from (a block_q2_K / block_q4_K at out). */
void ds4_x4_block(uint32_t layout, const void *row, int64_t n, int64_t b, void *out);

/* The layout the running CPU's kernels prefer for rows of `cols` values of
 * `type`, where a SIMD kernel for it runs (AVX-512 VNNI, and GFNI for
 * the X4 layouts): Q8_0_X16 for Q8_0 when cols is a multiple of 512,
 * Q2_K_X4 for Q2_K, Q4_K_X4 for Q4_K; `type` itself otherwise. */
uint32_t ds4_repack_type(uint32_t type, int64_t cols);

/* The file type a load-time layout is made from (Q8_0 for Q8_0_X16, Q2_K
 * for Q2_K_X4, Q4_K for Q4_K_X4); `type` itself for any other type. */
uint32_t ds4_repack_source(uint32_t type);

/* Rewrites n_rows rows of `from` in place as `to` (Q8_0 -> Q8_0_X16,
 * Q2_K -> Q2_K_X4, Q4_K -> Q4_K_X4, or nothing when the two are equal),
 * split over the pool. false with a message for any other pair or a column
 * count the layout cannot hold. */
bool ds4_repack_rows(uint32_t from, uint32_t to, void *rows, int64_t n_rows, int64_t cols, ds4_pool *pool,
                     ds4_error *err);

/* One row of n values, Q8_0 -> Q8_0_X16, or Q2_K / Q4_K -> `layout`
 * (Q2_K_X4 / Q4_K_X4), into a separate buffer. */
void ds4_repack_row_q8_0_x16(const void *src, void *dst, int64_t n);
void ds4_repack_row_x4(uint32_t layout, const void *src, void *dst, int64_t n);

/* Which SIMD level the dispatchers use: "avx512", "avx2", "neon", "scalar". */
const char *ds4_simd_level(void);

/* out[w * n_q + h] = sum over d of keys[w][d] * qt[d * n_q + h]: n_keys f32
 * key rows (anywhere in memory: the attention's window and selected entries)
 * against n_q queries given transposed (the indexer's or attention's heads),
 * each accumulated in d order with fused multiply-adds, so every SIMD level
 * returns exactly the scalar reference's bits (scores.c). */
void ds4_scores_f32(const float *const *keys, int64_t n_keys, int64_t dim, const float *qt, int64_t n_q, float *out);
void ds4_scores_f32_ref(const float *const *keys, int64_t n_keys, int64_t dim, const float *qt, int64_t n_q,
                        float *out);

/* Frees the calling thread's kernel scratch buffers (they are kept per
 * thread for speed and re-created on the next matvec/matmul). A thread that
 * ran kernels and is about to exit calls this, so its buffers do not leak. */
void ds4_quant_thread_release(void);

#endif
