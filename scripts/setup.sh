#!/usr/bin/env bash
# Installs what the test suite needs, only what is missing: Debian's Apache ZooKeeper 3.8
# (the reference the suites compare against), Java, nc, ip/nft (zkjepsen's network
# namespaces), faketime, and kazoo + pytest. scripts/test.sh runs it first, so the README's
# test command works on a fresh Debian machine; needs root (or sudo) for apt-get when a
# package is missing. Idempotent; starts nothing system-wide.
#
# Environment: PYTHON (default python3), ZABKEEPER_SKIP_SETUP=1 skips it entirely.
set -euo pipefail

cd "$(dirname "$0")/.."
if [ "${ZABKEEPER_SKIP_SETUP:-0}" = "1" ]; then
    echo "setup.sh: skipped (ZABKEEPER_SKIP_SETUP=1)"
    exit 0
fi


run() { echo "+ $*"; "$@"; }

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Never let a package's maintainer scripts start a service (Debian's zookeeper package may
# try to run one on port 2181): policy-rc.d exit 101 = "action forbidden". Restored on exit.
POLICY=/usr/sbin/policy-rc.d
policy_created=0
cleanup() {
    if [ "$policy_created" = 1 ]; then $SUDO rm -f "$POLICY"; fi
}
trap cleanup EXIT

need_pkgs=()
for pkg in zookeeper zookeeper-bin netcat-openbsd default-jre-headless default-jdk-headless iproute2 nftables fonts-dejavu-core faketime; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        need_pkgs+=("$pkg")
    fi
done

if [ "${#need_pkgs[@]}" -gt 0 ]; then
    if [ ! -e "$POLICY" ]; then
        echo "+ install $POLICY (exit 101) so no service starts during installation"
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
        $SUDO chmod 755 "$POLICY"
        policy_created=1
    fi
    run $SUDO apt-get update
    run $SUDO apt-get install -y --no-install-recommends "${need_pkgs[@]}"
else
    echo "apt packages already installed: zookeeper zookeeper-bin netcat-openbsd default-jre-headless iproute2 nftables fonts-dejavu-core faketime"
fi

# If a system ZooKeeper service is running anyway, stop and disable it. The suite uses its
# own random 127.0.0.1 ports and never 2181, so this is hygiene, not a requirement.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet zookeeper 2>/dev/null; then
    run $SUDO systemctl stop zookeeper
    run $SUDO systemctl disable zookeeper || true
elif [ -x /etc/init.d/zookeeper ] && /etc/init.d/zookeeper status >/dev/null 2>&1; then
    run $SUDO /etc/init.d/zookeeper stop || true
fi

PYTHON="${PYTHON:-python3}"
if "$PYTHON" -c 'import kazoo, pytest' 2>/dev/null; then
    echo "python packages already installed: kazoo pytest"
else
    # A Debian-managed python refuses plain pip installs (PEP 668); allow it explicitly then.
    run "$PYTHON" -m pip install kazoo pytest ||
        run "$PYTHON" -m pip install --break-system-packages kazoo pytest
fi

run java -version
run "$PYTHON" -c 'import kazoo, pytest; print("kazoo", kazoo.__version__, "pytest", pytest.__version__)'

