#!/bin/sh
# make demo: a sampled continuation of "ROMEO:" by the embedded demo model
# (a small DeepSeek V4 trained on Shakespeare, docs/demo-model.md). The seed
# and the timings are printed on stderr; DEMO_SEED=N repeats a run.
set -e
M=models/ds4-demo-q2.gguf
if [ ! -f "$M" ]; then
    echo "demo: $M is missing (it is committed with the source tree)" >&2
    exit 1
fi
SEED=${DEMO_SEED:+--seed $DEMO_SEED}
printf 'ROMEO:'
exec "${DS4_BIN:-build/ds4}" run -m "$M" --raw -p "ROMEO:" -n 120 $SEED
