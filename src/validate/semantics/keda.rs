//! KEDA v2.20.2: the ScaledObject admission webhook (`apis/keda/v1alpha1/scaledobject_webhook.go`,
//! `scaledobject_types.go`, `scaletriggers_types.go`) and the metadata parsing of the scalers this
//! project writes (`pkg/scalers/prometheus_scaler.go`, `cpu_memory_scaler.go`, read through
//! `pkg/scalers/scalersconfig/typed_config.go`). Webhook refusals are errors (the API server
//! answers with them); a scaler that cannot parse its metadata leaves the ScaledObject not Ready
//! and the workload unscaled, also an error. The webhook's checks that need other objects (the
//! workload's resource requests, other ScaledObjects and HPAs) are the reference layer's.

use serde_json::Value;

use super::{arr, go, has, is_true, s};
use crate::validate::finding::Finding;

/// k8s label values are at most 63 characters (maxK8sLabelValueLength).
const MAX_LABEL: usize = 63;

pub(super) fn scaled_object(obj: &Value, out: &mut Vec<Finding>) {
    let spec = &obj["spec"];
    let name = s(&obj["metadata"], "name");
    let triggers = spec["triggers"].as_array().map_or(&[][..], Vec::as_slice);
    let resource_only = triggers
        .iter()
        .all(|t| matches!(s(t, "type"), "cpu" | "memory"));
    let min = spec.get("minReplicaCount").and_then(Value::as_i64);

    if min.is_none() {
        out.push(Finding::warning(
            "keda/min-replicas-missing",
            "/spec",
            "minReplicaCount is not set: KEDA's default is 0, so the workload scales to zero when idle",
            "set minReplicaCount explicitly (e.g. 1 for no scale-to-zero)",
        ));
    }
    // verifyName (scaledobject_webhook.go, v2.20.2): the name is a label value, and so is the
    // HPA's name, keda-hpa-<name> unless advanced.horizontalPodAutoscalerConfig.name is set
    let hpa_name = s(&spec["advanced"]["horizontalPodAutoscalerConfig"], "name");
    let hpa_len = if hpa_name.is_empty() {
        "keda-hpa-".len() + name.len()
    } else {
        hpa_name.len()
    };
    if name.len() > MAX_LABEL || hpa_len > MAX_LABEL {
        out.push(Finding::error(
            "keda/name-too-long",
            if name.len() > MAX_LABEL { "/metadata/name" } else { "/spec/advanced/horizontalPodAutoscalerConfig/name" },
            format!("the ScaledObject's name or its HPA's name is longer than {MAX_LABEL} characters (used as a label value): KEDA's webhook refuses it"),
            "keep the ScaledObject name at 54 characters or less, or set spec.advanced.horizontalPodAutoscalerConfig.name to a shorter name",
        ));
    }
    // CheckReplicaCountBoundsAreValid (scaledobject_types.go, v2.20.2); min > max is the CRD's
    // CEL rule. minReplicas is 0 when unset, and GetHPAMinReplicas turns an explicit 0 into 1.
    if let Some(idle) = spec.get("idleReplicaCount").and_then(Value::as_i64) {
        let effective_min = match min {
            None => 0,
            Some(m) if m > 0 => m,
            Some(_) => 1,
        };
        if idle >= effective_min {
            out.push(Finding::error(
                "keda/idle-not-below-min",
                "/spec/idleReplicaCount",
                format!("idleReplicaCount={idle} must be less than minReplicaCount={effective_min}: KEDA's webhook refuses it"),
                "set minReplicaCount above idleReplicaCount (e.g. idleReplicaCount 0, minReplicaCount 1)",
            ));
        }
    }
    // CheckFallbackValid (scaledobject_types.go, v2.20.2)
    let modifiers = &spec["advanced"]["scalingModifiers"];
    let using_modifiers = modifiers.as_object().is_some_and(|m| !m.is_empty());
    if has(spec, "fallback") && !using_modifiers && resource_only && !triggers.is_empty() {
        out.push(Finding::error(
            "keda/fallback-needs-external-trigger",
            "/spec/fallback",
            "fallback needs at least one trigger that is not cpu or memory: KEDA's webhook refuses it",
            "remove fallback (cpu and memory come from the metrics server, which has no fallback), or add an external trigger",
        ));
    }
    // verifyHpas (scaledobject_webhook.go) and ValidateAndCompileScalingModifiers, v2.20.2
    let formula = s(modifiers, "formula");
    if s(&spec["fallback"], "behavior") == "scalingModifiers" && formula.is_empty() {
        out.push(Finding::error(
            "keda/scaling-modifiers",
            "/spec/fallback/behavior",
            "fallback behavior scalingModifiers requires scalingModifiers.formula: KEDA's webhook refuses it",
            "set spec.advanced.scalingModifiers.formula and target, or use another fallback behavior",
        ));
    }
    if using_modifiers {
        let target = s(modifiers, "target");
        let problem = if formula.is_empty() {
            Some((
                "formula",
                "scalingModifiers.formula is mandatory".to_string(),
            ))
        } else if target.is_empty() {
            Some(("target", "formula is given but target is empty".to_string()))
        } else if !target.parse::<f64>().is_ok_and(|t| t > 0.0) {
            // strconv.ParseFloat, which Rust's f64 parser matches closely (signs, ".5", "inf")
            Some((
                "target",
                format!("target {target:?} is not a number above 0"),
            ))
        } else {
            None
        };
        if let Some((field, why)) = problem {
            out.push(Finding::error(
                "keda/scaling-modifiers",
                format!("/spec/advanced/scalingModifiers/{field}"),
                format!("{why}: KEDA's webhook refuses the ScaledObject"),
                "scalingModifiers needs a formula over named triggers and a target such as \"10\"",
            ));
        }
    }
    // ValidateTriggers (scaletriggers_types.go, v2.20.2)
    if spec
        .get("triggers")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        out.push(Finding::error(
            "keda/no-triggers",
            "/spec/triggers",
            "no triggers defined: KEDA's webhook refuses the ScaledObject",
            "add a trigger (e.g. prometheus or cpu)",
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for (ti, t) in arr(&spec["triggers"]) {
        let ty = s(t, "type");
        if is_true(t, "useCachedMetrics") && matches!(ty, "cpu" | "memory" | "cron") {
            out.push(Finding::error(
                "keda/use-cached-metrics",
                format!("/spec/triggers/{ti}/useCachedMetrics"),
                format!("useCachedMetrics is not supported for the {ty} scaler: KEDA's webhook refuses it"),
                "remove useCachedMetrics from this trigger",
            ));
        }
        let tname = s(t, "name");
        if !tname.is_empty() {
            if names.contains(&tname) {
                out.push(Finding::error(
                    "keda/duplicate-trigger-name",
                    format!("/spec/triggers/{ti}/name"),
                    format!("trigger name {tname:?} is defined more than once: KEDA's webhook refuses it"),
                    "give each trigger its own name",
                ));
            }
            names.push(tname);
        }
        match ty {
            "prometheus" => prometheus(t, ti, out),
            "cpu" | "memory" => resource(t, ti, out),
            _ => {}
        }
    }
    // verifyCPUMemoryScalers (scaledobject_webhook.go, v2.20.2): only cpu/memory triggers and
    // minReplicaCount unset or 0 is refused (on a real create; a dry run skips this check)
    if resource_only && !triggers.is_empty() && min.unwrap_or(0) == 0 {
        out.push(Finding::error(
            "keda/resource-scale-to-zero",
            "/spec/minReplicaCount",
            "a ScaledObject with only cpu/memory triggers cannot scale to zero, and KEDA's webhook refuses minReplicaCount 0 (or unset) for it",
            "set minReplicaCount to 1 or more, or add an external trigger",
        ));
    }
}

/// A metadata value as configParamValue (typed_config.go, v2.20.2) reads it: trimmed, and an
/// empty value counts as missing.
fn meta<'a>(t: &'a Value, key: &str) -> Option<&'a str> {
    t["metadata"]
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn scaler_error(out: &mut Vec<Finding>, path: String, msg: String, hint: &str) {
    out.push(Finding::error("keda/scaler-metadata", path, msg, hint));
}

/// prometheusMetadata (prometheus_scaler.go, v2.20.2) and GetMetricTargetType (scaler.go).
fn prometheus(t: &Value, ti: usize, out: &mut Vec<Finding>) {
    let base = || format!("/spec/triggers/{ti}/metadata");
    // read from triggerMetadata only (order=triggerMetadata), so authParams cannot supply them
    for key in ["serverAddress", "query", "threshold"] {
        if meta(t, key).is_none() {
            scaler_error(
                out,
                base(),
                format!(
                    "the prometheus scaler needs metadata.{key} (\"missing required parameter {key:?} in [triggerMetadata]\"); the ScaledObject never becomes Ready"
                ),
                "set serverAddress (http://prometheus...:9090), query and threshold in the trigger's metadata",
            );
        }
    }
    for key in ["threshold", "activationThreshold"] {
        if let Some(v) = meta(t, key)
            && go::parse_json_float(v).is_none()
        {
            scaler_error(
                out,
                format!("{}/{key}", base()),
                format!(
                    "{key} {v:?} is not a number KEDA can read (JSON number syntax: no '+', no leading '.', no units); the scaler fails to start"
                ),
                "write a plain number such as \"100\" or \"0.5\"",
            );
        }
    }
    for key in ["ignoreNullValues", "unsafeSsl"] {
        if let Some(v) = meta(t, key)
            && go::parse_bool(v).is_none()
        {
            scaler_error(
                out,
                format!("{}/{key}", base()),
                format!(
                    "{key} {v:?} is not a boolean Go's strconv.ParseBool reads; the scaler fails to start"
                ),
                "write \"true\" or \"false\"",
            );
        }
    }
    if let Some(v) = meta(t, "timeout") {
        let ok = match go::parse_duration(v) {
            Some(d) => d >= 0,
            None => v.parse::<i64>().is_ok_and(|ms| ms >= 0),
        };
        if !ok {
            scaler_error(
                out,
                format!("{}/timeout", base()),
                format!(
                    "timeout {v:?} is neither a Go duration nor a number of milliseconds; the scaler fails to start"
                ),
                "write a duration such as \"5s\" or milliseconds such as \"5000\"",
            );
        }
    }
    if s(t, "metricType") == "Utilization" {
        out.push(Finding::error(
            "keda/scaler-metadata",
            format!("/spec/triggers/{ti}/metricType"),
            "'Utilization' metric type is unsupported for external metrics (prometheus); the scaler fails to start".to_string(),
            "use metricType AverageValue (the default) or Value",
        ));
    }
    // this project's advice, not a KEDA rule: see the hint
    let query = meta(t, "query").unwrap_or("");
    if !query.is_empty() && !aggregated(query) {
        out.push(Finding::warning(
            "keda/prometheus-not-aggregated",
            format!("{}/query", base()),
            "the Prometheus query is not aggregated into one series; each Envoy replica exports its own, and KEDA errors on more than one (\"returned multiple elements\")",
            "wrap the query in sum(...) without `by`",
        ));
    }
    // ignoreNullValues defaults to true (prometheus_scaler.go, default=true)
    if meta(t, "ignoreNullValues").and_then(go::parse_bool) != Some(false) {
        out.push(Finding::info(
            "keda/ignore-null-values",
            base(),
            "ignoreNullValues defaults to true: a query that matches no series reads 0 and the workload silently stays at its minimum",
            "set ignoreNullValues: \"false\" so a wrong query fails loudly",
        ));
    }
}

/// cpuMemoryMetadata / parseResourceMetadata (cpu_memory_scaler.go, v2.20.2).
fn resource(t: &Value, ti: usize, out: &mut Vec<Finding>) {
    let ty = s(t, "type");
    let base = || format!("/spec/triggers/{ti}");
    if meta(t, "type").is_some() {
        scaler_error(
            out,
            format!("{}/metadata/type", base()),
            format!(
                "metadata.type is removed since KEDA v2.18 (\"scaler {ty} info: The 'type' setting is DEPRECATED\"); the scaler fails to start"
            ),
            "move it to the trigger's metricType",
        );
    }
    let value = meta(t, "value");
    if value.is_none() {
        scaler_error(
            out,
            format!("{}/metadata", base()),
            format!(
                "the {ty} scaler needs metadata.value (\"missing required parameter \\\"value\\\"\"); the scaler fails to start"
            ),
            "set metadata.value, e.g. \"70\" (percent) with metricType Utilization",
        );
    }
    match s(t, "metricType") {
        "Utilization" => {
            if let Some(v) = value
                && v.parse::<i32>().is_err()
            {
                scaler_error(
                    out,
                    format!("{}/metadata/value", base()),
                    format!(
                        "value {v:?} is not a whole number (Utilization is a percentage read with strconv.ParseInt); the scaler fails to start"
                    ),
                    "write a whole percentage such as \"70\"",
                );
            }
        }
        "AverageValue" => {}
        other => scaler_error(
            out,
            format!("{}/metricType", base()),
            format!(
                "metricType {other:?} is not allowed for the {ty} scaler (\"allowed values are 'Utilization' or 'AverageValue'\"); the scaler fails to start"
            ),
            "set metricType: Utilization (percent of requests) or AverageValue",
        ),
    }
}

/// This project's rule: whether a PromQL query returns one series (aggregated without `by`).
fn aggregated(query: &str) -> bool {
    let q = query.trim_start().to_ascii_lowercase();
    ["sum", "count", "max", "min", "avg", "scalar", "vector"]
        .iter()
        .any(|f| {
            q.strip_prefix(f).is_some_and(|rest| {
                let rest = rest.trim_start();
                rest.starts_with('(') || rest.starts_with("without") // `by` keeps several series
            })
        })
        && !q.contains(") by")
        && !q.contains(" by (")
        && !q.contains(" by(")
}

#[cfg(test)]
mod tests {
    use super::super::assert_table;
    use serde_json::{Value, json};

    fn so(spec: Value) -> Value {
        json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "s"}, "spec": spec})
    }
    fn prom_meta(m: Value) -> Value {
        let mut base = json!({"serverAddress": "http://prometheus.monitoring:9090", "query": "sum(x)", "threshold": "100", "ignoreNullValues": "false"});
        for (k, v) in m.as_object().unwrap() {
            base[k] = v.clone();
        }
        so(json!({"minReplicaCount": 1, "triggers": [{"type": "prometheus", "metadata": base}]}))
    }
    fn prom(query: &str) -> Value {
        prom_meta(json!({"query": query}))
    }
    fn cpu(extra: Value) -> Value {
        let mut t = json!({"type": "cpu", "name": "cpu-utilization", "metricType": "Utilization", "metadata": {"value": "70"}});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        t
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn webhook_table() {
        assert_table(vec![
            (
                "the template's cpu trigger",
                so(
                    json!({"minReplicaCount": 2, "maxReplicaCount": 10, "triggers": [cpu(json!({}))]}),
                ),
                vec![],
            ),
            (
                "the corpus's prometheus trigger",
                so(
                    json!({"minReplicaCount": 2, "triggers": [{"type": "prometheus", "metadata": {
                    "serverAddress": "http://prometheus.monitoring.svc:9090",
                    "query": "sum(rate(http_requests_total{namespace=\"a\",app=\"api\"}[2m]))", "threshold": "100"}}]}),
                ),
                vec![("keda/ignore-null-values", "/spec/triggers/0/metadata")],
            ),
            (
                "cpu only, scale to zero",
                so(json!({"minReplicaCount": 0, "triggers": [cpu(json!({}))]})),
                vec![("keda/resource-scale-to-zero", "/spec/minReplicaCount")],
            ),
            (
                "name too long for the HPA",
                json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "a".repeat(55)},
                       "spec": {"minReplicaCount": 1, "triggers": [cpu(json!({}))]}}),
                vec![(
                    "keda/name-too-long",
                    "/spec/advanced/horizontalPodAutoscalerConfig/name",
                )],
            ),
            (
                "idle replicas not below min",
                so(
                    json!({"minReplicaCount": 1, "idleReplicaCount": 1, "triggers": [cpu(json!({}))]}),
                ),
                vec![("keda/idle-not-below-min", "/spec/idleReplicaCount")],
            ),
            (
                "idle 0 with min 0 (read as 1) is fine",
                so(
                    json!({"minReplicaCount": 0, "idleReplicaCount": 0, "triggers": [{"type": "cron", "metadata": {}}]}),
                ),
                vec![],
            ),
            (
                "fallback with cpu only",
                so(
                    json!({"minReplicaCount": 1, "fallback": {"failureThreshold": 3, "replicas": 2}, "triggers": [cpu(json!({}))]}),
                ),
                vec![("keda/fallback-needs-external-trigger", "/spec/fallback")],
            ),
            (
                "scaling modifiers without target; fallback on modifiers without formula",
                so(
                    json!({"minReplicaCount": 1, "advanced": {"scalingModifiers": {"formula": "a + b"}}, "triggers": [{"type": "cron", "metadata": {}}]}),
                ),
                vec![(
                    "keda/scaling-modifiers",
                    "/spec/advanced/scalingModifiers/target",
                )],
            ),
            (
                "fallback behavior scalingModifiers without a formula",
                so(
                    json!({"minReplicaCount": 1, "fallback": {"failureThreshold": 3, "replicas": 2, "behavior": "scalingModifiers"}, "triggers": [{"type": "cron", "metadata": {}}]}),
                ),
                vec![("keda/scaling-modifiers", "/spec/fallback/behavior")],
            ),
            (
                "no triggers",
                so(json!({"minReplicaCount": 1, "triggers": []})),
                vec![("keda/no-triggers", "/spec/triggers")],
            ),
            (
                "duplicate trigger names, cached metrics on cpu",
                so(
                    json!({"minReplicaCount": 1, "triggers": [cpu(json!({"useCachedMetrics": true})), cpu(json!({}))]}),
                ),
                vec![
                    (
                        "keda/use-cached-metrics",
                        "/spec/triggers/0/useCachedMetrics",
                    ),
                    ("keda/duplicate-trigger-name", "/spec/triggers/1/name"),
                ],
            ),
        ]);
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn scaler_table() {
        let m = "keda/scaler-metadata";
        assert_table(vec![
            (
                "summed query",
                prom("sum(rate(envoy_cluster_upstream_rq_total[2m]))"),
                vec![],
            ),
            (
                "raw query",
                prom("rate(envoy_cluster_upstream_rq_total[2m])"),
                vec![(
                    "keda/prometheus-not-aggregated",
                    "/spec/triggers/0/metadata/query",
                )],
            ),
            (
                "sum by keeps series",
                prom("sum by (pod) (rate(x[2m]))"),
                vec![(
                    "keda/prometheus-not-aggregated",
                    "/spec/triggers/0/metadata/query",
                )],
            ),
            (
                "sum(...) by keeps series",
                prom("sum(rate(x[2m])) by (pod)"),
                vec![(
                    "keda/prometheus-not-aggregated",
                    "/spec/triggers/0/metadata/query",
                )],
            ),
            (
                "min replicas missing, null values",
                so(
                    json!({"triggers": [{"type": "prometheus", "metadata": {"serverAddress": "http://p:9090", "query": "sum(x)", "threshold": "1"}}]}),
                ),
                vec![
                    ("keda/min-replicas-missing", "/spec"),
                    ("keda/ignore-null-values", "/spec/triggers/0/metadata"),
                ],
            ),
            (
                "ignoreNullValues False is false",
                prom_meta(json!({"ignoreNullValues": "False"})),
                vec![],
            ),
            (
                "threshold with a unit",
                prom_meta(json!({"threshold": "100m"})),
                vec![(m, "/spec/triggers/0/metadata/threshold")],
            ),
            (
                "threshold with a plus, activation with a leading dot",
                prom_meta(json!({"threshold": "+5", "activationThreshold": ".5"})),
                vec![
                    (m, "/spec/triggers/0/metadata/threshold"),
                    (m, "/spec/triggers/0/metadata/activationThreshold"),
                ],
            ),
            (
                "threshold missing (blank)",
                prom_meta(json!({"threshold": "  "})),
                vec![(m, "/spec/triggers/0/metadata")],
            ),
            (
                "ignoreNullValues yes",
                prom_meta(json!({"ignoreNullValues": "yes"})),
                vec![
                    (m, "/spec/triggers/0/metadata/ignoreNullValues"),
                    ("keda/ignore-null-values", "/spec/triggers/0/metadata"),
                ],
            ),
            (
                "timeout in days",
                prom_meta(json!({"timeout": "1d"})),
                vec![(m, "/spec/triggers/0/metadata/timeout")],
            ),
            (
                "timeout in milliseconds",
                prom_meta(json!({"timeout": "5000"})),
                vec![],
            ),
            (
                "prometheus with Utilization",
                so(
                    json!({"minReplicaCount": 1, "triggers": [{"type": "prometheus", "metricType": "Utilization", "metadata": {"serverAddress": "http://p:9090", "query": "sum(x)", "threshold": "1", "ignoreNullValues": "false"}}]}),
                ),
                vec![(m, "/spec/triggers/0/metricType")],
            ),
            (
                "cpu without metricType, with the removed metadata.type, fractional utilization",
                so(json!({"minReplicaCount": 1, "triggers": [
                    {"type": "cpu", "metadata": {"type": "Utilization", "value": "70"}},
                    cpu(json!({"name": "b", "metadata": {"value": "70.5"}}))]})),
                vec![
                    (m, "/spec/triggers/0/metadata/type"),
                    (m, "/spec/triggers/0/metricType"),
                    (m, "/spec/triggers/1/metadata/value"),
                ],
            ),
        ]);
    }
}
