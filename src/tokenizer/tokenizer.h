/* Byte-level BPE tokenizer for DeepSeek V3/V4 vocabularies (GGUF metadata).
 *
 * Encoding, in order (mirrors Hugging Face tokenizers on DeepSeek's
 * tokenizer.json, token for token):
 *   1. invalid UTF-8 in the input is replaced by U+FFFD, one per maximal
 *      invalid subpart (the WHATWG / Unicode "best practice" rule, which is
 *      also what Node's Buffer.toString('utf8') does). The reference takes
 *      only valid strings, so this defines the behaviour for bad bytes;
 *   2. added tokens (token types 3 control and 4 user-defined) are matched
 *      first, leftmost then longest, and emitted as their own ids;
 *   3. the text between them is split by the "joyai-llm" pre-tokenizer: three
 *      regexes applied in sequence, each keeping matches and gaps ("isolated");
 *   4. each piece is byte-mapped (GPT-2 byte <-> code point map) and merged by
 *      merge rank.
 * A loaded tokenizer is immutable: encode/decode calls on the same tokenizer
 * may run concurrently from several threads. */
#ifndef DS4_TOKENIZER_H
#define DS4_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "gguf/gguf.h"

typedef struct ds4_tokenizer ds4_tokenizer;

/* GGUF token type codes (tokenizer.ggml.token_type). */
typedef enum ds4_token_type {
    DS4_TOKEN_NORMAL = 1,
    DS4_TOKEN_UNKNOWN = 2,
    DS4_TOKEN_CONTROL = 3,
    DS4_TOKEN_USER_DEFINED = 4,
    DS4_TOKEN_UNUSED = 5,
    DS4_TOKEN_BYTE = 6,
} ds4_token_type;

/* The special tokens ds4 uses, found by their exact string (never by a fixed
 * id). -1 when the vocabulary does not have the token: loading still
 * succeeds, and the feature that needs it asks ds4_tokenizer_require_special
 * for a clear error. */
typedef enum ds4_special {
    DS4_SPECIAL_BOS,         /* <｜begin▁of▁sentence｜> */
    DS4_SPECIAL_EOS,         /* <｜end▁of▁sentence｜> */
    DS4_SPECIAL_USER,        /* <｜User｜> */
    DS4_SPECIAL_ASSISTANT,   /* <｜Assistant｜> */
    DS4_SPECIAL_THINK_OPEN,  /* <think> */
    DS4_SPECIAL_THINK_CLOSE, /* </think> */
    DS4_SPECIAL_DSML,        /* ｜DSML｜ */
    DS4_SPECIAL_COUNT
} ds4_special;

/* The exact UTF-8 string of a special token (formats.md C.5). */
const char *ds4_special_string(ds4_special which);

/* A growable id vector. Zero-initialise; ds4_tokens_free releases it. */
typedef struct ds4_tokens {
    int32_t *ids;
    size_t n, cap;
} ds4_tokens;

void ds4_tokens_push(ds4_tokens *t, int32_t id);
void ds4_tokens_free(ds4_tokens *t);

/* ---- loading ---- */

/* Reads tokenizer.ggml.tokens, .merges (rank = index) and, when present,
 * .token_type from a GGUF file (a vocab-only file is enough). The tokenizer
 * copies what it needs: f may be closed afterwards. tokenizer.ggml.pre, when
 * present, must name a pre-tokenizer ds4 implements ("joyai-llm", or the
 * "deepseek-v3" name some converters use for the same regexes). */
ds4_tokenizer *ds4_tokenizer_load(const gguf_file *f, ds4_error *err);

/* The same from arrays in memory (tests, tools). token_types may be NULL:
 * then tokens shaped like <｜…｜> or <|…|> and the special strings above are
 * treated as control tokens and everything else as normal. pre may be NULL
 * (= "joyai-llm"). */
typedef struct ds4_vocab_desc {
    const char *const *tokens;  /* n_tokens strings, byte-mapped alphabet */
    const size_t *token_lens;   /* NULL: NUL-terminated */
    const int32_t *token_types; /* NULL or n_tokens entries */
    size_t n_tokens;
    const char *const *merges;  /* "left right", rank = index */
    const size_t *merge_lens;   /* NULL: NUL-terminated */
    size_t n_merges;
    const char *pre;
} ds4_vocab_desc;

