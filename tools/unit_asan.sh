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
B=${1:-build}
limit=${UNIT_ASAN_TIMEOUT:-900}
supp="$(cd "$(dirname "$0")/.." && pwd)/tests/lsan.supp"
for attempt in 1 2; do
    ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$supp" UBSAN_OPTIONS=print_stacktrace=1 DS4_TEST_LIGHT=1 \
        timeout -k 10 "$limit" "$B/unit-tests-asan" --jobs 2
    rc=$?
    if [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ]; then exit "$rc"; fi
    echo "unit-asan: no result after $limit s (attempt $attempt of 2): the runner was stopped"
done
exit 1
