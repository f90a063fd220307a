#!/usr/bin/env bash
# Run one fuzz target for a given time:  fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
#        fuzz/run.sh --list
# Targets are the files src/bin/<target>.rs (adding a target is adding one file there; seeds
# come from gen_seeds.py when it knows the target, else libFuzzer starts from nothing).
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); on stable Rust, RUSTC_BOOTSTRAP=1
# enables the sanitizer flags cargo-fuzz uses. Builds into $FUZZ_TARGET_DIR (default
# fuzz/target). Exit status: 0 = no crash, 1 = crash (input saved under fuzz/artifacts/TARGET/,
# turn it into a regression: copy it to fuzz/regressions/TARGET/), 2 = usage or build error.
# The last line printed is a summary: target, seconds, executions, crashes.
set -uo pipefail
FUZZ_DIR="$(cd "$(dirname "$0")" && pwd)"
cd "$FUZZ_DIR"
targets() { for f in src/bin/*.rs; do basename "$f" .rs; done; }
if [ "${1:-}" = "--list" ]; then targets; exit 0; fi
if [ $# -lt 2 ]; then
  echo "usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags...]   (targets: $(targets | tr '\n' ' '))" >&2
  exit 2
fi
TARGET=$1 SECONDS_=$2; shift 2
[ -f "src/bin/$TARGET.rs" ] || { echo "no target $TARGET (targets: $(targets | tr '\n' ' '))" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz --locked" >&2; exit 2; }

# The upstream CRDs make the validate pipeline run its schema and CEL layers too.
if [ -z "${TRAFFIC_ENGINEER_TEST_CRDS:-}" ] && [ -d "$FUZZ_DIR/../../shared/crds" ]; then
  export TRAFFIC_ENGINEER_TEST_CRDS="$(cd "$FUZZ_DIR/../../shared/crds" && pwd)"
fi

CORPUS="corpus/$TARGET"
mkdir -p "$CORPUS" "artifacts/$TARGET" logs
python3 gen_seeds.py "$TARGET" "$CORPUS"
# regression inputs are seeds too
[ -d "regressions/$TARGET" ] && cp -n regressions/"$TARGET"/* "$CORPUS"/ 2>/dev/null
DICT=()
[ -f "dict/$TARGET.dict" ] && DICT=("-dict=dict/$TARGET.dict")

export RUSTC_BOOTSTRAP=1
TD=(--target-dir "${FUZZ_TARGET_DIR:-$FUZZ_DIR/target}")
cargo fuzz build --debug-assertions "${TD[@]}" "$TARGET" || exit 2
LOG="logs/$TARGET.log"
before=$(ls "artifacts/$TARGET" | wc -l)
cargo fuzz run --debug-assertions "${TD[@]}" "$TARGET" "$CORPUS" -- \
  -max_total_time="$SECONDS_" -timeout=20 -rss_limit_mb=2560 -max_len=16384 \
  -print_final_stats=1 "${DICT[@]}" "$@" 2>&1 | tee "$LOG" | grep -E '^(#[0-9]+ +(pulse|DONE)|==|SUMMARY|Done|stat::number_of_executed_units|artifact_prefix)' 
status=${PIPESTATUS[0]}
after=$(ls "artifacts/$TARGET" | wc -l)
execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$LOG" | grep -oE '[0-9]+$' | tail -1)
crashes=$((after - before))
if [ -z "$execs" ] && [ "$crashes" -eq 0 ]; then
  echo "fuzz summary: target=$TARGET did not run (build failed?); see fuzz/$LOG" >&2
  exit 2
fi
echo "fuzz summary: target=$TARGET seconds=$SECONDS_ executions=${execs:-?} crashes=$crashes exit=$status"
[ "$status" -eq 0 ] && [ "$crashes" -eq 0 ] && exit 0
exit 1
