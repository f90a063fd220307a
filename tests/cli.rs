//! The command line end to end: the built binary, run as a user runs it (issue 14, items 7-10):
//! help in workflow order, options only where they apply, unknown formats refused, verify's
//! addresses and usage errors, quiet stderr by default, the demo's folder, the test script's
//! binary lookup, and the README's promises about all of these.

#[path = "common/shared_dir.rs"]
mod shared_dir;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use traffic_engineer::workflow;

const BIN: &str = env!("CARGO_BIN_EXE_traffic-engineer");
const README: &str = include_str!("../README.md");
const EXAMPLE_SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/task-api/traffic-spec.md"
);

/// The binary with a clean environment for what it reads (logs, CRDs, cache), and Kubernetes'
/// OpenAPI documents from the tests' folder (built-in kinds are checked in every run).
fn cli(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    for v in [
        "TRAFFIC_ENGINEER_LOG",
        "RUST_LOG",
        "TRAFFIC_ENGINEER_CRDS",
        "TRAFFIC_ENGINEER_CACHE",
    ] {
        c.env_remove(v);
    }
    c.env("TRAFFIC_ENGINEER_OPENAPI", shared_dir::openapi_dir());
    // never the user's load cache (tests/load_cache.rs tests it, in a temporary folder)
    c.env("TRAFFIC_ENGINEER_NO_CACHE", "1");
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("the binary runs");
    (
        status.code().expect("exited"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn help(args: &[&str]) -> String {
    let (code, out, err) = run(&mut cli(args));
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

/// The long option names a command's help shows.
fn options(help: &str) -> Vec<String> {
    help.split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| {
            w.trim_end_matches([',', '.', ')', ']'])
                .split(['=', '<', ' '])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect()
}

/// The `Commands:` section of a help text: the command names in order.
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn help_lists_the_commands_in_workflow_order() {
    let top = help(&["--help"]);
    let listed = listed_commands(&top);
    let workflow: Vec<&str> = workflow::commands();
    let positions: Vec<usize> = workflow
        .iter()
        .map(|c| {
            listed
                .iter()
                .position(|l| l == c)
                .unwrap_or_else(|| panic!("{c} missing from --help: {listed:?}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{listed:?} is not in the workflow's order {workflow:?}"
    );
    assert_eq!(
        listed.first().map(String::as_str),
        Some("serve"),
        "the default first"
    );
}

#[test]
fn options_are_shown_only_on_the_commands_they_apply_to() {
    let expect: &[(&[&str], &[&str], &[&str])] = &[
        // (command, shown, not shown)
        (
            &["serve"],
            &["root", "crds", "openapi"],
            &["format", "spec"],
        ),
        (&["demo"], &["root", "crds", "openapi"], &["format", "spec"]),
        (
            &["generate"],
            &["spec", "root", "format"],
            &["crds", "gateway"],
        ),
        (
            &["validate"],
            &["spec", "root", "crds", "openapi", "format"],
            &["gateway"],
        ),
        (
            &["verify"],
            &[
                "spec",
                "gateway",
                "https-gateway",
                "ca",
                "host",
                "slow-path",
                "format",
            ],
            &["root", "crds", "openapi"],
        ),
        (
            &["crds", "fetch"],
            &["mirror", "openapi-mirror", "cache-dir", "timeout"],
            &["root", "crds", "openapi"],
        ),
        (&["crds", "path"], &[], &["root", "crds", "format"]),
    ];
    for (cmd, shown, hidden) in expect {
        let mut args = cmd.to_vec();
        args.push("--help");
        let opts = options(&help(&args));
        for o in *shown {
            assert!(
                opts.iter().any(|x| x == o),
                "{cmd:?} --help lacks --{o}: {opts:?}"
            );
        }
        for o in *hidden {
            assert!(
                !opts.iter().any(|x| x == o),
                "{cmd:?} --help shows --{o}: {opts:?}"
            );
        }
    }
    // and they are refused there, not ignored
    let (code, _, err) = run(&mut cli(&["crds", "path", "--root", "/tmp"]));
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&mut cli(&["--root", ".", "crds", "path"]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn an_unknown_format_is_an_error_naming_the_accepted_values() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    for (args, accepted) in [
        (
            vec![
                "generate",
                "--spec",
                EXAMPLE_SPEC,
                "--root",
                root,
                "--format",
                "yaml",
            ],
            "text, json",
        ),
        (
            vec!["validate", "--root", root, "--format", "yaml"],
            "text, json, sarif",
        ),
        (
            vec![
                "verify",
                "--spec",
                EXAMPLE_SPEC,
                "--gateway",
                "127.0.0.1:9",
                "--format",
                "yaml",
            ],
            "text, json",
        ),
    ] {
        let (code, out, err) = run(&mut cli(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} wrote {out}");
        assert!(
            err.contains("'yaml'") && err.contains(&format!("[possible values: {accepted}]")),
            "{args:?}: {err}"
        );
    }
    // nothing was generated
    assert!(!dir.path().join("traffic").exists());
}

#[test]
fn verify_refuses_a_non_loopback_address_once_with_exit_2() {
    for addr in [
        "10.0.0.7:8080",
        "http://192.0.2.1:80",
        "https://203.0.113.9:443",
    ] {
        let (code, out, err) = run(&mut cli(&[
            "verify",
            "--spec",
            EXAMPLE_SPEC,
            "--gateway",
            addr,
        ]));
        assert_eq!(code, 2, "{addr}: {err}");
        assert!(out.is_empty(), "no table: {out}");
        assert!(!err.contains("INVALID"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one error line: {err}");
        assert!(err.contains("--gateway") && err.contains(addr), "{err}");
        assert_eq!(
            err.matches("loopback").count(),
            1,
            "the rule stated once: {err}"
        );
    }
    let (code, _, err) = run(&mut cli(&[
        "verify",
        "--spec",
        EXAMPLE_SPEC,
        "--gateway",
        "127.0.0.1:9",
        "--https-gateway",
        "https://10.1.1.1:443",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--https-gateway"), "{err}");
}

#[test]
fn verify_names_the_flag_to_add_for_a_missing_listener() {
    // The example spec has HTTPS criteria: a plain-HTTP listener alone is not enough.
    let (code, out, err) = run(&mut cli(&[
        "verify",
        "--spec",
        EXAMPLE_SPEC,
        "--gateway",
        "localhost:8080",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("add --https-gateway https://127.0.0.1:PORT"),
        "{err}"
    );
    assert!(err.contains("SC-003"), "names the criteria: {err}");
    assert!(
        !err.contains("http_base") && !err.contains("https_base"),
        "{err}"
    );
    // a host or CA that would make every row INVALID is one usage error naming the flag
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.crt");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    for (extra, flag) in [
        (vec!["--host", "not a host"], "--host: "),
        (vec!["--ca", not_pem.to_str().unwrap()], "--ca: "),
    ] {
        let mut args = vec![
            "verify",
            "--spec",
            EXAMPLE_SPEC,
            "--gateway",
            "127.0.0.1:9",
            "--https-gateway",
            "127.0.0.1:10",
        ];
        args.extend(extra);
        let (code, out, err) = run(&mut cli(&args));
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains(flag) && !err.contains("INVALID"), "{err}");
    }
    // no listener at all: clap names both flags
    let (code, _, err) = run(&mut cli(&["verify", "--spec", EXAMPLE_SPEC]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--gateway") && err.contains("--https-gateway"),
        "{err}"
    );
}

const HTTP_ONLY_SPEC: &str = "# HTTP only\n\n```yaml traffic-spec
service: {name: task-api, namespace: task-api, port: 8000}
backends: [{name: task-api, port: 8000}]
gateway:
  name: gw
  hostnames: [task-api.example.com]
  http: {port: 80}
routes:
  - name: task-api
    rules: [{name: all, path: /, backend: task-api}]
criteria:
  - id: SC-001
    check: gateway_access
```
";

/// A gateway stand-in on loopback answering 200 to every request; returns its port.
fn tiny_gateway() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(64) {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            // read the request head (a preflight connect sends nothing: EOF)
            while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-backend: task-api\r\nconnection: close\r\n\r\nok",
            );
        }
    });
    port
}

#[test]
fn verify_takes_host_port_as_plain_http_and_logs_nothing_below_warn() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("traffic-spec.md");
    std::fs::write(&spec, HTTP_ONLY_SPEC).unwrap();
    let spec = spec.to_str().unwrap();
    let port = tiny_gateway();
    let gw = format!("localhost:{port}");
    let args = ["verify", "--spec", spec, "--gateway", &gw];

    let (code, out, err) = run(&mut cli(&args));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("SC-001 PASS"), "{out}");
    assert_eq!(err, "", "nothing below warn on stderr by default");

    for var in ["RUST_LOG", "TRAFFIC_ENGINEER_LOG"] {
        let (code, out, err) = run(cli(&args).env(var, "info"));
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            err.contains("INFO") && err.contains("SC-001"),
            "{var}=info: {err}"
        );
    }
    // the project's variable wins over RUST_LOG
    let (_, _, err) = run(cli(&args)
        .env("RUST_LOG", "info")
        .env("TRAFFIC_ENGINEER_LOG", "warn"));
    assert_eq!(err, "");
    // a directive that does not parse is refused, naming the variable
    let (code, _, err) = run(cli(&args).env("RUST_LOG", "[[["));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("RUST_LOG"), "{err}");
}

#[test]
fn verify_a_closed_port_is_unreachable_never_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("traffic-spec.md");
    std::fs::write(&spec, HTTP_ONLY_SPEC).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = format!("127.0.0.1:{port}");
    let (code, out, err) = run(&mut cli(&[
        "verify",
        "--spec",
        spec.to_str().unwrap(),
        "--gateway",
        &gw,
        "--format",
        "json",
    ]));
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["criteria"][0]["status"], "UNREACHABLE", "{out}");
}

#[test]
fn the_demo_writes_outside_the_current_folder_by_default() {
    let cwd = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let crds = shared_dir::crds_dir();
    let (code, out, err) = run(cli(&["demo", "--crds", crds.to_str().unwrap()])
        .current_dir(cwd.path())
        .env("TMPDIR", tmp.path())
        .env("TRAFFIC_ENGINEER_CACHE", tmp.path().join("no-cache")));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err, "", "quiet stderr");
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "cwd untouched"
    );
    let made: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("traffic-engineer-demo-"))
        })
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let stack = made[0].join("traffic");
    assert!(stack.join("kustomization.yaml").is_file());
    assert!(
        out.contains(&format!("stack written to {}", stack.display())),
        "{out}"
    );
    // every generator ran, in the workflow's order
    let steps: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("== "))
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    let mut expect: Vec<&str> = workflow::generators()
        .map(workflow::Generator::tool)
        .collect();
    expect.push("validate");
    assert_eq!(steps, expect);
    assert!(out.contains(" 0 error(s)"), "{out}");
}

#[test]
fn generate_then_validate_with_the_spec_from_the_readme() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let (code, out, err) = run(&mut cli(&[
        "generate",
        "--spec",
        EXAMPLE_SPEC,
        "--root",
        root,
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err, "");
    let stack = dir.path().join("traffic");
    let crds = shared_dir::crds_dir();
    let (code, out, err) = run(&mut cli(&[
        "validate",
        "--crds",
        crds.to_str().unwrap(),
        "--spec",
        EXAMPLE_SPEC,
        stack.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err, "", "quiet stderr");
    assert!(out.contains("SC-001 PASS"), "{out}");
    // the live-check hint gives a loopback address, never a placeholder verify would refuse
    assert!(!out.contains("<gateway-address>"), "{out}");
    assert!(
        out.contains(
            "--gateway 127.0.0.1:<http-port> --https-gateway https://127.0.0.1:<https-port>"
        ),
        "{out}"
    );
    // --spec with two paths, or --root and a path, are refused rather than half-used
    let s = stack.to_str().unwrap();
    let (code, _, err) = run(&mut cli(&["validate", "--spec", EXAMPLE_SPEC, s, s]));
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&mut cli(&["validate", "--root", root, s]));
    assert_eq!(code, 2, "{err}");
    // a missing spec file names the flag
    let (code, _, err) = run(&mut cli(&["generate", "--spec", "/nonexistent/spec.md"]));
    assert_eq!(code, 2);
    assert!(err.contains("--spec /nonexistent/spec.md"), "{err}");
}

/// scripts/test.sh runs the end-to-end suite against the binary cargo built, wherever
/// CARGO_TARGET_DIR puts it: the lookup it uses must name this very binary.
#[test]
fn the_test_script_finds_the_binary_cargo_built() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bin-path.sh");
    let out = Command::new(&script)
        .output()
        .expect("scripts/bin-path.sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert_eq!(
        found.canonicalize().unwrap(),
        Path::new(BIN).canonicalize().unwrap()
    );
    // and follows CARGO_TARGET_DIR when it changes
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(&script)
        .env("CARGO_TARGET_DIR", other.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()),
        other.path().join("debug").join("traffic-engineer")
    );
}

/// The README's commands table: each row's flags exist on that command, every command has a
/// row, and the table is one table (no blank line inside).
#[test]
fn the_readme_commands_table_matches_the_cli() {
    let start = README.find("| command | what |").expect("commands table");
    let table: Vec<&str> = README[start..]
        .lines()
        .take_while(|l| l.starts_with('|'))
        .collect();
    let mut seen = Vec::new();
    for row in table.iter().skip(2) {
        let usage = row
            .split('`')
            .nth(1)
            .unwrap_or_else(|| panic!("row without usage: {row}"));
        let words: Vec<&str> = usage.split_whitespace().collect();
        assert_eq!(words[0], "traffic-engineer", "{row}");
        let cmd: Vec<&str> = words[1..]
            .iter()
            .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase()))
            .copied()
            .collect();
        let cmd: Vec<&str> = if cmd.is_empty() {
            vec!["serve"]
        } else {
            cmd.iter().map(|w| w.trim_matches(['[', ']'])).collect()
        };
        let mut args = cmd.clone();
        args.push("--help");
        let opts = options(&help(&args));
        for flag in options(usage) {
            assert!(
                opts.contains(&flag),
                "README row {cmd:?} names --{flag}, which the command does not have: {opts:?}"
            );
        }
        seen.push(cmd.join(" "));
    }
    for name in listed_commands(&help(&["--help"])) {
        if name == "help" {
            continue;
        }
        assert!(
            seen.iter()
                .any(|s| s == &name || s.starts_with(&format!("{name} "))),
            "the README's commands table lacks `{name}`: {seen:?}"
        );
    }
    assert!(
        seen.iter().any(|s| s == "verify"),
        "the verify row belongs to the table (no blank line before it)"
    );
}

#[test]
fn the_readme_states_what_a_first_run_needs() {
    // the layout lists every source module
    let layout_start = README.find("## Layout").expect("layout");
    let layout = &README[layout_start..];
    for m in ["src/cli/", "src/verify/", "src/workflow.rs"] {
        assert!(layout.contains(m), "layout lacks {m}");
    }
    // verify's statuses, INVALID included, in its section
    let verify_start = README.find("## verify").expect("verify section");
    let verify = &README[verify_start..];
    let verify = &verify[..verify[3..].find("\n## ").map_or(verify.len(), |e| e + 3)];
    for s in [
        "PASS",
        "FAIL",
        "UNREACHABLE",
        "INVALID",
        "NEEDS-CLUSTER",
        "NOT-TRAFFIC",
    ] {
        assert!(
            verify.contains(s),
            "README's verify section lacks the status {s}"
        );
    }
    // prerequisites: the Rust version of Cargo.toml, python3 with venv and pip
    let cargo = include_str!("../Cargo.toml");
    let msrv = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        README.contains(&format!("Rust {msrv}")),
        "README lacks the minimum Rust {msrv}"
    );
    assert!(README.contains("python3") && README.contains("venv") && README.contains("pip"));
    // the demo's folder in the repository is ignored
    let gitignore = include_str!("../.gitignore");
    assert!(
        gitignore.lines().any(|l| l == "/task-api-demo/"),
        "{gitignore}"
    );
}

/// Issue 12 J: a check that could not run is not a pass. No CRDs and no download, CRD sources
/// that hold none, a folder without traffic/, and 0 documents all exit 2 and say nothing was
/// checked, instead of "0 errors".
#[test]
fn validate_never_reports_a_check_that_did_not_run_as_clean() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("traffic")).unwrap();
    std::fs::write(
        root.path().join("traffic/ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n",
    )
    .unwrap();
    let r = root.path().to_str().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let e = empty.path().to_str().unwrap();
    // no CRDs given, an empty cache, and a download that cannot succeed here (the default
    // mirror is not reachable from the test machines: if it ever is, the fetched CRDs are
    // checked and the run is clean, which this test also accepts)
    let cache = tempfile::tempdir().unwrap();
    let (code, out, err) =
        run(cli(&["validate", "--root", r]).env("TRAFFIC_ENGINEER_CACHE", cache.path()));
    if code != 0 {
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.contains("nothing was checked"), "{err}");
        assert!(!out.contains("0 error"), "{out}");
    } else {
        assert!(!out.contains("crds/skipped"), "{out}");
    }
    // CRD sources given that hold no CRD
    let (code, out, err) = run(&mut cli(&["validate", "--crds", e, "--root", r]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("hold no CustomResourceDefinition"), "{err}");
    let crds = shared_dir::crds_dir();
    let crds = crds.to_str().unwrap();
    // 0 documents
    let (code, _, err) = run(&mut cli(&["validate", "--crds", crds, e]));
    assert_eq!(code, 2);
    assert!(err.contains("0 documents"), "{err}");
    // a root without traffic/
    let (code, _, err) = run(&mut cli(&["validate", "--crds", crds, "--root", e]));
    assert_eq!(code, 2);
    assert!(err.contains("nothing to check"), "{err}");
}

/// Built-in kinds against Kubernetes' OpenAPI documents: a typo in a Deployment is an error
/// with file and line; without documents (none given, an empty cache and no download here)
/// the run says "not checked" and fails, never "0 errors" and success.
#[test]
fn built_in_kinds_are_checked_or_said_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deploy.yaml");
    std::fs::write(
        &file,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  selector:\n    matchLabels: {app: api}\n  template:\n    metadata:\n      labels: {app: api}\n    spec:\n      containers:\n      - name: api\n        image: x\n        imagePullPolice: Always\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let crds = shared_dir::crds_dir();
    let crds = crds.to_str().unwrap();
    let (code, out, err) = run(&mut cli(&["validate", "--crds", crds, f]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("deploy.yaml:15:9: error schema/unknown-field"),
        "{out}"
    );
    // extensions/v1beta1 is gone
    std::fs::write(
        &file,
        "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: api\n",
    )
    .unwrap();
    let (code, out, _) = run(&mut cli(&["validate", "--crds", crds, f]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("schema/version-not-served"), "{out}");
    assert!(out.contains("apps/v1"), "{out}");
    // no documents anywhere
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {a: b}\n",
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (code, out, err) = run(cli(&["validate", "--crds", crds, f])
        .env_remove("TRAFFIC_ENGINEER_OPENAPI")
        .env("TRAFFIC_ENGINEER_CACHE", cache.path()));
    if code != 0 {
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains("not checked: schemas of built-in kinds: v1 ConfigMap"),
            "{err}"
        );
        assert!(out.contains("builtin/not-checked"), "{out}");
    } else {
        // the pinned documents could be downloaded: then they were used
        assert!(!out.contains("builtin/not-checked"), "{out}");
    }
    // a download that failed half-way (a folder without its SOURCES.txt) is not taken for the
    // documents: the same answer as without it, never "no document in it"
    let half = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(half.path().join("kubernetes-openapi")).unwrap();
    let (code2, out2, err2) = run(cli(&["validate", "--crds", crds, f])
        .env_remove("TRAFFIC_ENGINEER_OPENAPI")
        .env("TRAFFIC_ENGINEER_CACHE", half.path()));
    assert_eq!(code2, code, "{out2}{err2}");
    assert!(
        !err2.contains("no Kubernetes OpenAPI v3 document in it"),
        "{err2}"
    );
    assert_eq!(
        out2.contains("builtin/not-checked"),
        out.contains("builtin/not-checked"),
        "{out2}"
    );
    // `crds fetch` from mirrors fills the cache with both, and validate then uses it
    let (code, out, err) = run(&mut cli(&[
        "crds",
        "fetch",
        "--mirror",
        crds,
        "--openapi-mirror",
        shared_dir::openapi_dir().to_str().unwrap(),
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("OpenAPI documents"), "{out}");
    let (code, out, err) = run(cli(&["validate", f])
        .env_remove("TRAFFIC_ENGINEER_OPENAPI")
        .env("TRAFFIC_ENGINEER_CACHE", cache.path()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("not-checked") && !out.contains("NOT CHECKED"),
        "{out}"
    );
    // a folder given that holds no document is refused
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&mut cli(&[
        "validate",
        "--crds",
        crds,
        "--openapi",
        empty.path().to_str().unwrap(),
        f,
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no Kubernetes OpenAPI v3 document"), "{err}");
}
