#!/usr/bin/env bash
# Installs what the benchmarks compare against, if it is missing: redis-server (the
# baseline of `requests`, `lookup` and `fanout`, in plaintext and over TLS: Debian's
# build links OpenSSL, and the package pulls in libssl; the benches make its throw-away
# certificate themselves, so nothing else is needed). Debian/Ubuntu; run as root or
# with sudo.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Whether the redis-server on PATH can serve TLS (the benches' TLS rows need it).
tls_note() {
    if ldd "$(command -v redis-server)" 2>/dev/null | grep -q libssl; then
        echo "redis-server: TLS built in"
    else
        echo "redis-server: no TLS in this build; the benches will skip their Redis TLS rows"
    fi
}

if command -v redis-server >/dev/null 2>&1; then
    echo "redis-server: $(redis-server --version)"
    tls_note
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
as_root apt-get install -y -q redis-server >/dev/null 2>&1 \
    || { as_root apt-get update -q >/dev/null 2>&1 && as_root apt-get install -y -q redis-server >/dev/null; }
# The benches start a Redis of their own on loopback; the packaged service is not needed.
as_root systemctl disable --now redis-server >/dev/null 2>&1 || true
echo "redis-server: $(redis-server --version)"
tls_note
