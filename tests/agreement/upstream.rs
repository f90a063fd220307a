//! What the real components say about each case: Envoy Gateway v1.9.0's translator (`egctl x
//! translate`, many cases per call), the API server's server-side dry run (apiextensions-apiserver
//! with the upstream CRDs: custom resources), and kubectl-validate against the Kubernetes 1.35
//! OpenAPI documents (built-in kinds, which that API server does not serve).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use traffic_engineer::cluster::{Cluster, Discovery, Served};
use traffic_engineer::rehearse::accept;
use traffic_engineer::rehearse::outside::{self, ServiceAddress, StackObject};

/// A kind Kubernetes itself defines (core or a built-in group): checked by kubectl-validate.
pub fn builtin(api_version: &str) -> bool {
    match api_version.rsplit_once('/') {
        None => true,
        Some((g, _)) => !g.contains('.') || g.ends_with(".k8s.io") && !g.starts_with("gateway."),
    }
}

// --------------------------------------------------------------------------------------------
// API server dry run
// --------------------------------------------------------------------------------------------

/// One object to dry-run: (case index, label, object as the API server receives it).
pub type DryItem = (usize, String, Value);

/// Server-side apply dry run (strict field validation) of every item; returns the refusals per
/// case: "Kind ns/name: message". A request that gets no answer fails the harness.
pub async fn dry_run(cluster: &Cluster, items: Vec<DryItem>) -> BTreeMap<usize, Vec<String>> {
    let mut disco = Discovery::new(cluster);
    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut set = tokio::task::JoinSet::new();
    let pp = PatchParams::apply("te-agreement")
        .dry_run()
        .validation_strict()
        .force();
    let mut pending = 0usize;
    for (case, label, v) in items {
        let av = v["apiVersion"].as_str().unwrap_or("").to_string();
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let served = disco
            .resolve(&av, &kind)
            .await
            .unwrap_or_else(|e| panic!("API server discovery for {av} {kind}: {e}"));
        let (resource, namespaced) = match served {
            Served::Yes {
                resource,
                namespaced,
                ..
            } => (resource, namespaced),
            Served::No(why) => {
                out.entry(case)
                    .or_default()
                    .push(format!("{label}: not served: {why}"));
                continue;
            }
        };
        let name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
        let ns = v["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(cluster.client.clone(), &ns, &resource)
        } else {
            Api::all_with(cluster.client.clone(), &resource)
        };
        let pp = pp.clone();
        set.spawn(async move {
            let r = api.patch(&name, &pp, &Patch::Apply(&v)).await;
            (case, label, r.map(|_| ()))
        });
        pending += 1;
        if pending >= 8 {
            collect(set.join_next().await, &mut out);
            pending -= 1;
        }
    }
    while let Some(r) = set.join_next().await {
        collect(Some(r), &mut out);
    }
    out
}

type DryResult = Result<(usize, String, Result<(), kube::Error>), tokio::task::JoinError>;

fn collect(r: Option<DryResult>, out: &mut BTreeMap<usize, Vec<String>>) {
    let Some(r) = r else { return };
    let (case, label, res) = r.expect("dry-run task");
    match res {
        Ok(()) => {}
        Err(kube::Error::Api(s)) => out
            .entry(case)
            .or_default()
            .push(format!("{label}: {} {}", s.code, s.message)),
        // a name the URL cannot carry is refused before it is sent: the server would refuse it
        Err(kube::Error::BuildRequest(e)) => out
            .entry(case)
            .or_default()
            .push(format!("{label}: request refused: {e}")),
        Err(e) => panic!("the API server did not answer the dry run of {label}: {e}"),
    }
}

// --------------------------------------------------------------------------------------------
// kubectl-validate
// --------------------------------------------------------------------------------------------

/// The Kubernetes OpenAPI v3 documents (names as in the Kubernetes repository's
/// api/openapi-spec/v3/) in the layout `--local-schemas` reads: api/v1.json and
/// apis/<group>/<version>.json, as symbolic links under `work`.
fn local_schemas(openapi: &Path, work: &Path) -> PathBuf {
    let out = work.join("kv-schemas");
    for e in std::fs::read_dir(openapi)
        .expect("the OpenAPI folder")
        .flatten()
    {
        let n = e.file_name().to_string_lossy().to_string();
        let Some(stem) = n.strip_suffix("_openapi.json") else {
            continue;
        };
        let parts: Vec<&str> = stem.split("__").collect();
        let rel: PathBuf = match parts.as_slice() {
            ["api", v] => ["api", &format!("{v}.json")].iter().collect(),
            ["apis", g, v] => ["apis", g, &format!("{v}.json")].iter().collect(),
            _ => continue,
        };
        let dst = out.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(e.path(), &dst).unwrap();
    }
    out
}

