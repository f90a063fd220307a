//! Layer d: references across the documents given. What `kubectl apply` accepts but leaves a
//! route detached, a listener without its certificate, or a policy attached to nothing.
//!
//! A referent missing from the documents is an error when objects of that kind ARE present in
//! that namespace (a typo or a rename), and a warning when none are (it may live in the cluster).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::finding::Finding;

/// Extra facts the documents themselves do not carry.
#[derive(Debug, Default, Clone)]
pub struct RefContext {
    /// Secrets a kustomize secretGenerator will create: (namespace, name).
    pub generated_secrets: Vec<(String, String)>,
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}
/// A string field, or `default` when it is absent or empty (the API server's defaulting).
fn or<'a>(v: &'a Value, key: &str, default: &'a str) -> &'a str {
    match s(v, key) {
        "" => default,
        x => x,
    }
}
/// The items of an array field, with their index.
fn items(v: &Value) -> impl Iterator<Item = (usize, &Value)> {
    v.as_array().into_iter().flatten().enumerate()
}
fn kind(v: &Value) -> &str {
    s(v, "kind")
}
fn name(v: &Value) -> &str {
    s(&v["metadata"], "name")
}
fn ns(v: &Value) -> &str {
    match s(&v["metadata"], "namespace") {
        "" => "default",
        n => n,
    }
}
fn group_of(v: &Value) -> &str {
    let av = s(v, "apiVersion");
    match av.rsplit_once('/') {
        Some((g, _)) => g,
        None => "",
    }
}

/// Lookups over the documents, built once: every check below is a hash lookup, so the layer
/// stays linear in the number of documents.
struct Index<'a> {
    objs: &'a [&'a Value],
    by_key: HashMap<(&'a str, &'a str, &'a str), usize>,
    /// (kind, namespace) -> names; (kind, "") -> names in every namespace
    names: HashMap<(&'a str, &'a str), Vec<&'a str>>,
    /// (namespace, secretName) of every cert-manager Certificate
    cert_secrets: HashSet<(&'a str, &'a str)>,
    /// ReferenceGrants by their own namespace
    grants: HashMap<&'a str, Vec<&'a Value>>,
}

impl<'a> Index<'a> {
    fn new(objs: &'a [&'a Value]) -> Self {
        let mut by_key = HashMap::new();
        let mut names: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
        let mut cert_secrets = HashSet::new();
        let mut grants: HashMap<&str, Vec<&Value>> = HashMap::new();
        for (i, o) in objs.iter().enumerate() {
            by_key.entry((kind(o), ns(o), name(o))).or_insert(i);
            names.entry((kind(o), ns(o))).or_default().push(name(o));
            names.entry((kind(o), "")).or_default().push(name(o));
            match kind(o) {
                "Certificate" => {
                    cert_secrets.insert((ns(o), s(&o["spec"], "secretName")));
                }
                "ReferenceGrant" if group_of(o) == "gateway.networking.k8s.io" => {
                    grants.entry(ns(o)).or_default().push(o)
                }
                _ => {}
            }
        }
        for v in names.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        Index {
            objs,
            by_key,
            names,
            cert_secrets,
            grants,
        }
    }
    fn get(&self, k: &str, namespace: &str, n: &str) -> Option<&'a Value> {
        self.by_key.get(&(k, namespace, n)).map(|i| self.objs[*i])
    }
    /// A cluster-scoped object by name (its namespace, if someone wrote one, is ignored).
    fn has_cluster(&self, k: &str, n: &str) -> bool {
        self.names
            .get(&(k, ""))
            .is_some_and(|v| v.binary_search(&n).is_ok())
    }
    fn any_of_kind(&self, k: &str, namespace: &str) -> bool {
        self.names.contains_key(&(k, namespace))
    }
    fn names_of_kind(&self, k: &str, namespace: &str) -> Vec<&'a str> {
        let mut v = self.names.get(&(k, namespace)).cloned().unwrap_or_default();
        v.truncate(20);
        v
    }
}

