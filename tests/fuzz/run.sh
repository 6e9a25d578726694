#!/usr/bin/env bash
# Bounded cargo-fuzz (libFuzzer) runs over vaultgate's hostile-input parsers. For each target:
# first the committed regression corpus (tests/fuzz/corpus/<target>, every input must pass), then
# FUZZ_SECONDS of new inputs (default 45). A crash fails the run and its input is copied into
# tests/fuzz/corpus/<target>/ so it can be committed as a regression case once fixed.
# cargo-fuzz asks for nightly features (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. Needs `cargo fuzz` on PATH (tests/interop/run.sh installs it, pinned).
#   tests/fuzz/run.sh [target ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
FUZZ_DIR=tests/fuzz
TARGET_DIR=target/fuzz
FUZZ_SECONDS=${FUZZ_SECONDS:-45}
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(note_path token rpc_peek note_text note_cost)
export RUSTC_BOOTSTRAP=1
# -O: optimised (libFuzzer needs the speed); overflow checks are off there, as in release builds.
fuzz=(cargo fuzz run --fuzz-dir "$FUZZ_DIR" --target-dir "$TARGET_DIR" -O)

cargo fuzz build --fuzz-dir "$FUZZ_DIR" --target-dir "$TARGET_DIR" -O
for t in "${targets[@]}"; do
  seeds=$FUZZ_DIR/corpus/$t
  work=$TARGET_DIR/work/$t
  artifacts=$TARGET_DIR/artifacts/$t
  rm -rf "$work" "$artifacts"
  mkdir -p "$work" "$artifacts" "$seeds"
  echo "--- fuzz $t: $(find "$seeds" -type f | wc -l) committed inputs, then ${FUZZ_SECONDS}s"
  # New inputs go to the scratch corpus (first directory); the committed one is only read.
  if ! "${fuzz[@]}" "$t" "$work" "$seeds" -- -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$TARGET_DIR/$t.log" 2>&1; then
    tail -40 "$TARGET_DIR/$t.log"
    for crash in "$artifacts"/*; do
      [ -f "$crash" ] || continue
      cp "$crash" "$seeds/$(basename "$crash")"
      echo "fuzz $t: crashing input saved as $seeds/$(basename "$crash") (commit it with the fix)"
    done
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$TARGET_DIR/$t.log" | tr '\n' ' '
  echo
done
echo "fuzz: ${#targets[@]} targets, no crash"
