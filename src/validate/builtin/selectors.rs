//! **builtin/selector**: label selectors and the labels they select, as the API server checks
//! them on workloads and Services.
//!
//! Upstream (kubernetes v1.35):
//! - pkg/apis/apps/validation/validation.go `ValidateDeploymentSpec` (and the StatefulSet,
//!   DaemonSet, ReplicaSet equivalents): a selector is required and may not be empty ("empty
//!   selector is invalid for deployment"); `ValidatePodTemplateSpecForReplicaSet`: the selector
//!   must match the template's labels ("`selector` does not match template `labels`").
//! - staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/validation/validation.go
//!   `ValidateLabelSelector`, `ValidateLabelSelectorRequirement`: In/NotIn need values,
//!   Exists/DoesNotExist take none, no other operator; keys are qualified names, values label
//!   values; `ValidateLabels`.
//! - pkg/apis/core/validation/validation.go `ValidatePodTemplateSpec` (the template's labels and
//!   annotations: `ValidateLabels`, `ValidateAnnotations`) and `ValidateService` (the selector's
//!   keys and values are labels).
//! - staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go `LabelSelectorAsSelector`: how
//!   matchLabels and matchExpressions select.

use serde_json::{Map, Value};

use crate::validate::finding::Finding;
use crate::validate::meta::{
    check_annotations, check_labels, is_qualified_name_part, qualified_name_problem,
};
use crate::yaml::pointer_segment;

fn label_value_ok(v: &str) -> bool {
    v.is_empty() || is_qualified_name_part(v)
}

