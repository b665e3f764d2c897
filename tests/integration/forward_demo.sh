#!/bin/sh
# Forward pass vs the trained demo oracle (300-token prompt): f32 GGUF within
# 1e-3 of the reference logits in prefill, decode and chunked (100/1/99/100)
# with the argmax identical at every position; the bf16 GGUF keeps every
# argmax. Prints the loss over the prompt in both numerics modes.
set -eu
BIN=${DS4_BIN:?}; SH=${DS4_SHARED:?}; T=${DS4_TMP:?}
O="$SH/oracle/demo"
fail() { echo "FAIL: $*"; exit 1; }

for recipe in f32 bf16; do
    "$BIN" convert --hf "$O" --out "$T/demo-$recipe.gguf" --recipe $recipe --threads 2 2>"$T/log" \
        || { cat "$T/log"; fail "convert $recipe"; }
done
for mode in prefill decode chunked:100,1,99,100; do
    "$BIN" logits -m "$T/demo-f32.gguf" --manifest "$O/manifest.json" --mode "$mode" --threads 2 \
        --ref "$O/prefill_logits.f32" --max-diff 1e-3 --require-argmax --loss >"$T/out" 2>"$T/log" \
        || { cat "$T/out" "$T/log"; fail "f32 $mode"; }
    echo "f32 $mode: $(cat "$T/out" | tr '\n' ' ')"
    "$BIN" logits -m "$T/demo-bf16.gguf" --manifest "$O/manifest.json" --mode "$mode" --threads 2 \
        --ref "$O/prefill_logits.f32" --max-diff 0.05 --require-argmax >"$T/out" 2>"$T/log" \
        || { cat "$T/out" "$T/log"; fail "bf16 $mode"; }
    echo "bf16 $mode: $(cat "$T/out")"
done
"$BIN" logits -m "$T/demo-f32.gguf" --manifest "$O/manifest.json" --numerics official --threads 2 \
    --ref "$O/prefill_logits.f32" --loss >"$T/out" 2>"$T/log" || { cat "$T/out" "$T/log"; fail "official"; }
echo "f32 official: $(cat "$T/out" | tr '\n' ' ')"
"$BIN" logits -m "$T/demo-f32.gguf" --manifest "$O/manifest.json" --numerics official --threads 2 \
    --out "$T/official.f32" 2>"$T/log" || { cat "$T/log"; fail "official prefill"; }
"$BIN" logits -m "$T/demo-f32.gguf" --manifest "$O/manifest.json" --numerics official --threads 2 \
    --mode chunked:100,1,99,100 --ref "$T/official.f32" --max-diff 1e-4 --require-argmax >"$T/out" 2>"$T/log" \
    || { cat "$T/out" "$T/log"; fail "official chunked vs official prefill"; }
echo "f32 official chunked vs official prefill: $(cat "$T/out")"
# The quantized recipes through the same engine: close to the f32 file (what the
# asymmetric 2-bit recipe costs is reported, with loose floors as a regression guard).
"$BIN" logits -m "$T/demo-f32.gguf" --manifest "$O/manifest.json" --threads 2 --out "$T/f32.logits" 2>"$T/log" \
    || { cat "$T/log"; fail "f32 logits"; }
for spec in q8:290 q2-asym:230; do
    recipe=${spec%%:*}; floor=${spec##*:}
    "$BIN" convert --hf "$O" --out "$T/demo-$recipe.gguf" --recipe "$recipe" --threads 2 2>"$T/log" \
        || { cat "$T/log"; fail "convert $recipe"; }
    "$BIN" logits -m "$T/demo-$recipe.gguf" --manifest "$O/manifest.json" --threads 2 --ref "$T/f32.logits" --loss \
        >"$T/out" 2>"$T/log" || { cat "$T/out" "$T/log"; fail "$recipe logits"; }
    echo "$recipe vs f32: $(cat "$T/out" | tr '\n' ' ')"
    agree=$(sed -n 's/.*argmax agree \([0-9]*\)\/300.*/\1/p' "$T/out")
    [ -n "$agree" ] && [ "$agree" -ge "$floor" ] || fail "$recipe argmax agreement ${agree:-?}/300 below $floor"
done
echo ok
