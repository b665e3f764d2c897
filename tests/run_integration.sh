#!/bin/sh
# Runs every tests/integration/*.sh script (each exits 0 on success) and
# prints one summary line. Scripts get DS4_BIN, DS4_SHARED and DS4_BUILD, and
# a private scratch directory in DS4_TMP.
pass=0; fail=0; failed=""
for t in tests/integration/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    DS4_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ds4-$name.XXXXXX")
    export DS4_TMP
    start=$(date +%s)
    if sh "$t" >"$DS4_TMP.log" 2>&1; then
        pass=$((pass + 1)); echo "PASS $name ($(( $(date +%s) - start ))s)"
    else
        fail=$((fail + 1)); failed="$failed $name"; echo "FAIL $name"; tail -30 "$DS4_TMP.log" | sed 's/^/    /'
    fi
    rm -rf "$DS4_TMP" "$DS4_TMP.log"
done
echo "integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
