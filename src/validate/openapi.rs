//! Kubernetes' built-in kinds (Namespace, Service, Deployment, Secret, ConfigMap, …) checked
//! against the OpenAPI v3 documents the API server publishes at `/openapi/v3/<group-version>`
//! (the Kubernetes repository keeps them as `api/openapi-spec/v3/<name>_openapi.json`).
//!
//! Cheap at load time, lazy after: loading a folder only lists its file names (`api__v1` is
//! `v1`, `apis__apps__v1` is `apps/v1`); a document is read and scanned when an object of its
//! group-version is first checked — the scan finds where each entry of `components/schemas`
//! starts and ends without building it — and a kind's schema is assembled (its `$ref`s resolved
//! one by one, only the ones it reaches) and compiled on first use, once per process. The
//! compiled schema goes through the same engine as a CRD's ([`crate::validate::schema`]):
//! unknown fields are errors (the API server's strict field validation), int-or-string, list
//! types, formats.
//!
//! What Go's JSON decoder does before validation is done here too: a `null` value is the same
//! as an absent field (`creationTimestamp: null`, `resources: {}` from `kubectl create
//! --dry-run -o yaml` are accepted), and the `status` a client sends is ignored. The OpenAPI
//! `default`s are not applied: the API server defaults built-ins in Go, not from the document.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::validate::cache::{self, LoadCache, SchemaKind};
use crate::validate::finding::Finding;
use crate::validate::meta::check_metadata;
use crate::validate::schema;
use crate::validate::structural::Node;

/// The prefix of a `$ref` into the document's schemas.
const REF_PREFIX: &str = "#/components/schemas/";
/// Largest document read (the largest, `api__v1`, is about 2 MB).
const MAX_DOC_BYTES: u64 = 64 * 1024 * 1024;
/// Deepest `$ref` chain followed (PodSpec is about 12 deep).
const MAX_REF_DEPTH: usize = 64;

/// Why the OpenAPI documents could not be indexed.
#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}: no Kubernetes OpenAPI v3 document in it (files named like api__v1_openapi.json or apis__apps__v1_openapi.json)",
        path.display()
    )]
    Empty { path: PathBuf },
}

/// The group-version a document file name stands for: `api__v1_openapi.json` is `v1`,
/// `apis__apps__v1_openapi.json` is `apps/v1`. Other files (`apis_openapi.json`, `version_…`)
/// describe no kinds.
pub fn group_version_of(file_name: &str) -> Option<String> {
    let stem = file_name.strip_suffix("_openapi.json")?;
    let parts: Vec<&str> = stem.split("__").collect();
    match parts.as_slice() {
        ["api", v] if !v.is_empty() => Some((*v).to_string()),
        ["apis", g, v] if !g.is_empty() && !v.is_empty() => Some(format!("{g}/{v}")),
        _ => None,
    }
}

/// The file name of a group-version's document (the inverse of [`group_version_of`]).
pub fn file_name_of(api_version: &str) -> String {
    match api_version.split_once('/') {
        Some((g, v)) => format!("apis__{g}__{v}_openapi.json"),
        None => format!("api__{api_version}_openapi.json"),
    }
}

enum DocSource {
    File(PathBuf),
    Text(Arc<str>),
}

/// One group-version's document: where it is, and once read, where each schema is in it.
struct Doc {
    source: DocSource,
    loaded: OnceLock<Result<Loaded, String>>,
    /// kind → its compiled schema, built on first use
    kinds: Mutex<HashMap<String, KindCell>>,
}

struct Loaded {
    text: Arc<str>,
    /// schema name → byte range of its JSON value in `text`
    schemas: HashMap<String, Range<usize>>,
}

type KindCell = Arc<OnceLock<Result<Arc<Compiled>, String>>>;

pub(crate) struct Compiled {
    node: Node,
    validator: schema::SchemaValidator,
}

/// The built-in kinds' schemas, by group-version. `Send + Sync`; each document is read and each
/// kind compiled at most once.
#[derive(Default)]
pub struct BuiltinCatalog {
    /// apiVersion (`v1`, `apps/v1`) → document
    docs: BTreeMap<String, Doc>,
    /// where the documents came from, for messages
    origin: String,
    /// group-versions whose document could not be had, and why (their kinds are not checked)
    missing: BTreeMap<String, String>,
    /// the API groups of `docs` and `missing` ("" for core)
    groups: BTreeSet<String>,
    /// where resolved schemas are kept between runs ([`crate::validate::cache`])
    cache: Option<LoadCache>,
}

