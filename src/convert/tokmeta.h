/* Hugging Face tokenizer.json (+ tokenizer_config.json) -> the GGUF
 * tokenizer.* metadata (formats.md C.3, C.5): model "gpt2" (byte-level BPE),
 * pre "joyai-llm", the token list for ids 0..vocab-1 ([PAD<id>] for holes),
 * merges in rank order, token types, bos/eos ids and flags. */
#ifndef DS4_CONVERT_TOKMETA_H
#define DS4_CONVERT_TOKMETA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "gguf/gguf.h"

/* llama.cpp token type codes. */
enum { DS4_TOK_NORMAL = 1, DS4_TOK_UNKNOWN = 2, DS4_TOK_CONTROL = 3, DS4_TOK_USER = 4, DS4_TOK_UNUSED = 5, DS4_TOK_BYTE = 6 };

typedef struct ds4_tokmeta {
    int64_t n_vocab;
    char **tokens;   /* n_vocab NUL-terminated strings */
    int32_t *types;  /* n_vocab */
    int64_t n_merges;
    char **merges;   /* "left right" */
    int64_t bos_id, eos_id, pad_id; /* -1 when unknown */
    bool has_add_bos, add_bos, has_add_eos, add_eos;
    char *chat_template; /* NULL when absent */
    char pre[32];
} ds4_tokmeta;

/* dir holds tokenizer.json and optionally tokenizer_config.json.
 * vocab_size > 0 (from config.json) fixes the token count; ids at or past it
 * are an error. bos/eos >= 0 (from config.json) take precedence over
 * tokenizer_config.json and over the special-token strings. log gets notes
 * (may be NULL). */
bool ds4_tokmeta_load(const char *dir, int64_t vocab_size, int64_t bos, int64_t eos, FILE *log, ds4_tokmeta *t,
                      ds4_error *err);
void ds4_tokmeta_free(ds4_tokmeta *t);

/* The tokenizer.* keys. The strings must stay alive until the writer is
 * finished. */
void ds4_tokmeta_write(const ds4_tokmeta *t, gguf_writer *w);

#endif
