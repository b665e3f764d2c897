#include "convert/hfconfig.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convert/json_file.h"

static bool get_int(json_t *root, const char *key, bool required, int64_t def, int64_t min, int64_t *out,
                    const char *path, ds4_error *err) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return ds4_fail(err, "%s: missing key \"%s\"", path, key);
        *out = def;
        return true;
    }
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15) {
        *out = (int64_t)json_real_value(v);
    } else if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else {
        return ds4_fail(err, "%s: key \"%s\" must be an integer", path, key);
    }
    if (*out < min)
        return ds4_fail(err, "%s: key \"%s\" = %lld, must be >= %lld", path, key, (long long)*out, (long long)min);
    if (*out > (int64_t)1 << 40) return ds4_fail(err, "%s: key \"%s\" = %lld is implausibly large", path, key, (long long)*out);
    return true;
}

static bool get_num(json_t *root, const char *key, bool required, double def, double *out, const char *path,
                    ds4_error *err) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return ds4_fail(err, "%s: missing key \"%s\"", path, key);
        *out = def;
        return true;
    }
    if (!json_is_number(v)) return ds4_fail(err, "%s: key \"%s\" must be a number", path, key);
    *out = json_number_value(v);
    if (!isfinite(*out)) return ds4_fail(err, "%s: key \"%s\" is not finite", path, key);
    return true;
}

