//! The API server's rules for built-in kinds that their OpenAPI schema does not carry (the
//! schema itself is [`super::openapi`]'s), one family per file:
//! - here, **builtin/service-ports**, **builtin/deployment**, **builtin/secret**,
//!   **builtin/configmap**: the fields the reference layer reads (and, when no OpenAPI document
//!   is loaded, the only checks of these kinds: they are then reported as not checked);
//! - [`names`] (**builtin/name**): names by kind, container names;
//! - [`ports`] (**builtin/port-name**): container and Service port names and numbers;
//! - [`selectors`] (**builtin/selector**): selectors, and the labels they select.

use serde_json::Value;

use super::finding::Finding;

mod names;
mod ports;
mod selectors;

/// Where a workload kind keeps its pod template.
fn pod_template(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Some("/spec/template"),
        "CronJob" => Some("/spec/jobTemplate/spec/template"),
        _ => None,
    }
}

/// The rule families of [`names`], [`ports`] and [`selectors`] for any built-in kind.
fn check_families(obj: &Value, kind: &str, out: &mut Vec<Finding>) {
    names::check_object_name(kind, obj, out);
    if kind == "Service" {
        ports::check_service_ports(obj, out);
        selectors::check_service_selector(obj, out);
    }
    let pod_spec = match (kind, pod_template(kind)) {
        ("Pod", _) => Some("/spec".to_string()),
        (_, Some(t)) => Some(format!("{t}/spec")),
        _ => None,
    };
    if let Some(base) = pod_spec
        && let Some(pod) = obj.pointer(&base)
    {
        names::check_container_names(pod, &base, out);
        ports::check_container_ports(pod, &base, out);
    }
    if let Some(t) = pod_template(kind) {
        selectors::check_workload(obj, kind, t, out);
    }
}

fn port_ok(v: &Value) -> bool {
    v.as_i64().is_some_and(|p| (1..=65535).contains(&p))
}

fn check_service(obj: &Value, out: &mut Vec<Finding>) {
    let ports = &obj["spec"]["ports"];
    match ports.as_array() {
        None if s_type(obj) != "ExternalName" => out.push(Finding::error(
            "builtin/service-ports",
            "/spec/ports",
            "a Service needs spec.ports",
            "add ports: [{name: http, port: 8000, targetPort: 8000}]",
        )),
        None => {}
        Some(list) => {
            let mut names = std::collections::HashSet::new();
            for (i, p) in list.iter().enumerate() {
                if !port_ok(&p["port"]) {
                    out.push(Finding::error(
                        "builtin/service-ports",
                        format!("/spec/ports/{i}/port"),
                        "port must be an integer from 1 to 65535",
                        "set port to the number clients connect to",
                    ));
                }
                if list.len() > 1 && p["name"].as_str().is_none_or(str::is_empty) {
                    out.push(Finding::error(
                        "builtin/service-ports",
                        format!("/spec/ports/{i}/name"),
                        "every port of a multi-port Service needs a name",
                        "add name: http (or similar)",
                    ));
                }
                if let Some(n) = p["name"].as_str()
                    && !names.insert(n.to_string())
                {
                    out.push(Finding::error(
                        "builtin/service-ports",
                        format!("/spec/ports/{i}/name"),
                        format!("duplicate port name {n}"),
                        "port names must be unique",
                    ));
                }
            }
        }
    }
}

fn s_type(obj: &Value) -> &str {
    obj["spec"]["type"].as_str().unwrap_or("")
}

