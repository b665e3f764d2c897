/* Stop strings over decoded text, and EOS ids (see sampler.h). */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "sampler/sampler.h"

struct ds4_stopper {
    char **stops;
    size_t *lens;
    int n;
    size_t max_len;
    int32_t *eos;
    int n_eos;
    char *buf; /* held text */
    size_t len, cap;
    size_t out_from; /* bytes already handed out are dropped lazily */
    int matched;
};

ds4_stopper *ds4_stopper_new(const char *const *stops, int n_stops) {
    ds4_stopper *st = ds4_xcalloc(1, sizeof *st);
    st->matched = -1;
    for (int i = 0; i < n_stops; i++) {
        if (!stops[i] || !stops[i][0]) continue; /* an empty stop would match at once */
        st->stops = ds4_xrealloc(st->stops, (size_t)(st->n + 1) * sizeof *st->stops);
        st->lens = ds4_xrealloc(st->lens, (size_t)(st->n + 1) * sizeof *st->lens);
        st->stops[st->n] = ds4_xstrdup(stops[i]);
        st->lens[st->n] = strlen(stops[i]);
        if (st->lens[st->n] > st->max_len) st->max_len = st->lens[st->n];
        st->n++;
    }
    return st;
}

void ds4_stopper_free(ds4_stopper *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) free(st->stops[i]);
    free(st->stops);
    free(st->lens);
    free(st->eos);
    free(st->buf);
    free(st);
}

void ds4_stopper_add_eos(ds4_stopper *st, int32_t token) {
    st->eos = ds4_xrealloc(st->eos, (size_t)(st->n_eos + 1) * sizeof *st->eos);
    st->eos[st->n_eos++] = token;
}

bool ds4_stopper_is_eos(const ds4_stopper *st, int32_t token) {
    for (int i = 0; i < st->n_eos; i++)
        if (st->eos[i] == token) return true;
    return false;
}

int ds4_stopper_matched(const ds4_stopper *st) { return st->matched; }

bool ds4_stopper_feed(ds4_stopper *st, const char *text, size_t len, const char **out,
                      size_t *out_len) {
    /* Drop what was handed out last time. */
    if (st->out_from) {
        memmove(st->buf, st->buf + st->out_from, st->len - st->out_from);
        st->len -= st->out_from;
        st->out_from = 0;
    }
    if (st->len + len + 1 > st->cap) {
        st->cap = (st->len + len + 1) * 2;
        st->buf = ds4_xrealloc(st->buf, st->cap);
    }
    memcpy(st->buf + st->len, text, len);
    st->len += len;
    *out = st->buf;
    if (st->matched >= 0) {
        *out_len = 0;
        return true;
    }
    /* The earliest match of any stop string wins. */
    size_t best = st->len + 1;
    for (int i = 0; i < st->n; i++) {
        if (st->lens[i] > st->len) continue;
        const char *hit = memmem(st->buf, st->len, st->stops[i], st->lens[i]);
        if (hit && (size_t)(hit - st->buf) < best) {
            best = (size_t)(hit - st->buf);
            st->matched = i;
        }
    }
    if (st->matched >= 0) {
        *out_len = best;
        st->len = best;
        st->out_from = best;
        return true;
    }
    size_t hold = st->max_len ? st->max_len - 1 : 0;
    /* Only hold a tail that is really a prefix of some stop string. */
    size_t keep = 0;
    for (size_t k = hold < st->len ? hold : st->len; k > 0 && !keep; k--)
        for (int i = 0; i < st->n; i++)
            if (k < st->lens[i] && !memcmp(st->buf + st->len - k, st->stops[i], k)) {
                keep = k;
                break;
            }
    *out_len = st->len - keep;
    st->out_from = *out_len;
    return false;
}

void ds4_stopper_flush(ds4_stopper *st, const char **out, size_t *out_len) {
    *out = st->buf + st->out_from;
    *out_len = st->matched >= 0 ? 0 : st->len - st->out_from;
    st->out_from = st->len;
}
