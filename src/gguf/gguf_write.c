/* Streaming GGUF v3 writer (formats.md A.8).
 *
 * Metadata is encoded into a memory buffer and tensor infos are collected
 * until the first tensor byte arrives; then the header is written once and
 * tensor data streams straight to disk, so a converter never holds more than
 * one tensor in memory. Every tensor (the last included) is followed by zero
 * padding to the alignment, and offsets are the cumulative padded sizes.
 *
 * The metadata setters return void (they are called in long lists); a bad
 * call records a sticky error that the next add_tensor/write/finish reports. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf_internal.h"
#include "gguf/types.h"

#define MAX_KEY_LEN 65535

typedef struct wtensor {
    char name[GGUF_MAX_TENSOR_NAME + 1];
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint32_t type;
    uint64_t nbytes;
    uint64_t offset;
} wtensor;

struct gguf_writer {
    char *path;
    char *tmp;
    FILE *fp;
    uint32_t alignment;
    bool failed;
    ds4_error err;
    /* encoded metadata records */
    uint8_t *kv;
    size_t kv_len, kv_cap;
    int64_t n_kv;
    char **keys;
    /* declared tensors */
    wtensor *t;
    int64_t n_t, cap_t;
    uint64_t data_size; /* sum of padded tensor sizes */
    /* streaming state */
    bool header_written;
    int64_t cur;       /* tensor receiving bytes */
    uint64_t cur_done; /* bytes of it written */
    uint64_t written;  /* bytes in the file so far */
};

static uint64_t pad_to(uint64_t v, uint64_t a) { return (a - v % a) % a; }

static void fail_sticky(gguf_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_sticky(gguf_writer *w, const char *fmt, ...) {
    if (w->failed) return; /* keep the first error: later ones are usually consequences */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err.msg, sizeof w->err.msg, fmt, ap);
    va_end(ap);
    w->failed = true;
    /* "any failure removes the temp file" */
    if (w->fp) {
        fclose(w->fp);
        w->fp = NULL;
        unlink(w->tmp);
    }
}

static bool report(gguf_writer *w, ds4_error *err) {
    if (err) *err = w->err;
    return false;
}

gguf_writer *gguf_writer_open(const char *path, uint32_t alignment, ds4_error *err) {
    if (alignment == 0) alignment = GGUF_DEFAULT_ALIGNMENT;
    if (alignment % 8) {
        ds4_fail(err, "%s: GGUF alignment %" PRIu32 " is not a multiple of 8", path, alignment);
        return NULL;
    }
    gguf_writer *w = ds4_xcalloc(1, sizeof *w);
    w->path = ds4_xstrdup(path);
    size_t n = strlen(path);
    w->tmp = ds4_xmalloc(n + 5);
    memcpy(w->tmp, path, n);
    memcpy(w->tmp + n, ".tmp", 5);
    w->alignment = alignment;
    w->fp = fopen(w->tmp, "wb");
    if (!w->fp) {
        ds4_fail(err, "%s: cannot create: %s", w->tmp, strerror(errno));
        free(w->tmp);
        free(w->path);
        free(w);
        return NULL;
    }
    setvbuf(w->fp, NULL, _IOFBF, 1 << 22);
    /* A non-default alignment must be recorded or readers would assume 32. */
    if (alignment != GGUF_DEFAULT_ALIGNMENT) gguf_writer_set_u32(w, "general.alignment", alignment);
    return w;
}

/* ---- metadata encoding ---- */

static void put(gguf_writer *w, const void *p, size_t n) {
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap < w->kv_len + n) cap *= 2;
        w->kv = ds4_xrealloc(w->kv, cap);
        w->kv_cap = cap;
    }
    if (n) memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}

static void put_u32(gguf_writer *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(gguf_writer *w, uint64_t v) { put(w, &v, 8); }
static void put_str(gguf_writer *w, const char *s, uint64_t len) {
    put_u64(w, len);
    put(w, s, len);
}

bool gguf_writer_has_key(const gguf_writer *w, const char *key) {
    for (int64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key)) return true;
    return false;
}

