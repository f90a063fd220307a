//! The stacks the tools write are accepted by the upstream CRDs (OpenAPI schema with unknown
//! fields rejected, every CEL rule) and pass the reference and semantic layers with zero errors;
//! and the same engine catches a stack broken by hand, with file and line.

mod common;
use common::validator;

use serde_json::json;
use traffic_engineer::validate::{Report, Severity};

use common::build::build;

fn errors(r: &Report) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{:?}", f))
        .collect()
}

fn assert_checked_by_crds(r: &Report) {
    assert!(
        !r.findings
            .iter()
            .any(|f| f.rule == "crds/skipped" || f.rule == "crds/no-crd-for-group"),
        "schema layer did not run: {:#?}",
        r.findings
    );
    // the built-in kinds (Service, Deployment, Secret, ...) too, against Kubernetes' schemas
    assert!(r.complete(), "not checked: {:?}", r.summary.not_checked);
}

#[test]
fn task_api_defaults_are_accepted() {
    let (_d, stack) = build(
        json!({}),
        json!({}),
        json!({"max_connections": 50}),
        json!({}),
        json!({}),
    );
    let r = traffic_engineer::validation::validate_stack(validator(), &stack).unwrap();
    assert_checked_by_crds(&r);
    assert_eq!(r.summary.documents, 6, "no Namespace unless asked");
    assert!(errors(&r).is_empty(), "{:#?}", errors(&r));
}

#[test]
fn variants_are_accepted() {
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
    let cases = [
        (
            canary,
            json!({"target_name": "task-api", "unit": "Hour", "requests_per_user": 5000, "anonymous_requests": 50}),
            json!({"target_name": "task-api", "max_parallel_retries": 3, "max_requests_per_connection": 1000}),
            json!({"mode": "local", "hostnames": ["task-api.example.com", "api.example.com"]}),
            json!({"metric": "cpu", "min_replicas": 2, "max_replicas": 20}),
        ),
        (
            json!({"https": false}),
            json!({"target_kind": "Gateway", "target_name": "task-api-gateway", "limit_anonymous": false}),
            json!({"target_kind": "Gateway", "target_name": "task-api-gateway", "max_connections": 100}),
            json!({"issuer_kind": "ClusterIssuer", "days": 30}),
            json!({"threshold": 200, "polling_interval": 30}),
        ),
    ];
    for (gw, rl, cb, tls, so) in cases {
        let (_d, stack) = build(gw.clone(), rl, cb, tls, so);
        let r = traffic_engineer::validation::validate_stack(validator(), &stack).unwrap();
        assert_checked_by_crds(&r);
        assert!(errors(&r).is_empty(), "{gw}: {:#?}", errors(&r));
    }
}

#[test]
fn hand_broken_stack_is_caught_with_file_and_line() {
    let (_d, stack) = build(
        json!({}),
        json!({}),
        json!({"max_connections": 50}),
        json!({}),
        json!({}),
    );
    let btp = stack
        .dir()
        .join("backendtrafficpolicy-task-api-traffic.yaml");
    let text = std::fs::read_to_string(&btp).unwrap();
    let broken = text
        .replace(
            "maxConnections: 50",
            "maxConnections: 50\n    maxRequests: 10",
        )
        .replace("type: Distinct", "type: distinct");
    std::fs::write(&btp, broken).unwrap();
    let route = stack.dir().join("httproute-task-api.yaml");
    let text = std::fs::read_to_string(&route).unwrap();
    std::fs::write(&route, text.replace("value: /\n", "value: api\n")).unwrap();
    let r = traffic_engineer::validation::validate_stack(validator(), &stack).unwrap();
    let got: Vec<(String, String, usize)> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| {
            (
                f.rule.clone(),
                f.file.clone().unwrap_or_default(),
                f.line.unwrap_or(0),
            )
        })
        .collect();
    let has = |rule: &str, file: &str| {
        got.iter()
            .any(|(r, f, l)| r == rule && f.ends_with(file) && *l > 0)
    };
    assert!(
        has(
            "schema/unknown-field",
            "backendtrafficpolicy-task-api-traffic.yaml"
        ),
        "{got:#?}"
    );
    assert!(
        has("schema/enum", "backendtrafficpolicy-task-api-traffic.yaml"),
        "{got:#?}"
    );
    assert!(has("cel/rule", "httproute-task-api.yaml"), "{got:#?}");
    let unknown = r
        .findings
        .iter()
        .find(|f| f.rule == "schema/unknown-field")
        .unwrap();
    assert_eq!(unknown.path, "/spec/circuitBreaker/maxRequests");
    let line_of = |needle: &str| {
        std::fs::read_to_string(&btp)
            .unwrap()
            .lines()
            .position(|l| l.contains(needle))
            .unwrap()
            + 1
    };
    assert_eq!(unknown.line, Some(line_of("maxRequests")));
}
