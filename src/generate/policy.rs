//! add_rate_limit and add_circuit_breaker: both write into the ONE BackendTrafficPolicy of a
//! target. Envoy Gateway applies only the oldest policy of a kind on a target, so a second
//! policy would apply cleanly and do nothing.

use serde::Serialize;
use serde_json::{Value, json};

use super::params::{CircuitBreakerParams, PolicyTarget, RateLimitParams};
use super::{GenerateError, Plan, Snapshot, StackManifest, emitted, rendered};
use crate::names::{self, InputError};

#[derive(Serialize)]
struct HeaderSel {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    value: Option<String>,
    invert: bool,
}

#[derive(Serialize)]
struct RlRule {
    comment: String,
    headers: Vec<HeaderSel>,
    requests: u32,
    unit: &'static str,
}

#[derive(Serialize, Default)]
struct Breaker {
    max_connections: u32,
    max_pending_requests: u32,
    max_parallel_requests: u32,
    max_parallel_retries: Option<u32>,
    max_requests_per_connection: Option<u32>,
}

/// Does this policy's targetRefs (or deprecated targetRef) name the target?
fn targets(m: &StackManifest, kind: &str, name: &str) -> bool {
    let hit = |r: &Value| r["kind"] == kind && r["name"] == name && r.get("sectionName").is_none();
    m.value["spec"]["targetRefs"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(hit))
        || hit(&m.value["spec"]["targetRef"])
}

struct Resolved<'a> {
    name: String,
    existing: Option<&'a StackManifest>,
}

/// Find the one policy of the target, or pick the name of the one to create.
fn resolve<'a>(
    t: &PolicyTarget,
    snap: &'a Snapshot,
    plan: &mut Plan,
) -> Result<Resolved<'a>, GenerateError> {
    names::label("namespace", &t.namespace)?;
    names::object_name("target_name", &t.target_name)?;
    if !t.policy_name.is_empty() {
        names::object_name("policy_name", &t.policy_name)?;
    }
    let kind = t.target_kind.as_str();
    let existing: Vec<&StackManifest> = snap
        .of_kind("BackendTrafficPolicy")
        .filter(|m| m.namespace() == t.namespace && targets(m, kind, &t.target_name))
        .collect();
    if existing.len() > 1 {
        let names: Vec<&str> = existing.iter().map(|m| m.name()).collect();
        return Err(GenerateError::Conflict(format!(
            "{} BackendTrafficPolicies already target {kind} {}/{}: {}. Envoy Gateway applies only the oldest; merge them into one (or delete the extra files) and call again",
            existing.len(),
            t.namespace,
            t.target_name,
            names.join(", ")
        )));
    }
    if snap.find(kind, &t.namespace, &t.target_name).is_none() {
        plan.notes.push(format!(
            "{kind} {}/{} is not in the stack: the policy will not attach until it exists (generate_gateway creates it)",
            t.namespace, t.target_name
        ));
    }
    if let Some(m) = existing.first() {
        if !t.policy_name.is_empty() && t.policy_name != m.name() {
            plan.notes.push(format!(
                "policy_name {} ignored: {kind} {} already has BackendTrafficPolicy {}, which was updated (one policy per target)",
                t.policy_name,
                t.target_name,
                m.name()
            ));
        }
        return Ok(Resolved {
            name: m.name().to_string(),
            existing: Some(m),
        });
    }
    let name = if t.policy_name.is_empty() {
        let n = format!("{}-traffic", t.target_name);
        if n.len() > 63 {
            t.target_name.clone()
        } else {
            n
        }
    } else {
        t.policy_name.clone()
    };
    // a policy of that name for another target would be overwritten: refuse
    if let Some(other) = snap.find("BackendTrafficPolicy", &t.namespace, &name) {
        return Err(GenerateError::Conflict(format!(
            "BackendTrafficPolicy {name} already exists in file {} for another target; choose another policy_name",
            other.file
        )));
    }
    Ok(Resolved {
        name,
        existing: None,
    })
}

/// Render the policy with one section, then either write it as rendered (new policy) or merge
/// that section into the existing object, keeping every other field as the user left it.
fn write_section(
    t: &PolicyTarget,
    r: &Resolved,
    section: &str,
    ctx: Value,
    snap: &Snapshot,
    plan: &mut Plan,
) -> Result<(), GenerateError> {
    let mut ctx = ctx;
    ctx["name"] = json!(r.name);
    ctx["namespace"] = json!(t.namespace);
    ctx["target"] = json!({ "kind": t.target_kind.as_str(), "name": t.target_name });
    let file = rendered(
        "backendtrafficpolicy.yaml.j2",
        &ctx,
        "BackendTrafficPolicy",
        &r.name,
        &t.namespace,
    )?;
    snap.check_not_broken(&file.file)?;
    match r.existing {
        None => plan.files.push(file),
        Some(m) => {
            let new = crate::yaml::parse_documents(&file.contents)
                .map_err(|e| GenerateError::Internal(e.to_string()))?
                .remove(0)
                .value;
            let mut merged = m.value.clone();
            let spec = merged
                .get_mut("spec")
                .and_then(Value::as_object_mut)
                .ok_or_else(|| {
                    GenerateError::Conflict(format!(
                        "{} has no spec object; fix or delete it",
                        m.file
                    ))
                })?;
            spec.insert(section.to_string(), new["spec"][section].clone());
            let mut out = emitted(&merged);
            // keep the file the policy lives in, even if it was named by hand
            out.file = m.file.clone();
            plan.files.push(out);
        }
    }
    Ok(())
}

