//! **builtin/port-name**: port names and numbers the API server checks by hand (the OpenAPI
//! schema only says "string" and "integer").
//!
//! Upstream (kubernetes v1.35):
//! - pkg/apis/core/validation/validation.go `validateContainerPorts`: a container port's name is
//!   an IANA_SVC_NAME (`IsValidPortName`) and unique within the container; containerPort is
//!   1-65535 (`IsValidPortNum`); hostPort is 0 or 1-65535.
//! - same file, `validateServicePort`: a Service port's name is a DNS-1123 label; `targetPort`
//!   is a port number (1-65535) or an IANA_SVC_NAME (`ValidatePortNumOrName`); 0 or "" is
//!   defaulted to `port` first (pkg/apis/core/v1/defaults.go `SetDefaults_Service`).
//! - same file, `supportedPortProtocols` (used by `validateContainerPorts` and
//!   `validateServicePort`): **builtin/port-protocol**, a port's protocol is exactly `TCP`,
//!   `UDP` or `SCTP` (case matters: `tcp` is refused; the OpenAPI document has no enum for it).
//! - staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go `IsValidPortName`: at
//!   most 15 characters, lowercase alphanumerics and '-', at least one letter, no '--', no '-' at
//!   either end.

use serde_json::Value;

use crate::validate::finding::Finding;
use crate::validate::meta::is_dns1123_label;

/// Why `name` is not an IANA_SVC_NAME, or None.
pub(crate) fn port_name_problem(name: &str) -> Option<&'static str> {
    if name.len() > 15 {
        return Some("at most 15 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("only lowercase alphanumerics (a-z, 0-9) and '-'");
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        return Some("at least one letter (a-z)");
    }
    if name.contains("--") {
        return Some("no consecutive hyphens");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("no '-' at the start or end");
    }
    None
}

/// A port protocol the API server refuses (`supportedPortProtocols`), as a finding at `at`.
fn check_protocol(p: &Value, at: &str, out: &mut Vec<Finding>) {
    if let Some(proto) = p["protocol"].as_str()
        && !matches!(proto, "TCP" | "UDP" | "SCTP")
    {
        out.push(Finding::error(
            "builtin/port-protocol",
            format!("{at}/protocol"),
            format!("protocol `{proto}` is not supported: the API server accepts TCP, UDP or SCTP (upper case)"),
            format!("protocol: {}", proto.to_ascii_uppercase()),
        ));
    }
}

fn in_range(v: &Value) -> Option<bool> {
    v.as_i64().map(|p| (1..=65535).contains(&p))
}

/// Container ports of a pod spec at `base`.
pub(super) fn check_container_ports(pod: &Value, base: &str, out: &mut Vec<Finding>) {
    for list in ["initContainers", "containers"] {
        for (ci, c) in pod[list].as_array().into_iter().flatten().enumerate() {
            let mut names = std::collections::HashSet::new();
            for (pi, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
                let at = format!("{base}/{list}/{ci}/ports/{pi}");
                check_protocol(p, &at, out);
                if let Some(name) = p["name"].as_str() {
                    if let Some(problem) = port_name_problem(name) {
                        out.push(Finding::error(
                            "builtin/port-name",
                            format!("{at}/name"),
                            format!("container port name `{name}` is not an IANA service name: {problem}"),
                            "use a short lowercase name such as `http` or `metrics`",
                        ));
                    } else if !names.insert(name.to_string()) {
                        out.push(Finding::error(
                            "builtin/port-name",
                            format!("{at}/name"),
                            format!("duplicate port name `{name}` in the container"),
                            "give each port of a container its own name",
                        ));
                    }
                }
                if in_range(&p["containerPort"]) == Some(false) {
                    out.push(Finding::error(
                        "builtin/port-name",
                        format!("{at}/containerPort"),
                        "containerPort must be between 1 and 65535",
                        "set the port the container listens on",
                    ));
                }
                if p["hostPort"].as_i64().is_some_and(|h| h != 0)
                    && in_range(&p["hostPort"]) == Some(false)
                {
                    out.push(Finding::error(
                        "builtin/port-name",
                        format!("{at}/hostPort"),
                        "hostPort must be 0 (none) or between 1 and 65535",
                        "remove hostPort unless the pod must bind a node port",
                    ));
                }
            }
        }
    }
}

