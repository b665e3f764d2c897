/* Metadata access: strict typed getters, array access and the generic value
 * view. Values were fully validated when the file was opened, so walking them
 * here needs no bounds checks beyond the index ones. */
#include <inttypes.h>
#include <string.h>

#include "gguf/gguf_internal.h"

gguf_str gguf_kv_key(const gguf_file *f, int64_t i) {
    if (i < 0 || i >= f->n_kv) return (gguf_str){"", 0};
    return f->kv[i].key;
}

gguf_vtype gguf_kv_type(const gguf_file *f, int64_t i) {
    if (i < 0 || i >= f->n_kv) return GGUF_VT_INVALID;
    return f->kv[i].val.type;
}

gguf_val gguf_kv_val(const gguf_file *f, int64_t i) {
    if (i < 0 || i >= f->n_kv) return (gguf_val){GGUF_VT_INVALID, NULL, 0};
    return f->kv[i].val;
}

/* Encoded size of a validated value of type t starting at p. */
static uint64_t value_size(gguf_vtype t, const uint8_t *p) {
    size_t es = gguf_vtype_size(t);
    if (es) return es;
    if (t == GGUF_VT_STRING) return 8 + gguf_rd64(p);
    gguf_vtype et = (gguf_vtype)gguf_rd32(p);
    uint64_t n = gguf_rd64(p + 4), off = 12;
    es = gguf_vtype_size(et);
    if (es) return off + n * es;
    for (uint64_t i = 0; i < n; i++) off += value_size(et, p + off);
    return off;
}

bool gguf_val_arr_info(gguf_val v, gguf_vtype *elem_type, uint64_t *count) {
    if (v.type != GGUF_VT_ARRAY) return false;
    if (elem_type) *elem_type = (gguf_vtype)gguf_rd32(v.ptr);
    if (count) *count = gguf_rd64(v.ptr + 4);
    return true;
}

gguf_val gguf_val_arr_elem(gguf_val v, uint64_t i) {
    gguf_vtype et;
    uint64_t n;
    if (!gguf_val_arr_info(v, &et, &n) || i >= n) return (gguf_val){GGUF_VT_INVALID, NULL, 0};
    const uint8_t *p = v.ptr + 12;
    size_t es = gguf_vtype_size(et);
    if (es) return (gguf_val){et, p + i * es, es};
    for (uint64_t k = 0; k < i; k++) p += value_size(et, p);
    return (gguf_val){et, p, value_size(et, p)};
}

gguf_val gguf_val_next(gguf_val e) {
    const uint8_t *p = e.ptr + e.nbytes;
    return (gguf_val){e.type, p, value_size(e.type, p)};
}

bool gguf_val_u64(gguf_val v, uint64_t *out) {
    switch (v.type) {
    case GGUF_VT_UINT8: case GGUF_VT_BOOL: *out = v.ptr[0]; return true;
    case GGUF_VT_UINT16: *out = gguf_rd16(v.ptr); return true;
    case GGUF_VT_UINT32: *out = gguf_rd32(v.ptr); return true;
    case GGUF_VT_UINT64: *out = gguf_rd64(v.ptr); return true;
    default: return false;
    }
}

bool gguf_val_i64(gguf_val v, int64_t *out) {
    switch (v.type) {
    case GGUF_VT_INT8: *out = (int8_t)v.ptr[0]; return true;
    case GGUF_VT_INT16: *out = (int16_t)gguf_rd16(v.ptr); return true;
    case GGUF_VT_INT32: *out = (int32_t)gguf_rd32(v.ptr); return true;
    case GGUF_VT_INT64: *out = (int64_t)gguf_rd64(v.ptr); return true;
    case GGUF_VT_UINT8: case GGUF_VT_UINT16: case GGUF_VT_UINT32: case GGUF_VT_UINT64: {
        uint64_t u = 0;
        if (!gguf_val_u64(v, &u) || u > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)u;
        return true;
    }
    default: return false;
    }
}

bool gguf_val_f64(gguf_val v, double *out) {
    uint64_t u;
    int64_t s;
    if (v.type == GGUF_VT_FLOAT32) {
        float x;
        memcpy(&x, v.ptr, 4);
        *out = x;
        return true;
    }
    if (v.type == GGUF_VT_FLOAT64) {
        memcpy(out, v.ptr, 8);
        return true;
    }
    if (v.type == GGUF_VT_BOOL) return false;
    if (gguf_val_u64(v, &u)) { *out = (double)u; return true; }
    if (gguf_val_i64(v, &s)) { *out = (double)s; return true; }
    return false;
}

