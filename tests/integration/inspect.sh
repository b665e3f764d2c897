#!/bin/sh
# `ds4 inspect` on the committed GGUF corpus (tests/fuzz/corpus/gguf, made by
# tests/fuzz/gen_gguf_corpus.c): valid files print the expected metadata,
# tensor table and totals (text and --json); every corrupted file is rejected
# with exit status 1 and a message naming what is wrong.
set -u
BIN=${DS4_BIN:-build/ds4}
C=$(cd "$(dirname "$0")/../fuzz/corpus/gguf" && pwd)
T=${DS4_TMP:-$(mktemp -d)}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$BIN" inspect --help >"$T/help" 2>&1 || fail "--help exit status"
grep -q "usage: ds4 inspect" "$T/help" || fail "--help text"
"$BIN" inspect >/dev/null 2>&1; [ $? -eq 2 ] || fail "no argument should exit 2"
"$BIN" inspect --bogus "$C/valid_tiny.gguf" >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option should exit 2"
"$BIN" inspect "$T/does-not-exist.gguf" 2>"$T/err" >/dev/null; [ $? -eq 1 ] || fail "missing file should exit 1"
grep -q "cannot open" "$T/err" || fail "missing file message: $(cat "$T/err")"

# ---- text output of a valid file ----
out="$T/tiny.txt"
"$BIN" inspect "$C/valid_tiny.gguf" >"$out" 2>"$T/err" || fail "valid_tiny rejected: $(cat "$T/err")"
expect() { grep -Eq -- "$1" "$out" || fail "output lacks /$1/"; }
expect '^format: +GGUF v3, alignment 32'
expect '^metadata \(12 keys\)'
expect 'general\.architecture +STRING +"deepseek4"'
expect 'deepseek4\.block_count +UINT32 +2$'
expect 'test\.negative +INT32 +-12345$'
expect 'deepseek4\.expert_weights_scale +FLOAT32 +1\.5$'
expect 'deepseek4\.attention\.compress_ratios +ARRAY\[INT32;3\] +\[0, 4, 0\]$'
expect 'tokenizer\.ggml\.tokens +ARRAY\[STRING;20\] +\[.*"tok7", \.\.\. \(20 total\)\]$'
expect 'tokenizer\.chat_template +STRING +".*"\.\.\.\(300 bytes\)$'
expect '^tensors \(8\):'
expect ' 3 +blk\.0\.ffn_gate_exps\.weight +IQ2_XXS +\[256, 4, 2\] +528 +4992$'
expect ' 0 +token_embd\.weight +F16 +\[64, 20\] +2560 +0$'
expect ' 7 +test\.bf16 +BF16 +\[16\] +32 +7520$'
expect '^  Q4_K +1 +1152 '
expect '^  total +8 +7536 '
"$BIN" inspect --all "$C/valid_tiny.gguf" | grep -q '"tok19"\]$' || fail "--all should print every token"
"$BIN" inspect --max-array 2 "$C/valid_tiny.gguf" | grep -q '\["<｜bos｜>", "tok1", \.\.\. (20 total)\]' \
    || fail "--max-array 2"
"$BIN" inspect "$C/valid_nested.gguf" | grep -Eq 'test\.nested +ARRAY\[ARRAY;2\] +\[\[-1, 7\], \["x"\]\]$' \
    || fail "nested array rendering"
"$BIN" inspect "$C/valid_align64.gguf" | grep -q 'alignment 64' || fail "alignment 64"

# ---- JSON output ----
"$BIN" inspect --json "$C/valid_tiny.gguf" >"$T/tiny.json" || fail "--json exit status"
if command -v node >/dev/null 2>&1; then
    node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const ok = (c, m) => { if (!c) { console.log("json: " + m); process.exitCode = 1; } };
ok(j.version === 3 && j.alignment === 32 && j.size === 9184, "header fields");
ok(j.metadata.length === 12, "12 metadata records");
const tok = j.metadata.find(m => m.key === "tokenizer.ggml.tokens");
ok(tok && tok.count === 20 && tok.truncated === true && tok.value.length === 8 && tok.value[0] === "<｜bos｜>", "tokens");
ok(j.metadata.find(m => m.key === "deepseek4.expert_weights_norm").value === true, "bool");
ok(j.tensors.length === 8, "8 tensors");
const g = j.tensors.find(t => t.name === "blk.0.ffn_gate_exps.weight");
ok(g && g.type === "IQ2_XXS" && g.type_id === 16 && g.dims.join() === "256,4,2" && g.bytes === 528 && g.offset === 4992, "gate_exps row");
ok(j.totals.count === 8 && j.totals.bytes === j.tensors.reduce((s, t) => s + t.bytes, 0), "totals");
ok(j.totals.by_type.length === 8 && j.totals.by_type.every(e => e.count === 1), "by_type");
' "$T/tiny.json" || fail "JSON content"
    "$BIN" inspect --json --all "$C/valid_nested.gguf" >"$T/nested.json" || fail "--json nested"
    node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
if (JSON.stringify(j.metadata[3].value) !== "[[-1,7],[\"x\"]]") process.exit(1);' "$T/nested.json" \
        || fail "JSON nested array"
else
    grep -q '"tensors"' "$T/tiny.json" || fail "JSON lacks tensors"
fi

# ---- every valid file opens, every corrupted file is rejected cleanly ----
for f in "$C"/valid_*.gguf; do
    "$BIN" inspect "$f" >/dev/null 2>"$T/err" || fail "$(basename "$f") rejected: $(cat "$T/err")"
    "$BIN" inspect --json "$f" >/dev/null 2>"$T/err" || fail "$(basename "$f") --json rejected"
done
n=0
for f in "$C"/bad_*.gguf; do
    n=$((n + 1))
    "$BIN" inspect "$f" >"$T/out" 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] || fail "$(basename "$f"): exit status $rc, expected 1"
    grep -q "^ds4 inspect: $f: " "$T/err" || fail "$(basename "$f"): message should name the file: $(cat "$T/err")"
    [ -s "$T/out" ] && fail "$(basename "$f"): printed output for a bad file"
done
[ $n -ge 20 ] || fail "expected at least 20 corrupted corpus files, found $n"

# specific messages name the field and offset
msg() { "$BIN" inspect "$C/$1" 2>&1 >/dev/null | grep -Fq -- "$2" || fail "$1: message lacks '$2'"; }
msg bad_magic.gguf "bad magic at offset 0"
msg bad_version2.gguf "GGUF version 2 at offset 4 is not supported"
msg bad_version1.gguf "GGUF version 1"
msg bad_tensor_count.gguf "tensor_count 18446744073709551615 at offset 8"
msg bad_string_length.gguf "metadata key 0 'general.name': string length 1099511627776 at offset 48"
msg bad_value_type.gguf "'test.nested': unknown value type 13"
msg bad_tensor_type.gguf "tensor 0 't.f32': unknown ggml type id 31"
msg bad_misaligned_offset.gguf "tensor 1 't.q8': offset 48 is not a multiple of the alignment 32"
msg bad_past_eof.gguf "tensor 2 't.i32': data extends past end of file"
msg bad_duplicate_tensor.gguf "duplicate name"
msg bad_truncated_header.gguf "too small"
msg bad_deep_nesting.gguf "nested more than 8 deep"
msg bad_tiny_truncated_last_tensor.gguf "tensor 6 'blk.0.ffn_gate_tid2eid.weight': data extends past end of file"

[ $fails -eq 0 ] && echo "inspect: ok ($n corrupted files rejected)"
[ $fails -eq 0 ]
