//! The validation engine: catch offline what the API server and Envoy Gateway would reject or
//! silently ignore, as findings with file, line and a fix.
//!
//! One engine, three faces: the `validate` tool, the `validate` CLI and this library API.
//! Layers, in order, for each document: YAML (syntax, duplicate keys, YAML 1.1 booleans),
//! schema (the CRD's openAPIV3Schema with the API server's defaulting; unknown fields are
//! errors) and CEL (`x-kubernetes-validations`), built-in kinds, Envoy Gateway / KEDA semantics;
//! then references across all documents.

pub mod builtin;
mod cel;
pub mod crds;
pub mod finding;
pub mod refs;
pub mod sarif;
mod schema;
pub mod semantics;

use std::path::PathBuf;

pub use crds::{CheckOutcome, Checked, CrdCatalog, CrdError, PrecompileReport};
pub use finding::{Finding, ResourceRef, Severity};

use serde::Serialize;

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
    /// With a spec: one row per success criterion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance: Vec<crate::spec::compliance::Row>,
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

    /// Compact text: the compliance table (with a spec), then one line per finding,
    /// `file:line:col: severity rule: message`, and its fix.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for row in &self.compliance {
            out.push_str(&row.to_text());
            out.push('\n');
        }
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

/// The engine. Build once (CRDs are loaded and compiled here), use from many threads.
#[derive(Default)]
pub struct Validator {
    catalog: Option<CrdCatalog>,
}

fn resource_of(v: &serde_json::Value) -> ResourceRef {
    ResourceRef {
        api_version: v["apiVersion"].as_str().unwrap_or("").into(),
        kind: v["kind"].as_str().unwrap_or("").into(),
        namespace: v["metadata"]["namespace"].as_str().unwrap_or("").into(),
        name: v["metadata"]["name"].as_str().unwrap_or("").into(),
    }
}

/// What the reference layer keeps of a document: its defaulted object and where it came from
/// (positions are recomputed from the source only for the few documents that get a finding).
struct Loaded {
    source: usize,
    doc_index: usize,
    defaulted: serde_json::Value,
}

impl Validator {
    /// An engine without CRDs: YAML, built-in kinds, semantics and references only; the schema
    /// and CEL layers are reported as skipped.
    pub fn new() -> Self {
        Validator { catalog: None }
    }

    pub fn with_catalog(catalog: CrdCatalog) -> Self {
        Validator {
            catalog: (!catalog.is_empty()).then_some(catalog),
        }
    }

    /// Load every CRD under `paths` (files or folders) and compile their schemas and rules.
    pub fn load(paths: &[PathBuf]) -> Result<Self, CrdError> {
        let mut catalog = CrdCatalog::new();
        for p in paths {
            catalog.load_path(p)?;
        }
        catalog.precompile();
        Ok(Self::with_catalog(catalog))
    }

    /// How many CRDs are loaded.
    pub fn crd_count(&self) -> usize {
        self.catalog.as_ref().map_or(0, CrdCatalog::len)
    }

    /// Check YAML texts.
    pub fn validate_sources(&self, sources: &[Source]) -> Report {
        self.validate_with(sources, &refs::RefContext::default())
    }

