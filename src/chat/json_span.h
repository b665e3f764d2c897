/* Byte-level helpers over JSON text that jansson has already validated:
 * find value spans and minify them without re-formatting numbers or string
 * escapes (internal header of the chat layer). */
#ifndef DS4_CHAT_JSON_SPAN_H
#define DS4_CHAT_JSON_SPAN_H

#include <stdbool.h>
#include <stddef.h>

#include "chat/strbuf.h"

const char *ds4_json_skip_ws(const char *p, const char *end);
/* End of the JSON value starting at p (p at its first byte), or NULL. */
const char *ds4_json_value_end(const char *p, const char *end);
/* Appends [p, end) without whitespace outside strings. When `lt_escape` is
 * set, every '<' inside a string is written as \u003c if it starts
 * `lt_escape` (used to keep "</｜DSML｜parameter>" out of JSON bodies). */
void ds4_json_minify(ds4_sb *out, const char *p, const char *end, const char *lt_escape);

#endif
