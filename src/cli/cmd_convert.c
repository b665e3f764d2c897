/* ds4 convert: official DeepSeek V4 checkpoint -> DS4 GGUF. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "convert/convert.h"
#include "gguf/types.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: ds4 convert --hf DIR --out FILE.gguf [options]\n\n"
            "Converts an official DeepSeek V4 checkpoint (config.json, tokenizer.json,\n"
            "model.safetensors or shards + model.safetensors.index.json) to a DS4 GGUF.\n\n"
            "options:\n"
            "  --hf DIR             the checkpoint folder\n"
            "  -o, --out FILE       the DS4 GGUF to write\n"
            "  --recipe NAME        f32 | bf16 | f16 | q8 | q2-asym (default) | q4-asym\n"
            "                       q2-asym: routed gate/up IQ2_XXS, routed down Q2_K, attention,\n"
            "                       shared experts and output Q8_0, embedding/HC/compressor/indexer\n"
            "                       F16, 1-D tensors F32, tid2eid I32. q4-asym: routed Q4_K.\n"
            "                       f32/bf16/f16: every 2-D float tensor in that type (1-D stay F32).\n"
            "  --experts TYPE       routed experts (gate, up and down)\n"
            "  --routed-down TYPE   routed down projection\n"
            "  --attn TYPE          attention projections\n"
            "  --shared TYPE        shared experts\n"
            "  --output TYPE        output head\n"
            "                       TYPE: F32 F16 BF16 Q8_0 Q2_K Q4_K IQ2_XXS\n"
            "  --imatrix FILE       legacy llama.cpp imatrix .dat (per-expert slices)\n"
            "  --mtp-out FILE       also write the mtp.0.* block as the separate MTP GGUF\n"
            "  -t, --threads N      worker threads (default: all CPUs)\n"
            "  --name NAME          general.name (default: the folder name)\n"
            "  --vocab-only         write only the tokenizer metadata (DIR holds tokenizer.json)\n"
            "  --dry-run            print the planned tensor table and total size, write nothing\n"
            "  --report             print each quantized tensor's and expert's relative RMSE\n\n"
            "A tensor whose row length is not a multiple of the target block falls back to the\n"
            "nearest higher-precision type (with a warning). mtp.* tensors are not part of the\n"
            "main file: without --mtp-out they are skipped with a note.\n"
            "Output goes to FILE.tmp and is renamed when complete.\n");
}

/* Ctrl-C / kill: remove the partial OUT.tmp files (unlink is async-signal-safe). */
static char tmp_out[4200], tmp_mtp[4200];

static void on_signal(int sig) {
    if (tmp_out[0]) unlink(tmp_out);
    if (tmp_mtp[0]) unlink(tmp_mtp);
    _exit(128 + sig);
}

static void install_cleanup(const char *out, const char *mtp) {
    if (out) snprintf(tmp_out, sizeof tmp_out, "%s.tmp", out);
    if (mtp) snprintf(tmp_mtp, sizeof tmp_mtp, "%s.tmp", mtp);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static bool parse_type(const char *flag, const char *v, uint32_t *out) {
    if (!v) {
        fprintf(stderr, "ds4 convert: %s needs a type\n", flag);
        return false;
    }
    if (!ds4_type_from_name(v, out)) {
        fprintf(stderr, "ds4 convert: %s: unknown type '%s'\n", flag, v);
        return false;
    }
    return true;
}

int cmd_convert(int argc, char **argv) {
    ds4_convert_opts o;
    ds4_convert_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        bool takes = true;
        if (!strcmp(a, "--hf")) o.hf_dir = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) o.out_path = v;
        else if (!strcmp(a, "--recipe")) o.recipe = v;
        else if (!strcmp(a, "--imatrix")) o.imatrix_path = v;
        else if (!strcmp(a, "--mtp-out")) o.mtp_path = v;
        else if (!strcmp(a, "--name")) o.name = v;
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
            if (v && !cli_parse_int("convert", a, v, 1, 256, &o.threads)) return 2;
        } else if (!strcmp(a, "--experts")) { if (!parse_type(a, v, &o.ov_experts)) return 2; }
        else if (!strcmp(a, "--routed-down")) { if (!parse_type(a, v, &o.ov_routed_down)) return 2; }
        else if (!strcmp(a, "--attn")) { if (!parse_type(a, v, &o.ov_attn)) return 2; }
        else if (!strcmp(a, "--shared")) { if (!parse_type(a, v, &o.ov_shared)) return 2; }
        else if (!strcmp(a, "--output")) { if (!parse_type(a, v, &o.ov_output)) return 2; }
        else {
            takes = false;
            if (!strcmp(a, "--dry-run")) o.dry_run = true;
            else if (!strcmp(a, "--report")) o.report = true;
            else if (!strcmp(a, "--vocab-only")) o.vocab_only = true;
            else {
                fprintf(stderr, "ds4 convert: unknown option '%s'\n\n", a);
                usage(stderr);
                return 2;
            }
        }
        if (takes) {
            if (!v) {
                fprintf(stderr, "ds4 convert: %s needs a value\n", a);
                return 2;
            }
            i++;
        }
    }
    if (!o.hf_dir || (!o.out_path && !o.dry_run) || !o.recipe) {
        usage(stderr);
        return 2;
    }
    if (!o.dry_run) install_cleanup(o.out_path, o.mtp_path);
    ds4_error err = {{0}};
    if (!ds4_convert_run(&o, &err)) {
        fprintf(stderr, "ds4 convert: error: %s\n", err.msg);
        return 1;
    }
    return 0;
}
