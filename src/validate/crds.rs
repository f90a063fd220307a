//! A catalog of CustomResourceDefinitions and the offline check of one object against it:
//! lookup by group/kind/version, defaulting, JSON Schema validation, metadata checks, list
//! uniqueness and CEL rules — what the API server does on create.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::validate::cache::{
    CrdEntry, FileEntry, Folder, LoadCache, SchemaKind, Stamp, VersionEntry,
};
use crate::validate::cel::{Programs, Walker};
use crate::validate::cel_ast::Parsed;
use crate::validate::finding::{Finding, ResourceRef};
use crate::validate::meta::check_metadata;
use crate::validate::schema;
use crate::validate::skim::{self, Block, DEFERRED_KEY};
use crate::validate::structural::Node;

/// Deepest object nesting checked; deeper objects get one finding instead of a stack overflow.
const MAX_OBJECT_DEPTH: usize = 512;
/// Deepest folder nesting followed by `load_path`.
const MAX_DIR_DEPTH: usize = 32;

/// Why CRDs could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: YAML error: {message}")]
    Yaml {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: malformed CustomResourceDefinition{}: {message}", if crd.is_empty() { String::new() } else { format!(" `{crd}`") })]
    Malformed {
        origin: String,
        crd: String,
        message: String,
    },
}

/// What `check` could do with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The object was validated against its CRD (findings may still contain errors).
    Validated,
    /// The API group is not in the catalog at all (core `v1`, `apps/v1`, …): nothing checked.
    NoCrdForGroup,
    /// The group is known but not this kind.
    UnknownKind,
    /// The kind is known but this version is not served.
    VersionNotServed,
}

/// The result of checking one object.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The object as the API server would store it: defaults applied (and `status` dropped when
    /// the CRD has a status subresource). A copy of the input when the object was not validated.
    pub defaulted: Value,
    pub outcome: CheckOutcome,
    pub findings: Vec<Finding>,
}

struct Compiled {
    node: Node,
    validator: schema::SchemaValidator,
    programs: Programs,
}

/// Where a version's openAPIV3Schema is: parsed already, or a block of the CRD file's text set
/// aside at load time and parsed when the kind is first checked.
enum SchemaSource {
    Parsed(Value),
    Deferred {
        stream: Arc<str>,
        block: Block,
        /// the whole document and the version's index, to parse in full if the block alone
        /// does not parse
        doc: Range<usize>,
        version: usize,
    },
    /// Known from the load cache's index: the file is read again (and the schema parsed) only
    /// if the cache does not hold the schema.
    Reread(Box<Reread>),
}

/// Where to find a version's schema again: the file, as it was when indexed, and the place of
/// the CRD and version in it.
struct Reread {
    path: PathBuf,
    origin: String,
    stamp: Stamp,
    crd: usize,
    version: usize,
}

impl Reread {
    fn value(&self) -> Result<Value, String> {
        let changed = || format!("{} changed while it was in use; run again", self.origin);
        let meta = std::fs::metadata(&self.path).map_err(|e| format!("{}: {e}", self.origin))?;
        if Stamp::of(&meta) != Some(self.stamp) {
            return Err(changed());
        }
        let text =
            std::fs::read_to_string(&self.path).map_err(|e| format!("{}: {e}", self.origin))?;
        let parsed = parse_stream(&text, &self.origin).map_err(|e| e.to_string())?;
        let (_, crd) = parsed.into_iter().nth(self.crd).ok_or_else(changed)?;
        let v = crd.versions.get(self.version).ok_or_else(changed)?;
        v.schema.value().map(std::borrow::Cow::into_owned)
    }
}

impl SchemaSource {
    fn value(&self) -> Result<std::borrow::Cow<'_, Value>, String> {
        let (stream, block, doc, version) = match self {
            SchemaSource::Parsed(v) => return Ok(std::borrow::Cow::Borrowed(v)),
            SchemaSource::Reread(r) => return r.value().map(std::borrow::Cow::Owned),
            SchemaSource::Deferred {
                stream,
                block,
                doc,
                version,
            } => (stream, block, doc, *version),
        };
        let alone = crate::yaml::parse_values(&block.text(stream))
            .ok()
            .and_then(|mut d| (d.len() == 1).then(|| d.remove(0)))
            .and_then(|mut v| v.get_mut("openAPIV3Schema").map(Value::take))
            .filter(Value::is_object);
        if let Some(v) = alone {
            return Ok(std::borrow::Cow::Owned(v));
        }
        let mut docs =
            crate::yaml::parse_values(&stream[doc.clone()]).map_err(|e| e.to_string())?;
        let mut whole = if docs.len() == 1 {
            docs.remove(0)
        } else {
            Value::Null
        };
        whole
            .pointer_mut(&format!("/spec/versions/{version}/schema/openAPIV3Schema"))
            .map(Value::take)
            .filter(Value::is_object)
            .map(std::borrow::Cow::Owned)
            .ok_or_else(|| "no schema.openAPIV3Schema object".to_string())
    }
}

struct CrdVersion {
    /// name, served, deprecation, status subresource: what the load cache's index keeps
    info: VersionEntry,
    schema: SchemaSource,
    /// Where the load cache keeps (or will keep) the parsed schema.
    cached: Option<(LoadCache, String)>,
    compiled: OnceLock<Result<Compiled, String>>,
    /// A thread has begun compiling it (see [`CrdCatalog::warm`]).
    claimed: AtomicBool,
}

