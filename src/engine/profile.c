/* Per-thread forward-pass profile for `ds4 bench`: weight bytes streamed by
 * the matrix products (one read of the matrix per product, whatever the
 * token count), wall time per stage, and the part of it spent inside the
 * products (ds4_prof_mm_begin/end around each dispatch). The forward pass marks stage
 * boundaries with ds4_prof_stage(); while profiling is off each mark is a
 * thread-local flag test. */
#include <string.h>

#include "base/progress.h"
#include "engine/cpu/internal.h"

typedef struct {
    bool on;
    int stage;
    double since;
    ds4_profile p;
} prof_state;

static _Thread_local prof_state prof;

void ds4_profile_start(void) {
    memset(&prof, 0, sizeof prof);
    prof.on = true;
    prof.stage = DS4_STAGE_COUNT;
}

void ds4_profile_stop(ds4_profile *out) {
    ds4_prof_stage(DS4_STAGE_COUNT);
    prof.on = false;
    if (out) *out = prof.p;
}

const char *ds4_stage_name(int stage) {
    static const char *names[DS4_STAGE_COUNT] = {"hc+embed", "attention", "indexer+compressor", "router",
                                                 "routed experts", "shared expert", "head"};
    return stage >= 0 && stage < DS4_STAGE_COUNT ? names[stage] : "?";
}

void ds4_prof_stage(int stage) {
    if (!prof.on) return;
    const double now = ds4_now();
    if (prof.stage < DS4_STAGE_COUNT) prof.p.stage_s[prof.stage] += now - prof.since;
    prof.stage = stage;
    prof.since = now;
}

double ds4_prof_mm_begin(void) { return prof.on ? ds4_now() : 0; }

void ds4_prof_mm_end(double t0) {
    if (prof.on && t0 > 0 && prof.stage < DS4_STAGE_COUNT) prof.p.stage_mm_s[prof.stage] += ds4_now() - t0;
}

void ds4_prof_bytes(uint64_t bytes) {
    if (!prof.on) return;
    prof.p.weight_bytes += bytes;
    prof.p.mm_calls++;
    if (prof.stage < DS4_STAGE_COUNT) prof.p.stage_bytes[prof.stage] += bytes;
}