int64_t gguf_writer_n_kv(const gguf_writer *w) { return w->n_kv; }

/* Starts a record (key + type); false if the record must not be written. */
static bool begin_kv(gguf_writer *w, const char *key, gguf_vtype type) {
    if (w->failed) return false;
    size_t len = key ? strlen(key) : 0;
    if (!len || len > MAX_KEY_LEN) {
        fail_sticky(w, "%s: metadata key of length %zu is invalid (1..%d bytes)", w->path, len, MAX_KEY_LEN);
        return false;
    }
    if (w->header_written) {
        fail_sticky(w, "%s: metadata key '%s' set after tensor data started", w->path, key);
        return false;
    }
    if (gguf_writer_has_key(w, key)) {
        fail_sticky(w, "%s: metadata key '%s' set twice", w->path, key);
        return false;
    }
    w->keys = ds4_xrealloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *w->keys);
    w->keys[w->n_kv++] = ds4_xstrdup(key);
    put_str(w, key, len);
    put_u32(w, (uint32_t)type);
    return true;
}

void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    if (key && !strcmp(key, "general.alignment")) {
        /* The writer owns the alignment: accept a matching value once. */
        if (v != w->alignment)
            fail_sticky(w, "%s: general.alignment %" PRIu32 " differs from the writer's alignment %" PRIu32, w->path,
                        v, w->alignment);
        if (w->failed || gguf_writer_has_key(w, key)) return;
    }
    if (begin_kv(w, key, GGUF_VT_UINT32)) put_u32(w, v);
}

void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    if (begin_kv(w, key, GGUF_VT_INT32)) put(w, &v, 4);
}

void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) {
    if (begin_kv(w, key, GGUF_VT_UINT64)) put_u64(w, v);
}

void gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    if (begin_kv(w, key, GGUF_VT_FLOAT32)) put(w, &v, 4);
}

void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    if (begin_kv(w, key, GGUF_VT_BOOL)) put(w, &b, 1);
}

void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    gguf_writer_set_strn(w, key, v ? v : "", v ? strlen(v) : 0);
}

void gguf_writer_set_strn(gguf_writer *w, const char *key, const char *v, size_t len) {
    if (begin_kv(w, key, GGUF_VT_STRING)) put_str(w, v, len);
}

void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_vtype elem_type, const void *data, uint64_t count) {
    size_t es = gguf_vtype_size(elem_type);
    if (!es) {
        fail_sticky(w, "%s: metadata key '%s': gguf_writer_set_arr needs a fixed-size element type, not %s", w->path,
                    key ? key : "", gguf_vtype_name(elem_type));
        return;
    }
    if (elem_type == GGUF_VT_BOOL)
        for (uint64_t i = 0; i < count; i++)
            if (((const uint8_t *)data)[i] > 1) {
                fail_sticky(w, "%s: metadata key '%s': BOOL element %" PRIu64 " is not 0 or 1", w->path, key, i);
                return;
            }
    if (!begin_kv(w, key, GGUF_VT_ARRAY)) return;
    put_u32(w, (uint32_t)elem_type);
    put_u64(w, count);
    put(w, data, (size_t)(count * es));
}

void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                             uint64_t count) {
    if (!begin_kv(w, key, GGUF_VT_ARRAY)) return;
    put_u32(w, GGUF_VT_STRING);
    put_u64(w, count);
    for (uint64_t i = 0; i < count; i++) put_str(w, strs[i], lens ? lens[i] : strlen(strs[i]));
}

void gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, int64_t i) {
    gguf_val v = gguf_kv_val(src, i);
    if (v.type == GGUF_VT_INVALID) {
        fail_sticky(w, "%s: gguf_writer_copy_kv: no metadata record %" PRId64 " in %s", w->path, i, gguf_path(src));
        return;
    }
    gguf_str k = gguf_kv_key(src, i);
    char *key = ds4_xmalloc(k.len + 1);
    memcpy(key, k.ptr, k.len);
    key[k.len] = 0;
    if (strlen(key) != k.len) {
        fail_sticky(w, "%s: metadata key %" PRId64 " of %s contains a NUL byte", w->path, i, gguf_path(src));
    } else if (!strcmp(key, "general.alignment") && v.type == GGUF_VT_UINT32) {
        gguf_writer_set_u32(w, key, gguf_rd32(v.ptr));
    } else if (begin_kv(w, key, v.type)) {
        put(w, v.ptr, (size_t)v.nbytes);
    }
    free(key);
}