impl CrdVersion {
    fn compiled(&self) -> Result<&Compiled, &str> {
        self.compiled
            .get_or_init(|| {
                let t = std::time::Instant::now();
                let raw = match &self.cached {
                    None => self.schema.value()?,
                    Some((cache, key)) => {
                        cache.schema_or(SchemaKind::Crd, key, || self.schema.value())?
                    }
                };
                let read_us = t.elapsed().as_micros() as u64;
                let node = Node::parse(&raw, "openAPIV3Schema", 0)?;
                let tree_us = t.elapsed().as_micros() as u64;
                // big subschemas are converted and compiled when a document first reaches them
                let validator = schema::SchemaValidator::for_kind(
                    std::sync::Arc::new(raw.into_owned()),
                    self.info.status_subresource,
                )?;
                let built_us = t.elapsed().as_micros() as u64;
                // Rules parsed by an earlier process when the cache has them; without a cache,
                // each rule is parsed on first use; with one that lacks them, all are parsed
                // now, once, and kept.
                let programs = match &self.cached {
                    None => Programs::for_tree(&node),
                    Some((cache, key)) => {
                        match cache.read_crd_cel(key).and_then(Parsed::from_bytes) {
                            Some(parsed) => Programs::with_parsed(&node, parsed),
                            None => {
                                let (programs, parsed) = Programs::parse_all(&node);
                                cache.write_crd_cel(key, &parsed.to_bytes());
                                programs
                            }
                        }
                    }
                };
                tracing::debug!(
                    version = self.info.name,
                    read_us,
                    tree_us,
                    built_us,
                    total_us = t.elapsed().as_micros() as u64,
                    "CRD version compiled"
                );
                Ok(Compiled {
                    node,
                    validator,
                    programs,
                })
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

struct Crd {
    name: String,
    kind: String,
    origin: String,
    versions: Vec<CrdVersion>,
}

/// Counts from [`CrdCatalog::precompile`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrecompileReport {
    /// (group, kind, version) schemas compiled to validators.
    pub schemas: usize,
    /// x-kubernetes-validations rules seen (every version, repeated sub-trees counted each time).
    pub rules: usize,
    /// Rules that compiled.
    pub rules_compiled: usize,
    /// Compiled rules that use `oldSelf` (skipped on create).
    pub transition_rules: usize,
    /// What failed: "<crd> <version>: <error>".
    pub failures: Vec<String>,
    /// Every function and operator the compiled rules call.
    pub functions: std::collections::BTreeSet<String>,
}

/// Loaded CRDs, looked up by group and kind. Loading only parses YAML; each version's
/// validator and CEL programs are compiled on first use. `Send + Sync`: share it behind an `Arc`.
#[derive(Default)]
pub struct CrdCatalog {
    /// group → kind → CRD
    groups: HashMap<String, BTreeMap<String, Crd>>,
    /// where what loading found is kept between runs ([`crate::validate::cache`])
    cache: Option<LoadCache>,
}

impl std::fmt::Debug for CrdCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self
            .groups
            .values()
            .flat_map(|k| k.values().map(|c| c.name.as_str()))
            .collect();
        names.sort_unstable();
        f.debug_struct("CrdCatalog").field("crds", &names).finish()
    }
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

impl CrdCatalog {
    pub fn new() -> Self {
        CrdCatalog::default()
    }

    /// Keep what loading files finds (each file's CRDs, each schema once parsed) in a load
    /// cache, and use what it holds instead of reading and parsing a file that did not change.
    pub fn with_cache(mut self, cache: Option<LoadCache>) -> Self {
        self.cache = cache;
        self
    }

    /// Number of CRDs (group + kind) in the catalog.
    pub fn len(&self) -> usize {
        self.groups.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a CRD of this API group is loaded.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// A file or a folder (recursive, `*.yaml`/`*.yml`, multi-document, in name order).
    /// Non-CRD documents are skipped. A CRD for a group and kind already loaded replaces the
    /// earlier one (so load only one Gateway API channel). Returns how many CRDs were added.
    pub fn load_path(&mut self, path: &Path) -> Result<usize, CrdError> {
        self.load_path_at(path, 0, None)
    }

    fn load_path_at(
        &mut self,
        path: &Path,
        depth: usize,
        folder: Option<&mut Folder>,
    ) -> Result<usize, CrdError> {
        let io = |source| CrdError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            if depth > MAX_DIR_DEPTH || self.cache.as_ref().is_some_and(|c| c.dir() == path) {
                return Ok(0);
            }
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(io)?;
            entries.sort();
            let mut index = None;
            let mut added = 0;
            for p in entries {
                let is_dir = std::fs::metadata(&p).map(|m| m.is_dir()).unwrap_or(false);
                let is_yaml = p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml")
                });
                if is_dir {
                    added += self.load_path_at(&p, depth + 1, None)?;
                } else if is_yaml {
                    if index.is_none() {
                        index = self.cache.as_ref().and_then(|c| Folder::open(c, path));
                    }
                    added += self.load_path_at(&p, depth + 1, index.as_mut())?;
                }
            }
            if let Some(i) = index {
                i.finish(true);
            }
            Ok(added)
        } else {
            self.load_file(path, &meta, folder)
        }
    }

    /// One CRD file: from the load cache's index when it holds this version of the file, else
    /// read, skimmed and parsed (and indexed).
    fn load_file(
        &mut self,
        path: &Path,
        meta: &std::fs::Metadata,
        folder: Option<&mut Folder>,
    ) -> Result<usize, CrdError> {
        let origin = path.display().to_string();
        let stamp = Stamp::of(meta);
        let name = path.file_name().and_then(|n| n.to_str());
        let mut own = None;
        let folder = match (folder, &self.cache, name, stamp) {
            (Some(f), _, Some(n), Some(s)) => Some((f, n, s)),
            (None, Some(c), Some(n), Some(s)) => {
                own = path
                    .parent()
                    .map(|p| {
                        if p.as_os_str().is_empty() {
                            Path::new(".")
                        } else {
                            p
                        }
                    })
                    .and_then(|p| Folder::open(c, p));
                own.as_mut().map(|f| (f, n, s))
            }
            _ => None,
        };
        let read = || {
            std::fs::read_to_string(path).map_err(|source| CrdError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        let Some((folder, name, stamp)) = folder else {
            return self.add_yaml_str(&read()?, &origin);
        };
        let added = if let Some(entry) = folder.get(name, stamp) {
            let parsed = from_entry(&entry, folder, name, path, &origin);
            self.insert(parsed)
        } else {
            let mut parsed = parse_stream(&read()?, &origin)?;
            folder.put(name, entry_of(&parsed, stamp));
            for (c, (_, crd)) in parsed.iter_mut().enumerate() {
                for (v, ver) in crd.versions.iter_mut().enumerate() {
                    ver.cached =
                        Some((folder.cache().clone(), folder.schema_key(name, stamp, c, v)));
                }
            }
            self.insert(parsed)
        };
        if let Some(f) = own {
            f.finish(false);
        }
        Ok(added)
    }

    fn insert(&mut self, parsed: Vec<(String, Crd)>) -> usize {
        let added = parsed.len();
        for (group, crd) in parsed {
            self.groups
                .entry(group)
                .or_default()
                .insert(crd.kind.clone(), crd);
        }
        added
    }

    /// Add the CRDs of a YAML stream; `origin` names it in errors. Returns how many were added.
    /// Only what identifies a CRD is parsed now; each version's schema when first needed.
    pub fn add_yaml_str(&mut self, text: &str, origin: &str) -> Result<usize, CrdError> {
        let parsed = parse_stream(text, origin)?;
        Ok(self.insert(parsed))
    }

    /// Compile every version's validator and every CEL rule now (for start-up, or to measure).
    pub fn precompile(&self) -> PrecompileReport {
        let mut r = PrecompileReport::default();
        for crd in self.groups.values().flat_map(BTreeMap::values) {
            for v in &crd.versions {
                // every piece of the schema, not only those a document reaches
                let compiled = v.compiled().map_err(str::to_string).and_then(|c| {
                    c.validator
                        .compile_all()
                        .map_err(|e| format!("schema at {e}"))?;
                    Ok(c)
                });
                match compiled {
                    Ok(c) => {
                        r.schemas += 1;
                        count_rules(
                            &c.node,
                            &c.programs,
                            &mut r,
                            &format!("{} {}", crd.name, v.info.name),
                        );
                    }
                    Err(e) => r
                        .failures
                        .push(format!("{} {}: {e}", crd.name, v.info.name)),
                }
            }
        }
        r
    }

    /// Compile the schema of `obj`'s kind now unless another thread has begun it: threads
    /// that meet the same kinds at once (the first files of a run) compile different ones
    /// instead of waiting on each other's.
    pub(crate) fn warm(&self, obj: &Value) {
        if let Ok(known) = self.lookup(obj)
            && !known.ver.claimed.swap(true, Ordering::Relaxed)
        {
            let _ = known.ver.compiled();
        }
    }

    /// Check one object. Returns the object with schema defaults applied (as the API server
    /// would store it) and every finding.
    pub fn check(&self, obj: &Value) -> Checked {
        self.check_owned(obj.clone())
    }

    /// [`CrdCatalog::check`] of an object the caller gives up (no copy is made).
    pub fn check_owned(&self, obj: Value) -> Checked {
        if depth_exceeds(&obj, MAX_OBJECT_DEPTH) {
            return Checked {
                defaulted: Value::Null,
                outcome: CheckOutcome::Validated,
                findings: vec![Finding::error(
                    "schema/other",
                    "",
                    format!("the object is nested deeper than {MAX_OBJECT_DEPTH} levels"),
                    "this cannot be a valid Kubernetes object",
                )],
            };
        }
        match self.lookup(&obj) {
            Ok(found) => self.validate_known(obj, found),
            Err((outcome, findings)) => Checked {
                defaulted: obj,
                outcome,
                findings,
            },
        }
    }

    /// The CRD version of an object, or why there is none.
    fn lookup(&self, obj: &Value) -> Result<Known<'_>, (CheckOutcome, Vec<Finding>)> {
        let mut findings = Vec::new();
        if !obj.is_object() {
            findings.push(Finding::error(
                "schema/type",
                "",
                "a Kubernetes object must be a mapping with apiVersion, kind and metadata",
                "write the object as `apiVersion: …`, `kind: …`, `metadata: …`",
            ));
            return Err((CheckOutcome::NoCrdForGroup, findings));
        }
        let api_version = obj.get("apiVersion").and_then(Value::as_str);
        let kind = obj.get("kind").and_then(Value::as_str);
        for (field, present) in [
            ("apiVersion", api_version.is_some()),
            ("kind", kind.is_some()),
        ] {
            if !present {
                findings.push(Finding::error(
                    "schema/required",
                    format!("/{field}"),
                    format!("`{field}` is missing or not a string"),
                    format!("add `{field}:`"),
                ));
            }
        }
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            return Err((CheckOutcome::NoCrdForGroup, findings));
        };
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let Some(kinds) = self.groups.get(group) else {
            return Err((CheckOutcome::NoCrdForGroup, findings));
        };
        let Some(crd) = kinds.get(kind) else {
            let known: Vec<&str> = kinds.keys().map(String::as_str).collect();
            let close = known.iter().find(|k| k.eq_ignore_ascii_case(kind));
            let hint = match close {
                Some(k) => format!(
                    "kinds are case-sensitive: use `{k}`; kinds of {group}: {}",
                    known.join(", ")
                ),
                None => format!("kinds of {group}: {}", known.join(", ")),
            };
            findings.push(Finding::error(
                "schema/unknown-kind",
                "/kind",
                format!("kind `{kind}` does not exist in API group {group}"),
                hint,
            ));
            return Err((CheckOutcome::UnknownKind, findings));
        };
        let Some(ver) = crd
            .versions
            .iter()
            .find(|v| v.info.name == version && v.info.served)
        else {
            let served: Vec<String> = crd
                .versions
                .iter()
                .filter(|v| v.info.served)
                .map(|v| format!("{group}/{}", v.info.name))
                .collect();
            let exists = crd.versions.iter().any(|v| v.info.name == version);
            findings.push(Finding::error(
                "schema/version-not-served",
                "/apiVersion",
                if exists {
                    format!(
                        "{api_version} {kind} exists in the CRD but is not served (from {})",
                        crd.origin
                    )
                } else {
                    format!(
                        "{api_version} is not a version of {kind} (from {})",
                        crd.origin
                    )
                },
                format!("use a served version: {}", served.join(", ")),
            ));
            return Err((CheckOutcome::VersionNotServed, findings));
        };
        if ver.info.deprecated {
            let newest = crd
                .versions
                .iter()
                .find(|v| v.info.served && !v.info.deprecated)
                .map(|v| format!("; use {group}/{}", v.info.name))
                .unwrap_or_default();
            findings.push(Finding::warning(
                "schema/version-deprecated",
                "/apiVersion",
                ver.info
                    .deprecation_warning
                    .clone()
                    .unwrap_or_else(|| format!("{api_version} {kind} is deprecated")),
                format!("move to a non-deprecated version{newest}"),
            ));
        }
        Ok(Known {
            crd,
            ver,
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            findings,
        })
    }

