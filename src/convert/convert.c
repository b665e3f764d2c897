#include "convert/convert.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/pool.h"
#include "base/progress.h"
#include "convert/hfconfig.h"
#include "convert/imatrix.h"
#include "convert/st_decode.h"
#include "convert/tokmeta.h"
#include "gguf/gguf.h"
#include "quant/quant.h"

/* 16M values = 64 MB of binary32 per chunk: a whole Flash expert (2048 x
 * 4096) fits in one chunk, the 129280 x 4096 embedding takes 32. */
#define DEFAULT_CHUNK_FLOATS (16u << 20)

void ds4_convert_opts_init(ds4_convert_opts *o) {
    memset(o, 0, sizeof *o);
    o->recipe = "q2-asym";
    o->ov_experts = o->ov_routed_down = o->ov_attn = o->ov_shared = o->ov_output = DS4_TYPE_NONE;
}

bool ds4_convert_recipe(const ds4_convert_opts *o, ds4_recipe *r, ds4_error *err) {
    if (!ds4_recipe_init(r, o->recipe, err)) return false;
    const struct {
        uint32_t t;
        const char *flag;
        int fams[3];
    } ov[] = {
        {o->ov_experts, "--experts", {DS4_FAM_EXP_GATE, DS4_FAM_EXP_UP, DS4_FAM_EXP_DOWN}},
        {o->ov_routed_down, "--routed-down", {DS4_FAM_EXP_DOWN, -1, -1}},
        {o->ov_attn, "--attn", {DS4_FAM_ATTN, -1, -1}},
        {o->ov_shared, "--shared", {DS4_FAM_SHEXP, -1, -1}},
        {o->ov_output, "--output", {DS4_FAM_OUTPUT, -1, -1}},
    };
    for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
        if (ov[i].t == DS4_TYPE_NONE) continue;
        if (!ds4_recipe_type_ok(ov[i].t))
            return ds4_fail(err, "%s %s: not a conversion target (F32 F16 BF16 Q8_0 Q2_K Q4_K IQ2_XXS)", ov[i].flag,
                            ds4_type_name(ov[i].t));
        for (int k = 0; k < 3 && ov[i].fams[k] >= 0; k++) r->type[ov[i].fams[k]] = ov[i].t;
    }
    return true;
}

/* ---- per-chunk parallel work ---- */

typedef struct {
    const ds4_st_matrix *m;
    const uint8_t *raw;
    int64_t r0, nr;        /* global first row and row count of the chunk */
    float *f;              /* nr x cols decoded values */
    uint8_t *q;            /* nr x qrow output bytes */
    uint32_t type;
    size_t qrow;
    const float *imp;      /* importance (cols) or NULL */
    float *energy;         /* column energies being accumulated (energy pass) */
    bool quantize, report;
    int64_t rows_per_task, cols_per_task;
    double *err2, *ref2;   /* per thread */
    float **scratch;       /* per thread, cols floats */
    int64_t *bad;          /* per thread: first non-finite flat index in the chunk, or -1 */
    uint64_t *overflow;    /* per thread: values beyond the F16 range (F16 targets) */
} chunk_job;

static void decode_task(void *p, int64_t task, int th) {
    chunk_job *j = p;
    int64_t a = task * j->rows_per_task, b = a + j->rows_per_task;
    if (b > j->nr) b = j->nr;
    int64_t cols = j->m->cols;
    ds4_st_matrix_decode(j->m, j->raw + (uint64_t)a * j->m->raw_row_bytes, j->r0 + a, b - a, j->f + a * cols);
    for (int64_t i = a * cols; i < b * cols; i++)
        if (!isfinite(j->f[i])) {
            if (j->bad[th] < 0 || i < j->bad[th]) j->bad[th] = i;
            break;
        }
    if (!j->quantize) return;
    if (j->type == DS4_TYPE_F16)
        for (int64_t i = a * cols; i < b * cols; i++) j->overflow[th] += fabsf(j->f[i]) > 65504.0f;
    for (int64_t r = a; r < b; r++) {
        const float *x = j->f + r * cols;
        uint8_t *q = j->q + (size_t)r * j->qrow;
        ds4_quantize_row(j->type, x, q, cols, j->imp);
        if (!j->report) continue;
        float *y = j->scratch[th];
        ds4_dequantize_row(j->type, q, y, cols);
        double e2 = 0, r2 = 0;
        for (int64_t c = 0; c < cols; c++) {
            double d = (double)x[c] - (double)y[c];
            e2 += d * d;
            r2 += (double)x[c] * (double)x[c];
        }
        j->err2[th] += e2;
        j->ref2[th] += r2;
    }
}

