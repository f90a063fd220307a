#!/usr/bin/env python3
"""Write the seed corpus of a fuzz target:  python3 fuzz/gen_seeds.py TARGET OUTDIR

Seeds are generated from the repository (test corpus, golden files) and the lists below, so no
binary corpus is committed. A target this script does not know starts from an empty corpus; to
give a new target seeds, add a function to SEEDS (optional)."""
import hashlib
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
TOOLS = ["generate_gateway", "add_rate_limit", "add_circuit_breaker", "generate_tls",
         "generate_scaledobject", "validate"]  # same order as checks::TOOLS

TRICKY_YAML = [
    "a: 1\n", "a: [1, 2\n", "a: b: c\n", "- a\n- b: 1\n", "base: &b {x: 1}\nobj:\n  <<: *b\n",
    "obj:\n  <<: [*u]\n", "a: &a [*a]\n", "a: !!int x\n", "a: !!bool maybe\n", "? [a]\n: 1\n",
    "k: |\n  text\n  more\n", "k: >-\n  folded\n", "'quoted': \"esc\\u00e9\"\n", "--- 1\n--- [2]\n...\n",
    "y: n\non: off\n", "port: 010\nhex: 0x1F\nbig: 123456789012345678901234567890\n",
    "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {tls.key: c2VjcmV0}\n",
    "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata:\n  name: task-api-traffic\n  namespace: task-api\nspec:\n  targetRefs: {}\n  rateLimit: [1]\n  circuitBreaker: 5\n",
    "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata:\n  name: task-api-traffic\n  namespace: task-api\nspec:\n  targetRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: task-api}\n  rateLimit:\n    global:\n      rules: 7\n",
    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: task-api, namespace: task-api}\nspec:\n  parentRefs: [{name: 5}]\n  rules: [{matches: [{path: {type: PathPrefix, value: 7}}], backendRefs: [{name: [], port: x}]}]\n",
    "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: task-api, namespace: task-api}\nspec: {scaleTargetRef: {name: task-api}, minReplicaCount: -1, maxReplicaCount: 1e400}\n",
    "\ufeffa: 1\n", "a:\t1\n", "%YAML 1.1\n---\na: 1\n", "%TAG ! tag:x,2000:\n--- !foo\na: 1\n",
    "[" * 130 + "]" * 130, "{a: {b: {c: {d: [x, {e: y}]}}}}\n", "\"\\ud800\": 1\n",
]

HOSTILE_STRINGS = ["", "a\nb", "a: b", "---", "\"'", "../x", "/etc/passwd", "a/b",
                   "traffic/../../x", "tåsk", "A" * 300, "x" * 64, "*.example.com", "-", "0",
                   "{{ x }}", "${X}", "\u0000", "\u202e", "yes", "null"]


def yaml_seeds():
    out = []
    for p in sorted((REPO / "tests" / "corpus").rglob("*.yaml")):
        out.append(p.read_bytes())
    for p in sorted((REPO / "tests" / "snapshots").glob("*.snap")):
        text = p.read_text()
        if text.startswith("---"):  # insta header between the first two --- lines
            text = text.split("---\n", 2)[-1]
        out.append(text.encode())
    out += [t.encode() for t in TRICKY_YAML]
    return out


def tool_seeds():
    per_tool = {
        "generate_gateway": [
            {}, {"https": False}, {"hostnames": ["a.example.com", "*.b.example.com"]},
            {"routes": [{"name": "task-api", "rules": [
                {"name": "v1", "path_prefix": "/api/v1", "backends": [{"service": "task-api-v1", "port": 8000}]},
                {"name": "canary", "path_prefix": "/", "headers": [{"name": "x-canary", "value": "1"}],
                 "backends": [{"service": "a", "weight": 90}, {"service": "b", "weight": 10}]}]}]},
            {"routes": [{"name": "r", "listener": "https", "rules": []}], "allowed_routes": "All"},
            {"http_port": 70000}, {"routes": [{"name": "x", "rules": [{"backends": [{"service": "s", "port": -1}]}]}]},
        ],
        "add_rate_limit": [
            {}, {"requests_per_user": 5, "anonymous_requests": 1, "unit": "Second"},
            {"target_kind": "Gateway", "target_name": "task-api-gateway", "policy_name": "p"},
            {"limit_anonymous": False, "user_header": "x-api-key"}, {"unit": "minute"},
        ],
        "add_circuit_breaker": [
            {}, {"max_connections": 1, "max_parallel_retries": 3, "max_requests_per_connection": 0},
            {"target_kind": "Gateway", "target_name": "task-api-gateway"}, {"max_connections": 4294967296},
        ],
        "generate_tls": [
            {}, {"issuer_kind": "ClusterIssuer", "issuer_name": "ca"}, {"days": 0},
            {"mode": "local", "hostnames": ["a.example.com"], "days": 1}, {"mode": "local", "rotate": True},
        ],
        "generate_scaledobject": [
            {}, {"metric": "cpu", "threshold": 70}, {"min_replicas": 0, "max_replicas": 1},
            {"min_replicas": 3, "max_replicas": 1}, {"prometheus_address": "http://p:9090", "polling_interval": 0},
        ],
        "validate": [{}] + [{"manifests": t} for t in TRICKY_YAML[:8]],
    }
    out = []
    for i, tool in enumerate(TOOLS):
        for args in per_tool[tool]:
            out.append(bytes([i]) + json.dumps(args).encode())
        # each string field gets hostile values
        for s in HOSTILE_STRINGS[:8]:
            field = {"generate_gateway": "gateway", "add_rate_limit": "target_name",
                     "add_circuit_breaker": "namespace", "generate_tls": "secret_name",
                     "generate_scaledobject": "name", "validate": "manifests"}[tool]
            out.append(bytes([i]) + json.dumps({field: s}).encode())
        out.append(bytes([i]) + b'{"surprise": 1}')
        out.append(bytes([i]) + b'{"namespace": 5}')
    return out


SEEDS = {"yaml_validate": yaml_seeds, "tool_args": tool_seeds}


def main():
    target, outdir = sys.argv[1], pathlib.Path(sys.argv[2])
    outdir.mkdir(parents=True, exist_ok=True)
    seeds = SEEDS.get(target, lambda: [])()
    for s in seeds:
        (outdir / ("seed-" + hashlib.sha1(s).hexdigest()[:16])).write_bytes(s)
    print(f"{len(seeds)} seeds for {target} in {outdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
