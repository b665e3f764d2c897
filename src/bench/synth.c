/* Synthetic DeepSeek V4 GGUFs for benchmarking (`ds4 synth`).
 *
 * The file has the real shape (Flash dims, or a tiny shape for tests), the
 * tensor table the engine validates (model/tensors.h, the same description
 * the validator uses), the recipe's types, and random weights of realistic
 * scale: matrix rows are drawn N(0, 1/sqrt(fan_in)) and quantized with the
 * real quantizers. Quantizing gigabytes of IQ2_XXS would take hours, so a
 * pool of distinct quantized rows is made per (type, row length) and rows
 * are drawn from it at random: every byte the engine streams is a valid,
 * realistically scaled block, which is all a bandwidth benchmark needs.
 *
 * Layers: `--layers L` gives the last L layers of the Flash layout (their
 * compress ratios: the last two are one HCA and one CSA layer), so a short
 * model still has every kind of compressed attention; hash routing belongs
 * to the first layers only and is therefore absent unless L > 40. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "base/progress.h"
#include "bench/bench.h"
#include "model/config.h"
#include "model/tensors.h"
#include "quant/quant.h"

#define POOL_ROWS 48
#define MAX_POOLS 32

static uint64_t rng_state;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double unif(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }
static float gauss(void) {
    double u = unif(), v = unif();
    if (u < 1e-300) u = 1e-300;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* A tiny but complete V4 shape (every tensor kind, blocks of 256 fit, and
 * rows of 512 values: the length Q8_0's load-time layout regroups). */
static void config_tiny(ds4_config *c) {
    ds4_config_flash(c);
    c->n_embd = 512; c->n_vocab = 1024; c->n_head = 4; c->head_dim = 64; c->n_rot = 16;
    c->q_lora = 64; c->o_lora = 64; c->n_out_group = 2; c->n_expert = 8; c->n_expert_used = 2;
    c->n_ff_exp = 256; c->idx_head = 4; c->idx_dim = 32; c->idx_topk = 8; c->n_swa = 16;
    c->hca_ratio = 8; c->rope_orig_ctx = 4096; c->context_length = 65536;
}

bool ds4_synth_config(const char *shape, int layers, ds4_config *c, ds4_error *err) {
    ds4_config full;
    if (!strcmp(shape, "flash")) ds4_config_flash(&full);
    else if (!strcmp(shape, "tiny")) config_tiny(&full);
    else return ds4_fail(err, "--shape %s: expected flash or tiny", shape);
    const int total = 43; /* the Flash layer pattern */
    if (layers < 1 || layers > total) return ds4_fail(err, "--layers %d: expected 1..%d", layers, total);
    ds4_config flash;
    ds4_config_flash(&flash);
    *c = full;
    c->n_layer = layers;
    const int first = total - layers;
    for (int l = 0; l < layers; l++) {
        int m = flash.compress_ratio[first + l];
        c->compress_ratio[l] = m > DS4_CSA_RATIO ? full.hca_ratio : m;
        c->swiglu_clamp[l] = flash.swiglu_clamp[first + l];
    }
    c->n_hash_layer = flash.n_hash_layer > first ? flash.n_hash_layer - first : 0;
    if (c->n_hash_layer >= layers) c->n_hash_layer = layers - 1;
    return ds4_config_validate(c, err);
}

/* Element type of a tensor under a recipe. */
static uint32_t recipe_type(const char *recipe, const ds4_tensor_spec *s) {
    if (!strcmp(recipe, "q4") && s->cls == DS4_TC_EXPERTS) return DS4_TYPE_Q4_K;
    return s->flash_type;
}

bool ds4_synth_recipe_known(const char *recipe) { return !strcmp(recipe, "q2-asym") || !strcmp(recipe, "q4"); }

/* A pool of POOL_ROWS quantized rows for one (type, row length). */
typedef struct { uint32_t type; uint64_t ne0; size_t row_bytes; uint8_t *rows; } row_pool;

static const row_pool *get_pool(row_pool *pools, int *n_pools, uint32_t type, uint64_t ne0, ds4_error *err) {
    for (int i = 0; i < *n_pools; i++)
        if (pools[i].type == type && pools[i].ne0 == ne0) return &pools[i];
    if (*n_pools == MAX_POOLS) {
        ds4_fail(err, "more than %d distinct (type, row length) pairs", MAX_POOLS);
        return NULL;
    }
    row_pool *p = &pools[(*n_pools)++];
    p->type = type;
    p->ne0 = ne0;
    p->row_bytes = (size_t)ds4_row_bytes(type, ne0);
    p->rows = malloc(p->row_bytes * POOL_ROWS);
    float *src = malloc(sizeof(float) * ne0), *imp = malloc(sizeof(float) * ne0);
    if (!p->rows || !src || !imp) {
        free(src);
        free(imp);
        ds4_fail(err, "out of memory for the %s row pool", ds4_type_name(type));
        return NULL;
    }
    const float sd = 1.0f / sqrtf((float)ne0);
    for (uint64_t i = 0; i < ne0; i++) imp[i] = 0.5f + (float)unif();
    for (int r = 0; r < POOL_ROWS; r++) {
        for (uint64_t i = 0; i < ne0; i++) src[i] = gauss() * sd;
        ds4_quantize_row(type, src, p->rows + (size_t)r * p->row_bytes, (int64_t)ne0, imp);
    }
    free(src);
    free(imp);
    return p;
}

