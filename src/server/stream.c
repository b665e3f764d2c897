#include "server/stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"

struct srv_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;
    size_t len, cap, off; /* unread bytes are buf[off, len) */
    bool closed, cancelled;
    int refs;
};

srv_stream *srv_stream_new(void) {
    srv_stream *s = ds4_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->refs = 1;
    return s;
}

void srv_stream_retain(srv_stream *s) {
    pthread_mutex_lock(&s->mu);
    s->refs++;
    pthread_mutex_unlock(&s->mu);
}

void srv_stream_release(srv_stream *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left) return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->buf);
    free(s);
}

bool srv_stream_write(srv_stream *s, const char *data, size_t n) {
    pthread_mutex_lock(&s->mu);
    bool ok = !s->cancelled && !s->closed;
    if (ok && n) {
        if (s->off == s->len) s->off = s->len = 0; /* drained: reuse from the start */
        if (s->len + n > s->cap) {
            size_t cap = s->cap ? s->cap : 4096;
            while (cap < s->len + n) cap *= 2;
            s->buf = ds4_xrealloc(s->buf, cap);
            s->cap = cap;
        }
        memcpy(s->buf + s->len, data, n);
        s->len += n;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool srv_stream_printf(srv_stream *s, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return false;
    if ((size_t)n < sizeof small) return srv_stream_write(s, small, (size_t)n);
    char *big = ds4_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    bool ok = srv_stream_write(s, big, (size_t)n);
    free(big);
    return ok;
}

void srv_stream_close(srv_stream *s) {
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

bool srv_stream_cancelled(srv_stream *s) {
    pthread_mutex_lock(&s->mu);
    bool c = s->cancelled;
    pthread_mutex_unlock(&s->mu);
    return c;
}

void srv_stream_cancel(srv_stream *s) {
    pthread_mutex_lock(&s->mu);
    s->cancelled = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

ssize_t srv_stream_read(srv_stream *s, char *buf, size_t max, int timeout_ms) {
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&s->mu);
    while (s->off == s->len && !s->closed && !s->cancelled) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) break;
    }
    ssize_t r;
    if (s->cancelled) r = -1;
    else if (s->off < s->len) {
        size_t n = s->len - s->off;
        if (n > max) n = max;
        memcpy(buf, s->buf + s->off, n);
        s->off += n;
        r = (ssize_t)n;
    } else r = s->closed ? -1 : 0;
    pthread_mutex_unlock(&s->mu);
    return r;
}
