/* The CPU forward pass over one chunk of tokens (architecture.md §1, §5,
 * §10): embeddings, the hyper-connection streams around every sub-layer,
 * and the HC head + output projection. Attention and MoE live in
 * attention.c and moe.c; incremental state in state.c. */
#include <string.h>

#include "engine/cpu/internal.h"
#include "engine/cpu/ops.h"
#include "quant/quant.h"

void ds4_mm(const ds4_model *m, const ds4_mat *w, const float *X, int n, float *Y) {
    ds4_prof_bytes((uint64_t)w->rows * w->row_bytes);
    const double t0 = ds4_prof_mm_begin();
    if (n == 1)
        ds4_matvec(w->type, w->data, w->rows, w->cols, X, Y, m->pool);
    else
        ds4_matmul(w->type, w->data, w->rows, w->cols, X, n, Y, m->pool);
    ds4_prof_mm_end(t0);
}

void ds4_mm_multi(const ds4_model *m, int n, int count, const ds4_mat *w, const float *const *x, float *const *y) {
    if (n != 1) {
        for (int i = 0; i < count; i++) ds4_mm(m, &w[i], x[i], n, y[i]);
        return;
    }
    ds4_matvec_job jobs[16];
    for (int i = 0; i < count; i++) jobs[i] = (ds4_matvec_job){w[i].type, w[i].data, w[i].rows, w[i].cols, x[i], y[i], 1};
    ds4_mm_batch(m, jobs, count);
}

void ds4_mm_batch(const ds4_model *m, const ds4_matvec_job *jobs, int n) {
    for (int j = 0; j < n; j++) ds4_prof_bytes((uint64_t)jobs[j].rows * ds4_row_bytes(jobs[j].type, (uint64_t)jobs[j].cols));
    const double t0 = ds4_prof_mm_begin();
    ds4_matvec_batch(jobs, n, m->pool);
    ds4_prof_mm_end(t0);
}

typedef struct {
    ds4_session *s;
    const float *base, *scale;
    int n;
} hc_job;

/* Per row: from the mixing logits to pre/post weights, the Sinkhorn-
 * normalised comb matrix C, and the sub-layer input u = Σ pre_j·H_j (§5). */
static void hc_row(void *ctx, int64_t i, int thread) {
    (void)thread;
    const hc_job *j = ctx;
    ds4_session *s = j->s;
    const ds4_config *c = &s->m->cfg;
    const int N = c->n_hc, D = c->n_embd;
    const float eps = c->hc_eps;
    const float *mu = s->sc.mix + i * (2 + N) * N;
    float *pre = s->sc.pre + i * N, *post = s->sc.post + i * N, *C = s->sc.comb + i * N * N;
    for (int k = 0; k < N; k++) {
        pre[k] = ds4_sigmoid(mu[k] * j->scale[0] + j->base[k]) + eps;
        post[k] = 2.0f * ds4_sigmoid(mu[N + k] * j->scale[1] + j->base[N + k]);
    }
    for (int r = 0; r < N; r++) {
        float *row = C + r * N, mx = -INFINITY, sum = 0.0f;
        for (int k = 0; k < N; k++) {
            row[k] = mu[2 * N + r * N + k] * j->scale[2] + j->base[2 * N + r * N + k];
            mx = fmaxf(mx, row[k]);
        }
        for (int k = 0; k < N; k++) sum += (row[k] = expf(row[k] - mx));
        for (int k = 0; k < N; k++) row[k] = row[k] / sum + eps;
    }
    for (int it = 0; it < c->sinkhorn_iters; it++) {
        if (it > 0)
            for (int r = 0; r < N; r++) {
                float sum = 0.0f;
                for (int k = 0; k < N; k++) sum += C[r * N + k];
                for (int k = 0; k < N; k++) C[r * N + k] /= sum + eps;
            }
        for (int k = 0; k < N; k++) {
            float sum = 0.0f;
            for (int r = 0; r < N; r++) sum += C[r * N + k];
            for (int r = 0; r < N; r++) C[r * N + k] /= sum + eps;
        }
    }
    const float *H = s->sc.H + i * N * D;
    float *u = s->sc.x + i * D;
    ds4_vec_scale(u, pre[0], H, D); /* the sum over k in order, a vector loop per term */
    for (int k = 1; k < N; k++) ds4_vec_axpy(u, pre[k], H + (size_t)k * D, D);
}

/* HC pre for every row, then the sub-layer's RMSNorm: x = RMSNorm(u; norm). */
static void hc_pre(ds4_session *s, int n, const ds4_mat *fn, const float *base, const float *scale, const float *norm) {
    const ds4_config *c = &s->m->cfg;
    const int ND = c->n_hc * c->n_embd;
    for (int i = 0; i < n; i++) ds4_rmsnorm(s->sc.fhat + (size_t)i * ND, s->sc.H + (size_t)i * ND, NULL, ND, c->rms_eps);
    ds4_mm(s->m, fn, s->sc.fhat, n, s->sc.mix);
    hc_job j = {s, base, scale, n};
    ds4_pool_run(s->m->pool, hc_row, &j, n);
    for (int i = 0; i < n; i++) ds4_rmsnorm(s->sc.x + (size_t)i * c->n_embd, s->sc.x + (size_t)i * c->n_embd, norm, c->n_embd, c->rms_eps);
}

