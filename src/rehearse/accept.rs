//! Translator acceptance: the stack goes through Envoy Gateway's own translator
//! (`egctl x translate --from gateway-api --to gateway-api,xds`, v1.9.0) and every object must
//! come back accepted.
//!
//! What "accepted" means, read from the translator's output (the input objects with the status
//! Envoy Gateway would write):
//! - the GatewayClass: `Accepted=True`;
//! - each Gateway: no Gateway-level condition that is not True. The translator alone sets none
//!   when all is well: `Accepted`/`Programmed` on the Gateway itself are written by the
//!   Kubernetes provider once a data plane has an address (status/gateway.go), so without a data
//!   plane the proof is per listener;
//! - each listener of each Gateway: a status entry with `Accepted`, `Programmed` ("Sending
//!   translated listener configuration to the data plane") and `ResolvedRefs` all True, and
//!   neither `Conflicted` nor `OverlappingTLSConfig` True;
//! - each route, for each of its parentRefs: a status entry with `Accepted` and `ResolvedRefs`
//!   True and `PartiallyInvalid` not True;
//! - each policy: at least one ancestor (a policy attached to nothing has none), and `Accepted`
//!   True for each;
//! - egctl exits 0 with nothing on stderr (the xDS translation of every Gateway succeeded).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::outside::{self, Outside, OutsideError, ServiceAddress, StackObject};

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error(transparent)]
    Stack(#[from] OutsideError),
    #[error("cannot run {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the translator input: {0}")]
    Input(std::io::Error),
    #[error("egctl x translate failed ({status}): {stderr}")]
    Translate { status: String, stderr: String },
    #[error("egctl x translate printed output that is not the expected JSON: {0}")]
    Output(String),
}

/// One object, or one part of it, that Envoy Gateway did not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `Kind namespace/name`.
    pub object: String,
    /// `listener https`, `parent Gateway task-api/task-api-gateway`, `ancestor ...`, or empty.
    pub scope: String,
    /// The condition type (or `status` when the translator wrote none).
    pub condition: String,
    /// `True`, `False`, `Unknown`, or `missing`.
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.object)?;
        if !self.scope.is_empty() {
            write!(f, " ({})", self.scope)?;
        }
        write!(
            f,
            ": {}={} reason {}: {}",
            self.condition, self.status, self.reason, self.message
        )
    }
}

/// What the translator said about a stack.
#[derive(Debug, Default)]
pub struct Acceptance {
    /// Every object (and listener/parent/ancestor) checked, `Kind ns/name`.
    pub checked: Vec<String>,
    /// Objects of the stack Envoy Gateway does not read (KEDA, cert-manager, ...).
    pub not_translated: Vec<String>,
    /// Objects supplied from outside the stack, with why.
    pub supplied: Vec<String>,
    pub failures: Vec<Failure>,
}

impl Acceptance {
    pub fn accepted(&self) -> bool {
        self.failures.is_empty()
    }