/* importance[c] = sum over rows, in row order, of W[r][c]^2 (B.10): each
 * task owns a column range, so the summation order per column is the row
 * order regardless of threading. */
static void energy_task(void *p, int64_t task, int th) {
    (void)th;
    chunk_job *j = p;
    int64_t cols = j->m->cols, a = task * j->cols_per_task, b = a + j->cols_per_task;
    if (b > cols) b = cols;
    for (int64_t r = 0; r < j->nr; r++) {
        const float *x = j->f + r * cols;
        for (int64_t c = a; c < b; c++) j->energy[c] += x[c] * x[c];
    }
}

typedef struct {
    const ds4_convert_opts *o;
    ds4_pool *pool;
    int n_threads;
    gguf_writer *w;
    ds4_progress prog;
    const ds4_imatrix *im;
    size_t chunk_floats;
    /* reusable buffers */
    uint8_t *raw;
    size_t raw_cap;
    float *f;
    size_t f_cap;
    uint8_t *q;
    size_t q_cap;
    float *energy;
    size_t energy_cap;
    double err2[256], ref2[256];
    float *scratch[256];
    int64_t bad[256];
    uint64_t overflow[256];
} conv;

static bool grow(void **buf, size_t *cap, size_t need, const char *what, ds4_error *err) {
    if (need <= *cap) return true;
    void *p = realloc(*buf, need);
    if (!p) return ds4_fail(err, "cannot allocate %zu bytes for %s", need, what);
    *buf = p;
    *cap = need;
    return true;
}

/* Runs one pass over all rows of m in chunks. quantize=false: energy pass. */
static bool matrix_pass(conv *cv, const ds4_plan_tensor *t, const ds4_st_matrix *m, bool quantize,
                        const float *imp, bool count_progress, ds4_error *err) {
    int64_t cols = m->cols;
    int64_t chunk_rows = (int64_t)(cv->chunk_floats / (size_t)cols);
    if (chunk_rows < 1) chunk_rows = 1;
    if (chunk_rows > m->rows) chunk_rows = m->rows;
    size_t qrow = quantize ? (size_t)ds4_row_bytes(t->type, (uint64_t)cols) : 0;
    if (!grow((void **)&cv->raw, &cv->raw_cap, (size_t)chunk_rows * m->raw_row_bytes, "the read buffer", err) ||
        !grow((void **)&cv->f, &cv->f_cap, (size_t)chunk_rows * (size_t)cols * sizeof(float), "decoded rows", err) ||
        !grow((void **)&cv->q, &cv->q_cap, (size_t)chunk_rows * qrow + 1, "quantized rows", err))
        return false;
    for (int64_t r0 = 0; r0 < m->rows; r0 += chunk_rows) {
        int64_t nr = m->rows - r0 < chunk_rows ? m->rows - r0 : chunk_rows;
        if (!ds4_st_matrix_read(m, r0, nr, cv->raw, err)) return false;
        chunk_job j = {m, cv->raw, r0, nr, cv->f, cv->q, t->type, qrow, imp, cv->energy, quantize,
                       quantize && cv->o->report, 0, 0, cv->err2, cv->ref2, cv->scratch, cv->bad,
                       cv->overflow};
        int64_t tasks = cv->n_threads * 4;
        j.rows_per_task = (nr + tasks - 1) / tasks;
        for (int i = 0; i < cv->n_threads; i++) cv->bad[i] = -1;
        ds4_pool_run(cv->pool, decode_task, &j, (nr + j.rows_per_task - 1) / j.rows_per_task);
        for (int i = 0; i < cv->n_threads; i++)
            if (cv->bad[i] >= 0)
                return ds4_fail(err, "tensor '%s': non-finite value at row %lld, column %lld", m->w->name,
                                (long long)(r0 + cv->bad[i] / cols), (long long)(cv->bad[i] % cols));
        if (!quantize) {
            j.cols_per_task = (cols + cv->n_threads * 4 - 1) / (cv->n_threads * 4);
            if (j.cols_per_task < 64) j.cols_per_task = 64;
            ds4_pool_run(cv->pool, energy_task, &j, (cols + j.cols_per_task - 1) / j.cols_per_task);
        } else if (!gguf_writer_write(cv->w, cv->q, (size_t)nr * qrow, err)) {
            ds4_error_prefix(err, "%s", t->name);
            return false;
        }
        if (count_progress) ds4_progress_add(&cv->prog, (uint64_t)nr * m->raw_row_bytes);
    }
    return true;
}

