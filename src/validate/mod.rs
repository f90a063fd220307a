//! The validation engine: catch offline what the API server and Envoy Gateway would reject or
//! silently ignore, as findings with file, line and a fix.
//!
//! One engine, three faces: the `validate` tool, the `validate` CLI and this library API.
//! Layers, in order, for each document: YAML (syntax, duplicate keys, YAML 1.1 booleans),
//! schema (the CRD's openAPIV3Schema with the API server's defaulting; unknown fields are
//! errors) and CEL (`x-kubernetes-validations`), built-in kinds, Envoy Gateway / KEDA semantics;
//! then references across all documents.
//!
//! A leaf: the engine takes sources (texts or files) and a CRD catalogue, nothing else; where
//! the CRDs come from, the stack on disk and the spec's compliance rows are its callers'.
//! Documents stream: each source is parsed, checked and dropped, keeping only its findings and
//! the few facts the reference layer needs ([`refs::project`]); sources are spread over the
//! cores, and findings come out in the same order whatever the number of threads.

pub mod ai_gateway;
pub mod builtin;
pub mod cache;
mod cel;
mod cel_ast;
pub mod crds;
pub mod finding;
mod meta;
pub mod openapi;
pub mod refs;
pub mod sarif;
mod schema;
pub mod semantics;
mod skim;
mod structural;

pub use cache::LoadCache;
pub use crds::{CheckOutcome, Checked, CrdCatalog, CrdError, PrecompileReport};
pub use finding::{Finding, ResourceRef, Severity};
pub use openapi::{BuiltinCatalog, OpenApiError};

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

/// A named YAML text to check (a file, or manifests given inline).
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Why [`Validator::load_sources`] failed: loading the CRDs, or indexing the OpenAPI documents.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Crds(#[from] CrdError),
    #[error(transparent)]
    OpenApi(#[from] OpenApiError),
}

/// A source file that could not be read: nothing was checked.
#[derive(Debug, thiserror::Error)]
#[error("reading {}: {source}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Counts over a report.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub documents: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    /// Checks that could not run (no CRDs, no built-in schemas): the report is then not a
    /// pass, whatever the error count. Empty (and left out) when everything was checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<String>,
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
        let count = |s: Severity| self.findings.iter().filter(|f| f.severity == s).count();
        self.summary.errors = count(Severity::Error);
        self.summary.warnings = count(Severity::Warning);
        self.summary.infos = count(Severity::Info);
        self
    }

    /// Compact text: one line per finding, `file:line:col: severity rule: message`, its fix,
    /// and the counts.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&finding_text(f));
        }
        out.push_str(&format!(
            "{} document(s): {} error(s), {} warning(s), {} info\n",
            self.summary.documents, self.summary.errors, self.summary.warnings, self.summary.infos
        ));
        for n in &self.summary.not_checked {
            out.push_str(&format!("NOT CHECKED: {n}\n"));
        }
        out
    }

    /// Whether every check could run.
    pub fn complete(&self) -> bool {
        self.summary.not_checked.is_empty()
    }
}

fn finding_text(f: &Finding) -> String {
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
    let mut out = format!("{loc}{} {}{res}{path}: {}\n", f.severity, f.rule, f.message);
    if !f.hint.is_empty() {
        out.push_str(&format!("    fix: {}\n", f.hint));
    }
    out
}

/// The engine. Build once (CRDs are indexed here; each kind's schema and rules are compiled
/// on first use), use from many threads.
#[derive(Default)]
pub struct Validator {
    catalog: Option<CrdCatalog>,
    /// The built-in kinds' schemas (Kubernetes' OpenAPI v3 documents).
    builtins: Option<BuiltinCatalog>,
}

fn resource_of(v: &serde_json::Value) -> ResourceRef {
    ResourceRef {
        api_version: v["apiVersion"].as_str().unwrap_or("").into(),
        kind: v["kind"].as_str().unwrap_or("").into(),
        namespace: v["metadata"]["namespace"].as_str().unwrap_or("").into(),
        name: v["metadata"]["name"].as_str().unwrap_or("").into(),
    }
}

