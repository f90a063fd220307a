//! The ONE typed model of the traffic intent: what the user asked for, section by section.
//!
//! ```text
//! tool arguments ──resolve (against the stack)──┐
//!                                               ├─> Intent sections ──generate──> Plan ──workspace──> traffic/
//! traffic-spec.md ──spec::Spec::intent()────────┘          │
//!                                                          └──> compliance (field by field) and verify
//! ```
//!
//! Every section is complete and resolved: names are final, defaults applied (from
//! [`defaults`] only), references checked. A generator renders a section; compliance checks
//! each of its fields against the stack ([`observe`] reads the stack back into the same shape);
//! verify derives its live checks from it.

pub mod defaults;
pub mod observe;
pub mod resolve;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::names::{InputError, InputErrors};

/// A namespace, and whether the stack creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceIntent {
    pub name: String,
    /// Emit a Namespace object. Off by default: the namespace usually exists (it holds the
    /// workloads), and `kubectl delete -k traffic/` would delete everything in it.
    pub create: bool,
}

/// Which listeners a Gateway has and how plain HTTP is treated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListenerMode {
    /// HTTP and HTTPS listeners; routes attach to both.
    #[default]
    Both,
    /// Only an HTTP listener.
    Http,
    /// Only an HTTPS listener.
    Https,
    /// HTTP and HTTPS listeners; routes attach to HTTPS only and HTTP answers 301 to HTTPS.
    HttpsRedirect,
}

impl ListenerMode {
    pub fn has_http(self) -> bool {
        !matches!(self, ListenerMode::Https)
    }
    pub fn has_https(self) -> bool {
        !matches!(self, ListenerMode::Http)
    }
    /// Listeners an application route attaches to when it names none.
    pub fn app_listeners(self) -> &'static [&'static str] {
        match self {
            ListenerMode::Both => &["http", "https"],
            ListenerMode::Http => &["http"],
            ListenerMode::Https | ListenerMode::HttpsRedirect => &["https"],
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerMode::Both => "both",
            ListenerMode::Http => "http",
            ListenerMode::Https => "https",
            ListenerMode::HttpsRedirect => "https_redirect",
        }
    }
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

/// How a rule matches the request path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathType {
    /// Path prefix, by whole segments (/api matches /api/x, not /apix).
    #[default]
    Prefix,
    /// The exact path.
    Exact,
    /// An RE2 regular expression (Envoy Gateway's RegularExpression match).
    Regex,
}

impl PathType {
    pub fn gateway_api(self) -> &'static str {
        match self {
            PathType::Prefix => "PathPrefix",
            PathType::Exact => "Exact",
            PathType::Regex => "RegularExpression",
        }
    }
    pub fn from_gateway_api(s: &str) -> Option<PathType> {
        match s {
            "" | "PathPrefix" => Some(PathType::Prefix),
            "Exact" => Some(PathType::Exact),
            "RegularExpression" => Some(PathType::Regex),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PathMatch {
    pub kind: PathType,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct HeaderIntent {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendIntent {
    pub service: String,
    pub port: u16,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleIntent {
    pub name: String,
    pub path: PathMatch,
    pub headers: Vec<HeaderIntent>,
    pub backends: Vec<BackendIntent>,
    /// Gateway API duration (`10s`, `500ms`) for the whole request; None: no timeout set.
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteIntent {
    pub name: String,
    /// The listeners (section names) the route attaches to, explicit.
    pub listeners: Vec<String>,
    pub rules: Vec<RuleIntent>,
}

/// A Gateway and the HTTPRoutes attached to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayIntent {
    pub namespace: NamespaceIntent,
    pub name: String,
    pub class: String,
    pub hostnames: Vec<String>,
    pub mode: ListenerMode,
    pub http_port: u16,
    pub https_port: u16,
    pub tls_secret: String,
    pub allowed_routes: AllowedRoutes,
    pub routes: Vec<RouteIntent>,
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

/// What a policy attaches to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetIntent {
    pub namespace: String,
    pub kind: TargetKind,
    pub name: String,
    /// Name of the policy to create when the target has none yet.
    pub policy_name: Option<String>,
    /// The target lives outside the stack (declared by the caller).
    pub external: bool,
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
    pub fn parse(s: &str) -> Option<RateUnit> {
        match s {
            "Second" => Some(RateUnit::Second),
            "Minute" => Some(RateUnit::Minute),
            "Hour" => Some(RateUnit::Hour),
            "Day" => Some(RateUnit::Day),
            _ => None,
        }
    }
}

/// What happens to requests that carry no client identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnonymousMode {
    /// One shared, lower limit for requests without the identity header.
    #[default]
    Limit,
    /// No limit for them (not recommended).
    Unlimited,
    /// Refused (403). Cannot be expressed without authentication: Envoy Gateway's
    /// authorization matches header values, not a header's presence; use jwt or api_key.
    Deny,
    /// Clients must present a JWT (401 without); its claim becomes the rate-limit identity.
    Jwt,
    /// Clients must present an API key (401 without); the key's client id becomes the identity.
    ApiKey,
}

impl AnonymousMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AnonymousMode::Limit => "limit",
            AnonymousMode::Unlimited => "unlimited",
            AnonymousMode::Deny => "deny",
            AnonymousMode::Jwt => "jwt",
            AnonymousMode::ApiKey => "api_key",
        }
    }
}

/// JWT authentication: the issuer and its keys, and the claim that identifies the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JwtIntent {
    pub issuer: String,
    pub jwks_uri: String,
    pub claim: String,
    pub audiences: Vec<String>,
}

