//! The test API server of the cluster tests: started once per test binary through
//! `scripts/upstream.sh cluster-up` (stopped when the binary exits), or the one
//! `TRAFFIC_ENGINEER_KUBECONFIG` names. Shared by tests/cluster*.rs.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use traffic_engineer::cluster::{Cluster, ConnectOptions, connect};
use traffic_engineer::workspace::Stack;

static KUBECONFIG: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// A namespace of this run (the server may be shared with earlier runs).
pub fn namespace(base: &str) -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!("{:x}{:x}", std::process::id(), t.subsec_nanos())
    });
    Box::leak(format!("{base}-{run}").into_boxed_str())
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The kubeconfig of the test server, starting it on first use.
pub fn kubeconfig() -> PathBuf {
    let r = KUBECONFIG.get_or_init(|| {
        if let Ok(k) = std::env::var("TRAFFIC_ENGINEER_KUBECONFIG") {
            return Ok(PathBuf::from(k));
        }
        let dir = std::env::temp_dir().join(format!("te-cluster-{}", std::process::id()));
        // scripts/upstream.sh cluster-up execs scripts/cluster.sh up (the latter alone on a
        // branch without upstream.sh)
        let (script, up, down) = if repo().join("scripts/upstream.sh").is_file() {
            (repo().join("scripts/upstream.sh"), "cluster-up", "cluster-down")
        } else {
            (repo().join("scripts/cluster.sh"), "up", "down")
        };
        let out = std::process::Command::new(&script)
            .arg(up)
            .arg(&dir)
            .stderr(std::process::Stdio::piped())
            .output()
            .map_err(|e| format!("running scripts/upstream.sh cluster-up: {e}"))?;
        // stop it when this test process ends, however it ends
        let _ = std::process::Command::new("setsid")
            .arg("bash")
            .arg("-c")
            .arg(format!(
                "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {script} {down} {dir} >/dev/null 2>&1; rm -rf {dir}",
                pid = std::process::id(),
                script = script.display(),
                dir = dir.display()
            ))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if !out.status.success() {
            return Err(format!(
                "{} {up} {} failed ({}):\n{}",
                script.display(),
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(PathBuf::from(path))
    });
    match r {
        Ok(p) => p.clone(),
        Err(e) => panic!("the test API server could not start: {e}"),
    }
}

pub async fn cluster() -> Cluster {
    connect(&ConnectOptions {
        kubeconfig: Some(kubeconfig()),
        ..Default::default()
    })
    .await
    .expect("connect to the test API server")
}

/// A stack folder with these files, listed in the kustomization in this order.
pub fn stack(files: &[(&str, &str)], extra_kustomization: &str) -> (tempfile::TempDir, Stack) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("traffic");
    std::fs::create_dir(&dir).unwrap();
    let mut k = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
        k.push_str(&format!("- {name}\n"));
    }
    k.push_str(extra_kustomization);
    std::fs::write(dir.join("kustomization.yaml"), k).unwrap();
    let s = Stack::new(root.path());
    (root, s)
}
