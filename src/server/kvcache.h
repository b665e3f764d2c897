/* On-disk KV cache: session snapshots keyed by the rendered text of the
 * prefix they hold, so a later request (even after a restart) whose prompt
 * starts with that text skips its prefill.
 *
 * File `<dir>/<sha1(text)>.kv` (all integers little-endian):
 *   0   "DKVC"            magic
 *   4   u32 version       1
 *   8   u32 reason        save policy (kvc_reason)
 *   12  u32 flags         KVC_FLAG_*
 *   16  u32 n_tokens      tokens in the snapshot (> 0)
 *   20  u32 hits          times it was restored (updated in place)
 *   24  u32 ctx           session context size it was written for
 *   28  u32 text_bytes
 *   32  u64 created       unix seconds
 *   40  u64 last_used     unix seconds (updated in place)
 *   48  u64 payload_bytes engine session state size
 *   56  u8[32] model_id   SHA-256 identifying the model (kvc_model_id)
 *   88  u8[32] checksum   SHA-256 over everything after the header
 *   120 text, u32[n_tokens] token ids, payload
 * With flags bit 3 (KVC_FLAG_TOOL_MAP) a tool map follows the payload: the
 * exact DSML of the tool calls found in the text (chat-and-api.md §4.4), so
 * a replayed call renders byte-identical after a restart:
 *   0   "KTM1"  magic
 *   4   u32 count
 *   8   u64 bytes of the entries
 *   16  u8[32] SHA-256 of the entries (checked when the file is indexed)
 *   48  count x (u32 id bytes, id, u32 dsml bytes, dsml)
 * A file is used only when every field, the size and the checksum agree; a
 * file that fails is deleted. Files are written to .tmp and renamed. */
#ifndef DS4_SERVER_KVCACHE_H
#define DS4_SERVER_KVCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "engine/engine.h"

typedef enum kvc_reason {
    KVC_UNKNOWN = 0, KVC_COLD = 1, KVC_CONTINUED = 2, KVC_EVICT = 3, KVC_SHUTDOWN = 4,
} kvc_reason;

typedef struct kvc_opts {
    const char *dir;
    uint64_t budget_bytes;     /* --kv-disk-space-mb */
    int min_tokens;            /* --kv-cache-min-tokens */
    int cold_max_tokens;       /* --kv-cache-cold-max-tokens (0 = no cold saves) */
    int continued_interval;    /* --kv-cache-continued-interval-tokens (0 = off) */
    int boundary_trim;         /* --kv-cache-boundary-trim-tokens */
    int boundary_align;        /* --kv-cache-boundary-align-tokens (0 = off) */
} kvc_opts;

typedef struct kvc kvc;

/* Header flags: the text is a visible key (§4.3: the history as the next
 * request renders it, while the payload also holds reasoning the client
 * never saw), and a tool map follows the payload. */
#define KVC_FLAG_RESPONSES_VISIBLE (1u << 1)
#define KVC_FLAG_THINKING_VISIBLE (1u << 2)
#define KVC_FLAG_TOOL_MAP (1u << 3)

/* One tool-map entry: a call id and its exact sampled DSML block. */
typedef struct kvc_tool {
    char *id;
    char *dsml;
} kvc_tool;

#define KVC_HEADER_BYTES 120

/* Identity of a loaded model: SHA-256 over its GGUF header region and size. */
void kvc_model_id(const ds4_model *m, uint8_t out[32]);

/* Opens (creating) the directory and indexes the valid files in it. */
kvc *kvc_open(const kvc_opts *o, const uint8_t model_id[32], int ctx, ds4_error *err);
void kvc_close(kvc *c);
const kvc_opts *kvc_options(const kvc *c);

/* Saves the session's current state. tokens/text describe exactly the
 * session's contents. Returns false (err set) when it was not written; a
 * snapshot that does not fit the budget is skipped with a message. */
bool kvc_save(kvc *c, const ds4_session *s, const int32_t *tokens, int n, const char *text, size_t text_len,
              kvc_reason reason, uint32_t key_flags, const kvc_tool *tools, int n_tools, ds4_error *err);

/* The exact DSML stored for a call id in any indexed file's tool map
 * (malloc'd), or NULL. */
char *kvc_tool_lookup(kvc *c, const char *id);

/* Restores the longest valid snapshot whose text is a byte prefix of text.
 * On a hit, returns its token count, sets *tokens_out (malloc'd) and
 * *text_len_out. Returns 0 on a miss; invalid files met on the way are
 * deleted and skipped. */
int kvc_restore(kvc *c, ds4_session *s, const char *text, size_t text_len, int32_t **tokens_out,
                size_t *text_len_out);

/* Where a cold save should stop the prefill of a prompt of n tokens, or 0
 * for none. user_mark is the token index of the last <｜User｜> before the
 * first <｜Assistant｜> (or -1). */
int kvc_cold_length(const kvc *c, int n, int user_mark);

/* How much a file is worth keeping when the budget forces an eviction
 * (chat-and-api.md §4.3): (decayed hits + 1) x tokens / bytes, where hits
 * halve every 6 hours since the file was last used and count as 0 below
 * 0.01. The lowest value is evicted first. */
#define KVC_HITS_HALF_LIFE_S (6.0 * 3600.0)
double kvc_keep_value(uint32_t hits, uint64_t last_used, uint32_t n_tokens, uint64_t file_bytes, uint64_t now);

/* Files and bytes currently indexed (for logs and tests). */
int kvc_count(const kvc *c);
uint64_t kvc_bytes(const kvc *c);

#endif
