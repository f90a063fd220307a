//! add_rate_limit and add_circuit_breaker: both write into the ONE BackendTrafficPolicy of a
//! target (Envoy Gateway applies only the oldest policy of a kind on a target, so a second
//! policy would apply cleanly and do nothing). Authentication for clients without identity
//! goes into the target's one SecurityPolicy, by the same discipline.

use serde::Serialize;
use serde_json::{Value, json};

use super::params::{CircuitBreakerParams, RateLimitParams};
use super::{GenerateError, Plan, Snapshot, StackManifest, check_not_broken, emitted, rendered};
use crate::intent::observe::{self, view};
use crate::intent::{
    self, AnonymousAccess, CircuitBreakerIntent, RateLimitIntent, TargetIntent, Thresholds,
    defaults,
};

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

/// The policies of one kind that target the whole target object.
fn policies_of<'a>(
    snap: &'a Snapshot,
    kind: &'static str,
    t: &TargetIntent,
) -> Vec<&'a StackManifest> {
    snap.of_kind(kind)
        .filter(|m| m.namespace() == t.namespace)
        .filter(|m| {
            view::<observe::BtpSpec>(&m.value)
                .is_some_and(|b| b.spec.targets.targets(t.kind.as_str(), &t.name))
        })
        .collect()
}

pub(super) struct Resolved<'a> {
    pub(super) name: String,
    pub(super) existing: Option<&'a StackManifest>,
}

/// Find the one policy of `kind` on the target, or pick the name of the one to create.
pub(super) fn resolve<'a>(
    t: &TargetIntent,
    kind: &'static str,
    default_name: String,
    snap: &'a Snapshot,
    plan: &mut Plan,
) -> Result<Resolved<'a>, GenerateError> {
    let existing = policies_of(snap, kind, t);
    if existing.len() > 1 {
        return Err(GenerateError::PolicyConflict(Box::new(
            super::PolicyConflict {
                policy_kind: kind,
                kind: t.kind.as_str().into(),
                namespace: t.namespace.clone(),
                target: t.name.clone(),
                policies: existing.iter().map(|m| m.name().to_string()).collect(),
            },
        )));
    }
    if t.external {
        plan.notes.push(format!(
            "{} {}/{} is declared external: the policy attaches only where that object exists in the cluster",
            t.kind.as_str(),
            t.namespace,
            t.name
        ));
    }
    if let Some(m) = existing.first() {
        if let Some(n) = &t.policy_name
            && n != m.name()
        {
            plan.notes.push(format!(
                "policy_name {n} not used: {} {} already has {kind} {}, which was updated (one policy per target)",
                t.kind.as_str(),
                t.name,
                m.name()
            ));
        }
        return Ok(Resolved {
            name: m.name().to_string(),
            existing: Some(m),
        });
    }
    let name = t.policy_name.clone().unwrap_or(default_name);
    if let Some(other) = snap.find(kind, &t.namespace, &name) {
        return Err(GenerateError::NameTaken {
            kind: kind.into(),
            name,
            file: other.file.clone(),
            field: "policy_name",
        });
    }
    Ok(Resolved {
        name,
        existing: None,
    })
}

/// Render the policy with the given sections, then either write it as rendered (new policy)
/// or merge those sections into the existing object, keeping every other field as it is.
/// A policy kind and its template.
struct PolicyKind {
    template: &'static str,
    kind: &'static str,
}

const BTP: PolicyKind = PolicyKind {
    template: "backendtrafficpolicy.yaml.j2",
    kind: "BackendTrafficPolicy",
};
const SECURITY: PolicyKind = PolicyKind {
    template: "securitypolicy.yaml.j2",
    kind: "SecurityPolicy",
};

fn write_sections(
    pk: &PolicyKind,
    t: &TargetIntent,
    r: &Resolved,
    sections: &[&str],
    ctx: Value,
    snap: &Snapshot,
    plan: &mut Plan,
) -> Result<(), GenerateError> {
    let mut ctx = ctx;
    ctx["name"] = json!(r.name);
    ctx["namespace"] = json!(t.namespace);
    ctx["target"] = json!({ "kind": t.kind.as_str(), "name": t.name });
    let file = rendered(pk.template, &ctx, pk.kind, &r.name, &t.namespace)?;
    check_not_broken(snap, &file.file)?;
    match r.existing {
        None => plan.files.push(file),
        Some(m) => {
            let new = crate::yaml::parse_documents(&file.contents)
                .map_err(|e| GenerateError::Internal(e.to_string()))?
                .remove(0)
                .value;
            let mut merged = m.value.clone();
            if !merged["spec"].is_object() {
                merged["spec"] = json!({});
            }
            if let Some(spec) = merged["spec"].as_object_mut() {
                // the token budgets of add_llm_route live among the rate-limit rules of the
                // same policy: a request limit written here keeps them
                let token_rules: Vec<Value> = super::llm::token_rules(&m.value)
                    .into_iter()
                    .cloned()
                    .collect();
                for s in sections {
                    match new["spec"].get(*s) {
                        Some(v) if *s == "rateLimit" && !token_rules.is_empty() => {
                            let mut v = v.clone();
                            if let Some(rules) = v["global"]["rules"].as_array_mut() {
                                rules.extend(token_rules.iter().cloned());
                            }
                            spec.insert(s.to_string(), v);
                        }
                        Some(v) => {
                            spec.insert(s.to_string(), v.clone());
                        }
                        None => {
                            spec.remove(*s);
                        }
                    }
                }
            }
            let mut out = emitted(&merged);
            // keep the file the policy lives in, even if it was named by hand
            out.file = m.file.clone();
            plan.files.push(out);
        }
    }
    Ok(())
}

