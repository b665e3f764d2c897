/* The published DeepSeek V4 Flash layout (formats.md C.1-C.6): a GGUF with
 * the real metadata and the full 1328-tensor table whose 81 GB data section
 * is a sparse file (ftruncate) must be accepted by the validator and the
 * loader; mutated variants are rejected with a message naming the problem. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "gguf/types.h"
#include "model/config.h"
#include "model/tensors.h"

typedef struct {
    const char *skip_key;       /* metadata key left out */
    const char *skip_tensor;    /* tensor left out */
    const char *dim_tensor;     /* tensor whose ne[1] is halved */
    const char *type_tensor;    /* tensor stored with new_type */
    uint32_t new_type;
    int ratio_layer;            /* layer whose compress ratio becomes new_ratio (-1: none) */
    int new_ratio;
} mutation;

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put64(bytes *b, uint64_t v) { put(b, &v, 8); }

static void tmp_path(char *buf, size_t n, const char *tag) {
    const char *d = getenv("DS4_BUILD");
    snprintf(buf, n, "%s/test-flash-%s-%d.gguf", d && *d ? d : "build", tag, (int)getpid());
}

/* Writes the metadata with the gguf writer, then re-emits its records
 * (minus skip_key) with our own tensor table and a sparse data section. */
static void write_flash(const char *path, const mutation *mu) {
    ds4_config c;
    ds4_config_flash(&c);
    ds4_config meta = c;
    if (mu->ratio_layer >= 0) meta.compress_ratio[mu->ratio_layer] = mu->new_ratio;

    char mpath[600];
    snprintf(mpath, sizeof mpath, "%s.meta", path);
    ds4_error err;
    gguf_writer *w = gguf_writer_open(mpath, 32, &err);
    cr_assert_not_null(w, "%s", err.msg);
    ds4_config_write_metadata(&meta, w);
    gguf_writer_set_str(w, "general.name", "DeepSeek V4 Flash (layout test)");
    cr_assert(gguf_writer_finish(w, &err), "%s", err.msg);
    gguf_file *mf = gguf_open(mpath, &err);
    cr_assert_not_null(mf, "%s", err.msg);

    bytes kv = {0};
    int64_t n_kv = 0;
    for (int64_t i = 0; i < gguf_n_kv(mf); i++) {
        const gguf_str k = gguf_kv_key(mf, i);
        if (mu->skip_key && strlen(mu->skip_key) == k.len && !memcmp(k.ptr, mu->skip_key, k.len)) continue;
        const gguf_val v = gguf_kv_val(mf, i);
        const uint8_t *start = (const uint8_t *)k.ptr - 8;
        put(&kv, start, (size_t)(v.ptr + v.nbytes - start));
        n_kv++;
    }
    gguf_close(mf);
    unlink(mpath);

    const int n = ds4_tensor_specs(&c, NULL);
    ds4_tensor_spec *specs = malloc(sizeof *specs * (size_t)n);
    ds4_tensor_specs(&c, specs);
    bytes ti = {0};
    uint64_t off = 0, n_t = 0;
    for (int i = 0; i < n; i++) {
        ds4_tensor_spec s = specs[i];
        if (mu->skip_tensor && !strcmp(s.name, mu->skip_tensor)) continue;
        if (mu->dim_tensor && !strcmp(s.name, mu->dim_tensor)) s.ne[1] /= 2;
        uint32_t type = mu->type_tensor && !strcmp(s.name, mu->type_tensor) ? mu->new_type : s.flash_type;
        put64(&ti, strlen(s.name));
        put(&ti, s.name, strlen(s.name));
        put32(&ti, s.n_dims);
        for (uint32_t d = 0; d < s.n_dims; d++) put64(&ti, s.ne[d]);
        put32(&ti, type);
        put64(&ti, off);
        const uint64_t nb = ds4_row_bytes(type, s.ne[0]) * s.ne[1] * s.ne[2];
        off += (nb + 31) / 32 * 32;
        n_t++;
    }
    free(specs);

    bytes h = {0};
    put32(&h, 0x46554747u);
    put32(&h, 3);
    put64(&h, n_t);
    put64(&h, (uint64_t)n_kv);
    put(&h, kv.p, kv.n);
    put(&h, ti.p, ti.n);
    while (h.n % 32) put(&h, "", 1);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, h.p, h.n), (ssize_t)h.n);
    cr_assert_eq(ftruncate(fd, (off_t)(h.n + off)), 0, "ftruncate (sparse data section)");
    close(fd);
    free(kv.p);
    free(ti.p);
    free(h.p);
}

/* Loads through the public API; returns the error message ("" on success). */
static const char *load(const mutation *mu, const char *tag, uint64_t *weight_bytes) {
    static ds4_error err;
    char path[512];
    tmp_path(path, sizeof path, tag);
    write_flash(path, mu);
    ds4_model_opts o;
    ds4_model_opts_default(&o);
    o.n_threads = 1;
    memset(&err, 0, sizeof err);
    ds4_model *m = ds4_model_load(path, &o, &err);
    if (m) {
        const ds4_config *c = ds4_model_config(m);
        cr_assert_eq(c->n_layer, 43);
        cr_assert_eq(c->hca_ratio, 128);
        cr_assert_eq(ds4_layer_attn(c, 2), DS4_ATTN_CSA);
        cr_assert_eq(ds4_layer_attn(c, 3), DS4_ATTN_HCA);
        cr_assert_eq(ds4_layer_attn(c, 1), DS4_ATTN_SLIDING);
        if (weight_bytes) *weight_bytes = ds4_model_weight_bytes(m);
        ds4_model_free(m);
    }
    unlink(path);
    return err.msg;
}

