/* The f32 conversion of oracle/tiny (FP8 E4M3 + E8M0 128x128 block scales,
 * FP4 E2M1 experts, BF16, F32, I32) must hold exactly the checkpoint values:
 * every GGUF tensor is compared element by element with an independent
 * decode of its source tensor(s), through an independent name table. */
#include "convert_util.h"

#include "gguf/gguf.h"
#include "gguf/types.h"

static const char *const global_map[][2] = {
    {"token_embd.weight", "embed.weight"},       {"output_norm.weight", "norm.weight"},
    {"output.weight", "head.weight"},            {"output_hc_base.weight", "hc_head_base"},
    {"output_hc_fn.weight", "hc_head_fn"},       {"output_hc_scale.weight", "hc_head_scale"},
};

static const char *const layer_map[][2] = {
    {"hc_attn_base.weight", "hc_attn_base"},
    {"hc_attn_fn.weight", "hc_attn_fn"},
    {"hc_attn_scale.weight", "hc_attn_scale"},
    {"hc_ffn_base.weight", "hc_ffn_base"},
    {"hc_ffn_fn.weight", "hc_ffn_fn"},
    {"hc_ffn_scale.weight", "hc_ffn_scale"},
    {"attn_sinks.weight", "attn.attn_sink"},
    {"attn_q_a.weight", "attn.wq_a.weight"},
    {"attn_q_b.weight", "attn.wq_b.weight"},
    {"attn_q_a_norm.weight", "attn.q_norm.weight"},
    {"attn_kv.weight", "attn.wkv.weight"},
    {"attn_kv_a_norm.weight", "attn.kv_norm.weight"},
    {"attn_output_a.weight", "attn.wo_a.weight"},
    {"attn_output_b.weight", "attn.wo_b.weight"},
    {"attn_compressor_ape.weight", "attn.compressor.ape"},
    {"attn_compressor_kv.weight", "attn.compressor.wkv.weight"},
    {"attn_compressor_gate.weight", "attn.compressor.wgate.weight"},
    {"attn_compressor_norm.weight", "attn.compressor.norm.weight"},
    {"indexer.attn_q_b.weight", "attn.indexer.wq_b.weight"},
    {"indexer.proj.weight", "attn.indexer.weights_proj.weight"},
    {"indexer_compressor_ape.weight", "attn.indexer.compressor.ape"},
    {"indexer_compressor_kv.weight", "attn.indexer.compressor.wkv.weight"},
    {"indexer_compressor_gate.weight", "attn.indexer.compressor.wgate.weight"},
    {"indexer_compressor_norm.weight", "attn.indexer.compressor.norm.weight"},
    {"attn_norm.weight", "attn_norm.weight"},
    {"ffn_norm.weight", "ffn_norm.weight"},
    {"ffn_gate_shexp.weight", "ffn.shared_experts.w1.weight"},
    {"ffn_up_shexp.weight", "ffn.shared_experts.w3.weight"},
    {"ffn_down_shexp.weight", "ffn.shared_experts.w2.weight"},
    {"ffn_gate_inp.weight", "ffn.gate.weight"},
    {"exp_probs_b.bias", "ffn.gate.bias"},
    {"ffn_gate_tid2eid.weight", "ffn.gate.tid2eid"},
    {"ffn_gate_exps.weight", "ffn.experts.%d.w1.weight"},
    {"ffn_up_exps.weight", "ffn.experts.%d.w3.weight"},
    {"ffn_down_exps.weight", "ffn.experts.%d.w2.weight"},
};

/* GGUF name -> HF name pattern (with %d for the expert when routed). */
static bool map_name(const char *gguf, char *hf, size_t n, bool *routed) {
    *routed = false;
    for (size_t i = 0; i < sizeof global_map / sizeof global_map[0]; i++)
        if (!strcmp(gguf, global_map[i][0])) {
            snprintf(hf, n, "%s", global_map[i][1]);
            return true;
        }
    int L, off = 0;
    if (sscanf(gguf, "blk.%d.%n", &L, &off) != 1 || !off) return false;
    for (size_t i = 0; i < sizeof layer_map / sizeof layer_map[0]; i++)
        if (!strcmp(gguf + off, layer_map[i][0])) {
            snprintf(hf, n, "layers.%d.%s", L, layer_map[i][1]);
            *routed = strstr(hf, "%d") != NULL;
            return true;
        }
    return false;
}

