/* The Flash layout from Flash numbers alone: a header-only checkpoint with
 * the official inventory (formats.md D.5, 67 612 tensors without MTP; the
 * data section is a sparse hole) and the Flash config.json. Planning it must
 * give exactly the published file of C.6/C.7: 1328 tensors, the per-type
 * counts, and 86 714 775 900 (q2-asym) / 164 628 167 004 (q4-asym) bytes. */
#include "convert_util.h"

#include <fcntl.h>
#include <jansson.h>

#include "convert/plan.h"
#include "gguf/types.h"

typedef struct {
    json_t *hdr;
    uint64_t off;
} inv;

static void add(inv *v, const char *name, const char *dt, int nd, int64_t a, int64_t b) {
    uint64_t size = !strcmp(dt, "BF16") ? 2 : !strcmp(dt, "F32") ? 4 : !strcmp(dt, "I64") ? 8 : 1;
    uint64_t n = (uint64_t)a * (nd > 1 ? (uint64_t)b : 1);
    json_t *t = nd > 1 ? json_pack("{s:s,s:[I,I],s:[I,I]}", "dtype", dt, "shape", (json_int_t)a, (json_int_t)b,
                                   "data_offsets", (json_int_t)v->off, (json_int_t)(v->off + n * size))
                       : json_pack("{s:s,s:[I],s:[I,I]}", "dtype", dt, "shape", (json_int_t)a, "data_offsets",
                                   (json_int_t)v->off, (json_int_t)(v->off + n * size));
    json_object_set_new(v->hdr, name, t);
    v->off += n * size;
}

static void fp8(inv *v, const char *base, int64_t o, int64_t i) {
    char n[160];
    snprintf(n, sizeof n, "%s.weight", base);
    add(v, n, "F8_E4M3", 2, o, i);
    snprintf(n, sizeof n, "%s.scale", base);
    add(v, n, "F8_E8M0", 2, (o + 127) / 128, (i + 127) / 128);
}

static int ratio(int l) { return l < 2 ? 0 : l % 2 == 0 ? 4 : 128; }

