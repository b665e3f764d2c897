/* Small file helpers shared by the modules that read whole text/JSON files
 * (CLI prompts and corpora, converter inputs). */
#ifndef DS4_BASE_FILE_H
#define DS4_BASE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

/* The whole of path as a malloc'd buffer with a NUL after the last byte;
 * *len gets the byte count. A missing file, a directory or a read error
 * gives NULL and a message that starts with the path. */
char *ds4_read_file(const char *path, size_t *len, ds4_error *err);

/* The rest of an open stream (stdin for "-" style inputs), as above; `name`
 * is what the error message calls the stream. */
char *ds4_read_stream(FILE *f, const char *name, size_t *len, ds4_error *err);

/* "dir/name" as a malloc'd string. */
char *ds4_path_join(const char *dir, const char *name);

/* A "Key:  N kB" line of /proc/meminfo ("MemAvailable", "MemTotal") in
 * bytes; 0 when the file or the key is missing (not Linux). */
uint64_t ds4_meminfo_bytes(const char *key);

#endif
