#!/bin/sh
# ds4 serve's disk KV cache: a request sharing a long prefix with an earlier
# one is served from a snapshot after a restart, with the same greedy output
# as without the cache; a corrupted snapshot is rejected and removed; the
# space budget evicts the least recently used files; continued snapshots land
# on their boundaries.
set -eu
. tests/integration/lib/common.sh
. tests/integration/lib/server_common.sh
trap cleanup_server EXIT
demo_model

# body FILE USER_TEXT: a chat request with a ~480-token system prompt
body() {
    node -e '
const fs = require("fs");
const sys = fs.readFileSync(process.argv[1], "utf8").slice(0, 1500);
fs.writeFileSync(process.argv[2], JSON.stringify({model: "deepseek-chat", temperature: 0, max_tokens: 24,
  messages: [{role: "system", content: sys}, {role: "user", content: process.argv[3]}]}));
' "$SH/data/tinyshakespeare.txt" "$1" "$2"
}
content() { node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(r.choices[0].message.content)' "$1"; }
post() { curl -sf "$URL/v1/chat/completions" -H 'Content-Type: application/json' --data-binary @"$1" -o "$2" || fail "request $1"; }

body "$T/r1.json" "First question"
body "$T/r2.json" "Second question"
KV="--kv-disk-dir $T/kv --kv-cache-min-tokens 64"

# reference: no cache
start_server "$T/a.log" --ctx 4096
post "$T/r2.json" "$T/ref.json"
stop_server || fail "server a exit"
grep -q "request 1: cold" "$T/a.log" || fail "reference was not a cold prefill"

# first run with the cache: the shared prefix (BOS + system) is saved cold
start_server "$T/b.log" --ctx 4096 $KV
post "$T/r1.json" "$T/out1.json"
stop_server || fail "server b exit"
grep -q "kv cache: saved [0-9a-f]*\.kv (cold, " "$T/b.log" || { cat "$T/b.log"; fail "no cold save"; }
grep -q "kv cache: saved [0-9a-f]*\.kv (shutdown, " "$T/b.log" || { cat "$T/b.log"; fail "no shutdown save"; }
[ -z "$(ls "$T/kv" | grep -v '\.kv$')" ] || fail "stray files in the cache dir: $(ls "$T/kv")"

# after a restart the second request starts from the snapshot
start_server "$T/c.log" --ctx 4096 $KV
post "$T/r2.json" "$T/out2.json"
stop_server || fail "server c exit"
grep -q "kv cache: hit " "$T/c.log" || { cat "$T/c.log"; fail "no cache hit logged"; }
grep -q "request 1: disk-text, reusing [1-9][0-9]* of " "$T/c.log" || { cat "$T/c.log"; fail "not served from disk"; }
[ "$(content "$T/out2.json")" = "$(content "$T/ref.json")" ] || fail "output with the cache differs: '$(content "$T/out2.json")' vs '$(content "$T/ref.json")'"

# a corrupted snapshot is detected (checksum), deleted, and the request still served cold
for f in "$T"/kv/*.kv; do
    size=$(wc -c <"$f")
    printf 'X' | dd of="$f" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
done
start_server "$T/d.log" --ctx 4096 $KV --kv-cache-cold-max-tokens 0
post "$T/r2.json" "$T/out3.json"
stop_server || fail "server d exit"
grep -q "checksum mismatch" "$T/d.log" || { cat "$T/d.log"; fail "corruption not detected"; }
grep -q "request 1: cold" "$T/d.log" || fail "corrupt snapshot was used"
[ "$(content "$T/out3.json")" = "$(content "$T/ref.json")" ] || fail "output after rejecting the corrupt file differs"

# budget: 1 MiB holds two ~0.35 MiB snapshots; older ones are evicted
rm -rf "$T/kv"
start_server "$T/e.log" --ctx 4096 $KV --kv-disk-space-mb 1
for u in one two three four; do body "$T/rb.json" "question $u"; post "$T/rb.json" "$T/ob.json"; done
stop_server || fail "server e exit"
grep -q "kv cache: evicting " "$T/e.log" || { cat "$T/e.log"; fail "nothing evicted"; }
total=$(cat "$T"/kv/*.kv | wc -c)
[ "$total" -le 1048576 ] || fail "cache dir holds $total bytes, over the 1 MiB budget"
# continued snapshots at absolute multiples of ceil(100/64)*64 = 128 tokens,
# during prefill and during decoding
rm -rf "$T/kv"
start_server "$T/f.log" --ctx 4096 $KV --kv-cache-cold-max-tokens 0 --kv-cache-continued-interval-tokens 100 \
    --kv-cache-boundary-align-tokens 64
post "$T/r1.json" "$T/of.json"
stop_server || fail "server f exit"
for n in 128 256 384; do
    grep -q "saved [0-9a-f]*\.kv (continued, $n tokens" "$T/f.log" || { cat "$T/f.log"; fail "no continued save at $n"; }
done
# exact DSML replay after a restart (chat-and-api.md §4.4): the shutdown
# snapshot's tool map keeps the sampled block of the call, so a history that
# sends the call's arguments in another key order (canonically a different
# block) still renders byte-identical and continues the whole snapshot
tool_body() { # FILE STAGE [CALL_ID]
    node -e '
const fs = require("fs");
const sys = fs.readFileSync(process.argv[1], "utf8").slice(0, 1500);
const dsml = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n" +
  "<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n" +
  "<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
const tools = [{type: "function", function: {name: "get_weather", parameters: {type: "object",
  properties: {city: {type: "string"}, days: {type: "integer"}}}}}];
const msgs = [{role: "system", content: sys}, {role: "user", content: "Weather in Paris?"}];
if (process.argv[3] === "call") msgs.push({role: "assistant", content: dsml});
else msgs.push({role: "assistant", content: "", tool_calls: [{id: process.argv[4], type: "function",
  function: {name: "get_weather", arguments: "{\"days\":3,\"city\":\"Paris\"}"}}]},
  {role: "tool", tool_call_id: process.argv[4], content: "sunny"});
fs.writeFileSync(process.argv[2], JSON.stringify({model: "deepseek-chat", temperature: 0, max_tokens: 4, tools,
  messages: msgs}));
' "$SH/data/tinyshakespeare.txt" "$@"
}
rm -rf "$T/kv"
tool_body "$T/t1.json" call
start_server "$T/g.log" --ctx 4096 $KV
post "$T/t1.json" "$T/ot1.json"
stop_server || fail "server g exit"
id=$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(r.choices[0].message.tool_calls[0].id)' "$T/ot1.json")
snap=$(sed -n 's/.*kv cache: saved [0-9a-f]*\.kv (shutdown, \([0-9]*\) tokens, 1 tool call(s).*/\1/p' "$T/g.log")
[ -n "$snap" ] || { cat "$T/g.log"; fail "no shutdown snapshot with a tool map"; }
tool_body "$T/t2.json" result "$id"
start_server "$T/h.log" --ctx 4096 $KV
post "$T/t2.json" "$T/ot2.json"
stop_server || fail "server h exit"
grep -q "exact DSML of call $id from the disk cache" "$T/h.log" || { cat "$T/h.log"; fail "tool map not used"; }
grep -q "request 1: disk-text, reusing $snap of " "$T/h.log" || { cat "$T/h.log"; fail "the snapshot of $snap tokens was not continued"; }
# a damaged tool map is caught when the directory is indexed
for f in "$T"/kv/*.kv; do
    size=$(wc -c <"$f")
    printf 'X' | dd of="$f" bs=1 seek=$((size - 5)) conv=notrunc 2>/dev/null
done
start_server "$T/i.log" --ctx 4096 $KV
stop_server || fail "server i exit"
grep -q "tool map checksum mismatch" "$T/i.log" || { cat "$T/i.log"; fail "damaged tool map not detected"; }
# a thinking Responses tool turn whose reasoning the client never saw is
# saved under its visible key (what the next request renders), so the next
# request continues it after a restart
resp_body() { # FILE STAGE [CALL_ID]
    node -e '
const fs = require("fs");
const sys = fs.readFileSync(process.argv[1], "utf8").slice(0, 1500);
const dsml = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n" +
  "<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
const tools = [{type: "function", name: "get_weather", parameters: {type: "object", properties: {city: {type: "string"}}}}];
const input = [{role: "user", content: "Weather in Paris?"}];
if (process.argv[3] === "call") input.push({type: "reasoning", summary: [{type: "summary_text", text: "Call the tool."}]},
  {role: "assistant", content: dsml});
else input.push({type: "function_call", call_id: process.argv[4], name: "get_weather", arguments: "{\"city\":\"Paris\"}"},
  {type: "function_call_output", call_id: process.argv[4], output: "sunny"});
fs.writeFileSync(process.argv[2], JSON.stringify({model: "deepseek-reasoner", max_output_tokens: 4, tools,
  instructions: sys, input}));
' "$SH/data/tinyshakespeare.txt" "$@"
}
rm -rf "$T/kv"
resp_body "$T/v1.json" call
start_server "$T/j.log" --ctx 4096 $KV
curl -sf "$URL/v1/responses" -H 'Content-Type: application/json' --data-binary @"$T/v1.json" -o "$T/ov1.json" || fail "responses call turn"
stop_server || fail "server j exit"
id=$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(r.output.find(o => o.type === "function_call").call_id)' "$T/ov1.json")
snap=$(sed -n 's/.*kv cache: saved [0-9a-f]*\.kv (shutdown, \([0-9]*\) tokens, responses-visible key, 1 tool call(s).*/\1/p' "$T/j.log")
[ -n "$snap" ] || { cat "$T/j.log"; fail "no shutdown snapshot under a responses-visible key"; }
resp_body "$T/v2.json" result "$id"
start_server "$T/k.log" --ctx 4096 $KV
curl -sf "$URL/v1/responses" -H 'Content-Type: application/json' --data-binary @"$T/v2.json" -o "$T/ov2.json" || fail "responses result turn"
stop_server || fail "server k exit"
grep -q "request 1: disk-text, reusing $snap of " "$T/k.log" || { cat "$T/k.log"; fail "the visible-key snapshot of $snap tokens was not continued"; }
echo ok