impl std::fmt::Debug for BuiltinCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinCatalog")
            .field("origin", &self.origin)
            .field("group_versions", &self.docs.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What the catalogue can say about an object's apiVersion and kind.
pub(crate) enum Lookup {
    /// Not a built-in group: CRDs' business.
    NotBuiltin,
    /// A built-in group, but this version or kind is not served: the findings say so.
    Rejected(Vec<Finding>),
    /// The document could not be read or the schema not compiled: not checked.
    Unavailable(String),
    Found(Arc<Compiled>),
}

impl BuiltinCatalog {
    /// Index the documents in a folder (file names only; nothing is read yet).
    pub fn load_dir(dir: &Path) -> Result<Self, OpenApiError> {
        let io = |source| OpenApiError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut docs = BTreeMap::new();
        for e in std::fs::read_dir(dir).map_err(io)? {
            let p = e.map_err(io)?.path();
            if let Some(gv) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(group_version_of)
            {
                docs.insert(gv, Doc::new(DocSource::File(p)));
            }
        }
        if docs.is_empty() {
            return Err(OpenApiError::Empty {
                path: dir.to_path_buf(),
            });
        }
        Ok(BuiltinCatalog {
            docs,
            origin: dir.display().to_string(),
            missing: BTreeMap::new(),
            groups: BTreeSet::new(),
            cache: None,
        }
        .with_groups())
    }

    /// Documents given as texts (e.g. read from a cluster's `/openapi/v3`), by apiVersion.
    pub fn from_texts(texts: Vec<(String, String)>, origin: &str) -> Self {
        BuiltinCatalog {
            docs: texts
                .into_iter()
                .map(|(gv, t)| (gv, Doc::new(DocSource::Text(Arc::from(t)))))
                .collect(),
            origin: origin.to_string(),
            missing: BTreeMap::new(),
            groups: BTreeSet::new(),
            cache: None,
        }
        .with_groups()
    }

    /// Keep each built-in kind's resolved schema in a load cache, and use what it holds instead
    /// of reading a document that did not change (documents read from files only).
    pub fn with_cache(mut self, cache: Option<LoadCache>) -> Self {
        self.cache = cache;
        self
    }

    fn with_groups(mut self) -> Self {
        self.groups = self
            .docs
            .keys()
            .chain(self.missing.keys())
            .map(|gv| gv.rsplit_once('/').map_or("", |(g, _)| g).to_string())
            .collect();
        self
    }

    /// Say that a group-version's document could not be had: its kinds are reported as not
    /// checked (instead of "not served").
    pub fn mark_missing(&mut self, api_version: &str, why: &str) {
        self.missing
            .insert(api_version.to_string(), why.to_string());
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        self.groups.insert(group.to_string());
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty() && self.missing.is_empty()
    }

    /// The group-versions indexed.
    pub fn group_versions(&self) -> impl Iterator<Item = &str> {
        self.docs.keys().map(String::as_str)
    }

    /// Where the documents came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether objects of `group` are built-in kinds: the core group, a group these documents
    /// serve, or a group without a dot (reserved to Kubernetes: a CRD's group must have one,
    /// so `extensions` is a removed built-in group, never a CRD's).
    pub fn owns_group(&self, group: &str) -> bool {
        is_builtin_group(group) || self.groups.contains(group)
    }

    /// Compile `kind`'s schema now unless a thread has looked it up already (see
    /// [`crate::validate::crds::CrdCatalog::warm`]): a kind has an entry from its first lookup
    /// on. Two threads that meet a new kind at the same instant both look it up, and one waits.
    pub(crate) fn warm(&self, api_version: &str, kind: &str) {
        let Some(doc) = self.docs.get(api_version) else {
            return;
        };
        let begun = doc
            .kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(kind);
        if !begun {
            let _ = self.lookup(api_version, kind);
        }
    }

    /// The schema of an object's kind, or why there is none.
    pub(crate) fn lookup(&self, api_version: &str, kind: &str) -> Lookup {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        if !self.owns_group(group) {
            return Lookup::NotBuiltin;
        }
        if let Some(why) = self.missing.get(api_version) {
            return Lookup::Unavailable(why.clone());
        }
        let Some(doc) = self.docs.get(api_version) else {
            return Lookup::Rejected(vec![self.version_not_served(api_version, kind, group)]);
        };
        let cell = {
            let mut kinds = doc.kinds.lock().unwrap_or_else(|p| p.into_inner());
            kinds.entry(kind.to_string()).or_default().clone()
        };
        let compiled = cell.get_or_init(|| {
            doc.compile(api_version, kind, self.cache.as_ref())
                .map(Arc::new)
        });
        match compiled {
            Ok(c) => Lookup::Found(Arc::clone(c)),
            Err(e) if e.starts_with(NO_KIND) => Lookup::Rejected(vec![Finding::error(
                "schema/unknown-kind",
                "/kind",
                format!(
                    "kind `{kind}` does not exist in {api_version} (schemas from {})",
                    self.origin
                ),
                match doc
                    .loaded()
                    .map(|l| l.kinds_of(api_version))
                    .unwrap_or_default()
                {
                    k if k.is_empty() => "check the kind's spelling and apiVersion".to_string(),
                    k => format!("kinds of {api_version}: {}", k.join(", ")),
                },
            )]),
            Err(e) => Lookup::Unavailable(e.clone()),
        }
    }

    fn version_not_served(&self, api_version: &str, kind: &str, group: &str) -> Finding {
        let served: Vec<&str> = self
            .docs
            .keys()
            .filter(|gv| gv.rsplit_once('/').map_or("", |(g, _)| g) == group)
            .map(String::as_str)
            .collect();
        let hint = match moved_to(kind) {
            Some(gv) if gv != api_version => format!("use apiVersion: {gv}"),
            _ if !served.is_empty() => {
                format!("served versions of this group: {}", served.join(", "))
            }
            _ => "this API group is not served any more; find the kind's current apiVersion".into(),
        };
        Finding::error(
            "schema/version-not-served",
            "/apiVersion",
            format!(
                "{api_version} {kind} is not served by the Kubernetes API server (removed or unknown apiVersion; schemas from {})",
                self.origin
            ),
            hint,
        )
    }
}

/// The core group, and groups without a dot (`apps`, `batch`, `extensions`, …): only
/// Kubernetes serves those (a CRD's group must contain a dot:
/// k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation/validation.go, v1.35).
pub fn is_builtin_group(group: &str) -> bool {
    !group.contains('.')
}

/// Where kinds of removed apiVersions live now (Kubernetes deprecation guide, v1.16-v1.32
/// removals).
fn moved_to(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet" | "ControllerRevision" => {
            "apps/v1"
        }
        "Ingress" | "IngressClass" | "NetworkPolicy" => "networking.k8s.io/v1",
        "CronJob" | "Job" => "batch/v1",
        "HorizontalPodAutoscaler" => "autoscaling/v2",
        "PodDisruptionBudget" => "policy/v1",
        "EndpointSlice" => "discovery.k8s.io/v1",
        "PriorityClass" => "scheduling.k8s.io/v1",
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => {
            "rbac.authorization.k8s.io/v1"
        }
        _ => return None,
    })
}

