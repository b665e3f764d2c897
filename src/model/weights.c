/* Binds the GGUF tensors of model/tensors.h to the forward pass's slots. */
#include "model/weights.h"

#include <stdlib.h>
#include <string.h>

#include "base/progress.h"
#include "model/tensors.h"
#include "quant/quant.h"

static ds4_mat as_mat(const gguf_tensor *t) {
    ds4_mat m = {t->data, t->type, (int64_t)t->ne[1], (int64_t)t->ne[0], ds4_row_bytes(t->type, t->ne[0])};
    return m;
}

static ds4_exps as_exps(const gguf_tensor *t) {
    ds4_exps x = {t->data, t->type, (int64_t)t->ne[1], (int64_t)t->ne[0], (int64_t)t->ne[2],
                  ds4_row_bytes(t->type, t->ne[0])};
    return x;
}

bool ds4_weights_bind(const ds4_config *c, const gguf_file *f, ds4_weights *w, ds4_error *err) {
    memset(w, 0, sizeof *w);
    if (!ds4_tensors_validate(c, f, err)) return false;
    const int n = ds4_tensor_specs(c, NULL);
    ds4_tensor_spec *specs = ds4_xmalloc(sizeof *specs * (size_t)n);
    ds4_tensor_specs(c, specs);

    /* One arena for every f32 table. */
    uint64_t vec_elems = 0;
    for (int i = 0; i < n; i++)
        if (specs[i].cls == DS4_TC_VEC) vec_elems += specs[i].ne[0] * specs[i].ne[1];
    w->f32_arena = ds4_xmalloc(sizeof(float) * (size_t)(vec_elems ? vec_elems : 1));
    w->layers = ds4_xcalloc((size_t)c->n_layer, sizeof *w->layers);
    float *arena = w->f32_arena;

    for (int i = 0; i < n; i++) {
        const ds4_tensor_spec *s = &specs[i];
        const gguf_tensor *t = gguf_find_tensor(f, s->name);
        w->mapped_bytes += t->nbytes;
        const float *vec = NULL;
        if (s->cls == DS4_TC_VEC) {
            /* Tables are rows of ne0 values; convert row by row. */
            const uint64_t rb = ds4_row_bytes(t->type, s->ne[0]);
            for (uint64_t r = 0; r < s->ne[1]; r++)
                ds4_dequantize_row(t->type, (const uint8_t *)t->data + r * rb, arena + r * s->ne[0], (int64_t)s->ne[0]);
            vec = arena;
            arena += s->ne[0] * s->ne[1];
        }
        ds4_layer_weights *L = s->layer >= 0 ? &w->layers[s->layer] : NULL;
        switch (s->role) {
        case DS4_T_TOKEN_EMBD: w->token_embd = as_mat(t); break;
        case DS4_T_OUTPUT_NORM: w->output_norm = vec; break;
        case DS4_T_OUTPUT: w->output = as_mat(t); break;
        case DS4_T_OUT_HC_BASE: w->out_hc_base = vec; break;
        case DS4_T_OUT_HC_FN: w->out_hc_fn = as_mat(t); break;
        case DS4_T_OUT_HC_SCALE: w->out_hc_scale = vec; break;
        case DS4_T_HC_ATTN_FN: L->hc_attn_fn = as_mat(t); break;
        case DS4_T_HC_ATTN_SCALE: L->hc_attn_scale = vec; break;
        case DS4_T_HC_ATTN_BASE: L->hc_attn_base = vec; break;
        case DS4_T_ATTN_NORM: L->attn_norm = vec; break;
        case DS4_T_Q_A: L->q_a = as_mat(t); break;
        case DS4_T_Q_A_NORM: L->q_a_norm = vec; break;
        case DS4_T_Q_B: L->q_b = as_mat(t); break;
        case DS4_T_KV: L->kv = as_mat(t); break;
        case DS4_T_KV_NORM: L->kv_norm = vec; break;
        case DS4_T_SINKS: L->sinks = vec; break;
        case DS4_T_OUT_A: L->out_a = as_mat(t); break;
        case DS4_T_OUT_B: L->out_b = as_mat(t); break;
        case DS4_T_COMP_APE: L->comp_ape = vec; break;
        case DS4_T_COMP_KV: L->comp_kv = as_mat(t); break;
        case DS4_T_COMP_GATE: L->comp_gate = as_mat(t); break;
        case DS4_T_COMP_NORM: L->comp_norm = vec; break;
        case DS4_T_IDX_Q_B: L->idx_q_b = as_mat(t); break;
        case DS4_T_IDX_PROJ: L->idx_proj = as_mat(t); break;
        case DS4_T_IDXC_APE: L->idxc_ape = vec; break;
        case DS4_T_IDXC_KV: L->idxc_kv = as_mat(t); break;
        case DS4_T_IDXC_GATE: L->idxc_gate = as_mat(t); break;
        case DS4_T_IDXC_NORM: L->idxc_norm = vec; break;
        case DS4_T_HC_FFN_FN: L->hc_ffn_fn = as_mat(t); break;
        case DS4_T_HC_FFN_SCALE: L->hc_ffn_scale = vec; break;
        case DS4_T_HC_FFN_BASE: L->hc_ffn_base = vec; break;
        case DS4_T_FFN_NORM: L->ffn_norm = vec; break;
        case DS4_T_GATE_INP: L->gate_inp = as_mat(t); break;
        case DS4_T_EXP_BIAS: L->exp_bias = vec; break;
        case DS4_T_TID2EID: L->tid2eid = (const int32_t *)t->data; break;
        case DS4_T_GATE_EXPS: L->gate_exps = as_exps(t); break;
        case DS4_T_UP_EXPS: L->up_exps = as_exps(t); break;
        case DS4_T_DOWN_EXPS: L->down_exps = as_exps(t); break;
        case DS4_T_GATE_SHEXP: L->gate_sh = as_mat(t); break;
        case DS4_T_UP_SHEXP: L->up_sh = as_mat(t); break;
        case DS4_T_DOWN_SHEXP: L->down_sh = as_mat(t); break;
        }
    }
    free(specs);

    /* tid2eid entries index experts: check them once here rather than per token. */
    for (int l = 0; l < c->n_hash_layer; l++) {
        const int32_t *tab = w->layers[l].tid2eid;
        for (int64_t i = 0; i < (int64_t)c->n_vocab * c->n_expert_used; i++)
            if (tab[i] < 0 || tab[i] >= c->n_expert) {
                ds4_fail(err, "tensor blk.%d.ffn_gate_tid2eid.weight: entry [token %lld][%lld] = %d is not an expert id (< %d)",
                         l, (long long)(i / c->n_expert_used), (long long)(i % c->n_expert_used), tab[i], c->n_expert);
                ds4_weights_free(w);
                return false;
            }
    }
    return true;
}

