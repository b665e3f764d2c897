#!/bin/sh
# Forward pass vs the tiny oracle (HF transformers, fp32): the f32 GGUF gives
# the reference logits within 1e-3 in prefill, token-by-token decode and
# chunked prefill (37/1/30/32) against all three reference files, and the
# per-layer streams within 1e-4 of each stage's RMS. Official numerics must
# move the logits well beyond that (architecture.md §13), which also shows
# the comparison can fail.
set -eu
BIN=${DS4_BIN:?}; SH=${DS4_SHARED:?}; T=${DS4_TMP:?}
O="$SH/oracle/tiny"
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" convert --hf "$O" --out "$T/tiny.gguf" --recipe f32 2>"$T/log" || { cat "$T/log"; fail "convert"; }
for mode in prefill decode chunked:37,1,30,32; do
    for ref in prefill decode chunked; do
        "$BIN" logits -m "$T/tiny.gguf" --manifest "$O/manifest.json" --mode "$mode" --threads 2 \
            --ref "$O/${ref}_logits.f32" --max-diff 1e-3 --require-argmax >"$T/out" 2>"$T/log" \
            || { cat "$T/out" "$T/log"; fail "$mode vs ${ref}_logits"; }
        echo "$mode vs $ref: $(cat "$T/out")"
    done
done

"$BIN" logits -m "$T/tiny.gguf" --manifest "$O/manifest.json" --out "$T/logits.f32" --dump-hidden "$T/h.f32" \
    --ref-hidden "$O/hidden_states.f32" --max-hidden-diff 1e-4 >"$T/out" 2>"$T/log" \
    || { cat "$T/out" "$T/log"; fail "hidden states"; }
cat "$T/out"
[ "$(wc -c <"$T/logits.f32")" -eq $((100 * 512 * 4)) ] || fail "logits file size"
[ "$(wc -c <"$T/h.f32")" -eq "$(wc -c <"$O/hidden_states.f32")" ] || fail "hidden dump size"
[ ! -e "$T/logits.f32.tmp" ] || fail "temp file left behind"

if "$BIN" logits -m "$T/tiny.gguf" --manifest "$O/manifest.json" --numerics official \
    --ref "$O/prefill_logits.f32" --max-diff 1e-3 >"$T/out" 2>"$T/log"; then
    cat "$T/out"; fail "official numerics should differ from the fp32 reference by more than 1e-3"
fi
echo "official: $(cat "$T/out")"
# Official numerics round per row, so chunking still does not change the logits.
"$BIN" logits -m "$T/tiny.gguf" --manifest "$O/manifest.json" --numerics official --out "$T/official.f32" 2>"$T/log" \
    || { cat "$T/log"; fail "official prefill"; }
for mode in decode chunked:37,1,30,32; do
    "$BIN" logits -m "$T/tiny.gguf" --manifest "$O/manifest.json" --numerics official --mode "$mode" \
        --ref "$T/official.f32" --max-diff 1e-4 --require-argmax >"$T/out" 2>"$T/log" \
        || { cat "$T/out" "$T/log"; fail "official $mode vs official prefill"; }
    echo "official $mode vs official prefill: $(cat "$T/out")"
done

# Bad input: clear errors, no crash.
"$BIN" logits -m "$T/tiny.gguf" --tokens 1,2,512 2>"$T/err" >/dev/null && fail "token 512 accepted"
grep -q "token 512 (input index 2) is out of range" "$T/err" || fail "bad token message: $(cat "$T/err")"
"$BIN" logits -m "$T/tiny.gguf" --tokens 1,2,3 --ctx 2 2>"$T/err" >/dev/null && fail "ctx overflow accepted"
grep -q "context full" "$T/err" || fail "ctx message: $(cat "$T/err")"
"$BIN" logits -m "$T/tiny.gguf" --tokens 1,2,3 --mode chunked:1,1 2>"$T/err" >/dev/null && fail "bad chunks accepted"
grep -q "chunks sum to 2" "$T/err" || fail "chunk message: $(cat "$T/err")"
echo ok
