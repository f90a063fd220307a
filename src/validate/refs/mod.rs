//! Layer d: references across the documents given. What `kubectl apply` accepts but leaves a
//! route detached, a listener without its certificate, or a policy attached to nothing.
//!
//! A referent missing from the documents is an error when the stack itself holds it: objects of
//! that kind in that namespace (a typo or a rename), or, for the kinds a traffic stack is made
//! of ([`Scope::Stack`]), the namespace (a Namespace object, or objects in it when the
//! reference crosses namespaces) or that kind anywhere. It is a warning when the referent may live outside the stack (an application's
//! Service, Deployment or Secret, an existing issuer, a Gateway in a namespace the stack does
//! not touch). One rule family per file:
//!
//! - `routes`: parentRefs, sectionName, hostnames, allowedRoutes (with namespace selectors),
//!   backend Services and ports, unique rule names;
//! - `gateways`: plain-HTTP listeners serving what an HTTPS listener serves;
//! - `tls`: certificate Secrets, Certificates against listener hostnames, issuers, CA Secrets;
//! - `policies`: Envoy Gateway policy targets, one policy of a kind per target,
//!   BackendTLSPolicy targets;
//! - `grants`: ReferenceGrants for cross-namespace references and their shapes;
//! - `services`: Service targetPort names against the containers of the Deployments selected;
//! - `scaling`: ScaledObject targets, foreign HPAs, TriggerAuthentications and their Secrets;
//! - `egconfig`: the Envoy Gateway configuration in the stack (rate-limit backend, Backend API);
//! - `facts`: the facts of each object the layer reads ([`project`]).

mod egconfig;
mod facts;
mod gateways;
mod grants;
mod policies;
mod routes;
mod scaling;
mod services;
mod tls;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

pub use facts::{Arr, Fact, FactBuf, Facts, Obj};

use super::finding::Finding;

pub use egconfig::rate_limit_backend_configured;
pub use facts::project;

/// Extra facts the documents themselves do not carry.
#[derive(Debug, Default, Clone)]
pub struct RefContext {
    /// Secrets a kustomize secretGenerator will create: (namespace, name).
    pub generated_secrets: Vec<(String, String)>,
}

pub(crate) fn s<'a>(v: &'a Fact, key: &str) -> &'a str {
    v.get(key).and_then(Fact::as_str).unwrap_or("")
}
/// A string field, or `default` when it is absent or empty (the API server's defaulting).
fn or<'a>(v: &'a Fact, key: &str, default: &'a str) -> &'a str {
    match s(v, key) {
        "" => default,
        x => x,
    }
}
/// The items of an array field, with their index.
pub(crate) fn items(v: &Fact) -> impl Iterator<Item = (usize, &Fact)> {
    v.as_array().into_iter().flatten().enumerate()
}
pub(crate) fn kind(v: &Fact) -> &str {
    s(v, "kind")
}
pub(crate) fn name(v: &Fact) -> &str {
    s(&v["metadata"], "name")
}
pub(crate) fn ns(v: &Fact) -> &str {
    match s(&v["metadata"], "namespace") {
        "" => "default",
        n => n,
    }
}
pub(crate) fn group_of(v: &Fact) -> &str {
    let av = s(v, "apiVersion");
    match av.rsplit_once('/') {
        Some((g, _)) => g,
        None => "",
    }
}

/// Lookups over the documents, built once: every check below is a hash lookup, so the layer
/// stays linear in the number of documents.
struct Index<'a> {
    objs: &'a [&'a Fact],
    by_key: HashMap<(&'a str, &'a str, &'a str), usize>,
    /// (kind, name) -> first object, whatever its namespace (for cluster-scoped kinds)
    by_name: HashMap<(&'a str, &'a str), usize>,
    /// (kind, namespace) -> the first names in order, made from `objects` when first asked for
    /// (a finding's hint; most keys never are, and a list per key for every document cost
    /// about a tenth of the peak memory on large inputs)
    names: RefCell<HashMap<(&'a str, &'a str), Vec<&'a str>>>,
    /// (kind, namespace) -> objects; (kind, "") -> objects in every namespace
    objects: HashMap<(&'a str, &'a str), Vec<usize>>,
    /// (namespace, secretName) of every cert-manager Certificate
    cert_secrets: HashSet<(&'a str, &'a str)>,
    /// ReferenceGrants by their own namespace
    grants: HashMap<&'a str, Vec<&'a Fact>>,
    /// namespaces with a Namespace object in the stack
    declared_ns: HashSet<&'a str>,
    /// namespaces an object of the stack names in its metadata
    used_ns: HashSet<&'a str>,
}

