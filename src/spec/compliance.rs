//! The compliance table: each success criterion checked against the stack field by field.
//!
//! A criterion covers intent fields (its check kind says which: `rate_limits` covers the
//! target, the header, the per-user limit, the unit and the access of clients without
//! identity). Each field is compared with what the stack realises, read through the same typed
//! views as resolution ([`crate::intent::observe`]). PASS only when every covered field is
//! realised; FAIL names each field that is not. Intent that no criterion covers is listed as
//! UNCOVERED, never silently passed.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::{CheckKind, Spec};
use crate::intent::observe::{self, view};
use crate::intent::{
    AnonymousAccess, Intent, ListenerMode, ScaleMetric, ScaleScope, TlsSource, defaults,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
    /// Intent no criterion checks (a row without a criterion id).
    Uncovered,
}

/// A check only traffic or a cluster can make, with the command that makes it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LiveCheck {
    pub command: String,
    pub expect: String,
}

/// One intent field compared with the stack.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FieldCheck {
    /// The intent field, as the spec names it (`rate_limits.per_user`).
    pub field: String,
    pub want: String,
    /// What the stack holds (or why nothing).
    pub got: String,
    pub ok: bool,
}

/// One row of the compliance table.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Row {
    pub id: String,
    pub check: CheckKind,
    pub status: Status,
    /// What in the stack meets the criterion (PASS), or which fields do not (FAIL).
    pub evidence: String,
    /// Every intent field the criterion covers, with its verdict.
    pub fields: Vec<FieldCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveCheck>,
}

impl Row {
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} {}: {}",
            self.id,
            match self.status {
                Status::Pass => "PASS",
                Status::Fail => "FAIL",
                Status::Uncovered => "UNCOVERED",
            },
            self.evidence
        );
        if let Some(l) = &self.live {
            s.push_str(&format!(
                "\n    live check: {}  (expect: {})",
                l.command, l.expect
            ));
        }
        s
    }
}

/// The stack as compliance sees it: every object of every document, and the Secrets a
/// kustomize secretGenerator makes.
pub struct StackView<'a> {
    pub objects: &'a [Value],
    pub generated_secrets: &'a [(String, String)],
}

impl StackView<'_> {
    fn find(&self, kind: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects.iter().find(|o| {
            o["kind"] == kind && o["metadata"]["name"] == name && o["metadata"]["namespace"] == ns
        })
    }
    fn all(&self, kind: &str, ns: &str) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|o| o["kind"] == kind && o["metadata"]["namespace"] == ns)
            .collect()
    }
    fn cluster(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
    }
}

#[derive(Default)]
struct Fields(Vec<FieldCheck>);

impl Fields {
    fn check(&mut self, field: impl Into<String>, want: impl ToString, got: impl ToString) {
        let (want, got) = (want.to_string(), got.to_string());
        self.0.push(FieldCheck {
            field: field.into(),
            ok: want == got,
            want,
            got,
        });
    }
    fn fail(&mut self, field: impl Into<String>, want: impl ToString, why: impl ToString) {
        self.0.push(FieldCheck {
            field: field.into(),
            want: want.to_string(),
            got: why.to_string(),
            ok: false,
        });
    }
}

fn gateway_fields(i: &Intent, st: &StackView, f: &mut Fields) -> Option<observe::Gateway> {
    let g = &i.gateway;
    let ns = &g.namespace.name;
    let Some(gw) = st
        .find("Gateway", ns, &g.name)
        .and_then(view::<observe::GatewaySpec>)
    else {
        f.fail(
            "gateway.name",
            format!("Gateway {ns}/{}", g.name),
            "not in the stack (or unreadable)",
        );
        return None;
    };
    f.check("gateway.class", &g.class, &gw.spec.gateway_class_name);
    let mut want_h = g.hostnames.clone();
    want_h.sort();
    let routes: Vec<observe::Route> = st
        .all("HTTPRoute", ns)
        .into_iter()
        .filter_map(view::<observe::RouteSpec>)
        .collect();
    let mut got_h = observe::served_hostnames(&gw, &routes);
    got_h.sort();
    f.check("gateway.hostnames", want_h.join(", "), got_h.join(", "));
    let port = |p: &str| {
        gw.listener(p)
            .map_or("none".to_string(), |l| l.port.to_string())
    };
    let want_http = if g.mode.has_http() {
        g.http_port.to_string()
    } else {
        "none".into()
    };
    let want_https = if g.mode.has_https() {
        g.https_port.to_string()
    } else {
        "none".into()
    };
    f.check("gateway.http.port", want_http, port("HTTP"));
    f.check("gateway.https.port", want_https, port("HTTPS"));
    Some(gw)
}

