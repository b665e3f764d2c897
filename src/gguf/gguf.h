/* GGUF v3 reader (over mmap) and streaming writer.
 *
 * The reader validates every offset, length and count against the file size
 * before use; a malformed file gives a ds4_error naming the field and the
 * byte offset, never a crash. Strings point into the mapping and are NOT
 * NUL-terminated: always use the length. */
#ifndef DS4_GGUF_H
#define DS4_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 8

typedef enum gguf_vtype {
    GGUF_VT_UINT8 = 0, GGUF_VT_INT8 = 1, GGUF_VT_UINT16 = 2, GGUF_VT_INT16 = 3,
    GGUF_VT_UINT32 = 4, GGUF_VT_INT32 = 5, GGUF_VT_FLOAT32 = 6, GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8, GGUF_VT_ARRAY = 9, GGUF_VT_UINT64 = 10, GGUF_VT_INT64 = 11,
    GGUF_VT_FLOAT64 = 12,
    GGUF_VT_INVALID = 13, /* returned for an out-of-range index; never in a file */
} gguf_vtype;

/* Maximum nesting of arrays inside arrays that the reader accepts (the format
 * has no limit; this bounds recursion on hostile input). */
#define GGUF_MAX_ARRAY_NESTING 8
#define GGUF_MAX_TENSOR_NAME 63

typedef struct gguf_str {
    const char *ptr; /* not NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct gguf_tensor {
    gguf_str name;
    char cname[64];            /* NUL-terminated copy of name (names are <= 63 bytes) */
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* GGUF order: ne[0] is contiguous; unused dims are 1 */
    uint32_t type;              /* ggml type id (gguf/types.h) */
    uint64_t offset;            /* relative to the data section */
    uint64_t nbytes;            /* computed from type and dims */
    const void *data;           /* pointer into the mapping */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* ---- reading ---- */

gguf_file *gguf_open(const char *path, ds4_error *err); /* gguf_open_with(path, NULL, err) */

/* How the file's bytes reach memory. A mapping of the page cache starts at
 * once and shares pages between processes, but uses 4 KiB pages; reading
 * the file into anonymous memory advised for 2 MiB transparent huge pages
 * costs a full read at open and needs the file to fit in RAM, and then
 * streams the weights about a third faster (fewer TLB misses; numbers in
 * docs/performance.md). */
typedef enum gguf_open_mode {
    GGUF_OPEN_MAP = 0,  /* mmap the file */
    GGUF_OPEN_READ = 1, /* read it into 2 MiB-aligned anonymous memory */
} gguf_open_mode;

typedef struct gguf_open_opts {
    gguf_open_mode mode;
    bool progress; /* progress bar while reading (GGUF_OPEN_READ) */
} gguf_open_opts;

gguf_file *gguf_open_with(const char *path, const gguf_open_opts *opts, ds4_error *err);
/* Parses a GGUF image already in memory (used by the fuzzer and tests). The
 * buffer must outlive the returned handle. */
gguf_file *gguf_open_memory(const void *data, size_t size, ds4_error *err);
void gguf_close(gguf_file *f);

const char *gguf_path(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);
uint64_t gguf_data_offset(const gguf_file *f);   /* absolute start of tensor data */
const void *gguf_base(const gguf_file *f);        /* start of the mapping */
bool gguf_is_copy(const gguf_file *f);            /* opened with GGUF_OPEN_READ */

/* Metadata. Keys are looked up by exact name; index < 0 means absent. */
int64_t gguf_n_kv(const gguf_file *f);
int64_t gguf_find_key(const gguf_file *f, const char *key);
gguf_str gguf_kv_key(const gguf_file *f, int64_t i);
gguf_vtype gguf_kv_type(const gguf_file *f, int64_t i);

/* Strict typed getters: false if the key is absent or not exactly that type
 * (err says which). */
bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, ds4_error *err);
bool gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, ds4_error *err);
bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, ds4_error *err);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out, ds4_error *err);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out, ds4_error *err);
bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, ds4_error *err);
/* Lenient numeric getter: accepts any integer or float scalar type. */
bool gguf_get_number(const gguf_file *f, const char *key, double *out, ds4_error *err);

