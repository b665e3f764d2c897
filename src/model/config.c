/* Model config from GGUF metadata: every key is required (except the few
 * documented as optional), integers must be exact non-negative integers,
 * and the result must be self-consistent. */
#include "model/config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define K(name) DS4_ARCH "." name

/* Integer key of any numeric type holding an exact integer in [lo, hi]. */
static bool get_int(const gguf_file *f, const char *key, int64_t lo, int64_t hi, int64_t *out,
                    ds4_error *err) {
    if (gguf_find_key(f, key) < 0) return ds4_fail(err, "missing metadata key %s", key);
    double v;
    if (!gguf_get_number(f, key, &v, err)) return ds4_fail(err, "metadata key %s: not a number", key);
    if (v != floor(v) || v < (double)lo || v > (double)hi)
        return ds4_fail(err, "metadata key %s = %g: expected an integer in [%lld, %lld]", key, v,
                        (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return true;
}

static bool get_i(const gguf_file *f, const char *key, int lo, int hi, int *out, ds4_error *err) {
    int64_t v;
    if (!get_int(f, key, lo, hi, &v, err)) return false;
    *out = (int)v;
    return true;
}

static bool get_f(const gguf_file *f, const char *key, float lo, float hi, float *out, ds4_error *err) {
    if (gguf_find_key(f, key) < 0) return ds4_fail(err, "missing metadata key %s", key);
    double v;
    if (!gguf_get_number(f, key, &v, err)) return ds4_fail(err, "metadata key %s: not a number", key);
    if (!(v >= lo && v <= hi)) return ds4_fail(err, "metadata key %s = %g: expected a value in [%g, %g]", key, v, lo, hi);
    *out = (float)v;
    return true;
}

/* Optional integer key that must be zero when present. */
static bool get_zero(const gguf_file *f, const char *key, ds4_error *err) {
    if (gguf_find_key(f, key) < 0) return true;
    int64_t v;
    if (!get_int(f, key, 0, INT32_MAX, &v, err)) return false;
    if (v != 0) return ds4_fail(err, "metadata key %s = %lld: expert groups are not part of DeepSeek V4 (must be 0)", key, (long long)v);
    return true;
}

/* Numeric array with at least n entries. */
static bool get_arr(const gguf_file *f, const char *key, int n, double *out, ds4_error *err) {
    if (gguf_find_key(f, key) < 0) return ds4_fail(err, "missing metadata key %s", key);
    gguf_vtype et;
    uint64_t count;
    const void *data;
    if (!gguf_get_arr(f, key, &et, &count, &data, err)) return ds4_fail(err, "metadata key %s: not an array", key);
    if (et == GGUF_VT_STRING || et == GGUF_VT_ARRAY || et == GGUF_VT_BOOL)
        return ds4_fail(err, "metadata key %s: array of %s, expected numbers", key, gguf_vtype_name(et));
    if (count < (uint64_t)n)
        return ds4_fail(err, "metadata key %s: %llu entries, expected at least %d (one per layer)", key,
                        (unsigned long long)count, n);
    for (int i = 0; i < n; i++)
        if (!gguf_get_arr_number(f, key, (uint64_t)i, &out[i], err)) return false;
    return true;
}

bool ds4_config_from_gguf(const gguf_file *f, ds4_config *c, ds4_error *err) {
    memset(c, 0, sizeof *c);
    const int BIG = 1 << 24;
    /* A file of another architecture would otherwise fail on the first missing key. */
    gguf_str arch;
    if (gguf_find_key(f, "general.architecture") >= 0 && gguf_get_str(f, "general.architecture", &arch, NULL) &&
        (arch.len != strlen(DS4_ARCH) || memcmp(arch.ptr, DS4_ARCH, arch.len) != 0))
        return ds4_fail(err, "metadata key general.architecture = \"%.*s\": not a DeepSeek V4 (%s) model",
                        (int)(arch.len > 64 ? 64 : arch.len), arch.ptr, DS4_ARCH);
    if (!get_i(f, K("block_count"), 1, DS4_MAX_LAYERS, &c->n_layer, err)) return false;
    if (!get_i(f, K("embedding_length"), 1, BIG, &c->n_embd, err)) return false;
    if (!get_i(f, K("vocab_size"), 1, 1 << 30, &c->n_vocab, err)) return false;
    if (!get_i(f, K("attention.head_count"), 1, 1 << 16, &c->n_head, err)) return false;
    if (!get_i(f, K("attention.head_count_kv"), 1, 1, &c->n_head_kv, err)) return false;
    if (!get_i(f, K("attention.key_length"), 2, 1 << 16, &c->head_dim, err)) return false;
    int vlen;
    if (!get_i(f, K("attention.value_length"), 2, 1 << 16, &vlen, err)) return false;
    if (vlen != c->head_dim)
        return ds4_fail(err, "metadata key %s = %d: must equal %s = %d (V = K)", K("attention.value_length"), vlen,
                        K("attention.key_length"), c->head_dim);
    if (!get_i(f, K("rope.dimension_count"), 2, 1 << 16, &c->n_rot, err)) return false;
    if (!get_i(f, K("attention.q_lora_rank"), 1, BIG, &c->q_lora, err)) return false;
    if (!get_i(f, K("attention.output_lora_rank"), 1, BIG, &c->o_lora, err)) return false;
    if (!get_i(f, K("attention.output_group_count"), 1, 1 << 16, &c->n_out_group, err)) return false;
    if (!get_i(f, K("expert_count"), 1, 4096, &c->n_expert, err)) return false;
    if (!get_i(f, K("expert_used_count"), 1, 1 << 16, &c->n_expert_used, err)) return false;
    if (!get_i(f, K("expert_feed_forward_length"), 1, BIG, &c->n_ff_exp, err)) return false;
    if (!get_i(f, K("expert_shared_count"), 1, 64, &c->n_expert_shared, err)) return false;
    if (!get_i(f, K("hash_layer_count"), 0, DS4_MAX_LAYERS, &c->n_hash_layer, err)) return false;
    if (!get_zero(f, K("expert_group_count"), err)) return false;
    if (!get_zero(f, K("expert_group_used_count"), err)) return false;
    if (!get_i(f, K("attention.sliding_window"), 1, BIG, &c->n_swa, err)) return false;
    if (!get_i(f, K("attention.indexer.head_count"), 1, 1 << 16, &c->idx_head, err)) return false;
    if (!get_i(f, K("attention.indexer.key_length"), 2, 1 << 16, &c->idx_dim, err)) return false;
    if (!get_i(f, K("attention.indexer.top_k"), 1, BIG, &c->idx_topk, err)) return false;
    if (!get_i(f, K("hyper_connection.count"), 1, 64, &c->n_hc, err)) return false;
    if (!get_i(f, K("hyper_connection.sinkhorn_iterations"), 1, 1000, &c->sinkhorn_iters, err)) return false;
    if (!get_f(f, K("hyper_connection.epsilon"), 0.0f, 1.0f, &c->hc_eps, err)) return false;
    if (!get_f(f, K("attention.layer_norm_rms_epsilon"), 0.0f, 1.0f, &c->rms_eps, err)) return false;
    if (!get_f(f, K("expert_weights_scale"), 0.0f, 1e6f, &c->expert_weights_scale, err)) return false;
    if (!get_f(f, K("rope.freq_base"), 1.0f, 1e12f, &c->rope_base, err)) return false;
    if (!get_f(f, K("rope.scaling.factor"), 1.0f, 1e9f, &c->rope_scale, err)) return false;
    if (!get_f(f, K("rope.scaling.yarn_beta_fast"), 0.0f, 1e9f, &c->yarn_beta_fast, err)) return false;
    if (!get_f(f, K("rope.scaling.yarn_beta_slow"), 0.0f, 1e9f, &c->yarn_beta_slow, err)) return false;
    if (!get_f(f, K("attention.compress_rope_freq_base"), 1.0f, 1e12f, &c->compress_rope_base, err)) return false;
    int64_t l0;
    if (!get_int(f, K("rope.scaling.original_context_length"), 1, INT64_C(1) << 40, &l0, err)) return false;
    c->rope_orig_ctx = (uint64_t)l0;
    if (gguf_find_key(f, K("context_length")) >= 0) {
        int64_t cl;
        if (!get_int(f, K("context_length"), 0, INT64_C(1) << 40, &cl, err)) return false;
        c->context_length = (uint64_t)cl;
    }
    if (gguf_find_key(f, K("expert_weights_norm")) < 0)
        return ds4_fail(err, "missing metadata key %s", K("expert_weights_norm"));
    bool norm;
    if (!gguf_get_bool(f, K("expert_weights_norm"), &norm, err)) return false;
    if (!norm) return ds4_fail(err, "metadata key %s = false: DeepSeek V4 normalises the routing weights (must be true)", K("expert_weights_norm"));
    if (gguf_find_key(f, K("expert_gating_func")) >= 0) {
        int g;
        if (!get_i(f, K("expert_gating_func"), 0, 1000, &g, err)) return false;
        if (g != 4) return ds4_fail(err, "metadata key %s = %d: only 4 (sqrt(softplus)) is DeepSeek V4", K("expert_gating_func"), g);
    }

    double vals[DS4_MAX_LAYERS];
    if (!get_arr(f, K("attention.compress_ratios"), c->n_layer, vals, err)) return false;
    for (int l = 0; l < c->n_layer; l++) {
        if (vals[l] != floor(vals[l]) || vals[l] < 0 || vals[l] > (1 << 20))
            return ds4_fail(err, "metadata key %s[%d] = %g: expected a non-negative integer", K("attention.compress_ratios"), l, vals[l]);
        c->compress_ratio[l] = (int)vals[l];
    }
    if (!get_arr(f, K("swiglu_clamp_exp"), c->n_layer, vals, err)) return false;
    for (int l = 0; l < c->n_layer; l++) {
        if (!(vals[l] > 0 && vals[l] < 1e30))
            return ds4_fail(err, "metadata key %s[%d] = %g: expected a positive clamp", K("swiglu_clamp_exp"), l, vals[l]);
        c->swiglu_clamp[l] = (float)vals[l];
    }
    return ds4_config_validate(c, err);
}

bool ds4_config_validate(ds4_config *c, ds4_error *err) {
    if (c->n_layer < 1 || c->n_layer > DS4_MAX_LAYERS)
        return ds4_fail(err, "metadata key %s = %d: out of range", K("block_count"), c->n_layer);
    if (c->n_rot > c->head_dim || c->n_rot % 2)
        return ds4_fail(err, "metadata key %s = %d: must be even and <= %s = %d", K("rope.dimension_count"), c->n_rot,
                        K("attention.key_length"), c->head_dim);
    if (c->n_rot > c->idx_dim)
        return ds4_fail(err, "metadata key %s = %d: must be <= %s = %d (the indexer heads rotate their tail too)",
                        K("rope.dimension_count"), c->n_rot, K("attention.indexer.key_length"), c->idx_dim);
    if (c->n_head % c->n_out_group)
        return ds4_fail(err, "metadata key %s = %d: must divide %s = %d", K("attention.output_group_count"),
                        c->n_out_group, K("attention.head_count"), c->n_head);
    if (c->n_expert_used > c->n_expert)
        return ds4_fail(err, "metadata key %s = %d: more than %s = %d", K("expert_used_count"), c->n_expert_used,
                        K("expert_count"), c->n_expert);
    if (c->n_hash_layer >= c->n_layer)
        return ds4_fail(err, "metadata key %s = %d: must be < %s = %d", K("hash_layer_count"), c->n_hash_layer,
                        K("block_count"), c->n_layer);
    int hca = 0;
    for (int l = 0; l < c->n_layer; l++) {
        int m = c->compress_ratio[l];
        if (m == 0 || m == DS4_CSA_RATIO) continue;
        if (m < 2)
            return ds4_fail(err, "metadata key %s[%d] = %d: a compress ratio must be 0, %d (CSA) or the HCA ratio (>= 2)",
                            K("attention.compress_ratios"), l, m, DS4_CSA_RATIO);
        if (hca && m != hca)
            return ds4_fail(err, "metadata key %s[%d] = %d: must be 0, %d (CSA) or the HCA ratio %d of the other layers",
                            K("attention.compress_ratios"), l, m, DS4_CSA_RATIO, hca);
        hca = m;
    }
    c->hca_ratio = hca;
    return true;
}

void ds4_config_flash(ds4_config *c) {
    memset(c, 0, sizeof *c);
    c->n_layer = 43; c->n_embd = 4096; c->n_vocab = 129280; c->n_head = 64; c->n_head_kv = 1;
    c->head_dim = 512; c->n_rot = 64; c->q_lora = 1024; c->o_lora = 1024; c->n_out_group = 8;
    c->n_expert = 256; c->n_expert_used = 6; c->n_ff_exp = 2048; c->n_expert_shared = 1;
    c->n_hash_layer = 3; c->n_swa = 128; c->idx_head = 64; c->idx_dim = 128; c->idx_topk = 512;
    c->n_hc = 4; c->sinkhorn_iters = 20; c->hca_ratio = 128;
    c->hc_eps = 1e-6f; c->rms_eps = 1e-6f; c->expert_weights_scale = 1.5f;
    c->rope_base = 10000.0f; c->rope_scale = 16.0f; c->yarn_beta_fast = 32.0f; c->yarn_beta_slow = 1.0f;
    c->compress_rope_base = 160000.0f; c->rope_orig_ctx = 65536; c->context_length = 1048576;
    for (int l = 0; l < c->n_layer; l++) {
        c->compress_ratio[l] = l < 2 ? 0 : (l % 2 == 0 ? 4 : 128);
        c->swiglu_clamp[l] = 10.0f;
    }
}

void ds4_config_write_metadata(const ds4_config *c, gguf_writer *w) {
    gguf_writer_set_str(w, "general.architecture", DS4_ARCH);
    gguf_writer_set_u32(w, K("block_count"), (uint32_t)c->n_layer);
    gguf_writer_set_u32(w, K("context_length"), (uint32_t)(c->context_length ? c->context_length : 1048576));
    gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)c->n_embd);
    gguf_writer_set_u32(w, K("vocab_size"), (uint32_t)c->n_vocab);
    gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)c->n_head);
    gguf_writer_set_u32(w, K("attention.head_count_kv"), (uint32_t)c->n_head_kv);
    gguf_writer_set_u32(w, K("attention.key_length"), (uint32_t)c->head_dim);
    gguf_writer_set_u32(w, K("attention.value_length"), (uint32_t)c->head_dim);
    gguf_writer_set_u32(w, K("rope.dimension_count"), (uint32_t)c->n_rot);
    gguf_writer_set_u32(w, K("attention.q_lora_rank"), (uint32_t)c->q_lora);
    gguf_writer_set_u32(w, K("attention.output_lora_rank"), (uint32_t)c->o_lora);
    gguf_writer_set_u32(w, K("attention.output_group_count"), (uint32_t)c->n_out_group);
    gguf_writer_set_u32(w, K("expert_count"), (uint32_t)c->n_expert);
    gguf_writer_set_u32(w, K("expert_used_count"), (uint32_t)c->n_expert_used);
    gguf_writer_set_u32(w, K("expert_feed_forward_length"), (uint32_t)c->n_ff_exp);
    gguf_writer_set_u32(w, K("expert_shared_count"), (uint32_t)c->n_expert_shared);
    gguf_writer_set_u32(w, K("hash_layer_count"), (uint32_t)c->n_hash_layer);
    gguf_writer_set_u32(w, K("attention.sliding_window"), (uint32_t)c->n_swa);
    gguf_writer_set_u32(w, K("attention.indexer.head_count"), (uint32_t)c->idx_head);
    gguf_writer_set_u32(w, K("attention.indexer.key_length"), (uint32_t)c->idx_dim);
    gguf_writer_set_u32(w, K("attention.indexer.top_k"), (uint32_t)c->idx_topk);
    gguf_writer_set_u32(w, K("hyper_connection.count"), (uint32_t)c->n_hc);
    gguf_writer_set_u32(w, K("hyper_connection.sinkhorn_iterations"), (uint32_t)c->sinkhorn_iters);
    gguf_writer_set_f32(w, K("hyper_connection.epsilon"), c->hc_eps);
    gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), c->rms_eps);
    gguf_writer_set_f32(w, K("expert_weights_scale"), c->expert_weights_scale);
    gguf_writer_set_bool(w, K("expert_weights_norm"), true);
    gguf_writer_set_u32(w, K("expert_gating_func"), 4);
    gguf_writer_set_f32(w, K("rope.freq_base"), c->rope_base);
    gguf_writer_set_str(w, K("rope.scaling.type"), "yarn");
    gguf_writer_set_f32(w, K("rope.scaling.factor"), c->rope_scale);
    gguf_writer_set_u32(w, K("rope.scaling.original_context_length"), (uint32_t)c->rope_orig_ctx);
    gguf_writer_set_f32(w, K("rope.scaling.yarn_beta_fast"), c->yarn_beta_fast);
    gguf_writer_set_f32(w, K("rope.scaling.yarn_beta_slow"), c->yarn_beta_slow);
    gguf_writer_set_f32(w, K("attention.compress_rope_freq_base"), c->compress_rope_base);
    int32_t ratios[DS4_MAX_LAYERS + 1];
    float clamps[DS4_MAX_LAYERS];
    for (int l = 0; l < c->n_layer; l++) {
        ratios[l] = c->compress_ratio[l];
        clamps[l] = c->swiglu_clamp[l];
    }
    ratios[c->n_layer] = 0; /* the published files carry one more slot, for the MTP block */
    gguf_writer_set_arr(w, K("attention.compress_ratios"), GGUF_VT_INT32, ratios, (uint64_t)c->n_layer + 1);
    gguf_writer_set_arr(w, K("swiglu_clamp_exp"), GGUF_VT_FLOAT32, clamps, (uint64_t)c->n_layer);
}
