//! Typed tool parameters. Their doc comments become the tools' input-schema descriptions, so they
//! are written for the model that reads them: short, with the default and the accepted form.
//! Defaults follow the Task API reference case, so `{}` is a valid call for every tool.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn d_namespace() -> String {
    "task-api".into()
}
fn d_gateway() -> String {
    "task-api-gateway".into()
}
fn d_class() -> String {
    "eg".into()
}
fn d_hostnames() -> Vec<String> {
    vec!["task-api.example.com".into()]
}
fn d_true() -> bool {
    true
}
fn d_secret() -> String {
    "task-api-tls".into()
}
fn d_80() -> u16 {
    80
}
fn d_443() -> u16 {
    443
}
fn d_route() -> String {
    "task-api".into()
}
fn d_prefix() -> String {
    "/".into()
}
fn d_port() -> u16 {
    8000
}
fn d_weight() -> u32 {
    1
}
fn d_header() -> String {
    "x-user-id".into()
}
fn d_100() -> u32 {
    100
}
fn d_10() -> u32 {
    10
}
fn d_50() -> u32 {
    50
}
fn d_1() -> u32 {
    1
}
fn d_deployment() -> String {
    "task-api".into()
}
fn d_prometheus() -> String {
    "http://prometheus-server.monitoring.svc.cluster.local:80".into()
}
fn d_polling() -> u32 {
    15
}
fn d_issuer() -> String {
    "selfsigned".into()
}
fn d_days() -> u32 {
    90
}

/// Which namespaces may attach routes to a listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AllowedRoutes {
    /// Only routes in the Gateway's namespace (Gateway API default).
    #[default]
    Same,
    /// Routes from any namespace.
    All,
}

/// Arguments of generate_gateway.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayParams {
    /// Namespace of the Gateway and routes. Default task-api.
    #[serde(default = "d_namespace")]
    pub namespace: String,
    /// Gateway name. Default task-api-gateway.
    #[serde(default = "d_gateway")]
    pub gateway: String,
    /// GatewayClass. Default eg (Envoy Gateway).
    #[serde(default = "d_class")]
    pub gateway_class: String,
    /// Hostnames served. Default [task-api.example.com].
    #[serde(default = "d_hostnames")]
    pub hostnames: Vec<String>,
    /// Plain HTTP listener port. Default 80.
    #[serde(default = "d_80")]
    pub http_port: u16,
    /// Add an HTTPS listener (TLS Terminate). Default true.
    #[serde(default = "d_true")]
    pub https: bool,
    /// HTTPS listener port. Default 443.
    #[serde(default = "d_443")]
    pub https_port: u16,
    /// TLS Secret for HTTPS (generate_tls). Default task-api-tls.
    #[serde(default = "d_secret")]
    pub tls_secret: String,
    /// Namespaces whose routes may attach. Default Same.
    #[serde(default)]
    pub allowed_routes: AllowedRoutes,
    /// HTTPRoutes. Default: task-api, / -> task-api:8000.
    #[serde(default = "default_routes")]
    pub routes: Vec<RouteParams>,
}

fn default_routes() -> Vec<RouteParams> {
    vec![RouteParams {
        name: d_route(),
        listener: String::new(),
        rules: vec![RuleParams::default()],
    }]
}

/// One HTTPRoute.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteParams {
    /// HTTPRoute name (DNS-1123 label).
    #[serde(default = "d_route")]
    pub name: String,
    /// Only this listener (http or https). Default: both.
    #[serde(default)]
    pub listener: String,
    /// Rules: path prefix -> backends (/api/v1 -> task-api-v1).
    #[serde(default)]
    pub rules: Vec<RuleParams>,
}

/// One routing rule.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleParams {
    /// Unique rule name. Default: from the path.
    #[serde(default)]
    pub name: String,
    /// Path prefix, e.g. /api/v1. Default /.
    #[serde(default = "d_prefix")]
    pub path_prefix: String,
    /// Required request headers (exact).
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
    /// Backends; several with weights = canary (90/10). Default task-api:8000.
    #[serde(default = "default_backends")]
    pub backends: Vec<BackendParams>,
}

impl Default for RuleParams {
    fn default() -> Self {
        RuleParams {
            name: String::new(),
            path_prefix: d_prefix(),
            headers: Vec::new(),
            backends: default_backends(),
        }
    }
}

