//! Hardening: the bounded CI pass of the fuzz properties (proptest plus a replay of the seed and
//! regression inputs), and the workspace's wall (symlinks, FIFOs, sizes) in process.
//!
//! The properties live in `fuzz/src/checks.rs`, shared with the cargo-fuzz targets, so the long
//! fuzz runs (`fuzz/run.sh TARGET SECONDS`) and this test check exactly the same thing. Cases per
//! property: `PROPTEST_CASES` (default 64 here; the whole file runs in well under a minute).

#[path = "common/tree.rs"]
mod tree;
use tree::files_under;

#[path = "../fuzz/src/checks.rs"]
#[allow(dead_code)]
mod checks;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use traffic_engineer::workspace::Stack;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---- replay: the repository's YAML corpus, golden files and every saved regression input ----

#[test]
fn replay_corpus_golden_files_and_fuzz_regressions() {
    let mut n = 0;
    for p in files_under(&repo().join("tests/corpus"))
        .into_iter()
        .chain(files_under(&repo().join("tests/snapshots")))
    {
        checks::yaml_validate(&fs::read(&p).unwrap());
        n += 1;
    }
    for p in files_under(&repo().join("fuzz/regressions/yaml_validate")) {
        checks::yaml_validate(&fs::read(&p).unwrap());
        n += 1;
    }
    for p in files_under(&repo().join("fuzz/regressions/tool_args")) {
        checks::tool_args(&fs::read(&p).unwrap());
        n += 1;
    }
    assert!(n >= 10, "only {n} inputs replayed");
}

/// Found by the tool_args fuzzer in its first seconds: an argument named "" gets an error whose
/// field is empty, so the message reads `: unknown argument; expected one of: ...`.
/// The fix belongs in src/generate/params.rs (parse_args): show the name quoted (`""`).
#[test]
fn an_empty_argument_name_is_shown_quoted() {
    use traffic_engineer::generate::params::{RateLimitParams, parse_args};
    let mut args = Map::new();
    args.insert(String::new(), json!("a/b"));
    let e = parse_args::<RateLimitParams>(args).unwrap_err();
    assert!(e.to_string().starts_with("\"\""), "{e}");
}

/// Found by the tool_args fuzzer: the name of an unknown field nested in a list is echoed whole
/// in the error's field path (a 1 MB name gives a 1 MB error). parse_args truncates unknown
/// top-level names to 60 characters but not the path from serde_path_to_error.
#[test]
fn a_long_nested_unknown_field_is_not_echoed_whole() {
    use traffic_engineer::generate::params::{GatewayParams, parse_args};
    let long = "k".repeat(100_000);
    let args =
        json!({"routes": [{"name": "r", "rules": [{"backends": [{"service": "s", long: 1}]}]}]});
    let e = parse_args::<GatewayParams>(args.as_object().unwrap().clone()).unwrap_err();
    assert!(e.to_string().len() < 4096, "{} bytes", e.to_string().len());
}

#[test]
fn fuzz_regression_empty_argument_name_is_refused_without_panic() {
    checks::tool_args(b"\x02{\"\": \"a/b\"}");
    for tool in 0..checks::TOOLS.len() {
        let mut args = Map::new();
        args.insert(String::new(), json!(1));
        checks::tool_call(tool, args);
    }
}

// ---- proptest: the same properties on generated input ----

fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings a hostile model would send: YAML syntax, paths, unicode, control characters.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("../x".to_string()),
        Just("/etc/passwd".to_string()),
        Just("traffic/../../x".to_string()),
        Just("a\n---\nkind: Secret".to_string()),
        Just("task-api".to_string()),
        "[a-z0-9-]{1,70}",
        "[a-z0-9.*-]{1,30}",
        "\\PC{0,40}",
        "\\PC{40,70}",
        ".{0,40}",
        proptest::collection::vec(
            prop_oneof![
                Just(":"),
                Just(" "),
                Just("-"),
                Just("\n"),
                Just("'"),
                Just("\""),
                Just("#"),
                Just("&a"),
                Just("*a"),
                Just("{{"),
                Just("/"),
                Just(".."),
                Just("å"),
                Just("\u{0}"),
                Just("a")
            ],
            0..12
        )
        .prop_map(|v| v.concat()),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u32>().prop_map(|n| json!(n)),
        (0u32..70_000).prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        hostile_string().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(field_name(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Argument names: mostly real ones (so values reach the generators), some unknown.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(vec![
            "namespace", "gateway", "gateway_class", "hostnames", "http_port", "https",
            "https_port", "tls_secret", "allowed_routes", "routes", "name", "listener", "rules",
            "path_prefix", "headers", "value", "backends", "service", "port", "weight",
            "target_kind", "target_name", "policy_name", "user_header", "requests_per_user",
            "anonymous_requests", "limit_anonymous", "unit", "max_connections",
            "max_pending_requests", "max_parallel_requests", "max_parallel_retries",
            "max_requests_per_connection", "secret_name", "issuer_kind", "issuer_name", "days",
            "deployment", "min_replicas", "max_replicas", "metric", "threshold", "route",
            "prometheus_address", "polling_interval", "manifests",
        ])
        .prop_map(str::to_string),
        1 => "[a-z_]{0,12}",
    ]
}

