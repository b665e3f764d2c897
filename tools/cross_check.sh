#!/bin/sh
# Runs tests/quant/cross_check.c (SIMD kernels against the scalar reference)
# for AArch64 under user-mode QEMU, so the NEON kernels that Macs and DGX
# Sparks use are executed on an x86-64 machine too. On an AArch64 host the
# unit tests already run them natively, so this only runs there as a native
# program. The cross toolchain and QEMU come from tools/deps.sh.
set -e
B=${1:-build}/cross
mkdir -p "$B"
SRC="tests/quant/cross_check.c src/base/error.c src/base/fp16.c src/base/pool.c src/gguf/types.c $(ls src/quant/*.c)"
FLAGS="-std=c11 -D_GNU_SOURCE -pthread -O2 -Wall -Wextra -Werror -Wno-unused-parameter -Isrc"
if [ "$(uname -m)" = "aarch64" ]; then
    cc $FLAGS -march=native $SRC -lm -o "$B/cross_check"
    "$B/cross_check"
    exit
fi
CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU:-qemu-aarch64}
for tool in "$CC" "$QEMU"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "cross-check: $tool not found (make deps installs it)"; exit 1; }
done
# armv8.2-a: the baseline of every Apple M-series and Neoverse core; and the
# same with the dot-product extension they all have, which -march=native
# turns on there (the kernels' sdot path; QEMU's "max" CPU emulates it).
"$CC" $FLAGS -march=armv8.2-a -static $SRC -lm -o "$B/cross_check_aarch64"
"$QEMU" "$B/cross_check_aarch64"
"$CC" $FLAGS -march=armv8.2-a+dotprod -static $SRC -lm -o "$B/cross_check_aarch64_dotprod"
QEMU_CPU=max "$QEMU" "$B/cross_check_aarch64_dotprod"
