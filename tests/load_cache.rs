//! The load cache (src/validate/cache.rs) through the CLI: a run that fills it, a run that reads
//! it and a run without it give the same report, byte for byte, on the Task API stack and on a
//! tenant shaped like ../shared/bench/gen_corpus.py's; a CRD file that changes is read again; a
//! corrupt cache file is ignored and written again; a cache that cannot be written changes
//! nothing. Every run uses a temporary cache folder (TRAFFIC_ENGINEER_CACHE), never the user's.

#[allow(dead_code)] // validator(): not used here
mod common;
#[path = "common/tree.rs"]
mod tree;
use tree::files_under as files;
#[path = "agreement/stacks.rs"]
#[allow(dead_code)]
mod stacks;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_traffic-engineer");

/// A copy of the shared CRDs (so a test may change one) and a cache folder, both temporary.
struct Env {
    _dir: tempfile::TempDir,
    crds: PathBuf,
    cache: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let crds = dir.path().join("crds");
        copy_dir(&common::crds_dir(), &crds);
        let cache = dir.path().join("cache");
        Env {
            crds,
            cache,
            _dir: dir,
        }
    }

    fn load_cache(&self) -> PathBuf {
        self.cache.join("load-cache")
    }

    /// `validate --format json` of `root`'s stack: (exit code, the report).
    fn validate(&self, root: &Path, extra: &[&str]) -> (i32, String) {
        let out = self.command(root, extra).output().expect("the binary runs");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            stdout.starts_with('{'),
            "no report: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), stdout)
    }

    fn command(&self, root: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(["validate", "--format", "json", "--crds"])
            .arg(&self.crds)
            .arg("--openapi")
            .arg(common::openapi_dir())
            .arg("--root")
            .arg(root)
            .args(extra);
        for v in [
            "TRAFFIC_ENGINEER_LOG",
            "RUST_LOG",
            "TRAFFIC_ENGINEER_CRDS",
            "TRAFFIC_ENGINEER_OPENAPI",
            "TRAFFIC_ENGINEER_NO_CACHE",
            "XDG_CACHE_HOME",
        ] {
            c.env_remove(v);
        }
        c.env("TRAFFIC_ENGINEER_CACHE", &self.cache);
        c
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// The cache's files of one kind (`crd-index`, `crd-schema`, `crd-cel`, `builtin`).
fn cached(env: &Env, kind: &str) -> Vec<PathBuf> {
    files(&env.load_cache().join(kind))
}

/// The Task API stack with every tool's default, as the generators write it.
fn task_api() -> (tempfile::TempDir, PathBuf) {
    let (dir, _stack) = common::build::build(json!({}), json!({}), json!({}), json!({}), json!({}));
    let root = dir.path().to_path_buf();
    (dir, root)
}

/// Two tenants shaped like gen_corpus.py's (Namespace, Deployments, Services, KEDA,
/// cert-manager, Gateway, routes, policies): built-in kinds and CRDs.
fn tenants() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut r = stacks::Rng::new(13);
    let mut all = stacks::tenant(&mut r, 0);
    let two = stacks::tenant(&mut r, 1);
    all.docs.extend(two.docs);
    all.write(dir.path()).unwrap();
    let root = dir.path().to_path_buf();
    (dir, root)
}

#[test]
fn cold_warm_and_uncached_runs_give_the_same_report() {
    for (name, (_keep, root)) in [("task api", task_api()), ("tenants", tenants())] {
        let env = Env::new();
        let reference = env.validate(&root, &["--no-cache"]);
        assert!(
            !env.load_cache().exists(),
            "{name}: --no-cache wrote the cache"
        );
        let cold = env.validate(&root, &[]);
        assert_eq!(cold, reference, "{name}: the run that fills the cache");
        assert!(!cached(&env, "crd-index").is_empty(), "{name}: no index");
        assert!(!cached(&env, "crd-schema").is_empty(), "{name}: no schema");
        assert_eq!(
            cached(&env, "crd-cel").len(),
            cached(&env, "crd-schema").len(),
            "{name}: a CEL tree set beside every schema"
        );
        let warm = env.validate(&root, &[]);
        assert_eq!(warm, reference, "{name}: the run that reads the cache");
        if name == "tenants" {
            assert!(
                !cached(&env, "builtin").is_empty(),
                "no built-in kind's schema cached"
            );
        }
    }
}

