/* ds4 inspect FILE.gguf: metadata, tensor table and per-type totals of a GGUF
 * file, as text or (--json) as one JSON document. Long arrays and strings are
 * abbreviated unless --all is given, so a 129k-entry vocabulary stays one
 * line. A file the reader rejects gives its error and exit status 1. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/progress.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "gguf/gguf.h"
#include "gguf/types.h"

typedef struct opts {
    bool json;
    bool all;
    uint64_t max_elems;  /* array elements shown (unless all) */
    uint64_t max_chars;  /* string bytes shown (unless all) */
} opts;

static void usage(FILE *out) {
    fprintf(out,
            "usage: ds4 inspect [--json] [--all] [--max-array N] FILE.gguf\n\n"
            "Prints a GGUF file's header, metadata (long arrays and strings abbreviated),\n"
            "its tensor table (name, type, dims in GGUF order, byte size, offset relative\n"
            "to the data section) and the tensor count and bytes per type and overall.\n\n"
            "  --json         one JSON document on stdout instead of text\n"
            "  --all          do not abbreviate arrays or strings\n"
            "  --max-array N  array elements to show (default 8)\n"
            "  -h, --help     this help\n\n"
            "Exit status: 0 ok, 1 the file is unreadable or malformed, 2 usage error.\n");
}

/* ---- text ---- */

static void print_escaped(FILE *out, const char *p, uint64_t len, uint64_t max) {
    uint64_t n = len < max ? len : max;
    fputc('"', out);
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c == '\r') fputs("\\r", out);
        else if (c < 0x20 || c == 0x7f) fprintf(out, "\\x%02x", c);
        else fputc(c, out); /* UTF-8 passes through */
    }
    fputc('"', out);
    if (n < len) fprintf(out, "...(%" PRIu64 " bytes)", len);
}

/* Shortest decimal that reads back as the same value (1e-06, not
 * 9.99999997e-07, for a FLOAT32 epsilon). */
static void print_float(FILE *out, double d, bool is_f32) {
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (is_f32 ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d) break;
    }
    if (strchr(buf, 'e') && d == floor(d) && fabs(d) < 1e15) snprintf(buf, sizeof buf, "%.0f", d); /* 10, not 1e+01 */
    fputs(buf, out);
}

static void print_val(FILE *out, gguf_val v, const opts *o);

static void print_array(FILE *out, gguf_val v, const opts *o) {
    gguf_vtype et;
    uint64_t n;
    gguf_val_arr_info(v, &et, &n);
    uint64_t show = o->all || n <= o->max_elems ? n : o->max_elems;
    fputc('[', out);
    gguf_val e = {GGUF_VT_INVALID, NULL, 0};
    for (uint64_t i = 0; i < show; i++) {
        e = i == 0 ? gguf_val_arr_elem(v, 0) : gguf_val_next(e);
        if (i) fputs(", ", out);
        print_val(out, e, o);
    }
    if (show < n) fprintf(out, ", ... (%" PRIu64 " total)", n);
    fputc(']', out);
}

static void print_val(FILE *out, gguf_val v, const opts *o) {
    uint64_t u;
    int64_t s;
    double d;
    gguf_str str;
    if (v.type == GGUF_VT_BOOL) fputs(v.ptr[0] ? "true" : "false", out);
    else if (gguf_val_u64(v, &u)) fprintf(out, "%" PRIu64, u);
    else if (gguf_val_i64(v, &s)) fprintf(out, "%" PRId64, s);
    else if (gguf_val_f64(v, &d)) print_float(out, d, v.type == GGUF_VT_FLOAT32);
    else if (gguf_val_str(v, &str)) print_escaped(out, str.ptr, str.len, o->all ? UINT64_MAX : o->max_chars);
    else if (v.type == GGUF_VT_ARRAY) print_array(out, v, o);
}

static void type_label(gguf_val v, char *buf, size_t n) {
    gguf_vtype et;
    uint64_t count;
    if (gguf_val_arr_info(v, &et, &count))
        snprintf(buf, n, "ARRAY[%s;%" PRIu64 "]", gguf_vtype_name(et), count);
    else
        snprintf(buf, n, "%s", gguf_vtype_name(v.type));
}

static void dims_text(const gguf_tensor *t, char *buf, size_t n) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (uint32_t d = 0; d < t->n_dims && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%" PRIu64, d ? ", " : "", t->ne[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

typedef struct totals {
    uint64_t count[256];
    uint64_t bytes[256];
    uint64_t all_count, all_bytes;
} totals;

static void sum_types(const gguf_file *f, totals *tt) {
    memset(tt, 0, sizeof *tt);
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        /* type ids are validated against the table (< 40) by the reader */
        tt->count[t->type & 255]++;
        tt->bytes[t->type & 255] += t->nbytes;
        tt->all_count++;
        tt->all_bytes += t->nbytes;
    }
}

