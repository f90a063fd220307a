//! The load cache: what loading the CRDs and the Kubernetes OpenAPI documents costs, kept on disk
//! between runs, so that a warm `validate` neither reads nor skims the CRD texts (8.5 MB for the
//! pinned set) nor reads a 2 MB OpenAPI document for one built-in kind.
//!
//! What is kept, as files under the folder the caller gives (the validator reads no
//! environment variable: the CLI resolves the folder, `src/cli/config.rs`):
//! - `crd-index/<h>.json`, one per CRD folder: for each CRD file (by name) its stamp and what the
//!   skim and the skeleton parse found in it (group, kind, name, and per version: served,
//!   deprecated, deprecation warning, status subresource);
//! - `crd-schema/<h>.json`, one per CRD version, written when the kind is first checked: its
//!   `openAPIV3Schema`, parsed (serde_json reads JSON several times faster than the YAML path),
//!   without the `description`s no check reads ([`prune`]);
//! - `crd-cel/<h>.bin`, beside each `crd-schema` entry: the syntax trees of every CEL rule and
//!   messageExpression of that version, parsed once (`crate::validate::cel_ast`; parsing is
//!   most of what compiling a rule costs);
//! - `builtin/<h>.json`, one per built-in kind: its schema with every `$ref` resolved.
//!
//! `<h>` is a SHA-256 of the [`FORMAT`] number, the tool's version and the source's canonical
//! path, with (for schemas) the file's length and modification time in nanoseconds and the
//! CRD's and version's place in it. A file that does not match, cannot be read or does not parse
//! is ignored (the source is read as without a cache) and written again. Writes are atomic (a
//! temporary file in the same folder, then a rename), and a cache that cannot be written never
//! fails a load: the cache only ever saves work, it never changes a finding.
//!
//! Limit: a file rewritten with the same length within the same nanosecond timestamp (or whose
//! mtime is set back) looks unchanged; `--no-cache` / `TRAFFIC_ENGINEER_NO_CACHE=1` read
//! everything afresh.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Raised whenever what is stored, or how it is read, changes.
pub const FORMAT: u32 = 3;
/// The tool's version: a new release never reads an older one's files.
const TOOL: &str = env!("CARGO_PKG_VERSION");
/// The cache's folder name under the project's cache folder (the CLI's choice; the CRD loader
/// skips a folder that is the cache when it walks a CRD folder holding it).
pub const DIR_NAME: &str = "load-cache";

const CRD_INDEX: &str = "crd-index";
const CRD_SCHEMA: &str = "crd-schema";
const CRD_CEL: &str = "crd-cel";
const BUILTIN: &str = "builtin";

/// A persistent cache of loaded CRD indexes and parsed schemas, in a folder. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LoadCache {
    dir: Arc<PathBuf>,
}

/// What identifies a version of a file: its length and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    pub len: u64,
    pub mtime_ns: u64,
}

impl Stamp {
    /// None when the modification time is not available (the file is then not cached).
    pub(crate) fn of(meta: &std::fs::Metadata) -> Option<Stamp> {
        let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        Some(Stamp {
            len: meta.len(),
            mtime_ns: u64::try_from(mtime.as_nanos()).ok()?,
        })
    }
}

