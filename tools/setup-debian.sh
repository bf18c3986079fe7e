#!/usr/bin/env bash
# Installs, as root on Debian 12, what building, the demo and the tests need:
# compilers and headers, the consumers the tests drive, SoftHSMv2 for the
# benchmark, and Debian's libnode for the embedded runtime. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PACKAGES=(
  build-essential cmake ninja-build pkg-config python3 libssl-dev libsqlite3-dev
  opensc softhsm2 python3-pykcs11 gnutls-bin p11-kit clang valgrind
  libengine-pkcs11-openssl libnss3-tools libclang-rt-dev openjdk-17-jre-headless
)

missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-debian: please install as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

bash "$ROOT/tools/fetch-libnode.sh"
