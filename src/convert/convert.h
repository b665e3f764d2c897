/* HF checkpoint -> DS4 GGUF conversion driver.
 *
 * Plans the whole file first (validating every tensor against config.json),
 * then streams: one tensor at a time, routed experts expert by expert, each
 * matrix in row chunks of bounded size that are decoded and quantized in
 * parallel over a thread pool and appended to OUT.tmp, which is renamed when
 * complete. Peak memory is a few chunk buffers, independent of model size. */
#ifndef DS4_CONVERT_CONVERT_H
#define DS4_CONVERT_CONVERT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "convert/plan.h"

#define DS4_TYPE_NONE UINT32_MAX

typedef struct ds4_convert_opts {
    const char *hf_dir;
    const char *out_path;
    const char *recipe;      /* default "q2-asym" */
    uint32_t ov_experts, ov_routed_down, ov_attn, ov_shared, ov_output; /* DS4_TYPE_NONE = recipe's */
    const char *imatrix_path;
    const char *mtp_path;    /* also write the separate MTP GGUF (C.8) here */
    const char *name;        /* general.name; default: folder name */
    int threads;             /* <= 0: all CPUs */
    bool dry_run, report, vocab_only;
    size_t chunk_floats;     /* rows are processed in chunks of about this many values (0: default) */
    FILE *log;               /* warnings, notes, report (default stderr) */
    FILE *table;             /* --dry-run table (default stdout) */
} ds4_convert_opts;

void ds4_convert_opts_init(ds4_convert_opts *o);

/* Applies the overrides of o to the recipe. */
bool ds4_convert_recipe(const ds4_convert_opts *o, ds4_recipe *r, ds4_error *err);

bool ds4_convert_run(const ds4_convert_opts *o, ds4_error *err);

#endif
