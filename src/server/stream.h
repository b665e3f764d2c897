/* A byte pipe between the generation worker (writer) and the HTTP connection
 * thread that sends a streamed response (reader). Both sides hold a
 * reference; the last release frees it. The reader marks it cancelled when
 * the client went away, and the writer checks that once per token so a
 * disconnect stops generation promptly. */
#ifndef DS4_SERVER_STREAM_H
#define DS4_SERVER_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct srv_stream srv_stream;

srv_stream *srv_stream_new(void);                 /* refcount 1 */
void srv_stream_retain(srv_stream *s);
void srv_stream_release(srv_stream *s);

/* Writer side. write returns false once the reader cancelled. */
bool srv_stream_write(srv_stream *s, const char *data, size_t n);
bool srv_stream_printf(srv_stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void srv_stream_close(srv_stream *s);              /* no more data: reader sees end */
bool srv_stream_cancelled(srv_stream *s);

/* Reader side: copies up to max bytes. Returns the count, 0 when nothing came
 * within timeout_ms, or -1 at the end (closed and drained, or cancelled). */
ssize_t srv_stream_read(srv_stream *s, char *buf, size_t max, int timeout_ms);
void srv_stream_cancel(srv_stream *s);

#endif
