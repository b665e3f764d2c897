/* Shared pieces of the model-running subcommands (run, chat, perplexity):
 * model resolution and loading, option value parsing, prefill with a
 * progress bar, the token generation loop and the timing report. */
#ifndef DS4_CLI_COMMON_H
#define DS4_CLI_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "engine/engine.h"
#include "sampler/sampler.h"
#include "tokenizer/tokenizer.h"

/* The model to use: opt (-m), else $DS4_MODEL, else ./ds4flash.gguf when it
 * exists, else the embedded demo model (models/ds4-demo-q2.gguf next to the
 * binary's ../models or in the source tree), announced on stderr. Returns a
 * malloc'd path, or NULL after printing why nothing was found. */
char *cli_resolve_model(const char *opt);

typedef struct cli_model {
    char *path;
    ds4_model *model;
    ds4_tokenizer *tok;
    double load_s;
} cli_model;

/* Resolves, loads (progress bar on a terminal) and builds the tokenizer.
 * Prints the error and returns false on failure. */
bool cli_model_load(cli_model *cm, const char *cmd, const char *opt_path, int threads, ds4_numerics numerics,
                    ds4_weights_mode weights);
/* Parses a --numerics value (exact|official), printing the error. */
bool cli_parse_numerics(const char *cmd, const char *v, ds4_numerics *out);
/* Parses a --weights value (auto|mmap|ram), printing the error. */
bool cli_parse_weights(const char *cmd, const char *v, ds4_weights_mode *out);
/* The --weights help line, shared by every command that loads a model. */
#define CLI_WEIGHTS_HELP \
    "  --weights MODE        auto (default: read into huge-page RAM when it fits, else map) | mmap | ram\n"
void cli_model_free(cli_model *cm);

/* Option values: print "ds4 <cmd>: bad value for <flag>: '<v>'" and return
 * false on junk or out-of-range input. */
bool cli_parse_int(const char *cmd, const char *flag, const char *v, int lo, int hi, int *out);
bool cli_parse_float(const char *cmd, const char *flag, const char *v, float lo, float hi, float *out);
bool cli_parse_u64(const char *cmd, const char *flag, const char *v, uint64_t *out);
/* Fetches the value of flag argv[*i] (advancing *i); prints an error when missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

/* Options shared by run and chat. */
typedef struct cli_opts {
    const char *model;
    int ctx, threads, n_tokens;
    int think; /* ds4_think_mode */
    ds4_numerics numerics;
    ds4_weights_mode weights;
    const char *system;
    ds4_sampler_params sp;
} cli_opts;

void cli_opts_default(cli_opts *o);
/* If argv[*i] is one of the shared options, consumes it (and its value) and
 * returns 1; 0 when it is not one; -1 after printing an error. */
int cli_parse_common(const char *cmd, int argc, char **argv, int *i, cli_opts *o);
/* Help lines for the shared options. */
void cli_common_usage(FILE *f);

/* Whole file (or stdin for "-") as a malloc'd NUL-terminated buffer
 * (base/file.h: the message names the file, a directory is refused). */
char *cli_read_file(const char *path, size_t *len, ds4_error *err);

/* Evaluates ids on the session with a progress bar when the prompt is long
 * (and stderr a terminal); logits gets the last position's n_vocab floats. */
bool cli_prefill(ds4_session *s, const int32_t *ids, int n, float *logits, ds4_error *err);

typedef enum cli_finish {
    CLI_FINISH_STOP,      /* EOS or a stop string */
    CLI_FINISH_LENGTH,    /* max tokens or the context is full */
    CLI_FINISH_INTERRUPT, /* *interrupt became non-zero (Ctrl-C) */
    CLI_FINISH_CALLER,    /* the text callback asked to stop */
    CLI_FINISH_ERROR,
} cli_finish;

const char *cli_finish_name(cli_finish f);

/* Receives decoded text as it is generated (complete UTF-8, stop strings
 * held back). Returns false to stop generation. */
typedef bool (*cli_text_fn)(void *user, const char *text, size_t len);

typedef struct cli_gen {
    ds4_session *sess;
    const ds4_tokenizer *tok;
    ds4_sampler *sampler;
    ds4_stopper *stop;     /* EOS ids and stop strings */
    float *logits;         /* n_vocab floats: the prefill's last logits on entry */
    int max_tokens;
    volatile sig_atomic_t *interrupt; /* may be NULL */
    cli_text_fn on_text;
    void *user;
    /* results */
    int n_gen;             /* tokens sampled, EOS excluded */
    double gen_s;
} cli_gen;

/* Samples up to max_tokens tokens; every sampled token except EOS is
 * evaluated, so the session holds exactly the text handed out (plus held
 * stop-string bytes). */
cli_finish cli_generate(cli_gen *g, ds4_error *err);

/* "prompt: N tokens in T s (X tok/s) | gen: ..." on stderr. */
void cli_print_stats(FILE *f, double load_s, int n_prompt, double prompt_s, int n_gen, double gen_s,
                     uint64_t seed);

#endif
