#!/bin/sh
# Runs every tests/integration/*.sh script (each exits 0 on success) and
# prints one summary line. Scripts get DS4_BIN, DS4_SHARED and DS4_BUILD, and
# a private scratch directory in DS4_TMP. Each script has a time limit
# (DS4_TEST_TIMEOUT, 600 s; the slowest takes under a minute), so a hang
# fails that test by name instead of stalling the suite.
limit=${DS4_TEST_TIMEOUT:-600}
pass=0; fail=0; failed=""
for t in tests/integration/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    DS4_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ds4-$name.XXXXXX")
    export DS4_TMP
    start=$(date +%s)
    rc=0
    timeout -k 10 "$limit" sh "$t" >"$DS4_TMP.log" 2>&1 || rc=$?
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); echo "PASS $name ($(( $(date +%s) - start ))s)"
    else
        why=""
        [ $rc -eq 124 ] || [ $rc -eq 137 ] && why=" (no result in $limit s; stopped)"
        fail=$((fail + 1)); failed="$failed $name"; echo "FAIL $name$why"; tail -30 "$DS4_TMP.log" | sed 's/^/    /'
    fi
    rm -rf "$DS4_TMP" "$DS4_TMP.log"
done
echo "integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
