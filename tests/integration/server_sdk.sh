#!/bin/sh
# ds4 serve end to end with the official client libraries (openai,
# @anthropic-ai/sdk): every endpoint, stream and non-stream, tool round trips,
# usage vs the tokenizer, errors, a client abort.
set -eu
. tests/integration/lib/common.sh
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
# the Responses visible binding and tool results continue the live tool turn
# (chat-and-api.md §4.1 sources 1-3)
for src in responses-visible responses-tool-output anthropic-tool-output; do
    grep -q "$src, reusing [1-9][0-9]* of" "$T/server.log" || { echo "FAIL: no $src session logged"; exit 1; }
done
[ "$(grep -c ': 409: tool outputs miss the live calls' "$T/server.log")" = 2 ] || { echo "FAIL: 409s"; exit 1; }
# SIGTERM during a long generation: it ends with finish "error", the client
# still gets its reply, a queued request gets 503, the server exits 0
n_long=$(($(grep -c "queued at position" "$T/server.log") + 1))
curl -s "$URL/v1/chat/completions" -H 'Authorization: Bearer sk-test' -o "$T/long.json" \
    -d '{"model":"deepseek-chat","messages":[{"role":"user","content":"ROMEO:"}],"max_tokens":3000}' &
c1=$!
wait_log "$T/server.log" "request $n_long: [a-z-]*, reusing"
curl -s "$URL/v1/chat/completions" -H 'Authorization: Bearer sk-test' -o "$T/queued.json" \
    -d '{"model":"deepseek-chat","messages":[{"role":"user","content":"ROMEO:"}],"max_tokens":5}' &
c2=$!
wait_log "$T/server.log" "request $((n_long + 1)) (chat, [0-9]* prompt tokens) queued at position 1"
stop_server || { tail "$T/server.log"; echo "FAIL: server did not exit cleanly"; exit 1; }
wait $c1 $c2 || true
grep -q '"finish_reason":"error"' "$T/long.json" || { cat "$T/long.json"; echo "FAIL: interrupted reply"; exit 1; }
grep -q 'server shutting down' "$T/queued.json" || { cat "$T/queued.json"; echo "FAIL: queued request at shutdown"; exit 1; }

# --max-queue 1: with one request running and one waiting, the next gets 429
start_server "$T/q.log" --ctx 4096 --max-queue 1
body='{"model":"deepseek-chat","messages":[{"role":"user","content":"ROMEO:"}],"max_tokens":3000}'
curl -s "$URL/v1/chat/completions" -o /dev/null -d "$body" &
q1=$!
wait_log "$T/q.log" "request 1: [a-z-]*, reusing"
curl -s "$URL/v1/chat/completions" -o /dev/null -d "$body" &
q2=$!
wait_log "$T/q.log" "request 2 (chat, [0-9]* prompt tokens) queued at position 1"
code=$(curl -s -o "$T/429.json" -w '%{http_code}' "$URL/v1/chat/completions" -d "$body")
[ "$code" = 429 ] || { cat "$T/429.json"; echo "FAIL: expected 429, got $code"; exit 1; }
grep -q '"type":"rate_limit_error"' "$T/429.json" || { cat "$T/429.json"; echo "FAIL: 429 body"; exit 1; }
stop_server || { echo "FAIL: exit after the 429 check"; exit 1; }
wait $q1 $q2 || true
echo ok
