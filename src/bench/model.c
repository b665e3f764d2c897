/* `ds4 bench -m FILE`: end-to-end decode and prefill speed of a model,
 * against the memory bandwidth measured in the same run.
 *
 * Decode is bandwidth-bound: every token streams the attention and shared
 * weights of every layer, the routed experts it selects and the output
 * head. The engine counts those bytes itself (ds4_profile), so the achieved
 * GB/s is measured, not estimated; dividing by the same-run triad gives the
 * fraction of the machine's bandwidth that decode reaches. The file is
 * mapped, so every page is touched once before timing (a resident model is
 * what a long-running server decodes from). */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/progress.h"
#include "bench/bench.h"
#include "engine/engine.h"
#include "quant/quant.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Touches every page of every tensor so timing starts from a resident model. */
static double prefault(const gguf_file *f, uint64_t *bytes) {
    double t0 = ds4_now();
    volatile uint8_t sink = 0;
    uint64_t total = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) total += gguf_tensor_at(f, i)->nbytes;
    *bytes = total;
    /* A model that does not fit would only thrash: decode then streams from disk. */
    const size_t avail = (size_t)ds4_meminfo_bytes("MemAvailable");
    if (avail && total > avail) return -1.0;
    total = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const uint8_t *p = t->data;
        for (uint64_t off = 0; off < t->nbytes; off += 4096) sink ^= p[off];
        total += t->nbytes;
    }
    (void)sink;
    *bytes = total;
    return ds4_now() - t0;
}

