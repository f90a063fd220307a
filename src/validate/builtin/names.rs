//! **builtin/name**: the names the API server checks beyond "a DNS-1123 subdomain" (which
//! [`crate::validate::meta`] checks for every object).
//!
//! Upstream (kubernetes v1.35):
//! - pkg/apis/core/validation/validation.go: `ValidateNamespaceName = NameIsDNSLabel`,
//!   `ValidateServiceName = NameIsDNS1035Label`; `validateContainers`: a container's name is a
//!   DNS-1123 label (`ValidateDNS1123Label`) and unique among the pod's containers and init
//!   containers (`field.Duplicate`).
//! - staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go: `IsDNS1123Label`,
//!   `IsDNS1035Label`.

use serde_json::Value;

use crate::validate::finding::Finding;
use crate::validate::meta::is_dns1123_label;

/// RFC 1035 label: a DNS-1123 label that starts with a letter.
pub(crate) fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// The object's own name, by kind.
pub(super) fn check_object_name(kind: &str, obj: &Value, out: &mut Vec<Finding>) {
    let Some(name) = obj["metadata"]["name"].as_str() else {
        return;
    };
    let (ok, what) = match kind {
        "Namespace" => (
            is_dns1123_label(name),
            "a DNS-1123 label (at most 63 lowercase alphanumerics or '-', starting and ending with an alphanumeric)",
        ),
        "Service" => (
            is_dns1035_label(name),
            "a DNS-1035 label (at most 63 lowercase alphanumerics or '-', starting with a letter and ending with an alphanumeric)",
        ),
        _ => return,
    };
    if !ok {
        out.push(Finding::error(
            "builtin/name",
            "/metadata/name",
            format!("a {kind}'s name must be {what}: `{name}` is not"),
            format!("rename it, e.g. `{}`", suggestion(name)),
        ));
    }
}

fn suggestion(name: &str) -> String {
    let mut s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s = s.trim_matches('-').to_string();
    if s.is_empty() || !s.as_bytes()[0].is_ascii_lowercase() {
        s = format!("x-{s}");
    }
    s.truncate(63);
    s.trim_end_matches('-').to_string()
}

/// Container names of a pod spec at `base` (e.g. `/spec/template/spec`).
pub(super) fn check_container_names(pod: &Value, base: &str, out: &mut Vec<Finding>) {
    let mut seen = std::collections::HashSet::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in pod[list].as_array().into_iter().flatten().enumerate() {
            let Some(name) = c["name"].as_str() else {
                continue; // the schema reports a missing name
            };
            let at = format!("{base}/{list}/{i}/name");
            if !is_dns1123_label(name) {
                out.push(Finding::error(
                    "builtin/name",
                    at.clone(),
                    format!("container name `{name}` is not a DNS-1123 label (at most 63 lowercase alphanumerics or '-', starting and ending with an alphanumeric)"),
                    format!("rename it, e.g. `{}`", suggestion(name)),
                ));
            }
            if !seen.insert(name.to_string()) {
                out.push(Finding::error(
                    "builtin/name",
                    at,
                    format!("duplicate container name `{name}` in the pod"),
                    "give every container and init container its own name",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table() {
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            ("Namespace", json!({"metadata": {"name": "apps"}}), vec![]),
            (
                "Namespace",
                json!({"metadata": {"name": "apps.prod"}}),
                vec!["/metadata/name"],
            ),
            ("Service", json!({"metadata": {"name": "task-api"}}), vec![]),
            (
                "Service",
                json!({"metadata": {"name": "1api"}}),
                vec!["/metadata/name"],
            ),
            (
                "Service",
                json!({"metadata": {"name": "api.v1"}}),
                vec!["/metadata/name"],
            ),
            ("ConfigMap", json!({"metadata": {"name": "a.b"}}), vec![]),
        ];
        for (kind, obj, want) in cases {
            let mut out = Vec::new();
            check_object_name(kind, &obj, &mut out);
            let got: Vec<String> = out.into_iter().map(|f| f.path).collect();
            assert_eq!(got, want, "{kind} {obj}");
        }
        let pod = json!({"initContainers": [{"name": "init"}], "containers": [{"name": "api"}, {"name": "Api_2"}, {"name": "init"}]});
        let mut out = Vec::new();
        check_container_names(&pod, "/spec", &mut out);
        let got: Vec<String> = out.into_iter().map(|f| f.path).collect();
        assert_eq!(got, ["/spec/containers/1/name", "/spec/containers/2/name"]);
    }
}
