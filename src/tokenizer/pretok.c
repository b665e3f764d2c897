/* The DeepSeek ("joyai-llm") pre-tokenizer: a Sequence of three Split
 * pre-tokenizers with "isolated" behaviour, as in DeepSeek's tokenizer.json.
 * Each stage splits every piece of the previous stage into its regex matches
 * and the gaps between them (both kept); the regex sees only the piece, so
 * look-arounds stop at piece edges exactly as in the reference.
 *
 * Character classes: the reference (Hugging Face tokenizers) runs these
 * patterns with Oniguruma and its own, newer Unicode tables, where \s is the
 * White_Space property. PCRE2's \p{..} follow whatever Unicode version the
 * installed PCRE2 was built with (Debian's 10.42: Unicode 14), and its \s
 * also takes U+180E. So the templates below are expanded at load time:
 * every \p{L}, \p{M}, \p{N}, \p{P}, \p{S} and \s (always written inside
 * a bracket class) becomes the explicit code point ranges of
 * unicode_classes.c, generated from one Unicode version for every platform. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"

static const char *const joyai_templates[] = {
    /* 1: runs of up to three digits (any script). */
    "[\\p{N}]{1,3}",
    /* 2: CJK ideographs 一..龥, hiragana, katakana. */
    "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    /* 3: ASCII punctuation + ASCII letters | optional non-letter/punct/symbol
     * prefix + letters/marks | optional space + punctuation/symbols + line
     * ends | whitespace ending in line ends | whitespace not followed by
     * non-space | any other whitespace. */
    ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
     "|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
     "| ?[\\p{P}\\p{S}]+[\\r\\n]*"
     "|[\\s]*[\\r\\n]+"
     "|[\\s]+(?![^\\s])"
     "|[\\s]+"),
};

/* Replaces the \p{X} and \s escapes of a template by class ranges. */
static char *expand_template(const char *t) {
    const char *const tables[] = {ds4_uclass_L, ds4_uclass_M, ds4_uclass_N,
                                  ds4_uclass_P, ds4_uclass_S, ds4_uclass_W};
    size_t longest = 0;
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
        if (strlen(tables[i]) > longest) longest = strlen(tables[i]);
    size_t cap = strlen(t) + 1, n = 0;
    for (const char *p = t; *p; p++)
        if (*p == '\\') cap += longest;
    char *out = ds4_xmalloc(cap);
    for (const char *p = t; *p;) {
        const char *rep = NULL;
        size_t skip = 0;
        if (p[0] == '\\' && p[1] == 'p' && p[2] == '{' && p[3] && p[4] == '}') {
            switch (p[3]) {
            case 'L': rep = ds4_uclass_L; break;
            case 'M': rep = ds4_uclass_M; break;
            case 'N': rep = ds4_uclass_N; break;
            case 'P': rep = ds4_uclass_P; break;
            case 'S': rep = ds4_uclass_S; break;
            default: break;
            }
            skip = 5;
        } else if (p[0] == '\\' && p[1] == 's') {
            rep = ds4_uclass_W;
            skip = 2;
        }
        if (rep) {
            size_t l = strlen(rep);
            memcpy(out + n, rep, l);
            n += l;
            p += skip;
        } else if (p[0] == '\\' && p[1]) { /* keep other escapes whole */
            out[n++] = *p++;
            out[n++] = *p++;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    return out;
}

#define N_STAGES 3

struct ds4_pretok {
    pcre2_code *re[N_STAGES];
    bool jit[N_STAGES];
};

void ds4_pretok_free(ds4_pretok *p) {
    if (!p) return;
    for (int i = 0; i < N_STAGES; i++) pcre2_code_free(p->re[i]);
    free(p);
}

ds4_pretok *ds4_pretok_create(const char *name, ds4_error *err) {
    /* "deepseek-v3" is the name llama.cpp gives the same regex sequence. */
    if (strcmp(name, "joyai-llm") && strcmp(name, "deepseek-v3") && strcmp(name, "deepseek-v4")) {
        ds4_fail(err, "tokenizer.ggml.pre: unsupported pre-tokenizer '%s' (ds4 implements joyai-llm)",
                 name);
        return NULL;
    }
    ds4_pretok *p = ds4_xcalloc(1, sizeof *p);
    for (int i = 0; i < N_STAGES; i++) {
        int ec;
        PCRE2_SIZE off;
        char *pattern = expand_template(joyai_templates[i]);
        p->re[i] = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
        free(pattern);
        if (!p->re[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            ds4_fail(err, "pre-tokenizer regex %d: PCRE2 compile error at offset %zu: %s", i + 1,
                     (size_t)off, (const char *)msg);
            ds4_pretok_free(p);
            return NULL;
        }
        /* JIT is an optimisation only: without it the interpreter runs. */
        p->jit[i] = pcre2_jit_compile(p->re[i], PCRE2_JIT_COMPLETE) == 0;
    }
    return p;
}

typedef struct stage_ctx {
    const ds4_pretok *p;
    const char *text;
    pcre2_match_data *md;
    ds4_piece_fn emit;
    void *ectx;
    ds4_error *err;
    bool failed;
} stage_ctx;

static void run_stage(stage_ctx *c, int stage, size_t start, size_t end);

static void pass_on(stage_ctx *c, int stage, size_t s, size_t e) {
    if (stage + 1 < N_STAGES)
        run_stage(c, stage + 1, s, e);
    else
        c->emit(c->ectx, s, e);
}

static void run_stage(stage_ctx *c, int stage, size_t start, size_t end) {
    if (c->failed) return;
    const pcre2_code *re = c->p->re[stage];
    PCRE2_SPTR subj = (PCRE2_SPTR)(c->text + start);
    size_t len = end - start, pos = 0;
    while (pos < len) {
        int rc;
        if (c->p->jit[stage]) {
            rc = pcre2_jit_match(re, subj, len, pos, PCRE2_NO_UTF_CHECK, c->md, NULL);
            if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) /* e.g. JIT stack limit: retry interpreted */
                rc = pcre2_match(re, subj, len, pos, PCRE2_NO_UTF_CHECK, c->md, NULL);
        } else {
            rc = pcre2_match(re, subj, len, pos, PCRE2_NO_UTF_CHECK, c->md, NULL);
        }
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            ds4_fail(c->err, "pre-tokenizer regex %d: PCRE2 match error at byte %zu: %s", stage + 1,
                     start + pos, (const char *)msg);
            c->failed = true;
            return;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* none of our patterns matches empty; guard anyway */
            if (ms >= len) break;
            me = ms + 1;
            while (me < len && (subj[me] & 0xC0) == 0x80) me++;
            if (ms > pos) pass_on(c, stage, start + pos, start + ms);
            pass_on(c, stage, start + ms, start + me);
            pos = me;
            continue;
        }
        if (ms > pos) pass_on(c, stage, start + pos, start + ms);
        pass_on(c, stage, start + ms, start + me);
        pos = me;
    }
    if (pos < len) pass_on(c, stage, start + pos, end);
}

bool ds4_pretok_split(const ds4_pretok *p, const char *text, size_t len, ds4_piece_fn emit,
                      void *ctx, ds4_error *err) {
    if (len == 0) return true;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return ds4_fail(err, "pre-tokenizer: out of memory");
    stage_ctx c = {p, text, md, emit, ctx, err, false};
    run_stage(&c, 0, 0, len);
    pcre2_match_data_free(md);
    return !c.failed;
}
