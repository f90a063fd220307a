//! Templates: golden files of every generator's output, and hostile values that must not
//! escape their scalar in any template.

use serde_json::{Value, json};
use traffic_engineer::generate::params::*;
use traffic_engineer::generate::{self, Plan, Snapshot, StackManifest};
use traffic_engineer::render::render;
use traffic_engineer::yaml::parse_documents;

fn args<T: serde::de::DeserializeOwned + schemars::JsonSchema>(v: Value) -> T {
    parse_args(v.as_object().cloned().unwrap()).unwrap()
}

fn yaml_of(plan: &Plan) -> String {
    plan.files
        .iter()
        .filter(|f| !f.private)
        .map(|f| format!("# file: {}\n{}", f.file, f.contents))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Apply a plan to an in-memory snapshot (what the workspace does on disk).
fn absorb(snap: &mut Snapshot, plan: &Plan) {
    for f in plan.files.iter().filter(|f| !f.private) {
        let value = parse_documents(&f.contents).unwrap().remove(0).value;
        snap.manifests.retain(|m| m.file != f.file);
        snap.manifests.push(StackManifest {
            file: f.file.clone(),
            value,
        });
    }
    for f in plan.files.iter().filter(|f| f.private) {
        snap.other_files.push(f.file.clone());
    }
}

#[test]
fn golden_task_api_sequence() {
    let mut snap = Snapshot::default();
    let p = generate::gateway::generate(&args(json!({})), &snap).unwrap();
    insta::assert_snapshot!("gateway_default", yaml_of(&p));
    absorb(&mut snap, &p);
    let p = generate::policy::add_rate_limit(&args(json!({})), &snap).unwrap();
    insta::assert_snapshot!("btp_rate_limit", yaml_of(&p));
    absorb(&mut snap, &p);
    let p = generate::policy::add_circuit_breaker(
        &args(
            json!({"max_connections": 50, "max_pending_requests": 50, "max_parallel_requests": 50,
                     "max_parallel_retries": 3, "max_requests_per_connection": 1000}),
        ),
        &snap,
    )
    .unwrap();
    insta::assert_snapshot!("btp_rate_limit_and_circuit_breaker", yaml_of(&p));
    absorb(&mut snap, &p);
    let p = generate::tls::generate(&args(json!({})), &snap).unwrap();
    insta::assert_snapshot!("tls_cert_manager_issuer", yaml_of(&p));
    let p = generate::tls::generate(&args(json!({"issuer_kind": "ClusterIssuer"})), &snap).unwrap();
    insta::assert_snapshot!("tls_cert_manager_cluster_issuer", yaml_of(&p));
    let p = generate::scaling::generate(&args(json!({})), &snap).unwrap();
    insta::assert_snapshot!("scaledobject_request_rate", yaml_of(&p));
    let p = generate::scaling::generate(
        &args(json!({"metric": "cpu", "min_replicas": 2, "max_replicas": 6})),
        &snap,
    )
    .unwrap();
    insta::assert_snapshot!("scaledobject_cpu", yaml_of(&p));
}

#[test]
fn golden_versioned_paths_and_canary() {
    let p = generate::gateway::generate(
        &args(json!({
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
        })),
        &Snapshot::default(),
    )
    .unwrap();
    insta::assert_snapshot!("gateway_versioned_canary", yaml_of(&p));
}

#[test]
fn second_rate_limit_call_updates_the_same_policy_and_keeps_hand_edits() {
    let mut snap = Snapshot::default();
    let p = generate::gateway::generate(&args(json!({})), &snap).unwrap();
    absorb(&mut snap, &p);
    let p = generate::policy::add_circuit_breaker(&args(json!({"max_connections": 50})), &snap)
        .unwrap();
    absorb(&mut snap, &p);
    // a hand edit: a retry block and a deprecated rateLimit.type the user added
    let btp = snap
        .manifests
        .iter_mut()
        .find(|m| m.kind() == "BackendTrafficPolicy")
        .unwrap();
    btp.value["spec"]["retry"] = json!({"numRetries": 2});
    btp.value["spec"]["rateLimit"] = json!({"type": "Global", "global": {"rules": []}});
    let p = generate::policy::add_rate_limit(
        &args(json!({"requests_per_user": 200, "unit": "Hour"})),
        &snap,
    )
    .unwrap();
    assert_eq!(p.files.len(), 1, "exactly one policy file");
    let v = parse_documents(&p.files[0].contents)
        .unwrap()
        .remove(0)
        .value;
    assert_eq!(
        v["spec"]["retry"],
        json!({"numRetries": 2}),
        "hand edit kept"
    );
    assert_eq!(
        v["spec"]["circuitBreaker"]["maxConnections"], 50,
        "circuit breaker kept"
    );
    assert!(
        v["spec"]["rateLimit"].get("type").is_none(),
        "deprecated type removed"
    );
    assert_eq!(
        v["spec"]["rateLimit"]["global"]["rules"][0]["limit"],
        json!({"requests": 200, "unit": "Hour"})
    );
    assert!(p.notes.iter().any(|n| n.contains("deprecated")));
}

#[test]
fn two_policies_on_one_target_are_refused() {
    let mut snap = Snapshot::default();
    let p = generate::gateway::generate(&args(json!({})), &snap).unwrap();
    absorb(&mut snap, &p);
    let p = generate::policy::add_rate_limit(&args(json!({})), &snap).unwrap();
    absorb(&mut snap, &p);
    let mut second = snap
        .manifests
        .iter()
        .find(|m| m.kind() == "BackendTrafficPolicy")
        .unwrap()
        .clone();
    second.value["metadata"]["name"] = json!("other");
    second.file = "backendtrafficpolicy-other.yaml".into();
    snap.manifests.push(second);
    let e = generate::policy::add_circuit_breaker(&args(json!({"max_connections": 10})), &snap)
        .unwrap_err();
    assert!(e.to_string().contains("applies only the oldest"), "{e}");
}

const HOSTILE: &[&str] = &[
    "a\nb: c",
    "x: y",
    "# comment",
    "---",
    "...",
    "\"quoted\"",
    "'single'",
    "- item",
    "{a: b}",
    "[1, 2]",
    "yes",
    "0o17",
    "&anchor",
    "*alias",
    "!!python/object",
    "ü 😀 \u{2028} \u{85} \u{feff}",
    "\t tab \r\n crlf",
    "\\ backslash \\\"",
    "%TAG ! x",
    "@at `tick` |pipe >fold",
];

/// Every string of every template context gets each hostile value; the output must be one
/// document whose strings are exactly the values given.
#[test]
fn hostile_values_stay_inside_their_scalar() {
    let big = "x: y\n---\n".repeat(10_000); // 100 kB
    let mut values: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    values.push(big);
    for v in &values {
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            (
                "namespace.yaml.j2",
                json!({"name": v}),
                vec!["/metadata/name"],
            ),
            (
                "gateway.yaml.j2",
                json!({"name": v, "namespace": v, "class": v, "listeners": [
                    {"name": v, "protocol": v, "port": 1, "hostname": v, "tls_secret": v, "allowed_from": v}]}),
                vec![
                    "/metadata/name",
                    "/spec/gatewayClassName",
                    "/spec/listeners/0/hostname",
                    "/spec/listeners/0/tls/certificateRefs/0/name",
                ],
            ),
            (
                "httproute.yaml.j2",
                json!({"name": v, "namespace": v, "comment": v, "parents": [{"name": v, "section": v}], "hostnames": [v],
                       "rules": [{"name": v, "path_type": v, "path": v, "headers": [{"name": v, "value": v}],
                                  "backends": [{"service": v, "port": 1, "weight": 1}], "redirect": null, "timeout": v}]}),
                vec![
                    "/spec/hostnames/0",
                    "/spec/rules/0/matches/0/path/value",
                    "/spec/rules/0/matches/0/headers/0/value",
                    "/spec/rules/0/backendRefs/0/name",
                    "/spec/rules/0/timeouts/request",
                ],
            ),
            (
                "securitypolicy.yaml.j2",
                json!({"name": v, "namespace": v, "target": {"kind": v, "name": v}, "header": v, "mode": v,
                       "jwt": {"provider": v, "issuer": v, "jwks_uri": v, "claim": v, "audiences": [v]},
                       "api_key": {"secret": v, "header": v}}),
                vec![
                    "/spec/jwt/providers/0/issuer",
                    "/spec/jwt/providers/0/remoteJWKS/uri",
                    "/spec/jwt/providers/0/claimToHeaders/0/header",
                    "/spec/apiKeyAuth/credentialRefs/0/name",
                    "/spec/apiKeyAuth/forwardClientIDHeader",
                ],
            ),
            (
                "backendtrafficpolicy.yaml.j2",
                json!({"name": v, "namespace": v, "target": {"kind": v, "name": v},
                       "rate_limit": {"rules": [{"comment": "c", "headers": [{"name": v, "type": v, "value": v, "invert": true}], "requests": 1, "unit": v}]},
                       "circuit_breaker": null}),
                vec![
                    "/spec/targetRefs/0/name",
                    "/spec/rateLimit/global/rules/0/clientSelectors/0/headers/0/value",
                    "/spec/rateLimit/global/rules/0/limit/unit",
                ],
            ),
            (
                "issuer.yaml.j2",
                json!({"kind": v, "name": v, "namespace": v, "label": "l", "managed_by": v}),
                vec!["/kind", "/metadata/namespace"],
            ),
            (
                "certificate.yaml.j2",
                json!({"name": v, "namespace": v, "secret_name": v, "common_name": v, "dns_names": [v],
                       "duration": v, "renew_before": v, "issuer_kind": v, "issuer_name": v}),
                vec![
                    "/spec/secretName",
                    "/spec/dnsNames/0",
                    "/spec/issuerRef/name",
                ],
            ),
            (
                "scaledobject.yaml.j2",
                json!({"name": v, "namespace": v, "deployment": v, "min": 1, "max": 2, "polling_interval": 3,
                       "metric": "request_rate", "threshold": v, "query": v, "prometheus_address": v}),
                vec![
                    "/spec/scaleTargetRef/name",
                    "/spec/triggers/0/metadata/query",
                    "/spec/triggers/0/metadata/threshold",
                ],
            ),
        ];
        for (template, ctx, pointers) in cases {
            let text = render(template, &ctx).unwrap();
            let docs = parse_documents(&text)
                .unwrap_or_else(|e| panic!("{template} with {v:?}: {e}\n{text}"));
            assert_eq!(
                docs.len(),
                1,
                "{template} with {v:?} made {} documents",
                docs.len()
            );
            for p in pointers {
                assert_eq!(
                    docs[0].value.pointer(p).and_then(Value::as_str),
                    Some(v.as_str()),
                    "{template} {p} with {v:?}"
                );
            }
        }
    }
}

