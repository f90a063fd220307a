//! Typed tool parameters: what an assistant may send. Their doc comments become the tools'
//! input-schema descriptions, written for the model that reads them: short, with the default
//! and the accepted form.
//!
//! An argument that is absent is `None`: resolution ([`crate::intent::resolve`]) then takes the
//! value the stack already has (a later call changes only what it names), or the default from
//! [`crate::intent::defaults`], and the result says which defaults it applied. The Task API
//! example's names are used only in the example's namespace (`task-api`), so `{}` still builds
//! the example and a call for another service never gets its names.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::intent::{
    AllowedRoutes, AnonymousMode, IssuerKind, ListenerMode, LlmSchema, PathType, RateUnit,
    ScaleMetric, TargetKind,
};

/// Arguments of generate_gateway.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayParams {
    /// Default: the stack's.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub create_namespace: bool,
    /// Default: <namespace>-gateway.
    #[serde(default)]
    pub gateway: Option<String>,
    /// Default eg.
    #[serde(default)]
    pub gateway_class: Option<String>,
    #[serde(default)]
    pub hostnames: Option<Vec<String>>,
    /// Default both; https_redirect: 301.
    #[serde(default)]
    pub listeners: Option<ListenerMode>,
    /// Default 80.
    #[serde(default)]
    pub http_port: Option<u16>,
    /// Old form of listeners.
    #[serde(default)]
    pub https: Option<bool>,
    /// Default 443.
    #[serde(default)]
    pub https_port: Option<u16>,
    /// Default <namespace>-tls.
    #[serde(default)]
    pub tls_secret: Option<String>,
    /// Default Same.
    #[serde(default)]
    pub allowed_routes: Option<AllowedRoutes>,
    /// HTTPRoutes to write; others are kept.
    #[serde(default)]
    pub routes: Option<Vec<RouteParams>>,
}

/// One HTTPRoute.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteParams {
    #[serde(default)]
    pub name: Option<String>,
    /// Only this listener (http, https).
    #[serde(default)]
    pub listener: String,
    #[serde(default)]
    pub rules: Vec<RuleParams>,
}

/// One routing rule.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleParams {
    /// Default: from the path.
    #[serde(default)]
    pub name: String,
    /// E.g. /api/v1. Default /.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Path, read as path_type says.
    #[serde(default)]
    pub path: Option<String>,
    /// prefix (default), exact or regex (RE2).
    #[serde(default)]
    pub path_type: Option<PathType>,
    /// Exact header matches.
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
    /// Backends (weights: canary).
    #[serde(default)]
    pub backends: Vec<BackendParams>,
    /// E.g. 10s.
    #[serde(default)]
    pub timeout: Option<String>,
}

/// An exact header match.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    pub name: String,
    pub value: String,
}

/// A Service backend.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendParams {
    /// Same namespace.
    pub service: String,
    /// Default 8000.
    #[serde(default)]
    pub port: Option<u16>,
    /// 0-1000000. Default 1.
    #[serde(default)]
    pub weight: Option<u32>,
}

/// Where a policy attaches. Shared by add_rate_limit and add_circuit_breaker.
/// (Flattened into both, so unknown fields are refused by `parse_args`, not by serde.)
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct PolicyTarget {
    /// Default: the stack's.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Default HTTPRoute.
    #[serde(default)]
    pub target_kind: Option<TargetKind>,
    /// In the stack unless external. Default: the only route.
    #[serde(default)]
    pub target_name: Option<String>,
    /// New policy. Default <target_name>-traffic.
    #[serde(default)]
    pub policy_name: Option<String>,
    /// Target outside this stack.
    #[serde(default)]
    pub external: bool,
}

/// Arguments of add_rate_limit. Absent fields keep the policy's current value.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RateLimitParams {
    #[serde(flatten)]
    pub target: PolicyTarget,
    /// A bucket per distinct value. Default x-user-id.
    #[serde(default)]
    pub user_header: Option<String>,
    /// Per user per unit. Default 100.
    #[serde(default)]
    pub requests_per_user: Option<u32>,
    /// Limit without the header. Default 10.
    #[serde(default)]
    pub anonymous_requests: Option<u32>,
    /// Old form of anonymous: false=unlimited.
    #[serde(default)]
    pub limit_anonymous: Option<bool>,
    /// Without identity. Default limit.
    #[serde(default)]
    pub anonymous: Option<AnonymousMode>,
    /// Default Minute.
    #[serde(default)]
    pub unit: Option<RateUnit>,
    /// jwt: token issuer (iss).
    #[serde(default)]
    pub jwt_issuer: Option<String>,
    /// jwt: JWKS https URL.
    #[serde(default)]
    pub jwt_jwks_uri: Option<String>,
    /// jwt: claim for user_header. Default sub.
    #[serde(default)]
    pub jwt_claim: Option<String>,
    /// jwt: accepted audiences.
    #[serde(default)]
    pub jwt_audiences: Option<Vec<String>>,
    /// api_key: Secret of client id -> key.
    #[serde(default)]
    pub api_key_secret: Option<String>,
    /// api_key: key header. Default x-api-key.
    #[serde(default)]
    pub api_key_header: Option<String>,
}

