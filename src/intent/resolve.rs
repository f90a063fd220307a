//! Tool arguments -> intent sections, resolved against the stack as it is on disk.
//!
//! For each field: the value the call names; else the value the stack already has (so a later
//! call changes only what it names, hand edits included); else the default from
//! [`super::defaults`], recorded in [`Resolved::defaulted`] so the result says so. Every
//! problem of a call is collected and reported together. References must resolve: a target
//! that is not in the stack is an error listing what is there, unless the call declares it
//! external.

use super::defaults::{self, example};
use super::observe::{self, view};
use super::*;
use crate::generate::params::{
    CircuitBreakerParams, GatewayParams, PolicyTarget, RateLimitParams, RouteParams, RuleParams,
    ScaleScopeParam, ScaledObjectParams, TlsMode, TlsParams,
};
use crate::names::{self, InputError, InputErrors};
use crate::workspace::{Snapshot, StackManifest};

/// A resolved section and the defaults that went into it (one sentence each).
#[derive(Debug, Clone)]
pub struct Resolved<T> {
    pub intent: T,
    pub defaulted: Vec<String>,
}

pub const MAX_HOSTNAMES: usize = 16;
pub const MAX_ROUTES: usize = 32;
pub const MAX_RULES: usize = 16;
pub const MAX_BACKENDS: usize = 16;
pub const MAX_HEADERS: usize = 16;

struct Ctx<'a> {
    snap: &'a Snapshot,
    errs: InputErrors,
    defaulted: Vec<String>,
}

