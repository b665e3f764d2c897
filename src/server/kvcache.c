#include "server/kvcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gguf/gguf.h"

typedef struct kvc_entry {
    char name[45];           /* <40 hex>.kv */
    char *text;
    size_t text_len;
    uint32_t n_tokens, hits, ctx;
    uint64_t created, last_used, file_bytes;
    uint64_t base_bytes;     /* header through payload: what the checksum covers (plus the header) */
    kvc_tool *tools;         /* the file's tool map */
    int n_tools;
} kvc_entry;

struct kvc {
    kvc_opts o;
    char *dir;
    uint8_t model_id[32];
    int ctx;
    kvc_entry *e;
    int n, cap;
    pthread_mutex_t mu;
};

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

void kvc_model_id(const ds4_model *m, uint8_t out[32]) {
    const gguf_file *g = ds4_model_gguf(m);
    uint8_t size[8];
    put64(size, gguf_file_size(g));
    unsigned len = 32;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, size, sizeof size);
    /* session states differ between numerics modes: never mix them */
    uint8_t numerics = (uint8_t)ds4_model_numerics(m);
    EVP_DigestUpdate(ctx, &numerics, 1);
    /* metadata + tensor table: names, shapes, types and offsets */
    EVP_DigestUpdate(ctx, gguf_base(g), (size_t)gguf_data_offset(g));
    EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
}

