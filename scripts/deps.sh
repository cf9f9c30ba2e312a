#!/usr/bin/env bash
# Installs the Debian packages cairn needs to build, test and benchmark, but
# only those that are missing, so a warm machine pays nothing.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libuv1-dev libxxhash-dev libcmocka-dev
      lcov clang libclang-rt-14-dev redis-server redis-tools iproute2)

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts redis-server as a service on install; cairn's tests and
# benchmarks start their own instances, so keep the packaged one out of the way.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q redis-server 2>/dev/null; then
    $SUDO systemctl stop redis-server || true
fi
