# Sourced by tools/unit_asan.sh and tools/cross_check.sh (POSIX sh).
#
# retry_timeout LABEL LIMIT CMD...: runs CMD under a LIMIT-second time limit
# and, if it reaches the limit, once more. Returns CMD's status, or 124 when
# both runs reached the limit (each such run is reported on stdout); what a
# double time-out means is the caller's decision.
retry_timeout() {
    label=$1
    limit=$2
    shift 2
    for attempt in 1 2; do
        start=$(date +%s)
        rc=0
        timeout -k 10 "$limit" "$@" || rc=$?
        if [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ]; then return "$rc"; fi
        echo "$label: no result in $limit s (attempt $attempt of 2, stopped after $(($(date +%s) - start)) s)"
    done
    return 124
}