pub fn add_rate_limit(p: &RateLimitParams, snap: &Snapshot) -> Result<Plan, GenerateError> {
    let mut plan = Plan::default();
    let r = resolve(&p.target, snap, &mut plan)?;
    names::header_name("user_header", &p.user_header)?;
    if p.requests_per_user == 0 {
        return Err(InputError::new(
            "requests_per_user",
            "0 would refuse every user",
            "a number of requests from 1 to 4294967295",
        )
        .into());
    }
    if p.limit_anonymous && p.anonymous_requests == 0 {
        plan.notes
            .push("anonymous_requests is 0: every request without the user header gets 429".into());
    }
    let header = p.user_header.to_ascii_lowercase();
    let unit = p.unit.as_str();
    let mut rules = vec![RlRule {
        comment: format!(
            "each {header} value: its own bucket of {} per {unit}",
            p.requests_per_user
        ),
        headers: vec![HeaderSel {
            name: header.clone(),
            kind: "Distinct",
            value: None,
            invert: false,
        }],
        requests: p.requests_per_user,
        unit,
    }];
    if p.limit_anonymous {
        rules.push(RlRule {
            comment: format!(
                "requests without {header}: one shared bucket of {} per {unit}",
                p.anonymous_requests
            ),
            headers: vec![HeaderSel {
                name: header.clone(),
                kind: "RegularExpression",
                value: Some(".*".into()),
                invert: true,
            }],
            requests: p.anonymous_requests,
            unit,
        });
    } else {
        plan.notes.push(format!(
            "limit_anonymous is false: requests without {header} are not rate limited at all"
        ));
    }
    let existing_type = r.existing.and_then(|m| {
        m.value["spec"]["rateLimit"]["type"]
            .as_str()
            .map(str::to_string)
    });
    write_section(
        &p.target,
        &r,
        "rateLimit",
        json!({"rate_limit": {"rules": rules}, "circuit_breaker": null}),
        snap,
        &mut plan,
    )?;
    if let Some(t) = existing_type {
        plan.notes.push(format!(
            "removed the deprecated rateLimit.type: {t} (ignored since Envoy Gateway 1.6)"
        ));
    }
    plan.notes.push(
        "global rate limits need Envoy Gateway's rate-limit service with Redis (EnvoyGateway config rateLimit.backend); without it the policy is not Accepted".into(),
    );
    plan.notes.push(format!(
        "{header} comes from the client and can be spoofed: set it from a verified JWT (SecurityPolicy claimToHeaders) and strip the client's copy"
    ));
    plan.summary = format!(
        "BackendTrafficPolicy {}/{} on {} {}: {header} Distinct {}/{unit}{}",
        p.target.namespace,
        r.name,
        p.target.target_kind.as_str(),
        p.target.target_name,
        p.requests_per_user,
        if p.limit_anonymous {
            format!(
                "; requests without {header} {}/{unit}",
                p.anonymous_requests
            )
        } else {
            String::new()
        }
    );
    plan.next_step = format!(
        "add_circuit_breaker {{\"namespace\": \"{}\", \"target_name\": \"{}\"}}",
        p.target.namespace, p.target.target_name
    );
    Ok(plan)
}

pub fn add_circuit_breaker(
    p: &CircuitBreakerParams,
    snap: &Snapshot,
) -> Result<Plan, GenerateError> {
    let mut plan = Plan::default();
    let r = resolve(&p.target, snap, &mut plan)?;
    for (field, v) in [
        ("max_connections", p.max_connections),
        ("max_pending_requests", p.max_pending_requests),
        ("max_parallel_requests", p.max_parallel_requests),
    ] {
        if v == 0 {
            return Err(InputError::new(
                field,
                "0 would refuse every request",
                "a limit from 1 to 4294967295",
            )
            .into());
        }
    }
    if p.max_requests_per_connection == Some(0) {
        return Err(InputError::new(
            "max_requests_per_connection",
            "0",
            "a limit from 1, or omit it for unlimited",
        )
        .into());
    }
    let b = Breaker {
        max_connections: p.max_connections,
        max_pending_requests: p.max_pending_requests,
        max_parallel_requests: p.max_parallel_requests,
        max_parallel_retries: p.max_parallel_retries,
        max_requests_per_connection: p.max_requests_per_connection,
    };
    write_section(
        &p.target,
        &r,
        "circuitBreaker",
        json!({"rate_limit": null, "circuit_breaker": b}),
        snap,
        &mut plan,
    )?;
    plan.notes.push(
        "circuit-breaker limits apply per Envoy replica and per backend of each rule: with N gateway replicas the backend can see N times these numbers".into(),
    );
    plan.summary = format!(
        "BackendTrafficPolicy {}/{} on {} {}: circuitBreaker maxConnections {}, maxPendingRequests {}, maxParallelRequests {}",
        p.target.namespace,
        r.name,
        p.target.target_kind.as_str(),
        p.target.target_name,
        p.max_connections,
        p.max_pending_requests,
        p.max_parallel_requests
    );
    plan.next_step = format!("generate_tls {{\"namespace\": \"{}\"}}", p.target.namespace);
    Ok(plan)
}
