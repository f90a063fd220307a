//! Real upstream components in the loop: Envoy Gateway's own translator decides whether a stack
//! is accepted (`accept`), and a rehearsal runs the stack on Envoy Gateway in standalone mode
//! (file provider, host infrastructure) with the real Envoy, then proves the spec's criteria with
//! `verify` against it (`rehearse`).
//!
//! A rehearsal:
//! 1. takes the stack under ROOT/traffic/ (or generates it from the spec when there is none);
//! 2. writes, in a temporary folder, what Envoy Gateway's file provider reads: the stack's
//!    Envoy Gateway and Gateway API objects plus what lives outside the stack (`outside`): the
//!    GatewayClass, with an EnvoyProxy that pins the Envoy version to the one installed, the TLS
//!    Secrets cert-manager would issue, and one `Backend` per Service the routes use (standalone
//!    mode has no Services or EndpointSlices: the routes' Service references become references
//!    to a Backend of the same name, on a loopback stub backend that names itself; this is the
//!    one change made to the stack's objects, and the report says so);
//! 3. runs, in private namespaces (`session`), Redis, `envoy-gateway server` (which starts Envoy
//!    through func-e from a data home seeded with the installed Envoy, so nothing is downloaded),
//!    and envoyproxy/ratelimit reading the rate-limit configuration from Envoy Gateway's own
//!    rate-limit xDS server (the host infrastructure does not start it);
//! 4. runs verify and returns one row per criterion; everything started is stopped.

pub mod accept;
pub mod accept_ai;
pub mod inside;
pub mod outside;
pub mod programs;
pub mod session;
pub mod stub;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use outside::{ServiceAddress, StackObject};
use programs::Program;
use session::{InsideResult, RATELIMIT_HOST, Session, StubBackend};

#[derive(Debug, thiserror::Error)]
pub enum RehearseError {
    #[error("the spec does not parse: {0}")]
    Spec(String),
    #[error("rehearse needs programs that were not found:\n{}", .0.iter().map(|m| format!("- {m}")).collect::<Vec<_>>().join("\n"))]
    Missing(Vec<String>),
    #[error("generating the stack failed: {0}")]
    Generate(String),
    #[error(transparent)]
    Stack(#[from] outside::OutsideError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
    #[error("the rehearsal could not run: {0}")]
    Run(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RehearseError {
    let what = what.into();
    move |source| RehearseError::Io { what, source }
}

/// One criterion's verdict on the rehearsed gateway.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RehearsalRow {
    pub id: String,
    /// PASS, FAIL, UNREACHABLE, INVALID, NOT-REHEARSED (with the reason), or NEEDS-CLUSTER /
    /// NOT-TRAFFIC for criteria traffic cannot prove.
    pub status: String,
    pub summary: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub command: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Rehearsal {
    /// Whether the stack was generated from the spec (there was none under the root).
    pub generated: bool,
    pub rows: Vec<RehearsalRow>,
    /// Rows per status, e.g. {"PASS": 5, "NEEDS-CLUSTER": 1}.
    pub counts: std::collections::BTreeMap<String, usize>,
    /// What was started, in order.
    pub steps: Vec<String>,
    /// Objects supplied from outside the stack and the one rewrite made, with why.
    pub supplied: Vec<String>,
    /// Objects of the stack Envoy Gateway does not run (KEDA, cert-manager).
    pub not_rehearsed_objects: Vec<String>,
    /// The temporary folder the rehearsal ran in (removed when it returns).
    pub work: String,
}

impl Rehearsal {
    /// Any row that is not a pass and not a criterion traffic cannot prove.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(|r| {
            matches!(
                r.status.as_str(),
                "FAIL" | "UNREACHABLE" | "INVALID" | "NOT-REHEARSED"
            )
        })
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for r in &self.rows {
            s.push_str(&format!("{} {} ({})\n", r.id, r.status, r.summary));
            if !r.command.is_empty() {
                s.push_str(&format!("    run: {}\n", r.command));
            }
        }
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        s.push_str(&format!("criteria: {}\n", counts.join(", ")));
        s
    }
}

