# Sourced by the tests/integration/*.sh scripts (not a test itself: the
# runner only takes the *.sh files directly in tests/integration/).
#
# Sets BIN, SH and T from the runner's environment and provides:
#   fail MSG...                 print "FAIL: MSG" and exit 1
#   expect_fail RC NAME PATTERN CMD...
#                               CMD exits with status RC (stdin /dev/null,
#                               at most 60 s) and its stderr holds PATTERN
#                               (grep -F) on one line
BIN=${DS4_BIN:?DS4_BIN is not set (run through make integration)}
SH=${DS4_SHARED:?DS4_SHARED is not set (run through make integration)}
T=${DS4_TMP:?DS4_TMP is not set (run through make integration)}

fail() { echo "FAIL: $*"; exit 1; }

expect_fail() {
    _rc=$1; _name=$2; _pat=$3; shift 3
    _got=0
    timeout 60 "$@" </dev/null >"$T/ef.out" 2>"$T/ef.err" || _got=$?
    [ "$_got" -eq "$_rc" ] || fail "$_name: exit status $_got, expected $_rc: $(head -c 500 "$T/ef.err")"
    grep -qF -- "$_pat" "$T/ef.err" || fail "$_name: stderr lacks '$_pat': $(head -c 500 "$T/ef.err")"
    if grep -q "Sanitizer\|runtime error" "$T/ef.err"; then fail "$_name: sanitizer report: $(head -c 800 "$T/ef.err")"; fi
    echo "ok $_name: $(head -n 1 "$T/ef.err")"
}