/// add_rate_limit: resolve the arguments against the stack, then build.
pub fn add_rate_limit(p: &RateLimitParams, snap: &Snapshot) -> Result<Plan, GenerateError> {
    let r = intent::resolve::rate_limit(p, snap)?;
    let mut plan = build_rate_limit(&r.intent, snap)?;
    plan.defaults = r.defaulted;
    Ok(plan)
}

/// Render the rate-limit section (and the SecurityPolicy when clients must authenticate).
pub fn build_rate_limit(rl: &RateLimitIntent, snap: &Snapshot) -> Result<Plan, GenerateError> {
    let mut plan = Plan::default();
    let t = &rl.target;
    let r = resolve(
        t,
        "BackendTrafficPolicy",
        defaults::policy_name(&t.name),
        snap,
        &mut plan,
    )?;
    let header = &rl.header;
    let unit = rl.unit.as_str();
    let mut rules = vec![RlRule {
        comment: format!(
            "each {header} value: its own bucket of {} per {unit}",
            rl.per_user
        ),
        headers: vec![HeaderSel {
            name: header.clone(),
            kind: "Distinct",
            value: None,
            invert: false,
        }],
        requests: rl.per_user,
        unit,
    }];
    match &rl.anonymous {
        AnonymousAccess::Limit(n) => {
            if *n == 0 {
                plan.notes.push(format!(
                    "anonymous_requests is 0: every request without {header} gets 429"
                ));
            }
            rules.push(RlRule {
                comment: format!("requests without {header}: one shared bucket of {n} per {unit}"),
                headers: vec![HeaderSel {
                    name: header.clone(),
                    kind: "RegularExpression",
                    value: Some(".*".into()),
                    invert: true,
                }],
                requests: *n,
                unit,
            });
        }
        AnonymousAccess::Unlimited => plan.notes.push(format!(
            "anonymous: unlimited: requests without {header} are not rate limited at all"
        )),
        AnonymousAccess::Jwt(_) | AnonymousAccess::ApiKey(_) => {}
    }
    let existing_type = r
        .existing
        .and_then(|m| view::<observe::BtpSpec>(&m.value))
        .and_then(|b| b.spec.rate_limit.and_then(|rl| rl.kind));
    write_sections(
        &BTP,
        t,
        &r,
        &["rateLimit"],
        json!({"rate_limit": {"rules": rules}, "circuit_breaker": null}),
        snap,
        &mut plan,
    )?;
    if let Some(ty) = existing_type {
        plan.notes.push(format!(
            "removed the deprecated rateLimit.type: {ty} (ignored since Envoy Gateway 1.6)"
        ));
    }
    authentication(rl, snap, &mut plan)?;
    // said only when the stack on disk does not configure it (Envoy Gateway's ConfigMap)
    if !snap
        .manifests
        .iter()
        .any(|m| crate::validate::refs::rate_limit_backend_configured(&m.value) == Some(true))
    {
        plan.notes.push(
            "global rate limits need Envoy Gateway's rate-limit service with Redis (EnvoyGateway config rateLimit.backend); without it the policy is not Accepted".into(),
        );
    }
    plan.summary = format!(
        "BackendTrafficPolicy {}/{} on {} {}: {header} Distinct {}/{unit}; clients without identity: {}",
        t.namespace,
        r.name,
        t.kind.as_str(),
        t.name,
        rl.per_user,
        match &rl.anonymous {
            AnonymousAccess::Limit(n) => format!("{n}/{unit} shared"),
            AnonymousAccess::Unlimited => "unlimited".into(),
            AnonymousAccess::Jwt(j) =>
                format!("401 (JWT from {}; {} -> {header})", j.issuer, j.claim),
            AnonymousAccess::ApiKey(k) => format!(
                "401 (API key in {} from Secret {}; client id -> {header})",
                k.header, k.secret
            ),
        }
    );
    plan.next_step = format!(
        "add_circuit_breaker {{\"namespace\": \"{}\", \"target_name\": \"{}\", \"max_connections\": 50}}",
        t.namespace, t.name
    );
    Ok(plan)
}

