/* Vocabulary tables, added-token matching and BPE merging.
 *
 * The merge loop follows the reference (Hugging Face tokenizers' BPE
 * word merge) step for step, including its tie-breaks: a min-heap of
 * candidate pairs ordered by (rank, position); a popped entry is applied if
 * its left symbol is still alive, has a right neighbour, and that pair still
 * merges into the same new id. After a merge the pairs with the previous and
 * next symbols are pushed. Characters with no token of their own are dropped
 * (the reference has no unknown token for DeepSeek's vocabulary). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"
#include "tokenizer/tokenizer.h"

typedef struct trie_node {
    int32_t child;   /* first child, -1 if none */
    int32_t sibling; /* next sibling, -1 if none */
    int32_t token;   /* added token ending here, -1 if none */
    uint8_t byte;
} trie_node;

struct ds4_tokenizer {
    int32_t n_vocab;
    uint8_t *types;
    /* Vocabulary strings and decoded pieces, each NUL-terminated in an arena. */
    char *text_arena, *piece_arena;
    uint64_t *text_off, *piece_off;
    uint32_t *text_len, *piece_len;
    /* string -> id, open addressing (-1 = empty). */
    int32_t *str_slots;
    uint64_t str_mask;
    /* (left,right) -> (rank, new id), open addressing (key UINT64_MAX = empty). */
    uint64_t *merge_keys;
    uint32_t *merge_rank;
    int32_t *merge_new;
    uint64_t merge_mask;
    int32_t byte_id[256];
    /* Added tokens: byte trie, root is node 0; root_child for a fast first step. */
    trie_node *trie;
    size_t n_trie, cap_trie;
    int32_t root_child[256];
    ds4_pretok *pre;
    int32_t special[DS4_SPECIAL_COUNT];
};

static const char *const special_strings[DS4_SPECIAL_COUNT] = {
    "<\xEF\xBD\x9C" "begin\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>",
    "<\xEF\xBD\x9C" "User\xEF\xBD\x9C>",
    "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>",
    "<think>",
    "</think>",
    "\xEF\xBD\x9C" "DSML\xEF\xBD\x9C",
};

const char *ds4_special_string(ds4_special which) {
    return (unsigned)which < DS4_SPECIAL_COUNT ? special_strings[which] : "";
}

void ds4_tokens_push(ds4_tokens *t, int32_t id) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->ids = ds4_xrealloc(t->ids, t->cap * sizeof *t->ids);
    }
    t->ids[t->n++] = id;
}

void ds4_tokens_free(ds4_tokens *t) {
    free(t->ids);
    t->ids = NULL;
    t->n = t->cap = 0;
}

/* ---- hashing ---- */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_pair(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static uint64_t table_size(size_t n) {
    uint64_t s = 16;
    while (s < (uint64_t)n * 2) s <<= 1;
    return s;
}

int32_t ds4_tokenizer_find(const ds4_tokenizer *tok, const char *s, size_t len) {
    uint64_t i = hash_bytes(s, len) & tok->str_mask;
    for (;; i = (i + 1) & tok->str_mask) {
        int32_t id = tok->str_slots[i];
        if (id < 0) return -1;
        if (tok->text_len[id] == len && !memcmp(tok->text_arena + tok->text_off[id], s, len)) return id;
    }
}

/* Inserts id under its string unless the string is already present. */
static void str_insert(ds4_tokenizer *tok, int32_t id) {
    const char *s = tok->text_arena + tok->text_off[id];
    size_t len = tok->text_len[id];
    uint64_t i = hash_bytes(s, len) & tok->str_mask;
    for (;; i = (i + 1) & tok->str_mask) {
        int32_t o = tok->str_slots[i];
        if (o < 0) {
            tok->str_slots[i] = id;
            return;
        }
        if (tok->text_len[o] == len && !memcmp(tok->text_arena + tok->text_off[o], s, len)) return;
    }
}

static bool merge_find(const ds4_tokenizer *tok, int32_t a, int32_t b, uint32_t *rank, int32_t *new_id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t i = hash_pair(key) & tok->merge_mask;
    for (;; i = (i + 1) & tok->merge_mask) {
        uint64_t k = tok->merge_keys[i];
        if (k == UINT64_MAX) return false;
        if (k == key) {
            *rank = tok->merge_rank[i];
            *new_id = tok->merge_new[i];
            return true;
        }
    }
}

/* A later duplicate of a pair overrides the earlier one, as in the reference
 * (its merge map is built by inserting the list in order). */
static void merge_insert(ds4_tokenizer *tok, int32_t a, int32_t b, uint32_t rank, int32_t new_id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t i = hash_pair(key) & tok->merge_mask;
    for (;; i = (i + 1) & tok->merge_mask) {
        uint64_t k = tok->merge_keys[i];
        if (k == UINT64_MAX || k == key) {
            tok->merge_keys[i] = key;
            tok->merge_rank[i] = rank;
            tok->merge_new[i] = new_id;
            return;
        }
    }
}

/* ---- added-token trie ---- */

static int32_t trie_new(ds4_tokenizer *tok, uint8_t byte) {
    if (tok->n_trie == tok->cap_trie) {
        tok->cap_trie = tok->cap_trie ? tok->cap_trie * 2 : 256;
        tok->trie = ds4_xrealloc(tok->trie, tok->cap_trie * sizeof *tok->trie);
    }
    trie_node *n = &tok->trie[tok->n_trie];
    n->child = n->sibling = n->token = -1;
    n->byte = byte;
    return (int32_t)tok->n_trie++;
}

static int32_t trie_step(const ds4_tokenizer *tok, int32_t node, uint8_t byte) {
    if (node == 0) return tok->root_child[byte];
    for (int32_t c = tok->trie[node].child; c >= 0; c = tok->trie[c].sibling)
        if (tok->trie[c].byte == byte) return c;
    return -1;
}

static void trie_add(ds4_tokenizer *tok, const char *s, size_t len, int32_t id) {
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)s[i];
        int32_t next = trie_step(tok, node, b);
        if (next < 0) {
            next = trie_new(tok, b);
            if (node == 0) {
                tok->root_child[b] = next;
            } else {
                tok->trie[next].sibling = tok->trie[node].child;
                tok->trie[node].child = next;
            }
        }
        node = next;
    }
    /* Two added tokens with one string: the first id wins, like a vocabulary
     * lookup would. */
    if (tok->trie[node].token < 0) tok->trie[node].token = id;
}

