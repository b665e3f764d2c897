#include "convert/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "convert/json_file.h"

/* Headers above this are refused: the largest real header is a few hundred
 * KB, and the length comes from the file, so it must be bounded before the
 * allocation. */
#define ST_MAX_HEADER (256u << 20)

typedef struct {
    char *path;
    int fd;
    uint64_t size;
} st_shard;

struct ds4_st_set {
    st_shard *shards;
    int n_shards;
    ds4_st_tensor *t;
    size_t n, cap;
    bool sorted;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[DS4_ST_N_DTYPES] = {
    [DS4_ST_F32] = {"F32", 4},         [DS4_ST_F16] = {"F16", 2},  [DS4_ST_BF16] = {"BF16", 2},
    [DS4_ST_F64] = {"F64", 8},         [DS4_ST_F8_E4M3] = {"F8_E4M3", 1},
    [DS4_ST_F8_E8M0] = {"F8_E8M0", 1}, [DS4_ST_I8] = {"I8", 1},    [DS4_ST_U8] = {"U8", 1},
    [DS4_ST_I16] = {"I16", 2},         [DS4_ST_I32] = {"I32", 4},  [DS4_ST_I64] = {"I64", 8},
    [DS4_ST_BOOL] = {"BOOL", 1},
};

bool ds4_st_dtype_from_name(const char *s, ds4_st_dtype *out) {
    for (int i = 0; i < DS4_ST_N_DTYPES; i++)
        if (!strcmp(s, dtypes[i].name)) {
            *out = (ds4_st_dtype)i;
            return true;
        }
    return false;
}

const char *ds4_st_dtype_name(ds4_st_dtype t) { return (unsigned)t < DS4_ST_N_DTYPES ? dtypes[t].name : "?"; }
size_t ds4_st_dtype_size(ds4_st_dtype t) { return (unsigned)t < DS4_ST_N_DTYPES ? dtypes[t].size : 0; }

uint64_t ds4_st_numel(const ds4_st_tensor *t) {
    uint64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= (uint64_t)t->shape[i];
    return n;
}

ds4_st_set *ds4_st_new_empty(void) { return ds4_xcalloc(1, sizeof(ds4_st_set)); }

void ds4_st_close(ds4_st_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n_shards; i++) {
        if (s->shards[i].fd >= 0) close(s->shards[i].fd);
        free(s->shards[i].path);
    }
    free(s->shards);
    for (size_t i = 0; i < s->n; i++) free(s->t[i].name);
    free(s->t);
    free(s);
}

size_t ds4_st_count(const ds4_st_set *s) { return s->n; }
const ds4_st_tensor *ds4_st_at(const ds4_st_set *s, size_t i) { return i < s->n ? &s->t[i] : NULL; }
const char *ds4_st_shard_path(const ds4_st_set *s, int shard) {
    return shard >= 0 && shard < s->n_shards ? s->shards[shard].path : "?";
}

uint64_t ds4_st_total_bytes(const ds4_st_set *s) {
    uint64_t b = 0;
    for (size_t i = 0; i < s->n; i++) b += s->t[i].nbytes;
    return b;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const ds4_st_tensor *)a)->name, ((const ds4_st_tensor *)b)->name);
}

bool ds4_st_finish(ds4_st_set *s, ds4_error *err) {
    if (s->n > 1) qsort(s->t, s->n, sizeof *s->t, cmp_name);
    s->sorted = true;
    for (size_t i = 1; i < s->n; i++)
        if (!strcmp(s->t[i - 1].name, s->t[i].name))
            return ds4_fail(err, "tensor '%s' appears twice (%s and %s)", s->t[i].name,
                            ds4_st_shard_path(s, s->t[i - 1].shard), ds4_st_shard_path(s, s->t[i].shard));
    return true;
}

const ds4_st_tensor *ds4_st_find(const ds4_st_set *s, const char *name) {
    if (!s->sorted) {
        for (size_t i = 0; i < s->n; i++)
            if (!strcmp(s->t[i].name, name)) return &s->t[i];
        return NULL;
    }
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->t[mid].name, name);
        if (!c) return &s->t[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Overflow-checked a*b for byte-size arithmetic. */
static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (a && b > UINT64_MAX / a) return false;
    *out = a * b;
    return true;
}

typedef struct {
    uint64_t b, e;
    size_t idx;
} range;

static int cmp_range(const void *a, const void *b) {
    const range *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b;
}

