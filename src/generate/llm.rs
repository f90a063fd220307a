//! add_llm_route: an Envoy AI Gateway (v1.1.0) route for LLM traffic on a Gateway of the stack.
//!
//! Writes an AIGatewayRoute routing on the model name (`x-ai-eg-model`), per provider an
//! AIServiceBackend, its Envoy Gateway Backend and a BackendSecurityPolicy naming the Secret
//! that holds the key (never the key), and, for fallback and token budgets, the ONE
//! BackendTrafficPolicy of the HTTPRoute the AI Gateway controller generates for the route
//! (same name; `internal/controller/ai_gateway_route.go`): `retry` across priorities, and a
//! global rate-limit rule per budgeted token kind whose cost is the count the route stores in
//! dynamic metadata (`llmRequestCosts`). Rate-limit rules that are not token budgets (those of
//! add_rate_limit) are kept as they are, and so is every other field of that policy.

use serde_json::{Value, json};

use super::params::LlmRouteParams;
use super::{GenerateError, Plan, Snapshot, check_not_broken, emitted, rendered};
use crate::intent::{self, LlmRouteIntent, TargetIntent, TargetKind, defaults};

/// The rate-limit rules of a policy whose cost is an AI Gateway token count.
pub fn token_rules(policy: &Value) -> Vec<&Value> {
    policy
        .pointer("/spec/rateLimit/global/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| is_token_rule(r))
        .collect()
}

fn is_token_rule(r: &Value) -> bool {
    r.pointer("/cost/response/metadata/namespace")
        .and_then(Value::as_str)
        == Some(defaults::llm::COST_NAMESPACE)
}

/// add_llm_route: resolve the arguments against the stack, then build.
pub fn generate(p: &LlmRouteParams, snap: &Snapshot) -> Result<Plan, GenerateError> {
    let r = intent::resolve::llm_route(p, snap)?;
    let mut plan = build(&r.intent, snap)?;
    plan.defaults = r.defaulted;
    Ok(plan)
}

/// Render the LLM route section.
pub fn build(l: &LlmRouteIntent, snap: &Snapshot) -> Result<Plan, GenerateError> {
    let mut plan = Plan::default();
    let ns = &l.namespace;
    // the route, one rule per model
    let rules: Vec<Value> = l
        .models()
        .into_iter()
        .map(|(model, bs)| {
            let comment = bs
                .iter()
                .map(|b| format!("{} (priority {})", b.name, b.priority))
                .collect::<Vec<_>>()
                .join(", ");
            json!({"model": model, "comment": comment, "backends": bs.iter().map(|b| json!({"name": b.name, "priority": b.priority})).collect::<Vec<_>>()})
        })
        .collect();
    let costs: Vec<Value> = l
        .budget
        .buckets()
        .iter()
        .map(|(k, _)| json!({"key": k.metadata_key(), "type": k.cost_type()}))
        .collect();
    let mut route = rendered(
        "aigatewayroute.yaml.j2",
        &json!({"name": l.name, "namespace": ns, "gateway": l.gateway, "rules": rules, "costs": costs}),
        "AIGatewayRoute",
        &l.name,
        ns,
    )?;
    check_not_broken(snap, &route.file)?;
    // cost entries the call does not own (a CEL formula added by hand) are kept
    if let Some(old) = snap.find("AIGatewayRoute", ns, &l.name) {
        let foreign: Vec<Value> = old
            .value
            .pointer("/spec/llmRequestCosts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| {
                c.get("metadataKey")
                    .and_then(Value::as_str)
                    .and_then(intent::TokenKind::from_metadata_key)
                    .is_none()
            })
            .cloned()
            .collect();
        if !foreign.is_empty() {
            let mut v = crate::yaml::parse_documents(&route.contents)
                .map_err(|e| GenerateError::Internal(e.to_string()))?
                .remove(0)
                .value;
            let mut all = v["spec"]["llmRequestCosts"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            all.extend(foreign);
            v["spec"]["llmRequestCosts"] = Value::Array(all);
            let file = route.file.clone();
            route = emitted(&v);
            route.file = file;
        }
    }
    plan.files.push(route);
    for b in &l.backends {
        let ip = b.hostname.parse::<std::net::IpAddr>().is_ok();
        let files = [
            rendered(
                "aiservicebackend.yaml.j2",
                &json!({"name": b.name, "namespace": ns, "schema": b.schema.schema_name(), "version": b.api_version}),
                "AIServiceBackend",
                &b.name,
                ns,
            )?,
            rendered(
                "backend.yaml.j2",
                &json!({"name": b.name, "namespace": ns, "hostname": b.hostname, "port": b.port, "tls": b.tls, "ip": ip}),
                "Backend",
                &b.name,
                ns,
            )?,
            {
                let (ty, field) = b.schema.security_type();
                let name = defaults::llm_key_policy_name(&b.name);
                rendered(
                    "backendsecuritypolicy.yaml.j2",
                    &json!({"name": name, "namespace": ns, "backend": b.name, "type": ty, "field": field, "secret": b.secret}),
                    "BackendSecurityPolicy",
                    &name,
                    ns,
                )?
            },
        ];
        for f in files {
            check_not_broken(snap, &f.file)?;
            plan.files.push(f);
        }
        if !b.tls {
            plan.notes.push(format!(
                "backend {} is reached over plain HTTP ({}:{}): the provider key crosses the network unencrypted",
                b.name, b.hostname, b.port
            ));
        }
    }
    // AI Gateway objects the route no longer uses stay in the stack
    if let Some(old) = snap.find("AIGatewayRoute", ns, &l.name) {
        let mut dropped: Vec<&str> = old
            .value
            .pointer("/spec/rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|r| r["backendRefs"].as_array().into_iter().flatten())
            .filter_map(|b| b["name"].as_str())
            .filter(|n| !l.backends.iter().any(|b| b.name == *n))
            .collect();
        dropped.sort_unstable();
        dropped.dedup();
        if !dropped.is_empty() {
            plan.notes.push(format!(
                "no longer routed to: {}; their AIServiceBackend, Backend and BackendSecurityPolicy files stay in the stack until you delete them",
                dropped.join(", ")
            ));
        }
    }
    traffic_policy(l, snap, &mut plan)?;
    let secrets: Vec<String> = {
        let mut v: Vec<String> = l.backends.iter().map(|b| b.secret.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    plan.notes.push(format!(
        "create Secret(s) {} in namespace {ns} with the provider key under the entry apiKey (kubectl create secret generic NAME -n {ns} --from-literal=apiKey=...); the stack never holds the key",
        secrets.join(", ")
    ));
    plan.notes.push(
        "needs the Envoy AI Gateway v1.1.0 controller, and Envoy Gateway configured with its extension server".into(),
    );
    plan.summary = format!(
        "AIGatewayRoute {ns}/{} on Gateway {}: {}; token budget per {}: {}",
        l.name,
        l.gateway,
        l.models()
            .iter()
            .map(|(m, bs)| format!(
                "{m} -> {}",
                bs.iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" then ")
            ))
            .collect::<Vec<_>>()
            .join(", "),
        l.user_header,
        if l.budget.is_empty() {
            "none".to_string()
        } else {
            l.budget
                .buckets()
                .iter()
                .map(|(k, n)| format!("{n} {} tokens/{}", k.as_str(), l.unit.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    plan.next_step = format!(
        "validate {{}} (then apply; the Secrets {} must exist)",
        secrets.join(", ")
    );
    Ok(plan)
}

/// The one BackendTrafficPolicy of the generated HTTPRoute: retry across priorities (when a
/// model has a fallback) and a token-budget rule per budgeted kind.
fn traffic_policy(
    l: &LlmRouteIntent,
    snap: &Snapshot,
    plan: &mut Plan,
) -> Result<(), GenerateError> {
    let target = TargetIntent {
        namespace: l.namespace.clone(),
        kind: TargetKind::HTTPRoute,
        name: l.name.clone(),
        policy_name: None,
        external: false,
    };
    let levels = l
        .models()
        .iter()
        .map(|(_, bs)| {
            let mut p: Vec<u32> = bs.iter().map(|b| b.priority).collect();
            p.dedup();
            p.len()
        })
        .max()
        .unwrap_or(1);
    let fallback = levels > 1;
    let r = super::policy::resolve(
        &target,
        "BackendTrafficPolicy",
        defaults::policy_name(&l.name),
        snap,
        plan,
    )?;
    let existing_tokens = r
        .existing
        .is_some_and(|m| !token_rules(&m.value).is_empty());
    if r.existing.is_none() && l.budget.is_empty() && !fallback {
        plan.notes.push(format!(
            "no token budget: users of {} are not limited (token_budget sets one)",
            l.name
        ));
        return Ok(());
    }
    let rules: Vec<Value> = l
        .budget
        .buckets()
        .iter()
        .map(|(k, n)| {
            json!({"comment": format!("each {} value: {n} {} tokens per {}", l.user_header, k.as_str(), l.unit.as_str()),
                   "cost": k.metadata_key(), "header": l.user_header, "requests": n, "unit": l.unit.as_str()})
        })
        .collect();
    let ctx = json!({
        "name": r.name, "namespace": l.namespace,
        "target": {"kind": "HTTPRoute", "name": l.name},
        "rate_limit": if rules.is_empty() { Value::Null } else { json!({"rules": rules}) },
        "circuit_breaker": null,
        "retry": if fallback { json!({"retries": levels - 1}) } else { Value::Null },
    });
    let file = rendered(
        "backendtrafficpolicy.yaml.j2",
        &ctx,
        "BackendTrafficPolicy",
        &r.name,
        &l.namespace,
    )?;
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
            // rate-limit rules: the policy's own (not token budgets) first, then the budgets
            let mut all: Vec<Value> = merged
                .pointer("/spec/rateLimit/global/rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|r| !is_token_rule(r))
                .cloned()
                .collect();
            all.extend(
                new.pointer("/spec/rateLimit/global/rules")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            if all.is_empty() {
                // no rule left: drop the emptied rateLimit (pointer_mut never inserts keys)
                if let Some(g) = merged
                    .pointer_mut("/spec/rateLimit/global")
                    .and_then(Value::as_object_mut)
                {
                    g.remove("rules");
                }
                let empty =
                    |v: Option<&Value>| v.and_then(Value::as_object).is_some_and(|o| o.is_empty());
                if empty(merged.pointer("/spec/rateLimit/global"))
                    && let Some(rl) = merged
                        .pointer_mut("/spec/rateLimit")
                        .and_then(Value::as_object_mut)
                {
                    rl.remove("global");
                }
                if empty(merged.pointer("/spec/rateLimit"))
                    && let Some(spec) = merged.pointer_mut("/spec").and_then(Value::as_object_mut)
                {
                    spec.remove("rateLimit");
                }
            } else {
                merged["spec"]["rateLimit"]["global"]["rules"] = Value::Array(all);
            }
            if fallback {
                merged["spec"]["retry"] = new["spec"]["retry"].clone();
            }
            let mut out = emitted(&merged);
            out.file = m.file.clone();
            plan.files.push(out);
            if existing_tokens && l.budget.is_empty() {
                plan.notes
                    .push(format!("token budget removed from {}", r.name));
            }
        }
    }
    if !l.budget.is_empty() {
        plan.notes.push(format!(
            "a request is let through while the user's bucket has tokens left (its own cost is 0); the response then takes the tokens it used, so one request can overshoot the budget, and the next one gets 429. Requests without {} are not budgeted",
            l.user_header
        ));
        plan.notes.push(
            "global rate limits need Envoy Gateway's rate-limit service with Redis (EnvoyGateway config rateLimit.backend); without it the policy is not Accepted".into(),
        );
    }
    Ok(())
}
