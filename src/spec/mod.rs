//! The traffic spec: `traffic-spec.md`, a document a person reads, holding one fenced
//! ```` ```yaml traffic-spec ```` block with the structured intent and the success criteria.
//!
//! Parsing gives a typed [`Spec`] or errors that carry the line in the Markdown file. The spec
//! turns into the incremental tools' parameters ([`Spec::gateway_params`] and friends), so
//! `generate_from_spec` goes through exactly the same code as the tools.

pub mod compliance;
pub mod live;

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::generate::params::{
    AllowedRoutes, AnonymousMode, BackendParams, CircuitBreakerParams, GatewayParams, HeaderMatch,
    IssuerKind, ListenerMode, LlmBackendParams, LlmRouteParams, PathType, PolicyTarget,
    RateLimitParams, RateUnit, RouteParams, RuleParams, ScaleMetric, ScaleScopeParam,
    ScaledObjectParams, TargetKind, TlsMode, TlsParams, TokenBudgetParams,
};
use crate::generate::{self, GenerateError};
use crate::intent::{Intent, resolve};
use crate::names;
use crate::workspace::Snapshot;

/// The info string that marks the machine-readable block.
pub const FENCE: &str = "```yaml traffic-spec";

/// A spec error with its 1-based line in the Markdown file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema, thiserror::Error)]
#[error("line {line}: {field}: {message}")]
pub struct SpecError {
    pub line: usize,
    /// Where in the block, as a path (`routes[0].rules[1].backend`); empty for the whole block.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    pub namespace: String,
    /// Write a Namespace object (default false: the namespace is assumed to exist).
    #[serde(default)]
    pub create_namespace: bool,
    /// The Service port of the default backend.
    #[serde(default = "d_port")]
    pub port: u16,
    /// The Deployment KEDA scales. Default: the service name.
    #[serde(default)]
    pub deployment: String,
}

