//! Layer e: what passes the schema and CEL and then is refused, left not Accepted or silently
//! ignored by the component that reads it. One rule family per file, each rule with the upstream
//! file, function and release it was read from:
//!
//! - [`envoy_gateway`]: Envoy Gateway v1.9.0's translator (`internal/gatewayapi`) on its own
//!   policies (BackendTrafficPolicy, SecurityPolicy, HTTPRouteFilter);
//! - [`gateway_api`]: the same translator on Gateway API kinds (listeners, route matches);
//! - [`keda`]: KEDA v2.20.2's admission webhook and scaler metadata parsing;
//! - [`cert_manager`]: cert-manager v1.21.1's webhook validation.
//!
//! Every rule reads one document. The common path allocates nothing: a finding's path and
//! message are built only when it fires, and regexes are parsed only where a user wrote one.

mod cert_manager;
mod envoy_gateway;
mod gateway_api;
mod go;
mod keda;

use serde_json::Value;

use super::finding::Finding;

/// The string at `key`, or "".
fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The elements of an array (none for anything else), with their index.
fn arr(v: &Value) -> impl Iterator<Item = (usize, &Value)> {
    v.as_array().into_iter().flatten().enumerate()
}

/// Whether `key` is present and not null.
fn has(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}

/// A non-empty array at `key`.
fn nonempty(v: &Value, key: &str) -> bool {
    v.get(key)
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn is_true(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool) == Some(true)
}

/// Semantic checks of one object (defaults applied where CRDs are known).
pub fn check(obj: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let api = s(obj, "apiVersion");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, s(obj, "kind")) {
        ("gateway.envoyproxy.io", "BackendTrafficPolicy") => {
            // global rate limits needing Redis: a cross-object rule (src/validate/refs/egconfig.rs)
            envoy_gateway::backend_traffic_policy(obj, &mut out)
        }
        ("gateway.envoyproxy.io", "SecurityPolicy") => {
            envoy_gateway::security_policy(obj, &mut out)
        }
        ("gateway.envoyproxy.io", "HTTPRouteFilter") => {
            envoy_gateway::http_route_filter(obj, &mut out)
        }
        ("gateway.networking.k8s.io", "Gateway") => gateway_api::gateway(obj, &mut out),
        ("gateway.networking.k8s.io", "HTTPRoute") => gateway_api::http_route(obj, &mut out),
        ("gateway.networking.k8s.io", "GRPCRoute") => gateway_api::grpc_route(obj, &mut out),
        ("keda.sh", "ScaledObject") => keda::scaled_object(obj, &mut out),
        ("cert-manager.io", "Certificate") => cert_manager::certificate(obj, &mut out),
        ("cert-manager.io", "Issuer" | "ClusterIssuer") => cert_manager::issuer(obj, &mut out),
        _ => {}
    }
    out
}

/// Table-driven test support shared by the families: run `check` and compare (rule, path) pairs.
#[cfg(test)]
type Case<'a> = (&'a str, Value, Vec<(&'a str, &'a str)>);

#[cfg(test)]
fn assert_table(cases: Vec<Case>) {
    for (case, obj, want) in cases {
        let mut got: Vec<(String, String)> =
            check(&obj).into_iter().map(|f| (f.rule, f.path)).collect();
        got.sort();
        let mut want: Vec<(String, String)> = want
            .into_iter()
            .map(|(r, p)| (r.to_string(), p.to_string()))
            .collect();
        want.sort();
        assert_eq!(got, want, "case {case}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn global_rate_limits_are_left_to_the_reference_layer() {
        // the Redis rule needs the stack's EnvoyGateway config: refs/egconfig.rs decides it
        let p = json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy",
            "spec": {"rateLimit": {"global": {"rules": [{"limit": {"requests": 1, "unit": "Second"}}]}}}});
        assert!(check(&p).is_empty(), "{:?}", check(&p));
    }
}