    /// Every failure on its own line.
    pub fn failures_text(&self) -> String {
        self.failures
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Run the stack in `stack_dir` (the `traffic/` folder) through `egctl x translate` and check
/// every status. An `Err` means the check could not run or egctl refused the input; a stack the
/// translator does not fully accept is `Ok` with failures.
pub fn translate_stack(egctl: &Path, stack_dir: &Path) -> Result<Acceptance, AcceptError> {
    let objects = outside::read_stack(stack_dir)?;
    let extra = outside::outside_objects(&objects, stack_dir, ServiceAddress::Dummy)?;
    let input = translator_input(&objects, &extra);
    let tmp = tempfile::Builder::new()
        .prefix("egctl-input-")
        .suffix(".yaml")
        .tempfile()
        .map_err(AcceptError::Input)?;
    std::fs::write(tmp.path(), input).map_err(AcceptError::Input)?;
    let out = Command::new(egctl)
        .args(["x", "translate", "--from", "gateway-api"])
        .args(["--to", "gateway-api,xds", "--output", "json", "-f"])
        .arg(tmp.path())
        .output()
        .map_err(|source| AcceptError::Spawn {
            path: egctl.to_path_buf(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        return Err(AcceptError::Translate {
            status: out.status.to_string(),
            stderr,
        });
    }
    let result: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| AcceptError::Output(format!("{e}")))?;
    let mut acc = check_output(&objects, &result)?;
    if !stderr.is_empty() {
        acc.failures.push(Failure {
            object: "egctl".into(),
            scope: String::new(),
            condition: "stderr".into(),
            status: "not empty".into(),
            reason: "TranslatorOutput".into(),
            message: stderr,
        });
    }
    acc.supplied = extra.supplied;
    acc.not_translated = objects
        .iter()
        .filter(|o| !o.translated())
        .map(|o| format!("{} ({})", o.display(), o.file))
        .collect();
    Ok(acc)
}

/// The multi-document YAML Envoy Gateway's loader reads: the objects it knows, each as JSON
/// (a YAML subset), then the supplied ones.
pub fn translator_input(objects: &[StackObject], extra: &Outside) -> String {
    let mut s = String::new();
    for v in objects
        .iter()
        .filter(|o| o.translated())
        .map(|o| &o.value)
        .chain(extra.objects.iter())
    {
        s.push_str("---\n");
        s.push_str(&v.to_string());
        s.push('\n');
    }
    s
}

const POLICY_KEYS: &[(&str, &str)] = &[
    ("backendTrafficPolicies", "BackendTrafficPolicy"),
    ("clientTrafficPolicies", "ClientTrafficPolicy"),
    ("securityPolicies", "SecurityPolicy"),
    ("envoyExtensionPolicies", "EnvoyExtensionPolicy"),
    ("backendTLSPolicies", "BackendTLSPolicy"),
    ("envoyPatchPolicies", "EnvoyPatchPolicy"),
];
const ROUTE_KEYS: &[(&str, &str)] = &[
    ("httpRoutes", "HTTPRoute"),
    ("grpcRoutes", "GRPCRoute"),
    ("tlsRoutes", "TLSRoute"),
    ("tcpRoutes", "TCPRoute"),
    ("udpRoutes", "UDPRoute"),
];

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

struct Checker {
    acc: Acceptance,
}

impl Checker {
    fn fail(&mut self, object: &str, scope: &str, condition: &str, c: Option<&Value>) {
        let (status, reason, message) = match c {
            Some(c) => (
                s(&c["status"]).to_string(),
                s(&c["reason"]).to_string(),
                s(&c["message"]).to_string(),
            ),
            None => (
                "missing".to_string(),
                "-".to_string(),
                "the translator wrote no such condition".to_string(),
            ),
        };
        self.acc.failures.push(Failure {
            object: object.to_string(),
            scope: scope.to_string(),
            condition: condition.to_string(),
            status,
            reason,
            message,
        });
    }

    /// `must`: conditions that must be True; `must_not`: conditions that must not be True.
    fn conditions(
        &mut self,
        object: &str,
        scope: &str,
        conds: &Value,
        must: &[&str],
        must_not: &[&str],
    ) {
        let list: Vec<&Value> = conds.as_array().into_iter().flatten().collect();
        for want in must {
            match list.iter().find(|c| s(&c["type"]) == *want) {
                Some(c) if s(&c["status"]) == "True" => {}
                other => self.fail(object, scope, want, other.copied()),
            }
        }
        for bad in must_not {
            if let Some(c) = list
                .iter()
                .find(|c| s(&c["type"]) == *bad && s(&c["status"]) == "True")
            {
                self.fail(object, scope, bad, Some(c));
            }
        }
        let label = if scope.is_empty() {
            object.to_string()
        } else {
            format!("{object} ({scope})")
        };
        self.acc.checked.push(label);
    }
}

fn find<'a>(result: &'a Value, key: &str, ns: &str, name: &str) -> Option<&'a Value> {
    result[key].as_array().into_iter().flatten().find(|o| {
        s(&o["metadata"]["name"]) == name && (ns.is_empty() || s(&o["metadata"]["namespace"]) == ns)
    })
}

fn ref_text(r: &Value, default_ns: &str) -> String {
    let kind = r["kind"].as_str().unwrap_or("Gateway");
    let ns = r["namespace"].as_str().unwrap_or(default_ns);
    let mut t = outside::display(kind, ns, s(&r["name"]));
    if let Some(sec) = r["sectionName"].as_str() {
        t.push_str(&format!(" section {sec}"));
    }
    if let Some(p) = r["port"].as_u64() {
        t.push_str(&format!(" port {p}"));
    }
    t
}

/// Check the translator's `gateway-api` output against the stack's objects.
pub fn check_output(objects: &[StackObject], result: &Value) -> Result<Acceptance, AcceptError> {
    if !result.is_object() {
        return Err(AcceptError::Output("not a JSON object".into()));
    }
    let mut c = Checker {
        acc: Acceptance::default(),
    };
    let gc = &result["gatewayClass"];
    if gc.is_object() {
        let name = format!("GatewayClass {}", s(&gc["metadata"]["name"]));
        c.conditions(&name, "", &gc["status"]["conditions"], &["Accepted"], &[]);
    } else {
        return Err(AcceptError::Output("no gatewayClass in the output".into()));
    }

    for o in objects.iter().filter(|o| o.translated()) {
        let (kind, ns, name) = (o.kind(), o.namespace(), o.name());
        let object = o.display();
        if kind == "Gateway" {
            let Some(out) = find(result, "gateways", ns, name) else {
                c.fail(&object, "", "status", None);
                continue;
            };
            let conds: Vec<Value> = out["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for cond in conds.iter().filter(|x| s(&x["status"]) != "True") {
                let t = s(&cond["type"]).to_string();
                c.fail(&object, "", &t, Some(cond));
            }
            for l in o.value["spec"]["listeners"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let lname = s(&l["name"]);
                let scope = format!("listener {lname}");
                let st = out["status"]["listeners"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|x| s(&x["name"]) == lname)
                    .cloned();
                match st {
                    Some(st) => c.conditions(
                        &object,
                        &scope,
                        &st["conditions"],
                        &["Accepted", "Programmed", "ResolvedRefs"],
                        &["Conflicted", "OverlappingTLSConfig"],
                    ),
                    None => c.fail(&object, &scope, "status", None),
                }
            }
        } else if let Some((key, _)) = ROUTE_KEYS.iter().find(|(_, k)| *k == kind) {
            let Some(out) = find(result, key, ns, name) else {
                c.fail(&object, "", "status", None);
                continue;
            };
            let out = out.clone();
            let parents: Vec<&Value> = out["status"]["parents"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            for pr in o.value["spec"]["parentRefs"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let scope = format!("parent {}", ref_text(pr, ns));
                let same = |a: &Value| {
                    s(&a["name"]) == s(&pr["name"])
                        && a["namespace"].as_str().unwrap_or(ns)
                            == pr["namespace"].as_str().unwrap_or(ns)
                        && a["sectionName"] == pr["sectionName"]
                        && a["port"] == pr["port"]
                };
                match parents.iter().find(|p| same(&p["parentRef"])) {
                    Some(p) => c.conditions(
                        &object,
                        &scope,
                        &p["conditions"],
                        &["Accepted", "ResolvedRefs"],
                        &["PartiallyInvalid"],
                    ),
                    None => c.fail(&object, &scope, "status", None),
                }
            }
        } else if let Some((key, _)) = POLICY_KEYS.iter().find(|(_, k)| *k == kind) {
            let Some(out) = find(result, key, ns, name) else {
                c.fail(&object, "", "status", None);
                continue;
            };
            let ancestors: Vec<Value> = out["status"]["ancestors"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if ancestors.is_empty() {
                c.acc.failures.push(Failure {
                    object: object.clone(),
                    scope: String::new(),
                    condition: "Accepted".into(),
                    status: "missing".into(),
                    reason: "NoAncestor".into(),
                    message: "the translator attached the policy to nothing (no status.ancestors): its target does not exist or is not translated".into(),
                });
                continue;
            }
            for a in &ancestors {
                let scope = format!("ancestor {}", ref_text(&a["ancestorRef"], ns));
                c.conditions(&object, &scope, &a["conditions"], &["Accepted"], &[]);
            }
        }
    }
    Ok(c.acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> StackObject {
        StackObject {
            file: "f.yaml".into(),
            value: v,
        }
    }

    #[test]
    fn every_missing_or_false_condition_is_a_failure_naming_object_and_condition() {
        let gw = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "g", "namespace": "n"},
            "spec": {"listeners": [{"name": "http"}, {"name": "https"}]}});
        let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "r", "namespace": "n"},
            "spec": {"parentRefs": [{"name": "g", "sectionName": "http"}]}});
        let btp = json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy",
            "metadata": {"name": "p", "namespace": "n"}, "spec": {}});
        let t = |ty: &str| json!({"type": ty, "status": "True", "reason": ty, "message": "ok"});
        let mut out = json!({
            "gatewayClass": {"metadata": {"name": "eg"}, "status": {"conditions": [t("Accepted")]}},
            "gateways": [{"metadata": {"name": "g", "namespace": "n"}, "status": {"listeners": [
                {"name": "http", "conditions": [t("Accepted"), t("Programmed"), t("ResolvedRefs")]},
                {"name": "https", "conditions": [t("Accepted"),
                    {"type": "Programmed", "status": "False", "reason": "Invalid", "message": "no certificate"},
                    {"type": "ResolvedRefs", "status": "False", "reason": "InvalidCertificateRef", "message": "secret n/s does not exist"}]}]}}],
            "httpRoutes": [{"metadata": {"name": "r", "namespace": "n"}, "status": {"parents": [
                {"parentRef": {"name": "g", "sectionName": "http"}, "conditions": [t("Accepted"), t("ResolvedRefs")]}]}}],
            "backendTrafficPolicies": [{"metadata": {"name": "p", "namespace": "n"}, "status": {}}],
        });
        let objects = [obj(gw), obj(route), obj(btp)];
        let a = check_output(&objects, &out).unwrap();
        let text = a.failures_text();
        assert_eq!(a.failures.len(), 3, "{text}");
        assert!(
            text.contains(
                "Gateway n/g (listener https): Programmed=False reason Invalid: no certificate"
            ),
            "{text}"
        );
        assert!(text.contains("Gateway n/g (listener https): ResolvedRefs=False reason InvalidCertificateRef: secret n/s does not exist"), "{text}");
        assert!(
            text.contains("BackendTrafficPolicy n/p: Accepted=missing reason NoAncestor"),
            "{text}"
        );
        // a route whose parent has no status at all
        out["httpRoutes"][0]["status"] = json!({});
        let a = check_output(&objects, &out).unwrap();
        assert!(
            a.failures.iter().any(|f| f.object == "HTTPRoute n/r"
                && f.scope == "parent Gateway n/g section http"
                && f.status == "missing"),
            "{}",
            a.failures_text()
        );
        // output without a gatewayClass: the check could not run
        assert!(check_output(&objects, &json!({})).is_err());
    }
}
