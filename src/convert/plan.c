#include "convert/plan.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "convert/st_decode.h"
#include "gguf/types.h"

static const char *fam_names[DS4_FAM_COUNT] = {
    "token_embd", "output", "vector", "hc_fn", "attn", "compressor", "indexer",
    "gate_inp",   "tid2eid", "shexp", "exp_gate", "exp_up", "exp_down",
};

const char *ds4_family_name(ds4_family f) { return (unsigned)f < DS4_FAM_COUNT ? fam_names[f] : "?"; }

bool ds4_recipe_type_ok(uint32_t t) {
    return t == DS4_TYPE_F32 || t == DS4_TYPE_F16 || t == DS4_TYPE_BF16 || t == DS4_TYPE_Q8_0 ||
           t == DS4_TYPE_Q2_K || t == DS4_TYPE_Q4_K || t == DS4_TYPE_IQ2_XXS;
}

bool ds4_recipe_init(ds4_recipe *r, const char *name, ds4_error *err) {
    memset(r, 0, sizeof *r);
    if (strlen(name) >= sizeof r->name) return ds4_fail(err, "unknown recipe '%s'", name);
    strcpy(r->name, name);
    /* 1-D tensors stay F32 in every recipe: they are tiny and ds4 reads them
     * as F32; tid2eid is always I32. */
    r->type[DS4_FAM_VECTOR] = DS4_TYPE_F32;
    r->type[DS4_FAM_TID2EID] = DS4_TYPE_I32;
    uint32_t flat = 0;
    if (!strcmp(name, "f32")) flat = DS4_TYPE_F32, r->ftype = 0;
    else if (!strcmp(name, "f16")) flat = DS4_TYPE_F16, r->ftype = 1;
    else if (!strcmp(name, "bf16")) flat = DS4_TYPE_BF16, r->ftype = 32;
    if (flat) {
        for (int f = 0; f < DS4_FAM_COUNT; f++)
            if (f != DS4_FAM_VECTOR && f != DS4_FAM_TID2EID) r->type[f] = flat;
        return true;
    }
    if (!strcmp(name, "f32")) return true;
    /* The published layout (D.7 rule 4): 8-bit where the computation is
     * steered, F16 for embeddings, HC, compressor and indexer. */
    r->type[DS4_FAM_TOKEN_EMBD] = DS4_TYPE_F16;
    r->type[DS4_FAM_OUTPUT] = DS4_TYPE_Q8_0;
    r->type[DS4_FAM_HC_FN] = DS4_TYPE_F16;
    r->type[DS4_FAM_ATTN] = DS4_TYPE_Q8_0;
    r->type[DS4_FAM_COMPRESSOR] = DS4_TYPE_F16;
    r->type[DS4_FAM_INDEXER] = DS4_TYPE_F16;
    r->type[DS4_FAM_GATE_INP] = DS4_TYPE_F16;
    r->type[DS4_FAM_SHEXP] = DS4_TYPE_Q8_0;
    if (!strcmp(name, "q8")) {
        r->type[DS4_FAM_EXP_GATE] = r->type[DS4_FAM_EXP_UP] = r->type[DS4_FAM_EXP_DOWN] = DS4_TYPE_Q8_0;
        r->ftype = 7;
    } else if (!strcmp(name, "q2-asym")) {
        r->type[DS4_FAM_EXP_GATE] = r->type[DS4_FAM_EXP_UP] = DS4_TYPE_IQ2_XXS;
        r->type[DS4_FAM_EXP_DOWN] = DS4_TYPE_Q2_K;
        r->ftype = 19;
    } else if (!strcmp(name, "q4-asym")) {
        r->type[DS4_FAM_EXP_GATE] = r->type[DS4_FAM_EXP_UP] = r->type[DS4_FAM_EXP_DOWN] = DS4_TYPE_Q4_K;
        r->ftype = 15;
    } else {
        return ds4_fail(err, "unknown recipe '%s' (f32, bf16, f16, q8, q2-asym, q4-asym)", name);
    }
    return true;
}

/* ---- building ---- */

