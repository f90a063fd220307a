//! Table-driven tests of the reference layer across its families.

use super::*;
use serde_json::{Value, json};

/// The layer over whole objects (every field kept as facts).
fn check_whole(docs: &[Value], ctx: &RefContext) -> Vec<(usize, Finding)> {
    let facts: Vec<FactBuf> = docs.iter().map(FactBuf::from_json).collect();
    let refs: Vec<&Fact> = facts.iter().map(|f| &**f).collect();
    check(&refs, ctx)
}

fn gw(listeners: Value) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "app"},
           "spec": {"gatewayClassName": "eg", "listeners": listeners}})
}
fn http_listener() -> Value {
    json!([{"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "Same"}}}])
}
fn route(ns: &str, parent: Value, rules: Value) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r", "namespace": ns},
           "spec": {"parentRefs": [parent], "rules": rules}})
}
fn svc(name: &str, port: i64) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "app"}, "spec": {"ports": [{"port": port}]}})
}
fn btp(name: &str, target: Value) -> Value {
    json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy", "metadata": {"name": name, "namespace": "app"},
           "spec": {"targetRefs": [target]}})
}
fn so(name: &str, deploy: &str) -> Value {
    json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": name, "namespace": "app"},
           "spec": {"scaleTargetRef": {"name": deploy}, "triggers": []}})
}
fn cert(kind_: &str, issuer: &str) -> Value {
    let mut r = json!({"name": issuer});
    if !kind_.is_empty() {
        r["kind"] = json!(kind_);
    }
    json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c", "namespace": "app"},
           "spec": {"secretName": "tls", "issuerRef": r}})
}
fn rules_to(svc_name: &str, port: i64) -> Value {
    json!([{"name": "a", "backendRefs": [{"name": svc_name, "port": port}]}])
}