static void sha1_hex(const char *text, size_t len, char out[41]) {
    uint8_t d[20];
    unsigned n = 20;
    EVP_Digest(text, len, d, &n, EVP_sha1(), NULL);
    for (int i = 0; i < 20; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static char *path_of(const kvc *c, const char *name) {
    size_t n = strlen(c->dir) + strlen(name) + 2;
    char *p = ds4_xmalloc(n);
    snprintf(p, n, "%s/%s", c->dir, name);
    return p;
}

static void tools_free(kvc_tool *t, int n) {
    for (int i = 0; i < n; i++) { free(t[i].id); free(t[i].dsml); }
    free(t);
}

static void entry_free(kvc_entry *e) {
    free(e->text);
    tools_free(e->tools, e->n_tools);
}

#define KTM_HEADER_BYTES 48

/* Serializes a tool map section (malloc'd, *len set). */
static uint8_t *ktm_build(const kvc_tool *t, int n, size_t *len) {
    size_t body = 0;
    for (int i = 0; i < n; i++) body += 8 + strlen(t[i].id) + strlen(t[i].dsml);
    uint8_t *b = ds4_xmalloc(KTM_HEADER_BYTES + body);
    memcpy(b, "KTM1", 4);
    put32(b + 4, (uint32_t)n);
    put64(b + 8, body);
    uint8_t *p = b + KTM_HEADER_BYTES;
    for (int i = 0; i < n; i++) {
        const char *f[2] = {t[i].id, t[i].dsml};
        for (int k = 0; k < 2; k++) {
            size_t l = strlen(f[k]);
            put32(p, (uint32_t)l);
            memcpy(p + 4, f[k], l);
            p += 4 + l;
        }
    }
    unsigned dl = 32;
    EVP_Digest(b + KTM_HEADER_BYTES, body, b + 16, &dl, EVP_sha256(), NULL);
    *len = KTM_HEADER_BYTES + body;
    return b;
}

/* Parses a tool map section of exactly len bytes; false with a reason. */
static bool ktm_parse(const uint8_t *b, size_t len, kvc_tool **out, int *n_out, ds4_error *err) {
    if (len < KTM_HEADER_BYTES || memcmp(b, "KTM1", 4)) return ds4_fail(err, "bad tool map header");
    uint32_t n = get32(b + 4);
    uint64_t body = get64(b + 8);
    if (body != len - KTM_HEADER_BYTES) return ds4_fail(err, "tool map size does not match the file");
    uint8_t d[32];
    unsigned dl = 32;
    EVP_Digest(b + KTM_HEADER_BYTES, (size_t)body, d, &dl, EVP_sha256(), NULL);
    if (memcmp(d, b + 16, 32)) return ds4_fail(err, "tool map checksum mismatch");
    if (n > body / 8) return ds4_fail(err, "tool map count %u too large", n);
    kvc_tool *t = ds4_xcalloc(n ? n : 1, sizeof *t);
    size_t off = KTM_HEADER_BYTES;
    for (uint32_t i = 0; i < n; i++) {
        char *f[2] = {NULL, NULL};
        for (int k = 0; k < 2; k++) {
            uint32_t l = len - off >= 4 ? get32(b + off) : UINT32_MAX;
            if (l == UINT32_MAX || l > len - off - 4) {
                free(f[0]);
                tools_free(t, (int)i);
                return ds4_fail(err, "tool map entry %u runs past its section", i);
            }
            f[k] = ds4_xmalloc((size_t)l + 1);
            memcpy(f[k], b + off + 4, l);
            f[k][l] = 0;
            off += 4 + (size_t)l;
        }
        t[i].id = f[0];
        t[i].dsml = f[1];
    }
    if (off != len) {
        tools_free(t, (int)n);
        return ds4_fail(err, "tool map has %zu trailing bytes", len - off);
    }
    *out = t;
    *n_out = (int)n;
    return true;
}

static void drop_entry(kvc *c, int i, bool unlink_file) {
    if (unlink_file) {
        char *p = path_of(c, c->e[i].name);
        unlink(p);
        free(p);
    }
    entry_free(&c->e[i]);
    c->e[i] = c->e[--c->n];
}

/* Parses and checks a header; returns false with a reason. */
typedef struct kvc_header {
    uint32_t version, reason, flags, n_tokens, hits, ctx, text_bytes;
    uint64_t created, last_used, payload_bytes;
    uint8_t model_id[32], checksum[32];
} kvc_header;

static bool parse_header(const uint8_t *h, kvc_header *o, ds4_error *err) {
    if (memcmp(h, "DKVC", 4)) return ds4_fail(err, "bad magic");
    o->version = get32(h + 4);
    if (o->version != 1) return ds4_fail(err, "unsupported version %u", o->version);
    o->reason = get32(h + 8);
    o->flags = get32(h + 12);
    o->n_tokens = get32(h + 16);
    o->hits = get32(h + 20);
    o->ctx = get32(h + 24);
    o->text_bytes = get32(h + 28);
    o->created = get64(h + 32);
    o->last_used = get64(h + 40);
    o->payload_bytes = get64(h + 48);
    memcpy(o->model_id, h + 56, 32);
    memcpy(o->checksum, h + 88, 32);
    if (o->n_tokens == 0) return ds4_fail(err, "token count is 0");
    return true;
}

static uint64_t file_size_for(const kvc_header *h) {
    return KVC_HEADER_BYTES + (uint64_t)h->text_bytes + 4ull * h->n_tokens + h->payload_bytes;
}

/* Reads a header and its text, checking what can be checked without the payload. */
static bool index_file(kvc *c, const char *name, kvc_entry *out, ds4_error *err) {
    char *p = path_of(c, name);
    FILE *f = fopen(p, "rb");
    free(p);
    if (!f) return ds4_fail(err, "cannot open: %s", strerror(errno));
    uint8_t hb[KVC_HEADER_BYTES];
    kvc_header h;
    bool ok = fread(hb, 1, sizeof hb, f) == sizeof hb && parse_header(hb, &h, err);
    if (ok && memcmp(h.model_id, c->model_id, 32)) ok = ds4_fail(err, "written for another model");
    struct stat st;
    bool has_map = ok && (h.flags & KVC_FLAG_TOOL_MAP);
    uint64_t base = ok ? file_size_for(&h) : 0;
    if (ok && (fstat(fileno(f), &st) || (has_map ? (uint64_t)st.st_size < base + KTM_HEADER_BYTES
                                                 : (uint64_t)st.st_size != base)))
        ok = ds4_fail(err, "file size %lld does not match the header (%llu)", (long long)st.st_size,
                      (unsigned long long)base);
    char *text = NULL;
    if (ok) {
        text = malloc((size_t)h.text_bytes + 1);
        if (!text || fread(text, 1, h.text_bytes, f) != h.text_bytes) ok = ds4_fail(err, "truncated text");
    }
    kvc_tool *tools = NULL;
    int n_tools = 0;
    if (ok && has_map) {
        size_t ml = (size_t)((uint64_t)st.st_size - base);
        uint8_t *mb = ml <= (64u << 20) ? malloc(ml) : NULL;
        if (!mb) ok = ds4_fail(err, "tool map of %zu bytes too large", ml);
        else if (fseeko(f, (off_t)base, SEEK_SET) || fread(mb, 1, ml, f) != ml) ok = ds4_fail(err, "truncated tool map");
        else ok = ktm_parse(mb, ml, &tools, &n_tools, err);
        free(mb);
    }
    fclose(f);
    if (ok) {
        text[h.text_bytes] = 0;
        char hex[41];
        sha1_hex(text, h.text_bytes, hex);
        if (strncmp(hex, name, 40)) ok = ds4_fail(err, "name does not match the SHA-1 of its text");
    }
    if (!ok) { free(text); tools_free(tools, n_tools); return false; }
    memset(out, 0, sizeof *out);
    out->tools = tools;
    out->n_tools = n_tools;
    out->base_bytes = base;
    snprintf(out->name, sizeof out->name, "%.*s", (int)(sizeof out->name - 1), name);
    out->text = text;
    out->text_len = h.text_bytes;
    out->n_tokens = h.n_tokens;
    out->hits = h.hits;
    out->ctx = h.ctx;
    out->created = h.created;
    out->last_used = h.last_used;
    out->file_bytes = (uint64_t)st.st_size;
    return true;
}

static bool is_kv_name(const char *n) {
    if (strlen(n) != 43 || strcmp(n + 40, ".kv")) return false;
    for (int i = 0; i < 40; i++)
        if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f'))) return false;
    return true;
}

static void add_entry(kvc *c, const kvc_entry *e) {
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->e = ds4_xrealloc(c->e, (size_t)c->cap * sizeof *c->e);
    }
    c->e[c->n++] = *e;
}

kvc *kvc_open(const kvc_opts *o, const uint8_t model_id[32], int ctx, ds4_error *err) {
    if (mkdir(o->dir, 0755) && errno != EEXIST) {
        ds4_fail(err, "--kv-disk-dir %s: %s", o->dir, strerror(errno));
        return NULL;
    }
    DIR *d = opendir(o->dir);
    if (!d) {
        ds4_fail(err, "--kv-disk-dir %s: %s", o->dir, strerror(errno));
        return NULL;
    }
    kvc *c = ds4_xcalloc(1, sizeof *c);
    c->o = *o;
    c->dir = ds4_xstrdup(o->dir);
    c->o.dir = c->dir;
    memcpy(c->model_id, model_id, 32);
    c->ctx = ctx;
    pthread_mutex_init(&c->mu, NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl > 7 && !strcmp(de->d_name + nl - 7, ".kv.tmp")) {
            /* an interrupted write: never valid */
            char *p = path_of(c, de->d_name);
            unlink(p);
            free(p);
            continue;
        }
        if (!is_kv_name(de->d_name)) continue;
        kvc_entry e;
        ds4_error ie;
        if (index_file(c, de->d_name, &e, &ie)) {
            add_entry(c, &e);
        } else {
            fprintf(stderr, "ds4 serve: kv cache: removing %s: %s\n", de->d_name, ie.msg);
            char *p = path_of(c, de->d_name);
            unlink(p);
            free(p);
        }
    }
    closedir(d);
    fprintf(stderr, "ds4 serve: kv cache: %s holds %d snapshot(s), %.1f MiB (budget %.0f MiB)\n", c->dir, c->n,
            (double)kvc_bytes(c) / 1048576.0, (double)o->budget_bytes / 1048576.0);
    return c;
}