/// A name as used further on: itself when valid; cut short when not (it is already an error,
/// and later messages must not echo a huge value).
fn checked(valid: bool, n: &str) -> String {
    if valid {
        n.to_string()
    } else {
        n.chars().take(40).collect()
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

impl<'a> Ctx<'a> {
    fn new(snap: &'a Snapshot) -> Self {
        Ctx {
            snap,
            errs: InputErrors::default(),
            defaulted: Vec::new(),
        }
    }
    fn err(
        &mut self,
        field: impl Into<String>,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) {
        self.errs.push(InputError::new(field, problem, expected));
    }
    fn default<T: std::fmt::Display>(&mut self, field: &str, value: T, why: &str) -> T {
        self.defaulted.push(format!("{field}: {value} ({why})"));
        value
    }
    fn finish<T>(self, intent: T) -> Result<Resolved<T>, InputErrors> {
        self.errs.into_result()?;
        Ok(Resolved {
            intent,
            defaulted: self.defaulted,
        })
    }

    /// Objects of a kind in a namespace.
    fn objects(&self, kind: &'a str, ns: &'a str) -> impl Iterator<Item = &'a StackManifest> + 'a {
        self.snap.of_kind(kind).filter(move |m| m.namespace() == ns)
    }
    /// Names of the objects of a kind in a namespace that a policy or a scaler may target (a
    /// route that only redirects HTTP to HTTPS is the gateway's plumbing, not a target).
    fn names_of(&self, kind: &'a str, ns: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .snap
            .of_kind(kind)
            .filter(|m| m.namespace() == ns)
            .filter(|m| {
                kind != "HTTPRoute"
                    || !view::<observe::RouteSpec>(&m.value).is_some_and(|r| {
                        !r.spec.rules.is_empty()
                            && r.spec.rules.iter().all(|rule| rule.redirect().is_some())
                    })
            })
            .map(|m| m.name().to_string())
            .collect();
        v.sort();
        v
    }

    /// The namespace: named, else the stack's only one, else the example's.
    fn namespace(&mut self, given: &Option<String>) -> String {
        if let Some(n) = given {
            return checked(self.errs.check(names::label("namespace", n)), n);
        }
        let mut nss: Vec<String> = self
            .snap
            .manifests
            .iter()
            .filter(|m| matches!(m.kind(), "Gateway" | "HTTPRoute"))
            .map(|m| m.namespace().to_string())
            .collect();
        nss.sort();
        nss.dedup();
        match nss.len() {
            0 => self.default(
                "namespace",
                example::NAMESPACE.to_string(),
                "the Task API example; name your service's namespace",
            ),
            1 => {
                let n = nss.remove(0);
                self.default("namespace", n, "the stack's namespace")
            }
            _ => {
                self.err(
                    "namespace",
                    format!("not given, and the stack has several: {}", list(&nss)),
                    "one of those namespaces",
                );
                String::new()
            }
        }
    }

    /// A namespace object: in the plan only when asked.
    fn namespace_intent(&mut self, given: &Option<String>, create: bool) -> NamespaceIntent {
        let name = self.namespace(given);
        NamespaceIntent { name, create }
    }

    /// A name that must be an object in the stack, unless declared external.
    fn reference(
        &mut self,
        field: &str,
        kind: &'static str,
        ns: &str,
        given: &Option<String>,
        external: bool,
    ) -> String {
        let present = self.names_of(kind, ns);
        match given {
            Some(n) => {
                let valid = self.errs.check(names::object_name(field, n));
                if valid && !external && !present.contains(n) {
                    self.err(
                        field,
                        format!("{kind} {ns}/{n} is not in the stack"),
                        format!(
                            "the name of a {kind} in namespace {ns} ({}), or external: true for one that lives outside this stack",
                            list(&present)
                        ),
                    );
                }
                checked(valid, n)
            }
            None => match present.as_slice() {
                [one] => self.default(field, one.clone(), &format!("the only {kind} in {ns}")),
                [] => {
                    self.err(
                        field,
                        format!("not given, and the stack has no {kind} in namespace {ns}"),
                        format!("create the {kind} first (generate_gateway), or name it with external: true"),
                    );
                    String::new()
                }
                many => {
                    self.err(
                        field,
                        format!(
                            "not given, and namespace {ns} has several: {}",
                            many.join(", ")
                        ),
                        "one of those names",
                    );
                    String::new()
                }
            },
        }
    }

    fn target(&mut self, p: &PolicyTarget) -> TargetIntent {
        let namespace = self.namespace(&p.namespace);
        let kind = p.target_kind.unwrap_or_default();
        let kind_str: &'static str = kind.as_str();
        let name = self.reference(
            "target_name",
            kind_str,
            &namespace,
            &p.target_name,
            p.external,
        );
        if let Some(n) = &p.policy_name {
            self.errs.check(names::object_name("policy_name", n));
        }
        TargetIntent {
            namespace,
            kind,
            name,
            policy_name: p.policy_name.clone(),
            external: p.external,
        }
    }

    /// The one BackendTrafficPolicy of a target, if exactly one exists (more is a conflict the
    /// generator reports).
    fn btp(&self, t: &TargetIntent) -> Option<observe::Btp> {
        let mut it = self
            .objects("BackendTrafficPolicy", &t.namespace)
            .filter_map(|m| view::<observe::BtpSpec>(&m.value))
            .filter(|b| b.spec.targets.targets(t.kind.as_str(), &t.name));
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    /// The hostnames a Gateway of the stack serves (listeners, else its routes).
    fn served_hostnames(&self, gw: &observe::Gateway) -> Vec<String> {
        let routes: Vec<observe::Route> = self
            .objects("HTTPRoute", &gw.metadata.namespace)
            .filter_map(|m| view::<observe::RouteSpec>(&m.value))
            .collect();
        observe::served_hostnames(gw, &routes)
    }

    fn security_policy(&self, t: &TargetIntent) -> Option<observe::SecurityPolicy> {
        self.objects("SecurityPolicy", &t.namespace)
            .filter_map(|m| view::<observe::SecuritySpec>(&m.value))
            .find(|b| b.spec.targets.targets(t.kind.as_str(), &t.name))
    }
}

/// Listener mode from the new and the older argument, or the Gateway's current one.
fn listener_mode(
    c: &mut Ctx,
    p: &GatewayParams,
    existing: Option<&observe::Gateway>,
    has_redirect: bool,
) -> ListenerMode {
    let current =
        existing.map(
            |g| match (g.listener("HTTP").is_some(), g.listener("HTTPS").is_some()) {
                (true, true) if has_redirect => ListenerMode::HttpsRedirect,
                (true, true) => ListenerMode::Both,
                (false, true) => ListenerMode::Https,
                _ => ListenerMode::Http,
            },
        );
    match (p.listeners, p.https) {
        (Some(m), Some(h)) => {
            if h != m.has_https() {
                c.err(
                    "https",
                    format!("{h} contradicts listeners: {}", m.as_str()),
                    "listeners alone (both, http, https or https_redirect)",
                );
            }
            m
        }
        (Some(m), None) => m,
        (None, Some(false)) => ListenerMode::Http,
        (None, Some(true)) => match current {
            Some(m) if m.has_https() => m,
            _ => ListenerMode::Both,
        },
        (None, None) => match current {
            Some(m) => m,
            None => c.default("listeners", ListenerMode::Both, "HTTP and HTTPS"),
        },
    }
}

impl std::fmt::Display for ListenerMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule name from a path: `/api/v1` -> `api-v1`, `/` -> `root`.
pub fn rule_name_from_path(path: &str) -> String {
    let mut s: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-');
    let s: String = s.chars().take(63).collect();
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() { "root".into() } else { s }
}

fn too_many(c: &mut Ctx, field: &str, n: usize, max: usize) {
    if n > max {
        c.err(
            field,
            format!("{n} entries"),
            format!("at most {max} (Gateway API limit)"),
        );
    }
}

/// A Gateway API duration: 1 to 4 groups of up to 5 digits and h, m, s or ms.
pub fn duration_ok(s: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$").expect("static regex"))
        .is_match(s)
}

fn path_of(c: &mut Ctx, f: &str, rule: &RuleParams) -> PathMatch {
    let (value, field) = match (&rule.path, &rule.path_prefix) {
        (Some(_), Some(_)) => {
            c.err(
                format!("{f}.path"),
                "both path and path_prefix are given",
                "one of them",
            );
            (String::new(), format!("{f}.path"))
        }
        (Some(p), None) => (p.clone(), format!("{f}.path")),
        (None, Some(p)) => {
            if rule.path_type.is_some_and(|t| t != PathType::Prefix) {
                c.err(
                    format!("{f}.path_type"),
                    "path_prefix is always a prefix",
                    "path with path_type exact or regex, or path_prefix alone",
                );
            }
            (p.clone(), format!("{f}.path_prefix"))
        }
        (None, None) => (
            c.default(
                &format!("{f}.path_prefix"),
                defaults::PATH_PREFIX.to_string(),
                "every path",
            ),
            format!("{f}.path_prefix"),
        ),
    };
    let kind = rule.path_type.unwrap_or_default();
    match kind {
        PathType::Prefix | PathType::Exact => {
            c.errs.check(names::path_prefix(&field, &value));
        }
        PathType::Regex => {
            let ok = !value.is_empty()
                && value.len() <= 1024
                && regex::Regex::new(&value).is_ok()
                && !value.chars().any(char::is_control);
            if !ok {
                c.err(
                    field.clone(),
                    format!("{:?} is not a valid regular expression", value.chars().take(60).collect::<String>()),
                    "an RE2 regular expression of at most 1024 characters, e.g. ^/api/v[0-9]+/tasks$",
                );
            }
        }
    }
    PathMatch { kind, value }
}

fn rule(c: &mut Ctx, f: &str, rule: &RuleParams, example_ns: bool) -> RuleIntent {
    let path = path_of(c, f, rule);
    let name = if rule.name.is_empty() {
        rule_name_from_path(&path.value)
    } else {
        c.errs.check(names::label(&format!("{f}.name"), &rule.name));
        rule.name.clone()
    };
    too_many(c, &format!("{f}.headers"), rule.headers.len(), MAX_HEADERS);
    let mut headers = Vec::new();
    for (hi, h) in rule.headers.iter().enumerate() {
        c.errs.check(names::header_name(
            &format!("{f}.headers[{hi}].name"),
            &h.name,
        ));
        if h.value.is_empty() || h.value.len() > 4096 || h.value.chars().any(|ch| ch.is_control()) {
            c.err(
                format!("{f}.headers[{hi}].value"),
                "empty, too long or has control characters",
                "a header value of 1-4096 printable characters",
            );
        }
        headers.push(HeaderIntent {
            name: h.name.to_ascii_lowercase(),
            value: h.value.clone(),
        });
    }
    let mut backends = Vec::new();
    if rule.backends.is_empty() {
        if example_ns {
            backends.push(BackendIntent {
                service: c.default(
                    &format!("{f}.backends"),
                    example::SERVICE.to_string(),
                    "the Task API example",
                ),
                port: example::SERVICE_PORT,
                weight: defaults::BACKEND_WEIGHT,
            });
        } else {
            c.err(
                format!("{f}.backends"),
                "empty list",
                "at least one {\"service\": \"<your Service>\", \"port\": <its port>}",
            );
        }
    }
    too_many(
        c,
        &format!("{f}.backends"),
        rule.backends.len(),
        MAX_BACKENDS,
    );
    for (bi, b) in rule.backends.iter().enumerate() {
        let g = format!("{f}.backends[{bi}]");
        c.errs
            .check(names::label(&format!("{g}.service"), &b.service));
        let port = match b.port {
            Some(0) => {
                c.err(format!("{g}.port"), "0", "the Service port, 1-65535");
                0
            }
            Some(p) => p,
            None => c.default(
                &format!("{g}.port"),
                example::SERVICE_PORT,
                "default Service port",
            ),
        };
        let weight = b.weight.unwrap_or(defaults::BACKEND_WEIGHT);
        if weight > 1_000_000 {
            c.err(
                format!("{g}.weight"),
                weight.to_string(),
                "a weight from 0 to 1000000",
            );
        }
        backends.push(BackendIntent {
            service: b.service.clone(),
            port,
            weight,
        });
    }
    if !backends.is_empty() && backends.iter().all(|b| b.weight == 0) {
        c.err(
            format!("{f}.backends"),
            "every weight is 0, so the rule would send no traffic anywhere",
            "at least one backend with a weight above 0 (e.g. 90 and 10 for a canary)",
        );
    }
    if let Some(t) = &rule.timeout
        && !duration_ok(t)
    {
        c.err(
            format!("{f}.timeout"),
            format!(
                "{:?} is not a duration",
                t.chars().take(40).collect::<String>()
            ),
            "a Gateway API duration such as 10s, 500ms or 1m30s",
        );
    }
    RuleIntent {
        name,
        path,
        headers,
        backends,
        timeout: rule.timeout.clone(),
    }
}

fn route(
    c: &mut Ctx,
    ri: usize,
    r: &RouteParams,
    mode: ListenerMode,
    ns: &str,
    example_ns: bool,
) -> RouteIntent {
    let f = format!("routes[{ri}]");
    let listeners: Vec<String> = match r.listener.as_str() {
        "" => mode.app_listeners().iter().map(|s| s.to_string()).collect(),
        "http" if mode == ListenerMode::HttpsRedirect => {
            c.err(
                format!("{f}.listener"),
                "http only redirects to HTTPS in https_redirect mode",
                "https or empty (routes attach to HTTPS), or listeners: both to serve plain HTTP too",
            );
            vec![]
        }
        "http" if mode.has_http() => vec!["http".into()],
        "https" if mode.has_https() => vec!["https".into()],
        other => {
            c.err(
                format!("{f}.listener"),
                format!(
                    "{:?} is not a listener of this Gateway (listeners: {})",
                    other.chars().take(40).collect::<String>(),
                    mode.as_str()
                ),
                match mode {
                    ListenerMode::Both => "\"http\", \"https\" or empty for both",
                    ListenerMode::Http => "\"http\" or empty",
                    _ => "\"https\" or empty",
                },
            );
            vec![]
        }
    };
    let mut rules_p = r.rules.clone();
    if rules_p.is_empty() {
        if example_ns {
            c.default(
                &format!("{f}.rules"),
                "/ -> task-api:8000",
                "the Task API example",
            );
            rules_p.push(RuleParams::default());
        } else {
            c.err(
                format!("{f}.rules"),
                "empty list",
                "at least one rule: {\"path_prefix\": \"/\", \"backends\": [{\"service\": \"<Service>\", \"port\": <port>}]}",
            );
        }
    }
    too_many(c, &format!("{f}.rules"), rules_p.len(), MAX_RULES);
    let rules: Vec<RuleIntent> = rules_p
        .iter()
        .enumerate()
        .map(|(i, rp)| rule(c, &format!("{f}.rules[{i}]"), rp, example_ns))
        .collect();
    let mut seen_names = std::collections::HashSet::new();
    let mut seen_matches = std::collections::HashSet::new();
    for (i, rl) in rules.iter().enumerate() {
        if !seen_names.insert(rl.name.clone()) {
            c.err(
                format!("{f}.rules[{i}].name"),
                format!("rule name {} is used twice in this route", rl.name),
                "a rule name unique within the route (policies target rules by name)",
            );
        }
        let mut key: Vec<(String, String)> = rl
            .headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        key.sort();
        if !seen_matches.insert((rl.path.clone(), key)) {
            c.err(
                format!("{f}.rules[{i}].path"),
                format!(
                    "{} with the same headers is matched by an earlier rule",
                    rl.path.value
                ),
                "each rule with a different path or header match (put canary backends in one rule)",
            );
        }
    }
    let name = match &r.name {
        Some(n) => {
            c.errs.check(names::object_name(&format!("{f}.name"), n));
            n.clone()
        }
        None => {
            let from = rules
                .first()
                .and_then(|rl| rl.backends.first())
                .map(|b| b.service.clone())
                .unwrap_or_else(|| ns.to_string());
            c.default(&format!("{f}.name"), from, "the first backend's Service")
        }
    };
    RouteIntent {
        name,
        listeners,
        rules,
    }
}

/// generate_gateway's arguments -> the Gateway section.
pub fn gateway(p: &GatewayParams, snap: &Snapshot) -> Result<Resolved<GatewayIntent>, InputErrors> {
    let mut c = Ctx::new(snap);
    let namespace = c.namespace_intent(&p.namespace, p.create_namespace);
    let ns = namespace.name.clone();
    let example_ns = ns == example::NAMESPACE;
    let gateways: Vec<observe::Gateway> = c
        .objects("Gateway", &ns)
        .filter_map(|m| view::<observe::GatewaySpec>(&m.value))
        .collect();
    let name = match &p.gateway {
        Some(g) => checked(c.errs.check(names::object_name("gateway", g)), g),
        None => match gateways.as_slice() {
            [one] => c.default("gateway", one.metadata.name.clone(), "the stack's Gateway"),
            [] => c.default("gateway", format!("{ns}-gateway"), "<namespace>-gateway"),
            many => {
                let names: Vec<String> = many.iter().map(|g| g.metadata.name.clone()).collect();
                c.err(
                    "gateway",
                    format!(
                        "not given, and namespace {ns} has several: {}",
                        names.join(", ")
                    ),
                    "one of those names",
                );
                String::new()
            }
        },
    };
    let existing = gateways.iter().find(|g| g.metadata.name == name);
    let routes_here: Vec<observe::Route> = c
        .objects("HTTPRoute", &ns)
        .filter_map(|m| view::<observe::RouteSpec>(&m.value))
        .filter(|r| r.attaches_to(&ns, &name))
        .collect();
    let redirect_name = defaults::redirect_route(&name);
    let has_redirect = routes_here.iter().any(|r| r.metadata.name == redirect_name);
    let mode = listener_mode(&mut c, p, existing, has_redirect);
    let class = match (&p.gateway_class, existing) {
        (Some(cl), _) => {
            c.errs.check(names::subdomain("gateway_class", cl));
            cl.clone()
        }
        (None, Some(g)) if !g.spec.gateway_class_name.is_empty() => {
            g.spec.gateway_class_name.clone()
        }
        _ => c.default(
            "gateway_class",
            defaults::GATEWAY_CLASS.to_string(),
            "Envoy Gateway",
        ),
    };
    let served = existing
        .map(|g| c.served_hostnames(g))
        .filter(|h| !h.is_empty());
    let hostnames = match (&p.hostnames, served) {
        (Some(h), _) => h.clone(),
        (None, Some(h)) => h,
        (None, None) if example_ns => vec![c.default(
            "hostnames",
            example::HOSTNAME.to_string(),
            "the Task API example",
        )],
        (None, None) => {
            c.err(
                "hostnames",
                "not given",
                "the hostnames clients use, e.g. [\"shop.example.com\"]",
            );
            Vec::new()
        }
    };
    if p.hostnames.as_ref().is_some_and(|h| h.is_empty()) {
        c.err(
            "hostnames",
            "empty list",
            "at least one hostname, e.g. [\"shop.example.com\"]",
        );
    }
    too_many(&mut c, "hostnames", hostnames.len(), MAX_HOSTNAMES);
    for (i, h) in hostnames.iter().enumerate() {
        c.errs.check(names::hostname(&format!("hostnames[{i}]"), h));
    }
    let http_port = match p.http_port {
        Some(0) => {
            c.err("http_port", "0", "a port from 1 to 65535");
            0
        }
        Some(port) => port,
        None => existing
            .and_then(|g| g.listener("HTTP").map(|l| l.port))
            .unwrap_or(defaults::HTTP_PORT),
    };
    let https_port = match p.https_port {
        Some(port) => port,
        None => existing
            .and_then(|g| g.listener("HTTPS").map(|l| l.port))
            .unwrap_or(defaults::HTTPS_PORT),
    };
    if mode.has_https() && (https_port == 0 || (mode.has_http() && https_port == http_port)) {
        c.err(
            "https_port",
            https_port.to_string(),
            "a port from 1 to 65535, different from http_port",
        );
    }
    let tls_secret = match (&p.tls_secret, existing.and_then(|g| g.tls_secret())) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => s.to_string(),
        (None, None) => {
            let d = defaults::tls_secret(&ns);
            if mode.has_https() {
                c.default("tls_secret", d, "<namespace>-tls")
            } else {
                d
            }
        }
    };
    if mode.has_https() {
        c.errs.check(names::subdomain("tls_secret", &tls_secret));
    }
    let allowed_routes = match (p.allowed_routes, existing) {
        (Some(a), _) => a,
        (None, Some(g)) => {
            let all = g.spec.listeners.iter().any(|l| {
                l.allowed_routes
                    .as_ref()
                    .and_then(|a| a.namespaces.as_ref())
                    .and_then(|n| n.from.as_deref())
                    == Some("All")
            });
            if all {
                AllowedRoutes::All
            } else {
                AllowedRoutes::Same
            }
        }
        (None, None) => AllowedRoutes::Same,
    };
    let routes = match &p.routes {
        Some(rs) if rs.is_empty() => {
            c.err(
                "routes",
                "empty list",
                "at least one route with a rule, or omit routes to keep the Gateway's",
            );
            Vec::new()
        }
        Some(rs) => {
            too_many(&mut c, "routes", rs.len(), MAX_ROUTES);
            rs.iter()
                .enumerate()
                .map(|(i, r)| route(&mut c, i, r, mode, &ns, example_ns))
                .collect()
        }
        None if routes_here.iter().any(|r| r.metadata.name != redirect_name) => Vec::new(),
        None if example_ns => {
            c.default(
                "routes",
                "task-api: / -> task-api:8000",
                "the Task API example",
            );
            vec![route(&mut c, 0, &RouteParams::default(), mode, &ns, true)]
        }
        None => {
            c.err(
                "routes",
                format!("not given, and Gateway {ns}/{name} has no route in the stack"),
                "at least one route: [{\"name\": \"<route>\", \"rules\": [{\"path_prefix\": \"/\", \"backends\": [{\"service\": \"<Service>\", \"port\": <port>}]}]}]",
            );
            Vec::new()
        }
    };
    let mut seen = std::collections::HashSet::new();
    for (i, r) in routes.iter().enumerate() {
        if !seen.insert(r.name.clone()) {
            c.err(
                format!("routes[{i}].name"),
                format!("{:?} is used twice", r.name),
                "a name unique among the routes",
            );
        }
        if r.name == redirect_name {
            c.err(
                format!("routes[{i}].name"),
                format!("{} is the name of the HTTP->HTTPS redirect route", r.name),
                "another name",
            );
        }
    }
    // routes of this Gateway the call does not rewrite must still fit the listener mode
    for r in routes_here
        .iter()
        .filter(|r| r.metadata.name != redirect_name && !seen.contains(&r.metadata.name))
    {
        for s in r.sections(&ns, &name) {
            let bad = match s.as_deref() {
                None | Some("http") if mode == ListenerMode::HttpsRedirect => Some(
                    "it attaches to the HTTP listener, which only redirects in https_redirect mode",
                ),
                Some("http") if !mode.has_http() => {
                    Some("it attaches to the http listener, which this mode removes")
                }
                Some("https") if !mode.has_https() => {
                    Some("it attaches to the https listener, which this mode removes")
                }
                _ => None,
            };
            if let Some(why) = bad {
                c.err(
                    "routes",
                    format!("HTTPRoute {ns}/{} is in the stack and {why}", r.metadata.name),
                    "name that route in routes too (it is then attached to the listeners of the mode), or keep the listener mode",
                );
            }
        }
    }
    c.finish(GatewayIntent {
        namespace,
        name,
        class,
        hostnames,
        mode,
        http_port,
        https_port,
        tls_secret,
        allowed_routes,
        routes,
    })
}

/// add_rate_limit's arguments -> the rate-limit section (absent fields keep the policy's values).
pub fn rate_limit(
    p: &RateLimitParams,
    snap: &Snapshot,
) -> Result<Resolved<RateLimitIntent>, InputErrors> {
    let mut c = Ctx::new(snap);
    let target = c.target(&p.target);
    let btp = c.btp(&target);
    let observed = btp.as_ref().map(|b| b.limits()).unwrap_or_default();
    let sp = c.security_policy(&target);
    let header = match (&p.user_header, &observed.per_user) {
        (Some(h), _) => {
            c.errs.check(names::header_name("user_header", h));
            h.to_ascii_lowercase()
        }
        (None, Some((h, _, _))) => h.clone(),
        (None, None) => c.default(
            "user_header",
            defaults::USER_HEADER.to_string(),
            "new policy",
        ),
    };
    let per_user = match (p.requests_per_user, &observed.per_user) {
        (Some(0), _) => {
            c.err(
                "requests_per_user",
                "0 would refuse every user",
                "a number of requests from 1 to 4294967295",
            );
            0
        }
        (Some(n), _) => n,
        (None, Some((_, n, _))) => u32::try_from(*n).unwrap_or(u32::MAX),
        (None, None) => c.default(
            "requests_per_user",
            defaults::REQUESTS_PER_USER,
            "new policy",
        ),
    };
    let unit = match (p.unit, observed.per_user.as_ref().and_then(|u| u.2)) {
        (Some(u), _) => u,
        (None, Some(u)) => u,
        (None, None) => {
            c.default("unit", RateUnit::Minute.as_str(), "new policy");
            RateUnit::Minute
        }
    };
    let current_mode = if sp.as_ref().is_some_and(|s| s.spec.jwt.is_some()) {
        Some(AnonymousMode::Jwt)
    } else if sp.as_ref().is_some_and(|s| s.spec.api_key_auth.is_some()) {
        Some(AnonymousMode::ApiKey)
    } else if observed.anonymous.is_some() {
        Some(AnonymousMode::Limit)
    } else if observed.per_user.is_some() {
        Some(AnonymousMode::Unlimited)
    } else {
        None
    };
    let mode = match (p.anonymous, p.limit_anonymous) {
        (Some(m), Some(b)) => {
            if b != (m == AnonymousMode::Limit) {
                c.err(
                    "limit_anonymous",
                    format!("{b} contradicts anonymous: {}", m.as_str()),
                    "anonymous alone",
                );
            }
            m
        }
        (Some(m), None) => m,
        (None, Some(true)) => AnonymousMode::Limit,
        (None, Some(false)) => AnonymousMode::Unlimited,
        (None, None) if p.anonymous_requests.is_some() => AnonymousMode::Limit,
        (None, None) => match current_mode {
            Some(m) => m,
            None => {
                c.default("anonymous", "limit", "new policy: a shared lower limit");
                AnonymousMode::Limit
            }
        },
    };
    let jwt_given = p.jwt_issuer.is_some()
        || p.jwt_jwks_uri.is_some()
        || p.jwt_claim.is_some()
        || p.jwt_audiences.is_some();
    let key_given = p.api_key_secret.is_some() || p.api_key_header.is_some();
    if jwt_given && mode != AnonymousMode::Jwt {
        c.err(
            "jwt_issuer",
            format!("jwt_* arguments with anonymous: {}", mode.as_str()),
            "anonymous: jwt, or no jwt_* arguments",
        );
    }
    if key_given && mode != AnonymousMode::ApiKey {
        c.err(
            "api_key_secret",
            format!("api_key_* arguments with anonymous: {}", mode.as_str()),
            "anonymous: api_key, or no api_key_* arguments",
        );
    }
    if p.anonymous_requests.is_some() && mode != AnonymousMode::Limit {
        c.err(
            "anonymous_requests",
            format!("a shared limit with anonymous: {}", mode.as_str()),
            "anonymous: limit (or omit anonymous_requests)",
        );
    }
    let jwt_now = sp
        .as_ref()
        .and_then(|s| s.spec.jwt.as_ref())
        .and_then(|j| j.providers.first().cloned());
    let key_now = sp.as_ref().and_then(|s| s.spec.api_key_auth.clone());
    let anonymous = match mode {
        AnonymousMode::Limit => {
            AnonymousAccess::Limit(match (p.anonymous_requests, observed.anonymous) {
                (Some(n), _) => n,
                (None, Some((n, _))) => u32::try_from(n).unwrap_or(u32::MAX),
                (None, None) => c.default(
                    "anonymous_requests",
                    defaults::ANONYMOUS_REQUESTS,
                    "new policy",
                ),
            })
        }
        AnonymousMode::Unlimited => AnonymousAccess::Unlimited,
        AnonymousMode::Deny => {
            c.err(
                "anonymous",
                "deny cannot be expressed without authentication: Envoy Gateway's authorization rules match header values, not whether a client-chosen header is present",
                "jwt or api_key (clients without identity get 401), or limit with anonymous_requests: 0 (429)",
            );
            AnonymousAccess::Unlimited
        }
        AnonymousMode::Jwt => {
            let issuer = p
                .jwt_issuer
                .clone()
                .or_else(|| jwt_now.as_ref().and_then(|j| j.issuer.clone()));
            let jwks = p.jwt_jwks_uri.clone().or_else(|| {
                jwt_now
                    .as_ref()
                    .and_then(|j| j.remote_jwks.as_ref().map(|u| u.uri.clone()))
            });
            let issuer = issuer.unwrap_or_else(|| {
                c.err(
                    "jwt_issuer",
                    "not given",
                    "the token issuer (iss), e.g. https://auth.example.com",
                );
                String::new()
            });
            let jwks = jwks.unwrap_or_else(|| {
                c.err(
                    "jwt_jwks_uri",
                    "not given",
                    "the issuer's JWKS URL, e.g. https://auth.example.com/.well-known/jwks.json",
                );
                String::new()
            });
            if !jwks.is_empty()
                && (!jwks.starts_with("https://")
                    || jwks.len() > 2048
                    || jwks.chars().any(|ch| ch.is_whitespace() || ch.is_control()))
            {
                c.err(
                    "jwt_jwks_uri",
                    "not an https URL",
                    "an https:// URL of at most 2048 characters",
                );
            }
            if issuer.len() > 2048 || issuer.chars().any(char::is_control) {
                c.err(
                    "jwt_issuer",
                    "too long or has control characters",
                    "an issuer of at most 2048 printable characters",
                );
            }
            let claim = p.jwt_claim.clone().or_else(|| {
                jwt_now.as_ref().and_then(|j| {
                    j.claim_to_headers
                        .iter()
                        .find(|ch| ch.header.eq_ignore_ascii_case(&header))
                        .map(|ch| ch.claim.clone())
                })
            });
            let claim = claim.unwrap_or_else(|| {
                c.default(
                    "jwt_claim",
                    defaults::JWT_CLAIM.to_string(),
                    "the token's subject",
                )
            });
            if claim.is_empty()
                || claim.len() > 256
                || claim
                    .chars()
                    .any(|ch| ch.is_control() || ch.is_whitespace())
            {
                c.err(
                    "jwt_claim",
                    "empty or not a claim name",
                    "a claim name such as sub or email",
                );
            }
            let audiences = p
                .jwt_audiences
                .clone()
                .or_else(|| jwt_now.as_ref().map(|j| j.audiences.clone()))
                .unwrap_or_default();
            if audiences.len() > 8 {
                c.err(
                    "jwt_audiences",
                    format!("{} entries", audiences.len()),
                    "at most 8 (Envoy Gateway limit)",
                );
            }
            AnonymousAccess::Jwt(JwtIntent {
                issuer,
                jwks_uri: jwks,
                claim,
                audiences,
            })
        }
        AnonymousMode::ApiKey => {
            let secret = p.api_key_secret.clone().or_else(|| {
                key_now
                    .as_ref()
                    .and_then(|k| k.credential_refs.first().map(|r| r.name.clone()))
            });
            let secret = secret.unwrap_or_else(|| {
                c.err("api_key_secret", "not given", "the name of a Secret in the target's namespace whose keys are client ids and values API keys");
                String::new()
            });
            if !secret.is_empty() {
                c.errs.check(names::subdomain("api_key_secret", &secret));
            }
            let kh = p.api_key_header.clone().or_else(|| {
                key_now.as_ref().and_then(|k| {
                    k.extract_from
                        .first()
                        .and_then(|e| e.headers.first().cloned())
                })
            });
            let kh = kh.unwrap_or_else(|| {
                c.default(
                    "api_key_header",
                    defaults::API_KEY_HEADER.to_string(),
                    "default",
                )
            });
            c.errs.check(names::header_name("api_key_header", &kh));
            AnonymousAccess::ApiKey(ApiKeyIntent {
                secret,
                header: kh.to_ascii_lowercase(),
            })
        }
    };
    c.finish(RateLimitIntent {
        target,
        header,
        per_user,
        anonymous,
        unit,
    })
}

/// add_circuit_breaker's arguments -> the circuit-breaker section: the named thresholds over
/// those the policy has.
pub fn circuit_breaker(
    p: &CircuitBreakerParams,
    snap: &Snapshot,
) -> Result<Resolved<CircuitBreakerIntent>, InputErrors> {
    let mut c = Ctx::new(snap);
    let target = c.target(&p.target);
    let current = c
        .btp(&target)
        .and_then(|b| b.spec.circuit_breaker.map(|cb| cb.thresholds()))
        .unwrap_or_default();
    for (field, v) in [
        ("max_connections", p.max_connections),
        ("max_pending_requests", p.max_pending_requests),
        ("max_parallel_requests", p.max_parallel_requests),
        ("max_requests_per_connection", p.max_requests_per_connection),
    ] {
        if v == Some(0) {
            c.err(
                field,
                "0 would refuse every request",
                "a limit from 1 to 4294967295, or omit it",
            );
        }
    }
    let named = p.max_connections.is_some()
        || p.max_pending_requests.is_some()
        || p.max_parallel_requests.is_some()
        || p.max_parallel_retries.is_some()
        || p.max_requests_per_connection.is_some();
    if !named && current.fields().is_empty() && target.namespace == example::NAMESPACE {
        let n = example::BREAKER;
        c.default(
            "max_connections, max_pending_requests, max_parallel_requests",
            n,
            "the Task API example; outside it, name the thresholds you want",
        );
        let thresholds = Thresholds {
            max_connections: Some(n),
            max_pending_requests: Some(n),
            max_parallel_requests: Some(n),
            ..Default::default()
        };
        return c.finish(CircuitBreakerIntent { target, thresholds });
    }
    let thresholds = Thresholds {
        max_connections: p.max_connections.or(current.max_connections),
        max_pending_requests: p.max_pending_requests.or(current.max_pending_requests),
        max_parallel_requests: p.max_parallel_requests.or(current.max_parallel_requests),
        max_parallel_retries: p.max_parallel_retries.or(current.max_parallel_retries),
        max_requests_per_connection: p
            .max_requests_per_connection
            .or(current.max_requests_per_connection),
    };
    if thresholds.fields().is_empty() {
        c.err(
            "max_connections",
            "no threshold given",
            "at least one of max_connections, max_pending_requests, max_parallel_requests, max_parallel_retries, max_requests_per_connection",
        );
    }
    c.finish(CircuitBreakerIntent { target, thresholds })
}

/// generate_tls's arguments -> the TLS section.
pub fn tls(p: &TlsParams, snap: &Snapshot) -> Result<Resolved<TlsIntent>, InputErrors> {
    let mut c = Ctx::new(snap);
    let namespace = c.namespace_intent(&p.namespace, p.create_namespace);
    let ns = namespace.name.clone();
    let gateways: Vec<observe::Gateway> = c
        .objects("Gateway", &ns)
        .filter_map(|m| view::<observe::GatewaySpec>(&m.value))
        .collect();
    let gw = (gateways.len() == 1).then(|| &gateways[0]);
    let secret = match (&p.secret_name, gw.and_then(|g| g.tls_secret())) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => c.default("secret_name", s.to_string(), "the Gateway's HTTPS Secret"),
        (None, None) => c.default("secret_name", defaults::tls_secret(&ns), "<namespace>-tls"),
    };
    if c.errs.check(names::subdomain("secret_name", &secret)) && secret.contains('.') {
        c.err(
            "secret_name",
            "dots are not allowed here",
            "a DNS-1123 label such as shop-tls",
        );
    }
    let served = gw
        .map(|g| c.served_hostnames(g))
        .map(|h| {
            h.into_iter()
                .filter(|h| !h.starts_with("*."))
                .collect::<Vec<_>>()
        })
        .filter(|h| !h.is_empty());
    let hostnames: Vec<String> = match (&p.hostnames, served) {
        (Some(h), _) => h.clone(),
        (None, Some(h)) => {
            c.defaulted
                .push(format!("hostnames: {} (the Gateway's)", h.join(", ")));
            h
        }
        (None, None) if ns == example::NAMESPACE => vec![c.default(
            "hostnames",
            example::HOSTNAME.to_string(),
            "the Task API example",
        )],
        (None, None) => {
            c.err(
                "hostnames",
                "not given, and no Gateway in the stack names them",
                "the DNS names of the certificate, e.g. [\"shop.example.com\"]",
            );
            Vec::new()
        }
    };
    if hostnames.is_empty() && p.hostnames.is_some() || hostnames.len() > MAX_HOSTNAMES {
        c.err(
            "hostnames",
            format!("{} entries", hostnames.len()),
            "1 to 16 hostnames",
        );
    }
    for (i, h) in hostnames.iter().enumerate() {
        c.errs.check(names::hostname(&format!("hostnames[{i}]"), h));
    }
    let days = match p.days {
        Some(d) => d,
        None => defaults::CERT_DAYS,
    };
    if !(1..=3650).contains(&days) {
        c.err("days", days.to_string(), "a validity from 1 to 3650 days");
    }
    let certificate = c
        .objects("Certificate", &ns)
        .filter_map(|m| view::<observe::CertificateSpec>(&m.value))
        .find(|cert| cert.spec.secret_name == secret);
    let local_now = snap
        .other_files
        .iter()
        .any(|f| f == &format!("{secret}.key"));
    let mode = match p.mode {
        Some(m) => m,
        None if local_now => TlsMode::Local,
        None => TlsMode::CertManager,
    };
    let source = match mode {
        TlsMode::Local => {
            for (field, given) in [
                ("issuer_name", p.issuer_name.is_some()),
                ("issuer_kind", p.issuer_kind.is_some()),
                ("self_signed", p.self_signed.is_some()),
            ] {
                if given {
                    c.err(
                        field,
                        "applies to mode cert_manager",
                        "mode: cert_manager, or leave it out with mode: local",
                    );
                }
            }
            TlsSource::Local { rotate: p.rotate }
        }
        TlsMode::CertManager => {
            if p.rotate {
                c.err("rotate", "applies to mode local (cert-manager rotates its own keys: rotationPolicy Always)", "leave rotate out with mode: cert_manager");
            }
            let kind_now =
                certificate
                    .as_ref()
                    .map(|cert| match cert.spec.issuer_ref.kind.as_deref() {
                        Some("ClusterIssuer") => IssuerKind::ClusterIssuer,
                        Some(_) | None => IssuerKind::Issuer,
                    });
            let kind = p.issuer_kind.or(kind_now).unwrap_or_default();
            let ours = |kind: IssuerKind, name: &str| {
                snap.of_kind(kind.as_str()).any(|m| {
                    m.name() == name
                        && m.value["metadata"]["labels"][defaults::MANAGED_BY_LABEL]
                            == defaults::MANAGED_BY
                })
            };
            match (&p.issuer_name, p.self_signed) {
                (Some(n), Some(true)) => {
                    c.errs.check(names::object_name("issuer_name", n));
                    TlsSource::SelfSignedIssuer {
                        kind,
                        name: n.clone(),
                    }
                }
                (Some(n), _) => {
                    c.errs.check(names::subdomain("issuer_name", n));
                    TlsSource::ExistingIssuer {
                        kind,
                        name: n.clone(),
                    }
                }
                (None, Some(false)) => match certificate.as_ref() {
                    Some(cert)
                        if !cert.spec.issuer_ref.name.is_empty()
                            && !ours(kind, &cert.spec.issuer_ref.name) =>
                    {
                        TlsSource::ExistingIssuer {
                            kind,
                            name: cert.spec.issuer_ref.name.clone(),
                        }
                    }
                    _ => {
                        c.err(
                            "issuer_name",
                            "not given with self_signed: false",
                            "the name of your Issuer or ClusterIssuer (ACME, CA, Vault...)",
                        );
                        TlsSource::ExistingIssuer {
                            kind,
                            name: String::new(),
                        }
                    }
                },
                (None, Some(true)) => TlsSource::SelfSignedIssuer {
                    kind,
                    name: defaults::self_signed_issuer(&ns),
                },
                (None, None) => match certificate.as_ref() {
                    Some(cert) if !cert.spec.issuer_ref.name.is_empty() => {
                        let name = cert.spec.issuer_ref.name.clone();
                        if ours(kind, &name) {
                            TlsSource::SelfSignedIssuer { kind, name }
                        } else {
                            TlsSource::ExistingIssuer { kind, name }
                        }
                    }
                    _ => {
                        let name = defaults::self_signed_issuer(&ns);
                        c.default("issuer", format!("self-signed {} {name}", kind.as_str()), "local use: name your ACME or CA issuer with issuer_name for production");
                        TlsSource::SelfSignedIssuer { kind, name }
                    }
                },
            }
        }
    };
    c.finish(TlsIntent {
        namespace,
        secret,
        hostnames,
        days,
        source,
    })
}

/// generate_scaledobject's arguments -> the autoscaling section.
pub fn autoscaling(
    p: &ScaledObjectParams,
    snap: &Snapshot,
) -> Result<Resolved<AutoscalingIntent>, InputErrors> {
    let mut c = Ctx::new(snap);
    let namespace = c.namespace_intent(&p.namespace, p.create_namespace);
    let ns = namespace.name.clone();
    let existing_named = p.name.as_ref().and_then(|n| {
        c.objects("ScaledObject", &ns)
            .find(|m| m.name() == n)
            .and_then(|m| view::<observe::ScaledObjectSpec>(&m.value))
    });
    let deployment = match (&p.deployment, existing_named.as_ref()) {
        (Some(d), _) => {
            c.errs.check(names::label("deployment", d));
            d.clone()
        }
        (None, Some(so)) if !so.spec.scale_target_ref.name.is_empty() => {
            so.spec.scale_target_ref.name.clone()
        }
        (None, _) if ns == example::NAMESPACE => c.default(
            "deployment",
            example::DEPLOYMENT.to_string(),
            "the Task API example",
        ),
        (None, _) => {
            c.err(
                "deployment",
                "not given",
                "the name of the Deployment to scale",
            );
            String::new()
        }
    };
    let existing = existing_named.or_else(|| {
        c.objects("ScaledObject", &ns)
            .filter_map(|m| view::<observe::ScaledObjectSpec>(&m.value))
            .find(|so| so.spec.scale_target_ref.name == deployment)
    });
    let name = match &p.name {
        Some(n) => {
            c.errs.check(names::object_name("name", n));
            n.clone()
        }
        None => match &existing {
            Some(so) => so.metadata.name.clone(),
            None => deployment.clone(),
        },
    };
    // KEDA's webhook (verifyName, scaledobject_webhook.go v2.20.2) refuses a ScaledObject whose
    // HPA name keda-hpa-<name> is longer than a label value (63)
    if name.len() > 54 && existing.is_none() {
        c.err(
            if p.name.is_some() { "name" } else { "deployment" },
            format!("{} characters as the ScaledObject name", name.len()),
            "at most 54 characters: KEDA names the HPA keda-hpa-<name>, at most 63; pass a shorter name",
        );
    }
    let spec_now = existing.as_ref().map(|so| &so.spec);
    let trigger_now = spec_now.and_then(|s| s.triggers.first());
    let min = p
        .min_replicas
        .or(spec_now.and_then(|s| s.min_replica_count))
        .unwrap_or(defaults::MIN_REPLICAS);
    let max = p
        .max_replicas
        .or(spec_now.and_then(|s| s.max_replica_count))
        .unwrap_or(defaults::MAX_REPLICAS);
    if max == 0 {
        c.err("max_replicas", "0", "at least 1");
    } else if max > 1000 {
        c.err("max_replicas", max.to_string(), "at most 1000");
    }
    if min > max {
        c.err(
            "min_replicas",
            format!("{min} is above max_replicas {max}"),
            "min_replicas <= max_replicas (e.g. 1 and 10)",
        );
    }
    let metric = p
        .metric
        .or_else(|| {
            trigger_now.map(|t| {
                if t.kind == "cpu" {
                    ScaleMetric::Cpu
                } else {
                    ScaleMetric::RequestRate
                }
            })
        })
        .unwrap_or_default();
    let threshold_now = trigger_now.and_then(|t| {
        let v = if t.kind == "cpu" {
            t.meta("value")
        } else {
            t.meta("threshold")
        };
        v.parse::<u32>().ok()
    });
    let threshold = match (p.threshold, p.metric) {
        (Some(t), _) => t,
        (None, Some(_)) => match metric {
            ScaleMetric::RequestRate => defaults::REQUEST_RATE_THRESHOLD,
            ScaleMetric::Cpu => defaults::CPU_THRESHOLD,
        },
        (None, None) => threshold_now.unwrap_or(match metric {
            ScaleMetric::RequestRate => defaults::REQUEST_RATE_THRESHOLD,
            ScaleMetric::Cpu => defaults::CPU_THRESHOLD,
        }),
    };
    if threshold == 0 {
        c.err(
            "threshold",
            "0",
            "a target above 0 (requests/s per replica, or CPU %)",
        );
    }
    if metric == ScaleMetric::Cpu && min == 0 {
        c.err(
            "min_replicas",
            "0 with the cpu metric",
            "at least 1: KEDA cannot scale to zero on CPU",
        );
    }
    let polling_interval = p
        .polling_interval
        .or(spec_now.and_then(|s| s.polling_interval))
        .unwrap_or(defaults::POLLING_INTERVAL);
    if !(1..=3600).contains(&polling_interval) {
        c.err(
            "polling_interval",
            polling_interval.to_string(),
            "1 to 3600 seconds",
        );
    }
    let prometheus_address = p
        .prometheus_address
        .clone()
        .or_else(|| {
            trigger_now
                .map(|t| t.meta("serverAddress"))
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| defaults::PROMETHEUS_ADDRESS.to_string());
    let addr_ok = (prometheus_address.starts_with("http://")
        || prometheus_address.starts_with("https://"))
        && prometheus_address.len() <= 2048
        && !prometheus_address
            .chars()
            .any(|ch| ch.is_whitespace() || ch.is_control());
    if !addr_ok {
        c.err(
            "prometheus_address",
            "not an http(s) URL",
            "a URL such as http://prometheus-server.monitoring.svc.cluster.local:80",
        );
    }
    let (route, scope) = match metric {
        ScaleMetric::Cpu => {
            for (field, given) in [
                ("route", p.route.is_some()),
                ("scope", p.scope.is_some()),
                ("backend", p.backend.is_some()),
            ] {
                if given {
                    c.err(
                        field,
                        "applies to metric request_rate",
                        "leave it out with metric: cpu",
                    );
                }
            }
            (String::new(), ScaleScope::Route)
        }
        ScaleMetric::RequestRate => {
            let route = c.reference("route", "HTTPRoute", &ns, &p.route, p.external);
            let scope = match (p.scope.unwrap_or_default(), &p.backend) {
                (ScaleScopeParam::Route, Some(_)) => {
                    c.err(
                        "backend",
                        "applies to scope: backend",
                        "scope: backend with backend, or leave backend out",
                    );
                    ScaleScope::Route
                }
                (ScaleScopeParam::Route, None) => ScaleScope::Route,
                (ScaleScopeParam::Backend, b) => {
                    let b = b.clone().unwrap_or_else(|| {
                        c.default("backend", deployment.clone(), "the deployment's name")
                    });
                    c.errs.check(names::label("backend", &b));
                    ScaleScope::Backend(b)
                }
            };
            (route, scope)
        }
    };
    c.finish(AutoscalingIntent {
        namespace,
        name,
        deployment,
        min,
        max,
        metric,
        threshold,
        route,
        scope,
        prometheus_address,
        polling_interval,
    })
}

// ---------------------------------------------------------------------------------------------
// add_llm_route

/// Most rules an AIGatewayRoute holds (the v1.1.0 CRD's `rules` maxItems); one per model.
pub const MAX_MODELS: usize = 15;

/// A model name as the `x-ai-eg-model` header carries it: printable ASCII, no spaces at the
/// ends (Envoy compares header values byte for byte).
fn model_name_ok(m: &str) -> bool {
    !m.is_empty() && m.len() <= 256 && m.bytes().all(|b| (0x21..0x7f).contains(&b))
}

/// The LLM route of a gateway as the stack has it: its backends read back from the
/// AIGatewayRoute, AIServiceBackends, Backends and BackendSecurityPolicies, and the token
/// budget from the BackendTrafficPolicy of the generated HTTPRoute.
struct ObservedLlm {
    gateway: Option<String>,
    backends: Result<Vec<LlmBackendIntent>, String>,
    user_header: Option<String>,
    budget: TokenBudget,
    unit: Option<RateUnit>,
}

fn s<'v>(v: &'v serde_json::Value, ptr: &str) -> Option<&'v str> {
    v.pointer(ptr).and_then(|x| x.as_str())
}

