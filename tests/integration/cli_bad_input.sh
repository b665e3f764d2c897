#!/bin/sh
# Bad input across the CLI: missing, directory, empty, truncated and non-GGUF
# model files; a model GGUF without the tokenizer keys; bad numeric options;
# a prompt longer than --ctx; unreadable text inputs. Every case must exit
# non-zero with a one-line message naming what is wrong, write nothing on
# stdout and never crash: the cases run on ds4 built with ASan+UBSan, so a
# memory error or a leak on an error path fails the case too.
set -eu
. tests/integration/lib/common.sh
BUILD=${DS4_BUILD:-build}
make -s BUILD="$BUILD" asan-bin >"$T/make.log" 2>&1 || { tail -20 "$T/make.log"; fail "building ds4-asan"; }
BIN="$BUILD/ds4-asan"
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
M=$(pwd)/models/ds4-demo-q2.gguf
NOTOK=$(pwd)/tests/fuzz/corpus/model/nano0.gguf # a valid model with no tokenizer metadata
[ -f "$M" ] && [ -f "$NOTOK" ] || fail "missing $M or $NOTOK"

: >"$T/empty"
head -c 100000 "$M" >"$T/trunc.gguf"
printf 'First Citizen:\nBefore we proceed any further, hear me speak.\n%.0s' $(seq 40) >"$T/text.txt"
mkdir -p "$T/dir"

# quiet CMD...: no output on stdout either
quiet() { expect_fail "$@"; [ ! -s "$T/ef.out" ] || fail "$2: wrote to stdout: $(head -c 200 "$T/ef.out")"; }

# Model files: every model-taking command names the file and the problem.
for cmd in run tokenize perplexity serve chat; do
    case $cmd in
        run) extra="--raw -p hi -n 2" ;; tokenize) extra="-p hi" ;;
        perplexity) extra="-f $T/text.txt" ;; serve) extra="--port 0" ;; chat) extra="" ;;
    esac
    # shellcheck disable=SC2086
    {
        quiet 1 "$cmd missing" "$T/nope.gguf: cannot open" "$BIN" $cmd -m "$T/nope.gguf" $extra
        quiet 1 "$cmd directory" "$T/dir: not a regular file" "$BIN" $cmd -m "$T/dir" $extra
        quiet 1 "$cmd empty" "$T/empty: file is too small to be a GGUF" "$BIN" $cmd -m "$T/empty" $extra
        quiet 1 "$cmd truncated" "past end of file" "$BIN" $cmd -m "$T/trunc.gguf" $extra
        quiet 1 "$cmd not gguf" "not a GGUF file: bad magic" "$BIN" $cmd -m "$T/text.txt" $extra
        quiet 1 "$cmd no tokenizer" "tokenizer.ggml.tokens' is missing" "$BIN" $cmd -m "$NOTOK" $extra
    }
done
quiet 1 "inspect truncated" "past end of file" "$BIN" inspect "$T/trunc.gguf"

# Numeric options: exit 2, the flag and the value named.
quiet 2 "run -n abc" "bad value for -n: 'abc'" "$BIN" run -m "$M" -p hi -n abc
quiet 2 "run --temp -1" "bad value for --temp: '-1'" "$BIN" run -m "$M" -p hi --temp -1
quiet 2 "run --ctx 0" "bad value for --ctx: '0'" "$BIN" run -m "$M" -p hi --ctx 0
quiet 2 "run --threads 0" "bad value for --threads: '0'" "$BIN" run -m "$M" -p hi --threads 0
quiet 2 "run --threads -3" "bad value for --threads: '-3'" "$BIN" run -m "$M" -p hi --threads -3
quiet 2 "run --top-p 2" "bad value for --top-p: '2'" "$BIN" run -m "$M" -p hi --top-p 2
quiet 2 "run --seed x" "bad value for --seed: 'x'" "$BIN" run -m "$M" -p hi --seed x
quiet 2 "run -n (no value)" "-n needs a value" "$BIN" run -m "$M" -p hi -n
quiet 2 "chat --ctx 0" "bad value for --ctx: '0'" "$BIN" chat -m "$M" --ctx 0
quiet 2 "chat --threads -3" "bad value for --threads: '-3'" "$BIN" chat -m "$M" --threads -3
quiet 2 "perplexity --threads 0" "bad value for --threads: '0'" "$BIN" perplexity -m "$M" -f "$T/text.txt" --threads 0
quiet 2 "perplexity --window abc" "bad value for --window: 'abc'" "$BIN" perplexity -m "$M" -f "$T/text.txt" --window abc
quiet 2 "serve --ctx 0" "bad value for --ctx: '0'" "$BIN" serve -m "$M" --ctx 0
quiet 2 "serve --threads 0" "bad value for --threads: '0'" "$BIN" serve -m "$M" --threads 0
quiet 2 "serve --port 70000" "bad value for --port: '70000'" "$BIN" serve -m "$M" --port 70000
quiet 2 "inspect --max-array -1" "bad value for --max-array: '-1'" "$BIN" inspect --max-array -1 "$M"

# Prompt longer than the context.
quiet 1 "run prompt > ctx" "but --ctx is 16" "$BIN" run -m "$M" --raw --prompt-file "$T/text.txt" --ctx 16 -n 4
quiet 1 "perplexity text < window" "less than one window of 4096" "$BIN" perplexity -m "$M" -f "$T/text.txt" --window 4096

# Text inputs: missing, a directory, empty.
quiet 1 "run --prompt-file missing" "$T/nope.txt: cannot open" "$BIN" run -m "$M" --prompt-file "$T/nope.txt"
quiet 1 "run --prompt-file directory" "$T/dir: is a directory" "$BIN" run -m "$M" --prompt-file "$T/dir"
quiet 1 "run empty prompt" "the prompt is empty" "$BIN" run -m "$M" --raw --prompt-file "$T/empty"
quiet 1 "perplexity -f directory" "$T/dir: is a directory" "$BIN" perplexity -m "$M" -f "$T/dir"
quiet 1 "tokenize -f directory" "$T/dir: is a directory" "$BIN" tokenize -m "$M" -f "$T/dir"
quiet 1 "tokenize --batch directory" "$T/dir: read error" "$BIN" tokenize -m "$M" --batch "$T/dir"
quiet 2 "unknown command" "unknown command 'nosuch'" "$BIN" nosuch
echo "cli bad input: all cases ok"
