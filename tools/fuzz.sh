#!/bin/sh
# Builds every libFuzzer target tests/fuzz/fuzz_<name>.c with clang
# (-fsanitize=fuzzer,address,undefined) and runs each for SECONDS seconds on
# its seed corpus tests/fuzz/corpus/<name>/. Skipped (with a message) when
# clang is not installed.
#
# FUZZ_RUNS=N (set by `make fuzz-smoke`) makes the run reproducible: a fixed
# seed, at most N inputs, starting from the committed corpus only, so CI
# replays (a prefix of) the same input sequence every time; a time limit can
# only shorten that sequence. `make fuzz` explores freely (random seed,
# accumulated corpus).
set -e
SECONDS_EACH=${1:-60}
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: clang not found, skipping"
    exit 0
fi
targets=$(ls tests/fuzz/fuzz_*.c 2>/dev/null || true)
[ -z "$targets" ] && { echo "fuzz: no targets"; exit 0; }
B=build/fuzz
# Warnings stay on but not fatal here: -Werror is enforced by the gcc build,
# and clang's extra warnings must not stop the fuzzers from running.
make -s CC=clang BUILD=$B WARN="-Wall -Wextra -Wno-unused-parameter" \
    EXTRA_CFLAGS="-fsanitize=fuzzer-no-link -Wno-unknown-warning-option" $B/libds4-asan.a
FLAGS="-std=c11 -D_GNU_SOURCE -pthread -g -O1 -Isrc -march=native $(pkg-config --cflags libpcre2-8 libmicrohttpd jansson libedit)"
LIBS="$(pkg-config --libs libpcre2-8 libmicrohttpd jansson libedit) -lcrypto -lm -lpthread"
for t in $targets; do
    name=$(basename "$t" .c | sed 's/^fuzz_//')
    bin=$B/fuzz_$name
    clang $FLAGS -fsanitize=fuzzer,address,undefined "$t" $B/libds4-asan.a $LIBS -o "$bin"
    work=$B/corpus_$name
    extra=""
    if [ -n "${FUZZ_RUNS:-}" ]; then
        work=$B/smoke_$name
        rm -rf "$work"
        extra="-seed=1 -runs=$FUZZ_RUNS"
    fi
    mkdir -p "$work"
    echo "fuzz: $name for ${SECONDS_EACH}s"
    "$bin" $extra -max_total_time="$SECONDS_EACH" -print_final_stats=0 "$work" "tests/fuzz/corpus/$name" 2>"$B/fuzz_$name.log" || {
        tail -40 "$B/fuzz_$name.log"; echo "fuzz: $name FAILED"; exit 1; }
    grep -E '^#[0-9]+.*DONE' "$B/fuzz_$name.log" | tail -1 || true
done
echo "fuzz: ok"
