#!/usr/bin/env bash
# The quick start: install what is missing (as root), build everything, then
# drive the default token in your data directory with OpenSC's pkcs11-tool.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

if [ "$(id -u)" -eq 0 ]; then bash tools/setup-debian.sh; fi
npm ci --no-audit --no-fund
npm run build

MODULE="$ROOT/build/libcraton_hsm.so"
SO_PIN="${CRATON_DEMO_SO_PIN:-12345678}"
USER_PIN="${CRATON_DEMO_USER_PIN:-1234}"
p11() { echo "+ pkcs11-tool --module build/libcraton_hsm.so $*" >&2; pkcs11-tool --module "$MODULE" "$@"; }

echo
echo "== Craton HSM demo: the default token lives in ${XDG_DATA_HOME:-$HOME/.local/share}/craton-hsm"
p11 --show-info
if p11 --list-token-slots 2>/dev/null | grep -q 'token state:\s*uninitialized'; then
  p11 --init-token --label demo --so-pin "$SO_PIN"
  p11 --init-pin --login --so-pin "$SO_PIN" --pin "$USER_PIN"
else
  echo "(the token is already initialised; using user PIN $USER_PIN — set CRATON_DEMO_USER_PIN if you changed it)"
fi
p11 --list-token-slots
p11 --generate-random 16 | od -An -tx1
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "Craton HSM demo file" > "$WORK/file.txt"
p11 --hash -m SHA256 -i "$WORK/file.txt" | od -An -tx1
echo "(sha256sum says: $(sha256sum "$WORK/file.txt" | cut -d' ' -f1))"
p11 --login --pin "$USER_PIN" --delete-object --type data --label demo-object >/dev/null 2>&1 || true
p11 --login --pin "$USER_PIN" --write-object "$WORK/file.txt" --type data --label demo-object
p11 --login --pin "$USER_PIN" --list-objects
p11 --read-object --type data --label demo-object
echo "== done"
