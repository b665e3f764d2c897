/* Engine API (engine.h) over the CPU forward pass. */
#include "engine/engine.h"

#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/progress.h"
#include "engine/cpu/internal.h"
#include "engine/cpu/ops.h"
#include "model/tensors.h"

/* Physical cores among the CPUs this process may use (hyperthread siblings
 * share one core's load/store units, so decode gains nothing from them);
 * falls back to the CPU count when sysfs has no topology. */
static int physical_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return ds4_cpu_count();
    int n = 0;
    long seen[CPU_SETSIZE];
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        char path[128];
        long pkg = -1, core = -1;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &pkg) != 1) pkg = -1;
            fclose(f);
        }
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &core) != 1) core = -1;
            fclose(f);
        }
        if (pkg < 0 || core < 0) return ds4_cpu_count();
        const long key = pkg * 1000000 + core;
        bool dup = false;
        for (int i = 0; i < n && !dup; i++) dup = seen[i] == key;
        if (!dup) seen[n++] = key;
    }
    return n > 0 ? n : ds4_cpu_count();
}

void ds4_model_opts_default(ds4_model_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_threads = 0;
    o->numerics = DS4_NUMERICS_OFFICIAL;
    o->progress = false;
}

bool ds4_weights_auto_ram(uint64_t file_bytes) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return false; /* no THP: a copy would only double the memory */
    char mode[128] = "";
    bool thp = fgets(mode, sizeof mode, f) && !strstr(mode, "[never]");
    fclose(f);
    if (!thp) return false;
    const uint64_t avail = ds4_meminfo_bytes("MemAvailable"), total = ds4_meminfo_bytes("MemTotal");
    uint64_t reserve = total / 8;
    if (reserve < ((uint64_t)2 << 30)) reserve = (uint64_t)2 << 30;
    return avail > reserve && file_bytes <= avail - reserve;
}

bool ds4_weights_mode_parse(const char *s, ds4_weights_mode *out) {
    if (!strcmp(s, "auto")) *out = DS4_WEIGHTS_AUTO;
    else if (!strcmp(s, "mmap")) *out = DS4_WEIGHTS_MMAP;
    else if (!strcmp(s, "ram")) *out = DS4_WEIGHTS_RAM;
    else return false;
    return true;
}

const char *ds4_weights_mode_name(ds4_weights_mode m) {
    return m == DS4_WEIGHTS_MMAP ? "mmap" : m == DS4_WEIGHTS_RAM ? "ram" : "auto";
}

/* AUTO resolved: DS4_WEIGHTS, then the size rule. */
static bool resolve_weights(const char *path, ds4_weights_mode mode, bool *ram, ds4_error *err) {
    const char *env = getenv("DS4_WEIGHTS");
    if (mode == DS4_WEIGHTS_AUTO && env && *env && !ds4_weights_mode_parse(env, &mode)) {
        ds4_fail(err, "bad value for DS4_WEIGHTS: '%s' (auto, mmap or ram)", env);
        return false;
    }
    if (mode != DS4_WEIGHTS_AUTO) {
        *ram = mode == DS4_WEIGHTS_RAM;
        return true;
    }
    struct stat st;
    *ram = stat(path, &st) == 0 && S_ISREG(st.st_mode) && ds4_weights_auto_ram((uint64_t)st.st_size);
    return true;
}

ds4_model *ds4_model_load(const char *path, const ds4_model_opts *opts, ds4_error *err) {
    ds4_model_opts def;
    if (!opts) {
        ds4_model_opts_default(&def);
        opts = &def;
    }
    bool ram;
    if (!resolve_weights(path, opts->weights, &ram, err)) return NULL;
    const gguf_open_opts go = {ram ? GGUF_OPEN_READ : GGUF_OPEN_MAP, opts->progress};
    gguf_file *f = gguf_open_with(path, &go, err);
    if (!f) return NULL;
    ds4_model *m = ds4_model_from_gguf(f, opts, err);
    if (!m) ds4_error_prefix(err, "%s", path);
    return m;
}