/// Where the texts come from: given in memory, or files read when their turn comes (and read
/// again only to place a reference finding).
trait Texts: Sync {
    fn len(&self) -> usize;
    fn name(&self, i: usize) -> String;
    fn text(&self, i: usize) -> Result<Cow<'_, str>, ReadError>;
    /// Bytes in all, to decide whether threads are worth starting.
    fn total_bytes(&self) -> u64;
}

impl Texts for [Source] {
    fn len(&self) -> usize {
        <[Source]>::len(self)
    }
    fn name(&self, i: usize) -> String {
        self[i].name.clone()
    }
    fn text(&self, i: usize) -> Result<Cow<'_, str>, ReadError> {
        Ok(Cow::Borrowed(&self[i].text))
    }
    fn total_bytes(&self) -> u64 {
        self.iter().map(|s| s.text.len() as u64).sum()
    }
}

impl Texts for [PathBuf] {
    fn len(&self) -> usize {
        <[PathBuf]>::len(self)
    }
    fn name(&self, i: usize) -> String {
        self[i].display().to_string()
    }
    fn text(&self, i: usize) -> Result<Cow<'_, str>, ReadError> {
        std::fs::read_to_string(&self[i])
            .map(Cow::Owned)
            .map_err(|source| ReadError {
                path: self[i].clone(),
                source,
            })
    }
    fn total_bytes(&self) -> u64 {
        self.iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .sum()
    }
}

/// What one source leaves behind once it is checked.
#[derive(Default)]
struct SourceResult {
    findings: Vec<Finding>,
    documents: usize,
    /// API groups met without a CRD, in order of appearance
    groups_without_crd: Vec<String>,
    /// built-in apiVersion/kinds met that no schema checked (and why), in order of appearance
    builtins_not_checked: Vec<String>,
    /// the facts the reference layer reads, per document (one buffer per source)
    facts: refs::Facts,
    /// per fact: the index of its document in the stream
    fact_docs: Vec<usize>,
}

/// Below this many bytes of input, one thread does all the work (starting threads costs more).
const PARALLEL_MIN_BYTES: u64 = 256 * 1024;

impl Validator {
    /// An engine without CRDs: YAML, built-in kinds, semantics and references only; the schema
    /// and CEL layers are reported as skipped.
    pub fn new() -> Self {
        Validator::default()
    }

    pub fn with_catalog(catalog: CrdCatalog) -> Self {
        Validator {
            catalog: (!catalog.is_empty()).then_some(catalog),
            builtins: None,
        }
    }

    /// Check the built-in kinds against these OpenAPI documents (without them, built-in kinds
    /// are reported as not checked).
    pub fn with_builtins(mut self, builtins: BuiltinCatalog) -> Self {
        self.builtins = (!builtins.is_empty()).then_some(builtins);
        self
    }

    /// The built-in kinds' schemas, if any document is indexed.
    pub fn builtins(&self) -> Option<&BuiltinCatalog> {
        self.builtins.as_ref()
    }

    /// Index every CRD under `paths` (files or folders). Schemas and rules are compiled when a
    /// kind is first checked (see [`CrdCatalog::precompile`] to do it all now).
    pub fn load(paths: &[PathBuf]) -> Result<Self, CrdError> {
        Self::load_crds(paths, None)
    }

    fn load_crds(paths: &[PathBuf], cache: Option<LoadCache>) -> Result<Self, CrdError> {
        let mut catalog = CrdCatalog::new().with_cache(cache);
        for p in paths {
            catalog.load_path(p)?;
        }
        Ok(Self::with_catalog(catalog))
    }

    /// [`Validator::load`], then (when `openapi` names a folder) Kubernetes' OpenAPI documents
    /// indexed for the built-in kinds; what loading finds is kept in the load cache when one is
    /// given, and what it holds is used for files that did not change (see [`cache`]).
    pub fn load_sources(
        paths: &[PathBuf],
        openapi: Option<&Path>,
        cache: Option<LoadCache>,
    ) -> Result<Self, LoadError> {
        let v = Self::load_crds(paths, cache.clone())?;
        Ok(match openapi {
            None => v,
            Some(dir) => v.with_builtins(BuiltinCatalog::load_dir(dir)?.with_cache(cache)),
        })
    }