bool gguf_val_str(gguf_val v, gguf_str *out) {
    if (v.type != GGUF_VT_STRING) return false;
    out->len = gguf_rd64(v.ptr);
    out->ptr = (const char *)v.ptr + 8;
    return true;
}

/* ---- keyed getters ---- */

static const gguf_kv *lookup(const gguf_file *f, const char *key, ds4_error *err) {
    int64_t i = gguf_find_key(f, key);
    if (i < 0) {
        ds4_fail(err, "metadata key '%s' is missing", key);
        return NULL;
    }
    return &f->kv[i];
}

static const gguf_kv *lookup_typed(const gguf_file *f, const char *key, gguf_vtype t, ds4_error *err) {
    const gguf_kv *kv = lookup(f, key, err);
    if (kv && kv->val.type != t) {
        ds4_fail(err, "metadata key '%s' has type %s, expected %s", key, gguf_vtype_name(kv->val.type),
                 gguf_vtype_name(t));
        return NULL;
    }
    return kv;
}

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, ds4_error *err) {
    const gguf_kv *kv = lookup_typed(f, key, GGUF_VT_UINT32, err);
    if (!kv) return false;
    *out = gguf_rd32(kv->val.ptr);
    return true;
}

bool gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, ds4_error *err) {
    const gguf_kv *kv = lookup_typed(f, key, GGUF_VT_INT32, err);
    if (!kv) return false;
    *out = (int32_t)gguf_rd32(kv->val.ptr);
    return true;
}

bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, ds4_error *err) {
    const gguf_kv *kv = lookup_typed(f, key, GGUF_VT_UINT64, err);
    if (!kv) return false;
    *out = gguf_rd64(kv->val.ptr);
    return true;
}

bool gguf_get_f32(const gguf_file *f, const char *key, float *out, ds4_error *err) {
    const gguf_kv *kv = lookup_typed(f, key, GGUF_VT_FLOAT32, err);
    if (!kv) return false;
    memcpy(out, kv->val.ptr, 4);
    return true;
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out, ds4_error *err) {
    const gguf_kv *kv = lookup_typed(f, key, GGUF_VT_BOOL, err);
    if (!kv) return false;
    *out = kv->val.ptr[0] != 0;
    return true;
}

bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, ds4_error *err) {
    const gguf_kv *kv = lookup_typed(f, key, GGUF_VT_STRING, err);
    if (!kv) return false;
    return gguf_val_str(kv->val, out);
}

bool gguf_get_number(const gguf_file *f, const char *key, double *out, ds4_error *err) {
    const gguf_kv *kv = lookup(f, key, err);
    if (!kv) return false;
    if (!gguf_val_f64(kv->val, out))
        return ds4_fail(err, "metadata key '%s' has type %s, expected a number", key, gguf_vtype_name(kv->val.type));
    return true;
}

bool gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype *elem_type, uint64_t *count, const void **data,
                  ds4_error *err) {
    const gguf_kv *kv = lookup_typed(f, key, GGUF_VT_ARRAY, err);
    if (!kv) return false;
    if (elem_type) *elem_type = kv->elem_type;
    if (count) *count = kv->count;
    if (data) *data = gguf_vtype_size(kv->elem_type) ? kv->elems : NULL;
    return true;
}

bool gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, gguf_str *out, ds4_error *err) {
    const gguf_kv *kv = lookup_typed(f, key, GGUF_VT_ARRAY, err);
    if (!kv) return false;
    if (kv->elem_type != GGUF_VT_STRING)
        return ds4_fail(err, "metadata key '%s' is an array of %s, expected an array of STRING", key,
                        gguf_vtype_name(kv->elem_type));
    if (i >= kv->count)
        return ds4_fail(err, "metadata key '%s': index %" PRIu64 " out of range (%" PRIu64 " strings)", key, i,
                        kv->count);
    const uint8_t *p = kv->elems + kv->str_off[i];
    out->len = gguf_rd64(p);
    out->ptr = (const char *)p + 8;
    return true;
}

bool gguf_get_arr_number(const gguf_file *f, const char *key, uint64_t i, double *out, ds4_error *err) {
    const gguf_kv *kv = lookup_typed(f, key, GGUF_VT_ARRAY, err);
    if (!kv) return false;
    size_t es = gguf_vtype_size(kv->elem_type);
    if (!es || kv->elem_type == GGUF_VT_BOOL)
        return ds4_fail(err, "metadata key '%s' is an array of %s, expected numbers", key,
                        gguf_vtype_name(kv->elem_type));
    if (i >= kv->count)
        return ds4_fail(err, "metadata key '%s': index %" PRIu64 " out of range (%" PRIu64 " elements)", key, i,
                        kv->count);
    return gguf_val_f64((gguf_val){kv->elem_type, kv->elems + i * es, es}, out);
}