/// API-key authentication: the Secret holding client id -> key, and the header clients use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyIntent {
    pub secret: String,
    pub header: String,
}

/// How clients without identity are treated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AnonymousAccess {
    Limit(u32),
    Unlimited,
    Jwt(JwtIntent),
    ApiKey(ApiKeyIntent),
}

impl AnonymousAccess {
    pub fn mode(&self) -> AnonymousMode {
        match self {
            AnonymousAccess::Limit(_) => AnonymousMode::Limit,
            AnonymousAccess::Unlimited => AnonymousMode::Unlimited,
            AnonymousAccess::Jwt(_) => AnonymousMode::Jwt,
            AnonymousAccess::ApiKey(_) => AnonymousMode::ApiKey,
        }
    }
    /// The shared limit for requests without identity, when there is one.
    pub fn limit(&self) -> Option<u32> {
        match self {
            AnonymousAccess::Limit(n) => Some(*n),
            _ => None,
        }
    }
    /// Clients must authenticate (the header is set by the gateway, not the client).
    pub fn authenticated(&self) -> bool {
        matches!(self, AnonymousAccess::Jwt(_) | AnonymousAccess::ApiKey(_))
    }
}

/// Per-user and anonymous rate limits on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimitIntent {
    pub target: TargetIntent,
    /// The header that identifies the user (lower case).
    pub header: String,
    pub per_user: u32,
    pub anonymous: AnonymousAccess,
    pub unit: RateUnit,
}

/// Circuit-breaker thresholds: only those given are set; Envoy's default (1024) applies to
/// the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Thresholds {
    pub max_connections: Option<u32>,
    pub max_pending_requests: Option<u32>,
    pub max_parallel_requests: Option<u32>,
    pub max_parallel_retries: Option<u32>,
    pub max_requests_per_connection: Option<u32>,
}