/* ---- construction ---- */

static bool looks_special(const char *s, size_t n) {
    if (n >= 8 && !memcmp(s, "<\xEF\xBD\x9C", 4) && !memcmp(s + n - 4, "\xEF\xBD\x9C>", 4)) return true;
    if (n >= 4 && !memcmp(s, "<|", 2) && !memcmp(s + n - 2, "|>", 2)) return true;
    for (int k = 0; k < DS4_SPECIAL_COUNT; k++)
        if (strlen(special_strings[k]) == n && !memcmp(special_strings[k], s, n)) return true;
    return false;
}

static size_t slen(const size_t *lens, const char *const *strs, size_t i) {
    return lens ? lens[i] : strlen(strs[i]);
}

/* The byte a piece of a normal token stands for: byte-unmapped code points;
 * code points outside the byte alphabet are kept as their UTF-8 (and bytes
 * that are not valid UTF-8 are kept as they are), as the reference's
 * ByteLevel decoder does. */
static size_t unmap_piece(const char *s, size_t n, char *out) {
    const uint8_t *p = (const uint8_t *)s;
    size_t o = 0, i = 0;
    while (i < n) {
        int32_t cp;
        size_t k = ds4_utf8_next(p + i, n - i, &cp);
        int b = cp >= 0 ? ds4_cp_to_byte((uint32_t)cp) : -1;
        if (b >= 0) {
            out[o++] = (char)b;
        } else {
            memcpy(out + o, p + i, k);
            o += k;
        }
        i += k;
    }
    return o;
}

static bool build_merges(ds4_tokenizer *tok, const ds4_vocab_desc *d, ds4_error *err) {
    tok->merge_mask = table_size(d->n_merges) - 1;
    tok->merge_keys = ds4_xmalloc((tok->merge_mask + 1) * sizeof *tok->merge_keys);
    tok->merge_rank = ds4_xmalloc((tok->merge_mask + 1) * sizeof *tok->merge_rank);
    tok->merge_new = ds4_xmalloc((tok->merge_mask + 1) * sizeof *tok->merge_new);
    memset(tok->merge_keys, 0xFF, (tok->merge_mask + 1) * sizeof *tok->merge_keys);
    char small[512];
    for (size_t r = 0; r < d->n_merges; r++) {
        const char *m = d->merges[r];
        size_t n = slen(d->merge_lens, d->merges, r);
        /* "left right": byte-level tokens contain no ASCII space, but try
         * every space so that an odd vocabulary still splits where both
         * halves are tokens. */
        int32_t a = -1, b = -1;
        for (size_t sp = 0; sp < n; sp++) {
            if (m[sp] != ' ') continue;
            a = ds4_tokenizer_find(tok, m, sp);
            b = ds4_tokenizer_find(tok, m + sp + 1, n - sp - 1);
            if (a >= 0 && b >= 0) break;
            a = b = -1;
        }
        if (a < 0)
            return ds4_fail(err, "tokenizer.ggml.merges[%zu] = '%.*s': not two vocabulary tokens "
                                 "separated by a space", r, (int)(n > 200 ? 200 : n), m);
        char *cat = n - 1 <= sizeof small ? small : ds4_xmalloc(n);
        size_t la = tok->text_len[a], lb = tok->text_len[b];
        memcpy(cat, tok->text_arena + tok->text_off[a], la);
        memcpy(cat + la, tok->text_arena + tok->text_off[b], lb);
        int32_t c = ds4_tokenizer_find(tok, cat, la + lb);
        if (cat != small) free(cat);
        if (c < 0)
            return ds4_fail(err, "tokenizer.ggml.merges[%zu] = '%.*s': the merged token is not in "
                                 "the vocabulary", r, (int)(n > 200 ? 200 : n), m);
        merge_insert(tok, a, b, (uint32_t)r, c);
    }
    return true;
}