/// (case, documents, expected (doc index, rule id, path, severity) list)
#[test]
#[allow(clippy::type_complexity)]
fn table() {
    use crate::validate::Severity::*;
    let ok_route = route(
        "app",
        json!({"name": "gw", "sectionName": "http"}),
        rules_to("s", 80),
    );
    let cases: Vec<(
        &str,
        Vec<Value>,
        Vec<(usize, &str, &str, crate::validate::Severity)>,
    )> = vec![
        (
            "all good",
            vec![gw(http_listener()), svc("s", 80), ok_route.clone()],
            vec![],
        ),
        (
            "parent typo",
            vec![
                gw(http_listener()),
                svc("s", 80),
                route("app", json!({"name": "gw2"}), rules_to("s", 80)),
            ],
            vec![(2, "ref/parent-gateway", "/spec/parentRefs/0/name", Error)],
        ),
        (
            "no gateway at all: a partial stack",
            vec![
                svc("s", 80),
                route("app", json!({"name": "gw"}), rules_to("s", 80)),
            ],
            vec![(1, "ref/parent-gateway", "/spec/parentRefs/0/name", Warning)],
        ),
        (
            "no gateway in a namespace the stack creates",
            vec![
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
                svc("s", 80),
                route("app", json!({"name": "gw"}), rules_to("s", 80)),
            ],
            vec![(2, "ref/parent-gateway", "/spec/parentRefs/0/name", Error)],
        ),
        (
            "no gateway in another namespace the stack fills",
            vec![
                svc("s", 80),
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "infra"}}),
                route(
                    "app",
                    json!({"name": "gw", "namespace": "infra"}),
                    rules_to("s", 80),
                ),
            ],
            vec![(2, "ref/parent-gateway", "/spec/parentRefs/0/name", Error)],
        ),
        (
            "gateway in a namespace the stack does not touch",
            vec![
                svc("s", 80),
                route(
                    "app",
                    json!({"name": "gw", "namespace": "infra"}),
                    rules_to("s", 80),
                ),
            ],
            vec![(1, "ref/parent-gateway", "/spec/parentRefs/0/name", Warning)],
        ),
        (
            "section typo",
            vec![
                gw(http_listener()),
                svc("s", 80),
                route(
                    "app",
                    json!({"name": "gw", "sectionName": "https"}),
                    rules_to("s", 80),
                ),
            ],
            vec![(
                2,
                "ref/section-name",
                "/spec/parentRefs/0/sectionName",
                Error,
            )],
        ),
        (
            "HTTPRoute on a TLS passthrough listener",
            vec![
                gw(
                    json!([{"name": "tls", "protocol": "TLS", "port": 443, "tls": {"mode": "Passthrough"}}]),
                ),
                svc("s", 80),
                route(
                    "app",
                    json!({"name": "gw", "sectionName": "tls"}),
                    rules_to("s", 80),
                ),
            ],
            vec![(2, "ref/route-kind", "/spec/parentRefs/0", Error)],
        ),
        (
            "HTTPRoute kind listed in allowedRoutes.kinds of a TLS listener, and an HTTP listener beside",
            vec![
                gw(json!([
                    {"name": "tls", "protocol": "TLS", "port": 443, "allowedRoutes": {"kinds": [{"kind": "TLSRoute"}]}},
                    {"name": "http", "protocol": "HTTP", "port": 80}])),
                svc("s", 80),
                route("app", json!({"name": "gw"}), rules_to("s", 80)),
            ],
            vec![],
        ),
        (
            "other namespace not admitted",
            vec![
                gw(http_listener()),
                route(
                    "other",
                    json!({"name": "gw", "namespace": "app"}),
                    json!([]),
                ),
            ],
            vec![(1, "ref/allowed-routes", "/spec/parentRefs/0", Error)],
        ),
        (
            "backend port",
            vec![gw(http_listener()), svc("s", 8080), ok_route.clone()],
            vec![(
                2,
                "ref/backend-port",
                "/spec/rules/0/backendRefs/0/port",
                Error,
            )],
        ),
        (
            "backend missing, services present",
            vec![gw(http_listener()), svc("t", 80), ok_route.clone()],
            vec![(
                2,
                "ref/backend-service",
                "/spec/rules/0/backendRefs/0/name",
                Error,
            )],
        ),
        (
            "backend missing, no services",
            vec![gw(http_listener()), ok_route.clone()],
            vec![(
                1,
                "ref/backend-service",
                "/spec/rules/0/backendRefs/0/name",
                Warning,
            )],
        ),
        (
            "cross-namespace backend without grant",
            vec![
                gw(http_listener()),
                route(
                    "app",
                    json!({"name": "gw"}),
                    json!([{"backendRefs": [{"name": "s", "namespace": "x", "port": 80}]}]),
                ),
            ],
            vec![
                (
                    1,
                    "ref/reference-grant",
                    "/spec/rules/0/backendRefs/0/namespace",
                    Error,
                ),
                (
                    1,
                    "ref/backend-service",
                    "/spec/rules/0/backendRefs/0/name",
                    Warning,
                ),
            ],
        ),
        (
            "duplicate rule names",
            vec![
                gw(http_listener()),
                svc("s", 80),
                route(
                    "app",
                    json!({"name": "gw"}),
                    json!([{"name": "a", "backendRefs": [{"name": "s", "port": 80}]}, {"name": "a", "backendRefs": [{"name": "s", "port": 80}]}]),
                ),
            ],
            vec![(2, "ref/rule-name-unique", "/spec/rules/1/name", Error)],
        ),
        (
            "policy target typo",
            vec![
                gw(http_listener()),
                svc("s", 80),
                ok_route.clone(),
                btp(
                    "p",
                    json!({"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "rr"}),
                ),
            ],
            vec![(3, "ref/policy-target", "/spec/targetRefs/0/name", Error)],
        ),
        (
            "policy rule section typo",
            vec![
                gw(http_listener()),
                svc("s", 80),
                ok_route.clone(),
                btp(
                    "p",
                    json!({"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r", "sectionName": "b"}),
                ),
            ],
            vec![(
                3,
                "ref/section-name",
                "/spec/targetRefs/0/sectionName",
                Error,
            )],
        ),
        (
            "two policies on one route",
            vec![
                gw(http_listener()),
                svc("s", 80),
                ok_route.clone(),
                btp(
                    "a-rate",
                    json!({"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}),
                ),
                btp(
                    "b-breaker",
                    json!({"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}),
                ),
            ],
            vec![(4, "ref/duplicate-policy", "/spec", Error)],
        ),
        (
            "two scaledobjects",
            vec![so("a", "d"), so("b", "d")],
            vec![
                (0, "ref/scale-target", "/spec/scaleTargetRef/name", Warning),
                (1, "ref/scale-target", "/spec/scaleTargetRef/name", Warning),
                (
                    1,
                    "ref/duplicate-scaledobject",
                    "/spec/scaleTargetRef",
                    Error,
                ),
            ],
        ),
        (
            "issuer kind defaults to Issuer",
            vec![
                json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "ss"}, "spec": {"selfSigned": {}}}),
                cert("", "ss"),
            ],
            vec![(1, "ref/issuer-kind", "/spec/issuerRef/kind", Error)],
        ),
        (
            "issuer ok",
            vec![
                json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ss", "namespace": "app"}, "spec": {"selfSigned": {}}}),
                cert("Issuer", "ss"),
            ],
            vec![],
        ),
        (
            "https secret missing",
            vec![gw(
                json!([{"name": "https", "protocol": "HTTPS", "port": 443, "tls": {"certificateRefs": [{"name": "tls"}]}}]),
            )],
            vec![(
                0,
                "ref/certificate-secret",
                "/spec/listeners/0/tls/certificateRefs/0/name",
                Warning,
            )],
        ),
        (
            "https secret from certificate",
            vec![
                gw(
                    json!([{"name": "https", "protocol": "HTTPS", "port": 443, "tls": {"certificateRefs": [{"name": "tls"}]}}]),
                ),
                cert("Issuer", "x"),
            ],
            vec![(1, "ref/issuer", "/spec/issuerRef/name", Warning)],
        ),
    ];
    run(cases);
}

type Want<'a> = Vec<(usize, &'a str, &'a str, crate::validate::Severity)>;

/// Run (case, documents, expected (doc index, rule id, path, severity)) cases; the facts
/// [`project`] keeps must find exactly what the whole objects find.
fn run(cases: Vec<(&str, Vec<Value>, Want)>) {
    for (case, docs, want) in cases {
        let mut got: Vec<(usize, String, String, crate::validate::Severity)> =
            check_whole(&docs, &RefContext::default())
                .into_iter()
                .map(|(i, f)| (i, f.rule, f.path, f.severity))
                .collect();
        got.sort();
        let mut want: Vec<(usize, String, String, crate::validate::Severity)> = want
            .into_iter()
            .map(|(i, r, p, s)| (i, r.to_string(), p.to_string(), s))
            .collect();
        want.sort();
        assert_eq!(got, want, "case {case}");
        // the facts the engine keeps find exactly what the whole objects find
        let projected: Vec<FactBuf> = docs.iter().map(project).collect();
        let refs: Vec<&Fact> = projected.iter().map(|f| &**f).collect();
        let from_facts: Vec<Finding> = check(&refs, &RefContext::default())
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        let from_whole: Vec<Finding> = check_whole(&docs, &RefContext::default())
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        assert_eq!(from_facts, from_whole, "case {case}: projected");
    }
}

#[test]
fn generated_secret_counts() {
    let g = gw(
        json!([{"name": "https", "protocol": "HTTPS", "port": 443, "tls": {"certificateRefs": [{"name": "tls"}]}}]),
    );
    let ctx = RefContext {
        generated_secrets: vec![("app".into(), "tls".into())],
    };
    assert!(check_whole(&[g], &ctx).is_empty());
}

fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}
fn selector_gw(selector: Value) -> Value {
    gw(json!([{"name": "http", "protocol": "HTTP", "port": 80,
               "allowedRoutes": {"namespaces": {"from": "Selector", "selector": selector}}}]))
}
fn bare_route(ns: &str, parent: Value) -> Value {
    route(ns, parent, json!([]))
}

