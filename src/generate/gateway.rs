//! generate_gateway: a Gateway (HTTP, optionally HTTPS) and its HTTPRoutes.

use std::collections::HashSet;

use serde::Serialize;

use super::params::{AllowedRoutes, GatewayParams};
use super::{GenerateError, Plan, Snapshot, namespace_file, rendered};
use crate::names::{self, InputError};

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
struct Rule {
    name: String,
    path: String,
    headers: Vec<Header>,
    backends: Vec<Backend>,
}

#[derive(Serialize)]
struct Route {
    name: String,
    namespace: String,
    parents: Vec<Parent>,
    hostnames: Vec<String>,
    rules: Vec<Rule>,
}

/// A rule name from a path prefix: `/api/v1` -> `api-v1`, `/` -> `root`.
fn rule_name_from_path(path: &str) -> String {
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

const MAX_HOSTNAMES: usize = 16;
const MAX_ROUTES: usize = 32;
const MAX_RULES: usize = 16;
const MAX_BACKENDS: usize = 16;
const MAX_HEADERS: usize = 16;

fn too_many(field: &str, n: usize, max: usize) -> Result<(), InputError> {
    if n > max {
        Err(InputError::new(
            field,
            format!("{n} entries"),
            format!("at most {max} (Gateway API limit)"),
        ))
    } else {
        Ok(())
    }
}

pub fn generate(p: &GatewayParams, snap: &Snapshot) -> Result<Plan, GenerateError> {
    names::label("namespace", &p.namespace)?;
    names::object_name("gateway", &p.gateway)?;
    names::subdomain("gateway_class", &p.gateway_class)?;
    if p.hostnames.is_empty() {
        return Err(InputError::new(
            "hostnames",
            "empty list",
            "at least one hostname, e.g. [\"task-api.example.com\"]",
        )
        .into());
    }
    too_many("hostnames", p.hostnames.len(), MAX_HOSTNAMES)?;
    for (i, h) in p.hostnames.iter().enumerate() {
        names::hostname(&format!("hostnames[{i}]"), h)?;
    }
    if p.http_port == 0 {
        return Err(InputError::new("http_port", "0", "a port from 1 to 65535").into());
    }
    if p.https {
        if p.https_port == 0 || p.https_port == p.http_port {
            return Err(InputError::new(
                "https_port",
                format!("{}", p.https_port),
                "a port from 1 to 65535, different from http_port",
            )
            .into());
        }
        names::subdomain("tls_secret", &p.tls_secret)?;
    }
    if p.routes.is_empty() {
        return Err(
            InputError::new("routes", "empty list", "at least one route with a rule").into(),
        );
    }
    too_many("routes", p.routes.len(), MAX_ROUTES)?;

    let hostname = (p.hostnames.len() == 1).then(|| p.hostnames[0].clone());
    let allowed_from = match p.allowed_routes {
        AllowedRoutes::Same => "Same",
        AllowedRoutes::All => "All",
    };
    let mut listeners = vec![Listener {
        name: "http",
        protocol: "HTTP",
        port: p.http_port,
        hostname: hostname.clone(),
        tls_secret: None,
        allowed_from,
    }];
    if p.https {
        listeners.push(Listener {
            name: "https",
            protocol: "HTTPS",
            port: p.https_port,
            hostname: hostname.clone(),
            tls_secret: Some(p.tls_secret.clone()),
            allowed_from,
        });
    }

    let mut plan = Plan::default();
    if let Some(ns) = namespace_file(&p.namespace)? {
        plan.files.push(ns);
    }
    let gw = rendered(
        "gateway.yaml.j2",
        &serde_json::json!({
            "name": p.gateway, "namespace": p.namespace, "class": p.gateway_class, "listeners": listeners,
        }),
        "Gateway",
        &p.gateway,
        &p.namespace,
    )?;
    snap.check_not_broken(&gw.file)?;
    plan.files.push(gw);

    let mut route_names = HashSet::new();
    for (ri, r) in p.routes.iter().enumerate() {
        let f = |s: &str| format!("routes[{ri}].{s}");
        names::object_name(&f("name"), &r.name)?;
        if !route_names.insert(r.name.clone()) {
            return Err(InputError::new(
                f("name"),
                format!("{:?} is used twice", r.name),
                "a name unique among the routes",
            )
            .into());
        }
        let section = match r.listener.as_str() {
            "" => None,
            "http" => Some("http".to_string()),
            "https" if p.https => Some("https".to_string()),
            other => {
                return Err(InputError::new(
                    f("listener"),
                    format!(
                        "{:?} is not a listener of this Gateway",
                        other.chars().take(40).collect::<String>()
                    ),
                    if p.https {
                        "\"http\", \"https\" or empty for both"
                    } else {
                        "\"http\" or empty"
                    },
                )
                .into());
            }
        };
        if r.rules.is_empty() {
            return Err(InputError::new(f("rules"), "empty list", "at least one rule: {\"path_prefix\": \"/\", \"backends\": [{\"service\": \"task-api\", \"port\": 8000}]}").into());
        }
        too_many(&f("rules"), r.rules.len(), MAX_RULES)?;
        let mut rules = Vec::new();
        let mut rule_names = HashSet::new();
        let mut matches_seen = HashSet::new();
        for (i, rule) in r.rules.iter().enumerate() {
            let g = |s: &str| format!("routes[{ri}].rules[{i}].{s}");
            names::path_prefix(&g("path_prefix"), &rule.path_prefix)?;
            let name = if rule.name.is_empty() {
                rule_name_from_path(&rule.path_prefix)
            } else {
                names::label(&g("name"), &rule.name)?;
                rule.name.clone()
            };
            if !rule_names.insert(name.clone()) {
                return Err(InputError::new(
                    g("name"),
                    format!("rule name {name:?} is used twice in route {}", r.name),
                    "a rule name unique within the route (policies target rules by name)",
                )
                .into());
            }
            too_many(&g("headers"), rule.headers.len(), MAX_HEADERS)?;
            let mut headers = Vec::new();
            for (hi, h) in rule.headers.iter().enumerate() {
                names::header_name(&g(&format!("headers[{hi}].name")), &h.name)?;
                if h.value.is_empty()
                    || h.value.len() > 4096
                    || h.value.chars().any(|c| c.is_control())
                {
                    return Err(InputError::new(
                        g(&format!("headers[{hi}].value")),
                        "empty, too long or has control characters",
                        "a header value of 1-4096 printable characters",
                    )
                    .into());
                }
                headers.push(Header {
                    name: h.name.to_ascii_lowercase(),
                    value: h.value.clone(),
                });
            }
            let mut key: Vec<String> = headers
                .iter()
                .map(|h| format!("{}={}", h.name, h.value))
                .collect();
            key.sort();
            if !matches_seen.insert((rule.path_prefix.clone(), key)) {
                return Err(InputError::new(
                    g("path_prefix"),
                    format!("{} with the same headers is matched by an earlier rule", rule.path_prefix),
                    "each rule with a different path prefix or header match (put canary backends in one rule)",
                )
                .into());
            }
            if rule.backends.is_empty() {
                return Err(InputError::new(
                    g("backends"),
                    "empty list",
                    "at least one {\"service\": \"task-api\", \"port\": 8000}",
                )
                .into());
            }
            too_many(&g("backends"), rule.backends.len(), MAX_BACKENDS)?;
            let mut backends = Vec::new();
            for (bi, b) in rule.backends.iter().enumerate() {
                let h = |s: &str| g(&format!("backends[{bi}].{s}"));
                names::label(&h("service"), &b.service)?;
                if b.port == 0 {
                    return Err(InputError::new(h("port"), "0", "the Service port, 1-65535").into());
                }
                if b.weight > 1_000_000 {
                    return Err(InputError::new(
                        h("weight"),
                        b.weight.to_string(),
                        "a weight from 0 to 1000000",
                    )
                    .into());
                }
                backends.push(Backend {
                    service: b.service.clone(),
                    port: b.port,
                    weight: b.weight,
                });
            }
            if backends.iter().all(|b| b.weight == 0) {
                return Err(InputError::new(
                    g("backends"),
                    "every weight is 0, so the rule would send no traffic anywhere",
                    "at least one backend with a weight above 0 (e.g. 90 and 10 for a canary)",
                )
                .into());
            }
            rules.push(Rule {
                name,
                path: rule.path_prefix.clone(),
                headers,
                backends,
            });
        }
        let route = Route {
            name: r.name.clone(),
            namespace: p.namespace.clone(),
            parents: vec![Parent {
                name: p.gateway.clone(),
                section,
            }],
            hostnames: p.hostnames.clone(),
            rules,
        };
        let file = rendered(
            "httproute.yaml.j2",
            &route,
            "HTTPRoute",
            &r.name,
            &p.namespace,
        )?;
        snap.check_not_broken(&file.file)?;
        plan.files.push(file);
    }

    // Routes the stack already has for this Gateway but this call did not name are kept; say so.
    for m in snap.of_kind("HTTPRoute") {
        if m.namespace() == p.namespace && !route_names.contains(m.name()) {
            plan.notes.push(format!(
                "HTTPRoute {} is already in the stack and was left as it is",
                m.name()
            ));
        }
    }
    if p.https {
        let has_tls = snap.manifests.iter().any(|m| {
            m.kind() == "Certificate" && m.value["spec"]["secretName"] == p.tls_secret.as_str()
        }) || snap
            .other_files
            .iter()
            .any(|f| f == &format!("{}.key", p.tls_secret));
        if !has_tls {
            plan.notes.push(format!(
                "the HTTPS listener needs the kubernetes.io/tls Secret {}: create it with generate_tls",
                p.tls_secret
            ));
        }
    }
    plan.notes.push(
        "backend Services must exist with these ports: one missing backend makes Envoy Gateway answer 500 for the whole rule"
            .into(),
    );
    plan.summary = format!(
        "Gateway {}/{} ({}) with {} listener(s) and {} HTTPRoute(s)",
        p.namespace,
        p.gateway,
        p.gateway_class,
        listeners.len(),
        p.routes.len()
    );
    plan.next_step = format!(
        "add_rate_limit {{\"namespace\": \"{}\", \"target_name\": \"{}\"}}",
        p.namespace, p.routes[0].name
    );
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_from_paths() {
        for (p, want) in [
            ("/", "root"),
            ("/api/v1", "api-v1"),
            ("/a//b", "a-b"),
            ("/V2/", "v2"),
        ] {
            assert_eq!(rule_name_from_path(p), want);
        }
    }
}
