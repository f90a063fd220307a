//! Translator acceptance: every stack the generators write goes through Envoy Gateway v1.9.0's
//! own translator (`egctl x translate`) and comes back accepted: the Task API defaults, the
//! variants of each tool, every spec example. And the harness is shown to fail: a policy
//! targeting a missing route, a route to a listener that does not exist, a cross-namespace
//! backend without a ReferenceGrant are each reported, naming the object and the condition.
//!
//! egctl: `TRAFFIC_ENGINEER_EGCTL` or `scripts/upstream.sh egctl`; without it these tests fail.

#[allow(dead_code)] // the CRD helpers of common are not used here
mod common;
use common::egctl::{assert_accepted, translate};

use serde_json::json;
use traffic_engineer::spec;
use traffic_engineer::workspace::Stack;

use common::build::build;

fn accepted(stack: &Stack, what: &str) {
    if let Err(e) = assert_accepted(stack.dir()) {
        panic!("{what}: {e}");
    }
}

#[test]
fn task_api_defaults_are_accepted_by_envoy_gateway() {
    let (_d, stack) = build(json!({}), json!({}), json!({}), json!({}), json!({}));
    let a = translate(stack.dir());
    assert!(a.accepted(), "{}", a.failures_text());
    // What was checked: the Gateway's two listeners, the route on each, the policy's ancestor.
    for want in [
        "Gateway task-api/task-api-gateway (listener http)",
        "Gateway task-api/task-api-gateway (listener https)",
        "BackendTrafficPolicy task-api/task-api-traffic (ancestor Gateway task-api/task-api-gateway",
    ] {
        assert!(
            a.checked.iter().any(|c| c.starts_with(want)),
            "{want} not checked: {:#?}",
            a.checked
        );
    }
    assert!(
        a.checked
            .iter()
            .filter(|c| c.starts_with("HTTPRoute task-api/task-api (parent"))
            .count()
            >= 1,
        "{:#?}",
        a.checked
    );
    // KEDA and cert-manager objects are not Envoy Gateway's; they are listed, not sent.
    assert!(
        a.not_translated
            .iter()
            .any(|o| o.starts_with("ScaledObject task-api/")),
        "{:#?}",
        a.not_translated
    );
    assert!(
        a.supplied.iter().any(|s| s.starts_with("GatewayClass eg")),
        "{:#?}",
        a.supplied
    );
}

#[test]
fn tool_variants_are_accepted_by_envoy_gateway() {
    let canary = json!({
        "hostnames": ["task-api.example.com", "*.api.example.com"],
        "allowed_routes": "All",
        "routes": [
            {"name": "task-api", "rules": [
                {"name": "v1", "path_prefix": "/api/v1", "backends": [{"service": "task-api-v1", "port": 8080}]},
                {"name": "v2", "path_prefix": "/api/v2", "headers": [{"name": "x-beta", "value": "yes"}], "backends": [{"service": "task-api-v2", "port": 8080}]},
                {"name": "canary", "path_prefix": "/", "backends": [
                    {"service": "task-api-v1", "port": 8080, "weight": 90},
                    {"service": "task-api-v2", "port": 8080, "weight": 10}]}]},
            {"name": "admin", "listener": "https", "rules": [{"path_prefix": "/admin", "backends": [{"service": "admin", "port": 9000}]}]}
        ]
    });
    let versioned = json!({
        "hostnames": ["task-api.example.com", "api.example.com"],
        "https": false,
        "routes": [{"name": "task-api", "listener": "http", "rules": [
            {"name": "v1", "path_prefix": "/api/v1", "backends": [{"service": "task-api-v1", "port": 8080}]},
            {"name": "v2", "path_prefix": "/api/v2", "backends": [{"service": "task-api-v2", "port": 8080}]},
            {"name": "beta", "path_prefix": "/api", "headers": [{"name": "X-Beta", "value": "on"}],
             "backends": [{"service": "task-api-v2", "port": 8080}]},
            {"name": "canary", "path_prefix": "/", "backends": [
                {"service": "task-api-v1", "port": 8080, "weight": 90},
                {"service": "task-api-v2", "port": 8080, "weight": 10}]}]}]
    });
    let cases = [
        (
            "canary, two routes, local TLS, hourly limits, cpu scaling",
            canary,
            json!({"target_name": "task-api", "unit": "Hour", "requests_per_user": 5000, "anonymous_requests": 50}),
            json!({"target_name": "task-api", "max_parallel_retries": 3, "max_requests_per_connection": 1000}),
            json!({"mode": "local", "hostnames": ["task-api.example.com", "api.example.com"]}),
            json!({"metric": "cpu", "min_replicas": 2, "max_replicas": 20}),
        ),
        (
            "HTTP only, policies on the Gateway, ClusterIssuer",
            json!({"https": false}),
            json!({"target_kind": "Gateway", "target_name": "task-api-gateway", "limit_anonymous": false}),
            json!({"target_kind": "Gateway", "target_name": "task-api-gateway", "max_connections": 100}),
            json!({"issuer_kind": "ClusterIssuer", "days": 30}),
            json!({"threshold": 200, "polling_interval": 30}),
        ),
        (
            "versioned paths with a header match and a canary split",
            versioned,
            json!({"requests_per_user": 20, "unit": "Second"}),
            json!({"max_connections": 10, "max_pending_requests": 5, "max_parallel_requests": 10}),
            json!({}),
            json!({}),
        ),
    ];
    for (what, gw, rl, cb, tls, so) in cases {
        let (_d, stack) = build(gw, rl, cb, tls, so);
        accepted(&stack, what);
    }
}

