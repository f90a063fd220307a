//! The Envoy Gateway rules of `src/validate/semantics/` asked of the real translator: each case
//! is a small accepted stack with one defect; validate must report the rule as an error AND
//! Envoy Gateway v1.9.0's `egctl x translate` must refuse the stack with the reason the rule
//! names (a substring of its failure message). The same stack without the defect is accepted by
//! both, and the regex spellings where Go and Rust differ are asked both ways.
//!
//! egctl: `TRAFFIC_ENGINEER_EGCTL` or `scripts/upstream.sh egctl`; without it these tests fail.

mod common;
use common::egctl::egctl;
use common::validator;

use serde_json::{Value, json};
use traffic_engineer::rehearse::accept;
use traffic_engineer::validate::{Severity, Source};

const GW: &str = "gateway.networking.k8s.io";

fn gateway(listeners: Value) -> Value {
    json!({"apiVersion": format!("{GW}/v1"), "kind": "Gateway", "metadata": {"name": "gw", "namespace": "app"},
           "spec": {"gatewayClassName": "eg", "listeners": listeners}})
}
fn std_listeners() -> Value {
    json!([{"name": "http", "protocol": "HTTP", "port": 80},
           {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "api.example.com",
            "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "api-tls"}]}}])
}
fn route(matches: Value) -> Value {
    json!({"apiVersion": format!("{GW}/v1"), "kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "app"},
           "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"matches": matches,
                    "backendRefs": [{"name": "svc", "port": 8080}]}]}})
}
fn btp(spec: Value) -> Value {
    let mut s = json!({"targetRefs": [{"group": GW, "kind": "HTTPRoute", "name": "r"}]});
    for (k, v) in spec.as_object().unwrap() {
        s[k] = v.clone();
    }
    json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy",
           "metadata": {"name": "p", "namespace": "app"}, "spec": s})
}
fn local(rules: Value) -> Value {
    btp(json!({"rateLimit": {"local": {"rules": rules}}}))
}
fn sel(s: Value, unit: &str) -> Value {
    json!({"clientSelectors": [s], "limit": {"requests": 10, "unit": unit}})
}
fn sp(spec: Value) -> Value {
    let mut s = json!({"targetRefs": [{"group": GW, "kind": "HTTPRoute", "name": "r"}]});
    for (k, v) in spec.as_object().unwrap() {
        s[k] = v.clone();
    }
    json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "SecurityPolicy",
           "metadata": {"name": "s", "namespace": "app"}, "spec": s})
}

/// The stack: the Gateway and route given, plus `extra` objects.
fn stack(gw: Value, rt: Value, extra: Vec<Value>) -> Vec<Value> {
    let mut v = vec![gw, rt];
    v.extend(extra);
    v
}

/// (validate's error rules, egctl's verdict: Ok(()) accepted, Err(failure or refusal text)).
fn ask(objects: &[Value]) -> (Vec<String>, Result<(), String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        let text = serde_json::to_string_pretty(o).unwrap();
        std::fs::write(dir.path().join(format!("o{i}.yaml")), &text).unwrap();
        sources.push(Source {
            name: format!("o{i}.yaml"),
            text,
        });
    }
    let r = validator().validate_sources(&sources);
    let errors: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{} {}", f.rule, f.path))
        .collect();
    // egctl refusing the input outright (its local validation) is a refusal too
    let verdict = match accept::translate_stack(egctl(), dir.path()) {
        Ok(a) if a.accepted() => Ok(()),
        Ok(a) => Err(a.failures_text()),
        Err(e @ accept::AcceptError::Translate { .. }) => Err(e.to_string()),
        Err(e) => panic!("egctl could not run: {e}"),
    };
    (errors, verdict)
}

#[test]
fn the_base_stack_is_clean_for_both() {
    let (errors, verdict) = ask(&stack(
        gateway(std_listeners()),
        route(json!([{"path": {"type": "PathPrefix", "value": "/"}}])),
        vec![local(json!([sel(
            json!({"headers": [{"name": "x-user", "type": "Distinct"}]}),
            "Minute"
        )]))],
    ));
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(verdict, Ok(()));
}

