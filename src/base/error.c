#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ds4_fail(ds4_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return false;
}

void ds4_error_prefix(ds4_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    size_t np = strlen(prefix);
    if (np > sizeof err->msg - 3) np = sizeof err->msg - 3;
    memcpy(err->msg, prefix, np);
    memcpy(err->msg + np, ": ", 2);
    size_t room = sizeof err->msg - np - 3;
    size_t no = strnlen(old, room);
    memcpy(err->msg + np + 2, old, no);
    err->msg[np + 2 + no] = 0;
}

static void die_oom(size_t n) {
    fprintf(stderr, "ds4: out of memory allocating %zu bytes\n", n);
    abort();
}

void *ds4_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die_oom(n);
    return p;
}

void *ds4_xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) die_oom(count * size);
    return p;
}

void *ds4_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die_oom(n);
    return q;
}

char *ds4_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = ds4_xmalloc(n);
    memcpy(p, s, n);
    return p;
}
