#!/bin/sh
# Installs what ds4 needs to build and test. Debian/Ubuntu: apt-get (only the
# missing packages). macOS: prints the Homebrew line.
# --build: only what building build/ds4 needs (used by `make demo`).
set -e
BUILD_ONLY=0
[ "${1:-}" = "--build" ] && BUILD_ONLY=1
if [ "$(uname)" = "Darwin" ]; then
    echo "macOS: brew install pcre2 libmicrohttpd jansson libedit openssl criterion node pkg-config"
    exit 0
fi
PKGS="build-essential pkg-config libpcre2-dev libmicrohttpd-dev libjansson-dev libedit-dev libssl-dev"
[ $BUILD_ONLY -eq 1 ] || PKGS="$PKGS clang libcriterion-dev nodejs npm"
# make cross-check: the NEON kernels under user-mode QEMU on x86-64 hosts.
[ $BUILD_ONLY -eq 1 ] || [ "$(uname -m)" != "x86_64" ] || PKGS="$PKGS gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# A Node from outside Debian (nodesource, nvm) also counts.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -v -x -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo "$missing" | xargs)
if [ -n "$missing" ]; then
    echo "deps: installing $missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
# Node packages for the client and tokenizer reference tests (pinned by the lockfile).
if [ $BUILD_ONLY -eq 0 ] && [ -f tests/node/package-lock.json ]; then
    if [ ! -d tests/node/node_modules ] || [ tests/node/package-lock.json -nt tests/node/node_modules ]; then
        echo "deps: npm ci in tests/node"
        (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi
echo "deps: ok"
