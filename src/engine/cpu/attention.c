/* Attention sub-layer over one chunk (architecture.md §6-§8): low-rank q
 * with norms, the shared K=V head, partial interleaved RoPE, the sliding
 * window with attention sinks, compressed entries (all of them in HCA
 * layers, the lightning indexer's top-k in CSA layers), inverse RoPE of the
 * output and the grouped output projection. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "engine/cpu/internal.h"
#include "engine/cpu/ops.h"
#include "quant/quant.h"

typedef struct {
    ds4_session *s;
    int layer, n;
    const float *omega;
    int idx_blocks;       /* indexer score blocks per row */
    int group, n_groups;  /* heads per attention task, tasks per row */
} attn_job;


/* Indexer scores of row i against entries of block b (§8):
 * score(t, w) = Σ_h ω_h·IH^-1/2·ID^-1/2·ReLU(qI_h·K_w). */
static void index_score(void *ctx, int64_t task, int thread) {
    const attn_job *j = ctx;
    ds4_session *s = j->s;
    const ds4_config *c = &s->m->cfg;
    const ds4_comp_state *ic = &s->L[j->layer].icomp;
    const int i = (int)(task / j->idx_blocks), b = (int)(task % j->idx_blocks);
    const int n_vis = (int)((s->pos + i + 1) / ic->m);
    const int IH = c->idx_head, ID = c->idx_dim;
    const int w0 = b * DS4_IDX_BLOCK, w1 = w0 + DS4_IDX_BLOCK < n_vis ? w0 + DS4_IDX_BLOCK : n_vis;
    if (n_vis <= c->idx_topk || w0 >= n_vis) return;
    const float *qt = s->sc.iqt + (size_t)i * IH * ID, *wt = s->sc.iw + (size_t)i * IH;
    const float scale = 1.0f / sqrtf((float)IH) / sqrtf((float)ID);
    float *out = s->sc.iscore + (size_t)i * s->sc.iscore_stride;
    /* q·k of all heads for the whole block at once (no horizontal sums) */
    float *dots = s->sc.idots + (size_t)thread * DS4_IDX_BLOCK * IH;
    const float *rows[DS4_IDX_BLOCK] = {NULL}; /* (initialised for GCC's flow analysis) */
    for (int w = w0; w < w1; w++) rows[w - w0] = ic->entries + (size_t)w * ID;
    ds4_scores_f32(rows, w1 - w0, ID, qt, IH, dots);
    /* ReLU then the weighted sum over heads, branch-free: a negative dot
     * adds an exact zero (the sign of real scores is a coin toss, and a
     * mispredicted branch per head cost more than the arithmetic). */
    for (int w = w0; w < w1; w++) {
        const float *dw = dots + (size_t)(w - w0) * IH;
        float sc = 0.0f;
        for (int h = 0; h < IH; h++) sc += wt[h] * scale * (dw[h] > 0.0f ? dw[h] : 0.0f);
        out[w] = sc;
    }
}

/* Selects row i's top-k visible entries (lowest index first among ties). */
static void index_select(void *ctx, int64_t i, int thread) {
    const attn_job *j = ctx;
    ds4_session *s = j->s;
    const ds4_config *c = &s->m->cfg;
    const ds4_comp_state *ic = &s->L[j->layer].icomp;
    const int n_vis = (int)((s->pos + i + 1) / ic->m);
    const int KI = c->idx_topk;
    int32_t *sel = s->sc.topk + i * s->topk_cap;
    if (n_vis <= KI) {
        for (int w = 0; w < n_vis; w++) sel[w] = w;
        s->sc.n_topk[i] = n_vis;
        return;
    }
    const float *score = s->sc.iscore + (size_t)i * s->sc.iscore_stride;
    float *heap = s->sc.thr + (size_t)thread * s->sc.thr_stride; /* KI scores */
    s->sc.n_topk[i] = ds4_topk(score, n_vis, KI, sel, heap);
}



/* Weighted sums o_h += Σ_r p_h[r]·keys[r] over one block of keys, for the
 * nh heads of a task (multiply, then add, in key order). For each 32-value
 * slice of the keys, four heads at a time accumulate it in eight vector
 * registers (GCC/Clang vector types, split by the compiler to the target's
 * width) and store once: the per-key axpy form was bound by its stores.
 * Slices inside a block, head sets inside a slice: the block's slice stays
 * in L1/L2 while every head set passes over it. Whole-row slices over all
 * keys instead missed L2 at every head set: key rows are 2 KB apart, so one
 * slice of 640 keys falls into 32 of the L2's 1024 sets. */