ds4_tokenizer *ds4_tokenizer_create(const ds4_vocab_desc *d, ds4_error *err) {
    if (d->n_tokens == 0 || d->n_tokens > INT32_MAX / 2) {
        ds4_fail(err, "tokenizer.ggml.tokens: bad vocabulary size %zu", d->n_tokens);
        return NULL;
    }
    ds4_tokenizer *tok = ds4_xcalloc(1, sizeof *tok);
    size_t n = d->n_tokens;
    tok->n_vocab = (int32_t)n;
    tok->types = ds4_xmalloc(n);
    tok->text_off = ds4_xmalloc(n * sizeof *tok->text_off);
    tok->text_len = ds4_xmalloc(n * sizeof *tok->text_len);
    tok->piece_off = ds4_xmalloc(n * sizeof *tok->piece_off);
    tok->piece_len = ds4_xmalloc(n * sizeof *tok->piece_len);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = slen(d->token_lens, d->tokens, i);
        if (l > UINT32_MAX / 4) {
            ds4_fail(err, "tokenizer.ggml.tokens[%zu]: string of %zu bytes is too long", i, l);
            ds4_tokenizer_free(tok);
            return NULL;
        }
        total += l + 1;
    }
    tok->text_arena = ds4_xmalloc(total);
    tok->piece_arena = ds4_xmalloc(total); /* pieces are never longer than texts */
    size_t off = 0, poff = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = slen(d->token_lens, d->tokens, i);
        memcpy(tok->text_arena + off, d->tokens[i], l);
        tok->text_arena[off + l] = 0;
        tok->text_off[i] = off;
        tok->text_len[i] = (uint32_t)l;
        off += l + 1;
        int32_t t = d->token_types ? d->token_types[i]
                                   : (looks_special(d->tokens[i], l) ? DS4_TOKEN_CONTROL : DS4_TOKEN_NORMAL);
        if (t < DS4_TOKEN_NORMAL || t > DS4_TOKEN_BYTE) {
            ds4_fail(err, "tokenizer.ggml.token_type[%zu] = %d: not a token type (1..6)", i, (int)t);
            ds4_tokenizer_free(tok);
            return NULL;
        }
        tok->types[i] = (uint8_t)t;
        /* Added tokens decode to their literal content. */
        size_t pl;
        if (t == DS4_TOKEN_CONTROL || t == DS4_TOKEN_USER_DEFINED) {
            memcpy(tok->piece_arena + poff, d->tokens[i], l);
            pl = l;
        } else {
            pl = unmap_piece(d->tokens[i], l, tok->piece_arena + poff);
        }
        tok->piece_arena[poff + pl] = 0;
        tok->piece_off[i] = poff;
        tok->piece_len[i] = (uint32_t)pl;
        poff += pl + 1;
    }
    /* String map: model tokens first so that BPE lookups prefer them over an
     * added token with the same string. */
    tok->str_mask = table_size(n) - 1;
    tok->str_slots = ds4_xmalloc((tok->str_mask + 1) * sizeof *tok->str_slots);
    memset(tok->str_slots, 0xFF, (tok->str_mask + 1) * sizeof *tok->str_slots);
    for (size_t i = 0; i < n; i++)
        if (tok->types[i] != DS4_TOKEN_CONTROL && tok->types[i] != DS4_TOKEN_USER_DEFINED)
            str_insert(tok, (int32_t)i);
    for (size_t i = 0; i < n; i++)
        if (tok->types[i] == DS4_TOKEN_CONTROL || tok->types[i] == DS4_TOKEN_USER_DEFINED)
            str_insert(tok, (int32_t)i);

    for (int b = 0; b < 256; b++) {
        char s[4];
        size_t l = ds4_utf8_put(ds4_byte_to_cp((uint8_t)b), s);
        tok->byte_id[b] = ds4_tokenizer_find(tok, s, l);
    }

    memset(tok->root_child, 0xFF, sizeof tok->root_child);
    trie_new(tok, 0);
    for (size_t i = 0; i < n; i++)
        if ((tok->types[i] == DS4_TOKEN_CONTROL || tok->types[i] == DS4_TOKEN_USER_DEFINED) &&
            tok->text_len[i] > 0)
            trie_add(tok, tok->text_arena + tok->text_off[i], tok->text_len[i], (int32_t)i);

    for (int k = 0; k < DS4_SPECIAL_COUNT; k++)
        tok->special[k] = ds4_tokenizer_find(tok, special_strings[k], strlen(special_strings[k]));

    if (!build_merges(tok, d, err)) {
        ds4_tokenizer_free(tok);
        return NULL;
    }
    tok->pre = ds4_pretok_create(d->pre ? d->pre : "joyai-llm", err);
    if (!tok->pre) {
        ds4_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

void ds4_tokenizer_free(ds4_tokenizer *tok) {
    if (!tok) return;
    free(tok->types);
    free(tok->text_arena);
    free(tok->piece_arena);
    free(tok->text_off);
    free(tok->text_len);
    free(tok->piece_off);
    free(tok->piece_len);
    free(tok->str_slots);
    free(tok->merge_keys);
    free(tok->merge_rank);
    free(tok->merge_new);
    free(tok->trie);
    ds4_pretok_free(tok->pre);
    free(tok);
}

/* ---- accessors ---- */

int32_t ds4_tokenizer_n_vocab(const ds4_tokenizer *tok) { return tok->n_vocab; }

int32_t ds4_tokenizer_special_id(const ds4_tokenizer *tok, ds4_special which) {
    return (unsigned)which < DS4_SPECIAL_COUNT ? tok->special[which] : -1;
}

int32_t ds4_tokenizer_require_special(const ds4_tokenizer *tok, ds4_special which, const char *feature,
                                      ds4_error *err) {
    int32_t id = ds4_tokenizer_special_id(tok, which);
    if (id < 0)
        ds4_fail(err, "the vocabulary has no '%s' token, which %s needs", ds4_special_string(which),
                 feature ? feature : "this feature");
    return id;
}

ds4_token_type ds4_token_type_of(const ds4_tokenizer *tok, int32_t id) {
    if (id < 0 || id >= tok->n_vocab) return (ds4_token_type)0;
    return (ds4_token_type)tok->types[id];
}

const char *ds4_token_piece(const ds4_tokenizer *tok, int32_t id, size_t *len) {
    if (id < 0 || id >= tok->n_vocab) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = tok->piece_len[id];
    return tok->piece_arena + tok->piece_off[id];
}

const char *ds4_token_text(const ds4_tokenizer *tok, int32_t id, size_t *len) {
    if (id < 0 || id >= tok->n_vocab) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = tok->text_len[id];
    return tok->text_arena + tok->text_off[id];
}

char *ds4_detokenize(const ds4_tokenizer *tok, const int32_t *ids, size_t n, size_t *len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < tok->n_vocab) total += tok->piece_len[ids[i]];
    char *out = ds4_xmalloc(total + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_vocab) continue;
        memcpy(out + o, tok->piece_arena + tok->piece_off[ids[i]], tok->piece_len[ids[i]]);
        o += tok->piece_len[ids[i]];
    }
    out[o] = 0;
    if (len) *len = o;
    return out;
}

