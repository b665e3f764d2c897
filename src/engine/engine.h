/* Public engine API: load a DS4 GGUF, create sessions, evaluate tokens.
 *
 * This is the boundary that the tokenizer/chat/CLI/server layers use; the
 * CPU forward pass lives behind it (src/engine/cpu, src/model). A model is
 * immutable after load and may be shared by several sessions; a session is
 * used by one thread at a time. */
#ifndef DS4_ENGINE_H
#define DS4_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "gguf/gguf.h"
#include "model/config.h"

typedef struct ds4_model ds4_model;
typedef struct ds4_session ds4_session;

typedef enum ds4_numerics {
    DS4_NUMERICS_EXACT = 0,    /* plain fp32 math, as the reference implementation */
    DS4_NUMERICS_OFFICIAL = 1, /* + DeepSeek's inference rounding steps (architecture.md §13) */
} ds4_numerics;

/* Where the weights live (gguf.h's gguf_open_mode says why it matters). */
typedef enum ds4_weights_mode {
    DS4_WEIGHTS_AUTO = 0, /* read into RAM when it fits (ds4_weights_auto_ram), else map */
    DS4_WEIGHTS_MMAP = 1, /* map the file: instant start, 4 KiB pages */
    DS4_WEIGHTS_RAM = 2,  /* read the file into huge-page memory: a full read at load, faster decode */
} ds4_weights_mode;

typedef struct ds4_model_opts {
    int n_threads;          /* <= 0: one per physical core */
    ds4_numerics numerics;
    bool progress;          /* progress bar on load */
    ds4_weights_mode weights;
} ds4_model_opts;

/* Defaults: threads = one per physical core, official numerics (what DeepSeek's own
 * inference computes), no progress bar, weights AUTO. ds4_model_load(path, NULL, err)
 * uses these. With weights AUTO, the environment variable DS4_WEIGHTS
 * (auto|mmap|ram) decides; a bad value there is a load error. */
void ds4_model_opts_default(ds4_model_opts *o);

ds4_model *ds4_model_load(const char *path, const ds4_model_opts *opts, ds4_error *err);
/* The same from an already opened GGUF (e.g. gguf_open_memory); takes
 * ownership of f, which is closed on failure too. */
ds4_model *ds4_model_from_gguf(gguf_file *f, const ds4_model_opts *opts, ds4_error *err);
void ds4_model_free(ds4_model *m);

const gguf_file *ds4_model_gguf(const ds4_model *m); /* metadata (tokenizer keys, name) */
int ds4_model_n_vocab(const ds4_model *m);
int ds4_model_n_layers(const ds4_model *m);
/* Bytes of weights the model maps (for reports). */
uint64_t ds4_model_weight_bytes(const ds4_model *m);
/* The validated shape (model/config.h). */
const ds4_config *ds4_model_config(const ds4_model *m);
ds4_numerics ds4_model_numerics(const ds4_model *m);
/* "auto" / "mmap" / "ram" <-> ds4_weights_mode (for --weights flags). */
bool ds4_weights_mode_parse(const char *s, ds4_weights_mode *out);
const char *ds4_weights_mode_name(ds4_weights_mode m);
/* AUTO's rule: read into RAM when the kernel offers transparent huge pages
 * and a file of this size leaves at least max(2 GiB, 1/8 of RAM) of the
 * available memory free (room for the KV cache and the rest of the system);
 * map it otherwise (and on systems without THP). */
bool ds4_weights_auto_ram(uint64_t file_bytes);
/* Whether the loaded model's weights were read into memory (else mapped). */
bool ds4_model_weights_in_ram(const ds4_model *m);
/* Bytes of weights rewritten at load into the kernels' own layouts (Q8_0 ->
 * Q8_0_X16, Q2_K -> Q2_K_X4, Q4_K -> Q4_K_X4 on AVX-512; DS4_REPACK=0 in
 * the environment keeps the stored layouts); 0 for a file mapping. */
