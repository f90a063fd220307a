//! Envoy Gateway policies and BackendTLSPolicies to what they attach to.
//!
//! Sources: Envoy Gateway v1.9.0 `api/v1alpha1/policy_helpers.go` (`targetRef(s)` are
//! `LocalPolicyTargetReferenceWithSectionName`: the target is in the policy's own namespace),
//! `internal/gatewayapi/backendtrafficpolicy.go` and siblings (a policy whose target is missing
//! is not Accepted; of two policies of one kind on one target, the oldest wins, the other gets
//! `Conflicted`); Gateway API v1.4.0 `apis/v1/backendtlspolicy_types.go` (targets are local
//! Services by port name in sectionName; caCertificateRefs are local ConfigMaps or Secrets) and
//! Envoy Gateway v1.9.0 `internal/gatewayapi/backendtlspolicy.go`.
//! - `ref/policy-target` (error, or warning when the target may live outside the stack; the
//!   hint names the namespace where a target of that name is, since policies attach only in
//!   their own namespace).
//! - `ref/section-name` (error): a sectionName naming no listener (Gateway) or rule (route).
//! - `ref/duplicate-policy` (error).
//! - `ref/backend-tls-target` (error, or warning when the Service may live outside the stack):
//!   a BackendTLSPolicy target that does not exist, or a sectionName that names no port of the
//!   Service; `ref/backend-tls-ca` the same for its caCertificateRefs.

use std::collections::HashMap;

use super::facts::Fact;

use super::{Finding, Index, Scope, items, kind, listener_names, missing, name, ns, rule_names, s};

pub(super) const POLICY_KINDS: &[&str] = &[
    "BackendTrafficPolicy",
    "ClientTrafficPolicy",
    "SecurityPolicy",
    "EnvoyExtensionPolicy",
];