/* ---- BPE ---- */

typedef struct sym {
    int32_t id;
    int32_t prev, next;
    bool alive;
} sym;

typedef struct cand {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
} cand;

typedef struct encoder {
    const ds4_tokenizer *tok;
    const char *text;
    ds4_tokens *out;
    sym *syms;
    cand *heap;
    size_t cap, n_heap;
} encoder;

static bool cand_less(const cand *a, const cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(encoder *e, cand c) {
    size_t i = e->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &e->heap[p])) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = c;
}

static cand heap_pop(encoder *e) {
    cand top = e->heap[0], last = e->heap[--e->n_heap];
    size_t i = 0, n = e->n_heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &last;
        if (l < n && cand_less(&e->heap[l], best)) { m = l; best = &e->heap[l]; }
        if (r < n && cand_less(&e->heap[r], best)) m = r;
        if (m == i) break;
        e->heap[i] = e->heap[m];
        i = m;
    }
    if (n) e->heap[i] = last;
    return top;
}

static void try_push(encoder *e, int32_t left_pos) {
    const sym *l = &e->syms[left_pos];
    if (l->next < 0) return;
    uint32_t rank;
    int32_t nid;
    if (merge_find(e->tok, l->id, e->syms[l->next].id, &rank, &nid))
        heap_push(e, (cand){rank, (uint32_t)left_pos, nid});
}