    /// How many CRDs are loaded.
    pub fn crd_count(&self) -> usize {
        self.catalog.as_ref().map_or(0, CrdCatalog::len)
    }

    /// The CRD catalogue, if any CRD is loaded.
    pub fn catalog(&self) -> Option<&CrdCatalog> {
        self.catalog.as_ref()
    }

    /// Check YAML texts.
    pub fn validate_sources(&self, sources: &[Source]) -> Report {
        self.validate_with(sources, &refs::RefContext::default())
    }

    /// Check YAML texts, with facts from outside them (secrets a generator will create).
    pub fn validate_with(&self, sources: &[Source], ctx: &refs::RefContext) -> Report {
        match self.run(sources, ctx) {
            Ok(r) => r,
            // texts in memory are always readable
            Err(e) => Report {
                findings: vec![Finding::error("source/unreadable", "", e.to_string(), "")],
                ..Report::default()
            }
            .finish(),
        }
    }

    /// Check YAML files, reading each when its turn comes and dropping it once checked.
    pub fn validate_files(
        &self,
        files: &[PathBuf],
        ctx: &refs::RefContext,
    ) -> Result<Report, ReadError> {
        self.run(files, ctx)
    }

    fn run<T: Texts + ?Sized>(
        &self,
        texts: &T,
        ctx: &refs::RefContext,
    ) -> Result<Report, ReadError> {
        let workers = workers(texts);
        let results = self.check_all(texts, workers)?;
        let mut report = Report::default();
        let mut groups_without_crd: Vec<String> = Vec::new();
        let mut builtins_not_checked: Vec<String> = Vec::new();
        // per source: the index of each fact's document, and the facts
        let mut facts: Vec<(Vec<usize>, refs::Facts)> = Vec::with_capacity(results.len());
        for r in results {
            report.findings.extend(r.findings);
            report.summary.documents += r.documents;
            for g in r.groups_without_crd {
                if !groups_without_crd.contains(&g) {
                    groups_without_crd.push(g);
                }
            }
            for k in r.builtins_not_checked {
                if !builtins_not_checked.contains(&k) {
                    builtins_not_checked.push(k);
                }
            }
            facts.push((r.fact_docs, r.facts));
        }
        report
            .findings
            .extend(reference_findings(texts, &facts, ctx, workers)?);
        report
            .findings
            .extend(self.coverage_findings(groups_without_crd));
        if self.catalog.is_none() {
            report
                .summary
                .not_checked
                .push("schema and CEL checks of custom resources: no CRDs are loaded".into());
        }
        if !builtins_not_checked.is_empty() {
            report.findings.push(builtin_not_checked(
                &builtins_not_checked,
                self.builtins.is_some(),
            ));
            report.summary.not_checked.push(format!(
                "schemas of built-in kinds: {}",
                builtins_not_checked.join(", ")
            ));
        }
        Ok(report.finish())
    }

    /// Check every source, on as many threads as there are cores for a large input; the results
    /// are in source order whatever the threads did.
    fn check_all<T: Texts + ?Sized>(
        &self,
        texts: &T,
        workers: usize,
    ) -> Result<Vec<SourceResult>, ReadError> {
        let warm = workers > 1 && texts.len() > 1;
        in_order(texts.len(), workers, |i| self.check_source(texts, i, warm))
            .into_iter()
            .collect()
    }

    /// Compile the schemas of `docs`' kinds that no other thread has begun, before checking
    /// them: the threads share out the kinds of the first files instead of queueing behind the
    /// one compiling each kind.
    fn warm(&self, docs: &[crate::yaml::YamlDoc]) {
        for doc in docs {
            let v = &doc.value;
            if !v.is_object() {
                continue;
            }
            if self.is_builtin_kind(v) {
                if let (Some(b), Some(api), Some(kind)) =
                    (&self.builtins, v["apiVersion"].as_str(), v["kind"].as_str())
                {
                    b.warm(api, kind);
                }
            } else if let Some(cat) = &self.catalog {
                cat.warm(v);
            }
        }
    }