void kvc_close(kvc *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) entry_free(&c->e[i]);
    free(c->e);
    free(c->dir);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

const kvc_opts *kvc_options(const kvc *c) { return &c->o; }
int kvc_count(const kvc *c) { return c->n; }
uint64_t kvc_bytes(const kvc *c) {
    uint64_t b = 0;
    for (int i = 0; i < c->n; i++) b += c->e[i].file_bytes;
    return b;
}

double kvc_keep_value(uint32_t hits, uint64_t last_used, uint32_t n_tokens, uint64_t file_bytes, uint64_t now) {
    const double age = now > last_used ? (double)(now - last_used) : 0.0;
    double h = (double)hits * exp2(-age / KVC_HITS_HALF_LIFE_S);
    if (h < 0.01) h = 0.0;
    return (h + 1.0) * (double)n_tokens / (double)(file_bytes ? file_bytes : 1);
}

/* Lowest keep value first (chat-and-api.md §4.3); ties evict the older file.
 * The protected entry (just written) stays: kvc_save never writes a file
 * that alone exceeds the budget. */
static void evict_to_budget(kvc *c, const char *protect) {
    const uint64_t now = (uint64_t)time(NULL);
    for (;;) {
        uint64_t total = kvc_bytes(c);
        if (total <= c->o.budget_bytes) return;
        int victim = -1;
        double worst = 0.0;
        for (int i = 0; i < c->n; i++) {
            if (protect && !strcmp(c->e[i].name, protect)) continue;
            const kvc_entry *e = &c->e[i];
            const double v = kvc_keep_value(e->hits, e->last_used, e->n_tokens, e->file_bytes, now);
            if (victim < 0 || v < worst || (v == worst && e->created < c->e[victim].created)) {
                victim = i;
                worst = v;
            }
        }
        if (victim < 0) return;
        fprintf(stderr, "ds4 serve: kv cache: evicting %s (%u tokens, %u hits, %.1f MiB) to stay under %.0f MiB\n",
                c->e[victim].name, c->e[victim].n_tokens, c->e[victim].hits, (double)c->e[victim].file_bytes / 1048576.0,
                (double)c->o.budget_bytes / 1048576.0);
        drop_entry(c, victim, true);
    }
}

