/* MTP: a sharded checkpoint made of oracle/tiny plus a generated shard with
 * the mtp.0.* tensors (official names, tiny shapes). Without --mtp-out they
 * are skipped; with it the separate MTP GGUF (formats.md C.8) holds the 32
 * mtp.0.* tensors with the source values, and the main file is unchanged. */
#include "convert_util.h"

#include <jansson.h>
#include <limits.h>

#include "gguf/gguf.h"
#include "gguf/types.h"

typedef struct {
    const char *name;
    int nd;
    int64_t shape[2];
} mt;

static const mt mtp_fixed[] = {
    {"mtp.0.e_proj.weight", 2, {256, 256}},       {"mtp.0.h_proj.weight", 2, {256, 256}},
    {"mtp.0.enorm.weight", 1, {256}},             {"mtp.0.hnorm.weight", 1, {256}},
    {"mtp.0.norm.weight", 1, {256}},              {"mtp.0.hc_head_base", 1, {4}},
    {"mtp.0.hc_head_fn", 2, {4, 1024}},           {"mtp.0.hc_head_scale", 1, {1}},
    {"mtp.0.hc_attn_fn", 2, {24, 1024}},          {"mtp.0.hc_attn_scale", 1, {3}},
    {"mtp.0.hc_attn_base", 1, {24}},              {"mtp.0.hc_ffn_fn", 2, {24, 1024}},
    {"mtp.0.hc_ffn_scale", 1, {3}},               {"mtp.0.hc_ffn_base", 1, {24}},
    {"mtp.0.attn_norm.weight", 1, {256}},         {"mtp.0.ffn_norm.weight", 1, {256}},
    {"mtp.0.attn.wq_a.weight", 2, {128, 256}},    {"mtp.0.attn.q_norm.weight", 1, {128}},
    {"mtp.0.attn.wq_b.weight", 2, {256, 128}},    {"mtp.0.attn.wkv.weight", 2, {64, 256}},
    {"mtp.0.attn.kv_norm.weight", 1, {64}},       {"mtp.0.attn.attn_sink", 1, {4}},
    {"mtp.0.attn.wo_a.weight", 2, {128, 128}},    {"mtp.0.attn.wo_b.weight", 2, {256, 128}},
    {"mtp.0.ffn.gate.weight", 2, {16, 256}},      {"mtp.0.ffn.gate.bias", 1, {16}},
    {"mtp.0.ffn.shared_experts.w1.weight", 2, {256, 256}},
    {"mtp.0.ffn.shared_experts.w2.weight", 2, {256, 256}},
    {"mtp.0.ffn.shared_experts.w3.weight", 2, {256, 256}},
};

/* Builds DIR: config.json and shard 1 link to tiny, shard 2 holds the MTP
 * tensors (F32, value = a hash of name and index), index.json maps both. */