static void bpe_piece(void *ctx, size_t start, size_t end) {
    encoder *e = ctx;
    const ds4_tokenizer *tok = e->tok;
    const uint8_t *p = (const uint8_t *)e->text + start;
    size_t n = end - start;
    if (n > e->cap) {
        e->cap = n * 2;
        e->syms = ds4_xrealloc(e->syms, e->cap * sizeof *e->syms);
        /* n-1 initial pairs, then at most two new pairs per merge (stale
         * entries stay queued until popped). */
        e->heap = ds4_xrealloc(e->heap, 3 * e->cap * sizeof *e->heap);
    }
    int32_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok->byte_id[p[i]];
        if (id < 0) continue; /* no token for this byte: dropped, as in the reference */
        e->syms[ns] = (sym){id, ns - 1, -1, true};
        if (ns > 0) e->syms[ns - 1].next = ns;
        ns++;
    }
    if (ns == 0) return;
    if (ns == 1) {
        ds4_tokens_push(e->out, e->syms[0].id);
        return;
    }
    e->n_heap = 0;
    for (int32_t i = 0; i + 1 < ns; i++) try_push(e, i);
    while (e->n_heap) {
        cand c = heap_pop(e);
        sym *l = &e->syms[c.pos];
        if (!l->alive || l->next < 0) continue;
        sym *r = &e->syms[l->next];
        uint32_t rank;
        int32_t nid;
        /* Stale entry: the pair changed and no longer yields this token. */
        if (!merge_find(tok, l->id, r->id, &rank, &nid) || nid != c.new_id) continue;
        l->id = c.new_id;
        r->alive = false;
        l->next = r->next;
        if (r->next >= 0) e->syms[r->next].prev = (int32_t)c.pos;
        if (l->prev >= 0) try_push(e, l->prev);
        try_push(e, (int32_t)c.pos);
    }
    for (int32_t i = 0; i >= 0; i = e->syms[i].next) ds4_tokens_push(e->out, e->syms[i].id);
}

/* ---- encoding ---- */

/* Leftmost-longest added-token match at or after `from`; returns the start
 * offset (len if none) and sets *tok_len / *id. */
static size_t find_added(const ds4_tokenizer *tok, const char *s, size_t len, size_t from,
                         bool parse_special, size_t *tok_len, int32_t *id) {
    for (size_t i = from; i < len; i++) {
        int32_t node = tok->root_child[(uint8_t)s[i]];
        if (node < 0) continue;
        int32_t best = -1;
        size_t best_len = 0;
        for (size_t j = i + 1;; j++) {
            int32_t t = tok->trie[node].token;
            if (t >= 0 && (parse_special || tok->types[t] != DS4_TOKEN_CONTROL)) {
                best = t;
                best_len = j - i;
            }
            if (j >= len) break;
            node = trie_step(tok, node, (uint8_t)s[j]);
            if (node < 0) break;
        }
        if (best >= 0) {
            *tok_len = best_len;
            *id = best;
            return i;
        }
    }
    return len;
}

bool ds4_tokenize(const ds4_tokenizer *tok, const char *text, size_t len, bool parse_special,
                  ds4_tokens *out, ds4_error *err) {
    size_t clean_len = len;
    char *clean = NULL;
    if (!ds4_utf8_valid(text, len)) {
        clean = ds4_utf8_sanitize(text, len, &clean_len);
        text = clean;
    }
    encoder e = {.tok = tok, .text = text, .out = out};
    bool ok = true;
    size_t pos = 0;
    while (ok && pos < clean_len) {
        size_t tl = 0;
        int32_t id = -1;
        size_t at = find_added(tok, text, clean_len, pos, parse_special, &tl, &id);
        if (at > pos) {
            e.text = text + pos; /* the splitter reports offsets within the segment */
            ok = ds4_pretok_split(tok->pre, text + pos, at - pos, bpe_piece, &e, err);
        }
        if (ok && id >= 0) ds4_tokens_push(out, id);
        pos = at + tl;
    }
    free(e.syms);
    free(e.heap);
    free(clean);
    return ok;
}
