#!/bin/sh
# ds4 convert end to end: tiny (FP8/FP4 single file) and demo (sharded BF16,
# real tokenizer) with the reference and asymmetric recipes; dry-run table.
set -eu
. tests/integration/lib/common.sh

"$BIN" convert --hf "$SH/oracle/tiny" --out "$T/tiny-f32.gguf" --recipe f32 2>"$T/log" || { cat "$T/log"; fail "tiny f32"; }
grep -q "wrote $T/tiny-f32.gguf: 178 tensors" "$T/log" || fail "tiny f32 summary: $(cat "$T/log")"
[ ! -e "$T/tiny-f32.gguf.tmp" ] || fail "temp file left behind"

"$BIN" convert --hf "$SH/oracle/demo" --out "$T/demo-bf16.gguf" --recipe bf16 --threads 2 2>"$T/log" || { cat "$T/log"; fail "demo bf16"; }
grep -q "wrote $T/demo-bf16.gguf" "$T/log" || fail "demo bf16 summary"
# The full conversion carries the tokenizer: 2048 tokens, 1785 merges, bos 0 / eos 1.
"$BIN" inspect "$T/demo-bf16.gguf" >"$T/insp" 2>&1 || fail "inspect"
grep -q 'tokenizer.ggml.tokens *ARRAY\[STRING;2048\]' "$T/insp" || fail "tokens: $(grep tokenizer "$T/insp")"
grep -q 'tokenizer.ggml.merges *ARRAY\[STRING;1785\]' "$T/insp" || fail "merges"
grep -q 'tokenizer.ggml.pre *STRING *"joyai-llm"' "$T/insp" || fail "pre"
grep -q 'tokenizer.ggml.bos_token_id *UINT32 *0' "$T/insp" || fail "bos"
grep -q 'tokenizer.ggml.eos_token_id *UINT32 *1' "$T/insp" || fail "eos"

# q2-asym with the per-expert error report.
"$BIN" convert --hf "$SH/oracle/demo" --out "$T/demo-q2.gguf" --recipe q2-asym --report --threads 2 2>"$T/log" || { cat "$T/log"; fail "demo q2"; }
grep -q "^report: blk.3.ffn_gate_exps.weight expert 7 IQ2_XXS rel_rmse 0\.[0-9]" "$T/log" || fail "per-expert report"
grep -q "^report: family exp_down *Q2_K *rel_rmse 0\.[0-9]" "$T/log" || fail "family report"

# The dry-run total equals the size the real run writes.
"$BIN" convert --hf "$SH/oracle/demo" --out "$T/dry.gguf" --recipe q2-asym --dry-run >"$T/plan" 2>"$T/log" || fail "dry run"
grep -q "^blk.0.ffn_gate_exps.weight *BF16 *IQ2_XXS *256,256,8 " "$T/plan" || fail "plan row: $(head -5 "$T/plan")"
grep -q "^total: " "$T/plan" || fail "plan total"
[ ! -e "$T/dry.gguf" ] && [ ! -e "$T/dry.gguf.tmp" ] || fail "dry run wrote a file"
# ... and its total is the data size of the real q2-asym file.
total=$(sed -n 's/^total: [0-9]* tensors, \([0-9]*\) bytes.*/\1/p' "$T/plan")
"$BIN" inspect "$T/demo-q2.gguf" >"$T/insp2" 2>&1
grep -q "total *178 *$total " "$T/insp2" || fail "dry-run total $total vs inspect: $(grep total "$T/insp2")"
echo ok