/// A Service's port names and target ports.
pub(super) fn check_service_ports(obj: &Value, out: &mut Vec<Finding>) {
    for (i, p) in obj["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("/spec/ports/{i}");
        check_protocol(p, &at, out);
        if let Some(name) = p["name"].as_str().filter(|n| !n.is_empty())
            && !is_dns1123_label(name)
        {
            out.push(Finding::error(
                "builtin/port-name",
                format!("{at}/name"),
                format!("Service port name `{name}` is not a DNS-1123 label (lowercase alphanumerics or '-', starting and ending with an alphanumeric)"),
                "use a lowercase name such as `http`",
            ));
        }
        match &p["targetPort"] {
            Value::String(s) if !s.is_empty() => {
                if let Some(problem) = port_name_problem(s) {
                    out.push(Finding::error(
                        "builtin/port-name",
                        format!("{at}/targetPort"),
                        format!("targetPort `{s}` is neither a number nor a valid container port name: {problem}"),
                        "give the container port's name (e.g. `http`) or its number",
                    ));
                }
            }
            // 0 (like an empty string) is defaulted to `port` (SetDefaults_Service)
            v @ Value::Number(_) if v.as_i64() != Some(0) && in_range(v) == Some(false) => out
                .push(Finding::error(
                    "builtin/port-name",
                    format!("{at}/targetPort"),
                    "targetPort must be between 1 and 65535",
                    "give the container port's number or name",
                )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn iana_names() {
        for (name, ok) in [
            ("http", true),
            ("http-metrics", true),
            ("h2c", true),
            ("8080", false),
            ("HTTP", false),
            ("my_port", false),
            ("a--b", false),
            ("-http", false),
            ("a-very-long-port-name", false),
        ] {
            assert_eq!(port_name_problem(name).is_none(), ok, "{name}");
        }
    }

    #[test]
    fn table() {
        let pod = json!({"containers": [{"name": "a", "ports": [
            {"containerPort": 8000, "name": "http"},
            {"containerPort": 8001, "name": "http"},
            {"containerPort": 0, "name": "Metrics"},
            {"containerPort": 9000, "hostPort": 70000},
            {"containerPort": 9001, "protocol": "udp"},
            {"containerPort": 9002, "protocol": "SCTP"}
        ]}]});
        let mut out = Vec::new();
        check_container_ports(&pod, "/spec", &mut out);
        let got: Vec<String> = out.into_iter().map(|f| f.path).collect();
        assert_eq!(
            got,
            [
                "/spec/containers/0/ports/1/name",
                "/spec/containers/0/ports/2/name",
                "/spec/containers/0/ports/2/containerPort",
                "/spec/containers/0/ports/3/hostPort",
                "/spec/containers/0/ports/4/protocol"
            ]
        );
        let svc = json!({"spec": {"ports": [
            {"port": 80, "name": "http", "targetPort": "http"},
            {"port": 81, "name": "Web", "targetPort": 8000},
            {"port": 82, "name": "x", "targetPort": "not_a_name"},
            {"port": 83, "name": "y", "targetPort": 70000},
            {"port": 84, "name": "z", "targetPort": 0},
            {"port": 85, "name": "t", "protocol": "tcp"},
            {"port": 86, "name": "u", "protocol": "UDP"}
        ]}});
        let mut out = Vec::new();
        check_service_ports(&svc, &mut out);
        let got: Vec<String> = out.into_iter().map(|f| f.path).collect();
        assert_eq!(
            got,
            [
                "/spec/ports/1/name",
                "/spec/ports/2/targetPort",
                "/spec/ports/3/targetPort",
                "/spec/ports/5/protocol"
            ]
        );
    }
}
