/* MoE FFN over one chunk (architecture.md §9): sqrt(softplus) router
 * scores, hash routing (tid2eid) on the first layers and bias-corrected
 * top-k elsewhere, clamped SwiGLU experts run per expert over the rows that
 * chose it, plus the shared expert. */
#include <math.h>
#include <string.h>

#include "engine/cpu/internal.h"
#include "engine/cpu/ops.h"
#include "quant/quant.h"

/* silu(min(g, λ)) · clamp(u, -λ, λ), in place into g. */
/* g = silu(min(g, lim)) · clamp(u, ±lim), in blocks through the vector
 * exp (a libm expf per element was ~90 us per decode layer). The clamps
 * are written as comparisons, which pick lim for NaN exactly as fminf and
 * fmaxf do but compile to vector min/max instead of libm calls. */
static void swiglu(float *g, const float *u, size_t n, float lim) {
    enum { BLOCK = 256 };
    for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
        const int len = n - i0 < BLOCK ? (int)(n - i0) : BLOCK;
        float a[BLOCK], e[BLOCK];
        for (int i = 0; i < len; i++) {
            a[i] = g[i0 + i] < lim ? g[i0 + i] : lim;
            e[i] = -a[i];
        }
        ds4_vec_exp(e, e, len);
        for (int i = 0; i < len; i++) {
            const float v = u[i0 + i], b = v > -lim ? (v < lim ? v : lim) : -lim;
            g[i0 + i] = a[i] * (1.0f / (1.0f + e[i])) * b;
        }
    }
}

/* Routing for one row: experts sel[0..K) and weights selw[0..K). */
static void route(const ds4_config *c, const ds4_layer_weights *Lw, bool hash, int32_t token, const float *logit,
                  int32_t *sel, float *selw, float *score) {
    const int E = c->n_expert, K = c->n_expert_used;
    for (int e = 0; e < E; e++) score[e] = sqrtf(ds4_softplus(logit[e]));
    if (hash) {
        for (int k = 0; k < K; k++) sel[k] = Lw->tid2eid[(size_t)token * K + k];
    } else {
        /* K times the strictly largest biased score, scanning ascending: lowest index wins ties. */
        uint8_t taken[4096];
        memset(taken, 0, (size_t)E);
        for (int k = 0; k < K; k++) {
            int best = -1;
            float bv = 0.0f;
            for (int e = 0; e < E; e++) {
                if (taken[e]) continue;
                const float v = score[e] + Lw->exp_bias[e];
                if (best < 0 || v > bv) {
                    best = e;
                    bv = v;
                }
            }
            taken[best] = 1;
            sel[k] = best;
        }
    }
    float sum = 0.0f;
    for (int k = 0; k < K; k++) sum += score[sel[k]];
    for (int k = 0; k < K; k++) selw[k] = score[sel[k]] / (sum + 1e-20f) * c->expert_weights_scale;
}

static ds4_matvec_job job_of(const ds4_mat *w, const float *x, float *y) {
    return (ds4_matvec_job){w->type, w->data, w->rows, w->cols, x, y, 1};
}

/* Routed experts over a chunk of rows: rows grouped by expert (ascending id,
 * rows and slots in order, as the per-expert loop below does), every used
 * expert's gate and up in one dispatch, then every down in one; outputs are
 * added in the same order, so the result is identical. */
