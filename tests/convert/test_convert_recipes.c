/* Recipes: per-family target types, file size = sum of block sizes, the
 * ne0 fallback, per-expert importance (imatrix slices and the synthetic
 * weight-energy vector), and chunked streaming producing the same bytes. */
#include "convert_util.h"

#include "convert/imatrix.h"
#include "gguf/gguf.h"
#include "gguf/types.h"
#include "quant/quant.h"

static bool light(void) { return getenv("DS4_TEST_LIGHT") != NULL; }

static bool run(const char *hf, const char *out, ds4_convert_opts *o, FILE *log, ds4_error *err) {
    o->hf_dir = hf;
    o->out_path = out;
    o->threads = 2;
    FILE *null = fopen("/dev/null", "w");
    o->log = log ? log : null;
    o->table = null;
    bool ok = ds4_convert_run(o, err);
    fclose(null);
    return ok;
}

/* Independent block table (formats.md A.6). */
static uint64_t bytes_of(uint32_t type, uint64_t ne0, uint64_t rows) {
    switch (type) {
    case DS4_TYPE_F32: case DS4_TYPE_I32: return 4 * ne0 * rows;
    case DS4_TYPE_F16: case DS4_TYPE_BF16: return 2 * ne0 * rows;
    case DS4_TYPE_Q8_0: return ne0 / 32 * 34 * rows;
    case DS4_TYPE_Q2_K: return ne0 / 256 * 84 * rows;
    case DS4_TYPE_Q4_K: return ne0 / 256 * 144 * rows;
    case DS4_TYPE_IQ2_XXS: return ne0 / 256 * 66 * rows;
    default: cr_assert_fail("type %u", type); return 0;
    }
}

static bool has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* The q2-asym policy of the issue, keyed by GGUF name. */
static uint32_t q2_type(const gguf_tensor *t) {
    const char *n = t->cname;
    if (t->n_dims == 1) return DS4_TYPE_F32;
    if (has_suffix(n, "ffn_gate_exps.weight") || has_suffix(n, "ffn_up_exps.weight")) return DS4_TYPE_IQ2_XXS;
    if (has_suffix(n, "ffn_down_exps.weight")) return DS4_TYPE_Q2_K;
    if (has_suffix(n, "tid2eid.weight")) return DS4_TYPE_I32;
    if (strstr(n, "indexer")) return DS4_TYPE_F16;
    if (strstr(n, "_shexp.") || strstr(n, "attn_q_a.") || strstr(n, "attn_q_b.") || strstr(n, "attn_kv.") ||
        strstr(n, "attn_output_a.") || strstr(n, "attn_output_b.") || !strcmp(n, "output.weight"))
        return DS4_TYPE_Q8_0;
    return DS4_TYPE_F16; /* token_embd, hc fn, compressor, indexer, gate_inp */
}

static void put_i32(FILE *f, int32_t v) { fwrite(&v, 4, 1, f); }

/* Quantizes expert e of the layer-1 routed gate (w1) row by row with the
 * given importance (NULL: the expert's own column energies, B.10) and
 * compares with the GGUF bytes. */
static void check_expert(gguf_file *g, const ds4_st_set *s, int e, uint32_t type, const float *imp_or_null) {
    char name[128], sn[128];
    snprintf(name, sizeof name, "layers.1.ffn.experts.%d.w1.weight", e);
    snprintf(sn, sizeof sn, "layers.1.ffn.experts.%d.w1.scale", e);
    int64_t n;
    float *w = cu_decode(s, ds4_st_find(s, name), ds4_st_find(s, sn), &n);
    const gguf_tensor *t = gguf_find_tensor(g, "blk.1.ffn_gate_exps.weight");
    cr_assert_eq(t->type, type);
    int64_t cols = (int64_t)t->ne[0], rows = (int64_t)t->ne[1];
    cr_assert_eq(n, rows * cols);
    float *imp = malloc((size_t)cols * sizeof(float));
    if (imp_or_null) {
        memcpy(imp, imp_or_null, (size_t)cols * sizeof(float));
    } else {
        for (int64_t c = 0; c < cols; c++) imp[c] = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) imp[c] += w[r * cols + c] * w[r * cols + c];
    }
    size_t rb = (size_t)ds4_row_bytes(type, (uint64_t)cols);
    uint8_t *q = malloc(rb);
    const uint8_t *base = (const uint8_t *)t->data + (size_t)e * (size_t)rows * rb;
    for (int64_t r = 0; r < rows; r++) {
        ds4_quantize_row(type, w + r * cols, q, cols, imp);
        cr_assert(!memcmp(q, base + (size_t)r * rb, rb), "expert %d row %lld differs", e, (long long)r);
    }
    free(q);
    free(imp);
    free(w);
}

