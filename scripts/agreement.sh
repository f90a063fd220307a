#!/usr/bin/env bash
# The agreement of validate with the real components (tests/agreement.rs): 500+ one-defect
# stacks through validate, Envoy Gateway v1.9.0's translator (egctl), an API server's dry run
# (apiextensions-apiserver + etcd with the upstream CRDs) and kubectl-validate (built-in kinds,
# Kubernetes 1.35 OpenAPI). Prints the agreement table per class; fails on a false positive or a
# new false negative (tests/agreement/known.yaml lists the known ones).
#
#   scripts/agreement.sh            (TRAFFIC_ENGINEER_KUBECONFIG: use that API server, else start one)
#   TRAFFIC_ENGINEER_AGREEMENT_SEED=N scripts/agreement.sh     another seed
#   TRAFFIC_ENGINEER_AGREEMENT_REPORT=FILE                     also write the report there
set -euo pipefail
cd "$(dirname "$0")/.."

shared_dir() {
  local dir
  dir="$(cd .. && pwd)"
  while [ ! -d "$dir/shared/$1" ] && [ "$dir" != / ]; do dir="$(dirname "$dir")"; done
  [ -d "$dir/shared/$1" ] && echo "$dir/shared/$1"
}
if [ -z "${TRAFFIC_ENGINEER_TEST_CRDS:-}" ]; then
  TRAFFIC_ENGINEER_TEST_CRDS="$(shared_dir crds)" || { echo "agreement.sh: set TRAFFIC_ENGINEER_TEST_CRDS" >&2; exit 2; }
fi
if [ -z "${TRAFFIC_ENGINEER_TEST_OPENAPI:-}" ]; then
  TRAFFIC_ENGINEER_TEST_OPENAPI="$(shared_dir openapi/kubernetes-v1.35)" || {
    echo "agreement.sh: set TRAFFIC_ENGINEER_TEST_OPENAPI to the Kubernetes 1.35 OpenAPI v3 documents" >&2; exit 2; }
fi
export TRAFFIC_ENGINEER_TEST_CRDS TRAFFIC_ENGINEER_TEST_OPENAPI
TRAFFIC_ENGINEER_EGCTL="${TRAFFIC_ENGINEER_EGCTL:-$(scripts/upstream.sh egctl)}"
TRAFFIC_ENGINEER_KUBECTL_VALIDATE="${TRAFFIC_ENGINEER_KUBECTL_VALIDATE:-$(scripts/upstream.sh kubectl-validate)}"
export TRAFFIC_ENGINEER_EGCTL TRAFFIC_ENGINEER_KUBECTL_VALIDATE
if [ -z "${TRAFFIC_ENGINEER_KUBECONFIG:-}" ]; then
  CLUSTER_DIR="$(mktemp -d)"
  trap 'scripts/upstream.sh cluster-down "$CLUSTER_DIR" >/dev/null 2>&1 || true; rm -rf "$CLUSTER_DIR"' EXIT
  TRAFFIC_ENGINEER_CLUSTER_CRDS="${TRAFFIC_ENGINEER_CLUSTER_CRDS:-$TRAFFIC_ENGINEER_TEST_CRDS}"
  export TRAFFIC_ENGINEER_CLUSTER_CRDS
  TRAFFIC_ENGINEER_KUBECONFIG="$(scripts/upstream.sh cluster-up "$CLUSTER_DIR")"
fi
export TRAFFIC_ENGINEER_KUBECONFIG
cargo test --locked --test agreement -- --nocapture "$@"
