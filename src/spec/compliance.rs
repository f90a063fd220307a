//! The compliance table: each success criterion checked against the stack, PASS or FAIL with
//! the evidence (resource, field, value) or the reason, and the live check that proves what
//! only traffic or a cluster can.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::{CheckKind, Spec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
}

/// A check only traffic or a cluster can make, with the command that makes it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LiveCheck {
    pub command: String,
    pub expect: String,
}

/// One row of the compliance table.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Row {
    pub id: String,
    pub check: CheckKind,
    pub status: Status,
    /// What in the stack meets the criterion (PASS), or why it does not (FAIL).
    pub evidence: String,
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

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn find<'a>(objs: &'a [Value], kind: &str, ns: &str, name: &str) -> Option<&'a Value> {
    objs.iter().find(|o| {
        s(o, "kind") == kind
            && s(&o["metadata"], "name") == name
            && s(&o["metadata"], "namespace") == ns
    })
}

fn targets_route<'a>(objs: &'a [Value], ns: &str, route: &str) -> Vec<&'a Value> {
    objs.iter()
        .filter(|o| s(o, "kind") == "BackendTrafficPolicy" && s(&o["metadata"], "namespace") == ns)
        .filter(|o| {
            o["spec"]["targetRefs"].as_array().is_some_and(|refs| {
                refs.iter()
                    .any(|r| s(r, "kind") == "HTTPRoute" && s(r, "name") == route)
            }) || (s(&o["spec"]["targetRef"], "kind") == "HTTPRoute"
                && s(&o["spec"]["targetRef"], "name") == route)
        })
        .collect()
}

type Verdict = Result<String, String>;