Test(convert_recipes, q2_asym_types_and_size_is_sum_of_blocks) {
    char hf[512], dir[512], out[700];
    cu_path(hf, sizeof hf, "oracle/demo");
    cu_tmpdir(dir, sizeof dir, "convert-q2");
    snprintf(out, sizeof out, "%s/q2.gguf", dir);
    ds4_convert_opts o;
    ds4_convert_opts_init(&o);
    o.recipe = "q2-asym";
    /* Under sanitizers the IQ2_XXS search is slow: keep Q2_K down experts
     * and quantize gate/up to Q2_K as well (the sizes are still checked). */
    if (light()) o.ov_experts = DS4_TYPE_Q2_K;
    ds4_error err = {{0}};
    cr_assert(run(hf, out, &o, NULL, &err), "%s", err.msg);
    gguf_file *g = gguf_open(out, &err);
    cr_assert_not_null(g, "%s", err.msg);
    uint64_t sum = 0;
    int counts[64] = {0};
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        uint32_t want = q2_type(t);
        if (light() && (want == DS4_TYPE_IQ2_XXS)) want = DS4_TYPE_Q2_K;
        cr_assert_eq(t->type, want, "%s: %s, want %s", t->cname, ds4_type_name(t->type), ds4_type_name(want));
        uint64_t rows = 1;
        for (uint32_t d = 1; d < t->n_dims; d++) rows *= t->ne[d];
        uint64_t b = bytes_of(t->type, t->ne[0], rows);
        cr_assert_eq(t->nbytes, b, "%s bytes", t->cname);
        cr_assert_eq(t->offset, sum, "%s offset", t->cname);
        sum += (b + 31) / 32 * 32;
        counts[t->type]++;
    }
    cr_assert_eq(gguf_file_size(g), gguf_data_offset(g) + sum, "file size %llu vs data %llu + blocks %llu",
                 (unsigned long long)gguf_file_size(g), (unsigned long long)gguf_data_offset(g), (unsigned long long)sum);
    /* 6 layers: gate+up+down routed, 3 shared, 5 attention, + output. */
    cr_assert_eq(counts[DS4_TYPE_Q2_K] + counts[DS4_TYPE_IQ2_XXS], 18);
    cr_assert_eq(counts[DS4_TYPE_Q8_0], 6 * 3 + 6 * 5 + 1);
    cr_assert_eq(counts[DS4_TYPE_I32], 2);
    if (!light()) {
        ds4_st_set *s = ds4_st_open_dir(hf, &err);
        cr_assert_not_null(s, "%s", err.msg);
        check_expert(g, s, 3, DS4_TYPE_IQ2_XXS, NULL);
        ds4_st_close(s);
    }
    uint32_t qv = 0;
    cr_assert(gguf_get_u32(g, "general.quantization_version", &qv, &err) && qv == 2);
    gguf_close(g);
    cu_rmdir(dir);
}