static bool parse_entry(ds4_st_set *s, const char *name, json_t *v, uint64_t data_start,
                        uint64_t data_size, int shard, ds4_error *err) {
    if (!json_is_object(v)) return ds4_fail(err, "tensor '%s': header entry is not an object", name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd)) return ds4_fail(err, "tensor '%s': missing or non-string \"dtype\"", name);
    ds4_st_dtype dt;
    if (!ds4_st_dtype_from_name(json_string_value(jd), &dt))
        return ds4_fail(err, "tensor '%s': unknown dtype \"%s\"", name, json_string_value(jd));
    if (!json_is_array(js)) return ds4_fail(err, "tensor '%s': missing or non-array \"shape\"", name);
    size_t nd = json_array_size(js);
    if (nd > DS4_ST_MAX_DIMS) return ds4_fail(err, "tensor '%s': %zu dims (max %d)", name, nd, DS4_ST_MAX_DIMS);
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return ds4_fail(err, "tensor '%s': \"data_offsets\" must be a 2-element array", name);
    ds4_st_tensor t = {0};
    t.dtype = dt;
    t.n_dims = (int)nd;
    t.shard = shard;
    uint64_t bytes = ds4_st_dtype_size(dt);
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return ds4_fail(err, "tensor '%s': shape[%zu] is not a non-negative integer", name, i);
        t.shape[i] = json_integer_value(d);
        if (!mul_ok(bytes, (uint64_t)t.shape[i], &bytes))
            return ds4_fail(err, "tensor '%s': shape overflows", name);
    }
    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (!json_is_integer(jb) || !json_is_integer(je) || json_integer_value(jb) < 0 ||
        json_integer_value(je) < json_integer_value(jb))
        return ds4_fail(err, "tensor '%s': invalid data_offsets", name);
    uint64_t b = (uint64_t)json_integer_value(jb), e = (uint64_t)json_integer_value(je);
    if (e > data_size)
        return ds4_fail(err, "tensor '%s': data [%llu, %llu) extends past the end of the data (%llu bytes; file truncated?)",
                        name, (unsigned long long)b, (unsigned long long)e, (unsigned long long)data_size);
    if (e - b != bytes)
        return ds4_fail(err, "tensor '%s': data_offsets span %llu bytes but shape x %s needs %llu", name,
                        (unsigned long long)(e - b), dtypes[dt].name, (unsigned long long)bytes);
    t.offset = data_start + b;
    t.nbytes = bytes;
    t.name = ds4_xstrdup(name);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->t = ds4_xrealloc(s->t, s->cap * sizeof *s->t);
    }
    s->t[s->n++] = t;
    s->sorted = false;
    return true;
}

bool ds4_st_parse_header(ds4_st_set *s, const char *json, size_t len, uint64_t data_start,
                         uint64_t data_size, int shard, const char *what, ds4_error *err) {
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return ds4_fail(err, "%s: header JSON is malformed at byte %d: %s", what, je.position, je.text);
    bool ok = true;
    size_t first = s->n;
    if (!json_is_object(root)) {
        ok = ds4_fail(err, "%s: header is not a JSON object", what);
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v) {
            if (!strcmp(key, "__metadata__")) continue;
            if (!parse_entry(s, key, v, data_start, data_size, shard, err)) {
                ds4_error_prefix(err, "%s", what);
                ok = false;
                break;
            }
        }
    }
    json_decref(root);
    if (!ok) return false;
    /* Overlapping ranges mean a patched or corrupt header: two tensors would
     * silently share bytes. */
    size_t n = s->n - first;
    range *r = ds4_xmalloc((n ? n : 1) * sizeof *r);
    for (size_t i = 0; i < n; i++) {
        r[i].b = s->t[first + i].offset;
        r[i].e = r[i].b + s->t[first + i].nbytes;
        r[i].idx = first + i;
    }
    qsort(r, n, sizeof *r, cmp_range);
    for (size_t i = 1; i < n && ok; i++)
        if (r[i].b < r[i - 1].e && r[i].e > r[i].b)
            ok = ds4_fail(err, "%s: tensors '%s' and '%s' overlap", what, s->t[r[i - 1].idx].name,
                          s->t[r[i].idx].name);
    free(r);
    return ok;
}

static int add_shard(ds4_st_set *s, const char *path) {
    s->shards = ds4_xrealloc(s->shards, (size_t)(s->n_shards + 1) * sizeof *s->shards);
    s->shards[s->n_shards] = (st_shard){ds4_xstrdup(path), -1, 0};
    return s->n_shards++;
}

static bool full_pread(int fd, void *buf, size_t len, uint64_t off) {
    uint8_t *p = buf;
    while (len) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) errno = 0; /* short file: no system error to report */
        if (r <= 0) return false;
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return true;
}