typedef float f32x16 __attribute__((vector_size(64)));

/* Through a pointer, not a return value: a 64-byte vector returned by
 * value has a different ABI with and without AVX-512 (GCC's -Wpsabi, an
 * error under -Werror on AVX2-only targets). */
static inline void load16(f32x16 *v, const float *p) { memcpy(v, p, sizeof *v); }

/* Four heads' outputs [d, d + 32) over keys [0, nk) (first: from zero,
 * else continuing o), in eight named accumulators (an array of them
 * indexed in a loop was kept on the stack). */
static void wsum_slice4(float *const *o, const float *w, int nh, const float *const *keys, int nk, int d, bool first) {
    f32x16 a0 = {0.0f}, a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0;
    if (!first) {
        load16(&a0, o[0] + d);
        load16(&a1, o[0] + d + 16);
        load16(&b0, o[1] + d);
        load16(&b1, o[1] + d + 16);
        load16(&c0, o[2] + d);
        load16(&c1, o[2] + d + 16);
        load16(&e0, o[3] + d);
        load16(&e1, o[3] + d + 16);
    }
    for (int r = 0; r < nk; r++) {
        f32x16 k0, k1;
        load16(&k0, keys[r] + d);
        load16(&k1, keys[r] + d + 16);
        const float *pr = w + (size_t)r * nh;
        const float p0 = pr[0], p1 = pr[1], p2 = pr[2], p3 = pr[3];
        a0 += p0 * k0;
        a1 += p0 * k1;
        b0 += p1 * k0;
        b1 += p1 * k1;
        c0 += p2 * k0;
        c1 += p2 * k1;
        e0 += p3 * k0;
        e1 += p3 * k1;
    }
    memcpy(o[0] + d, &a0, 64);
    memcpy(o[0] + d + 16, &a1, 64);
    memcpy(o[1] + d, &b0, 64);
    memcpy(o[1] + d + 16, &b1, 64);
    memcpy(o[2] + d, &c0, 64);
    memcpy(o[2] + d + 16, &c1, 64);
    memcpy(o[3] + d, &e0, 64);
    memcpy(o[3] + d + 16, &e1, 64);
}

/* One head's outputs [d, d + 32): the heads left over from sets of four. */
static void wsum_slice1(float *o, const float *w, int nh, const float *const *keys, int nk, int d, bool first) {
    f32x16 a0 = {0.0f}, a1 = a0;
    if (!first) {
        load16(&a0, o + d);
        load16(&a1, o + d + 16);
    }
    for (int r = 0; r < nk; r++) {
        const float p = w[(size_t)r * nh];
        f32x16 k0, k1;
        load16(&k0, keys[r] + d);
        load16(&k1, keys[r] + d + 16);
        a0 += p * k0;
        a1 += p * k1;
    }
    memcpy(o + d, &a0, 64);
    memcpy(o + d + 16, &a1, 64);
}

/* One block of nb keys into the outputs (first: from zero, else continuing
 * them); w: nb x nh weights, key-major (head h of key r at w[r * nh + h]). */
static void wsum_block(float *const *o, const float *w, int nh, const float *const *keys, int nb, int n, bool first) {
    const int d0 = n / 32 * 32;
    for (int d = 0; d < d0; d += 32) {
        int h = 0;
        for (; h + 4 <= nh; h += 4) wsum_slice4(o + h, w + h, nh, keys, nb, d, first);
        for (; h < nh; h++) wsum_slice1(o[h], w + h, nh, keys, nb, d, first);
    }
    for (int d = d0; d < n; d++)
        for (int h = 0; h < nh; h++) {
            float a = first ? 0.0f : o[h][d];
            for (int r = 0; r < nb; r++) a += w[(size_t)r * nh + h] * keys[r][d];
            o[h][d] = a;
        }
}

/* One (row, group of heads): scores over the window keys then the
 * compressed entries, a softmax with the sink as an extra logit, the
 * weighted sum of the keys (V = K), and the inverse RoPE at the query
 * position. Dots go through the quant module's f32 kernel (SIMD). */
