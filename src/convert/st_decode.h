/* Decoding of checkpoint tensors to binary32 (formats.md D.3, D.4).
 *
 * A weight is viewed as a logical 2-D matrix [rows, cols] (cols = the last,
 * contiguous dimension; 1-D tensors are one row). Block-scaled encodings:
 *   FP8 E4M3 + F8_E8M0 scale [ceil(rows/128), ceil(cols/128)] (128x128 blocks);
 *   FP4 E2M1 packed two per I8 byte (low nibble = even column) + F8_E8M0
 *   scale [rows, cols/32].
 * Every product is exact in binary32, so the decoded values do not depend on
 * the implementation. Reading (I/O) and decoding (pure, thread-safe) are
 * separate so rows can be decoded in parallel from one buffer. */
#ifndef DS4_CONVERT_ST_DECODE_H
#define DS4_CONVERT_ST_DECODE_H

#include "convert/safetensors.h"

float ds4_e4m3_to_f32(uint8_t b);
float ds4_e8m0_to_f32(uint8_t b);
extern const float ds4_fp4_e2m1[16];

typedef enum { DS4_ENC_PLAIN, DS4_ENC_FP8_BLOCK, DS4_ENC_FP4_BLOCK } ds4_encoding;

typedef struct ds4_st_matrix {
    const ds4_st_set *set;
    const ds4_st_tensor *w;
    const ds4_st_tensor *scale; /* NULL for plain encodings */
    ds4_encoding enc;
    int64_t rows, cols;         /* logical shape (FP4: cols = 2 x packed bytes) */
    uint64_t raw_row_bytes;     /* bytes of one stored row */
    float *scale_f;             /* decoded scales, scale_rows x scale_cols */
    int64_t scale_rows, scale_cols;
} ds4_st_matrix;

/* Validates that w (with optional block scale) is a float weight encoding
 * and that the scale's dtype and shape fit; gives the logical shape. Reads
 * nothing. */
bool ds4_st_matrix_check(const ds4_st_tensor *w, const ds4_st_tensor *scale, int64_t *rows, int64_t *cols,
                         ds4_error *err);

/* Validates the dtype/scale combination and the scale's dtype and shape, and
 * loads the (small) scale tensor. scale may be NULL. Float dtypes only:
 * F32/F16/BF16/F64, F8_E4M3 (needs a scale), I8 (FP4, needs a scale). */
bool ds4_st_matrix_init(ds4_st_matrix *m, const ds4_st_set *s, const ds4_st_tensor *w,
                        const ds4_st_tensor *scale, ds4_error *err);
void ds4_st_matrix_free(ds4_st_matrix *m);

/* Reads the stored bytes of rows [r0, r0+nr) (nr * raw_row_bytes bytes). */
bool ds4_st_matrix_read(const ds4_st_matrix *m, int64_t r0, int64_t nr, void *raw, ds4_error *err);
/* Decodes nr stored rows from raw (laid out as read, starting at global row
 * r0, which selects the scale rows) into dst[nr * cols]. */
void ds4_st_matrix_decode(const ds4_st_matrix *m, const void *raw, int64_t r0, int64_t nr, float *dst);

/* Integer tensors (tid2eid): I32 or I64 -> int32 with a range check. dst has
 * numel elements. */
bool ds4_st_read_i32(const ds4_st_set *s, const ds4_st_tensor *t, int32_t *dst, ds4_error *err);

#endif
