//! The request table (tests/requests/cases.yaml): user requests beyond the Task API, each
//! driven through the MCP tools (rmcp's client, in process) AND through a spec. Both paths must
//! write the same stack, exactly the files listed, with 0 validate errors against the upstream
//! CRDs and every criterion PASS. Then the intent model's promises one by one: partial updates
//! per tool, references, refusals with nothing written, every error at once, multi-document
//! stacks.

mod common;
use common::validator;

use std::collections::BTreeMap;
use std::path::Path;

use rmcp::{ServiceExt, model::*};
use serde::Deserialize;
use serde_json::{Value, json};
use traffic_engineer::mcp::TrafficServer;
use traffic_engineer::spec::{self, compliance::Status};
use traffic_engineer::validate::{Severity, Validator};
use traffic_engineer::workspace::Stack;

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    files: Vec<String>,
    #[serde(default)]
    local_tls: Option<String>,
    calls: Vec<(String, Value)>,
    spec: Value,
}

fn cases() -> Vec<Case> {
    let text = include_str!("requests/cases.yaml");
    let docs = traffic_engineer::yaml::parse_documents(text).expect("cases.yaml parses");
    serde_json::from_value(docs[0].value.clone()).expect("cases.yaml has the case shape")
}

/// The case's spec as traffic-spec.md: the criteria list becomes SC-001.. rows. (The block is
/// JSON, which is YAML.)
fn markdown(case: &Case) -> String {
    let mut s = case.spec.clone();
    let criteria: Vec<Value> = s["criteria"]
        .as_array()
        .expect("criteria")
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"id": format!("SC-{:03}", i + 1), "check": c}))
        .collect();
    s["criteria"] = Value::Array(criteria);
    format!(
        "# {}\n\n```yaml traffic-spec\n{}\n```\n",
        case.name,
        serde_json::to_string_pretty(&s).unwrap()
    )
}

/// The stack's files: name -> contents (key and certificate files by name only: their bytes
/// are random).
fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir.join("traffic")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let text = if name.ends_with(".yaml") {
            std::fs::read_to_string(e.path()).unwrap()
        } else {
            String::new()
        };
        out.insert(name, text);
    }
    out
}

async fn client(dir: &Path) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = TrafficServer::new(Stack::new(dir), Validator::new());
    tokio::spawn(async move {
        if let Ok(s) = server.serve(server_io).await {
            let _ = s.waiting().await;
        }
    });
    ().serve(client_io).await.expect("client connects")
}

async fn call(
    c: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    tool: &str,
    args: &Value,
) -> CallToolResult {
    c.call_tool(
        CallToolRequestParams::new(tool.to_string())
            .with_arguments(args.as_object().cloned().unwrap_or_default()),
    )
    .await
    .expect("call answered")
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn every_request_gives_the_same_stack_through_tools_and_spec() {
    let cases = cases();
    assert!(
        cases.len() >= 15,
        "the table holds {} requests",
        cases.len()
    );
    for case in &cases {
        // through the MCP tools
        let tools_dir = tempfile::tempdir().unwrap();
        let c = client(tools_dir.path()).await;
        for (tool, args) in &case.calls {
            let r = call(&c, tool, args).await;
            assert_eq!(
                r.is_error,
                Some(false),
                "{}: {tool} {args}: {}",
                case.name,
                text(&r)
            );
        }
        c.cancel().await.unwrap();
        // through the spec
        let md = markdown(case);
        let parsed = spec::parse(&md).unwrap_or_else(|e| panic!("{}: {e:?}\n{md}", case.name));
        let spec_dir = tempfile::tempdir().unwrap();
        let spec_stack = Stack::new(spec_dir.path());
        spec::generate(&parsed.spec, &spec_stack)
            .unwrap_or_else(|(_, e)| panic!("{}: generate: {e}", case.name));

        let (a, b) = (files(tools_dir.path()), files(spec_dir.path()));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{}: the two paths wrote different files",
            case.name
        );
        for (f, text_a) in &a {
            assert_eq!(
                text_a, &b[f],
                "{}: {f} differs between tools and spec",
                case.name
            );
        }
        // exactly the objects the request implies
        let mut want: Vec<String> = case
            .files
            .iter()
            .filter(|f| f.as_str() != "kustomization.yaml")
            .cloned()
            .collect();
        want.sort();
        let got: Vec<String> = a
            .keys()
            .filter(|f| f.ends_with(".yaml") && f.as_str() != "kustomization.yaml")
            .cloned()
            .collect();
        assert_eq!(got, want, "{}", case.name);
        if let Some(secret) = &case.local_tls {
            assert!(a.contains_key(&format!("{secret}.key")), "{}", case.name);
            assert!(
                a["kustomization.yaml"].contains("secretGenerator"),
                "{}",
                case.name
            );
        }
        // accepted offline, and every criterion realised
        let tools_stack = Stack::new(tools_dir.path());
        let report =
            traffic_engineer::validation::validate_stack(validator(), &tools_stack).unwrap();
        let errors: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| format!("{f:?}"))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", case.name);
        assert!(
            report.complete(),
            "{}: not checked {:?}",
            case.name,
            report.summary.not_checked
        );
        let (_, rows) =
            spec::check(&parsed.spec, &tools_stack, validator(), "traffic-spec.md").unwrap();
        for r in &rows {
            assert_eq!(r.status, Status::Pass, "{}: {}", case.name, r.to_text());
        }
        // and Envoy Gateway v1.9.0's own translator accepts every object
        if let Err(e) = common::egctl::assert_accepted(tools_stack.dir()) {
            panic!("{}: {e}", case.name);
        }
    }
}