#define GROUPED_MAX_ROWS 512
static void routed_grouped(ds4_session *s, const ds4_layer_weights *Lw, int n, float lim) {
    const ds4_model *m = s->m;
    const ds4_config *c = &m->cfg;
    ds4_scratch *sc = &s->sc;
    const int D = c->n_embd, E = c->n_expert, K = c->n_expert_used, F = c->n_ff_exp;
    ds4_matvec_job jobs[2 * GROUPED_MAX_ROWS];
    int first[GROUPED_MAX_ROWS], count[GROUPED_MAX_ROWS], expert[GROUPED_MAX_ROWS];
    int n_used = 0, row = 0;
    for (int e = 0; e < E; e++) {
        int cnt = 0;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < K; k++)
                if (sc->sel[(size_t)i * K + k] == e) {
                    memcpy(sc->ex_x + (size_t)(row + cnt) * D, sc->x + (size_t)i * D, sizeof(float) * (size_t)D);
                    sc->ex_rows[row + cnt] = i;
                    sc->ex_w[row + cnt] = sc->selw[(size_t)i * K + k];
                    cnt++;
                }
        if (!cnt) continue;
        first[n_used] = row;
        count[n_used] = cnt;
        expert[n_used] = e;
        n_used++;
        row += cnt;
    }
    for (int u = 0; u < n_used; u++) {
        const ds4_mat wg = ds4_exps_at(&Lw->gate_exps, expert[u]), wu = ds4_exps_at(&Lw->up_exps, expert[u]);
        jobs[2 * u] = job_of(&wg, sc->ex_x + (size_t)first[u] * D, sc->ex_g + (size_t)first[u] * F);
        jobs[2 * u + 1] = job_of(&wu, sc->ex_x + (size_t)first[u] * D, sc->ex_u + (size_t)first[u] * F);
        jobs[2 * u].n_tok = jobs[2 * u + 1].n_tok = count[u];
    }
    ds4_mm_batch(m, jobs, 2 * n_used);
    swiglu(sc->ex_g, sc->ex_u, (size_t)row * F, lim);
    for (int u = 0; u < n_used; u++) {
        const ds4_mat wd = ds4_exps_at(&Lw->down_exps, expert[u]);
        jobs[u] = job_of(&wd, sc->ex_g + (size_t)first[u] * F, sc->ex_o + (size_t)first[u] * D);
        jobs[u].n_tok = count[u];
    }
    ds4_mm_batch(m, jobs, n_used);
    for (int r = 0; r < row; r++) {
        float *y = sc->y + (size_t)sc->ex_rows[r] * D;
        const float *eo = sc->ex_o + (size_t)r * D, wr = sc->ex_w[r];
        for (int d = 0; d < D; d++) y[d] += wr * eo[d];
    }
}

/* Decode (one row): the same products as the general path below, but the
 * shared expert's gate+up, the K routed experts' gates+ups and their downs
 * each go to the pool as one batch, instead of one dispatch (and one
 * barrier) per matrix. Outputs are accumulated in ascending expert order,
 * as the general path does, so both paths give identical results. */