impl<'a> Index<'a> {
    fn new(objs: &'a [&'a Fact]) -> Self {
        let mut by_key = HashMap::new();
        let mut by_name = HashMap::new();
        let mut objects: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        let mut cert_secrets = HashSet::new();
        let mut grants: HashMap<&str, Vec<&Fact>> = HashMap::new();
        let mut declared_ns = HashSet::new();
        let mut used_ns = HashSet::new();
        for (i, o) in objs.iter().enumerate() {
            let (k, n, on) = (kind(o), ns(o), name(o));
            by_key.entry((k, n, on)).or_insert(i);
            by_name.entry((k, on)).or_insert(i);
            objects.entry((k, n)).or_default().push(i);
            objects.entry((k, "")).or_default().push(i);
            match s(&o["metadata"], "namespace") {
                "" if k == "Namespace" && !on.is_empty() => {
                    declared_ns.insert(on);
                }
                "" => {}
                n => {
                    used_ns.insert(n);
                }
            }
            match k {
                "Certificate" => {
                    cert_secrets.insert((n, s(&o["spec"], "secretName")));
                }
                "ReferenceGrant" if group_of(o) == "gateway.networking.k8s.io" => {
                    grants.entry(n).or_default().push(o)
                }
                _ => {}
            }
        }
        Index {
            objs,
            by_key,
            by_name,
            names: RefCell::default(),
            objects,
            cert_secrets,
            grants,
            declared_ns,
            used_ns,
        }
    }
    fn get(&self, k: &str, namespace: &str, n: &str) -> Option<&'a Fact> {
        self.by_key.get(&(k, namespace, n)).map(|i| self.objs[*i])
    }
    /// A cluster-scoped object by name (its namespace, if someone wrote one, is ignored).
    fn cluster(&self, k: &str, n: &str) -> Option<&'a Fact> {
        self.by_name.get(&(k, n)).map(|i| self.objs[*i])
    }
    fn has_cluster(&self, k: &str, n: &str) -> bool {
        self.cluster(k, n).is_some()
    }
    fn any_of_kind(&self, k: &str, namespace: &str) -> bool {
        self.objects.contains_key(&(k, namespace))
    }
    /// The names of a kind in a namespace ("": in every namespace), sorted, distinct, the
    /// first 20.
    fn names_of_kind(&self, k: &str, namespace: &str) -> Vec<&'a str> {
        let Some(list) = self.objects.get(&(k, namespace)) else {
            return Vec::new();
        };
        // the memo's key, from an object of the list (its kind is k, its namespace the one
        // asked for): the strings of the facts live as long as the index
        let Some(first) = list.first().map(|i| self.objs[*i]) else {
            return Vec::new();
        };
        let key = (
            kind(first),
            if namespace.is_empty() { "" } else { ns(first) },
        );
        self.names
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                let mut v: Vec<&str> = list.iter().map(|i| name(self.objs[*i])).collect();
                v.sort_unstable();
                v.dedup();
                v.truncate(20);
                v
            })
            .clone()
    }
    /// The objects of one kind, with their index.
    fn of_kind(&self, k: &str) -> std::vec::IntoIter<(usize, &'a Fact)> {
        self.in_namespace(k, "")
    }
    /// The objects of one kind in a namespace ("": in every namespace), with their index.
    fn in_namespace(&self, k: &str, namespace: &str) -> std::vec::IntoIter<(usize, &'a Fact)> {
        let found: Vec<(usize, &'a Fact)> = self
            .objects
            .get(&(k, namespace))
            .map(|v| v.iter().map(|i| (*i, self.objs[*i])).collect())
            .unwrap_or_default();
        found.into_iter()
    }
    /// The labels of a Namespace in the stack, with the `kubernetes.io/metadata.name` label the
    /// API server sets on every Namespace; None when the stack holds no such Namespace.
    fn namespace_labels(&self, n: &str) -> Option<HashMap<&'a str, &'a str>> {
        let o = self.cluster("Namespace", n)?;
        let mut labels: HashMap<&str, &str> = o["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k, v)))
                    .collect()
            })
            .unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name", name(o));
        Some(labels)
    }
}

/// Where a missing referent may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope<'a> {
    /// Outside the stack (an application's Service, Deployment or Secret, an existing issuer):
    /// an error only when the stack holds objects of that kind in that namespace.
    Outside,
    /// In the stack (Gateways, routes, policies' targets, TriggerAuthentications), for a
    /// referrer in this namespace: also an error when the stack holds the referent's
    /// namespace (a Namespace object, or, for a reference into another namespace, an object
    /// there) or that kind anywhere. The referrer's own namespace alone does not count: a
    /// partial stack (a policy for a route applied elsewhere) stays a warning.
    Stack(&'a str),
}

