//! The stack on disk: `ROOT/traffic/`, one YAML file per object and a kustomization.yaml that
//! lists them in apply order. This is the only module that writes files.
//!
//! - State lives only here: every call takes a fresh [`Snapshot`], so a restarted server loses
//!   nothing and hand edits survive.
//! - Calls that change the stack hold an exclusive `flock` on `traffic/.lock` (across threads
//!   and processes), read, plan and write under it: no lost update when calls race.
//! - Every write is atomic: a temporary file in the same folder, fsync, rename, fsync the folder.
//! - The folder is a wall: file names come from validated object names, never from the model;
//!   symlinks inside the folder are neither followed nor served.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

pub mod plan;

pub use plan::{BrokenFile, Plan, PlannedFile, Snapshot, StackManifest, TlsSecretGenerator};

/// Name of the stack folder under the root.
pub const STACK_DIR: &str = "traffic";
pub const KUSTOMIZATION: &str = "kustomization.yaml";
const LOCK_FILE: &str = ".lock";
/// Largest manifest file read (larger ones are reported as unreadable).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
const MANIFEST_MODE: u32 = 0o644;
const PRIVATE_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A path the stack will not read or write (a link, a FIFO, a name outside the stack).
    #[error("{path}: {why}")]
    Refused { path: String, why: String },
    /// The file is larger than the stack reads.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    /// Another namespace's object already has this kind and name (file names carry no namespace).
    #[error(
        "{file} already holds {kind} {namespace}/{name}; this stack keeps one {kind} named {name} (file names do not carry the namespace). Use another name, or another --root for namespace {wanted}"
    )]
    NamespaceClash {
        file: String,
        kind: String,
        name: String,
        namespace: String,
        wanted: String,
    },
    /// The server is stopping.
    #[error("the server is stopping; nothing was written, call again after it restarts")]
    Stopping,
}

fn refused(path: impl Into<String>, why: impl Into<String>) -> WorkspaceError {
    WorkspaceError::Refused {
        path: path.into(),
        why: why.into(),
    }
}

fn io_err(path: &Path, source: std::io::Error) -> WorkspaceError {
    WorkspaceError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
}

/// A file a call wrote (or found already up to date).
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub file: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub action: Action,
    pub private: bool,
}

/// File names come from kind and name only, so one stack holds one object per kind and name:
/// refuse a plan that would replace an object of another namespace (nothing is written).
fn check_namespaces(snap: &Snapshot, plan: &Plan) -> Result<(), WorkspaceError> {
    for pf in plan.files.iter().filter(|p| !p.private) {
        if let Some(m) = snap.manifests.iter().find(|m| m.file == pf.file)
            && m.kind() == pf.kind
            && m.name() == pf.name
            && m.namespace() != pf.namespace
        {
            return Err(WorkspaceError::NamespaceClash {
                file: Stack::display_path(&pf.file),
                kind: m.kind().to_string(),
                name: m.name().to_string(),
                namespace: m.namespace().to_string(),
                wanted: pf.namespace.clone(),
            });
        }
    }
    Ok(())
}

/// Position of a kind in `kubectl apply` order.
pub fn apply_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "ServiceAccount" | "Secret" | "ConfigMap" => 1,
        "ClusterIssuer" | "Issuer" => 2,
        "Certificate" => 3,
        "Service" | "Deployment" => 4,
        "Gateway" => 5,
        "ReferenceGrant" => 6,
        "HTTPRoute" | "GRPCRoute" => 7,
        "BackendTrafficPolicy" | "ClientTrafficPolicy" | "SecurityPolicy" => 8,
        "ScaledObject" => 9,
        _ => 10,
    }
}

/// A manifest file name the server may read or serve: `name.yaml`, no path, not hidden.
pub fn is_manifest_name(file: &str) -> bool {
    file.ends_with(".yaml")
        && !file.starts_with('.')
        && !file.contains('/')
        && !file.contains('\\')
        && !file.contains('\0')
        && file.len() <= 255
}