    /// Defaults, metadata, the JSON Schema and the CEL rules of a known kind.
    fn validate_known(&self, obj: Value, known: Known<'_>) -> Checked {
        let Known {
            crd,
            ver,
            api_version,
            kind,
            mut findings,
        } = known;
        let compiled = match ver.compiled() {
            Ok(c) => c,
            Err(e) => {
                findings.push(Finding::error(
                    "schema/other",
                    "",
                    format!("the schema of {api_version} {kind} could not be compiled, the object was not checked: {e}"),
                    format!("fix or replace the CRD file {}", crd.origin),
                ));
                return Checked {
                    defaulted: obj,
                    outcome: CheckOutcome::Validated,
                    findings,
                };
            }
        };
        let mut defaulted = obj;
        if ver.info.status_subresource
            && let Value::Object(m) = &mut defaulted
        {
            m.shift_remove("status");
        }
        schema::apply_defaults(&mut defaulted, &compiled.node);
        check_metadata(&defaulted, "", true, &mut findings);

        let mut schema_findings = Vec::new();
        compiled
            .validator
            .check(&defaulted, &compiled.node, &mut schema_findings);
        let error_paths: Vec<String> = schema_findings
            .iter()
            .chain(findings.iter())
            .filter(|f| f.severity == crate::validate::finding::Severity::Error)
            .map(|f| f.path.clone())
            .collect();
        findings.append(&mut schema_findings);
        Walker::new(&mut findings, &error_paths, &compiled.programs)
            .run(&defaulted, &compiled.node);
        let resource = ResourceRef {
            namespace: str_at(&defaulted, &["metadata", "namespace"])
                .unwrap_or_default()
                .to_string(),
            name: str_at(&defaulted, &["metadata", "name"])
                .unwrap_or_default()
                .to_string(),
            api_version,
            kind,
        };
        for f in &mut findings {
            if f.resource.is_none() {
                f.resource = Some(resource.clone());
            }
        }
        Checked {
            defaulted,
            outcome: CheckOutcome::Validated,
            findings,
        }
    }
}

/// A CRD version found for an object, with the findings of the lookup (deprecation).
struct Known<'c> {
    crd: &'c Crd,
    ver: &'c CrdVersion,
    api_version: String,
    kind: String,
    findings: Vec<Finding>,
}

fn count_rules(node: &Node, programs: &Programs, r: &mut PrecompileReport, what: &str) {
    for rule in &node.rules {
        r.rules += 1;
        match programs.compiled(rule) {
            Ok(c) => {
                r.rules_compiled += 1;
                if c.transition {
                    r.transition_rules += 1;
                }
                r.functions.extend(c.functions());
            }
            Err(e) => r
                .failures
                .push(format!("{what}: rule `{}`: {e}", rule.rule)),
        }
    }
    for p in node.properties.values() {
        count_rules(p, programs, r, what);
    }
    if let Some(a) = &node.additional {
        count_rules(a, programs, r, what);
    }
    if let Some(i) = &node.items {
        count_rules(i, programs, r, what);
    }
}

