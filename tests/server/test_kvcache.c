/* Disk KV cache eviction (chat-and-api.md §4.3): the keep value and the
 * order in which a full budget evicts files. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "server/kvcache.h"

Test(server_kvcache, keep_value_decays_hits_every_six_hours) {
    const uint64_t now = 1000000000;
    const double fresh = kvc_keep_value(3, now, 1000, 4000, now);
    cr_assert_float_eq(fresh, 4.0 * 1000 / 4000, 1e-12, "(3 + 1) x tokens / bytes");
    const double six_h = kvc_keep_value(4, now - 6 * 3600, 1000, 4000, now);
    cr_assert_float_eq(six_h, 3.0 * 1000 / 4000, 1e-12, "4 hits halve to 2 after 6 h");
    /* 1 hit after 48 h: 2^-8 = 0.0039 < 0.01 counts as none */
    cr_assert_float_eq(kvc_keep_value(1, now - 48 * 3600, 1000, 4000, now), 0.25, 1e-12);
    /* more tokens per byte is worth more; a future last_used is age 0 */
    cr_assert_gt(kvc_keep_value(0, now, 2000, 4000, now), kvc_keep_value(0, now, 1000, 4000, now));
    cr_assert_float_eq(kvc_keep_value(2, now + 50, 1000, 1000, now), 3.0, 1e-12);
}

static void patch_header(const char *dir, const char *name, uint32_t hits, uint64_t created, uint64_t last_used) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR);
    cr_assert(fd >= 0, "%s", path);
    uint8_t b[8];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(hits >> (8 * i));
    cr_assert_eq(pwrite(fd, b, 4, 20), 4);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(created >> (8 * i));
    cr_assert_eq(pwrite(fd, b, 8, 32), 8);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(last_used >> (8 * i));
    cr_assert_eq(pwrite(fd, b, 8, 40), 8);
    close(fd);
}

/* Names of the .kv files in dir, in one string. */
static void list_dir(const char *dir, char *out, size_t cap) {
    out[0] = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".kv")) {
            strncat(out, de->d_name, cap - strlen(out) - 2);
            strncat(out, " ", cap - strlen(out) - 1);
        }
    closedir(d);
}

/* Three equal files: A (oldest, no hits, just used), B (8 hits an hour ago:
 * least recently used, so plain LRU would evict it), C (no hits, newer than
 * A). A fourth save over the budget evicts A: lowest value, and the older of
 * the two tied at no hits. B's hits keep it. */
Test(server_kvcache, full_budget_evicts_the_lowest_keep_value_first) {
    ds4_error err = {{0}};
    ds4_model_opts mo;
    ds4_model_opts_default(&mo);
    mo.n_threads = 1;
    ds4_model *m = ds4_model_load("models/ds4-demo-q2.gguf", &mo, &err);
    cr_assert_not_null(m, "%s", err.msg);
    ds4_session *s = ds4_session_create(m, 32, &err);
    cr_assert_not_null(s, "%s", err.msg);
    const int32_t toks[4] = {10, 20, 30, 40};
    cr_assert(ds4_session_eval(s, toks, 4, NULL, false, &err), "%s", err.msg);
    uint8_t id[32];
    kvc_model_id(m, id);

    char dir[] = "build/test-kvcache-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    kvc_opts o = {.dir = dir, .budget_bytes = (uint64_t)1 << 30, .min_tokens = 1};
    kvc *c = kvc_open(&o, id, 32, &err);
    cr_assert_not_null(c, "%s", err.msg);
    const char *texts[4] = {"text A", "text B", "text C", "text D"};
    for (int i = 0; i < 3; i++)
        cr_assert(kvc_save(c, s, toks, 4, texts[i], 6, KVC_COLD, 0, NULL, 0, &err), "%s", err.msg);
    const uint64_t one = kvc_bytes(c) / 3;
    cr_assert_eq(kvc_bytes(c), 3 * one, "equal sizes");
    kvc_close(c);

    char names[3][64];
    {
        char all[512];
        list_dir(dir, all, sizeof all);
        cr_assert_eq(sscanf(all, "%63s %63s %63s", names[0], names[1], names[2]), 3, "%s", all);
    }
    /* which text each file holds (the text follows the 120-byte header) */
    const uint64_t now = (uint64_t)time(NULL);
    char who[3] = {0};
    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < 3; i++) {
            char path[256];
            snprintf(path, sizeof path, "%s/%s", dir, names[f]);
            FILE *fp = fopen(path, "rb");
            char buf[200];
            size_t got = fread(buf, 1, sizeof buf, fp);
            fclose(fp);
            if (got > 126 && !memcmp(buf + 120, texts[i], 6)) who[f] = (char)('A' + i);
        }
        cr_assert(who[f], "file %s holds none of the texts", names[f]);
    }
    for (int f = 0; f < 3; f++) {
        if (who[f] == 'A') patch_header(dir, names[f], 0, now - 300, now);
        if (who[f] == 'B') patch_header(dir, names[f], 8, now - 200, now - 3600);
        if (who[f] == 'C') patch_header(dir, names[f], 0, now - 100, now - 60);
    }
    o.budget_bytes = 3 * one + one / 2;
    c = kvc_open(&o, id, 32, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(kvc_count(c), 3);
    cr_assert(kvc_save(c, s, toks, 4, texts[3], 6, KVC_COLD, 0, NULL, 0, &err), "%s", err.msg);
    cr_assert_eq(kvc_count(c), 3, "one file evicted");
    for (int f = 0; f < 3; f++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        const bool present = access(path, F_OK) == 0;
        cr_assert_eq(present, who[f] != 'A', "file of text %c %s", who[f], present ? "kept" : "evicted");
    }
    kvc_close(c);
    char all[512];
    list_dir(dir, all, sizeof all);
    for (char *p = strtok(all, " "); p; p = strtok(NULL, " ")) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, p);
        unlink(path);
    }
    rmdir(dir);
    ds4_session_free(s);
    ds4_model_free(m);
}