#[test]
fn allowed_routes_selectors() {
    use crate::validate::Severity::*;
    let parent = json!({"name": "gw", "namespace": "app"});
    run(vec![
        (
            "matchLabels match",
            vec![
                selector_gw(json!({"matchLabels": {"team": "a"}})),
                namespace("tenant", json!({"team": "a"})),
                bare_route("tenant", parent.clone()),
            ],
            vec![],
        ),
        (
            "matchLabels do not match",
            vec![
                selector_gw(json!({"matchLabels": {"team": "a"}})),
                namespace("tenant", json!({"team": "b"})),
                bare_route("tenant", parent.clone()),
            ],
            vec![(2, "ref/allowed-routes", "/spec/parentRefs/0", Error)],
        ),
        (
            "the name label the API server sets",
            vec![
                selector_gw(
                    json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["tenant"]}]}),
                ),
                namespace("tenant", json!({})),
                bare_route("tenant", parent.clone()),
            ],
            vec![],
        ),
        (
            "NotIn excludes",
            vec![
                selector_gw(
                    json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}),
                ),
                namespace("tenant", json!({"env": "prod"})),
                bare_route("tenant", parent.clone()),
            ],
            vec![(2, "ref/allowed-routes", "/spec/parentRefs/0", Error)],
        ),
        (
            "Exists",
            vec![
                selector_gw(json!({"matchExpressions": [{"key": "gw", "operator": "Exists"}]})),
                namespace("tenant", json!({"gw": ""})),
                bare_route("tenant", parent.clone()),
            ],
            vec![],
        ),
        (
            "no Namespace in the stack: not judged",
            vec![
                selector_gw(json!({"matchLabels": {"team": "a"}})),
                bare_route("tenant", parent.clone()),
            ],
            vec![],
        ),
    ]);
}