/* HC post: H'_k = post_k·y + Σ_i C[i][k]·H_i (the sum runs over C's first index). */
static void hc_post(ds4_session *s, int n) {
    const ds4_config *c = &s->m->cfg;
    const int N = c->n_hc, D = c->n_embd;
    for (int i = 0; i < n; i++) {
        const float *H = s->sc.H + (size_t)i * N * D, *y = s->sc.y + (size_t)i * D;
        const float *post = s->sc.post + i * N, *C = s->sc.comb + i * N * N;
        float *O = s->sc.H2 + (size_t)i * N * D;
        /* Stream k is built term by term over whole rows (the same sum, in
         * the same order, as per element), in vector loops. */
        for (int k = 0; k < N; k++) {
            ds4_vec_scale(O + (size_t)k * D, post[k], y, D);
            for (int r = 0; r < N; r++) ds4_vec_axpy(O + (size_t)k * D, C[r * N + k], H + (size_t)r * D, D);
        }
    }
    float *t = s->sc.H;
    s->sc.H = s->sc.H2;
    s->sc.H2 = t;
}

void ds4_forward_chunk(ds4_session *s, const int32_t *tokens, int n, float *logits, bool all_rows) {
    const ds4_model *m = s->m;
    const ds4_config *c = &m->cfg;
    const ds4_weights *w = &m->w;
    const int N = c->n_hc, D = c->n_embd, ND = N * D;
    ds4_scratch *sc = &s->sc;

    ds4_prof_stage(DS4_STAGE_HC);
    for (int i = 0; i < n; i++) {
        float *H = sc->H + (size_t)i * ND;
        ds4_dequantize_row(w->token_embd.type, (const uint8_t *)w->token_embd.data + (uint64_t)tokens[i] * w->token_embd.row_bytes,
                           H, D);
        for (int k = 1; k < N; k++) memcpy(H + (size_t)k * D, H, sizeof(float) * (size_t)D);
    }
    if (s->hidden) s->hidden(s->hidden_user, 0, s->pos, n, sc->H, ND);

    for (int l = 0; l < c->n_layer; l++) {
        const ds4_layer_weights *L = &w->layers[l];
        hc_pre(s, n, &L->hc_attn_fn, L->hc_attn_base, L->hc_attn_scale, L->attn_norm);
        ds4_prof_stage(DS4_STAGE_ATTN);
        ds4_attention(s, l, n);
        ds4_prof_stage(DS4_STAGE_HC);
        hc_post(s, n);
        hc_pre(s, n, &L->hc_ffn_fn, L->hc_ffn_base, L->hc_ffn_scale, L->ffn_norm);
        ds4_moe(s, l, tokens, n);
        ds4_prof_stage(DS4_STAGE_HC);
        hc_post(s, n);
        if (s->hidden) s->hidden(s->hidden_user, l + 1, s->pos, n, sc->H, ND);
    }

    /* HC head (§5): w_j = σ(mix_j·s + b_j) + eps, y = Σ w_j·H_j, then the final norm. */
    ds4_prof_stage(DS4_STAGE_HEAD);
    for (int i = 0; i < n; i++) ds4_rmsnorm(sc->fhat + (size_t)i * ND, sc->H + (size_t)i * ND, NULL, ND, c->rms_eps);
    ds4_mm(m, &w->out_hc_fn, sc->fhat, n, sc->mix);
    for (int i = 0; i < n; i++) {
        const float *H = sc->H + (size_t)i * ND, *mu = sc->mix + (size_t)i * N;
        float wj[64];
        for (int k = 0; k < N; k++) wj[k] = ds4_sigmoid(mu[k] * w->out_hc_scale[0] + w->out_hc_base[k]) + c->hc_eps;
        float *y = sc->logit_x + (size_t)i * D;
        for (int d = 0; d < D; d++) {
            float acc = 0.0f;
            for (int k = 0; k < N; k++) acc += wj[k] * H[k * D + d];
            y[d] = acc;
        }
        ds4_rmsnorm(y, y, w->output_norm, D, c->rms_eps);
    }
    if (s->hidden) s->hidden(s->hidden_user, c->n_layer + 1, s->pos, n, sc->logit_x, D);
    if (logits) {
        if (all_rows)
            ds4_mm(m, &w->output, sc->logit_x, n, logits);
        else
            ds4_mm(m, &w->output, sc->logit_x + (size_t)(n - 1) * D, 1, logits);
    }
    ds4_prof_stage(DS4_STAGE_COUNT);
    s->pos += n;
}
