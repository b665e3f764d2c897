/* Session state (architecture.md §11): per layer a sliding ring of key rows,
 * and for compressed layers the compressor buffers and the append-only
 * entries (plus the indexer's for CSA layers). Sized from ctx. */
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/internal.h"
#include "engine/cpu/ops.h"

static float *falloc(ds4_session *s, size_t n, ds4_error *err, bool *ok) {
    if (!*ok) return NULL;
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        *ok = ds4_fail(err, "out of memory allocating %zu bytes of session state", n * sizeof(float));
        return NULL;
    }
    s->state_bytes += n * sizeof(float);
    return p;
}

static void comp_init(ds4_session *s, ds4_comp_state *cs, int d, int coff, int m, ds4_error *err, bool *ok) {
    cs->d = d;
    cs->coff = coff;
    cs->m = m;
    cs->cap = s->ctx / m;
    cs->cur_z = falloc(s, (size_t)m * coff * d, err, ok);
    cs->cur_g = falloc(s, (size_t)m * coff * d, err, ok);
    if (coff == 2) {
        cs->prev_z = falloc(s, (size_t)m * d, err, ok);
        cs->prev_g = falloc(s, (size_t)m * d, err, ok);
    }
    cs->entries = falloc(s, (size_t)cs->cap * d, err, ok);
}

static void comp_free(ds4_comp_state *cs) {
    free(cs->cur_z);
    free(cs->cur_g);
    free(cs->prev_z);
    free(cs->prev_g);
    free(cs->entries);
}

bool ds4_state_alloc(ds4_session *s, ds4_error *err) {
    const ds4_config *c = &s->m->cfg;
    bool ok = true;
    /* Metadata may declare a window or top-k far beyond any context: size by both. */
    s->ring_rows = c->n_swa < s->ctx ? c->n_swa : s->ctx;
    s->topk_cap = c->idx_topk < s->ctx / DS4_CSA_RATIO ? c->idx_topk : s->ctx / DS4_CSA_RATIO;
    if (s->topk_cap < 1) s->topk_cap = 1;
    s->L = ds4_xcalloc((size_t)c->n_layer, sizeof *s->L);
    for (int l = 0; l < c->n_layer && ok; l++) {
        ds4_layer_state *L = &s->L[l];
        L->ring = falloc(s, (size_t)s->ring_rows * c->head_dim, err, &ok);
        const ds4_attn_kind kind = ds4_layer_attn(c, l);
        if (kind != DS4_ATTN_SLIDING)
            comp_init(s, &L->comp, c->head_dim, ds4_layer_coff(c, l), c->compress_ratio[l], err, &ok);
        if (kind == DS4_ATTN_CSA) comp_init(s, &L->icomp, c->idx_dim, 2, c->compress_ratio[l], err, &ok);
    }
    return ok;
}

void ds4_state_free(ds4_session *s) {
    if (!s->L) return;
    for (int l = 0; l < s->m->cfg.n_layer; l++) {
        free(s->L[l].ring);
        comp_free(&s->L[l].comp);
        comp_free(&s->L[l].icomp);
    }
    free(s->L);
    s->L = NULL;
}

void ds4_state_reset(ds4_session *s) {
    /* Only counters matter: rows are always written before they are read. */
    for (int l = 0; l < s->m->cfg.n_layer; l++) {
        s->L[l].comp.n_entries = 0;
        s->L[l].icomp.n_entries = 0;
    }
    s->pos = 0;
}

/* Softmax-pooled entry of a closed window (§7): per channel, a softmax over
 * the slots' gates weights their values. CSA adds the previous window's
 * first halves as m extra slots (absent for the first window). */
static void pool_entry(const ds4_comp_state *cs, float *out) {
    const int d = cs->d, m = cs->m, cw = cs->coff * d;
    const bool prev = cs->coff == 2 && cs->n_entries > 0;
    const int off = cs->coff == 2 ? d : 0; /* current window's half */
    for (int e = 0; e < d; e++) {
        float mx = -INFINITY;
        if (prev)
            for (int s = 0; s < m; s++) mx = fmaxf(mx, cs->prev_g[s * d + e]);
        for (int s = 0; s < m; s++) mx = fmaxf(mx, cs->cur_g[s * cw + off + e]);
        float sum = 0.0f, acc = 0.0f;
        if (prev)
            for (int s = 0; s < m; s++) {
                const float p = expf(cs->prev_g[s * d + e] - mx);
                sum += p;
                acc += p * cs->prev_z[s * d + e];
            }
        for (int s = 0; s < m; s++) {
            const float p = expf(cs->cur_g[s * cw + off + e] - mx);
            sum += p;
            acc += p * cs->cur_z[s * cw + off + e];
        }
        out[e] = acc / sum;
    }
}

void ds4_comp_push(const ds4_model *m, ds4_comp_state *cs, const float *z, const float *g, const float *ape,
                   const float *norm, int64_t t, bool indexer) {
    const int d = cs->d, cw = cs->coff * d, slot = (int)(t % cs->m);
    memcpy(cs->cur_z + (size_t)slot * cw, z, sizeof(float) * (size_t)cw);
    float *gs = cs->cur_g + (size_t)slot * cw;
    for (int i = 0; i < cw; i++) gs[i] = g[i] + ape[(size_t)slot * cw + i];
    if (slot != cs->m - 1) return;

    float *out = cs->entries + (size_t)cs->n_entries * d;
    pool_entry(cs, out);
    const ds4_config *c = &m->cfg;
    ds4_rmsnorm(out, out, norm, d, c->rms_eps);
    ds4_rope(out, d, c->n_rot, m->omega_comp, (int64_t)cs->n_entries * cs->m, 0);
    if (m->numerics == DS4_NUMERICS_OFFICIAL) {
        if (indexer) {
            for (int b = 0; b < d; b += m->hadamard_block) ds4_hadamard(out + b, m->hadamard_block);
            ds4_fp4_round_trip(out, d);
        } else {
            ds4_fp8_round_trip(out, d - c->n_rot);
        }
    }
    if (cs->coff == 2)
        for (int s = 0; s < cs->m; s++) {
            memcpy(cs->prev_z + (size_t)s * d, cs->cur_z + (size_t)s * cw, sizeof(float) * (size_t)d);
            memcpy(cs->prev_g + (size_t)s * d, cs->cur_g + (size_t)s * cw, sizeof(float) * (size_t)d);
        }
    cs->n_entries++;
}