fn observe_llm(snap: &Snapshot, ns: &str, name: &str) -> Option<ObservedLlm> {
    let route = snap.find("AIGatewayRoute", ns, name)?;
    let r = &route.value;
    let gateway = s(r, "/spec/parentRefs/0/name").map(str::to_string);
    let backends = observe_llm_backends(snap, ns, r);
    let mut budget = TokenBudget::default();
    let mut user_header = None;
    let mut unit = None;
    let policies: Vec<&StackManifest> = snap
        .of_kind("BackendTrafficPolicy")
        .filter(|m| m.namespace() == ns)
        .filter(|m| {
            view::<observe::BtpSpec>(&m.value)
                .is_some_and(|b| b.spec.targets.targets("HTTPRoute", name))
        })
        .collect();
    if let [p] = policies.as_slice() {
        for rule in crate::generate::llm::token_rules(&p.value) {
            if let Some(k) =
                s(rule, "/cost/response/metadata/key").and_then(TokenKind::from_metadata_key)
            {
                let n = rule.pointer("/limit/requests").and_then(|x| x.as_u64());
                budget.set(k, n.map(|n| u32::try_from(n).unwrap_or(u32::MAX)));
                unit = unit.or_else(|| s(rule, "/limit/unit").and_then(RateUnit::parse));
                user_header = user_header.or_else(|| {
                    s(rule, "/clientSelectors/0/headers/0/name").map(str::to_ascii_lowercase)
                });
            }
        }
    }
    Some(ObservedLlm {
        gateway,
        backends,
        user_header,
        budget,
        unit,
    })
}