fn https_gw(http_host: &str, https_host: &str) -> Value {
    gw(json!([
        {"name": "http", "protocol": "HTTP", "port": 80, "hostname": http_host},
        {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": https_host,
         "tls": {"certificateRefs": [{"name": "tls"}]}}
    ]))
}
fn tls_secret() -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "app"},
           "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}})
}
fn redirect_route(section: &str) -> Value {
    route(
        "app",
        json!({"name": "gw", "sectionName": section}),
        json!([{"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}}]}]),
    )
}

#[test]
fn cleartext_beside_https() {
    use crate::validate::Severity::*;
    let h = "a.example.com";
    run(vec![
        (
            "route on the HTTPS listener, redirect on HTTP",
            vec![
                https_gw(h, h),
                tls_secret(),
                svc("s", 80),
                route(
                    "app",
                    json!({"name": "gw", "sectionName": "https"}),
                    rules_to("s", 80),
                ),
                redirect_route("http"),
            ],
            vec![],
        ),
        (
            "route on both listeners",
            vec![
                https_gw(h, h),
                tls_secret(),
                svc("s", 80),
                route("app", json!({"name": "gw"}), rules_to("s", 80)),
            ],
            vec![(
                3,
                "ref/cleartext-beside-https",
                "/spec/parentRefs/0",
                Warning,
            )],
        ),
        (
            "route on the HTTP listener",
            vec![
                https_gw(h, h),
                tls_secret(),
                svc("s", 80),
                route(
                    "app",
                    json!({"name": "gw", "sectionName": "http"}),
                    rules_to("s", 80),
                ),
            ],
            vec![(
                3,
                "ref/cleartext-beside-https",
                "/spec/parentRefs/0",
                Warning,
            )],
        ),
        (
            "HTTP for another hostname",
            vec![
                https_gw("b.example.com", h),
                tls_secret(),
                svc("s", 80),
                route(
                    "app",
                    json!({"name": "gw", "sectionName": "http"}),
                    rules_to("s", 80),
                ),
            ],
            vec![],
        ),
        (
            "HTTP only",
            vec![
                gw(http_listener()),
                svc("s", 80),
                route("app", json!({"name": "gw"}), rules_to("s", 80)),
            ],
            vec![],
        ),
    ]);
}

#[test]
fn policies_attach_in_their_namespace() {
    use crate::validate::Severity::*;
    let mut other_route = route("web", json!({"name": "gw", "namespace": "app"}), json!([]));
    other_route["metadata"]["name"] = json!("r");
    let mut gw_all = gw(
        json!([{"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "All"}}}]),
    );
    gw_all["metadata"]["namespace"] = json!("app");
    run(vec![(
        "policy in the Gateway's namespace, route in another",
        vec![
            gw_all,
            other_route,
            btp(
                "p",
                json!({"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}),
            ),
        ],
        vec![(2, "ref/policy-target", "/spec/targetRefs/0/name", Error)],
    )]);
    // the hint says where the route is
    let docs = [
        route(
            "web",
            json!({"name": "gw", "namespace": "infra"}),
            json!([]),
        ),
        btp(
            "p",
            json!({"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}),
        ),
    ];
    let found = check_whole(&docs, &RefContext::default());
    let f = found
        .iter()
        .find(|(_, f)| f.rule == "ref/policy-target")
        .unwrap();
    assert!(f.1.hint.contains("is in namespace web"), "{}", f.1.hint);
}

fn backend_tls(target: Value) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy", "metadata": {"name": "b", "namespace": "app"},
           "spec": {"targetRefs": [target], "validation": {"hostname": "s.app", "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}]}}})
}
fn named_svc() -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "app"},
           "spec": {"ports": [{"name": "https", "port": 443}]}})
}
fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "app"}, "data": {"ca.crt": ""}})
}

#[test]
fn backend_tls_policies() {
    use crate::validate::Severity::*;
    run(vec![
        (
            "service and port name",
            vec![
                named_svc(),
                configmap("ca"),
                backend_tls(
                    json!({"group": "", "kind": "Service", "name": "s", "sectionName": "https"}),
                ),
            ],
            vec![],
        ),
        (
            "port name typo",
            vec![
                named_svc(),
                configmap("ca"),
                backend_tls(
                    json!({"group": "", "kind": "Service", "name": "s", "sectionName": "http"}),
                ),
            ],
            vec![(
                2,
                "ref/backend-tls-target",
                "/spec/targetRefs/0/sectionName",
                Error,
            )],
        ),
        (
            "service typo, CA ConfigMap elsewhere",
            vec![
                named_svc(),
                backend_tls(json!({"group": "", "kind": "Service", "name": "t"})),
            ],
            vec![
                (
                    1,
                    "ref/backend-tls-target",
                    "/spec/targetRefs/0/name",
                    Error,
                ),
                (
                    1,
                    "ref/backend-tls-ca",
                    "/spec/validation/caCertificateRefs/0/name",
                    Warning,
                ),
            ],
        ),
    ]);
}

#[test]
fn grants_in_the_wrong_namespace() {
    let mut g = json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
        "metadata": {"name": "g", "namespace": "app"},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "app"}],
                 "to": [{"group": "", "kind": "Service"}]}});
    let r = route(
        "app",
        json!({"name": "gw"}),
        json!([{"backendRefs": [{"name": "s", "namespace": "x", "port": 80}]}]),
    );
    let docs = [gw(http_listener()), r.clone(), g.clone()];
    let found = check_whole(&docs, &RefContext::default());
    let f = found
        .iter()
        .find(|(_, f)| f.rule == "ref/reference-grant")
        .unwrap();
    assert!(
        f.1.hint.contains("ReferenceGrant app/g allows this"),
        "{}",
        f.1.hint
    );
    // in the referent's namespace it counts
    g["metadata"]["namespace"] = json!("x");
    let docs = [gw(http_listener()), r, g];
    assert!(
        !check_whole(&docs, &RefContext::default())
            .iter()
            .any(|(_, f)| f.rule == "ref/reference-grant")
    );
}