/* ---- tensors ---- */

bool gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                            ds4_error *err) {
    if (w->failed) return report(w, err);
    size_t len = name ? strlen(name) : 0;
    if (!len || len > GGUF_MAX_TENSOR_NAME)
        return ds4_fail(err, "%s: tensor name '%s' must be 1..%d bytes", w->path, name ? name : "",
                        GGUF_MAX_TENSOR_NAME);
    if (w->header_written)
        return ds4_fail(err, "%s: tensor '%s' declared after tensor data started", w->path, name);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return ds4_fail(err, "%s: tensor '%s': n_dims %" PRIu32 " out of range (1..%d)", w->path, name, n_dims,
                        GGUF_MAX_DIMS);
    if (!ds4_type_known(type))
        return ds4_fail(err, "%s: tensor '%s': unknown ggml type id %" PRIu32, w->path, name, type);
    for (int64_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return ds4_fail(err, "%s: tensor '%s' declared twice", w->path, name);
    uint64_t rows = 1;
    for (uint32_t d = 1; d < n_dims; d++) {
        if (ne[d] && rows > UINT64_MAX / ne[d])
            return ds4_fail(err, "%s: tensor '%s': element count overflows", w->path, name);
        rows *= ne[d];
    }
    if (ne[0] % ds4_type_block_elems(type))
        return ds4_fail(err, "%s: tensor '%s': ne[0] = %" PRIu64 " is not a multiple of the %s block size %" PRIu32,
                        w->path, name, ne[0], ds4_type_name(type), ds4_type_block_elems(type));
    uint64_t row = ds4_row_bytes(type, ne[0]);
    if ((ne[0] && !row) || (row && rows > UINT64_MAX / row))
        return ds4_fail(err, "%s: tensor '%s': byte size overflows", w->path, name);
    uint64_t nbytes = row * rows;
    uint64_t padded = nbytes + pad_to(nbytes, w->alignment);
    if (padded < nbytes || w->data_size + padded < w->data_size)
        return ds4_fail(err, "%s: tensor '%s': data section size overflows", w->path, name);
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? w->cap_t * 2 : 64;
        w->t = ds4_xrealloc(w->t, (size_t)w->cap_t * sizeof *w->t);
    }
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, len + 1);
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->type = type;
    t->nbytes = nbytes;
    t->offset = w->data_size;
    w->data_size += padded;
    return true;
}

static uint64_t header_size(const gguf_writer *w) {
    uint64_t n = 24 + w->kv_len;
    for (int64_t i = 0; i < w->n_t; i++) n += 8 + strlen(w->t[i].name) + 4 + 8ull * w->t[i].n_dims + 4 + 8;
    return n;
}

uint64_t gguf_writer_planned_size(const gguf_writer *w) {
    uint64_t h = header_size(w);
    return h + pad_to(h, w->alignment) + w->data_size;
}

uint64_t gguf_writer_tensor_offset(const gguf_writer *w, int64_t i) {
    return i >= 0 && i < w->n_t ? w->t[i].offset : 0;
}

/* ---- streaming ---- */

static bool out(gguf_writer *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->fp) != n) {
        fail_sticky(w, "%s: write failed at byte %" PRIu64 ": %s", w->tmp, w->written, strerror(errno));
        return false;
    }
    w->written += n;
    return true;
}

static bool out_zeros(gguf_writer *w, uint64_t n) {
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (!out(w, zeros, k)) return false;
        n -= k;
    }
    return true;
}