fn observe_llm_backends(
    snap: &Snapshot,
    ns: &str,
    route: &serde_json::Value,
) -> Result<Vec<LlmBackendIntent>, String> {
    let mut out: Vec<LlmBackendIntent> = Vec::new();
    let rules = route.pointer("/spec/rules").and_then(|x| x.as_array());
    for rule in rules.into_iter().flatten() {
        let model = rule
            .pointer("/matches/0/headers")
            .and_then(|h| h.as_array())
            .into_iter()
            .flatten()
            .find(|h| {
                s(h, "/name").is_some_and(|n| n.eq_ignore_ascii_case(defaults::llm::MODEL_HEADER))
            })
            .and_then(|h| s(h, "/value"))
            .ok_or("a rule of the AIGatewayRoute does not match on x-ai-eg-model")?;
        for br in rule
            .pointer("/backendRefs")
            .and_then(|x| x.as_array())
            .into_iter()
            .flatten()
        {
            let bname = s(br, "/name").unwrap_or("");
            let priority = br
                .pointer("/priority")
                .and_then(|x| x.as_u64())
                .unwrap_or(0);
            if let Some(b) = out.iter_mut().find(|b| b.name == bname) {
                b.models.push(model.to_string());
                continue;
            }
            let asb = snap
                .find("AIServiceBackend", ns, bname)
                .ok_or_else(|| format!("AIServiceBackend {ns}/{bname} is not in the stack"))?;
            let schema_name = s(&asb.value, "/spec/schema/name").unwrap_or("");
            let schema = LlmSchema::from_schema_name(schema_name).ok_or_else(|| {
                format!("AIServiceBackend {bname} has schema {schema_name}, which add_llm_route does not write")
            })?;
            let backend_name = s(&asb.value, "/spec/backendRef/name").unwrap_or(bname);
            let be = snap
                .find("Backend", ns, backend_name)
                .ok_or_else(|| format!("Backend {ns}/{backend_name} is not in the stack"))?;
            let ep = be
                .value
                .pointer("/spec/endpoints/0")
                .cloned()
                .unwrap_or_default();
            let (hostname, port) = match (ep.get("fqdn"), ep.get("ip")) {
                (Some(f), _) => (s(f, "/hostname"), f.get("port")),
                (None, Some(i)) => (s(i, "/address"), i.get("port")),
                _ => (None, None),
            };
            let hostname = hostname
                .ok_or_else(|| format!("Backend {backend_name} has no fqdn or ip endpoint"))?;
            let port = port
                .and_then(|p| p.as_u64())
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("Backend {backend_name} has no port"))?;
            let (ty, field) = schema.security_type();
            let secret = snap
                .of_kind("BackendSecurityPolicy")
                .filter(|m| m.namespace() == ns && s(&m.value, "/spec/type") == Some(ty))
                .filter(|m| {
                    m.value
                        .pointer("/spec/targetRefs")
                        .and_then(|t| t.as_array())
                        .is_some_and(|t| t.iter().any(|t| s(t, "/name") == Some(bname)))
                })
                .find_map(|m| s(&m.value, &format!("/spec/{field}/secretRef/name")))
                .ok_or_else(|| {
                    format!(
                        "no BackendSecurityPolicy of type {ty} targets AIServiceBackend {bname}"
                    )
                })?;
            out.push(LlmBackendIntent {
                name: bname.to_string(),
                schema,
                hostname: hostname.to_string(),
                port,
                tls: be.value.pointer("/spec/tls").is_some_and(|t| t.is_object()),
                secret: secret.to_string(),
                models: vec![model.to_string()],
                priority: u32::try_from(priority).unwrap_or(u32::MAX),
                api_version: s(&asb.value, "/spec/schema/version").map(str::to_string),
            });
        }
    }
    Ok(out)
}

