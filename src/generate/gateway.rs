//! generate_gateway: a Gateway (listeners by mode) and its HTTPRoutes, plus the HTTP->HTTPS
//! redirect route in https_redirect mode.

use serde::Serialize;

use super::params::GatewayParams;
use super::{GenerateError, Plan, Snapshot, check_not_broken, namespace_file, rendered};
use crate::intent::{self, AllowedRoutes, GatewayIntent, ListenerMode, RouteIntent, defaults};

#[derive(Serialize)]
struct Listener {
    name: &'static str,
    protocol: &'static str,
    port: u16,
    hostname: Option<String>,
    tls_secret: Option<String>,
    allowed_from: &'static str,
}

#[derive(Serialize)]
struct Parent {
    name: String,
    section: Option<String>,
}

#[derive(Serialize)]
struct Backend {
    service: String,
    port: u16,
    weight: u32,
}

#[derive(Serialize)]
struct Header {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct Redirect {
    scheme: &'static str,
    port: Option<u16>,
    status: u16,
}

#[derive(Serialize)]
struct Rule {
    name: String,
    path_type: &'static str,
    path: String,
    headers: Vec<Header>,
    backends: Vec<Backend>,
    redirect: Option<Redirect>,
    timeout: Option<String>,
}

#[derive(Serialize)]
struct Route {
    name: String,
    namespace: String,
    comment: String,
    parents: Vec<Parent>,
    hostnames: Vec<String>,
    rules: Vec<Rule>,
}

/// generate_gateway: resolve the arguments against the stack, then build.
pub fn generate(p: &GatewayParams, snap: &Snapshot) -> Result<Plan, GenerateError> {
    let r = intent::resolve::gateway(p, snap)?;
    let mut plan = build(&r.intent, snap)?;
    plan.defaults = r.defaulted;
    Ok(plan)
}

/// The parentRefs of a route: one without sectionName when it attaches to every listener of
/// the Gateway, else one per listener.
fn parents(g: &GatewayIntent, r: &RouteIntent) -> Vec<Parent> {
    let all: Vec<&str> = [
        g.mode.has_http().then_some("http"),
        g.mode.has_https().then_some("https"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mine: Vec<&str> = r.listeners.iter().map(String::as_str).collect();
    if mine == all {
        vec![Parent {
            name: g.name.clone(),
            section: None,
        }]
    } else {
        mine.iter()
            .map(|l| Parent {
                name: g.name.clone(),
                section: Some(l.to_string()),
            })
            .collect()
    }
}

fn route_file(
    g: &GatewayIntent,
    r: &RouteIntent,
    snap: &Snapshot,
) -> Result<super::PlannedFile, GenerateError> {
    let route = Route {
        name: r.name.clone(),
        namespace: g.namespace.name.clone(),
        comment: format!("listeners: {}", r.listeners.join(", ")),
        parents: parents(g, r),
        hostnames: g.hostnames.clone(),
        rules: r
            .rules
            .iter()
            .map(|rule| Rule {
                name: rule.name.clone(),
                path_type: rule.path.kind.gateway_api(),
                path: rule.path.value.clone(),
                headers: rule
                    .headers
                    .iter()
                    .map(|h| Header {
                        name: h.name.clone(),
                        value: h.value.clone(),
                    })
                    .collect(),
                backends: rule
                    .backends
                    .iter()
                    .map(|b| Backend {
                        service: b.service.clone(),
                        port: b.port,
                        weight: b.weight,
                    })
                    .collect(),
                redirect: None,
                timeout: rule.timeout.clone(),
            })
            .collect(),
    };
    let file = rendered(
        "httproute.yaml.j2",
        &route,
        "HTTPRoute",
        &r.name,
        &g.namespace.name,
    )?;
    check_not_broken(snap, &file.file)?;
    Ok(file)
}

fn redirect_file(g: &GatewayIntent, snap: &Snapshot) -> Result<super::PlannedFile, GenerateError> {
    let name = defaults::redirect_route(&g.name);
    let route = Route {
        name: name.clone(),
        namespace: g.namespace.name.clone(),
        comment: "plain HTTP answers 301 to HTTPS (listeners: https_redirect)".into(),
        parents: vec![Parent {
            name: g.name.clone(),
            section: Some("http".into()),
        }],
        hostnames: g.hostnames.clone(),
        rules: vec![Rule {
            name: "https-redirect".into(),
            path_type: "PathPrefix",
            path: "/".into(),
            headers: Vec::new(),
            backends: Vec::new(),
            redirect: Some(Redirect {
                scheme: "https",
                port: (g.https_port != defaults::HTTPS_PORT).then_some(g.https_port),
                status: 301,
            }),
            timeout: None,
        }],
    };
    let file = rendered(
        "httproute.yaml.j2",
        &route,
        "HTTPRoute",
        &name,
        &g.namespace.name,
    )?;
    check_not_broken(snap, &file.file)?;
    Ok(file)
}

/// Render the Gateway section: the Gateway, the routes it names, and the redirect route.
pub fn build(g: &GatewayIntent, snap: &Snapshot) -> Result<Plan, GenerateError> {
    let hostname = (g.hostnames.len() == 1).then(|| g.hostnames[0].clone());
    let allowed_from = match g.allowed_routes {
        AllowedRoutes::Same => "Same",
        AllowedRoutes::All => "All",
    };
    let mut listeners = Vec::new();
    if g.mode.has_http() {
        listeners.push(Listener {
            name: "http",
            protocol: "HTTP",
            port: g.http_port,
            hostname: hostname.clone(),
            tls_secret: None,
            allowed_from,
        });
    }
    if g.mode.has_https() {
        listeners.push(Listener {
            name: "https",
            protocol: "HTTPS",
            port: g.https_port,
            hostname: hostname.clone(),
            tls_secret: Some(g.tls_secret.clone()),
            allowed_from,
        });
    }
    let ns = &g.namespace.name;
    let mut plan = Plan::default();
    namespace_file(&g.namespace, &mut plan)?;
    let gw = rendered(
        "gateway.yaml.j2",
        &serde_json::json!({
            "name": g.name, "namespace": ns, "class": g.class, "listeners": listeners,
        }),
        "Gateway",
        &g.name,
        ns,
    )?;
    check_not_broken(snap, &gw.file)?;
    plan.files.push(gw);
    for r in &g.routes {
        plan.files.push(route_file(g, r, snap)?);
    }
    if g.mode == ListenerMode::HttpsRedirect {
        plan.files.push(redirect_file(g, snap)?);
    }

    // Routes the stack already has for this Gateway but this call did not name are kept; say so.
    let named: Vec<&str> = g.routes.iter().map(|r| r.name.as_str()).collect();
    let redirect = defaults::redirect_route(&g.name);
    for m in snap.of_kind("HTTPRoute") {
        if m.namespace() == ns && !named.contains(&m.name()) && m.name() != redirect {
            plan.notes.push(format!(
                "HTTPRoute {} is already in the stack and was left as it is",
                m.name()
            ));
        }
    }
    if g.mode != ListenerMode::HttpsRedirect && snap.find("HTTPRoute", ns, &redirect).is_some() {
        plan.notes.push(format!(
            "HTTPRoute {redirect} (the HTTP->HTTPS redirect) is still in the stack: delete its file, since listeners is now {}",
            g.mode.as_str()
        ));
    }
    if g.mode.has_https() {
        let has_tls = snap.manifests.iter().any(|m| {
            m.kind() == "Certificate" && m.value["spec"]["secretName"] == g.tls_secret.as_str()
        }) || snap
            .other_files
            .iter()
            .any(|f| f == &format!("{}.key", g.tls_secret));
        if !has_tls {
            plan.notes.push(format!(
                "the HTTPS listener needs the kubernetes.io/tls Secret {}: create it with generate_tls",
                g.tls_secret
            ));
        }
    }
    if g.mode == ListenerMode::Both {
        plan.notes.push("routes are served on plain HTTP too: use listeners: https_redirect to answer HTTP with a 301 to HTTPS".into());
    }
    plan.notes.push(
        "backend Services must exist with these ports: one missing backend makes Envoy Gateway answer 500 for the whole rule"
            .into(),
    );
    let attach: Vec<String> = g
        .routes
        .iter()
        .map(|r| format!("{} on {}", r.name, r.listeners.join("+")))
        .chain(
            (g.mode == ListenerMode::HttpsRedirect)
                .then(|| format!("{redirect} on http (301 to https)")),
        )
        .collect();
    plan.summary = format!(
        "Gateway {ns}/{} ({}) listeners {} ({}); HTTPRoutes: {}",
        g.name,
        g.class,
        listeners
            .iter()
            .map(|l| format!("{}:{}", l.name, l.port))
            .collect::<Vec<_>>()
            .join(", "),
        g.mode.as_str(),
        if attach.is_empty() {
            "unchanged".to_string()
        } else {
            attach.join("; ")
        }
    );
    plan.next_step = match g.routes.first() {
        Some(r) => format!(
            "add_rate_limit {{\"namespace\": \"{ns}\", \"target_name\": \"{}\"}}",
            r.name
        ),
        None => "validate {}".into(),
    };
    Ok(plan)
}
