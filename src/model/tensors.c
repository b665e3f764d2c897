/* The expected tensor table for a config, and checks against a GGUF. */
#include "model/tensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

typedef struct {
    ds4_tensor_spec *out;
    int n;
} spec_list;

static void add(spec_list *sl, int layer, const char *suffix, ds4_trole role, ds4_tclass cls, uint32_t flash_type,
                uint32_t n_dims, uint64_t ne0, uint64_t ne1, uint64_t ne2) {
    if (sl->out) {
        ds4_tensor_spec *s = &sl->out[sl->n];
        memset(s, 0, sizeof *s);
        if (layer < 0)
            snprintf(s->name, sizeof s->name, "%s", suffix);
        else
            snprintf(s->name, sizeof s->name, "blk.%d.%s", layer, suffix);
        s->layer = layer;
        s->role = role;
        s->cls = cls;
        s->n_dims = n_dims;
        s->ne[0] = ne0;
        s->ne[1] = ne1;
        s->ne[2] = ne2;
        s->flash_type = flash_type;
    }
    sl->n++;
}

int ds4_tensor_specs(const ds4_config *c, ds4_tensor_spec *out) {
    spec_list sl = {out, 0};
    const uint64_t D = (uint64_t)c->n_embd, V = (uint64_t)c->n_vocab, N = (uint64_t)c->n_hc;
    const uint64_t HD = (uint64_t)c->head_dim, H = (uint64_t)c->n_head, G = (uint64_t)c->n_out_group;
    const uint64_t ND = N * D, MIX = (2 + N) * N, E = (uint64_t)c->n_expert, F = (uint64_t)c->n_ff_exp;
    const uint64_t FS = F * (uint64_t)c->n_expert_shared, ID = (uint64_t)c->idx_dim, IH = (uint64_t)c->idx_head;
    const uint64_t Q = (uint64_t)c->q_lora, OL = (uint64_t)c->o_lora;
    enum { F32 = DS4_TYPE_F32, F16 = DS4_TYPE_F16, Q8 = DS4_TYPE_Q8_0, I32 = DS4_TYPE_I32 };

    add(&sl, -1, "token_embd.weight", DS4_T_TOKEN_EMBD, DS4_TC_MAT, F16, 2, D, V, 1);
    add(&sl, -1, "output_norm.weight", DS4_T_OUTPUT_NORM, DS4_TC_VEC, F32, 1, D, 1, 1);
    add(&sl, -1, "output.weight", DS4_T_OUTPUT, DS4_TC_MAT, Q8, 2, D, V, 1);
    add(&sl, -1, "output_hc_base.weight", DS4_T_OUT_HC_BASE, DS4_TC_VEC, F32, 1, N, 1, 1);
    add(&sl, -1, "output_hc_fn.weight", DS4_T_OUT_HC_FN, DS4_TC_MAT, F16, 2, ND, N, 1);
    add(&sl, -1, "output_hc_scale.weight", DS4_T_OUT_HC_SCALE, DS4_TC_VEC, F32, 1, 1, 1, 1);

    for (int l = 0; l < c->n_layer; l++) {
        const ds4_attn_kind kind = ds4_layer_attn(c, l);
        const uint64_t m = (uint64_t)c->compress_ratio[l], coff = (uint64_t)ds4_layer_coff(c, l);
        add(&sl, l, "hc_attn_fn.weight", DS4_T_HC_ATTN_FN, DS4_TC_MAT, F16, 2, ND, MIX, 1);
        add(&sl, l, "hc_attn_scale.weight", DS4_T_HC_ATTN_SCALE, DS4_TC_VEC, F32, 1, 3, 1, 1);
        add(&sl, l, "hc_attn_base.weight", DS4_T_HC_ATTN_BASE, DS4_TC_VEC, F32, 1, MIX, 1, 1);
        add(&sl, l, "attn_norm.weight", DS4_T_ATTN_NORM, DS4_TC_VEC, F32, 1, D, 1, 1);
        add(&sl, l, "attn_q_a.weight", DS4_T_Q_A, DS4_TC_MAT, Q8, 2, D, Q, 1);
        add(&sl, l, "attn_q_a_norm.weight", DS4_T_Q_A_NORM, DS4_TC_VEC, F32, 1, Q, 1, 1);
        add(&sl, l, "attn_q_b.weight", DS4_T_Q_B, DS4_TC_MAT, Q8, 2, Q, H * HD, 1);
        add(&sl, l, "attn_kv.weight", DS4_T_KV, DS4_TC_MAT, Q8, 2, D, HD, 1);
        add(&sl, l, "attn_kv_a_norm.weight", DS4_T_KV_NORM, DS4_TC_VEC, F32, 1, HD, 1, 1);
        add(&sl, l, "attn_sinks.weight", DS4_T_SINKS, DS4_TC_VEC, F32, 1, H, 1, 1);
        add(&sl, l, "attn_output_a.weight", DS4_T_OUT_A, DS4_TC_MAT, Q8, 2, H * HD / G, G * OL, 1);
        add(&sl, l, "attn_output_b.weight", DS4_T_OUT_B, DS4_TC_MAT, Q8, 2, G * OL, D, 1);
        if (kind != DS4_ATTN_SLIDING) {
            add(&sl, l, "attn_compressor_ape.weight", DS4_T_COMP_APE, DS4_TC_VEC, F16, 2, coff * HD, m, 1);
            add(&sl, l, "attn_compressor_kv.weight", DS4_T_COMP_KV, DS4_TC_MAT, F16, 2, D, coff * HD, 1);
            add(&sl, l, "attn_compressor_gate.weight", DS4_T_COMP_GATE, DS4_TC_MAT, F16, 2, D, coff * HD, 1);
            add(&sl, l, "attn_compressor_norm.weight", DS4_T_COMP_NORM, DS4_TC_VEC, F32, 1, HD, 1, 1);
        }
        if (kind == DS4_ATTN_CSA) {
            add(&sl, l, "indexer.attn_q_b.weight", DS4_T_IDX_Q_B, DS4_TC_MAT, F16, 2, Q, IH * ID, 1);
            add(&sl, l, "indexer.proj.weight", DS4_T_IDX_PROJ, DS4_TC_MAT, F16, 2, D, IH, 1);
            add(&sl, l, "indexer_compressor_ape.weight", DS4_T_IDXC_APE, DS4_TC_VEC, F16, 2, 2 * ID, m, 1);
            add(&sl, l, "indexer_compressor_kv.weight", DS4_T_IDXC_KV, DS4_TC_MAT, F16, 2, D, 2 * ID, 1);
            add(&sl, l, "indexer_compressor_gate.weight", DS4_T_IDXC_GATE, DS4_TC_MAT, F16, 2, D, 2 * ID, 1);
            add(&sl, l, "indexer_compressor_norm.weight", DS4_T_IDXC_NORM, DS4_TC_VEC, F32, 1, ID, 1, 1);
        }
        add(&sl, l, "hc_ffn_fn.weight", DS4_T_HC_FFN_FN, DS4_TC_MAT, F16, 2, ND, MIX, 1);
        add(&sl, l, "hc_ffn_scale.weight", DS4_T_HC_FFN_SCALE, DS4_TC_VEC, F32, 1, 3, 1, 1);
        add(&sl, l, "hc_ffn_base.weight", DS4_T_HC_FFN_BASE, DS4_TC_VEC, F32, 1, MIX, 1, 1);
        add(&sl, l, "ffn_norm.weight", DS4_T_FFN_NORM, DS4_TC_VEC, F32, 1, D, 1, 1);
        add(&sl, l, "ffn_gate_inp.weight", DS4_T_GATE_INP, DS4_TC_MAT, F16, 2, D, E, 1);
        if (l < c->n_hash_layer)
            add(&sl, l, "ffn_gate_tid2eid.weight", DS4_T_TID2EID, DS4_TC_I32, I32, 2, (uint64_t)c->n_expert_used, V, 1);
        else
            add(&sl, l, "exp_probs_b.bias", DS4_T_EXP_BIAS, DS4_TC_VEC, F32, 1, E, 1, 1);
        add(&sl, l, "ffn_gate_exps.weight", DS4_T_GATE_EXPS, DS4_TC_EXPERTS, DS4_TYPE_IQ2_XXS, 3, D, F, E);
        add(&sl, l, "ffn_up_exps.weight", DS4_T_UP_EXPS, DS4_TC_EXPERTS, DS4_TYPE_IQ2_XXS, 3, D, F, E);
        add(&sl, l, "ffn_down_exps.weight", DS4_T_DOWN_EXPS, DS4_TC_EXPERTS, DS4_TYPE_Q2_K, 3, F, D, E);
        add(&sl, l, "ffn_gate_shexp.weight", DS4_T_GATE_SHEXP, DS4_TC_MAT, Q8, 2, D, FS, 1);
        add(&sl, l, "ffn_up_shexp.weight", DS4_T_UP_SHEXP, DS4_TC_MAT, Q8, 2, D, FS, 1);
        add(&sl, l, "ffn_down_shexp.weight", DS4_T_DOWN_SHEXP, DS4_TC_MAT, Q8, 2, FS, D, 1);
    }
    return sl.n;
}