fn llm_backend(
    c: &mut Ctx,
    i: usize,
    b: &crate::generate::params::LlmBackendParams,
) -> LlmBackendIntent {
    let f = |x: &str| format!("backends[{i}].{x}");
    let name = checked(
        c.errs.check(names::object_name(&f("name"), &b.name)),
        &b.name,
    );
    if names::label("", &defaults::llm_key_policy_name(&b.name)).is_err() && name == b.name {
        // the key policy's name must be a name too; only a 60+ character name fails here
        c.err(f("name"), "too long", "at most 59 characters");
    }
    let ip = b.hostname.parse::<std::net::IpAddr>().is_ok();
    if !ip {
        c.errs.check(names::hostname(&f("hostname"), &b.hostname));
        if b.hostname.starts_with("*.") {
            c.err(
                f("hostname"),
                "a wildcard is not a host",
                "the provider's host name, e.g. api.openai.com",
            );
        }
    }
    let hostname = checked(true, &b.hostname.chars().take(253).collect::<String>());
    let port = b.port.unwrap_or(defaults::llm::PROVIDER_PORT);
    if port == 0 {
        c.err(f("port"), "0", "a port from 1 to 65535");
    }
    let secret = checked(
        c.errs.check(names::subdomain(&f("secret"), &b.secret)),
        &b.secret,
    );
    if b.models.is_empty() {
        c.err(
            f("models"),
            "empty list",
            "the model names this provider serves, e.g. [\"gpt-4o-mini\"]",
        );
    }
    let mut models = Vec::new();
    for (mi, m) in b.models.iter().enumerate() {
        if !model_name_ok(m) {
            c.err(
                format!("backends[{i}].models[{mi}]"),
                format!("{} is not a model name", names::show(m)),
                "the model name clients send (printable ASCII without spaces, at most 256 characters), e.g. gpt-4o-mini",
            );
        } else if models.contains(m) {
            c.err(
                format!("backends[{i}].models[{mi}]"),
                format!("{m} is listed twice"),
                "each model once per backend",
            );
        } else {
            models.push(m.clone());
        }
    }
    let api_version = match (b.schema, &b.api_version) {
        (LlmSchema::AzureOpenai, None) => {
            c.err(
                f("api_version"),
                "missing for azure_openai",
                "the Azure OpenAI API version, e.g. 2025-01-01-preview",
            );
            None
        }
        (LlmSchema::AzureOpenai, Some(v)) => {
            let ok = !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
            if !ok {
                c.err(
                    f("api_version"),
                    format!("{} is not an API version", names::show(v)),
                    "an Azure OpenAI API version such as 2025-01-01-preview",
                );
            }
            Some(v.clone())
        }
        (LlmSchema::Openai, Some(_)) => {
            c.err(
                f("api_version"),
                "given for schema openai",
                "leave it out (only azure_openai has an API version)",
            );
            None
        }
        (LlmSchema::Openai, None) => None,
    };
    LlmBackendIntent {
        name,
        schema: b.schema,
        hostname,
        port,
        tls: b.tls.unwrap_or(true),
        secret,
        models,
        priority: b.priority.unwrap_or(0),
        api_version,
    }
}