static void attn_heads(void *ctx, int64_t task, int thread) {
    const attn_job *j = ctx;
    ds4_session *s = j->s;
    const ds4_config *c = &s->m->cfg;
    const int H = c->n_head, HD = c->head_dim, W = c->n_swa;
    const int i = (int)(task / j->n_groups), h0 = (int)(task % j->n_groups) * j->group;
    const int nh = H - h0 < j->group ? H - h0 : j->group;
    const ds4_layer_state *st = &s->L[j->layer];
    const ds4_attn_kind kind = ds4_layer_attn(c, j->layer);
    const float *sinks = s->m->w.layers[j->layer].sinks;
    const int64_t p0 = s->pos, t = p0 + i;
    const float inv = 1.0f / sqrtf((float)HD);

    const int64_t j0 = t - W + 1 > 0 ? t - W + 1 : 0;
    const int nw = (int)(t - j0 + 1);
    int nc = 0;
    const int32_t *sel = NULL;
    if (kind == DS4_ATTN_HCA) {
        nc = (int)((t + 1) / st->comp.m);
    } else if (kind == DS4_ATTN_CSA) {
        nc = s->sc.n_topk[i];
        sel = s->sc.topk + (size_t)i * s->topk_cap;
    }
    const int nk = nw + nc;
    /* Per thread: the group's queries transposed, the nk key rows, then a
     * block's scores (DS4_ATTN_KEY_BLOCK x nh). */
    float *qt = s->sc.thr + (size_t)thread * s->sc.thr_stride;
    const float **keys = (const float **)(void *)(qt + (size_t)DS4_HEAD_GROUP_MAX * HD);
    float *sc = (float *)(void *)(keys + nk);
#define KEY(r) ((r) < nw ? ((j0 + (r)) < p0 ? st->ring + (size_t)((j0 + (r)) % W) * HD : s->sc.kv + (size_t)(j0 + (r) - p0) * HD) \
                         : st->comp.entries + (size_t)(sel ? sel[(r) - nw] : (r) - nw) * HD)
    for (int r = 0; r < nk; r++) keys[r] = KEY(r);
#undef KEY
    const float *q = s->sc.q + ((size_t)i * H + h0) * HD;
    for (int h = 0; h < nh; h++)
        for (int d = 0; d < HD; d++) qt[(size_t)d * nh + h] = q[(size_t)h * HD + d];
    float *o[DS4_HEAD_GROUP_MAX];
    for (int h = 0; h < nh; h++) o[h] = s->sc.o + ((size_t)i * H + h0 + h) * HD;
    /* One pass over the keys in blocks of 64 (online softmax): a block's
     * scores, then its weighted sum while its rows (128 KB) are still in L2,
     * the running outputs and sums rescaled whenever a head's maximum grows;
     * the sink is the starting maximum and joins the sum at the end. Each
     * key comes from L3 once per task (scoring all keys first and summing in
     * a second pass read them twice: ~8% more attention time at 2562). */
    float mx[DS4_HEAD_GROUP_MAX], sum[DS4_HEAD_GROUP_MAX];
    for (int h = 0; h < nh; h++) {
        mx[h] = sinks[h0 + h];
        sum[h] = 0.0f;
    }
    for (int r0 = 0; r0 < nk; r0 += DS4_ATTN_KEY_BLOCK) {
        const int nb = nk - r0 < DS4_ATTN_KEY_BLOCK ? nk - r0 : DS4_ATTN_KEY_BLOCK;
        /* Scores of the block against every head of the group at once: each
         * key element is broadcast into 16 heads per vector, with no
         * horizontal sums. */
        ds4_scores_f32(keys + r0, nb, HD, qt, nh, sc);
        float bm[DS4_HEAD_GROUP_MAX];
        for (int h = 0; h < nh; h++) bm[h] = mx[h];
        for (int r = 0; r < nb; r++)
            for (int h = 0; h < nh; h++) {
                const float v = sc[(size_t)r * nh + h] * inv;
                sc[(size_t)r * nh + h] = v;
                bm[h] = v > bm[h] ? v : bm[h]; /* fmaxf's NaN rule, without a libm call */
            }
        for (int h = 0; r0 > 0 && h < nh; h++)
            if (bm[h] > mx[h]) {
                const float f = expf(mx[h] - bm[h]);
                sum[h] *= f;
                ds4_vec_scale(o[h], f, o[h], HD);
            }
        for (int h = 0; h < nh; h++) mx[h] = bm[h];
        for (int r = 0; r < nb; r++)
            for (int h = 0; h < nh; h++) sc[(size_t)r * nh + h] -= mx[h];
        ds4_vec_exp(sc, sc, nb * nh);
        for (int r = 0; r < nb; r++)
            for (int h = 0; h < nh; h++) sum[h] += sc[(size_t)r * nh + h];
        wsum_block(o, sc, nh, keys + r0, nb, HD, r0 == 0);
    }
    for (int h = 0; h < nh; h++) {
        const float total = sum[h] + expf(sinks[h0 + h] - mx[h]);
        if (nk == 0) memset(o[h], 0, sizeof(float) * (size_t)HD); /* (a row always sees itself) */
        for (int d = 0; d < HD; d++) o[h][d] /= total;
    }
    ds4_rope_many(s->sc.o + ((size_t)i * H + h0) * HD, (size_t)HD, nh, HD, c->n_rot, j->omega, t, 1);
}

