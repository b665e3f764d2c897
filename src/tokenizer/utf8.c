/* UTF-8 validation / repair, the byte-level alphabet, and the streaming
 * decoder. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"
#include "tokenizer/tokenizer.h"

/* ---- byte alphabet ---- */

static bool byte_is_printable(unsigned b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
}

/* The 68 non-printable bytes are 0..32 (33 of them), 127..160 (34) and 173;
 * they take 256.. in that order. */
uint32_t ds4_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    if (b <= 32) return 256u + b;
    if (b <= 160) return 256u + 33 + (b - 127u);
    return 256u + 67; /* 173 */
}

int ds4_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    uint32_t r = cp - 256;
    if (r < 33) return (int)r;
    if (r < 67) return (int)(127 + r - 33);
    if (r == 67) return 173;
    return -1;
}

/* ---- UTF-8 ---- */

size_t ds4_utf8_next(const uint8_t *s, size_t n, int32_t *cp) {
    uint8_t b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    uint32_t v;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        v = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        v = b & 0x0F;
        if (b == 0xE0) lo = 0xA0; /* no overlongs */
        if (b == 0xED) hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        v = b & 0x07;
        if (b == 0xF0) lo = 0x90; /* no overlongs */
        if (b == 0xF4) hi = 0x8F; /* <= U+10FFFF */
    } else {
        *cp = -1;
        return 1;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= n) break;
        uint8_t c = s[i];
        uint8_t l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (c < l || c > h) break;
        v = (v << 6) | (c & 0x3F);
    }
    if (i <= need) { /* truncated or broken: the bytes so far are one invalid subpart */
        *cp = -1;
        return i;
    }
    *cp = (int32_t)v;
    return need + 1;
}

size_t ds4_utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

bool ds4_utf8_valid(const char *s, size_t len) {
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) { /* ASCII fast path */
            i++;
            continue;
        }
        int32_t cp;
        i += ds4_utf8_next(p + i, len - i, &cp);
        if (cp < 0) return false;
    }
    return true;
}

char *ds4_utf8_sanitize(const char *text, size_t len, size_t *out_len) {
    const uint8_t *p = (const uint8_t *)text;
    /* Worst case: every byte becomes a 3-byte U+FFFD. */
    char *out = ds4_xmalloc(len * 3 + 1);
    size_t o = 0, i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            out[o++] = (char)p[i++];
            continue;
        }
        int32_t cp;
        size_t k = ds4_utf8_next(p + i, len - i, &cp);
        if (cp < 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        } else {
            memcpy(out + o, p + i, k);
            o += k;
        }
        i += k;
    }
    out[o] = 0;
    if (out_len) *out_len = o;
    return out;
}

/* ---- streaming decoder ---- */

struct ds4_detok {
    const ds4_tokenizer *tok;
    uint8_t held[4]; /* start of an incomplete character */
    size_t n_held;
    char *buf;       /* output of the last call */
    size_t cap;
};

ds4_detok *ds4_detok_new(const ds4_tokenizer *tok) {
    ds4_detok *d = ds4_xcalloc(1, sizeof *d);
    d->tok = tok;
    return d;
}

void ds4_detok_free(ds4_detok *d) {
    if (!d) return;
    free(d->buf);
    free(d);
}

void ds4_detok_reset(ds4_detok *d) { d->n_held = 0; }

/* Decodes held bytes + in[0..n) into d->buf; keeps a trailing incomplete
 * (but so far valid) character held unless flushing. */
static const char *detok_run(ds4_detok *d, const uint8_t *in, size_t n, bool flush, size_t *len) {
    size_t total = d->n_held + n;
    if (d->cap < total * 3 + 1) {
        d->cap = total * 3 + 16;
        d->buf = ds4_xrealloc(d->buf, d->cap);
    }
    /* Work on a contiguous copy: held bytes then the new ones. Small inputs
     * use a stack buffer to keep per-token cost low. */
    uint8_t stackbuf[256];
    uint8_t *src = total <= sizeof stackbuf ? stackbuf : ds4_xmalloc(total);
    memcpy(src, d->held, d->n_held);
    if (n) memcpy(src + d->n_held, in, n);
    d->n_held = 0;
    size_t o = 0, i = 0;
    while (i < total) {
        if (src[i] < 0x80) {
            d->buf[o++] = (char)src[i++];
            continue;
        }
        int32_t cp;
        size_t k = ds4_utf8_next(src + i, total - i, &cp);
        if (cp < 0 && i + k == total && !flush) {
            /* Ran out of bytes mid-character: is what we have a valid prefix?
             * ds4_utf8_next stops at the first bad byte, so if it consumed
             * everything the prefix is fine and more bytes may complete it. */
            bool lead_ok = src[i] >= 0xC2 && src[i] <= 0xF4;
            if (lead_ok && k < 4) {
                memcpy(d->held, src + i, k);
                d->n_held = k;
                break;
            }
        }
        if (cp < 0) {
            memcpy(d->buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
        } else {
            memcpy(d->buf + o, src + i, k);
            o += k;
        }
        i += k;
    }
    if (src != stackbuf) free(src);
    d->buf[o] = 0;
    *len = o;
    return d->buf;
}

const char *ds4_detok_push_bytes(ds4_detok *d, const char *bytes, size_t n, size_t *len) {
    return detok_run(d, (const uint8_t *)bytes, n, false, len);
}

const char *ds4_detok_push(ds4_detok *d, int32_t id, size_t *len) {
    size_t n = 0;
    const char *piece = ds4_token_piece(d->tok, id, &n);
    return detok_run(d, (const uint8_t *)piece, piece ? n : 0, false, len);
}

const char *ds4_detok_flush(ds4_detok *d, size_t *len) { return detok_run(d, NULL, 0, true, len); }
