//! generate_scaledobject: a KEDA ScaledObject on a request rate (the whole route's, or one
//! backend's own) or on CPU.

use serde_json::json;

use super::params::ScaledObjectParams;
use super::{GenerateError, Plan, Snapshot, check_not_broken, namespace_file, rendered};
use crate::intent::observe::{self, view};
use crate::intent::{self, AutoscalingIntent, ScaleMetric, ScaleScope};

/// The PromQL for a route's request rate from Envoy Gateway's cluster stats, summed over every
/// Envoy replica and every rule so KEDA gets exactly one series.
pub fn request_rate_query(namespace: &str, route: &str) -> String {
    format!(
        "sum(rate(envoy_cluster_upstream_rq_total{{envoy_cluster_name=~\"httproute/{namespace}/{route}/rule/.*\"}}[2m]))"
    )
}

/// The PromQL for the request rate of some rules of a route (Envoy Gateway names one cluster
/// per rule: `httproute/<ns>/<route>/rule/<index>`).
pub fn rules_query(namespace: &str, route: &str, rules: &[usize]) -> String {
    let alt: Vec<String> = rules.iter().map(usize::to_string).collect();
    format!(
        "sum(rate(envoy_cluster_upstream_rq_total{{envoy_cluster_name=~\"httproute/{namespace}/{route}/rule/({})\"}}[2m]))",
        alt.join("|")
    )
}

/// The indexes of the route's rules whose only backend is `service`.
pub fn rules_served_by(route: &observe::Route, service: &str) -> Vec<usize> {
    route
        .spec
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            let s = r.services();
            !s.is_empty() && s.iter().all(|(n, _)| n == service)
        })
        .map(|(i, _)| i)
        .collect()
}

/// generate_scaledobject: resolve the arguments against the stack, then build.
pub fn generate(p: &ScaledObjectParams, snap: &Snapshot) -> Result<Plan, GenerateError> {
    let r = intent::resolve::autoscaling(p, snap)?;
    let mut plan = build(&r.intent, snap)?;
    plan.defaults = r.defaulted;
    Ok(plan)
}

/// Render the autoscaling section.
pub fn build(a: &AutoscalingIntent, snap: &Snapshot) -> Result<Plan, GenerateError> {
    let ns = &a.namespace.name;
    // one ScaledObject per Deployment: KEDA's webhook refuses a second one
    if let Some(other) = snap.of_kind("ScaledObject").find(|m| {
        m.namespace() == ns
            && m.name() != a.name
            && m.value["spec"]["scaleTargetRef"]["name"] == a.deployment.as_str()
    }) {
        return Err(GenerateError::OneScalerPerWorkload {
            other: other.name().to_string(),
            file: other.file.clone(),
            deployment: a.deployment.clone(),
        });
    }
    let mut plan = Plan::default();
    namespace_file(&a.namespace, &mut plan)?;
    let (metric, query, what) = match (&a.metric, &a.scope) {
        (ScaleMetric::Cpu, _) => ("cpu", String::new(), format!("CPU {}%", a.threshold)),
        (ScaleMetric::RequestRate, ScaleScope::Route) => (
            "request_rate",
            request_rate_query(ns, &a.route),
            format!(
                "{} requests/s per replica on HTTPRoute {}",
                a.threshold, a.route
            ),
        ),
        (ScaleMetric::RequestRate, ScaleScope::Backend(b)) => {
            let route = snap
                .find("HTTPRoute", ns, &a.route)
                .and_then(|m| view::<observe::RouteSpec>(&m.value))
                .ok_or_else(|| GenerateError::RouteNeeded {
                    route: a.route.clone(),
                    backend: b.clone(),
                })?;
            let rules = rules_served_by(&route, b);
            if rules.is_empty() {
                return Err(GenerateError::Unattributable {
                    route: a.route.clone(),
                    backend: b.clone(),
                });
            }
            (
                "request_rate",
                rules_query(ns, &a.route, &rules),
                format!(
                    "{} requests/s per replica of Service {b} alone (HTTPRoute {} rule(s) {})",
                    a.threshold,
                    a.route,
                    rules
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        }
    };
    let file = rendered(
        "scaledobject.yaml.j2",
        &json!({
            "name": a.name, "namespace": ns, "deployment": a.deployment,
            "min": a.min, "max": a.max, "polling_interval": a.polling_interval,
            "metric": metric, "threshold": a.threshold.to_string(), "query": query,
            "prometheus_address": a.prometheus_address,
        }),
        "ScaledObject",
        &a.name,
        ns,
    )?;
    check_not_broken(snap, &file.file)?;
    plan.files.push(file);
    if a.min == 0 {
        plan.notes.push("min_replicas 0 allows scale to zero: the first request after idle waits for a cold start".into());
    }
    if a.metric == ScaleMetric::RequestRate {
        if a.scope == ScaleScope::Route
            && snap.find("HTTPRoute", ns, &a.route).is_some_and(|m| {
                view::<observe::RouteSpec>(&m.value).is_some_and(|r| {
                    r.spec
                        .rules
                        .iter()
                        .flat_map(|rule| rule.services())
                        .any(|(s, _)| s != a.deployment)
                })
            })
        {
            plan.notes.push(format!(
                "HTTPRoute {} also sends traffic to other backends than {}: their requests count too (scope: backend counts only the rules {} serves alone)",
                a.route, a.deployment, a.deployment
            ));
        }
        plan.notes.push("Prometheus must scrape the Envoy proxies (port 19001, /stats/prometheus); ignoreNullValues is false so a wrong query fails loudly instead of reading 0".into());
    } else {
        plan.notes.push(format!(
            "the cpu trigger needs CPU requests on every container of Deployment {}",
            a.deployment
        ));
    }
    plan.summary = format!(
        "ScaledObject {ns}/{} scaling Deployment {} from {} to {} replicas on {what}",
        a.name, a.deployment, a.min, a.max
    );
    plan.next_step = "validate {}".into();
    Ok(plan)
}