/// Arguments of add_circuit_breaker. Limits are per Envoy replica and per backend. Only the
/// thresholds named are set (the others keep their value; unset ones are Envoy's 1024).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct CircuitBreakerParams {
    #[serde(flatten)]
    pub target: PolicyTarget,
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// Max queued requests.
    #[serde(default)]
    pub max_pending_requests: Option<u32>,
    /// Max requests in flight.
    #[serde(default)]
    pub max_parallel_requests: Option<u32>,
    /// Max retries in flight.
    #[serde(default)]
    pub max_parallel_retries: Option<u32>,
    #[serde(default)]
    pub max_requests_per_connection: Option<u32>,
}

/// How the certificate is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// cert-manager Certificate from an existing issuer (issuer_name) or a self-signed one.
    #[default]
    CertManager,
    /// Made here; cert and key files (0600) + a kustomize secretGenerator. Key never shown.
    Local,
}

/// Arguments of generate_tls.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsParams {
    /// Default: the stack's.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub create_namespace: bool,
    /// cert_manager (default) or local.
    #[serde(default)]
    pub mode: Option<TlsMode>,
    /// Default: the Gateway's.
    #[serde(default)]
    pub secret_name: Option<String>,
    /// Default: the Gateway's.
    #[serde(default)]
    pub hostnames: Option<Vec<String>>,
    /// Default Issuer.
    #[serde(default)]
    pub issuer_kind: Option<IssuerKind>,
    /// Your existing issuer (nothing created).
    #[serde(default)]
    pub issuer_name: Option<String>,
    /// Create a self-signed issuer.
    #[serde(default)]
    pub self_signed: Option<bool>,
    /// Days. Default 90.
    #[serde(default)]
    pub days: Option<u32>,
    /// local: replace an existing key.
    #[serde(default)]
    pub rotate: bool,
}

/// Whose request rate drives scaling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScaleScopeParam {
    /// Every rule of the route.
    #[default]
    Route,
    /// Only the rules whose only backend is `backend`.
    Backend,
}

/// Arguments of generate_scaledobject.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaledObjectParams {
    /// Default: the stack's.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub create_namespace: bool,
    /// Default: the deployment.
    #[serde(default)]
    pub name: Option<String>,
    /// Deployment to scale.
    #[serde(default)]
    pub deployment: Option<String>,
    /// 0: scale to zero. Default 1.
    #[serde(default)]
    pub min_replicas: Option<u32>,
    /// Default 10.
    #[serde(default)]
    pub max_replicas: Option<u32>,
    /// request_rate (Envoy metrics) or cpu.
    #[serde(default)]
    pub metric: Option<ScaleMetric>,
    /// Per replica: requests/s (50) or CPU % (70).
    #[serde(default)]
    pub threshold: Option<u32>,
    /// HTTPRoute measured.
    #[serde(default)]
    pub route: Option<String>,
    /// route (default) or backend (its own rules).
    #[serde(default)]
    pub scope: Option<ScaleScopeParam>,
    /// scope backend: the Service.
    #[serde(default)]
    pub backend: Option<String>,
    /// Route outside this stack.
    #[serde(default)]
    pub external: bool,
    #[serde(default)]
    pub prometheus_address: Option<String>,
    /// Seconds. Default 15.
    #[serde(default)]
    pub polling_interval: Option<u32>,
}

/// Arguments of validate.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateParams {
    /// YAML to check instead of the stack.
    #[serde(default)]
    pub manifests: String,
    /// Used when it exists. Default traffic-spec.md.
    #[serde(default = "d_spec_file")]
    pub spec_file: String,
    /// Spec text.
    #[serde(default)]
    pub spec: String,
}

fn d_spec_file() -> String {
    "traffic-spec.md".into()
}

/// Arguments of generate_from_spec.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FromSpecParams {
    /// Spec file in the root.
    #[serde(default = "d_spec_file")]
    pub spec_file: String,
    /// Spec text.
    #[serde(default)]
    pub spec: String,
}

/// Parse tool arguments, naming the field and the accepted form on failure. Unknown fields are
/// refused (checked against the type's own schema, which also covers flattened fields).
pub fn parse_args<T: serde::de::DeserializeOwned + JsonSchema>(
    args: serde_json::Map<String, serde_json::Value>,
) -> Result<T, crate::names::InputError> {
    let schema = schemars::schema_for!(T);
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for k in args.keys() {
            if !props.contains_key(k) {
                let mut known: Vec<&str> = props.keys().map(String::as_str).collect();
                known.sort_unstable();
                return Err(crate::names::InputError::new(
                    shown_name(k),
                    "unknown argument",
                    format!("one of: {}", known.join(", ")),
                ));
            }
        }
    }
    let v = serde_json::Value::Object(args);
    if let Some(field) = null_field(&v, String::new()) {
        return Err(crate::names::InputError::new(
            truncate(&field, 200),
            "null",
            "a value of the type in the tool's input schema, or leave the argument out",
        ));
    }
    serde_path_to_error::deserialize::<_, T>(v.clone()).map_err(|e| {
        let path = e.path().to_string();
        // serde loses the path inside flattened fields: ask the input schema which field it is
        if path == "."
            && let Some(located) = locate_with_schema(&schema, &v)
        {
            return located;
        }
        let field = if path == "." {
            "arguments".to_string()
        } else {
            truncate(&path, 200)
        };
        let msg: String = e.inner().to_string().chars().take(300).collect();
        crate::names::InputError::new(field, msg, "the type given in the tool's input schema")
    })
}

