#!/bin/sh
# ds4 synth writes an engine-valid model (tiny shape here; the Flash shape is
# the same code with bigger numbers) and ds4 bench -m measures it: decode
# bytes per token counted by the engine, prefill, stage split, CSV.
set -eu
m="$DS4_TMP/tiny.gguf"
"$DS4_BIN" synth --shape tiny --layers 3 --recipe q2-asym --out "$m"
[ -f "$m" ] && [ ! -e "$m.tmp" ]
"$DS4_BIN" inspect "$m" | grep -q 'IQ2_XXS'
"$DS4_BIN" logits -m "$m" --tokens 1,2,3,4 --out "$DS4_TMP/l.f32" >/dev/null 2>&1
# Decode (one row: batched expert dispatch) and prefill (grouped rows) give
# bit-identical logits.
toks=5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21
"$DS4_BIN" logits -m "$m" --tokens $toks --mode decode --out "$DS4_TMP/dec.f32" >/dev/null 2>&1
"$DS4_BIN" logits -m "$m" --tokens $toks --mode prefill --out "$DS4_TMP/pre.f32" >/dev/null 2>&1
cmp "$DS4_TMP/dec.f32" "$DS4_TMP/pre.f32"
# The same with the Q8_0 matrices kept as stored (on AVX-512 they are
# regrouped at load by default: the tiny shape has rows of 512 values).
DS4_REPACK=0 "$DS4_BIN" logits -m "$m" --tokens $toks --mode decode --out "$DS4_TMP/dec0.f32" >/dev/null 2>&1
DS4_REPACK=0 "$DS4_BIN" logits -m "$m" --tokens $toks --mode prefill --out "$DS4_TMP/pre0.f32" >/dev/null 2>&1
cmp "$DS4_TMP/dec0.f32" "$DS4_TMP/pre0.f32"
# q4 recipe: routed experts become Q4_K.
"$DS4_BIN" synth --shape tiny --layers 1 --recipe q4 --out "$DS4_TMP/q4.gguf"
"$DS4_BIN" inspect "$DS4_TMP/q4.gguf" | grep -q 'Q4_K'
out="$DS4_TMP/bench.csv"
"$DS4_BIN" bench -m "$m" --gen 4 --prefill 8,24 --triad-mb 4 --threads 2 --csv >"$out"
grep -q '^triad,gbs,' "$out"
awk -F, '$1 == "read_only" && $2 == "gbs" && $3 > 0 { ok = 1 } END { exit !ok }' "$out"
awk -F, '$1 == "decode" && $2 == "read_only_frac" && $3 > 0 && $4 > 0 { ok = 1 } END { exit !ok }' "$out"
grep -q '^decode,tok_s,' "$out"
# weights read into RAM on an AVX-512 CPU: some were regrouped (5th field)
if grep -q '^model,simd,avx512,' "$out" && grep -q '^model,weights,ram,' "$out"; then
    awk -F, '$1 == "model" && $2 == "weights" && $5 > 0 { ok = 1 } END { exit !ok }' "$out"
fi
# The engine counted a positive number of weight bytes per token, and the
# routed-expert and head stages both read weights.
awk -F, '$1 == "decode" && $2 == "bytes_per_token" { ok = $3 > 100000 } END { exit !ok }' "$out"
awk -F, '$1 == "stage_decode" && ($2 == "routed experts" || $2 == "head") && $5 > 0 { n++ } END { exit n != 2 }' "$out"
# Every stage that reads weights spent part of its time inside the products
# (column 7), never more than the stage's own time (column 3).
awk -F, '$1 == "stage_decode" && $5 > 0 { n++; if (!($7 > 0 && $7 <= $3)) bad++ } END { exit n < 5 || bad }' "$out"
grep -q '^prefill,8,' "$out"
grep -q '^prefill,24,' "$out"
grep -q '^projection,flash43_bytes_per_token,' "$out"
# the time projection: positive tok/s and a fraction of the triad
awk -F, '$1 == "projection" && $2 == "flash43_measured_layers" && $3 > 0 && $5 > 0 { ok = 1 } END { exit !ok }' "$out"
# Table form and errors.
"$DS4_BIN" bench -m "$m" --gen 2 --prefill 0 --triad-mb 4 | grep -q 'of the same-run triad'
if "$DS4_BIN" synth --layers 0 --out "$DS4_TMP/x.gguf" 2>/dev/null; then echo "accepted --layers 0"; exit 1; fi
if "$DS4_BIN" synth --layers 2 --recipe q9 --out "$DS4_TMP/x.gguf" 2>"$DS4_TMP/err"; then echo "accepted q9"; exit 1; fi
grep -q 'q9' "$DS4_TMP/err"
[ ! -e "$DS4_TMP/x.gguf" ] && [ ! -e "$DS4_TMP/x.gguf.tmp" ]
if "$DS4_BIN" bench -m "$DS4_TMP/missing.gguf" --triad-mb 4 2>"$DS4_TMP/err"; then echo "accepted a missing file"; exit 1; fi
echo ok