impl Thresholds {
    /// (field name in the policy, value) of every threshold given.
    pub fn fields(&self) -> Vec<(&'static str, u32)> {
        [
            ("maxConnections", self.max_connections),
            ("maxPendingRequests", self.max_pending_requests),
            ("maxParallelRequests", self.max_parallel_requests),
            ("maxParallelRetries", self.max_parallel_retries),
            ("maxRequestsPerConnection", self.max_requests_per_connection),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
    /// Policy field names of the thresholds left to Envoy's defaults.
    pub fn unset(&self) -> Vec<&'static str> {
        [
            ("maxConnections", self.max_connections),
            ("maxPendingRequests", self.max_pending_requests),
            ("maxParallelRequests", self.max_parallel_requests),
            ("maxParallelRetries", self.max_parallel_retries),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect()
    }
    /// Concurrent requests served before the breaker queues (Envoy's default for unset ones).
    pub fn effective_parallel(&self) -> u32 {
        let d = defaults::ENVOY_CIRCUIT_BREAKER_DEFAULT;
        self.max_connections
            .unwrap_or(d)
            .min(self.max_parallel_requests.unwrap_or(d))
    }
    pub fn effective_pending(&self) -> u32 {
        self.max_pending_requests
            .unwrap_or(defaults::ENVOY_CIRCUIT_BREAKER_DEFAULT)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CircuitBreakerIntent {
    pub target: TargetIntent,
    pub thresholds: Thresholds,
}

/// Issuer kind for cert-manager.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum IssuerKind {
    #[default]
    Issuer,
    ClusterIssuer,
}

impl IssuerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerKind::Issuer => "Issuer",
            IssuerKind::ClusterIssuer => "ClusterIssuer",
        }
    }
}

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TlsSource {
    /// cert-manager with an issuer that already exists (ACME, CA, Vault...): nothing created.
    ExistingIssuer { kind: IssuerKind, name: String },
    /// cert-manager with a self-signed issuer the stack creates (named after the stack).
    SelfSignedIssuer { kind: IssuerKind, name: String },
    /// Made here: certificate and 0600 key files, a kustomize secretGenerator.
    Local { rotate: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsIntent {
    pub namespace: NamespaceIntent,
    pub secret: String,
    pub hostnames: Vec<String>,
    pub days: u32,
    pub source: TlsSource,
}

/// What drives scaling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMetric {
    /// Request rate from Envoy Gateway metrics in Prometheus.
    #[default]
    RequestRate,
    /// CPU utilization (needs container CPU requests).
    Cpu,
}

/// Whose request rate drives scaling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ScaleScope {
    /// Every rule of the route.
    Route,
    /// Only the route's rules whose only backend is this Service (Envoy Gateway makes one
    /// cluster per rule, so a rule split between backends cannot be attributed to one).
    Backend(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoscalingIntent {
    pub namespace: NamespaceIntent,
    pub name: String,
    pub deployment: String,
    pub min: u32,
    pub max: u32,
    pub metric: ScaleMetric,
    pub threshold: u32,
    pub route: String,
    pub scope: ScaleScope,
    pub prometheus_address: String,
    pub polling_interval: u32,
}

/// The API a model provider speaks (AIServiceBackend `spec.schema.name`, Envoy AI Gateway
/// v1.1.0 `api/v1beta1/shared_types.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LlmSchema {
    /// OpenAI or any OpenAI-compatible server (vLLM, Ollama, ...): schema OpenAI, key as a
    /// bearer token (BackendSecurityPolicy type APIKey).
    Openai,
    /// Azure OpenAI: schema AzureOpenAI with its API version, key in the `api-key` header
    /// (BackendSecurityPolicy type AzureAPIKey).
    AzureOpenai,
}

impl LlmSchema {
    /// The AIServiceBackend schema name.
    pub fn schema_name(self) -> &'static str {
        match self {
            LlmSchema::Openai => "OpenAI",
            LlmSchema::AzureOpenai => "AzureOpenAI",
        }
    }
    /// The BackendSecurityPolicy type and the field holding its secretRef.
    pub fn security_type(self) -> (&'static str, &'static str) {
        match self {
            LlmSchema::Openai => ("APIKey", "apiKey"),
            LlmSchema::AzureOpenai => ("AzureAPIKey", "azureAPIKey"),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            LlmSchema::Openai => "openai",
            LlmSchema::AzureOpenai => "azure_openai",
        }
    }
    pub fn from_schema_name(s: &str) -> Option<LlmSchema> {
        match s {
            "OpenAI" => Some(LlmSchema::Openai),
            "AzureOpenAI" => Some(LlmSchema::AzureOpenai),
            _ => None,
        }
    }
}

/// One model provider: an AIServiceBackend, its Envoy Gateway Backend and the
/// BackendSecurityPolicy that reads its key from a Secret (named here, never read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LlmBackendIntent {
    pub name: String,
    pub schema: LlmSchema,
    /// The provider's host name (or an IP address).
    pub hostname: String,
    pub port: u16,
    /// TLS to the provider (system CA bundle, SNI = hostname).
    pub tls: bool,
    /// The Secret (in the route's namespace) whose `apiKey` entry holds the provider key.
    pub secret: String,
    /// Model names (the `x-ai-eg-model` header) this backend serves.
    pub models: Vec<String>,
    /// 0 = primary; higher numbers are fallbacks, tried when the lower ones fail.
    pub priority: u32,
    /// AzureOpenAI: the API version (`schema.version`).
    pub api_version: Option<String>,
}

