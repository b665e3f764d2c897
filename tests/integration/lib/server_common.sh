# Shared by the server*.sh integration scripts (sourced, not run on its own).
# Needs BIN, SH, T set by the caller.

# The demo model: the committed one when present, else converted into $T.
demo_model() {
    if [ -f models/ds4-demo-q2.gguf ]; then
        MODEL=$(pwd)/models/ds4-demo-q2.gguf
    else
        MODEL=$T/demo-q2.gguf
        [ -f "$MODEL" ] || "$BIN" convert --hf "$SH/oracle/demo" --out "$MODEL" --recipe q2-asym --threads 2 \
            >"$T/convert.log" 2>&1 || { cat "$T/convert.log"; echo "FAIL: converting the demo model"; exit 1; }
    fi
}

# start_server LOG [flags...]: binds 127.0.0.1 on a free port (the kernel
# picks it: --port 0) and waits for /health. Sets SERVER_PID and URL.
start_server() {
    log=$1; shift
    rm -f "$T/port"
    "${SERVER_BIN:-$BIN}" serve -m "$MODEL" --host 127.0.0.1 --port 0 --port-file "$T/port" "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    i=0
    while [ ! -s "$T/port" ]; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 $SERVER_PID 2>/dev/null; then
            cat "$log"; echo "FAIL: server did not start"; exit 1
        fi
        sleep 0.1
    done
    URL=http://127.0.0.1:$(cat "$T/port")
    curl -sf "$URL/health" >/dev/null || { cat "$log"; echo "FAIL: /health"; exit 1; }
}

# stop_server: SIGTERM, wait for a clean exit (status 0).
stop_server() {
    [ -n "${SERVER_PID:-}" ] || return 0
    kill -TERM $SERVER_PID 2>/dev/null || true
    rc=0
    wait $SERVER_PID || rc=$?
    SERVER_PID=
    return $rc
}

cleanup_server() {
    if [ -n "${SERVER_PID:-}" ]; then kill -KILL $SERVER_PID 2>/dev/null || true; fi
}

# wait_log LOG PATTERN: waits (up to 20 s) until the server log matches.
wait_log() {
    i=0
    until grep -q "$2" "$1"; do
        i=$((i + 1))
        [ $i -le 200 ] || { tail -20 "$1"; echo "FAIL: log never showed '$2'"; exit 1; }
        sleep 0.1
    done
}
