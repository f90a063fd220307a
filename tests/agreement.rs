//! Agreement with the real components (issue 12, "Measure it against the real components").
//!
//! At least 500 realistic one-defect stacks, generated deterministically from a seed (no case
//! is a committed file): mutations of the stacks the project's generators write (the Task API
//! defaults and the 15 requests of tests/requests/cases.yaml) and of multi-app tenants shaped
//! like ../shared/bench/gen_corpus.py's, over the classes of tests/agreement/mutations.rs. Each
//! case, and each valid stack unmutated, goes through
//!   (a) our validate (the library, as `traffic-engineer validate` runs it on a stack folder),
//!   (b) Envoy Gateway v1.9.0's translator, `egctl x translate` (many cases per call, one
//!       namespace set per case; a call one case spoils is split until that case is alone),
//!   (c) a real API server's server-side dry run (apiextensions-apiserver + etcd from
//!       `scripts/upstream.sh cluster-up`, the upstream CRDs installed) for custom resources, and
//!       kubectl-validate against the Kubernetes 1.35 OpenAPI documents for built-in kinds
//!       (that API server does not serve them: built-in defects are judged by kubectl-validate
//!       only, which checks the schema and not the API server's Go validation).
//! Upstream rejects a case when the translator refuses its input or leaves one of its objects
//! not Accepted / not ResolvedRefs (rehearse::accept's conditions), or the API server or
//! kubectl-validate refuses one of its objects. Verdicts per case: both reject, only upstream (a
//! false negative of validate), only validate, neither. An error of validate on a case upstream
//! accepts is a false positive unless its rule is listed in the README ("What validate checks")
//! with its upstream source, or is a known disagreement.
//!
//! The test FAILS on: a valid stack that validate flags or upstream rejects; a false positive
//! not in tests/agreement/known.yaml (`disagreements`); a false negative whose mutation is not a
//! known gap there (`gaps`). It prints the agreement table per class. It SKIPS (saying so) only
//! when the upstream programs' variables are unset: TRAFFIC_ENGINEER_EGCTL,
//! TRAFFIC_ENGINEER_KUBECONFIG, TRAFFIC_ENGINEER_KUBECTL_VALIDATE, TRAFFIC_ENGINEER_TEST_OPENAPI
//! (scripts/test.sh sets all four). TRAFFIC_ENGINEER_AGREEMENT_SEED changes the seed.
//!
//! Run it: `scripts/agreement.sh` (starts an API server when none is given).

mod common;
#[path = "agreement/mutations.rs"]
mod mutations;
#[path = "agreement/stacks.rs"]
mod stacks;
#[path = "agreement/upstream.rs"]
mod upstream;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use stacks::{Rng, StackFiles};
use traffic_engineer::validate::Severity;
use traffic_engineer::workspace::Stack;

const DEFAULT_SEED: u64 = 12;
/// How many bases each mutation is applied to (at most).
const PER_MUTATION: usize = 6;
const BATCH: usize = 60;

struct Case {
    idx: usize,
    class: &'static str,
    mutation: &'static str,
    base: String,
    object: String,
    /// The GatewayClass the base stack's install defines (what the translator is given).
    gateway_class: String,
    stack: StackFiles,
}

impl Case {
    fn key(&self) -> String {
        format!("{}/{}", self.class, self.mutation)
    }
    fn id(&self) -> String {
        format!(
            "#{} {}/{} on {} ({})",
            self.idx, self.class, self.mutation, self.base, self.object
        )
    }
}

fn gateway_class(s: &StackFiles) -> String {
    s.docs
        .iter()
        .find(|d| d.kind() == "Gateway")
        .and_then(|d| d.v["spec"]["gatewayClassName"].as_str())
        .unwrap_or("eg")
        .to_string()
}

