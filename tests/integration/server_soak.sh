#!/bin/sh
# Bounded soak of ds4 serve under AddressSanitizer + UBSan: 300 requests, 8 at
# a time, a random mix of valid requests on every endpoint, clients hanging up
# mid-stream and mid-upload, malformed, oversized and deeply nested bodies,
# bad auth, unknown paths, context overflow and raw garbage. Passes when every
# answer has the expected status, /health answers at the end, and the server
# exits cleanly with no sanitizer report and no leak.
set -eu
. tests/integration/lib/common.sh
BUILD=${DS4_BUILD:-build}
. tests/integration/lib/server_common.sh
trap cleanup_server EXIT
demo_model
make -s BUILD="$BUILD" asan-bin >"$T/make.log" 2>&1 || { tail -20 "$T/make.log"; echo "FAIL: building ds4-asan"; exit 1; }
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
SERVER_BIN=$BUILD/ds4-asan start_server "$T/server.log" --ctx 1024 --api-key sk-soak --max-request-mb 1
DS4_URL=$URL DS4_KEY=sk-soak SOAK_N=${SOAK_N:-300} SOAK_C=8 SOAK_CTX=1024 SOAK_MAX_MB=1 node tests/node/server_soak.js || {
    tail -30 "$T/server.log"; echo "FAIL: soak"; exit 1; }
curl -sf "$URL/health" >/dev/null || { echo "FAIL: /health after the soak"; exit 1; }
stop_server || { tail -40 "$T/server.log"; echo "FAIL: ds4-asan serve exited with an error (sanitizer report?)"; exit 1; }
if grep -E "AddressSanitizer|LeakSanitizer|runtime error:" "$T/server.log"; then
    echo "FAIL: sanitizer report"; exit 1
fi
echo ok