#[test]
fn every_spec_example_is_accepted_by_envoy_gateway() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut found = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let spec_file = entry.unwrap().path().join("traffic-spec.md");
        if !spec_file.is_file() {
            continue;
        }
        found += 1;
        let text = std::fs::read_to_string(&spec_file).unwrap();
        let parsed = spec::parse(&text).unwrap_or_else(|e| panic!("{spec_file:?}: {e:?}"));
        let dir = tempfile::tempdir().unwrap();
        let stack = Stack::new(dir.path());
        spec::generate(&parsed.spec, &stack)
            .map_err(|(_, e)| e)
            .unwrap();
        accepted(&stack, &spec_file.display().to_string());
    }
    assert!(found >= 1, "no examples/*/traffic-spec.md found");
}

// ---------------------------------------------------------------------------------------------
// The harness fails when Envoy Gateway does not accept something.
// ---------------------------------------------------------------------------------------------

fn edit(stack: &Stack, file: &str, from: &str, to: &str) {
    let p = stack.dir().join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{file} lacks {from:?}:\n{text}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_policy_targeting_a_missing_route_is_reported() {
    let (_d, stack) = build(json!({}), json!({}), json!({}), json!({}), json!({}));
    edit(
        &stack,
        "backendtrafficpolicy-task-api-traffic.yaml",
        "name: task-api\n",
        "name: no-such-route\n",
    );
    let a = translate(stack.dir());
    let f = a
        .failures
        .iter()
        .find(|f| f.object == "BackendTrafficPolicy task-api/task-api-traffic")
        .unwrap_or_else(|| panic!("not reported: {}", a.failures_text()));
    assert_eq!(f.condition, "Accepted");
    assert_eq!(f.reason, "NoAncestor", "{f}");
    let e = assert_accepted(stack.dir()).unwrap_err();
    assert!(
        e.contains("BackendTrafficPolicy task-api/task-api-traffic"),
        "{e}"
    );
}

#[test]
fn a_route_to_a_missing_listener_is_reported() {
    let (_d, stack) = build(json!({}), json!({}), json!({}), json!({}), json!({}));
    edit(
        &stack,
        "httproute-task-api.yaml",
        "    name: task-api-gateway\n",
        "    name: task-api-gateway\n    sectionName: grpc\n",
    );
    let a = translate(stack.dir());
    let f = a
        .failures
        .iter()
        .find(|f| f.object == "HTTPRoute task-api/task-api" && f.scope.contains("section grpc"))
        .unwrap_or_else(|| panic!("not reported: {}", a.failures_text()));
    assert_eq!(f.condition, "Accepted", "{f}");
    assert_eq!(f.status, "False", "{f}");
    assert_eq!(f.reason, "NoMatchingParent", "{f}");
    assert!(!f.message.is_empty(), "{f}");
}

#[test]
fn a_cross_namespace_backend_without_reference_grant_is_reported() {
    let (_d, stack) = build(json!({}), json!({}), json!({}), json!({}), json!({}));
    edit(
        &stack,
        "httproute-task-api.yaml",
        "      name: task-api\n      port: 8000",
        "      name: task-api\n      namespace: other\n      port: 8000",
    );
    let a = translate(stack.dir());
    let f = a
        .failures
        .iter()
        .find(|f| f.object == "HTTPRoute task-api/task-api" && f.condition == "ResolvedRefs")
        .unwrap_or_else(|| panic!("not reported: {}", a.failures_text()));
    assert_eq!(f.status, "False", "{f}");
    assert_eq!(f.reason, "RefNotPermitted", "{f}");
}
