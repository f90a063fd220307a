//! `status`: the live conditions of every object of the stack, read only, and which of the
//! spec's criteria they prove. SC-004 (autoscaling) is proven here: the ScaledObject's Ready
//! condition and its live minReplicaCount / maxReplicaCount against the spec.

use kube::api::{Api, DynamicObject};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::conditions::{ConditionRow, evaluate};
use super::objects::load_stack;
use super::{Cluster, ClusterError, Discovery, Served};
use crate::spec::{CheckKind, Spec};
use crate::workspace::Stack;

/// One object as the cluster has it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LiveObject {
    pub file: String,
    pub line: usize,
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// present, absent, or not-served (kind not served by this cluster).
    pub state: String,
    /// True/False when conditions are awaited for the kind; None otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionRow>,
    /// The field manager traffic-engineer owns fields of it.
    pub managed: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The live object's spec values a criterion reads (e.g. minReplicaCount), never Secret data.
    #[serde(skip)]
    live_spec: Value,
}

/// A criterion's verdict from the cluster's state.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CriterionRow {
    pub id: String,
    /// PASS (the cluster's state proves it), ACCEPTED (the controllers accepted the configuration;
    /// traffic proves the behaviour: `verify`), FAIL, or NOT-CHECKED (with why).
    pub status: String,
    pub evidence: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatusReport {
    pub server: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub context: String,
    pub objects: Vec<LiveObject>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<CriterionRow>,
    pub summary: String,
}

impl StatusReport {
    /// A FAIL criterion, an absent object or an object not ready.
    pub fn failing(&self) -> bool {
        self.criteria.iter().any(|c| c.status == "FAIL")
            || self
                .objects
                .iter()
                .any(|o| o.state != "present" || o.ready == Some(false))
    }

    pub fn to_text(&self) -> String {
        let mut s = super::header(&self.server, &self.context);
        s.push_str(&format!(
            "  {:<24} {:<40} {:<11} {:<9} CONDITIONS\n",
            "KIND", "NAME", "STATE", "READY"
        ));
        for o in &self.objects {
            let name = if o.namespace.is_empty() {
                o.name.clone()
            } else {
                format!("{}/{}", o.namespace, o.name)
            };
            let ready = match o.ready {
                Some(true) => "True",
                Some(false) => "False",
                None => "-",
            };
            let conds = o
                .conditions
                .iter()
                .map(|c| {
                    let mut t = String::new();
                    if !c.scope.is_empty() {
                        t.push_str(&c.scope);
                        t.push(' ');
                    }
                    t.push_str(&format!("{}={}", c.type_, c.status));
                    t
                })
                .collect::<Vec<_>>()
                .join(", ");
            s.push_str(&format!(
                "  {:<24} {:<40} {:<11} {:<9} {}\n",
                o.kind, name, o.state, ready, conds
            ));
            if !o.message.is_empty() {
                s.push_str(&format!("      {}\n", o.message));
            }
            for c in o
                .conditions
                .iter()
                .filter(|c| !c.ok() && !c.message.is_empty())
            {
                s.push_str(&format!("      {}\n", c.to_text()));
            }
        }
        for c in &self.criteria {
            s.push_str(&format!("{} {} ({})\n", c.id, c.status, c.evidence));
        }
        s.push_str(&self.summary);
        s.push('\n');
        s
    }
}

