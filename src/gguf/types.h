/* The ggml tensor type table (formats.md A.6): names, block sizes, byte
 * sizes. It lives with the container because the GGUF reader needs it to
 * size tensors; the quant module includes it for the kernels' type ids. */
#ifndef DS4_GGUF_TYPES_H
#define DS4_GGUF_TYPES_H

#include <stdbool.h>
#include <stdint.h>

/* ggml type ids (stored in GGUF tensor infos). Every id of A.6 is known to
 * the table; only some have kernels (see quant/quant.h). */
enum {
    DS4_TYPE_F32 = 0,
    DS4_TYPE_F16 = 1,
    DS4_TYPE_Q8_0 = 8,
    DS4_TYPE_Q2_K = 10,
    DS4_TYPE_Q4_K = 12,
    DS4_TYPE_Q8_K = 15,
    DS4_TYPE_IQ2_XXS = 16,
    DS4_TYPE_I8 = 24,
    DS4_TYPE_I16 = 25,
    DS4_TYPE_I32 = 26,
    DS4_TYPE_I64 = 27,
    DS4_TYPE_F64 = 28,
    DS4_TYPE_BF16 = 30,
};

/* Layouts ds4 makes in memory at load time (quant/repack.c) and never
 * stores: ds4_type_known() is false for them, so the GGUF reader and writer
 * reject them, while the name, block size and row size below know them.
 * Ids above every ggml id, so a future ggml type cannot collide.
 *   Q8_0_X16: Q8_0 rows with 16 blocks (512 values) per group, their quants
 *   interleaved four bytes at a time and stored + 128, each pair of groups
 *   followed by its f16 scales (layout in quant/quant.h). Same bytes per row
 *   as Q8_0; rows of a multiple of 512 values only.
 *   Q2_K_X4: Q2_K rows in groups of 4 blocks (1024 values; the row's last
 *   group may be shorter), each group's f16 (d, dmin) pairs first, then its
 *   scale bytes, then its quants ordered so that a dword holds quants of
 *   one sub-block (layout in quant/quant.h). Same bytes per row as Q2_K.
 *   Q4_K_X4: Q4_K rows in groups of 4 blocks likewise, (d, dmin) pairs and
 *   scale bytes first, quants with each dword in one sub-block. Same bytes
 *   per row as Q4_K. */
enum {
    DS4_TYPE_Q8_0_X16 = 64,
    DS4_TYPE_Q2_K_X4 = 65,
    DS4_TYPE_Q4_K_X4 = 66,
};

bool ds4_type_known(uint32_t type);                        /* a ggml type a file may hold */
const char *ds4_type_name(uint32_t type);                  /* "Q8_0", "IQ2_XXS"; "?" if unknown */
bool ds4_type_from_name(const char *name, uint32_t *type); /* case-insensitive; file types only */
uint32_t ds4_type_block_elems(uint32_t type);               /* 0 if unknown */
uint32_t ds4_type_block_bytes(uint32_t type);               /* 0 if unknown */
/* Bytes of a row of n elements; 0 if the type is unknown, n is not a
 * multiple of the block size, or the size overflows 64 bits. */
uint64_t ds4_row_bytes(uint32_t type, uint64_t n);

#endif
