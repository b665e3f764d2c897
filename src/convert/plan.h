/* The conversion plan: which GGUF tensors a DS4 file holds (formats.md C.6),
 * where each comes from in the checkpoint (D.6), its GGUF dims and target
 * type (recipes, D.7). Building the plan validates the whole checkpoint
 * against config.json before a byte is written: missing tensors, wrong
 * shapes, dtypes and scales are reported here. */
#ifndef DS4_CONVERT_PLAN_H
#define DS4_CONVERT_PLAN_H

#include <stdio.h>

#include "convert/hfconfig.h"
#include "convert/safetensors.h"

/* Tensor families: the unit the recipes and overrides assign types to. */
typedef enum ds4_family {
    DS4_FAM_TOKEN_EMBD,
    DS4_FAM_OUTPUT,
    DS4_FAM_VECTOR,     /* 1-D: norms, sinks, biases, HC base/scale */
    DS4_FAM_HC_FN,
    DS4_FAM_ATTN,       /* q_a, q_b, kv, output_a, output_b */
    DS4_FAM_COMPRESSOR, /* attention compressor kv/gate/ape */
    DS4_FAM_INDEXER,    /* indexer q_b, proj, indexer compressor kv/gate/ape */
    DS4_FAM_GATE_INP,
    DS4_FAM_TID2EID,
    DS4_FAM_SHEXP,
    DS4_FAM_EXP_GATE,
    DS4_FAM_EXP_UP,
    DS4_FAM_EXP_DOWN,
    DS4_FAM_COUNT
} ds4_family;

const char *ds4_family_name(ds4_family f);

typedef struct ds4_recipe {
    char name[32];
    uint32_t type[DS4_FAM_COUNT];
    uint32_t ftype; /* general.file_type */
} ds4_recipe;

/* f32 bf16 f16 q8 q2-asym q4-asym. */
bool ds4_recipe_init(ds4_recipe *r, const char *name, ds4_error *err);
/* Checks that type can be a conversion target (has a quantizer). */
bool ds4_recipe_type_ok(uint32_t type);

typedef struct ds4_plan_tensor {
    char name[64];          /* GGUF name */
    char hf[160];           /* HF name; for routed experts the expert-0 name */
    ds4_family fam;
    int layer;              /* -1 for global tensors */
    uint32_t type;          /* final type (after any fallback) */
    uint32_t wanted;        /* the recipe's type */
    uint32_t n_dims;
    uint64_t ne[3];         /* GGUF order */
    int n_src;              /* 1, or n_expert for routed experts */
    const ds4_st_tensor **src;
    const ds4_st_tensor **scale; /* entries may be NULL */
    uint64_t src_bytes;     /* checkpoint bytes read */
    uint64_t out_bytes;     /* GGUF data bytes */
} ds4_plan_tensor;

typedef struct ds4_plan {
    ds4_plan_tensor *t;
    size_t n;
    uint64_t src_bytes, out_bytes;
    size_t n_mtp_skipped;
    size_t n_unused;
} ds4_plan;

/* log receives the fallback warnings and notes (may be NULL). */
bool ds4_plan_build(ds4_plan *p, const ds4_hf_config *c, const ds4_st_set *s, const ds4_recipe *r, FILE *log,
                    ds4_error *err);
/* The separate MTP GGUF (formats.md C.8): the 32 mtp.0.* tensors, from the
 * checkpoint's mtp.0.* tensors (D.6 mapping). */
bool ds4_plan_build_mtp(ds4_plan *p, const ds4_hf_config *c, const ds4_st_set *s, const ds4_recipe *r, FILE *log,
                        ds4_error *err);
bool ds4_plan_has_mtp(const ds4_st_set *s);
void ds4_plan_free(ds4_plan *p);

/* Prints the planned tensor table and the total. */
void ds4_plan_print(const ds4_plan *p, FILE *out);

#endif