/// Read every object of the stack from the cluster. Never writes.
pub async fn status(
    cluster: &Cluster,
    stack: &Stack,
    spec: Option<&Spec>,
) -> Result<StatusReport, ClusterError> {
    let (objects, _scrub) = load_stack(stack)?;
    let mut disco = Discovery::new(cluster);
    let mut out = Vec::new();
    for o in &objects {
        let mut row = LiveObject {
            file: o.file.clone(),
            line: o.line,
            kind: o.kind().into(),
            name: o.name().into(),
            namespace: o.namespace().into(),
            state: String::new(),
            ready: None,
            conditions: Vec::new(),
            managed: false,
            message: String::new(),
            live_spec: Value::Null,
        };
        match disco.resolve(o.api_version(), o.kind()).await? {
            Served::No(why) => {
                row.state = "not-served".into();
                row.message = why;
            }
            Served::Yes {
                resource,
                namespaced,
                ..
            } => {
                let api: Api<DynamicObject> = if namespaced {
                    let ns = match o.namespace() {
                        "" => "default",
                        n => n,
                    };
                    Api::namespaced_with(cluster.client.clone(), ns, &resource)
                } else {
                    Api::all_with(cluster.client.clone(), &resource)
                };
                // a Secret is read for its metadata only: its bytes never leave the server
                let live = if o.kind() == "Secret" && o.api_version() == "v1" {
                    api.get_metadata_opt(o.name())
                        .await
                        .map(|m| m.map(|m| serde_json::to_value(m).unwrap_or(Value::Null)))
                } else {
                    api.get_opt(o.name())
                        .await
                        .map(|d| d.map(|d| serde_json::to_value(d).unwrap_or(Value::Null)))
                }
                .map_err(|e| super::api_error(cluster, &format!("reading {}", o.label()), e))?;
                match live {
                    None => {
                        row.state = "absent".into();
                        row.message = "not in the cluster (apply it)".into();
                    }
                    Some(live) => {
                        row.state = "present".into();
                        row.managed = live["metadata"]["managedFields"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|m| m["manager"] == super::FIELD_MANAGER);
                        if let Some((ok, rows)) = evaluate(&live) {
                            row.ready = Some(ok);
                            row.conditions = rows;
                        }
                        if o.kind() != "Secret" {
                            row.live_spec = live["spec"].clone();
                        }
                    }
                }
            }
        }
        out.push(row);
    }
    let criteria = spec.map(|s| criteria(s, &out)).unwrap_or_default();
    let present = out.iter().filter(|o| o.state == "present").count();
    let ready = out.iter().filter(|o| o.ready == Some(true)).count();
    let awaited = out.iter().filter(|o| o.ready.is_some()).count();
    let not_served = out.iter().filter(|o| o.state == "not-served").count();
    let summary = format!(
        "{present} of {} objects present, {ready} of {awaited} ready{}",
        out.len(),
        if not_served > 0 {
            format!("; {not_served} of a kind not served by this cluster (not checked)")
        } else {
            String::new()
        }
    );
    Ok(StatusReport {
        server: cluster.server.clone(),
        context: cluster.context.clone(),
        objects: out,
        criteria,
        summary,
    })
}

impl StatusReport {
    /// The verdicts `verify` takes from the cluster (criteria traffic cannot prove):
    /// `(id, status, evidence)`, for `spec::live::with_cluster_verdicts`.
    pub fn cluster_verdicts(&self, spec: &Spec) -> Vec<(String, String, String)> {
        self.criteria
            .iter()
            .filter(|r| {
                spec.criteria
                    .iter()
                    .any(|c| c.id == r.id && c.check == CheckKind::Autoscaling)
            })
            .map(|r| (r.id.clone(), r.status.clone(), r.evidence.clone()))
            .collect()
    }
}

fn of_kind<'a>(objs: &'a [LiveObject], kinds: &[&str]) -> Vec<&'a LiveObject> {
    objs.iter()
        .filter(|o| kinds.contains(&o.kind.as_str()))
        .collect()
}

