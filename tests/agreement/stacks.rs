//! The valid stacks the one-defect cases start from, as objects that can be mutated and written:
//! the stacks the project's generators write (the Task API defaults and the 15 requests of
//! tests/requests/cases.yaml, through the spec path), and multi-app tenants shaped like
//! ../shared/bench/gen_corpus.py's (Namespace, Deployments, Services, KEDA, cert-manager, Gateway,
//! routes, policies), built here from a seed.

use std::collections::BTreeSet;
use std::path::Path;

use proptest::prelude::Rng as _;
use proptest::test_runner::{RngAlgorithm, TestRng};
use serde_json::{Value, json};
use traffic_engineer::workspace::Stack;

/// One YAML document of the stack (one object per file, as the generators write them).
#[derive(Clone, Debug)]
pub struct Doc {
    pub file: String,
    pub v: Value,
}

impl Doc {
    pub fn kind(&self) -> &str {
        self.v["kind"].as_str().unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.v["metadata"]["name"].as_str().unwrap_or("")
    }
    pub fn ns(&self) -> &str {
        self.v["metadata"]["namespace"].as_str().unwrap_or("")
    }
    pub fn label(&self) -> String {
        if self.ns().is_empty() {
            format!("{} {}", self.kind(), self.name())
        } else {
            format!("{} {}/{}", self.kind(), self.ns(), self.name())
        }
    }
}

/// A stack: its documents, the kustomization, and other files (local certificate and key).
#[derive(Clone, Debug)]
pub struct StackFiles {
    pub base: String,
    pub docs: Vec<Doc>,
    pub kustomization: Option<Value>,
    pub raw: Vec<(String, Vec<u8>)>,
    /// Text replacements applied when written (YAML typing mutations: a marker string becomes
    /// an unquoted YAML 1.1 scalar).
    pub markers: Vec<(String, String)>,
}

impl StackFiles {
    /// The namespaces the stack's objects live in.
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.docs
            .iter()
            .filter(|d| !d.ns().is_empty())
            .map(|d| d.ns().to_string())
            .chain(
                self.docs
                    .iter()
                    .filter(|d| d.kind() == "Namespace")
                    .map(|d| d.name().to_string()),
            )
            .collect()
    }

    /// Rename every namespace N to `N-<suffix>` (metadata.namespace, Namespace names, every
    /// `namespace:` field naming N, namespace-name label values, kustomization secretGenerator),
    /// so that many cases share one translator run and one API server without meeting.
    pub fn rename_namespaces(&mut self, suffix: &str) {
        let set = self.namespaces();
        fn walk(v: &mut Value, set: &BTreeSet<String>, suffix: &str) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m.iter_mut() {
                        if let Value::String(s) = x
                            && (k == "namespace" || k == "kubernetes.io/metadata.name")
                            && set.contains(s.as_str())
                        {
                            *s = format!("{s}-{suffix}");
                        } else {
                            walk(x, set, suffix);
                        }
                    }
                }
                Value::Array(a) => a.iter_mut().for_each(|x| walk(x, set, suffix)),
                _ => {}
            }
        }
        for d in &mut self.docs {
            walk(&mut d.v, &set, suffix);
            if d.kind() == "Namespace"
                && let Some(n) = d.v["metadata"]["name"].as_str()
                && set.contains(n)
            {
                d.v["metadata"]["name"] = json!(format!("{n}-{suffix}"));
            }
        }
        if let Some(k) = &mut self.kustomization {
            walk(k, &set, suffix);
        }
    }

    /// The text of one document's file.
    pub fn text(&self, d: &Doc) -> String {
        let mut t = traffic_engineer::render::emit(&d.v);
        for (m, to) in &self.markers {
            t = t.replace(&format!("\"{m}\""), to).replace(m, to);
        }
        t
    }

    /// Write the stack as ROOT/traffic/ (one file per object, the kustomization listing them).
    pub fn write(&self, root: &Path) -> std::io::Result<Stack> {
        let dir = root.join("traffic");
        std::fs::create_dir_all(&dir)?;
        for d in &self.docs {
            std::fs::write(dir.join(&d.file), self.text(d))?;
        }
        let mut k = self.kustomization.clone().unwrap_or_else(|| {
            json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": []})
        });
        let mut files: Vec<Value> = Vec::new();
        for d in &self.docs {
            if !files.iter().any(|f| f == d.file.as_str()) {
                files.push(json!(d.file));
            }
        }
        k["resources"] = Value::Array(files);
        std::fs::write(
            dir.join("kustomization.yaml"),
            traffic_engineer::render::emit(&k),
        )?;
        for (name, bytes) in &self.raw {
            std::fs::write(dir.join(name), bytes)?;
        }
        Ok(Stack::new(root))
    }
}

