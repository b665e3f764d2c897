#!/bin/sh
# Builds the tree for the x86-64 targets below the build machine's own and
# runs their unit tests: -march=native on an AVX-512 machine compiles code
# that an AVX2-only or pre-AVX machine never sees, and a warning that only
# appears there (GCC's -Wpsabi on a 64-byte vector, an unused scalar helper)
# breaks `make` for those users under -Werror. Each target builds in its own
# directory under BUILD; its unit tests run the scalar or AVX2 kernels as the
# native ones. Elsewhere than x86-64 there is nothing to do.
set -e
B=${1:-build}
case "$(uname -m)" in
x86_64 | amd64) ;;
*) echo "port-check: not an x86-64 machine, skipped"; exit 0 ;;
esac
for arch in x86-64-v2 haswell; do
    echo "port-check: -march=$arch"
    dir="$B/port-$arch"
    ${MAKE:-make} -s BUILD="$dir" ARCH_FLAGS="-march=$arch" "$dir/ds4" "$dir/unit-tests"
    if [ "$arch" = haswell ] && ! grep -qw avx2 /proc/cpuinfo; then
        echo "port-check: no AVX2 on this CPU, the $arch build is not run"
        continue
    fi
    abs=$(cd "$dir" && pwd)
    DS4_BIN="$abs/ds4" DS4_BUILD="$abs" DS4_TEST_LIGHT=1 "$dir/unit-tests" --jobs 2
done
