//! Typed views of the objects the tools own, read back from the stack (hand edits included),
//! and what they realise of the intent. Used twice: by resolution, so that a later call keeps
//! every value it does not name, and by compliance, which compares each intent field with
//! what the stack holds.
//!
//! The views are serde structs with every field optional: an object a person edited still
//! reads, and only the fields the tools own are looked at. (The kube ecosystem's typed
//! structs — k8s-openapi, gateway-api — would do for reading, but they are heavy to compile
//! and would drop unknown fields on a round trip; the stack is only ever edited by merging
//! the owned section into the object as it is on disk.)

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{PathType, RateUnit, Thresholds};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Meta {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Object<S> {
    pub kind: String,
    pub metadata: Meta,
    pub spec: S,
}

/// Read an object through a typed view; `None` when it does not fit the view (a hand edit
/// that changed a type): callers treat it as unreadable, never as empty.
pub fn view<S: DeserializeOwned + Default>(v: &Value) -> Option<Object<S>> {
    serde_json::from_value(v.clone()).ok()
}

// ---- Gateway ----

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GatewaySpec {
    pub gateway_class_name: String,
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Listener {
    pub name: String,
    pub protocol: String,
    pub port: u16,
    pub hostname: Option<String>,
    pub tls: Option<ListenerTls>,
    pub allowed_routes: Option<AllowedRoutesView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ListenerTls {
    pub mode: Option<String>,
    pub certificate_refs: Vec<NameRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AllowedRoutesView {
    pub namespaces: Option<FromView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FromView {
    pub from: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NameRef {
    pub name: String,
    pub kind: Option<String>,
    pub namespace: Option<String>,
}

pub type Gateway = Object<GatewaySpec>;

impl Gateway {
    pub fn listener(&self, protocol: &str) -> Option<&Listener> {
        self.spec.listeners.iter().find(|l| l.protocol == protocol)
    }
    pub fn tls_secret(&self) -> Option<&str> {
        self.listener("HTTPS")
            .and_then(|l| l.tls.as_ref())
            .and_then(|t| t.certificate_refs.first())
            .map(|r| r.name.as_str())
    }
    pub fn hostnames(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in &self.spec.listeners {
            if let Some(h) = &l.hostname
                && !out.contains(h)
            {
                out.push(h.clone());
            }
        }
        out
    }
}

/// The hostnames a Gateway serves: its listeners' (one hostname), else those of the routes
/// attached to it (several hostnames leave the listeners open and name them on the routes).
pub fn served_hostnames<'a>(
    gw: &Gateway,
    routes: impl IntoIterator<Item = &'a Route>,
) -> Vec<String> {
    let mut out = gw.hostnames();
    if out.is_empty() {
        for r in routes {
            if r.attaches_to(&gw.metadata.namespace, &gw.metadata.name) {
                for h in &r.spec.hostnames {
                    if !out.contains(h) {
                        out.push(h.clone());
                    }
                }
            }
        }
    }
    out
}

// ---- HTTPRoute ----

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RouteSpec {
    pub parent_refs: Vec<ParentRef>,
    pub hostnames: Vec<String>,
    pub rules: Vec<RouteRule>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ParentRef {
    pub kind: Option<String>,
    pub name: String,
    pub namespace: Option<String>,
    pub section_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RouteRule {
    pub name: Option<String>,
    pub matches: Vec<RouteMatch>,
    pub backend_refs: Vec<BackendRef>,
    pub filters: Vec<Value>,
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Timeouts {
    pub request: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RouteMatch {
    pub path: Option<PathView>,
    pub headers: Vec<HeaderView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PathView {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HeaderView {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BackendRef {
    pub kind: Option<String>,
    pub name: String,
    pub port: Option<u32>,
    pub weight: Option<u32>,
}

pub type Route = Object<RouteSpec>;

impl RouteRule {
    /// (kind, value) of each path match; a rule without matches matches every path (prefix /).
    pub fn paths(&self) -> Vec<(PathType, String)> {
        if self.matches.is_empty() {
            return vec![(PathType::Prefix, "/".into())];
        }
        self.matches
            .iter()
            .filter_map(|m| {
                let p = m.path.clone().unwrap_or_default();
                Some((
                    PathType::from_gateway_api(p.kind.as_deref().unwrap_or(""))?,
                    p.value.unwrap_or_else(|| "/".into()),
                ))
            })
            .collect()
    }
    /// Service backends with their effective weights (Gateway API default 1).
    pub fn services(&self) -> Vec<(String, u32)> {
        self.backend_refs
            .iter()
            .filter(|b| b.kind.as_deref().unwrap_or("Service") == "Service")
            .map(|b| (b.name.clone(), b.weight.unwrap_or(1)))
            .collect()
    }
    /// The RequestRedirect filter's scheme and status, when the rule redirects.
    pub fn redirect(&self) -> Option<(String, u64)> {
        self.filters.iter().find_map(|f| {
            (f["type"] == "RequestRedirect").then(|| {
                (
                    f["requestRedirect"]["scheme"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    f["requestRedirect"]["statusCode"].as_u64().unwrap_or(302),
                )
            })
        })
    }
}

impl Route {
    /// Does the route attach to this Gateway (same namespace unless the ref says otherwise)?
    pub fn attaches_to(&self, gateway_ns: &str, gateway: &str) -> bool {
        self.parents_of(gateway_ns, gateway).next().is_some()
    }
    pub fn parents_of<'a>(
        &'a self,
        gateway_ns: &'a str,
        gateway: &'a str,
    ) -> impl Iterator<Item = &'a ParentRef> + 'a {
        self.spec.parent_refs.iter().filter(move |p| {
            p.kind.as_deref().unwrap_or("Gateway") == "Gateway"
                && p.name == gateway
                && p.namespace.as_deref().unwrap_or(&self.metadata.namespace) == gateway_ns
        })
    }
    /// The listener names the route attaches to on that Gateway; `None` in the list is "every
    /// listener" (a parentRef without sectionName).
    pub fn sections(&self, gateway_ns: &str, gateway: &str) -> Vec<Option<String>> {
        self.parents_of(gateway_ns, gateway)
            .map(|p| p.section_name.clone())
            .collect()
    }
}

// ---- BackendTrafficPolicy / SecurityPolicy ----

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TargetRef {
    pub kind: String,
    pub name: String,
    pub section_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PolicyTargets {
    pub target_refs: Vec<TargetRef>,
    pub target_ref: Option<TargetRef>,
}

impl PolicyTargets {
    /// Does the policy target the whole object (no sectionName)?
    pub fn targets(&self, kind: &str, name: &str) -> bool {
        self.target_refs
            .iter()
            .chain(self.target_ref.iter())
            .any(|r| r.kind == kind && r.name == name && r.section_name.is_none())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BtpSpec {
    #[serde(flatten)]
    pub targets: PolicyTargets,
    pub rate_limit: Option<RateLimitView>,
    pub circuit_breaker: Option<CircuitBreakerView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RateLimitView {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub global: Option<GlobalView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GlobalView {
    pub rules: Vec<RateLimitRule>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RateLimitRule {
    pub client_selectors: Vec<Selector>,
    pub limit: Limit,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Selector {
    pub headers: Vec<HeaderSelector>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HeaderSelector {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub value: Option<String>,
    pub invert: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Limit {
    pub requests: u64,
    pub unit: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CircuitBreakerView {
    pub max_connections: Option<u32>,
    pub max_pending_requests: Option<u32>,
    pub max_parallel_requests: Option<u32>,
    pub max_parallel_retries: Option<u32>,
    pub max_requests_per_connection: Option<u32>,
}

impl CircuitBreakerView {
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            max_connections: self.max_connections,
            max_pending_requests: self.max_pending_requests,
            max_parallel_requests: self.max_parallel_requests,
            max_parallel_retries: self.max_parallel_retries,
            max_requests_per_connection: self.max_requests_per_connection,
        }
    }
}

pub type Btp = Object<BtpSpec>;

/// The regular expressions that mean "any value", so that an inverted match on them means
/// "the header is absent". One list for resolution, compliance and validate's readers.
pub const ANY_VALUE_REGEXES: &[&str] = &[".*", ".+", "^.*$", "^.+$"];

/// The limits a policy realises, as the intent names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedLimits {
    /// The per-user header (Distinct selector) and its limit.
    pub per_user: Option<(String, u64, Option<RateUnit>)>,
    /// The limit for requests without that header (inverted any-value match).
    pub anonymous: Option<(u64, Option<RateUnit>)>,
}

impl Btp {
    pub fn limits(&self) -> ObservedLimits {
        let mut out = ObservedLimits::default();
        let rules = self
            .spec
            .rate_limit
            .as_ref()
            .and_then(|r| r.global.as_ref())
            .map(|g| g.rules.as_slice())
            .unwrap_or_default();
        for r in rules {
            let headers: Vec<&HeaderSelector> = r
                .client_selectors
                .iter()
                .flat_map(|s| s.headers.iter())
                .collect();
            let unit = RateUnit::parse(&r.limit.unit);
            if let Some(h) = headers.iter().find(|h| {
                h.kind.as_deref() == Some("Distinct") && h.value.is_none() && h.invert != Some(true)
            }) && out.per_user.is_none()
            {
                out.per_user = Some((h.name.to_ascii_lowercase(), r.limit.requests, unit));
            } else if headers.iter().any(|h| {
                h.kind.as_deref() == Some("RegularExpression")
                    && h.invert == Some(true)
                    && h.value
                        .as_deref()
                        .is_some_and(|v| ANY_VALUE_REGEXES.contains(&v))
            }) && out.anonymous.is_none()
            {
                out.anonymous = Some((r.limit.requests, unit));
            }
        }
        out
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SecuritySpec {
    #[serde(flatten)]
    pub targets: PolicyTargets,
    pub jwt: Option<JwtView>,
    pub api_key_auth: Option<ApiKeyView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JwtView {
    pub providers: Vec<JwtProvider>,
    pub optional: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JwtProvider {
    pub name: String,
    pub issuer: Option<String>,
    pub audiences: Vec<String>,
    #[serde(rename = "remoteJWKS")]
    pub remote_jwks: Option<Uri>,
    pub claim_to_headers: Vec<ClaimToHeader>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Uri {
    pub uri: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClaimToHeader {
    pub claim: String,
    pub header: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ApiKeyView {
    pub credential_refs: Vec<NameRef>,
    pub extract_from: Vec<ExtractFrom>,
    #[serde(rename = "forwardClientIDHeader")]
    pub forward_client_id_header: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExtractFrom {
    pub headers: Vec<String>,
}

pub type SecurityPolicy = Object<SecuritySpec>;

// ---- cert-manager ----

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CertificateSpec {
    pub secret_name: String,
    pub dns_names: Vec<String>,
    pub duration: Option<String>,
    pub issuer_ref: NameRef,
}

pub type Certificate = Object<CertificateSpec>;

// ---- KEDA ----

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ScaledObjectSpec {
    pub scale_target_ref: NameRef,
    pub min_replica_count: Option<u32>,
    pub max_replica_count: Option<u32>,
    pub polling_interval: Option<u32>,
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Trigger {
    #[serde(rename = "type")]
    pub kind: String,
    pub metadata: BTreeMap<String, Value>,
}

impl Trigger {
    pub fn meta(&self, k: &str) -> String {
        match self.metadata.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        }
    }
}

pub type ScaledObject = Object<ScaledObjectSpec>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_table() {
        let rule = |headers: Value, n: u64| json!({"clientSelectors": [{"headers": headers}], "limit": {"requests": n, "unit": "Minute"}});
        let cases = [
            (
                json!([rule(json!([{"name": "X-User", "type": "Distinct"}]), 100)]),
                Some(("x-user".to_string(), 100, Some(RateUnit::Minute))),
                None,
            ),
            (
                json!([
                    rule(json!([{"name": "x", "type": "Distinct"}]), 5),
                    rule(
                        json!([{"name": "x", "type": "RegularExpression", "value": ".+", "invert": true}]),
                        2
                    )
                ]),
                Some(("x".to_string(), 5, Some(RateUnit::Minute))),
                Some((2, Some(RateUnit::Minute))),
            ),
            // a Distinct selector with a value is not per-user; an inverted non-wildcard is not anonymous
            (
                json!([
                    rule(json!([{"name": "x", "type": "Distinct", "value": "a"}]), 5),
                    rule(
                        json!([{"name": "x", "type": "RegularExpression", "value": "a.*", "invert": true}]),
                        2
                    )
                ]),
                None,
                None,
            ),
        ];
        for (rules, per_user, anonymous) in cases {
            let v = json!({"kind": "BackendTrafficPolicy", "metadata": {"name": "p"}, "spec": {"rateLimit": {"global": {"rules": rules}}}});
            let b: Btp = view(&v).unwrap();
            let l = b.limits();
            assert_eq!(l.per_user, per_user, "{v}");
            assert_eq!(l.anonymous, anonymous, "{v}");
        }
    }

    #[test]
    fn a_view_refuses_a_mistyped_object() {
        let v = json!({"kind": "Gateway", "metadata": {"name": "g"}, "spec": {"listeners": [{"port": "eighty"}]}});
        assert!(view::<GatewaySpec>(&v).is_none());
    }
}