/// Whether `v` nests deeper than `limit` (iterative: safe on any input).
fn depth_exceeds(v: &Value, limit: usize) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((v, d)) = stack.pop() {
        if d > limit {
            return true;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    false
}

/// Every CRD of a stream, in order: skimmed, or parsed in full when the skim cannot vouch for it.
fn parse_stream(text: &str, origin: &str) -> Result<Vec<(String, Crd)>, CrdError> {
    match skim_crds(text, origin) {
        Some(p) => p,
        None => full_crds(text, origin),
    }
}

/// What the load cache's index keeps of a file's CRDs.
fn entry_of(parsed: &[(String, Crd)], stamp: Stamp) -> FileEntry {
    FileEntry {
        stamp,
        crds: parsed
            .iter()
            .map(|(group, crd)| CrdEntry {
                group: group.clone(),
                kind: crd.kind.clone(),
                name: crd.name.clone(),
                versions: crd.versions.iter().map(|v| v.info.clone()).collect(),
            })
            .collect(),
    }
}

/// A file's CRDs from the load cache's index, each schema to be read from the cache (or the
/// file again) on first use.
fn from_entry(
    entry: &FileEntry,
    folder: &Folder,
    name: &str,
    path: &Path,
    origin: &str,
) -> Vec<(String, Crd)> {
    entry
        .crds
        .iter()
        .enumerate()
        .map(|(c, e)| {
            let versions = e
                .versions
                .iter()
                .enumerate()
                .map(|(v, info)| CrdVersion {
                    info: info.clone(),
                    schema: SchemaSource::Reread(Box::new(Reread {
                        path: path.to_path_buf(),
                        origin: origin.to_string(),
                        stamp: entry.stamp,
                        crd: c,
                        version: v,
                    })),
                    cached: Some((
                        folder.cache().clone(),
                        folder.schema_key(name, entry.stamp, c, v),
                    )),
                    compiled: OnceLock::new(),
                    claimed: AtomicBool::new(false),
                })
                .collect();
            (
                e.group.clone(),
                Crd {
                    name: e.name.clone(),
                    kind: e.kind.clone(),
                    origin: origin.to_string(),
                    versions,
                },
            )
        })
        .collect()
}

/// Every CRD of a stream, parsed in full.
fn full_crds(text: &str, origin: &str) -> Result<Vec<(String, Crd)>, CrdError> {
    let docs = crate::yaml::parse_documents(text).map_err(|e| CrdError::Yaml {
        file: origin.to_string(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    docs.into_iter()
        .filter(|d| str_at(&d.value, &["kind"]) == Some("CustomResourceDefinition"))
        .map(|d| {
            parse_crd(d.value, origin, d.line, &mut |_, schema| {
                Ok(SchemaSource::Parsed(schema.clone()))
            })
        })
        .collect()
}

/// Every CRD of a stream with the schema blocks set aside ([`skim`]); None when the stream
/// must be parsed in full (the skim could not vouch for it, or a skeleton does not parse: the
/// full parse then reports the error at its true line).
fn skim_crds(text: &str, origin: &str) -> Option<Result<Vec<(String, Crd)>, CrdError>> {
    let stream: Arc<str> = Arc::from(text);
    let mut out = Vec::new();
    for d in skim::skim(text)? {
        let mut docs = crate::yaml::parse_values(&d.skeleton).ok()?;
        let value = match docs.len() {
            0 => continue,
            1 => docs.remove(0),
            _ => return None,
        };
        if str_at(&value, &["kind"]) != Some("CustomResourceDefinition") {
            continue;
        }
        let mut used = vec![false; d.blocks.len()];
        let mut resolve = |version: usize, schema: &Value| -> Result<SchemaSource, ()> {
            let Some(n) = schema.get(DEFERRED_KEY).and_then(Value::as_u64) else {
                return Ok(SchemaSource::Parsed(schema.clone()));
            };
            let n = usize::try_from(n).map_err(|_| ())?;
            match (d.blocks.get(n), used.get_mut(n)) {
                (Some(b), Some(u)) if !*u && schema.as_object().is_some_and(|m| m.len() == 1) => {
                    *u = true;
                    Ok(SchemaSource::Deferred {
                        stream: Arc::clone(&stream),
                        block: b.clone(),
                        doc: d.doc.clone(),
                        version,
                    })
                }
                _ => Err(()),
            }
        };
        let crd = match parse_crd_deferred(value, origin, d.first_line, &mut resolve)? {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        if used.iter().any(|u| !u) {
            return None;
        }
        out.push(crd);
    }
    Some(Ok(out))
}

/// [`parse_crd`] where a schema that cannot be resolved means: parse this stream in full.
fn parse_crd_deferred(
    value: Value,
    origin: &str,
    line: usize,
    resolve: &mut dyn FnMut(usize, &Value) -> Result<SchemaSource, ()>,
) -> Option<Result<(String, Crd), CrdError>> {
    let mut unresolved = false;
    let r = parse_crd(value, origin, line, &mut |i, schema| {
        resolve(i, schema).or_else(|()| {
            unresolved = true;
            Ok(SchemaSource::Parsed(Value::Null))
        })
    });
    if unresolved {
        return None;
    }
    Some(r)
}

type SchemaResolver<'a> = dyn FnMut(usize, &Value) -> Result<SchemaSource, CrdError> + 'a;

fn parse_crd(
    doc: Value,
    origin: &str,
    line: usize,
    resolve: &mut SchemaResolver<'_>,
) -> Result<(String, Crd), CrdError> {
    let where_ = format!("{origin}:{line}");
    let name = str_at(&doc, &["metadata", "name"])
        .unwrap_or_default()
        .to_string();
    let bad = |message: String| CrdError::Malformed {
        origin: where_.clone(),
        crd: name.clone(),
        message,
    };
    let api_version = str_at(&doc, &["apiVersion"]).unwrap_or_default();
    if api_version != "apiextensions.k8s.io/v1" {
        return Err(bad(format!(
            "apiVersion `{api_version}` is not supported (only apiextensions.k8s.io/v1)"
        )));
    }
    let group = str_at(&doc, &["spec", "group"])
        .ok_or_else(|| bad("spec.group is missing".into()))?
        .to_string();
    let kind = str_at(&doc, &["spec", "names", "kind"])
        .ok_or_else(|| bad("spec.names.kind is missing".into()))?
        .to_string();
    let versions = doc
        .get("spec")
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .ok_or_else(|| bad("spec.versions is missing or not a list".into()))?;
    if versions.is_empty() {
        return Err(bad("spec.versions is empty".into()));
    }
    let mut out = Vec::with_capacity(versions.len());
    for (i, v) in versions.iter().enumerate() {
        let vname = str_at(v, &["name"])
            .ok_or_else(|| bad(format!("spec.versions[{i}].name is missing")))?
            .to_string();
        let schema = v
            .get("schema")
            .and_then(|s| s.get("openAPIV3Schema"))
            .filter(|s| s.is_object())
            .ok_or_else(|| {
                bad(format!(
                    "version {vname} has no schema.openAPIV3Schema object"
                ))
            })?;
        let schema = resolve(i, schema)?;
        out.push(CrdVersion {
            info: VersionEntry {
                name: vname,
                served: v.get("served").and_then(Value::as_bool).unwrap_or(false),
                deprecated: v
                    .get("deprecated")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                deprecation_warning: str_at(v, &["deprecationWarning"]).map(str::to_string),
                status_subresource: v
                    .get("subresources")
                    .and_then(|s| s.get("status"))
                    .is_some(),
            },
            schema,
            cached: None,
            compiled: OnceLock::new(),
            claimed: AtomicBool::new(false),
        });
    }
    Ok((
        group,
        Crd {
            name: if name.is_empty() { kind.clone() } else { name },
            kind,
            origin: origin.to_string(),
            versions: out,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::finding::Severity;
    use serde_json::json;

    /// One catalog for every test: the standard Gateway API channel plus the other projects.
    fn catalog() -> &'static CrdCatalog {
        static CATALOG: OnceLock<CrdCatalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            let base = crate::test_shared::crds_dir();
            let mut cat = CrdCatalog::new();
            for d in [
                "gateway-api/standard",
                "envoy-gateway",
                "keda",
                "cert-manager",
                "ai-gateway",
                "keda-http-add-on",
            ] {
                let n = cat
                    .load_path(&base.join(d))
                    .unwrap_or_else(|e| panic!("loading {d}: {e}"));
                assert!(n > 0, "no CRDs in {d}");
            }
            cat
        })
    }

    fn doc(text: &str) -> Value {
        let mut docs = crate::yaml::parse_documents(text).expect("test YAML parses");
        assert_eq!(docs.len(), 1, "one document expected");
        docs.remove(0).value
    }

    fn problems(c: &Checked) -> Vec<(String, String)> {
        c.findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| (f.rule.clone(), f.path.clone()))
            .collect()
    }

    /// The example manifests of docs/traffic-apis.md (Gateway, ReferenceGrant, HTTPRoutes,
    /// BackendTrafficPolicies, ClientTrafficPolicy, SecurityPolicy, ClusterIssuer, Certificate,
    /// ScaledObject, AI Gateway resources, Backend, BackendTLSPolicy).
    const VALID: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: task-api-gw
  namespace: task-api
spec:
  gatewayClassName: eg
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    hostname: task-api.example.com
    allowedRoutes:
      namespaces:
        from: Same
  - name: https
    protocol: HTTPS
    port: 443
    hostname: task-api.example.com
    tls:
      mode: Terminate
      certificateRefs:
      - kind: Secret
        group: ""
        name: task-api-tls
    allowedRoutes:
      namespaces:
        from: Same
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: {name: allow-task-api-gw, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: task-api}]
  to:   [{group: "", kind: Secret, name: task-api-tls}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: task-api
  namespace: task-api
spec:
  parentRefs:
  - name: task-api-gw
    sectionName: https
  hostnames: [task-api.example.com]
  rules:
  - name: v1
    matches: [{path: {type: PathPrefix, value: /v1}}]
    backendRefs: [{name: task-api-v1, port: 8080}]
  - name: v2
    matches: [{path: {type: PathPrefix, value: /v2}}]
    backendRefs: [{name: task-api-v2, port: 8080}]
  - name: canary
    matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs:
    - {name: task-api-v1, port: 8080, weight: 90}
    - {name: task-api-v2, port: 8080, weight: 10}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: task-api-http-redirect, namespace: task-api}
spec:
  parentRefs: [{name: task-api-gw, sectionName: http}]
  hostnames: [task-api.example.com]
  rules:
  - filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, statusCode: 301}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata:
  name: task-api-traffic
  namespace: task-api
spec:
  targetRefs:
  - group: gateway.networking.k8s.io
    kind: HTTPRoute
    name: task-api
  rateLimit:
    global:
      rules:
      - clientSelectors:
        - headers:
          - name: x-user-id
            type: Distinct
        limit: {requests: 100, unit: Minute}
      - clientSelectors:
        - headers:
          - name: x-user-id
            type: RegularExpression
            value: ".*"
            invert: true
        limit: {requests: 10, unit: Minute}
  circuitBreaker:
    maxConnections: 50
    maxPendingRequests: 50
    maxParallelRequests: 50
    maxParallelRetries: 3
    maxRequestsPerConnection: 1000
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: ClientTrafficPolicy
metadata: {name: task-api-client, namespace: task-api}
spec:
  targetRefs:
  - {group: gateway.networking.k8s.io, kind: Gateway, name: task-api-gw}
  tls: {minVersion: "1.2", maxVersion: "1.3", alpnProtocols: [h2, http/1.1]}
  connection:
    connectionLimit: {value: 10000, closeDelay: 1s}
    bufferLimit: 32Ki
  timeout:
    http: {requestReceivedTimeout: 30s, idleTimeout: 60s}
  clientIPDetection:
    xForwardedFor: {numTrustedHops: 1}
  headers:
    earlyRequestHeaders:
      remove: [x-user-id]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: task-api-jwt, namespace: task-api}
spec:
  targetRefs:
  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: task-api}
  jwt:
    optional: true
    providers:
    - name: idp
      issuer: https://idp.example.com
      remoteJWKS: {uri: https://idp.example.com/.well-known/jwks.json}
      claimToHeaders: [{claim: sub, header: x-user-id}]
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: selfsigned}
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: task-api-tls, namespace: task-api}
spec:
  secretName: task-api-tls
  commonName: task-api.example.com
  dnsNames: [task-api.example.com]
  duration: 2160h
  renewBefore: 360h
  privateKey: {algorithm: ECDSA, size: 256, rotationPolicy: Always}
  usages: [server auth, digital signature, key encipherment]
  issuerRef: {group: cert-manager.io, kind: ClusterIssuer, name: selfsigned}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: task-api, namespace: task-api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: task-api-v1}
  minReplicaCount: 1
  maxReplicaCount: 10
  pollingInterval: 15
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown:
          stabilizationWindowSeconds: 300
          policies: [{type: Percent, value: 50, periodSeconds: 60}]
  triggers:
  - type: prometheus
    name: envoy-rps
    metricType: AverageValue
    metadata:
      serverAddress: http://prometheus-server.monitoring.svc.cluster.local:80
      query: sum(rate(envoy_cluster_upstream_rq_total{envoy_cluster_name=~"httproute/task-api/task-api/rule/.*"}[2m]))
      threshold: "50"
      ignoreNullValues: "false"
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: task-api-llm, namespace: task-api}
spec:
  parentRefs: [{name: task-api-gw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
  - name: gpt-4o-mini
    matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o-mini}]}]
    backendRefs: [{name: openai}]
  llmRequestCosts:
  - {metadataKey: llm_input_token, type: InputToken}
  - {metadataKey: llm_output_token, type: OutputToken}
  - {metadataKey: llm_total_token, type: TotalToken}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: openai, namespace: task-api}