    /// Check YAML texts, with facts from outside them (secrets a generator will create).
    pub fn validate_with(&self, sources: &[Source], ctx: &refs::RefContext) -> Report {
        let mut report = Report::default();
        let mut loaded: Vec<Loaded> = Vec::new();
        let mut groups_without_crd: Vec<String> = Vec::new();
        for (si, src) in sources.iter().enumerate() {
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
            for mut doc in docs {
                report.summary.documents += 1;
                let value = std::mem::take(&mut doc.value);
                let v = &value;
                let mut found = Vec::new();
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
                            found.push(Finding::error("yaml/missing-type", format!("/{key}"), format!("{key} is missing or not a string"), "every object needs apiVersion and kind, e.g. apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute"));
                        }
                    }
                }
                let mut checked_default = None;
                if found.is_empty() {
                    if builtin::is_builtin(v) {
                        found.extend(builtin::check(v));
                    } else if let Some(cat) = &self.catalog {
                        let checked = cat.check(v);
                        if checked.outcome == CheckOutcome::NoCrdForGroup {
                            let api = v["apiVersion"].as_str().unwrap_or("").to_string();
                            let group = api.rsplit_once('/').map_or("core", |(g, _)| g).to_string();
                            if !groups_without_crd.contains(&group) {
                                groups_without_crd.push(group);
                            }
                        }
                        if checked.outcome == CheckOutcome::Validated {
                            checked_default = Some(checked.defaulted);
                        }
                        found.extend(checked.findings);
                    }
                    found.extend(semantics::check(checked_default.as_ref().unwrap_or(v)));
                }
                // YAML 1.1 booleans: `on` where a string was meant
                for (pointer, text) in &doc.yaml11_bools {
                    let mut matched = false;
                    for f in found
                        .iter_mut()
                        .filter(|f| &f.path == pointer && f.severity == Severity::Error)
                    {
                        f.rule = "yaml/yaml11-boolean".into();
                        f.message = format!(
                            "unquoted `{text}` is read as a boolean by Kubernetes (YAML 1.1), but a string is expected here"
                        );
                        f.hint = format!("quote it: \"{text}\"");
                        matched = true;
                    }
                    if !matched && self.catalog.is_none() {
                        found.push(Finding::warning(
                            "yaml/yaml11-boolean",
                            pointer.clone(),
                            format!(
                                "unquoted `{text}` is read as a boolean by Kubernetes (YAML 1.1)"
                            ),
                            format!("quote it (\"{text}\") if a string is meant"),
                        ));
                    }
                }
                let resource = v.is_object().then(|| resource_of(v));
                for mut f in found {
                    place(&mut f, &src.name, &doc, resource.as_ref());
                    report.findings.push(f);
                }
                let mut defaulted = checked_default.unwrap_or(value);
                // the reference layer reads which keys a Secret or ConfigMap has, never the values
                for key in ["data", "stringData", "binaryData"] {
                    if let Some(m) = defaulted
                        .get_mut(key)
                        .and_then(serde_json::Value::as_object_mut)
                    {
                        m.values_mut().for_each(|v| *v = serde_json::Value::Null);
                    }
                }
                loaded.push(Loaded {
                    source: si,
                    doc_index: doc.index,
                    defaulted,
                });
            }
        }
        let objs: Vec<&serde_json::Value> = loaded.iter().map(|l| &l.defaulted).collect();
        let mut reparsed: std::collections::HashMap<usize, Vec<crate::yaml::YamlDoc>> =
            std::collections::HashMap::new();
        for (i, mut f) in refs::check(&objs, ctx) {
            let l = &loaded[i];
            let resource = resource_of(&l.defaulted);
            let docs = reparsed.entry(l.source).or_insert_with(|| {
                crate::yaml::parse_documents(&sources[l.source].text).unwrap_or_default()
            });
            match docs.iter().find(|d| d.index == l.doc_index) {
                Some(doc) => place(&mut f, &sources[l.source].name, doc, Some(&resource)),
                None => {
                    f.file = Some(sources[l.source].name.clone());
                    f.resource = Some(resource);
                }
            }
            report.findings.push(f);
        }
        match &self.catalog {
            None => report.findings.push(Finding::info(
                "crds/skipped",
                "",
                "schema and CEL checks were skipped: no CRDs are loaded",
                "pass --crds PATH (a folder of CRD YAML), set TRAFFIC_ENGINEER_CRDS, or run `traffic-engineer crds fetch`",
            )),
            Some(_) => {
                for g in groups_without_crd {
                    report.findings.push(Finding::info(
                        "crds/no-crd-for-group",
                        "",
                        format!("no CRD of group {g} is loaded: its objects were not checked against a schema"),
                        "add that group's CRDs with --crds",
                    ));
                }
            }
        }
        report.finish()
    }

    /// Check every manifest of the stack (kustomization.yaml excluded; its secretGenerator
    /// entries count as Secrets that will exist).
    pub fn validate_stack(&self, stack: &Stack) -> Result<Report, WorkspaceError> {
        let (sources, ctx) = stack_sources(stack)?;
        Ok(self.validate_with(&sources, &ctx))
    }
}

/// The stack's manifests as sources, and the Secrets its kustomization will generate.
pub fn stack_sources(stack: &Stack) -> Result<(Vec<Source>, refs::RefContext), WorkspaceError> {
    let mut sources = Vec::new();
    let mut ctx = refs::RefContext::default();
    for f in stack.manifest_files()? {
        let text = stack.read_manifest(&f)?;
        if f == KUSTOMIZATION {
            if let Ok(docs) = crate::yaml::parse_documents(&text)
                && let Some(k) = docs.first()
            {
                for g in k.value["secretGenerator"].as_array().into_iter().flatten() {
                    let ns = g["namespace"].as_str().unwrap_or("default").to_string();
                    if let Some(n) = g["name"].as_str() {
                        ctx.generated_secrets.push((ns, n.to_string()));
                    }
                }
            }
            continue;
        }
        sources.push(Source {
            name: Stack::display_path(&f),
            text,
        });
    }
    Ok((sources, ctx))
}

/// Fill in file, line, column and resource of a finding from its JSON pointer.
fn place(f: &mut Finding, file: &str, doc: &crate::yaml::YamlDoc, resource: Option<&ResourceRef>) {
    let (l, c) = doc.position(&f.path);
    f.file = Some(file.to_string());
    f.line = Some(l);
    f.column = Some(c);
    if f.resource.is_none() {
        f.resource = resource.cloned();
    }
}