/// A missing referent: error if the kind is present there (likely a typo), warning otherwise.
fn missing(
    idx: &Index,
    rule: &str,
    path: String,
    k: &str,
    namespace: &str,
    n: &str,
    what: &str,
) -> Finding {
    let known = idx.names_of_kind(k, namespace);
    if known.is_empty() {
        Finding::warning(
            rule,
            path,
            format!("{what} {k} {namespace}/{n} is not among the documents given"),
            format!("make sure {k} {n} exists in namespace {namespace} when this is applied"),
        )
    } else {
        Finding::error(
            rule,
            path,
            format!("{what} {k} {namespace}/{n} does not exist"),
            format!("{k}s in {namespace}: {}", known.join(", ")),
        )
    }
}

/// (group, kind, namespace) of the referrer; (group, kind, namespace, name) of the referent.
type From<'a> = (&'a str, &'a str, &'a str);
type To<'a> = (&'a str, &'a str, &'a str, &'a str);

fn grant_allows(idx: &Index, from: From, to: To) -> bool {
    let (from_group, from_kind, from_ns) = from;
    let (to_group, to_kind, to_ns, to_name) = to;
    idx.grants.get(to_ns).into_iter().flatten().any(|g| {
        g["spec"]["from"].as_array().is_some_and(|f| {
            f.iter().any(|f| {
                s(f, "group") == from_group
                    && s(f, "kind") == from_kind
                    && s(f, "namespace") == from_ns
            })
        }) && g["spec"]["to"].as_array().is_some_and(|t| {
            t.iter().any(|t| {
                s(t, "group") == to_group
                    && s(t, "kind") == to_kind
                    && (s(t, "name").is_empty() || s(t, "name") == to_name)
            })
        })
    })
}

/// Gateway API hostname intersection, with `*.` wildcards on either side.
fn hosts_intersect(a: &str, b: &str) -> bool {
    fn matches(wild: &str, host: &str) -> bool {
        match wild.strip_prefix("*.") {
            Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
            None => wild == host,
        }
    }
    a == b || matches(a, b) || matches(b, a)
}

/// A reference into another namespace needs a ReferenceGrant there. `words` are the
/// reference's name and extra text for the message and the hint.
fn missing_grant(
    idx: &Index,
    from: From,
    to: To,
    path: &str,
    words: (&str, &str, &str),
) -> Option<Finding> {
    let (_, from_kind, from_ns) = from;
    let (_, to_kind, to_ns, to_name) = to;
    if from_ns == to_ns || grant_allows(idx, from, to) {
        return None;
    }
    let (what, more, hint_more) = words;
    Some(Finding::error(
        "ref/reference-grant",
        format!("{path}/namespace"),
        format!(
            "{what} to {to_kind} {to_ns}/{to_name} crosses namespaces without a ReferenceGrant{more}"
        ),
        format!(
            "add a ReferenceGrant in namespace {to_ns} from {from_kind} in {from_ns} to {to_kind} {to_name}{hint_more}"
        ),
    ))
}

fn listener_names(gw: &Value) -> Vec<&str> {
    gw["spec"]["listeners"]
        .as_array()
        .map(|ls| ls.iter().map(|l| s(l, "name")).collect())
        .unwrap_or_default()
}

