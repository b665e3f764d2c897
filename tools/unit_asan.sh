#!/bin/sh
# Runs the unit tests under ASan+UBSan (make unit-asan).
#
# Criterion forks a worker per test from a runner that has a second thread.
# GCC 12's ASan allocator is not fork-safe: a fork that lands while that
# thread holds the allocator's lock leaves the worker blocked in malloc
# before its test starts, and the run never ends (seen once, in a CI
# rehearsal on a loaded machine). So the run gets a time limit far above its
# usual ~2 minutes, and a run that reaches it is repeated once. A test that
# really hangs hangs both times and fails the suite.
set -u
. "$(dirname "$0")/retry_timeout.sh"
B=${1:-build}
supp="$(cd "$(dirname "$0")/.." && pwd)/tests/lsan.supp"
rc=0
retry_timeout unit-asan "${UNIT_ASAN_TIMEOUT:-900}" env ASAN_OPTIONS=detect_leaks=1 \
    LSAN_OPTIONS="suppressions=$supp" UBSAN_OPTIONS=print_stacktrace=1 DS4_TEST_LIGHT=1 \
    "$B/unit-tests-asan" --jobs 2 || rc=$?
[ "$rc" -eq 124 ] && exit 1
exit "$rc"
