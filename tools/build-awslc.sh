#!/usr/bin/env bash
# Builds AWS-LC's static libcrypto.a (no libssl, no tools, no tests, no Go)
# into a project-local prefix, for the AWS-LC variant of the craton_crypto
# addon (npm run build:addon:awslc).
#
#   tools/build-awslc.sh [AWS_LC_SOURCE] [PREFIX]
#
#   AWS_LC_SOURCE  AWS-LC source tree (default ../shared/aws-lc beside the
#                  repository; elsewhere: git clone --branch v5.5.0
#                  https://github.com/aws/aws-lc).  Only read, never written.
#   PREFIX         install prefix (default .deps/aws-lc in the repository).
#
# Idempotent: does nothing when PREFIX already holds lib/libcrypto.a and the
# headers of the same source (a stamp file records which source built it).
# The cmake build folder is PREFIX.build (deleted after a successful install).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

SRC="${1:-$ROOT/../shared/aws-lc}"
PREFIX="${2:-$ROOT/.deps/aws-lc}"
JOBS="${CRATON_BUILD_JOBS:-2}"

if [ ! -f "$SRC/CMakeLists.txt" ] || [ ! -f "$SRC/include/openssl/base.h" ]; then
  echo "build-awslc: no AWS-LC source at $SRC" >&2
  echo "  (git clone --branch v5.5.0 https://github.com/aws/aws-lc <dir>)" >&2
  exit 1
fi
SRC="$(cd "$SRC" && pwd)"
mkdir -p "$PREFIX"
PREFIX="$(cd "$PREFIX" && pwd)"
case "$PREFIX/" in
  "$SRC"/*) echo "build-awslc: PREFIX must be outside the source tree" >&2; exit 1 ;;
esac

STAMP="$PREFIX/.craton-awslc-stamp"
want="$SRC $(grep -h 'AWSLC_VERSION_NUMBER_STRING' "$SRC/include/openssl/base.h" | head -n1)"
if [ -f "$PREFIX/lib/libcrypto.a" ] && [ -f "$PREFIX/include/openssl/base.h" ] \
   && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "build-awslc: already built in $PREFIX"
  exit 0
fi

BUILD="$PREFIX.build"
rm -rf "$BUILD"
start=$(date +%s)
cmake -S "$SRC" -B "$BUILD" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DBUILD_SHARED_LIBS=OFF \
  -DDISABLE_GO=ON -DBUILD_TESTING=OFF -DBUILD_TOOL=OFF -DBUILD_LIBSSL=OFF \
  -DCMAKE_INSTALL_PREFIX="$PREFIX" \
  -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
ninja -C "$BUILD" -j "$JOBS" crypto
ninja -C "$BUILD" install >/dev/null
rm -rf "$BUILD"
printf '%s\n' "$want" >"$STAMP"
echo "build-awslc: built $PREFIX/lib/libcrypto.a in $(( $(date +%s) - start )) s"
