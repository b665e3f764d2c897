/* Logits -> token (chat-and-api.md §5): greedy, temperature, top-k, top-p,
 * min-p, repetition/frequency/presence penalties, a seeded xorshift64*
 * generator for reproducible draws; plus stop-string and EOS detection over
 * the decoded text (ds4_stopper). */
#ifndef DS4_SAMPLER_H
#define DS4_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ds4_sampler_params {
    float temp;               /* <= 0: argmax. Default 1 */
    float top_p;              /* outside (0, 1] means 1. Default 1 */
    float min_p;              /* relative to the best token; < 0 means 0. Default 0.05 */
    int top_k;                /* 0 = off; capped at DS4_SAMPLER_MAX_TOP_K */
    float repeat_penalty;     /* 1 = off: positive logits / p, negative * p */
    float frequency_penalty;  /* logit -= f * count */
    float presence_penalty;   /* logit -= p when count > 0 */
    int penalty_last_n;       /* tokens of history the penalties look at (<= 0: all) */
    uint64_t seed;            /* 0: from the clock */
} ds4_sampler_params;

#define DS4_SAMPLER_MAX_TOP_K 1024

/* T=1, top_p=1, min_p=0.05, top_k=0, no penalties (last_n 64), clock seed. */
ds4_sampler_params ds4_sampler_defaults(void);

typedef struct ds4_sampler ds4_sampler;

ds4_sampler *ds4_sampler_new(const ds4_sampler_params *p, int n_vocab);
void ds4_sampler_free(ds4_sampler *s);
/* The seed actually used (the clock's when params.seed was 0). */
uint64_t ds4_sampler_seed(const ds4_sampler *s);
const ds4_sampler_params *ds4_sampler_get_params(const ds4_sampler *s);

/* Token history for the penalties: call with every prompt/generated token
 * that should count. */
void ds4_sampler_accept(ds4_sampler *s, int32_t token);
void ds4_sampler_reset_history(ds4_sampler *s);

/* Applies the penalties to logits in place (n_vocab floats). */
void ds4_sampler_apply_penalties(const ds4_sampler *s, float *logits);
/* Penalties, then selection. logits is modified. Returns a token id. */
int32_t ds4_sampler_sample(ds4_sampler *s, float *logits);

/* The xorshift64* generator (exposed for tests). */
typedef struct ds4_rng { uint64_t state; } ds4_rng;
void ds4_rng_seed(ds4_rng *r, uint64_t seed);
uint64_t ds4_rng_next(ds4_rng *r);
double ds4_rng_uniform(ds4_rng *r); /* [0, 1) */

/* ---- stop conditions ----
 * Stop strings are matched on the decoded text across token boundaries:
 * text is held back while it could still be the start of a stop string
 * (at most max_stop_len-1 bytes), so a matched stop string is never shown. */
typedef struct ds4_stopper ds4_stopper;

ds4_stopper *ds4_stopper_new(const char *const *stops, int n_stops);
void ds4_stopper_free(ds4_stopper *st);
/* Token ids that end generation (EOS); none by default. */
void ds4_stopper_add_eos(ds4_stopper *st, int32_t token);
bool ds4_stopper_is_eos(const ds4_stopper *st, int32_t token);
/* Feeds decoded text. Sets *out and *out_len to the bytes that are now safe to
 * show (valid until the next call). Returns true when a stop string matched:
 * the output then ends right before it and generation must stop. */
bool ds4_stopper_feed(ds4_stopper *st, const char *text, size_t len, const char **out,
                      size_t *out_len);
/* At the end of generation: the held bytes. */
void ds4_stopper_flush(ds4_stopper *st, const char **out, size_t *out_len);
/* Which stop string matched (index), -1 if none. */
int ds4_stopper_matched(const ds4_stopper *st);

#endif
