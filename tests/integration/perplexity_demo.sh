#!/bin/sh
# ds4 perplexity, the demo model's reference protocol: the last floor(len/20)
# bytes of tinyshakespeare.txt, no BOS, windows of 256 with stride 256. The
# f32 GGUF must land within 0.01 of the reference 4.4817 nats/token over the
# whole held-out text (~40 s on 2 busy cores); the bf16 GGUF is checked on
# the first 16 windows against f32 on the same windows (within 0.01), to
# keep make test short. Full numbers: docs/demo-model.md.
set -eu
. tests/integration/lib/common.sh
TXT="$SH/data/tinyshakespeare.txt"
for r in f32 bf16; do
    "$BIN" convert --hf "$SH/oracle/demo" --out "$T/demo-$r.gguf" --recipe $r --threads 2 >/dev/null 2>"$T/log" \
        || { cat "$T/log"; fail "convert $r"; }
done
nll() { sed 's/.*"nll":\([0-9.]*\).*/\1/' "$1"; }
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < t) }'; }

"$BIN" perplexity -m "$T/demo-f32.gguf" -f "$TXT" --tail-fraction 0.05 --window 256 --stride 256 --threads 2 \
    --json >"$T/full" 2>"$T/log" || { cat "$T/log"; fail "perplexity f32"; }
grep -q '"windows":77,' "$T/full" || fail "window count: $(cat "$T/full")"
echo "f32 full: $(cat "$T/full")"
within "$(nll "$T/full")" 4.4817 0.01 || fail "f32 NLL $(nll "$T/full") not within 0.01 of 4.4817"

for r in f32 bf16; do
    "$BIN" perplexity -m "$T/demo-$r.gguf" -f "$TXT" --tail-fraction 0.05 --max-windows 16 --threads 2 \
        --json >"$T/p-$r" 2>"$T/log" || { cat "$T/log"; fail "perplexity $r prefix"; }
done
echo "16 windows: f32 $(nll "$T/p-f32") bf16 $(nll "$T/p-bf16")"
within "$(nll "$T/p-f32")" "$(nll "$T/p-bf16")" 0.01 || fail "bf16 prefix NLL differs from f32 by >= 0.01"

# the text report and errors
"$BIN" perplexity -m "$T/demo-f32.gguf" -f "$TXT" --tail-fraction 0.05 --max-windows 1 --threads 2 >"$T/txt" 2>/dev/null
grep -q '^mean NLL: [0-9.]* nats/token$' "$T/txt" && grep -q '^perplexity: ' "$T/txt" || fail "text report: $(cat "$T/txt")"
printf 'tiny' >"$T/short.txt"
set +e
"$BIN" perplexity -m "$T/demo-f32.gguf" -f "$T/short.txt" >/dev/null 2>"$T/e"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q 'less than one window' "$T/e" || fail "short text ($rc): $(cat "$T/e")"
echo ok