static void build_checkpoint(const char *dir) {
    char rel[512], tiny[4096], p[5000], q[800];
    cu_path(rel, sizeof rel, "oracle/tiny");
    cr_assert_not_null(realpath(rel, tiny)); /* link targets must not be relative */
    snprintf(p, sizeof p, "%s/config.json", tiny);
    snprintf(q, sizeof q, "%s/config.json", dir);
    cr_assert_eq(symlink(p, q), 0);
    snprintf(p, sizeof p, "%s/model.safetensors", tiny);
    snprintf(q, sizeof q, "%s/model-00001-of-00002.safetensors", dir);
    cr_assert_eq(symlink(p, q), 0);
    ds4_error err;
    ds4_st_set *s = ds4_st_open_file(p, &err);
    cr_assert_not_null(s, "%s", err.msg);
    json_t *map = json_object();
    for (size_t i = 0; i < ds4_st_count(s); i++)
        json_object_set_new(map, ds4_st_at(s, i)->name, json_string("model-00001-of-00002.safetensors"));
    ds4_st_close(s);
    /* the MTP list: fixed tensors + 16 experts x 3 */
    mt list[128];
    char names[48][64];
    size_t n = 0;
    for (size_t i = 0; i < sizeof mtp_fixed / sizeof mtp_fixed[0]; i++) list[n++] = mtp_fixed[i];
    for (int e = 0; e < 16; e++)
        for (int k = 1; k <= 3; k++) {
            char *nm = names[e * 3 + k - 1];
            snprintf(nm, 64, "mtp.0.ffn.experts.%d.w%d.weight", e, k);
            list[n++] = (mt){nm, 2, {256, 256}};
        }
    json_t *hdr = json_object();
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t cnt = 1;
        json_t *shape = json_array();
        for (int d = 0; d < list[i].nd; d++) {
            cnt *= (uint64_t)list[i].shape[d];
            json_array_append_new(shape, json_integer(list[i].shape[d]));
        }
        json_t *t = json_object();
        json_object_set_new(t, "dtype", json_string("F32"));
        json_object_set_new(t, "shape", shape);
        json_object_set_new(t, "data_offsets", json_pack("[I,I]", (json_int_t)off, (json_int_t)(off + 4 * cnt)));
        json_object_set_new(hdr, list[i].name, t);
        json_object_set_new(map, list[i].name, json_string("model-00002-of-00002.safetensors"));
        off += 4 * cnt;
    }
    char *text = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(q, sizeof q, "%s/model-00002-of-00002.safetensors", dir);
    FILE *f = fopen(q, "wb");
    uint64_t hl = strlen(text);
    fwrite(&hl, 8, 1, f);
    fwrite(text, 1, hl, f);
    for (size_t i = 0; i < n; i++) {
        uint64_t cnt = 1;
        for (int d = 0; d < list[i].nd; d++) cnt *= (uint64_t)list[i].shape[d];
        uint32_t h = 2166136261u;
        for (const char *c = list[i].name; *c; c++) h = (h ^ (uint8_t)*c) * 16777619u;
        for (uint64_t k = 0; k < cnt; k++) {
            h = h * 1103515245u + 12345u;
            float v = ((float)(h >> 8) / 16777216.0f - 0.5f) * 0.1f;
            fwrite(&v, 4, 1, f);
        }
    }
    fclose(f);
    free(text);
    json_decref(hdr);
    json_t *idx = json_pack("{s:{s:i},s:o}", "metadata", "total_size", 0, "weight_map", map);
    snprintf(q, sizeof q, "%s/model.safetensors.index.json", dir);
    cr_assert_eq(json_dump_file(idx, q, JSON_INDENT(1)), 0);
    json_decref(idx);
}

