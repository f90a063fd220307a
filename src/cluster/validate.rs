//! `validate --cluster`: the stack checked against the CRDs the cluster actually has installed
//! (a field the installed CRD lacks is a finding naming the field and the installed version),
//! and its references resolved against live objects (Services and their ports, Deployments,
//! Secrets, Namespaces and their labels, Gateways, Issuers, ReferenceGrants) instead of "not among
//! the documents" warnings. Read only.
//!
//! The engine is the offline validator, fed with the cluster's CRDs instead of files, and with the
//! live objects the stack may reference as extra documents: its findings about those extra
//! documents are dropped, what they resolve stays resolved.

use std::collections::{BTreeSet, HashMap, HashSet};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::objects::load_stack;
use super::{Cluster, ClusterError, Discovery, Served};
use crate::validate::crds::CrdCatalog;
use crate::validate::finding::{Finding, Severity};
use crate::validate::{Report, Source, Validator};
use crate::validation::stack_sources;
use crate::workspace::Stack;

/// Kinds a stack refers to that may live in the cluster rather than in the stack.
const REFERENCED: &[(&str, &str)] = &[
    ("v1", "Namespace"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("v1", "Secret"),
    ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"),
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "ClusterIssuer"),
];

/// Prefix of the names of the live documents added for references.
const LIVE: &str = "cluster:";
/// Most objects of one kind and namespace read for references.
const LIST_LIMIT: u32 = 500;

/// What the cluster has installed for a group and kind, for messages.
struct Installed {
    crd: String,
    served: Vec<String>,
    bundle: String,
}

/// Validate the stack against the cluster. Never writes.
pub async fn validate_cluster(cluster: &Cluster, stack: &Stack) -> Result<Report, ClusterError> {
    // 1. the installed CRDs
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    let list = crds
        .list(&ListParams::default())
        .await
        .map_err(|e| super::api_error(cluster, "listing CustomResourceDefinitions", e))?;
    let mut catalog = CrdCatalog::new();
    let mut installed: HashMap<(String, String), Installed> = HashMap::new();
    for crd in &list.items {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let text = serde_json::to_string(crd).unwrap_or_default();
        // a CRD the offline engine cannot read is reported, not silently skipped
        if let Err(e) = catalog.add_yaml_str(&text, &format!("{LIVE}{name}")) {
            tracing::warn!(crd = %name, error = %e, "installed CRD not usable for validation");
            continue;
        }
        let served = crd
            .spec
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| {
                if v.storage {
                    format!("{} (storage)", v.name)
                } else {
                    v.name.clone()
                }
            })
            .collect();
        let ann = crd.metadata.annotations.clone().unwrap_or_default();
        let bundle = [
            "gateway.networking.k8s.io/bundle-version",
            "app.kubernetes.io/version",
            "helm.sh/chart",
        ]
        .iter()
        .find_map(|k| ann.get(*k).map(|v| format!("{k}: {v}")))
        .unwrap_or_default();
        installed.insert(
            (crd.spec.group.clone(), crd.spec.names.kind.clone()),
            Installed {
                crd: name,
                served,
                bundle,
            },
        );
    }
    let crd_groups: HashSet<String> = installed.keys().map(|(g, _)| g.clone()).collect();
    let mut validator = Validator::with_catalog(catalog);

    // 2. the stack, and which namespaces and objects it holds
    let (mut sources, ctx) = stack_sources(stack)?;
    let (objects, _scrub) = load_stack(stack)?;
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    let mut own: HashSet<(String, String, String)> = HashSet::new();
    for o in &objects {
        let ns = match o.namespace() {
            "" => "default",
            n => n,
        };
        namespaces.insert(ns.to_string());
        own.insert((o.kind().into(), o.namespace().into(), o.name().into()));
        // a kind the stack uses that the cluster does not serve
    }
    let mut extra_findings = Vec::new();
    let mut disco = Discovery::new(cluster);
    for o in &objects {
        if let Served::No(why) = disco.resolve(o.api_version(), o.kind()).await? {
            let mut f = Finding::error(
                "cluster/kind-not-served",
                "",
                format!("{}: {why}", o.label()),
                "install its CRD (or use a cluster that serves it) before applying",
            );
            f.file = Some(o.file.clone());
            f.line = Some(o.line);
            f.column = Some(1);
            extra_findings.push(f);
        }
    }

    // the built-in kinds' schemas: the cluster's own OpenAPI v3 documents, for the
    // group-versions the stack uses
    let mut builtin_gvs: BTreeSet<String> = BTreeSet::new();
    for o in &objects {
        let group = o.api_version().rsplit_once('/').map_or("", |(g, _)| g);
        if !crd_groups.contains(group) && crate::validate::openapi::is_builtin_group(group) {
            builtin_gvs.insert(o.api_version().to_string());
        }
    }
    validator = validator
        .with_builtins(builtin_documents(cluster, &mut disco, &objects, builtin_gvs).await?);

    // 3. live objects the stack may reference
    for (api_version, kind) in REFERENCED {
        let resource = match disco.resolve(api_version, kind).await? {
            Served::No(why) => {
                extra_findings.push(Finding::info(
                    "cluster/references-not-checked",
                    "",
                    format!("references to {kind} not checked against the cluster: {why}"),
                    "use a cluster that serves it to resolve these references",
                ));
                continue;
            }
            Served::Yes {
                resource,
                namespaced,
                ..
            } => (resource, namespaced),
        };
        let apis: Vec<Api<DynamicObject>> = if resource.1 {
            namespaces
                .iter()
                .map(|ns| Api::namespaced_with(cluster.client.clone(), ns, &resource.0))
                .collect()
        } else {
            vec![Api::all_with(cluster.client.clone(), &resource.0)]
        };
        for api in apis {
            let items = api
                .list(&ListParams::default().limit(LIST_LIMIT))
                .await
                .map_err(|e| super::api_error(cluster, &format!("listing {kind}"), e))?;
            for d in items.items {
                let mut v = serde_json::to_value(&d).unwrap_or(Value::Null);
                v["apiVersion"] = Value::String(api_version.to_string());
                v["kind"] = Value::String(kind.to_string());
                let name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
                let ns = v["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                if own.contains(&(kind.to_string(), ns.clone(), name.clone())) {
                    continue;
                }
                strip_live(&mut v);
                sources.push(Source {
                    name: format!("{LIVE}{kind}/{ns}/{name}"),
                    text: serde_json::to_string(&v).unwrap_or_default(),
                });
            }
        }
    }

    // 4. validate; keep the findings about the stack, say which CRD version decided
    let mut report = validator.validate_with(&sources, &ctx);
    report
        .findings
        .retain(|f| !f.file.as_deref().unwrap_or("").starts_with(LIVE));
    for f in &mut report.findings {
        if !f.rule.starts_with("schema/") && !f.rule.starts_with("cel/") {
            continue;
        }
        let Some(r) = &f.resource else { continue };
        let group = r.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        if let Some(i) = installed.get(&(group.to_string(), r.kind.clone())) {
            f.message = format!(
                "{} (installed CRD {}: served versions {}{})",
                f.message,
                i.crd,
                i.served.join(", "),
                if i.bundle.is_empty() {
                    String::new()
                } else {
                    format!(", {}", i.bundle)
                }
            );
        }
    }
    report.findings.extend(extra_findings);
    report.summary.documents = objects.iter().filter(|o| !o.generated).count();
    report.summary.errors = count(&report, Severity::Error);
    report.summary.warnings = count(&report, Severity::Warning);
    report.summary.infos = count(&report, Severity::Info);
    Ok(report)
}

