#!/usr/bin/env bash
# Builds the AWS-LC variant of the craton_crypto addon into
# build-awslc/Release/craton_crypto.node, leaving the default (OpenSSL) build
# in build/ untouched.  Run through `npm run build:addon:awslc` (npm supplies
# node-gyp and the nodedir setting).
#
#   tools/build-addon-awslc.sh [AWS_LC_SOURCE] [PREFIX]
#
# AWS-LC itself is built first by tools/build-awslc.sh (a no-op when already
# built; same arguments and defaults).  node-gyp always builds into ./build of
# the folder holding binding.gyp, so this stages binding.gyp and a link to
# native/ in build-awslc/ and builds there (build-awslc/build/), then copies
# the results to build-awslc/Release/ (craton_crypto.node, and the unchanged
# craton_sqlite.node so that directory is a complete CRATON_HSM_ADDON_DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${1:-$ROOT/../shared/aws-lc}"
PREFIX="${2:-$ROOT/.deps/aws-lc}"

bash "$ROOT/tools/build-awslc.sh" "$SRC" "$PREFIX"
PREFIX="$(cd "$PREFIX" && pwd)"

OUT="$ROOT/build-awslc"
mkdir -p "$OUT/Release"
cp "$ROOT/binding.gyp" "$OUT/binding.gyp"
ln -sfn ../native "$OUT/native"

start=$(date +%s)
cd "$OUT"
node-gyp configure -- -Dcraton_crypto_lib=awslc -Dcraton_awslc_root="$PREFIX"
node-gyp build -j 2
# craton_sqlite.node and craton_os.node (no libcrypto in them) come along, so that
# CRATON_HSM_ADDON_DIR=build-awslc/Release serves every addon the runtime loads.
for f in craton_crypto.node craton_sqlite.node craton_os.node; do
  cp "build/Release/$f" "Release/$f.tmp"
  mv -f "Release/$f.tmp" "Release/$f"
done
echo "build-addon-awslc: $OUT/Release/craton_crypto.node in $(( $(date +%s) - start )) s"
