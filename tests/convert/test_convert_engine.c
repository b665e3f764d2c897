/* Interop: every recipe's output for the demo and tiny checkpoints must pass
 * the engine's own config reader and tensor-table validator (model/), so the
 * converter and the loader agree on keys, key types, names, dims and types. */
#include "convert_util.h"

#include "gguf/gguf.h"
#include "model/config.h"
#include "model/tensors.h"

static void check(const char *model, const char *recipe) {
    char hf[512], dir[512], out[700];
    char rel[64];
    snprintf(rel, sizeof rel, "oracle/%s", model);
    cu_path(hf, sizeof hf, rel);
    cu_tmpdir(dir, sizeof dir, "convert-engine");
    snprintf(out, sizeof out, "%s/m.gguf", dir);
    ds4_error err = {{0}};
    cr_assert(cu_convert(hf, out, recipe, false, &err), "%s %s: %s", model, recipe, err.msg);
    gguf_file *g = gguf_open(out, &err);
    cr_assert_not_null(g, "%s", err.msg);
    static ds4_config c;
    cr_assert(ds4_config_from_gguf(g, &c, &err), "%s %s: config: %s", model, recipe, err.msg);
    cr_assert(ds4_tensors_validate(&c, g, &err), "%s %s: tensors: %s", model, recipe, err.msg);
    gguf_close(g);
    cu_rmdir(dir);
}

Test(convert_engine, every_recipe_loads) {
    const char *recipes[] = {"f32", "bf16", "f16", "q8", "q4-asym", "q2-asym"};
    bool light = getenv("DS4_TEST_LIGHT") != NULL;
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        if (light && !strcmp(recipes[i], "q2-asym")) continue; /* IQ2_XXS is slow under sanitizers */
        check("demo", recipes[i]);
    }
    check("tiny", "q8");
}