/* Arrays. gguf_get_arr gives element type, count and (for fixed-size element
 * types) a pointer to the packed little-endian elements in the mapping. For
 * string arrays data is NULL: use gguf_get_arr_str. Nested arrays: data NULL. */
bool gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype *elem_type, uint64_t *count,
                  const void **data, ds4_error *err);
/* i-th string of a string array (O(1) after the first call: offsets are indexed). */
bool gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, gguf_str *out, ds4_error *err);
/* Numeric array element i converted to double (any numeric element type). */
bool gguf_get_arr_number(const gguf_file *f, const char *key, uint64_t i, double *out, ds4_error *err);

/* Generic read-only view of one (already validated) metadata value, for
 * walking any value including nested arrays (inspect, fuzzer). ptr points at
 * the encoded value in the mapping and nbytes is its full encoded size. */
typedef struct gguf_val {
    gguf_vtype type;
    const uint8_t *ptr;
    uint64_t nbytes;
} gguf_val;

gguf_val gguf_kv_val(const gguf_file *f, int64_t i); /* type GGUF_VT_INVALID if i is out of range */
/* Array header of an ARRAY value (false if v is not an array). */
bool gguf_val_arr_info(gguf_val v, gguf_vtype *elem_type, uint64_t *count);
/* Element i of an array: O(1) for fixed-size elements, O(i) otherwise.
 * Type GGUF_VT_INVALID if v is not an array or i >= count. */
gguf_val gguf_val_arr_elem(gguf_val v, uint64_t i);
/* The element that follows e inside the same array (e must not be the last). */
gguf_val gguf_val_next(gguf_val e);
/* Scalar decoders. u64: UINT*, BOOL; i64: INT* (and UINT* that fit);
 * f64: any integer or float type; str: STRING. False on a type mismatch. */
bool gguf_val_u64(gguf_val v, uint64_t *out);
bool gguf_val_i64(gguf_val v, int64_t *out);
bool gguf_val_f64(gguf_val v, double *out);
bool gguf_val_str(gguf_val v, gguf_str *out);

/* Tensors. */
int64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name); /* NULL if absent */

/* Size in bytes of one value of a scalar metadata type (0 for string/array). */
size_t gguf_vtype_size(gguf_vtype t);
const char *gguf_vtype_name(gguf_vtype t);

/* ---- writing ----
 * Usage: open, add metadata (any order), declare every tensor (name, dims,
 * type) in the order its data will come, then write each tensor's bytes in
 * that order with gguf_writer_write (in as many pieces as convenient; the
 * writer pads when a tensor's declared size is reached), then finish.
 * Output goes to "<path>.tmp" and is renamed to path by gguf_writer_finish;
 * gguf_writer_abort (or any failure) removes the temp file. */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_open(const char *path, uint32_t alignment, ds4_error *err);
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
void gguf_writer_set_strn(gguf_writer *w, const char *key, const char *v, size_t len);
/* Array of fixed-size elements (any scalar type), count elements from data. */
void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_vtype elem_type, const void *data,
                         uint64_t count);
/* Array of strings; lens may be NULL for NUL-terminated strings. */
void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                             const size_t *lens, uint64_t count);

/* Copies metadata record i of another file verbatim (key, type and value,
 * nested arrays included), e.g. from a template GGUF. */
void gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, int64_t i);
/* Number of metadata records so far; has_key is true if key was set. */
int64_t gguf_writer_n_kv(const gguf_writer *w);
bool gguf_writer_has_key(const gguf_writer *w, const char *key);

bool gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                            uint32_t type, ds4_error *err);
/* Total bytes the file will have once finished (header + padded data). */
uint64_t gguf_writer_planned_size(const gguf_writer *w);
/* Offset (relative to the data section) the i-th declared tensor will get. */
uint64_t gguf_writer_tensor_offset(const gguf_writer *w, int64_t i);
/* Appends bytes to the current tensor; crossing into the next tensor is an error. */
bool gguf_writer_write(gguf_writer *w, const void *data, size_t n, ds4_error *err);
bool gguf_writer_finish(gguf_writer *w, ds4_error *err); /* frees w */
void gguf_writer_abort(gguf_writer *w);                   /* frees w, removes temp file */

#endif