impl LoadCache {
    /// A cache in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LoadCache {
            dir: Arc::new(dir.into()),
        }
    }

    /// The cache's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, sub: &str, key: &str) -> PathBuf {
        let mut h = Sha256::new();
        h.update(format!("{FORMAT}\0{TOOL}\0{sub}\0").as_bytes());
        h.update(key.as_bytes());
        let digest = h.finalize();
        let name: String = digest[..20].iter().map(|b| format!("{b:02x}")).collect();
        let ext = if sub == CRD_CEL { "bin" } else { "json" };
        self.dir.join(sub).join(format!("{name}.{ext}"))
    }

    fn read<T: DeserializeOwned>(&self, sub: &str, key: &str) -> Option<T> {
        let path = self.file(sub, key);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(file = %path.display(), error = %e, "load cache: unreadable entry ignored");
                None
            }
        }
    }

    fn write<T: Serialize + ?Sized>(&self, sub: &str, key: &str, value: &T) {
        let path = self.file(sub, key);
        let written = serde_json::to_vec(value)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomic(&path, &bytes));
        if let Err(e) = written {
            tracing::debug!(file = %path.display(), error = %e, "load cache: not written");
        }
    }

    fn remove(&self, sub: &str, key: &str) {
        let _ = std::fs::remove_file(self.file(sub, key));
    }

    /// The schema stored under `key`; else the one `make` gives, stored for the next run.
    pub(crate) fn schema_or<'v, E>(
        &self,
        sub: SchemaKind,
        key: &str,
        make: impl FnOnce() -> Result<Cow<'v, Value>, E>,
    ) -> Result<Cow<'v, Value>, E> {
        if let Some(v) = self.read_schema(sub, key) {
            return Ok(Cow::Owned(v));
        }
        let v = make()?;
        self.write_schema(sub, key, &v);
        Ok(v)
    }

    /// A schema stored under `key` (an object, or nothing).
    fn read_schema(&self, sub: SchemaKind, key: &str) -> Option<Value> {
        self.read::<Value>(sub.folder(), key)
            .filter(Value::is_object)
    }

    /// The bytes stored beside the CRD schema `key` (the format is the caller's: the cache
    /// only keeps them; `crate::validate::cel_ast` checks what it reads).
    pub(crate) fn read_crd_cel(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.file(CRD_CEL, key)).ok()
    }

    pub(crate) fn write_crd_cel(&self, key: &str, bytes: &[u8]) {
        let path = self.file(CRD_CEL, key);
        if let Err(e) = write_atomic(&path, bytes) {
            tracing::debug!(file = %path.display(), error = %e, "load cache: not written");
        }
    }

    /// Store a schema, without its `description`s (see [`prune`]).
    fn write_schema(&self, sub: SchemaKind, key: &str, schema: &Value) {
        let mut pruned = schema.clone();
        prune(&mut pruned);
        self.write(sub.folder(), key, &pruned)
    }
}

/// Which kind of schema a key names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SchemaKind {
    Crd,
    Builtin,
}

impl SchemaKind {
    fn folder(self) -> &'static str {
        match self {
            SchemaKind::Crd => CRD_SCHEMA,
            SchemaKind::Builtin => BUILTIN,
        }
    }
}

/// Drop `description` from every schema of a tree: schemas are the tree itself and what
/// `properties`, `items`, `additionalProperties`, `not`, `allOf`, `anyOf` and `oneOf` hold (never a
/// property *named* description, nor anything inside `default`, `enum`, `example` or
/// `x-kubernetes-validations`). The validator never reads a description (the structural tree,
/// the JSON Schema conversion and the CEL layer read named keywords only), and descriptions are
/// most of a CRD schema's bytes: the pinned Task API kinds' schemas go from 576 kB to 157 kB of
/// JSON. If a check ever reads descriptions, stop this and raise [`FORMAT`].
fn prune(v: &mut Value) {
    let Value::Object(m) = v else { return };
    m.shift_remove("description");
    for (k, x) in m.iter_mut() {
        match (k.as_str(), x) {
            ("properties", Value::Object(props)) => props.values_mut().for_each(prune),
            ("items" | "additionalProperties" | "not", x @ Value::Object(_)) => prune(x),
            ("items" | "allOf" | "anyOf" | "oneOf", Value::Array(a)) => {
                a.iter_mut().for_each(prune)
            }
            _ => {}
        }
    }
}

/// Write to a temporary file beside `path`, then rename it over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".part")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The key of a built-in kind's resolved schema: the document's canonical path and stamp, the
/// apiVersion and the kind.
pub(crate) fn builtin_key(doc: &Path, api_version: &str, kind: &str) -> Option<String> {
    let meta = std::fs::metadata(doc).ok()?;
    let stamp = Stamp::of(&meta)?;
    let canon = doc.canonicalize().ok()?;
    Some(format!(
        "{}\0{}\0{}\0{api_version}\0{kind}",
        canon.display(),
        stamp.len,
        stamp.mtime_ns
    ))
}

/// One CRD version, as the index keeps it and the catalogue holds it (all but its schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct VersionEntry {
    pub name: String,
    pub served: bool,
    pub deprecated: bool,
    pub deprecation_warning: Option<String>,
    pub status_subresource: bool,
}

/// One CRD of a file, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CrdEntry {
    pub group: String,
    pub kind: String,
    pub name: String,
    pub versions: Vec<VersionEntry>,
}

