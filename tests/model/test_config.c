/* Model config from metadata: round trip of the published shape and clear
 * errors naming the key for inconsistent or foreign metadata. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/config.h"

typedef void (*extra_fn)(gguf_writer *w);

/* Writes cfg's metadata (or only `extra` when cfg is NULL) and parses it back. */
static bool parse(const ds4_config *cfg, extra_fn extra, ds4_config *out, ds4_error *err) {
    char path[512];
    const char *b = getenv("DS4_BUILD");
    snprintf(path, sizeof path, "%s/test-config-%d.gguf", b && *b ? b : "build", (int)getpid());
    ds4_error werr;
    gguf_writer *w = gguf_writer_open(path, 32, &werr);
    cr_assert_not_null(w, "%s", werr.msg);
    if (cfg) ds4_config_write_metadata(cfg, w);
    if (extra) extra(w);
    cr_assert(gguf_writer_finish(w, &werr), "%s", werr.msg);
    gguf_file *f = gguf_open(path, &werr);
    cr_assert_not_null(f, "%s", werr.msg);
    memset(err, 0, sizeof *err);
    bool ok = ds4_config_from_gguf(f, out, err);
    gguf_close(f);
    unlink(path);
    return ok;
}

Test(config, flash_round_trip) {
    ds4_config c, back;
    ds4_config_flash(&c);
    ds4_error err;
    cr_assert(parse(&c, NULL, &back, &err), "%s", err.msg);
    cr_assert_eq(memcmp(&c, &back, sizeof c), 0, "config differs after a metadata round trip");
    cr_assert_eq(back.hca_ratio, 128);
}

static void llama(gguf_writer *w) { gguf_writer_set_str(w, "general.architecture", "llama"); }
static void groups(gguf_writer *w) { gguf_writer_set_u32(w, "deepseek4.expert_group_count", 8); }

Test(config, errors_name_the_key) {
    ds4_config c, out;
    ds4_error err;
    cr_assert_not(parse(NULL, llama, &out, &err));
    cr_assert(strstr(err.msg, "general.architecture = \"llama\": not a DeepSeek V4"), "%s", err.msg);

    ds4_config_flash(&c);
    cr_assert_not(parse(&c, groups, &out, &err));
    cr_assert(strstr(err.msg, "deepseek4.expert_group_count = 8"), "%s", err.msg);

    ds4_config_flash(&c);
    c.n_hash_layer = 43;
    cr_assert_not(parse(&c, NULL, &out, &err));
    cr_assert(strstr(err.msg, "deepseek4.hash_layer_count = 43: must be < deepseek4.block_count = 43"), "%s", err.msg);

    ds4_config_flash(&c);
    c.n_rot = 1024;
    cr_assert_not(parse(&c, NULL, &out, &err));
    cr_assert(strstr(err.msg, "deepseek4.rope.dimension_count = 1024"), "%s", err.msg);

    ds4_config_flash(&c);
    c.n_out_group = 7;
    cr_assert_not(parse(&c, NULL, &out, &err));
    cr_assert(strstr(err.msg, "deepseek4.attention.output_group_count = 7: must divide"), "%s", err.msg);

    ds4_config_flash(&c);
    c.compress_ratio[9] = 1;
    cr_assert_not(parse(&c, NULL, &out, &err));
    cr_assert(strstr(err.msg, "deepseek4.attention.compress_ratios[9] = 1"), "%s", err.msg);

    ds4_config_flash(&c);
    c.swiglu_clamp[4] = -1.0f;
    cr_assert_not(parse(&c, NULL, &out, &err));
    cr_assert(strstr(err.msg, "deepseek4.swiglu_clamp_exp[4] = -1"), "%s", err.msg);
}