void ds4_weights_free(ds4_weights *w) {
    free(w->f32_arena);
    free(w->layers);
    memset(w, 0, sizeof *w);
}

/* ---- load-time layouts ---- */

/* n matrices of rows x cols at data, as one run of rows (a matrix is one
 * expert of a stack). The memory is the process's private copy of the file
 * (ds4_weights_repack's contract), so writing through it is sound. bar NULL:
 * only count the bytes that would be rewritten. */
static uint64_t repack_run(const void *data, uint32_t *type, int64_t rows, int64_t cols, ds4_pool *pool,
                           ds4_progress *bar) {
    const uint32_t to = ds4_repack_type(*type, cols);
    if (to == *type || !data) return 0;
    const uint64_t bytes = (uint64_t)rows * ds4_row_bytes(to, (uint64_t)cols);
    if (!bar) return bytes;
    if (!ds4_repack_rows(*type, to, (void *)(uintptr_t)data, rows, cols, pool, NULL)) return 0;
    *type = to;
    ds4_progress_add(bar, bytes);
    return bytes;
}

static uint64_t repack_mats(ds4_mat *const *mats, size_t n, ds4_pool *pool, ds4_progress *bar) {
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += repack_run(mats[i]->data, &mats[i]->type, mats[i]->rows, mats[i]->cols, pool, bar);
    return bytes;
}

static uint64_t repack_all(ds4_weights *w, int n_layer, ds4_pool *pool, ds4_progress *bar) {
    ds4_mat *const head[] = {&w->output, &w->out_hc_fn};
    uint64_t bytes = repack_mats(head, sizeof head / sizeof head[0], pool, bar);
    for (int l = 0; l < n_layer; l++) {
        ds4_layer_weights *L = &w->layers[l];
        ds4_mat *const mats[] = {&L->hc_attn_fn, &L->hc_ffn_fn, &L->q_a, &L->q_b, &L->kv, &L->out_a, &L->out_b,
                                 &L->comp_kv, &L->comp_gate, &L->idx_q_b, &L->idx_proj, &L->idxc_kv, &L->idxc_gate,
                                 &L->gate_inp, &L->gate_sh, &L->up_sh, &L->down_sh};
        bytes += repack_mats(mats, sizeof mats / sizeof mats[0], pool, bar);
        ds4_exps *const exps[] = {&L->gate_exps, &L->up_exps, &L->down_exps};
        for (size_t i = 0; i < sizeof exps / sizeof exps[0]; i++)
            bytes += repack_run(exps[i]->data, &exps[i]->type, exps[i]->rows * exps[i]->n, exps[i]->cols, pool, bar);
    }
    return bytes;
}

uint64_t ds4_weights_repack(ds4_weights *w, int n_layer, ds4_pool *pool, bool progress) {
    const uint64_t total = repack_all(w, n_layer, pool, NULL);
    if (!total) return 0;
    ds4_progress bar;
    ds4_progress_begin(&bar, "regroup", total, true);
    if (!progress) bar.enabled = false;
    const uint64_t done = repack_all(w, n_layer, pool, &bar);
    ds4_progress_end(&bar);
    return done;
}