typedef struct {
    ds4_plan *p;
    const ds4_hf_config *c;
    const ds4_st_set *s;
    const ds4_recipe *r;
    FILE *log;
    ds4_error *err;
    bool *used; /* per checkpoint tensor, indexed by position in the set */
    bool mtp;   /* building the MTP block: mtp.0.* on both sides */
} builder;

static void mark_used(builder *b, const ds4_st_tensor *t) {
    if (t) b->used[t - ds4_st_at(b->s, 0)] = true;
}

static const char *fmt_shape(const int64_t *sh, int n, char *buf, size_t len) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < n && o < len; i++) o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)sh[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

/* Checks one source tensor (and its .scale) against the HF shape the config
 * implies. Returns the tensor or NULL with err set. */
static const ds4_st_tensor *find_src(builder *b, const char *hf, int n_exp_dims, const int64_t *want,
                                     bool integer, const ds4_st_tensor **scale_out) {
    const ds4_st_tensor *t = ds4_st_find(b->s, hf);
    char a[96], c[96];
    if (!t) {
        ds4_fail(b->err, "missing tensor '%s' (required by config.json)", hf);
        return NULL;
    }
    *scale_out = NULL;
    int64_t got[DS4_ST_MAX_DIMS];
    int nd = t->n_dims;
    memcpy(got, t->shape, sizeof got);
    if (integer) {
        if (t->dtype != DS4_ST_I32 && t->dtype != DS4_ST_I64) {
            ds4_fail(b->err, "tensor '%s': dtype %s, expected I32 or I64 (wrong dtype)", hf, ds4_st_dtype_name(t->dtype));
            return NULL;
        }
    } else {
        /* The companion scale is X.scale for X.weight, or <name>.scale. */
        char sn[200];
        size_t L = strlen(hf);
        if (L > 7 && !strcmp(hf + L - 7, ".weight")) snprintf(sn, sizeof sn, "%.*s.scale", (int)(L - 7), hf);
        else snprintf(sn, sizeof sn, "%s.scale", hf);
        const ds4_st_tensor *sc = ds4_st_find(b->s, sn);
        int64_t rows, cols;
        if (!ds4_st_matrix_check(t, sc, &rows, &cols, b->err)) return NULL;
        if (t->dtype == DS4_ST_I8) got[nd - 1] = cols; /* packed FP4: logical width */
        *scale_out = sc;
        mark_used(b, sc);
    }
    bool same = nd == n_exp_dims;
    for (int i = 0; same && i < nd; i++) same = got[i] == want[i];
    if (!same) {
        ds4_fail(b->err, "tensor '%s': shape %s does not match config.json (expected %s)", hf, fmt_shape(got, nd, a, sizeof a),
                 fmt_shape(want, n_exp_dims, c, sizeof c));
        return NULL;
    }
    mark_used(b, t);
    return t;
}

static uint32_t fallback_type(uint32_t type, uint64_t ne0) {
    /* Nearest higher-precision type whose block fits the row. */
    static const uint32_t chain[] = {DS4_TYPE_Q8_0, DS4_TYPE_F16};
    if (ne0 % ds4_type_block_elems(type) == 0) return type;
    for (size_t i = 0; i < sizeof chain / sizeof chain[0]; i++)
        if (ds4_type_block_bytes(chain[i]) * ds4_type_block_elems(type) >
                ds4_type_block_bytes(type) * ds4_type_block_elems(chain[i]) &&
            ne0 % ds4_type_block_elems(chain[i]) == 0)
            return chain[i];
    return DS4_TYPE_F32;
}

/* Adds one GGUF tensor. shape is the HF (row-major) shape of one source;
 * n_src > 1 means routed experts: hf is a printf pattern taking the expert
 * index and the GGUF tensor gains a last dim n_src. */
static bool add(builder *b, ds4_family fam, int layer, const char *gguf, const char *hf, int n_src, int nd, ...) {
    int64_t want[4];
    va_list ap;
    va_start(ap, nd);
    for (int i = 0; i < nd; i++) want[i] = va_arg(ap, int64_t);
    va_end(ap);
    ds4_plan *p = b->p;
    p->t = ds4_xrealloc(p->t, (p->n + 1) * sizeof *p->t);
    ds4_plan_tensor *t = &p->t[p->n];
    memset(t, 0, sizeof *t);
    if (b->mtp) snprintf(t->name, sizeof t->name, "mtp.0.%s", gguf);
    else if (layer >= 0) snprintf(t->name, sizeof t->name, "blk.%d.%s", layer, gguf);
    else snprintf(t->name, sizeof t->name, "%s", gguf);
    t->fam = fam;
    t->layer = layer;
    t->n_src = n_src;
    t->src = ds4_xcalloc((size_t)n_src, sizeof *t->src);
    t->scale = ds4_xcalloc((size_t)n_src, sizeof *t->scale);
    p->n++;
    for (int e = 0; e < n_src; e++) {
        char name[160];
        if (n_src > 1 || strchr(hf, '%')) snprintf(name, sizeof name, hf, e);
        else snprintf(name, sizeof name, "%s", hf);
        if (e == 0) snprintf(t->hf, sizeof t->hf, "%s", name);
        t->src[e] = find_src(b, name, nd, want, fam == DS4_FAM_TID2EID, &t->scale[e]);
        if (!t->src[e]) return false;
        t->src_bytes += t->src[e]->nbytes + (t->scale[e] ? t->scale[e]->nbytes : 0);
    }
    /* GGUF dims: the HF shape reversed, plus the expert axis last. */
    t->n_dims = 0;
    for (int i = nd - 1; i >= 0; i--) t->ne[t->n_dims++] = (uint64_t)want[i];
    if (n_src > 1 || fam == DS4_FAM_EXP_GATE || fam == DS4_FAM_EXP_UP || fam == DS4_FAM_EXP_DOWN)
        t->ne[t->n_dims++] = (uint64_t)n_src;
    t->wanted = b->r->type[fam];
    if (nd == 1 && fam != DS4_FAM_TID2EID) t->wanted = b->r->type[DS4_FAM_VECTOR];
    t->type = fallback_type(t->wanted, t->ne[0]);
    if (t->type != t->wanted && b->log)
        fprintf(b->log, "warning: %s: ne0 = %llu is not a multiple of the %s block (%u): using %s\n", t->name,
                (unsigned long long)t->ne[0], ds4_type_name(t->wanted), ds4_type_block_elems(t->wanted),
                ds4_type_name(t->type));
    uint64_t rows = 1;
    for (uint32_t i = 1; i < t->n_dims; i++) rows *= t->ne[i];
    t->out_bytes = ds4_row_bytes(t->type, t->ne[0]) * rows;
    p->src_bytes += t->src_bytes;
    p->out_bytes += t->out_bytes;
    return true;
}

#define I(x) ((int64_t)(x))

static bool add_layer(builder *b, int L) {
    const ds4_hf_config *c = b->c;
    int64_t D = c->n_embd, HD = c->head_dim, Q = c->q_lora, H = c->n_head, G = c->o_groups;
    int64_t hc_mix = 2 * c->n_hc + c->n_hc * c->n_hc, hcD = c->n_hc * D;
    /* The MTP block is a layer without compressor, indexer or hash routing. */
    int32_t m = b->mtp ? 0 : ds4_hf_ratio(c, L);
    bool hash = !b->mtp && L < c->n_hash_layer;
    char hf[160], pre[32];
    if (b->mtp) snprintf(pre, sizeof pre, "mtp.0.");
    else snprintf(pre, sizeof pre, "layers.%d.", L);
#define HF(suffix) (snprintf(hf, sizeof hf, "%s%s", pre, suffix), hf)
    bool ok = add(b, DS4_FAM_HC_FN, L, "hc_attn_fn.weight", HF("hc_attn_fn"), 1, 2, hc_mix, hcD) &&
              add(b, DS4_FAM_VECTOR, L, "hc_attn_scale.weight", HF("hc_attn_scale"), 1, 1, I(3)) &&
              add(b, DS4_FAM_VECTOR, L, "hc_attn_base.weight", HF("hc_attn_base"), 1, 1, hc_mix) &&
              add(b, DS4_FAM_VECTOR, L, "attn_norm.weight", HF("attn_norm.weight"), 1, 1, D) &&
              add(b, DS4_FAM_ATTN, L, "attn_q_a.weight", HF("attn.wq_a.weight"), 1, 2, Q, D) &&
              add(b, DS4_FAM_VECTOR, L, "attn_q_a_norm.weight", HF("attn.q_norm.weight"), 1, 1, Q) &&
              add(b, DS4_FAM_ATTN, L, "attn_q_b.weight", HF("attn.wq_b.weight"), 1, 2, H * HD, Q) &&
              add(b, DS4_FAM_ATTN, L, "attn_kv.weight", HF("attn.wkv.weight"), 1, 2, c->n_head_kv * HD, D) &&
              add(b, DS4_FAM_VECTOR, L, "attn_kv_a_norm.weight", HF("attn.kv_norm.weight"), 1, 1, HD) &&
              add(b, DS4_FAM_VECTOR, L, "attn_sinks.weight", HF("attn.attn_sink"), 1, 1, H) &&
              add(b, DS4_FAM_ATTN, L, "attn_output_a.weight", HF("attn.wo_a.weight"), 1, 2, G * c->o_lora, H * HD / G) &&
              add(b, DS4_FAM_ATTN, L, "attn_output_b.weight", HF("attn.wo_b.weight"), 1, 2, D, G * c->o_lora);
    if (ok && m != 0) {
        /* CSA (ratio 4) compressors project to 2 x head_dim, HCA to head_dim. */
        int64_t coff = m == 4 ? 2 : 1;
        ok = add(b, DS4_FAM_COMPRESSOR, L, "attn_compressor_ape.weight", HF("attn.compressor.ape"), 1, 2, I(m), coff * HD) &&
             add(b, DS4_FAM_COMPRESSOR, L, "attn_compressor_kv.weight", HF("attn.compressor.wkv.weight"), 1, 2, coff * HD, D) &&
             add(b, DS4_FAM_COMPRESSOR, L, "attn_compressor_gate.weight", HF("attn.compressor.wgate.weight"), 1, 2, coff * HD, D) &&
             add(b, DS4_FAM_VECTOR, L, "attn_compressor_norm.weight", HF("attn.compressor.norm.weight"), 1, 1, HD);
    }
    if (ok && m == 4) {
        int64_t IH = c->idx_heads, ID = c->idx_head_dim;
        ok = add(b, DS4_FAM_INDEXER, L, "indexer.attn_q_b.weight", HF("attn.indexer.wq_b.weight"), 1, 2, IH * ID, Q) &&
             add(b, DS4_FAM_INDEXER, L, "indexer.proj.weight", HF("attn.indexer.weights_proj.weight"), 1, 2, IH, D) &&
             add(b, DS4_FAM_INDEXER, L, "indexer_compressor_ape.weight", HF("attn.indexer.compressor.ape"), 1, 2, I(m), 2 * ID) &&
             add(b, DS4_FAM_INDEXER, L, "indexer_compressor_kv.weight", HF("attn.indexer.compressor.wkv.weight"), 1, 2, 2 * ID, D) &&
             add(b, DS4_FAM_INDEXER, L, "indexer_compressor_gate.weight", HF("attn.indexer.compressor.wgate.weight"), 1, 2, 2 * ID, D) &&
             add(b, DS4_FAM_VECTOR, L, "indexer_compressor_norm.weight", HF("attn.indexer.compressor.norm.weight"), 1, 1, ID);
    }
    ok = ok && add(b, DS4_FAM_HC_FN, L, "hc_ffn_fn.weight", HF("hc_ffn_fn"), 1, 2, hc_mix, hcD) &&
         add(b, DS4_FAM_VECTOR, L, "hc_ffn_scale.weight", HF("hc_ffn_scale"), 1, 1, I(3)) &&
         add(b, DS4_FAM_VECTOR, L, "hc_ffn_base.weight", HF("hc_ffn_base"), 1, 1, hc_mix) &&
         add(b, DS4_FAM_VECTOR, L, "ffn_norm.weight", HF("ffn_norm.weight"), 1, 1, D) &&
         add(b, DS4_FAM_GATE_INP, L, "ffn_gate_inp.weight", HF("ffn.gate.weight"), 1, 2, c->n_expert, D);
    if (ok && !hash)
        ok = add(b, DS4_FAM_VECTOR, L, "exp_probs_b.bias", HF("ffn.gate.bias"), 1, 1, c->n_expert);
    if (ok && hash)
        ok = add(b, DS4_FAM_TID2EID, L, "ffn_gate_tid2eid.weight", HF("ffn.gate.tid2eid"), 1, 2, c->n_vocab, c->n_expert_used);
    int E = (int)c->n_expert;
    int64_t F = c->n_ff_exp;
    char pat[3][64];
    for (int k = 0; k < 3; k++) snprintf(pat[k], sizeof pat[k], "%sffn.experts.%%d.w%d.weight", pre, k == 0 ? 1 : k == 1 ? 3 : 2);
    ok = ok && add(b, DS4_FAM_EXP_GATE, L, "ffn_gate_exps.weight", pat[0], E, 2, F, D) &&
         add(b, DS4_FAM_EXP_UP, L, "ffn_up_exps.weight", pat[1], E, 2, F, D) &&
         add(b, DS4_FAM_EXP_DOWN, L, "ffn_down_exps.weight", pat[2], E, 2, D, F);
    if (ok && c->n_expert_shared > 0) {
        int64_t SF = F * c->n_expert_shared;
        ok = add(b, DS4_FAM_SHEXP, L, "ffn_gate_shexp.weight", HF("ffn.shared_experts.w1.weight"), 1, 2, SF, D) &&
             add(b, DS4_FAM_SHEXP, L, "ffn_up_shexp.weight", HF("ffn.shared_experts.w3.weight"), 1, 2, SF, D) &&
             add(b, DS4_FAM_SHEXP, L, "ffn_down_shexp.weight", HF("ffn.shared_experts.w2.weight"), 1, 2, D, SF);
    }
#undef HF
    return ok;
}

bool ds4_plan_has_mtp(const ds4_st_set *s) { return ds4_st_find(s, "mtp.0.e_proj.weight") != NULL; }

bool ds4_plan_build_mtp(ds4_plan *p, const ds4_hf_config *c, const ds4_st_set *s, const ds4_recipe *r, FILE *log,
                        ds4_error *err) {
    memset(p, 0, sizeof *p);
    builder b = {p, c, s, r, log, err, ds4_xcalloc(ds4_st_count(s) + 1, 1), true};
    int64_t D = c->n_embd;
    /* Formats.md C.8: projections Q8_0 (the attention family's type), the
     * rest as in the blocks. */
    bool ok = add(&b, DS4_FAM_ATTN, 0, "e_proj.weight", "mtp.0.e_proj.weight", 1, 2, D, D) &&
              add(&b, DS4_FAM_ATTN, 0, "h_proj.weight", "mtp.0.h_proj.weight", 1, 2, D, D) &&
              add(&b, DS4_FAM_VECTOR, 0, "enorm.weight", "mtp.0.enorm.weight", 1, 1, D) &&
              add(&b, DS4_FAM_VECTOR, 0, "hnorm.weight", "mtp.0.hnorm.weight", 1, 1, D) &&
              add(&b, DS4_FAM_VECTOR, 0, "norm.weight", "mtp.0.norm.weight", 1, 1, D) &&
              add(&b, DS4_FAM_VECTOR, 0, "hc_head_base.weight", "mtp.0.hc_head_base", 1, 1, c->n_hc) &&
              add(&b, DS4_FAM_HC_FN, 0, "hc_head_fn.weight", "mtp.0.hc_head_fn", 1, 2, c->n_hc, c->n_hc * D) &&
              add(&b, DS4_FAM_VECTOR, 0, "hc_head_scale.weight", "mtp.0.hc_head_scale", 1, 1, I(1)) &&
              add_layer(&b, 0);
    free(b.used);
    if (!ok) ds4_plan_free(p);
    return ok;
}

bool ds4_plan_build(ds4_plan *p, const ds4_hf_config *c, const ds4_st_set *s, const ds4_recipe *r, FILE *log,
                    ds4_error *err) {
    memset(p, 0, sizeof *p);
    builder b = {p, c, s, r, log, err, ds4_xcalloc(ds4_st_count(s) + 1, 1), false};
    int64_t D = c->n_embd, V = c->n_vocab;
    bool ok = add(&b, DS4_FAM_TOKEN_EMBD, -1, "token_embd.weight", "embed.weight", 1, 2, V, D) &&
              add(&b, DS4_FAM_VECTOR, -1, "output_norm.weight", "norm.weight", 1, 1, D) &&
              add(&b, DS4_FAM_OUTPUT, -1, "output.weight", "head.weight", 1, 2, V, D) &&
              add(&b, DS4_FAM_VECTOR, -1, "output_hc_base.weight", "hc_head_base", 1, 1, c->n_hc) &&
              add(&b, DS4_FAM_HC_FN, -1, "output_hc_fn.weight", "hc_head_fn", 1, 2, c->n_hc, c->n_hc * D) &&
              add(&b, DS4_FAM_VECTOR, -1, "output_hc_scale.weight", "hc_head_scale", 1, 1, I(1));
    for (int L = 0; ok && L < c->n_layer; L++) ok = add_layer(&b, L);
    if (ok) {
        /* MTP tensors are not part of the main GGUF (ds4 loads MTP from a
         * separate file, C.8); anything else unclaimed is reported. */
        const char *first_unused = NULL;
        for (size_t i = 0; i < ds4_st_count(s); i++) {
            if (b.used[i]) continue;
            const char *n = ds4_st_at(s, i)->name;
            if (!strncmp(n, "mtp.", 4)) p->n_mtp_skipped++;
            else {
                p->n_unused++;
                if (!first_unused) first_unused = n;
            }
        }
        if (log && p->n_mtp_skipped)
            fprintf(log, "note: %zu mtp.* tensors are not part of the main DS4 GGUF (use --mtp-out FILE to write the "
                         "separate MTP GGUF)\n", p->n_mtp_skipped);
        if (log && p->n_unused)
            fprintf(log, "warning: %zu checkpoint tensors are not used by the DS4 layout (first: %s)\n", p->n_unused,
                    first_unused);
    }
    free(b.used);
    if (!ok) ds4_plan_free(p);
    return ok;
}

void ds4_plan_free(ds4_plan *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->t[i].src);
        free(p->t[i].scale);
    }
    free(p->t);
    memset(p, 0, sizeof *p);
}

void ds4_plan_print(const ds4_plan *p, FILE *out) {
    fprintf(out, "%-40s %-9s %-8s %-22s %14s\n", "tensor", "source", "type", "dims", "bytes");
    for (size_t i = 0; i < p->n; i++) {
        const ds4_plan_tensor *t = &p->t[i];
        char dims[64];
        size_t o = 0;
        for (uint32_t d = 0; d < t->n_dims; d++)
            o += (size_t)snprintf(dims + o, sizeof dims - o, "%s%llu", d ? "," : "", (unsigned long long)t->ne[d]);
        /* I8 with a block scale is packed FP4 (D.4). */
        const char *src = t->src[0]->dtype == DS4_ST_I8 && t->scale[0] ? "I8(FP4)" : ds4_st_dtype_name(t->src[0]->dtype);
        fprintf(out, "%-40s %-9s %-8s %-22s %14llu%s\n", t->name, src, ds4_type_name(t->type), dims,
                (unsigned long long)t->out_bytes, t->type != t->wanted ? "  (fallback)" : "");
    }
    fprintf(out, "total: %zu tensors, %llu bytes of tensor data (checkpoint: %llu bytes read)\n", p->n,
            (unsigned long long)p->out_bytes, (unsigned long long)p->src_bytes);
}
