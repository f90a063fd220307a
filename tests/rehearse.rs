//! Rehearsal on the real upstream components: the Task API stack runs on Envoy Gateway v1.9.0
//! in standalone mode (file provider, host infrastructure) with Envoy 1.40, envoyproxy/ratelimit
//! and Redis, and verify proves the spec's criteria against it. A wrong stack fails the
//! criterion it breaks, with the counts. After each rehearsal no process it started is left.
//!
//! Programs: envoy-gateway, ratelimit, redis-server from TRAFFIC_ENGINEER_ENVOY_GATEWAY,
//! TRAFFIC_ENGINEER_RATELIMIT, TRAFFIC_ENGINEER_REDIS_SERVER or `scripts/upstream.sh NAME`'s
//! cache; Envoy from TRAFFIC_ENGINEER_ENVOY. Missing programs FAIL these tests (scripts/test.sh
//! installs them).

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use traffic_engineer::rehearse::{self, Options, Rehearsal};
use traffic_engineer::spec;
use traffic_engineer::workspace::Stack;

const EXAMPLE: &str = include_str!("../examples/task-api/traffic-spec.md");
const BIN: &str = env!("CARGO_BIN_EXE_traffic-engineer");

/// One rehearsal at a time: each spends rate-limit tokens and CPU, and the leftover-process
/// check must see only its own.
static ONE: Mutex<()> = Mutex::new(());

fn run(root: &Path) -> Rehearsal {
    let opts = Options {
        spec_text: EXAMPLE.to_string(),
        root: root.to_path_buf(),
        self_exe: BIN.into(),
        ready_timeout: Duration::from_secs(60),
    };
    let r = rehearse::rehearse(&opts).unwrap_or_else(|e| panic!("rehearsal did not run: {e}"));
    assert_nothing_left(&r.work);
    r
}

/// No process whose command line or environment mentions the rehearsal's folder survives it.
fn assert_nothing_left(work: &str) {
    assert!(!work.is_empty());
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        for f in ["cmdline", "environ"] {
            let bytes = std::fs::read(entry.path().join(f)).unwrap_or_default();
            if String::from_utf8_lossy(&bytes).contains(work) {
                let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                left.push(format!(
                    "{pid}: {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
                break;
            }
        }
    }
    assert!(left.is_empty(), "processes left behind: {left:#?}");
    assert!(!Path::new(work).exists(), "{work} not removed");
}

fn row<'a>(r: &'a Rehearsal, id: &str) -> &'a rehearse::RehearsalRow {
    r.rows
        .iter()
        .find(|x| x.id == id)
        .unwrap_or_else(|| panic!("no {id} row:\n{}", r.to_text()))
}

/// The stack generated from the example spec, under a fresh root.
fn generated() -> (tempfile::TempDir, Stack) {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path());
    let parsed = spec::parse(EXAMPLE).unwrap();
    spec::generate(&parsed.spec, &stack)
        .map_err(|(_, e)| e)
        .unwrap();
    (dir, stack)
}

fn edit(stack: &Stack, file: &str, from: &str, to: &str) {
    let p = stack.dir().join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{file} lacks {from:?}:\n{text}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_task_api_spec_passes_on_envoy_gateway() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path());
    let text = r.to_text();
    assert!(r.generated, "the root had no stack: it is generated");
    for id in ["SC-001", "SC-002", "SC-003", "SC-005", "SC-006"] {
        assert_eq!(row(&r, id).status, "PASS", "{id}:\n{text}\n{:#?}", r.steps);
    }
    // SC-002 through Envoy Gateway's global rate limit: ratelimit + Redis.
    let sc002 = &row(&r, "SC-002").summary;
    assert!(sc002.contains("100 succeeded, 10 rate limited"), "{sc002}");
    assert!(
        sc002.contains("anonymous: 10 succeeded, 5 rate limited"),
        "{sc002}"
    );
    assert!(
        r.steps.iter().any(|s| s.contains("ratelimit loaded")),
        "{:#?}",
        r.steps
    );
    assert_eq!(row(&r, "SC-004").status, "NEEDS-CLUSTER");
    assert_eq!(row(&r, "SC-007").status, "NOT-TRAFFIC");
    assert_eq!(r.counts.get("PASS"), Some(&5), "{text}");
    assert!(!r.failed(), "{text}");
    assert!(
        r.not_rehearsed_objects
            .iter()
            .any(|o| o.starts_with("ScaledObject")),
        "{:#?}",
        r.not_rehearsed_objects
    );
}

#[test]
fn a_per_user_limit_of_200_fails_sc002_with_the_counts() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, stack) = generated();
    edit(
        &stack,
        "backendtrafficpolicy-task-api-traffic.yaml",
        "requests: 100",
        "requests: 200",
    );
    let r = run(dir.path());
    assert!(!r.generated);
    let sc002 = row(&r, "SC-002");
    assert_eq!(sc002.status, "FAIL", "{}", r.to_text());
    // 110 requests as one user: all served, none limited (the stack allows 200).
    assert!(
        sc002.summary.contains("110 succeeded, 0 rate limited"),
        "{}",
        sc002.summary
    );
    assert!(r.failed());
    assert_eq!(row(&r, "SC-005").status, "PASS", "{}", r.to_text());
}

#[test]
fn a_route_to_the_wrong_backend_fails_sc005() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, stack) = generated();
    edit(
        &stack,
        "httproute-task-api.yaml",
        "name: task-api-v2",
        "name: task-api-v1",
    );
    let r = run(dir.path());
    let sc005 = row(&r, "SC-005");
    assert_eq!(sc005.status, "FAIL", "{}", r.to_text());
    assert!(sc005.summary.contains("task-api-v1"), "{}", sc005.summary);
    assert_eq!(row(&r, "SC-001").status, "PASS", "{}", r.to_text());
}

#[test]
fn a_circuit_breaker_of_500_fails_sc006() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, stack) = generated();
    let btp = "backendtrafficpolicy-task-api-traffic.yaml";
    edit(&stack, btp, "maxConnections: 50", "maxConnections: 500");
    edit(
        &stack,
        btp,
        "maxPendingRequests: 50",
        "maxPendingRequests: 500",
    );
    edit(
        &stack,
        btp,
        "maxParallelRequests: 50",
        "maxParallelRequests: 500",
    );
    let r = run(dir.path());
    let sc006 = row(&r, "SC-006");
    assert_eq!(sc006.status, "FAIL", "{}", r.to_text());
    assert!(
        sc006.summary.contains(", 0 rejected with 503 overflow"),
        "{}",
        sc006.summary
    );
}

#[test]
fn a_missing_program_is_named_with_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec_file = dir.path().join("traffic-spec.md");
    std::fs::write(&spec_file, EXAMPLE).unwrap();
    let out = Command::new(BIN)
        .args(["rehearse", "--root"])
        .arg(dir.path())
        .arg("--spec")
        .arg(&spec_file)
        .env(
            "TRAFFIC_ENGINEER_ENVOY_GATEWAY",
            "/nonexistent/envoy-gateway",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NOT-REHEARSED"), "{stdout}");
    assert!(
        stdout.contains("TRAFFIC_ENGINEER_ENVOY_GATEWAY=/nonexistent/envoy-gateway")
            && stdout.contains("scripts/upstream.sh envoy-gateway"),
        "{stdout}"
    );
    // nothing was written under the root but the spec
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}