fn default_backends() -> Vec<BackendParams> {
    vec![BackendParams {
        service: d_route(),
        port: d_port(),
        weight: 1,
    }]
}

/// An exact header match.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name.
    pub name: String,
    /// Exact value.
    pub value: String,
}

/// A Service backend.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendParams {
    /// Service name (same namespace).
    pub service: String,
    /// Service port. Default 8000.
    #[serde(default = "d_port")]
    pub port: u16,
    /// Relative weight (0-1000000). Default 1.
    #[serde(default = "d_weight")]
    pub weight: u32,
}

/// The kind a policy attaches to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TargetKind {
    #[default]
    HTTPRoute,
    Gateway,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::HTTPRoute => "HTTPRoute",
            TargetKind::Gateway => "Gateway",
        }
    }
}

/// Rate-limit time unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RateUnit {
    Second,
    #[default]
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            RateUnit::Second => "Second",
            RateUnit::Minute => "Minute",
            RateUnit::Hour => "Hour",
            RateUnit::Day => "Day",
        }
    }
}

/// Where a BackendTrafficPolicy attaches. Shared by add_rate_limit and add_circuit_breaker.
/// (Flattened into both, so unknown fields are refused by `parse_args`, not by serde.)
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct PolicyTarget {
    /// Namespace (the target's). Default task-api.
    #[serde(default = "d_namespace")]
    pub namespace: String,
    /// Target kind. Default HTTPRoute.
    #[serde(default)]
    pub target_kind: TargetKind,
    /// Target name. Default task-api.
    #[serde(default = "d_route")]
    pub target_name: String,
    /// Policy name if none targets it yet. Default <target_name>-traffic.
    #[serde(default)]
    pub policy_name: String,
}

impl Default for PolicyTarget {
    fn default() -> Self {
        PolicyTarget {
            namespace: d_namespace(),
            target_kind: TargetKind::HTTPRoute,
            target_name: d_route(),
            policy_name: String::new(),
        }
    }
}

/// Arguments of add_rate_limit.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct RateLimitParams {
    #[serde(flatten)]
    pub target: PolicyTarget,
    /// User header; one bucket per distinct value. Default x-user-id.
    #[serde(default = "d_header")]
    pub user_header: String,
    /// Requests per unit for each user. Default 100.
    #[serde(default = "d_100")]
    pub requests_per_user: u32,
    /// Per unit for requests without the header (shared). Default 10.
    #[serde(default = "d_10")]
    pub anonymous_requests: u32,
    /// false: requests without the header are unlimited. Default true.
    #[serde(default = "d_true")]
    pub limit_anonymous: bool,
    /// Time unit. Default Minute.
    #[serde(default)]
    pub unit: RateUnit,
}

/// Arguments of add_circuit_breaker. Limits are per Envoy replica and per backend.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct CircuitBreakerParams {
    #[serde(flatten)]
    pub target: PolicyTarget,
    /// Max connections to the backend. Default 50.
    #[serde(default = "d_50")]
    pub max_connections: u32,
    /// Max requests queued for a connection. Default 50.
    #[serde(default = "d_50")]
    pub max_pending_requests: u32,
    /// Max requests in flight. Default 50.
    #[serde(default = "d_50")]
    pub max_parallel_requests: u32,
    /// Max retries in flight. Omit for Envoy's default (1024).
    #[serde(default)]
    #[schemars(with = "u32")]
    pub max_parallel_retries: Option<u32>,
    /// Max requests per connection. Omit for unlimited.
    #[serde(default)]
    #[schemars(with = "u32")]
    pub max_requests_per_connection: Option<u32>,
}

/// How the certificate is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// cert-manager self-signed issuer + Certificate (needs cert-manager in the cluster).
    #[default]
    CertManager,
    /// Made here; cert and key files (0600) + a kustomize secretGenerator. Key never shown.
    Local,
}

/// Issuer kind for cert_manager mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum IssuerKind {
    #[default]
    Issuer,
    ClusterIssuer,
}