#[test]
fn invalid_arguments_name_the_field_and_the_form() {
    let mut snap = Snapshot::default();
    let p = generate::gateway::generate(&args(json!({})), &snap).unwrap();
    absorb(&mut snap, &p);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("gateway", json!({"namespace": "Task API"}), "namespace"),
        (
            "gateway",
            json!({"hostnames": ["https://x.example.com"]}),
            "hostnames[0]",
        ),
        (
            "gateway",
            json!({"routes": [{"name": "r", "rules": [{"path_prefix": "api"}]}]}),
            "routes[0].rules[0].path_prefix",
        ),
        (
            "gateway",
            json!({"routes": [{"name": "r", "rules": [{"backends": [{"service": "a", "weight": 0}]}]}]}),
            "routes[0].rules[0].backends",
        ),
        (
            "gateway",
            json!({"routes": [{"name": "r", "rules": [{"name": "x", "path_prefix": "/a"}, {"name": "x", "path_prefix": "/b"}]}]}),
            "routes[0].rules[1].name",
        ),
        (
            "gateway",
            json!({"routes": [{"name": "r", "listener": "grpc"}]}),
            "routes[0].listener",
        ),
        ("rate", json!({"user_header": "x user"}), "user_header"),
        ("rate", json!({"requests_per_user": 0}), "requests_per_user"),
        ("breaker", json!({"max_connections": 0}), "max_connections"),
        ("tls", json!({"days": 0}), "days"),
        ("tls", json!({"secret_name": "a/b"}), "secret_name"),
        ("scale", json!({"min_replicas": 11}), "min_replicas"),
        (
            "scale",
            json!({"metric": "cpu", "min_replicas": 0}),
            "min_replicas",
        ),
        (
            "scale",
            json!({"prometheus_address": "prometheus:9090"}),
            "prometheus_address",
        ),
    ];
    for (tool, a, field) in cases {
        let e = match tool {
            "gateway" => generate::gateway::generate(&args(a.clone()), &snap).map(|_| ()),
            "rate" => generate::policy::add_rate_limit(&args(a.clone()), &snap).map(|_| ()),
            "breaker" => generate::policy::add_circuit_breaker(&args(a.clone()), &snap).map(|_| ()),
            "tls" => generate::tls::generate(&args(a.clone()), &snap).map(|_| ()),
            _ => generate::scaling::generate(&args(a.clone()), &snap).map(|_| ()),
        }
        .expect_err(&format!("{tool} {a} should fail"));
        let msg = e.to_string();
        let named = msg.starts_with(&format!("{field}: ")) || msg.contains(&format!(") {field}: "));
        assert!(named, "{tool} {a}: {msg}");
        assert!(msg.contains("expected"), "{msg}");
    }
    // type errors and unknown fields, from the argument decoder
    let e = parse_args::<ScaledObjectParams>(
        json!({"max_replicas": "ten"}).as_object().cloned().unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.field, "max_replicas");
    let e = parse_args::<GatewayParams>(
        json!({"routes": [{"rules": [{"backends": [{"service": "a", "port": 70000}]}]}]})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.field, "routes[0].rules[0].backends[0].port");
    let e = parse_args::<RateLimitParams>(json!({"requests": 5}).as_object().cloned().unwrap())
        .unwrap_err();
    assert_eq!(e.field, "requests");
    assert!(e.expected.contains("requests_per_user"));
}

