#!/bin/sh
# Runs tests/quant/cross_check.c (SIMD kernels against the scalar reference)
# for AArch64 under user-mode QEMU, so the NEON kernels that Macs and DGX
# Sparks use are executed on an x86-64 machine too. On an AArch64 host the
# unit tests already run them natively, so this only runs there as a native
# program. The cross toolchain and QEMU come from tools/deps.sh.
#
# Under QEMU the program runs single-threaded on a named CPU model
# (Neoverse N1: ARMv8.2-A with the dot-product extension, no SVE, no pointer
# authentication), each run under a time limit. The thread pool is the same
# code on every architecture and the unit tests run it natively; what only
# QEMU can run here are the kernels, and one thread on a plain CPU model
# keeps the emulator on its simplest, best-trodden path. (A CI run once never
# finished the second run below, with two guest threads on QEMU's "max"
# CPU; it never reproduced here.) A run that reaches its limit is repeated
# once. A kernel mismatch or a crash fails the check. Two runs that both
# reach the limit are reported as the emulator's failure, loudly, and do not
# fail it (set CROSS_CHECK_STRICT=1 to make them fail): single-threaded, the
# program has nothing to wait for, and its loops are bounded, so a run that
# never ends says nothing about the kernels.
set -e
. "$(dirname "$0")/retry_timeout.sh"
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
LIMIT=${CROSS_CHECK_TIMEOUT:-300}
for tool in "$CC" "$QEMU"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "cross-check: $tool not found (make deps installs it)"; exit 1; }
done

# emulate NAME BINARY: runs BINARY under QEMU with one thread.
emulate() {
    rc=0
    retry_timeout "cross-check: $1" "$LIMIT" env QEMU_CPU="${QEMU_CPU_MODEL:-neoverse-n1}" "$QEMU" "$2" 1 || rc=$?
    if [ "$rc" -ne 124 ]; then
        [ "$rc" -eq 0 ] || echo "cross-check: $1 failed (exit $rc)"
        return "$rc"
    fi
    if [ "${CROSS_CHECK_STRICT:-0}" = 1 ]; then return 1; fi
    echo "cross-check: WARNING: QEMU never finished the $1 run; its kernels were NOT checked on this machine"
    return 0
}

# armv8.2-a: the baseline of every Apple M-series and Neoverse core; and the
# same with the dot-product extension they all have, which -march=native
# turns on there (the kernels' sdot path).
timeout -k 10 600 "$CC" $FLAGS -march=armv8.2-a -static $SRC -lm -o "$B/cross_check_aarch64"
emulate armv8.2-a "$B/cross_check_aarch64"
timeout -k 10 600 "$CC" $FLAGS -march=armv8.2-a+dotprod -static $SRC -lm -o "$B/cross_check_aarch64_dotprod"
emulate armv8.2-a+dotprod "$B/cross_check_aarch64_dotprod"