/// ACCEPTED when every object is present and ready; FAIL when one is absent or not ready;
/// NOT-CHECKED when a kind is not served or there is none.
fn accepted(id: &str, objs: &[&LiveObject], what: &str) -> CriterionRow {
    let label = |o: &LiveObject| format!("{} {}", o.kind, o.name);
    if objs.is_empty() {
        return CriterionRow {
            id: id.into(),
            status: "NOT-CHECKED".into(),
            evidence: format!("the stack has no {what}"),
        };
    }
    if let Some(o) = objs.iter().find(|o| o.state == "not-served") {
        return CriterionRow {
            id: id.into(),
            status: "NOT-CHECKED".into(),
            evidence: format!("{}: {}", label(o), o.message),
        };
    }
    let bad: Vec<String> = objs
        .iter()
        .filter(|o| o.state != "present" || o.ready == Some(false))
        .map(|o| {
            let why = if o.state != "present" {
                o.state.clone()
            } else {
                o.conditions
                    .iter()
                    .filter(|c| !c.ok())
                    .map(ConditionRow::to_text)
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            format!("{}: {why}", label(o))
        })
        .collect();
    if bad.is_empty() {
        CriterionRow {
            id: id.into(),
            status: "ACCEPTED".into(),
            evidence: format!(
                "{} accepted by the controllers; traffic proves the behaviour (verify)",
                objs.iter().map(|o| label(o)).collect::<Vec<_>>().join(", ")
            ),
        }
    } else {
        CriterionRow {
            id: id.into(),
            status: "FAIL".into(),
            evidence: bad.join("; "),
        }
    }
}

/// SC-004 from the ScaledObject: READY=True, MIN and MAX as the spec says.
pub fn autoscaling_row(id: &str, spec: &Spec, objs: &[LiveObject]) -> CriterionRow {
    let (min, max) = spec
        .autoscaling
        .as_ref()
        .map(|a| (a.min, a.max))
        .unwrap_or((0, 0));
    let sos = of_kind(objs, &["ScaledObject"]);
    let Some(so) = sos.first() else {
        return CriterionRow {
            id: id.into(),
            status: "FAIL".into(),
            evidence: "the stack has no ScaledObject".into(),
        };
    };
    match so.state.as_str() {
        "not-served" => {
            return CriterionRow {
                id: id.into(),
                status: "NOT-CHECKED".into(),
                evidence: so.message.clone(),
            };
        }
        "absent" => {
            return CriterionRow {
                id: id.into(),
                status: "FAIL".into(),
                evidence: format!("ScaledObject {} is not in the cluster", so.name),
            };
        }
        _ => {}
    }
    let ready = so
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
        .unwrap_or_else(|| "missing".into());
    // KEDA's default minReplicaCount is 0 and maxReplicaCount 100 when unset
    let live_min = so.live_spec["minReplicaCount"].as_u64().unwrap_or(0);
    let live_max = so.live_spec["maxReplicaCount"].as_u64().unwrap_or(100);
    let evidence = format!(
        "ScaledObject {}: READY={ready}, MIN={live_min}, MAX={live_max}; expected READY=True, MIN={min}, MAX={max}",
        so.name
    );
    let pass = so.ready == Some(true) && live_min == u64::from(min) && live_max == u64::from(max);
    CriterionRow {
        id: id.into(),
        status: if pass { "PASS" } else { "FAIL" }.into(),
        evidence,
    }
}

fn criteria(spec: &Spec, objs: &[LiveObject]) -> Vec<CriterionRow> {
    spec.criteria
        .iter()
        .map(|c| {
            let id = c.id.as_str();
            match c.check {
                CheckKind::Autoscaling => autoscaling_row(id, spec, objs),
                CheckKind::GatewayAccess => {
                    accepted(id, &of_kind(objs, &["Gateway", "HTTPRoute"]), "Gateway")
                }
                CheckKind::Routing => accepted(id, &of_kind(objs, &["HTTPRoute"]), "HTTPRoute"),
                CheckKind::LlmRouting => accepted(
                    id,
                    &of_kind(objs, &["AIGatewayRoute", "BackendTrafficPolicy"]),
                    "AIGatewayRoute",
                ),
                CheckKind::RateLimits | CheckKind::CircuitBreaker => accepted(
                    id,
                    &of_kind(objs, &["BackendTrafficPolicy"]),
                    "BackendTrafficPolicy",
                ),
                CheckKind::Https => accepted(
                    id,
                    &of_kind(objs, &["Gateway", "Certificate", "Issuer", "ClusterIssuer"]),
                    "Gateway",
                ),
                CheckKind::Generated => {
                    let missing: Vec<String> = objs
                        .iter()
                        .filter(|o| o.state != "present")
                        .map(|o| format!("{} {} ({})", o.kind, o.name, o.state))
                        .collect();
                    let not_served = objs.iter().any(|o| o.state == "not-served");
                    CriterionRow {
                        id: id.into(),
                        status: if missing.is_empty() {
                            "PASS"
                        } else if not_served
                            && objs
                                .iter()
                                .all(|o| o.state == "present" || o.state == "not-served")
                        {
                            "NOT-CHECKED"
                        } else {
                            "FAIL"
                        }
                        .into(),
                        evidence: if missing.is_empty() {
                            format!("all {} objects of the stack are in the cluster", objs.len())
                        } else {
                            format!("not in the cluster: {}", missing.join(", "))
                        },
                    }
                }
            }
        })
        .collect()
}
