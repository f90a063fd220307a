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
    BackendParams, CircuitBreakerParams, GatewayParams, IssuerKind, PolicyTarget, RateLimitParams,
    RateUnit, RouteParams, RuleParams, ScaleMetric, ScaledObjectParams, TargetKind, TlsMode,
    TlsParams,
};
use crate::names;

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
    /// The Service port of the default backend.
    #[serde(default = "d_port")]
    pub port: u16,
    /// The Deployment KEDA scales. Default: the service name.
    #[serde(default)]
    pub deployment: String,
}

fn d_port() -> u16 {
    8000
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
    pub secret: String,
}

fn d_443() -> u16 {
    443
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
}

fn d_class() -> String {
    "eg".into()
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
    /// One backend (by its name in `backends`) ...
    #[serde(default)]
    pub backend: String,
    /// ... or several with weights (a canary split).
    #[serde(default)]
    pub split: Vec<WeightedBackend>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    /// http, https or empty for both.
    #[serde(default)]
    pub listener: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    #[serde(default = "d_header")]
    pub header: String,
    pub per_user: u32,
    /// Requests per unit without the header; omit to leave them unlimited (not recommended).
    pub anonymous: Option<u32>,
    #[serde(default)]
    pub unit: RateUnit,
    /// The route the policy targets. Default: the first route.
    #[serde(default)]
    pub route: String,
}

fn d_header() -> String {
    "x-user-id".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub mode: TlsMode,
    #[serde(default)]
    pub issuer: IssuerKind,
    #[serde(default = "d_days")]
    pub days: u32,
}

