#!/bin/sh
# ds4 convert on damaged checkpoints: each case must exit non-zero with a
# message naming the problem and leave neither OUT nor OUT.tmp behind.
# Corrupted copies are built in $DS4_TMP (header patches keep the length).
set -eu
. tests/integration/lib/common.sh
TINY="$SH/oracle/tiny"; DEMO="$SH/oracle/demo"
n=0

# mk NAME SRC: a copy of SRC whose files are symlinks (patch with real copies).
mk() { d="$T/$1"; mkdir -p "$d"; for f in "$2"/*; do ln -s "$f" "$d/"; done; echo "$d"; }
real() { rm "$1"; cp "$2" "$1"; }
# patch FILE PERL-SUBST: in-place byte patch of the whole file.
patch() { perl -0777 -pi -e "$2" "$1"; }

# expect NAME DIR PATTERN...: conversion fails, stderr matches every pattern.
expect() {
    name=$1; dir=$2; shift 2
    out="$T/$name.gguf"
    if "$BIN" convert --hf "$dir" --out "$out" --recipe q8 --threads 2 >"$T/$name.out" 2>"$T/$name.err"; then
        fail "$name: conversion succeeded"
    fi
    for p in "$@"; do
        grep -q -- "$p" "$T/$name.err" || fail "$name: message lacks '$p': $(cat "$T/$name.err")"
    done
    [ ! -e "$out" ] || fail "$name: $out exists"
    [ ! -e "$out.tmp" ] || fail "$name: $out.tmp exists"
    n=$((n + 1))
    echo "ok $name: $(grep error "$T/$name.err")"
}

# truncated shard (the last tensor's data runs past the end of the file)
d=$(mk trunc "$DEMO"); real "$d/model-00002-of-00002.safetensors" "$DEMO/model-00002-of-00002.safetensors"
truncate -s -1000 "$d/model-00002-of-00002.safetensors"
expect truncated "$d" "model-00002-of-00002.safetensors" "tensor '" "past the end" "truncated"

# truncated inside the header
d=$(mk trunchdr "$TINY"); real "$d/model.safetensors" "$TINY/model.safetensors"
truncate -s 5000 "$d/model.safetensors"
expect truncated_header "$d" "model.safetensors" "header length"

# wrong dtype: tid2eid stored as F32
d=$(mk dtype "$TINY"); real "$d/model.safetensors" "$TINY/model.safetensors"
patch "$d/model.safetensors" 's/"layers\.0\.ffn\.gate\.tid2eid":\{"dtype":"I32"/"layers.0.ffn.gate.tid2eid":{"dtype":"F32"/'
expect wrong_dtype "$d" "layers.0.ffn.gate.tid2eid" "wrong dtype"

# unknown dtype
d=$(mk udtype "$TINY"); real "$d/model.safetensors" "$TINY/model.safetensors"
patch "$d/model.safetensors" 's/"layers\.0\.attn\.wq_a\.weight":\{"dtype":"F8_E4M3"/"layers.0.attn.wq_a.weight":{"dtype":"F8_E5M2"/'
expect unknown_dtype "$d" "layers.0.attn.wq_a.weight" "unknown dtype"

# missing scale: the FP8 weight's .scale is renamed away
d=$(mk noscale "$TINY"); real "$d/model.safetensors" "$TINY/model.safetensors"
patch "$d/model.safetensors" 's/"layers\.2\.attn\.wkv\.scale"/"layers.2.attn.wkv.scalx"/'
expect missing_scale "$d" "layers.2.attn.wkv.weight" "missing scale"

# scale with the wrong shape (an FP4 expert scale claims [128, 16])
d=$(mk badscale "$TINY"); real "$d/model.safetensors" "$TINY/model.safetensors"
patch "$d/model.safetensors" 's/("layers\.4\.ffn\.experts\.7\.w2\.scale":\{"dtype":"F8_E8M0","shape":)\[256,8\]/$1\[128,16\]/'
expect scale_shape "$d" "layers.4.ffn.experts.7.w2.scale" "scale shape"

# missing tensor
d=$(mk missing "$TINY"); real "$d/model.safetensors" "$TINY/model.safetensors"
patch "$d/model.safetensors" 's/"layers\.3\.ffn\.experts\.5\.w3\.weight"/"layers.3.ffn.experts.5.w3.weighx"/'
expect missing_tensor "$d" "missing tensor 'layers.3.ffn.experts.5.w3.weight'"

# shape does not match config.json (expert width 256 in the weights, 128 in the config)
d=$(mk shape "$DEMO"); real "$d/config.json" "$DEMO/config.json"
patch "$d/config.json" 's/"moe_intermediate_size": 256/"moe_intermediate_size": 128/'
expect wrong_shape "$d" "layers.0.ffn.experts.0.w1.weight" "does not match config.json"

# unreadable shard: missing file, and a directory in its place
d=$(mk noshard "$DEMO"); rm "$d/model-00001-of-00002.safetensors"
expect missing_shard "$d" "model-00001-of-00002.safetensors" "cannot open shard"
d=$(mk dirshard "$DEMO"); rm "$d/model-00002-of-00002.safetensors"; mkdir "$d/model-00002-of-00002.safetensors"
expect dir_shard "$d" "model-00002-of-00002.safetensors" "not a regular file"

# malformed JSON: config.json, the index, a safetensors header
d=$(mk badcfg "$DEMO"); real "$d/config.json" "$DEMO/config.json"; truncate -s 100 "$d/config.json"
expect bad_config "$d" "config.json" "malformed"
d=$(mk badidx "$DEMO"); real "$d/model.safetensors.index.json" "$DEMO/model.safetensors.index.json"
patch "$d/model.safetensors.index.json" 's/"weight_map": \{/"weight_map": [/'
expect bad_index "$d" "model.safetensors.index.json" "malformed"
d=$(mk badhdr "$TINY"); real "$d/model.safetensors" "$TINY/model.safetensors"
patch "$d/model.safetensors" 's/\{"embed\.weight":\{"dtype":"BF16"/{"embed.weight":{"dtype" "BF16"/'
expect bad_header "$d" "model.safetensors" "malformed"

# missing config key
d=$(mk nokey "$TINY"); real "$d/config.json" "$TINY/config.json"
patch "$d/config.json" 's/"head_dim"/"head_dimension"/'
expect missing_key "$d" "config.json" "head_dim"

echo "$n bad-input cases ok"

# Interrupted conversion: SIGINT removes OUT.tmp.
"$BIN" convert --hf "$DEMO" --out "$T/int.gguf" --recipe q2-asym --threads 1 2>/dev/null &
pid=$!
sleep 0.3
kill -INT $pid 2>/dev/null || true
wait $pid || true
[ ! -e "$T/int.gguf.tmp" ] || fail "interrupted conversion left int.gguf.tmp"
echo "ok interrupt"