Test(convert_mtp, separate_mtp_gguf) {
    char dir[512], out[700], mtp[700], out2[700];
    cu_tmpdir(dir, sizeof dir, "convert-mtp");
    build_checkpoint(dir);
    snprintf(out, sizeof out, "%s/main.gguf", dir);
    snprintf(mtp, sizeof mtp, "%s/mtp.gguf", dir);
    snprintf(out2, sizeof out2, "%s/plain.gguf", dir);
    ds4_error err = {{0}};
    /* Without --mtp-out: a note, and the same main file as tiny alone. */
    FILE *log = tmpfile();
    ds4_convert_opts o;
    ds4_convert_opts_init(&o);
    o.hf_dir = dir;
    o.out_path = out2;
    o.recipe = "f32";
    o.threads = 2;
    o.log = log;
    cr_assert(ds4_convert_run(&o, &err), "%s", err.msg);
    rewind(log);
    char text[4096] = {0};
    text[fread(text, 1, sizeof text - 1, log)] = 0;
    fclose(log);
    cr_assert(strstr(text, "note: 77 mtp.* tensors are not part of the main DS4 GGUF"), "%s", text);
    FILE *null = fopen("/dev/null", "w");
    o.log = null;
    o.out_path = out;
    o.mtp_path = mtp;
    cr_assert(ds4_convert_run(&o, &err), "%s", err.msg);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", out, out2);
    cr_assert_eq(system(cmd), 0, "main file changed by --mtp-out");
    gguf_file *g = gguf_open(mtp, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_assert_eq(gguf_n_tensors(g), 32);
    gguf_str s;
    cr_assert(gguf_get_str(g, "general.architecture", &s, &err));
    cr_assert(s.len == 21 && !memcmp(s.ptr, "deepseek4_mtp_support", 21));
    ds4_st_set *st = ds4_st_open_dir(dir, &err);
    cr_assert_not_null(st, "%s", err.msg);
    /* Values: F32 sources, f32 recipe -> identical bytes (experts stacked). */
    const char *pairs[][2] = {{"mtp.0.e_proj.weight", "mtp.0.e_proj.weight"},
                              {"mtp.0.hc_head_fn.weight", "mtp.0.hc_head_fn"},
                              {"mtp.0.attn_q_b.weight", "mtp.0.attn.wq_b.weight"},
                              {"mtp.0.exp_probs_b.bias", "mtp.0.ffn.gate.bias"},
                              {"mtp.0.ffn_down_shexp.weight", "mtp.0.ffn.shared_experts.w2.weight"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const gguf_tensor *t = gguf_find_tensor(g, pairs[i][0]);
        const ds4_st_tensor *src = ds4_st_find(st, pairs[i][1]);
        cr_assert(t && src, "%s", pairs[i][0]);
        void *buf = malloc(src->nbytes);
        cr_assert(ds4_st_read(st, src, 0, src->nbytes, buf, &err));
        cr_assert(t->nbytes == src->nbytes && !memcmp(t->data, buf, src->nbytes), "%s values", pairs[i][0]);
        free(buf);
    }
    const gguf_tensor *ex = gguf_find_tensor(g, "mtp.0.ffn_up_exps.weight");
    cr_assert(ex && ex->n_dims == 3 && ex->ne[2] == 16);
    const ds4_st_tensor *e9 = ds4_st_find(st, "mtp.0.ffn.experts.9.w3.weight");
    void *buf = malloc(e9->nbytes);
    cr_assert(ds4_st_read(st, e9, 0, e9->nbytes, buf, &err));
    cr_assert(!memcmp((const uint8_t *)ex->data + 9 * e9->nbytes, buf, e9->nbytes), "expert 9 slice");
    free(buf);
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) cr_assert(!strncmp(gguf_tensor_at(g, i)->cname, "mtp.0.", 6));
    gguf_close(g);

    /* q8: the C.8 types (Q8_0 projections and shared, F16 HC fn, F32 vectors). */
    o.recipe = "q8";
    cr_assert(ds4_convert_run(&o, &err), "%s", err.msg);
    g = gguf_open(mtp, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_assert_eq(gguf_find_tensor(g, "mtp.0.e_proj.weight")->type, DS4_TYPE_Q8_0);
    cr_assert_eq(gguf_find_tensor(g, "mtp.0.attn_output_a.weight")->type, DS4_TYPE_Q8_0);
    cr_assert_eq(gguf_find_tensor(g, "mtp.0.ffn_gate_shexp.weight")->type, DS4_TYPE_Q8_0);
    cr_assert_eq(gguf_find_tensor(g, "mtp.0.hc_head_fn.weight")->type, DS4_TYPE_F16);
    cr_assert_eq(gguf_find_tensor(g, "mtp.0.hnorm.weight")->type, DS4_TYPE_F32);
    cr_assert_eq(gguf_find_tensor(g, "mtp.0.ffn_gate_inp.weight")->type, DS4_TYPE_F16);
    gguf_close(g);
    ds4_st_close(st);

    /* --mtp-out on a checkpoint without MTP tensors: error, no files. */
    char hf[512], o3[720], m3[720];
    cu_path(hf, sizeof hf, "oracle/tiny");
    snprintf(o3, sizeof o3, "%s/x.gguf", dir);
    snprintf(m3, sizeof m3, "%s/x-mtp.gguf", dir);
    o.hf_dir = hf;
    o.out_path = o3;
    o.mtp_path = m3;
    cr_assert_not(ds4_convert_run(&o, &err));
    cr_assert(strstr(err.msg, "mtp.0.e_proj.weight"), "%s", err.msg);
    cr_assert_neq(access(o3, F_OK), 0);
    cr_assert_neq(access(m3, F_OK), 0);
    fclose(null);
    cu_rmdir(dir);
}