fn one_policy<'a>(spec: &Spec, objs: &'a [Value]) -> Result<&'a Value, String> {
    let ns = &spec.service.namespace;
    let route = spec.policy_route();
    let pols = targets_route(objs, ns, route);
    match pols.len() {
        0 => Err(format!(
            "no BackendTrafficPolicy targets HTTPRoute {ns}/{route}"
        )),
        1 => Ok(pols[0]),
        n => Err(format!(
            "{n} BackendTrafficPolicies target HTTPRoute {ns}/{route} ({}); Envoy Gateway applies only the oldest",
            pols.iter()
                .map(|p| s(&p["metadata"], "name"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn rate_limits(spec: &Spec, objs: &[Value]) -> Verdict {
    let Some(rl) = &spec.rate_limits else {
        return Err("the spec has no rate_limits".into());
    };
    let p = one_policy(spec, objs)?;
    let pname = format!(
        "{}/{}",
        s(&p["metadata"], "namespace"),
        s(&p["metadata"], "name")
    );
    let header = rl.header.to_ascii_lowercase();
    let unit = rl.unit.as_str();
    let rules: Vec<&Value> = p["spec"]["rateLimit"]["global"]["rules"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let headers_of = |r: &Value| -> Vec<Value> {
        r["clientSelectors"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|sel| sel["headers"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    let limit = |r: &Value| {
        (
            r["limit"]["requests"].as_u64(),
            s(&r["limit"], "unit").to_string(),
        )
    };
    let user_rule = rules.iter().find(|r| {
        headers_of(r).iter().any(|h| {
            s(h, "name").eq_ignore_ascii_case(&header)
                && s(h, "type") == "Distinct"
                && h.get("value").is_none()
        })
    });
    let Some(user_rule) = user_rule else {
        return Err(format!(
            "BackendTrafficPolicy {pname}: no global rule with a {header} Distinct selector (per-user limit missing)"
        ));
    };
    let (n, u) = limit(user_rule);
    if n != Some(u64::from(rl.per_user)) || u != unit {
        return Err(format!(
            "BackendTrafficPolicy {pname}: {header} Distinct limit is {}/{u}, the spec says {}/{unit}",
            n.map_or("?".into(), |n| n.to_string()),
            rl.per_user
        ));
    }
    let mut evidence = format!(
        "BackendTrafficPolicy {pname}: {header} Distinct {}/{unit}",
        rl.per_user
    );
    if let Some(anon) = rl.anonymous {
        let anon_rule = rules.iter().find(|r| {
            headers_of(r).iter().any(|h| {
                s(h, "name").eq_ignore_ascii_case(&header)
                    && s(h, "type") == "RegularExpression"
                    && matches!(s(h, "value"), ".*" | ".+" | "^.*$" | "^.+$")
                    && h["invert"].as_bool() == Some(true)
            })
        });
        let Some(anon_rule) = anon_rule else {
            return Err(format!(
                "BackendTrafficPolicy {pname}: no rule for requests without {header} (RegularExpression \".*\" with invert: true): anonymous traffic is unlimited"
            ));
        };
        let (n, u) = limit(anon_rule);
        if n != Some(u64::from(anon)) || u != unit {
            return Err(format!(
                "BackendTrafficPolicy {pname}: the limit for requests without {header} is {}/{u}, the spec says {anon}/{unit}",
                n.map_or("?".into(), |n| n.to_string())
            ));
        }
        evidence.push_str(&format!("; requests without {header} {anon}/{unit}"));
    }
    Ok(evidence)
}

fn circuit_breaker(spec: &Spec, objs: &[Value]) -> Verdict {
    let Some(cb) = &spec.circuit_breaker else {
        return Err("the spec has no circuit_breaker".into());
    };
    let p = one_policy(spec, objs)?;
    let pname = format!(
        "{}/{}",
        s(&p["metadata"], "namespace"),
        s(&p["metadata"], "name")
    );
    let c = &p["spec"]["circuitBreaker"];
    if !c.is_object() {
        return Err(format!(
            "BackendTrafficPolicy {pname} has no circuitBreaker (Envoy's default allows 1024 connections)"
        ));
    }
    let get = |k: &str| c[k].as_u64();
    let mut parts = Vec::new();
    for (field, want) in [
        ("maxConnections", Some(cb.max_connections)),
        (
            "maxPendingRequests",
            cb.max_pending_requests.or(Some(cb.max_connections)),
        ),
        (
            "maxParallelRequests",
            cb.max_parallel_requests.or(Some(cb.max_connections)),
        ),
    ] {
        let Some(want) = want else { continue };
        match get(field) {
            Some(v) if v <= u64::from(want) => parts.push(format!("{field} {v}")),
            Some(v) => {
                return Err(format!(
                    "BackendTrafficPolicy {pname}: circuitBreaker.{field} is {v}, above the spec's {want}"
                ));
            }
            None => {
                return Err(format!(
                    "BackendTrafficPolicy {pname}: circuitBreaker.{field} is not set (Envoy's default is 1024)"
                ));
            }
        }
    }
    Ok(format!(
        "BackendTrafficPolicy {pname}: circuitBreaker {} (per Envoy replica)",
        parts.join(", ")
    ))
}

fn gateway<'a>(spec: &Spec, objs: &'a [Value]) -> Result<&'a Value, String> {
    let ns = &spec.service.namespace;
    find(objs, "Gateway", ns, &spec.gateway.name)
        .ok_or_else(|| format!("Gateway {ns}/{} is not in the stack", spec.gateway.name))
}

fn gateway_access(spec: &Spec, objs: &[Value]) -> Verdict {
    let g = gateway(spec, objs)?;
    let ns = &spec.service.namespace;
    if s(&g["spec"], "gatewayClassName") != spec.gateway.class {
        return Err(format!(
            "Gateway {ns}/{}: gatewayClassName is {}, the spec says {}",
            spec.gateway.name,
            s(&g["spec"], "gatewayClassName"),
            spec.gateway.class
        ));
    }
    let listeners: Vec<String> = g["spec"]["listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            format!(
                "{} {}:{}",
                s(l, "name"),
                s(l, "protocol"),
                l["port"].as_u64().unwrap_or(0)
            )
        })
        .collect();
    let mut attached = Vec::new();
    for r in &spec.routes {
        let Some(route) = find(objs, "HTTPRoute", ns, &r.name) else {
            return Err(format!("HTTPRoute {ns}/{} is not in the stack", r.name));
        };
        let parent_ok = route["spec"]["parentRefs"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| s(p, "name") == spec.gateway.name));
        if !parent_ok {
            return Err(format!(
                "HTTPRoute {ns}/{} does not attach to Gateway {}",
                r.name, spec.gateway.name
            ));
        }
        attached.push(r.name.clone());
    }
    Ok(format!(
        "Gateway {ns}/{} (class {}): listeners {}; HTTPRoute {} attached for {}",
        spec.gateway.name,
        spec.gateway.class,
        listeners.join(", "),
        attached.join(", "),
        spec.gateway.hostnames.join(", ")
    ))
}

fn https(spec: &Spec, objs: &[Value], generated_secrets: &[(String, String)]) -> Verdict {
    let Some(h) = &spec.gateway.https else {
        return Err("the spec has no gateway.https".into());
    };
    let g = gateway(spec, objs)?;
    let ns = &spec.service.namespace;
    let listener = g["spec"]["listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| s(l, "protocol") == "HTTPS");
    let Some(l) = listener else {
        return Err(format!(
            "Gateway {ns}/{} has no HTTPS listener",
            spec.gateway.name
        ));
    };
    if l["port"].as_u64() != Some(u64::from(h.port)) {
        return Err(format!(
            "the HTTPS listener listens on {}, the spec says {}",
            l["port"], h.port
        ));
    }
    let mode = match s(&l["tls"], "mode") {
        "" => "Terminate",
        m => m,
    };
    let refs_secret = l["tls"]["certificateRefs"]
        .as_array()
        .is_some_and(|rs| rs.iter().any(|r| s(r, "name") == h.secret));
    if mode != "Terminate" || !refs_secret {
        return Err(format!(
            "the HTTPS listener does not terminate TLS with Secret {} (mode {mode})",
            h.secret
        ));
    }
    let source = if let Some(c) = objs.iter().find(|o| {
        s(o, "kind") == "Certificate"
            && s(&o["metadata"], "namespace") == ns
            && s(&o["spec"], "secretName") == h.secret
    }) {
        format!(
            "Certificate {ns}/{} issued by {} {}",
            s(&c["metadata"], "name"),
            s(&c["spec"]["issuerRef"], "kind"),
            s(&c["spec"]["issuerRef"], "name")
        )
    } else if generated_secrets
        .iter()
        .any(|(n, name)| n == ns && name == &h.secret)
    {
        "a kustomize secretGenerator (local self-signed certificate)".to_string()
    } else if find(objs, "Secret", ns, &h.secret).is_some() {
        "a Secret in the stack".to_string()
    } else {
        return Err(format!(
            "nothing in the stack creates Secret {ns}/{} (no Certificate, secretGenerator or Secret)",
            h.secret
        ));
    };
    Ok(format!(
        "Gateway {ns}/{}: listener {} HTTPS:{} TLS Terminate with Secret {} from {source}",
        spec.gateway.name,
        s(l, "name"),
        h.port,
        h.secret
    ))
}

fn autoscaling(spec: &Spec, objs: &[Value]) -> Verdict {
    let Some(a) = &spec.autoscaling else {
        return Err("the spec has no autoscaling".into());
    };
    let ns = &spec.service.namespace;
    let so = objs.iter().find(|o| {
        s(o, "kind") == "ScaledObject"
            && s(&o["metadata"], "namespace") == ns
            && s(&o["spec"]["scaleTargetRef"], "name") == spec.deployment()
    });
    let Some(so) = so else {
        return Err(format!(
            "no ScaledObject scales Deployment {ns}/{}",
            spec.deployment()
        ));
    };
    let name = s(&so["metadata"], "name");
    let min = so["spec"]["minReplicaCount"].as_u64();
    let max = so["spec"]["maxReplicaCount"].as_u64();
    match min {
        None => {
            return Err(format!(
                "ScaledObject {ns}/{name}: minReplicaCount is not set, so KEDA scales to zero"
            ));
        }
        Some(m) if m != u64::from(a.min) => {
            return Err(format!(
                "ScaledObject {ns}/{name}: minReplicaCount is {m}, the spec says {}",
                a.min
            ));
        }
        _ => {}
    }
    if max != Some(u64::from(a.max)) {
        return Err(format!(
            "ScaledObject {ns}/{name}: maxReplicaCount is {}, the spec says {}",
            max.map_or("unset (100)".into(), |m| m.to_string()),
            a.max
        ));
    }
    let triggers: Vec<&Value> = so["spec"]["triggers"]
        .as_array()
        .map(|t| t.iter().collect())
        .unwrap_or_default();
    let trigger = match a.metric {
        crate::generate::params::ScaleMetric::RequestRate => triggers
            .iter()
            .find(|t| s(t, "type") == "prometheus" && s(&t["metadata"], "query").trim_start().starts_with("sum("))
            .map(|t| format!("prometheus {} (threshold {})", s(&t["metadata"], "query"), s(&t["metadata"], "threshold")))
            .ok_or_else(|| format!("ScaledObject {ns}/{name}: no prometheus trigger with a sum() request-rate query")),
        crate::generate::params::ScaleMetric::Cpu => triggers
            .iter()
            .find(|t| s(t, "type") == "cpu")
            .map(|t| format!("cpu {}%", s(&t["metadata"], "value")))
            .ok_or_else(|| format!("ScaledObject {ns}/{name}: no cpu trigger")),
    }?;
    Ok(format!(
        "ScaledObject {ns}/{name}: Deployment {}, min {} max {}, {trigger}",
        spec.deployment(),
        a.min,
        a.max
    ))
}

fn routing(spec: &Spec, objs: &[Value]) -> Verdict {
    let ns = &spec.service.namespace;
    let mut parts = Vec::new();
    for r in &spec.routes {
        let Some(route) = find(objs, "HTTPRoute", ns, &r.name) else {
            return Err(format!("HTTPRoute {ns}/{} is not in the stack", r.name));
        };
        for rule in &r.rules {
            let found = route["spec"]["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|x| {
                    x["matches"].as_array().is_some_and(|ms| {
                        ms.iter().any(|m| {
                            let ty = match s(&m["path"], "type") {
                                "" => "PathPrefix",
                                t => t,
                            };
                            ty == "PathPrefix" && s(&m["path"], "value") == rule.path
                        })
                    }) || (rule.path == "/" && x.get("matches").is_none())
                });
            let Some(found) = found else {
                return Err(format!(
                    "HTTPRoute {ns}/{}: no rule matches PathPrefix {}",
                    r.name, rule.path
                ));
            };
            let mut got: Vec<(String, u64)> = found["backendRefs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| (s(b, "name").to_string(), b["weight"].as_u64().unwrap_or(1)))
                .collect();
            got.sort();
            let mut want: Vec<(String, u64)> = if rule.split.is_empty() {
                vec![(rule.backend.clone(), 1)]
            } else {
                rule.split
                    .iter()
                    .map(|w| (w.name.clone(), u64::from(w.weight)))
                    .collect()
            };
            want.sort();
            let names = |v: &[(String, u64)]| {
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
            if got != want {
                return Err(format!(
                    "HTTPRoute {ns}/{}: {} goes to {}, the spec says {}",
                    r.name,
                    rule.path,
                    names(&got),
                    names(&want)
                ));
            }
            parts.push(format!("{} -> {}", rule.path, names(&got)));
        }
    }
    Ok(format!("HTTPRoute rules: {}", parts.join("; ")))
}

fn generated(spec: &Spec, objs: &[Value], errors: usize) -> Verdict {
    let ns = &spec.service.namespace;
    let mut expected: Vec<(String, String)> = vec![("Gateway".into(), spec.gateway.name.clone())];
    expected.extend(
        spec.routes
            .iter()
            .map(|r| ("HTTPRoute".to_string(), r.name.clone())),
    );
    if spec.autoscaling.is_some() {
        expected.push(("ScaledObject".into(), spec.service.name.clone()));
    }
    let mut missing: Vec<String> = expected
        .iter()
        .filter(|(k, n)| find(objs, k, ns, n).is_none())
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if (spec.rate_limits.is_some() || spec.circuit_breaker.is_some())
        && targets_route(objs, ns, spec.policy_route()).is_empty()
    {
        missing.push(format!(
            "BackendTrafficPolicy for HTTPRoute {}",
            spec.policy_route()
        ));
    }
    if !missing.is_empty() {
        return Err(format!("missing from the stack: {}", missing.join(", ")));
    }
    if errors > 0 {
        return Err(format!("the stack has {errors} validation error(s)"));
    }
    Ok(format!(
        "{} objects in the stack, every one the spec implies; validate: 0 errors",
        objs.len()
    ))
}

/// Evaluate every criterion. `objs` are the stack's objects, `errors` the number of error
/// findings validate reported, `generated_secrets` the (namespace, name) of secretGenerators.
pub fn evaluate(
    spec: &Spec,
    objs: &[Value],
    errors: usize,
    generated_secrets: &[(String, String)],
    spec_file: &str,
) -> Vec<Row> {
    let ns = &spec.service.namespace;
    let host = spec.gateway.hostnames.first().cloned().unwrap_or_default();
    // verify sends traffic to loopback only: the placeholders are the local ports that
    // `kubectl port-forward` gives the gateway's listeners
    let listeners = match (spec.gateway.http.is_some(), spec.gateway.https.is_some()) {
        (true, true) => {
            "--gateway 127.0.0.1:<http-port> --https-gateway https://127.0.0.1:<https-port> --ca <ca.crt>"
        }
        (false, true) => "--https-gateway https://127.0.0.1:<https-port> --ca <ca.crt>",
        _ => "--gateway 127.0.0.1:<http-port>",
    };
    let verify = format!("traffic-engineer verify --spec {spec_file} {listeners} --host {host}");
    spec.criteria
        .iter()
        .map(|c| {
            let (verdict, live) = match c.check {
                CheckKind::GatewayAccess => (
                    gateway_access(spec, objs),
                    Some(LiveCheck {
                        command: verify.clone(),
                        expect: format!(
                            "{} PASS (the routes answer through the HTTP listener)",
                            c.id
                        ),
                    }),
                ),
                CheckKind::RateLimits => {
                    let expect = spec.rate_limits.as_ref().map(|r| {
                        format!(
                            "{} PASS (one user: {} succeeded, the rest rate limited{})",
                            c.id,
                            r.per_user,
                            r.anonymous
                                .map(|a| format!(
                                    "; anonymous: {a} succeeded, the rest rate limited"
                                ))
                                .unwrap_or_default()
                        )
                    });
                    (
                        rate_limits(spec, objs),
                        expect.map(|expect| LiveCheck {
                            command: verify.clone(),
                            expect,
                        }),
                    )
                }
                CheckKind::Https => (
                    https(spec, objs, generated_secrets),
                    Some(LiveCheck {
                        command: verify.clone(),
                        expect: format!("{} PASS (TLS handshake with SNI {host})", c.id),
                    }),
                ),
                CheckKind::Autoscaling => {
                    let (min, max) = spec
                        .autoscaling
                        .as_ref()
                        .map(|a| (a.min, a.max))
                        .unwrap_or((0, 0));
                    (
                        autoscaling(spec, objs),
                        Some(LiveCheck {
                            command: format!(
                                "kubectl get scaledobject -n {ns} {}",
                                spec.service.name
                            ),
                            expect: format!("READY=True, MIN={min}, MAX={max}"),
                        }),
                    )
                }
                CheckKind::Routing => (
                    routing(spec, objs),
                    Some(LiveCheck {
                        command: verify.clone(),
                        expect: format!("{} PASS (each prefix answered by its backend)", c.id),
                    }),
                ),
                CheckKind::CircuitBreaker => (
                    circuit_breaker(spec, objs),
                    Some(LiveCheck {
                        command: verify.clone(),
                        expect: format!(
                            "{} PASS (overflow above the limit gets 503 x-envoy-overloaded)",
                            c.id
                        ),
                    }),
                ),
                CheckKind::Generated => (generated(spec, objs, errors), None),
            };
            let (status, evidence) = match verdict {
                Ok(e) => (Status::Pass, e),
                Err(e) => (Status::Fail, e),
            };
            Row {
                id: c.id.clone(),
                check: c.check,
                status,
                evidence,
                live,
            }
        })
        .collect()
}
