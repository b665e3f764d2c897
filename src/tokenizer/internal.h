/* Internals shared by the tokenizer's source files. */
#ifndef DS4_TOKENIZER_INTERNAL_H
#define DS4_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* ---- GPT-2 byte <-> code point map ----
 * Bytes 33..126, 161..172, 174..255 map to themselves; the other 68 bytes map
 * to 256, 257, ... in ascending byte order. */
uint32_t ds4_byte_to_cp(uint8_t b);
/* -1 if cp is not in the byte alphabet. */
int ds4_cp_to_byte(uint32_t cp);

/* Decodes one UTF-8 character at s (n > 0 bytes available) per the WHATWG
 * rules. Returns the number of bytes consumed (>= 1); *cp is the code point,
 * or -1 when those bytes are a maximal invalid subpart. */
size_t ds4_utf8_next(const uint8_t *s, size_t n, int32_t *cp);
/* Appends the UTF-8 encoding of cp (<= 0x10FFFF) to out; returns bytes written (1..4). */
size_t ds4_utf8_put(uint32_t cp, char *out);

/* ---- Unicode classes (unicode_classes.c, generated) ----
 * PCRE2 class contents (ranges, no brackets) of the general categories L, M,
 * N, P, S and of the White_Space property, for ds4_unicode_version. */
extern const char ds4_unicode_version[];
extern const char ds4_uclass_L[], ds4_uclass_M[], ds4_uclass_N[], ds4_uclass_P[], ds4_uclass_S[],
    ds4_uclass_W[];

/* ---- pre-tokenizer (PCRE2) ---- */
typedef struct ds4_pretok ds4_pretok;

ds4_pretok *ds4_pretok_create(const char *name, ds4_error *err);
void ds4_pretok_free(ds4_pretok *p);

/* Splits valid UTF-8 text[0..len) into pieces and calls emit(ctx, start, end)
 * for each (offsets into text, in order, covering the text). */
typedef void (*ds4_piece_fn)(void *ctx, size_t start, size_t end);
bool ds4_pretok_split(const ds4_pretok *p, const char *text, size_t len, ds4_piece_fn emit,
                      void *ctx, ds4_error *err);

#endif
