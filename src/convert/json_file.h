/* Loading the checkpoint's JSON files (config.json, the shard index,
 * tokenizer.json, tokenizer_config.json) with one kind of error message. */
#ifndef DS4_CONVERT_JSON_FILE_H
#define DS4_CONVERT_JSON_FILE_H

#include <jansson.h>

#include "base/error.h"

/* The parsed document (flags: jansson's JSON_* decoding flags), or NULL with
 * "PATH: cannot open: ..." / "PATH: is a directory..." for an unreadable
 * file and "PATH: malformed JSON at line L, column C: ..." for bad JSON. */
json_t *ds4_json_load_file(const char *path, size_t flags, ds4_error *err);

#endif
