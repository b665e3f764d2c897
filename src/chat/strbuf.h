/* A growable byte string used inside the chat layer (internal header). */
#ifndef DS4_CHAT_STRBUF_H
#define DS4_CHAT_STRBUF_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

typedef struct ds4_sb {
    char *s;
    size_t len, cap;
} ds4_sb;

static inline void ds4_sb_reserve(ds4_sb *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    b->s = ds4_xrealloc(b->s, cap);
    b->cap = cap;
}
static inline void ds4_sb_addn(ds4_sb *b, const char *s, size_t n) {
    ds4_sb_reserve(b, n);
    if (n) memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}
static inline void ds4_sb_add(ds4_sb *b, const char *s) { ds4_sb_addn(b, s, strlen(s)); }
static inline void ds4_sb_addc(ds4_sb *b, char c) { ds4_sb_addn(b, &c, 1); }
/* Returns the NUL-terminated string (never NULL) and hands ownership over. */
static inline char *ds4_sb_take(ds4_sb *b) {
    if (!b->s) ds4_sb_reserve(b, 0), b->s[0] = 0;
    char *s = b->s;
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}
static inline void ds4_sb_free(ds4_sb *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
/* Drops the first n bytes. */
static inline void ds4_sb_consume(ds4_sb *b, size_t n) {
    if (n >= b->len) { b->len = 0; if (b->s) b->s[0] = 0; return; }
    memmove(b->s, b->s + n, b->len - n);
    b->len -= n;
    b->s[b->len] = 0;
}

#endif