    /// YAML, schema, CEL, built-ins and semantics of one source; its documents are dropped.
    fn check_source<T: Texts + ?Sized>(
        &self,
        texts: &T,
        si: usize,
        warm: bool,
    ) -> Result<SourceResult, ReadError> {
        let text = texts.text(si)?;
        let name = texts.name(si);
        let mut out = SourceResult::default();
        let docs = match crate::yaml::parse_documents(&text) {
            Ok(d) => d,
            Err(e) => {
                let mut f =
                    Finding::error(e.rule, "", e.message.clone(), "fix the YAML at this line");
                f.file = Some(name);
                f.line = Some(e.line);
                f.column = Some(e.column);
                out.findings.push(f);
                return Ok(out);
            }
        };
        if warm {
            self.warm(&docs);
        }
        for mut doc in docs {
            out.documents += 1;
            let value = std::mem::take(&mut doc.value);
            let resource = value.is_object().then(|| resource_of(&value));
            let (found, defaulted) = self.check_document(value, &doc, &mut out);
            for mut f in found {
                place(&mut f, &name, &doc, resource.as_ref());
                out.findings.push(f);
            }
            if ai_gateway::reads(&defaulted) {
                let mut json = refs::project(&defaulted).to_json();
                ai_gateway::project_into(&defaulted, &mut json);
                out.facts.push_json(&json);
            } else {
                out.facts.push_projected(&defaulted);
            }
            out.fact_docs.push(doc.index);
            // an AIGatewayRoute also stands for the HTTPRoute its controller writes
            if let Some(generated) = ai_gateway::generated_route(&defaulted) {
                out.facts.push_json(&generated);
                out.fact_docs.push(doc.index);
            }
        }
        // what stays until every source is checked: no spare room
        out.facts.shrink_to_fit();
        out.fact_docs.shrink_to_fit();
        Ok(out)
    }

    /// The per-document layers. Returns the findings (not yet placed) and the object as the
    /// API server would store it (defaults applied where a CRD is known).
    fn check_document(
        &self,
        value: serde_json::Value,
        doc: &crate::yaml::YamlDoc,
        out: &mut SourceResult,
    ) -> (Vec<Finding>, serde_json::Value) {
        let mut found = shape_findings(&value);
        if !found.is_empty() {
            self.yaml11_booleans(doc, &mut found, self.catalog.is_none());
            return (found, value);
        }
        let mut value = value;
        // whether a `yes` no schema looked at deserves a warning
        let mut unchecked_words = self.catalog.is_none();
        if self.is_builtin_kind(&value) {
            let schema_checked =
                self.check_builtin(&value, &mut found, &mut out.builtins_not_checked);
            unchecked_words = !schema_checked;
        } else if let Some(cat) = &self.catalog {
            let groups_without_crd = &mut out.groups_without_crd;
            let checked = cat.check_owned(value);
            if checked.outcome == CheckOutcome::NoCrdForGroup {
                let api = checked.defaulted["apiVersion"].as_str().unwrap_or("");
                let group = api.rsplit_once('/').map_or("core", |(g, _)| g).to_string();
                if !groups_without_crd.contains(&group) {
                    groups_without_crd.push(group);
                }
            }
            // not validated: `defaulted` is the object as given
            value = checked.defaulted;
            found.extend(checked.findings);
        }
        found.extend(semantics::check(&value));
        self.yaml11_booleans(doc, &mut found, unchecked_words);
        (found, value)
    }

    /// Whether an object is a built-in kind: its group is Kubernetes' own (core, no dot, or a
    /// group the OpenAPI documents serve) and no loaded CRD claims it.
    fn is_builtin_kind(&self, obj: &serde_json::Value) -> bool {
        let api = obj["apiVersion"].as_str().unwrap_or("");
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        if self.catalog.as_ref().is_some_and(|c| c.has_group(group)) {
            return false;
        }
        openapi::is_builtin_group(group)
            || self.builtins.as_ref().is_some_and(|b| b.owns_group(group))
    }

