/* Shared between the GGUF reader, its metadata getters and the writer. Not
 * part of the public API. */
#ifndef DS4_GGUF_INTERNAL_H
#define DS4_GGUF_INTERNAL_H

#include <string.h>

#include "gguf/gguf.h"

typedef struct gguf_kv {
    gguf_str key;
    gguf_val val;          /* the whole encoded value */
    /* Arrays only: element type, count, first element, and for string
     * arrays the offset of every string relative to elems (O(1) indexing). */
    gguf_vtype elem_type;
    uint64_t count;
    const uint8_t *elems;
    uint64_t *str_off;
} gguf_kv;

/* Open-addressing hash index of names -> record index (keys, tensors). */
typedef struct name_index {
    uint64_t cap; /* power of two, or 0 */
    int64_t *slot; /* -1 = empty */
} name_index;

struct gguf_file {
    char *path;
    const uint8_t *base;
    uint64_t size;
    bool mapped;
    bool copy; /* read into anonymous memory (GGUF_OPEN_READ) */
    void *map_base; /* what gguf_close unmaps (base may sit inside it) */
    size_t map_len;
    uint32_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    gguf_kv *kv;
    int64_t n_tensors;
    gguf_tensor *tensors;
    name_index kv_index;
    name_index tensor_index;
};

static inline uint16_t gguf_rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t gguf_rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t gguf_rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

uint64_t gguf_name_hash(const char *p, uint64_t len);

/* Printable, length-limited rendering of a name from the file for error
 * messages (names in hostile files may hold anything). Returns buf. */
const char *gguf_printable(char *buf, size_t bufsize, const char *p, uint64_t len);

#endif