/// Whether a selector's requirements hold for `labels` (None when the selector is malformed;
/// the malformation is reported separately).
fn matches(sel: &Value, labels: &Map<String, Value>) -> Option<bool> {
    for (k, v) in sel["matchLabels"].as_object().into_iter().flatten() {
        if labels.get(k) != Some(v) {
            return Some(false);
        }
    }
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str()?;
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let has = labels.get(key).and_then(Value::as_str);
        let ok = match e["operator"].as_str()? {
            "In" => has.is_some_and(|h| values.contains(&h)),
            "NotIn" => has.is_none_or(|h| !values.contains(&h)),
            "Exists" => has.is_some(),
            "DoesNotExist" => has.is_none(),
            _ => return None,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

/// The shape of a LabelSelector at `at`.
fn check_selector_shape(sel: &Value, at: &str, out: &mut Vec<Finding>) {
    if let Some(m) = sel["matchLabels"].as_object() {
        let mut meta = Map::new();
        meta.insert("labels".into(), Value::Object(m.clone()));
        let mut found = Vec::new();
        check_labels(&meta, at, &mut found);
        for mut f in found {
            f.rule = "builtin/selector".into();
            f.path = f
                .path
                .replacen(&format!("{at}/labels"), &format!("{at}/matchLabels"), 1);
            out.push(f);
        }
    }
    for (i, e) in sel["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = format!("{at}/matchExpressions/{i}");
        let n = e["values"].as_array().map_or(0, Vec::len);
        match e["operator"].as_str() {
            Some("In" | "NotIn") if n == 0 => out.push(Finding::error(
                "builtin/selector",
                format!("{p}/values"),
                "values must be given when the operator is In or NotIn",
                "list at least one value",
            )),
            Some("Exists" | "DoesNotExist") if n > 0 => out.push(Finding::error(
                "builtin/selector",
                format!("{p}/values"),
                "values may not be given when the operator is Exists or DoesNotExist",
                "remove values",
            )),
            Some("In" | "NotIn" | "Exists" | "DoesNotExist") | None => {}
            Some(other) => out.push(Finding::error(
                "builtin/selector",
                format!("{p}/operator"),
                format!("`{other}` is not a selector operator"),
                "use In, NotIn, Exists or DoesNotExist (case-sensitive)",
            )),
        }
        if let Some(k) = e["key"].as_str()
            && let Some(problem) = qualified_name_problem(k)
        {
            out.push(Finding::error(
                "builtin/selector",
                format!("{p}/key"),
                format!("selector key `{k}` is invalid: {problem}"),
                "use a label key such as `app.kubernetes.io/name`",
            ));
        }
        for (j, v) in e["values"].as_array().into_iter().flatten().enumerate() {
            if let Some(s) = v.as_str()
                && !label_value_ok(s)
            {
                out.push(Finding::error(
                    "builtin/selector",
                    format!("{p}/values/{j}"),
                    format!("selector value `{s}` is not a valid label value"),
                    "at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
                ));
            }
        }
    }
}

/// A workload's selector against its pod template (`template` is the template's pointer).
/// The matchLabels comparison of Deployments is [`super::check`]'s (builtin/deployment).
pub(super) fn check_workload(obj: &Value, kind: &str, template: &str, out: &mut Vec<Finding>) {
    let sel = &obj["spec"]["selector"];
    let tmeta = obj.pointer(&format!("{template}/metadata"));
    if let Some(Value::Object(m)) = tmeta {
        let at = format!("{template}/metadata");
        let mut found = Vec::new();
        check_labels(m, &at, &mut found);
        check_annotations(m, &at, &mut found);
        out.extend(found.into_iter().map(|mut f| {
            f.rule = "builtin/selector".into();
            f
        }));
    }
    if kind == "Job" || kind == "CronJob" || !sel.is_object() {
        return; // a Job's selector is generated; a missing one is the schema's (required)
    }
    check_selector_shape(sel, "/spec/selector", out);
    let empty = sel["matchLabels"].as_object().is_none_or(Map::is_empty)
        && sel["matchExpressions"].as_array().is_none_or(Vec::is_empty);
    if empty {
        out.push(Finding::error(
            "builtin/selector",
            "/spec/selector",
            format!("an empty selector is invalid for a {kind}"),
            "select the pod template's labels with matchLabels",
        ));
        return;
    }
    let empty_map = Map::new();
    let labels = tmeta
        .and_then(|m| m["labels"].as_object())
        .unwrap_or(&empty_map);
    // matchLabels mismatches are reported per key by builtin/deployment for Deployments
    let only_expressions_matter = kind == "Deployment";
    let sel_for_match = if only_expressions_matter {
        let mut s = sel.clone();
        if let Some(o) = s.as_object_mut() {
            o.shift_remove("matchLabels");
        }
        s
    } else {
        sel.clone()
    };
    if matches(&sel_for_match, labels) == Some(false) {
        out.push(Finding::error(
            "builtin/selector",
            format!("{template}/metadata/labels"),
            format!("the {kind}'s selector does not match its pod template's labels"),
            "the API server rejects it: make spec.selector select spec.template.metadata.labels",
        ));
    }
}

/// A Service's selector: label keys and values.
pub(super) fn check_service_selector(obj: &Value, out: &mut Vec<Finding>) {
    if let Some(m) = obj["spec"]["selector"].as_object() {
        for (k, v) in m {
            let at = format!("/spec/selector/{}", pointer_segment(k));
            if let Some(problem) = qualified_name_problem(k) {
                out.push(Finding::error(
                    "builtin/selector",
                    at.clone(),
                    format!("selector key `{k}` is invalid: {problem}"),
                    "use a label key such as `app`",
                ));
            }
            if let Some(s) = v.as_str()
                && !label_value_ok(s)
            {
                out.push(Finding::error(
                    "builtin/selector",
                    at,
                    format!("selector value `{s}` is not a valid label value"),
                    "at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(selector: Value, labels: Value) -> Value {
        json!({"spec": {"selector": selector, "template": {"metadata": {"labels": labels}}}})
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            (
                "Deployment",
                dep(json!({"matchLabels": {"app": "a"}}), json!({"app": "a"})),
                vec![],
            ),
            (
                "Deployment",
                dep(json!({}), json!({"app": "a"})),
                vec!["/spec/selector"],
            ),
            (
                "Deployment",
                dep(
                    json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}),
                    json!({"tier": "db"}),
                ),
                vec!["/spec/template/metadata/labels"],
            ),
            (
                "Deployment",
                dep(
                    json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                    json!({"tier": "db"}),
                ),
                vec![],
            ),
            (
                "StatefulSet",
                dep(json!({"matchLabels": {"app": "a"}}), json!({"app": "b"})),
                vec!["/spec/template/metadata/labels"],
            ),
            (
                "Deployment",
                dep(
                    json!({"matchLabels": {"app": "a"}, "matchExpressions": [{"key": "x", "operator": "in", "values": ["y"]}, {"key": "y", "operator": "In"}]}),
                    json!({"app": "a"}),
                ),
                vec![
                    "/spec/selector/matchExpressions/0/operator",
                    "/spec/selector/matchExpressions/1/values",
                ],
            ),
            (
                "Deployment",
                dep(
                    json!({"matchLabels": {"app": "a b"}}),
                    json!({"app": "a b"}),
                ),
                vec![
                    "/spec/selector/matchLabels/app",
                    "/spec/template/metadata/labels/app",
                ],
            ),
        ];
        for (kind, obj, want) in cases {
            let mut out = Vec::new();
            check_workload(&obj, kind, "/spec/template", &mut out);
            let mut got: Vec<String> = out.into_iter().map(|f| f.path).collect();
            got.sort();
            let mut want: Vec<String> = want.into_iter().map(String::from).collect();
            want.sort();
            assert_eq!(got, want, "{kind} {obj}");
        }
        let mut out = Vec::new();
        check_service_selector(
            &json!({"spec": {"selector": {"app": "task api", "ok": "x"}}}),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].path, "/spec/selector/app");
    }
}