fn d_port() -> u16 {
    crate::intent::defaults::example::SERVICE_PORT
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    pub name: String,
    pub port: u16,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub port: u16,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpsListener {
    #[serde(default = "d_443")]
    pub port: u16,
    /// The TLS Secret. Default <namespace>-tls.
    #[serde(default)]
    pub secret: String,
}

fn d_443() -> u16 {
    crate::intent::defaults::HTTPS_PORT
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    pub name: String,
    #[serde(default = "d_class")]
    pub class: String,
    pub hostnames: Vec<String>,
    pub http: Option<Listener>,
    pub https: Option<HttpsListener>,
    /// both, http, https or https_redirect. Default: from http and https.
    #[serde(default)]
    pub listeners: Option<ListenerMode>,
    /// Same (default) or All.
    #[serde(default)]
    pub allowed_routes: Option<AllowedRoutes>,
}

fn d_class() -> String {
    crate::intent::defaults::GATEWAY_CLASS.into()
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedBackend {
    pub name: String,
    pub weight: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub name: String,
    pub path: String,
    /// prefix (default), exact or regex.
    #[serde(default)]
    pub path_type: Option<PathType>,
    /// Exact header matches.
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
    /// One backend (by its name in `backends`) ...
    #[serde(default)]
    pub backend: String,
    /// ... or several with weights (a canary split).
    #[serde(default)]
    pub split: Vec<WeightedBackend>,
    /// Request timeout (Gateway API duration, e.g. 10s).
    #[serde(default)]
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    /// http, https or empty for the listeners of the mode.
    #[serde(default)]
    pub listener: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecJwt {
    pub issuer: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub claim: Option<String>,
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecApiKey {
    pub secret: String,
    #[serde(default)]
    pub header: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    #[serde(default = "d_header")]
    pub header: String,
    pub per_user: u32,
    /// Requests per unit without the header; omit to leave them unlimited (not recommended).
    pub anonymous: Option<u32>,
    /// limit, unlimited, jwt or api_key. Default: limit with `anonymous`, else unlimited.
    #[serde(default)]
    pub anonymous_access: Option<AnonymousMode>,
    #[serde(default)]
    pub jwt: Option<SpecJwt>,
    #[serde(default)]
    pub api_key: Option<SpecApiKey>,
    #[serde(default)]
    pub unit: RateUnit,
    /// The route the policy targets. Default: the first route.
    #[serde(default)]
    pub route: String,
}

fn d_header() -> String {
    crate::intent::defaults::USER_HEADER.into()
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub mode: TlsMode,
    /// The issuer's kind: Issuer (default) or ClusterIssuer.
    #[serde(default)]
    pub issuer: IssuerKind,
    /// Your existing issuer's name (nothing is created). Omit for a self-signed one.
    #[serde(default)]
    pub issuer_name: Option<String>,
    /// Create a self-signed issuer. Default: only without issuer_name.
    #[serde(default)]
    pub self_signed: Option<bool>,
    #[serde(default = "d_days")]
    pub days: u32,
}

fn d_days() -> u32 {
    crate::intent::defaults::CERT_DAYS
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    pub max_connections: Option<u32>,
    pub max_pending_requests: Option<u32>,
    pub max_parallel_requests: Option<u32>,
    pub max_parallel_retries: Option<u32>,
    pub max_requests_per_connection: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Autoscaling {
    pub min: u32,
    pub max: u32,
    #[serde(default)]
    pub metric: ScaleMetric,
    pub threshold: Option<u32>,
    #[serde(default)]
    pub prometheus_address: String,
    /// route (default) or backend: whose request rate drives scaling.
    #[serde(default)]
    pub scope: Option<ScaleScopeParam>,
    /// scope backend: the Service. Default: the deployment.
    #[serde(default)]
    pub backend: Option<String>,
    #[serde(default)]
    pub polling_interval: Option<u32>,
}

/// An Envoy AI Gateway route for LLM traffic on the spec's gateway (the add_llm_route tool's
/// arguments under the same names).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmRoute {
    /// The AIGatewayRoute. Default <gateway>-llm.
    #[serde(default)]
    pub name: Option<String>,
    /// The model providers.
    pub backends: Vec<LlmBackendParams>,
    /// The header that identifies the user for token budgets. Default x-user-id.
    #[serde(default)]
    pub user_header: Option<String>,
    /// Tokens per user per unit, by kind (input, output, total).
    #[serde(default)]
    pub token_budget: Option<TokenBudgetParams>,
    /// Second, Minute, Hour (default) or Day.
    #[serde(default)]
    pub unit: Option<RateUnit>,
}

/// What a criterion constrains; decides how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The routes are reachable through the Gateway's listener.
    GatewayAccess,
    /// Per-user and anonymous rate limits (`rate_limits`).
    RateLimits,
    /// HTTPS with the certificate (`gateway.https`, `tls`).
    Https,
    /// KEDA replica range and metric (`autoscaling`).
    Autoscaling,
    /// Path prefixes reach their backends (`routes`).
    Routing,
    /// Backend overload protection (`circuit_breaker`).
    CircuitBreaker,
    /// Every resource the spec implies exists and validates.
    Generated,
    /// Each model reaches its provider backend; a user over the token budget gets 429
    /// (`llm_route`).
    LlmRouting,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// SC-001, SC-002, ...
    pub id: String,
    pub check: CheckKind,
    /// Optional one-line statement (the Markdown table usually carries it).
    #[serde(default)]
    pub title: String,
}

/// The structured intent.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub service: Service,
    #[serde(default)]
    pub backends: Vec<Backend>,
    pub gateway: Gateway,
    pub routes: Vec<Route>,
    pub rate_limits: Option<RateLimits>,
    pub tls: Option<Tls>,
    pub circuit_breaker: Option<CircuitBreaker>,
    pub autoscaling: Option<Autoscaling>,
    #[serde(default)]
    pub llm_route: Option<LlmRoute>,
    #[serde(default)]
    pub criteria: Vec<Criterion>,
}

/// Find the fenced block: (first line of the YAML, 1-based; the YAML text).
fn extract_block(markdown: &str) -> Result<(usize, String), SpecError> {
    let mut lines = markdown.lines().enumerate();
    let mut found = None;
    for (i, l) in lines.by_ref() {
        if l.trim_end() == FENCE {
            found = Some(i + 2);
            break;
        }
    }
    let Some(start) = found else {
        return Err(SpecError {
            line: 1,
            field: String::new(),
            message: format!(
                "no {FENCE} block found; put the structured intent in a fenced block opened with {FENCE}"
            ),
        });
    };
    let mut body = String::new();
    for (_, l) in lines.by_ref() {
        if l.trim_end() == "```" {
            if markdown.lines().filter(|l| l.trim_end() == FENCE).count() > 1 {
                return Err(SpecError {
                    line: start - 1,
                    field: String::new(),
                    message: "more than one traffic-spec block; keep one".into(),
                });
            }
            return Ok((start, body));
        }
        body.push_str(l);
        body.push('\n');
    }
    Err(SpecError {
        line: start - 1,
        field: String::new(),
        message: "the traffic-spec block is not closed with ```".into(),
    })
}

/// `routes[0].rules[1]` -> `/routes/0/rules/1`
fn path_to_pointer(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.') {
        let (name, idx) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push('/');
            out.push_str(name);
        }
        for i in idx.split(['[', ']']).filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(i);
        }
    }
    out
}

/// A parsed spec with the positions of its fields (to give contradictions a line).
#[derive(Debug)]
pub struct ParsedSpec {
    pub spec: Spec,
    doc: crate::yaml::YamlDoc,
    offset: usize,
}

