/* Flat image of a session's state for the disk KV cache: a header that
 * pins the model shape and ctx, then per layer the ring, the compressor
 * buffers and the entries written so far. Its size depends only on the
 * position, so a prefix cached at position p always has the same layout. */
#include <string.h>

#include "engine/cpu/internal.h"

#define STATE_MAGIC 0x53345344u /* "DS4S" */
#define STATE_VERSION 1u

typedef struct {
    uint32_t magic, version;
    uint64_t model_id;
    uint32_t ctx, pos, n_layer, numerics;
} state_header;

/* FNV-1a over the config and the bound weight size: the same model (and
 * numerics mode) gives the same id. */
static uint64_t model_id(const ds4_model *m) {
    uint64_t h = 1469598103934665603ull;
    const uint8_t *p = (const uint8_t *)&m->cfg;
    for (size_t i = 0; i < sizeof m->cfg; i++) h = (h ^ p[i]) * 1099511628211ull;
    const uint64_t wb = m->w.mapped_bytes;
    p = (const uint8_t *)&wb;
    for (size_t i = 0; i < sizeof wb; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Walks every array of the image in order; copies in the direction asked. */
static size_t walk(ds4_session *s, uint8_t *img, bool save) {
    const ds4_config *c = &s->m->cfg;
    size_t off = sizeof(state_header);
#define ARR(ptr, count)                                                              \
    do {                                                                             \
        const size_t nb = sizeof(float) * (size_t)(count);                           \
        if (img) {                                                                   \
            if (save) memcpy(img + off, (ptr), nb);                                  \
            else memcpy((ptr), img + off, nb);                                       \
        }                                                                            \
        off += nb;                                                                   \
    } while (0)
    for (int l = 0; l < c->n_layer; l++) {
        ds4_layer_state *L = &s->L[l];
        ARR(L->ring, (size_t)s->ring_rows * c->head_dim);
        ds4_comp_state *cs[2] = {&L->comp, &L->icomp};
        for (int k = 0; k < 2; k++) {
            ds4_comp_state *x = cs[k];
            if (!x->m) continue;
            const size_t cw = (size_t)x->coff * x->d;
            ARR(x->cur_z, (size_t)x->m * cw);
            ARR(x->cur_g, (size_t)x->m * cw);
            if (x->coff == 2) {
                ARR(x->prev_z, (size_t)x->m * x->d);
                ARR(x->prev_g, (size_t)x->m * x->d);
            }
            ARR(x->entries, (size_t)(s->pos / x->m) * x->d);
        }
    }
#undef ARR
    return off;
}

size_t ds4_session_state_size(const ds4_session *s) { return walk((ds4_session *)s, NULL, true); }

bool ds4_session_state_save(const ds4_session *s, void *buf, size_t size, ds4_error *err) {
    const size_t need = ds4_session_state_size(s);
    if (size < need) return ds4_fail(err, "session state: buffer of %zu bytes, need %zu", size, need);
    state_header h = {STATE_MAGIC, STATE_VERSION, model_id(s->m), (uint32_t)s->ctx, (uint32_t)s->pos,
                      (uint32_t)s->m->cfg.n_layer, (uint32_t)s->m->numerics};
    memcpy(buf, &h, sizeof h);
    walk((ds4_session *)s, buf, true);
    return true;
}

bool ds4_session_state_load(ds4_session *s, const void *buf, size_t size, ds4_error *err) {
    state_header h;
    if (size < sizeof h) return ds4_fail(err, "session state: %zu bytes, shorter than its %zu-byte header", size, sizeof h);
    memcpy(&h, buf, sizeof h);
    if (h.magic != STATE_MAGIC) return ds4_fail(err, "session state: bad magic 0x%08x at offset 0", h.magic);
    if (h.version != STATE_VERSION) return ds4_fail(err, "session state: version %u, expected %u", h.version, STATE_VERSION);
    if (h.model_id != model_id(s->m) || h.n_layer != (uint32_t)s->m->cfg.n_layer || h.numerics != (uint32_t)s->m->numerics)
        return ds4_fail(err, "session state: saved for a different model or numerics mode");
    if (h.ctx != (uint32_t)s->ctx)
        return ds4_fail(err, "session state: saved with context size %u, this session has %d", h.ctx, s->ctx);
    if (h.pos > h.ctx) return ds4_fail(err, "session state: position %u beyond context %u", h.pos, h.ctx);
    const int old = s->pos;
    s->pos = (int)h.pos;
    const size_t need = walk(s, NULL, false);
    if (size != need) {
        s->pos = old;
        return ds4_fail(err, "session state: %zu bytes, expected %zu for position %u", size, need, h.pos);
    }
    walk(s, (uint8_t *)buf, false);
    for (int l = 0; l < s->m->cfg.n_layer; l++) {
        if (s->L[l].comp.m) s->L[l].comp.n_entries = s->pos / s->L[l].comp.m;
        if (s->L[l].icomp.m) s->L[l].icomp.n_entries = s->pos / s->L[l].icomp.m;
    }
    return true;
}
