#!/bin/sh
# ds4 serve end to end with the official client libraries (openai,
# @anthropic-ai/sdk): every endpoint, stream and non-stream, tool round trips,
# usage vs the tokenizer, errors, a client abort.
set -eu
BIN=${DS4_BIN:?}; SH=${DS4_SHARED:?}; T=${DS4_TMP:?}
. tests/integration/lib/server_common.sh
[ -d tests/node/node_modules/openai ] && [ -d tests/node/node_modules/@anthropic-ai/sdk ] || {
    echo "FAIL: tests/node/node_modules lacks the SDKs (run make deps)"; exit 1; }
trap cleanup_server EXIT
demo_model
start_server "$T/server.log" --ctx 4096 --api-key sk-test
DS4_URL=$URL DS4_KEY=sk-test DS4_BIN=$BIN DS4_MODEL=$MODEL node tests/node/server_sdk.js || {
    tail -30 "$T/server.log"; exit 1; }
# the abort in the last test stopped its generation early
grep -q "error after [0-9]* tokens (client disconnected)" "$T/server.log" || { tail -20 "$T/server.log"; echo "FAIL: no disconnect logged"; exit 1; }
grep -q "queued at position" "$T/server.log" || { echo "FAIL: no queue position logged"; exit 1; }
stop_server || { tail "$T/server.log"; echo "FAIL: server did not exit cleanly"; exit 1; }
echo ok