/// Read a stack the generators wrote.
pub fn read(base: &str, stack: &Stack) -> StackFiles {
    let mut docs = Vec::new();
    let mut kustomization = None;
    let mut raw = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(stack.dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    for n in names {
        let p = stack.dir().join(&n);
        if n == "kustomization.yaml" {
            let t = std::fs::read_to_string(&p).unwrap();
            kustomization = Some(traffic_engineer::yaml::parse_values(&t).unwrap().remove(0));
        } else if n.ends_with(".yaml") {
            let t = std::fs::read_to_string(&p).unwrap();
            for v in traffic_engineer::yaml::parse_values(&t).unwrap() {
                docs.push(Doc { file: n.clone(), v });
            }
        } else {
            raw.push((n, std::fs::read(&p).unwrap()));
        }
    }
    StackFiles {
        base: base.to_string(),
        docs,
        kustomization,
        raw,
        markers: Vec::new(),
    }
}

#[derive(serde::Deserialize)]
struct Request {
    name: String,
    spec: Value,
}

/// The Task API stack with every tool's default, and each request of tests/requests/cases.yaml
/// generated through its spec.
pub fn generated() -> Vec<StackFiles> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let (_d, stack) =
        crate::common::build::build(json!({}), json!({}), json!({}), json!({}), json!({}));
    out.push(read("task-api", &stack));
    let text = include_str!("../requests/cases.yaml");
    let docs = traffic_engineer::yaml::parse_values(text).unwrap();
    let reqs: Vec<Request> = serde_json::from_value(docs[0].clone()).unwrap();
    for (i, r) in reqs.iter().enumerate() {
        // LLM routes are translated by the AI Gateway first (aigw-translate, then egctl:
        // tests/llm_route.rs and tests/requests.rs); this harness asks egctl alone, which sees
        // no HTTPRoute behind an AIGatewayRoute, so those requests are not bases here
        if r.spec.get("llm_route").is_some_and(|v| !v.is_null()) {
            continue;
        }
        let mut s = r.spec.clone();
        let criteria: Vec<Value> = s["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, c)| json!({"id": format!("SC-{:03}", i + 1), "check": c}))
            .collect();
        s["criteria"] = Value::Array(criteria);
        let md = format!(
            "# {}\n\n```yaml traffic-spec\n{}\n```\n",
            r.name,
            serde_json::to_string_pretty(&s).unwrap()
        );
        let parsed =
            traffic_engineer::spec::parse(&md).unwrap_or_else(|e| panic!("{}: {e:?}", r.name));
        let root = dir.path().join(format!("req{i}"));
        std::fs::create_dir_all(&root).unwrap();
        let stack = Stack::new(&root);
        traffic_engineer::spec::generate(&parsed.spec, &stack)
            .unwrap_or_else(|(_, e)| panic!("{}: {e}", r.name));
        let short: String = r
            .name
            .split(',')
            .next()
            .unwrap_or("req")
            .trim()
            .replace(' ', "-");
        out.push(read(&format!("request-{short}"), &stack));
    }
    out
}

/// A deterministic random source (proptest's ChaCha generator, already a dev-dependency).
pub struct Rng(TestRng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        Rng(TestRng::from_seed(RngAlgorithm::ChaCha, &s))
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const TEAMS: &[&str] = &[
    "payments",
    "checkout",
    "catalog",
    "identity",
    "ledger",
    "reviews",
    "pricing",
    "inventory",
];
const GW: &str = "gateway.networking.k8s.io";

fn meta(name: &str, ns: &str, app: Option<&str>) -> Value {
    let mut labels = json!({"app.kubernetes.io/part-of": ns, "team": ns.rsplit_once('-').map(|x| x.0).unwrap_or(ns)});
    if let Some(a) = app {
        labels["app.kubernetes.io/name"] = json!(a);
    }
    json!({"name": name, "namespace": ns, "labels": labels})
}

fn doc(v: Value) -> Doc {
    let kind = v["kind"].as_str().unwrap_or("x").to_lowercase();
    let name = v["metadata"]["name"].as_str().unwrap_or("x").to_string();
    Doc {
        file: format!("{kind}-{name}.yaml"),
        v,
    }
}

/// One tenant in the shape of gen_corpus.py's (with Services carrying a named target port that
/// the Deployment's container declares).
pub fn tenant(r: &mut Rng, i: usize) -> StackFiles {
    let team = TEAMS[i % TEAMS.len()];
    let ns = format!("{team}-{i:02}");
    let dom = format!("{ns}.example.com");
    let mut apps = vec!["api", "api-canary", "web"];
    if r.chance(50) {
        apps.push("admin");
    }
    let mut docs = vec![doc(json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"team": team}}}))];
    for app in &apps {
        let ver = format!("1.{}.{}", r.below(40), r.below(10));
        docs.push(doc(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(app, &ns, Some(app)),
            "spec": {"replicas": 2 + r.below(3), "selector": {"matchLabels": {"app": app}},
              "template": {"metadata": {"labels": {"app": app, "version": ver}, "annotations": {"prometheus.io/scrape": "true"}},
                "spec": {"containers": [{"name": app, "image": format!("registry.example.com/{ns}/{app}:{ver}"),
                  "imagePullPolicy": "IfNotPresent",
                  "ports": [{"name": "http", "containerPort": 8080}],
                  "env": [{"name": "LOG_LEVEL", "value": *r.pick(&["info", "debug", "warn"])}, {"name": "FEATURE_X", "value": "on"}],
                  "resources": {"requests": {"cpu": format!("{}m", r.pick(&[100, 250, 500])), "memory": "256Mi"},
                                "limits": {"memory": format!("{}Mi", r.pick(&[512, 1024]))}},
                  "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}}]}}}})));
        docs.push(doc(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(app, &ns, Some(app)),
            "spec": {"type": "ClusterIP", "selector": {"app": app},
              "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}),
        ));
    }
    docs.push(doc(json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": meta("api", &ns, Some("api")),
        "spec": {"scaleTargetRef": {"name": "api"}, "minReplicaCount": 2, "maxReplicaCount": *r.pick(&[10, 20, 50]),
          "pollingInterval": 15, "cooldownPeriod": 120,
          "triggers": [{"type": "prometheus", "metadata": {
            "serverAddress": "http://prometheus.monitoring.svc:9090",
            "query": format!("sum(rate(http_requests_total{{namespace=\"{ns}\",app=\"api\"}}[2m]))"),
            "threshold": r.pick(&[50, 100, 200]).to_string()}}]}})));
    docs.push(doc(json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": meta("letsencrypt", &ns, None),
        "spec": {"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory",
          "email": format!("platform+{ns}@example.com"), "privateKeySecretRef": {"name": "letsencrypt-account"},
          "solvers": [{"dns01": {"route53": {"region": "eu-west-1", "hostedZoneID": format!("Z{:010X}", r.below(1 << 30))}}}]}}})));
    let tls = format!("{ns}-tls");
    docs.push(doc(json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": meta(&tls, &ns, None),
        "spec": {"secretName": tls, "dnsNames": [dom, format!("*.{dom}")], "duration": "2160h", "renewBefore": "360h",
          "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
          "issuerRef": {"name": "letsencrypt", "kind": "Issuer", "group": "cert-manager.io"}}})));
    docs.push(doc(json!({"apiVersion": format!("{GW}/v1"), "kind": "Gateway", "metadata": meta("gw", &ns, None),
        "spec": {"gatewayClassName": "eg", "listeners": [
          {"name": "http", "protocol": "HTTP", "port": 80, "hostname": format!("*.{dom}"), "allowedRoutes": {"namespaces": {"from": "Same"}}},
          {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": format!("*.{dom}"),
           "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": tls}]},
           "allowedRoutes": {"namespaces": {"from": "Same"}}}]}})));
    let route = |name: &str, section: &str, host: String, rules: Value| {
        doc(
            json!({"apiVersion": format!("{GW}/v1"), "kind": "HTTPRoute", "metadata": meta(name, &ns, None),
            "spec": {"parentRefs": [{"name": "gw", "sectionName": section}], "hostnames": [host], "rules": rules}}),
        )
    };
    docs.push(route("https-redirect", "http", format!("*.{dom}"), json!([
        {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}])));
    let w = *r.pick(&[5, 10, 20]);
    docs.push(route("api", "https", format!("api.{dom}"), json!([
        {"name": "canary-header", "matches": [{"path": {"type": "PathPrefix", "value": "/v1"},
            "headers": [{"type": "Exact", "name": "x-canary", "value": "true"}]}],
         "backendRefs": [{"name": "api-canary", "port": 80}]},
        {"name": "v1", "matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
         "backendRefs": [{"name": "api", "port": 80, "weight": 100 - w}, {"name": "api-canary", "port": 80, "weight": w}],
         "timeouts": {"request": "10s"}},
        {"name": "health", "matches": [{"path": {"type": "Exact", "value": "/healthz"}, "method": "GET"}],
         "backendRefs": [{"name": "api", "port": 80}]}])));
    docs.push(route("web", "https", format!("www.{dom}"), json!([
        {"matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
         "filters": [{"type": "ResponseHeaderModifier", "responseHeaderModifier": {"set": [{"name": "Cache-Control", "value": "public, max-age=86400"}]}}],
         "backendRefs": [{"name": "web", "port": 80}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [{"name": "web", "port": 80}]}])));
    if apps.contains(&"admin") {
        docs.push(route("admin", "https", format!("admin.{dom}"), json!([
            {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"},
                "headers": [{"type": "RegularExpression", "name": "x-admin-token", "value": "^[A-Za-z0-9]{32}$"}]}],
             "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}],
             "backendRefs": [{"name": "admin", "port": 80}]}])));
    }
    docs.push(doc(json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy",
        "metadata": meta("api-ratelimit", &ns, None),
        "spec": {"targetRefs": [{"group": GW, "kind": "HTTPRoute", "name": "api"}],
          "rateLimit": {"global": {"rules": [
            {"clientSelectors": [{"headers": [{"name": "x-user-id", "type": "Distinct"}]}], "limit": {"requests": 100, "unit": "Minute"}},
            {"clientSelectors": [{"headers": [{"name": "x-user-id", "type": "RegularExpression", "value": ".*", "invert": true}]}],
             "limit": {"requests": 10, "unit": "Minute"}}]}},
          "circuitBreaker": {"maxConnections": 1024, "maxPendingRequests": *r.pick(&[64, 128, 256]), "maxParallelRequests": 512},
          "retry": {"numRetries": 2, "retryOn": {"triggers": ["connect-failure", "retriable-status-codes"], "httpStatusCodes": [502, 503]},
            "perRetry": {"timeout": "2s", "backOff": {"baseInterval": "100ms", "maxInterval": "1s"}}}}})));
    docs.push(doc(
        json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "ClientTrafficPolicy",
        "metadata": meta("client", &ns, None),
        "spec": {"targetRefs": [{"group": GW, "kind": "Gateway", "name": "gw"}],
          "clientIPDetection": {"xForwardedFor": {"numTrustedHops": 1}},
          "timeout": {"http": {"requestReceivedTimeout": "10s", "idleTimeout": "1h"}},
          "tls": {"minVersion": "1.2", "alpnProtocols": ["h2", "http/1.1"]},
          "headers": {"withUnderscoresAction": "RejectRequest", "requestID": "PreserveOrGenerate"},
          "tcpKeepalive": {"idleTime": "20m", "interval": "60s", "probes": 3}}}),
    ));
    StackFiles {
        base: format!("tenant-{ns}"),
        docs,
        kustomization: None,
        raw: Vec::new(),
        markers: Vec::new(),
    }
}
