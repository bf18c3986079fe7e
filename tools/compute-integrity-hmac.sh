#!/usr/bin/env bash
# Writes the integrity sidecar of a Craton HSM library: the HMAC-SHA-256 of
# the canonical manifest (docs/FIPS.md, src/self-tests/integrity.ts) into
# <name>.hmac beside <name>.so. Honours CRATON_HSM_RUNTIME_JS,
# CRATON_HSM_EMBEDDER and CRATON_HSM_ADDON_DIR as the module does.
#   tools/compute-integrity-hmac.sh build/libcraton_hsm.so
set -euo pipefail
KEY_HEX=637261746f6e2d68736d2d696e74656772697479

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 path/to/libcraton_hsm.so" >&2
  exit 2
fi
lib="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
libdir="$(dirname "$lib")"

runtime="${CRATON_HSM_RUNTIME_JS:-}"
if [ -z "$runtime" ]; then
  runtime="$libdir/craton-hsm/runtime.js"
  [ -f "$runtime" ] || runtime="$libdir/../dist/runtime.js"
fi
[ -f "$runtime" ] || { echo "$0: runtime bundle not found ($runtime)" >&2; exit 1; }
runtime="$(cd "$(dirname "$runtime")" && pwd)/$(basename "$runtime")"
addons="${CRATON_HSM_ADDON_DIR:-$(dirname "$runtime")/../build/Release}"
embedder="${CRATON_HSM_EMBEDDER:-$libdir/libcraton_embedder.so}"

# role path required
entries=(
  "shim|$lib|1"
  "embedder|$embedder|0"
  "runtime|$runtime|1"
  "addon-crypto|$addons/craton_crypto.node|1"
  "addon-sqlite|$addons/craton_sqlite.node|0"
  "addon-os|$addons/craton_os.node|0"
)

manifest() {
  local entry role path required
  for entry in "${entries[@]}"; do
    IFS='|' read -r role path required <<<"$entry"
    if [ ! -f "$path" ]; then
      [ "$required" = 1 ] && { echo "$0: $role ($path) is missing" >&2; return 1; }
      continue
    fi
    printf '%s:%d\n' "$role" "$(stat -c %s "$path")"
    cat "$path"
  done
}

tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
manifest >"$tmp"
mac="$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY_HEX" -r "$tmp" | cut -d' ' -f1)"
sidecar="$libdir/$(basename "$lib" .so).hmac"
printf '%s\n' "$mac" >"$sidecar"
echo "$sidecar: $mac"