/// Every case, in a fixed order for a seed: the valid stacks first, then the mutations.
fn cases(seed: u64) -> Vec<Case> {
    let mut r = Rng::new(seed);
    let mut bases = stacks::generated();
    for i in 0..6 {
        bases.push(stacks::tenant(&mut r, i));
    }
    let mut out: Vec<Case> = Vec::new();
    let push = |out: &mut Vec<Case>,
                class: &'static str,
                mutation: &'static str,
                base: &StackFiles,
                f: &dyn Fn(&mut StackFiles, &mut Rng) -> Option<String>,
                r: &mut Rng| {
        let idx = out.len();
        let mut s = base.clone();
        s.rename_namespaces(&format!("c{idx}"));
        let object = f(&mut s, r)?;
        out.push(Case {
            idx,
            class,
            mutation,
            base: base.base.clone(),
            object,
            gateway_class: gateway_class(base),
            stack: s,
        });
        Some(())
    };
    for b in &bases {
        push(
            &mut out,
            "valid",
            "unmutated",
            b,
            &|_, _| Some("-".into()),
            &mut r,
        );
    }
    for b in bases.iter().step_by(5) {
        push(
            &mut out,
            "valid",
            "cross-namespace-backend-with-grant",
            b,
            &|s, _| mutations::grant_ok(s),
            &mut r,
        );
    }
    for m in mutations::all() {
        // the bases in an order drawn from the seed
        let mut order: Vec<usize> = (0..bases.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, r.below(i + 1));
        }
        let mut n = 0;
        for i in order {
            if n == PER_MUTATION {
                break;
            }
            if push(&mut out, m.class, m.name, &bases[i], &m.apply, &mut r).is_some() {
                n += 1;
            }
        }
    }
    out
}

#[derive(Default)]
struct Verdict {
    validate_errors: Vec<(String, String)>,
    apiserver: Vec<String>,
    kubectl_validate: Vec<String>,
    translator: Vec<String>,
}

impl Verdict {
    fn upstream(&self) -> bool {
        !self.apiserver.is_empty()
            || !self.kubectl_validate.is_empty()
            || !self.translator.is_empty()
    }
    fn ours(&self) -> bool {
        !self.validate_errors.is_empty()
    }
    fn upstream_text(&self) -> String {
        let mut v = Vec::new();
        v.extend(self.apiserver.iter().map(|x| format!("api-server: {x}")));
        v.extend(
            self.kubectl_validate
                .iter()
                .map(|x| format!("kubectl-validate: {x}")),
        );
        v.extend(self.translator.iter().map(|x| format!("translator: {x}")));
        v.join("\n      ")
    }
}

#[derive(serde::Deserialize, Default)]
struct Known {
    #[serde(default)]
    disagreements: Vec<KnownEntry>,
    #[serde(default)]
    gaps: Vec<KnownEntry>,
}

#[derive(serde::Deserialize)]
struct KnownEntry {
    mutation: String,
    #[serde(default)]
    rule: Option<String>,
    reason: String,
}

/// Rule ids the README's "What validate checks" lists in an item (a bullet with its
/// continuation lines) that names an upstream source: a file and a release, e.g. "Envoy Gateway
/// v1.9.0, `internal/gatewayapi/route.go`". A rule id is written in backquotes, in full
/// (`route/invalid-regex`) or, after one of its family, by its last part (`invalid-cidr`).
fn readme_rules_with_source() -> BTreeSet<String> {
    let text = std::fs::read_to_string(common_root().join("README.md")).unwrap();
    let section = text
        .split("\n## What validate checks")
        .nth(1)
        .map(|s| s.split("\n## ").next().unwrap_or(""))
        .unwrap_or("");
    let mut items: Vec<String> = Vec::new();
    for line in section.lines() {
        if line.trim_start().starts_with("- ") || items.is_empty() {
            items.push(String::new());
        }
        let last = items.last_mut().unwrap();
        last.push_str(line);
        last.push('\n');
    }
    let code = regex::Regex::new(r"`([a-z0-9-]+(?:/[a-z0-9-]+)?)`").unwrap();
    let source = regex::Regex::new(r"\.(go|yaml|json|proto)\b").unwrap();
    let release = regex::Regex::new(r"\bv\d+\.\d+").unwrap();
    let mut out = BTreeSet::new();
    for item in items {
        if !(source.is_match(&item) && release.is_match(&item)) {
            continue;
        }
        let mut family: Option<String> = None;
        for c in code.captures_iter(&item) {
            match c[1].split_once('/') {
                Some((f, _)) => {
                    family = Some(f.to_string());
                    out.insert(c[1].to_string());
                }
                None => {
                    if let Some(f) = &family {
                        out.insert(format!("{f}/{}", &c[1]));
                    }
                }
            }
        }
    }
    out
}

