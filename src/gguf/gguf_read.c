/* GGUF v3 reader: parses the header, the metadata records and the tensor
 * directory of a file image (mmap'ed or in memory).
 *
 * The image is untrusted. Every read goes through a cursor that checks the
 * remaining length first, all size arithmetic is overflow-checked, counts are
 * compared against what the remaining bytes could possibly hold before
 * anything is allocated, and array nesting is bounded, so hostile input gets
 * an error naming the field and byte offset instead of a crash, a huge
 * allocation or deep recursion. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pool.h"
#include "base/progress.h"
#include "gguf/gguf_internal.h"
#include "gguf/types.h"

/* Smallest possible encodings, used to reject impossible counts early:
 * a metadata record is a key length (8) + type (4) + a 1-byte value; a tensor
 * info is a name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8). */
#define MIN_KV_BYTES 13u
#define MIN_TENSOR_INFO_BYTES 32u
#define MIN_FILE_BYTES 32u

typedef struct cursor {
    const uint8_t *b;
    uint64_t size;
    uint64_t pos;
    ds4_error *err;
    char ctx[192]; /* what is being parsed, e.g. "metadata key 3 'general.name'" */
} cursor;

const char *gguf_printable(char *buf, size_t bufsize, const char *p, uint64_t len) {
    size_t o = 0;
    for (uint64_t i = 0; i < len && o + 4 < bufsize; i++) {
        unsigned char ch = (unsigned char)p[i];
        buf[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (o + 4 >= bufsize && len > o) {
        buf[o++] = '.'; buf[o++] = '.'; buf[o++] = '.';
    }
    buf[o] = 0;
    return buf;
}

static bool need(cursor *c, uint64_t n, const char *field) {
    if (n <= c->size - c->pos) return true;
    return ds4_fail(c->err,
                    "%s: %s at offset %" PRIu64 " needs %" PRIu64 " bytes but only %" PRIu64
                    " remain (file size %" PRIu64 ")",
                    c->ctx, field, c->pos, n, c->size - c->pos, c->size);
}

static bool rd_u32(cursor *c, const char *field, uint32_t *v) {
    if (!need(c, 4, field)) return false;
    *v = gguf_rd32(c->b + c->pos);
    c->pos += 4;
    return true;
}

static bool rd_u64(cursor *c, const char *field, uint64_t *v) {
    if (!need(c, 8, field)) return false;
    *v = gguf_rd64(c->b + c->pos);
    c->pos += 8;
    return true;
}

static bool rd_str(cursor *c, const char *field, gguf_str *s) {
    uint64_t at = c->pos, len;
    if (!rd_u64(c, field, &len)) return false;
    if (len > c->size - c->pos)
        return ds4_fail(c->err,
                        "%s: %s length %" PRIu64 " at offset %" PRIu64
                        " runs past the end of the file (file size %" PRIu64 ")",
                        c->ctx, field, len, at, c->size);
    s->ptr = (const char *)(c->b + c->pos);
    s->len = len;
    c->pos += len;
    return true;
}

size_t gguf_vtype_size(gguf_vtype t) {
    switch (t) {
    case GGUF_VT_UINT8: case GGUF_VT_INT8: case GGUF_VT_BOOL: return 1;
    case GGUF_VT_UINT16: case GGUF_VT_INT16: return 2;
    case GGUF_VT_UINT32: case GGUF_VT_INT32: case GGUF_VT_FLOAT32: return 4;
    case GGUF_VT_UINT64: case GGUF_VT_INT64: case GGUF_VT_FLOAT64: return 8;
    default: return 0;
    }
}

const char *gguf_vtype_name(gguf_vtype t) {
    static const char *const names[] = {"UINT8", "INT8", "UINT16", "INT16", "UINT32",
                                        "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY",
                                        "UINT64", "INT64", "FLOAT64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "INVALID";
}

static bool valid_vtype(uint32_t t) { return t <= GGUF_VT_FLOAT64; }

static bool check_bools(cursor *c, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        uint8_t v = c->b[c->pos + i];
        if (v > 1)
            return ds4_fail(c->err, "%s: invalid BOOL value %u at offset %" PRIu64 " (must be 0 or 1)",
                            c->ctx, v, c->pos + i);
    }
    return true;
}

static bool skip_value(cursor *c, uint32_t type, int depth);

/* Validates the elements of an array whose header was just read. */
static bool skip_elems(cursor *c, uint32_t et, uint64_t count, uint64_t hdr_at, int depth) {
    uint64_t remain = c->size - c->pos;
    size_t es = gguf_vtype_size((gguf_vtype)et);
    if (es) {
        if (count > remain / es)
            return ds4_fail(c->err,
                            "%s: array at offset %" PRIu64 " of %" PRIu64 " %s elements needs more than the %" PRIu64
                            " bytes left in the file",
                            c->ctx, hdr_at, count, gguf_vtype_name((gguf_vtype)et), remain);
        if (et == GGUF_VT_BOOL && !check_bools(c, count)) return false;
        c->pos += count * es;
        return true;
    }
    /* Variable-size elements: a string needs >= 8 bytes, an array >= 12. */
    uint64_t min = et == GGUF_VT_STRING ? 8 : 12;
    if (count > remain / min)
        return ds4_fail(c->err,
                        "%s: array at offset %" PRIu64 " claims %" PRIu64 " %s elements, more than the %" PRIu64
                        " bytes left in the file can hold",
                        c->ctx, hdr_at, count, gguf_vtype_name((gguf_vtype)et), remain);
    for (uint64_t i = 0; i < count; i++)
        if (!skip_value(c, et, depth)) return false;
    return true;
}

static bool rd_arr_header(cursor *c, int depth, uint32_t *et, uint64_t *count) {
    uint64_t at = c->pos;
    if (!rd_u32(c, "array element type", et) || !rd_u64(c, "array element count", count)) return false;
    if (!valid_vtype(*et))
        return ds4_fail(c->err, "%s: unknown array element type %" PRIu32 " at offset %" PRIu64, c->ctx, *et, at);
    if (*et == GGUF_VT_ARRAY && depth + 1 >= GGUF_MAX_ARRAY_NESTING)
        return ds4_fail(c->err, "%s: arrays nested more than %d deep at offset %" PRIu64, c->ctx,
                        GGUF_MAX_ARRAY_NESTING, at);
    return true;
}

static bool skip_value(cursor *c, uint32_t type, int depth) {
    if (type == GGUF_VT_STRING) {
        gguf_str s;
        return rd_str(c, "string", &s);
    }
    if (type == GGUF_VT_ARRAY) {
        uint64_t at = c->pos, count;
        uint32_t et;
        if (!rd_arr_header(c, depth, &et, &count)) return false;
        return skip_elems(c, et, count, at, depth + 1);
    }
    size_t es = gguf_vtype_size((gguf_vtype)type);
    if (!es) return ds4_fail(c->err, "%s: unknown value type %" PRIu32, c->ctx, type);
    if (!need(c, es, gguf_vtype_name((gguf_vtype)type))) return false;
    if (type == GGUF_VT_BOOL && !check_bools(c, 1)) return false;
    c->pos += es;
    return true;
}

static bool parse_kv(cursor *c, int64_t i, gguf_kv *kv) {
    snprintf(c->ctx, sizeof c->ctx, "metadata record %" PRId64, i);
    if (!rd_str(c, "key", &kv->key)) return false;
    char name[80];
    snprintf(c->ctx, sizeof c->ctx, "metadata key %" PRId64 " '%s'", i,
             gguf_printable(name, sizeof name, kv->key.ptr, kv->key.len));
    uint64_t type_at = c->pos;
    uint32_t type;
    if (!rd_u32(c, "value type", &type)) return false;
    if (!valid_vtype(type))
        return ds4_fail(c->err, "%s: unknown value type %" PRIu32 " at offset %" PRIu64, c->ctx, type, type_at);
    uint64_t vstart = c->pos;
    kv->val.type = (gguf_vtype)type;
    kv->val.ptr = c->b + vstart;
    if (type != GGUF_VT_ARRAY) {
        if (!skip_value(c, type, 0)) return false;
    } else {
        uint32_t et;
        uint64_t count;
        if (!rd_arr_header(c, 0, &et, &count)) return false;
        kv->elem_type = (gguf_vtype)et;
        kv->count = count;
        kv->elems = c->b + c->pos;
        if (et == GGUF_VT_STRING) {
            /* Index every string for O(1) access (tokenizer vocabularies).
             * count <= remaining/8 is checked first, so this allocation is
             * bounded by the file size. */
            uint64_t remain = c->size - c->pos;
            if (count > remain / 8)
                return ds4_fail(c->err,
                                "%s: array at offset %" PRIu64 " claims %" PRIu64
                                " strings, more than the %" PRIu64 " bytes left in the file can hold",
                                c->ctx, vstart, count, remain);
            kv->str_off = malloc((count ? count : 1) * sizeof *kv->str_off);
            if (!kv->str_off)
                return ds4_fail(c->err, "%s: out of memory indexing %" PRIu64 " strings", c->ctx, count);
            uint64_t base = c->pos;
            for (uint64_t k = 0; k < count; k++) {
                kv->str_off[k] = c->pos - base;
                gguf_str s;
                if (!rd_str(c, "string", &s)) return false;
            }
        } else if (!skip_elems(c, et, count, vstart, 1)) {
            return false;
        }
    }
    kv->val.nbytes = c->pos - vstart;
    return true;
}

/* ---- name index (keys and tensor names) ---- */

uint64_t gguf_name_hash(const char *p, uint64_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (uint64_t i = 0; i < len; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

typedef struct name_list {
    const char *base; /* address of the first record's gguf_str */
    size_t stride;
} name_list;

static const gguf_str *nl_get(name_list l, int64_t i) {
    return (const gguf_str *)(const void *)(l.base + (size_t)i * l.stride);
}

static bool str_eq(const gguf_str *s, const char *p, uint64_t len) {
    return s->len == len && (len == 0 || memcmp(s->ptr, p, len) == 0);
}

static int64_t index_find(const name_index *ix, name_list l, const char *p, uint64_t len) {
    if (!ix->cap) return -1;
    uint64_t m = ix->cap - 1;
    for (uint64_t h = gguf_name_hash(p, len) & m;; h = (h + 1) & m) {
        int64_t j = ix->slot[h];
        if (j < 0) return -1;
        if (str_eq(nl_get(l, j), p, len)) return j;
    }
}

/* Builds the index; returns -1 on success or the index of the first record
 * whose name repeats an earlier one (*first gets the earlier one). */
static int64_t index_build(name_index *ix, name_list l, int64_t n, int64_t *first) {
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2) cap <<= 1;
    ix->cap = cap;
    ix->slot = ds4_xmalloc(cap * sizeof *ix->slot);
    memset(ix->slot, 0xff, cap * sizeof *ix->slot);
    for (int64_t i = 0; i < n; i++) {
        const gguf_str *s = nl_get(l, i);
        uint64_t h = gguf_name_hash(s->ptr, s->len) & (cap - 1);
        while (ix->slot[h] >= 0) {
            if (str_eq(nl_get(l, ix->slot[h]), s->ptr, s->len)) {
                *first = ix->slot[h];
                return i;
            }
            h = (h + 1) & (cap - 1);
        }
        ix->slot[h] = i;
    }
    return -1;
}

static name_list kv_names(const gguf_file *f) {
    return (name_list){(const char *)&f->kv[0].key, sizeof(gguf_kv)};
}

static name_list tensor_names(const gguf_file *f) {
    return (name_list){(const char *)&f->tensors[0].name, sizeof(gguf_tensor)};
}

int64_t gguf_find_key(const gguf_file *f, const char *key) {
    if (!f || !key || !f->n_kv) return -1;
    return index_find(&f->kv_index, kv_names(f), key, strlen(key));
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!f || !name || !f->n_tensors) return NULL;
    int64_t i = index_find(&f->tensor_index, tensor_names(f), name, strlen(name));
    return i < 0 ? NULL : &f->tensors[i];
}

/* ---- tensor directory ---- */

static bool parse_tensor_info(cursor *c, int64_t i, gguf_tensor *t) {
    snprintf(c->ctx, sizeof c->ctx, "tensor %" PRId64, i);
    uint64_t name_at = c->pos;
    if (!rd_str(c, "name", &t->name)) return false;
    char pn[80];
    gguf_printable(pn, sizeof pn, t->name.ptr, t->name.len);
    if (t->name.len > GGUF_MAX_TENSOR_NAME)
        return ds4_fail(c->err, "tensor %" PRId64 " '%s': name at offset %" PRIu64 " is %" PRIu64
                        " bytes long (at most %d allowed)", i, pn, name_at, t->name.len, GGUF_MAX_TENSOR_NAME);
    if (memchr(t->name.ptr, 0, t->name.len))
        return ds4_fail(c->err, "tensor %" PRId64 " '%s': name at offset %" PRIu64 " contains a NUL byte", i, pn,
                        name_at);
    memcpy(t->cname, t->name.ptr, t->name.len);
    t->cname[t->name.len] = 0;
    snprintf(c->ctx, sizeof c->ctx, "tensor %" PRId64 " '%s'", i, pn);

    uint64_t at = c->pos;
    if (!rd_u32(c, "n_dims", &t->n_dims)) return false;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return ds4_fail(c->err, "%s: n_dims %" PRIu32 " at offset %" PRIu64 " is out of range (1..%d)", c->ctx,
                        t->n_dims, at, GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    uint64_t elems = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        at = c->pos;
        if (!rd_u64(c, "dimension", &t->ne[d])) return false;
        if (t->ne[d] > (uint64_t)INT64_MAX)
            return ds4_fail(c->err, "%s: ne[%" PRIu32 "] = %" PRIu64 " at offset %" PRIu64 " is too large", c->ctx, d,
                            t->ne[d], at);
        if (t->ne[d] && elems > (uint64_t)INT64_MAX / t->ne[d])
            return ds4_fail(c->err, "%s: element count overflows 64 bits (dims at offset %" PRIu64 ")", c->ctx, at);
        elems *= t->ne[d];
    }
    at = c->pos;
    if (!rd_u32(c, "type", &t->type)) return false;
    if (!ds4_type_known(t->type))
        return ds4_fail(c->err, "%s: unknown ggml type id %" PRIu32 " at offset %" PRIu64, c->ctx, t->type, at);
    uint32_t be = ds4_type_block_elems(t->type);
    if (t->ne[0] % be)
        return ds4_fail(c->err, "%s: ne[0] = %" PRIu64 " is not a multiple of the %s block size %" PRIu32, c->ctx,
                        t->ne[0], ds4_type_name(t->type), be);
    uint64_t row = ds4_row_bytes(t->type, t->ne[0]);
    uint64_t rows = elems && t->ne[0] ? elems / t->ne[0] : 0;
    if ((t->ne[0] && !row) || (row && rows > UINT64_MAX / row))
        return ds4_fail(c->err, "%s: byte size overflows 64 bits", c->ctx);
    t->nbytes = row * rows;
    if (!rd_u64(c, "data offset field", &t->offset)) return false;
    return true;
}

/* Second pass, once data_offset is known: alignment and extent of each tensor. */
static bool check_tensor_extent(const gguf_file *f, int64_t i, ds4_error *err) {
    gguf_tensor *t = &f->tensors[i];
    char pn[80];
    gguf_printable(pn, sizeof pn, t->name.ptr, t->name.len);
    if (t->offset % f->alignment)
        return ds4_fail(err, "tensor %" PRId64 " '%s': offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                        i, pn, t->offset, f->alignment);
    uint64_t ds = f->data_offset;
    if (ds > f->size || t->offset > f->size - ds || t->nbytes > f->size - ds - t->offset)
        return ds4_fail(err,
                        "tensor %" PRId64 " '%s': data extends past end of file (offset %" PRIu64 " + data start %" PRIu64
                        ", size %" PRIu64 ", file size %" PRIu64 ")",
                        i, pn, t->offset, ds, t->nbytes, f->size);
    t->data = f->base + ds + t->offset;
    return true;
}

static bool parse_image(gguf_file *f, ds4_error *err) {
    cursor c = {.b = f->base, .size = f->size, .pos = 0, .err = err};
    snprintf(c.ctx, sizeof c.ctx, "header");
    if (f->size < MIN_FILE_BYTES)
        return ds4_fail(err, "file is too small to be a GGUF: %" PRIu64 " bytes (at least %u needed)", f->size,
                        MIN_FILE_BYTES);
    uint32_t magic = gguf_rd32(f->base);
    if (magic != GGUF_MAGIC)
        return ds4_fail(err,
                        "not a GGUF file: bad magic at offset 0 (bytes %02x %02x %02x %02x, expected 47 47 55 46 \"GGUF\")",
                        f->base[0], f->base[1], f->base[2], f->base[3]);
    uint32_t version = gguf_rd32(f->base + 4);
    if (version == 1 || version == 2)
        return ds4_fail(err,
                        "GGUF version %" PRIu32 " at offset 4 is not supported: only version 3 is read "
                        "(re-convert the model with a current converter)",
                        version);
    if (version == 0x03000000u)
        return ds4_fail(err, "big-endian GGUF (version field at offset 4 reads 0x03000000) is not supported");
    if (version != GGUF_VERSION)
        return ds4_fail(err, "unsupported GGUF version %" PRIu32 " at offset 4 (expected 3)", version);
    uint64_t n_tensors = gguf_rd64(f->base + 8), n_kv = gguf_rd64(f->base + 16);
    uint64_t room = f->size - 24;
    if (n_kv > room / MIN_KV_BYTES)
        return ds4_fail(err,
                        "header: metadata_kv_count %" PRIu64 " at offset 16 is impossible for a file of %" PRIu64
                        " bytes",
                        n_kv, f->size);
    if (n_tensors > room / MIN_TENSOR_INFO_BYTES)
        return ds4_fail(err,
                        "header: tensor_count %" PRIu64 " at offset 8 is impossible for a file of %" PRIu64 " bytes",
                        n_tensors, f->size);
    c.pos = 24;

    f->kv = ds4_xcalloc(n_kv ? n_kv : 1, sizeof *f->kv);
    f->n_kv = (int64_t)n_kv;
    for (int64_t i = 0; i < f->n_kv; i++)
        if (!parse_kv(&c, i, &f->kv[i])) return false;
    int64_t first = -1, dup = index_build(&f->kv_index, kv_names(f), f->n_kv, &first);
    if (dup >= 0) {
        char pn[80];
        return ds4_fail(err, "metadata key %" PRId64 " '%s' duplicates metadata key %" PRId64, dup,
                        gguf_printable(pn, sizeof pn, f->kv[dup].key.ptr, f->kv[dup].key.len), first);
    }

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = gguf_find_key(f, "general.alignment");
    if (ai >= 0 && f->kv[ai].val.type == GGUF_VT_UINT32) {
        uint32_t a = gguf_rd32(f->kv[ai].val.ptr);
        if (a) f->alignment = a;
    }

    f->tensors = ds4_xcalloc(n_tensors ? n_tensors : 1, sizeof *f->tensors);
    f->n_tensors = (int64_t)n_tensors;
    for (int64_t i = 0; i < f->n_tensors; i++)
        if (!parse_tensor_info(&c, i, &f->tensors[i])) return false;
    dup = index_build(&f->tensor_index, tensor_names(f), f->n_tensors, &first);
    if (dup >= 0)
        return ds4_fail(err, "tensor %" PRId64 " '%s': duplicate name (same as tensor %" PRId64 ")", dup,
                        f->tensors[dup].cname, first);

    uint64_t a = f->alignment;
    f->data_offset = c.pos + (a - c.pos % a) % a; /* c.pos <= size, a < 2^32: no overflow */
    for (int64_t i = 0; i < f->n_tensors; i++)
        if (!check_tensor_extent(f, i, err)) return false;
    return true;
}

static gguf_file *open_image(const uint8_t *base, uint64_t size, void *map_base, size_t map_len, const char *path,
                             ds4_error *err) {
    gguf_file *f = ds4_xcalloc(1, sizeof *f);
    f->base = base;
    f->size = size;
    f->mapped = map_base != NULL;
    f->map_base = map_base;
    f->map_len = map_len;
    f->path = ds4_xstrdup(path);
    if (!parse_image(f, err)) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open_memory(const void *data, size_t size, ds4_error *err) {
    if (!data && size) {
        ds4_fail(err, "gguf_open_memory: NULL buffer");
        return NULL;
    }
    static const uint8_t empty[1];
    return open_image(data ? data : empty, size, NULL, 0, "<memory>", err);
}

/* GGUF_OPEN_READ: the file read into anonymous memory advised for 2 MiB
 * transparent huge pages. A file mapping uses 4 KiB pages, and measured on a
 * 2-core KVM guest a two-thread read stream over it ran at ~16 GB/s against
 * ~27 GB/s over huge pages (TLB walks); decode streams every weight once per
 * token, so this caps it. Read in 256 MiB steps so a multi-GB model shows
 * progress. */
/* The parallel read: page zeroing and the copy out of the page cache cost
 * CPU time (~2.5 GB/s per core measured here), so several threads each read
 * 64 MiB pieces. Progress is drawn by the calling thread (index 0) only. */
#define COPY_PIECE ((uint64_t)64 << 20)

typedef struct {
    int fd;
    uint8_t *base;
    uint64_t size;
    atomic_uint_fast64_t done;
    atomic_int failed;        /* first failure wins */
    uint64_t fail_off;
    int fail_errno;           /* 0: unexpected end of file */
    ds4_progress *bar;        /* NULL: none */
    uint64_t shown;
} copy_ctx;

static void copy_piece(void *p, int64_t task, int thread_index) {
    copy_ctx *c = p;
    uint64_t off = (uint64_t)task * COPY_PIECE, end = off + COPY_PIECE < c->size ? off + COPY_PIECE : c->size;
    while (off < end && !atomic_load(&c->failed)) {
        ssize_t got = pread(c->fd, c->base + off, (size_t)(end - off), (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&c->failed, &expected, 1)) {
                c->fail_off = off;
                c->fail_errno = got < 0 ? errno : 0;
            }
            return;
        }
        off += (uint64_t)got;
        atomic_fetch_add(&c->done, (uint64_t)got);
    }
    if (thread_index == 0 && c->bar) {
        uint64_t d = atomic_load(&c->done);
        ds4_progress_add(c->bar, d - c->shown);
        c->shown = d;
    }
}

/* GGUF_OPEN_READ: the file read into anonymous memory advised for 2 MiB
 * transparent huge pages. A file mapping uses 4 KiB pages, and measured on a
 * 2-core KVM guest a two-thread read stream over it ran at ~16 GB/s against
 * ~27 GB/s over huge pages (TLB walks); decode streams every weight once per
 * token, so this caps it. */
static gguf_file *open_copy(int fd, const char *path, uint64_t size, bool progress, ds4_error *err) {
    const size_t huge = (size_t)2 << 20;
    size_t len = ((size_t)size + huge - 1) / huge * huge + huge; /* room to align */
    uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        ds4_fail(err, "%s: cannot allocate %" PRIu64 " bytes to read the model into memory (%s); "
                 "map the file instead (DS4_WEIGHTS=mmap)", path, size, strerror(errno));
        return NULL;
    }
    uint8_t *base = (uint8_t *)(((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1));
    madvise(base, (size_t)size, MADV_HUGEPAGE); /* advisory: 4 KiB pages still work */
    ds4_progress bar;
    if (progress) ds4_progress_begin(&bar, "load", size, true);
    copy_ctx c = {.fd = fd, .base = base, .size = size, .bar = progress ? &bar : NULL};
    atomic_init(&c.done, 0);
    atomic_init(&c.failed, 0);
    const int64_t pieces = (int64_t)((size + COPY_PIECE - 1) / COPY_PIECE);
    int threads = ds4_cpu_count() < 8 ? ds4_cpu_count() : 8;
    if (threads > pieces) threads = (int)pieces;
    ds4_pool *pool = threads > 1 ? ds4_pool_create(threads) : NULL;
    ds4_pool_run(pool, copy_piece, &c, pieces);
    ds4_pool_destroy(pool);
    if (progress) {
        ds4_progress_add(&bar, atomic_load(&c.done) - c.shown);
        ds4_progress_end(&bar);
    }
    if (atomic_load(&c.failed)) {
        ds4_fail(err, "%s: read failed at offset %" PRIu64 ": %s", path, c.fail_off,
                 c.fail_errno ? strerror(c.fail_errno) : "unexpected end of file");
        munmap(m, len);
        return NULL;
    }
    gguf_file *f = open_image(base, size, m, len, path, err);
    if (f) f->copy = true;
    else ds4_error_prefix(err, "%s", path);
    return f;
}

gguf_file *gguf_open(const char *path, ds4_error *err) { return gguf_open_with(path, NULL, err); }

gguf_file *gguf_open_with(const char *path, const gguf_open_opts *opts, ds4_error *err) {
    const gguf_open_opts def = {GGUF_OPEN_MAP, false};
    if (!opts) opts = &def;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ds4_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ds4_fail(err, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < MIN_FILE_BYTES) {
        ds4_fail(err, "%s: file is too small to be a GGUF: %" PRIu64 " bytes (at least %u needed)", path, size,
                 MIN_FILE_BYTES);
        close(fd);
        return NULL;
    }
    if (opts->mode == GGUF_OPEN_READ) {
        gguf_file *f = open_copy(fd, path, size, opts->progress, err);
        close(fd);
        return f;
    }
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) {
        ds4_fail(err, "%s: mmap of %" PRIu64 " bytes failed: %s", path, size, strerror(e));
        return NULL;
    }
    gguf_file *f = open_image(m, size, m, (size_t)size, path, err);
    if (!f) ds4_error_prefix(err, "%s", path);
    return f;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->mapped && f->map_base) munmap(f->map_base, f->map_len);
    if (f->kv)
        for (int64_t i = 0; i < f->n_kv; i++) free(f->kv[i].str_off);
    free(f->kv);
    free(f->tensors);
    free(f->kv_index.slot);
    free(f->tensor_index.slot);
    free(f->path);
    free(f);
}

const char *gguf_path(const gguf_file *f) { return f->path; }
uint64_t gguf_file_size(const gguf_file *f) { return f->size; }
uint32_t gguf_alignment(const gguf_file *f) { return f->alignment; }
uint64_t gguf_data_offset(const gguf_file *f) { return f->data_offset; }
const void *gguf_base(const gguf_file *f) { return f->base; }
bool gguf_is_copy(const gguf_file *f) { return f->copy; }
int64_t gguf_n_kv(const gguf_file *f) { return f->n_kv; }
int64_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i) {
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}