fn check_deployment(obj: &Value, out: &mut Vec<Finding>) {
    let spec = &obj["spec"];
    let sel = &spec["selector"]["matchLabels"];
    if !spec["selector"].is_object() {
        out.push(Finding::error(
            "builtin/deployment",
            "/spec/selector",
            "a Deployment needs spec.selector",
            "add selector.matchLabels matching the pod template labels",
        ));
    }
    let labels = &spec["template"]["metadata"]["labels"];
    if let Some(m) = sel.as_object() {
        for (k, v) in m {
            if labels.get(k) != Some(v) {
                out.push(Finding::error(
                    "builtin/deployment",
                    format!("/spec/selector/matchLabels/{}", crate::yaml::pointer_segment(k)),
                    format!("selector label {k} does not match the pod template labels"),
                    "the API server rejects a selector that does not match spec.template.metadata.labels",
                ));
            }
        }
    }
    if spec["template"]["spec"]["containers"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        out.push(Finding::error(
            "builtin/deployment",
            "/spec/template/spec/containers",
            "a Deployment needs at least one container",
            "add spec.template.spec.containers",
        ));
    }
}

fn check_secret(obj: &Value, out: &mut Vec<Finding>) {
    for key in ["data", "stringData"] {
        if let Some(m) = obj[key].as_object() {
            for (k, v) in m {
                if !v.is_string() {
                    out.push(Finding::error(
                        "builtin/secret",
                        format!("/{key}/{}", crate::yaml::pointer_segment(k)),
                        format!("{key} values must be strings"),
                        "quote the value",
                    ));
                }
            }
        }
    }
    if obj["type"] == "kubernetes.io/tls" {
        for k in ["tls.crt", "tls.key"] {
            let present = obj["data"].get(k).is_some() || obj["stringData"].get(k).is_some();
            if !present {
                out.push(Finding::error(
                    "builtin/secret",
                    "/data",
                    format!("a kubernetes.io/tls Secret needs {k}"),
                    "add tls.crt and tls.key (base64 in data)",
                ));
            }
        }
    }
}

fn check_configmap(obj: &Value, out: &mut Vec<Finding>) {
    if let Some(m) = obj["data"].as_object() {
        for (k, v) in m {
            if !v.is_string() {
                out.push(Finding::error(
                    "builtin/configmap",
                    format!("/data/{}", crate::yaml::pointer_segment(k)),
                    "ConfigMap data values must be strings (an unquoted number, true or yes is not)",
                    "quote the value",
                ));
            }
        }
    }
}

/// Structural checks for a built-in kind; other kinds return nothing.
pub fn check(obj: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    match (
        obj["apiVersion"].as_str().unwrap_or(""),
        obj["kind"].as_str().unwrap_or(""),
    ) {
        ("v1", "Service") => check_service(obj, &mut out),
        ("apps/v1", "Deployment") => check_deployment(obj, &mut out),
        ("v1", "Secret") => check_secret(obj, &mut out),
        ("v1", "ConfigMap") => check_configmap(obj, &mut out),
        _ => {}
    }
    check_families(obj, obj["kind"].as_str().unwrap_or(""), &mut out);
    out
}

/// Is this a built-in kind this module knows?
pub fn is_builtin(obj: &Value) -> bool {
    matches!(
        (
            obj["apiVersion"].as_str().unwrap_or(""),
            obj["kind"].as_str().unwrap_or("")
        ),
        ("v1", "Service" | "Secret" | "ConfigMap" | "Namespace") | ("apps/v1", "Deployment")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table() {
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}]}}),
                vec![],
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 0}]}}),
                vec!["/spec/ports/0/port"],
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}, {"port": 81}]}}),
                vec!["/spec/ports/0/name", "/spec/ports/1/name"],
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service", "spec": {}}),
                vec!["/spec/ports"],
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"selector": {"matchLabels": {"app": "a"}},
                "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c"}]}}}}),
                vec![],
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"selector": {"matchLabels": {"app": "a"}},
                "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": []}}}}),
                vec![
                    "/spec/selector/matchLabels/app",
                    "/spec/template/spec/containers",
                ],
            ),
            (
                json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "data": {"tls.crt": "x"}}),
                vec!["/data"],
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": true, "b": "x"}}),
                vec!["/data/a"],
            ),
        ];
        for (obj, want) in cases {
            let got: Vec<String> = check(&obj).into_iter().map(|f| f.path).collect();
            assert_eq!(got, want, "{obj}");
        }
    }
}
