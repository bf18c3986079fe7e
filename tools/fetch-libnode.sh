#!/usr/bin/env bash
# Fetch Debian's libnode (Node 18) into a project-local prefix for the embedded transport.
#
# Why not `apt-get install libnode-dev`: machines with the nodesource `nodejs` package
# (Node 20) conflict with Debian's libnode108, so apt refuses. Instead we install the
# runtime pieces libnode loads at start-up (acorn, cjs-module-lexer, undici are read
# from /usr/share/nodejs by Debian's libnode; libuv/c-ares are shared-library deps),
# then `apt-get download` libnode108 + libnode-dev and `dpkg -x` them into
# .deps/libnode/ (gitignored).
#
# Result layout (prefix = .deps/libnode):
#   usr/lib/x86_64-linux-gnu/libnode.so.108   (library; libnode.so dev symlink too)
#   usr/include/node/                         (node.h, node_api.h, v8*.h, uv.h from libnode-dev)
# libuv headers come from libuv1-dev (/usr/include/uv.h).
#
# Override: set CRATON_LIBNODE_DIR to an existing prefix (e.g. /usr on a system with
# Debian's own nodejs + libnode-dev installed) and this script only verifies it.
# Idempotent: does nothing if already extracted. Run as root on Debian 12.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${CRATON_LIBNODE_DIR:-$ROOT/.deps/libnode}"
MULTIARCH="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"

find_lib() {
  for d in "$PREFIX/usr/lib/$MULTIARCH" "$PREFIX/lib/$MULTIARCH" "$PREFIX/usr/lib" "$PREFIX/lib"; do
    if [ -e "$d/libnode.so.108" ]; then echo "$d"; return 0; fi
  done
  return 1
}
find_inc() {
  for d in "$PREFIX/usr/include/node" "$PREFIX/include/node"; do
    if [ -e "$d/node.h" ]; then echo "$d"; return 0; fi
  done
  return 1
}

need_runtime_pkgs() {
  # Packages libnode needs at run time (JS builtins it loads from /usr/share/nodejs,
  # shared-library deps) and libuv headers for the build.
  local pkgs=(node-acorn node-cjs-module-lexer node-undici libuv1-dev libc-ares2)
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "fetch-libnode: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then echo "fetch-libnode: need root to apt-get install ${missing[*]}" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" || {
      apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
  fi
}

if [ -n "${CRATON_LIBNODE_DIR:-}" ]; then
  if LIB=$(find_lib) && INC=$(find_inc); then
    echo "fetch-libnode: using CRATON_LIBNODE_DIR=$PREFIX"
    echo "  lib:     $LIB/libnode.so.108"
    echo "  include: $INC"
    exit 0
  fi
  echo "fetch-libnode: CRATON_LIBNODE_DIR=$PREFIX has no libnode.so.108 / include/node/node.h" >&2
  exit 1
fi

need_runtime_pkgs

if LIB=$(find_lib) && INC=$(find_inc); then
  echo "fetch-libnode: already extracted in $PREFIX"
else
  mkdir -p "$PREFIX"
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  chmod 755 "$TMP"   # let apt's _apt user write there (avoids the unsandboxed warning)
  ( cd "$TMP" && { apt-get download libnode108 libnode-dev || { apt-get update && apt-get download libnode108 libnode-dev; }; } )
  # apt-get download as root may warn about the _apt sandbox; that is harmless.
  for deb in "$TMP"/libnode108_*.deb "$TMP"/libnode-dev_*.deb; do
    echo "fetch-libnode: extracting $(basename "$deb")"
    dpkg -x "$deb" "$PREFIX"
  done
  LIB=$(find_lib) || { echo "fetch-libnode: libnode.so.108 missing after extraction" >&2; exit 1; }
  INC=$(find_inc) || { echo "fetch-libnode: node.h missing after extraction" >&2; exit 1; }
fi
# libnode-dev's libnode.so symlink is relative (libnode.so -> libnode.so.108), fine inside the prefix.
echo "fetch-libnode: libnode prefix: $PREFIX"
echo "  lib:     $LIB/libnode.so.108"
echo "  include: $INC (node.h, node_api.h, v8.h)"
echo "  libuv:   /usr/include/uv.h (libuv1-dev)"