/// What a CRD file held when it had this stamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FileEntry {
    pub stamp: Stamp,
    pub crds: Vec<CrdEntry>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FolderIndex {
    format: u32,
    tool: String,
    dir: String,
    files: BTreeMap<String, FileEntry>,
}

/// The index of one CRD folder while it is loaded: read at open, written at [`Folder::finish`]
/// when an entry changed.
pub(crate) struct Folder {
    cache: LoadCache,
    dir: String,
    index: FolderIndex,
    seen: BTreeSet<String>,
    dirty: bool,
}

impl Folder {
    /// The index of the folder `dir` (empty when there is none, or it does not match). None when
    /// the folder has no canonical path.
    pub(crate) fn open(cache: &LoadCache, dir: &Path) -> Option<Folder> {
        let canon = dir.canonicalize().ok()?;
        let dir = canon.to_str()?.to_string();
        let index = cache
            .read::<FolderIndex>(CRD_INDEX, &dir)
            .filter(|i| i.format == FORMAT && i.tool == TOOL && i.dir == dir)
            .unwrap_or_default();
        Some(Folder {
            cache: cache.clone(),
            dir,
            index,
            seen: BTreeSet::new(),
            dirty: false,
        })
    }

    pub(crate) fn cache(&self) -> &LoadCache {
        &self.cache
    }

    /// The entry of the file `name` if it was stored with this stamp.
    pub(crate) fn get(&mut self, name: &str, stamp: Stamp) -> Option<FileEntry> {
        self.seen.insert(name.to_string());
        self.index
            .files
            .get(name)
            .filter(|e| e.stamp == stamp)
            .cloned()
    }

    /// Store what the file `name` holds now; the schemas of what it held before are removed.
    pub(crate) fn put(&mut self, name: &str, entry: FileEntry) {
        self.seen.insert(name.to_string());
        if let Some(old) = self.index.files.insert(name.to_string(), entry) {
            self.remove_schemas(name, &old);
        }
        self.dirty = true;
    }

    fn remove_schemas(&self, name: &str, old: &FileEntry) {
        for (c, crd) in old.crds.iter().enumerate() {
            for v in 0..crd.versions.len() {
                let key = self.schema_key(name, old.stamp, c, v);
                self.cache.remove(CRD_SCHEMA, &key);
                self.cache.remove(CRD_CEL, &key);
            }
        }
    }

    /// The key of the schema of version `version` of the `crd`-th CRD of file `name`.
    pub(crate) fn schema_key(
        &self,
        name: &str,
        stamp: Stamp,
        crd: usize,
        version: usize,
    ) -> String {
        format!(
            "{}/{name}\0{}\0{}\0{crd}\0{version}",
            self.dir, stamp.len, stamp.mtime_ns
        )
    }

