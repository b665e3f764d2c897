#!/bin/sh
# ds4 tokenize on a vocab-only GGUF of the demo tokenizer: output formats,
# byte-exact -f, DS4_MODEL, --detok round trip, batch input forms, errors.
set -eu
. tests/integration/lib/common.sh

mkdir -p "$T/demo"
cp "$SH/oracle/demo/tokenizer.json" "$SH/oracle/demo/config.json" "$T/demo/"
"$BIN" convert --vocab-only --hf "$T/demo" --out "$T/v.gguf" 2>"$T/log" || { cat "$T/log"; fail convert; }
M=$T/v.gguf

# Reference ids from oracle/demo/manifest.json.
out=$("$BIN" tokenize -m "$M" -p "Hello world")
[ "$out" = "46,420,85,873" ] || fail "ids: $out"
out=$("$BIN" tokenize -m "$M" -p "Hello world" --json)
[ "$out" = '{"ids":[46,420,85,873]}' ] || fail "json: $out"
out=$(DS4_MODEL="$M" "$BIN" tokenize -p "Hello world")
[ "$out" = "46,420,85,873" ] || fail "DS4_MODEL: $out"
"$BIN" tokenize -m "$M" -p "ROMEO:
But soft!" --pieces >"$T/pieces"
[ "$(wc -l <"$T/pieces")" -eq 6 ] || fail "pieces: $(cat "$T/pieces")"
head -1 "$T/pieces" | grep -q "^849	" || fail "pieces first line: $(head -1 "$T/pieces")"
grep -q '\\n' "$T/pieces" || fail "newline piece not escaped"
"$BIN" tokenize -m "$M" -p "a b" --pieces --json | grep -q '"pieces":\["a"," b"\]' || fail "json pieces"

# -f is byte-exact: a trailing newline is a token of its own.
printf 'Hello world' >"$T/a.txt"
printf 'Hello world\n' >"$T/b.txt"
a=$("$BIN" tokenize -m "$M" -f "$T/a.txt")
b=$("$BIN" tokenize -m "$M" -f "$T/b.txt")
[ "$a" = "46,420,85,873" ] || fail "-f: $a"
[ "$b" != "$a" ] && [ "${b#"$a",}" != "$b" ] || fail "-f with newline: $b"
c=$(printf 'Hello world' | "$BIN" tokenize -m "$M" -f -)
[ "$c" = "$a" ] || fail "-f - (stdin): $c"

# Special tokens: parsed by default, plain text with --no-special.
[ "$("$BIN" tokenize -m "$M" -p "<think>")" = "5" ] || fail "<think> not one token"
n=$("$BIN" tokenize -m "$M" -p "<think>" --no-special | tr ',' '\n' | wc -l)
[ "$n" -gt 1 ] || fail "--no-special still matched <think>"

# --detok reverses it, byte for byte.
head -c 20000 "$SH/data/tinyshakespeare.txt" >"$T/part.txt"
"$BIN" tokenize -m "$M" -f "$T/part.txt" >"$T/part.ids"
"$BIN" tokenize -m "$M" --detok "$(cat "$T/part.ids")" >"$T/back.txt"
cmp -s "$T/part.txt" "$T/back.txt" || fail "detok round trip differs"

# Batch input forms; invalid UTF-8 becomes U+FFFD (one per maximal subpart).
printf '%s\n' '"Hello world"' '{"text":"Hello world"}' '{"hex":"48656c6c6f20776f726c64"}' \
    '{"hex":"c0af"}' '{"text":"\ufffd\ufffd"}' >"$T/batch.jsonl"
"$BIN" tokenize -m "$M" --batch "$T/batch.jsonl" --roundtrip >"$T/batch.out"
[ "$(sed -n 1p "$T/batch.out")" = '{"ids":[46,420,85,873],"text":"Hello world"}' ] || fail "batch 1: $(sed -n 1p "$T/batch.out")"
[ "$(sed -n 2p "$T/batch.out")" = "$(sed -n 1p "$T/batch.out")" ] || fail "batch text form"
[ "$(sed -n 3p "$T/batch.out")" = "$(sed -n 1p "$T/batch.out")" ] || fail "batch hex form"
[ "$(sed -n 4p "$T/batch.out")" = "$(sed -n 5p "$T/batch.out")" ] || fail "invalid UTF-8 handling: $(sed -n 4p "$T/batch.out")"

# Without -m or $DS4_MODEL (and no ./ds4flash.gguf here) the embedded demo
# model is used, like run/chat do; it carries the demo tokenizer.
out=$(cd "$T" && env -u DS4_MODEL "$BIN" tokenize -p "Hello world" 2>"$T/err") || fail "demo fallback: $(cat "$T/err")"
[ "$out" = "46,420,85,873" ] || fail "demo fallback ids: $out"
grep -q "demo model" "$T/err" || fail "demo fallback not announced: $(cat "$T/err")"

# Errors are clear and non-zero.
"$BIN" tokenize -m "$T/nope.gguf" -p x 2>"$T/err" && fail "missing file accepted"
grep -q "nope.gguf" "$T/err" || fail "missing-file message: $(cat "$T/err")"
"$BIN" tokenize -m "$M" -f "$T/nope.txt" 2>"$T/err" && fail "missing text file accepted"
grep -q "nope.txt" "$T/err" || fail "missing text message: $(cat "$T/err")"
printf '{"hex":"zz"}\n' >"$T/bad.jsonl"
"$BIN" tokenize -m "$M" --batch "$T/bad.jsonl" 2>"$T/err" >/dev/null && fail "bad batch accepted"
grep -q "line 1" "$T/err" || fail "bad batch message: $(cat "$T/err")"
"$BIN" tokenize -m "$M" --detok 5000 2>"$T/err" && fail "bad id accepted"
grep -q "bad token id" "$T/err" || fail "bad id message: $(cat "$T/err")"
"$BIN" tokenize -m "$SH/oracle/demo/config.json" -p x 2>"$T/err" && fail "non-GGUF accepted"
echo ok