static bool needs_importance(uint32_t type) {
    return type == DS4_TYPE_Q2_K || type == DS4_TYPE_Q4_K || type == DS4_TYPE_IQ2_XXS;
}

/* Streams one planned tensor into the writer. With --report, *fam_e2 and
 * *fam_r2 receive its squared error and squared reference sums. */
static bool convert_tensor(conv *cv, const ds4_st_set *s, const ds4_plan_tensor *t, FILE *rep,
                           const ds4_hf_config *c, double *fam_e2, double *fam_r2, ds4_error *err) {
    if (t->fam == DS4_FAM_TID2EID) {
        uint64_t n = ds4_st_numel(t->src[0]);
        int32_t *v = malloc((size_t)n * sizeof(int32_t) + 4);
        if (!v) return ds4_fail(err, "%s: cannot allocate %llu values", t->name, (unsigned long long)n);
        bool ok = ds4_st_read_i32(s, t->src[0], v, err);
        for (uint64_t i = 0; ok && i < n; i++)
            if (v[i] < 0 || v[i] >= c->n_expert)
                ok = ds4_fail(err, "tensor '%s': element %llu = %d is not an expert id (0..%lld)", t->src[0]->name,
                              (unsigned long long)i, v[i], (long long)c->n_expert - 1);
        ok = ok && gguf_writer_write(cv->w, v, (size_t)n * 4, err);
        if (ok) ds4_progress_add(&cv->prog, t->src[0]->nbytes);
        free(v);
        return ok;
    }
    double te2 = 0, tr2 = 0, emin = INFINITY, emax = 0;
    bool quantized = t->type != DS4_TYPE_F32;
    memset(cv->overflow, 0, sizeof cv->overflow);
    for (int e = 0; e < t->n_src; e++) {
        ds4_st_matrix m;
        if (!ds4_st_matrix_init(&m, s, t->src[e], t->scale[e], err)) return false;
        const float *imp = NULL;
        bool ok = true;
        if (needs_importance(t->type) && cv->im) {
            char hf[200];
            snprintf(hf, sizeof hf, "%s", t->src[e]->name);
            ok = ds4_imatrix_lookup(cv->im, t->name, hf, t->n_src > 1 ? e : -1, t->n_src, m.cols, &imp, err);
        }
        if (ok && !imp && t->type == DS4_TYPE_IQ2_XXS) {
            /* No imatrix entry: the synthetic weight-energy vector of B.10,
             * computed over this one matrix (one expert). */
            ok = grow((void **)&cv->energy, &cv->energy_cap, (size_t)m.cols * sizeof(float), "importance", err);
            if (ok) {
                memset(cv->energy, 0, (size_t)m.cols * sizeof(float));
                ok = matrix_pass(cv, t, &m, false, NULL, false, err);
                imp = cv->energy;
            }
        }
        for (int i = 0; i < cv->n_threads; i++) cv->err2[i] = cv->ref2[i] = 0;
        ok = ok && matrix_pass(cv, t, &m, true, imp, true, err);
        if (t->scale[e]) ds4_progress_add(&cv->prog, t->scale[e]->nbytes);
        ds4_st_matrix_free(&m);
        if (!ok) return false;
        if (cv->o->report && quantized) {
            double e2 = 0, r2 = 0;
            for (int i = 0; i < cv->n_threads; i++) e2 += cv->err2[i], r2 += cv->ref2[i];
            double rel = r2 > 0 ? sqrt(e2 / r2) : 0;
            if (rel < emin) emin = rel;
            if (rel > emax) emax = rel;
            te2 += e2;
            tr2 += r2;
            if (t->n_src > 1) fprintf(rep, "report: %s expert %d %s rel_rmse %.6f\n", t->name, e, ds4_type_name(t->type), rel);
        }
    }
    uint64_t over = 0;
    for (int i = 0; i < cv->n_threads; i++) over += cv->overflow[i];
    if (over)
        fprintf(rep, "warning: %s: %llu values exceed the F16 range and became infinite (use --recipe f32/bf16)\n",
                t->name, (unsigned long long)over);
    if (cv->o->report && quantized) {
        double rel = tr2 > 0 ? sqrt(te2 / tr2) : 0;
        if (t->n_src > 1)
            fprintf(rep, "report: %s %s rel_rmse %.6f (experts min %.6f max %.6f)\n", t->name, ds4_type_name(t->type), rel,
                    emin, emax);
        else fprintf(rep, "report: %s %s rel_rmse %.6f\n", t->name, ds4_type_name(t->type), rel);
        *fam_e2 += te2;
        *fam_r2 += tr2;
    }
    return true;
}