static bool load_shard(ds4_st_set *s, int shard, ds4_error *err) {
    st_shard *sh = &s->shards[shard];
    sh->fd = open(sh->path, O_RDONLY | O_CLOEXEC);
    if (sh->fd < 0) return ds4_fail(err, "%s: cannot open shard: %s", sh->path, strerror(errno));
    struct stat st;
    if (fstat(sh->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return ds4_fail(err, "%s: not a regular file", sh->path);
    sh->size = (uint64_t)st.st_size;
    uint8_t lenb[8];
    if (sh->size < 8 || !full_pread(sh->fd, lenb, 8, 0))
        return ds4_fail(err, "%s: file too short for a safetensors header (%llu bytes)", sh->path,
                        (unsigned long long)sh->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | lenb[i];
    if (n > ST_MAX_HEADER || n > sh->size - 8)
        return ds4_fail(err, "%s: header length %llu at offset 0 exceeds the file size %llu", sh->path,
                        (unsigned long long)n, (unsigned long long)sh->size);
    char *json = malloc(n + 1);
    if (!json) return ds4_fail(err, "%s: cannot allocate %llu bytes for the header", sh->path, (unsigned long long)n);
    if (!full_pread(sh->fd, json, n, 8)) {
        free(json);
        return ds4_fail(err, "%s: read error in header: %s", sh->path, strerror(errno));
    }
    json[n] = 0;
    bool ok = ds4_st_parse_header(s, json, n, 8 + n, sh->size - 8 - n, shard, sh->path, err);
    free(json);
    return ok;
}

ds4_st_set *ds4_st_open_file(const char *path, ds4_error *err) {
    ds4_st_set *s = ds4_st_new_empty();
    int sh = add_shard(s, path);
    if (!load_shard(s, sh, err) || !ds4_st_finish(s, err)) {
        ds4_st_close(s);
        return NULL;
    }
    return s;
}

/* Index file: {"metadata": {...}, "weight_map": {tensor: shard file}}. Each
 * listed tensor must actually be in the shard the index names. */
static ds4_st_set *open_index(const char *dir, const char *index_path, ds4_error *err) {
    json_t *root = ds4_json_load_file(index_path, JSON_REJECT_DUPLICATES, err);
    if (!root) return NULL;
    json_t *map = json_object_get(root, "weight_map");
    ds4_st_set *s = ds4_st_new_empty();
    bool ok = true;
    if (!json_is_object(map)) {
        ok = ds4_fail(err, "%s: missing \"weight_map\" object", index_path);
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(map, key, v) {
            if (!json_is_string(v)) {
                ok = ds4_fail(err, "%s: weight_map[\"%s\"] is not a string", index_path, key);
                break;
            }
            const char *f = json_string_value(v);
            if (strchr(f, '/') || !strcmp(f, "..")) {
                ok = ds4_fail(err, "%s: weight_map[\"%s\"] names a path outside the folder: %s", index_path, key, f);
                break;
            }
            char *p = ds4_path_join(dir, f);
            bool known = false;
            for (int i = 0; i < s->n_shards; i++) known |= !strcmp(s->shards[i].path, p);
            if (!known) add_shard(s, p);
            free(p);
        }
    }
    for (int i = 0; ok && i < s->n_shards; i++) ok = load_shard(s, i, err);
    if (ok) ok = ds4_st_finish(s, err);
    if (ok) {
        const char *key;
        json_t *v;
        json_object_foreach(map, key, v) {
            const ds4_st_tensor *t = ds4_st_find(s, key);
            char *p = ds4_path_join(dir, json_string_value(v));
            if (!t) ok = ds4_fail(err, "tensor '%s' is listed in the index but missing from %s", key, p);
            else if (strcmp(s->shards[t->shard].path, p))
                ok = ds4_fail(err, "tensor '%s' is listed in the index for %s but found in %s", key, p,
                              s->shards[t->shard].path);
            free(p);
            if (!ok) break;
        }
    }
    json_decref(root);
    if (!ok) {
        ds4_st_close(s);
        return NULL;
    }
    return s;
}

ds4_st_set *ds4_st_open_dir(const char *dir, ds4_error *err) {
    char *index = ds4_path_join(dir, "model.safetensors.index.json");
    ds4_st_set *s = NULL;
    if (access(index, F_OK) == 0) {
        s = open_index(dir, index, err);
    } else {
        char *single = ds4_path_join(dir, "model.safetensors");
        if (access(single, F_OK) == 0) s = ds4_st_open_file(single, err);
        else ds4_fail(err, "%s: no model.safetensors.index.json or model.safetensors", dir);
        free(single);
    }
    free(index);
    return s;
}

bool ds4_st_read(const ds4_st_set *s, const ds4_st_tensor *t, uint64_t off, size_t len, void *buf,
                 ds4_error *err) {
    if (off > t->nbytes || len > t->nbytes - off)
        return ds4_fail(err, "tensor '%s': read [%llu, +%zu) outside its %llu bytes", t->name,
                        (unsigned long long)off, len, (unsigned long long)t->nbytes);
    const st_shard *sh = &s->shards[t->shard];
    if (!full_pread(sh->fd, buf, len, t->offset + off))
        return ds4_fail(err, "tensor '%s': read error in %s at offset %llu: %s", t->name, sh->path,
                        (unsigned long long)(t->offset + off), errno ? strerror(errno) : "unexpected end of file");
    return true;
}
