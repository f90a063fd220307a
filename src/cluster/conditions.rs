//! What "done" means per kind, read from the status the controllers write:
//! Gateway Accepted + Programmed; a route Accepted + ResolvedRefs for each of its parents;
//! a policy Accepted for each ancestor; Certificate, Issuer, ClusterIssuer and ScaledObject Ready.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// One condition as the cluster reports it.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ConditionRow {
    /// Where the condition sits: empty for the object, `parent gateway ns/name[/section]` for a
    /// route, `ancestor Kind ns/name` for a policy.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False, Unknown, or "missing" when the controller has not written it.
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The condition describes an older generation of the object than the one applied.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

impl ConditionRow {
    pub fn ok(&self) -> bool {
        self.status == "True" && !self.stale
    }
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if !self.scope.is_empty() {
            s.push_str(&self.scope);
            s.push_str(": ");
        }
        s.push_str(&format!("{}={}", self.type_, self.status));
        if self.stale {
            s.push_str(" (stale: observedGeneration < generation)");
        }
        if !self.reason.is_empty() {
            s.push_str(&format!(" {}", self.reason));
        }
        if !self.message.is_empty() {
            s.push_str(&format!(": {}", self.message));
        }
        s
    }
}

/// The conditions a kind must reach, or None when nothing is awaited for it.
pub fn awaited(kind: &str, api_version: &str) -> Option<&'static [&'static str]> {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    match kind {
        "Gateway" => Some(&["Accepted", "Programmed"]),
        "HTTPRoute" | "GRPCRoute" | "TLSRoute" | "TCPRoute" | "UDPRoute" => {
            Some(&["Accepted", "ResolvedRefs"])
        }
        "Certificate" | "Issuer" | "ClusterIssuer" | "ScaledObject" => Some(&["Ready"]),
        k if k.ends_with("Policy")
            && (group == "gateway.envoyproxy.io" || group == "gateway.networking.k8s.io") =>
        {
            Some(&["Accepted"])
        }
        _ => None,
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Rows for `wanted` among `conds` (missing ones as status "missing"); `generation` marks stale
/// ones when the condition carries an observedGeneration.
fn pick(conds: &Value, wanted: &[&str], scope: &str, generation: Option<i64>) -> Vec<ConditionRow> {
    wanted
        .iter()
        .map(|w| {
            let c = conds
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| s(c, "type") == *w);
            match c {
                Some(c) => ConditionRow {
                    scope: scope.to_string(),
                    type_: w.to_string(),
                    status: s(c, "status").to_string(),
                    reason: s(c, "reason").to_string(),
                    message: s(c, "message").to_string(),
                    stale: matches!(
                        (c.get("observedGeneration").and_then(Value::as_i64), generation),
                        (Some(o), Some(g)) if o < g
                    ),
                },
                None => ConditionRow {
                    scope: scope.to_string(),
                    type_: w.to_string(),
                    status: "missing".into(),
                    reason: String::new(),
                    message: "not written yet by the controller".into(),
                    stale: false,
                },
            }
        })
        .collect()
}

/// The awaited conditions of a live object, and whether all hold. None: nothing is awaited.
pub fn evaluate(live: &Value) -> Option<(bool, Vec<ConditionRow>)> {
    let kind = s(live, "kind");
    let wanted = awaited(kind, s(live, "apiVersion"))?;
    let generation = live["metadata"]["generation"].as_i64();
    let ns = match live["metadata"]["namespace"].as_str() {
        Some(n) if !n.is_empty() => n,
        _ => "default",
    };
    let rows: Vec<ConditionRow> = match kind {
        "HTTPRoute" | "GRPCRoute" | "TLSRoute" | "TCPRoute" | "UDPRoute" => {
            let parents = live["status"]["parents"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let refs = live["spec"]["parentRefs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut rows = Vec::new();
            for r in &refs {
                let rns = r["namespace"].as_str().unwrap_or(ns);
                let section = s(r, "sectionName");
                let mut scope = format!(
                    "parent {} {}/{}",
                    r["kind"].as_str().unwrap_or("Gateway"),
                    rns,
                    s(r, "name")
                );
                if !section.is_empty() {
                    scope.push('/');
                    scope.push_str(section);
                }
                let found = parents.iter().find(|p| {
                    let pr = &p["parentRef"];
                    s(pr, "name") == s(r, "name")
                        && pr["namespace"].as_str().unwrap_or(ns) == rns
                        && s(pr, "sectionName") == section
                });
                let conds = found
                    .map(|p| p["conditions"].clone())
                    .unwrap_or(Value::Null);
                rows.extend(pick(&conds, wanted, &scope, generation));
            }
            if refs.is_empty() {
                rows.push(ConditionRow {
                    scope: String::new(),
                    type_: "parentRefs".into(),
                    status: "missing".into(),
                    reason: String::new(),
                    message: "the route names no parent".into(),
                    stale: false,
                });
            }
            rows
        }
        k if wanted == ["Accepted"] && k.ends_with("Policy") => {
            let ancestors = live["status"]["ancestors"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if ancestors.is_empty() {
                vec![ConditionRow {
                    scope: "ancestors".into(),
                    type_: "Accepted".into(),
                    status: "missing".into(),
                    reason: String::new(),
                    message: "no ancestor status written yet by the controller".into(),
                    stale: false,
                }]
            } else {
                ancestors
                    .iter()
                    .flat_map(|a| {
                        let r = &a["ancestorRef"];
                        let scope = format!(
                            "ancestor {} {}/{}{}",
                            r["kind"].as_str().unwrap_or("Gateway"),
                            r["namespace"].as_str().unwrap_or(ns),
                            s(r, "name"),
                            match s(r, "sectionName") {
                                "" => String::new(),
                                x => format!("/{x}"),
                            }
                        );
                        pick(&a["conditions"], wanted, &scope, generation)
                    })
                    .collect()
            }
        }
        _ => {
            let mut rows = pick(&live["status"]["conditions"], wanted, "", generation);
            // a top-level status.observedGeneration (KEDA, cert-manager) marks them all stale
            if let (Some(o), Some(g)) = (live["status"]["observedGeneration"].as_i64(), generation)
                && o < g
            {
                for r in &mut rows {
                    r.stale = true;
                }
            }
            rows
        }
    };
    let ok = !rows.is_empty() && rows.iter().all(ConditionRow::ok);
    Some((ok, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_route_needs_both_conditions_for_every_parent() {
        let mut r = json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "r", "namespace": "n", "generation": 2},
            "spec": {"parentRefs": [{"name": "g", "sectionName": "http"}, {"name": "g", "sectionName": "https"}]},
            "status": {"parents": [{"parentRef": {"name": "g", "sectionName": "http"}, "controllerName": "x",
                "conditions": [{"type": "Accepted", "status": "True", "observedGeneration": 2},
                               {"type": "ResolvedRefs", "status": "True", "observedGeneration": 2}]}]}
        });
        let (ok, rows) = evaluate(&r).unwrap();
        assert!(!ok);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[2].status, "missing");
        assert_eq!(rows[2].scope, "parent Gateway n/g/https");
        r["status"]["parents"].as_array_mut().unwrap().push(
            json!({"parentRef": {"name": "g", "sectionName": "https"},
            "conditions": [{"type": "Accepted", "status": "True", "observedGeneration": 1},
                           {"type": "ResolvedRefs", "status": "True", "observedGeneration": 2}]}),
        );
        let (ok, rows) = evaluate(&r).unwrap();
        assert!(
            !ok,
            "a condition of generation 1 does not speak for generation 2"
        );
        assert!(rows[2].stale);
    }

    #[test]
    fn kinds_without_a_verdict_are_not_awaited() {
        assert!(evaluate(&json!({"apiVersion": "v1", "kind": "Service"})).is_none());
        assert!(evaluate(&json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant"})).is_none());
        assert!(awaited("BackendTrafficPolicy", "gateway.envoyproxy.io/v1alpha1").is_some());
    }
}
