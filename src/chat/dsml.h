/* DSML helpers shared by the final and the streaming parser (internal). */
#ifndef DS4_CHAT_DSML_H
#define DS4_CHAT_DSML_H

#include <stdbool.h>
#include <stddef.h>

#include "chat/strbuf.h"

/* A tag form: "<｜DSML｜", "<DSML｜" or "<" before the tag name (§2). */
typedef struct ds4_dsml_form {
    const char *open;   /* "<｜DSML｜" */
    const char *close;  /* "</｜DSML｜" */
} ds4_dsml_form;

extern const ds4_dsml_form ds4_dsml_forms[3];

/* Finds the tool block start in [p, end) trying the markers in §2's order.
 * On success sets *start (including a matched "\n\n"), *body (just after
 * "tool_calls>") and *form. */
bool ds4_dsml_find_start(const char *p, const char *end, const char **start, const char **body,
                         const ds4_dsml_form **form);

/* If [p, end) starts with form->open + name (or close), returns the length of
 * that prefix, else 0. */
size_t ds4_dsml_tag(const char *p, const char *end, const char *prefix, const char *name);

/* Entity decoding of &amp; &lt; &gt; &quot; &apos; only. */
void ds4_dsml_decode_entities(ds4_sb *out, const char *p, size_t n);
/* Appends s as a JSON string literal (quotes included); bytes >= 0x80 pass
 * through unchanged. */
void ds4_json_quote(ds4_sb *out, const char *s, size_t n);
void ds4_json_escape(ds4_sb *out, const char *s, size_t n); /* without quotes */

/* Parses a tag's attributes up to '>' starting at p (after the tag name).
 * Returns the position after '>' or NULL when the tag is not complete/valid.
 * name/string_attr are decoded into the buffers (string_attr->len == 0 and
 * *has_string false when absent). */
const char *ds4_dsml_attrs(const char *p, const char *end, ds4_sb *name, bool *has_name,
                           ds4_sb *string_attr, bool *has_string);

/* Length of the incomplete UTF-8 sequence at the end of [s, s+n). */
size_t ds4_utf8_partial_tail(const char *s, size_t n);

#endif