static void random_tokens(int32_t *t, int n, int vocab) {
    for (int i = 0; i < n; i++) t[i] = (int32_t)(rnd() % (uint64_t)vocab);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_stages(FILE *out, bool csv, const char *what, const ds4_profile *p, int tokens) {
    double total = 0;
    for (int s = 0; s < DS4_STAGE_COUNT; s++) total += p->stage_s[s];
    if (!csv)
        fprintf(out, "\nstage split (%s, per token; \"in products\": time inside the matrix products, and their GB/s):\n"
                     "  %-20s %10s %7s %12s %9s %12s %9s\n",
                what, "stage", "ms", "share", "MiB read", "GB/s", "in products", "GB/s");
    for (int s = 0; s < DS4_STAGE_COUNT; s++) {
        const double ms = p->stage_s[s] / tokens * 1e3, mib = (double)p->stage_bytes[s] / tokens / 1048576.0;
        const double gbs = p->stage_s[s] > 0 ? (double)p->stage_bytes[s] / p->stage_s[s] / 1e9 : 0;
        const double mm_ms = p->stage_mm_s[s] / tokens * 1e3;
        const double mm_gbs = p->stage_mm_s[s] > 0 ? (double)p->stage_bytes[s] / p->stage_mm_s[s] / 1e9 : 0;
        if (csv)
            fprintf(out, "stage_%s,%s,%.4f,%.4f,%.3f,%.3f,%.4f,%.3f\n", what, ds4_stage_name(s), ms,
                    total > 0 ? p->stage_s[s] / total : 0, mib, gbs, mm_ms, mm_gbs);
        else
            fprintf(out, "  %-20s %10.3f %6.1f%% %12.2f %9.2f %12.3f %9.2f\n", ds4_stage_name(s), ms,
                    total > 0 ? 100.0 * p->stage_s[s] / total : 0, mib, gbs, mm_ms, mm_gbs);
    }
}

int ds4_bench_model(const ds4_bench_model_opts *o, FILE *out) {
    ds4_model_opts mo;
    ds4_model_opts_default(&mo);
    mo.n_threads = o->threads;
    mo.weights = o->weights;
    mo.progress = true;
    ds4_error err;
    const double t_load = ds4_now();
    ds4_model *m = ds4_model_load(o->model, &mo, &err);
    if (!m) {
        fprintf(stderr, "ds4 bench: %s\n", err.msg);
        return 1;
    }
    const double load_s = ds4_now() - t_load;
    const bool in_ram = ds4_model_weights_in_ram(m);
    const int threads = ds4_model_threads(m), vocab = ds4_model_n_vocab(m), L = ds4_model_n_layers(m);
    int max_prefill = 0;
    for (int i = 0; i < o->n_prefill; i++) max_prefill = o->prefill[i] > max_prefill ? o->prefill[i] : max_prefill;
    int ctx = o->ctx_max;
    if (ctx < o->ctx_start + o->gen + 2) ctx = o->ctx_start + o->gen + 2;
    if (ctx < max_prefill) ctx = max_prefill;
    ds4_session *s = ds4_session_create(m, ctx, &err);
    if (!s) {
        fprintf(stderr, "ds4 bench: %s\n", err.msg);
        ds4_model_free(m);
        return 1;
    }
    int status = 0;
    char b1[32], b2[32];

    /* (a) bandwidth with the same thread count */
    ds4_pool *pool = ds4_pool_create(threads);
    bool capped = false;
    const size_t triad_bytes = o->triad_bytes ? o->triad_bytes : ds4_triad_default_array_bytes(&capped);
    ds4_bench_stat triad, readbw;
    if (!ds4_bench_bandwidth(pool, triad_bytes, 5, &triad, &readbw)) {
        ds4_pool_destroy(pool);
        ds4_session_free(s);
        ds4_model_free(m);
        return 1;
    }
    ds4_pool_destroy(pool);
    uint64_t mapped = 0;
    const double pf = in_ram ? 0.0 : prefault(ds4_model_gguf(m), &mapped);
    if (o->csv) {
        fprintf(out, "section,name,value,value2,value3,value4\n");
        fprintf(out, "model,layers,%d,,,\nmodel,weight_bytes,%llu,,,\nmodel,threads,%d,,,\nmodel,simd,%s,,,\n", L,
                (unsigned long long)ds4_model_weight_bytes(m), threads, ds4_simd_level());
        fprintf(out, "model,weights,%s,%.3f,%llu,\n", in_ram ? "ram" : "mmap", load_s,
                (unsigned long long)ds4_model_repacked_bytes(m));
        fprintf(out, "triad,gbs,%.3f,%.3f,,\n", triad.best, triad.median);
        fprintf(out, "read_only,gbs,%.3f,%.3f,,\n", readbw.best, readbw.median);
    } else {
        fprintf(out, "ds4 bench: %s: %d layers, %s of weights, %d threads, simd %s\n", o->model, L,
                ds4_format_bytes((double)ds4_model_weight_bytes(m), b1, sizeof b1), threads, ds4_simd_level());
        fprintf(out, "triad (3 arrays of %s%s): %.1f GB/s best, %.1f median\n",
                ds4_format_bytes((double)triad_bytes, b2, sizeof b2), capped ? ", capped by available memory" : "",
                triad.best, triad.median);
        fprintf(out, "read-only stream (2 of those arrays, nothing written): %.1f GB/s best, %.1f median\n", readbw.best,
                readbw.median);
        if (in_ram)
            fprintf(out, "weights: read into huge-page RAM at load (%.2f s), %s regrouped for the kernels\n", load_s,
                    ds4_format_bytes((double)ds4_model_repacked_bytes(m), b2, sizeof b2));
        else if (pf < 0)
            fprintf(out, "prefault: skipped, %s of weights exceed the available memory (decode will read from disk)\n",
                    ds4_format_bytes((double)mapped, b1, sizeof b1));
        else
            fprintf(out, "weights: mapped (4 KiB pages), %s touched in %.2f s\n", ds4_format_bytes((double)mapped, b1, sizeof b1), pf);
    }

    /* (b) decode */
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(ctx + 1));
    float *logits = malloc(sizeof(float) * (size_t)vocab);
    double *ms = malloc(sizeof(double) * (size_t)(o->gen > 0 ? o->gen : 1));
    random_tokens(tok, ctx, vocab);
    ds4_profile prof;
    if (o->ctx_start > 0 && !ds4_session_eval(s, tok, o->ctx_start, NULL, false, &err)) goto fail;
    /* Two untimed tokens: first-use costs (scratch, kernel tables). */
    for (int i = 0; i < 2; i++)
        if (!ds4_session_eval(s, tok + o->ctx_start + i, 1, logits, false, &err)) goto fail;
    ds4_profile_start();
    double t_total = 0;
    for (int i = 0; i < o->gen; i++) {
        double t0 = ds4_now();
        if (!ds4_session_eval(s, tok + o->ctx_start + 2 + i, 1, logits, false, &err)) {
            ds4_profile_stop(NULL);
            goto fail;
        }
        ms[i] = (ds4_now() - t0) * 1e3;
        t_total += ms[i] / 1e3;
    }
    ds4_profile_stop(&prof);
    if (o->gen > 0) {
        /* Bandwidth again right after decode: on a shared host it moves, and the
         * fraction against the higher of the two is the conservative one. */
        ds4_pool *pool2 = ds4_pool_create(threads);
        ds4_bench_stat after = triad, read_after = readbw;
        const bool have_after = ds4_bench_bandwidth(pool2, triad_bytes, 5, &after, &read_after);
        ds4_pool_destroy(pool2);
        const double ref = have_after && after.best > triad.best ? after.best : triad.best;
        const double read_ref = have_after && read_after.best > readbw.best ? read_after.best : readbw.best;
        const double bytes_tok = (double)prof.weight_bytes / o->gen;
        const double gbs = (double)prof.weight_bytes / t_total / 1e9;
        qsort(ms, (size_t)o->gen, sizeof *ms, cmp_double);
        const double med = o->gen % 2 ? ms[o->gen / 2] : 0.5 * (ms[o->gen / 2 - 1] + ms[o->gen / 2]);
        if (o->csv) {
            fprintf(out, "decode,tok_s,%.4f,%.4f,,\n", o->gen / t_total, 1e3 / med);
            fprintf(out, "decode,bytes_per_token,%.0f,,,\n", bytes_tok);
            fprintf(out, "decode,gbs,%.3f,%.3f,%.3f,%.3f\n", gbs, gbs / triad.best, after.best, gbs / ref);
            fprintf(out, "decode,read_only_frac,%.3f,%.3f,,\n", gbs / readbw.best, gbs / read_ref);
            fprintf(out, "decode,ms_best_median,%.3f,%.3f,,\n", ms[0], med);
        } else {
            fprintf(out, "\ndecode: %d tokens from position %d: %.2f tok/s (%.1f ms/token mean, %.1f median, %.1f best)\n",
                    o->gen, o->ctx_start + 2, o->gen / t_total, t_total / o->gen * 1e3, med, ms[0]);
            fprintf(out, "  weights read per token (counted by the engine): %s in %llu products\n",
                    ds4_format_bytes(bytes_tok, b1, sizeof b1), (unsigned long long)(prof.mm_calls / (uint64_t)o->gen));
            fprintf(out, "  achieved %.2f GB/s = %.2f of the same-run triad (%.2f of its median)\n", gbs,
                    gbs / triad.best, gbs / triad.median);
            fprintf(out, "  triad right after decode: %.1f GB/s best -> %.2f of the higher of the two\n", after.best,
                    gbs / ref);
            fprintf(out, "  read-only stream: %.1f GB/s before, %.1f after -> %.2f of the higher\n", readbw.best,
                    read_after.best, gbs / read_ref);
        }
        print_stages(out, o->csv, "decode", &prof, o->gen);
        /* Projection to the full 43-layer Flash: the head once, the layers
         * scaled, both in bytes and in measured time (the routed experts are
         * a larger share of a full model's bytes than of a 2-layer one, and
         * their kernels are the slowest per byte, so the time projection is
         * the honest one). */
        const double head = (double)prof.stage_bytes[DS4_STAGE_HEAD] / o->gen;
        const double per_layer = (bytes_tok - head) / L;
        const double full = head + 43.0 * per_layer;
        const double head_s = prof.stage_s[DS4_STAGE_HEAD] / o->gen;
        const double full_s = head_s + 43.0 * (t_total / o->gen - head_s) / L;
        const double full_gbs = full / full_s / 1e9;
        if (o->csv) {
            fprintf(out, "projection,flash43_bytes_per_token,%.0f,%.4f,%.4f,\n", full, triad.best * 1e9 / full,
                    gbs * 1e9 / full);
            fprintf(out, "projection,flash43_measured_layers,%.4f,%.3f,%.4f,\n", 1.0 / full_s, full_gbs,
                    full_gbs / triad.best);
        } else {
            fprintf(out,
                    "\nprojection to 43 layers: %s per token -> %.2f tok/s at the triad bandwidth, %.2f tok/s at the "
                    "achieved GB/s\n",
                    ds4_format_bytes(full, b1, sizeof b1), triad.best * 1e9 / full, gbs * 1e9 / full);
            fprintf(out,
                    "  with the measured time per layer (head once): %.2f tok/s = %.2f GB/s = %.2f of the triad\n",
                    1.0 / full_s, full_gbs, full_gbs / triad.best);
        }
    }

    /* (c) prefill */
    for (int i = 0; i < o->n_prefill; i++) {
        const int P = o->prefill[i];
        ds4_session_reset(s);
        random_tokens(tok, P, vocab);
        ds4_profile_start();
        double t0 = ds4_now();
        if (!ds4_session_eval(s, tok, P, logits, false, &err)) {
            ds4_profile_stop(NULL);
            goto fail;
        }
        const double dt = ds4_now() - t0;
        ds4_profile_stop(&prof);
        if (o->csv) fprintf(out, "prefill,%d,%.4f,%.4f,,\n", P, P / dt, dt);
        else fprintf(out, "\nprefill %d tokens: %.2f tok/s (%.2f s)\n", P, P / dt, dt);
        char what[32];
        snprintf(what, sizeof what, "prefill%d", P);
        print_stages(out, o->csv, what, &prof, P);
    }
    goto done;
fail:
    fprintf(stderr, "ds4 bench: %s\n", err.msg);
    status = 1;
done:
    free(tok);
    free(logits);
    free(ms);
    ds4_session_free(s);
    ds4_model_free(m);
    return status;
}
