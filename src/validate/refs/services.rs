//! Services to the Pods of the workloads they select.
//!
//! Source: Kubernetes v1.35 `pkg/api/v1/pod/util.go` `FindPort` (a named targetPort is looked
//! up among the container ports of each Pod; a Pod without it is left out of the Service's
//! EndpointSlices, `staging/src/k8s.io/endpointslice/utils.go`), and
//! `pkg/apis/core/types.go` (a Service's selector selects Pods whose labels hold every pair).
//! - `ref/target-port` (error): a named targetPort that no container of the Deployments or
//!   StatefulSets the Service selects (among the documents) declares: the Service has no
//!   endpoints for that port. Not judged when the stack holds none of the selected workloads.

use super::facts::Fact;

use super::{Finding, Index, Obj, items, name, ns, s};

const WORKLOADS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet"];

/// Whether the pod template labels of a workload hold every pair of the Service's selector.
fn selects(selector: Obj<'_>, workload: &Fact) -> bool {
    let labels = &workload["spec"]["template"]["metadata"]["labels"];
    selector
        .iter()
        .all(|(k, v)| labels.get(k).is_some_and(|l| l == v))
}

fn port_names(workload: &Fact) -> Vec<&str> {
    items(&workload["spec"]["template"]["spec"]["containers"])
        .flat_map(|(_, c)| items(&c["ports"]).map(|(_, p)| s(p, "name")))
        .filter(|n| !n.is_empty())
        .collect()
}

pub(super) fn check_target_ports(
    idx: &Index,
    i: usize,
    svc: &Fact,
    out: &mut Vec<(usize, Finding)>,
) {
    let Some(selector) = svc["spec"]["selector"]
        .as_object()
        .filter(|m| !m.is_empty())
    else {
        return;
    };
    let named: Vec<(usize, &str)> = items(&svc["spec"]["ports"])
        .filter_map(|(pi, p)| p.get("targetPort").and_then(Fact::as_str).map(|t| (pi, t)))
        .collect();
    if named.is_empty() {
        return;
    }
    let sns = ns(svc);
    let selected: Vec<&Fact> = WORKLOADS
        .iter()
        .flat_map(|k| idx.in_namespace(k, sns))
        .map(|(_, w)| w)
        .filter(|w| selects(selector, w))
        .collect();
    if selected.is_empty() {
        return;
    }
    let names: Vec<&str> = selected.iter().flat_map(|w| port_names(w)).collect();
    for (pi, target) in named {
        if names.contains(&target) {
            continue;
        }
        let workloads: Vec<&str> = selected.iter().map(|w| name(w)).collect();
        let mut known = names.clone();
        known.sort_unstable();
        known.dedup();
        out.push((
            i,
            Finding::error(
                "ref/target-port",
                format!("/spec/ports/{pi}/targetPort"),
                format!(
                    "no container of {} (selected by this Service) has a port named {target}: the Service has no endpoints for this port",
                    workloads.join(", ")
                ),
                if known.is_empty() {
                    "name the container port (ports: [{name: ..., containerPort: ...}]) or use a port number".to_string()
                } else {
                    format!("container port names: {}", known.join(", "))
                },
            ),
        ));
    }
}