static bool write_all(int fd, const void *p, size_t n) {
    const char *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0) { if (errno == EINTR) continue; return false; }
        b += w;
        n -= (size_t)w;
    }
    return true;
}

bool kvc_save(kvc *c, const ds4_session *s, const int32_t *tokens, int n, const char *text, size_t text_len,
              kvc_reason reason, uint32_t key_flags, const kvc_tool *tools, int n_tools, ds4_error *err) {
    if (n <= 0 || n != ds4_session_pos(s)) return ds4_fail(err, "snapshot of %d tokens does not match the session", n);
    if (text_len > UINT32_MAX) return ds4_fail(err, "snapshot text too long");
    size_t psize = ds4_session_state_size(s);
    size_t map_len = 0;
    uint8_t *map = n_tools > 0 ? ktm_build(tools, n_tools, &map_len) : NULL;
    uint64_t base = KVC_HEADER_BYTES + text_len + 4ull * (uint64_t)n + psize;
    uint64_t fsize = base + map_len;
    if (fsize + fsize / 100 > c->o.budget_bytes)
    {
        free(map);
        return ds4_fail(err, "snapshot of %.1f MiB does not fit --kv-disk-space-mb %.0f", (double)fsize / 1048576.0,
                        (double)c->o.budget_bytes / 1048576.0);
    }
    void *payload = malloc(psize ? psize : 1);
    if (!payload) { free(map); return ds4_fail(err, "out of memory for a %zu-byte snapshot", psize); }
    if (!ds4_session_state_save(s, payload, psize, err)) { free(payload); free(map); return false; }
    uint8_t *tok = ds4_xmalloc(4 * (size_t)n);
    for (int i = 0; i < n; i++) put32(tok + 4 * i, (uint32_t)tokens[i]);

    uint8_t h[KVC_HEADER_BYTES] = {0};
    memcpy(h, "DKVC", 4);
    put32(h + 4, 1);
    put32(h + 8, (uint32_t)reason);
    key_flags &= KVC_FLAG_RESPONSES_VISIBLE | KVC_FLAG_THINKING_VISIBLE;
    put32(h + 12, key_flags | (map ? KVC_FLAG_TOOL_MAP : 0));
    put32(h + 16, (uint32_t)n);
    put32(h + 24, (uint32_t)ds4_session_ctx(s));
    put32(h + 28, (uint32_t)text_len);
    uint64_t now = (uint64_t)time(NULL);
    put64(h + 32, now);
    put64(h + 40, now);
    put64(h + 48, psize);
    memcpy(h + 56, c->model_id, 32);
    unsigned dl = 32;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, text, text_len);
    EVP_DigestUpdate(md, tok, 4 * (size_t)n);
    EVP_DigestUpdate(md, payload, psize);
    EVP_DigestFinal_ex(md, h + 88, &dl);
    EVP_MD_CTX_free(md);

    char hex[41];
    sha1_hex(text, text_len, hex);
    char name[45];
    snprintf(name, sizeof name, "%s.kv", hex);
    char *path = path_of(c, name);
    size_t tl = strlen(path) + 5;
    char *tmp = ds4_xmalloc(tl);
    snprintf(tmp, tl, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bool ok = fd >= 0;
    if (!ok) ds4_fail(err, "cannot create %s: %s", tmp, strerror(errno));
    if (ok && !(write_all(fd, h, sizeof h) && write_all(fd, text, text_len) && write_all(fd, tok, 4 * (size_t)n) &&
                write_all(fd, payload, psize) && (!map || write_all(fd, map, map_len))))
        ok = ds4_fail(err, "writing %s: %s", tmp, strerror(errno));
    if (fd >= 0 && close(fd) && ok) ok = ds4_fail(err, "closing %s: %s", tmp, strerror(errno));
    if (ok && rename(tmp, path)) ok = ds4_fail(err, "renaming %s: %s", tmp, strerror(errno));
    if (!ok) unlink(tmp);
    free(tmp);
    free(path);
    free(tok);
    free(payload);
    free(map);
    if (!ok) return false;

    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].name, name)) { drop_entry(c, i, false); break; }
    kvc_entry e = {0};
    snprintf(e.name, sizeof e.name, "%s", name);
    e.text = ds4_xmalloc(text_len + 1);
    memcpy(e.text, text, text_len);
    e.text[text_len] = 0;
    e.text_len = text_len;
    e.n_tokens = (uint32_t)n;
    e.ctx = (uint32_t)ds4_session_ctx(s);
    e.created = e.last_used = now;
    e.file_bytes = fsize;
    e.base_bytes = base;
    if (n_tools > 0) {
        e.tools = ds4_xcalloc((size_t)n_tools, sizeof *e.tools);
        for (int i = 0; i < n_tools; i++) {
            e.tools[i].id = ds4_xstrdup(tools[i].id);
            e.tools[i].dsml = ds4_xstrdup(tools[i].dsml);
        }
        e.n_tools = n_tools;
    }
    add_entry(c, &e);
    evict_to_budget(c, name);
    pthread_mutex_unlock(&c->mu);
    static const char *reasons[] = {"unknown", "cold", "continued", "evict", "shutdown"};
    const char *key = key_flags & KVC_FLAG_RESPONSES_VISIBLE  ? "responses-visible key, "
                      : key_flags & KVC_FLAG_THINKING_VISIBLE ? "thinking-visible key, "
                                                              : "";
    fprintf(stderr, "ds4 serve: kv cache: saved %s (%s, %d tokens, %s%d tool call(s), %.1f MiB)\n", name,
            reasons[reason <= KVC_SHUTDOWN ? reason : 0], n, key, n_tools, (double)fsize / 1048576.0);
    return true;
}

