//! Generators: typed parameters -> validated intent -> rendered manifests, as a [`Plan`].
//!
//! Everything here is pure: a generator reads a [`Snapshot`] of the stack (taken by the
//! workspace layer under its lock) and returns the files to write. It never touches the disk.

pub mod gateway;
pub mod params;
pub mod policy;
pub mod scaling;
pub mod tls;

use serde::Serialize;
use serde_json::Value;

use crate::names::InputError;

/// A manifest already in the stack.
#[derive(Debug, Clone)]
pub struct StackManifest {
    /// File name inside the stack folder, e.g. `httproute-task-api.yaml`.
    pub file: String,
    pub value: Value,
}

impl StackManifest {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }
    pub fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"].as_str().unwrap_or("")
    }
}

/// What the stack holds when a call starts.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub manifests: Vec<StackManifest>,
    /// Files that could not be read as one Kubernetes object, with the reason.
    pub broken: Vec<(String, String)>,
    /// Names of the other files present (key and certificate files).
    pub other_files: Vec<String>,
}

impl Snapshot {
    pub fn find(&self, kind: &str, namespace: &str, name: &str) -> Option<&StackManifest> {
        self.manifests
            .iter()
            .find(|m| m.kind() == kind && m.name() == name && m.namespace() == namespace)
    }
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a StackManifest> + 'a {
        self.manifests.iter().filter(move |m| m.kind() == kind)
    }
    /// Refuse to overwrite a file that exists but does not parse: the user must fix it first.
    pub fn check_not_broken(&self, file: &str) -> Result<(), GenerateError> {
        match self.broken.iter().find(|(f, _)| f == file) {
            Some((f, why)) => Err(GenerateError::Conflict(format!(
                "{f} exists but cannot be read ({why}); fix or delete it, then call again"
            ))),
            None => Ok(()),
        }
    }
}

/// A file the plan writes.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// File name inside the stack folder.
    pub file: String,
    pub contents: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// Key material: written 0600, never echoed, never served as a resource.
    pub private: bool,
}

/// A kustomize secretGenerator entry for a local TLS certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsSecretGenerator {
    pub name: String,
    pub namespace: String,
    pub cert_file: String,
    pub key_file: String,
}

/// What a generator wants done.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub files: Vec<PlannedFile>,
    pub secret_generators: Vec<TlsSecretGenerator>,
    /// Things the user should know (warnings, caveats), one sentence each.
    pub notes: Vec<String>,
    /// The next sensible call.
    pub next_step: String,
    pub summary: String,
}

/// Why a generator refused.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Input(#[from] InputError),
    /// The stack holds something that contradicts the request.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error("internal: {0}")]
    Internal(String),
}

/// File name for an object: `<kind>-<name>.yaml`, lower case. Names are DNS-1123 labels, so
/// the result is always a plain file name.
pub fn file_name(kind: &str, name: &str) -> String {
    format!("{}-{}.yaml", kind.to_ascii_lowercase(), name)
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

pub(crate) fn namespace_file(namespace: &str) -> Result<Option<PlannedFile>, GenerateError> {
    if namespace == "default" {
        return Ok(None);
    }
    rendered(
        "namespace.yaml.j2",
        &serde_json::json!({ "name": namespace }),
        "Namespace",
        namespace,
        "",
    )
    .map(Some)
}