spec:
  schema: {name: OpenAI}
  backendRef: {group: gateway.envoyproxy.io, kind: Backend, name: openai}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: openai, namespace: task-api}
spec:
  endpoints: [{fqdn: {hostname: api.openai.com, port: 443}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: openai-tls, namespace: task-api}
spec:
  targetRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: openai}]
  validation: {wellKnownCACertificates: System, hostname: api.openai.com}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: openai-apikey, namespace: task-api}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: openai}]
  type: APIKey
  apiKey: {secretRef: {name: openai-apikey}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: task-api-llm-tokens, namespace: task-api}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: task-api-llm}]
  rateLimit:
    global:
      rules:
      - clientSelectors:
        - headers:
          - {name: x-user-id, type: Distinct}
          - {name: x-ai-eg-model, type: Exact, value: gpt-4o-mini}
        limit: {requests: 100000, unit: Hour}
        cost:
          request: {from: Number, number: 0}
          response: {from: Metadata, metadata: {namespace: io.envoy.ai_gateway, key: llm_total_token}}
"#;

    #[test]
    fn loading_counts_and_skips_non_crds() {
        let cat = catalog();
        // 10 standard Gateway API CRDs (+ the VAP file, which is skipped), 8 EG, 6 KEDA,
        // 3 cert-manager, 6 AI Gateway, 2 HTTP add-on
        assert_eq!(cat.len(), 35);
        let mut c = CrdCatalog::new();
        let n = c
            .add_yaml_str(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
                "inline",
            )
            .unwrap();
        assert_eq!((n, c.len(), c.is_empty()), (0, 0, true));
    }

    #[test]
    fn crd_errors_say_what_and_where() {
        let mut c = CrdCatalog::new();
        let e = c.add_yaml_str("a: [1\n", "broken.yaml").unwrap_err();
        assert!(
            matches!(e, CrdError::Yaml { ref file, line, .. } if file == "broken.yaml" && line >= 1),
            "{e}"
        );
        let e = c
            .add_yaml_str(
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: xs.example.com}\nspec: {group: example.com, names: {kind: X}}\n",
                "x.yaml",
            )
            .unwrap_err();
        assert!(e.to_string().contains("spec.versions"), "{e}");
        let e = c.load_path(Path::new("/nonexistent/crds")).unwrap_err();
        assert!(
            matches!(e, CrdError::Io { .. }) && e.to_string().contains("/nonexistent/crds"),
            "{e}"
        );
    }

    #[test]
    fn the_documented_examples_are_valid() {
        let docs = crate::yaml::parse_documents(VALID).expect("examples parse");
        assert_eq!(docs.len(), 16);
        for d in docs {
            let c = catalog().check(&d.value);
            let what = format!("{} {}", d.value["kind"], d.value["metadata"]["name"]);
            assert_eq!(c.outcome, CheckOutcome::Validated, "{what}");
            assert!(c.findings.is_empty(), "{what}: {:#?}", c.findings);
        }
    }

    #[test]
    fn defaults_are_applied_before_validation_and_cel() {
        let c = catalog().check(&doc(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: demo}\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n  - backendRefs: [{name: svc, port: 80}]\n",
        ));
        assert!(c.findings.is_empty(), "{:#?}", c.findings);
        assert_eq!(
            c.defaulted["spec"]["parentRefs"][0],
            json!({"name": "gw", "group": "gateway.networking.k8s.io", "kind": "Gateway"})
        );
        let rule = &c.defaulted["spec"]["rules"][0];
        assert_eq!(
            rule["matches"],
            json!([{"path": {"type": "PathPrefix", "value": "/"}}])
        );
        assert_eq!(rule["backendRefs"][0]["kind"], json!("Service"));
        assert_eq!(rule["backendRefs"][0]["group"], json!(""));
        assert_eq!(rule["backendRefs"][0]["weight"], json!(1));
    }

    /// (case, manifest, expected (rule, path) of every warning and error, in any order)
    type Case = (&'static str, &'static str, Expected);

    const BTP: &str = "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {name: p, namespace: demo}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]\n";
    const GW: &str = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: demo}\nspec:\n  gatewayClassName: eg\n  listeners:\n";

    type Expected = &'static [(&'static str, &'static str)];

    fn cases() -> Vec<(String, String, Expected)> {
        let table: &[Case] = &[
            (
                "unknown field",
                "circuitBreaker: {maxRequests: 10}",
                &[("schema/unknown-field", "/spec/circuitBreaker/maxRequests")],
            ),
            (
                "enum case: Distinct",
                "rateLimit: {global: {rules: [{clientSelectors: [{headers: [{name: x-user-id, type: distinct}]}], limit: {requests: 1, unit: Minute}}]}}",
                &[(
                    "schema/enum",
                    "/spec/rateLimit/global/rules/0/clientSelectors/0/headers/0/type",
                )],
            ),
            (
                "enum case: Minute",
                "rateLimit: {global: {rules: [{limit: {requests: 1, unit: minute}}]}}",
                &[("schema/enum", "/spec/rateLimit/global/rules/0/limit/unit")],
            ),
            (
                "missing required unit",
                "rateLimit: {global: {rules: [{limit: {requests: 1}}]}}",
                &[(
                    "schema/required",
                    "/spec/rateLimit/global/rules/0/limit/unit",
                )],
            ),
            (
                "wrong type",
                "circuitBreaker: {maxConnections: lots}",
                &[("schema/type", "/spec/circuitBreaker/maxConnections")],
            ),
            (
                "range",
                "circuitBreaker: {maxConnections: -1}",
                &[("schema/range", "/spec/circuitBreaker/maxConnections")],
            ),
            (
                "targetRef and targetRefs",
                "targetRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}",
                &[("cel/rule", "/spec")],
            ),
            (
                "empty clientSelector",
                "rateLimit: {global: {rules: [{clientSelectors: [{}], limit: {requests: 1, unit: Minute}}]}}",
                &[(
                    "cel/rule",
                    "/spec/rateLimit/global/rules/0/clientSelectors/0",
                )],
            ),
        ];
        let gw: &[Case] = &[
            (
                "HTTPS with Passthrough",
                "  - {name: https, protocol: HTTPS, port: 443, tls: {mode: Passthrough}}\n",
                &[("cel/rule", "/spec/listeners")],
            ),
            (
                "HTTP with tls",
                "  - {name: http, protocol: HTTP, port: 80, tls: {certificateRefs: [{name: c}]}}\n",
                &[("cel/rule", "/spec/listeners")],
            ),
            (
                "duplicate listener names",
                "  - {name: web, protocol: HTTP, port: 80}\n  - {name: web, protocol: HTTP, port: 8080}\n",
                &[
                    ("schema/list-map", "/spec/listeners/1"),
                    ("cel/rule", "/spec/listeners"),
                ],
            ),
            (
                "port as a string",
                "  - {name: http, protocol: HTTP, port: \"80\"}\n",
                &[("schema/type", "/spec/listeners/0/port")],
            ),
        ];
        let mut out: Vec<(String, String, Expected)> = table
            .iter()
            .map(|(n, body, want)| (n.to_string(), format!("{BTP}  {body}\n"), *want))
            .collect();
        out.extend(
            gw.iter()
                .map(|(n, body, want)| (n.to_string(), format!("{GW}{body}"), *want)),
        );
        let whole: &[Case] = &[
            (
                "path without leading slash",
                "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: demo}\nspec:\n  rules:\n  - matches: [{path: {type: PathPrefix, value: v1}}]\n    backendRefs: [{name: s, port: 80}]\n",
                &[("cel/rule", "/spec/rules/0/matches/0/path")],
            ),
            (
                "backendRef to a Service without port (needs the kind default)",
                "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: demo}\nspec:\n  rules:\n  - backendRefs: [{name: s}]\n",
                &[("cel/rule", "/spec/rules/0/backendRefs/0")],
            ),
            (
                "ScaledObject min > max",
                "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: s, namespace: demo}\nspec:\n  scaleTargetRef: {name: d}\n  minReplicaCount: 5\n  maxReplicaCount: 2\n  triggers: [{type: cpu, metricType: Utilization, metadata: {value: \"50\"}}]\n",
                &[("cel/rule", "/spec")],
            ),
            (
                "version not served",
                "apiVersion: gateway.networking.k8s.io/v1alpha3\nkind: BackendTLSPolicy\nmetadata: {name: t, namespace: demo}\nspec: {}\n",
                &[("schema/version-not-served", "/apiVersion")],
            ),
            (
                "unknown kind",
                "apiVersion: gateway.networking.k8s.io/v1\nkind: HttpRoute\nmetadata: {name: r, namespace: demo}\nspec: {}\n",
                &[("schema/unknown-kind", "/kind")],
            ),
            (
                "metadata.name invalid",
                "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: Self_Signed}\nspec: {selfSigned: {}}\n",
                &[("schema/metadata", "/metadata/name")],
            ),
            (
                "metadata.name missing",
                "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {labels: {app: x}}\nspec: {selfSigned: {}}\n",
                &[("schema/metadata", "/metadata/name")],
            ),
            (
                "namespace invalid and unknown metadata field",
                "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: x, namespace: My.NS, labelz: {}}\nspec: {selfSigned: {}}\n",
                &[
                    ("schema/metadata", "/metadata/namespace"),
                    ("schema/unknown-field", "/metadata/labelz"),
                ],
            ),
            (
                "int-or-string given a boolean",
                "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\nmetadata: {name: c, namespace: demo}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n  connection: {bufferLimit: true}\n",
                &[("schema/type", "/spec/connection/bufferLimit")],
            ),
            (
                "deprecated version still served",
                "apiVersion: aigateway.envoyproxy.io/v1alpha1\nkind: AIServiceBackend\nmetadata: {name: openai, namespace: demo}\nspec:\n  schema: {name: OpenAI}\n  backendRef: {group: gateway.envoyproxy.io, kind: Backend, name: openai}\n",
                &[("schema/version-deprecated", "/apiVersion")],
            ),
            (
                "AIServiceBackend pointing at a Service (default kind)",
                "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIServiceBackend\nmetadata: {name: openai, namespace: demo}\nspec:\n  schema: {name: OpenAI}\n  backendRef: {name: openai}\n",
                // two rules fail: the AI Gateway one, and Gateway API's "port for a Service"
                &[
                    ("cel/rule", "/spec/backendRef"),
                    ("cel/rule", "/spec/backendRef"),
                ],
            ),
            (
                "unknown root field",
                "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: x}\nspecs: {}\nspec: {selfSigned: {}}\n",
                &[("schema/unknown-field", "/specs")],
            ),
            (
                "IP address format inside oneOf",
                "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: demo}\nspec:\n  gatewayClassName: eg\n  addresses: [{type: IPAddress, value: 300.1.2.3}, {type: Hostname, value: lb.example.com}]\n  listeners: [{name: http, protocol: HTTP, port: 80}]\n",
                &[("schema/format", "/spec/addresses/0/value")],
            ),
            (
                "byte format",
                "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: acme}\nspec:\n  acme: {server: https://acme.example.com/dir, privateKeySecretRef: {name: k}, caBundle: not base64!}\n",
                &[("schema/format", "/spec/acme/caBundle")],
            ),
            (
                "pattern",
                "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: demo}\nspec:\n  hostnames: [Task_API.example.com]\n",
                &[("schema/pattern", "/spec/hostnames/0")],
            ),
            (
                "set list with duplicates",
                "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\nmetadata: {name: c, namespace: demo}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n  headers: {earlyRequestHeaders: {remove: [x-a, x-a]}}\n",
                &[(
                    "schema/list-set",
                    "/spec/headers/earlyRequestHeaders/remove/1",
                )],
            ),
        ];
        out.extend(
            whole
                .iter()
                .map(|(n, body, want)| (n.to_string(), body.to_string(), *want)),
        );
        out
    }

    #[test]
    fn one_defect_cases_report_rule_and_path() {
        let mut failures = Vec::new();
        for (name, text, want) in cases() {
            let c = catalog().check(&doc(&text));
            let mut got = problems(&c);
            got.sort();
            let mut want: Vec<(String, String)> = want
                .iter()
                .map(|(r, p)| (r.to_string(), p.to_string()))
                .collect();
            want.sort();
            if got != want {
                failures.push(format!(
                    "{name}:\n  want {want:?}\n  got  {:#?}",
                    c.findings
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn messages_and_hints_are_specific() {
        let find = |text: &str, rule: &str| -> Finding {
            let c = catalog().check(&doc(text));
            c.findings
                .into_iter()
                .find(|f| f.rule == rule)
                .unwrap_or_else(|| panic!("no {rule} for {text}"))
        };
        let f = find(
            &format!(
                "{BTP}  rateLimit: {{global: {{rules: [{{limit: {{requests: 1, unit: minute}}}}]}}}}\n"
            ),
            "schema/enum",
        );
        assert!(
            f.hint.contains("case-sensitive") && f.hint.contains("`Minute`"),
            "{f:?}"
        );
        let f = find(
            &format!("{BTP}  circuitBreaker: {{maxRequests: 10}}\n"),
            "schema/unknown-field",
        );
        assert!(
            f.hint.starts_with("remove it; known fields here: ")
                && f.hint.contains("maxConnections"),
            "{f:?}"
        );
        assert_eq!(
            f.resource.as_ref().map(ToString::to_string).as_deref(),
            Some("BackendTrafficPolicy demo/p")
        );
        let f = find(
            &format!(
                "{GW}  - {{name: https, protocol: HTTPS, port: 443, tls: {{mode: Passthrough}}}}\n"
            ),
            "cel/rule",
        );
        assert_eq!(f.message, "tls mode must be Terminate for protocol HTTPS");
        assert!(f.hint.contains("l.tls.mode"), "{f:?}");
        let f = find(
            &format!(
                "{GW}  - {{name: http, protocol: HTTP, port: 80, tls: {{certificateRefs: [{{name: c}}]}}}}\n"
            ),
            "cel/rule",
        );
        assert_eq!(
            f.message,
            "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"
        );
        let f = find(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: demo}\nspec:\n  rules:\n  - backendRefs: [{name: s}]\n",
            "cel/rule",
        );
        assert_eq!(f.message, "Must have port for Service reference");
        let f = find(
            "apiVersion: gateway.networking.k8s.io/v1alpha3\nkind: BackendTLSPolicy\nmetadata: {name: t, namespace: demo}\nspec: {}\n",
            "schema/version-not-served",
        );
        assert!(f.hint.contains("gateway.networking.k8s.io/v1"), "{f:?}");
        let f = find(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HttpRoute\nmetadata: {name: r}\n",
            "schema/unknown-kind",
        );
        assert!(
            f.hint.contains("`HTTPRoute`") && f.hint.contains("Gateway"),
            "{f:?}"
        );
        let f = find(
            &format!(
                "{BTP}  targetRef: {{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}}\n"
            ),
            "cel/rule",
        );
        assert_eq!(f.message, "either targetRef or targetRefs must be used");
        let f = find(
            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: s, namespace: demo}\nspec:\n  scaleTargetRef: {name: d}\n  minReplicaCount: 5\n  maxReplicaCount: 2\n  triggers: [{type: cpu, metadata: {value: \"50\"}}]\n",
            "cel/rule",
        );
        assert!(
            f.message.contains("minReplicaCount") && f.message.contains("maxReplicaCount"),
            "{f:?}"
        );
    }

    #[test]
    fn outcomes_for_objects_outside_the_catalog() {
        let cases: &[(&str, CheckOutcome, usize)] = &[
            (
                "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
                CheckOutcome::NoCrdForGroup,
                0,
            ),
            (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
                CheckOutcome::NoCrdForGroup,
                0,
            ),
            (
                "kind: Gateway\nmetadata: {name: d}\n",
                CheckOutcome::NoCrdForGroup,
                1,
            ),
            ("- just\n- a list\n", CheckOutcome::NoCrdForGroup, 1),
        ];
        for (text, outcome, n) in cases {
            let v = doc(text);
            let c = catalog().check(&v);
            assert_eq!(c.outcome, *outcome, "{text}");
            assert_eq!(c.findings.len(), *n, "{text}: {:?}", c.findings);
            assert_eq!(c.defaulted, v);
        }
    }

    #[test]
    fn int_or_string_preserve_unknown_and_status() {
        for body in ["{bufferLimit: 32Ki}", "{bufferLimit: 32768}"] {
            let c = catalog().check(&doc(&format!(
                "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\nmetadata: {{name: c, namespace: demo}}\nspec:\n  targetRefs: [{{group: gateway.networking.k8s.io, kind: Gateway, name: gw}}]\n  connection: {body}\n"
            )));
            assert!(c.findings.is_empty(), "{body}: {:?}", c.findings);
        }
        // jsonPatches[].operation.value is x-kubernetes-preserve-unknown-fields: any shape goes
        let c = catalog().check(&doc(
            "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyPatchPolicy\nmetadata: {name: p, namespace: demo}\nspec:\n  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: gw}\n  type: JSONPatch\n  jsonPatches:\n  - type: type.googleapis.com/envoy.config.listener.v3.Listener\n    name: l\n    operation:\n      op: add\n      path: /filter_chains/0\n      value: {anything: {goes: [1, {deep: true}]}, \"@type\": x}\n",
        ));
        assert!(c.findings.is_empty(), "{:?}", c.findings);
        // but the closed object around it still rejects unknown fields
        let c = catalog().check(&doc(
            "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyPatchPolicy\nmetadata: {name: p, namespace: demo}\nspec:\n  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: gw}\n  type: JSONPatch\n  jsonPatches:\n  - type: type.googleapis.com/envoy.config.listener.v3.Listener\n    name: l\n    operation: {op: add, path: /x, valu: 1}\n",
        ));
        assert_eq!(
            problems(&c),
            vec![(
                "schema/unknown-field".to_string(),
                "/spec/jsonPatches/0/operation/valu".to_string()
            )]
        );
        // status is ignored on create (status subresource) and dropped from the stored object
        let c = catalog().check(&doc(
            "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: x}\nspec: {selfSigned: {}}\nstatus: {whatever: [1]}\n",
        ));
        assert!(c.findings.is_empty(), "{:?}", c.findings);
        assert!(c.defaulted.get("status").is_none());
    }

    const SYNTHETIC: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            x-kubernetes-validations:
            - rule: "!has(self.note) || self.note != 'bad'"
              messageExpression: "'note must not be ' + self.note"
              fieldPath: .note
            properties:
              note: {type: string, nullable: true}
              count: {type: integer, nullable: false, default: 3}
              template:
                type: object
                x-kubernetes-embedded-resource: true
                x-kubernetes-preserve-unknown-fields: true
              pod:
                type: object
                x-kubernetes-embedded-resource: true
                properties:
                  spec: {type: object, properties: {replicas: {type: integer}}}
              free:
                type: object
                x-kubernetes-preserve-unknown-fields: true
"#;

    #[test]
    fn nullable_embedded_and_message_expression() {
        let mut cat = CrdCatalog::new();
        assert_eq!(cat.add_yaml_str(SYNTHETIC, "synthetic").unwrap(), 1);
        let check = |spec: &str| {
            cat.check(&doc(&format!(
                "apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w, namespace: demo}}\nspec: {spec}\n"
            )))
        };
        // nullable: null kept; non-nullable null with a default: defaulted
        let c = check("{note: null, count: null}");
        assert!(c.findings.is_empty(), "{:?}", c.findings);
        assert_eq!(c.defaulted["spec"], json!({"note": null, "count": 3}));
        // embedded resource: apiVersion/kind/metadata allowed (and required), metadata checked
        let c = check(
            "{pod: {apiVersion: v1, kind: Pod, metadata: {name: p, labels: {a: b}}, spec: {replicas: 1}}}",
        );
        assert!(c.findings.is_empty(), "{:?}", c.findings);
        let c = check("{pod: {metadata: {name: bad/name}, spec: {replicaz: 1}}}");
        let mut got = problems(&c);
        got.sort();
        assert_eq!(
            got,
            vec![
                (
                    "schema/metadata".to_string(),
                    "/spec/pod/metadata/name".to_string()
                ),
                (
                    "schema/required".to_string(),
                    "/spec/pod/apiVersion".to_string()
                ),
                ("schema/required".to_string(), "/spec/pod/kind".to_string()),
                (
                    "schema/unknown-field".to_string(),
                    "/spec/pod/spec/replicaz".to_string()
                ),
            ],
            "{:#?}",
            c.findings
        );
        // preserve-unknown-fields: arbitrary keys
        let c = check(
            "{free: {a: {b: [1, 2]}, c: d}, template: {apiVersion: v1, kind: X, spec: {anything: 1}}}",
        );
        assert!(c.findings.is_empty(), "{:?}", c.findings);
        // an embedded resource needs apiVersion and kind even when it preserves unknown fields
        let c = check("{template: {spec: {anything: 1}, kind: \"\"}}");
        let mut got = problems(&c);
        got.sort();
        assert_eq!(
            got,
            vec![
                (
                    "schema/range".to_string(),
                    "/spec/template/kind".to_string()
                ),
                (
                    "schema/required".to_string(),
                    "/spec/template/apiVersion".to_string()
                ),
            ],
            "{:#?}",
            c.findings
        );
        // messageExpression + fieldPath
        let c = check("{note: bad}");
        assert_eq!(
            problems(&c),
            vec![("cel/rule".to_string(), "/spec/note".to_string())]
        );
        assert_eq!(c.findings[0].message, "note must not be bad");
    }

    #[test]
    fn every_error_is_reported_not_just_the_first() {
        let c = catalog().check(&doc(&format!(
            "{BTP}  circuitBreaker: {{maxRequests: 1, maxConnections: x}}\n  rateLimit: {{global: {{rules: [{{limit: {{requests: 1, unit: minute}}}}, {{clientSelectors: [{{}}], limit: {{requests: 1}}}}]}}}}\n"
        )));
        let mut got: Vec<String> = problems(&c)
            .into_iter()
            .map(|(r, p)| format!("{r} {p}"))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                "cel/rule /spec/rateLimit/global/rules/1/clientSelectors/0",
                "schema/enum /spec/rateLimit/global/rules/0/limit/unit",
                "schema/required /spec/rateLimit/global/rules/1/limit/unit",
                "schema/type /spec/circuitBreaker/maxConnections",
                "schema/unknown-field /spec/circuitBreaker/maxRequests",
            ],
            "{:#?}",
            c.findings
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        let mut deep = json!(1);
        for _ in 0..600 {
            deep = json!({"a": deep});
        }
        let shapes = vec![
            json!(null),
            json!("x"),
            json!({"apiVersion": 1, "kind": []}),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway"}),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": "x", "spec": []}),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g"},
                   "spec": {"listeners": [null, 1, "x", {"name": null, "tls": []}], "addresses": {"a": 1}}}),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "g"},
                   "spec": {"rules": [{"matches": [{"path": "x"}], "backendRefs": [{}]}], "parentRefs": "x"}}),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g"}, "spec": deep}),
        ];
        for s in &shapes {
            let c = catalog().check(s);
            let _ = (c.outcome, c.findings.len());
        }
        // malformed CRDs load or fail cleanly, and a broken schema is a finding, not a panic
        let mut cat = CrdCatalog::new();
        let bad_schema = SYNTHETIC.replace(
            "note: {type: string, nullable: true}",
            "note: {type: strng}",
        );
        cat.add_yaml_str(&bad_schema, "bad").unwrap();
        let c = cat.check(
            &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
        );
        assert_eq!(
            problems(&c),
            vec![("schema/other".to_string(), String::new())]
        );
        for text in [
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec: 1\n",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec: {group: g, names: {kind: K}, versions: [{name: v1}]}\n",
            "apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\nspec: {}\n",
        ] {
            assert!(CrdCatalog::new().add_yaml_str(text, "t").is_err(), "{text}");
        }
    }

    #[test]
    fn every_cel_rule_of_every_crd_compiles() {
        let base = crate::test_shared::crds_dir();
        // one catalog per folder: the two Gateway API channels hold CRDs of the same names
        let folders = [
            "gateway-api/standard",
            "gateway-api/experimental",
            "envoy-gateway",
            "keda",
            "keda-http-add-on",
            "cert-manager",
            "ai-gateway",
        ];
        let mut total = PrecompileReport::default();
        let mut crds = 0;
        for f in folders {
            let mut cat = CrdCatalog::new();
            crds += cat
                .load_path(&base.join(f))
                .unwrap_or_else(|e| panic!("{f}: {e}"));
            let r = cat.precompile();
            eprintln!(
                "{f}: {} CRDs, {} schemas, {} rules, {} compiled, {} transition",
                cat.len(),
                r.schemas,
                r.rules,
                r.rules_compiled,
                r.transition_rules
            );
            total.schemas += r.schemas;
            total.rules += r.rules;
            total.rules_compiled += r.rules_compiled;
            total.transition_rules += r.transition_rules;
            total.failures.extend(r.failures);
            total.functions.extend(r.functions);
        }
        eprintln!(
            "all: {crds} CRDs, {} schemas (every version), {} rules, {} compiled, {} transition rules",
            total.schemas, total.rules, total.rules_compiled, total.transition_rules
        );
        eprintln!("functions: {:?}", total.functions);
        assert!(total.failures.is_empty(), "{:#?}", total.failures);
        // every function the rules call is one this environment provides (the named ones are
        // exercised in cel::tests); a new upstream function must be added, not fail at runtime
        const PROVIDED: &[&str] = &[
            "!_",
            "@in",
            "@not_strictly_false",
            "_!=_",
            "_&&_",
            "_+_",
            "_<=_",
            "_<_",
            "_==_",
            "_>=_",
            "_>_",
            "_?_:_",
            "_[_]",
            "_||_",
            "__k8sCachedMatches",
            "contains",
            "dns1123Label",
            "duration",
            "endsWith",
            "isIP",
            "lowerAscii",
            "size",
            "split",
            "startsWith",
            "substring",
            "upperAscii",
            "validate",
        ];
        let missing: Vec<&String> = total
            .functions
            .iter()
            .filter(|f| !PROVIDED.contains(&f.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "functions without an implementation: {missing:?}"
        );
        assert_eq!(total.rules, total.rules_compiled);
        // the upstream files carry well over a thousand rule instances, a few of them transition rules
        assert!(total.rules > 1000, "{total:?}");
        assert!(total.transition_rules >= 3, "{total:?}");
    }

    #[test]
    fn catalog_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CrdCatalog>();
        assert_send_sync::<Checked>();
    }
}
