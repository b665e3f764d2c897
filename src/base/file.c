/* Whole-file reading and path joining (see file.h). */
#include "base/file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *ds4_read_stream(FILE *f, const char *name, size_t *len, ds4_error *err) {
    size_t cap = 65536, n = 0;
    char *buf = ds4_xmalloc(cap);
    for (;;) {
        if (cap - n < 2) buf = ds4_xrealloc(buf, cap *= 2);
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        ds4_fail(err, "%s: read error: %s", name, strerror(e));
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

char *ds4_read_file(const char *path, size_t *len, ds4_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        ds4_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    /* fopen succeeds on a directory on Linux; say so instead of a read error. */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        ds4_fail(err, "%s: is a directory, not a file", path);
        return NULL;
    }
    char *b = ds4_read_stream(f, path, len, err);
    fclose(f);
    return b;
}

char *ds4_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = ds4_xmalloc(a + b + 2);
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

uint64_t ds4_meminfo_bytes(const char *key) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    const size_t kl = strlen(key);
    uint64_t v = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (!strncmp(line, key, kl) && line[kl] == ':' && sscanf(line + kl + 1, "%llu", &kb) == 1) {
            v = (uint64_t)kb * 1024;
            break;
        }
    }
    fclose(f);
    return v;
}