ds4_tokenizer *ds4_tokenizer_create(const ds4_vocab_desc *desc, ds4_error *err);
void ds4_tokenizer_free(ds4_tokenizer *tok);

/* ---- vocabulary ---- */

int32_t ds4_tokenizer_n_vocab(const ds4_tokenizer *tok);
int32_t ds4_tokenizer_special_id(const ds4_tokenizer *tok, ds4_special which); /* -1 if absent */
/* The id of `which`, or -1 after filling err with a message that says the
 * vocabulary lacks that token and names `feature` (the thing that needs it). */
int32_t ds4_tokenizer_require_special(const ds4_tokenizer *tok, ds4_special which,
                                      const char *feature, ds4_error *err);
/* Id of the token whose vocabulary string is exactly s[0..len), or -1. */
int32_t ds4_tokenizer_find(const ds4_tokenizer *tok, const char *s, size_t len);
ds4_token_type ds4_token_type_of(const ds4_tokenizer *tok, int32_t id); /* 0 if out of range */

/* The bytes a token decodes to: byte-unmapped for normal tokens, the literal
 * content for added (control / user-defined) tokens. Not NUL-terminated in
 * general (a piece may contain NUL); NULL with *len = 0 for a bad id. */
const char *ds4_token_piece(const ds4_tokenizer *tok, int32_t id, size_t *len);
/* The token's string as stored in the vocabulary (byte-mapped alphabet for
 * normal tokens), NUL-terminated; NULL for a bad id. */
const char *ds4_token_text(const ds4_tokenizer *tok, int32_t id, size_t *len);

/* ---- encoding ---- */

/* Appends the ids of text[0..len) to out. parse_special: added tokens of
 * type control are recognised in the text (the reference does this for all
 * added tokens); false leaves control-token strings to the BPE, so that
 * untrusted text cannot inject role markers (user-defined added tokens are
 * still matched, as llama.cpp does). Fails only on a PCRE2 error. */
bool ds4_tokenize(const ds4_tokenizer *tok, const char *text, size_t len, bool parse_special,
                  ds4_tokens *out, ds4_error *err);

/* Copies text[0..len) with every maximal invalid UTF-8 subpart replaced by
 * U+FFFD (EF BF BD). Returns a malloc'ed NUL-terminated buffer; *out_len is
 * its length. This is the input normalisation ds4_tokenize applies. */
char *ds4_utf8_sanitize(const char *text, size_t len, size_t *out_len);
/* True if s[0..len) is valid UTF-8 (no surrogates, no overlongs, <= U+10FFFF). */
bool ds4_utf8_valid(const char *s, size_t len);

/* ---- decoding ---- */

/* Concatenated raw pieces of ids (exact bytes, which may be invalid UTF-8 if
 * the ids split a character). malloc'ed, NUL-terminated, length in *len.
 * Bad ids are skipped. */
char *ds4_detokenize(const ds4_tokenizer *tok, const int32_t *ids, size_t n, size_t *len);

/* Streaming decoder for generated text: push ids one at a time and get back
 * only complete, valid UTF-8. An incomplete character at the end is held
 * until the next push; bytes that can never form a valid character come out
 * as U+FFFD (as the reference's lossy decode does). */
typedef struct ds4_detok ds4_detok;

ds4_detok *ds4_detok_new(const ds4_tokenizer *tok);
void ds4_detok_free(ds4_detok *d);
/* Returns text ready to print (valid until the next call on d); may be empty. */
const char *ds4_detok_push(ds4_detok *d, int32_t id, size_t *len);
/* Same for raw bytes (e.g. to feed already-decoded text through one filter). */
const char *ds4_detok_push_bytes(ds4_detok *d, const char *bytes, size_t n, size_t *len);
/* End of stream: whatever is held comes out, an incomplete tail as U+FFFD. */
const char *ds4_detok_flush(ds4_detok *d, size_t *len);
/* Forget held bytes (new generation). */
void ds4_detok_reset(ds4_detok *d);

#endif