static void inspect_text(const gguf_file *f, const opts *o) {
    FILE *out = stdout;
    char hb[32], lb[64];
    fprintf(out, "file:        %s\n", gguf_path(f));
    fprintf(out, "size:        %" PRIu64 " bytes (%s)\n", gguf_file_size(f),
            ds4_format_bytes((double)gguf_file_size(f), hb, sizeof hb));
    fprintf(out, "format:      GGUF v3, alignment %" PRIu32 ", data section at byte %" PRIu64 "\n", gguf_alignment(f),
            gguf_data_offset(f));

    int64_t nkv = gguf_n_kv(f);
    size_t kw = 0;
    for (int64_t i = 0; i < nkv; i++) {
        size_t l = (size_t)gguf_kv_key(f, i).len;
        if (l > kw && l <= 60) kw = l;
    }
    fprintf(out, "\nmetadata (%" PRId64 " keys):\n", nkv);
    for (int64_t i = 0; i < nkv; i++) {
        gguf_str k = gguf_kv_key(f, i);
        gguf_val v = gguf_kv_val(f, i);
        char kb[128];
        size_t kn = k.len < sizeof kb - 1 ? (size_t)k.len : sizeof kb - 1;
        for (size_t j = 0; j < kn; j++) kb[j] = (k.ptr[j] >= 0x20 && k.ptr[j] < 0x7f) ? k.ptr[j] : '?';
        kb[kn] = 0;
        type_label(v, lb, sizeof lb);
        fprintf(out, "  %-*s  %-20s  ", (int)kw, kb, lb);
        print_val(out, v, o);
        fputc('\n', out);
    }

    int64_t nt = gguf_n_tensors(f);
    size_t nw = 4;
    for (int64_t i = 0; i < nt; i++) {
        size_t l = strlen(gguf_tensor_at(f, i)->cname);
        if (l > nw) nw = l;
    }
    fprintf(out, "\ntensors (%" PRId64 "):\n", nt);
    fprintf(out, "  %5s  %-*s  %-8s  %-24s  %14s  %14s\n", "#", (int)nw, "name", "type", "dims", "bytes", "offset");
    for (int64_t i = 0; i < nt; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char db[256];
        dims_text(t, db, sizeof db);
        fprintf(out, "  %5" PRId64 "  %-*s  %-8s  %-24s  %14" PRIu64 "  %14" PRIu64 "\n", i, (int)nw, t->cname,
                ds4_type_name(t->type), db, t->nbytes, t->offset);
    }

    totals tt;
    sum_types(f, &tt);
    fprintf(out, "\ntotals by type:\n");
    fprintf(out, "  %-8s  %7s  %16s  %12s\n", "type", "tensors", "bytes", "");
    for (int ty = 0; ty < 256; ty++) {
        if (!tt.count[ty]) continue;
        fprintf(out, "  %-8s  %7" PRIu64 "  %16" PRIu64 "  %12s\n", ds4_type_name((uint32_t)ty), tt.count[ty],
                tt.bytes[ty], ds4_format_bytes((double)tt.bytes[ty], hb, sizeof hb));
    }
    fprintf(out, "  %-8s  %7" PRIu64 "  %16" PRIu64 "  %12s\n", "total", tt.all_count, tt.all_bytes,
            ds4_format_bytes((double)tt.all_bytes, hb, sizeof hb));
}

/* ---- JSON ---- */

/* JSON strings must be UTF-8: invalid sequences become U+FFFD so that a
 * hostile or binary string still yields a valid document. */