static const char *class_types(ds4_tclass c) {
    switch (c) {
    case DS4_TC_VEC: return "F32, F16 or BF16";
    case DS4_TC_I32: return "I32";
    default: return "a type with kernels (F32 F16 BF16 Q8_0 Q2_K Q4_K IQ2_XXS)";
    }
}

bool ds4_tensor_check(const ds4_tensor_spec *s, const gguf_tensor *t, ds4_error *err) {
    /* Trailing 1-dims are not significant: a [64] vector may be stored [64, 1]. */
    uint32_t nd = t->n_dims;
    while (nd > s->n_dims && t->ne[nd - 1] == 1) nd--;
    bool dims_ok = nd == s->n_dims;
    for (uint32_t i = 0; dims_ok && i < s->n_dims; i++) dims_ok = t->ne[i] == s->ne[i];
    if (!dims_ok) {
        char want[96], got[96];
        int w = 0, g = 0;
        for (uint32_t i = 0; i < s->n_dims; i++)
            w += snprintf(want + w, sizeof want - (size_t)w, "%s%llu", i ? ", " : "", (unsigned long long)s->ne[i]);
        for (uint32_t i = 0; i < t->n_dims && g < (int)sizeof got - 24; i++)
            g += snprintf(got + g, sizeof got - (size_t)g, "%s%llu", i ? ", " : "", (unsigned long long)t->ne[i]);
        if (t->n_dims == 0) snprintf(got, sizeof got, "none");
        return ds4_fail(err, "tensor %s: dims [%s], expected [%s]", s->name, got, want);
    }
    const uint32_t ty = t->type;
    bool type_ok;
    switch (s->cls) {
    case DS4_TC_VEC: type_ok = ty == DS4_TYPE_F32 || ty == DS4_TYPE_F16 || ty == DS4_TYPE_BF16; break;
    case DS4_TC_I32: type_ok = ty == DS4_TYPE_I32; break;
    default: type_ok = ds4_type_has_kernels(ty); break;
    }
    if (!type_ok)
        return ds4_fail(err, "tensor %s: type %s (%u), expected %s", s->name, ds4_type_name(ty), ty, class_types(s->cls));
    if (ds4_row_bytes(ty, s->ne[0]) == 0)
        return ds4_fail(err, "tensor %s: row length %llu is not a multiple of the %s block size %u", s->name,
                        (unsigned long long)s->ne[0], ds4_type_name(ty), ds4_type_block_elems(ty));
    return true;
}

bool ds4_tensors_validate(const ds4_config *c, const gguf_file *f, ds4_error *err) {
    int n = ds4_tensor_specs(c, NULL);
    ds4_tensor_spec *specs = ds4_xmalloc(sizeof *specs * (size_t)n);
    ds4_tensor_specs(c, specs);
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, specs[i].name);
        if (!t) {
            ok = ds4_fail(err, "missing tensor %s", specs[i].name);
            break;
        }
        ok = ds4_tensor_check(&specs[i], t, err);
    }
    for (int l = 0; ok && l < c->n_layer; l++) {
        char g[64], u[64];
        snprintf(g, sizeof g, "blk.%d.ffn_gate_exps.weight", l);
        snprintf(u, sizeof u, "blk.%d.ffn_up_exps.weight", l);
        const gguf_tensor *tg = gguf_find_tensor(f, g), *tu = gguf_find_tensor(f, u);
        if (tg->type != tu->type)
            ok = ds4_fail(err, "tensor %s: type %s differs from %s (%s); gate and up experts must share one type", u,
                          ds4_type_name(tu->type), g, ds4_type_name(tg->type));
    }
    free(specs);
    return ok;
}
