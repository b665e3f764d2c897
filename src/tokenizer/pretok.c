/* The DeepSeek ("joyai-llm") pre-tokenizer: a Sequence of three Split
 * pre-tokenizers with "isolated" behaviour, as in DeepSeek's tokenizer.json.
 * Each stage splits every piece of the previous stage into its regex matches
 * and the gaps between them (both kept); the regex sees only the piece, so
 * look-arounds stop at piece edges exactly as in the reference.
 *
 * The reference (Hugging Face tokenizers) runs these patterns with
 * Oniguruma, where \s is the Unicode White_Space property. PCRE2's \s also
 * takes U+180E (through \h), so \s and \S are spelled out as explicit
 * White_Space classes to keep both engines in agreement. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"

#define WS "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
           "\\x{202F}\\x{205F}\\x{3000}"

static const char *const joyai_patterns[] = {
    /* 1: runs of up to three digits (any script). */
    "\\p{N}{1,3}",
    /* 2: CJK ideographs 一..龥, hiragana, katakana. */
    "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    /* 3: ASCII punctuation + ASCII letters | optional non-letter/punct/symbol
     * prefix + letters/marks | optional space + punctuation/symbols + line
     * ends | whitespace ending in line ends | whitespace not followed by
     * non-space | any other whitespace. */
    ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
    "|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
    "| ?[\\p{P}\\p{S}]+[\\r\\n]*"
    "|[" WS "]*[\\r\\n]+"
    "|[" WS "]+(?![^" WS "])"
    "|[" WS "]+"),
};
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
        p->re[i] = pcre2_compile((PCRE2_SPTR)joyai_patterns[i], PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_NO_UTF_CHECK, &ec, &off, NULL);
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
