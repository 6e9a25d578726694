#!/usr/bin/env bash
# The backend benchmark in one command: builds the release backend and the benchmark program,
# generates a seeded corpus, and measures search (MCP vs a bare FTS5 floor), reindex and writes.
#
#   tests/bench/backend.sh                 # full: 10 users × 10,000 notes, plus 1k / 100k vaults
#   BENCH_SMALL=1 tests/bench/backend.sh   # CI: 2 users × 500 notes, a few seconds
#   BENCH_OUT=docs/bench/backend.md tests/bench/backend.sh   # also write the report there
#
# Other knobs (see backend/examples/bench.rs): BENCH_USERS, BENCH_NOTES, BENCH_QUERIES,
# BENCH_WRITES, BENCH_SCALE, BENCH_SEED, BENCH_DIR; BENCH_BIN_DIR (use vaultgate-backend and
# examples/bench already built there instead of building).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -n "${BENCH_BIN_DIR:-}" ]; then
  bin_dir=$(cd "$BENCH_BIN_DIR" && pwd)
  build="the binaries in $bin_dir"
else
  cargo build --release -p vaultgate-backend --bin vaultgate-backend --example bench
  bin_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
  build='release build (`lto = "fat"`)'
fi
export BENCH_BIN="${bin_dir}/vaultgate-backend"

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
"${bin_dir}/examples/bench" | tee "$report"

if [ -n "${BENCH_OUT:-}" ]; then
  {
    echo "# Backend benchmark"
    echo
    echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM), $build, by \`tests/bench/backend.sh\`$( [ "${BENCH_SMALL:-}" = 1 ] && echo ' with `BENCH_SMALL=1`')."
    echo
    cat "$report"
  } > "$BENCH_OUT"
  echo "wrote $BENCH_OUT"
fi
