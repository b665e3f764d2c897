/* DeepSeek V4 model configuration, read from GGUF metadata (formats.md C.2)
 * and validated before any compute.
 *
 * Any V4 shape is accepted (Flash, the tiny and demo oracles, ...) as long as
 * it is self-consistent: every required key present with a sane value, the
 * derived dims agree, each layer's compress ratio is 0, the CSA ratio (4) or
 * the one HCA ratio, and hash layers < layers. The expected tensor table
 * follows from the config (model/tensors.h). */
#ifndef DS4_MODEL_CONFIG_H
#define DS4_MODEL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "gguf/gguf.h"

#define DS4_ARCH "deepseek4"
#define DS4_CSA_RATIO 4      /* the ratio that means "overlapping windows + indexer" */
#define DS4_MAX_LAYERS 1024  /* sanity bound for metadata-driven allocations */

typedef enum ds4_attn_kind {
    DS4_ATTN_SLIDING = 0, /* ratio 0: sliding window only */
    DS4_ATTN_CSA = 1,     /* ratio 4: overlapping compressor + lightning indexer */
    DS4_ATTN_HCA = 2,     /* other ratio: non-overlapping compressor, all entries */
} ds4_attn_kind;

typedef struct ds4_config {
    int n_layer;         /* L */
    int n_embd;          /* D */
    int n_vocab;         /* V */
    int n_head;          /* H */
    int n_head_kv;       /* 1 */
    int head_dim;        /* HD (key_length == value_length) */
    int n_rot;           /* R: rope dims at the tail of each head */
    int q_lora;          /* Q */
    int o_lora;          /* OL */
    int n_out_group;     /* G */
    int n_expert;        /* E */
    int n_expert_used;   /* K */
    int n_ff_exp;        /* F */
    int n_expert_shared; /* shared experts (their width is F * n_expert_shared) */
    int n_hash_layer;    /* NH: layers < NH route by tid2eid */
    int n_swa;           /* W: sliding window, including the current token */
    int idx_head;        /* IH */
    int idx_dim;         /* ID */
    int idx_topk;        /* KI */
    int n_hc;            /* N: hyper-connection streams */
    int sinkhorn_iters;  /* T_sk */
    int hca_ratio;       /* the HCA ratio used by this model (0 if no HCA layer) */
    float hc_eps;
    float rms_eps;
    float expert_weights_scale; /* rho */
    float rope_base;            /* theta_m */
    float rope_scale;           /* YaRN factor f */
    float yarn_beta_fast;
    float yarn_beta_slow;
    float compress_rope_base;   /* theta_c */
    uint64_t rope_orig_ctx;     /* YaRN L0 */
    uint64_t context_length;    /* display only (0 if absent) */
    int compress_ratio[DS4_MAX_LAYERS]; /* m_l */
    float swiglu_clamp[DS4_MAX_LAYERS]; /* lambda_l */
} ds4_config;

/* Reads and validates the config; err names the offending key. */
bool ds4_config_from_gguf(const gguf_file *f, ds4_config *c, ds4_error *err);

/* Checks the internal consistency of a config and sets hca_ratio (also used
 * by the writer side). */
bool ds4_config_validate(ds4_config *c, ds4_error *err);

static inline ds4_attn_kind ds4_layer_attn(const ds4_config *c, int l) {
    int m = c->compress_ratio[l];
    return m == 0 ? DS4_ATTN_SLIDING : m == DS4_CSA_RATIO ? DS4_ATTN_CSA : DS4_ATTN_HCA;
}
/* Compressor width multiplier: 2 for CSA (overlapping windows), 1 for HCA. */
static inline int ds4_layer_coff(const ds4_config *c, int l) {
    return ds4_layer_attn(c, l) == DS4_ATTN_CSA ? 2 : 1;
}

/* The published DeepSeek V4 Flash shape (formats.md C.1). */
void ds4_config_flash(ds4_config *c);

/* Writes the metadata keys ds4_config_from_gguf reads (deepseek4.*), in the
 * types the published files use. Used by tests and the synthetic-model tool. */
void ds4_config_write_metadata(const ds4_config *c, gguf_writer *w);

#endif
