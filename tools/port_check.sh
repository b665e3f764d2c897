#!/bin/sh
# Builds the tree the ways a user's machine may, beyond this one's own build:
# -march=native on an AVX-512 machine compiles code that an AVX2-only or
# pre-AVX machine never sees, and a warning that only appears there (GCC's
# -Wpsabi on a 64-byte vector, an unused scalar helper) or only under clang
# (the compiler of macOS) breaks `make` for those users under -Werror.
#   - x86-64: -march=x86-64-v2 (no AVX), built; -march=haswell (AVX2 without
#     AVX-512), built and its unit tests run, so the AVX2 kernels and paths
#     run as the native ones;
#   - where clang is installed: the binary built with it.
# Each build goes to its own directory under BUILD.
set -e
B=${1:-build}
MK=${MAKE:-make}
case "$(uname -m)" in
x86_64 | amd64)
    echo "port-check: -march=x86-64-v2"
    $MK -s BUILD="$B/port-x86-64-v2" ARCH_FLAGS=-march=x86-64-v2 "$B/port-x86-64-v2/ds4"
    echo "port-check: -march=haswell"
    dir="$B/port-haswell"
    $MK -s BUILD="$dir" ARCH_FLAGS=-march=haswell "$dir/ds4" "$dir/unit-tests"
    if grep -qw avx2 /proc/cpuinfo; then
        abs=$(cd "$dir" && pwd)
        DS4_BIN="$abs/ds4" DS4_BUILD="$abs" DS4_TEST_LIGHT=1 timeout -k 10 900 "$dir/unit-tests" --jobs 2
    else
        echo "port-check: no AVX2 on this CPU, the haswell build is not run"
    fi
    ;;
esac
if command -v clang >/dev/null 2>&1; then
    echo "port-check: clang"
    $MK -s BUILD="$B/port-clang" CC=clang "$B/port-clang/ds4"
else
    echo "port-check: clang not installed, skipped"
fi