/* Values of a small float table: norms 1, everything else small noise. */
static float vec_value(const ds4_tensor_spec *s) {
    switch (s->role) {
    case DS4_T_OUTPUT_NORM: case DS4_T_ATTN_NORM: case DS4_T_Q_A_NORM: case DS4_T_KV_NORM: case DS4_T_FFN_NORM:
    case DS4_T_COMP_NORM: case DS4_T_IDXC_NORM:
        return 1.0f;
    case DS4_T_EXP_BIAS: return 0.0f;
    default: return 0.02f * gauss();
    }
}

static bool write_tensor(gguf_writer *w, const ds4_tensor_spec *s, uint32_t type, const ds4_config *c, row_pool *pools,
                         int *n_pools, uint8_t *buf, size_t buf_bytes, ds4_progress *prog, ds4_error *err) {
    const uint64_t ne0 = s->ne[0], rows = s->ne[1] * (s->n_dims > 2 ? s->ne[2] : 1);
    if (s->cls == DS4_TC_I32) {
        /* tid2eid: K distinct experts per token. */
        const int K = c->n_expert_used, E = c->n_expert;
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)K);
        for (uint64_t t = 0; t < rows; t++) {
            for (int k = 0; k < K; k++) {
                int e, dup;
                do {
                    e = (int)(rnd() % (uint64_t)E);
                    dup = 0;
                    for (int j = 0; j < k; j++) dup |= ids[j] == e;
                } while (dup);
                ids[k] = e;
            }
            if (!gguf_writer_write(w, ids, sizeof(int32_t) * (size_t)K, err)) {
                free(ids);
                return false;
            }
        }
        free(ids);
        ds4_progress_add(prog, rows * (uint64_t)K * 4);
        return true;
    }
    if (s->cls == DS4_TC_VEC) {
        const uint64_t n = ne0 * rows;
        for (uint64_t i = 0; i < n; i++) {
            float v = vec_value(s);
            if (type == DS4_TYPE_F32) {
                if (!gguf_writer_write(w, &v, 4, err)) return false;
            } else {
                uint16_t h = type == DS4_TYPE_F16 ? ds4_f32_to_f16(v) : ds4_f32_to_bf16(v);
                if (!gguf_writer_write(w, &h, 2, err)) return false;
            }
        }
        ds4_progress_add(prog, n * ds4_type_block_bytes(type));
        return true;
    }
    const row_pool *p = get_pool(pools, n_pools, type, ne0, err);
    if (!p) return false;
    const size_t per_buf = buf_bytes / p->row_bytes;
    for (uint64_t r = 0; r < rows;) {
        size_t k = 0;
        for (; k < per_buf && r < rows; k++, r++)
            memcpy(buf + k * p->row_bytes, p->rows + (size_t)(rnd() % POOL_ROWS) * p->row_bytes, p->row_bytes);
        if (!gguf_writer_write(w, buf, k * p->row_bytes, err)) return false;
        ds4_progress_add(prog, k * p->row_bytes);
    }
    return true;
}

bool ds4_synth(const ds4_synth_opts *o, ds4_error *err) {
    ds4_config c;
    if (!ds4_synth_recipe_known(o->recipe)) return ds4_fail(err, "--recipe %s: expected q2-asym or q4", o->recipe);
    if (!ds4_synth_config(o->shape, o->layers, &c, err)) return false;
    rng_state = o->seed ? o->seed : 0x853C49E6748FEA9Bull;
    const int n = ds4_tensor_specs(&c, NULL);
    ds4_tensor_spec *specs = ds4_xmalloc(sizeof *specs * (size_t)n);
    ds4_tensor_specs(&c, specs);
    gguf_writer *w = gguf_writer_open(o->out, 32, err);
    if (!w) {
        free(specs);
        return false;
    }
    ds4_config_write_metadata(&c, w);
    gguf_writer_set_str(w, "general.name", "ds4 synthetic benchmark model");
    gguf_writer_set_str(w, "ds4.synth.recipe", o->recipe);
    gguf_writer_set_str(w, "ds4.synth.shape", o->shape);
    uint64_t total = 0;
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        const uint32_t t = recipe_type(o->recipe, &specs[i]);
        ok = gguf_writer_add_tensor(w, specs[i].name, specs[i].n_dims, specs[i].ne, t, err);
        total += ds4_row_bytes(t, specs[i].ne[0]) * specs[i].ne[1] * (specs[i].n_dims > 2 ? specs[i].ne[2] : 1);
    }
    const size_t buf_bytes = 8u << 20;
    uint8_t *buf = malloc(buf_bytes);
    row_pool pools[MAX_POOLS];
    int n_pools = 0;
    ds4_progress prog;
    ds4_progress_begin(&prog, "synth", total, true);
    for (int i = 0; i < n && ok; i++)
        ok = write_tensor(w, &specs[i], recipe_type(o->recipe, &specs[i]), &c, pools, &n_pools, buf, buf_bytes, &prog, err);
    ds4_progress_end(&prog);
    if (ok) ok = gguf_writer_finish(w, err);
    else gguf_writer_abort(w);
    for (int i = 0; i < n_pools; i++) free(pools[i].rows);
    free(buf);
    free(specs);
    return ok;
}