ds4_model *ds4_model_from_gguf(gguf_file *f, const ds4_model_opts *opts, ds4_error *err) {
    ds4_model_opts def;
    if (!opts) {
        ds4_model_opts_default(&def);
        opts = &def;
    }
    ds4_model *m = ds4_xcalloc(1, sizeof *m);
    m->file = f;
    m->numerics = opts->numerics;
    if (!ds4_config_from_gguf(f, &m->cfg, err) || !ds4_weights_bind(&m->cfg, f, &m->w, err)) {
        gguf_close(f);
        free(m);
        return NULL;
    }
    const ds4_config *c = &m->cfg;
    m->hadamard_block = c->idx_dim < 128 ? c->idx_dim : 128;
    if (m->numerics == DS4_NUMERICS_OFFICIAL &&
        ((m->hadamard_block & (m->hadamard_block - 1)) || c->idx_dim % m->hadamard_block)) {
        ds4_fail(err, "official numerics need an indexer key length that is a power of two or a multiple of 128 "
                 "(deepseek4.attention.indexer.key_length = %d)", c->idx_dim);
        ds4_model_free(m);
        return NULL;
    }
    m->omega_main = ds4_xmalloc(sizeof(float) * (size_t)(c->n_rot / 2));
    m->omega_comp = ds4_xmalloc(sizeof(float) * (size_t)(c->n_rot / 2));
    ds4_rope_freqs_main(m->omega_main, c->n_rot, c->rope_base);
    ds4_rope_freqs_yarn(m->omega_comp, c->n_rot, c->compress_rope_base, c->rope_scale, (double)c->rope_orig_ctx,
                        c->yarn_beta_fast, c->yarn_beta_slow);
    m->pool = ds4_pool_create(opts->n_threads > 0 ? opts->n_threads : physical_cores());
    /* Weights in the process's own memory take the kernels' preferred
     * layouts (quant/repack.c); a shared file mapping stays as stored. */
    const char *rp = getenv("DS4_REPACK"); /* "0": keep the stored layouts (A/B runs, debugging) */
    if (gguf_is_copy(f) && !(rp && !strcmp(rp, "0")))
        m->repacked_bytes = ds4_weights_repack(&m->w, c->n_layer, m->pool, opts->progress);
    pthread_mutex_init(&m->eval_lock, NULL);
    return m;
}

void ds4_model_free(ds4_model *m) {
    if (!m) return;
    if (m->pool) {
        ds4_pool_destroy(m->pool);
        pthread_mutex_destroy(&m->eval_lock);
    }
    ds4_weights_free(&m->w);
    free(m->omega_main);
    free(m->omega_comp);
    gguf_close(m->file);
    free(m);
}

const gguf_file *ds4_model_gguf(const ds4_model *m) { return m->file; }
int ds4_model_n_vocab(const ds4_model *m) { return m->cfg.n_vocab; }
int ds4_model_n_layers(const ds4_model *m) { return m->cfg.n_layer; }
uint64_t ds4_model_weight_bytes(const ds4_model *m) { return m->w.mapped_bytes; }
bool ds4_model_weights_in_ram(const ds4_model *m) { return gguf_is_copy(m->file); }
uint64_t ds4_model_repacked_bytes(const ds4_model *m) { return m->repacked_bytes; }
const ds4_config *ds4_model_config(const ds4_model *m) { return &m->cfg; }
ds4_numerics ds4_model_numerics(const ds4_model *m) { return m->numerics; }
int ds4_model_threads(const ds4_model *m) { return m->pool ? ds4_pool_threads(m->pool) : 1; }

/* ---- sessions ---- */

/* A zeroed scratch buffer, its pages faulted in now. calloc maps fresh pages
 * lazily, so the first prompt paid for them: on the Zen 5 guest the first
 * 512-token prefill of a 2-layer Flash-shaped model spent ~0.36 ms per token
 * in page faults (~180 ms in all, most of them in the first pass over the
 * hyper-connection streams), and ran at 132 tok/s against 142 for the same
 * prompt again. Large buffers are 2 MiB-aligned and advised for transparent
 * huge pages, so touching them is a few hundred faults, not tens of
 * thousands. The scratch is bounded (SCRATCH_BUDGET), so committing it up
 * front is what ds4_session_memory_bytes reports anyway. */
#define HUGE_PAGE ((size_t)2 << 20)

static void *scratch_buffer(size_t bytes) {
    if (bytes < HUGE_PAGE) return ds4_xcalloc(bytes ? bytes : 1, 1);
    const size_t rounded = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p = aligned_alloc(HUGE_PAGE, rounded);
    if (!p) return ds4_xcalloc(bytes, 1); /* dies with the usual message if this fails too */
#ifdef MADV_HUGEPAGE
    madvise(p, rounded, MADV_HUGEPAGE); /* advisory: 4 KiB pages still work */
#endif
    memset(p, 0, bytes);
    return p;
}

/* In sizing mode (s->chunk == 0) only counts the bytes. */
static float *scratch(ds4_session *s, size_t n) {
    s->scratch_bytes += n * sizeof(float);
    return s->chunk ? scratch_buffer(n * sizeof(float)) : NULL;
}