bool ds4_hf_config_load(const char *path, ds4_hf_config *c, ds4_error *err) {
    memset(c, 0, sizeof *c);
    json_t *root = ds4_json_load_file(path, JSON_REJECT_DUPLICATES, err);
    if (!root) return false;
    if (!json_is_object(root)) {
        json_decref(root);
        return ds4_fail(err, "%s: not a JSON object", path);
    }
    bool ok = get_int(root, "num_hidden_layers", true, 0, 1, &c->n_layer, path, err) &&
              get_int(root, "hidden_size", true, 0, 1, &c->n_embd, path, err) &&
              get_int(root, "vocab_size", true, 0, 1, &c->n_vocab, path, err) &&
              get_int(root, "max_position_embeddings", true, 0, 1, &c->n_ctx, path, err) &&
              get_int(root, "num_attention_heads", true, 0, 1, &c->n_head, path, err) &&
              get_int(root, "num_key_value_heads", true, 0, 1, &c->n_head_kv, path, err) &&
              get_int(root, "head_dim", true, 0, 1, &c->head_dim, path, err) &&
              get_int(root, "qk_rope_head_dim", true, 0, 0, &c->n_rot, path, err) &&
              get_int(root, "q_lora_rank", true, 0, 1, &c->q_lora, path, err) &&
              get_int(root, "o_lora_rank", true, 0, 1, &c->o_lora, path, err) &&
              get_int(root, "o_groups", true, 0, 1, &c->o_groups, path, err) &&
              get_int(root, "n_routed_experts", true, 0, 1, &c->n_expert, path, err) &&
              get_int(root, "num_experts_per_tok", true, 0, 1, &c->n_expert_used, path, err) &&
              get_int(root, "moe_intermediate_size", true, 0, 1, &c->n_ff_exp, path, err) &&
              get_int(root, "n_shared_experts", true, 0, 0, &c->n_expert_shared, path, err) &&
              get_int(root, "num_hash_layers", false, 0, 0, &c->n_hash_layer, path, err) &&
              get_int(root, "sliding_window", true, 0, 1, &c->n_swa, path, err) &&
              get_int(root, "index_n_heads", true, 0, 0, &c->idx_heads, path, err) &&
              get_int(root, "index_head_dim", true, 0, 0, &c->idx_head_dim, path, err) &&
              get_int(root, "index_topk", true, 0, 0, &c->idx_topk, path, err) &&
              get_int(root, "hc_mult", true, 0, 1, &c->n_hc, path, err) &&
              get_int(root, "hc_sinkhorn_iters", true, 0, 0, &c->hc_sinkhorn_iters, path, err) &&
              get_num(root, "hc_eps", true, 0, &c->hc_eps, path, err) &&
              get_num(root, "swiglu_limit", true, 0, &c->swiglu_limit, path, err) &&
              get_num(root, "rms_norm_eps", true, 0, &c->rms_eps, path, err) &&
              get_num(root, "rope_theta", true, 0, &c->rope_theta, path, err) &&
              get_num(root, "compress_rope_theta", true, 0, &c->compress_rope_theta, path, err) &&
              get_num(root, "routed_scaling_factor", true, 0, &c->expert_weights_scale, path, err) &&
              get_int(root, "num_nextn_predict_layers", false, 0, 0, &c->n_nextn, path, err) &&
              get_int(root, "bos_token_id", false, -1, -1, &c->bos_id, path, err) &&
              get_int(root, "eos_token_id", false, -1, -1, &c->eos_id, path, err);
    if (ok) {
        json_t *v = json_object_get(root, "norm_topk_prob");
        if (!json_is_boolean(v)) ok = ds4_fail(err, "%s: key \"norm_topk_prob\" missing or not a boolean", path);
        else c->norm_topk_prob = json_is_true(v);
    }
    if (ok) {
        json_t *v = json_object_get(root, "scoring_func");
        const char *sf = json_is_string(v) ? json_string_value(v) : NULL;
        if (!v) c->gating_func = 4;
        else if (!sf) ok = ds4_fail(err, "%s: key \"scoring_func\" must be a string", path);
        else if (!strcmp(sf, "sqrtsoftplus")) c->gating_func = 4;
        else if (!strcmp(sf, "softmax")) c->gating_func = 1;
        else if (!strcmp(sf, "sigmoid")) c->gating_func = 2;
        else ok = ds4_fail(err, "%s: key \"scoring_func\" has unknown value \"%s\"", path, sf);
    }
    if (ok) {
        json_t *rs = json_object_get(root, "rope_scaling");
        if (!json_is_object(rs)) {
            ok = ds4_fail(err, "%s: key \"rope_scaling\" missing or not an object", path);
        } else {
            json_t *t = json_object_get(rs, "type");
            if (!t) t = json_object_get(rs, "rope_type");
            if (!json_is_string(t) || strlen(json_string_value(t)) >= sizeof c->rope_scaling_type)
                ok = ds4_fail(err, "%s: key \"rope_scaling.type\" missing or not a short string", path);
            else strcpy(c->rope_scaling_type, json_string_value(t));
            ok = ok && get_num(rs, "factor", true, 0, &c->rope_factor, "config.json rope_scaling", err) &&
                 get_int(rs, "original_max_position_embeddings", true, 0, 1, &c->rope_orig_ctx, "config.json rope_scaling", err) &&
                 get_num(rs, "beta_fast", true, 0, &c->yarn_beta_fast, "config.json rope_scaling", err) &&
                 get_num(rs, "beta_slow", true, 0, &c->yarn_beta_slow, "config.json rope_scaling", err);
        }
    }
    if (ok) {
        json_t *cr = json_object_get(root, "compress_ratios");
        if (!json_is_array(cr)) {
            ok = ds4_fail(err, "%s: key \"compress_ratios\" missing or not an array", path);
        } else if ((int64_t)json_array_size(cr) < c->n_layer) {
            ok = ds4_fail(err, "%s: key \"compress_ratios\" has %zu entries, need at least num_hidden_layers = %lld",
                          path, json_array_size(cr), (long long)c->n_layer);
        } else {
            c->n_compress_ratios = (int64_t)json_array_size(cr);
            c->compress_ratios = ds4_xmalloc((size_t)c->n_compress_ratios * sizeof(int32_t));
            for (int64_t i = 0; ok && i < c->n_compress_ratios; i++) {
                json_t *e = json_array_get(cr, (size_t)i);
                if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 1 << 20)
                    ok = ds4_fail(err, "%s: compress_ratios[%lld] is not a non-negative integer", path, (long long)i);
                else c->compress_ratios[i] = (int32_t)json_integer_value(e);
            }
        }
    }
    json_decref(root);
    if (ok && c->n_hash_layer > c->n_layer) c->n_hash_layer = c->n_layer;
    if (ok && c->n_expert_used > c->n_expert)
        ok = ds4_fail(err, "%s: num_experts_per_tok %lld > n_routed_experts %lld", path, (long long)c->n_expert_used,
                      (long long)c->n_expert);
    if (ok && (c->n_head * c->head_dim) % c->o_groups)
        ok = ds4_fail(err, "%s: num_attention_heads x head_dim is not divisible by o_groups", path);
    if (!ok) ds4_hf_config_free(c);
    return ok;
}