fn deploy(name: &str, labels: Value, port_names: &[&str]) -> Value {
    let ports: Vec<Value> = port_names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"name": n, "containerPort": 8000 + i}))
        .collect();
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "app"},
           "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "i", "ports": ports}]}}}})
}
fn svc_target(target: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "app"},
           "spec": {"selector": {"app": "a"}, "ports": [{"port": 80, "targetPort": target}]}})
}

#[test]
fn service_target_port_names() {
    use crate::validate::Severity::*;
    run(vec![
        (
            "named port exists",
            vec![
                deploy("d", json!({"app": "a", "v": "1"}), &["http"]),
                svc_target(json!("http")),
            ],
            vec![],
        ),
        (
            "named port missing",
            vec![
                deploy("d", json!({"app": "a"}), &["web"]),
                svc_target(json!("http")),
            ],
            vec![(1, "ref/target-port", "/spec/ports/0/targetPort", Error)],
        ),
        (
            "numeric target port",
            vec![
                deploy("d", json!({"app": "a"}), &["web"]),
                svc_target(json!(8080)),
            ],
            vec![],
        ),
        (
            "no selected workload among the documents",
            vec![
                deploy("d", json!({"app": "b"}), &["web"]),
                svc_target(json!("http")),
            ],
            vec![],
        ),
    ]);
}

fn scaled(auth: Value) -> Value {
    json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "so", "namespace": "app"},
           "spec": {"scaleTargetRef": {"name": "d"}, "triggers": [{"type": "prometheus", "metadata": {}, "authenticationRef": auth}]}})
}
fn trigger_auth(kind_: &str, secret: &str, key: &str) -> Value {
    json!({"apiVersion": "keda.sh/v1alpha1", "kind": kind_, "metadata": {"name": "ta", "namespace": "app"},
           "spec": {"secretTargetRef": [{"parameter": "bearerToken", "name": secret, "key": key}]}})
}
fn opaque(name: &str, keys: &[&str]) -> Value {
    let data: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| ((*k).to_string(), json!("eA==")))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "app"}, "data": data})
}