static void build_flash(const char *dir) {
    inv v = {json_object(), 0};
    char n[200], p[24];
    add(&v, "embed.weight", "BF16", 2, 129280, 4096);
    add(&v, "head.weight", "BF16", 2, 129280, 4096);
    add(&v, "norm.weight", "BF16", 1, 4096, 0);
    add(&v, "hc_head_fn", "F32", 2, 4, 16384);
    add(&v, "hc_head_base", "F32", 1, 4, 0);
    add(&v, "hc_head_scale", "F32", 1, 1, 0);
#define P(s) (snprintf(n, sizeof n, "%s%s", p, s), n)
    for (int l = 0; l < 43; l++) {
        snprintf(p, sizeof p, "layers.%d.", l);
        add(&v, P("attn_norm.weight"), "BF16", 1, 4096, 0);
        add(&v, P("ffn_norm.weight"), "BF16", 1, 4096, 0);
        add(&v, P("hc_attn_fn"), "F32", 2, 24, 16384);
        add(&v, P("hc_attn_base"), "F32", 1, 24, 0);
        add(&v, P("hc_attn_scale"), "F32", 1, 3, 0);
        add(&v, P("hc_ffn_fn"), "F32", 2, 24, 16384);
        add(&v, P("hc_ffn_base"), "F32", 1, 24, 0);
        add(&v, P("hc_ffn_scale"), "F32", 1, 3, 0);
        add(&v, P("attn.attn_sink"), "F32", 1, 64, 0);
        add(&v, P("attn.q_norm.weight"), "BF16", 1, 1024, 0);
        add(&v, P("attn.kv_norm.weight"), "BF16", 1, 512, 0);
        fp8(&v, P("attn.wq_a"), 1024, 4096);
        fp8(&v, P("attn.wq_b"), 32768, 1024);
        fp8(&v, P("attn.wkv"), 512, 4096);
        fp8(&v, P("attn.wo_a"), 8192, 4096);
        fp8(&v, P("attn.wo_b"), 4096, 8192);
        int m = ratio(l), c = m == 4 ? 2 : 1;
        if (m) {
            add(&v, P("attn.compressor.ape"), "F32", 2, m, c * 512);
            add(&v, P("attn.compressor.wkv.weight"), "BF16", 2, c * 512, 4096);
            add(&v, P("attn.compressor.wgate.weight"), "BF16", 2, c * 512, 4096);
            add(&v, P("attn.compressor.norm.weight"), "BF16", 1, 512, 0);
        }
        if (m == 4) {
            fp8(&v, P("attn.indexer.wq_b"), 8192, 1024);
            add(&v, P("attn.indexer.weights_proj.weight"), "BF16", 2, 64, 4096);
            add(&v, P("attn.indexer.compressor.ape"), "F32", 2, 4, 256);
            add(&v, P("attn.indexer.compressor.wkv.weight"), "BF16", 2, 256, 4096);
            add(&v, P("attn.indexer.compressor.wgate.weight"), "BF16", 2, 256, 4096);
            add(&v, P("attn.indexer.compressor.norm.weight"), "BF16", 1, 128, 0);
        }
        add(&v, P("ffn.gate.weight"), "BF16", 2, 256, 4096);
        if (l >= 3) add(&v, P("ffn.gate.bias"), "F32", 1, 256, 0);
        else add(&v, P("ffn.gate.tid2eid"), "I64", 2, 129280, 6);
        for (int e = 0; e < 256; e++)
            for (int k = 1; k <= 3; k++) {
                int64_t o = k == 2 ? 4096 : 2048, i = k == 2 ? 2048 : 4096;
                char w[200];
                snprintf(w, sizeof w, "%sffn.experts.%d.w%d.weight", p, e, k);
                add(&v, w, "I8", 2, o, i / 2);
                snprintf(w, sizeof w, "%sffn.experts.%d.w%d.scale", p, e, k);
                add(&v, w, "F8_E8M0", 2, o, i / 32);
            }
        fp8(&v, P("ffn.shared_experts.w1"), 2048, 4096);
        fp8(&v, P("ffn.shared_experts.w3"), 2048, 4096);
        fp8(&v, P("ffn.shared_experts.w2"), 4096, 2048);
    }
#undef P
    cr_assert_eq(json_object_size(v.hdr), 67612);
    char *text = json_dumps(v.hdr, JSON_COMPACT);
    uint64_t hl = strlen(text);
    char path[700];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    fwrite(&hl, 8, 1, f);
    fwrite(text, 1, hl, f);
    fclose(f);
    /* The 156 GB data section is a hole: planning reads headers only. */
    cr_assert_eq(truncate(path, (off_t)(8 + hl + v.off)), 0);
    free(text);
    json_decref(v.hdr);
    json_t *cr = json_array();
    for (int l = 0; l < 43; l++) json_array_append_new(cr, json_integer(ratio(l)));
    json_array_append_new(cr, json_integer(0));
    json_t *cfg = json_pack(
        "{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:s,s:b,s:f,s:i,s:o,s:i,s:i,s:i,s:i,s:i,s:i,s:f,"
        "s:f,s:f,s:f,s:f,s:{s:s,s:f,s:i,s:i,s:i},s:i,s:i,s:i,s:i}",
        "vocab_size", 129280, "hidden_size", 4096, "moe_intermediate_size", 2048, "num_hidden_layers", 43,
        "num_attention_heads", 64, "num_key_value_heads", 1, "head_dim", 512, "qk_rope_head_dim", 64, "q_lora_rank",
        1024, "o_groups", 8, "o_lora_rank", 1024, "n_routed_experts", 256, "n_shared_experts", 1,
        "num_experts_per_tok", 6, "scoring_func", "sqrtsoftplus", "norm_topk_prob", 1, "routed_scaling_factor", 1.5,
        "num_hash_layers", 3, "compress_ratios", cr, "sliding_window", 128, "index_n_heads", 64, "index_head_dim",
        128, "index_topk", 512, "hc_mult", 4, "hc_sinkhorn_iters", 20, "hc_eps", 1e-6, "swiglu_limit", 10.0,
        "rms_norm_eps", 1e-6, "rope_theta", 10000.0, "compress_rope_theta", 160000.0, "rope_scaling", "type", "yarn",
        "factor", 16.0, "original_max_position_embeddings", 65536, "beta_fast", 32, "beta_slow", 1,
        "max_position_embeddings", 1048576, "bos_token_id", 0, "eos_token_id", 1, "num_nextn_predict_layers", 1);
    cr_assert_not_null(cfg);
    snprintf(path, sizeof path, "%s/config.json", dir);
    cr_assert_eq(json_dump_file(cfg, path, 0), 0);
    json_decref(cfg);
}

static void plan_totals(const char *dir, const char *recipe, uint64_t want_bytes) {
    ds4_error err = {{0}};
    char cfgp[700];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    ds4_hf_config c;
    cr_assert(ds4_hf_config_load(cfgp, &c, &err), "%s", err.msg);
    ds4_st_set *s = ds4_st_open_dir(dir, &err);
    cr_assert_not_null(s, "%s", err.msg);
    ds4_recipe r;
    cr_assert(ds4_recipe_init(&r, recipe, &err));
    ds4_plan p;
    cr_assert(ds4_plan_build(&p, &c, s, &r, NULL, &err), "%s", err.msg);
    cr_assert_eq(p.n, 1328);
    cr_assert_eq(p.n_unused, 0);
    int count[64] = {0};
    for (size_t i = 0; i < p.n; i++) count[p.t[i].type]++;
    cr_assert_eq(count[DS4_TYPE_F32], 492);
    cr_assert_eq(count[DS4_TYPE_F16], 359);
    cr_assert_eq(count[DS4_TYPE_Q8_0], 345);
    cr_assert_eq(count[DS4_TYPE_I32], 3);
    if (!strcmp(recipe, "q2-asym")) {
        cr_assert_eq(count[DS4_TYPE_IQ2_XXS], 86);
        cr_assert_eq(count[DS4_TYPE_Q2_K], 43);
    } else {
        cr_assert_eq(count[DS4_TYPE_Q4_K], 129);
    }
    cr_assert_eq(p.out_bytes, want_bytes, "%s: %llu bytes", recipe, (unsigned long long)p.out_bytes);
    ds4_plan_free(&p);
    ds4_st_close(s);
    ds4_hf_config_free(&c);
}

Test(convert_flash, plan_matches_published_layout) {
    char dir[512];
    cu_tmpdir(dir, sizeof dir, "convert-flash");
    build_flash(dir);
    plan_totals(dir, "q2-asym", 86714775900ull);
    plan_totals(dir, "q4-asym", 164628167004ull);
    cu_rmdir(dir);
}
