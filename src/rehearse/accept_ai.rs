//! Translator acceptance for stacks with Envoy AI Gateway objects: the stack goes through the
//! AI Gateway's own translation first (`aigw-translate`: `cmd/aigw/translate.go` of
//! envoyproxy/ai-gateway v1.1.0, the code `aigw run` uses; see scripts/upstream.sh), which
//! runs the AI Gateway controller's reconcilers on a fake client and writes out what they
//! would create (the HTTPRoute of each AIGatewayRoute, its HTTPRouteFilters, the filter
//! configuration Secret) with every other object as it was; then that output goes through
//! Envoy Gateway's translator exactly as [`super::accept::translate_stack`] does, and every
//! Gateway listener, route (the generated ones included) and policy must be accepted.
//!
//! Between the two, what the fake client leaves in the output and an API server would not
//! store is removed: `status` (written on create) and `ownerReferences` without a uid.
//!
//! Supplied from outside the stack (listed in `supplied`): what `outside_objects` supplies for
//! Envoy Gateway, and one Secret per provider key Secret the stack names, holding the
//! placeholder text `stand-in` under `apiKey` (the stack never holds a key, and the translation
//! reads the Secret).

use std::path::Path;
use std::process::Command;

use serde_json::json;

use super::accept::{self, AcceptError, Acceptance, Failure};
use super::outside::{self, ServiceAddress, StackObject};

const AI_GROUP: &str = "aigateway.envoyproxy.io";

/// Run `aigw-translate` then `egctl x translate` over the stack in `stack_dir`.
pub fn translate_llm_stack(
    aigw_translate: &Path,
    egctl: &Path,
    stack_dir: &Path,
) -> Result<Acceptance, AcceptError> {
    let objects = outside::read_stack(stack_dir)?;
    // (an AIGatewayRoute's backendRefs name AIServiceBackends, not Services)
    let eg_objects: Vec<StackObject> = objects
        .iter()
        .filter(|o| o.group() != AI_GROUP)
        .cloned()
        .collect();
    let mut extra = outside::outside_objects(&eg_objects, stack_dir, ServiceAddress::Dummy)?;
    // the key Secrets the BackendSecurityPolicies name
    let has = |ns: &str, name: &str| {
        objects
            .iter()
            .any(|o| o.kind() == "Secret" && o.namespace() == ns && o.name() == name)
    };
    let mut keys: Vec<(String, String)> = Vec::new();
    for p in objects
        .iter()
        .filter(|o| o.group() == AI_GROUP && o.kind() == "BackendSecurityPolicy")
    {
        for field in ["apiKey", "azureAPIKey", "anthropicAPIKey"] {
            if let Some(n) = p.value["spec"][field]["secretRef"]["name"].as_str() {
                let k = (p.namespace().to_string(), n.to_string());
                if !has(&k.0, &k.1) && !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
    }
    for (ns, name) in &keys {
        extra.objects.push(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "type": "Opaque",
            "stringData": {"apiKey": "stand-in"},
        }));
        extra.supplied.push(format!(
            "Secret {ns}/{name} (apiKey: the placeholder \"stand-in\"): the provider key Secret, created by you"
        ));
    }
    // 1. the AI Gateway's translation
    let mut input = String::new();
    for v in objects
        .iter()
        .filter(|o| o.translated() || o.group() == AI_GROUP)
        .map(|o| &o.value)
        .chain(extra.objects.iter())
    {
        input.push_str("---\n");
        input.push_str(&v.to_string());
        input.push('\n');
    }
    let tmp = tempfile::Builder::new()
        .prefix("aigw-input-")
        .suffix(".yaml")
        .tempfile()
        .map_err(AcceptError::Input)?;
    std::fs::write(tmp.path(), &input).map_err(AcceptError::Input)?;
    let out = Command::new(aigw_translate)
        .arg(tmp.path())
        .output()
        .map_err(|source| AcceptError::Spawn {
            path: aigw_translate.to_path_buf(),
            source,
        })?;
    if !out.status.success() {
        return Err(AcceptError::Translate {
            status: format!("aigw-translate {}", out.status),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let docs = crate::yaml::parse_documents(&text)
        .map_err(|e| AcceptError::Output(format!("aigw-translate output: {e}")))?;
    let translated: Vec<StackObject> = docs
        .into_iter()
        .filter(|d| d.value.is_object())
        .map(|d| {
            // what the fake client leaves and an API server would not store: an empty
            // `status` written on create, ownerReferences without a uid (the API server
            // assigns uids; Envoy Gateway reads neither)
            let mut value = d.value;
            if let Some(o) = value.as_object_mut() {
                o.remove("status");
            }
            if let Some(m) = value["metadata"].as_object_mut() {
                m.remove("ownerReferences");
            }
            StackObject {
                file: "aigw-translate output".into(),
                value,
            }
        })
        .collect();
    // 2. Envoy Gateway's translation of what the AI Gateway wrote
    let dir = tempfile::tempdir().map_err(AcceptError::Input)?;
    for (i, o) in translated.iter().enumerate() {
        std::fs::write(
            dir.path().join(format!(
                "{i:03}-{}-{}.yaml",
                o.kind().to_ascii_lowercase(),
                o.name()
            )),
            o.value.to_string(),
        )
        .map_err(AcceptError::Input)?;
    }
    let mut acc = accept::translate_stack(egctl, dir.path())?;
    // every AIGatewayRoute must have become an HTTPRoute of its name
    for r in objects
        .iter()
        .filter(|o| o.group() == AI_GROUP && o.kind() == "AIGatewayRoute")
    {
        let found = translated.iter().any(|t| {
            t.kind() == "HTTPRoute" && t.name() == r.name() && t.namespace() == r.namespace()
        });
        if !found {
            acc.failures.push(Failure {
                object: r.display(),
                scope: String::new(),
                condition: "HTTPRoute".into(),
                status: "missing".into(),
                reason: "NotTranslated".into(),
                message: "aigw-translate wrote no HTTPRoute of this name".into(),
            });
        }
    }
    acc.supplied.extend(extra.supplied);
    acc.supplied.sort();
    acc.supplied.dedup();
    acc.not_translated = objects
        .iter()
        .filter(|o| !o.translated() && o.group() != AI_GROUP)
        .map(|o| format!("{} ({})", o.display(), o.file))
        .collect();
    Ok(acc)
}