/// kubectl-validate over `files` ((case, file name, text) of built-in objects), in one call;
/// the refusals per case.
pub fn kubectl_validate(
    bin: &Path,
    openapi: &Path,
    work: &Path,
    files: &[(usize, String, String)],
) -> BTreeMap<usize, Vec<String>> {
    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    if files.is_empty() {
        return out;
    }
    let schemas = local_schemas(openapi, work);
    let dir = work.join("kv-input");
    std::fs::create_dir_all(&dir).unwrap();
    let mut by_path: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (case, file, text) in files {
        let p = dir.join(format!("c{case}--{file}"));
        std::fs::write(&p, text).unwrap();
        by_path.insert(p.display().to_string(), (*case, file.clone()));
    }
    let res = Command::new(bin)
        .arg("--local-schemas")
        .arg(&schemas)
        .args(["-o", "json"])
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let v: Value = serde_json::from_slice(&res.stdout).unwrap_or_else(|e| {
        panic!(
            "kubectl-validate printed no JSON ({e}; exit {}): {}",
            res.status,
            String::from_utf8_lossy(&res.stderr)
        )
    });
    for (path, results) in v.as_object().expect("kubectl-validate: a JSON object") {
        let Some((case, file)) = by_path.get(path) else {
            panic!("kubectl-validate reported an unknown file {path}");
        };
        for r in results.as_array().into_iter().flatten() {
            if r["status"] != "Success" {
                out.entry(*case).or_default().push(format!(
                    "{file}: {}",
                    r["message"].as_str().unwrap_or("failed")
                ));
            }
        }
    }
    out
}

// --------------------------------------------------------------------------------------------
// egctl x translate, many cases per call
// --------------------------------------------------------------------------------------------

/// One case's translator input: its objects and the made-up outside objects (Services, TLS
/// Secrets), without the GatewayClass (one per call, the one the base stack's install defines).
pub struct TrCase {
    pub case: usize,
    pub objects: Vec<StackObject>,
    pub input: String,
}

pub fn tr_case(case: usize, dir: &Path) -> Result<TrCase, String> {
    let mut objects = outside::read_stack(dir).map_err(|e| e.to_string())?;
    // the API server gives every ClusterIP Service an address; the translator (endpoint routing
    // off) routes to it, and an empty one fails the xDS validation of the whole call
    for (i, o) in objects.iter_mut().enumerate() {
        if o.kind() == "Service"
            && o.group().is_empty()
            && o.value["spec"].is_object()
            && o.value["spec"]["clusterIP"].is_null()
        {
            o.value["spec"]["clusterIP"] = json!(format!(
                "10.{}.{}.{}",
                100 + case / 65536 % 100,
                case / 256 % 256,
                1 + (case + i) % 250
            ));
        }
    }
    let mut extra = outside::outside_objects(&objects, dir, ServiceAddress::Dummy)
        .map_err(|e| e.to_string())?;
    // the GatewayClass: one per call, the base stack's. A Service the stack does not hold is
    // supplied only in a namespace where the stack holds no Service: where it does, the stack is
    // the application's, and a Service it lacks is missing (as in a cluster)
    let has_services: Vec<&str> = objects
        .iter()
        .filter(|o| o.kind() == "Service" && o.group().is_empty())
        .map(|o| o.namespace())
        .collect();
    // A TLS Secret the stack's Certificates do not write is supplied only in a namespace where
    // the stack holds no Certificate: where it does, cert-manager makes that namespace's
    // certificates, and a Secret none of them writes is missing (as in a cluster)
    let certificates: Vec<(&str, &str)> = objects
        .iter()
        .filter(|o| o.kind() == "Certificate" && o.group() == "cert-manager.io")
        .map(|o| {
            (
                o.namespace(),
                o.value["spec"]["secretName"].as_str().unwrap_or(""),
            )
        })
        .collect();
    extra.objects.retain(|o| {
        let ns = o["metadata"]["namespace"].as_str().unwrap_or("");
        let name = o["metadata"]["name"].as_str().unwrap_or("");
        o["kind"] != "GatewayClass"
            && !(o["kind"] == "Service" && has_services.contains(&ns))
            && !(o["kind"] == "Secret"
                && o["type"] == "kubernetes.io/tls"
                && certificates.iter().any(|(n, _)| *n == ns)
                && !certificates.contains(&(ns, name)))
    });
    let input = accept::translator_input(&objects, &extra);
    Ok(TrCase {
        case,
        objects,
        input,
    })
}

