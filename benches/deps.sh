#!/usr/bin/env bash
# Installs what the benchmarks compare against, if it is missing: redis-server (the
# baseline of `requests`, `lookup` and `fanout`). Debian/Ubuntu; run as root or with sudo.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if command -v redis-server >/dev/null 2>&1; then
    echo "redis-server: $(redis-server --version)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
as_root apt-get install -y -q redis-server >/dev/null 2>&1 \
    || { as_root apt-get update -q >/dev/null 2>&1 && as_root apt-get install -y -q redis-server >/dev/null; }
# The benches start a Redis of their own on loopback; the packaged service is not needed.
as_root systemctl disable --now redis-server >/dev/null 2>&1 || true
echo "redis-server: $(redis-server --version)"