#[test]
fn keda_authentication() {
    use crate::validate::Severity::*;
    let d = deploy("d", json!({"app": "a"}), &[]);
    run(vec![
        (
            "all there",
            vec![
                d.clone(),
                scaled(json!({"name": "ta"})),
                trigger_auth("TriggerAuthentication", "tok", "token"),
                opaque("tok", &["token"]),
            ],
            vec![],
        ),
        (
            "TriggerAuthentication missing in a namespace the stack creates",
            vec![
                d.clone(),
                scaled(json!({"name": "tb"})),
                namespace("app", json!({})),
            ],
            vec![(
                1,
                "ref/trigger-auth",
                "/spec/triggers/0/authenticationRef/name",
                Error,
            )],
        ),
        (
            "TriggerAuthentication may live outside",
            vec![d.clone(), scaled(json!({"name": "tb"}))],
            vec![(
                1,
                "ref/trigger-auth",
                "/spec/triggers/0/authenticationRef/name",
                Warning,
            )],
        ),
        (
            "ClusterTriggerAuthentication may live outside",
            vec![
                d.clone(),
                scaled(json!({"name": "cta", "kind": "ClusterTriggerAuthentication"})),
            ],
            vec![(
                1,
                "ref/trigger-auth",
                "/spec/triggers/0/authenticationRef/name",
                Warning,
            )],
        ),
        (
            "secret key missing",
            vec![
                d.clone(),
                scaled(json!({"name": "ta"})),
                trigger_auth("TriggerAuthentication", "tok", "token"),
                opaque("tok", &["tokn"]),
            ],
            vec![(
                2,
                "ref/trigger-auth-secret",
                "/spec/secretTargetRef/0/key",
                Error,
            )],
        ),
        (
            "secret outside the stack",
            vec![
                d.clone(),
                scaled(json!({"name": "ta"})),
                trigger_auth("TriggerAuthentication", "tok", "token"),
            ],
            vec![(
                2,
                "ref/trigger-auth-secret",
                "/spec/secretTargetRef/0/name",
                Warning,
            )],
        ),
    ]);
}

fn certificate(name: &str, secret: &str, dns: &[&str], is_ca: bool) -> Value {
    json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name, "namespace": "app"},
           "spec": {"secretName": secret, "dnsNames": dns, "isCA": is_ca,
                    "issuerRef": {"kind": "ClusterIssuer", "name": "ss"}}})
}
fn cluster_issuer(spec: Value) -> Value {
    json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "ss"}, "spec": spec})
}
fn issuer_ca(secret: &str) -> Value {
    json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ca", "namespace": "app"},
           "spec": {"ca": {"secretName": secret}}})
}
fn https_listener_gw(host: &str, secret: &str) -> Value {
    gw(
        json!([{"name": "https", "protocol": "HTTPS", "port": 443, "hostname": host,
               "tls": {"certificateRefs": [{"name": secret}]}}]),
    )
}
/// A PEM certificate made at run time (rcgen), CA or not.
fn pem_cert(ca: bool) -> String {
    let mut params = rcgen::CertificateParams::new(vec!["ca.example".to_string()]).unwrap();
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}
fn ca_secret(cert_pem: &str, keys: &[&str]) -> Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert_pem);
    // split over lines, as kustomize's secretGenerator output can be
    let split: String = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let mut data = serde_json::Map::new();
    for k in keys {
        data.insert(
            (*k).into(),
            json!(if *k == "tls.crt" {
                split.clone()
            } else {
                "eA==".into()
            }),
        );
    }
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "root", "namespace": "app"},
           "type": "kubernetes.io/tls", "data": data})
}