/// The translator's verdict on each case: Ok(failures, one per line; empty = accepted) or
/// Err(egctl refused the case's input). `calls` counts egctl runs.
pub fn translate(
    egctl: &Path,
    class: &str,
    cases: &[&TrCase],
    work: &Path,
    calls: &mut usize,
    out: &mut BTreeMap<usize, Result<Vec<String>, String>>,
) {
    if cases.is_empty() {
        return;
    }
    let mut input = format!(
        "---\n{}\n",
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": class}, "spec": {"controllerName": outside::EG_CONTROLLER}})
    );
    for c in cases {
        input.push_str(&c.input);
    }
    let file = work.join(format!("egctl-{}.yaml", *calls));
    std::fs::write(&file, input).unwrap();
    *calls += 1;
    let res = Command::new(egctl)
        .args(["x", "translate", "--from", "gateway-api"])
        .args(["--to", "gateway-api,xds", "--output", "json", "-f"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", egctl.display()));
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&res.stderr).trim().to_string();
    eprintln!(
        "agreement: egctl call {} ({} cases): exit {}{}",
        *calls,
        cases.len(),
        res.status,
        if stderr.is_empty() {
            String::new()
        } else {
            format!(", stderr {:.200}", stderr)
        }
    );
    let parsed: Option<Value> = if res.status.success() {
        serde_json::from_slice(&res.stdout).ok()
    } else {
        None
    };
    match parsed {
        Some(result) if stderr.is_empty() || cases.len() == 1 => {
            for c in cases {
                let mut fails: Vec<String> = match accept::check_output(&c.objects, &result) {
                    Ok(a) => a.failures.iter().map(|f| f.to_string()).collect(),
                    Err(e) => vec![e.to_string()],
                };
                if !stderr.is_empty() {
                    fails.push(format!("egctl stderr: {stderr}"));
                }
                out.insert(c.case, Ok(fails));
            }
        }
        _ if cases.len() == 1 => {
            let why = if stderr.is_empty() {
                format!("egctl exit {}", res.status)
            } else {
                stderr
            };
            out.insert(cases[0].case, Err(why));
        }
        // one case spoiled the whole call: the case the error names (its namespaces end in
        // -c<index>) is refused and the others tried again, else split and try again
        _ if named_case(&stderr, cases).is_some() => {
            let bad = named_case(&stderr, cases).unwrap();
            out.insert(bad, Err(stderr.clone()));
            let rest: Vec<&TrCase> = cases.iter().copied().filter(|c| c.case != bad).collect();
            translate(egctl, class, &rest, work, calls, out);
        }
        // Envoy Gateway's loader refused an object without naming its namespace: `egctl x
        // validate` (per object) names the cases, which are refused and the others tried again
        _ if stderr.contains("local validation error") && {
            let named = egctl_validate(egctl, cases, work);
            let found = !named.is_empty();
            for (i, why) in named {
                out.insert(i, Err(why));
            }
            found
        } =>
        {
            let rest: Vec<&TrCase> = cases
                .iter()
                .copied()
                .filter(|c| !out.contains_key(&c.case))
                .collect();
            translate(egctl, class, &rest, work, calls, out);
        }
        _ => {
            let (a, b) = cases.split_at(cases.len() / 2);
            translate(egctl, class, a, work, calls, out);
            translate(egctl, class, b, work, calls, out);
        }
    }
}

fn named_case(stderr: &str, cases: &[&TrCase]) -> Option<usize> {
    let re = regex::Regex::new(r"-c(\d+)\b").unwrap();
    re.captures_iter(stderr)
        .filter_map(|c| c[1].parse::<usize>().ok())
        .find(|i| cases.iter().any(|c| c.case == *i))
}

/// `egctl x validate` over every case's translator input in one call: Envoy Gateway's own
/// per-object load and validation (the step that refuses a whole `translate` call). Returns the
/// cases it refuses, with the message; those are not sent to `translate`.
pub fn egctl_validate(egctl: &Path, cases: &[&TrCase], work: &Path) -> BTreeMap<usize, String> {
    let file = work.join("egctl-validate.yaml");
    let mut input = String::new();
    for c in cases {
        input.push_str(&c.input);
    }
    std::fs::write(&file, input).unwrap();
    let res = Command::new(egctl)
        .args(["x", "validate", "-f"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", egctl.display()));
    let text = String::from_utf8_lossy(&res.stdout).to_string();
    let mut out = BTreeMap::new();
    // per refused object: `---`, its first lines (here: the one-line JSON object), a blank
    // line, the error
    let mut current: Option<usize> = None;
    for line in text.lines() {
        if line.starts_with('{') {
            current = named_case(line, cases);
        } else if !line.trim().is_empty()
            && line.trim() != "---"
            && let Some(i) = current.take()
        {
            out.entry(i).or_insert_with(|| line.trim().to_string());
        }
    }
    if !res.status.success() && out.is_empty() {
        panic!(
            "egctl x validate failed ({}) naming no case: {}{}",
            res.status,
            text,
            String::from_utf8_lossy(&res.stderr)
        );
    }
    out
}