/// The SecurityPolicy for authenticated identity, or the warning that the identity header is
/// the client's word.
fn authentication(
    rl: &RateLimitIntent,
    snap: &Snapshot,
    plan: &mut Plan,
) -> Result<(), GenerateError> {
    let t = &rl.target;
    let header = &rl.header;
    let (jwt, api_key, mode) = match &rl.anonymous {
        AnonymousAccess::Jwt(j) => (
            Some(
                json!({"provider": "jwt", "issuer": j.issuer, "jwks_uri": j.jwks_uri, "claim": j.claim, "audiences": j.audiences}),
            ),
            None,
            "JWT",
        ),
        AnonymousAccess::ApiKey(k) => (
            None,
            Some(json!({"secret": k.secret, "header": k.header})),
            "API key",
        ),
        other => {
            // dropping authentication is not a partial update: refuse while it is in force
            for m in policies_of(snap, "SecurityPolicy", t) {
                let sp = view::<observe::SecuritySpec>(&m.value);
                if sp.is_some_and(|s| s.spec.jwt.is_some() || s.spec.api_key_auth.is_some()) {
                    return Err(GenerateError::AuthenticationInForce {
                        policy: m.name().to_string(),
                        file: crate::workspace::Stack::display_path(&m.file),
                        target: format!("{} {}", t.kind.as_str(), t.name),
                        wanted: other.mode().as_str(),
                    });
                }
            }
            plan.notes.push(format!(
                "{header} comes from the client and can be set freely (a made-up value gets a fresh bucket): bind it to an authenticated identity with anonymous: jwt (claim copied to {header}) or anonymous: api_key (the key's client id)"
            ));
            return Ok(());
        }
    };
    let r = resolve(
        t,
        "SecurityPolicy",
        defaults::security_policy_name(&t.name),
        snap,
        plan,
    )?;
    write_sections(
        &SECURITY,
        t,
        &r,
        &["jwt", "apiKeyAuth"],
        json!({"jwt": jwt, "api_key": api_key, "header": header, "mode": mode}),
        snap,
        plan,
    )?;
    match &rl.anonymous {
        AnonymousAccess::ApiKey(k) => plan.notes.push(format!(
            "Secret {}/{} must exist with one key per client (client id -> API key); requests without a valid {} header get 401, and {header} carries the client id",
            t.namespace, k.secret, k.header
        )),
        _ => plan.notes.push(format!(
            "requests without a valid JWT get 401; the gateway sets {header} from the token's claim, so the per-user limit counts verified users"
        )),
    }
    Ok(())
}

/// add_circuit_breaker: resolve the arguments against the stack, then build.
pub fn add_circuit_breaker(
    p: &CircuitBreakerParams,
    snap: &Snapshot,
) -> Result<Plan, GenerateError> {
    let r = intent::resolve::circuit_breaker(p, snap)?;
    let mut plan = build_circuit_breaker(&r.intent, snap)?;
    plan.defaults = r.defaulted;
    Ok(plan)
}

/// Render the circuit-breaker section: exactly the thresholds of the intent.
pub fn build_circuit_breaker(
    cb: &CircuitBreakerIntent,
    snap: &Snapshot,
) -> Result<Plan, GenerateError> {
    let mut plan = Plan::default();
    let t = &cb.target;
    let r = resolve(
        t,
        "BackendTrafficPolicy",
        defaults::policy_name(&t.name),
        snap,
        &mut plan,
    )?;
    let Thresholds {
        max_connections,
        max_pending_requests,
        max_parallel_requests,
        max_parallel_retries,
        max_requests_per_connection,
    } = &cb.thresholds;
    write_sections(
        &BTP,
        t,
        &r,
        &["circuitBreaker"],
        json!({"rate_limit": null, "circuit_breaker": {
            "max_connections": max_connections, "max_pending_requests": max_pending_requests,
            "max_parallel_requests": max_parallel_requests, "max_parallel_retries": max_parallel_retries,
            "max_requests_per_connection": max_requests_per_connection,
        }}),
        snap,
        &mut plan,
    )?;
    let unset = cb.thresholds.unset();
    if !unset.is_empty() {
        plan.notes.push(format!(
            "not set, so Envoy's default of {} applies: {}",
            defaults::ENVOY_CIRCUIT_BREAKER_DEFAULT,
            unset.join(", ")
        ));
    }
    plan.notes.push(
        "circuit-breaker limits apply per Envoy replica and per backend of each rule: with N gateway replicas the backend can see N times these numbers".into(),
    );
    plan.summary = format!(
        "BackendTrafficPolicy {}/{} on {} {}: circuitBreaker {}",
        t.namespace,
        r.name,
        t.kind.as_str(),
        t.name,
        cb.thresholds
            .fields()
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    plan.next_step = format!("generate_tls {{\"namespace\": \"{}\"}}", t.namespace);
    Ok(plan)
}
