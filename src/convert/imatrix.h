/* Legacy llama.cpp importance-matrix file (.dat, formats.md E) and the
 * per-tensor / per-expert lookup of B.10. */
#ifndef DS4_CONVERT_IMATRIX_H
#define DS4_CONVERT_IMATRIX_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

typedef struct ds4_imatrix_entry {
    char *name;
    int32_t ncall;
    int64_t nval;
    float *values; /* already divided by ncall when ncall > 0 */
} ds4_imatrix_entry;

typedef struct ds4_imatrix {
    ds4_imatrix_entry *e;
    int64_t n;
    int32_t chunk_count;  /* trailer; 0 when absent */
    char *dataset;        /* trailer; NULL when absent */
} ds4_imatrix;

/* Reads and validates the whole file; the error names the entry and the byte offset. */
bool ds4_imatrix_load(const char *path, ds4_imatrix *im, ds4_error *err);
/* Parses an in-memory image (for tests and the fuzzer). */
bool ds4_imatrix_parse(const uint8_t *data, size_t size, const char *what, ds4_imatrix *im, ds4_error *err);
void ds4_imatrix_free(ds4_imatrix *im);

/* Importance for expert `expert` (or -1 for a non-expert tensor) of a
 * tensor with ncols = ne0 per row, trying the GGUF name and then the HF
 * name in B.10's pass order. *out is NULL when nothing matches; a matching
 * entry of the wrong size is an error. */
bool ds4_imatrix_lookup(const ds4_imatrix *im, const char *gguf_name, const char *hf_name, int expert,
                        int64_t n_expert, int64_t ncols, const float **out, ds4_error *err);

#endif