#[test]
fn tls_across_objects() {
    use crate::validate::Severity::*;
    let ss = cluster_issuer(json!({"selfSigned": {}}));
    let host = "a.example.com";
    run(vec![
        (
            "certificate covers the listener",
            vec![
                ss.clone(),
                certificate("c", "tls", &[host], false),
                https_listener_gw(host, "tls"),
            ],
            vec![],
        ),
        (
            "wildcard certificate covers one label",
            vec![
                ss.clone(),
                certificate("c", "tls", &["*.example.com"], false),
                https_listener_gw(host, "tls"),
            ],
            vec![],
        ),
        (
            "certificate for another name",
            vec![
                ss.clone(),
                certificate("c", "tls", &["b.example.com"], false),
                https_listener_gw(host, "tls"),
            ],
            vec![(
                2,
                "ref/certificate-hostname",
                "/spec/listeners/0/hostname",
                Error,
            )],
        ),
        (
            "wildcard listener needs a wildcard certificate",
            vec![
                ss.clone(),
                certificate("c", "tls", &[host], false),
                https_listener_gw("*.example.com", "tls"),
            ],
            vec![(
                2,
                "ref/certificate-hostname",
                "/spec/listeners/0/hostname",
                Error,
            )],
        ),
        (
            "certificateRef and secretName do not meet",
            vec![
                ss.clone(),
                certificate("c", "tls-cert", &[host], false),
                https_listener_gw(host, "tls"),
            ],
            vec![(
                2,
                "ref/certificate-secret",
                "/spec/listeners/0/tls/certificateRefs/0/name",
                Error,
            )],
        ),
        (
            "CA issuer with a CA certificate",
            vec![
                issuer_ca("root"),
                ca_secret(&pem_cert(true), &["tls.crt", "tls.key"]),
            ],
            vec![],
        ),
        (
            "CA issuer with a leaf certificate",
            vec![
                issuer_ca("root"),
                ca_secret(&pem_cert(false), &["tls.crt", "tls.key"]),
            ],
            vec![(0, "ref/ca-issuer-secret", "/spec/ca/secretName", Error)],
        ),
        (
            "CA Secret without its key",
            vec![issuer_ca("root"), ca_secret(&pem_cert(true), &["tls.crt"])],
            vec![(0, "ref/ca-issuer-secret", "/spec/ca/secretName", Error)],
        ),
        (
            "CA written by a Certificate with isCA",
            vec![
                ss.clone(),
                issuer_ca("root"),
                certificate("root", "root", &["ca"], true),
            ],
            vec![],
        ),
        (
            "CA written by a Certificate without isCA",
            vec![
                ss.clone(),
                issuer_ca("root"),
                certificate("root", "root", &["ca"], false),
            ],
            vec![(1, "ref/ca-issuer-secret", "/spec/ca/secretName", Error)],
        ),
        (
            "CA Secret outside the stack",
            vec![issuer_ca("root")],
            vec![(0, "ref/ca-issuer-secret", "/spec/ca/secretName", Warning)],
        ),
    ]);
}

#[test]
fn ca_problems_never_show_key_material() {
    let sec = ca_secret(
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
        &["tls.crt", "tls.key"],
    );
    let docs = [issuer_ca("root"), sec];
    let found = check_whole(&docs, &RefContext::default());
    assert_eq!(found.len(), 1);
    let text = format!("{} {}", found[0].1.message, found[0].1.hint);
    assert!(
        !text.contains("BEGIN") && !text.contains("base64 at all"),
        "{text}"
    );
}

fn eg_config(text: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "envoy-gateway-config", "namespace": "envoy-gateway-system"},
           "data": {"envoy-gateway.yaml": text}})
}
fn global_btp(name: &str) -> Value {
    let mut p = btp(
        name,
        json!({"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}),
    );
    p["spec"]["rateLimit"] =
        json!({"global": {"rules": [{"limit": {"requests": 1, "unit": "Second"}}]}});
    p
}
fn backend_obj() -> Value {
    json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "Backend", "metadata": {"name": "b", "namespace": "app"},
           "spec": {"endpoints": [{"fqdn": {"hostname": "x.example", "port": 443}}]}})
}

