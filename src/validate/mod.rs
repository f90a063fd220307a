//! The validation engine: YAML, schema, CEL, references and semantics, as findings.
//!
//! One engine, three faces: the `validate` tool, the `validate` CLI and this library API.

pub mod builtin;
pub mod finding;
pub mod refs;
pub mod sarif;
pub mod semantics;

use serde::Serialize;

pub use finding::{Finding, ResourceRef, Severity};

use crate::workspace::{KUSTOMIZATION, Stack, WorkspaceError};

/// A named YAML text to check (a file, or manifests given inline).
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Counts over a report.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub documents: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

/// What validate found.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

impl Report {
    fn finish(mut self) -> Self {
        self.findings.sort_by(|a, b| {
            (a.file.as_deref(), a.line, b.severity).cmp(&(b.file.as_deref(), b.line, a.severity))
        });
        self.summary.errors = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        self.summary.warnings = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count();
        self.summary.infos = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Info)
            .count();
        self
    }

    /// Compact text: one line per finding, `file:line:col: severity rule: message (hint)`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let loc = match (&f.file, f.line, f.column) {
                (Some(file), Some(l), Some(c)) => format!("{file}:{l}:{c}: "),
                (Some(file), Some(l), None) => format!("{file}:{l}: "),
                (Some(file), None, _) => format!("{file}: "),
                _ => String::new(),
            };
            let res = f
                .resource
                .as_ref()
                .map(|r| format!(" [{r}]"))
                .unwrap_or_default();
            let path = if f.path.is_empty() {
                String::new()
            } else {
                format!(" at {}", f.path)
            };
            out.push_str(&format!(
                "{loc}{} {}{res}{path}: {}\n",
                f.severity, f.rule, f.message
            ));
            if !f.hint.is_empty() {
                out.push_str(&format!("    fix: {}\n", f.hint));
            }
        }
        out.push_str(&format!(
            "{} document(s): {} error(s), {} warning(s), {} info\n",
            self.summary.documents, self.summary.errors, self.summary.warnings, self.summary.infos
        ));
        out
    }
}

/// The engine. Build once (CRDs are loaded here), use from many threads.
#[derive(Default)]
pub struct Validator {}

impl Validator {
    pub fn new() -> Self {
        Validator {}
    }

    /// Check YAML texts.
    pub fn validate_sources(&self, sources: &[Source]) -> Report {
        let mut report = Report::default();
        for src in sources {
            let docs = match crate::yaml::parse_documents(&src.text) {
                Ok(d) => d,
                Err(e) => {
                    let mut f =
                        Finding::error(e.rule, "", e.message.clone(), "fix the YAML at this line");
                    f.file = Some(src.name.clone());
                    f.line = Some(e.line);
                    f.column = Some(e.column);
                    report.findings.push(f);
                    continue;
                }
            };
            for doc in docs {
                report.summary.documents += 1;
                let mut found = Vec::new();
                let v = &doc.value;
                if !v.is_object() {
                    found.push(Finding::error(
                        "yaml/not-an-object",
                        "",
                        "the document is not a mapping",
                        "each document must be one Kubernetes object",
                    ));
                } else {
                    for key in ["apiVersion", "kind"] {
                        if !v[key].is_string() {
                            found.push(Finding::error(
                                "yaml/missing-type",
                                format!("/{key}"),
                                format!("{key} is missing or not a string"),
                                "every object needs apiVersion and kind",
                            ));
                        }
                    }
                }
                let resource = v.is_object().then(|| ResourceRef {
                    api_version: v["apiVersion"].as_str().unwrap_or("").into(),
                    kind: v["kind"].as_str().unwrap_or("").into(),
                    namespace: v["metadata"]["namespace"].as_str().unwrap_or("").into(),
                    name: v["metadata"]["name"].as_str().unwrap_or("").into(),
                });
                for mut f in found {
                    let (l, c) = doc.position(&f.path);
                    f.file = Some(src.name.clone());
                    f.line = Some(l);
                    f.column = Some(c);
                    f.resource = resource.clone();
                    report.findings.push(f);
                }
            }
        }
        let mut skipped = Finding::info(
            "crds/skipped",
            "",
            "schema and CEL checks were skipped: no CRDs are loaded",
            "pass --crds PATH, set TRAFFIC_ENGINEER_CRDS, or run `traffic-engineer crds fetch`",
        );
        skipped.file = None;
        report.findings.push(skipped);
        report.finish()
    }

    /// Check every manifest of the stack (kustomization.yaml excluded).
    pub fn validate_stack(&self, stack: &Stack) -> Result<Report, WorkspaceError> {
        let mut sources = Vec::new();
        for f in stack.manifest_files()? {
            if f == KUSTOMIZATION {
                continue;
            }
            sources.push(Source {
                name: Stack::display_path(&f),
                text: stack.read_manifest(&f)?,
            });
        }
        Ok(self.validate_sources(&sources))
    }
}