static const ds4_st_tensor *scale_of(const ds4_st_set *s, const char *hf) {
    char sn[300];
    size_t L = strlen(hf);
    if (L > 7 && !strcmp(hf + L - 7, ".weight")) snprintf(sn, sizeof sn, "%.*s.scale", (int)(L > 207 ? 200 : L - 7), hf);
    else snprintf(sn, sizeof sn, "%.200s.scale", hf);
    return ds4_st_find(s, sn);
}

static void check_f32_file(const char *hf_dir, const char *st_path, size_t n_st_sources, bool need_fp) {
    char dir[512], out[700];
    cu_tmpdir(dir, sizeof dir, "convert-f32");
    snprintf(out, sizeof out, "%s/m.gguf", dir);
    ds4_error err = {{0}};
    cr_assert(cu_convert(hf_dir, out, "f32", false, &err), "convert: %s", err.msg);
    gguf_file *g = gguf_open(out, &err);
    cr_assert_not_null(g, "%s", err.msg);
    ds4_st_set *s = ds4_st_open_dir(st_path, &err);
    cr_assert_not_null(s, "%s", err.msg);
    size_t covered = 0;
    uint64_t fp8 = 0, fp4 = 0, nonzero = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        char hf[256];
        bool routed;
        cr_assert(map_name(t->cname, hf, sizeof hf, &routed), "unexpected GGUF tensor %s", t->cname);
        int n_src = routed ? (int)t->ne[t->n_dims - 1] : 1;
        const uint8_t *data = t->data;
        uint64_t off = 0;
        for (int e = 0; e < n_src; e++) {
            char name[256];
            snprintf(name, sizeof name, hf, e);
            const ds4_st_tensor *st = ds4_st_find(s, name);
            cr_assert_not_null(st, "%s: source %s missing", t->cname, name);
            covered++;
            /* dims: HF shape reversed (FP4: logical width), expert axis last */
            int64_t last = st->shape[st->n_dims - 1] * (st->dtype == DS4_ST_I8 ? 2 : 1);
            cr_assert_eq(t->ne[0], (uint64_t)last, "%s ne0", t->cname);
            for (int d = 1; d < st->n_dims; d++)
                cr_assert_eq(t->ne[d], (uint64_t)st->shape[st->n_dims - 1 - d], "%s ne%d", t->cname, d);
            cr_assert_eq(t->n_dims, (uint32_t)st->n_dims + (routed ? 1u : 0u), "%s n_dims", t->cname);
            if (st->dtype == DS4_ST_I32) {
                cr_assert_eq(t->type, DS4_TYPE_I32, "%s type", t->cname);
                int32_t *v = malloc(st->nbytes);
                cr_assert(ds4_st_read(s, st, 0, st->nbytes, v, &err));
                cr_assert(!memcmp(v, data, st->nbytes), "%s: I32 values differ", t->cname);
                free(v);
                off += st->nbytes;
                continue;
            }
            cr_assert_eq(t->type, DS4_TYPE_F32, "%s type %s", t->cname, ds4_type_name(t->type));
            int64_t n;
            float *ref = cu_decode(s, st, scale_of(s, name), &n);
            const float *got = (const float *)(data + off);
            for (int64_t k = 0; k < n; k++) {
                float gv;
                memcpy(&gv, got + k, 4);
                cr_assert_eq(ds4_f32_bits(gv), ds4_f32_bits(ref[k]), "%s (%s) element %lld: got %g want %g", t->cname,
                             name, (long long)k, gv, ref[k]);
                nonzero += ref[k] != 0;
            }
            if (st->dtype == DS4_ST_F8_E4M3) fp8 += (uint64_t)n;
            if (st->dtype == DS4_ST_I8) fp4 += (uint64_t)n;
            off += (uint64_t)n * 4;
            free(ref);
        }
        cr_assert_eq(off, t->nbytes, "%s: size", t->cname);
    }
    /* Every checkpoint weight (all but the .scale companions) is in the file. */
    cr_assert_eq(covered, n_st_sources, "covered %zu of %zu checkpoint tensors", covered, n_st_sources);
    if (need_fp) cr_assert(fp8 > 0 && fp4 > 0, "FP8 (%llu) and FP4 (%llu) values were checked", (unsigned long long)fp8,
                           (unsigned long long)fp4);
    cr_assert(nonzero > 1000);
    ds4_st_close(s);
    gguf_close(g);
    cu_rmdir(dir);
}