bool ds4_hf_config_load_vocab(const char *path, int64_t *vocab, int64_t *bos, int64_t *eos, ds4_error *err) {
    json_t *root = ds4_json_load_file(path, JSON_REJECT_DUPLICATES, err);
    if (!root) return false;
    bool ok = json_is_object(root) ? true : ds4_fail(err, "%s: not a JSON object", path);
    ok = ok && get_int(root, "vocab_size", false, 0, 0, vocab, path, err) &&
         get_int(root, "bos_token_id", false, -1, -1, bos, path, err) &&
         get_int(root, "eos_token_id", false, -1, -1, eos, path, err);
    json_decref(root);
    return ok;
}

void ds4_hf_config_free(ds4_hf_config *c) {
    free(c->compress_ratios);
    c->compress_ratios = NULL;
}

void ds4_hf_config_write_metadata(const ds4_hf_config *c, gguf_writer *w) {
#define U32(k, v) gguf_writer_set_u32(w, "deepseek4." k, (uint32_t)(v))
#define F32(k, v) gguf_writer_set_f32(w, "deepseek4." k, (float)(v))
    U32("block_count", c->n_layer);
    U32("context_length", c->n_ctx);
    U32("embedding_length", c->n_embd);
    U32("vocab_size", c->n_vocab);
    U32("attention.head_count", c->n_head);
    U32("attention.head_count_kv", c->n_head_kv);
    U32("attention.key_length", c->head_dim);
    U32("attention.value_length", c->head_dim);
    U32("rope.dimension_count", c->n_rot);
    U32("attention.q_lora_rank", c->q_lora);
    U32("attention.output_lora_rank", c->o_lora);
    U32("attention.output_group_count", c->o_groups);
    U32("expert_count", c->n_expert);
    U32("expert_used_count", c->n_expert_used);
    U32("expert_feed_forward_length", c->n_ff_exp);
    U32("expert_shared_count", c->n_expert_shared);
    U32("hash_layer_count", c->n_hash_layer);
    U32("expert_group_count", 0);
    U32("expert_group_used_count", 0);
    U32("attention.sliding_window", c->n_swa);
    U32("attention.indexer.head_count", c->idx_heads);
    U32("attention.indexer.key_length", c->idx_head_dim);
    U32("attention.indexer.top_k", c->idx_topk);
    U32("hyper_connection.count", c->n_hc);
    U32("hyper_connection.sinkhorn_iterations", c->hc_sinkhorn_iters);
    F32("hyper_connection.epsilon", c->hc_eps);
    gguf_writer_set_arr(w, "deepseek4.attention.compress_ratios", GGUF_VT_INT32, c->compress_ratios,
                        (uint64_t)c->n_compress_ratios);
    float *clamp = ds4_xmalloc((size_t)c->n_layer * sizeof(float));
    for (int64_t i = 0; i < c->n_layer; i++) clamp[i] = (float)c->swiglu_limit;
    gguf_writer_set_arr(w, "deepseek4.swiglu_clamp_exp", GGUF_VT_FLOAT32, clamp, (uint64_t)c->n_layer);
    free(clamp);
    F32("rope.freq_base", c->rope_theta);
    gguf_writer_set_str(w, "deepseek4.rope.scaling.type", c->rope_scaling_type);
    F32("rope.scaling.factor", c->rope_factor);
    U32("rope.scaling.original_context_length", c->rope_orig_ctx);
    F32("rope.scaling.yarn_beta_fast", c->yarn_beta_fast);
    F32("rope.scaling.yarn_beta_slow", c->yarn_beta_slow);
    F32("attention.compress_rope_freq_base", c->compress_rope_theta);
    F32("expert_weights_scale", c->expert_weights_scale);
    F32("attention.layer_norm_rms_epsilon", c->rms_eps);
    gguf_writer_set_bool(w, "deepseek4.expert_weights_norm", c->norm_topk_prob);
    U32("expert_gating_func", c->gating_func);
    U32("nextn_predict_layers", c->n_nextn);
#undef U32
#undef F32
}