static void *iscratch(ds4_session *s, size_t n) {
    s->scratch_bytes += n * sizeof(int32_t);
    return s->chunk ? scratch_buffer(n * sizeof(int32_t)) : NULL;
}

static void scratch_alloc_rows(ds4_session *s, size_t S) {
    const ds4_config *c = &s->m->cfg;
    ds4_scratch *sc = &s->sc;
    const size_t N = (size_t)c->n_hc, D = (size_t)c->n_embd, HD = (size_t)c->head_dim;
    const size_t H = (size_t)c->n_head, G = (size_t)c->n_out_group, K = (size_t)c->n_expert_used;
    const size_t FS = (size_t)c->n_ff_exp * (size_t)(c->n_expert_shared > 1 ? c->n_expert_shared : 1);
    /* Compressor and indexer buffers only when some layer uses them: their
     * metadata dims are bounded by tensors only then. */
    bool any_comp = false, any_csa = false;
    for (int l = 0; l < c->n_layer; l++) {
        any_comp |= ds4_layer_attn(c, l) != DS4_ATTN_SLIDING;
        any_csa |= ds4_layer_attn(c, l) == DS4_ATTN_CSA;
    }
    const size_t CS = any_comp ? S : 0, IS = any_csa ? S : 0;
    sc->H = scratch(s, S * N * D);
    sc->H2 = scratch(s, S * N * D);
    sc->fhat = scratch(s, S * N * D);
    sc->mix = scratch(s, S * (2 + N) * N);
    sc->pre = scratch(s, S * N);
    sc->post = scratch(s, S * N);
    sc->comb = scratch(s, S * N * N);
    sc->x = scratch(s, S * D);
    sc->y = scratch(s, S * D);
    sc->qa = scratch(s, S * (size_t)c->q_lora);
    sc->q = scratch(s, S * H * HD);
    sc->kv = scratch(s, S * HD);
    sc->cz = scratch(s, CS * 2 * HD);
    sc->cg = scratch(s, CS * 2 * HD);
    sc->iq = scratch(s, IS * (size_t)c->idx_head * (size_t)c->idx_dim);
    sc->iqt = scratch(s, IS * (size_t)c->idx_head * (size_t)c->idx_dim);
    sc->iw = scratch(s, IS * (size_t)c->idx_head);
    sc->idots = scratch(s, (any_csa ? (size_t)DS4_IDX_BLOCK * (size_t)c->idx_head : 0) * (size_t)ds4_model_threads(s->m));
    sc->iz = scratch(s, IS * 2 * (size_t)c->idx_dim);
    sc->ig = scratch(s, IS * 2 * (size_t)c->idx_dim);
    sc->o = scratch(s, S * H * HD);
    sc->og = scratch(s, S * H / G * HD);
    sc->lg = scratch(s, S * (size_t)c->o_lora);
    sc->low = scratch(s, S * G * (size_t)c->o_lora);
    sc->router = scratch(s, S * (size_t)c->n_expert);
    sc->selw = scratch(s, S * K);
    sc->sel = iscratch(s, S * K);
    sc->ex_x = scratch(s, S * K * D);
    sc->ex_g = scratch(s, S * K * FS);
    sc->ex_u = scratch(s, S * K * FS);
    sc->ex_o = scratch(s, S * K * D);
    sc->ex_rows = iscratch(s, S * K);
    sc->ex_w = scratch(s, S * K);
    sc->topk = iscratch(s, IS * (size_t)s->topk_cap);
    sc->n_topk = iscratch(s, S);
    sc->iscore_stride = s->ctx / DS4_CSA_RATIO + 1;
    sc->iscore = scratch(s, IS * (size_t)sc->iscore_stride);
    sc->logit_x = scratch(s, S * D);
    /* Per-thread scores: a window plus the most compressed entries one query can see. */
    int most = s->topk_cap;
    for (int l = 0; l < c->n_layer; l++)
        if (ds4_layer_attn(c, l) == DS4_ATTN_HCA && s->ctx / c->compress_ratio[l] > most) most = s->ctx / c->compress_ratio[l];
    /* a task's queries transposed, key row pointers (two floats' room each), then one block's scores */
    sc->thr_stride = DS4_HEAD_GROUP_MAX * c->head_dim + 2 * (s->ring_rows + most) +
                     DS4_ATTN_KEY_BLOCK * DS4_HEAD_GROUP_MAX + 16;
    sc->thr = scratch(s, (size_t)sc->thr_stride * (size_t)ds4_model_threads(s->m));
}

