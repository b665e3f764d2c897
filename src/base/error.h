/* Error reporting shared by every module.
 *
 * Functions that can fail take a `ds4_error *` as their last argument and
 * return false / NULL on failure after filling it with a human-readable
 * message that names what was wrong (the key, tensor, field, offset...).
 * Callers may pass NULL when they do not care about the message. */
#ifndef DS4_BASE_ERROR_H
#define DS4_BASE_ERROR_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ds4_error {
    char msg[1024];
} ds4_error;

/* Formats the message into err (if non-NULL) and returns false, so that
 * `return ds4_fail(err, "...")` reads naturally in bool functions. */
bool ds4_fail(ds4_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends "context: " to an existing message (e.g. the file name). */
void ds4_error_prefix(ds4_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Allocation helpers that abort with a message on out-of-memory: running out
 * of memory for bookkeeping is not a recoverable condition for a CLI tool.
 * Large, size-from-input allocations must use plain malloc and report. */
void *ds4_xmalloc(size_t n);
void *ds4_xcalloc(size_t count, size_t size);
void *ds4_xrealloc(void *p, size_t n);
char *ds4_xstrdup(const char *s);

#endif
