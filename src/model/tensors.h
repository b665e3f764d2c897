/* The tensor table a DeepSeek V4 GGUF must hold for a given config
 * (formats.md C.6, generalised to any shape): names, GGUF dims, which
 * element types are acceptable, and the type the published 2-bit Flash file
 * uses. The validator, the weight binder, the published-layout test and the
 * synthetic-model tool all work from this one description. */
#ifndef DS4_MODEL_TENSORS_H
#define DS4_MODEL_TENSORS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "gguf/gguf.h"
#include "model/config.h"

typedef enum ds4_tclass {
    DS4_TC_VEC,     /* small float table (norms, biases, sinks, HC base/scale, ape): F32/F16/BF16, copied to f32 at load */
    DS4_TC_MAT,     /* matrix applied through the quant kernels: any type with kernels */
    DS4_TC_EXPERTS, /* 3-D routed experts [in, out, E]: any type with kernels */
    DS4_TC_I32,     /* integer table (tid2eid) */
} ds4_tclass;

/* What a tensor is for; the binder switches on it. */
typedef enum ds4_trole {
    DS4_T_TOKEN_EMBD, DS4_T_OUTPUT_NORM, DS4_T_OUTPUT, DS4_T_OUT_HC_BASE, DS4_T_OUT_HC_FN, DS4_T_OUT_HC_SCALE,
    DS4_T_HC_ATTN_FN, DS4_T_HC_ATTN_SCALE, DS4_T_HC_ATTN_BASE, DS4_T_ATTN_NORM,
    DS4_T_Q_A, DS4_T_Q_A_NORM, DS4_T_Q_B, DS4_T_KV, DS4_T_KV_NORM, DS4_T_SINKS, DS4_T_OUT_A, DS4_T_OUT_B,
    DS4_T_COMP_APE, DS4_T_COMP_KV, DS4_T_COMP_GATE, DS4_T_COMP_NORM,
    DS4_T_IDX_Q_B, DS4_T_IDX_PROJ, DS4_T_IDXC_APE, DS4_T_IDXC_KV, DS4_T_IDXC_GATE, DS4_T_IDXC_NORM,
    DS4_T_HC_FFN_FN, DS4_T_HC_FFN_SCALE, DS4_T_HC_FFN_BASE, DS4_T_FFN_NORM,
    DS4_T_GATE_INP, DS4_T_EXP_BIAS, DS4_T_TID2EID,
    DS4_T_GATE_EXPS, DS4_T_UP_EXPS, DS4_T_DOWN_EXPS,
    DS4_T_GATE_SHEXP, DS4_T_UP_SHEXP, DS4_T_DOWN_SHEXP,
} ds4_trole;

typedef struct ds4_tensor_spec {
    char name[64];
    int layer;            /* -1 for global tensors */
    ds4_trole role;
    ds4_tclass cls;
    uint32_t n_dims;
    uint64_t ne[3];       /* GGUF order (ne[0] innermost) */
    uint32_t flash_type;  /* type in the published 2-bit Flash file (formats.md C.6) */
} ds4_tensor_spec;

/* Number of tensors the config requires; fills out[0..n) when out != NULL. */
int ds4_tensor_specs(const ds4_config *c, ds4_tensor_spec *out);

/* Checks one tensor against its spec (dims exactly, type acceptable for its
 * class, rows a whole number of blocks); err names the tensor. */
bool ds4_tensor_check(const ds4_tensor_spec *s, const gguf_tensor *t, ds4_error *err);

/* Validates the whole file against the config: every required tensor
 * present and well-formed, gate/up expert types equal per layer. */
bool ds4_tensors_validate(const ds4_config *c, const gguf_file *f, ds4_error *err);

#endif
