//! Generators: intent sections -> rendered manifests, as a [`Plan`].
//!
//! Each tool's entry point (`generate`, `add_rate_limit`, ...) resolves its arguments into an
//! intent section against the stack ([`crate::intent::resolve`]) and hands it to the section's
//! `build`; `generate_from_spec` calls the same `build` functions with the sections of the
//! spec's intent. Everything here is pure: it reads a [`Snapshot`] (taken by the workspace
//! layer under its lock) and returns the files to write. It never touches the disk.

pub mod gateway;
pub mod llm;
pub mod params;
pub mod policy;
pub mod scaling;
pub mod tls;

use serde::Serialize;
use serde_json::Value;

use crate::intent::InputErrors;
use crate::workspace::WorkspaceError;
pub use crate::workspace::{
    BrokenFile, Plan, PlannedFile, Snapshot, StackManifest, TlsSecretGenerator,
};

/// Why a generator refused. Nothing is written when a call ends in one of these.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Arguments (or spec fields) that cannot be honoured: all of them, with the accepted form.
    #[error("{0}")]
    Invalid(#[from] InputErrors),
    /// Several policies of one kind already target the same object.
    #[error("{0}")]
    PolicyConflict(Box<PolicyConflict>),
    /// The name a new object would take belongs to another object of the stack.
    #[error("{kind} {name} already exists in {file} for another target; choose another {field}")]
    NameTaken {
        kind: String,
        name: String,
        file: String,
        field: &'static str,
    },
    /// A file the call would rewrite does not parse.
    #[error("{} exists but cannot be read ({}); fix or delete it, then call again", .0.file, .0.reason)]
    Broken(BrokenFile),
    /// An object in the stack that traffic-engineer did not create would be overwritten.
    #[error(
        "{kind} {name} in {file} was not created by traffic-engineer (it has no app.kubernetes.io/managed-by: traffic-engineer label); refusing to overwrite it. Use it with issuer_name, or choose another name"
    )]
    NotOurs {
        kind: String,
        name: String,
        file: String,
    },
    /// KEDA allows one ScaledObject per workload.
    #[error(
        "ScaledObject {other} ({file}) already scales Deployment {deployment}; KEDA allows one per workload. Call again with name: {other} to update it"
    )]
    OneScalerPerWorkload {
        other: String,
        file: String,
        deployment: String,
    },
    /// Two sources would write the same TLS Secret.
    #[error("{existing} already writes Secret {secret}; both would write it. {fix}")]
    SecretWrittenTwice {
        secret: String,
        existing: String,
        fix: String,
    },
    /// The target's SecurityPolicy authenticates clients; dropping that is not a partial update.
    #[error(
        "SecurityPolicy {policy} ({file}) makes clients of {target} authenticate; anonymous: {wanted} would leave it in force. Delete {file} first (or keep anonymous: jwt/api_key)"
    )]
    AuthenticationInForce {
        policy: String,
        file: String,
        target: String,
        wanted: &'static str,
    },
    /// Request-rate scaling on one backend that no rule serves alone.
    #[error(
        "HTTPRoute {route}: no rule is served by Service {backend} alone (Envoy Gateway makes one cluster per rule, so traffic of a rule split between backends cannot be attributed to one). Use scope: route, or give {backend} a rule of its own"
    )]
    Unattributable { route: String, backend: String },
    /// Backend-scoped scaling needs the route's rules, which live in the stack.
    #[error(
        "scope: backend needs HTTPRoute {route} in the stack to find the rules {backend} serves; it is not there"
    )]
    RouteNeeded { route: String, backend: String },
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error(transparent)]
    Workspace(Box<WorkspaceError>),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<WorkspaceError> for GenerateError {
    fn from(e: WorkspaceError) -> Self {
        GenerateError::Workspace(Box::new(e))
    }
}

/// Several policies of one kind target the same object: Envoy Gateway applies the oldest only.
#[derive(Debug, thiserror::Error)]
#[error("{} {policy_kind}s already target {kind} {namespace}/{target}: {}. Envoy Gateway applies only the oldest; merge them into one (or delete the extra files) and call again", policies.len(), policies.join(", "))]
pub struct PolicyConflict {
    pub policy_kind: &'static str,
    pub kind: String,
    pub namespace: String,
    pub target: String,
    pub policies: Vec<String>,
}

/// File name for an object: `<kind>-<name>.yaml`, lower case. Names are DNS-1123 labels, so
/// the result is always a plain file name.
pub fn file_name(kind: &str, name: &str) -> String {
    format!("{}-{}.yaml", kind.to_ascii_lowercase(), name)
}

/// Refuse to overwrite a file that exists but does not parse.
pub(crate) fn check_not_broken(snap: &Snapshot, file: &str) -> Result<(), GenerateError> {
    match snap.broken_file(file) {
        Some(b) => Err(GenerateError::Broken(b)),
        None => Ok(()),
    }
}

/// Render a template and check that it yields exactly one object of the expected kind.
pub(crate) fn rendered(
    template: &str,
    ctx: &impl Serialize,
    kind: &str,
    name: &str,
    namespace: &str,
) -> Result<PlannedFile, GenerateError> {
    let text = crate::render::render(template, ctx)?;
    let docs = crate::yaml::parse_documents(&text)
        .map_err(|e| GenerateError::Internal(format!("{template} rendered invalid YAML: {e}")))?;
    let ok = docs.len() == 1
        && docs[0].value["kind"] == kind
        && docs[0].value["metadata"]["name"] == name;
    if !ok {
        return Err(GenerateError::Internal(format!(
            "{template} did not render one {kind} named {name}"
        )));
    }
    Ok(PlannedFile {
        file: file_name(kind, name),
        contents: text,
        kind: kind.into(),
        name: name.into(),
        namespace: namespace.into(),
        private: false,
    })
}

/// A planned file from a value (for merges into existing objects).
pub(crate) fn emitted(value: &Value) -> PlannedFile {
    let kind = value["kind"].as_str().unwrap_or("").to_string();
    let name = value["metadata"]["name"].as_str().unwrap_or("").to_string();
    PlannedFile {
        file: file_name(&kind, &name),
        contents: crate::render::emit(value),
        namespace: value["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        kind,
        name,
        private: false,
    }
}

/// The Namespace object when the intent asks the stack to create it; otherwise a note that the
/// namespace is assumed to exist.
pub(crate) fn namespace_file(
    ns: &crate::intent::NamespaceIntent,
    plan: &mut Plan,
) -> Result<(), GenerateError> {
    if !ns.create {
        plan.notes.push(format!(
            "namespace {} is assumed to exist (no Namespace object written; pass create_namespace: true to have the stack create it)",
            ns.name
        ));
        return Ok(());
    }
    if ns.name == "default" {
        return Ok(());
    }
    plan.files.push(rendered(
        "namespace.yaml.j2",
        &serde_json::json!({ "name": ns.name }),
        "Namespace",
        &ns.name,
        "",
    )?);
    Ok(())
}