/// Whether the mutated object is one Envoy Gateway's translator reads, or a Certificate (its
/// secretName decides whether a listener's TLS Secret exists: see upstream::tr_case).
fn translated_mutation(c: &Case) -> bool {
    c.stack
        .docs
        .iter()
        .filter(|d| d.label() == c.object)
        .any(|d| {
            let o = traffic_engineer::rehearse::outside::StackObject {
                file: d.file.clone(),
                value: d.v.clone(),
            };
            o.translated() || (o.kind() == "Certificate" && o.group() == "cert-manager.io")
        })
}

fn common_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

#[test]
fn readme_rules_are_read_with_their_source() {
    let rules = readme_rules_with_source();
    // whatever rules the README lists with a source, each is a family/name id
    assert!(rules.iter().all(|r| r.split('/').count() == 2), "{rules:?}");
    assert!(
        !rules.is_empty(),
        "no rule id read from the README with its upstream source"
    );
}

#[test]
fn the_generator_is_deterministic_and_covers_every_class() {
    let a = cases(DEFAULT_SEED);
    let b = cases(DEFAULT_SEED);
    assert!(a.len() >= 500, "only {} cases", a.len());
    let ids_a: Vec<String> = a.iter().map(|c| c.id()).collect();
    let ids_b: Vec<String> = b.iter().map(|c| c.id()).collect();
    assert_eq!(ids_a, ids_b);
    for (x, y) in a.iter().zip(&b) {
        for (dx, dy) in x.stack.docs.iter().zip(&y.stack.docs) {
            assert_eq!(x.stack.text(dx), y.stack.text(dy), "{}", x.id());
        }
    }
    let classes: BTreeSet<&str> = a.iter().map(|c| c.class).collect();
    for want in [
        "names",
        "ports",
        "sections",
        "namespaces",
        "grants",
        "policies",
        "regexes",
        "protocols",
        "units",
        "limits",
        "tls",
        "scaling",
        "typing",
        "schema",
        "cel",
        "builtin",
        "valid",
    ] {
        assert!(classes.contains(want), "no case of class {want}");
    }
    // every mutation applies somewhere, and changes the stack
    let mutated: BTreeSet<String> = a.iter().map(|c| c.key()).collect();
    for m in mutations::all() {
        assert!(
            mutated.contains(&format!("{}/{}", m.class, m.name)),
            "{}/{} applies to no base",
            m.class,
            m.name
        );
    }
    // a mutated stack differs from its base (same case index: same namespaces)
    let valid: BTreeMap<&str, &Case> = a
        .iter()
        .filter(|c| c.mutation == "unmutated")
        .map(|c| (c.base.as_str(), c))
        .collect();
    let strip = |s: &StackFiles, idx: usize| -> BTreeSet<String> {
        s.docs
            .iter()
            .map(|d| s.text(d).replace(&format!("-c{idx}"), ""))
            .collect()
    };
    for c in a.iter().filter(|c| c.class != "valid") {
        let vb = valid[c.base.as_str()];
        assert_ne!(
            strip(&c.stack, c.idx),
            strip(&vb.stack, vb.idx),
            "{} changes nothing",
            c.id()
        );
    }
}

