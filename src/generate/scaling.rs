//! generate_scaledobject: a KEDA ScaledObject on the route's request rate (or CPU).

use serde_json::json;

use super::params::{ScaleMetric, ScaledObjectParams};
use super::{GenerateError, Plan, Snapshot, namespace_file, rendered};
use crate::names::{self, InputError};

/// The PromQL for a route's request rate from Envoy Gateway's cluster stats, summed over every
/// Envoy replica and every rule so KEDA gets exactly one series.
pub fn request_rate_query(namespace: &str, route: &str) -> String {
    format!(
        "sum(rate(envoy_cluster_upstream_rq_total{{envoy_cluster_name=~\"httproute/{namespace}/{route}/rule/.*\"}}[2m]))"
    )
}

pub fn generate(p: &ScaledObjectParams, snap: &Snapshot) -> Result<Plan, GenerateError> {
    names::label("namespace", &p.namespace)?;
    names::object_name("name", &p.name)?;
    names::label("deployment", &p.deployment)?;
    names::object_name("route", &p.route)?;
    if p.max_replicas == 0 {
        return Err(InputError::new("max_replicas", "0", "at least 1").into());
    }
    if p.min_replicas > p.max_replicas {
        return Err(InputError::new(
            "min_replicas",
            format!(
                "{} is above max_replicas {}",
                p.min_replicas, p.max_replicas
            ),
            "min_replicas <= max_replicas (e.g. 1 and 10)",
        )
        .into());
    }
    if p.max_replicas > 1000 {
        return Err(
            InputError::new("max_replicas", p.max_replicas.to_string(), "at most 1000").into(),
        );
    }
    if !(1..=3600).contains(&p.polling_interval) {
        return Err(InputError::new(
            "polling_interval",
            p.polling_interval.to_string(),
            "1 to 3600 seconds",
        )
        .into());
    }
    let (metric, threshold) = match p.metric {
        ScaleMetric::RequestRate => ("request_rate", p.threshold.unwrap_or(50)),
        ScaleMetric::Cpu => ("cpu", p.threshold.unwrap_or(70)),
    };
    if threshold == 0 {
        return Err(InputError::new(
            "threshold",
            "0",
            "a target above 0 (requests/s per replica, or CPU %)",
        )
        .into());
    }
    if p.metric == ScaleMetric::Cpu && p.min_replicas == 0 {
        return Err(InputError::new(
            "min_replicas",
            "0 with the cpu metric",
            "at least 1: KEDA cannot scale to zero on CPU",
        )
        .into());
    }
    let addr = &p.prometheus_address;
    let addr_ok = (addr.starts_with("http://") || addr.starts_with("https://"))
        && addr.len() <= 2048
        && !addr.chars().any(|c| c.is_whitespace() || c.is_control());
    if !addr_ok {
        return Err(InputError::new(
            "prometheus_address",
            "not an http(s) URL",
            "a URL such as http://prometheus-server.monitoring.svc.cluster.local:80",
        )
        .into());
    }
    // one ScaledObject per Deployment: KEDA's webhook refuses a second one
    if let Some(other) = snap.of_kind("ScaledObject").find(|m| {
        m.namespace() == p.namespace
            && m.name() != p.name
            && m.value["spec"]["scaleTargetRef"]["name"] == p.deployment.as_str()
    }) {
        return Err(GenerateError::Conflict(format!(
            "ScaledObject {} ({}) already scales Deployment {}; KEDA allows one per workload. Call again with name: {} to update it",
            other.name(),
            other.file,
            p.deployment,
            other.name()
        )));
    }
    let mut plan = Plan::default();
    if let Some(ns) = namespace_file(&p.namespace)? {
        plan.files.push(ns);
    }
    let query = request_rate_query(&p.namespace, &p.route);
    let file = rendered(
        "scaledobject.yaml.j2",
        &json!({
            "name": p.name, "namespace": p.namespace, "deployment": p.deployment,
            "min": p.min_replicas, "max": p.max_replicas, "polling_interval": p.polling_interval,
            "metric": metric, "threshold": threshold.to_string(), "query": query,
            "prometheus_address": p.prometheus_address,
        }),
        "ScaledObject",
        &p.name,
        &p.namespace,
    )?;
    snap.check_not_broken(&file.file)?;
    plan.files.push(file);
    if p.min_replicas == 0 {
        plan.notes.push("min_replicas 0 allows scale to zero: the first request after idle waits for a cold start".into());
    }
    if p.metric == ScaleMetric::RequestRate {
        if snap.find("HTTPRoute", &p.namespace, &p.route).is_none() {
            plan.notes.push(format!(
                "HTTPRoute {}/{} is not in the stack: the query would read no series",
                p.namespace, p.route
            ));
        }
        plan.notes.push("Prometheus must scrape the Envoy proxies (port 19001, /stats/prometheus); ignoreNullValues is false so a wrong query fails loudly instead of reading 0".into());
    } else {
        plan.notes.push(format!(
            "the cpu trigger needs CPU requests on every container of Deployment {}",
            p.deployment
        ));
    }
    plan.summary = format!(
        "ScaledObject {}/{} scaling Deployment {} from {} to {} replicas on {}",
        p.namespace,
        p.name,
        p.deployment,
        p.min_replicas,
        p.max_replicas,
        if metric == "cpu" {
            format!("CPU {threshold}%")
        } else {
            format!("{threshold} requests/s per replica")
        }
    );
    plan.next_step = "validate {}".into();
    Ok(plan)
}
