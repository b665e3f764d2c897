/* config.json of an official DeepSeek V4 checkpoint -> model shape and the
 * deepseek4.* GGUF metadata (formats.md C.2, C.3, D.8). Nothing here assumes
 * Flash numbers: every shape comes from the file. */
#ifndef DS4_CONVERT_HFCONFIG_H
#define DS4_CONVERT_HFCONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "gguf/gguf.h"

typedef struct ds4_hf_config {
    int64_t n_layer, n_embd, n_vocab, n_ctx;
    int64_t n_head, n_head_kv, head_dim, n_rot;
    int64_t q_lora, o_lora, o_groups;
    int64_t n_expert, n_expert_used, n_ff_exp, n_expert_shared, n_hash_layer;
    int64_t n_swa, idx_heads, idx_head_dim, idx_topk;
    int64_t n_hc, hc_sinkhorn_iters;
    double hc_eps, swiglu_limit, rms_eps, rope_theta, compress_rope_theta, expert_weights_scale;
    bool norm_topk_prob;
    char rope_scaling_type[32];
    double rope_factor, yarn_beta_fast, yarn_beta_slow;
    int64_t rope_orig_ctx;
    uint32_t gating_func;        /* llama.cpp enum: 1 softmax, 2 sigmoid, 4 sqrt(softplus) */
    int64_t n_nextn;
    int64_t bos_id, eos_id;      /* -1 when absent */
    int32_t *compress_ratios;    /* n_compress_ratios entries, copied verbatim */
    int64_t n_compress_ratios;
} ds4_hf_config;

/* Reads and validates path (every required key present with the right JSON
 * type and a sane value); the error names the key. */
bool ds4_hf_config_load(const char *path, ds4_hf_config *c, ds4_error *err);
void ds4_hf_config_free(ds4_hf_config *c);
/* For --vocab-only: just vocab_size (0 when absent) and bos/eos (-1). */
bool ds4_hf_config_load_vocab(const char *path, int64_t *vocab, int64_t *bos, int64_t *eos, ds4_error *err);

/* Compressor ratio of layer il (0 = sliding only, 4 = CSA with indexer,
 * other = HCA). */
static inline int32_t ds4_hf_ratio(const ds4_hf_config *c, int64_t il) { return c->compress_ratios[il]; }

/* Writes every deepseek4.* key (general.* is the caller's). */
void ds4_hf_config_write_metadata(const ds4_hf_config *c, gguf_writer *w);

#endif
