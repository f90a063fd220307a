#!/usr/bin/env bash
# Prints the path of the debug traffic-engineer binary as cargo builds it: under the target
# folder cargo reports (CARGO_TARGET_DIR, .cargo/config build.target-dir, or ./target), never a
# guessed ./target. Used by scripts/test.sh; checked by tests/cli.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --no-deps --offline \
  | python3 -c 'import json, os, sys; print(os.path.join(json.load(sys.stdin)["target_directory"], "debug", "traffic-engineer"))'