/// Write `contents` to `dir/file` atomically with `mode`: a temporary file in the same folder
/// (tempfile: created exclusively, never through a link), fsync, rename over the target, fsync
/// of the folder so the rename survives a crash. The one way this crate writes a file.
pub fn write_atomic(
    dir: &Path,
    file: &str,
    contents: &[u8],
    mode: u32,
) -> Result<(), WorkspaceError> {
    let target = dir.join(file);
    let result = (|| {
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{file}.tmp."))
            .permissions(fs::Permissions::from_mode(mode))
            .tempfile_in(dir)?;
        // the umask may have narrowed the mode given at creation
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
        tmp.write_all(contents)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&target).map_err(|e| e.error)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| io_err(&target, e))
}

/// Mode of the stack folder when the server creates it (whatever the umask allows beyond it).
const DIR_MODE: u32 = 0o755;

/// Read a regular file inside `dir`, refusing symlinks, FIFOs, devices and oversized files.
fn read_regular(dir: &Path, file: &str) -> Result<String, WorkspaceError> {
    let path = dir.join(file);
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(
            // O_NONBLOCK: opening a FIFO for reading would block until a writer appears; with it the
            // open returns at once and the file-type check below refuses it
            libc::O_NOFOLLOW | libc::O_NONBLOCK,
        )
        .open(&path)
        .map_err(|e| io_err(&path, e))?;
    let meta = f.metadata().map_err(|e| io_err(&path, e))?;
    if !meta.is_file() {
        return Err(refused(file, "not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(WorkspaceError::TooLarge {
            path: file.to_string(),
            limit: MAX_FILE_BYTES,
        });
    }
    let mut s = String::new();
    // a file that grows after the size check is still read only up to the limit
    f.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut s)
        .map_err(|e| io_err(&path, e))?;
    if s.len() as u64 > MAX_FILE_BYTES {
        return Err(WorkspaceError::TooLarge {
            path: file.to_string(),
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(s)
}

/// Writes in progress in this process, and whether the process is stopping.
struct InFlight {
    state: Mutex<(usize, bool)>,
    idle: Condvar,
}

static IN_FLIGHT: InFlight = InFlight {
    state: Mutex::new((0, false)),
    idle: Condvar::new(),
};
static AT_EXIT: Once = Once::new();
/// Longest a stopping process waits for the writes in progress.
const EXIT_GRACE: Duration = Duration::from_secs(10);

extern "C" fn finish_writes_at_exit() {
    wait_for_writes(EXIT_GRACE);
}

/// Marks one read-plan-write in progress until dropped.
struct WriteGuard;

impl WriteGuard {
    fn begin() -> Result<WriteGuard, WorkspaceError> {
        // `std::process::exit` (end of input, SIGTERM) runs C atexit handlers: the first write
        // registers one that lets the writes in progress finish, so a stopping server never
        // leaves a temporary file or a kustomization that misses a file it just wrote.
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain extern "C" fn with no captured state.
            unsafe {
                libc::atexit(finish_writes_at_exit);
            }
        });
        let mut g = IN_FLIGHT.state.lock().unwrap_or_else(|e| e.into_inner());
        if g.1 {
            return Err(WorkspaceError::Stopping);
        }
        g.0 += 1;
        Ok(WriteGuard)
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let mut g = IN_FLIGHT.state.lock().unwrap_or_else(|e| e.into_inner());
        g.0 -= 1;
        if g.0 == 0 {
            IN_FLIGHT.idle.notify_all();
        }
    }
}

