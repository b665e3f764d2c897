/* ds4: one binary, many subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"version", cmd_version, "print the version and the SIMD level in use"},
    {"inspect", cmd_inspect, "show a GGUF file's metadata, tensors and size per type"},
    {"convert", cmd_convert, "convert an official DeepSeek V4 checkpoint to a DS4 GGUF"},
    {"tokenize", cmd_tokenize, "text -> token ids (works on vocab-only GGUFs)"},
    {"run", cmd_run, "generate a continuation of a prompt (chat template or --raw)"},
    {"chat", cmd_chat, "interactive multi-turn chat"},
    {"perplexity", cmd_perplexity, "mean NLL and perplexity of a text file"},
    {"logits", cmd_logits, "evaluate tokens and write (or compare) the logits of every position"},
    {"serve", cmd_serve, "OpenAI- and Anthropic-compatible HTTP server (chat, completions, messages, responses)"},
    {"bench", cmd_bench, "benchmark memory bandwidth and matvec kernels (bench kernels)"},
    {"synth", cmd_synth, "write a synthetic DeepSeek V4 GGUF (real shape, random weights) for benchmarks"},
};

static void usage(FILE *out) {
    fprintf(out,
            "ds4 - local inference engine for DeepSeek V4 models\n\n"
            "usage: ds4 <command> [options]   (ds4 <command> --help for details)\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ds4: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