static void default_name(const char *dir, char *buf, size_t n) {
    size_t L = strlen(dir);
    while (L > 1 && dir[L - 1] == '/') L--;
    size_t s = L;
    while (s > 0 && dir[s - 1] != '/') s--;
    snprintf(buf, n, "%.*s", (int)(L - s), dir + s);
}

static bool file_exists(const char *dir, const char *name) {
    char *p = ds4_path_join(dir, name);
    bool ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

static void write_general(const ds4_convert_opts *o, gguf_writer *w, const char *arch) {
    char name[256];
    if (o->name) snprintf(name, sizeof name, "%s", o->name);
    else default_name(o->hf_dir, name, sizeof name);
    gguf_writer_set_str(w, "general.architecture", arch);
    gguf_writer_set_str(w, "general.name", name);
}

static bool vocab_only(const ds4_convert_opts *o, FILE *log, ds4_error *err) {
    /* Only the vocabulary size and bos/eos matter here: a tokenizer folder
     * with a partial config.json is fine. */
    int64_t vocab = 0, bos = -1, eos = -1;
    if (file_exists(o->hf_dir, "config.json")) {
        char *p = ds4_path_join(o->hf_dir, "config.json");
        bool ok = ds4_hf_config_load_vocab(p, &vocab, &bos, &eos, err);
        free(p);
        if (!ok) return false;
    }
    ds4_tokmeta tm;
    if (!ds4_tokmeta_load(o->hf_dir, vocab, bos, eos, log, &tm, err)) return false;
    bool ok;
    if (o->dry_run) {
        fprintf(o->table ? o->table : stdout, "vocab-only: %lld tokens, %lld merges, bos %lld, eos %lld\n",
                (long long)tm.n_vocab, (long long)tm.n_merges, (long long)tm.bos_id, (long long)tm.eos_id);
        ds4_tokmeta_free(&tm);
        return true;
    }
    gguf_writer *w = gguf_writer_open(o->out_path, GGUF_DEFAULT_ALIGNMENT, err);
    if (w) {
        write_general(o, w, "deepseek4");
        ds4_tokmeta_write(&tm, w);
        ok = gguf_writer_finish(w, err);
    } else {
        ok = false;
    }
    if (ok)
        fprintf(log, "wrote %s: %lld tokens, %lld merges (vocab only)\n", o->out_path, (long long)tm.n_vocab,
                (long long)tm.n_merges);
    ds4_tokmeta_free(&tm);
    return ok;
}

static bool is_quantized(uint32_t t) { return t == DS4_TYPE_Q8_0 || needs_importance(t); }

/* What goes into one output file besides its plan. */
typedef struct {
    const ds4_recipe *r;
    const ds4_hf_config *c;
    const ds4_tokmeta *tm;  /* NULL: no tokenizer keys */
    const ds4_imatrix *im;  /* NULL: none */
    const char *arch;
    bool model_keys;        /* deepseek4.* keys (the MTP file carries none, C.8) */
} file_meta;

/* Writes one GGUF (metadata, tensor infos, streamed data) to path.tmp and
 * renames it. Any failure removes the temp file. */
static bool write_gguf(const ds4_convert_opts *o, const char *path, const ds4_plan *plan, const ds4_st_set *s,
                       const file_meta *fm, FILE *log, ds4_error *err) {
    gguf_writer *w = gguf_writer_open(path, GGUF_DEFAULT_ALIGNMENT, err);
    if (!w) return false;
    write_general(o, w, fm->arch);
    bool any_q = false;
    for (size_t i = 0; i < plan->n; i++) any_q |= is_quantized(plan->t[i].type);
    if (any_q) gguf_writer_set_u32(w, "general.quantization_version", 2);
    gguf_writer_set_u32(w, "general.file_type", fm->r->ftype);
    if (fm->model_keys) ds4_hf_config_write_metadata(fm->c, w);
    if (fm->tm) ds4_tokmeta_write(fm->tm, w);
    if (fm->im) {
        gguf_writer_set_str(w, "quantize.imatrix.file", o->imatrix_path);
        gguf_writer_set_u64(w, "quantize.imatrix.entries_count", (uint64_t)fm->im->n);
        if (fm->im->dataset) gguf_writer_set_str(w, "quantize.imatrix.dataset", fm->im->dataset);
        if (fm->im->chunk_count > 0)
            gguf_writer_set_u64(w, "quantize.imatrix.chunks_count", (uint64_t)fm->im->chunk_count);
    }
    bool ok = true;
    for (size_t i = 0; ok && i < plan->n; i++)
        ok = gguf_writer_add_tensor(w, plan->t[i].name, plan->t[i].n_dims, plan->t[i].ne, plan->t[i].type, err);
    conv cv = {0};
    if (ok) {
        cv.o = o;
        /* Per-thread slots are fixed arrays of 256: never run more threads. */
        int want = o->threads > 0 ? o->threads : ds4_cpu_count();
        cv.pool = ds4_pool_create(want > 256 ? 256 : want);
        cv.n_threads = ds4_pool_threads(cv.pool);
        cv.w = w;
        cv.im = fm->im;
        cv.chunk_floats = o->chunk_floats ? o->chunk_floats : DEFAULT_CHUNK_FLOATS;
        int64_t max_cols = 1;
        for (size_t i = 0; i < plan->n; i++)
            if ((int64_t)plan->t[i].ne[0] > max_cols) max_cols = (int64_t)plan->t[i].ne[0];
        for (int i = 0; i < cv.n_threads; i++) cv.scratch[i] = ds4_xmalloc((size_t)max_cols * sizeof(float));
        double fe2[DS4_FAM_COUNT] = {0}, fr2[DS4_FAM_COUNT] = {0};
        ds4_progress_begin(&cv.prog, "convert", plan->src_bytes, true);
        for (size_t i = 0; ok && i < plan->n; i++)
            ok = convert_tensor(&cv, s, &plan->t[i], log, fm->c, &fe2[plan->t[i].fam], &fr2[plan->t[i].fam], err);
        ds4_progress_end(&cv.prog);
        if (ok && o->report) {
            for (int f = 0; f < DS4_FAM_COUNT; f++)
                if (fr2[f] > 0)
                    fprintf(log, "report: family %-10s %-8s rel_rmse %.6f\n", ds4_family_name((ds4_family)f),
                            ds4_type_name(fm->r->type[f]), sqrt(fe2[f] / fr2[f]));
        }
        for (int i = 0; i < cv.n_threads; i++) free(cv.scratch[i]);
        ds4_pool_destroy(cv.pool);
    }
    free(cv.raw);
    free(cv.f);
    free(cv.q);
    free(cv.energy);
    if (!ok) {
        gguf_writer_abort(w);
        return false;
    }
    uint64_t size = gguf_writer_planned_size(w);
    if (!gguf_writer_finish(w, err)) return false;
    char a[32];
    fprintf(log, "wrote %s: %zu tensors, %s (%llu bytes, recipe %s)\n", path, plan->n,
            ds4_format_bytes((double)size, a, sizeof a), (unsigned long long)size, fm->r->name);
    return true;
}

bool ds4_convert_run(const ds4_convert_opts *o, ds4_error *err) {
    FILE *log = o->log ? o->log : stderr;
    if (!o->hf_dir) return ds4_fail(err, "no checkpoint folder (--hf DIR)");
    if (!o->out_path && !o->dry_run) return ds4_fail(err, "no output file (--out FILE)");
    if (o->vocab_only) return vocab_only(o, log, err);

    ds4_recipe r;
    if (!ds4_convert_recipe(o, &r, err)) return false;
    ds4_hf_config c;
    char *cfg_path = ds4_path_join(o->hf_dir, "config.json");
    bool ok = ds4_hf_config_load(cfg_path, &c, err);
    free(cfg_path);
    if (!ok) return false;
    ds4_tokmeta tm;
    bool have_tok = file_exists(o->hf_dir, "tokenizer.json");
    if (have_tok && !ds4_tokmeta_load(o->hf_dir, c.n_vocab, c.bos_id, c.eos_id, log, &tm, err)) {
        ds4_hf_config_free(&c);
        return false;
    }
    if (!have_tok) fprintf(log, "note: %s has no tokenizer.json: the GGUF gets no tokenizer metadata\n", o->hf_dir);
    ds4_st_set *s = ds4_st_open_dir(o->hf_dir, err);
    ds4_plan plan = {0}, mplan = {0};
    ds4_imatrix im = {0};
    bool have_im = false;
    ok = s && ds4_plan_build(&plan, &c, s, &r, log, err);
    if (ok && o->mtp_path) {
        if (!ds4_plan_has_mtp(s)) ok = ds4_fail(err, "--mtp-out: the checkpoint has no mtp.0.* tensors (missing tensor 'mtp.0.e_proj.weight')");
        else ok = ds4_plan_build_mtp(&mplan, &c, s, &r, log, err);
    }
    if (ok && o->dry_run) {
        ds4_plan_print(&plan, o->table ? o->table : stdout);
        if (o->mtp_path) ds4_plan_print(&mplan, o->table ? o->table : stdout);
    } else {
        if (ok && o->imatrix_path) ok = have_im = ds4_imatrix_load(o->imatrix_path, &im, err);
        file_meta fm = {&r, &c, have_tok ? &tm : NULL, have_im ? &im : NULL, "deepseek4", true};
        ok = ok && write_gguf(o, o->out_path, &plan, s, &fm, log, err);
        if (ok && o->mtp_path) {
            /* ds4 reads no metadata from the MTP file (C.8). */
            file_meta mm = {&r, &c, NULL, have_im ? &im : NULL, "deepseek4_mtp_support", false};
            ok = write_gguf(o, o->mtp_path, &mplan, s, &mm, log, err);
            /* All or nothing: without its MTP file the main one is not what was asked. */
            if (!ok) unlink(o->out_path);
        }
    }
    if (have_im) ds4_imatrix_free(&im);
    ds4_plan_free(&plan);
    ds4_plan_free(&mplan);
    ds4_st_close(s);
    if (have_tok) ds4_tokmeta_free(&tm);
    ds4_hf_config_free(&c);
    return ok;
}