/// Arguments of the MCP tool `rehearse` (kept small: tools/list has a size budget). The
/// readiness wait is the CLI's default, 60 s.
#[derive(Debug, Clone, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RehearseParams {
    /// Spec file in the root.
    #[serde(default = "d_spec_file")]
    pub spec_file: String,
    /// Spec text instead of spec_file.
    #[serde(default)]
    pub spec: String,
}

fn d_spec_file() -> String {
    "traffic-spec.md".into()
}

/// The readiness wait of the MCP tool.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Options {
    /// The spec's Markdown.
    pub spec_text: String,
    /// The root; the stack is ROOT/traffic/.
    pub root: PathBuf,
    /// The traffic-engineer binary (it runs the inner half of the rehearsal).
    pub self_exe: PathBuf,
    /// Seconds to wait for Envoy and the rate-limit service to be ready.
    pub ready_timeout: Duration,
}

/// Stub backends listen on 127.0.0.1:STUB_BASE_PORT+i inside the private network.
const STUB_BASE_PORT: u16 = 20000;
const ENVOY_PROXY_NAME: &str = "rehearse";
const EG_NAMESPACE: &str = "envoy-gateway-system";

fn find_all(list: &[Program]) -> Result<Vec<PathBuf>, RehearseError> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for p in list {
        match programs::find(*p) {
            Ok(path) => found.push(path),
            Err(m) => missing.push(m.to_string()),
        }
    }
    for tool in ["unshare", "ip", "mount"] {
        let on_path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !on_path {
            missing.push(format!(
                "{tool} not found on PATH (rehearse runs in private Linux namespaces: util-linux and iproute2)"
            ));
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(RehearseError::Missing(missing))
    }
}