#[test]
fn a_warm_run_reads_the_cache_not_the_crd_files() {
    let (_keep, root) = task_api();
    let env = Env::new();
    let reference = env.validate(&root, &[]);
    assert_eq!(
        reference.0, 0,
        "the Task API stack is clean: {}",
        reference.1
    );
    // the CRD folder's files replaced by same-length text with the same modification time:
    // only a run that trusts its index (and the schemas it keeps) still sees the CRDs
    for f in files(&env.crds) {
        let meta = std::fs::metadata(&f).unwrap();
        std::fs::write(&f, "#".repeat(meta.len() as usize)).unwrap();
        let file = std::fs::File::options().write(true).open(&f).unwrap();
        file.set_modified(meta.modified().unwrap()).unwrap();
    }
    assert_eq!(env.validate(&root, &[]), reference);
    // without the cache the CRDs are gone: nothing could be checked
    let fresh = env.command(&root, &["--no-cache"]).output().unwrap();
    assert_eq!(fresh.status.code(), Some(2));
}

#[test]
fn a_changed_crd_file_is_read_again() {
    let (_keep, root) = task_api();
    let env = Env::new();
    let reference = env.validate(&root, &[]);
    assert_eq!(reference.0, 0, "{}", reference.1);
    // the index changes: the Gateway's versions are no longer served
    let gateways = env
        .crds
        .join("gateway-api/standard/gateway.networking.k8s.io_gateways.yaml");
    let text = std::fs::read_to_string(&gateways).unwrap();
    std::fs::write(&gateways, text.replace("served: true", "served: false")).unwrap();
    // a schema changes: every string of a Certificate must be an integer
    let certificates = env
        .crds
        .join("cert-manager/cert-manager.io_certificates.yaml");
    let text = std::fs::read_to_string(&certificates).unwrap();
    std::fs::write(&certificates, text.replace("type: string", "type: integer")).unwrap();
    let changed = env.validate(&root, &[]);
    assert_eq!(changed, env.validate(&root, &["--no-cache"]));
    assert_eq!(changed.0, 1, "{}", changed.1);
    let report: serde_json::Value = serde_json::from_str(&changed.1).unwrap();
    let errors = |kind: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error" && f["resource"]["kind"] == kind)
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        errors("Gateway").contains(&"schema/version-not-served".to_string()),
        "{}",
        changed.1
    );
    assert!(!errors("Certificate").is_empty(), "{}", changed.1);
    // and the next run reads what the changed run stored
    assert_eq!(env.validate(&root, &[]), changed);
}

#[test]
fn a_corrupt_cache_file_is_ignored_and_written_again() {
    let (_keep, root) = tenants();
    let env = Env::new();
    let reference = env.validate(&root, &[]);
    let all = files(&env.load_cache());
    assert!(all.len() > 3, "{all:?}");
    for (i, f) in all.iter().enumerate() {
        // truncated JSON, JSON of the wrong shape, not JSON at all
        let junk = ["{\"files\": {", "[1, 2]", "\u{0}garbage"][i % 3];
        std::fs::write(f, junk).unwrap();
    }
    assert_eq!(env.validate(&root, &[]), reference);
    for f in files(&env.load_cache()) {
        let text = std::fs::read(&f).unwrap();
        if f.extension().is_some_and(|e| e == "bin") {
            // CEL trees: the codec's own format (src/validate/cel_ast.rs)
            assert!(
                text.starts_with(b"traffic-engineer cel ast "),
                "{} not written again",
                f.display()
            );
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("{} not written again: {e}", f.display()));
        assert!(v.is_object(), "{}", f.display());
    }
    assert_eq!(env.validate(&root, &[]), reference);
}

#[test]
fn a_cache_that_cannot_be_written_changes_nothing() {
    let (_keep, root) = task_api();
    let env = Env::new();
    let reference = env.validate(&root, &["--no-cache"]);
    // a file where the cache folder should be: no write can succeed (as root too)
    std::fs::create_dir_all(&env.cache).unwrap();
    std::fs::write(env.load_cache(), "not a folder").unwrap();
    assert_eq!(env.validate(&root, &[]), reference);
    assert_eq!(env.validate(&root, &[]), reference);
    assert!(env.load_cache().is_file());
}

#[test]
fn the_variable_turns_the_cache_off_and_a_bad_value_is_refused() {
    let (_keep, root) = task_api();
    let env = Env::new();
    let run = |value: &str| {
        env.command(&root, &[])
            .env("TRAFFIC_ENGINEER_NO_CACHE", value)
            .output()
            .unwrap()
    };
    let out = run("1");
    assert_eq!(out.status.code(), Some(0));
    assert!(!env.load_cache().exists());
    let out = run("sometimes");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TRAFFIC_ENGINEER_NO_CACHE"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run("0");
    assert_eq!(out.status.code(), Some(0));
    assert!(env.load_cache().is_dir());
}
