/* Weight binding: pointers into the GGUF mapping for every matrix (used in
 * place, never copied), and f32 copies of the small float tables (norms,
 * biases, sinks, HC base/scale, ape) so the forward pass reads them
 * directly whatever their stored type. */
#ifndef DS4_MODEL_WEIGHTS_H
#define DS4_MODEL_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/pool.h"
#include "gguf/gguf.h"
#include "model/config.h"

/* A row-major matrix [rows, cols] in the mapping (GGUF ne0 = cols). */
typedef struct ds4_mat {
    const void *data;
    uint32_t type;
    int64_t rows, cols;
    uint64_t row_bytes;
} ds4_mat;

/* n stacked matrices [rows, cols] (routed experts, GGUF [cols, rows, n]). */
typedef struct ds4_exps {
    const void *data;
    uint32_t type;
    int64_t rows, cols, n;
    uint64_t row_bytes;
} ds4_exps;

static inline ds4_mat ds4_exps_at(const ds4_exps *x, int64_t e) {
    ds4_mat m = {(const uint8_t *)x->data + (uint64_t)e * (uint64_t)x->rows * x->row_bytes, x->type, x->rows,
                 x->cols, x->row_bytes};
    return m;
}

/* Rows [r0, r0+n) of a matrix as a matrix. */
static inline ds4_mat ds4_mat_rows(const ds4_mat *x, int64_t r0, int64_t n) {
    ds4_mat m = {(const uint8_t *)x->data + (uint64_t)r0 * x->row_bytes, x->type, n, x->cols, x->row_bytes};
    return m;
}

typedef struct ds4_layer_weights {
    ds4_mat hc_attn_fn, hc_ffn_fn;
    const float *hc_attn_base, *hc_attn_scale, *hc_ffn_base, *hc_ffn_scale;
    const float *attn_norm, *ffn_norm;
    ds4_mat q_a, q_b, kv, out_a, out_b;
    const float *q_a_norm, *kv_norm, *sinks;
    /* compressor (ratio > 0) */
    ds4_mat comp_kv, comp_gate;
    const float *comp_ape, *comp_norm;
    /* lightning indexer (CSA) */
    ds4_mat idx_q_b, idx_proj, idxc_kv, idxc_gate;
    const float *idxc_ape, *idxc_norm;
    /* MoE */
    ds4_mat gate_inp;
    const float *exp_bias;   /* non-hash layers */
    const int32_t *tid2eid;  /* hash layers: [V, K] */
    ds4_exps gate_exps, up_exps, down_exps;
    ds4_mat gate_sh, up_sh, down_sh;
} ds4_layer_weights;

typedef struct ds4_weights {
    ds4_mat token_embd, output, out_hc_fn;
    const float *output_norm, *out_hc_base, *out_hc_scale;
    ds4_layer_weights *layers;
    float *f32_arena;       /* owns the f32 copies */
    uint64_t mapped_bytes;  /* bytes of all bound tensors */
} ds4_weights;

/* Validates every tensor (model/tensors.h) and binds them. */
bool ds4_weights_bind(const ds4_config *c, const gguf_file *f, ds4_weights *w, ds4_error *err);
void ds4_weights_free(ds4_weights *w);

/* Rewrites, in place, every matrix the forward pass only multiplies (all but
 * the token embedding, whose rows are read directly) into the layout the
 * running CPU's kernels prefer (ds4_repack_type: Q8_0 -> Q8_0_X16, Q2_K ->
 * Q2_K_X4, Q4_K -> Q4_K_X4 on AVX-512), and retypes its binding. Only for
 * weights read into private memory (gguf_is_copy): a file mapping is shared
 * and stays as stored.
 * Returns the bytes rewritten; progress: show a bar on stderr (base/progress.h). */
uint64_t ds4_weights_repack(ds4_weights *w, int n_layer, ds4_pool *pool, bool progress);

#endif
