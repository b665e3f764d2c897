/* The ds4 subcommands. Each lives in src/cli/cmd_<name>.c and receives
 * argv starting at the subcommand name (argv[0] == "run", ...). It returns
 * the process exit status. Add new commands here and in main.c's table. */
#ifndef DS4_CLI_COMMANDS_H
#define DS4_CLI_COMMANDS_H

int cmd_version(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_synth(int argc, char **argv);

#endif