static const mutation none = {NULL, NULL, NULL, NULL, 0, -1, 0};

Test(published_layout, flash_table_matches_formats_c6) {
    ds4_config c;
    ds4_config_flash(&c);
    ds4_error err;
    cr_assert(ds4_config_validate(&c, &err), "%s", err.msg);
    const int n = ds4_tensor_specs(&c, NULL);
    cr_assert_eq(n, 1328, "C.6: 1328 tensors");
    ds4_tensor_spec *s = malloc(sizeof *s * (size_t)n);
    ds4_tensor_specs(&c, s);
    uint64_t by_type[40] = {0}, count[40] = {0};
    for (int i = 0; i < n; i++) {
        by_type[s[i].flash_type] += ds4_row_bytes(s[i].flash_type, s[i].ne[0]) * s[i].ne[1] * s[i].ne[2];
        count[s[i].flash_type]++;
    }
    free(s);
    /* C.6 counts and bytes per type */
    cr_assert_eq(count[DS4_TYPE_F32], 492);
    cr_assert_eq(count[DS4_TYPE_F16], 359);
    cr_assert_eq(count[DS4_TYPE_Q8_0], 345);
    cr_assert_eq(count[DS4_TYPE_IQ2_XXS], 86);
    cr_assert_eq(count[DS4_TYPE_Q2_K], 43);
    cr_assert_eq(count[DS4_TYPE_I32], 3);
    cr_assert_eq(by_type[DS4_TYPE_F16], 2191345664ull);
    cr_assert_eq(by_type[DS4_TYPE_Q8_0], 6598885376ull);
    cr_assert_eq(by_type[DS4_TYPE_IQ2_XXS], 47613739008ull);
    cr_assert_eq(by_type[DS4_TYPE_Q2_K], 30299652096ull);
}

Test(published_layout, sparse_flash_file_is_accepted) {
    uint64_t wb = 0;
    const char *msg = load(&none, "ok", &wb);
    cr_assert_str_empty(msg, "unexpected rejection: %s", msg);
    cr_assert_eq(wb, 86714775900ull, "C.6 total tensor data, got %llu", (unsigned long long)wb);
}

#define REJECT(tag, mu, expect)                                                               \
    do {                                                                                      \
        const char *msg = load(&(mu), tag, NULL);                                             \
        cr_assert(strstr(msg, expect), "expected \"%s\" in \"%s\"", expect, msg);             \
    } while (0)

Test(published_layout, missing_tensor_is_rejected) {
    mutation mu = none;
    mu.skip_tensor = "blk.7.attn_kv.weight";
    REJECT("missing", mu, "missing tensor blk.7.attn_kv.weight");
}

Test(published_layout, wrong_dim_is_rejected) {
    mutation mu = none;
    mu.dim_tensor = "blk.10.attn_q_b.weight";
    REJECT("dim", mu, "tensor blk.10.attn_q_b.weight: dims [1024, 16384], expected [1024, 32768]");
}

Test(published_layout, wrong_type_is_rejected) {
    mutation mu = none;
    mu.type_tensor = "blk.3.attn_norm.weight";
    mu.new_type = DS4_TYPE_Q8_0;
    REJECT("type", mu, "tensor blk.3.attn_norm.weight: type Q8_0 (8), expected F32, F16 or BF16");
    mu.type_tensor = "blk.1.ffn_gate_tid2eid.weight";
    mu.new_type = DS4_TYPE_F32;
    REJECT("type2", mu, "tensor blk.1.ffn_gate_tid2eid.weight: type F32 (0), expected I32");
    mu.type_tensor = "blk.20.ffn_up_exps.weight";
    mu.new_type = DS4_TYPE_Q4_K;
    REJECT("type3", mu, "tensor blk.20.ffn_up_exps.weight: type Q4_K differs from blk.20.ffn_gate_exps.weight (IQ2_XXS)");
}

Test(published_layout, bad_compress_ratio_is_rejected) {
    mutation mu = none;
    mu.ratio_layer = 5;
    mu.new_ratio = 64;
    REJECT("ratio", mu, "deepseek4.attention.compress_ratios[5] = 64: must be 0, 4 (CSA) or the HCA ratio 128");
    /* A ratio-0 layer where the file has compressor tensors is a valid config but a
     * different tensor table: the extra tensors are ignored, so this loads. A ratio-4
     * layer where the file has an HCA compressor fails on the compressor dims. */
    mu.new_ratio = 4;
    REJECT("ratio2", mu, "tensor blk.5.attn_compressor_ape.weight: dims [512, 128], expected [1024, 4]");
}

Test(published_layout, missing_key_is_rejected) {
    mutation mu = none;
    mu.skip_key = "deepseek4.attention.sliding_window";
    REJECT("key", mu, "missing metadata key deepseek4.attention.sliding_window");
    mu.skip_key = "deepseek4.expert_weights_norm";
    REJECT("key2", mu, "missing metadata key deepseek4.expert_weights_norm");
}