Test(convert_tiny, f32_file_equals_exactly_decoded_checkpoint) {
    char hf[512];
    cu_path(hf, sizeof hf, "oracle/tiny");
    /* 786 tensors of which 338 are F8_E8M0 scales. */
    check_f32_file(hf, hf, 786 - 338, true);
}

Test(convert_tiny, f32_demo_sharded_equals_checkpoint) {
    char hf[512];
    cu_path(hf, sizeof hf, "oracle/demo");
    check_f32_file(hf, hf, 304, false);
}

static float f32(gguf_file *g, const char *k) {
    float v = 0;
    ds4_error err;
    cr_assert(gguf_get_f32(g, k, &v, &err), "%s", err.msg);
    return v;
}

Test(convert_tiny, metadata_from_config) {
    char hf[512], dir[512], out[700];
    cu_path(hf, sizeof hf, "oracle/tiny");
    cu_tmpdir(dir, sizeof dir, "convert-meta");
    snprintf(out, sizeof out, "%s/m.gguf", dir);
    ds4_error err = {{0}};
    cr_assert(cu_convert(hf, out, "f32", false, &err), "%s", err.msg);
    gguf_file *g = gguf_open(out, &err);
    cr_assert_not_null(g, "%s", err.msg);
    gguf_str s;
    cr_assert(gguf_get_str(g, "general.architecture", &s, &err));
    cr_assert(s.len == 9 && !memcmp(s.ptr, "deepseek4", 9));
    cr_assert_eq(cu_u32(g, "deepseek4.block_count"), 6);
    cr_assert_eq(cu_u32(g, "deepseek4.embedding_length"), 256);
    cr_assert_eq(cu_u32(g, "deepseek4.vocab_size"), 512);
    cr_assert_eq(cu_u32(g, "deepseek4.attention.head_count"), 4);
    cr_assert_eq(cu_u32(g, "deepseek4.attention.head_count_kv"), 1);
    cr_assert_eq(cu_u32(g, "deepseek4.attention.key_length"), 64);
    cr_assert_eq(cu_u32(g, "deepseek4.attention.value_length"), 64);
    cr_assert_eq(cu_u32(g, "deepseek4.rope.dimension_count"), 16);
    cr_assert_eq(cu_u32(g, "deepseek4.attention.q_lora_rank"), 128);
    cr_assert_eq(cu_u32(g, "deepseek4.attention.output_lora_rank"), 64);
    cr_assert_eq(cu_u32(g, "deepseek4.attention.output_group_count"), 2);
    cr_assert_eq(cu_u32(g, "deepseek4.expert_count"), 16);
    cr_assert_eq(cu_u32(g, "deepseek4.expert_used_count"), 4);
    cr_assert_eq(cu_u32(g, "deepseek4.expert_feed_forward_length"), 256);
    cr_assert_eq(cu_u32(g, "deepseek4.expert_shared_count"), 1);
    cr_assert_eq(cu_u32(g, "deepseek4.hash_layer_count"), 2);
    cr_assert_eq(cu_u32(g, "deepseek4.attention.sliding_window"), 16);
    cr_assert_eq(cu_u32(g, "deepseek4.attention.indexer.head_count"), 16);
    cr_assert_eq(cu_u32(g, "deepseek4.attention.indexer.key_length"), 32);
    cr_assert_eq(cu_u32(g, "deepseek4.attention.indexer.top_k"), 6);
    cr_assert_eq(cu_u32(g, "deepseek4.hyper_connection.count"), 4);
    cr_assert_eq(cu_u32(g, "deepseek4.hyper_connection.sinkhorn_iterations"), 20);
    cr_assert_eq(cu_u32(g, "deepseek4.rope.scaling.original_context_length"), 65536);
    cr_assert_eq(cu_u32(g, "deepseek4.expert_gating_func"), 4);
    cr_assert_float_eq(f32(g, "deepseek4.hyper_connection.epsilon"), 1e-6f, 1e-12);
    cr_assert_float_eq(f32(g, "deepseek4.rope.freq_base"), 10000.0f, 1e-3);
    cr_assert_float_eq(f32(g, "deepseek4.rope.scaling.factor"), 16.0f, 1e-6);
    cr_assert_float_eq(f32(g, "deepseek4.rope.scaling.yarn_beta_fast"), 32.0f, 1e-6);
    cr_assert_float_eq(f32(g, "deepseek4.rope.scaling.yarn_beta_slow"), 1.0f, 1e-6);
    cr_assert_float_eq(f32(g, "deepseek4.attention.compress_rope_freq_base"), 160000.0f, 1e-2);
    cr_assert_float_eq(f32(g, "deepseek4.expert_weights_scale"), 1.5f, 1e-6);
    cr_assert_float_eq(f32(g, "deepseek4.attention.layer_norm_rms_epsilon"), 1e-6f, 1e-12);
    bool b = false;
    cr_assert(gguf_get_bool(g, "deepseek4.expert_weights_norm", &b, &err) && b);
    gguf_vtype et;
    uint64_t cnt;
    const void *data;
    cr_assert(gguf_get_arr(g, "deepseek4.attention.compress_ratios", &et, &cnt, &data, &err), "%s", err.msg);
    cr_assert_eq(et, GGUF_VT_INT32);
    cr_assert_eq(cnt, 6);
    const int32_t want[6] = {0, 4, 16, 4, 16, 0};
    cr_assert(!memcmp(data, want, sizeof want));
    cr_assert(gguf_get_arr(g, "deepseek4.swiglu_clamp_exp", &et, &cnt, &data, &err), "%s", err.msg);
    cr_assert_eq(et, GGUF_VT_FLOAT32);
    cr_assert_eq(cnt, 6);
    for (int i = 0; i < 6; i++) {
        float v;
        memcpy(&v, (const char *)data + 4 * i, 4); /* array data is not aligned in the file */
        cr_assert_eq(v, 10.0f);
    }
    /* Inventory per C.6 with tiny shapes: compressor on ratio != 0, indexer
     * only on ratio 4, tid2eid on hash layers, exp_probs_b on the rest. */
    cr_assert_not_null(gguf_find_tensor(g, "blk.1.indexer.attn_q_b.weight"));
    cr_assert_null(gguf_find_tensor(g, "blk.2.indexer.attn_q_b.weight"));
    cr_assert_not_null(gguf_find_tensor(g, "blk.2.attn_compressor_kv.weight"));
    cr_assert_null(gguf_find_tensor(g, "blk.0.attn_compressor_kv.weight"));
    cr_assert_null(gguf_find_tensor(g, "blk.5.attn_compressor_kv.weight"));
    cr_assert_not_null(gguf_find_tensor(g, "blk.1.ffn_gate_tid2eid.weight"));
    cr_assert_null(gguf_find_tensor(g, "blk.2.ffn_gate_tid2eid.weight"));
    cr_assert_not_null(gguf_find_tensor(g, "blk.2.exp_probs_b.bias"));
    cr_assert_null(gguf_find_tensor(g, "blk.1.exp_probs_b.bias"));
    const gguf_tensor *e = gguf_find_tensor(g, "blk.3.ffn_down_exps.weight");
    cr_assert(e && e->n_dims == 3 && e->ne[0] == 256 && e->ne[1] == 256 && e->ne[2] == 16);
    const gguf_tensor *ape = gguf_find_tensor(g, "blk.2.attn_compressor_ape.weight");
    cr_assert(ape && ape->ne[0] == 64 && ape->ne[1] == 16);
    cr_assert_eq(gguf_n_tensors(g), 178);
    gguf_close(g);
    cu_rmdir(dir);
}
