//! What the stack holds when a call starts ([`Snapshot`]) and what a call wants written
//! ([`Plan`]). Generators read the one and return the other; only the workspace touches disk.

use serde::Serialize;
use serde_json::Value;

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

/// A file of the stack that could not be read as one Kubernetes object, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenFile {
    pub file: String,
    pub reason: String,
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
    /// A file that exists but does not parse: the user must fix it before it is overwritten.
    pub fn broken_file(&self, file: &str) -> Option<BrokenFile> {
        self.broken
            .iter()
            .find(|(f, _)| f == file)
            .map(|(f, why)| BrokenFile {
                file: f.clone(),
                reason: why.clone(),
            })
    }
    /// The snapshot after a plan is written (what the workspace does on disk), for callers
    /// that chain several plans before anything is written.
    pub fn absorb(&mut self, plan: &Plan) {
        for f in &plan.files {
            if f.private {
                if !self.other_files.contains(&f.file) {
                    self.other_files.push(f.file.clone());
                }
                continue;
            }
            if let Ok(mut docs) = crate::yaml::parse_documents(&f.contents)
                && docs.len() == 1
            {
                self.manifests.retain(|m| m.file != f.file);
                self.manifests.push(StackManifest {
                    file: f.file.clone(),
                    value: docs.remove(0).value,
                });
            }
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
    /// The defaults this call applied, one `field: value (why)` each.
    pub defaults: Vec<String>,
    /// The next sensible call.
    pub next_step: String,
    pub summary: String,
}