#[test]
fn envoy_gateway_configuration() {
    use crate::validate::Severity::*;
    let head = "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyGateway\nprovider: {type: Kubernetes}\n";
    let redis =
        format!("{head}rateLimit: {{backend: {{type: Redis, redis: {{url: redis:6379}}}}}}\n");
    let stack = || {
        vec![
            gw(http_listener()),
            svc("s", 80),
            route("app", json!({"name": "gw"}), rules_to("s", 80)),
        ]
    };
    let with = |extra: Vec<Value>| {
        let mut v = stack();
        v.extend(extra);
        v
    };
    run(vec![
        (
            "global limits, Redis configured",
            with(vec![global_btp("p"), eg_config(&redis)]),
            vec![],
        ),
        (
            "global limits, no rateLimit in the configuration",
            with(vec![global_btp("p"), eg_config(head)]),
            vec![(
                4,
                "ratelimit/global-needs-redis",
                "/data/envoy-gateway.yaml",
                Error,
            )],
        ),
        (
            "global limits, no configuration: one info for the stack",
            with(vec![global_btp("p"), global_btp("q")]),
            vec![
                (
                    3,
                    "ratelimit/global-needs-redis",
                    "/spec/rateLimit/global",
                    Info,
                ),
                (4, "ref/duplicate-policy", "/spec", Error),
            ],
        ),
        (
            "misspelled rateLimit is dropped",
            with(vec![
                global_btp("p"),
                eg_config(&redis.replace("rateLimit", "ratelimit")),
            ]),
            vec![
                (
                    4,
                    "egconfig/unknown-key",
                    "/data/envoy-gateway.yaml",
                    Warning,
                ),
                (
                    4,
                    "ratelimit/global-needs-redis",
                    "/data/envoy-gateway.yaml",
                    Error,
                ),
            ],
        ),
        (
            "redis without url",
            with(vec![eg_config(&format!(
                "{head}rateLimit: {{backend: {{type: Redis, redis: {{ulr: x}}}}}}\n"
            ))]),
            vec![
                (
                    3,
                    "egconfig/rate-limit-backend",
                    "/data/envoy-gateway.yaml",
                    Error,
                ),
                (
                    3,
                    "egconfig/unknown-key",
                    "/data/envoy-gateway.yaml",
                    Warning,
                ),
            ],
        ),
        (
            "Backend objects, API off",
            with(vec![backend_obj(), eg_config(head)]),
            vec![(
                4,
                "egconfig/backend-disabled",
                "/data/envoy-gateway.yaml",
                Error,
            )],
        ),
        (
            "Backend objects, API on",
            with(vec![
                backend_obj(),
                eg_config(&format!("{head}extensionApis: {{enableBackend: true}}\n")),
            ]),
            vec![],
        ),
        (
            "not an EnvoyGateway",
            with(vec![eg_config("apiVersion: v1\nkind: Config\n")]),
            vec![(3, "egconfig/decode", "/data/envoy-gateway.yaml", Error)],
        ),
    ]);
    assert_eq!(
        rate_limit_backend_configured(&eg_config(&redis)),
        Some(true)
    );
    assert_eq!(rate_limit_backend_configured(&eg_config(head)), Some(false));
    assert_eq!(rate_limit_backend_configured(&svc("s", 80)), None);
}

/// A missing referent's hint names the objects of its kind: sorted, each once, the first 20;
/// in the referent's namespace, or elsewhere when the namespace holds none.
#[test]
fn missing_referents_name_what_is_there() {
    let mut services: Vec<Value> = (0..25)
        .rev()
        .map(|i| svc(&format!("s{i:02}"), 80))
        .collect();
    services.push(svc("s03", 80)); // a second s03 (another document)
    let route_to = |ns: &str| {
        route(
            ns,
            json!({"name": "gw", "namespace": "app"}),
            rules_to("missing", 80),
        )
    };
    let hint = |docs: &[Value]| {
        check_whole(docs, &RefContext::default())
            .into_iter()
            .find(|(_, f)| f.rule == "ref/backend-service")
            .map(|(_, f)| f.hint)
            .unwrap_or_default()
    };
    let first20: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
    let mut docs = services.clone();
    docs.push(route_to("app"));
    assert_eq!(
        hint(&docs),
        format!("Services in app: {}", first20.join(", "))
    );
    // the same hint twice: the memo gives what was made the first time
    docs.push(route_to("app"));
    let found: Vec<String> = check_whole(&docs, &RefContext::default())
        .into_iter()
        .filter(|(_, f)| f.rule == "ref/backend-service")
        .map(|(_, f)| f.hint)
        .collect();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0], found[1]);
    // a route to a Gateway of a namespace without Gateways: the Gateways elsewhere, the first 5
    let mut docs: Vec<Value> = (0..8)
        .rev()
        .map(|i| {
            let mut g = gw(http_listener());
            g["metadata"]["name"] = json!(format!("g{i}"));
            g
        })
        .collect();
    docs.push(route("web", json!({"name": "missing"}), json!([])));
    let h = check_whole(&docs, &RefContext::default())
        .into_iter()
        .find(|(_, f)| f.rule == "ref/parent-gateway")
        .map(|(_, f)| f.hint)
        .unwrap_or_default();
    assert!(
        h.starts_with("the documents hold Gateways elsewhere (g0, g1, g2, g3, g4) but"),
        "{h}"
    );
}
