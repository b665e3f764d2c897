/* A one-line progress bar on stderr for long work (load, convert, prefill).
 * Silent when stderr is not a terminal unless DS4_PROGRESS=1, so logs and
 * tests stay clean; redraws at most ~10 times a second. */
#ifndef DS4_BASE_PROGRESS_H
#define DS4_BASE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ds4_progress {
    const char *label;
    uint64_t total;
    uint64_t done;
    bool bytes;          /* format amounts as sizes instead of counts */
    bool enabled;
    double start;
    double last_draw;
} ds4_progress;

void ds4_progress_begin(ds4_progress *p, const char *label, uint64_t total, bool bytes);
void ds4_progress_add(ds4_progress *p, uint64_t amount);   /* thread-unsafe: call from one thread */
void ds4_progress_end(ds4_progress *p);

/* Monotonic seconds. */
double ds4_now(void);

/* "1.23 GiB" style, into buf. Returns buf. */
const char *ds4_format_bytes(double bytes, char *buf, int buflen);

#endif