/// A stack built by the tools from `calls`, in a fresh folder.
async fn built(
    calls: &[(&str, Value)],
) -> (
    tempfile::TempDir,
    rmcp::service::RunningService<rmcp::RoleClient, ()>,
) {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path()).await;
    for (tool, args) in calls {
        let r = call(&c, tool, args).await;
        assert_eq!(r.is_error, Some(false), "{tool} {args}: {}", text(&r));
    }
    (dir, c)
}

fn object(dir: &Path, file: &str) -> Value {
    let t = std::fs::read_to_string(dir.join("traffic").join(file)).unwrap();
    traffic_engineer::yaml::parse_documents(&t)
        .unwrap()
        .remove(0)
        .value
}

fn shop_gateway() -> (&'static str, Value) {
    (
        "generate_gateway",
        json!({"namespace": "shop", "hostnames": ["shop.example.com"], "listeners": "https_redirect",
               "routes": [{"name": "orders", "rules": [{"path_prefix": "/orders", "backends": [{"service": "orders", "port": 8080}]},
                                                       {"path_prefix": "/carts", "backends": [{"service": "carts", "port": 8080}]}]}]}),
    )
}

#[tokio::test]
async fn a_later_call_changes_only_what_it_names() {
    let (dir, c) = built(&[
        shop_gateway(),
        ("add_rate_limit", json!({"user_header": "x-customer-id", "requests_per_user": 50, "anonymous_requests": 5})),
        ("add_circuit_breaker", json!({"max_connections": 200, "max_pending_requests": 100})),
        ("generate_tls", json!({"issuer_kind": "ClusterIssuer", "issuer_name": "letsencrypt-prod"})),
        ("generate_scaledobject", json!({"deployment": "orders", "min_replicas": 2, "max_replicas": 12, "threshold": 80})),
    ])
    .await;
    let btp = "backendtrafficpolicy-orders-traffic.yaml";
    // rate limit: only the anonymous limit named; the per-user limit and header stay
    let r = call(&c, "add_rate_limit", &json!({"anonymous_requests": 1})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let v = object(dir.path(), btp);
    let rules = &v["spec"]["rateLimit"]["global"]["rules"];
    assert_eq!(
        rules[0]["clientSelectors"][0]["headers"][0]["name"],
        "x-customer-id"
    );
    assert_eq!(rules[0]["limit"]["requests"], 50);
    assert_eq!(rules[1]["limit"]["requests"], 1);
    assert_eq!(
        v["spec"]["circuitBreaker"]["maxConnections"], 200,
        "breaker kept"
    );
    // circuit breaker: only max_parallel_requests named; the others stay, nothing else appears
    let r = call(
        &c,
        "add_circuit_breaker",
        &json!({"max_parallel_requests": 20}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let cb = object(dir.path(), btp)["spec"]["circuitBreaker"].clone();
    assert_eq!(
        cb,
        json!({"maxConnections": 200, "maxPendingRequests": 100, "maxParallelRequests": 20})
    );
    // gateway: only the hostnames named; listener mode, routes and redirect stay
    let r = call(
        &c,
        "generate_gateway",
        &json!({"hostnames": ["shop.example.org"]}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let gw = object(dir.path(), "gateway-shop-gateway.yaml");
    assert_eq!(gw["spec"]["listeners"][1]["hostname"], "shop.example.org");
    assert_eq!(
        gw["spec"]["listeners"][1]["tls"]["certificateRefs"][0]["name"],
        "shop-tls"
    );
    assert_eq!(
        object(dir.path(), "httproute-orders.yaml")["spec"]["parentRefs"][0]["sectionName"],
        "https"
    );
    assert!(
        dir.path()
            .join("traffic/httproute-shop-gateway-https-redirect.yaml")
            .exists()
    );
    // tls: only days named; the issuer stays the user's ClusterIssuer, nothing created
    let r = call(&c, "generate_tls", &json!({"days": 30})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let cert = object(dir.path(), "certificate-shop-tls.yaml");
    assert_eq!(
        cert["spec"]["issuerRef"],
        json!({"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt-prod"})
    );
    assert_eq!(cert["spec"]["duration"], "720h");
    assert!(
        !files(dir.path()).keys().any(|f| f.contains("issuer")),
        "no issuer created"
    );
    // scaling: only max named; min, threshold and the route stay
    let r = call(
        &c,
        "generate_scaledobject",
        &json!({"name": "orders", "max_replicas": 20}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let so = object(dir.path(), "scaledobject-orders.yaml");
    assert_eq!(so["spec"]["minReplicaCount"], 2);
    assert_eq!(so["spec"]["maxReplicaCount"], 20);
    assert_eq!(so["spec"]["triggers"][0]["metadata"]["threshold"], "80");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn a_misspelled_target_lists_what_exists_and_writes_nothing() {
    let (dir, c) = built(&[shop_gateway()]).await;
    let before = files(dir.path());
    let r = call(&c, "add_rate_limit", &json!({"target_name": "ordrs"})).await;
    assert_eq!(r.is_error, Some(true));
    let t = text(&r);
    assert!(
        t.contains("target_name: HTTPRoute shop/ordrs is not in the stack"),
        "{t}"
    );
    assert!(t.contains("(orders)"), "names what exists: {t}");
    assert!(t.contains("external: true"), "{t}");
    assert_eq!(before, files(dir.path()), "nothing written");
    // declared external, the same call is honoured, and says so
    let r = call(
        &c,
        "add_rate_limit",
        &json!({"target_name": "ordrs", "external": true}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert!(text(&r).contains("declared external"));
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn unexpressible_requests_are_refused_with_nothing_written() {
    let (dir, c) = built(&[shop_gateway()]).await;
    let before = files(dir.path());
    let refusals = [
        (
            "add_rate_limit",
            json!({"anonymous": "deny"}),
            "anonymous: deny cannot be expressed without authentication",
        ),
        (
            "add_rate_limit",
            json!({"anonymous": "jwt"}),
            "jwt_issuer: not given",
        ),
        (
            "add_rate_limit",
            json!({"anonymous": "unlimited", "anonymous_requests": 3}),
            "anonymous_requests: a shared limit with anonymous: unlimited",
        ),
        (
            "add_circuit_breaker",
            json!({"namespace": "other", "target_name": "x", "external": true}),
            "no threshold given",
        ),
        (
            "generate_gateway",
            json!({"routes": [{"name": "extra", "listener": "http", "rules": [{"backends": [{"service": "x", "port": 1}]}]}]}),
            "http only redirects to HTTPS",
        ),
        (
            "generate_tls",
            json!({"self_signed": false}),
            "issuer_name: not given with self_signed: false",
        ),
        (
            "generate_scaledobject",
            json!({"deployment": "carts", "scope": "backend", "backend": "carts", "metric": "cpu"}),
            "scope: applies to metric request_rate",
        ),
        (
            "generate_scaledobject",
            json!({"deployment": "orders", "scope": "backend", "backend": "nobody"}),
            "no rule is served by Service nobody alone",
        ),
        (
            // KEDA's webhook refuses it: the HPA keda-hpa-<name> would exceed 63 characters
            "generate_scaledobject",
            json!({"deployment": "orders", "name": "a".repeat(55)}),
            "name: 55 characters as the ScaledObject name",
        ),
    ];
    for (tool, args, says) in refusals {
        let r = call(&c, tool, &args).await;
        assert_eq!(r.is_error, Some(true), "{tool} {args}: {}", text(&r));
        assert!(text(&r).contains(says), "{tool} {args}: {}", text(&r));
        assert_eq!(before, files(dir.path()), "{tool} {args}: nothing written");
    }
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn every_error_of_a_call_in_one_answer() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path()).await;
    let r = call(
        &c,
        "generate_gateway",
        &json!({"namespace": "shop", "routes": [{"name": "Bad", "rules": [
            {"path_prefix": "nope", "backends": [{"service": "a", "port": 0}]}]}]}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    let t = text(&r);
    for field in [
        "hostnames: not given",
        "routes[0].name",
        "routes[0].rules[0].path_prefix",
        "routes[0].rules[0].backends[0].port",
    ] {
        assert!(t.contains(field), "{field} missing from: {t}");
    }
    assert!(t.starts_with("invalid arguments: 4 problems"), "{t}");
    c.cancel().await.unwrap();
}

#[test]
fn every_error_of_a_spec_in_one_answer() {
    let case = &cases()[0];
    let md = markdown(case)
        .replace("\"per_user\": 50", "\"per_user\": \"fifty\"")
        .replace("\"max_connections\": 200", "\"max_conections\": 200")
        .replace("\"port\": 443", "\"port\": \"https\"");
    let errs = spec::parse(&md).expect_err("three mistakes");
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert!(errs.len() >= 3, "{errs:#?}");
    assert!(
        fields.iter().any(|f| f.starts_with("rate_limits.per_user")),
        "{errs:#?}"
    );
    assert!(
        fields.iter().any(|f| f.starts_with("circuit_breaker")),
        "{errs:#?}"
    );
    assert!(
        fields.iter().any(|f| f.starts_with("gateway.https.port")),
        "{errs:#?}"
    );
    for e in &errs {
        let line = md.lines().nth(e.line - 1).unwrap_or("");
        assert!(
            line.contains("fifty") || line.contains("max_conections") || line.contains("\"https\""),
            "{e:?} points at {line:?}"
        );
    }
}

#[tokio::test]
async fn a_multi_document_stack_is_checked_like_single_files() {
    let case = &cases()[0];
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path()).await;
    for (tool, args) in &case.calls {
        assert_eq!(call(&c, tool, args).await.is_error, Some(false));
    }
    c.cancel().await.unwrap();
    // the same objects, kept in one multi-document file
    let mut all = String::new();
    for (f, t) in files(dir.path()) {
        if f.ends_with(".yaml") && f != "kustomization.yaml" {
            all.push_str("---\n");
            all.push_str(&t);
            std::fs::remove_file(dir.path().join("traffic").join(&f)).unwrap();
        }
    }
    std::fs::write(dir.path().join("traffic/all.yaml"), all).unwrap();
    std::fs::write(
        dir.path().join("traffic/kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- all.yaml\n",
    )
    .unwrap();
    let parsed = spec::parse(&markdown(case)).unwrap();
    let (report, rows) = spec::check(
        &parsed.spec,
        &Stack::new(dir.path()),
        validator(),
        "traffic-spec.md",
    )
    .unwrap();
    assert_eq!(report.summary.errors, 0, "{}", report.to_text());
    for r in &rows {
        assert_eq!(r.status, Status::Pass, "{}", r.to_text());
    }
}

#[test]
fn intent_no_criterion_covers_is_listed() {
    let case = &cases()[0];
    let md = markdown(case).replace("\"rate_limits\"\n", "\"routing\"\n");
    let parsed = spec::parse(&md).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path());
    spec::generate(&parsed.spec, &stack)
        .map_err(|(_, e)| e)
        .unwrap();
    let (_, rows) = spec::check(&parsed.spec, &stack, validator(), "traffic-spec.md").unwrap();
    let unc: Vec<_> = rows
        .iter()
        .filter(|r| r.status == Status::Uncovered)
        .collect();
    assert_eq!(unc.len(), 1, "{rows:#?}");
    assert!(
        unc[0]
            .evidence
            .contains("rate_limits is in the intent but no criterion checks it")
    );
}

/// Names at the edges of what the upstream webhooks take: a hostname over 64 characters is not
/// a commonName (cert-manager refuses those), and the stack stays at 0 errors.
#[tokio::test]
async fn a_long_hostname_is_a_dns_name_not_a_common_name() {
    let host = format!("{}.example.com", "a".repeat(60));
    let (dir, c) = built(&[
        (
            "generate_gateway",
            json!({"namespace": "shop", "hostnames": [host], "listeners": "https_redirect",
                   "routes": [{"name": "orders", "rules": [{"path_prefix": "/", "backends": [{"service": "orders", "port": 8080}]}]}]}),
        ),
        (
            "generate_tls",
            json!({"issuer_kind": "ClusterIssuer", "issuer_name": "letsencrypt-prod"}),
        ),
    ])
    .await;
    let certs: Vec<Value> = std::fs::read_dir(dir.path().join("traffic"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("certificate-"))
        .map(|e| object(dir.path(), &e.file_name().to_string_lossy()))
        .collect();
    assert_eq!(certs.len(), 1);
    assert!(certs[0]["spec"].get("commonName").is_none(), "{}", certs[0]);
    assert_eq!(certs[0]["spec"]["dnsNames"][0], host.as_str());
    let report =
        traffic_engineer::validation::validate_stack(validator(), &Stack::new(dir.path())).unwrap();
    let errors: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{f:?}"))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    c.cancel().await.unwrap();
}