/* Reads and fully validates one file, then loads it into the session. */
static bool load_file(kvc *c, const kvc_entry *e, ds4_session *s, int32_t **tokens_out, ds4_error *err) {
    char *p = path_of(c, e->name);
    int fd = open(p, O_RDWR);
    free(p);
    if (fd < 0) return ds4_fail(err, "cannot open: %s", strerror(errno));
    uint8_t hb[KVC_HEADER_BYTES];
    kvc_header h;
    uint8_t *body = NULL;
    bool ok = pread(fd, hb, sizeof hb, 0) == (ssize_t)sizeof hb && parse_header(hb, &h, err);
    if (ok && (memcmp(h.model_id, c->model_id, 32) || h.ctx != (uint32_t)ds4_session_ctx(s)))
        ok = ds4_fail(err, "written for another model or context size");
    if (ok && (h.text_bytes != e->text_len || h.n_tokens != e->n_tokens || file_size_for(&h) != e->base_bytes))
        ok = ds4_fail(err, "changed on disk since it was indexed");
    size_t blen = ok ? (size_t)(file_size_for(&h) - KVC_HEADER_BYTES) : 0;
    if (ok && !(body = malloc(blen ? blen : 1))) ok = ds4_fail(err, "out of memory reading %zu bytes", blen);
    if (ok && pread(fd, body, blen, KVC_HEADER_BYTES) != (ssize_t)blen) ok = ds4_fail(err, "truncated");
    if (ok) {
        uint8_t d[32];
        unsigned dl = 32;
        EVP_Digest(body, blen, d, &dl, EVP_sha256(), NULL);
        if (memcmp(d, h.checksum, 32)) ok = ds4_fail(err, "checksum mismatch");
    }
    if (ok && memcmp(body, e->text, e->text_len)) ok = ds4_fail(err, "text differs from the index");
    int32_t *tok = NULL;
    if (ok) {
        tok = ds4_xmalloc(4 * (size_t)h.n_tokens);
        const uint8_t *tp = body + h.text_bytes;
        for (uint32_t i = 0; i < h.n_tokens; i++) tok[i] = (int32_t)get32(tp + 4 * i);
        ds4_session_reset(s);
        ok = ds4_session_state_load(s, tp + 4ull * h.n_tokens, (size_t)h.payload_bytes, err) &&
             ds4_session_pos(s) == (int)h.n_tokens;
        if (ok) {
            /* usage bookkeeping, outside the checksum */
            put32(hb + 20, h.hits + 1);
            put64(hb + 40, (uint64_t)time(NULL));
            if (pwrite(fd, hb + 20, 4, 20) != 4 || pwrite(fd, hb + 40, 8, 40) != 8)
                fprintf(stderr, "ds4 serve: kv cache: cannot update hit count of %s\n", e->name);
        } else {
            if (!err->msg[0]) ds4_fail(err, "session position does not match the token count");
            ds4_session_reset(s);
        }
    }
    close(fd);
    free(body);
    if (!ok) { free(tok); return false; }
    *tokens_out = tok;
    return true;
}