/* Tasks per row: enough for every thread to have one (decode has one row),
 * and otherwise as few as possible, since each task reads all of its row's
 * keys (at 8K context a CSA row's 640 keys are 1.3 MB, past L2). Groups are
 * multiples of four heads, the width of the score and weighted-sum loops. */
static void heads_per_task(attn_job *job, int H, int threads) {
    const int want = (threads + job->n - 1) / job->n;
    int g = (H + want - 1) / want;
    g = (g + 3) / 4 * 4;
    if (g > DS4_HEAD_GROUP_MAX) g = DS4_HEAD_GROUP_MAX;
    job->group = g;
    job->n_groups = (H + g - 1) / g;
}

void ds4_attention(ds4_session *s, int l, int n) {
    const ds4_model *m = s->m;
    const ds4_config *c = &m->cfg;
    const ds4_layer_weights *Lw = &m->w.layers[l];
    ds4_layer_state *st = &s->L[l];
    ds4_scratch *sc = &s->sc;
    const int D = c->n_embd, H = c->n_head, HD = c->head_dim, Q = c->q_lora, R = c->n_rot;
    const int G = c->n_out_group, OL = c->o_lora, W = c->n_swa;
    const ds4_attn_kind kind = ds4_layer_attn(c, l);
    const float *omega = kind == DS4_ATTN_SLIDING ? m->omega_main : m->omega_comp;
    const int64_t p0 = s->pos;
    const bool official = m->numerics == DS4_NUMERICS_OFFICIAL;

    /* q: q_a -> RMSNorm -> q_b -> per-head RMSNorm -> RoPE. qa keeps the normalised
     * low-rank query ("q_residual"), which the indexer reads too. */
    {
        /* q_a and the key/value row both read x: one dispatch in decode. */
        const ds4_mat w[2] = {Lw->q_a, Lw->kv};
        const float *x[2] = {sc->x, sc->x};
        float *y[2] = {sc->qa, sc->kv};
        ds4_mm_multi(m, n, 2, w, x, y);
    }
    for (int i = 0; i < n; i++) ds4_rmsnorm(sc->qa + (size_t)i * Q, sc->qa + (size_t)i * Q, Lw->q_a_norm, Q, c->rms_eps);
    ds4_mm(m, &Lw->q_b, sc->qa, n, sc->q);
    for (int i = 0; i < n; i++) {
        for (int h = 0; h < H; h++) {
            float *qh = sc->q + ((size_t)i * H + h) * HD;
            ds4_rmsnorm(qh, qh, NULL, HD, c->rms_eps);
        }
        ds4_rope_many(sc->q + (size_t)i * H * HD, (size_t)HD, H, HD, R, omega, p0 + i, 0);
    }
    /* The single shared key/value row (projected above with q_a). */
    for (int i = 0; i < n; i++) {
        float *k = sc->kv + (size_t)i * HD;
        ds4_rmsnorm(k, k, Lw->kv_norm, HD, c->rms_eps);
        ds4_rope(k, HD, R, omega, p0 + i, 0);
        if (official) ds4_fp8_round_trip(k, HD - R);
    }
    /* Compressor: entries close in token order, before the closing token attends. */
    if (kind != DS4_ATTN_SLIDING) {
        ds4_prof_stage(DS4_STAGE_COMP);
        const int cw = ds4_layer_coff(c, l) * HD;
        const ds4_mat w[2] = {Lw->comp_kv, Lw->comp_gate};
        const float *x[2] = {sc->x, sc->x};
        float *y[2] = {sc->cz, sc->cg};
        ds4_mm_multi(m, n, 2, w, x, y);
        for (int i = 0; i < n; i++)
            ds4_comp_push(m, &st->comp, sc->cz + (size_t)i * cw, sc->cg + (size_t)i * cw, Lw->comp_ape, Lw->comp_norm,
                          p0 + i, false);
        ds4_prof_stage(DS4_STAGE_ATTN);
    }
    attn_job job = {s, l, n, omega, 0, 0, 0};
    if (kind == DS4_ATTN_CSA) {
        ds4_prof_stage(DS4_STAGE_COMP);
        const int IH = c->idx_head, ID = c->idx_dim;
        const ds4_mat w[4] = {Lw->idx_q_b, Lw->idx_proj, Lw->idxc_kv, Lw->idxc_gate};
        const float *x[4] = {sc->qa, sc->x, sc->x, sc->x};
        float *y[4] = {sc->iq, sc->iw, sc->iz, sc->ig};
        ds4_mm_multi(m, n, 4, w, x, y);
        for (int i = 0; i < n; i++) {
            ds4_rope_many(sc->iq + (size_t)i * IH * ID, (size_t)ID, IH, ID, R, omega, p0 + i, 0);
            for (int h = 0; official && h < IH; h++) {
                float *qh = sc->iq + ((size_t)i * IH + h) * ID;
                for (int b = 0; b < ID; b += m->hadamard_block) ds4_hadamard(qh + b, m->hadamard_block);
                ds4_fp4_round_trip(qh, ID);
            }
        }
        for (int i = 0; i < n; i++)
            ds4_comp_push(m, &st->icomp, sc->iz + (size_t)i * 2 * ID, sc->ig + (size_t)i * 2 * ID, Lw->idxc_ape,
                          Lw->idxc_norm, p0 + i, true);
        const int max_vis = (int)((p0 + n) / c->compress_ratio[l]);
        job.idx_blocks = (max_vis + DS4_IDX_BLOCK - 1) / DS4_IDX_BLOCK;
        if (max_vis > c->idx_topk) { /* scoring only once more entries than top-k are visible */
            for (int i = 0; i < n; i++) /* queries transposed: head index fastest */
                for (int h = 0; h < IH; h++)
                    for (int d = 0; d < ID; d++)
                        sc->iqt[((size_t)i * ID + d) * IH + h] = sc->iq[((size_t)i * IH + h) * ID + d];
            ds4_pool_run(m->pool, index_score, &job, (int64_t)n * job.idx_blocks);
        }
        ds4_pool_run(m->pool, index_select, &job, n);
        ds4_prof_stage(DS4_STAGE_ATTN);
    }
    heads_per_task(&job, H, ds4_pool_threads(m->pool));
    ds4_pool_run(m->pool, attn_heads, &job, (int64_t)n * job.n_groups);

    /* Grouped output projection: group g's heads through its own OL rows of W_oa. */
    const int gw = H / G * HD;
    const bool one_dispatch = n == 1 && G <= 16;
    if (one_dispatch) {
        /* Decode: the G group products read disjoint slices of o and write
         * disjoint slices of low, so they need no gather: one dispatch. */
        ds4_mat w[16];
        const float *x[16];
        float *y[16];
        for (int g = 0; g < G; g++) {
            w[g] = ds4_mat_rows(&Lw->out_a, (int64_t)g * OL, OL);
            x[g] = sc->o + (size_t)g * gw;
            y[g] = sc->low + (size_t)g * OL;
        }
        ds4_mm_multi(m, 1, G, w, x, y);
    }
    for (int g = 0; !one_dispatch && g < G; g++) {
        for (int i = 0; i < n; i++)
            memcpy(sc->og + (size_t)i * gw, sc->o + (size_t)i * H * HD + (size_t)g * gw, sizeof(float) * (size_t)gw);
        const ds4_mat wg = ds4_mat_rows(&Lw->out_a, (int64_t)g * OL, OL);
        ds4_mm(m, &wg, sc->og, n, sc->lg);
        for (int i = 0; i < n; i++)
            memcpy(sc->low + (size_t)i * G * OL + (size_t)g * OL, sc->lg + (size_t)i * OL, sizeof(float) * (size_t)OL);
    }
    ds4_mm(m, &Lw->out_b, sc->low, n, sc->y);
    (void)D;

    /* Only now may the chunk's keys enter the ring: its rows above were read in place. */
    for (int i = n - W > 0 ? n - W : 0; i < n; i++)
        memcpy(st->ring + (size_t)((p0 + i) % W) * HD, sc->kv + (size_t)i * HD, sizeof(float) * (size_t)HD);
}
