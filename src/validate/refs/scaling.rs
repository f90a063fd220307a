//! KEDA objects to their workloads, HPAs, TriggerAuthentications and Secrets.
//!
//! Sources: KEDA v2.20.2 `apis/keda/v1alpha1/scaledobject_webhook.go` (one ScaledObject per
//! workload, no other HPA on it), `apis/keda/v1alpha1/scaletriggers_types.go`
//! (`authenticationRef.kind` defaults to TriggerAuthentication),
//! `apis/keda/v1alpha1/triggerauthentication_types.go` (`secretTargetRef` name and key) and
//! `pkg/scaling/resolver/scale_resolvers.go` (a TriggerAuthentication's Secrets are read in its
//! namespace, a ClusterTriggerAuthentication's in KEDA's own namespace,
//! `KEDA_CLUSTER_OBJECT_NAMESPACE`, `keda` by default; a missing Secret or key fails the
//! scaler).
//! - `ref/scale-target` (error, or warning when the Deployment may live outside the stack).
//! - `ref/duplicate-scaledobject`, `ref/foreign-hpa` (errors).
//! - `ref/trigger-auth` (error, or warning when it may live outside the stack): an
//!   authenticationRef to a TriggerAuthentication or ClusterTriggerAuthentication that does
//!   not exist.
//! - `ref/trigger-auth-secret` (error, or warning when the Secret may live outside the stack):
//!   a secretTargetRef to a Secret that does not exist, or a key the Secret does not hold.

use std::collections::HashMap;

use super::facts::Fact;

use super::{Finding, Index, Scope, group_of, items, kind, missing, name, ns, or, s};

/// Namespace where KEDA reads the Secrets of ClusterTriggerAuthentications (its Helm default).
const KEDA_NAMESPACE: &str = "keda";

pub(super) fn check_scaledobjects(idx: &Index, out: &mut Vec<(usize, Finding)>) {
    let mut by_target: HashMap<(&str, &str, &str), Vec<usize>> = HashMap::new();
    for (i, so) in idx.objs.iter().enumerate() {
        if kind(so) != "ScaledObject" || group_of(so) != "keda.sh" {
            continue;
        }
        let t = &so["spec"]["scaleTargetRef"];
        let tk = or(t, "kind", "Deployment");
        by_target
            .entry((tk, ns(so), s(t, "name")))
            .or_default()
            .push(i);
        if tk == "Deployment" && idx.get("Deployment", ns(so), s(t, "name")).is_none() {
            out.push((
                i,
                missing(
                    idx,
                    Scope::Outside,
                    "ref/scale-target",
                    "/spec/scaleTargetRef/name".into(),
                    "Deployment",
                    ns(so),
                    s(t, "name"),
                    "scaleTargetRef",
                ),
            ));
        }
    }
    // a foreign HPA on the same workload fights the one KEDA creates
    for (i, h) in idx.objs.iter().enumerate() {
        if kind(h) != "HorizontalPodAutoscaler" {
            continue;
        }
        let t = &h["spec"]["scaleTargetRef"];
        if let Some(sos) = by_target.get(&(s(t, "kind"), ns(h), s(t, "name"))) {
            out.push((
                i,
                Finding::error(
                    "ref/foreign-hpa",
                    "/spec/scaleTargetRef",
                    format!("ScaledObject {} already scales {} {}/{}; KEDA refuses a workload that another HPA manages", name(idx.objs[sos[0]]), s(t, "kind"), ns(h), s(t, "name")),
                    "delete this HorizontalPodAutoscaler (KEDA creates its own), or drop the ScaledObject",
                ),
            ));
        }
    }
    for ((tk, tns, tn), list) in by_target {
        for &i in list.iter().skip(1) {
            out.push((
                i,
                Finding::error(
                    "ref/duplicate-scaledobject",
                    "/spec/scaleTargetRef",
                    format!("ScaledObject {} already scales {tk} {tns}/{tn}; KEDA's webhook refuses a second one", name(idx.objs[list[0]])),
                    "keep one ScaledObject per workload (put several triggers in it)",
                ),
            ));
        }
    }
}

/// Whether a Secret (its facts) holds a key, in data or stringData.
pub(super) fn secret_has_key(sec: &Fact, key: &str) -> bool {
    sec["data"].get(key).is_some() || sec["stringData"].get(key).is_some()
}

pub(super) fn check_trigger_auth(idx: &Index, out: &mut Vec<(usize, Finding)>) {
    for (i, o) in idx.objs.iter().enumerate() {
        if group_of(o) != "keda.sh" {
            continue;
        }
        match kind(o) {
            "ScaledObject" | "ScaledJob" => {
                for (ti, t) in items(&o["spec"]["triggers"]) {
                    let r = &t["authenticationRef"];
                    if !r.is_object() {
                        continue;
                    }
                    let (rk, rn) = (or(r, "kind", "TriggerAuthentication"), s(r, "name"));
                    let (found, rns) = match rk {
                        "TriggerAuthentication" => (idx.get(rk, ns(o), rn).is_some(), ns(o)),
                        "ClusterTriggerAuthentication" => (idx.has_cluster(rk, rn), ""),
                        _ => continue,
                    };
                    if !found {
                        out.push((
                            i,
                            missing(
                                idx,
                                Scope::Stack(ns(o)),
                                "ref/trigger-auth",
                                format!("/spec/triggers/{ti}/authenticationRef/name"),
                                rk,
                                rns,
                                rn,
                                "authenticationRef",
                            ),
                        ));
                    }
                }
            }
            k @ ("TriggerAuthentication" | "ClusterTriggerAuthentication") => {
                let sns = if k == "TriggerAuthentication" {
                    ns(o)
                } else {
                    KEDA_NAMESPACE
                };
                for (ri, r) in items(&o["spec"]["secretTargetRef"]) {
                    let (sn, key) = (s(r, "name"), s(r, "key"));
                    let path = format!("/spec/secretTargetRef/{ri}");
                    match idx.get("Secret", sns, sn) {
                        None => out.push((
                            i,
                            missing(
                                idx,
                                Scope::Outside,
                                "ref/trigger-auth-secret",
                                format!("{path}/name"),
                                "Secret",
                                sns,
                                sn,
                                "secretTargetRef",
                            ),
                        )),
                        Some(sec) if !key.is_empty() && !secret_has_key(sec, key) => {
                            out.push((
                                i,
                                Finding::error(
                                    "ref/trigger-auth-secret",
                                    format!("{path}/key"),
                                    format!("Secret {sns}/{sn} has no key {key}; the scaler of every trigger using this authentication fails"),
                                    format!(
                                        "keys of the Secret: {}",
                                        secret_keys(sec).join(", ")
                                    ),
                                ),
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// The key names of a Secret (never its values).
pub(super) fn secret_keys(sec: &Fact) -> Vec<&str> {
    let mut v: Vec<&str> = ["data", "stringData"]
        .iter()
        .filter_map(|k| sec[*k].as_object())
        .flat_map(|m| m.keys())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}