    /// Write the index if it changed. With `whole` (the folder was walked in full), entries of
    /// files no longer there are dropped with their schemas.
    pub(crate) fn finish(mut self, whole: bool) {
        if whole {
            let gone: Vec<String> = self
                .index
                .files
                .keys()
                .filter(|n| !self.seen.contains(*n))
                .cloned()
                .collect();
            for n in gone {
                if let Some(old) = self.index.files.remove(&n) {
                    self.remove_schemas(&n, &old);
                    self.dirty = true;
                }
            }
        }
        if self.dirty {
            self.index.format = FORMAT;
            self.index.tool = TOOL.to_string();
            self.index.dir = self.dir.clone();
            self.cache.write(CRD_INDEX, &self.dir, &self.index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache in a temporary folder (kept while the first value lives).
    fn temp_cache() -> (tempfile::TempDir, LoadCache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = LoadCache::new(dir.path());
        (dir, cache)
    }

    fn entry(len: u64) -> FileEntry {
        FileEntry {
            stamp: Stamp { len, mtime_ns: 7 },
            crds: vec![CrdEntry {
                group: "g.io".into(),
                kind: "K".into(),
                name: "ks.g.io".into(),
                versions: vec![VersionEntry {
                    name: "v1".into(),
                    served: true,
                    deprecated: false,
                    deprecation_warning: None,
                    status_subresource: true,
                }],
            }],
        }
    }

    #[test]
    fn a_folder_index_round_trips_and_a_changed_stamp_misses() {
        let (_dir, cache) = temp_cache();
        let crds = tempfile::tempdir().unwrap();
        let mut f = Folder::open(&cache, crds.path()).unwrap();
        assert!(f.get("a.yaml", entry(1).stamp).is_none());
        f.put("a.yaml", entry(1));
        let key = f.schema_key("a.yaml", entry(1).stamp, 0, 0);
        cache.write_schema(
            SchemaKind::Crd,
            &key,
            &serde_json::json!({"type": "object"}),
        );
        f.finish(true);
        let mut f = Folder::open(&cache, crds.path()).unwrap();
        assert_eq!(f.get("a.yaml", entry(1).stamp), Some(entry(1)));
        assert!(f.get("a.yaml", entry(2).stamp).is_none());
        assert!(cache.read_schema(SchemaKind::Crd, &key).is_some());
        // a new stamp replaces the entry and drops the old schemas
        f.put("a.yaml", entry(2));
        assert!(cache.read_schema(SchemaKind::Crd, &key).is_none());
        f.finish(true);
        // a file gone from the folder is dropped
        let f = Folder::open(&cache, crds.path()).unwrap();
        f.finish(true);
        let mut f = Folder::open(&cache, crds.path()).unwrap();
        assert!(f.get("a.yaml", entry(2).stamp).is_none());
    }

    #[test]
    fn corrupt_or_foreign_files_are_ignored() {
        let (_dir, cache) = temp_cache();
        cache.write_schema(SchemaKind::Builtin, "k", &serde_json::json!({"a": 1}));
        let path = cache.file(BUILTIN, "k");
        std::fs::write(&path, "{\"a\": ").unwrap();
        assert!(cache.read_schema(SchemaKind::Builtin, "k").is_none());
        std::fs::write(&path, "[1]").unwrap();
        assert!(cache.read_schema(SchemaKind::Builtin, "k").is_none());
        // an index of another format is not used
        let crds = tempfile::tempdir().unwrap();
        let dir = crds.path().canonicalize().unwrap();
        let mut idx = FolderIndex {
            format: FORMAT + 1,
            tool: TOOL.into(),
            dir: dir.to_str().unwrap().into(),
            files: BTreeMap::new(),
        };
        idx.files.insert("a.yaml".into(), entry(1));
        cache.write(CRD_INDEX, dir.to_str().unwrap(), &idx);
        let mut f = Folder::open(&cache, crds.path()).unwrap();
        assert!(f.get("a.yaml", entry(1).stamp).is_none());
    }

    #[test]
    fn descriptions_of_schemas_are_dropped_and_nothing_else() {
        let (_dir, cache) = temp_cache();
        let schema = serde_json::json!({
            "description": "top",
            "type": "object",
            "properties": {
                "description": {"description": "a field named description", "type": "string",
                    "default": {"description": "kept: a default value"}},
                "list": {"type": "array", "items": {"description": "x", "type": "object",
                    "additionalProperties": {"description": "y", "type": "string"}}},
                "either": {"anyOf": [{"description": "z", "type": "integer"}],
                    "enum": [{"description": "kept: an enum value"}],
                    "x-kubernetes-validations": [{"rule": "true", "description": "kept"}]}
            }
        });
        cache.write_schema(SchemaKind::Crd, "k", &schema);
        let got = cache.read_schema(SchemaKind::Crd, "k").unwrap();
        assert_eq!(
            got,
            serde_json::json!({
                "type": "object",
                "properties": {
                    "description": {"type": "string",
                        "default": {"description": "kept: a default value"}},
                    "list": {"type": "array", "items": {"type": "object",
                        "additionalProperties": {"type": "string"}}},
                    "either": {"anyOf": [{"type": "integer"}],
                        "enum": [{"description": "kept: an enum value"}],
                        "x-kubernetes-validations": [{"rule": "true", "description": "kept"}]}
                }
            })
        );
    }

    #[test]
    fn an_unwritable_cache_is_no_error() {
        let file = tempfile::NamedTempFile::new().unwrap();
        // a file where the folder should be: every write fails, silently
        let cache = LoadCache::new(file.path().join("sub"));
        cache.write_schema(SchemaKind::Builtin, "k", &serde_json::json!({"a": 1}));
        assert!(cache.read_schema(SchemaKind::Builtin, "k").is_none());
    }
}