/// Arguments that took `null` for "not given" before they became optional; elsewhere a null is
/// refused rather than read as "use the default".
const NULL_MEANS_ABSENT: &[&str] = &[
    "max_parallel_retries",
    "max_requests_per_connection",
    "threshold",
];

/// The path of the first `null` in the arguments (outside [`NULL_MEANS_ABSENT`]).
fn null_field(v: &serde_json::Value, path: String) -> Option<String> {
    match v {
        serde_json::Value::Null => Some(path),
        serde_json::Value::Object(o) => o.iter().find_map(|(k, child)| {
            if path.is_empty() && NULL_MEANS_ABSENT.contains(&k.as_str()) && child.is_null() {
                return None;
            }
            let p = if path.is_empty() {
                shown_name(k)
            } else {
                format!("{path}.{}", shown_name(k))
            };
            null_field(child, p)
        }),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, child)| null_field(child, format!("{path}[{i}]"))),
        _ => None,
    }
}

/// The first schema violation of `args`, as an error naming the field (JSON pointer -> `a.b[0]`).
fn locate_with_schema(
    schema: &schemars::Schema,
    args: &serde_json::Value,
) -> Option<crate::names::InputError> {
    let validator = jsonschema::validator_for(schema.as_value()).ok()?;
    let err = validator.iter_errors(args).next()?;
    let field = crate::names::field_from_pointer(&err.instance_path().to_string());
    if field.is_empty() {
        return None;
    }
    let msg: String = err.to_string().chars().take(300).collect();
    Some(crate::names::InputError::new(
        truncate(&field, 200),
        msg,
        "the type given in the tool's input schema",
    ))
}

/// An argument name as shown in an error: quoted when empty or odd, at most 60 characters.
fn shown_name(k: &str) -> String {
    let plain = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        truncate(k, 60)
    } else {
        format!("{:?}", truncate(k, 60))
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

fn d_slow() -> String {
    "/slow".into()
}

/// Arguments of verify.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyParams {
    /// HTTP listener, e.g. 127.0.0.1:8080.
    #[serde(default)]
    pub gateway: String,
    /// HTTPS listener on loopback.
    #[serde(default)]
    pub https_gateway: String,
    /// CA file in the root or traffic/. Default: the local one.
    #[serde(default)]
    pub ca_file: String,
    /// Host and SNI.
    #[serde(default)]
    pub host: String,
    /// Path answering in >=200 ms.
    #[serde(default = "d_slow")]
    pub slow_path: String,
    /// Spec file in the root.
    #[serde(default = "d_spec_file")]
    pub spec_file: String,
    /// Spec text.
    #[serde(default)]
    pub spec: String,
}

/// Arguments of add_llm_route. Absent fields keep what the stack has.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmRouteParams {
    /// Default: the stack's.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Default: the stack's only Gateway.
    #[serde(default)]
    pub gateway: Option<String>,
    /// Default <gateway>-llm.
    #[serde(default)]
    pub name: Option<String>,
    /// Providers (replaces the list).
    #[serde(default)]
    pub backends: Option<Vec<LlmBackendParams>>,
    /// Budget per value. Default x-user-id.
    #[serde(default)]
    pub user_header: Option<String>,
    /// Tokens per user per unit; 0 removes a kind.
    #[serde(default)]
    pub token_budget: Option<TokenBudgetParams>,
    /// Default Hour.
    #[serde(default)]
    pub unit: Option<RateUnit>,
}

/// One model provider.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmBackendParams {
    pub name: String,
    /// openai: any OpenAI-compatible API.
    pub schema: LlmSchema,
    /// Host or IP.
    pub hostname: String,
    /// Default 443.
    #[serde(default)]
    pub port: Option<u16>,
    /// Default true.
    #[serde(default)]
    pub tls: Option<bool>,
    /// Secret holding the key as apiKey.
    pub secret: String,
    pub models: Vec<String>,
    /// 0 (default) first; higher: fallback.
    #[serde(default)]
    pub priority: Option<u32>,
    /// azure_openai only.
    #[serde(default)]
    pub api_version: Option<String>,
}

/// Tokens per user per unit, by kind.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBudgetParams {
    #[serde(default)]
    pub input: Option<u32>,
    #[serde(default)]
    pub output: Option<u32>,
    #[serde(default)]
    pub total: Option<u32>,
}
