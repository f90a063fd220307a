//! Validation engine benchmark: CRD load + compile time, documents per second through the whole
//! pipeline (YAML, defaults, schema, CEL, built-ins, semantics, references) on a generated
//! multi-tenant corpus at 1k / 10k / 100k documents, peak memory, and the `validate` of the Task
//! API stack. Run: `cargo bench --bench validate` (prints figures; asserts nothing).
//! CRDs: the tests' finder (TRAFFIC_ENGINEER_TEST_CRDS, else shared/crds beside the checkout).

use std::path::PathBuf;
use std::time::Instant;

use traffic_engineer::generate::{self, params::*};
use traffic_engineer::validate::{Source, Validator};
use traffic_engineer::workspace::Stack;

#[path = "../tests/common/shared_dir.rs"]
#[allow(dead_code)] // openapi_dir is the tests'
mod shared_dir;

fn crds() -> Vec<PathBuf> {
    let root = shared_dir::crds_dir();
    [
        "gateway-api/standard",
        "envoy-gateway",
        "keda",
        "keda-http-add-on",
        "cert-manager",
        "ai-gateway",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect()
}

/// One tenant: 12 documents of the kinds a traffic stack holds, all references satisfied.
fn tenant(t: usize) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: tenant-{t}}}
---
apiVersion: v1
kind: Service
metadata: {{name: api-v1, namespace: tenant-{t}}}
spec: {{ports: [{{name: http, port: 8080}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: api-v2, namespace: tenant-{t}}}
spec: {{ports: [{{name: http, port: 8080}}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api-v1, namespace: tenant-{t}}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec: {{containers: [{{name: api, image: "example/api:{t}"}}]}}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {{name: selfsigned, namespace: tenant-{t}}}
spec: {{selfSigned: {{}}}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {{name: tls, namespace: tenant-{t}}}
spec:
  secretName: tls
  dnsNames: [t{t}.example.com]
  issuerRef: {{name: selfsigned}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: tenant-{t}}}
spec:
  gatewayClassName: eg
  listeners:
  - {{name: http, protocol: HTTP, port: 80, hostname: t{t}.example.com}}
  - name: https
    protocol: HTTPS
    port: 443
    hostname: t{t}.example.com
    tls: {{mode: Terminate, certificateRefs: [{{name: tls}}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: api, namespace: tenant-{t}}}
spec:
  parentRefs: [{{name: gw, sectionName: https}}]
  hostnames: [t{t}.example.com]
  rules:
  - name: v1
    matches: [{{path: {{type: PathPrefix, value: /api/v1}}}}]
    backendRefs: [{{name: api-v1, port: 8080}}]
  - name: v2
    matches: [{{path: {{type: PathPrefix, value: /api/v2}}, headers: [{{name: x-beta, value: "true"}}]}}]
    backendRefs: [{{name: api-v2, port: 8080}}]
  - name: canary
    backendRefs: [{{name: api-v1, port: 8080, weight: 90}}, {{name: api-v2, port: 8080, weight: 10}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {{name: api-traffic, namespace: tenant-{t}}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: api}}]
  rateLimit:
    global:
      rules:
      - clientSelectors: [{{headers: [{{name: x-user-id, type: Distinct}}]}}]
        limit: {{requests: 100, unit: Minute}}
      - clientSelectors: [{{headers: [{{name: x-user-id, type: RegularExpression, value: ".*", invert: true}}]}}]
        limit: {{requests: 10, unit: Minute}}
  circuitBreaker: {{maxConnections: 50, maxPendingRequests: 50, maxParallelRequests: 50}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: ClientTrafficPolicy
metadata: {{name: client, namespace: tenant-{t}}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: Gateway, name: gw}}]
  headers: {{earlyRequestHeaders: {{remove: [x-user-id]}}}}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: api, namespace: tenant-{t}}}
spec:
  scaleTargetRef: {{name: api-v1}}
  minReplicaCount: 1
  maxReplicaCount: 10
  triggers:
  - type: prometheus
    metadata:
      serverAddress: http://prometheus.monitoring:9090
      query: sum(rate(envoy_cluster_upstream_rq_total{{envoy_cluster_name=~"httproute/tenant-{t}/api/rule/.*"}}[2m]))
      threshold: "50"
      ignoreNullValues: "false"
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: {{name: from-routes, namespace: tenant-{t}}}
spec:
  from: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: tenant-{t}}}]
  to: [{{group: "", kind: Service}}]