fn redirect_field(i: &Intent, st: &StackView, f: &mut Fields) {
    let g = &i.gateway;
    let ns = &g.namespace.name;
    let redirect = st
        .all("HTTPRoute", ns)
        .into_iter()
        .filter_map(view::<observe::RouteSpec>)
        .find(|r| {
            r.sections(ns, &g.name).contains(&Some("http".into()))
                && r.spec
                    .rules
                    .iter()
                    .any(|rule| rule.redirect() == Some(("https".into(), 301)))
        });
    let want = g.mode == ListenerMode::HttpsRedirect;
    let show = |on: bool| {
        if on {
            "http answers 301 to https"
        } else {
            "no redirect"
        }
    };
    f.check("gateway.listeners", show(want), show(redirect.is_some()));
}

fn gateway_access(i: &Intent, st: &StackView, f: &mut Fields) -> String {
    let Some(_) = gateway_fields(i, st, f) else {
        return String::new();
    };
    let g = &i.gateway;
    let ns = &g.namespace.name;
    redirect_field(i, st, f);
    for (ri, r) in g.routes.iter().enumerate() {
        let Some(route) = st
            .find("HTTPRoute", ns, &r.name)
            .and_then(view::<observe::RouteSpec>)
        else {
            f.fail(
                format!("routes[{ri}].name"),
                &r.name,
                "HTTPRoute not in the stack",
            );
            continue;
        };
        let all_listeners: Vec<String> = [
            g.mode.has_http().then_some("http"),
            g.mode.has_https().then_some("https"),
        ]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
        let mut got: Vec<String> = route
            .sections(ns, &g.name)
            .into_iter()
            .flat_map(|s| match s {
                None => all_listeners.clone(),
                Some(s) => vec![s],
            })
            .collect();
        got.sort();
        got.dedup();
        let mut want = r.listeners.clone();
        want.sort();
        f.check(
            format!("routes[{ri}].listeners"),
            want.join("+"),
            if got.is_empty() {
                "not attached to the Gateway".into()
            } else {
                got.join("+")
            },
        );
    }
    format!(
        "Gateway {ns}/{} ({}) listeners {}; routes {}",
        g.name,
        g.class,
        g.mode.as_str(),
        g.routes
            .iter()
            .map(|r| format!("{} on {}", r.name, r.listeners.join("+")))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn routing(i: &Intent, st: &StackView, f: &mut Fields) -> String {
    let g = &i.gateway;
    let ns = &g.namespace.name;
    let mut parts = Vec::new();
    for (ri, r) in g.routes.iter().enumerate() {
        let Some(route) = st
            .find("HTTPRoute", ns, &r.name)
            .and_then(view::<observe::RouteSpec>)
        else {
            f.fail(
                format!("routes[{ri}]"),
                &r.name,
                "HTTPRoute not in the stack",
            );
            continue;
        };
        for (i2, rule) in r.rules.iter().enumerate() {
            let field = format!("routes[{ri}].rules[{i2}]");
            let want_path = (rule.path.kind, rule.path.value.clone());
            let mut want_headers: Vec<(String, String)> = rule
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), h.value.clone()))
                .collect();
            want_headers.sort();
            // the rule with this path and exactly these (Exact) header matches
            let found = route.spec.rules.iter().find(|x| {
                x.paths().contains(&want_path)
                    && x.matches.iter().any(|m| {
                        let mut got: Vec<(String, String)> = m
                            .headers
                            .iter()
                            .filter(|mh| mh.kind.as_deref().unwrap_or("Exact") == "Exact")
                            .map(|mh| (mh.name.to_ascii_lowercase(), mh.value.clone()))
                            .collect();
                        got.sort();
                        got == want_headers
                    })
                    || (x.matches.is_empty()
                        && want_headers.is_empty()
                        && want_path == (crate::intent::PathType::Prefix, "/".to_string()))
            });
            let Some(found) = found else {
                f.fail(
                    format!("{field}.path"),
                    format!("{} {}", rule.path.kind.gateway_api(), rule.path.value),
                    "no rule of the route matches it (with these headers)",
                );
                continue;
            };
            let mut got = found.services();
            got.sort();
            let mut want: Vec<(String, u32)> = rule
                .backends
                .iter()
                .map(|b| {
                    (
                        b.service.clone(),
                        if rule.backends.len() > 1 { b.weight } else { 1 },
                    )
                })
                .collect();
            want.sort();
            let show = |v: &[(String, u32)]| {
                v.iter()
                    .map(|(n, w)| {
                        if v.len() > 1 {
                            format!("{n} ({w})")
                        } else {
                            n.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            f.check(format!("{field}.backends"), show(&want), show(&got));
            if let Some(t) = &rule.timeout {
                f.check(
                    format!("{field}.timeout"),
                    t,
                    found
                        .timeouts
                        .as_ref()
                        .and_then(|x| x.request.clone())
                        .unwrap_or_else(|| "none".into()),
                );
            }
            parts.push(format!("{} -> {}", rule.path.value, show(&want)));
        }
    }
    format!("HTTPRoute rules: {}", parts.join("; "))
}

/// The one policy of `kind` on the policy route, or a failed field.
fn one_policy<'a>(
    st: &'a StackView,
    kind: &'static str,
    ns: &str,
    target_kind: &str,
    target: &str,
    field: &str,
    f: &mut Fields,
) -> Option<&'a Value> {
    let pols: Vec<&Value> = st
        .all(kind, ns)
        .into_iter()
        .filter(|o| {
            view::<observe::BtpSpec>(o).is_some_and(|b| b.spec.targets.targets(target_kind, target))
        })
        .collect();
    match pols.as_slice() {
        [one] => Some(*one),
        [] => {
            f.fail(
                field,
                format!("one {kind} on {target_kind} {ns}/{target}"),
                "none",
            );
            None
        }
        many => {
            f.fail(
                field,
                format!("one {kind} on {target_kind} {ns}/{target}"),
                format!(
                    "{} of them: Envoy Gateway applies only the oldest",
                    many.len()
                ),
            );
            None
        }
    }
}

fn rate_limits(i: &Intent, st: &StackView, f: &mut Fields) -> String {
    let Some(rl) = &i.rate_limit else {
        f.fail("rate_limits", "rate limits", "the spec has no rate_limits");
        return String::new();
    };
    let t = &rl.target;
    let Some(p) = one_policy(
        st,
        "BackendTrafficPolicy",
        &t.namespace,
        t.kind.as_str(),
        &t.name,
        "rate_limits.route",
        f,
    ) else {
        return String::new();
    };
    let Some(btp) = view::<observe::BtpSpec>(p) else {
        f.fail(
            "rate_limits.route",
            "a readable BackendTrafficPolicy",
            "unreadable",
        );
        return String::new();
    };
    let pname = format!("{}/{}", btp.metadata.namespace, btp.metadata.name);
    let limits = btp.limits();
    let unit = rl.unit.as_str();
    match &limits.per_user {
        Some((h, n, u)) => {
            f.check("rate_limits.header", &rl.header, h);
            f.check(
                "rate_limits.per_user",
                format!("{}/{unit}", rl.per_user),
                format!("{n}/{}", u.map_or("?", |u| u.as_str())),
            );
        }
        None => f.fail(
            "rate_limits.per_user",
            format!("{} Distinct {}/{unit}", rl.header, rl.per_user),
            "no per-user (Distinct) rule",
        ),
    }
    let anon_got = limits
        .anonymous
        .map(|(n, u)| format!("{n}/{}", u.map_or("?", |u| u.as_str())));
    let sp = st
        .all("SecurityPolicy", &t.namespace)
        .into_iter()
        .filter_map(view::<observe::SecuritySpec>)
        .find(|s| s.spec.targets.targets(t.kind.as_str(), &t.name));
    match &rl.anonymous {
        AnonymousAccess::Limit(n) => f.check(
            "rate_limits.anonymous",
            format!("{n}/{unit}"),
            anon_got.unwrap_or_else(|| "no limit for requests without the header".into()),
        ),
        AnonymousAccess::Unlimited => f.check(
            "rate_limits.anonymous",
            "unlimited",
            anon_got.map_or("unlimited".to_string(), |g| format!("limited to {g}")),
        ),
        AnonymousAccess::Jwt(j) => {
            let prov = sp
                .as_ref()
                .and_then(|s| s.spec.jwt.as_ref())
                .and_then(|x| x.providers.first());
            match prov {
                Some(p) => {
                    f.check(
                        "rate_limits.jwt.issuer",
                        &j.issuer,
                        p.issuer.clone().unwrap_or_default(),
                    );
                    f.check(
                        "rate_limits.jwt.jwks_uri",
                        &j.jwks_uri,
                        p.remote_jwks
                            .as_ref()
                            .map(|u| u.uri.clone())
                            .unwrap_or_default(),
                    );
                    let claim = p
                        .claim_to_headers
                        .iter()
                        .find(|c| c.header.eq_ignore_ascii_case(&rl.header))
                        .map(|c| c.claim.clone());
                    f.check(
                        "rate_limits.jwt.claim",
                        format!("{} -> {}", j.claim, rl.header),
                        claim.map_or("not copied".into(), |c| format!("{c} -> {}", rl.header)),
                    );
                }
                None => f.fail(
                    "rate_limits.anonymous_access",
                    "jwt",
                    "no SecurityPolicy with jwt on the target",
                ),
            }
        }
        AnonymousAccess::ApiKey(k) => {
            let key = sp.as_ref().and_then(|s| s.spec.api_key_auth.as_ref());
            match key {
                Some(a) => {
                    f.check(
                        "rate_limits.api_key.secret",
                        &k.secret,
                        a.credential_refs
                            .first()
                            .map(|r| r.name.clone())
                            .unwrap_or_default(),
                    );
                    f.check(
                        "rate_limits.api_key.header",
                        &k.header,
                        a.extract_from
                            .first()
                            .and_then(|e| e.headers.first().cloned())
                            .unwrap_or_default()
                            .to_ascii_lowercase(),
                    );
                    f.check(
                        "rate_limits.header",
                        format!("client id in {}", rl.header),
                        format!(
                            "client id in {}",
                            a.forward_client_id_header
                                .clone()
                                .unwrap_or_default()
                                .to_ascii_lowercase()
                        ),
                    );
                }
                None => f.fail(
                    "rate_limits.anonymous_access",
                    "api_key",
                    "no SecurityPolicy with apiKeyAuth on the target",
                ),
            }
        }
    }
    format!(
        "BackendTrafficPolicy {pname}: {} Distinct {}/{unit}; requests without {} {}",
        rl.header,
        rl.per_user,
        rl.header,
        match &rl.anonymous {
            AnonymousAccess::Limit(n) => format!("{n}/{unit}"),
            AnonymousAccess::Unlimited => "unlimited".into(),
            AnonymousAccess::Jwt(_) => "get 401 (JWT required)".into(),
            AnonymousAccess::ApiKey(_) => "get 401 (API key required)".into(),
        }
    )
}

fn circuit_breaker(i: &Intent, st: &StackView, f: &mut Fields) -> String {
    let Some(cb) = &i.circuit_breaker else {
        f.fail(
            "circuit_breaker",
            "a circuit breaker",
            "the spec has no circuit_breaker",
        );
        return String::new();
    };
    let t = &cb.target;
    let Some(p) = one_policy(
        st,
        "BackendTrafficPolicy",
        &t.namespace,
        t.kind.as_str(),
        &t.name,
        "circuit_breaker.route",
        f,
    ) else {
        return String::new();
    };
    let got = view::<observe::BtpSpec>(p)
        .and_then(|b| b.spec.circuit_breaker)
        .map(|c| c.thresholds())
        .unwrap_or_default();
    let show = |v: Option<u32>| {
        v.map_or(
            format!(
                "unset (Envoy default {})",
                defaults::ENVOY_CIRCUIT_BREAKER_DEFAULT
            ),
            |v| v.to_string(),
        )
    };
    let w = &cb.thresholds;
    for (field, want, have) in [
        (
            "circuit_breaker.max_connections",
            w.max_connections,
            got.max_connections,
        ),
        (
            "circuit_breaker.max_pending_requests",
            w.max_pending_requests,
            got.max_pending_requests,
        ),
        (
            "circuit_breaker.max_parallel_requests",
            w.max_parallel_requests,
            got.max_parallel_requests,
        ),
        (
            "circuit_breaker.max_parallel_retries",
            w.max_parallel_retries,
            got.max_parallel_retries,
        ),
        (
            "circuit_breaker.max_requests_per_connection",
            w.max_requests_per_connection,
            got.max_requests_per_connection,
        ),
    ] {
        f.check(field, show(want), show(have));
    }
    format!(
        "BackendTrafficPolicy {}/{}: circuitBreaker {} (per Envoy replica)",
        t.namespace,
        p["metadata"]["name"].as_str().unwrap_or(""),
        w.fields()
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn https(i: &Intent, st: &StackView, f: &mut Fields) -> String {
    let g = &i.gateway;
    let ns = &g.namespace.name;
    if !g.mode.has_https() {
        f.fail(
            "gateway.https",
            "an HTTPS listener",
            format!("listeners: {}", g.mode.as_str()),
        );
        return String::new();
    }
    let Some(gw) = gateway_fields(i, st, f) else {
        return String::new();
    };
    redirect_field(i, st, f);
    let l = gw.listener("HTTPS");
    let secret_ref = l
        .and_then(|l| l.tls.as_ref())
        .and_then(|t| t.certificate_refs.first())
        .map(|r| r.name.clone());
    f.check(
        "gateway.https.secret",
        &g.tls_secret,
        secret_ref.unwrap_or_else(|| "none".into()),
    );
    let mode = l
        .and_then(|l| l.tls.as_ref())
        .and_then(|t| t.mode.clone())
        .unwrap_or_else(|| "Terminate".into());
    f.check("gateway.https.tls_mode", "Terminate", mode);
    let Some(t) = &i.tls else {
        return format!(
            "Gateway {ns}/{}: HTTPS:{} with Secret {} (no tls section)",
            g.name, g.https_port, g.tls_secret
        );
    };
    let cert = st
        .all("Certificate", ns)
        .into_iter()
        .filter_map(view::<observe::CertificateSpec>)
        .find(|c| c.spec.secret_name == t.secret);
    let source = match &t.source {
        TlsSource::ExistingIssuer { kind, name } | TlsSource::SelfSignedIssuer { kind, name } => {
            let self_signed = matches!(t.source, TlsSource::SelfSignedIssuer { .. });
            match &cert {
                Some(c) => {
                    f.check(
                        "tls.issuer",
                        format!("{} {name}", kind.as_str()),
                        format!(
                            "{} {}",
                            c.spec.issuer_ref.kind.as_deref().unwrap_or("Issuer"),
                            c.spec.issuer_ref.name
                        ),
                    );
                    let mut want = t.hostnames.clone();
                    want.sort();
                    let mut got = c.spec.dns_names.clone();
                    got.sort();
                    f.check("tls.hostnames", want.join(", "), got.join(", "));
                }
                None => f.fail(
                    "tls.mode",
                    format!("a cert-manager Certificate writing Secret {}", t.secret),
                    "none in the stack",
                ),
            }
            let issuer = match kind {
                crate::intent::IssuerKind::Issuer => st.find("Issuer", ns, name),
                crate::intent::IssuerKind::ClusterIssuer => st.cluster("ClusterIssuer", name),
            };
            f.check(
                "tls.self_signed",
                if self_signed {
                    "the stack creates the self-signed issuer"
                } else {
                    "the stack creates no issuer"
                },
                match issuer {
                    Some(v) if v["spec"].get("selfSigned").is_some() => {
                        "the stack creates the self-signed issuer"
                    }
                    Some(_) => "the stack creates a non-self-signed issuer",
                    None => "the stack creates no issuer",
                },
            );
            format!(
                "Certificate {ns}/{} from {} {name}",
                t.secret,
                kind.as_str()
            )
        }
        TlsSource::Local { .. } => {
            let generated = st
                .generated_secrets
                .iter()
                .any(|(n, s)| n == ns && s == &t.secret);
            f.check(
                "tls.mode",
                "local (kustomize secretGenerator)",
                if generated {
                    "local (kustomize secretGenerator)"
                } else if cert.is_some() {
                    "cert-manager Certificate"
                } else {
                    "nothing creates the Secret"
                },
            );
            "a kustomize secretGenerator (local certificate)".to_string()
        }
    };
    format!(
        "Gateway {ns}/{}: HTTPS:{} TLS Terminate with Secret {} from {source}",
        g.name, g.https_port, g.tls_secret
    )
}

fn autoscaling(i: &Intent, st: &StackView, f: &mut Fields) -> String {
    let Some(a) = &i.autoscaling else {
        f.fail("autoscaling", "autoscaling", "the spec has no autoscaling");
        return String::new();
    };
    let ns = &a.namespace.name;
    let so = st
        .all("ScaledObject", ns)
        .into_iter()
        .filter_map(view::<observe::ScaledObjectSpec>)
        .find(|s| s.spec.scale_target_ref.name == a.deployment);
    let Some(so) = so else {
        f.fail(
            "autoscaling.deployment",
            &a.deployment,
            "no ScaledObject scales it",
        );
        return String::new();
    };
    let show = |v: Option<u32>, unset: &str| v.map_or(unset.to_string(), |v| v.to_string());
    f.check(
        "autoscaling.min",
        a.min,
        show(so.spec.min_replica_count, "unset (0: scale to zero)"),
    );
    f.check(
        "autoscaling.max",
        a.max,
        show(so.spec.max_replica_count, "unset (100)"),
    );
    let trig = so.spec.triggers.first();
    match a.metric {
        ScaleMetric::Cpu => {
            f.check(
                "autoscaling.metric",
                "cpu",
                trig.map_or("none".into(), |t| t.kind.clone()),
            );
            f.check(
                "autoscaling.threshold",
                a.threshold,
                trig.map(|t| t.meta("value")).unwrap_or_default(),
            );
        }
        ScaleMetric::RequestRate => {
            f.check(
                "autoscaling.metric",
                "prometheus",
                trig.map_or("none".into(), |t| t.kind.clone()),
            );
            f.check(
                "autoscaling.threshold",
                a.threshold,
                trig.map(|t| t.meta("threshold")).unwrap_or_default(),
            );
            f.check(
                "autoscaling.prometheus_address",
                &a.prometheus_address,
                trig.map(|t| t.meta("serverAddress")).unwrap_or_default(),
            );
            let want = match &a.scope {
                ScaleScope::Route => crate::generate::scaling::request_rate_query(ns, &a.route),
                ScaleScope::Backend(b) => {
                    let rules = st
                        .find("HTTPRoute", ns, &a.route)
                        .and_then(view::<observe::RouteSpec>)
                        .map(|r| crate::generate::scaling::rules_served_by(&r, b))
                        .unwrap_or_default();
                    crate::generate::scaling::rules_query(ns, &a.route, &rules)
                }
            };
            let got = trig.map(|t| t.meta("query")).unwrap_or_default();
            f.check(
                "autoscaling.scope",
                match &a.scope {
                    ScaleScope::Route => format!("route {} ({want})", a.route),
                    ScaleScope::Backend(b) => format!("backend {b} ({want})"),
                },
                match &a.scope {
                    ScaleScope::Route => format!("route {} ({got})", a.route),
                    ScaleScope::Backend(b) => format!("backend {b} ({got})"),
                },
            );
        }
    }
    format!(
        "ScaledObject {ns}/{}: Deployment {}, min {} max {}",
        so.metadata.name, a.deployment, a.min, a.max
    )
}

fn generated(i: &Intent, st: &StackView, errors: usize, f: &mut Fields) -> String {
    let g = &i.gateway;
    let ns = &g.namespace.name;
    let mut expected: Vec<(String, String)> = vec![("Gateway".into(), g.name.clone())];
    expected.extend(
        g.routes
            .iter()
            .map(|r| ("HTTPRoute".to_string(), r.name.clone())),
    );
    if g.mode == ListenerMode::HttpsRedirect {
        expected.push(("HTTPRoute".into(), defaults::redirect_route(&g.name)));
    }
    if let Some(a) = &i.autoscaling {
        expected.push(("ScaledObject".into(), a.name.clone()));
    }
    let missing: Vec<String> = expected
        .iter()
        .filter(|(k, n)| st.find(k, ns, n).is_none())
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    f.check(
        "objects",
        "every object the spec implies",
        if missing.is_empty() {
            "every object the spec implies".to_string()
        } else {
            format!("missing: {}", missing.join(", "))
        },
    );
    let has_ns = st.cluster("Namespace", ns).is_some();
    f.check(
        "service.create_namespace",
        if g.namespace.create {
            "a Namespace object"
        } else {
            "no Namespace object (assumed to exist)"
        },
        if has_ns {
            "a Namespace object"
        } else {
            "no Namespace object (assumed to exist)"
        },
    );
    f.check("validate", "0 errors", format!("{errors} errors"));
    format!(
        "{} objects in the stack, every one the spec implies; validate: 0 errors",
        st.objects.len()
    )
}

/// The LLM route: each model's rule and backends (name, priority), each backend's schema,
/// endpoint, TLS and key Secret, the route's token costs and the budget's rules (kind, tokens,
/// unit, user header) in the one policy of the generated HTTPRoute.
fn llm_routing(i: &Intent, st: &StackView, f: &mut Fields) -> String {
    let Some(l) = &i.llm_route else {
        f.fail("llm_route", "an LLM route", "the spec has no llm_route");
        return String::new();
    };
    let ns = &l.namespace;
    let Some(route) = st.find("AIGatewayRoute", ns, &l.name) else {
        f.fail(
            "llm_route.name",
            format!("AIGatewayRoute {ns}/{}", l.name),
            "none",
        );
        return String::new();
    };
    let s = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    f.check(
        "llm_route.gateway",
        &l.gateway,
        s(route, "/spec/parentRefs/0/name"),
    );
    let rules: Vec<&Value> = route["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for (model, bs) in l.models() {
        let rule = rules.iter().find(|r| {
            r["matches"].as_array().into_iter().flatten().any(|m| {
                m["headers"].as_array().into_iter().flatten().any(|h| {
                    h["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(defaults::llm::MODEL_HEADER))
                        && h["value"] == model.as_str()
                })
            })
        });
        let want = bs
            .iter()
            .map(|b| format!("{}@{}", b.name, b.priority))
            .collect::<Vec<_>>()
            .join(", ");
        let got = match rule {
            None => "no rule for this model".to_string(),
            Some(r) => r["backendRefs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| format!("{}@{}", s(b, "/name"), b["priority"].as_u64().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        f.check(format!("llm_route.models[{model}]"), want, got);
    }
    for b in &l.backends {
        let fld = |x: &str| format!("llm_route.backends[{}].{x}", b.name);
        let asb = st.find("AIServiceBackend", ns, &b.name);
        f.check(
            fld("schema"),
            b.schema.schema_name(),
            asb.map(|a| s(a, "/spec/schema/name"))
                .unwrap_or_else(|| "no AIServiceBackend".into()),
        );
        if let Some(v) = &b.api_version {
            f.check(
                fld("api_version"),
                v,
                asb.map(|a| s(a, "/spec/schema/version"))
                    .unwrap_or_default(),
            );
        }
        let backend_name = asb
            .map(|a| s(a, "/spec/backendRef/name"))
            .unwrap_or_default();
        let be = st.find("Backend", ns, &backend_name);
        let ep = be
            .map(|b| b["spec"]["endpoints"][0].clone())
            .unwrap_or_default();
        let (host, port) = match (ep.get("fqdn"), ep.get("ip")) {
            (Some(x), _) => (s(x, "/hostname"), x["port"].as_u64().unwrap_or(0)),
            (None, Some(x)) => (s(x, "/address"), x["port"].as_u64().unwrap_or(0)),
            _ => ("no Backend endpoint".to_string(), 0),
        };
        f.check(fld("hostname"), &b.hostname, host);
        f.check(fld("port"), b.port, port);
        f.check(
            fld("tls"),
            b.tls,
            be.is_some_and(|x| x["spec"]["tls"].is_object()),
        );
        let (ty, field) = b.schema.security_type();
        let secret = st
            .all("BackendSecurityPolicy", ns)
            .into_iter()
            .filter(|p| p["spec"]["type"] == ty)
            .filter(|p| {
                p["spec"]["targetRefs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["name"] == b.name.as_str())
            })
            .map(|p| s(p, &format!("/spec/{field}/secretRef/name")))
            .next()
            .unwrap_or_else(|| format!("no {ty} BackendSecurityPolicy"));
        f.check(fld("secret"), &b.secret, secret);
    }
    let costs: Vec<String> = route["spec"]["llmRequestCosts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| s(c, "/metadataKey"))
        .collect();
    let budget = l.budget.buckets();
    if !budget.is_empty() {
        let Some(p) = one_policy(
            st,
            "BackendTrafficPolicy",
            ns,
            "HTTPRoute",
            &l.name,
            "llm_route.token_budget",
            f,
        ) else {
            return String::new();
        };
        let rules: Vec<&Value> = p["spec"]["rateLimit"]["global"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["cost"]["response"]["metadata"]["namespace"] == defaults::llm::COST_NAMESPACE
            })
            .collect();
        for (k, n) in &budget {
            let key = k.metadata_key();
            let fld = format!("llm_route.token_budget.{}", k.as_str());
            f.check(
                format!("{fld} (route stores {key})"),
                true,
                costs.iter().any(|c| c == key),
            );
            match rules
                .iter()
                .find(|r| r["cost"]["response"]["metadata"]["key"] == key)
            {
                None => f.fail(
                    fld,
                    format!("{n} per {}", l.unit.as_str()),
                    "no rule charging it",
                ),
                Some(r) => {
                    f.check(
                        fld,
                        format!("{n} per {} per {}", l.unit.as_str(), l.user_header),
                        format!(
                            "{} per {} per {}",
                            r["limit"]["requests"].as_u64().unwrap_or(0),
                            s(r, "/limit/unit"),
                            s(r, "/clientSelectors/0/headers/0/name").to_ascii_lowercase()
                        ),
                    );
                }
            }
        }
    }
    format!(
        "AIGatewayRoute {ns}/{}: {} model(s) on {} backend(s); token budget {}",
        l.name,
        l.models().len(),
        l.backends.len(),
        if budget.is_empty() {
            "none".to_string()
        } else {
            budget
                .iter()
                .map(|(k, n)| format!("{n} {} per {}", k.as_str(), l.unit.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        }
    )
}

/// Evaluate every criterion of the spec against the stack, then list the intent no criterion
/// covers. `errors` is the number of error findings validate reported.
pub fn evaluate(
    spec: &Spec,
    intent: &Intent,
    st: &StackView,
    errors: usize,
    spec_file: &str,
) -> Vec<Row> {
    let host = intent
        .gateway
        .hostnames
        .first()
        .cloned()
        .unwrap_or_default();
    // verify sends traffic to loopback only: the placeholders are the local ports that
    // `kubectl port-forward` gives the gateway's listeners
    let mode = intent.gateway.mode;
    let listeners = match (
        mode.has_http() && mode != ListenerMode::HttpsRedirect,
        mode.has_https(),
    ) {
        (true, true) => {
            "--gateway 127.0.0.1:<http-port> --https-gateway https://127.0.0.1:<https-port> --ca <ca.crt>"
        }
        (false, true) => "--https-gateway https://127.0.0.1:<https-port> --ca <ca.crt>",
        _ => "--gateway 127.0.0.1:<http-port>",
    };
    let verify = format!("traffic-engineer verify --spec {spec_file} {listeners} --host {host}");
    let mut rows: Vec<Row> = spec
        .criteria
        .iter()
        .map(|c| {
            let mut f = Fields::default();
            let (evidence, expect) = match c.check {
                CheckKind::GatewayAccess => (gateway_access(intent, st, &mut f), Some("the routes answer through the gateway".to_string())),
                CheckKind::RateLimits => (rate_limits(intent, st, &mut f), Some("one user over the limit gets 429; requests without identity as the intent says".into())),
                CheckKind::Https => (https(intent, st, &mut f), Some(format!("TLS handshake with SNI {host}"))),
                CheckKind::Autoscaling => (autoscaling(intent, st, &mut f), None),
                CheckKind::Routing => (routing(intent, st, &mut f), Some("each path answered by its backend".into())),
                CheckKind::CircuitBreaker => (circuit_breaker(intent, st, &mut f), Some("overflow above the limit gets 503 x-envoy-overloaded".into())),
                CheckKind::Generated => (generated(intent, st, errors, &mut f), None),
                CheckKind::LlmRouting => (llm_routing(intent, st, &mut f), None),
            };
            let bad: Vec<&FieldCheck> = f.0.iter().filter(|x| !x.ok).collect();
            let (status, evidence) = if bad.is_empty() && !f.0.is_empty() {
                (Status::Pass, evidence)
            } else {
                (
                    Status::Fail,
                    bad.iter()
                        .map(|x| format!("{}: the intent says {}, the stack has {}", x.field, x.want, x.got))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            };
            let live = match c.check {
                CheckKind::Autoscaling => intent.autoscaling.as_ref().map(|a| LiveCheck {
                    command: format!("kubectl get scaledobject -n {} {}", a.namespace.name, a.name),
                    expect: format!("READY=True, MIN={}, MAX={}", a.min, a.max),
                }),
                _ => expect.map(|e| LiveCheck {
                    command: verify.clone(),
                    expect: format!("{} PASS ({e})", c.id),
                }),
            };
            Row { id: c.id.clone(), check: c.check, status, evidence, fields: f.0, live }
        })
        .collect();
    let covered: Vec<CheckKind> = spec.criteria.iter().map(|c| c.check).collect();
    let mut uncovered = |present: bool, kind: CheckKind, what: &str| {
        if present && !covered.contains(&kind) {
            rows.push(Row {
                id: "-".into(),
                check: kind,
                status: Status::Uncovered,
                evidence: format!(
                    "{what} is in the intent but no criterion checks it: add one with check: {}",
                    serde_json::to_value(kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
                fields: Vec::new(),
                live: None,
            });
        }
    };
    uncovered(true, CheckKind::Routing, "routes");
    uncovered(true, CheckKind::GatewayAccess, "gateway");
    uncovered(
        intent.rate_limit.is_some(),
        CheckKind::RateLimits,
        "rate_limits",
    );
    uncovered(
        intent.circuit_breaker.is_some(),
        CheckKind::CircuitBreaker,
        "circuit_breaker",
    );
    uncovered(
        intent.tls.is_some() || intent.gateway.mode.has_https(),
        CheckKind::Https,
        "gateway.https / tls",
    );
    uncovered(
        intent.autoscaling.is_some(),
        CheckKind::Autoscaling,
        "autoscaling",
    );
    uncovered(
        intent.llm_route.is_some(),
        CheckKind::LlmRouting,
        "llm_route",
    );
    rows
}