fn rule_names(route: &Value) -> Vec<&str> {
    route["spec"]["rules"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| s(r, "name"))
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn check_route(idx: &Index, i: usize, r: &Value, out: &mut Vec<(usize, Finding)>) {
    let rns = ns(r);
    for (pi, p) in items(&r["spec"]["parentRefs"]) {
        let pk = or(p, "kind", "Gateway");
        if pk != "Gateway" {
            continue;
        }
        let pns = or(p, "namespace", rns);
        let path = format!("/spec/parentRefs/{pi}");
        let Some(gw) = idx.get("Gateway", pns, s(p, "name")) else {
            out.push((
                i,
                missing(
                    idx,
                    "ref/parent-gateway",
                    format!("{path}/name"),
                    "Gateway",
                    pns,
                    s(p, "name"),
                    "parentRef",
                ),
            ));
            continue;
        };
        let section = s(p, "sectionName");
        let listeners: Vec<&Value> = gw["spec"]["listeners"]
            .as_array()
            .map(|ls| {
                ls.iter()
                    .filter(|l| section.is_empty() || s(l, "name") == section)
                    .collect()
            })
            .unwrap_or_default();
        if !section.is_empty() && listeners.is_empty() {
            out.push((
                i,
                Finding::error(
                    "ref/section-name",
                    format!("{path}/sectionName"),
                    format!(
                        "Gateway {pns}/{} has no listener named {section}",
                        s(p, "name")
                    ),
                    format!("listeners: {}", listener_names(gw).join(", ")),
                ),
            ));
            continue;
        }
        // hostnames must intersect the listener's hostname, or the route attaches nowhere
        let route_hosts: Vec<&str> = r["spec"]["hostnames"]
            .as_array()
            .map(|h| h.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !route_hosts.is_empty() && !listeners.is_empty() {
            let any = listeners
                .iter()
                .any(|l| match l.get("hostname").and_then(Value::as_str) {
                    None | Some("") => true,
                    Some(lh) => route_hosts.iter().any(|rh| hosts_intersect(lh, rh)),
                });
            if !any {
                out.push((
                    i,
                    Finding::error(
                        "ref/hostname-mismatch",
                        "/spec/hostnames",
                        format!("none of the route's hostnames match the hostname of a listener of Gateway {pns}/{}", s(p, "name")),
                        "use a hostname the listener serves (or a matching wildcard), or remove the listener's hostname",
                    ),
                ));
            }
        }
        // the route attaches only where allowedRoutes admits its namespace
        let admitted =
            listeners
                .iter()
                .any(|l| match s(&l["allowedRoutes"]["namespaces"], "from") {
                    "All" | "Selector" => true,
                    _ => pns == rns,
                });
        if !listeners.is_empty() && !admitted {
            out.push((
                i,
                Finding::error(
                    "ref/allowed-routes",
                    path.clone(),
                    format!("the listeners of Gateway {pns}/{} only admit routes from their own namespace (allowedRoutes.namespaces.from: Same), and this route is in {rns}", s(p, "name")),
                    "set allowedRoutes.namespaces.from to All (or Selector) on the listener, or move the route",
                ),
            ));
        }
    }
    let mut seen = HashMap::new();
    for (ri, rule) in items(&r["spec"]["rules"]) {
        let rn = s(rule, "name");
        if !rn.is_empty()
            && let Some(first) = seen.insert(rn, ri)
        {
            out.push((
                i,
                Finding::error(
                    "ref/rule-name-unique",
                    format!("/spec/rules/{ri}/name"),
                    format!("rule name {rn} is also used by rule {first}"),
                    "give every rule a unique name (policies target rules by name)",
                ),
            ));
        }
        for (bi, b) in items(&rule["backendRefs"]) {
            let bk = or(b, "kind", "Service");
            if bk != "Service" || !s(b, "group").is_empty() {
                continue;
            }
            let bns = or(b, "namespace", rns);
            let path = format!("/spec/rules/{ri}/backendRefs/{bi}");
            let bname = s(b, "name");
            if let Some(f) = missing_grant(
                idx,
                ("gateway.networking.k8s.io", "HTTPRoute", rns),
                ("", "Service", bns, bname),
                &path,
                ("backendRef", "", ""),
            ) {
                out.push((i, f));
            }
            match idx.get("Service", bns, bname) {
                None => out.push((
                    i,
                    missing(
                        idx,
                        "ref/backend-service",
                        format!("{path}/name"),
                        "Service",
                        bns,
                        bname,
                        "backendRef",
                    ),
                )),
                Some(svc) => {
                    let port = b.get("port").and_then(Value::as_i64);
                    let ports: Vec<i64> = svc["spec"]["ports"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .filter_map(|p| p.get("port").and_then(Value::as_i64))
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some(port) = port
                        && !ports.contains(&port)
                    {
                        out.push((
                            i,
                            Finding::error(
                                "ref/backend-port",
                                format!("{path}/port"),
                                format!("Service {bns}/{bname} has no port {port}"),
                                format!("ports of the Service: {ports:?}; one bad backendRef makes Envoy Gateway answer 500 for the whole rule"),
                            ),
                        ));
                    }
                }
            }
        }
    }
}

fn check_gateway(
    idx: &Index,
    i: usize,
    g: &Value,
    ctx: &RefContext,
    out: &mut Vec<(usize, Finding)>,
) {
    let gns = ns(g);
    for (li, l) in items(&g["spec"]["listeners"]) {
        for (ci, c) in items(&l["tls"]["certificateRefs"]) {
            let ck = or(c, "kind", "Secret");
            if ck != "Secret" {
                continue;
            }
            let cns = or(c, "namespace", gns);
            let cname = s(c, "name");
            let path = format!("/spec/listeners/{li}/tls/certificateRefs/{ci}");
            if let Some(f) = missing_grant(
                idx,
                ("gateway.networking.k8s.io", "Gateway", gns),
                ("", "Secret", cns, cname),
                &path,
                (
                    "certificateRef",
                    " (listener RefNotPermitted)",
                    &format!(", or put the Secret in {gns}"),
                ),
            ) {
                out.push((i, f));
            }
            let secret = idx.get("Secret", cns, cname);
            if let Some(sec) = secret
                && s(sec, "type") != "kubernetes.io/tls"
            {
                out.push((
                    i,
                    Finding::error(
                        "ref/certificate-secret",
                        format!("{path}/name"),
                        format!("Secret {cns}/{cname} is not of type kubernetes.io/tls"),
                        "a TLS listener needs a kubernetes.io/tls Secret with tls.crt and tls.key",
                    ),
                ));
            }
            let made = secret.is_some()
                || idx.cert_secrets.contains(&(cns, cname))
                || ctx
                    .generated_secrets
                    .iter()
                    .any(|(n2, s2)| n2 == cns && s2 == cname);
            if !made {
                out.push((
                    i,
                    Finding::warning(
                        "ref/certificate-secret",
                        format!("{path}/name"),
                        format!("nothing among the documents creates Secret {cns}/{cname} (no Secret, Certificate with that secretName, or secretGenerator)"),
                        "create it with generate_tls, or make sure the Secret exists before the Gateway is applied",
                    ),
                ));
            }
        }
    }
}

const POLICY_KINDS: &[&str] = &[
    "BackendTrafficPolicy",
    "ClientTrafficPolicy",
    "SecurityPolicy",
    "EnvoyExtensionPolicy",
];

fn check_policy(idx: &Index, i: usize, p: &Value, out: &mut Vec<(usize, Finding)>) {
    let pns = ns(p);
    let mut refs: Vec<(String, &Value)> = Vec::new();
    if p["spec"]["targetRef"].is_object() {
        refs.push(("/spec/targetRef".into(), &p["spec"]["targetRef"]));
    }
    for (ti, t) in items(&p["spec"]["targetRefs"]) {
        refs.push((format!("/spec/targetRefs/{ti}"), t));
    }
    for (path, t) in refs {
        let tk = s(t, "kind");
        let tn = s(t, "name");
        if !matches!(tk, "Gateway" | "HTTPRoute" | "GRPCRoute") {
            continue;
        }
        let Some(target) = idx.get(tk, pns, tn) else {
            out.push((
                i,
                missing(
                    idx,
                    "ref/policy-target",
                    format!("{path}/name"),
                    tk,
                    pns,
                    tn,
                    "targetRef",
                ),
            ));
            continue;
        };
        let section = s(t, "sectionName");
        if !section.is_empty() {
            let names = if tk == "Gateway" {
                listener_names(target)
            } else {
                rule_names(target)
            };
            if !names.contains(&section) {
                out.push((
                    i,
                    Finding::error(
                        "ref/section-name",
                        format!("{path}/sectionName"),
                        format!(
                            "{tk} {pns}/{tn} has no {} named {section}",
                            if tk == "Gateway" { "listener" } else { "rule" }
                        ),
                        format!("names: {}", names.join(", ")),
                    ),
                ));
            }
        }
    }
}

fn check_duplicate_policies(idx: &Index, out: &mut Vec<(usize, Finding)>) {
    // (policy kind, namespace, target kind, target name, section) -> policies
    let mut by_target: HashMap<(String, String, String, String, String), Vec<usize>> =
        HashMap::new();
    for (i, p) in idx.objs.iter().enumerate() {
        if !POLICY_KINDS.contains(&kind(p)) {
            continue;
        }
        let mut refs: Vec<&Value> = p["spec"]["targetRefs"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        if p["spec"]["targetRef"].is_object() {
            refs.push(&p["spec"]["targetRef"]);
        }
        for t in refs {
            by_target
                .entry((
                    kind(p).into(),
                    ns(p).into(),
                    s(t, "kind").into(),
                    s(t, "name").into(),
                    s(t, "sectionName").into(),
                ))
                .or_default()
                .push(i);
        }
    }
    for ((pk, pns, tk, tn, _), mut list) in by_target {
        if list.len() < 2 {
            continue;
        }
        list.sort_by_key(|i| name(idx.objs[*i]));
        list.dedup();
        let first = name(idx.objs[list[0]]).to_string();
        for &i in &list[1..] {
            out.push((
                i,
                Finding::error(
                    "ref/duplicate-policy",
                    "/spec",
                    format!("{pk} {first} already targets {tk} {pns}/{tn}; Envoy Gateway applies only the oldest policy of a kind on a target, so one of them is silently ignored"),
                    format!("merge this policy into {first} (rate limits and the circuit breaker can share one policy)"),
                ),
            ));
        }
    }
}

fn check_scaledobjects(idx: &Index, out: &mut Vec<(usize, Finding)>) {
    let mut by_target: HashMap<(&str, &str, &str), Vec<usize>> = HashMap::new();
    for (i, so) in idx.objs.iter().enumerate() {
        if kind(so) != "ScaledObject" || group_of(so) != "keda.sh" {
            continue;
        }
        let t = &so["spec"]["scaleTargetRef"];
        let tk = or(t, "kind", "Deployment");
        by_target
            .entry((tk, ns(so), s(t, "name")))
            .or_default()
            .push(i);
        if tk == "Deployment" && idx.get("Deployment", ns(so), s(t, "name")).is_none() {
            out.push((
                i,
                missing(
                    idx,
                    "ref/scale-target",
                    "/spec/scaleTargetRef/name".into(),
                    "Deployment",
                    ns(so),
                    s(t, "name"),
                    "scaleTargetRef",
                ),
            ));
        }
    }
    // a foreign HPA on the same workload fights the one KEDA creates
    for (i, h) in idx.objs.iter().enumerate() {
        if kind(h) != "HorizontalPodAutoscaler" {
            continue;
        }
        let t = &h["spec"]["scaleTargetRef"];
        if let Some(sos) = by_target.get(&(s(t, "kind"), ns(h), s(t, "name"))) {
            out.push((
                i,
                Finding::error(
                    "ref/foreign-hpa",
                    "/spec/scaleTargetRef",
                    format!("ScaledObject {} already scales {} {}/{}; KEDA refuses a workload that another HPA manages", name(idx.objs[sos[0]]), s(t, "kind"), ns(h), s(t, "name")),
                    "delete this HorizontalPodAutoscaler (KEDA creates its own), or drop the ScaledObject",
                ),
            ));
        }
    }
    for ((tk, tns, tn), list) in by_target {
        for &i in list.iter().skip(1) {
            out.push((
                i,
                Finding::error(
                    "ref/duplicate-scaledobject",
                    "/spec/scaleTargetRef",
                    format!("ScaledObject {} already scales {tk} {tns}/{tn}; KEDA's webhook refuses a second one", name(idx.objs[list[0]])),
                    "keep one ScaledObject per workload (put several triggers in it)",
                ),
            ));
        }
    }
}

fn check_certificates(idx: &Index, out: &mut Vec<(usize, Finding)>) {
    for (i, c) in idx.objs.iter().enumerate() {
        if kind(c) != "Certificate" || group_of(c) != "cert-manager.io" {
            continue;
        }
        let r = &c["spec"]["issuerRef"];
        let ik = or(r, "kind", "Issuer");
        let iname = s(r, "name");
        let found = match ik {
            "Issuer" => idx.get("Issuer", ns(c), iname).is_some(),
            "ClusterIssuer" => idx.has_cluster("ClusterIssuer", iname),
            _ => continue,
        };
        if found {
            continue;
        }
        let other = if ik == "Issuer" {
            idx.has_cluster("ClusterIssuer", iname)
        } else {
            idx.get("Issuer", ns(c), iname).is_some()
        };
        if other {
            let (have, want) = if ik == "Issuer" {
                ("ClusterIssuer", "ClusterIssuer")
            } else {
                ("Issuer", "Issuer")
            };
            out.push((
                i,
                Finding::error(
                    "ref/issuer-kind",
                    "/spec/issuerRef/kind",
                    format!(
                        "{iname} is a {have}, but issuerRef.kind is {ik}{}",
                        if s(r, "kind").is_empty() {
                            " (the default)"
                        } else {
                            ""
                        }
                    ),
                    format!("set issuerRef.kind: {want}"),
                ),
            ));
        } else {
            let inns = if ik == "ClusterIssuer" { "" } else { ns(c) };
            let any = idx.any_of_kind(ik, inns);
            let f = if any {
                Finding::error(
                    "ref/issuer",
                    "/spec/issuerRef/name",
                    format!("{ik} {iname} does not exist"),
                    format!("{ik}s: {}", idx.names_of_kind(ik, inns).join(", ")),
                )
            } else {
                Finding::warning(
                    "ref/issuer",
                    "/spec/issuerRef/name",
                    format!("{ik} {iname} is not among the documents given"),
                    format!("make sure {ik} {iname} exists"),
                )
            };
            out.push((i, f));
        }
    }
}

fn check_ai_gateway(idx: &Index, out: &mut Vec<(usize, Finding)>) {
    out.extend(super::ai_gateway::check(idx.objs)); // the ai/ family: src/validate/ai_gateway.rs
}

// ---------------------------------------------------------------------------------------------
// The facts the layer reads

/// Which parts of a value the reference layer reads.
enum Shape {
    /// the value as it is
    Whole,
    /// these keys of a mapping (anything else: as it is)
    Fields(&'static [(&'static str, Shape)]),
    /// every item of a list, each with this shape (anything else: as it is)
    Each(&'static Shape),
    /// the keys of a mapping, never the values (Secret data)
    Keys,
}

use Shape::{Each, Fields, Keys, Whole};

const TARGET: Shape = Fields(&[("kind", Whole), ("name", Whole), ("sectionName", Whole)]);
const OBJ_REF: Shape = Fields(&[
    ("group", Whole),
    ("kind", Whole),
    ("name", Whole),
    ("namespace", Whole),
    ("sectionName", Whole),
    ("port", Whole),
]);
const LISTENER: Shape = Fields(&[
    ("name", Whole),
    ("hostname", Whole),
    (
        "allowedRoutes",
        Fields(&[("namespaces", Fields(&[("from", Whole)]))]),
    ),
    ("tls", Fields(&[("certificateRefs", Each(&OBJ_REF))])),
]);
const ROUTE_SPEC: Shape = Fields(&[
    ("parentRefs", Each(&OBJ_REF)),
    ("hostnames", Whole),
    (
        "rules",
        Each(&Fields(&[("name", Whole), ("backendRefs", Each(&OBJ_REF))])),
    ),
]);
const POLICY_SPEC: Shape = Fields(&[("targetRef", TARGET), ("targetRefs", Each(&TARGET))]);
const SCALE_SPEC: Shape = Fields(&[(
    "scaleTargetRef",
    Fields(&[("kind", Whole), ("name", Whole)]),
)]);

/// The spec facts of a kind, or None when the layer reads only the identity.
fn spec_shape(kind: &str) -> Option<&'static Shape> {
    static CERT: Shape = Fields(&[
        ("secretName", Whole),
        ("issuerRef", Fields(&[("kind", Whole), ("name", Whole)])),
    ]);
    static GRANT: Shape = Fields(&[("from", Whole), ("to", Whole)]);
    static GATEWAY: Shape = Fields(&[("listeners", Each(&LISTENER))]);
    static SERVICE: Shape = Fields(&[("ports", Each(&Fields(&[("port", Whole)])))]);
    static AI_BACKEND: Shape =
        Fields(&[("backendRef", Fields(&[("kind", Whole), ("name", Whole)]))]);
    static BSP: Shape = Fields(&[
        ("type", Whole),
        (
            "apiKey",
            Fields(&[(
                "secretRef",
                Fields(&[("name", Whole), ("namespace", Whole)]),
            )]),
        ),
    ]);
    Some(match kind {
        "Certificate" => &CERT,
        "ReferenceGrant" => &GRANT,
        "Gateway" => &GATEWAY,
        "HTTPRoute" | "GRPCRoute" => &ROUTE_SPEC,
        "Service" => &SERVICE,
        "ScaledObject" | "HorizontalPodAutoscaler" => &SCALE_SPEC,
        "AIServiceBackend" => &AI_BACKEND,
        "BackendSecurityPolicy" => &BSP,
        k if POLICY_KINDS.contains(&k) => &POLICY_SPEC,
        _ => return None,
    })
}

fn cut(v: &Value, shape: &Shape) -> Value {
    match (shape, v) {
        (Fields(fields), Value::Object(m)) => Value::Object(
            fields
                .iter()
                .filter_map(|(k, sh)| m.get(*k).map(|x| ((*k).to_string(), cut(x, sh))))
                .collect(),
        ),
        (Each(sh), Value::Array(a)) => Value::Array(a.iter().map(|x| cut(x, sh)).collect()),
        (Keys, Value::Object(m)) => {
            Value::Object(m.keys().map(|k| (k.clone(), Value::Null)).collect())
        }
        _ => v.clone(),
    }
}

/// The facts of one object that [`check`] reads: identity (apiVersion, kind, metadata name
/// and namespace), the references and names of its kind, a Secret's type and key names (never
/// its values). What the layer is given instead of whole objects, so that memory stays small
/// on large inputs; `check(project(x))` finds what `check(x)` finds.
pub fn project(v: &Value) -> Value {
    let Value::Object(m) = v else {
        return Value::Null;
    };
    let mut out = serde_json::Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(x) = m.get(k) {
            out.insert(k.into(), x.clone());
        }
    }
    if let Some(meta) = m.get("metadata") {
        out.insert(
            "metadata".into(),
            cut(meta, &Fields(&[("name", Whole), ("namespace", Whole)])),
        );
    }
    if kind(v) == "Secret" {
        for k in ["type", "data", "stringData", "binaryData"] {
            if let Some(x) = m.get(k) {
                out.insert(k.into(), cut(x, if k == "type" { &Whole } else { &Keys }));
            }
        }
    }
    if let (Some(shape), Some(spec)) = (spec_shape(kind(v)), m.get("spec")) {
        out.insert("spec".into(), cut(spec, shape));
    }
    Value::Object(out)
}

/// Check references among `objs` (objects with defaults applied where CRDs are known).
pub fn check(objs: &[&Value], ctx: &RefContext) -> Vec<(usize, Finding)> {
    let idx = Index::new(objs);
    let mut out = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        match (group_of(o), kind(o)) {
            ("gateway.networking.k8s.io", "HTTPRoute") => check_route(&idx, i, o, &mut out),
            ("gateway.networking.k8s.io", "Gateway") => check_gateway(&idx, i, o, ctx, &mut out),
            ("gateway.envoyproxy.io", k) if POLICY_KINDS.contains(&k) => {
                check_policy(&idx, i, o, &mut out)
            }
            _ => {}
        }
    }
    check_duplicate_policies(&idx, &mut out);
    check_scaledobjects(&idx, &mut out);
    check_certificates(&idx, &mut out);
    check_ai_gateway(&idx, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
                "no gateway at all",
                vec![
                    svc("s", 80),
                    route("app", json!({"name": "gw"}), rules_to("s", 80)),
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
        for (case, docs, want) in cases {
            let refs: Vec<&Value> = docs.iter().collect();
            let mut got: Vec<(usize, String, String, crate::validate::Severity)> =
                check(&refs, &RefContext::default())
                    .into_iter()
                    .map(|(i, f)| (i, f.rule, f.path, f.severity))
                    .collect();
            got.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            let mut want: Vec<(usize, String, String, crate::validate::Severity)> = want
                .into_iter()
                .map(|(i, r, p, s)| (i, r.to_string(), p.to_string(), s))
                .collect();
            want.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            assert_eq!(got, want, "case {case}");
            // the facts the engine keeps find exactly what the whole objects find
            let projected: Vec<Value> = docs.iter().map(project).collect();
            let refs: Vec<&Value> = projected.iter().collect();
            let from_facts: Vec<Finding> = check(&refs, &RefContext::default())
                .into_iter()
                .map(|(_, f)| f)
                .collect();
            let whole_refs: Vec<&Value> = docs.iter().collect();
            let from_whole: Vec<Finding> = check(&whole_refs, &RefContext::default())
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
        assert!(check(&[&g], &ctx).is_empty());
    }
}