/// Namespaces other than `here` holding a `k` named `n`.
fn elsewhere(idx: &Index, k: &str, n: &str, here: &str) -> Vec<String> {
    let mut v: Vec<String> = idx
        .of_kind(k)
        .filter(|(_, o)| name(o) == n && ns(o) != here)
        .map(|(_, o)| ns(o).to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

pub(super) fn check_policy(idx: &Index, i: usize, p: &Fact, out: &mut Vec<(usize, Finding)>) {
    let pns = ns(p);
    let mut refs: Vec<(String, &Fact)> = Vec::new();
    if p["spec"]["targetRef"].is_object() {
        refs.push(("/spec/targetRef".into(), &p["spec"]["targetRef"]));
    }
    for (ti, t) in items(&p["spec"]["targetRefs"]) {
        refs.push((format!("/spec/targetRefs/{ti}"), t));
    }
    for (path, t) in refs {
        let tk = s(t, "kind");
        let tn = s(t, "name");
        if !matches!(tk, "Gateway" | "HTTPRoute" | "GRPCRoute") {
            continue;
        }
        let Some(target) = idx.get(tk, pns, tn) else {
            let mut f = missing(
                idx,
                Scope::Stack(pns),
                "ref/policy-target",
                format!("{path}/name"),
                tk,
                pns,
                tn,
                "targetRef",
            );
            let other = elsewhere(idx, tk, tn, pns);
            if !other.is_empty() {
                f.hint = format!(
                    "{tk} {tn} is in namespace {}; a policy attaches only in its own namespace (targetRefs are local): put the policy in that namespace",
                    other.join(", ")
                );
            }
            out.push((i, f));
            continue;
        };
        let section = s(t, "sectionName");
        if !section.is_empty() {
            let names = if tk == "Gateway" {
                listener_names(target)
            } else {
                rule_names(target)
            };
            if !names.contains(&section) {
                out.push((
                    i,
                    Finding::error(
                        "ref/section-name",
                        format!("{path}/sectionName"),
                        format!(
                            "{tk} {pns}/{tn} has no {} named {section}",
                            if tk == "Gateway" { "listener" } else { "rule" }
                        ),
                        format!("names: {}", names.join(", ")),
                    ),
                ));
            }
        }
    }
}

pub(super) fn check_duplicate_policies(idx: &Index, out: &mut Vec<(usize, Finding)>) {
    // (policy kind, namespace, target kind, target name, section) -> policies
    let mut by_target: HashMap<(String, String, String, String, String), Vec<usize>> =
        HashMap::new();
    for (i, p) in idx.objs.iter().enumerate() {
        if !POLICY_KINDS.contains(&kind(p)) {
            continue;
        }
        let mut refs: Vec<&Fact> = p["spec"]["targetRefs"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        if p["spec"]["targetRef"].is_object() {
            refs.push(&p["spec"]["targetRef"]);
        }
        for t in refs {
            by_target
                .entry((
                    kind(p).into(),
                    ns(p).into(),
                    s(t, "kind").into(),
                    s(t, "name").into(),
                    s(t, "sectionName").into(),
                ))
                .or_default()
                .push(i);
        }
    }
    for ((pk, pns, tk, tn, _), mut list) in by_target {
        if list.len() < 2 {
            continue;
        }
        list.sort_by_key(|i| name(idx.objs[*i]));
        list.dedup();
        let first = name(idx.objs[list[0]]).to_string();
        for &i in &list[1..] {
            out.push((
                i,
                Finding::error(
                    "ref/duplicate-policy",
                    "/spec",
                    format!("{pk} {first} already targets {tk} {pns}/{tn}; Envoy Gateway applies only the oldest policy of a kind on a target, so one of them is silently ignored"),
                    format!("merge this policy into {first} (rate limits and the circuit breaker can share one policy)"),
                ),
            ));
        }
    }
}

pub(super) fn check_backend_tls(idx: &Index, i: usize, p: &Fact, out: &mut Vec<(usize, Finding)>) {
    let pns = ns(p);
    for (ti, t) in items(&p["spec"]["targetRefs"]) {
        let path = format!("/spec/targetRefs/{ti}");
        let (tk, tn) = (s(t, "kind"), s(t, "name"));
        let (scope, target) = match (s(t, "group"), tk) {
            ("", "Service") => (Scope::Outside, idx.get("Service", pns, tn)),
            ("gateway.envoyproxy.io", "Backend") => {
                (Scope::Stack(pns), idx.get("Backend", pns, tn))
            }
            _ => continue,
        };
        let Some(target) = target else {
            out.push((
                i,
                missing(
                    idx,
                    scope,
                    "ref/backend-tls-target",
                    format!("{path}/name"),
                    tk,
                    pns,
                    tn,
                    "targetRef",
                ),
            ));
            continue;
        };
        let section = s(t, "sectionName");
        if tk == "Service" && !section.is_empty() {
            let ports: Vec<&str> = items(&target["spec"]["ports"])
                .map(|(_, p)| s(p, "name"))
                .filter(|n| !n.is_empty())
                .collect();
            if !ports.contains(&section) {
                out.push((
                    i,
                    Finding::error(
                        "ref/backend-tls-target",
                        format!("{path}/sectionName"),
                        format!("Service {pns}/{tn} has no port named {section}; the policy attaches to nothing"),
                        format!("port names of the Service: {}", ports.join(", ")),
                    ),
                ));
            }
        }
    }
    for (ci, c) in items(&p["spec"]["validation"]["caCertificateRefs"]) {
        let ck = s(c, "kind");
        if !s(c, "group").is_empty() || !matches!(ck, "ConfigMap" | "Secret") {
            continue;
        }
        if idx.get(ck, pns, s(c, "name")).is_none() {
            out.push((
                i,
                missing(
                    idx,
                    Scope::Outside,
                    "ref/backend-tls-ca",
                    format!("/spec/validation/caCertificateRefs/{ci}/name"),
                    ck,
                    pns,
                    s(c, "name"),
                    "caCertificateRef",
                ),
            ));
        }
    }
}
