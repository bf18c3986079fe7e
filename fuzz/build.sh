#!/bin/sh
# Builds the libFuzzer target for the shim's reply decoder (needs clang with
# libFuzzer; on Debian: apt-get install -y clang).
#
#   fuzz/build.sh            build build/fuzz/reply_decoder_fuzz (+ the seed generator)
#   fuzz/build.sh --seeds    also rewrite fuzz/corpus/reply/ (valid replies) and
#                            fuzz/regressions/reply/ (inputs of bugs found) from the generator
#   fuzz/build.sh --replay   also run every file of fuzz/regressions/reply/ once
#   fuzz/build.sh --run [S]  also fuzz for S seconds (default 20) on a scratch
#                            copy of the corpus in build/fuzz/corpus-reply/
#
# Environment: CC (default clang), OUT (default <repo>/build/fuzz).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/build/fuzz}
CC=${CC:-clang}
mkdir -p "$OUT"
cd "$ROOT"
SRCS="shim/marshal.c shim/wire.c shim/generated/craton_table.c"
FLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -Ishim -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

$CC $FLAGS -fsanitize=fuzzer,address,undefined fuzz/reply_decoder_fuzz.c $SRCS -o "$OUT/reply_decoder_fuzz"
$CC $FLAGS -fsanitize=address,undefined -DCRATON_FUZZ_SEEDGEN fuzz/reply_decoder_fuzz.c $SRCS -o "$OUT/reply_seedgen"
echo "built $OUT/reply_decoder_fuzz"

case "${1:-}" in
  --seeds)
    mkdir -p fuzz/corpus/reply
    "$OUT/reply_seedgen" fuzz/corpus/reply
    mkdir -p fuzz/regressions/reply
    "$OUT/reply_seedgen" --regressions fuzz/regressions/reply
    ;;
  --replay)
    "$OUT/reply_decoder_fuzz" -runs=1 fuzz/regressions/reply/*
    ;;
  --run)
    seconds=${2:-20}
    rm -rf "$OUT/corpus-reply"
    mkdir -p "$OUT/corpus-reply" "$OUT/artifacts"
    "$OUT/reply_decoder_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
      -artifact_prefix="$OUT/artifacts/" -dict=fuzz/reply.dict "$OUT/corpus-reply" fuzz/corpus/reply
    ;;
esac