static json_t *json_str(const char *p, uint64_t len) {
    char *buf = ds4_xmalloc(len * 3 + 1);
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)p;
    for (uint64_t i = 0; i < len;) {
        unsigned char c = s[i];
        int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + (uint64_t)n <= len && c != 0;
        for (int k = 1; ok && k < n; k++) ok = (s[i + k] & 0xc0) == 0x80;
        if (ok && n > 1) {
            uint32_t cp = c & (0x7f >> n);
            for (int k = 1; k < n; k++) cp = (cp << 6) | (s[i + k] & 0x3f);
            static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= minv[n] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        }
        if (ok) {
            memcpy(buf + o, s + i, (size_t)n);
            o += (size_t)n;
            i += (uint64_t)n;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

static json_t *json_u64(uint64_t u) {
    if (u <= (uint64_t)INT64_MAX) return json_integer((json_int_t)u);
    char b[32];
    snprintf(b, sizeof b, "%" PRIu64, u);
    return json_string(b);
}

static json_t *json_val(gguf_val v, const opts *o) {
    uint64_t u;
    int64_t s;
    double d;
    gguf_str str;
    if (v.type == GGUF_VT_BOOL) return json_boolean(v.ptr[0]);
    if (gguf_val_u64(v, &u)) return json_u64(u);
    if (gguf_val_i64(v, &s)) return json_integer((json_int_t)s);
    if (gguf_val_f64(v, &d)) {
        if (isfinite(d)) return json_real(d);
        return json_string(isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
    }
    if (gguf_val_str(v, &str)) return json_str(str.ptr, str.len);
    gguf_vtype et;
    uint64_t n;
    if (!gguf_val_arr_info(v, &et, &n)) return json_null();
    uint64_t show = o->all || n <= o->max_elems ? n : o->max_elems;
    json_t *arr = json_array();
    gguf_val e = {GGUF_VT_INVALID, NULL, 0};
    for (uint64_t i = 0; i < show; i++) {
        e = i == 0 ? gguf_val_arr_elem(v, 0) : gguf_val_next(e);
        json_array_append_new(arr, json_val(e, o));
    }
    return arr;
}

static void inspect_json(const gguf_file *f, const opts *o) {
    json_t *root = json_object();
    json_object_set_new(root, "file", json_str(gguf_path(f), strlen(gguf_path(f))));
    json_object_set_new(root, "size", json_u64(gguf_file_size(f)));
    json_object_set_new(root, "version", json_integer(GGUF_VERSION));
    json_object_set_new(root, "alignment", json_integer(gguf_alignment(f)));
    json_object_set_new(root, "data_offset", json_u64(gguf_data_offset(f)));

    json_t *meta = json_array();
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        gguf_str k = gguf_kv_key(f, i);
        gguf_val v = gguf_kv_val(f, i);
        json_t *m = json_object();
        json_object_set_new(m, "key", json_str(k.ptr, k.len));
        json_object_set_new(m, "type", json_string(gguf_vtype_name(v.type)));
        gguf_vtype et;
        uint64_t n;
        if (gguf_val_arr_info(v, &et, &n)) {
            json_object_set_new(m, "elem_type", json_string(gguf_vtype_name(et)));
            json_object_set_new(m, "count", json_u64(n));
            json_object_set_new(m, "truncated", json_boolean(!o->all && n > o->max_elems));
        }
        json_object_set_new(m, "value", json_val(v, o));
        json_array_append_new(meta, m);
    }
    json_object_set_new(root, "metadata", meta);

    json_t *tens = json_array();
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        json_t *jt = json_object();
        json_object_set_new(jt, "name", json_str(t->cname, strlen(t->cname)));
        json_object_set_new(jt, "type", json_string(ds4_type_name(t->type)));
        json_object_set_new(jt, "type_id", json_integer(t->type));
        json_t *dims = json_array();
        for (uint32_t d = 0; d < t->n_dims; d++) json_array_append_new(dims, json_u64(t->ne[d]));
        json_object_set_new(jt, "dims", dims);
        json_object_set_new(jt, "bytes", json_u64(t->nbytes));
        json_object_set_new(jt, "offset", json_u64(t->offset));
        json_array_append_new(tens, jt);
    }
    json_object_set_new(root, "tensors", tens);

    totals tt;
    sum_types(f, &tt);
    json_t *by = json_array();
    for (int ty = 0; ty < 256; ty++) {
        if (!tt.count[ty]) continue;
        json_t *e = json_object();
        json_object_set_new(e, "type", json_string(ds4_type_name((uint32_t)ty)));
        json_object_set_new(e, "count", json_u64(tt.count[ty]));
        json_object_set_new(e, "bytes", json_u64(tt.bytes[ty]));
        json_array_append_new(by, e);
    }
    json_t *tot = json_object();
    json_object_set_new(tot, "by_type", by);
    json_object_set_new(tot, "count", json_u64(tt.all_count));
    json_object_set_new(tot, "bytes", json_u64(tt.all_bytes));
    json_object_set_new(root, "totals", tot);

    json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(root);
}

int cmd_inspect(int argc, char **argv) {
    opts o = {.json = false, .all = false, .max_elems = 8, .max_chars = 120};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            o.json = true;
        } else if (!strcmp(a, "--all")) {
            o.all = true;
        } else if (!strcmp(a, "--max-array")) {
            const char *v = cli_value("inspect", argc, argv, &i);
            uint64_t n;
            if (!v || !cli_parse_u64("inspect", a, v, &n)) return 2;
            o.max_elems = n;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ds4 inspect: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "ds4 inspect: one file at a time ('%s' and '%s')\n", path, a);
            return 2;
        } else {
            path = a;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    ds4_error err;
    gguf_file *f = gguf_open(path, &err);
    if (!f) {
        fprintf(stderr, "ds4 inspect: %s\n", err.msg);
        return 1;
    }
    if (o.json) inspect_json(f, &o);
    else inspect_text(f, &o);
    gguf_close(f);
    return fflush(stdout) == 0 ? 0 : 1;
}