#[test]
fn validate_agrees_with_the_real_components() {
    let missing: Vec<&str> = [
        "TRAFFIC_ENGINEER_EGCTL",
        "TRAFFIC_ENGINEER_KUBECONFIG",
        "TRAFFIC_ENGINEER_KUBECTL_VALIDATE",
        "TRAFFIC_ENGINEER_TEST_OPENAPI",
    ]
    .into_iter()
    .filter(|v| env_path(v).is_none())
    .collect();
    if !missing.is_empty() {
        eprintln!(
            "SKIPPED validate_agrees_with_the_real_components: {} not set (scripts/test.sh and \
             scripts/agreement.sh set them)",
            missing.join(", ")
        );
        return;
    }
    let egctl = env_path("TRAFFIC_ENGINEER_EGCTL").unwrap();
    let kubeconfig = env_path("TRAFFIC_ENGINEER_KUBECONFIG").unwrap();
    let kv = env_path("TRAFFIC_ENGINEER_KUBECTL_VALIDATE").unwrap();
    let openapi = env_path("TRAFFIC_ENGINEER_TEST_OPENAPI").unwrap();
    for p in [&egctl, &kubeconfig, &kv] {
        assert!(p.is_file(), "{} is not a file", p.display());
    }
    assert!(openapi.is_dir(), "{} is not a folder", openapi.display());
    let seed = std::env::var("TRAFFIC_ENGINEER_AGREEMENT_SEED")
        .ok()
        .map(|s| {
            s.parse()
                .expect("TRAFFIC_ENGINEER_AGREEMENT_SEED: a number")
        })
        .unwrap_or(DEFAULT_SEED);

    let mut timings: Vec<(&str, f64)> = Vec::new();
    let t = Instant::now();
    let cases = cases(seed);
    let work = tempfile::tempdir().unwrap();
    let mut stacks: Vec<Stack> = Vec::new();
    for c in &cases {
        stacks.push(
            c.stack
                .write(&work.path().join(format!("c{}", c.idx)))
                .unwrap(),
        );
    }
    timings.push(("generate and write", t.elapsed().as_secs_f64()));
    eprintln!("agreement: {} cases written; validate ...", cases.len());
    let mut verdicts: Vec<Verdict> = cases.iter().map(|_| Verdict::default()).collect();

    // (a) validate
    let t = Instant::now();
    let v = common::validator();
    for (c, st) in cases.iter().zip(&stacks) {
        let report = traffic_engineer::validation::validate_stack(v, st).unwrap();
        verdicts[c.idx].validate_errors = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| {
                (
                    f.rule.clone(),
                    format!(
                        "{} {} {}: {}",
                        f.rule,
                        f.file.clone().unwrap_or_default(),
                        f.path,
                        f.message
                    ),
                )
            })
            .collect();
    }
    timings.push(("validate", t.elapsed().as_secs_f64()));
    eprintln!("agreement: API server dry run ...");

    // (c) API server dry run (custom resources) and kubectl-validate (built-in kinds)
    let t = Instant::now();
    let mut dry: Vec<upstream::DryItem> = Vec::new();
    let mut builtin_files: Vec<(usize, String, String)> = Vec::new();
    for c in &cases {
        for d in &c.stack.docs {
            let text = c.stack.text(d);
            let av = d.v["apiVersion"].as_str().unwrap_or("");
            if upstream::builtin(av) {
                builtin_files.push((c.idx, d.file.clone(), text));
            } else {
                // the object as kubectl sends it: the file's YAML read as YAML 1.1
                for obj in traffic_engineer::yaml::parse_values(&text).unwrap() {
                    dry.push((c.idx, d.label(), obj));
                }
            }
        }
    }
    let n_dry = dry.len();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let refused = rt.block_on(async {
        let cluster =
            traffic_engineer::cluster::connect(&traffic_engineer::cluster::ConnectOptions {
                kubeconfig: Some(kubeconfig.clone()),
                ..Default::default()
            })
            .await
            .expect("connect to the API server");
        upstream::dry_run(&cluster, dry).await
    });
    for (i, r) in refused {
        verdicts[i].apiserver = r;
    }
    timings.push(("API server dry run", t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let n_builtin = builtin_files.len();
    for (i, r) in upstream::kubectl_validate(&kv, &openapi, work.path(), &builtin_files) {
        verdicts[i].kubectl_validate = r;
    }
    timings.push(("kubectl-validate", t.elapsed().as_secs_f64()));
    eprintln!("agreement: egctl x translate ...");

    // (b) the translator, for the cases the API server and kubectl-validate admit (an object
    // they refuse never reaches Envoy Gateway; egctl would refuse the whole call), batched per
    // GatewayClass
    let t = Instant::now();
    let mut tr: BTreeMap<String, Vec<upstream::TrCase>> = BTreeMap::new();
    for (c, st) in cases.iter().zip(&stacks) {
        if !verdicts[c.idx].apiserver.is_empty() || !verdicts[c.idx].kubectl_validate.is_empty() {
            continue;
        }
        // a mutation of an object Envoy Gateway never reads (KEDA, cert-manager, Deployment,
        // HPA) leaves the translator's input that of the valid base, which it accepts
        if c.class != "valid" && !translated_mutation(c) {
            continue;
        }
        match upstream::tr_case(c.idx, st.dir()) {
            Ok(x) => tr.entry(c.gateway_class.clone()).or_default().push(x),
            Err(e) => verdicts[c.idx].translator.push(format!("input: {e}")),
        }
    }
    // batches over two workers (egctl's cost is per document: batching saves its start-up)
    let jobs: Vec<(&str, Vec<&upstream::TrCase>)> = tr
        .iter()
        .flat_map(|(class, list)| {
            list.chunks(BATCH)
                .map(move |ch| (class.as_str(), ch.iter().collect::<Vec<_>>()))
        })
        .collect();
    let n_tr: usize = jobs.iter().map(|j| j.1.len()).sum();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let merged = std::sync::Mutex::new((0usize, BTreeMap::new()));
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some((class, chunk)) = jobs.get(i) else {
                        break;
                    };
                    let mut calls = 0usize;
                    let mut res = BTreeMap::new();
                    let dir = work.path().join(format!("tr{i}"));
                    std::fs::create_dir_all(&dir).unwrap();
                    upstream::translate(&egctl, class, chunk, &dir, &mut calls, &mut res);
                    let mut m = merged.lock().unwrap();
                    m.0 += calls;
                    m.1.extend(res);
                }
            });
        }
    });
    let (calls, results) = merged.into_inner().unwrap();
    for (i, r) in results {
        match r {
            Ok(f) => verdicts[i].translator.extend(f),
            Err(e) => verdicts[i]
                .translator
                .push(format!("refused the input: {e}")),
        }
    }
    timings.push(("egctl x translate", t.elapsed().as_secs_f64()));

    // ---- judge
    let known: Known = {
        let text = include_str!("agreement/known.yaml");
        let v = traffic_engineer::yaml::parse_values(text).unwrap();
        serde_json::from_value(v.into_iter().next().unwrap_or(Value::Null)).unwrap_or_default()
    };
    let listed = readme_rules_with_source();
    #[derive(Default, Clone, Copy)]
    struct Row {
        both: usize,
        only_upstream: usize,
        only_validate: usize,
        neither: usize,
    }
    let mut table: BTreeMap<&str, Row> = BTreeMap::new();
    let mut valid_problems = Vec::new();
    let mut new_fp = Vec::new();
    let mut known_fp = Vec::new();
    let mut justified = Vec::new();
    let mut new_fn = Vec::new();
    let mut known_fn = Vec::new();
    let mut fn_by_mutation: BTreeMap<String, usize> = BTreeMap::new();
    let mut neither_by_mutation: BTreeMap<String, usize> = BTreeMap::new();
    for c in &cases {
        let v = &verdicts[c.idx];
        let row = table.entry(c.class).or_default();
        match (v.upstream(), v.ours()) {
            (true, true) => row.both += 1,
            (true, false) => row.only_upstream += 1,
            (false, true) => row.only_validate += 1,
            (false, false) => {
                row.neither += 1;
                if c.class != "valid" {
                    *neither_by_mutation.entry(c.key()).or_default() += 1;
                }
            }
        }
        if c.class == "valid" {
            if v.upstream() || v.ours() {
                valid_problems.push(format!(
                    "{}\n    validate: {:?}\n    upstream: {}",
                    c.id(),
                    v.validate_errors.iter().map(|e| &e.1).collect::<Vec<_>>(),
                    v.upstream_text()
                ));
            }
            continue;
        }
        if !v.upstream() && v.ours() {
            for (rule, text) in &v.validate_errors {
                let k = known
                    .disagreements
                    .iter()
                    .find(|k| k.mutation == c.key() && k.rule.as_deref().is_none_or(|r| r == rule));
                let line = format!("{}: {text}", c.id());
                if let Some(k) = k {
                    known_fp.push(format!("{line}\n    known: {}", k.reason));
                } else if listed.contains(rule) {
                    justified.push(line);
                } else {
                    new_fp.push(line);
                }
            }
        }
        if v.upstream() && !v.ours() {
            *fn_by_mutation.entry(c.key()).or_default() += 1;
            let line = format!("{}\n      {}", c.id(), v.upstream_text());
            match known.gaps.iter().find(|k| k.mutation == c.key()) {
                Some(k) => known_fn.push(format!("{line}\n    known gap: {}", k.reason)),
                None => new_fn.push(line),
            }
        }
    }

    // ---- report
    let mut rep = String::new();
    rep.push_str(&format!(
        "agreement of validate with Envoy Gateway v1.9.0's translator, the API server's dry run and kubectl-validate\n\
         seed {seed}: {} cases ({} valid), {} objects dry-run, {} built-in files through kubectl-validate, {} cases through egctl in {} calls\n\n",
        cases.len(),
        cases.iter().filter(|c| c.class == "valid").count(),
        n_dry,
        n_builtin,
        n_tr,
        calls
    ));
    rep.push_str(&format!(
        "{:<11} {:>5} {:>6} {:>14} {:>14} {:>8} {:>9}\n",
        "class", "cases", "both", "only upstream", "only validate", "neither", "caught"
    ));
    let mut total = Row::default();
    for (class, r) in &table {
        let n = r.both + r.only_upstream + r.only_validate + r.neither;
        let up = r.both + r.only_upstream;
        let caught = if up == 0 {
            "-".to_string()
        } else {
            format!("{:.0}%", 100.0 * r.both as f64 / up as f64)
        };
        rep.push_str(&format!(
            "{class:<11} {n:>5} {:>6} {:>14} {:>14} {:>8} {caught:>9}\n",
            r.both, r.only_upstream, r.only_validate, r.neither
        ));
        if *class != "valid" {
            total.both += r.both;
            total.only_upstream += r.only_upstream;
            total.only_validate += r.only_validate;
            total.neither += r.neither;
        }
    }
    let up = total.both + total.only_upstream;
    rep.push_str(&format!(
        "{:<11} {:>5} {:>6} {:>14} {:>14} {:>8} {:>8.0}%\n",
        "defects",
        total.both + total.only_upstream + total.only_validate + total.neither,
        total.both,
        total.only_upstream,
        total.only_validate,
        total.neither,
        if up == 0 {
            0.0
        } else {
            100.0 * total.both as f64 / up as f64
        }
    ));
    rep.push_str("(caught = both / (both + only upstream): the share of upstream rejections validate flags)\n");
    rep.push_str("\nfalse negatives per mutation (upstream rejects, validate has no error):\n");
    for (m, n) in &fn_by_mutation {
        let known = if known.gaps.iter().any(|k| &k.mutation == m) {
            " (known gap)"
        } else {
            ""
        };
        rep.push_str(&format!("  {n:>2} {m}{known}\n"));
    }
    rep.push_str(
        "\nneither rejects (no upstream component here judges it, and validate does not):\n",
    );
    for (m, n) in &neither_by_mutation {
        rep.push_str(&format!("  {n:>2} {m}\n"));
    }
    rep.push_str(&format!(
        "\ntimings (s): {}\n",
        timings
            .iter()
            .map(|(k, s)| format!("{k} {s:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let stale: Vec<&KnownEntry> = known
        .gaps
        .iter()
        .filter(|k| !fn_by_mutation.contains_key(&k.mutation))
        .collect();
    if !stale.is_empty() {
        rep.push_str(
            "\nknown gaps no longer missed (remove them from tests/agreement/known.yaml):\n",
        );
        for k in stale {
            rep.push_str(&format!("  {} ({})\n", k.mutation, k.reason));
        }
    }
    if !justified.is_empty() {
        rep.push_str(&format!(
            "\nonly validate, rule listed in the README with its upstream source ({}):\n  {}\n",
            justified.len(),
            justified.join("\n  ")
        ));
    }
    if !known_fp.is_empty() {
        rep.push_str(&format!(
            "\nknown disagreements ({}):\n  {}\n",
            known_fp.len(),
            known_fp.join("\n  ")
        ));
    }
    if !known_fn.is_empty() {
        rep.push_str(&format!(
            "\nknown gaps ({} cases):\n  {}\n",
            known_fn.len(),
            known_fn.join("\n  ")
        ));
    }
    println!("{rep}");
    if let Some(p) = env_path("TRAFFIC_ENGINEER_AGREEMENT_REPORT") {
        std::fs::write(&p, &rep).unwrap();
    }
    let mut fail = String::new();
    if !valid_problems.is_empty() {
        fail.push_str(&format!(
            "\nVALID stacks flagged ({}):\n  {}\n",
            valid_problems.len(),
            valid_problems.join("\n  ")
        ));
    }
    if !new_fp.is_empty() {
        fail.push_str(&format!(
            "\nFALSE POSITIVES ({}): validate errs where every upstream component accepts, the rule is not in the README's rule list with its upstream source, and it is not a known disagreement:\n  {}\n",
            new_fp.len(),
            new_fp.join("\n  ")
        ));
    }
    if !new_fn.is_empty() {
        fail.push_str(&format!(
            "\nNEW FALSE NEGATIVES ({}): upstream rejects, validate has no error, and the mutation is not a known gap:\n  {}\n",
            new_fn.len(),
            new_fn.join("\n  ")
        ));
    }
    assert!(fail.is_empty(), "{fail}");
}