/// Refuse new writes in this process and wait up to `timeout` for those in progress to finish.
/// Returns whether none is left. Runs by itself when the process exits; call it before stopping
/// in any other way.
pub fn wait_for_writes(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut g = IN_FLIGHT.state.lock().unwrap_or_else(|e| e.into_inner());
    g.1 = true;
    while g.0 > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        g = IN_FLIGHT
            .idle
            .wait_timeout(g, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    true
}

/// The stack folder of one output root.
#[derive(Debug, Clone)]
pub struct Stack {
    root: PathBuf,
    dir: PathBuf,
}

/// Holds the stack's exclusive lock until dropped.
pub struct StackLock {
    _file: File,
}

impl Stack {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let dir = root.join(STACK_DIR);
        Stack { root, dir }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a stack file relative to the root, as shown to users: `traffic/<file>`.
    pub fn display_path(file: &str) -> String {
        format!("{STACK_DIR}/{file}")
    }

    fn check_dir_is_real(&self) -> Result<bool, WorkspaceError> {
        match fs::symlink_metadata(&self.dir) {
            Ok(m) if m.file_type().is_symlink() => Err(refused(
                self.dir.display().to_string(),
                "a symlink; the stack folder must be a real folder inside the root",
            )),
            Ok(m) if !m.is_dir() => Err(refused(self.dir.display().to_string(), "not a folder")),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(&self.dir, e)),
        }
    }

    /// Take the exclusive lock, creating the stack folder if needed. Blocks.
    pub fn lock(&self) -> Result<StackLock, WorkspaceError> {
        if !self.check_dir_is_real()? {
            // 0755 whatever the umask: a world-writable stack folder would let anyone plant links
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(&self.dir)
                .map_err(|e| io_err(&self.dir, e))?;
            self.check_dir_is_real()?;
        }
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(PRIVATE_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        file.lock().map_err(|e| io_err(&path, e))?;
        // temp files left by a killed writer are garbage now that we hold the lock
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.starts_with('.') && n.contains(".tmp.") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(StackLock { _file: file })
    }

    /// File names in the stack folder (regular files only, hidden ones skipped), sorted.
    fn entries(&self) -> Result<Vec<String>, WorkspaceError> {
        if !self.check_dir_is_real()? {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(|e| io_err(&self.dir, e))? {
            let e = e.map_err(|e| io_err(&self.dir, e))?;
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_file() => out.push(name),
                _ => continue, // symlinks and folders are not part of the stack
            }
        }
        out.sort();
        Ok(out)
    }

    /// Manifest files served as resources: every `*.yaml`, kustomization included; never keys.
    pub fn manifest_files(&self) -> Result<Vec<String>, WorkspaceError> {
        Ok(self
            .entries()?
            .into_iter()
            .filter(|f| is_manifest_name(f))
            .collect())
    }

    /// Read one manifest file by name (for resources/read).
    pub fn read_manifest(&self, file: &str) -> Result<String, WorkspaceError> {
        if !is_manifest_name(file) {
            return Err(refused(format!("{file:?}"), "not a manifest of the stack"));
        }
        // O_NOFOLLOW guards only the last component: a symlinked stack folder would otherwise
        // serve files from wherever it points
        if !self.check_dir_is_real()? {
            return Err(refused(format!("{file:?}"), "not a manifest of the stack"));
        }
        read_regular(&self.dir, file)
    }

    /// Read a spec file from the root: a plain `*.md` file name, no path, no symlink.
    pub fn read_root_file(&self, file: &str) -> Result<String, WorkspaceError> {
        let plain = file.ends_with(".md")
            && !file.starts_with('.')
            && !file.contains(['/', '\\', '\0'])
            && file.len() <= 255;
        if !plain {
            return Err(refused(
                format!("{:?}", file.chars().take(80).collect::<String>()),
                "not a spec file name; expected a plain file name in the root such as traffic-spec.md",
            ));
        }
        read_regular(&self.root, file)
    }

    /// Read a certificate file of the stack (`<name>.crt`); never a key file.
    pub fn read_other(&self, file: &str) -> Result<String, WorkspaceError> {
        if !file.ends_with(".crt") || file.contains(['/', '\\', '\0']) || file.starts_with('.') {
            return Err(refused(
                format!("{file:?}"),
                "not a certificate file of the stack",
            ));
        }
        read_regular(&self.dir, file)
    }

    /// Read a certificate file (`.crt`/`.pem`) from the root.
    pub fn read_root_any(&self, file: &str) -> Result<String, WorkspaceError> {
        let ok = (file.ends_with(".crt") || file.ends_with(".pem"))
            && !file.contains(['/', '\\', '\0'])
            && !file.starts_with('.');
        if !ok {
            return Err(refused(format!("{file:?}"), "not a certificate file name"));
        }
        read_regular(&self.root, file)
    }

    /// Read the whole stack.
    pub fn snapshot(&self) -> Result<Snapshot, WorkspaceError> {
        let mut snap = Snapshot::default();
        for file in self.entries()? {
            if file == KUSTOMIZATION {
                continue;
            }
            if !is_manifest_name(&file) {
                snap.other_files.push(file);
                continue;
            }
            let text = match read_regular(&self.dir, &file) {
                Ok(t) => t,
                Err(e) => {
                    snap.broken.push((file, e.to_string()));
                    continue;
                }
            };
            match crate::yaml::parse_documents(&text) {
                Ok(mut docs)
                    if docs.len() == 1
                        && docs[0].value["kind"].is_string()
                        && docs[0].value["metadata"]["name"].is_string() =>
                {
                    snap.manifests.push(StackManifest {
                        file,
                        value: docs.remove(0).value,
                    })
                }
                Ok(docs) => snap.broken.push((
                    file,
                    format!(
                        "expected one object with kind and metadata.name, found {} document(s)",
                        docs.len()
                    ),
                )),
                Err(e) => snap.broken.push((file, e.to_string())),
            }
        }
        Ok(snap)
    }

    /// Lock, read, plan with `f`, write. The whole read-modify-write runs under the lock.
    pub fn update<F, E>(&self, f: F) -> Result<(Plan, Vec<Written>), E>
    where
        F: FnOnce(&Snapshot) -> Result<Plan, E>,
        E: From<WorkspaceError>,
    {
        let _lock = self.lock()?;
        let _writing = WriteGuard::begin()?;
        let snap = self.snapshot()?;
        let plan = f(&snap)?;
        check_namespaces(&snap, &plan)?;
        let written = self.apply(&plan, &snap)?;
        Ok((plan, written))
    }

    /// Bring the kustomization in step with the files present (after a crash between a
    /// manifest's rename and the kustomization's). Takes the lock; a missing stack is fine.
    pub fn reconcile(&self) -> Result<(), WorkspaceError> {
        if !self.check_dir_is_real()? {
            return Ok(());
        }
        let _lock = self.lock()?;
        let snap = self.snapshot()?;
        self.write_kustomization(&snap, &[]).map(|_| ())
    }

    /// Write a plan's files and refresh the kustomization. Call with the lock held.
    fn apply(&self, plan: &Plan, snap: &Snapshot) -> Result<Vec<Written>, WorkspaceError> {
        let mut written = Vec::new();
        for pf in &plan.files {
            let private_ok = pf.private && !pf.file.contains('/') && !pf.file.starts_with('.');
            if !is_manifest_name(&pf.file) && !private_ok {
                return Err(refused(
                    format!("{:?}", pf.file),
                    "not a file name the stack writes",
                ));
            }
            let path = self.dir.join(&pf.file);
            let old = match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(refused(
                        Stack::display_path(&pf.file),
                        "a symlink; remove it (the server never writes through links)",
                    ));
                }
                Ok(_) => read_regular(&self.dir, &pf.file).ok(),
                Err(_) => None,
            };
            let action = match &old {
                Some(o) if o == &pf.contents => Action::Unchanged,
                Some(_) => Action::Updated,
                None => Action::Created,
            };
            if action != Action::Unchanged {
                let mode = if pf.private {
                    PRIVATE_MODE
                } else {
                    MANIFEST_MODE
                };
                write_atomic(&self.dir, &pf.file, pf.contents.as_bytes(), mode)?;
            }
            written.push(Written {
                file: pf.file.clone(),
                kind: pf.kind.clone(),
                name: pf.name.clone(),
                namespace: pf.namespace.clone(),
                action,
                private: pf.private,
            });
        }
        // the kustomization lists what the stack held plus what the plan wrote: no second read
        let mut after = snap.clone();
        after.absorb(plan);
        if let Some(k) = self.write_kustomization(&after, &plan.secret_generators)? {
            written.push(k);
        }
        Ok(written)
    }

    /// Rewrite kustomization.yaml: every manifest present in apply order, the TLS secret
    /// generators, and whatever else the user put there.
    fn write_kustomization(
        &self,
        snap: &Snapshot,
        add: &[TlsSecretGenerator],
    ) -> Result<Option<Written>, WorkspaceError> {
        let old_text = match fs::symlink_metadata(self.dir.join(KUSTOMIZATION)) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refused(KUSTOMIZATION, "a symlink; remove it"));
            }
            Ok(_) => Some(read_regular(&self.dir, KUSTOMIZATION)?),
            Err(_) => None,
        };
        let mut k = match old_text.as_deref().map(crate::yaml::parse_documents) {
            Some(Ok(mut d)) if d.len() == 1 && d[0].value.is_object() => d.remove(0).value,
            Some(Ok(_)) | None => json!({}),
            Some(Err(e)) => {
                return Err(refused(
                    KUSTOMIZATION,
                    format!("does not parse ({e}); fix or delete it, then call again"),
                ));
            }
        };
        let mut files: Vec<(u8, String)> = snap
            .manifests
            .iter()
            .map(|m| (apply_rank(m.kind()), m.file.clone()))
            .chain(snap.broken.iter().map(|(f, _)| (10, f.clone())))
            .collect();
        files.sort();
        let obj = k
            .as_object_mut()
            .ok_or_else(|| refused(KUSTOMIZATION, "not a mapping"))?;
        obj.insert(
            "apiVersion".into(),
            json!("kustomize.config.k8s.io/v1beta1"),
        );
        obj.insert("kind".into(), json!("Kustomization"));
        obj.insert(
            "resources".into(),
            json!(files.into_iter().map(|(_, f)| f).collect::<Vec<_>>()),
        );
        let mut gens: Vec<Value> = obj
            .get("secretGenerator")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for g in add {
            gens.retain(|e| {
                !(e["name"] == g.name.as_str() && e["namespace"] == g.namespace.as_str())
            });
            gens.push(json!({
                "name": g.name,
                "namespace": g.namespace,
                "type": "kubernetes.io/tls",
                "files": [format!("tls.crt={}", g.cert_file), format!("tls.key={}", g.key_file)],
            }));
        }
        if !gens.is_empty() {
            obj.insert("secretGenerator".into(), Value::Array(gens));
            // the Gateway references the Secret by its plain name
            obj.insert(
                "generatorOptions".into(),
                json!({"disableNameSuffixHash": true}),
            );
        }
        // stable key order: apiVersion, kind, then the rest as they were
        let mut ordered = serde_json::Map::new();
        for key in [
            "apiVersion",
            "kind",
            "resources",
            "secretGenerator",
            "generatorOptions",
        ] {
            if let Some(v) = obj.remove(key) {
                ordered.insert(key.into(), v);
            }
        }
        ordered.extend(std::mem::take(obj));
        let text = format!(
            "# Managed by traffic-engineer: resources in apply order. Apply with: kubectl apply -k {STACK_DIR}/\n{}",
            crate::render::emit(&Value::Object(ordered))
        );
        if old_text.as_deref() == Some(text.as_str()) {
            return Ok(None);
        }
        write_atomic(&self.dir, KUSTOMIZATION, text.as_bytes(), MANIFEST_MODE)?;
        Ok(Some(Written {
            file: KUSTOMIZATION.into(),
            kind: "Kustomization".into(),
            name: "kustomization".into(),
            namespace: String::new(),
            action: if old_text.is_some() {
                Action::Updated
            } else {
                Action::Created
            },
            private: false,
        }))
    }
}