const NO_KIND: &str = "no kind:";

impl Doc {
    fn new(source: DocSource) -> Self {
        Doc {
            source,
            loaded: OnceLock::new(),
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// A kind's compiled schema: from its resolved schema in the load cache, else resolved from
    /// the document (read now if it was not yet) and then kept in the cache.
    fn compile(
        &self,
        api_version: &str,
        kind: &str,
        cache: Option<&LoadCache>,
    ) -> Result<Compiled, String> {
        let key = match (&self.source, cache) {
            (DocSource::File(p), Some(_)) => cache::builtin_key(p, api_version, kind),
            _ => None,
        };
        let resolve = || {
            self.loaded()
                .map_err(String::clone)?
                .resolve_kind(api_version, kind)
                .map(Cow::Owned)
        };
        let resolved = match key.as_ref().zip(cache) {
            Some((k, c)) => c.schema_or(SchemaKind::Builtin, k, resolve)?,
            None => resolve()?,
        };
        compile_resolved(api_version, kind, resolved)
    }

    fn loaded(&self) -> Result<&Loaded, &String> {
        self.loaded
            .get_or_init(|| {
                let t = std::time::Instant::now();
                let text: Arc<str> = match &self.source {
                    DocSource::Text(t) => Arc::clone(t),
                    DocSource::File(p) => Arc::from(read_limited(p)?),
                };
                let schemas = index_schemas(&text).map_err(|e| match &self.source {
                    DocSource::File(p) => format!("{}: {e}", p.display()),
                    DocSource::Text(_) => e,
                })?;
                tracing::debug!(
                    bytes = text.len(),
                    schemas = schemas.len(),
                    us = t.elapsed().as_micros() as u64,
                    "OpenAPI document read and indexed"
                );
                Ok(Loaded { text, schemas })
            })
            .as_ref()
    }
}

fn read_limited(p: &Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut s = String::new();
    f.take(MAX_DOC_BYTES + 1)
        .read_to_string(&mut s)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    if s.len() as u64 > MAX_DOC_BYTES {
        return Err(format!(
            "{}: larger than {MAX_DOC_BYTES} bytes",
            p.display()
        ));
    }
    Ok(s)
}

// The scan: the entries of a JSON object as (key, byte range of the value), each value checked
// and skipped by serde_json without being built.

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// The JSON value starting at `at`: where it ends. Objects and arrays are skipped by matching
/// brackets outside strings (a byte loop, several times faster than parsing: the `api__v1`
/// document is 2 MB); each schema is parsed by serde_json when used, which reports any
/// malformation then, and [`check_document`] parses a downloaded document in full.
fn skip_value(text: &str, at: usize) -> Result<usize, String> {
    let b = text.as_bytes();
    if matches!(b.get(at), Some(b'{' | b'[')) {
        let mut depth = 0usize;
        let mut i = at;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        if b[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        return Err(format!("not JSON: the value at byte {at} does not end"));
    }
    let mut it = serde_json::Deserializer::from_str(&text[at..]).into_iter::<IgnoredAny>();
    match it.next() {
        Some(Ok(_)) => Ok(at + it.byte_offset()),
        Some(Err(e)) => Err(format!("not JSON near byte {at}: {e}")),
        None => Err(format!("a value is missing at byte {at}")),
    }
}

/// The entries of the JSON object starting at `at` (a `{`).
fn object_entries(text: &str, at: usize) -> Result<Vec<(String, Range<usize>)>, String> {
    let b = text.as_bytes();
    let bad = |i: usize, what: &str| format!("not a JSON object at byte {i}: {what}");
    let mut i = skip_ws(b, at);
    if b.get(i) != Some(&b'{') {
        return Err(bad(i, "expected `{`"));
    }
    i = skip_ws(b, i + 1);
    let mut out = Vec::new();
    if b.get(i) == Some(&b'}') {
        return Ok(out);
    }
    loop {
        let mut keys = serde_json::Deserializer::from_str(&text[i..]).into_iter::<String>();
        let key = match keys.next() {
            Some(Ok(k)) => k,
            _ => return Err(bad(i, "expected a key")),
        };
        i = skip_ws(b, i + keys.byte_offset());
        if b.get(i) != Some(&b':') {
            return Err(bad(i, "expected `:`"));
        }
        let start = skip_ws(b, i + 1);
        let end = skip_value(text, start)?;
        out.push((key, start..end));
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Ok(out),
            _ => return Err(bad(i, "expected `,` or `}`")),
        }
    }
}

/// `components/schemas` of a document: name → range of its schema.
fn index_schemas(text: &str) -> Result<HashMap<String, Range<usize>>, String> {
    let top = object_entries(text, 0)?;
    let components = top
        .iter()
        .find(|(k, _)| k == "components")
        .ok_or("no `components` in the OpenAPI document")?;
    let schemas = object_entries(text, components.1.start)?
        .into_iter()
        .find(|(k, _)| k == "schemas")
        .ok_or("no `components.schemas` in the OpenAPI document")?;
    Ok(object_entries(text, schemas.1.start)?.into_iter().collect())
}

/// Whether a text is an OpenAPI v3 document with `components.schemas` (a quick check of a
/// download: every schema is scanned, none is built).
pub fn check_document(text: &str) -> Result<(), String> {
    serde_json::from_str::<IgnoredAny>(text).map_err(|e| format!("not JSON: {e}"))?;
    let schemas = index_schemas(text)?;
    if schemas.is_empty() {
        return Err("no schema in `components.schemas`".into());
    }
    Ok(())
}

/// Keys that only document, or that only server-side apply and clients read.
const DROPPED: &[&str] = &[
    "description",
    "default",
    "example",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-map-type",
    "x-kubernetes-unions",
    "x-kubernetes-group-version-kind",
    "x-kubernetes-action",
];

impl Loaded {
    fn raw(&self, name: &str) -> Option<Result<Value, String>> {
        let r = self.schemas.get(name)?;
        Some(serde_json::from_str(&self.text[r.clone()]).map_err(|e| format!("{name}: {e}")))
    }

    /// The schema names whose `x-kubernetes-group-version-kind` is this kind (the name ends
    /// with `.Kind` by convention; the tag decides).
    fn schema_of(&self, api_version: &str, kind: &str) -> Result<(String, Value), String> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let suffix = format!(".{kind}");
        let mut names: Vec<&String> = self
            .schemas
            .keys()
            .filter(|n| n.ends_with(&suffix))
            .collect();
        names.sort();
        for n in names {
            let v = self.raw(n).unwrap_or_else(|| Err(n.clone()))?;
            if gvk_matches(&v, group, version, kind) {
                return Ok((n.clone(), v));
            }
        }
        Err(format!("{NO_KIND} {kind}"))
    }

    /// The kinds a document serves in `api_version` (for hints; reads every tagged schema).
    fn kinds_of(&self, api_version: &str) -> Vec<String> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let mut out: Vec<String> = self
            .schemas
            .keys()
            .filter_map(|n| {
                let kind = n.rsplit('.').next()?;
                let v = self.raw(n)?.ok()?;
                gvk_matches(&v, group, version, kind)
                    .then(|| kind.to_string())
                    .filter(|k| !k.ends_with("List"))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// A kind's schema with every `$ref` resolved.
    fn resolve_kind(&self, api_version: &str, kind: &str) -> Result<Value, String> {
        let t = std::time::Instant::now();
        let (name, raw) = self.schema_of(api_version, kind)?;
        let mut memo = HashMap::new();
        let mut stack = vec![name];
        let resolved = self.resolve(&raw, &mut stack, &mut memo, 0)?;
        tracing::debug!(
            api_version,
            kind,
            us = t.elapsed().as_micros() as u64,
            "built-in kind resolved"
        );
        Ok(resolved)
    }

    /// A schema with its `$ref`s replaced by what they name, recursively; a reference back to
    /// a schema being resolved (a recursive type) accepts anything there.
    fn resolve(
        &self,
        raw: &Value,
        stack: &mut Vec<String>,
        memo: &mut HashMap<String, Value>,
        depth: usize,
    ) -> Result<Value, String> {
        let Some(m) = raw.as_object() else {
            return Ok(raw.clone());
        };
        if depth > MAX_REF_DEPTH * 4 {
            return Err("schema nested too deep".into());
        }
        // `{$ref}` or `{allOf: [{$ref}], default, description}`: the named schema
        let target = m.get("$ref").and_then(Value::as_str).or_else(|| {
            match m.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                Some([one]) => one.get("$ref").and_then(Value::as_str),
                _ => None,
            }
        });
        let mut out = Map::new();
        if let Some(r) = target {
            let name = r
                .strip_prefix(REF_PREFIX)
                .ok_or_else(|| format!("unsupported $ref {r}"))?;
            let named = if stack.iter().any(|s| s == name) || stack.len() > MAX_REF_DEPTH {
                serde_json::json!({"x-kubernetes-preserve-unknown-fields": true})
            } else if let Some(v) = memo.get(name) {
                v.clone()
            } else {
                let raw = self
                    .raw(name)
                    .ok_or_else(|| format!("$ref to a missing schema {name}"))??;
                stack.push(name.to_string());
                let v = self.resolve(&raw, stack, memo, depth + 1)?;
                stack.pop();
                memo.insert(name.to_string(), v.clone());
                v
            };
            if let Value::Object(n) = named {
                out = n;
            }
        }
        for (k, v) in m {
            if k == "$ref" || (k == "allOf" && target.is_some()) || DROPPED.contains(&k.as_str()) {
                continue;
            }
            let v = match k.as_str() {
                "properties" => match v {
                    Value::Object(p) => {
                        let mut props = Map::new();
                        for (pk, pv) in p {
                            props.insert(pk.clone(), self.resolve(pv, stack, memo, depth + 1)?);
                        }
                        Value::Object(props)
                    }
                    other => other.clone(),
                },
                "items" | "additionalProperties" | "not" => {
                    self.resolve(v, stack, memo, depth + 1)?
                }
                "allOf" | "anyOf" | "oneOf" => match v {
                    Value::Array(a) => Value::Array(
                        a.iter()
                            .map(|x| self.resolve(x, stack, memo, depth + 1))
                            .collect::<Result<_, _>>()?,
                    ),
                    other => other.clone(),
                },
                _ => v.clone(),
            };
            out.insert(k.clone(), v);
        }
        // `type: object` with neither properties nor additionalProperties (RawExtension,
        // FieldsV1): any object, as Go decodes it into raw bytes or a free-form map
        if out.get("type").and_then(Value::as_str) == Some("object")
            && !out.contains_key("properties")
            && !out.contains_key("additionalProperties")
        {
            out.insert(
                "x-kubernetes-preserve-unknown-fields".into(),
                Value::Bool(true),
            );
        }
        // IntOrString: `format: int-or-string, oneOf: [integer, string]`
        if out.get("format").and_then(Value::as_str) == Some("int-or-string") {
            out.remove("format");
            out.remove("oneOf");
            out.insert("x-kubernetes-int-or-string".into(), Value::Bool(true));
        }
        Ok(Value::Object(out))
    }
}

/// The structural tree and validator of a kind's resolved schema.
fn compile_resolved(
    api_version: &str,
    kind: &str,
    resolved: Cow<'_, Value>,
) -> Result<Compiled, String> {
    let t = std::time::Instant::now();
    let node = Node::parse(&resolved, kind, 0)?;
    let tree_us = t.elapsed().as_micros() as u64;
    let has_status = resolved
        .get("properties")
        .is_some_and(|p| p.get("status").is_some());
    // big subschemas are converted and compiled when a document first reaches them
    let validator = schema::SchemaValidator::for_kind(Arc::new(resolved.into_owned()), has_status)?;
    tracing::debug!(
        api_version,
        kind,
        tree_us,
        total_us = t.elapsed().as_micros() as u64,
        "built-in kind compiled"
    );
    Ok(Compiled { node, validator })
}

fn gvk_matches(schema: &Value, group: &str, version: &str, kind: &str) -> bool {
    schema
        .get("x-kubernetes-group-version-kind")
        .and_then(Value::as_array)
        .is_some_and(|l| {
            l.iter().any(|g| {
                g["group"].as_str().unwrap_or("") == group
                    && g["version"] == version
                    && g["kind"] == kind
            })
        })
}

/// Whether a mapping anywhere in `v` has a null value ([`drop_nulls`] would change it).
fn has_null_field(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.values().any(|x| x.is_null() || has_null_field(x)),
        Value::Array(a) => a.iter().any(has_null_field),
        _ => false,
    }
}

/// Go's JSON decoder treats `null` as "not set" for every field of a built-in type: drop
/// null members (recursively) before the schema sees the object.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Check one built-in object against its compiled schema: ObjectMeta, then the schema.
pub(crate) fn check(compiled: &Compiled, obj: &Value) -> Vec<Finding> {
    // a copy only when there is something to take out (most objects have neither)
    let v: Cow<'_, Value> = if has_null_field(obj) || obj.get("status").is_some() {
        let mut v = obj.clone();
        drop_nulls(&mut v);
        if let Value::Object(m) = &mut v {
            // a client's status is ignored on create
            m.shift_remove("status");
        }
        Cow::Owned(v)
    } else {
        Cow::Borrowed(obj)
    };
    let v = v.as_ref();
    let mut out = Vec::new();
    check_metadata(v, "", true, &mut out);
    compiled.validator.check(v, &compiled.node, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_group_versions() {
        for (file, gv) in [
            ("api__v1_openapi.json", Some("v1")),
            ("apis__apps__v1_openapi.json", Some("apps/v1")),
            (
                "apis__networking.k8s.io__v1_openapi.json",
                Some("networking.k8s.io/v1"),
            ),
            ("apis_openapi.json", None),
            ("version_openapi.json", None),
            ("api__v1_openapi.yaml", None),
        ] {
            assert_eq!(group_version_of(file).as_deref(), gv, "{file}");
            if let Some(gv) = gv {
                assert_eq!(file_name_of(gv), file);
            }
        }
    }

    #[test]
    fn the_scan_finds_each_schema_and_refuses_broken_json() {
        let text = r#"{"components": {"schemas": {"a.B": {"type": "object", "properties": {"x": {"type": "string"}}}, "c.D": {"type": "string"} }}, "paths": {"/": [1, 2.5, null, true]}}"#;
        let idx = index_schemas(text).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(&text[idx["c.D"].clone()], r#"{"type": "string"}"#);
        assert!(index_schemas(r#"{"components": {"schemas": {"a": {"#).is_err());
        assert!(
            index_schemas(r#"{"components": {"schemas": {"a": {"x": "}{\"]"}, "b": [{}]}}}"#)
                .is_ok()
        );
        assert!(check_document(r#"{"components": {"schemas": {"a": {]}}}"#).is_err());
        assert!(index_schemas(r#"{"paths": {}}"#).is_err());
        assert!(index_schemas("[]").is_err());
    }

    #[test]
    fn refs_are_resolved_and_recursion_stops() {
        let text = r##"{"components": {"schemas": {
            "x.v1.Thing": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "x", "version": "v1", "kind": "Thing"}],
               "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                 "spec": {"allOf": [{"$ref": "#/components/schemas/x.v1.Spec"}], "default": {}}}},
            "x.v1.Spec": {"type": "object", "properties": {"port": {"$ref": "#/components/schemas/intstr"}, "self": {"$ref": "#/components/schemas/x.v1.Spec"}, "raw": {"$ref": "#/components/schemas/raw"}}},
            "raw": {"type": "object", "description": "RawExtension"},
            "intstr": {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}
        }}}"##;
        let cat = BuiltinCatalog::from_texts(vec![("x/v1".into(), text.into())], "test");
        let Lookup::Found(c) = cat.lookup("x/v1", "Thing") else {
            panic!("not found")
        };
        let c = &*c;
        let ok = serde_json::json!({"apiVersion": "x/v1", "kind": "Thing", "metadata": {"name": "a"},
            "spec": {"port": "http", "self": {"anything": 1}, "raw": {"any": {"thing": [1]}}}});
        assert!(check(c, &ok).is_empty(), "{:?}", check(c, &ok));
        let bad = serde_json::json!({"apiVersion": "x/v1", "kind": "Thing", "metadata": {"name": "a"},
            "spec": {"port": true, "typo": 1}});
        let paths: Vec<String> = check(c, &bad).into_iter().map(|f| f.path).collect();
        assert!(paths.contains(&"/spec/port".to_string()), "{paths:?}");
        assert!(paths.contains(&"/spec/typo".to_string()), "{paths:?}");
        assert!(matches!(cat.lookup("x/v1", "Other"), Lookup::Rejected(_)));
        assert!(matches!(cat.lookup("x/v2", "Thing"), Lookup::Rejected(_)));
        assert!(matches!(
            cat.lookup("example.com/v1", "Thing"),
            Lookup::NotBuiltin
        ));
    }

    /// Built-in objects through the whole engine (no CRDs) against Kubernetes 1.35's documents:
    /// (YAML, expected (rule, path) of the errors).
    #[test]
    fn builtin_kinds_against_the_kubernetes_documents() {
        let v = crate::validate::Validator::new()
            .with_builtins(BuiltinCatalog::load_dir(&crate::test_shared::openapi_dir()).unwrap());
        let dep = |extra_meta: &str, container: &str| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: apps\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: api}}\n  template:\n    metadata:\n      creationTimestamp: null\n      labels: {{app: api}}\n{extra_meta}    spec:\n      containers:\n      - name: api\n        image: example/api:1\n        resources: {{}}\n{container}status: {{}}\n"
            )
        };
        let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
            // kubectl create --dry-run style output is clean
            (dep("", ""), vec![]),
            (
                dep("", "        ports:\n        - containerPort: 8000\n          name: http\n        env:\n        - name: A\n          value: \"1\"\n"),
                vec![],
            ),
            // YAML 1.1 booleans and numbers where Kubernetes wants strings
            (
                dep("      annotations:\n        sidecar.istio.io/inject: yes\n", ""),
                vec![("yaml/yaml11-boolean", "/spec/template/metadata/annotations/sidecar.istio.io~1inject")],
            ),
            (
                dep("", "        env:\n        - name: DEBUG\n          value: on\n        - name: RATIO\n          value: 0.5\n"),
                vec![
                    ("yaml/yaml11-boolean", "/spec/template/spec/containers/0/env/0/value"),
                    ("schema/type", "/spec/template/spec/containers/0/env/1/value"),
                ],
            ),
            (
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  labels:\n    version: 1.0\nspec:\n  ports:\n  - port: 80\n    targetPort: http\n".into(),
                vec![("schema/type", "/metadata/labels/version")],
            ),
            // typos
            (
                dep("", "        imagePullPolice: Always\n"),
                vec![("schema/unknown-field", "/spec/template/spec/containers/0/imagePullPolice")],
            ),
            (
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  selectr: {app: api}\n  ports:\n  - port: 80\n".into(),
                vec![("schema/unknown-field", "/spec/selectr")],
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: \"1\"\nbinaryData: {}\nimmutable: true\nstringData: {}\n".into(),
                vec![("schema/unknown-field", "/stringData")],
            ),
            (
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n  lables: {a: b}\n".into(),
                vec![("schema/unknown-field", "/metadata/lables")],
            ),
            (
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: Opaque\ndata:\n  key: not base64!\n".into(),
                vec![("schema/format", "/data/key")],
            ),
            // kustomize: base64 split over lines is what the API server's decoder accepts
            (
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: Opaque\ndata:\n  key: |\n    aGVsbG8gd29y\n    bGQ=\n".into(),
                vec![],
            ),
            // anchors and merge keys
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: &l {app: api}\n  annotations:\n    <<: *l\n    note: x\ndata: {a: b}\n".into(),
                vec![],
            ),
            // removed and unknown apiVersions, unknown kinds
            (
                "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: api\n".into(),
                vec![("schema/version-not-served", "/apiVersion")],
            ),
            (
                "apiVersion: apps/v1beta2\nkind: Deployment\nmetadata:\n  name: api\n".into(),
                vec![("schema/version-not-served", "/apiVersion")],
            ),
            (
                "apiVersion: v1\nkind: Deployment\nmetadata:\n  name: api\n".into(),
                vec![("schema/unknown-kind", "/kind")],
            ),
            // required fields
            (
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  ports:\n  - targetPort: 80\n".into(),
                vec![("schema/required", "/spec/ports/0/port")],
            ),
        ];
        for (yaml, want) in cases {
            let r = v.validate_sources(&[crate::validate::Source {
                name: "t.yaml".into(),
                text: yaml.clone(),
            }]);
            let mut got: Vec<(String, String)> = r
                .findings
                .iter()
                .filter(|f| f.severity == crate::validate::Severity::Error)
                .map(|f| (f.rule.clone(), f.path.clone()))
                .collect();
            got.sort();
            got.dedup();
            let mut want: Vec<(String, String)> = want
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            want.sort();
            assert_eq!(got, want, "{yaml}\n{}", r.to_text());
            assert!(
                r.findings
                    .iter()
                    .filter(|f| f.severity == crate::validate::Severity::Error)
                    .all(|f| f.line.is_some() && !f.hint.is_empty()),
                "{}",
                r.to_text()
            );
        }
    }

    /// Without documents, built-in kinds are said not checked (and their YAML 1.1 words warned),
    /// never passed in silence.
    #[test]
    fn without_documents_built_ins_are_not_checked() {
        let v = crate::validate::Validator::new();
        let r = v.validate_sources(&[crate::validate::Source {
            name: "s.yaml".into(),
            text: "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  labels: {canary: on}\nspec:\n  ports: [{port: 80}]\n".into(),
        }]);
        assert!(!r.complete());
        assert!(
            r.summary
                .not_checked
                .iter()
                .any(|n| n.contains("v1 Service")),
            "{:?}",
            r.summary.not_checked
        );
        let rules: Vec<(&str, crate::validate::Severity)> = r
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.severity))
            .collect();
        assert!(
            rules.contains(&("builtin/not-checked", crate::validate::Severity::Info)),
            "{rules:?}"
        );
        assert!(
            rules.contains(&("yaml/yaml11-boolean", crate::validate::Severity::Warning)),
            "{rules:?}"
        );
        assert_eq!(r.summary.errors, 0);
        // an unreadable document: not checked either, with the reason
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("api__v1_openapi.json"), "{\"components\": ").unwrap();
        let v = crate::validate::Validator::new()
            .with_builtins(BuiltinCatalog::load_dir(dir.path()).unwrap());
        let r = v.validate_sources(&[crate::validate::Source {
            name: "s.yaml".into(),
            text: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n".into(),
        }]);
        assert!(
            r.summary
                .not_checked
                .iter()
                .any(|n| n.contains("v1 ConfigMap") && n.contains("api__v1_openapi.json")),
            "{:?}",
            r.summary.not_checked
        );
    }
}