/// A missing referent: an error when the stack holds it (see [`Scope`]), a warning otherwise.
#[allow(clippy::too_many_arguments)]
fn missing(
    idx: &Index,
    scope: Scope<'_>,
    rule: &str,
    path: String,
    k: &str,
    namespace: &str,
    n: &str,
    what: &str,
) -> Finding {
    // a cluster-scoped referent has no namespace
    let at = if namespace.is_empty() {
        n.to_string()
    } else {
        format!("{namespace}/{n}")
    };
    let known = idx.names_of_kind(k, namespace);
    if !known.is_empty() {
        let there = if namespace.is_empty() {
            format!("{k}s")
        } else {
            format!("{k}s in {namespace}")
        };
        return Finding::error(
            rule,
            path,
            format!("{what} {k} {at} does not exist"),
            format!("{there}: {}", known.join(", ")),
        );
    }
    if let Scope::Stack(from_ns) = scope {
        let held = idx.declared_ns.contains(namespace)
            || (namespace != from_ns && idx.used_ns.contains(namespace));
        let why = if held {
            Some(format!("the documents hold namespace {namespace}"))
        } else if idx.any_of_kind(k, "") {
            let mut elsewhere = idx.names_of_kind(k, "");
            elsewhere.truncate(5);
            Some(format!(
                "the documents hold {k}s elsewhere ({})",
                elsewhere.join(", ")
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Finding::error(
                rule,
                path,
                format!("{what} {k} {at} does not exist"),
                format!(
                    "{why} but no {k} {n} in {namespace}: fix the name or namespace, or add the {k}"
                ),
            );
        }
    }
    Finding::warning(
        rule,
        path,
        format!("{what} {k} {at} is not among the documents given"),
        if namespace.is_empty() {
            format!("make sure {k} {n} exists when this is applied")
        } else {
            format!("make sure {k} {n} exists in namespace {namespace} when this is applied")
        },
    )
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

fn listener_names(gw: &Fact) -> Vec<&str> {
    gw["spec"]["listeners"]
        .as_array()
        .map(|ls| ls.iter().map(|l| s(l, "name")).collect())
        .unwrap_or_default()
}

fn rule_names(route: &Fact) -> Vec<&str> {
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

/// Kubernetes label selector semantics (matchLabels and matchExpressions with In, NotIn,
/// Exists, DoesNotExist; an empty selector matches everything), as in apimachinery
/// `pkg/apis/meta/v1.LabelSelectorAsSelector` (Kubernetes v1.35). An operator it does not know
/// matches nothing, as the API server refuses it.
fn selector_matches(sel: &Fact, labels: &HashMap<&str, &str>) -> bool {
    let ml = sel["matchLabels"].as_object();
    let labels_ok = ml.into_iter().flatten().all(|(k, v)| {
        v.as_str()
            .is_some_and(|v| labels.get(k).is_some_and(|l| *l == v))
    });
    let exprs_ok = items(&sel["matchExpressions"]).all(|(_, e)| {
        let key = s(e, "key");
        let vals: Vec<&str> = items(&e["values"])
            .filter_map(|(_, v)| v.as_str())
            .collect();
        let have = labels.get(key);
        match s(e, "operator") {
            "In" => have.is_some_and(|h| vals.contains(h)),
            "NotIn" => have.is_none_or(|h| !vals.contains(h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

/// Check references among `objs` (objects with defaults applied where CRDs are known).
pub fn check(objs: &[&Fact], ctx: &RefContext) -> Vec<(usize, Finding)> {
    let idx = Index::new(objs);
    let mut out = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        match (group_of(o), kind(o)) {
            ("gateway.networking.k8s.io", "HTTPRoute") => {
                routes::check_route(&idx, i, o, &mut out);
                gateways::check_cleartext(&idx, i, o, &mut out);
            }
            ("gateway.networking.k8s.io", "Gateway") => {
                tls::check_listener_certificates(&idx, i, o, ctx, &mut out)
            }
            ("gateway.networking.k8s.io", "BackendTLSPolicy") => {
                policies::check_backend_tls(&idx, i, o, &mut out)
            }
            ("gateway.networking.k8s.io", "ReferenceGrant") => grants::check_shape(i, o, &mut out),
            ("gateway.envoyproxy.io", k) if policies::POLICY_KINDS.contains(&k) => {
                policies::check_policy(&idx, i, o, &mut out)
            }
            ("", "Service") => services::check_target_ports(&idx, i, o, &mut out),
            _ => {}
        }
    }
    policies::check_duplicate_policies(&idx, &mut out);
    scaling::check_scaledobjects(&idx, &mut out);
    scaling::check_trigger_auth(&idx, &mut out);
    tls::check_certificates(&idx, &mut out);
    tls::check_ca_issuers(&idx, &mut out);
    egconfig::check(&idx, &mut out);
    check_ai_gateway(&idx, &mut out);
    out
}

/// The ai/ family (src/validate/ai_gateway.rs), only when the stack holds an AI Gateway object
/// (its rules all start from one), so large stacks without AI kinds pay nothing.
fn check_ai_gateway(idx: &Index, out: &mut Vec<(usize, Finding)>) {
    if idx.objs.iter().any(|o| super::ai_gateway::is_ai_fact(o)) {
        out.extend(super::ai_gateway::check(idx.objs));
    }
}

#[cfg(test)]
mod tests;