    /// A built-in object: its OpenAPI schema (when the documents are there) and the API
    /// server's rules that the schema does not carry. Returns whether a schema checked it (or
    /// refused its apiVersion or kind).
    fn check_builtin(
        &self,
        obj: &serde_json::Value,
        found: &mut Vec<Finding>,
        not_checked: &mut Vec<String>,
    ) -> bool {
        let api = obj["apiVersion"].as_str().unwrap_or("");
        let kind = obj["kind"].as_str().unwrap_or("");
        let what = format!("{api} {kind}");
        if (api, kind) == ("v1", "List") {
            // kubectl's client-side list: its items are not checked one by one here
            let what = format!("{what} (split its items into documents to have them checked)");
            if !not_checked.contains(&what) {
                not_checked.push(what);
            }
            return false;
        }
        let Some(b) = &self.builtins else {
            found.extend(builtin::check(obj));
            if !not_checked.contains(&what) {
                not_checked.push(what);
            }
            return false;
        };
        match b.lookup(api, kind) {
            openapi::Lookup::Found(c) => {
                let schema = openapi::check(&c, obj);
                // one finding per place: the schema's, when both see the same field (a set:
                // a finding per entry of a 20,000-key ConfigMap made this a 1 s scan)
                let seen: std::collections::HashSet<&str> =
                    schema.iter().map(|s| s.path.as_str()).collect();
                let rules: Vec<Finding> = builtin::check(obj)
                    .into_iter()
                    .filter(|f| !seen.contains(f.path.as_str()))
                    .collect();
                found.extend(schema);
                found.extend(rules);
                true
            }
            openapi::Lookup::Rejected(f) => {
                found.extend(f);
                true
            }
            openapi::Lookup::Unavailable(e) => {
                found.extend(builtin::check(obj));
                let what = format!("{what} ({e})");
                if !not_checked.contains(&what) {
                    not_checked.push(what);
                }
                false
            }
            openapi::Lookup::NotBuiltin => {
                found.extend(builtin::check(obj));
                false
            }
        }
    }

    /// YAML 1.1 booleans: `on` where a string was meant turns the schema's type error into a
    /// clearer one; where no schema looked (`unchecked`: no CRDs, or a built-in kind without its
    /// OpenAPI document) every such word is a warning.
    fn yaml11_booleans(
        &self,
        doc: &crate::yaml::YamlDoc,
        found: &mut Vec<Finding>,
        unchecked: bool,
    ) {
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
            if !matched && unchecked {
                found.push(Finding::warning(
                    "yaml/yaml11-boolean",
                    pointer.clone(),
                    format!("unquoted `{text}` is read as a boolean by Kubernetes (YAML 1.1)"),
                    format!("quote it (\"{text}\") if a string is meant"),
                ));
            }
        }
    }

    /// What could not be checked is said, never passed over in silence.
    fn coverage_findings(&self, groups_without_crd: Vec<String>) -> Vec<Finding> {
        match &self.catalog {
            None => vec![Finding::info(
                "crds/skipped",
                "",
                "schema and CEL checks were skipped: no CRDs are loaded",
                "pass --crds PATH (a folder of CRD YAML), set TRAFFIC_ENGINEER_CRDS, or run `traffic-engineer crds fetch`",
            )],
            Some(_) => groups_without_crd
                .into_iter()
                .map(|g| {
                    Finding::info(
                        "crds/no-crd-for-group",
                        "",
                        format!("no CRD of group {g} is loaded: its objects were not checked against a schema"),
                        "add that group's CRDs with --crds",
                    )
                })
                .collect(),
        }
    }
}