fn tool_arguments() -> impl Strategy<Value = (usize, Map<String, Value>)> {
    (
        0..checks::TOOLS.len(),
        proptest::collection::btree_map(field_name(), json_value(), 0..5),
    )
        .prop_map(|(t, m)| (t, m.into_iter().collect()))
}

/// YAML-ish text from fragments that matter to the loader and the policy merge.
fn yaml_text() -> impl Strategy<Value = String> {
    let frag = prop_oneof![
        Just("apiVersion: gateway.envoyproxy.io/v1alpha1\n".to_string()),
        Just("kind: BackendTrafficPolicy\n".to_string()),
        Just("kind: HTTPRoute\n".to_string()),
        Just("metadata:\n  name: task-api-traffic\n  namespace: task-api\n".to_string()),
        Just("metadata: {name: task-api, namespace: task-api}\n".to_string()),
        Just("spec:\n".to_string()),
        Just("  targetRefs:\n  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: task-api}\n".to_string()),
        Just("  targetRef: {kind: HTTPRoute, name: task-api}\n".to_string()),
        Just("  rateLimit:\n    global:\n      rules: []\n".to_string()),
        Just("  rateLimit: 5\n".to_string()),
        Just("  circuitBreaker: {maxConnections: on}\n".to_string()),
        Just("  rules:\n  - backendRefs: [{name: x, port: 80}]\n".to_string()),
        Just("---\n".to_string()),
        Just("a: &a [1, 2]\nb: *a\n".to_string()),
        Just("<<: *a\n".to_string()),
        Just("? [x]\n: y\n".to_string()),
        Just("k: 'unterminated\n".to_string()),
        Just("  - \n".to_string()),
        Just("\t".to_string()),
        Just("key: 0x1F\n".to_string()),
        Just("{".to_string()),
        Just("]".to_string()),
        "[a-z]{1,8}: [a-z0-9 ]{0,10}\n",
    ];
    proptest::collection::vec(frag, 0..14).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn any_tool_arguments_decode_or_name_the_field((tool, args) in tool_arguments()) {
        checks::tool_call(tool, args);
    }

    #[test]
    fn hostile_strings_in_every_name_field_never_escape(
        tool in 0..5usize,
        field in proptest::sample::select(vec![
            "namespace", "gateway", "name", "target_name", "policy_name", "secret_name",
            "issuer_name", "deployment", "route", "tls_secret", "gateway_class", "user_header",
        ]),
        value in hostile_string(),
    ) {
        let mut args = Map::new();
        args.insert(field.to_string(), Value::String(value));
        checks::tool_call(tool, args);
    }

    #[test]
    fn any_yaml_text_loads_validates_and_merges_without_panic(text in yaml_text()) {
        checks::yaml_validate(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_loader(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        checks::yaml_validate(&bytes);
        checks::tool_args(&bytes);
    }
}

/// Names derived from a refused one (`<namespace>-gateway`, then `<gateway>-https-redirect`
/// cut to 63 bytes) are built before the refusal is reported: a cut inside a multi-byte
/// character once panicked there (CI, stop 19). Every tool and name field, every cut offset.
#[test]
fn long_names_of_wide_characters_are_refused_not_cut_mid_character() {
    let fields = [
        "namespace",
        "gateway",
        "name",
        "target_name",
        "policy_name",
        "secret_name",
        "issuer_name",
        "deployment",
        "route",
        "tls_secret",
        "gateway_class",
    ];
    for pad in 0..4 {
        let value = format!("{}{}", "a".repeat(pad), "\u{16b91}".repeat(17));
        for tool in 0..checks::TOOLS.len() - 1 {
            for field in fields {
                let mut args = Map::new();
                args.insert(field.to_string(), Value::String(value.clone()));
                checks::tool_call(tool, args);
            }
        }
    }
}

// ---- the workspace wall, in process ----

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_symlinked_stack_folder_serves_nothing_and_takes_no_write() {
    let t = tmp();
    let outside = t.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim.yaml"), "kind: ConfigMap\n").unwrap();
    let root = t.path().join("root");
    fs::create_dir(&root).unwrap();
    symlink(&outside, root.join("traffic")).unwrap();
    let stack = Stack::new(&root);
    // before the fix, read_manifest followed the folder link and served victim.yaml
    assert!(stack.read_manifest("victim.yaml").is_err());
    assert!(stack.manifest_files().is_err());
    assert!(stack.snapshot().is_err());
    assert!(stack.lock().is_err());
    assert!(!outside.join(".lock").exists());
}

#[test]
fn links_inside_the_stack_are_neither_read_nor_listed() {
    let t = tmp();
    let outside = t.path().join("secret.yaml");
    fs::write(&outside, "kind: Secret\nmetadata: {name: s}\n").unwrap();
    let stack = Stack::new(t.path().join("root"));
    drop(stack.lock().unwrap());
    symlink(&outside, stack.dir().join("linked.yaml")).unwrap();
    symlink("..", stack.dir().join("up")).unwrap();
    assert!(stack.read_manifest("linked.yaml").is_err());
    assert!(stack.read_manifest("up/secret.yaml").is_err());
    assert!(stack.read_manifest("../secret.yaml").is_err());
    assert!(stack.manifest_files().unwrap().is_empty());
    let snap = stack.snapshot().unwrap();
    assert!(snap.manifests.is_empty() && snap.broken.is_empty());
}

#[test]
fn a_fifo_named_like_a_manifest_does_not_block() {
    let t = tmp();
    let stack = Stack::new(t.path());
    drop(stack.lock().unwrap());
    let fifo = stack.dir().join("httproute-task-api.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let s2 = stack.clone();
    std::thread::spawn(move || {
        // before the fix, opening the FIFO blocked forever (and, in a write call, with the lock held)
        let _ = tx.send(s2.read_manifest("httproute-task-api.yaml").is_err());
    });
    let refused = rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("read_manifest blocked on a FIFO");
    assert!(refused);
}

#[test]
fn oversized_manifests_are_refused_not_read() {
    let t = tmp();
    let stack = Stack::new(t.path());
    drop(stack.lock().unwrap());
    let big = "# x\n".repeat((traffic_engineer::workspace::MAX_FILE_BYTES as usize / 4) + 1);
    fs::write(stack.dir().join("big.yaml"), big).unwrap();
    assert!(stack.read_manifest("big.yaml").is_err());
    let snap = stack.snapshot().unwrap();
    assert_eq!(snap.broken.len(), 1);
}

#[test]
fn concurrent_updates_in_process_serialize() {
    use traffic_engineer::generate::params::{CircuitBreakerParams, RateLimitParams, parse_args};
    use traffic_engineer::generate::{gateway, policy};
    let t = tmp();
    let stack = Stack::new(t.path());
    stack
        .update(|s| gateway::generate(&parse_args(Map::new()).unwrap(), s))
        .unwrap();
    std::thread::scope(|scope| {
        for i in 0..16u32 {
            let stack = stack.clone();
            scope.spawn(move || {
                let mut a = Map::new();
                if i % 2 == 0 {
                    a.insert("requests_per_user".into(), json!(1000 + i));
                    let p: RateLimitParams = parse_args(a).unwrap();
                    stack.update(|s| policy::add_rate_limit(&p, s)).unwrap();
                } else {
                    a.insert("max_connections".into(), json!(2000 + i));
                    let p: CircuitBreakerParams = parse_args(a).unwrap();
                    stack
                        .update(|s| policy::add_circuit_breaker(&p, s))
                        .unwrap();
                }
            });
        }
    });
    let text = stack
        .read_manifest("backendtrafficpolicy-task-api-traffic.yaml")
        .unwrap();
    assert!(
        text.contains("rateLimit:") && text.contains("circuitBreaker:"),
        "{text}"
    );
    let names: Vec<String> = fs::read_dir(stack.dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp.")), "{names:?}");
}

/// Found by the hardening review: file names carry kind and name, not the namespace, so a
/// second namespace's object of the same name used to replace the first silently.
#[test]
fn same_name_in_another_namespace_is_refused_not_overwritten() {
    use traffic_engineer::generate::{self, params::*};
    let dir = tmp();
    let stack = traffic_engineer::workspace::Stack::new(dir.path());
    let args = |v: Value| v.as_object().cloned().unwrap_or_default();
    let p: GatewayParams =
        parse_args(args(json!({"namespace": "task-api", "gateway": "g0"}))).unwrap();
    stack
        .update(|s| generate::gateway::generate(&p, s))
        .unwrap();
    let before: Vec<(PathBuf, Vec<u8>)> = files_under(stack.dir())
        .into_iter()
        .map(|f| {
            let b = fs::read(&f).unwrap();
            (f, b)
        })
        .collect();
    let p: GatewayParams = parse_args(args(json!({"namespace": "ns-a", "gateway": "g0",
        "hostnames": ["a.example.com"],
        "routes": [{"name": "a", "rules": [{"backends": [{"service": "a", "port": 80}]}]}]})))
    .unwrap();
    let e = stack
        .update(|s| generate::gateway::generate(&p, s))
        .unwrap_err()
        .to_string();
    assert!(e.contains("already holds Gateway task-api/g0"), "{e}");
    let after: Vec<(PathBuf, Vec<u8>)> = files_under(stack.dir())
        .into_iter()
        .map(|f| {
            let b = fs::read(&f).unwrap();
            (f, b)
        })
        .collect();
    assert_eq!(before, after, "nothing was written");
}
