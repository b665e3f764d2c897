#!/bin/sh
# ds4 run on the embedded demo model: seeded sampling is reproducible, greedy
# is deterministic, the prompt can come from -p, --prompt-file or stdin,
# stop strings end the output, the chat template path works, timings and the
# seed are reported, bad options exit 2, and model resolution falls back to
# the embedded demo model (announced on stderr) or takes $DS4_MODEL.
set -eu
. tests/integration/lib/common.sh
M=$(pwd)/models/ds4-demo-q2.gguf
[ -f "$M" ] || fail "missing $M"

"$BIN" run -m "$M" --raw -p "ROMEO:" -n 40 --seed 7 -t 2 >"$T/a" 2>"$T/a.err" || { cat "$T/a.err"; fail "run"; }
"$BIN" run -m "$M" --raw -p "ROMEO:" -n 40 --seed 7 -t 2 >"$T/b" 2>/dev/null
"$BIN" run -m "$M" --raw -p "ROMEO:" -n 40 --seed 8 -t 2 >"$T/c" 2>/dev/null
cmp -s "$T/a" "$T/b" || fail "same seed, different text"
cmp -s "$T/a" "$T/c" && fail "different seeds, same text"
[ "$(wc -c <"$T/a")" -gt 40 ] || fail "too little text: $(cat "$T/a")"
grep -q '^seed: 7$' "$T/a.err" || fail "seed not reported"
grep -q '^load: ' "$T/a.err" || fail "no load time"
grep -q '^prompt: 2 tokens in .* tok/s' "$T/a.err" || fail "no prompt stats: $(cat "$T/a.err")"
grep -q '^generation: 40 tokens in .* tok/s' "$T/a.err" || fail "no generation stats"
echo "sampled: $(head -c 80 "$T/a" | tr '\n' ' ')"
grep 'generation:' "$T/a.err"

# greedy: deterministic whatever the seed
"$BIN" run -m "$M" --raw -p "JULIET:" -n 30 --temp 0 --seed 1 -t 2 >"$T/g1" 2>/dev/null
"$BIN" run -m "$M" --raw -p "JULIET:" -n 30 --temp 0 --seed 2 -t 2 >"$T/g2" 2>/dev/null
cmp -s "$T/g1" "$T/g2" || fail "greedy differs between seeds"
"$BIN" run -m "$M" --raw -p "JULIET:" -n 30 --temp 0 --repeat-penalty 2 -t 2 >"$T/g3" 2>/dev/null
cmp -s "$T/g1" "$T/g3" && fail "--repeat-penalty 2 did not change greedy output"

# the same prompt from a file and from stdin
printf 'ROMEO:' >"$T/prompt.txt"
"$BIN" run -m "$M" --raw --prompt-file "$T/prompt.txt" -n 40 --seed 7 -t 2 >"$T/f" 2>/dev/null
printf 'ROMEO:' | "$BIN" run -m "$M" --raw -n 40 --seed 7 -t 2 >"$T/s" 2>/dev/null
cmp -s "$T/a" "$T/f" || fail "--prompt-file differs from -p"
cmp -s "$T/a" "$T/s" || fail "stdin differs from -p"

# a stop string: the output ends right before it
"$BIN" run -m "$M" --raw -p "ROMEO:" -n 200 --seed 7 --stop ":" -t 2 >"$T/st" 2>"$T/st.err"
grep -q ':' "$T/st" && fail "stop string leaked: $(cat "$T/st")"
grep -q '^finish: stop' "$T/st.err" || fail "finish is not stop: $(cat "$T/st.err")"

# chat template (non-thinking and thinking)
"$BIN" run -m "$M" -p "Hello" --nothink -n 10 --seed 1 -t 2 >/dev/null 2>"$T/t.err" || { cat "$T/t.err"; fail "template run"; }
grep -q '^prompt: ' "$T/t.err" || fail "template run stats"
"$BIN" run -m "$M" -p "Hello" --think-max -n 5 --seed 1 -t 2 >/dev/null 2>"$T/t.err" || fail "think max run"
grep -q 'Think Max needs' "$T/t.err" || fail "no Think Max warning at ctx 32768"

# bad options
for bad in "--temp x" "--top-p 2" "-n -1" "--think maybe" "--bogus"; do
    # shellcheck disable=SC2086
    expect_fail 2 "run $bad" "ds4 run: " "$BIN" run -m "$M" -p x $bad
done
expect_fail 1 "missing model" "missing.gguf" "$BIN" run -m "$T/missing.gguf" -p x

# model resolution: the embedded demo model, then $DS4_MODEL
mkdir -p "$T/empty"
(cd "$T/empty" && env -u DS4_MODEL "$BIN" run --raw -p "ROMEO:" -n 5 --seed 1 -t 2 >/dev/null 2>"$T/r.err") \
    || { cat "$T/r.err"; fail "demo fallback"; }
grep -q 'embedded demo model' "$T/r.err" || fail "demo fallback not announced"
cp "$M" "$T/env.gguf"
(cd "$T/empty" && DS4_MODEL="$T/env.gguf" "$BIN" run --raw -p "ROMEO:" -n 5 --seed 1 -t 2 >/dev/null 2>"$T/r.err") \
    || fail "DS4_MODEL"
grep -q 'embedded demo model' "$T/r.err" && fail "DS4_MODEL ignored"
echo ok
