/* A growable byte string for building responses (server-internal). */
#ifndef DS4_SERVER_SBUF_H
#define DS4_SERVER_SBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

typedef struct srv_buf {
    char *s;
    size_t len, cap;
} srv_buf;

static inline void srv_buf_addn(srv_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        b->s = ds4_xrealloc(b->s, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}
static inline void srv_buf_add(srv_buf *b, const char *s) { srv_buf_addn(b, s, strlen(s)); }
static inline void srv_buf_printf(srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void srv_buf_printf(srv_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    char *t = ds4_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(t, (size_t)n + 1, fmt, ap);
    va_end(ap);
    srv_buf_addn(b, t, (size_t)n);
    free(t);
}
static inline void srv_buf_consume(srv_buf *b, size_t n) {
    if (n >= b->len) { b->len = 0; if (b->s) b->s[0] = 0; return; }
    memmove(b->s, b->s + n, b->len - n);
    b->len -= n;
    b->s[b->len] = 0;
}
static inline char *srv_buf_take(srv_buf *b) {
    if (!b->s) srv_buf_addn(b, "", 0);
    char *s = b->s;
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}
static inline void srv_buf_free(srv_buf *b) { free(b->s); b->s = NULL; b->len = b->cap = 0; }

#endif