static void moe_one_row(ds4_session *s, const ds4_layer_weights *Lw, float lim) {
    const ds4_model *m = s->m;
    const ds4_config *c = &m->cfg;
    ds4_scratch *sc = &s->sc;
    const int D = c->n_embd, K = c->n_expert_used, F = c->n_ff_exp, FS = F * c->n_expert_shared;
    ds4_matvec_job jobs[2 * 64];

    ds4_prof_stage(DS4_STAGE_SHARED);
    jobs[0] = job_of(&Lw->gate_sh, sc->x, sc->ex_g);
    jobs[1] = job_of(&Lw->up_sh, sc->x, sc->ex_u);
    ds4_mm_batch(m, jobs, 2);
    swiglu(sc->ex_g, sc->ex_u, (size_t)FS, lim);
    ds4_mm(m, &Lw->down_sh, sc->ex_g, 1, sc->y);

    ds4_prof_stage(DS4_STAGE_ROUTED);
    /* Selected experts in ascending id order (ties keep k order). */
    int order[64];
    for (int k = 0; k < K; k++) order[k] = k;
    for (int a = 1; a < K; a++)
        for (int b = a; b > 0 && sc->sel[order[b - 1]] > sc->sel[order[b]]; b--) {
            int t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    ds4_mat wd[64];
    for (int i = 0; i < K; i++) {
        const int e = sc->sel[order[i]];
        const ds4_mat wg = ds4_exps_at(&Lw->gate_exps, e), wu = ds4_exps_at(&Lw->up_exps, e);
        wd[i] = ds4_exps_at(&Lw->down_exps, e);
        jobs[2 * i] = job_of(&wg, sc->x, sc->ex_g + (size_t)i * F);
        jobs[2 * i + 1] = job_of(&wu, sc->x, sc->ex_u + (size_t)i * F);
    }
    ds4_mm_batch(m, jobs, 2 * K);
    swiglu(sc->ex_g, sc->ex_u, (size_t)K * F, lim);
    for (int i = 0; i < K; i++) jobs[i] = job_of(&wd[i], sc->ex_g + (size_t)i * F, sc->ex_o + (size_t)i * D);
    ds4_mm_batch(m, jobs, K);
    for (int i = 0; i < K; i++) {
        const float *eo = sc->ex_o + (size_t)i * D, wr = sc->selw[order[i]];
        for (int d = 0; d < D; d++) sc->y[d] += wr * eo[d];
    }
}

void ds4_moe(ds4_session *s, int l, const int32_t *tokens, int n) {
    const ds4_model *m = s->m;
    const ds4_config *c = &m->cfg;
    const ds4_layer_weights *Lw = &m->w.layers[l];
    ds4_scratch *sc = &s->sc;
    const int D = c->n_embd, E = c->n_expert, K = c->n_expert_used, F = c->n_ff_exp;
    const int FS = F * c->n_expert_shared;
    const float lim = c->swiglu_clamp[l];

    ds4_prof_stage(DS4_STAGE_ROUTER);
    ds4_mm(m, &Lw->gate_inp, sc->x, n, sc->router);
    for (int i = 0; i < n; i++)
        route(c, Lw, l < c->n_hash_layer, tokens[i], sc->router + (size_t)i * E, sc->sel + (size_t)i * K,
              sc->selw + (size_t)i * K, sc->router + (size_t)i * E);

    if (n == 1 && K <= 64) {
        moe_one_row(s, Lw, lim);
        return;
    }

    /* Shared expert first: it initialises y for every row. */
    ds4_prof_stage(DS4_STAGE_SHARED);
    ds4_mm(m, &Lw->gate_sh, sc->x, n, sc->ex_g);
    ds4_mm(m, &Lw->up_sh, sc->x, n, sc->ex_u);
    swiglu(sc->ex_g, sc->ex_u, (size_t)n * FS, lim);
    ds4_mm(m, &Lw->down_sh, sc->ex_g, n, sc->y);

    /* Routed experts, each over the rows that selected it. */
    ds4_prof_stage(DS4_STAGE_ROUTED);
    if (n * K <= GROUPED_MAX_ROWS) {
        routed_grouped(s, Lw, n, lim);
        return;
    }
    for (int e = 0; e < E; e++) {
        int cnt = 0;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < K; k++)
                if (sc->sel[(size_t)i * K + k] == e) {
                    memcpy(sc->ex_x + (size_t)cnt * D, sc->x + (size_t)i * D, sizeof(float) * (size_t)D);
                    sc->ex_rows[cnt] = i;
                    sc->ex_w[cnt] = sc->selw[(size_t)i * K + k];
                    cnt++;
                }
        if (!cnt) continue;
        const ds4_mat wg = ds4_exps_at(&Lw->gate_exps, e), wu = ds4_exps_at(&Lw->up_exps, e);
        const ds4_mat wd = ds4_exps_at(&Lw->down_exps, e);
        ds4_mm(m, &wg, sc->ex_x, cnt, sc->ex_g);
        ds4_mm(m, &wu, sc->ex_x, cnt, sc->ex_u);
        swiglu(sc->ex_g, sc->ex_u, (size_t)cnt * F, lim);
        ds4_mm(m, &wd, sc->ex_g, cnt, sc->ex_o);
        for (int r = 0; r < cnt; r++) {
            float *y = sc->y + (size_t)sc->ex_rows[r] * D;
            const float *eo = sc->ex_o + (size_t)r * D, wr = sc->ex_w[r];
            for (int d = 0; d < D; d++) y[d] += wr * eo[d];
        }
    }
}