fn envoy_version(envoy: &Path) -> Result<String, RehearseError> {
    let out = Command::new(envoy)
        .arg("--version")
        .output()
        .map_err(io(format!("running {} --version", envoy.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let re =
        regex::Regex::new(r"/(\d+\.\d+\.\d+)/").map_err(|e| RehearseError::Setup(e.to_string()))?;
    re.captures(&text).map(|c| c[1].to_string()).ok_or_else(|| {
        RehearseError::Setup(format!(
            "cannot read a version from `{} --version`: {}",
            envoy.display(),
            text.trim()
        ))
    })
}

/// Rewrite a route's Service backendRefs to Backend refs of the same name.
fn to_backend_refs(route: &mut Value) {
    let Some(rules) = route["spec"]["rules"].as_array_mut() else {
        return;
    };
    for rule in rules {
        let Some(refs) = rule["backendRefs"].as_array_mut() else {
            continue;
        };
        for b in refs {
            let group = b["group"].as_str().unwrap_or("");
            let kind = b["kind"].as_str().unwrap_or("Service");
            if group.is_empty()
                && kind == "Service"
                && let Some(o) = b.as_object_mut()
            {
                o.insert("group".into(), json!("gateway.envoyproxy.io"));
                o.insert("kind".into(), json!("Backend"));
                o.remove("port");
            }
        }
    }
}

fn uses_global_rate_limit(objects: &[StackObject]) -> bool {
    objects.iter().any(|o| {
        o.kind() == "BackendTrafficPolicy"
            && (o.value["spec"]["rateLimit"]["global"].is_object()
                || o.value["spec"]["rateLimit"]["type"] == "Global")
    })
}

/// Rehearse the spec's stack on Envoy Gateway + Envoy and verify it.
pub fn rehearse(opts: &Options) -> Result<Rehearsal, RehearseError> {
    let parsed = crate::spec::parse(&opts.spec_text)
        .map_err(|e| RehearseError::Spec(format!("{e:?}")))?
        .spec;
    let paths = find_all(&[
        programs::ENVOY_GATEWAY,
        programs::ENVOY,
        programs::RATELIMIT,
        programs::REDIS_SERVER,
    ])?;
    let (eg, envoy, ratelimit, redis) = (&paths[0], &paths[1], &paths[2], &paths[3]);

    // The stack: taken as it is, or generated when there is none.
    let stack = crate::workspace::Stack::new(&opts.root);
    let has_stack = stack
        .manifest_files()
        .map(|f| !f.is_empty())
        .unwrap_or(false);
    if !has_stack {
        crate::spec::generate(&parsed, &stack)
            .map_err(|(_, e)| RehearseError::Generate(e.to_string()))?;
    }
    let objects = outside::read_stack(stack.dir())?;
    let extra = outside::outside_objects(&objects, stack.dir(), ServiceAddress::Dummy)?;

    let work = tempfile::Builder::new()
        .prefix("traffic-engineer-rehearse-")
        .tempdir()
        .map_err(io("creating the temporary folder"))?;
    let w = work.path().to_path_buf();
    // TRAFFIC_ENGINEER_REHEARSE_KEEP=1 keeps the folder (logs of every program) for a post-mortem.
    let _work = if std::env::var_os("TRAFFIC_ENGINEER_REHEARSE_KEEP").is_some_and(|v| !v.is_empty())
    {
        tracing::info!(folder = %w.display(), "rehearse: keeping the temporary folder");
        let _ = work.keep();
        None
    } else {
        Some(work)
    };
    let resources = w.join("resources");
    let config_home = w.join("config");
    let data_home = w.join("data");
    for d in [
        &resources,
        &config_home,
        &data_home,
        &w.join("state"),
        &w.join("run"),
    ] {
        std::fs::create_dir_all(d).map_err(io(format!("creating {}", d.display())))?;
    }

    // What Envoy Gateway's file provider reads.
    let mut supplied = Vec::new();
    let mut docs: Vec<Value> = Vec::new();
    for o in objects.iter().filter(|o| o.translated()) {
        let mut v = o.value.clone();
        if o.kind().ends_with("Route") {
            to_backend_refs(&mut v);
        }
        docs.push(v);
    }
    let version = envoy_version(envoy)?;
    for v in &extra.objects {
        match v["kind"].as_str() {
            Some("Service") => {} // replaced by Backends below
            Some("GatewayClass") => {
                let mut gc = v.clone();
                gc["spec"]["parametersRef"] = json!({
                    "group": "gateway.envoyproxy.io", "kind": "EnvoyProxy",
                    "name": ENVOY_PROXY_NAME, "namespace": EG_NAMESPACE,
                });
                docs.push(gc);
            }
            _ => docs.push(v.clone()),
        }
    }
    supplied.extend(
        extra
            .supplied
            .iter()
            .filter(|s| !s.starts_with("Service "))
            .cloned(),
    );
    docs.push(json!({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyProxy",
        "metadata": {"name": ENVOY_PROXY_NAME, "namespace": EG_NAMESPACE},
        "spec": {"provider": {"type": "Host", "host": {"envoyVersion": version}}},
    }));
    supplied.push(format!(
        "EnvoyProxy {EG_NAMESPACE}/{ENVOY_PROXY_NAME} (host provider, envoyVersion {version}): the Envoy installed here, referenced by the GatewayClass"
    ));
    // Envoy Gateway suppresses Envoy's x-envoy-* response headers unless a ClientTrafficPolicy
    // enables them (xds/filters/wellknown.go: SuppressEnvoyHeaders), and verify tells a
    // circuit-breaker overflow (503 + x-envoy-overloaded) from any other 503 by that header.
    if let Some(gw) = objects.iter().find(|o| o.kind() == "Gateway")
        && !objects.iter().any(|o| o.kind() == "ClientTrafficPolicy")
    {
        docs.push(json!({
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "ClientTrafficPolicy",
            "metadata": {"name": "rehearse-envoy-headers", "namespace": gw.namespace()},
            "spec": {
                "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gw.name()}],
                "headers": {"enableEnvoyHeaders": true},
            },
        }));
        supplied.push(format!(
            "ClientTrafficPolicy {}/rehearse-envoy-headers (headers.enableEnvoyHeaders on Gateway {}): Envoy Gateway hides x-envoy-overloaded by default, and verify needs it to tell a circuit-breaker overflow from another 503",
            gw.namespace(),
            gw.name()
        ));
    }
    let mut backends = Vec::new();
    for (i, key) in extra.services.keys().enumerate() {
        let port = STUB_BASE_PORT + u16::try_from(i).unwrap_or(0);
        docs.push(json!({
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "Backend",
            "metadata": {"name": key.name, "namespace": key.namespace},
            "spec": {"endpoints": [{"ip": {"address": "127.0.0.1", "port": port}}]},
        }));
        backends.push(StubBackend {
            name: key.name.clone(),
            port,
        });
        supplied.push(format!(
            "Backend {}/{} (127.0.0.1:{port}, a stub naming itself {}): stands for the Service; the routes' references to Service {} are rewritten to it (standalone mode has no Services)",
            key.namespace, key.name, key.name, key.name
        ));
    }
    let mut text = String::new();
    for d in &docs {
        text.push_str("---\n");
        text.push_str(&d.to_string());
        text.push('\n');
    }
    std::fs::write(resources.join("stack.yaml"), text).map_err(io("writing the resources"))?;

    // Listeners of the (first) Gateway.
    let gateway = objects
        .iter()
        .find(|o| o.kind() == "Gateway")
        .ok_or_else(|| RehearseError::Setup("no Gateway in the stack".into()))?;
    let mut http_url = None;
    let mut https_url = None;
    for l in gateway.value["spec"]["listeners"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let port = l["port"].as_u64().unwrap_or(0);
        match l["protocol"].as_str() {
            Some("HTTP") if http_url.is_none() => {
                http_url = Some(format!("http://127.0.0.1:{port}"))
            }
            Some("HTTPS") if https_url.is_none() => {
                https_url = Some(format!("https://127.0.0.1:{port}"))
            }
            _ => {}
        }
    }
    let host = parsed
        .gateway
        .hostnames
        .first()
        .cloned()
        .unwrap_or_else(|| "localhost".into());
    let ca_pem = extra.stand_in_certs.first().map(|(_, pem)| pem.clone());

    // Certificates every Envoy Gateway runner uses.
    let out = Command::new(eg)
        .args(["certgen", "--local", "--config-home"])
        .arg(&config_home)
        .env("HOME", &w)
        .output()
        .map_err(io(format!("running {} certgen", eg.display())))?;
    if !out.status.success() {
        return Err(RehearseError::Setup(format!(
            "envoy-gateway certgen --local failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }

    // func-e's data home with the installed Envoy at the version the EnvoyProxy names
    // (func-e v1.6.0 internal/envoy/install.go: <data home>/envoy-versions/<version>/bin/envoy).
    let bin = data_home.join("envoy-versions").join(&version).join("bin");
    std::fs::create_dir_all(&bin).map_err(io("seeding func-e's data home"))?;
    std::os::unix::fs::symlink(envoy, bin.join("envoy"))
        .map_err(io("seeding func-e's data home"))?;

    let global_rate_limit = uses_global_rate_limit(&objects);
    let eg_config = w.join("envoy-gateway.yaml");
    let mut cfg = json!({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyGateway",
        "gateway": {"controllerName": outside::EG_CONTROLLER},
        "provider": {"type": "Custom", "custom": {
            "resource": {"type": "File", "file": {"paths": [resources]}},
            "infrastructure": {"type": "Host", "host": {
                "configHome": config_home, "dataHome": data_home,
                "stateHome": w.join("state"), "runtimeDir": w.join("run"),
            }},
        }},
        "logging": {"level": {"default": "info"}},
        "extensionApis": {"enableBackend": true},
    });
    if global_rate_limit {
        // failClosed: a rate-limit call that fails (or exceeds the timeout; Envoy's default is
        // 20 ms, short on a busy machine) answers with an error instead of letting the request
        // through, so a rate limit that did not work shows in verify's counts, never a pass.
        cfg["rateLimit"] = json!({
            "backend": {"type": "Redis", "redis": {"url": session::REDIS_URL}},
            "timeout": "2s",
            "failClosed": true,
        });
    }
    std::fs::write(&eg_config, cfg.to_string())
        .map_err(io("writing the EnvoyGateway configuration"))?;

    let hosts = w.join("hosts");
    std::fs::write(
        &hosts,
        format!("127.0.0.1 localhost envoy-gateway {RATELIMIT_HOST}\n"),
    )
    .map_err(io("writing the hosts file"))?;

    let session = Session {
        work: w.clone(),
        envoy_gateway: eg.clone(),
        ratelimit: ratelimit.clone(),
        redis_server: redis.clone(),
        eg_config,
        certs: config_home.join("certs"),
        hosts,
        backends,
        spec_text: opts.spec_text.clone(),
        http_url,
        https_url,
        host,
        ca_pem,
        global_rate_limit,
        ready_timeout_secs: opts.ready_timeout.as_secs().max(1),
    };
    let session_file = w.join("session.json");
    std::fs::write(
        &session_file,
        serde_json::to_vec(&session).map_err(|e| RehearseError::Setup(e.to_string()))?,
    )
    .map_err(io("writing the session"))?;

    // The inner half, in private user, network, mount and PID namespaces; --kill-child: if
    // unshare dies, its child does, and with it (PID namespace) everything the child started.
    let mut child = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--net",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--",
        ])
        .arg(&opts.self_exe)
        .arg("rehearse-inside")
        .arg(&session_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io("starting the rehearsal (unshare)"))?;
    // Verify bounds every check (30 s deadline each); the whole run gets the checks, the
    // readiness wait and a margin.
    let limit = opts.ready_timeout + Duration::from_secs(240);
    let started = Instant::now();
    let status = loop {
        match child.try_wait().map_err(io("waiting for the rehearsal"))? {
            Some(st) => break st,
            None if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RehearseError::Run(format!(
                    "it did not finish within {} s and was stopped",
                    limit.as_secs()
                )));
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    let result: InsideResult = match std::fs::read(w.join("result.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| RehearseError::Run(format!("unreadable result: {e}")))?,
        Err(_) => {
            return Err(RehearseError::Run(format!(
                "the inner process ended ({status}) without a result: {}",
                stderr.trim()
            )));
        }
    };
    if let Some(e) = result.error {
        return Err(RehearseError::Run(e));
    }
    let rows: Vec<RehearsalRow> = result
        .rows
        .into_iter()
        .map(|r| RehearsalRow {
            id: r.id,
            status: r.status,
            summary: r.summary,
            command: r.command,
        })
        .collect();
    let mut counts = std::collections::BTreeMap::new();
    for r in &rows {
        *counts.entry(r.status.clone()).or_insert(0) += 1;
    }
    Ok(Rehearsal {
        generated: !has_stack,
        rows,
        counts,
        steps: result.steps,
        supplied,
        not_rehearsed_objects: objects
            .iter()
            .filter(|o| !o.translated())
            .map(|o| {
                format!(
                    "{} ({}): not an Envoy Gateway object; needs a cluster",
                    o.display(),
                    o.file
                )
            })
            .collect(),
        work: w.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_refs_become_backend_refs_and_others_stay() {
        let mut route = json!({"spec": {"rules": [{"backendRefs": [
            {"group": "", "kind": "Service", "name": "a", "port": 8000, "weight": 90},
            {"name": "b", "port": 8000},
            {"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "c"},
        ]}]}});
        to_backend_refs(&mut route);
        let refs = &route["spec"]["rules"][0]["backendRefs"];
        assert_eq!(
            refs[0],
            json!({"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "a", "weight": 90})
        );
        assert_eq!(
            refs[1],
            json!({"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "b"})
        );
        assert_eq!(
            refs[2],
            json!({"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "c"})
        );
    }

    #[test]
    fn a_global_rate_limit_is_detected() {
        let btp = |spec: Value| StackObject {
            file: "p.yaml".into(),
            value: json!({"kind": "BackendTrafficPolicy", "spec": spec}),
        };
        assert!(uses_global_rate_limit(&[btp(
            json!({"rateLimit": {"global": {"rules": []}}})
        )]));
        assert!(!uses_global_rate_limit(&[btp(
            json!({"rateLimit": {"local": {"rules": []}}})
        )]));
        assert!(!uses_global_rate_limit(&[btp(
            json!({"circuitBreaker": {}})
        )]));
    }
}