/// `/openapi/v3/api/v1`, `/openapi/v3/apis/apps/v1`, … of the group-versions given, read from
/// the API server. A group-version the cluster does not serve (already an error finding) or
/// whose document cannot be read is marked missing: its kinds are reported as not checked.
async fn builtin_documents(
    cluster: &Cluster,
    disco: &mut Discovery,
    objects: &[super::objects::StackObject],
    gvs: BTreeSet<String>,
) -> Result<crate::validate::BuiltinCatalog, ClusterError> {
    let mut texts = Vec::new();
    let mut missing = Vec::new();
    for gv in gvs {
        let kind = objects
            .iter()
            .find(|o| o.api_version() == gv)
            .map_or("", |o| o.kind());
        if let Served::No(why) = disco.resolve(&gv, kind).await? {
            missing.push((gv, why));
            continue;
        }
        let path = match gv.split_once('/') {
            Some(_) => format!("/openapi/v3/apis/{gv}"),
            None => format!("/openapi/v3/api/{gv}"),
        };
        let request = match http::Request::get(&path).body(Vec::new()) {
            Ok(r) => r,
            Err(e) => {
                missing.push((gv, e.to_string()));
                continue;
            }
        };
        match cluster.client.request_text(request).await {
            Ok(text) => match crate::validate::openapi::check_document(&text) {
                Ok(()) => texts.push((gv, text)),
                Err(e) => missing.push((gv, format!("{path}: {e}"))),
            },
            Err(e) => missing.push((gv, format!("{path}: {e}"))),
        }
    }
    let mut catalog = crate::validate::BuiltinCatalog::from_texts(
        texts,
        &format!("{}/openapi/v3", cluster.server),
    );
    for (gv, why) in missing {
        catalog.mark_missing(&gv, &why);
    }
    Ok(catalog)
}

fn count(r: &Report, s: Severity) -> usize {
    r.findings.iter().filter(|f| f.severity == s).count()
}

/// A live object as a reference target: no status, no managed fields, no Secret bytes.
fn strip_live(v: &mut Value) {
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("managedFields");
        m.remove("annotations");
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if o.get("kind").and_then(Value::as_str) == Some("Secret") {
            for key in ["data", "stringData"] {
                if let Some(Value::Object(d)) = o.get_mut(key) {
                    for val in d.values_mut() {
                        *val = Value::String(String::new());
                    }
                }
            }
        }
    }
}
