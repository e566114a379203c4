#!/usr/bin/env bash
# Installs what the benchmarks compare against, if it is missing: redis-server (the
# baseline of `requests`, `lookup` and `fanout`, in plaintext and over TLS: Debian's
# build links OpenSSL, and the package pulls in libssl; the benches make its throw-away
# certificate themselves, so nothing else is needed), and for `transfer` the tools a
# user would otherwise copy a file with: openssh-server and openssh-client (`scp`
# through an sshd the bench starts itself on a loopback port) and rsync (to an
# `rsync --daemon` of its own). No system service is left running. Debian/Ubuntu; run
# as root or with sudo.
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

# Install Debian packages, refreshing the package lists once if the first try fails.
install() {
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q "$@" >/dev/null 2>&1 \
        || { as_root apt-get update -q >/dev/null 2>&1 && as_root apt-get install -y -q "$@" >/dev/null; }
}

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
{ command -v scp >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; } || missing+=(openssh-client)
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
if [ "${#missing[@]}" -gt 0 ]; then
    install "${missing[@]}"
fi
# The benches start a Redis and an sshd of their own on loopback; the packaged services
# are not needed (and a system sshd must not stay listening).
for service in "${missing[@]}"; do
    case "$service" in
        redis-server) as_root systemctl disable --now redis-server >/dev/null 2>&1 || true ;;
        openssh-server)
            # Without systemd (a container), the package's init script may have started it.
            as_root systemctl disable --now ssh >/dev/null 2>&1 \
                || as_root service ssh stop >/dev/null 2>&1 || true
            as_root systemctl disable --now ssh.socket >/dev/null 2>&1 || true
            ;;
    esac
done
echo "redis-server: $(redis-server --version)"
tls_note
echo "sshd: $(/usr/sbin/sshd -V 2>&1 | head -n 1)"
echo "rsync: $(rsync --version | head -n 1)"