uint64_t ds4_model_repacked_bytes(const ds4_model *m);
/* "exact" / "official" <-> ds4_numerics (for --numerics flags and logs). */
bool ds4_numerics_parse(const char *s, ds4_numerics *out);
const char *ds4_numerics_name(ds4_numerics n);
int ds4_model_threads(const ds4_model *m);

/* A session holds the incremental state (sliding window, compressed KV,
 * indexer entries...) for up to ctx positions. */
ds4_session *ds4_session_create(ds4_model *m, int ctx, ds4_error *err);
void ds4_session_free(ds4_session *s);
void ds4_session_reset(ds4_session *s);           /* back to position 0 */
int ds4_session_pos(const ds4_session *s);        /* tokens evaluated so far */
int ds4_session_ctx(const ds4_session *s);
uint64_t ds4_session_memory_bytes(const ds4_session *s);

/* Evaluates n tokens at positions [pos, pos+n) and advances pos by n.
 * logits (may be NULL) receives n x n_vocab floats when all_logits is true,
 * else n_vocab floats for the last token. Fails cleanly (err says so) when
 * pos + n would exceed ctx or a token id is out of range. The forward pass
 * may process the tokens in internal chunks; the result is the same. */
bool ds4_session_eval(ds4_session *s, const int32_t *tokens, int n, float *logits, bool all_logits,
                      ds4_error *err);

/* Optional progress callback for long evaluations (prefill). */
typedef void (*ds4_progress_fn)(void *user, int done, int total);
void ds4_session_set_progress(ds4_session *s, ds4_progress_fn fn, void *user);

/* Debug hook (ds4 logits --dump-hidden): called during evaluation with the
 * residual streams of rows at positions [pos, pos+n), row-major, width
 * floats per row. stage 0: the embeddings broadcast to the N streams
 * (width N·D); stage l+1: the output streams of layer l (width N·D);
 * stage n_layers+1: the final RMSNorm output (width D). */
typedef void (*ds4_hidden_fn)(void *user, int stage, int pos, int n, const float *data, int width);
void ds4_session_set_hidden_hook(ds4_session *s, ds4_hidden_fn fn, void *user);

/* Serialized session state for the disk KV cache: a flat byte image that
 * ds4_session_state_load accepts only for the same model and ctx. */
size_t ds4_session_state_size(const ds4_session *s);
bool ds4_session_state_save(const ds4_session *s, void *buf, size_t size, ds4_error *err);
bool ds4_session_state_load(ds4_session *s, const void *buf, size_t size, ds4_error *err);

/* Profiling for `ds4 bench`: while started on a thread, the forward passes
 * that thread runs count the weight bytes their matrix products stream (one
 * read of each matrix per product) and the wall time per stage. */
typedef enum ds4_stage {
    DS4_STAGE_HC = 0,   /* embedding lookup, hyper-connection mixing and norms */
    DS4_STAGE_ATTN,     /* q/kv/output projections and attention over the window and entries */
    DS4_STAGE_COMP,     /* compressors and the lightning indexer */
    DS4_STAGE_ROUTER,
    DS4_STAGE_ROUTED,
    DS4_STAGE_SHARED,
    DS4_STAGE_HEAD,     /* HC head, final norm, output projection */
    DS4_STAGE_COUNT
} ds4_stage;

typedef struct ds4_profile {
    uint64_t weight_bytes, mm_calls;
    uint64_t stage_bytes[DS4_STAGE_COUNT];
    double stage_s[DS4_STAGE_COUNT];
    double stage_mm_s[DS4_STAGE_COUNT]; /* of stage_s: inside the matrix products */
} ds4_profile;

void ds4_profile_start(void);            /* reset and enable on this thread */
void ds4_profile_stop(ds4_profile *out); /* disable; out (may be NULL) gets the totals */
const char *ds4_stage_name(int stage);

#endif