/// add_rate_limit says global limits need Redis only when the stack on disk does not
/// configure Envoy Gateway's rate-limit backend (its ConfigMap envoy-gateway-config).
#[test]
fn rate_limit_redis_note_only_when_not_configured() {
    let redis_note = |p: &Plan| {
        p.notes
            .iter()
            .any(|n| n.contains("need Envoy Gateway's rate-limit service"))
    };
    let mut snap = Snapshot::default();
    let p = generate::gateway::generate(&args(json!({})), &snap).unwrap();
    absorb(&mut snap, &p);
    let p = generate::policy::add_rate_limit(&args(json!({})), &snap).unwrap();
    assert!(redis_note(&p));
    for (eg, said) in [
        (
            "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyGateway\nrateLimit:\n  backend:\n    type: Redis\n    redis: {url: redis:6379}\n",
            false,
        ),
        // a misspelled key is dropped by Envoy Gateway: not configured
        (
            "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyGateway\nratelimit:\n  backend:\n    type: Redis\n    redis: {url: redis:6379}\n",
            true,
        ),
    ] {
        let mut with = snap.clone();
        with.manifests.push(StackManifest {
            file: "configmap-envoy-gateway-config.yaml".into(),
            value: json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "envoy-gateway-config", "namespace": "envoy-gateway-system"},
                          "data": {"envoy-gateway.yaml": eg}}),
        });
        let p = generate::policy::add_rate_limit(&args(json!({})), &with).unwrap();
        assert_eq!(redis_note(&p), said, "{eg}");
    }
}