#[test]
#[allow(clippy::type_complexity)]
fn each_envoy_gateway_rule_is_a_translator_refusal() {
    let m = || route(json!([{"path": {"type": "PathPrefix", "value": "/"}}]));
    let g = || gateway(std_listeners());
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        (
            "ratelimit/invalid-regex",
            stack(
                g(),
                m(),
                vec![local(json!([sel(
                    json!({"headers": [{"name": "x", "type": "RegularExpression", "value": "^(a"}]}),
                    "Minute"
                )]))],
            ),
            "regex",
        ),
        (
            "ratelimit/invalid-cidr",
            stack(
                g(),
                m(),
                vec![local(json!([sel(
                    json!({"sourceCIDR": {"type": "Exact", "value": "10.0.0.256/24"}}),
                    "Minute"
                )]))],
            ),
            "cidr",
        ),
        (
            "ratelimit/empty-selector",
            stack(
                g(),
                m(),
                vec![local(json!([sel(
                    json!({"headers": [], "methods": []}),
                    "Minute"
                )]))],
            ),
            "at least one of",
        ),
        (
            "ratelimit/query-param-match",
            stack(
                g(),
                m(),
                vec![local(json!([sel(
                    json!({"queryParams": [{"name": "q", "type": "Exact"}]}),
                    "Minute"
                )]))],
            ),
            "value is required",
        ),
        (
            "ratelimit/distinct-with-value",
            stack(
                g(),
                m(),
                vec![local(json!([sel(
                    json!({"headers": [{"name": "x", "type": "Distinct", "value": "a"}]}),
                    "Minute"
                )]))],
            ),
            "missing a value",
        ),
        (
            "ratelimit/local-default-rules",
            stack(
                g(),
                m(),
                vec![local(
                    json!([{"limit": {"requests": 1, "unit": "Second"}}, {"limit": {"requests": 2, "unit": "Second"}}]),
                )],
            ),
            "more than one rule without clientselectors",
        ),
        (
            "ratelimit/local-unit-multiple",
            stack(
                g(),
                m(),
                vec![local(
                    json!([{"limit": {"requests": 1, "unit": "Minute"}}, sel(json!({"methods": [{"value": "GET"}]}), "Second")]),
                )],
            ),
            "multiple of the default",
        ),
        (
            "ratelimit/type-block-missing",
            stack(
                g(),
                m(),
                vec![btp(
                    json!({"rateLimit": {"type": "Local", "global": {"rules": [{"limit": {"requests": 1, "unit": "Second"}}]}}}),
                )],
            ),
            "local configuration empty",
        ),
        (
            "retry/backoff-zero",
            stack(
                g(),
                m(),
                vec![btp(
                    json!({"retry": {"perRetry": {"backOff": {"baseInterval": "0s"}}}}),
                )],
            ),
            "baseinterval cannot be set to 0s",
        ),
        (
            "retry/backoff-max-below-base",
            stack(
                g(),
                m(),
                vec![btp(
                    json!({"retry": {"perRetry": {"backOff": {"baseInterval": "2s", "maxInterval": "1s"}}}}),
                )],
            ),
            "less than baseinterval",
        ),
        (
            "bandwidth/below-minimum",
            stack(
                g(),
                m(),
                vec![btp(
                    json!({"bandwidthLimit": {"request": {"limit": {"value": "1000", "unit": "Second"}}}}),
                )],
            ),
            "below the minimum",
        ),
        (
            "route/invalid-regex",
            stack(
                g(),
                route(json!([{"path": {"type": "RegularExpression", "value": "/api/(v1|v2"}}])),
                vec![],
            ),
            "regex",
        ),
        (
            "route/invalid-regex",
            stack(
                g(),
                route(
                    json!([{"headers": [{"type": "RegularExpression", "name": "x", "value": "a**"}]}]),
                ),
                vec![],
            ),
            "regex",
        ),
        (
            "route/invalid-regex",
            stack(
                g(),
                route(
                    json!([{"headers": [{"type": "RegularExpression", "name": "x", "value": "a{1001}"}]}]),
                ),
                vec![],
            ),
            "regex",
        ),
        (
            "security/invalid-cidr",
            stack(
                g(),
                m(),
                vec![sp(
                    json!({"authorization": {"defaultAction": "Deny", "rules": [{"action": "Allow", "principal": {"clientCIDRs": ["10.0.0.1/33"]}}]}}),
                )],
            ),
            "cidr",
        ),
        (
            "ratelimit/distinct-with-invert",
            stack(
                g(),
                m(),
                vec![local(json!([sel(
                    json!({"headers": [{"name": "x", "type": "Distinct", "invert": true}]}),
                    "Minute"
                )]))],
            ),
            "invert is not applicable",
        ),
        (
            "ratelimit/match-without-value",
            stack(
                g(),
                m(),
                vec![local(json!([sel(
                    json!({"headers": [{"name": "x", "type": "RegularExpression"}]}),
                    "Minute"
                )]))],
            ),
            "missing a value",
        ),
        (
            "security/invalid-regex",
            stack(
                g(),
                m(),
                vec![sp(
                    json!({"authorization": {"defaultAction": "Deny", "rules": [{"action": "Allow", "principal": {"clientCIDRs": ["10.0.0.0/8"]},
                                                                                              "operation": {"path": {"type": "RegularExpression", "value": "/a(?=b)"}}}]}}),
                )],
            ),
            "regex",
        ),
        (
            "security/jwt-provider",
            stack(
                g(),
                m(),
                vec![sp(
                    json!({"jwt": {"providers": [{"name": "a", "remoteJWKS": {"uri": "https://idp.example.com/jwks"}}, {"name": "a", "remoteJWKS": {"uri": "https://idp.example.com/jwks"}}]}}),
                )],
            ),
            "unique",
        ),
        (
            "route/invalid-regex",
            stack(
                g(),
                json!({"apiVersion": format!("{GW}/v1"), "kind": "GRPCRoute", "metadata": {"name": "r", "namespace": "app"},
                           "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"matches": [{"method": {"type": "RegularExpression", "service": "pkg.Svc", "method": "Get(*"}}],
                                    "backendRefs": [{"name": "svc", "port": 8080}]}]}}),
                vec![],
            ),
            "regex",
        ),
        (
            "gateway/unsupported-protocol",
            stack(
                gateway(
                    json!([{"name": "http", "protocol": "HTTP", "port": 80}, {"name": "q", "protocol": "example.com/QUIC", "port": 9443}]),
                ),
                m(),
                vec![],
            ),
            "unsupported",
        ),
        (
            "gateway/tls-terminate-without-certificate",
            stack(
                gateway(json!([{"name": "http", "protocol": "HTTP", "port": 80},
                              {"name": "tls", "protocol": "TLS", "port": 8443, "tls": {"mode": "Terminate", "options": {"k": "v"}}}])),
                m(),
                vec![],
            ),
            "certificate refs",
        ),
        (
            "gateway/https-without-certificate",
            stack(
                gateway(
                    json!([{"name": "https", "protocol": "HTTPS", "port": 443, "tls": {"mode": "Terminate", "options": {"k": "v"}}}]),
                ),
                m(),
                vec![],
            ),
            "certificate ref",
        ),
        (
            "gateway/protocol-conflict",
            stack(
                gateway(json!([{"name": "http", "protocol": "HTTP", "port": 8443},
                              {"name": "https", "protocol": "HTTPS", "port": 8443, "tls": {"certificateRefs": [{"kind": "Secret", "name": "api-tls"}]}}])),
                m(),
                vec![],
            ),
            "compatible protocol",
        ),
        (
            "gateway/hostname-conflict",
            stack(
                gateway(
                    json!([{"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "a.example.com", "tls": {"certificateRefs": [{"kind": "Secret", "name": "api-tls"}]}},
                              {"name": "tls", "protocol": "TLS", "port": 443, "hostname": "a.example.com", "tls": {"mode": "Passthrough"}}]),
                ),
                m(),
                vec![],
            ),
            "unique hostname",
        ),
        (
            "gateway/passthrough-with-certificate",
            stack(
                gateway(json!([{"name": "http", "protocol": "HTTP", "port": 80},
                              {"name": "tls", "protocol": "TLS", "port": 8443, "tls": {"mode": "Passthrough", "certificateRefs": [{"kind": "Secret", "name": "api-tls"}]}}])),
                m(),
                vec![],
            ),
            "passthrough",
        ),
        (
            "gateway/route-kind-unsupported",
            stack(
                gateway(
                    json!([{"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"kinds": [{"kind": "HTTPRoute"}, {"kind": "TCPRoute"}]}}]),
                ),
                m(),
                vec![],
            ),
            "not supported",
        ),
    ];
    let mut failures = Vec::new();
    for (rule, objects, reason) in cases {
        let (errors, verdict) = ask(&objects);
        if !errors.iter().any(|e| e.starts_with(&format!("{rule} "))) {
            failures.push(format!(
                "{rule}: validate did not report it; errors: {errors:?}"
            ));
        }
        match verdict {
            Ok(()) => failures.push(format!("{rule}: egctl accepted the stack")),
            Err(text) if !text.to_lowercase().contains(reason) => failures.push(format!(
                "{rule}: egctl refused it, but not for {reason:?}:\n{text}"
            )),
            // egctl's input validation is the CRD's (schema + CEL): a rule refused there
            // duplicates the cel layer and does not belong in semantics
            Err(text) if text.contains("local validation error") => failures.push(format!(
                "{rule}: the CRD itself refuses it (a cel/schema finding already):\n{text}"
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Spellings Go's RE2 accepts and Rust's parser does not (or reads otherwise): no false alarm.
#[test]
fn regexes_go_accepts_are_not_reported() {
    for value in [
        r"^x\_y\@z$",
        r"\012",
        r"\Qa.b\E",
        r"\<word",
        r"^{.*}$",
        r"\p{Greek}{2}",
    ] {
        let (errors, verdict) = ask(&stack(
            gateway(std_listeners()),
            route(
                json!([{"headers": [{"type": "RegularExpression", "name": "x", "value": value}]}]),
            ),
            vec![],
        ));
        assert!(errors.is_empty(), "{value}: {errors:#?}");
        assert_eq!(verdict, Ok(()), "{value}");
    }
}
