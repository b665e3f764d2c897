/* Random "micro" DeepSeek V4 models for tests: any shape, written as an
 * F32 GGUF from the same tensor table the validator uses (model/tensors.h),
 * with weights of a realistic scale (matrices ~ U(-1,1)·sqrt(3/fan_in)). */
#ifndef DS4_TEST_MICRO_MODEL_H
#define DS4_TEST_MICRO_MODEL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/types.h"
#include "model/config.h"
#include "model/tensors.h"

/* A small shape with every feature: sliding, CSA (indexer top-k well below
 * the visible entries) and HCA layers, a hash layer, a tiny window. */
static inline void micro_config(ds4_config *c, int variant) {
    memset(c, 0, sizeof *c);
    c->n_layer = 4;
    c->n_embd = 64;
    c->n_vocab = 50;
    c->n_head = 4;
    c->n_head_kv = 1;
    c->head_dim = 32;
    c->n_rot = 8;
    c->q_lora = 32;
    c->o_lora = 16;
    c->n_out_group = 2;
    c->n_expert = 6;
    c->n_expert_used = 2;
    c->n_ff_exp = 32;
    c->n_expert_shared = 1;
    c->n_hash_layer = 1;
    c->n_swa = 8;
    c->idx_head = 4;
    c->idx_dim = 16;
    c->idx_topk = 3;
    c->n_hc = 4;
    c->sinkhorn_iters = 20;
    c->hc_eps = 1e-6f;
    c->rms_eps = 1e-6f;
    c->expert_weights_scale = 1.5f;
    c->rope_base = 10000.0f;
    c->rope_scale = 16.0f;
    c->yarn_beta_fast = 32.0f;
    c->yarn_beta_slow = 1.0f;
    c->compress_rope_base = 160000.0f;
    c->rope_orig_ctx = 65536;
    c->context_length = 4096;
    const int ratios[4] = {0, 4, 8, 4};
    for (int l = 0; l < 4; l++) {
        c->compress_ratio[l] = ratios[l];
        c->swiglu_clamp[l] = variant == 1 ? 0.5f : 10.0f; /* variant 1: the clamp bites */
    }
    if (variant == 2) { /* many output groups (one head each): decode's batched path does not apply */
        c->n_head = 32;
        c->n_out_group = 32;
        c->o_lora = 4;
    }
    if (variant == 1) {
        c->n_hc = 2;
        c->n_expert_shared = 2;
        c->n_head = 8;
        c->n_out_group = 4;
        c->n_swa = 5;
        c->n_hash_layer = 2;
        c->compress_ratio[3] = 0;
        c->compress_ratio[2] = 4;
        c->compress_ratio[1] = 16;
    }
}

static inline float micro_rand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / 8388608.0f - 1.0f; /* U(-1, 1) */
}

/* Writes the model; returns false (with err) only on I/O trouble. */
static inline bool micro_write(const char *path, ds4_config *c, uint64_t seed, ds4_error *err) {
    if (!ds4_config_validate(c, err)) return false;
    gguf_writer *w = gguf_writer_open(path, 32, err);
    if (!w) return false;
    ds4_config_write_metadata(c, w);
    const int n = ds4_tensor_specs(c, NULL);
    ds4_tensor_spec *sp = malloc(sizeof *sp * (size_t)n);
    ds4_tensor_specs(c, sp);
    for (int i = 0; i < n; i++) {
        const uint32_t ty = sp[i].cls == DS4_TC_I32 ? DS4_TYPE_I32 : DS4_TYPE_F32;
        if (!gguf_writer_add_tensor(w, sp[i].name, sp[i].n_dims, sp[i].ne, ty, err)) {
            gguf_writer_abort(w);
            free(sp);
            return false;
        }
    }
    uint64_t s = seed;
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        const ds4_tensor_spec *t = &sp[i];
        const size_t cnt = (size_t)(t->ne[0] * t->ne[1] * t->ne[2]);
        void *buf = malloc(cnt * 4);
        if (t->cls == DS4_TC_I32) {
            int32_t *v = buf;
            const int K = (int)t->ne[0];
            for (size_t r = 0; r < cnt / (size_t)K; r++) /* K distinct experts per token */
                for (int k = 0; k < K; k++) {
                    int e;
                    bool dup;
                    do {
                        e = (int)((micro_rand(&s) + 1.0f) * 0.5f * (float)c->n_expert) % c->n_expert;
                        dup = false;
                        for (int q = 0; q < k; q++) dup |= v[r * (size_t)K + (size_t)q] == e;
                    } while (dup);
                    v[r * (size_t)K + (size_t)k] = e;
                }
        } else {
            float *v = buf;
            float scale = sqrtf(3.0f / (float)t->ne[0]), offset = 0.0f;
            switch (t->role) {
            case DS4_T_ATTN_NORM: case DS4_T_FFN_NORM: case DS4_T_Q_A_NORM: case DS4_T_KV_NORM:
            case DS4_T_COMP_NORM: case DS4_T_IDXC_NORM: case DS4_T_OUTPUT_NORM:
                scale = 0.2f, offset = 1.0f; break;
            case DS4_T_HC_ATTN_SCALE: case DS4_T_HC_FFN_SCALE: case DS4_T_OUT_HC_SCALE:
            case DS4_T_HC_ATTN_BASE: case DS4_T_HC_FFN_BASE: case DS4_T_OUT_HC_BASE:
            case DS4_T_SINKS: case DS4_T_COMP_APE: case DS4_T_IDXC_APE: case DS4_T_EXP_BIAS:
                scale = 0.5f; break;
            case DS4_T_TOKEN_EMBD: scale = 1.0f; break;
            case DS4_T_GATE_EXPS: case DS4_T_UP_EXPS: case DS4_T_GATE_SHEXP: case DS4_T_UP_SHEXP:
                if (c->swiglu_clamp[t->layer >= 0 ? t->layer : 0] < 1.0f) scale *= 4.0f;
                break;
            default: break;
            }
            for (size_t k = 0; k < cnt; k++) v[k] = offset + scale * micro_rand(&s);
        }
        ok = gguf_writer_write(w, buf, cnt * 4, err);
        free(buf);
    }
    free(sp);
    if (!ok) {
        gguf_writer_abort(w);
        return false;
    }
    return gguf_writer_finish(w, err);
}

#endif
