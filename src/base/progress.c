#include "base/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double ds4_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *ds4_format_bytes(double bytes, char *buf, int buflen) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) { bytes /= 1024.0; u++; }
    snprintf(buf, (size_t)buflen, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

static void draw(ds4_progress *p, bool final) {
    double now = ds4_now();
    double frac = p->total ? (double)p->done / (double)p->total : 1.0;
    if (frac > 1.0) frac = 1.0;
    double elapsed = now - p->start;
    double eta = frac > 0.0 ? elapsed / frac - elapsed : 0.0;
    char bar[31];
    int filled = (int)(frac * 30.0);
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
    bar[30] = 0;
    char a[32], b[32];
    if (p->bytes) {
        ds4_format_bytes((double)p->done, a, sizeof a);
        ds4_format_bytes((double)p->total, b, sizeof b);
    } else {
        snprintf(a, sizeof a, "%llu", (unsigned long long)p->done);
        snprintf(b, sizeof b, "%llu", (unsigned long long)p->total);
    }
    fprintf(stderr, "\r%s [%s] %5.1f%% %s / %s  %s %.0fs   ", p->label, bar, frac * 100.0, a, b,
            final ? "took" : "eta", final ? elapsed : eta);
    if (final) fputc('\n', stderr);
    fflush(stderr);
    p->last_draw = now;
}

void ds4_progress_begin(ds4_progress *p, const char *label, uint64_t total, bool bytes) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->bytes = bytes;
    const char *env = getenv("DS4_PROGRESS");
    if (env) p->enabled = strcmp(env, "0") != 0;
    else p->enabled = isatty(STDERR_FILENO);
    p->start = ds4_now();
}

void ds4_progress_add(ds4_progress *p, uint64_t amount) {
    p->done += amount;
    if (!p->enabled) return;
    if (ds4_now() - p->last_draw >= 0.1) draw(p, false);
}

void ds4_progress_end(ds4_progress *p) {
    if (p->enabled) draw(p, true);
}