/* Rows per internal chunk: as many as fit a scratch budget, so prefill
 * reads each expert's weights for many rows at once without the scratch
 * growing past a few hundred MB on large shapes or long contexts. */
#define SCRATCH_BUDGET ((size_t)256 << 20)
#define CHUNK_MIN 16
#define CHUNK_MAX 256

static void scratch_alloc(ds4_session *s) {
    s->chunk = 0;
    s->scratch_bytes = 0;
    scratch_alloc_rows(s, 1);
    const size_t one = s->scratch_bytes;
    s->scratch_bytes = 0;
    scratch_alloc_rows(s, 2);
    const size_t per_row = s->scratch_bytes - one;
    size_t rows = per_row ? SCRATCH_BUDGET / per_row : CHUNK_MAX;
    rows = rows < CHUNK_MIN ? CHUNK_MIN : rows > CHUNK_MAX ? CHUNK_MAX : rows;
    s->chunk = (int)rows;
    s->scratch_bytes = 0;
    scratch_alloc_rows(s, rows);
}

static void scratch_free(ds4_scratch *sc) {
    float *fl[] = {sc->H, sc->H2, sc->fhat, sc->mix, sc->pre, sc->post, sc->comb, sc->x, sc->y, sc->qa, sc->q,
                   sc->kv, sc->cz, sc->cg, sc->iq, sc->iw, sc->iz, sc->ig, sc->o, sc->og, sc->lg, sc->low,
                   sc->router, sc->selw, sc->ex_x, sc->ex_g, sc->ex_u, sc->ex_o, sc->ex_w, sc->logit_x, sc->thr,
                   sc->iscore, sc->iqt, sc->idots};
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) free(fl[i]);
    free(sc->sel);
    free(sc->ex_rows);
    free(sc->topk);
    free(sc->n_topk);
}

ds4_session *ds4_session_create(ds4_model *m, int ctx, ds4_error *err) {
    if (ctx < 1) {
        ds4_fail(err, "context size %d: must be at least 1", ctx);
        return NULL;
    }
    ds4_session *s = ds4_xcalloc(1, sizeof *s);
    s->m = m;
    s->ctx = ctx;
    if (!ds4_state_alloc(s, err)) {
        ds4_state_free(s);
        free(s);
        return NULL;
    }
    scratch_alloc(s);
    return s;
}

void ds4_session_free(ds4_session *s) {
    if (!s) return;
    ds4_state_free(s);
    scratch_free(&s->sc);
    free(s);
}

void ds4_session_reset(ds4_session *s) { ds4_state_reset(s); }
int ds4_session_pos(const ds4_session *s) { return s->pos; }
int ds4_session_ctx(const ds4_session *s) { return s->ctx; }
uint64_t ds4_session_memory_bytes(const ds4_session *s) { return s->state_bytes + s->scratch_bytes; }

void ds4_session_set_progress(ds4_session *s, ds4_progress_fn fn, void *user) {
    s->progress = fn;
    s->progress_user = user;
}

void ds4_session_set_hidden_hook(ds4_session *s, ds4_hidden_fn fn, void *user) {
    s->hidden = fn;
    s->hidden_user = user;
}

bool ds4_session_eval(ds4_session *s, const int32_t *tokens, int n, float *logits, bool all_logits, ds4_error *err) {
    const int V = s->m->cfg.n_vocab;
    if (n < 0) return ds4_fail(err, "token count %d is negative", n);
    if ((int64_t)s->pos + n > s->ctx)
        return ds4_fail(err, "context full: %d tokens at position %d exceed the context size %d", n, s->pos, s->ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return ds4_fail(err, "token %d (input index %d) is out of range [0, %d)", tokens[i], i, V);
    pthread_mutex_lock(&s->m->eval_lock);
    for (int done = 0; done < n;) {
        const int k = n - done < s->chunk ? n - done : s->chunk;
        const bool last = done + k == n;
        float *out = NULL;
        if (logits && all_logits) out = logits + (size_t)done * V;
        else if (logits && last) out = logits;
        ds4_forward_chunk(s, tokens + done, k, out, all_logits);
        done += k;
        if (s->progress) s->progress(s->progress_user, done, n);
    }
    pthread_mutex_unlock(&s->m->eval_lock);
    return true;
}

bool ds4_numerics_parse(const char *s, ds4_numerics *out) {
    if (!strcmp(s, "exact")) *out = DS4_NUMERICS_EXACT;
    else if (!strcmp(s, "official")) *out = DS4_NUMERICS_OFFICIAL;
    else return false;
    return true;
}

const char *ds4_numerics_name(ds4_numerics n) { return n == DS4_NUMERICS_EXACT ? "exact" : "official"; }