Test(convert_recipes, fallback_when_ne0_is_not_a_block_multiple) {
    char hf[512], dir[512], out[700];
    cu_path(hf, sizeof hf, "oracle/tiny");
    cu_tmpdir(dir, sizeof dir, "convert-fb");
    snprintf(out, sizeof out, "%s/fb.gguf", dir);
    ds4_convert_opts o;
    ds4_convert_opts_init(&o);
    o.recipe = "q8";
    o.ov_attn = DS4_TYPE_Q4_K;
    o.ov_experts = DS4_TYPE_Q8_0;
    FILE *log = tmpfile();
    ds4_error err = {{0}};
    cr_assert(run(hf, out, &o, log, &err), "%s", err.msg);
    rewind(log);
    char text[8192] = {0};
    size_t n = fread(text, 1, sizeof text - 1, log);
    text[n] = 0;
    fclose(log);
    /* tiny: wq_b and wo_a/wo_b take 128 inputs; wq_a and wkv take 256. */
    cr_assert(strstr(text, "warning: blk.0.attn_q_b.weight: ne0 = 128 is not a multiple of the Q4_K block (256): using Q8_0"),
              "%s", text);
    gguf_file *g = gguf_open(out, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_assert_eq(gguf_find_tensor(g, "blk.0.attn_q_b.weight")->type, DS4_TYPE_Q8_0);
    cr_assert_eq(gguf_find_tensor(g, "blk.0.attn_output_a.weight")->type, DS4_TYPE_Q8_0);
    cr_assert_eq(gguf_find_tensor(g, "blk.0.attn_q_a.weight")->type, DS4_TYPE_Q4_K);
    cr_assert_eq(gguf_find_tensor(g, "blk.0.attn_kv.weight")->type, DS4_TYPE_Q4_K);
    cr_assert_eq(gguf_find_tensor(g, "blk.0.ffn_down_exps.weight")->type, DS4_TYPE_Q8_0);
    gguf_close(g);
    cu_rmdir(dir);
}

Test(convert_recipes, per_expert_importance_from_imatrix_and_synthetic) {
    char hf[512], dir[512], out[700], dat[700];
    cu_path(hf, sizeof hf, "oracle/tiny");
    cu_tmpdir(dir, sizeof dir, "convert-imx");
    snprintf(out, sizeof out, "%s/a.gguf", dir);
    snprintf(dat, sizeof dat, "%s/im.dat", dir);
    /* One entry for blk.1 gate covering all 16 experts (expert-major), with
     * ncall = 2 (values are halved on load), plus a dataset trailer. */
    const int ncols = 256, nexp = 16;
    float *vals = malloc(sizeof(float) * ncols * nexp);
    for (int i = 0; i < ncols * nexp; i++) vals[i] = 2.0f * (1.0f + (float)((i * 37) % 101));
    FILE *f = fopen(dat, "wb");
    put_i32(f, 1);
    const char *en = "blk.1.ffn_gate_exps.weight";
    put_i32(f, (int32_t)strlen(en));
    fwrite(en, 1, strlen(en), f);
    put_i32(f, 2);
    put_i32(f, ncols * nexp);
    fwrite(vals, sizeof(float), (size_t)(ncols * nexp), f);
    put_i32(f, 7);
    put_i32(f, 4);
    fwrite("data", 1, 4, f);
    fclose(f);
    /* Q2_K's weighted path uses the slice like IQ2_XXS does, and is fast. */
    uint32_t type = DS4_TYPE_Q2_K;
    ds4_convert_opts o;
    ds4_convert_opts_init(&o);
    o.recipe = "q8";
    o.ov_experts = type;
    o.imatrix_path = dat;
    ds4_error err = {{0}};
    cr_assert(run(hf, out, &o, NULL, &err), "%s", err.msg);
    ds4_st_set *s = ds4_st_open_dir(hf, &err);
    cr_assert_not_null(s, "%s", err.msg);
    gguf_file *g = gguf_open(out, &err);
    cr_assert_not_null(g, "%s", err.msg);
    float *slice = malloc(sizeof(float) * ncols);
    for (int c = 0; c < ncols; c++) slice[c] = vals[5 * ncols + c] / 2.0f;
    check_expert(g, s, 5, type, slice);
    uint64_t v = 0;
    cr_assert(gguf_get_u64(g, "quantize.imatrix.entries_count", &v, &err) && v == 1, "%s", err.msg);
    cr_assert(gguf_get_u64(g, "quantize.imatrix.chunks_count", &v, &err) && v == 7, "%s", err.msg);
    gguf_close(g);

    /* A wrong-sized entry is an error naming it, and no file is left. */
    f = fopen(dat, "wb");
    put_i32(f, 1);
    put_i32(f, (int32_t)strlen(en));
    fwrite(en, 1, strlen(en), f);
    put_i32(f, 1);
    put_i32(f, 100);
    fwrite(vals, sizeof(float), 100, f);
    fclose(f);
    ds4_convert_opts_init(&o);
    o.recipe = "q2-asym";
    o.imatrix_path = dat;
    char out3[720];
    snprintf(out3, sizeof out3, "%s/c.gguf", dir);
    cr_assert_not(run(hf, out3, &o, NULL, &err));
    cr_assert(strstr(err.msg, "blk.1.ffn_gate_exps.weight") && strstr(err.msg, "100 values"), "%s", err.msg);
    cr_assert_neq(access(out3, F_OK), 0);
    strcat(out3, ".tmp");
    cr_assert_neq(access(out3, F_OK), 0);
    free(slice);
    free(vals);
    ds4_st_close(s);
    cu_rmdir(dir);
}

Test(convert_recipes, chunked_streaming_gives_identical_bytes) {
    char hf[512], dir[512], a[700], b[700];
    cu_path(hf, sizeof hf, "oracle/demo");
    cu_tmpdir(dir, sizeof dir, "convert-chunk");
    snprintf(a, sizeof a, "%s/a.gguf", dir);
    snprintf(b, sizeof b, "%s/b.gguf", dir);
    ds4_convert_opts o;
    ds4_convert_opts_init(&o);
    o.recipe = "q8";
    o.ov_experts = DS4_TYPE_Q4_K;
    /* IQ2_XXS attention (synthetic importance) exercises the energy pass
     * across chunks; 128-wide inputs fall back to Q8_0. */
    o.ov_attn = DS4_TYPE_IQ2_XXS;
    ds4_error err = {{0}};
    cr_assert(run(hf, a, &o, NULL, &err), "%s", err.msg);
    o.chunk_floats = 777; /* odd chunk: rows split unevenly, 1-row chunks for wide tensors */
    cr_assert(run(hf, b, &o, NULL, &err), "%s", err.msg);
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    cr_assert_eq(system(cmd), 0, "chunked output differs");
    cu_rmdir(dir);
}
