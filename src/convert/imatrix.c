#include "convert/imatrix.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool rd_i32(const uint8_t *d, size_t size, size_t *off, int32_t *out) {
    if (size - *off < 4) return false;
    memcpy(out, d + *off, 4);
    *off += 4;
    return true;
}

bool ds4_imatrix_parse(const uint8_t *d, size_t size, const char *what, ds4_imatrix *im, ds4_error *err) {
    memset(im, 0, sizeof *im);
    size_t off = 0;
    int32_t n;
    if (!rd_i32(d, size, &off, &n) || n < 1)
        return ds4_fail(err, "%s: entry count at offset 0 is missing or < 1", what);
    /* Each entry needs at least 16 bytes: bound the count by the file size. */
    if ((uint64_t)n > size / 16) return ds4_fail(err, "%s: entry count %d exceeds what the file can hold", what, n);
    im->e = ds4_xcalloc((size_t)n, sizeof *im->e);
    for (int32_t i = 0; i < n; i++) {
        ds4_imatrix_entry *e = &im->e[i];
        size_t at = off;
        int32_t len, ncall, nval;
        if (!rd_i32(d, size, &off, &len) || len < 1 || len > 4096 || size - off < (size_t)len) {
            ds4_imatrix_free(im);
            return ds4_fail(err, "%s: entry %d at offset %zu: bad name length", what, i, at);
        }
        e->name = ds4_xmalloc((size_t)len + 1);
        memcpy(e->name, d + off, (size_t)len);
        e->name[len] = 0;
        off += (size_t)len;
        im->n = i + 1;
        if (!rd_i32(d, size, &off, &ncall) || !rd_i32(d, size, &off, &nval) || nval < 1 ||
            (size - off) / 4 < (size_t)nval) {
            ds4_fail(err, "%s: entry '%s' at offset %zu: bad ncall/nval or values past the end of the file", what,
                     e->name, at);
            ds4_imatrix_free(im);
            return false;
        }
        e->ncall = ncall;
        e->nval = nval;
        e->values = ds4_xmalloc((size_t)nval * sizeof(float));
        memcpy(e->values, d + off, (size_t)nval * 4);
        off += (size_t)nval * 4;
        for (int32_t k = 0; k < nval; k++) {
            if (ncall > 0) e->values[k] /= (float)ncall;
            if (!isfinite(e->values[k])) {
                ds4_fail(err, "%s: entry '%s': value %d is not finite", what, e->name, k);
                ds4_imatrix_free(im);
                return false;
            }
        }
    }
    if (off < size) {
        int32_t chunks, dlen;
        size_t at = off;
        if (!rd_i32(d, size, &off, &chunks) || !rd_i32(d, size, &off, &dlen) || dlen < 0 || size - off < (size_t)dlen) {
            ds4_imatrix_free(im);
            return ds4_fail(err, "%s: malformed trailer at offset %zu", what, at);
        }
        im->chunk_count = chunks;
        im->dataset = ds4_xmalloc((size_t)dlen + 1);
        memcpy(im->dataset, d + off, (size_t)dlen);
        im->dataset[dlen] = 0;
    }
    return true;
}

bool ds4_imatrix_load(const char *path, ds4_imatrix *im, ds4_error *err) {
    memset(im, 0, sizeof *im);
    FILE *f = fopen(path, "rb");
    if (!f) return ds4_fail(err, "%s: cannot open imatrix: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (sz < 0) {
        fclose(f);
        return ds4_fail(err, "%s: cannot size the file", path);
    }
    uint8_t *buf = malloc((size_t)sz + 1);
    if (!buf) {
        fclose(f);
        return ds4_fail(err, "%s: cannot allocate %ld bytes", path, sz);
    }
    bool ok = fread(buf, 1, (size_t)sz, f) == (size_t)sz;
    fclose(f);
    if (!ok) {
        free(buf);
        return ds4_fail(err, "%s: read error", path);
    }
    ok = ds4_imatrix_parse(buf, (size_t)sz, path, im, err);
    free(buf);
    return ok;
}

void ds4_imatrix_free(ds4_imatrix *im) {
    for (int64_t i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].values);
    }
    free(im->e);
    free(im->dataset);
    memset(im, 0, sizeof *im);
}

static const ds4_imatrix_entry *find(const ds4_imatrix *im, const char *name) {
    for (int64_t i = 0; i < im->n; i++)
        if (!strcmp(im->e[i].name, name)) return &im->e[i];
    return NULL;
}

bool ds4_imatrix_lookup(const ds4_imatrix *im, const char *gguf_name, const char *hf_name, int expert,
                        int64_t n_expert, int64_t ncols, const float **out, ds4_error *err) {
    *out = NULL;
    if (!im) return true;
    const char *names[2] = {gguf_name, hf_name};
    for (int pass = expert >= 0 ? 1 : 3; pass <= 3; pass++) {
        for (int k = 0; k < 2; k++) {
            if (!names[k]) continue;
            char key[512];
            if (pass == 1) snprintf(key, sizeof key, "%s.expert.%d", names[k], expert);
            else if (pass == 2) snprintf(key, sizeof key, "%s.expert_%d", names[k], expert);
            else snprintf(key, sizeof key, "%s", names[k]);
            const ds4_imatrix_entry *e = find(im, key);
            if (!e) continue;
            if (e->nval == ncols) {
                *out = e->values;
            } else if (expert >= 0 && e->nval == ncols * n_expert) {
                *out = e->values + (int64_t)expert * ncols;
            } else {
                return ds4_fail(err, "imatrix entry '%s' has %lld values; tensor %s needs %lld%s", key,
                                (long long)e->nval, gguf_name, (long long)ncols, expert >= 0 ? " or ncols x n_expert" : "");
            }
            return true;
        }
    }
    return true;
}