static bool write_header(gguf_writer *w) {
    uint32_t u32[2] = {GGUF_MAGIC, GGUF_VERSION};
    uint64_t u64[2] = {(uint64_t)w->n_t, (uint64_t)w->n_kv};
    if (!out(w, u32, 8) || !out(w, u64, 16) || !out(w, w->kv, w->kv_len)) return false;
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t len = strlen(t->name);
        if (!out(w, &len, 8) || !out(w, t->name, len) || !out(w, &t->n_dims, 4) || !out(w, t->ne, 8ull * t->n_dims) ||
            !out(w, &t->type, 4) || !out(w, &t->offset, 8))
            return false;
    }
    w->header_written = true;
    return out_zeros(w, pad_to(w->written, w->alignment));
}

/* Pads and moves past every tensor that is complete (zero-size ones too). */
static bool advance(gguf_writer *w) {
    while (w->cur < w->n_t && w->cur_done == w->t[w->cur].nbytes) {
        if (!out_zeros(w, pad_to(w->t[w->cur].nbytes, w->alignment))) return false;
        w->cur++;
        w->cur_done = 0;
    }
    return true;
}

bool gguf_writer_write(gguf_writer *w, const void *data, size_t n, ds4_error *err) {
    if (w->failed) return report(w, err);
    if (!w->header_written && !write_header(w)) return report(w, err);
    if (!advance(w)) return report(w, err);
    if (!n) return true;
    if (w->cur >= w->n_t) {
        fail_sticky(w, "%s: %zu bytes written after the last tensor was complete", w->path, n);
        return report(w, err);
    }
    const wtensor *t = &w->t[w->cur];
    if (n > t->nbytes - w->cur_done) {
        fail_sticky(w, "%s: write of %zu bytes crosses the end of tensor '%s' (%" PRIu64 " of %" PRIu64
                    " bytes left)", w->path, n, t->name, t->nbytes - w->cur_done, t->nbytes);
        return report(w, err);
    }
    if (!out(w, data, n)) return report(w, err);
    w->cur_done += n;
    if (!advance(w)) return report(w, err);
    return true;
}

static void free_writer(gguf_writer *w) {
    if (w->fp) fclose(w->fp);
    for (int64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    free(w->kv);
    free(w->t);
    free(w->tmp);
    free(w->path);
    free(w);
}

bool gguf_writer_finish(gguf_writer *w, ds4_error *err) {
    bool ok = false;
    if (w->failed) goto done;
    if (!w->header_written && !write_header(w)) goto done;
    if (!advance(w)) goto done;
    if (w->cur < w->n_t) {
        fail_sticky(w, "%s: tensor '%s' is incomplete: %" PRIu64 " of %" PRIu64 " bytes written", w->path,
                    w->t[w->cur].name, w->cur_done, w->t[w->cur].nbytes);
        goto done;
    }
    if (w->written != gguf_writer_planned_size(w)) {
        fail_sticky(w, "%s: wrote %" PRIu64 " bytes but planned %" PRIu64, w->path, w->written,
                    gguf_writer_planned_size(w));
        goto done;
    }
    /* Data must be on disk before the rename makes the file visible. */
    if (fflush(w->fp) != 0 || fdatasync(fileno(w->fp)) != 0) {
        fail_sticky(w, "%s: flush failed: %s", w->tmp, strerror(errno));
        goto done;
    }
    int rc = fclose(w->fp);
    w->fp = NULL;
    if (rc != 0) {
        fail_sticky(w, "%s: close failed: %s", w->tmp, strerror(errno));
        unlink(w->tmp);
        goto done;
    }
    if (rename(w->tmp, w->path) != 0) {
        fail_sticky(w, "%s: rename to %s failed: %s", w->tmp, w->path, strerror(errno));
        unlink(w->tmp);
        goto done;
    }
    ok = true;
done:
    if (!ok) report(w, err);
    free_writer(w);
    return ok;
}

void gguf_writer_abort(gguf_writer *w) {
    if (!w) return;
    if (w->fp) {
        fclose(w->fp);
        w->fp = NULL;
        unlink(w->tmp);
    }
    free_writer(w);
}