fn d_days() -> u32 {
    90
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    pub max_connections: u32,
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
    let errors = parsed.contradictions();
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
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
        if let Some(h) = &s.gateway.https {
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
                name(
                    &format!("/routes/{ri}/rules/{i}/path"),
                    &format!("routes[{ri}].rules[{i}].path"),
                    names::path_prefix("", &rule.path),
                );
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

    pub fn gateway_params(&self) -> GatewayParams {
        let https = self.gateway.https.as_ref();
        GatewayParams {
            namespace: self.service.namespace.clone(),
            gateway: self.gateway.name.clone(),
            gateway_class: self.gateway.class.clone(),
            hostnames: self.gateway.hostnames.clone(),
            http_port: self.gateway.http.as_ref().map(|l| l.port).unwrap_or(80),
            https: https.is_some(),
            https_port: https.map(|h| h.port).unwrap_or(443),
            tls_secret: https
                .map(|h| h.secret.clone())
                .unwrap_or_else(|| "task-api-tls".into()),
            allowed_routes: Default::default(),
            routes: self
                .routes
                .iter()
                .map(|r| RouteParams {
                    name: r.name.clone(),
                    listener: r.listener.clone(),
                    rules: r
                        .rules
                        .iter()
                        .map(|rule| RuleParams {
                            name: rule.name.clone(),
                            path_prefix: rule.path.clone(),
                            headers: Vec::new(),
                            backends: if rule.split.is_empty() {
                                vec![BackendParams {
                                    service: rule.backend.clone(),
                                    port: self.backend_port(&rule.backend),
                                    weight: 1,
                                }]
                            } else {
                                rule.split
                                    .iter()
                                    .map(|w| BackendParams {
                                        service: w.name.clone(),
                                        port: self.backend_port(&w.name),
                                        weight: w.weight,
                                    })
                                    .collect()
                            },
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn target(&self) -> PolicyTarget {
        PolicyTarget {
            namespace: self.service.namespace.clone(),
            target_kind: TargetKind::HTTPRoute,
            target_name: self.policy_route().to_string(),
            policy_name: String::new(),
        }
    }

    pub fn rate_limit_params(&self) -> Option<RateLimitParams> {
        self.rate_limits.as_ref().map(|r| RateLimitParams {
            target: self.target(),
            user_header: r.header.clone(),
            requests_per_user: r.per_user,
            anonymous_requests: r.anonymous.unwrap_or(0),
            limit_anonymous: r.anonymous.is_some(),
            unit: r.unit,
        })
    }

    pub fn circuit_breaker_params(&self) -> Option<CircuitBreakerParams> {
        self.circuit_breaker.as_ref().map(|c| CircuitBreakerParams {
            target: self.target(),
            max_connections: c.max_connections,
            max_pending_requests: c.max_pending_requests.unwrap_or(c.max_connections),
            max_parallel_requests: c.max_parallel_requests.unwrap_or(c.max_connections),
            max_parallel_retries: c.max_parallel_retries,
            max_requests_per_connection: c.max_requests_per_connection,
        })
    }

    pub fn tls_params(&self) -> Option<TlsParams> {
        let https = self.gateway.https.as_ref()?;
        let tls = self.tls.clone().unwrap_or(Tls {
            mode: TlsMode::CertManager,
            issuer: IssuerKind::Issuer,
            days: 90,
        });
        Some(TlsParams {
            namespace: self.service.namespace.clone(),
            mode: tls.mode,
            secret_name: https.secret.clone(),
            hostnames: self
                .gateway
                .hostnames
                .iter()
                .filter(|h| !h.starts_with("*."))
                .cloned()
                .collect(),
            issuer_kind: tls.issuer,
            issuer_name: "selfsigned".into(),
            days: tls.days,
            rotate: false,
        })
    }

    pub fn scaledobject_params(&self) -> Option<ScaledObjectParams> {
        self.autoscaling.as_ref().map(|a| ScaledObjectParams {
            namespace: self.service.namespace.clone(),
            name: self.service.name.clone(),
            deployment: self.deployment().to_string(),
            min_replicas: a.min,
            max_replicas: a.max,
            metric: a.metric,
            threshold: a.threshold,
            route: self.policy_route().to_string(),
            prometheus_address: if a.prometheus_address.is_empty() {
                "http://prometheus-server.monitoring.svc.cluster.local:80".into()
            } else {
                a.prometheus_address.clone()
            },
            polling_interval: 15,
        })
    }
}

/// What one generator call of `generate_from_spec` did.
pub struct Step {
    pub tool: &'static str,
    pub plan: crate::generate::Plan,
    pub written: Vec<crate::workspace::Written>,
}

/// Build the whole stack from a spec, through the same generators as the incremental tools,
/// in the workflow's order. Stops at the first refusal (earlier steps stay written).
pub fn generate(
    spec: &Spec,
    stack: &crate::workspace::Stack,
) -> Result<Vec<Step>, (Vec<Step>, crate::workspace::WorkspaceError)> {
    use crate::generate as g;
    let mut steps = Vec::new();
    macro_rules! step {
        ($tool:literal, $params:expr, $f:path) => {
            if let Some(p) = $params {
                match stack.update(|snap| $f(&p, snap)) {
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
    step!(
        "generate_gateway",
        Some(spec.gateway_params()),
        g::gateway::generate
    );
    step!(
        "add_rate_limit",
        spec.rate_limit_params(),
        g::policy::add_rate_limit
    );
    step!(
        "add_circuit_breaker",
        spec.circuit_breaker_params(),
        g::policy::add_circuit_breaker
    );
    step!("generate_tls", spec.tls_params(), g::tls::generate);
    step!(
        "generate_scaledobject",
        spec.scaledobject_params(),
        g::scaling::generate
    );
    Ok(steps)
}

/// Validate the stack and evaluate every criterion of the spec against it.
pub fn check(
    spec: &Spec,
    stack: &crate::workspace::Stack,
    validator: &crate::validate::Validator,
    spec_file: &str,
) -> Result<(crate::validate::Report, Vec<compliance::Row>), crate::workspace::WorkspaceError> {
    let (sources, ctx) = crate::validation::stack_sources(stack)?;
    let report = validator.validate_with(&sources, &ctx);
    let snap = stack.snapshot()?;
    let objs: Vec<serde_json::Value> = snap.manifests.into_iter().map(|m| m.value).collect();
    let rows = compliance::evaluate(
        spec,
        &objs,
        report.summary.errors,
        &ctx.generated_secrets,
        spec_file,
    );
    Ok((report, rows))
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