int kvc_restore(kvc *c, ds4_session *s, const char *text, size_t text_len, int32_t **tokens_out,
                size_t *text_len_out) {
    pthread_mutex_lock(&c->mu);
    for (;;) {
        int best = -1;
        for (int i = 0; i < c->n; i++) {
            const kvc_entry *e = &c->e[i];
            if ((int)e->n_tokens < c->o.min_tokens || (int)e->ctx != c->ctx) continue;
            if (e->text_len > text_len || memcmp(e->text, text, e->text_len)) continue;
            if (best < 0 || e->text_len > c->e[best].text_len) best = i;
        }
        if (best < 0) { pthread_mutex_unlock(&c->mu); return 0; }
        ds4_error err = {{0}};
        if (load_file(c, &c->e[best], s, tokens_out, &err)) {
            kvc_entry *e = &c->e[best];
            e->hits++;
            e->last_used = (uint64_t)time(NULL);
            int n = (int)e->n_tokens;
            *text_len_out = e->text_len;
            fprintf(stderr, "ds4 serve: kv cache: hit %s (%d tokens, %zu bytes of text)\n", e->name, n, e->text_len);
            /* A snapshot longer than a cold save would be is a one-off (a
             * long conversation's tail): use it once and free the space. */
            if (c->o.cold_max_tokens > 0 && n > c->o.cold_max_tokens) drop_entry(c, best, true);
            pthread_mutex_unlock(&c->mu);
            return n;
        }
        fprintf(stderr, "ds4 serve: kv cache: removing %s: %s\n", c->e[best].name, err.msg);
        drop_entry(c, best, true);
    }
}

char *kvc_tool_lookup(kvc *c, const char *id) {
    char *found = NULL;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n && !found; i++)
        for (int k = 0; k < c->e[i].n_tools && !found; k++)
            if (!strcmp(c->e[i].tools[k].id, id)) found = ds4_xstrdup(c->e[i].tools[k].dsml);
    pthread_mutex_unlock(&c->mu);
    return found;
}

int kvc_cold_length(const kvc *c, int n, int user_mark) {
    const kvc_opts *o = &c->o;
    if (o->cold_max_tokens <= 0 || n < o->min_tokens || n > o->cold_max_tokens) return 0;
    if (user_mark >= o->min_tokens) return user_mark;
    int len = n - o->boundary_trim;
    if (o->boundary_align > 0) len = len / o->boundary_align * o->boundary_align;
    if (len < o->min_tokens) len = n;
    return len;
}