impl ParsedSpec {
    fn err(&self, pointer: &str, field: &str, message: impl Into<String>) -> SpecError {
        SpecError {
            line: self.doc.position(pointer).0 + self.offset,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Parse `traffic-spec.md` text: every error found, with lines.
pub fn parse(markdown: &str) -> Result<ParsedSpec, Vec<SpecError>> {
    let (start, body) = extract_block(markdown).map_err(|e| vec![e])?;
    let offset = start - 1;
    let mut docs = crate::yaml::parse_documents(&body).map_err(|e| {
        vec![SpecError {
            line: e.line + offset,
            field: String::new(),
            message: e.message,
        }]
    })?;
    if docs.len() != 1 {
        return Err(vec![SpecError {
            line: start,
            field: String::new(),
            message: "the block must hold one YAML mapping".into(),
        }]);
    }
    let doc = docs.remove(0);
    let spec: Spec = match serde_path_to_error::deserialize(doc.value.clone()) {
        Ok(s) => s,
        Err(e) => {
            // every schema violation at once (serde stops at the first); the serde error only
            // when the schema finds nothing
            let all = schema_errors(&doc, offset);
            if !all.is_empty() {
                return Err(all);
            }
            let path = e.path().to_string();
            let pointer = path_to_pointer(&path);
            let msg = e.inner().to_string();
            // unknown fields: point at the key itself
            let pointer = match msg
                .strip_prefix("unknown field `")
                .and_then(|m| m.split('`').next())
            {
                Some(k) => format!("{pointer}/{k}"),
                None => pointer,
            };
            return Err(vec![SpecError {
                line: doc.position(&pointer).0 + offset,
                field: if path == "." { String::new() } else { path },
                message: msg,
            }]);
        }
    };
    let parsed = ParsedSpec { spec, doc, offset };
    let mut errors = parsed.contradictions();
    // then what resolution refuses (the same checks as the tools'), each at its section's line
    if let Err(e) = parsed.spec.intent() {
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        for se in parsed.intent_errors(e) {
            if !lines.contains(&se.line) || errors.is_empty() {
                errors.push(se);
            }
        }
    }
    errors.sort_by_key(|e| e.line);
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

/// Every violation of the spec's JSON schema (unknown keys, wrong types, missing fields), with
/// the line of each.
fn schema_errors(doc: &crate::yaml::YamlDoc, offset: usize) -> Vec<SpecError> {
    let mut schema = schemars::schema_for!(Spec).to_value();
    // `Option<T>` is `anyOf: [T, null]`, which reports one vague error at the parent: check
    // against T itself so every violation inside it is named
    fn unwrap_optional(v: &mut serde_json::Value) {
        if let Some(o) = v.as_object_mut() {
            let inner = o.get("anyOf").and_then(|a| a.as_array()).and_then(|alts| {
                let (null, other): (Vec<_>, Vec<_>) = alts
                    .iter()
                    .partition(|a| a.get("type") == Some(&serde_json::json!("null")));
                (null.len() == 1 && other.len() == 1).then(|| other[0].clone())
            });
            if let Some(serde_json::Value::Object(inner)) = inner {
                o.remove("anyOf");
                o.extend(inner);
            }
            for child in o.values_mut() {
                unwrap_optional(child);
            }
        } else if let Some(a) = v.as_array_mut() {
            a.iter_mut().for_each(unwrap_optional);
        }
    }
    unwrap_optional(&mut schema);
    let Ok(validator) = jsonschema::validator_for(&schema) else {
        return Vec::new();
    };
    let mut out: Vec<SpecError> = validator
        .iter_errors(&doc.value)
        .map(|err| {
            let pointer = err.instance_path().to_string();
            let field = names::field_from_pointer(&pointer);
            let message: String = err.to_string().chars().take(300).collect();
            // an unknown key: point at the key itself
            let key = message
                .split('\'')
                .nth(1)
                .filter(|_| message.contains("Additional properties"));
            let at = match key {
                Some(k) => format!("{pointer}/{k}"),
                None => pointer,
            };
            SpecError {
                line: doc.position(&at).0 + offset,
                field,
                message,
            }
        })
        .collect();
    out.sort_by_key(|e| e.line);
    out
}

impl ParsedSpec {
    /// Resolution errors as spec errors, at the line of the section they come from.
    fn intent_errors(&self, e: GenerateError) -> Vec<SpecError> {
        let GenerateError::Invalid(errs) = e else {
            return vec![self.err("", "", e.to_string())];
        };
        errs.0
            .into_iter()
            .map(|i| {
                let (section, rest) = i.field.split_once(": ").unwrap_or(("", i.field.as_str()));
                let pointer = match section {
                    "gateway/routes" if rest.starts_with("routes") => {
                        path_to_pointer(rest.split('.').next().unwrap_or(rest))
                    }
                    "gateway/routes" => "/gateway".to_string(),
                    s => format!("/{s}"),
                };
                SpecError {
                    line: self.doc.position(&pointer).0 + self.offset,
                    field: i.field.clone(),
                    message: format!("{}; expected {}", i.problem, i.expected),
                }
            })
            .collect()
    }
}

impl ParsedSpec {
    /// Contradictions and invalid names, with lines. Empty when the spec is consistent.
    fn contradictions(&self) -> Vec<SpecError> {
        let s = &self.spec;
        let mut errs = Vec::new();
        let mut name = |pointer: &str, field: &str, r: Result<(), names::InputError>| {
            if let Err(e) = r {
                errs.push(self.err(
                    pointer,
                    field,
                    format!("{}; expected {}", e.problem, e.expected),
                ));
            }
        };
        name(
            "/service/name",
            "service.name",
            names::label("service.name", &s.service.name),
        );
        name(
            "/service/namespace",
            "service.namespace",
            names::label("service.namespace", &s.service.namespace),
        );
        name(
            "/gateway/name",
            "gateway.name",
            names::object_name("gateway.name", &s.gateway.name),
        );
        if !s.service.deployment.is_empty() {
            name(
                "/service/deployment",
                "service.deployment",
                names::label("service.deployment", &s.service.deployment),
            );
        }
        if let Some(h) = s.gateway.https.as_ref().filter(|h| !h.secret.is_empty()) {
            name(
                "/gateway/https/secret",
                "gateway.https.secret",
                names::label("gateway.https.secret", &h.secret),
            );
        }
        for (i, b) in s.backends.iter().enumerate() {
            name(
                &format!("/backends/{i}/name"),
                &format!("backends[{i}].name"),
                names::label("", &b.name),
            );
        }
        for (ri, r) in s.routes.iter().enumerate() {
            name(
                &format!("/routes/{ri}/name"),
                &format!("routes[{ri}].name"),
                names::object_name("", &r.name),
            );
            for (i, rule) in r.rules.iter().enumerate() {
                // a regex is checked as one by resolution
                if rule.path_type != Some(PathType::Regex) {
                    name(
                        &format!("/routes/{ri}/rules/{i}/path"),
                        &format!("routes[{ri}].rules[{i}].path"),
                        names::path_prefix("", &rule.path),
                    );
                }
            }
        }
        for (i, h) in s.gateway.hostnames.iter().enumerate() {
            name(
                &format!("/gateway/hostnames/{i}"),
                &format!("gateway.hostnames[{i}]"),
                names::hostname("", h),
            );
        }
        if s.gateway.hostnames.is_empty() {
            errs.push(self.err(
                "/gateway/hostnames",
                "gateway.hostnames",
                "at least one hostname is needed",
            ));
        }
        if s.gateway.http.is_none() && s.gateway.https.is_none() {
            errs.push(self.err(
                "/gateway",
                "gateway",
                "the gateway needs an http or an https listener",
            ));
        }
        let declared: HashSet<&str> = s
            .backends
            .iter()
            .map(|b| b.name.as_str())
            .chain([s.service.name.as_str()])
            .collect();
        let mut route_names = HashSet::new();
        if s.routes.is_empty() {
            errs.push(self.err("/routes", "routes", "at least one route is needed"));
        }
        for (ri, r) in s.routes.iter().enumerate() {
            if !route_names.insert(r.name.as_str()) {
                errs.push(self.err(
                    &format!("/routes/{ri}/name"),
                    &format!("routes[{ri}].name"),
                    format!("route {} is declared twice", r.name),
                ));
            }
            if !matches!(r.listener.as_str(), "" | "http" | "https") {
                errs.push(self.err(
                    &format!("/routes/{ri}/listener"),
                    &format!("routes[{ri}].listener"),
                    "expected http, https or nothing",
                ));
            }
            for (i, rule) in r.rules.iter().enumerate() {
                let p = format!("/routes/{ri}/rules/{i}");
                let f = format!("routes[{ri}].rules[{i}]");
                match (rule.backend.is_empty(), rule.split.is_empty()) {
                    (true, true) => {
                        errs.push(self.err(&p, &f, "a rule needs a backend or a split"))
                    }
                    (false, false) => errs.push(self.err(
                        &format!("{p}/split"),
                        &format!("{f}.split"),
                        "give backend or split, not both",
                    )),
                    _ => {}
                }
                let mut targets: Vec<(String, &str)> = Vec::new();
                if !rule.backend.is_empty() {
                    targets.push((format!("{p}/backend"), rule.backend.as_str()));
                }
                for (wi, w) in rule.split.iter().enumerate() {
                    targets.push((format!("{p}/split/{wi}/name"), w.name.as_str()));
                }
                for (ptr, b) in targets {
                    if !declared.contains(b) {
                        let mut known: Vec<&str> = declared.iter().copied().collect();
                        known.sort_unstable();
                        errs.push(self.err(&ptr, &f, format!("routes to backend {b}, which is not declared; declared backends: {}", known.join(", "))));
                    }
                }
                if !rule.split.is_empty() && rule.split.iter().all(|w| w.weight == 0) {
                    errs.push(self.err(
                        &format!("{p}/split"),
                        &format!("{f}.split"),
                        "every weight is 0: the rule would send no traffic",
                    ));
                }
            }
        }
        if let Some(rl) = &s.rate_limits {
            if !rl.route.is_empty() && !route_names.contains(rl.route.as_str()) {
                errs.push(self.err(
                    "/rate_limits/route",
                    "rate_limits.route",
                    format!("route {} is not declared", rl.route),
                ));
            }
            if rl.per_user == 0 {
                errs.push(self.err(
                    "/rate_limits/per_user",
                    "rate_limits.per_user",
                    "0 would refuse every user",
                ));
            }
            if rl.anonymous.is_some_and(|a| a > rl.per_user) {
                errs.push(self.err("/rate_limits/anonymous", "rate_limits.anonymous", "the anonymous limit is above the per-user limit; anonymous traffic should get the lower limit"));
            }
        }
        if let Some(a) = &s.autoscaling {
            if a.min > a.max {
                errs.push(self.err(
                    "/autoscaling/min",
                    "autoscaling.min",
                    format!("min {} is above max {}", a.min, a.max),
                ));
            }
            if a.max == 0 {
                errs.push(self.err(
                    "/autoscaling/max",
                    "autoscaling.max",
                    "max must be at least 1",
                ));
            }
        }
        if s.tls.is_some() && s.gateway.https.is_none() {
            errs.push(self.err(
                "/tls",
                "tls",
                "tls is set but gateway.https is not: nothing would use the certificate",
            ));
        }
        let mut ids = HashSet::new();
        for (i, c) in s.criteria.iter().enumerate() {
            let p = format!("/criteria/{i}");
            let ok_id = c.id.len() >= 4
                && c.id.starts_with("SC-")
                && c.id[3..].chars().all(|ch| ch.is_ascii_digit());
            if !ok_id {
                errs.push(self.err(
                    &format!("{p}/id"),
                    &format!("criteria[{i}].id"),
                    "expected an id such as SC-001",
                ));
            }
            if !ids.insert(c.id.as_str()) {
                errs.push(self.err(
                    &format!("{p}/id"),
                    &format!("criteria[{i}].id"),
                    format!("{} is used twice", c.id),
                ));
            }
            let missing = match c.check {
                CheckKind::RateLimits => s.rate_limits.is_none().then_some("rate_limits"),
                CheckKind::Https => s.gateway.https.is_none().then_some("gateway.https"),
                CheckKind::Autoscaling => s.autoscaling.is_none().then_some("autoscaling"),
                CheckKind::CircuitBreaker => {
                    s.circuit_breaker.is_none().then_some("circuit_breaker")
                }
                CheckKind::LlmRouting => s.llm_route.is_none().then_some("llm_route"),
                _ => None,
            };
            if let Some(m) = missing {
                errs.push(self.err(
                    &format!("{p}/check"),
                    &format!("criteria[{i}].check"),
                    format!("{} needs {m} in the spec", c.id),
                ));
            }
        }
        errs.sort_by_key(|e| e.line);
        errs
    }
}

impl Spec {
    fn backend_port(&self, name: &str) -> u16 {
        self.backends
            .iter()
            .find(|b| b.name == name)
            .map(|b| b.port)
            .unwrap_or(self.service.port)
    }
    pub fn deployment(&self) -> &str {
        if self.service.deployment.is_empty() {
            &self.service.name
        } else {
            &self.service.deployment
        }
    }
    /// The route rate limits and the circuit breaker attach to.
    pub fn policy_route(&self) -> &str {
        match &self.rate_limits {
            Some(r) if !r.route.is_empty() => &r.route,
            _ => self.routes.first().map(|r| r.name.as_str()).unwrap_or(""),
        }
    }
    /// The listener mode: as given, else from the http and https blocks.
    pub fn listener_mode(&self) -> ListenerMode {
        self.gateway
            .listeners
            .unwrap_or(match (&self.gateway.http, &self.gateway.https) {
                (Some(_), None) => ListenerMode::Http,
                (None, Some(_)) => ListenerMode::Https,
                _ => ListenerMode::Both,
            })
    }

    // The spec reads as a script of tool calls with every argument explicit: the same
    // resolution and the same generators as the incremental tools, so both paths give the
    // same stack for the same request.

    pub fn gateway_params(&self) -> GatewayParams {
        let https = self.gateway.https.as_ref();
        GatewayParams {
            namespace: Some(self.service.namespace.clone()),
            create_namespace: self.service.create_namespace,
            gateway: Some(self.gateway.name.clone()),
            gateway_class: Some(self.gateway.class.clone()),
            hostnames: Some(self.gateway.hostnames.clone()),
            listeners: Some(self.listener_mode()),
            http_port: self.gateway.http.as_ref().map(|l| l.port),
            https: None,
            https_port: https.map(|h| h.port),
            tls_secret: https.map(|h| h.secret.clone()).filter(|s| !s.is_empty()),
            allowed_routes: self.gateway.allowed_routes,
            routes: Some(
                self.routes
                    .iter()
                    .map(|r| RouteParams {
                        name: Some(r.name.clone()),
                        listener: r.listener.clone(),
                        rules: r
                            .rules
                            .iter()
                            .map(|rule| RuleParams {
                                name: rule.name.clone(),
                                path_prefix: None,
                                path: Some(rule.path.clone()),
                                path_type: rule.path_type,
                                headers: rule.headers.clone(),
                                backends: if rule.split.is_empty() {
                                    vec![BackendParams {
                                        service: rule.backend.clone(),
                                        port: Some(self.backend_port(&rule.backend)),
                                        weight: None,
                                    }]
                                } else {
                                    rule.split
                                        .iter()
                                        .map(|w| BackendParams {
                                            service: w.name.clone(),
                                            port: Some(self.backend_port(&w.name)),
                                            weight: Some(w.weight),
                                        })
                                        .collect()
                                },
                                timeout: rule.timeout.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
            ),
        }
    }

    fn target(&self) -> PolicyTarget {
        PolicyTarget {
            namespace: Some(self.service.namespace.clone()),
            target_kind: Some(TargetKind::HTTPRoute),
            target_name: Some(self.policy_route().to_string()),
            policy_name: None,
            external: false,
        }
    }

    pub fn rate_limit_params(&self) -> Option<RateLimitParams> {
        self.rate_limits.as_ref().map(|r| RateLimitParams {
            target: self.target(),
            user_header: Some(r.header.clone()),
            requests_per_user: Some(r.per_user),
            anonymous_requests: r.anonymous,
            limit_anonymous: None,
            anonymous: Some(r.anonymous_access.unwrap_or(if r.anonymous.is_some() {
                AnonymousMode::Limit
            } else {
                AnonymousMode::Unlimited
            })),
            unit: Some(r.unit),
            jwt_issuer: r.jwt.as_ref().map(|j| j.issuer.clone()),
            jwt_jwks_uri: r.jwt.as_ref().map(|j| j.jwks_uri.clone()),
            jwt_claim: r.jwt.as_ref().and_then(|j| j.claim.clone()),
            jwt_audiences: r.jwt.as_ref().and_then(|j| j.audiences.clone()),
            api_key_secret: r.api_key.as_ref().map(|k| k.secret.clone()),
            api_key_header: r.api_key.as_ref().and_then(|k| k.header.clone()),
        })
    }

    pub fn circuit_breaker_params(&self) -> Option<CircuitBreakerParams> {
        self.circuit_breaker.as_ref().map(|c| CircuitBreakerParams {
            target: self.target(),
            max_connections: c.max_connections,
            max_pending_requests: c.max_pending_requests,
            max_parallel_requests: c.max_parallel_requests,
            max_parallel_retries: c.max_parallel_retries,
            max_requests_per_connection: c.max_requests_per_connection,
        })
    }

    pub fn tls_params(&self) -> Option<TlsParams> {
        let https = self.gateway.https.as_ref()?;
        let tls = self.tls.clone().unwrap_or(Tls {
            mode: TlsMode::CertManager,
            issuer: IssuerKind::Issuer,
            issuer_name: None,
            self_signed: None,
            days: d_days(),
        });
        let local = tls.mode == TlsMode::Local;
        Some(TlsParams {
            namespace: Some(self.service.namespace.clone()),
            create_namespace: self.service.create_namespace,
            mode: Some(tls.mode),
            secret_name: Some(if https.secret.is_empty() {
                crate::intent::defaults::tls_secret(&self.service.namespace)
            } else {
                https.secret.clone()
            }),
            hostnames: Some(
                self.gateway
                    .hostnames
                    .iter()
                    .filter(|h| !h.starts_with("*."))
                    .cloned()
                    .collect(),
            ),
            issuer_kind: (!local).then_some(tls.issuer),
            issuer_name: tls.issuer_name,
            self_signed: tls.self_signed,
            days: Some(tls.days),
            rotate: false,
        })
    }

    pub fn scaledobject_params(&self) -> Option<ScaledObjectParams> {
        self.autoscaling.as_ref().map(|a| {
            let rate = a.metric == ScaleMetric::RequestRate;
            ScaledObjectParams {
                namespace: Some(self.service.namespace.clone()),
                create_namespace: self.service.create_namespace,
                name: Some(self.service.name.clone()),
                deployment: Some(self.deployment().to_string()),
                min_replicas: Some(a.min),
                max_replicas: Some(a.max),
                metric: Some(a.metric),
                threshold: a.threshold,
                route: rate.then(|| self.policy_route().to_string()),
                scope: a.scope,
                backend: a.backend.clone(),
                external: false,
                prometheus_address: (!a.prometheus_address.is_empty())
                    .then(|| a.prometheus_address.clone()),
                polling_interval: a.polling_interval,
            }
        })
    }

    pub fn llm_route_params(&self) -> Option<LlmRouteParams> {
        self.llm_route.as_ref().map(|l| LlmRouteParams {
            namespace: Some(self.service.namespace.clone()),
            gateway: Some(self.gateway.name.clone()),
            name: l.name.clone(),
            backends: Some(l.backends.clone()),
            user_header: l.user_header.clone(),
            token_budget: l.token_budget.clone(),
            unit: l.unit,
        })
    }

    /// The spec's intent: every section resolved exactly as the tools resolve their arguments,
    /// against a stack holding only what the spec itself generates (so the intent does not
    /// depend on what is on disk). All problems of every section together.
    pub fn intent(&self) -> Result<Intent, GenerateError> {
        let mut scratch = Snapshot::default();
        let mut errs = crate::names::InputErrors::default();
        let mut keep = |section: &str, e: crate::names::InputErrors| {
            for mut i in e.0 {
                i.field = format!("{section}: {}", i.field);
                errs.push(i);
            }
        };
        let gateway = match resolve::gateway(&self.gateway_params(), &scratch) {
            Ok(g) => {
                scratch.absorb(&generate::gateway::build(&g.intent, &scratch)?);
                Some(g.intent)
            }
            Err(e) => {
                keep("gateway/routes", e);
                None
            }
        };
        let rate_limit = match self
            .rate_limit_params()
            .map(|p| resolve::rate_limit(&p, &scratch))
        {
            Some(Ok(r)) => Some(r.intent),
            Some(Err(e)) => {
                keep("rate_limits", e);
                None
            }
            None => None,
        };
        let circuit_breaker = match self
            .circuit_breaker_params()
            .map(|p| resolve::circuit_breaker(&p, &scratch))
        {
            Some(Ok(r)) => Some(r.intent),
            Some(Err(e)) => {
                keep("circuit_breaker", e);
                None
            }
            None => None,
        };
        let tls = match self.tls_params().map(|p| resolve::tls(&p, &scratch)) {
            Some(Ok(r)) => Some(r.intent),
            Some(Err(e)) => {
                keep("tls", e);
                None
            }
            None => None,
        };
        let autoscaling = match self
            .scaledobject_params()
            .map(|p| resolve::autoscaling(&p, &scratch))
        {
            Some(Ok(r)) => Some(r.intent),
            Some(Err(e)) => {
                keep("autoscaling", e);
                None
            }
            None => None,
        };
        let llm_route = match self
            .llm_route_params()
            .map(|p| resolve::llm_route(&p, &scratch))
        {
            Some(Ok(r)) => Some(r.intent),
            Some(Err(e)) => {
                keep("llm_route", e);
                None
            }
            None => None,
        };
        errs.into_result()?;
        let Some(gateway) = gateway else {
            return Err(GenerateError::Internal("gateway section missing".into()));
        };
        Ok(Intent {
            gateway,
            rate_limit,
            circuit_breaker,
            tls,
            autoscaling,
            llm_route,
        })
    }
}

/// What one generator call of `generate_from_spec` did.
pub struct Step {
    pub tool: &'static str,
    pub plan: crate::generate::Plan,
    pub written: Vec<crate::workspace::Written>,
}

/// Build the whole stack from a spec: its intent (every problem reported at once, before
/// anything is written), then each section through the same generators as the incremental
/// tools, in the workflow's order. A refusal while writing stops there (earlier steps stay).
pub fn generate(
    spec: &Spec,
    stack: &crate::workspace::Stack,
) -> Result<Vec<Step>, (Vec<Step>, GenerateError)> {
    use crate::generate as g;
    let intent = spec.intent().map_err(|e| (Vec::new(), e))?;
    let mut steps = Vec::new();
    macro_rules! step {
        ($tool:expr, $section:expr, $f:path) => {
            if let Some(section) = $section {
                match stack.update(|snap| $f(section, snap)) {
                    Ok((plan, written)) => steps.push(Step {
                        tool: $tool,
                        plan,
                        written,
                    }),
                    Err(e) => return Err((steps, e)),
                }
            }
        };
    }
    use crate::workflow::Generator;
    for generator in crate::workflow::generators() {
        let tool = generator.tool();
        match generator {
            Generator::Gateway => step!(tool, Some(&intent.gateway), g::gateway::build),
            Generator::RateLimit => {
                step!(
                    tool,
                    intent.rate_limit.as_ref(),
                    g::policy::build_rate_limit
                )
            }
            Generator::CircuitBreaker => step!(
                tool,
                intent.circuit_breaker.as_ref(),
                g::policy::build_circuit_breaker
            ),
            Generator::Tls => step!(tool, intent.tls.as_ref(), g::tls::build),
            Generator::ScaledObject => {
                step!(tool, intent.autoscaling.as_ref(), g::scaling::build)
            }
            Generator::LlmRoute => step!(tool, intent.llm_route.as_ref(), g::llm::build),
        }
    }
    Ok(steps)
}

/// The compliance table of a spec against a stack given as YAML sources (every document of
/// every file counts, multi-document files included).
pub fn compliance_rows(
    spec: &Spec,
    sources: &[crate::validate::Source],
    generated_secrets: &[(String, String)],
    errors: usize,
    spec_file: &str,
) -> Result<Vec<compliance::Row>, GenerateError> {
    let objects: Vec<serde_json::Value> = sources
        .iter()
        .filter_map(|s| crate::yaml::parse_documents(&s.text).ok())
        .flatten()
        .map(|d| d.value)
        .filter(|v| v["kind"].is_string() && v["kind"] != "Kustomization")
        .collect();
    let intent = spec.intent()?;
    let view = compliance::StackView {
        objects: &objects,
        generated_secrets,
    };
    Ok(compliance::evaluate(
        spec, &intent, &view, errors, spec_file,
    ))
}

/// Validate the stack and evaluate every criterion of the spec against it.
pub fn check(
    spec: &Spec,
    stack: &crate::workspace::Stack,
    validator: &crate::validate::Validator,
    spec_file: &str,
) -> Result<(crate::validate::Report, Vec<compliance::Row>), CheckError> {
    let (sources, ctx) = crate::validation::stack_sources(stack)?;
    let report = validator.validate_with(&sources, &ctx);
    let rows = compliance_rows(
        spec,
        &sources,
        &ctx.generated_secrets,
        report.summary.errors,
        spec_file,
    )?;
    Ok((report, rows))
}

/// Why a spec could not be checked against a stack.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("could not read the stack: {0}")]
    Stack(#[from] crate::workspace::WorkspaceError),
    #[error("the spec's intent cannot be built: {0}")]
    Intent(#[from] GenerateError),
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../examples/task-api/traffic-spec.md");

    #[test]
    fn the_example_parses() {
        let p = parse(EXAMPLE).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p.spec.criteria.len(), 7);
        assert_eq!(p.spec.rate_limits.as_ref().unwrap().per_user, 100);
        assert_eq!(p.spec.policy_route(), "task-api");
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    /// (edit of the example, field, line of this needle in the edited text)
    #[test]
    fn broken_specs_give_line_numbered_errors() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("  min: 1\n", "  min: 11\n", "autoscaling.min", "  min: 11"),
            (
                "        backend: task-api-v2\n",
                "        backend: task-api-v3\n",
                "routes[0].rules[1]",
                "backend: task-api-v3",
            ),
            (
                "  per_user: 100\n",
                "  per_user: 100\n  burst: 5\n",
                "rate_limits",
                "burst: 5",
            ),
            (
                "  max_connections: 50\n",
                "  max_connections: fifty\n",
                "circuit_breaker.max_connections",
                "max_connections: fifty",
            ),
            (
                "  unit: Minute\n",
                "  unit: minute\n",
                "rate_limits.unit",
                "unit: minute",
            ),
            (
                "  - id: SC-007\n",
                "  - id: SC-006\n",
                "criteria[6].id",
                "LAST id: SC-006",
            ),
            (
                "    secret: task-api-tls\n",
                "    secret: Bad_Secret\n",
                "gateway.https.secret",
                "secret: Bad_Secret",
            ),
            (
                "    port: 443\n",
                "    port: 443\n    port: 8443\n",
                "",
                "port: 8443",
            ),
        ];
        for (from, to, field, needle) in cases {
            assert!(EXAMPLE.contains(from), "{from}");
            let text = EXAMPLE.replacen(from, to, 1);
            let errs = match parse(&text) {
                Ok(_) => panic!("{to:?} should fail"),
                Err(e) => e,
            };
            let want_line = match needle.strip_prefix("LAST ") {
                Some(n) => {
                    text.lines()
                        .collect::<Vec<_>>()
                        .iter()
                        .rposition(|l| l.contains(n))
                        .unwrap()
                        + 1
                }
                None => line_of(&text, needle),
            };
            assert!(
                errs.iter()
                    .any(|e| e.field.starts_with(field) && e.line == want_line),
                "{to:?}: want {field} at line {want_line}, got {errs:?}"
            );
        }
    }

    #[test]
    fn missing_block_and_yaml_errors() {
        assert_eq!(parse("# no block\n").unwrap_err()[0].line, 1);
        let e = parse("text\n```yaml traffic-spec\nservice: [\n```\n").unwrap_err();
        assert!(e[0].line >= 3, "{e:?}");
    }
}
