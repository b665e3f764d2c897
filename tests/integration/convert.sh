#!/bin/sh
# ds4 convert end to end: tiny (FP8/FP4 single file) and demo (sharded BF16,
# real tokenizer) with the reference and asymmetric recipes; dry-run table.
set -eu
BIN=${DS4_BIN:?}; SH=${DS4_SHARED:?}; T=${DS4_TMP:?}
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" convert --hf "$SH/oracle/tiny" --out "$T/tiny-f32.gguf" --recipe f32 2>"$T/log" || { cat "$T/log"; fail "tiny f32"; }
grep -q "wrote $T/tiny-f32.gguf: 178 tensors" "$T/log" || fail "tiny f32 summary: $(cat "$T/log")"
[ ! -e "$T/tiny-f32.gguf.tmp" ] || fail "temp file left behind"

"$BIN" convert --hf "$SH/oracle/demo" --out "$T/demo-bf16.gguf" --recipe bf16 --threads 2 2>"$T/log" || { cat "$T/log"; fail "demo bf16"; }
grep -q "wrote $T/demo-bf16.gguf" "$T/log" || fail "demo bf16 summary"

# The dry-run total equals the size the real run writes.
"$BIN" convert --hf "$SH/oracle/demo" --recipe q2-asym --dry-run >"$T/plan" 2>"$T/log" || fail "dry run"
grep -q "^blk.0.ffn_gate_exps.weight *BF16 *IQ2_XXS *256,256,8 " "$T/plan" || fail "plan row: $(head -5 "$T/plan")"
grep -q "^total: " "$T/plan" || fail "plan total"
[ ! -e "$T/demo-q2.gguf" ] || fail "dry run wrote a file"
echo ok
