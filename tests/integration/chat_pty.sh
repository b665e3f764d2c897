#!/bin/sh
# ds4 chat in a terminal (a pty from util-linux `script`): a message gets a
# reply, Ctrl-C interrupts a long reply without leaving the chat, /stats and
# /quit work. Then with piped stdin: /save, /clear, /load and /think.
set -eu
. tests/integration/lib/common.sh
M=$(pwd)/models/ds4-demo-q2.gguf
command -v script >/dev/null 2>&1 || fail "script (util-linux) is needed"
# script runs the command through $SHELL -c; "exec" makes ds4 the pty's only
# foreground process, so Ctrl-C reaches ds4 alone (a dash that stays as parent
# would die of the SIGINT and fail the run). Pin the shell so runs agree.
SHELL=/bin/sh; export SHELL

# Waits (up to 30 s) until the pty transcript matches a pattern, or grows.
wait_for() { i=0; while ! grep -q "$1" "$T/pty" 2>/dev/null; do sleep 0.1; i=$((i + 1)); [ $i -lt 300 ] || return 1; done; }
wait_growth() { i=0; while [ "$(wc -c <"$T/pty")" -lt "$1" ]; do sleep 0.1; i=$((i + 1)); [ $i -lt 300 ] || return 1; done; }

# 1. a message gets a (20-token) reply, then /stats and /quit
: >"$T/pty"
(wait_for 'help for commands' && printf 'Hello there\r' && wait_for 'Hello there' && sleep 0.3 &&
 printf '/stats\r' && wait_for 'last finish' && printf '/quit\r') |
    timeout 60 script -qec "exec $BIN chat -m $M --nothink -n 20 --seed 1 -t 2" /dev/null >"$T/pty" 2>&1 \
    || { cat "$T/pty"; fail "chat in a pty"; }
tr -d '\r' <"$T/pty" >"$T/out"
grep -q '^ds4 chat: .*/help for commands' "$T/out" || fail "no banner: $(cat "$T/out")"
grep -q '^> Hello there$' "$T/out" || fail "input not echoed"
awk '/^> Hello there$/ {on=1; next} /^> / {on=0} on' "$T/out" | grep -q '[A-Za-z]' || fail "no reply: $(cat "$T/out")"
grep -q '^generation: 20 tokens' "$T/out" || fail "/stats output: $(cat "$T/out")"
grep -q '^> /quit' "$T/out" || fail "/quit not reached"

# 2. Ctrl-C stops an endless reply (the demo model never samples EOS) and
#    the chat goes on
: >"$T/pty"
(wait_for 'help for commands' && printf 'Tell me a long tale\r' && wait_for 'long tale' &&
 wait_growth $(( $(wc -c <"$T/pty") + 300 )) && printf '\003' && wait_for 'interrupted' &&
 printf '/stats\r' && wait_for 'last finish' && printf '/quit\r') |
    timeout 60 script -qec "exec $BIN chat -m $M --nothink -n 100000 --seed 1 -t 2" /dev/null >"$T/pty" 2>&1 \
    || { cat "$T/pty"; fail "chat in a pty (Ctrl-C)"; }
tr -d '\r' <"$T/pty" >"$T/out"
grep -q 'interrupted' "$T/out" || fail "Ctrl-C did not interrupt: $(cat "$T/out")"
grep -q 'last finish: interrupted' "$T/out" || fail "/stats after Ctrl-C: $(cat "$T/out")"
grep -q '^> /quit' "$T/out" || fail "/quit after Ctrl-C not reached"

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