/// add_llm_route's arguments -> the LLM route section (absent fields keep the stack's).
pub fn llm_route(
    p: &crate::generate::params::LlmRouteParams,
    snap: &Snapshot,
) -> Result<Resolved<LlmRouteIntent>, InputErrors> {
    let mut c = Ctx::new(snap);
    let ns = c.namespace(&p.namespace);
    // the route named, or the one the gateway has, or <gateway>-llm
    let named_existing = p
        .name
        .as_ref()
        .and_then(|n| observe_llm(snap, &ns, n).map(|o| (n.clone(), o)));
    let gateway_given = p
        .gateway
        .clone()
        .or_else(|| named_existing.as_ref().and_then(|(_, o)| o.gateway.clone()));
    let gateway = c.reference("gateway", "Gateway", &ns, &gateway_given, false);
    let name = match &p.name {
        Some(n) => checked(c.errs.check(names::object_name("name", n)), n),
        None => {
            let here: Vec<String> = snap
                .of_kind("AIGatewayRoute")
                .filter(|m| {
                    m.namespace() == ns
                        && s(&m.value, "/spec/parentRefs/0/name") == Some(gateway.as_str())
                })
                .map(|m| m.name().to_string())
                .collect();
            match here.as_slice() {
                [one] => c.default(
                    "name",
                    one.clone(),
                    &format!("the AIGatewayRoute of Gateway {gateway}"),
                ),
                _ if gateway.is_empty() => String::new(),
                [] => c.default("name", defaults::llm_route_name(&gateway), "<gateway>-llm"),
                many => {
                    c.err(
                        "name",
                        format!(
                            "not given, and Gateway {gateway} has several AIGatewayRoutes: {}",
                            many.join(", ")
                        ),
                        "one of those names",
                    );
                    String::new()
                }
            }
        }
    };
    let observed = observe_llm(snap, &ns, &name);
    if let Some(o) = &observed
        && let Some(g) = &o.gateway
        && !gateway.is_empty()
        && g != &gateway
    {
        c.err(
            "gateway",
            format!("AIGatewayRoute {ns}/{name} is attached to Gateway {g}"),
            format!("gateway: {g}, or another name for a route on {gateway}"),
        );
    }
    if snap.find("HTTPRoute", &ns, &name).is_some() {
        c.err("name", format!("HTTPRoute {ns}/{name} is in the stack; the AI Gateway controller writes an HTTPRoute of the AIGatewayRoute's name and would overwrite it"), "another name");
    }
    let backends = match (&p.backends, observed.as_ref().map(|o| &o.backends)) {
        (Some(bs), _) => {
            if bs.is_empty() {
                c.err("backends", "empty list", "at least one provider: [{\"name\": \"openai\", \"schema\": \"openai\", \"hostname\": \"api.openai.com\", \"secret\": \"openai-api-key\", \"models\": [\"gpt-4o-mini\"]}]");
            }
            too_many(&mut c, "backends", bs.len(), MAX_BACKENDS);
            let v: Vec<LlmBackendIntent> = bs
                .iter()
                .enumerate()
                .map(|(i, b)| llm_backend(&mut c, i, b))
                .collect();
            let mut seen = std::collections::HashSet::new();
            for (i, b) in v.iter().enumerate() {
                if !seen.insert(b.name.clone()) {
                    c.err(
                        format!("backends[{i}].name"),
                        format!("{} is used twice", b.name),
                        "a name unique among the backends",
                    );
                }
            }
            v
        }
        (None, Some(Ok(v))) => v.clone(),
        (None, Some(Err(why))) => {
            c.err(
                "backends",
                format!("not given, and the stack's route cannot be read back: {why}"),
                "the full list of backends",
            );
            Vec::new()
        }
        (None, None) => {
            if !name.is_empty() {
                c.err("backends", format!("not given, and the stack has no AIGatewayRoute {ns}/{name}"), "at least one provider: [{\"name\": \"openai\", \"schema\": \"openai\", \"hostname\": \"api.openai.com\", \"secret\": \"openai-api-key\", \"models\": [\"gpt-4o-mini\"]}]");
            }
            Vec::new()
        }
    };
    let intent_models = {
        let probe = LlmRouteIntent {
            namespace: String::new(),
            gateway: String::new(),
            name: String::new(),
            backends: backends.clone(),
            user_header: String::new(),
            budget: TokenBudget::default(),
            unit: RateUnit::Hour,
        };
        probe.models().len()
    };
    if intent_models > MAX_MODELS {
        c.err(
            "backends",
            format!("{intent_models} distinct models"),
            format!("at most {MAX_MODELS} (one AIGatewayRoute rule per model); use a second route"),
        );
    }
    let user_header = match (
        &p.user_header,
        observed.as_ref().and_then(|o| o.user_header.clone()),
    ) {
        (Some(h), _) => {
            c.errs.check(names::header_name("user_header", h));
            h.to_ascii_lowercase()
        }
        (None, Some(h)) => h,
        (None, None) => defaults::USER_HEADER.to_string(),
    };
    let mut budget = observed
        .as_ref()
        .map(|o| o.budget.clone())
        .unwrap_or_default();
    if let Some(tb) = &p.token_budget {
        for (k, v) in [
            (TokenKind::Input, tb.input),
            (TokenKind::Output, tb.output),
            (TokenKind::Total, tb.total),
        ] {
            match v {
                Some(0) => budget.set(k, None),
                Some(n) => budget.set(k, Some(n)),
                None => {}
            }
        }
        if tb.input.is_none() && tb.output.is_none() && tb.total.is_none() {
            c.err(
                "token_budget",
                "names no kind",
                "{\"input\": N, \"output\": N, \"total\": N} (any of them; 0 removes that budget)",
            );
        }
    }
    if !budget.is_empty()
        && p.user_header.is_none()
        && observed
            .as_ref()
            .and_then(|o| o.user_header.as_ref())
            .is_none()
    {
        c.default("user_header", defaults::USER_HEADER, "new token budget");
    }
    let unit = match (p.unit, observed.as_ref().and_then(|o| o.unit)) {
        (Some(u), _) => u,
        (None, Some(u)) => u,
        (None, None) => {
            if !budget.is_empty() {
                c.default(
                    "unit",
                    defaults::llm::BUDGET_UNIT.as_str(),
                    "new token budget",
                );
            }
            defaults::llm::BUDGET_UNIT
        }
    };
    // the header and the unit live in the budget's rate-limit rules: without a budget they
    // would reach nothing
    if p.unit.is_some() && budget.is_empty() {
        c.err(
            "unit",
            "given without a token budget",
            "token_budget too, or leave unit out",
        );
    }
    if p.user_header.is_some() && budget.is_empty() {
        c.err(
            "user_header",
            "given without a token budget",
            "token_budget too, or leave user_header out",
        );
    }
    c.finish(LlmRouteIntent {
        namespace: ns,
        gateway,
        name,
        backends,
        user_header,
        budget,
        unit,
    })
}