/// Which token count a budget consumes (an `llmRequestCosts` entry of the route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Input,
    Output,
    Total,
}

impl TokenKind {
    pub const ALL: [TokenKind; 3] = [TokenKind::Input, TokenKind::Output, TokenKind::Total];
    /// The llmRequestCosts type.
    pub fn cost_type(self) -> &'static str {
        match self {
            TokenKind::Input => "InputToken",
            TokenKind::Output => "OutputToken",
            TokenKind::Total => "TotalToken",
        }
    }
    /// The dynamic-metadata key the route stores the count under, and the rate limit reads.
    pub fn metadata_key(self) -> &'static str {
        match self {
            TokenKind::Input => "llm_input_token",
            TokenKind::Output => "llm_output_token",
            TokenKind::Total => "llm_total_token",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Input => "input",
            TokenKind::Output => "output",
            TokenKind::Total => "total",
        }
    }
    pub fn from_metadata_key(k: &str) -> Option<TokenKind> {
        TokenKind::ALL.into_iter().find(|t| t.metadata_key() == k)
    }
}

/// Tokens per user per unit, by kind; each kind given is its own bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TokenBudget {
    pub input: Option<u32>,
    pub output: Option<u32>,
    pub total: Option<u32>,
}

impl TokenBudget {
    pub fn get(&self, k: TokenKind) -> Option<u32> {
        match k {
            TokenKind::Input => self.input,
            TokenKind::Output => self.output,
            TokenKind::Total => self.total,
        }
    }
    pub fn set(&mut self, k: TokenKind, v: Option<u32>) {
        match k {
            TokenKind::Input => self.input = v,
            TokenKind::Output => self.output = v,
            TokenKind::Total => self.total = v,
        }
    }
    /// (kind, tokens) of every bucket.
    pub fn buckets(&self) -> Vec<(TokenKind, u32)> {
        TokenKind::ALL
            .into_iter()
            .filter_map(|k| self.get(k).map(|v| (k, v)))
            .collect()
    }
    pub fn is_empty(&self) -> bool {
        self.buckets().is_empty()
    }
}

/// An LLM route: an AIGatewayRoute on a Gateway of the stack routing on the model name, its
/// provider backends, and the per-user token budget in the one BackendTrafficPolicy of the
/// HTTPRoute the AI Gateway controller generates for it (same name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LlmRouteIntent {
    pub namespace: String,
    pub gateway: String,
    pub name: String,
    pub backends: Vec<LlmBackendIntent>,
    /// The header that identifies the user (lower case).
    pub user_header: String,
    pub budget: TokenBudget,
    pub unit: RateUnit,
}

impl LlmRouteIntent {
    /// Models in first-seen order, each with its backends by priority.
    pub fn models(&self) -> Vec<(String, Vec<&LlmBackendIntent>)> {
        let mut out: Vec<(String, Vec<&LlmBackendIntent>)> = Vec::new();
        for b in &self.backends {
            for m in &b.models {
                match out.iter_mut().find(|(n, _)| n == m) {
                    Some((_, v)) => v.push(b),
                    None => out.push((m.clone(), vec![b])),
                }
            }
        }
        for (_, v) in &mut out {
            v.sort_by_key(|b| b.priority);
        }
        out
    }
    /// Some model has a fallback (backends at more than one priority).
    pub fn has_fallback(&self) -> bool {
        self.models().iter().any(|(_, bs)| {
            bs.first()
                .zip(bs.last())
                .is_some_and(|(a, z)| a.priority != z.priority)
        })
    }
}

/// The whole intent of a spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Intent {
    pub gateway: GatewayIntent,
    pub rate_limit: Option<RateLimitIntent>,
    pub circuit_breaker: Option<CircuitBreakerIntent>,
    pub tls: Option<TlsIntent>,
    pub autoscaling: Option<AutoscalingIntent>,
    pub llm_route: Option<LlmRouteIntent>,
}

impl Intent {
    /// The route the policies (and request-rate scaling) attach to.
    pub fn policy_route(&self) -> Option<&str> {
        self.rate_limit
            .as_ref()
            .map(|r| r.target.name.as_str())
            .or_else(|| {
                self.circuit_breaker
                    .as_ref()
                    .map(|c| c.target.name.as_str())
            })
            .or_else(|| self.gateway.routes.first().map(|r| r.name.as_str()))
    }
}