/// Arguments of generate_tls.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsParams {
    /// Namespace (the Gateway's). Default task-api.
    #[serde(default = "d_namespace")]
    pub namespace: String,
    /// cert_manager (Issuer + Certificate) or local (made here; key file 0600; kustomize secretGenerator).
    #[serde(default)]
    pub mode: TlsMode,
    /// Secret the HTTPS listener references. Default task-api-tls.
    #[serde(default = "d_secret")]
    pub secret_name: String,
    /// DNS names in the certificate. Default [task-api.example.com].
    #[serde(default = "d_hostnames")]
    pub hostnames: Vec<String>,
    /// cert_manager: Issuer (default) or ClusterIssuer.
    #[serde(default)]
    pub issuer_kind: IssuerKind,
    /// Issuer name prefix (kind appended). Default selfsigned.
    #[serde(default = "d_issuer")]
    pub issuer_name: String,
    /// Validity in days. Default 90.
    #[serde(default = "d_days")]
    pub days: u32,
    /// local: replace an existing key.
    #[serde(default)]
    pub rotate: bool,
}

/// What drives scaling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMetric {
    /// Route request rate from Envoy Gateway metrics in Prometheus.
    #[default]
    RequestRate,
    /// CPU utilization (needs container CPU requests).
    Cpu,
}

/// Arguments of generate_scaledobject.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaledObjectParams {
    /// Namespace. Default task-api.
    #[serde(default = "d_namespace")]
    pub namespace: String,
    /// ScaledObject name. Default task-api.
    #[serde(default = "d_deployment")]
    pub name: String,
    /// Deployment to scale. Default task-api.
    #[serde(default = "d_deployment")]
    pub deployment: String,
    /// Minimum replicas; 0 allows scale to zero.
    #[serde(default = "d_1")]
    pub min_replicas: u32,
    /// Maximum replicas. Default 10.
    #[serde(default = "d_10")]
    pub max_replicas: u32,
    /// request_rate (route requests/s from Envoy metrics) or cpu.
    #[serde(default)]
    pub metric: ScaleMetric,
    /// Per replica: requests/s (default 50) or CPU % (default 70).
    #[serde(default)]
    #[schemars(with = "u32")]
    pub threshold: Option<u32>,
    /// HTTPRoute whose request rate is measured. Default task-api.
    #[serde(default = "d_route")]
    pub route: String,
    /// Prometheus URL.
    #[serde(default = "d_prometheus")]
    pub prometheus_address: String,
    /// Seconds between metric checks. Default 15.
    #[serde(default = "d_polling")]
    pub polling_interval: u32,
}

/// Arguments of validate.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateParams {
    /// YAML to check instead of the stack (multi-document). Default: the whole stack.
    #[serde(default)]
    pub manifests: String,
    /// Spec file in the root for the compliance table; used when it exists. Default traffic-spec.md.
    #[serde(default = "d_spec_file")]
    pub spec_file: String,
    /// Spec text to use instead of spec_file.
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
    /// Spec file in the root (traffic-spec.md with a ```yaml traffic-spec block).
    #[serde(default = "d_spec_file")]
    pub spec_file: String,
    /// Spec text to use instead of spec_file.
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

/// The first schema violation of `args`, as an error naming the field (JSON pointer -> `a.b[0]`).
fn locate_with_schema(
    schema: &schemars::Schema,
    args: &serde_json::Value,
) -> Option<crate::names::InputError> {
    let validator = jsonschema::validator_for(schema.as_value()).ok()?;
    let err = validator.iter_errors(args).next()?;
    let mut field = String::new();
    for seg in err.instance_path().to_string().split('/').skip(1) {
        if seg.parse::<usize>().is_ok() {
            field.push_str(&format!("[{seg}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&seg.replace("~1", "/").replace("~0", "~"));
        }
    }
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
    /// HTTP listener on loopback, e.g. http://127.0.0.1:8080.
    #[serde(default)]
    pub gateway: String,
    /// HTTPS listener, e.g. https://127.0.0.1:8443.
    #[serde(default)]
    pub https_gateway: String,
    /// CA for HTTPS: .crt/.pem in the root or traffic/<secret>.crt. Default: the local certificate.
    #[serde(default)]
    pub ca_file: String,
    /// Host and SNI. Default: the spec's first hostname.
    #[serde(default)]
    pub host: String,
    /// Path answering in >=200 ms (circuit-breaker check).
    #[serde(default = "d_slow")]
    pub slow_path: String,
    /// Spec file in the root.
    #[serde(default = "d_spec_file")]
    pub spec_file: String,
    /// Spec text to use instead of spec_file.
    #[serde(default)]
    pub spec: String,
}
