#!/bin/sh
# ds4 chat in a terminal (a pty from util-linux `script`): a message gets a
# reply, Ctrl-C interrupts a long reply without leaving the chat, /stats and
# /quit work. Then with piped stdin: /save, /clear, /load and /think.
set -eu
BIN=${DS4_BIN:?}; T=${DS4_TMP:?}
M=$(pwd)/models/ds4-demo-q2.gguf
fail() { echo "FAIL: $*"; exit 1; }
command -v script >/dev/null 2>&1 || fail "script (util-linux) is needed"

(sleep 1; printf 'Hello there\r'; sleep 2; printf 'Tell me a long tale\r'; sleep 1.5; printf '\003'; sleep 1;
 printf '/stats\r'; sleep 0.5; printf '/quit\r'; sleep 0.5) |
    timeout 60 script -qec "$BIN chat -m $M --nothink -n 100000 --seed 1 -t 2" /dev/null >"$T/pty" 2>&1 \
    || { cat "$T/pty"; fail "chat in a pty"; }
tr -d '\r' <"$T/pty" >"$T/out"
grep -q '^ds4 chat: .*/help for commands' "$T/out" || fail "no banner: $(cat "$T/out")"
grep -q '^> Hello there$' "$T/out" || fail "input not echoed"
grep -q 'interrupted' "$T/out" || fail "Ctrl-C did not interrupt: $(cat "$T/out")"
grep -q 'last finish: interrupted' "$T/out" || fail "/stats after Ctrl-C: $(cat "$T/out")"
grep -q '^generation: [0-9]* tokens' "$T/out" || fail "/stats output"
grep -q '^> /quit' "$T/out" || fail "/quit not reached"
# the first reply is text between the first two prompts
awk '/^> Hello there$/ {on=1; next} /^> / {on=0} on' "$T/out" | grep -q '[A-Za-z]' || fail "no reply"

printf 'Good morrow\n/save %s\n/clear\n/stats\n/load %s\nAnd you?\n/think off\n/think\nWhat news?\n/stats\n/bogus\n/quit\n' \
    "$T/conv.json" "$T/conv.json" | "$BIN" chat -m "$M" -n 12 --seed 2 -t 2 >"$T/pipe" 2>&1 || { cat "$T/pipe"; fail "piped chat"; }
grep -q 'saved 3 messages' "$T/pipe" || fail "/save: $(cat "$T/pipe")"
grep -q 'context: 0 / 32768 tokens, 1 messages' "$T/pipe" || fail "/clear: $(cat "$T/pipe")"
grep -q 'loaded 3 messages' "$T/pipe" || fail "/load"
grep -q 'thinking none, reasoning shown' "$T/pipe" || fail "/think off"
grep -q '7 messages, thinking none' "$T/pipe" || fail "turns after /load: $(cat "$T/pipe")"
grep -q 'unknown command /bogus' "$T/pipe" || fail "unknown command"
grep -q '"role": "user"' "$T/conv.json" && grep -q '"content": "Good morrow"' "$T/conv.json" || fail "saved JSON"
echo ok