"#
    )
}

fn rss_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// What a persistent cache of parsed schemas could save: the YAML parse of a CRD against the
/// JSON parse of the same value (the rest of a kind's compilation, the structural tree and the
/// `jsonschema` validator, cannot be stored by `jsonschema` and would stay).
fn persistent_cache_estimate() {
    let file = crds()[0].join("gateway.networking.k8s.io_httproutes.yaml");
    let Ok(text) = std::fs::read_to_string(&file) else {
        println!("cache estimate: {} not found", file.display());
        return;
    };
    let t = Instant::now();
    let values = traffic_engineer::yaml::parse_values(&text).expect("CRD parses");
    let yaml_ms = ms(t);
    let json = serde_json::to_string(&values).expect("serializes");
    let t = Instant::now();
    let back: serde_json::Value = serde_json::from_str(&json).expect("parses");
    let json_ms = ms(t);
    assert!(back.is_array());
    println!(
        "cache estimate, HTTPRoute CRD ({} KB, both versions): YAML parse {yaml_ms:.1} ms, JSON parse of the same {json_ms:.1} ms",
        text.len() / 1024
    );
}

fn main() {
    let t = Instant::now();
    let v = Validator::load(&crds()).expect("CRDs load");
    println!(
        "index {} CRDs (schemas set aside, compiled on first use): {:.1} ms",
        v.crd_count(),
        ms(t)
    );
    let (rss, _) = rss_kb();
    println!("resident after loading: {:.1} MB", rss as f64 / 1024.0);
    if let Some(cat) = v.catalog() {
        let fresh = Validator::load(&crds()).expect("CRDs load");
        let t = Instant::now();
        let r = fresh.catalog().map(|c| c.precompile()).unwrap_or_default();
        println!(
            "compile every schema and rule of every version ({} schemas, {} rules): {:.0} ms ({} CRDs)",
            r.schemas,
            r.rules,
            ms(t),
            cat.len()
        );
    }
    persistent_cache_estimate();

    for tenants in [84usize, 834, 8334] {
        let sources: Vec<Source> = (0..tenants)
            .map(|t| Source {
                name: format!("tenant-{t}.yaml"),
                text: tenant(t),
            })
            .collect();
        let t = Instant::now();
        let r = v.validate_sources(&sources);
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(r.summary.errors, 0, "{}", r.to_text());
        let (rss, hwm) = rss_kb();
        println!(
            "{:>6} documents: {:>7.0} ms, {:>6.0} docs/s ({} warnings, {} info); resident {:.0} MB, peak {:.0} MB",
            r.summary.documents,
            secs * 1e3,
            r.summary.documents as f64 / secs,
            r.summary.warnings,
            r.summary.infos,
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
    let (rss, hwm) = rss_kb();
    println!(
        "resident now {:.1} MB, peak {:.1} MB",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );

    // the validate tool's work on the Task API stack, CRDs loaded
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = Stack::new(dir.path());
    let e = serde_json::Map::new();
    let p: GatewayParams = parse_args(e.clone()).unwrap();
    stack
        .update(|s| generate::gateway::generate(&p, s))
        .unwrap();
    let p: RateLimitParams = parse_args(e.clone()).unwrap();
    stack
        .update(|s| generate::policy::add_rate_limit(&p, s))
        .unwrap();
    let p: CircuitBreakerParams = parse_args(e.clone()).unwrap();
    stack
        .update(|s| generate::policy::add_circuit_breaker(&p, s))
        .unwrap();
    let p: TlsParams = parse_args(e.clone()).unwrap();
    stack.update(|s| generate::tls::generate(&p, s)).unwrap();
    let p: ScaledObjectParams = parse_args(e).unwrap();
    stack
        .update(|s| generate::scaling::generate(&p, s))
        .unwrap();
    let fresh = Validator::load(&crds()).expect("CRDs load");
    let t = Instant::now();
    let r = traffic_engineer::validation::validate_stack(&fresh, &stack).unwrap();
    assert_eq!(r.summary.errors, 0);
    println!(
        "first validate of the Task API stack in a fresh engine (compiles its {} kinds): {:.1} ms",
        r.summary.documents,
        ms(t)
    );
    let mut times: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            let r = traffic_engineer::validation::validate_stack(&v, &stack).unwrap();
            assert_eq!(r.summary.errors, 0);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "validate on the Task API stack (read files + all layers): median {:.2} ms over 200 runs",
        times[100]
    );
}
