/* See json_file.h. The file is read with base/file.h first so that a
 * missing file or a directory is reported as such, not as "malformed JSON
 * at line -1". */
#include "convert/json_file.h"

#include <stdlib.h>

#include "base/file.h"

json_t *ds4_json_load_file(const char *path, size_t flags, ds4_error *err) {
    size_t len;
    char *text = ds4_read_file(path, &len, err);
    if (!text) return NULL;
    json_error_t je;
    json_t *root = json_loadb(text, len, flags, &je);
    free(text);
    if (!root) ds4_fail(err, "%s: malformed JSON at line %d, column %d: %s", path, je.line, je.column, je.text);
    return root;
}