/// Built-in kinds that no schema checked: said once per report.
fn builtin_not_checked(kinds: &[String], have_documents: bool) -> Finding {
    Finding::info(
        "builtin/not-checked",
        "",
        format!(
            "built-in kinds were not checked against the Kubernetes schema: {}",
            kinds.join(", ")
        ),
        if have_documents {
            "the OpenAPI document for them could not be read; check --openapi / TRAFFIC_ENGINEER_OPENAPI or run `traffic-engineer crds fetch`"
        } else {
            "pass --openapi DIR (Kubernetes' api/openapi-spec/v3 documents), set TRAFFIC_ENGINEER_OPENAPI, or run `traffic-engineer crds fetch`"
        },
    )
}

/// A document must be a mapping with a string apiVersion and kind.
fn shape_findings(v: &serde_json::Value) -> Vec<Finding> {
    let mut found = Vec::new();
    if !v.is_object() {
        found.push(Finding::error(
            "yaml/not-an-object",
            "",
            "the document is not a mapping",
            "each document must be one Kubernetes object",
        ));
        return found;
    }
    for key in ["apiVersion", "kind"] {
        if !v[key].is_string() {
            found.push(Finding::error(
                "yaml/missing-type",
                format!("/{key}"),
                format!("{key} is missing or not a string"),
                "every object needs apiVersion and kind, e.g. apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute",
            ));
        }
    }
    found
}

/// How many threads to check `texts` on: one for a small input (starting threads costs more),
/// else as many as there are cores (and sources).
fn workers<T: Texts + ?Sized>(texts: &T) -> usize {
    let n = texts.len();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if n < 2 || cores < 2 || texts.total_bytes() < PARALLEL_MIN_BYTES {
        1
    } else {
        cores.min(n)
    }
}

/// `f(0)`, ..., `f(n - 1)` on `workers` threads (on this one when 1), in index order whatever
/// the threads did.
fn in_order<R: Send>(n: usize, workers: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    if workers <= 1 || n < 2 {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.min(n))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break mine;
                        }
                        mine.push((i, f(i)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The reference layer over the facts of every document; a finding is placed by parsing its
/// source again (only sources with such a finding are read twice, one at a time).
fn reference_findings<T: Texts + ?Sized>(
    texts: &T,
    facts: &[(Vec<usize>, refs::Facts)],
    ctx: &refs::RefContext,
    workers: usize,
) -> Result<Vec<Finding>, ReadError> {
    // per fact: its source, its document in that source, the fact
    let total = facts.iter().map(|(_, fs)| fs.len()).sum();
    let mut at: Vec<(usize, usize)> = Vec::with_capacity(total);
    let mut objs: Vec<&refs::Fact> = Vec::with_capacity(total);
    for (si, (docs, fs)) in facts.iter().enumerate() {
        at.extend(docs.iter().map(|di| (si, *di)));
        objs.extend(fs.iter());
    }
    let mut found = refs::check(&objs, ctx);
    // the sources with a finding, each parsed again (on the cores, like the first pass) to
    // place its findings; one parsed source per thread is held at a time
    let mut by_source: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (k, (i, _)) in found.iter().enumerate() {
        by_source.entry(at[*i].0).or_default().push(k);
    }
    let groups: Vec<(usize, Vec<usize>)> = by_source.into_iter().collect();
    let placed = in_order(groups.len(), workers, |g| {
        let (si, ks) = &groups[g];
        let docs = crate::yaml::parse_documents(&texts.text(*si)?).unwrap_or_default();
        Ok::<_, ReadError>(
            ks.iter()
                .map(|k| {
                    let (i, f) = &found[*k];
                    let di = at[*i].1;
                    let pos = docs
                        .iter()
                        .find(|d| d.index == di)
                        .map(|d| d.position(&f.path));
                    (*k, pos)
                })
                .collect::<Vec<_>>(),
        )
    });
    for group in placed {
        for (k, pos) in group? {
            let (i, f) = &mut found[k];
            f.file = Some(texts.name(at[*i].0));
            match pos {
                Some((l, c)) => {
                    f.line = Some(l);
                    f.column = Some(c);
                    if f.resource.is_none() {
                        f.resource = Some(objs[*i].resource());
                    }
                }
                None => f.resource = Some(objs[*i].resource()),
            }
        }
    }
    Ok(found.into_iter().map(|(_, f)| f).collect())
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
