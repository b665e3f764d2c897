/* safetensors reader (formats.md D.1, D.2): one file or a sharded checkpoint
 * described by model.safetensors.index.json.
 *
 * Shards are read with pread, not mapped: the converter streams tensors one
 * at a time and a mapping of a 160 GB checkpoint would let the page cache
 * count against our resident size. Every header field is validated against
 * the file size before use (offsets, lengths, shape x dtype size, overlaps),
 * so a truncated or patched shard gives an error naming the tensor. */
#ifndef DS4_CONVERT_SAFETENSORS_H
#define DS4_CONVERT_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define DS4_ST_MAX_DIMS 8

typedef enum ds4_st_dtype {
    DS4_ST_F32,
    DS4_ST_F16,
    DS4_ST_BF16,
    DS4_ST_F64,
    DS4_ST_F8_E4M3,
    DS4_ST_F8_E8M0,
    DS4_ST_I8,
    DS4_ST_U8,
    DS4_ST_I16,
    DS4_ST_I32,
    DS4_ST_I64,
    DS4_ST_BOOL,
    DS4_ST_N_DTYPES
} ds4_st_dtype;

typedef struct ds4_st_tensor {
    char *name;
    ds4_st_dtype dtype;
    int n_dims;
    int64_t shape[DS4_ST_MAX_DIMS]; /* row-major (PyTorch) order */
    uint64_t offset;                /* absolute byte offset in the shard file */
    uint64_t nbytes;
    int shard;                      /* index into the set's shard list */
} ds4_st_tensor;

typedef struct ds4_st_set ds4_st_set;

/* "F8_E4M3" -> dtype; false if unknown. */
bool ds4_st_dtype_from_name(const char *s, ds4_st_dtype *out);
const char *ds4_st_dtype_name(ds4_st_dtype t);
size_t ds4_st_dtype_size(ds4_st_dtype t);

/* Opens a checkpoint folder: model.safetensors.index.json (sharded) if
 * present, else model.safetensors. */
ds4_st_set *ds4_st_open_dir(const char *dir, ds4_error *err);
/* Opens a single .safetensors file. */
ds4_st_set *ds4_st_open_file(const char *path, ds4_error *err);
void ds4_st_close(ds4_st_set *s);

/* Parses one header (the JSON text after the 8-byte length) for a data
 * buffer of data_size bytes starting at data_start; appends the tensors to
 * s with the given shard index. Exposed for the fuzzer and tests. */
bool ds4_st_parse_header(ds4_st_set *s, const char *json, size_t len, uint64_t data_start,
                         uint64_t data_size, int shard, const char *what, ds4_error *err);
ds4_st_set *ds4_st_new_empty(void);
/* Sorts the tensor table for lookup; a name seen twice is an error. */
bool ds4_st_finish(ds4_st_set *s, ds4_error *err);

size_t ds4_st_count(const ds4_st_set *s);
const ds4_st_tensor *ds4_st_at(const ds4_st_set *s, size_t i);
/* Exact-name lookup (binary search over the sorted names); NULL if absent. */
const ds4_st_tensor *ds4_st_find(const ds4_st_set *s, const char *name);
const char *ds4_st_shard_path(const ds4_st_set *s, int shard);
uint64_t ds4_st_total_bytes(const ds4_st_set *s);

/* Reads len bytes at byte offset off inside tensor t into buf. Thread-safe. */
bool ds4_st_read(const ds4_st_set *s, const ds4_st_tensor *t, uint64_t off, size_t len, void *buf,
                 ds4_error *err);

/* Element count (product of shape). */
uint64_t ds4_st_numel(const ds4_st_tensor *t);

#endif
