/* Internal structures shared by the engine API (engine.c), the session
 * state (state.c) and the CPU forward pass (forward.c, attention.c, moe.c). */
#ifndef DS4_ENGINE_CPU_INTERNAL_H
#define DS4_ENGINE_CPU_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/pool.h"
#include "engine/engine.h"
#include "model/config.h"
#include "model/weights.h"
#include "quant/quant.h"


/* Most heads per attention task. Every task reads all keys of its row, so
 * a token's keys are read once per task: few large groups keep that L3
 * traffic down at long context (attention.c: heads_per_task). */
#define DS4_HEAD_GROUP_MAX 64
#define DS4_ATTN_KEY_BLOCK 64 /* keys per step of attention's one-pass softmax (128 KB of rows) */

struct ds4_model {
    gguf_file *file;
    ds4_config cfg;
    ds4_weights w;
    ds4_numerics numerics;
    ds4_pool *pool;
    pthread_mutex_t eval_lock; /* sessions sharing the model take turns on its pool */
    float *omega_main; /* n_rot/2 RoPE frequencies, sliding-only layers */
    float *omega_comp; /* n_rot/2 YaRN frequencies, compressed layers */
    int hadamard_block; /* official numerics: WHT length on indexer vectors */
    uint64_t repacked_bytes; /* weights rewritten into the kernels' layouts at load */
};

/* One compressor's incremental state (§7, §11). Tokens of the window being
 * filled sit in cur_* (slot t mod m, width coff·d, gates already include
 * ape); CSA also keeps the previous window's first halves (Za, Γa) in
 * prev_*, valid once one entry exists. Entries are append-only. */
typedef struct ds4_comp_state {
    int d, coff, m;
    float *cur_z, *cur_g;   /* m x coff·d */
    float *prev_z, *prev_g; /* CSA: m x d */
    float *entries;         /* cap x d */
    int n_entries, cap;
} ds4_comp_state;

typedef struct ds4_layer_state {
    float *ring;            /* W x HD: key row of position t at t mod W */
    ds4_comp_state comp;    /* attention compressor (ratio > 0) */
    ds4_comp_state icomp;   /* indexer compressor (CSA) */
} ds4_layer_state;

/* Indexer entries scored per task: spreads one decode row over the threads. */
#define DS4_IDX_BLOCK 256

/* Scratch for one chunk of up to ds4_session.chunk rows (see forward.c). */
typedef struct ds4_scratch {
    float *H, *H2;          /* S x N·D residual streams */
    float *fhat;            /* S x N·D normalised streams */
    float *mix;             /* S x (2+N)N */
    float *pre, *post, *comb; /* S x N, S x N, S x N·N */
    float *x;               /* S x D sub-layer input */
    float *y;               /* S x D sub-layer output */
    float *qa;              /* S x Q */
    float *q;               /* S x H·HD */
    float *kv;              /* S x HD */
    float *cz, *cg;         /* S x 2·HD compressor projections */
    float *iq;              /* S x IH·ID */
    float *iqt;             /* S x ID·IH: iq transposed per row (ds4_scores_f32's query layout) */
    float *idots;           /* threads x DS4_IDX_BLOCK·IH: one task's q·k of every head */
    float *iw;              /* S x IH */
    float *iz, *ig;         /* S x 2·ID */
    float *o;               /* S x H·HD attention output */
    float *og;              /* S x (H/G)·HD one group's gathered input */
    float *lg;              /* S x OL one group's low-rank output */
    float *low;             /* S x G·OL */
    float *router;          /* S x E */
    int32_t *sel;           /* S x K selected experts */
    float *selw;            /* S x K routing weights */
    float *ex_x, *ex_g, *ex_u, *ex_o; /* S rows: gathered input, gate, up (F·shared wide), output */
    int32_t *ex_rows;       /* S gathered row indices */
    float *ex_w;            /* S gathered weights */
    int32_t *topk;          /* S x KI selected compressed entries (CSA) */
    int *n_topk;            /* S */
    float *iscore;          /* S x iscore_stride indexer scores (CSA rows past top-k) */
    int iscore_stride;
    float *thr;             /* per thread: scores/probs, (W + KI + cap) floats */
    int thr_stride;
    float *logit_x;         /* S x D normalised head input */
} ds4_scratch;

struct ds4_session {
    ds4_model *m;
    int ctx;
    int pos;
    int chunk;              /* rows per internal forward chunk (scratch is sized for it) */
    int ring_rows;          /* min(W, ctx): key rows a query can look back on */
    int topk_cap;           /* min(KI, ctx/4): most indexer picks a row can have */
    ds4_layer_state *L;
    ds4_scratch sc;
    uint64_t state_bytes, scratch_bytes;
    ds4_progress_fn progress;
    void *progress_user;
    ds4_hidden_fn hidden;
    void *hidden_user;
};

/* state.c */
bool ds4_state_alloc(ds4_session *s, ds4_error *err);
void ds4_state_free(ds4_session *s);
void ds4_state_reset(ds4_session *s);
/* Appends the projections of one token to a compressor; emits an entry
 * (normalised, RoPE'd, rounded in official mode) when its window closes. */
void ds4_comp_push(const ds4_model *m, ds4_comp_state *cs, const float *z, const float *g, const float *ape,
                   const float *norm, int64_t t, bool indexer);

/* forward.c: evaluates rows [0, n) of one chunk at positions pos.. (n <= s->chunk);
 * writes n x V logits to out (rows chosen by want_row) */
void ds4_forward_chunk(ds4_session *s, const int32_t *tokens, int n, float *logits, bool all_rows);

/* attention.c / moe.c: one sub-layer over a chunk, x -> y (S x D). */
void ds4_attention(ds4_session *s, int layer, int n);
void ds4_moe(ds4_session *s, int layer, const int32_t *tokens, int n);

/* profile.c: stage boundary marks and the streamed-bytes counter (no-ops
 * unless ds4_profile_start was called on this thread). */
void ds4_prof_stage(int stage);
void ds4_prof_bytes(uint64_t bytes);
/* Brackets a matrix product dispatch: begin returns the start time (0 while
 * profiling is off), end adds the elapsed time to the current stage. */
double ds4_prof_mm_begin(void);
void ds4_prof_mm_end(double t0);

/* Weight products go through the quant module's kernels. */
void ds4_mm(const ds4_model *m, const ds4_mat *w, const float *X, int n, float *Y);
/* count independent products (count <= 16) of n rows each; for one row
 * (decode) they go to the pool as one batch, with identical results. */
void ds4_mm_multi(const ds4_model *m, int n, int count, const ds4_mat *w, const float *const *x, float *const *y);
/* Several products in one pool dispatch, profiled as ds4_mm profiles one. */
void ds4_mm_batch(const ds4_model *m, const ds4_matvec_job *jobs, int n);

#endif
