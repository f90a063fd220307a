//! The Envoy Gateway configuration kept in the stack: the ConfigMap `envoy-gateway-config`
//! whose key `envoy-gateway.yaml` holds an EnvoyGateway object, against what the stack uses.
//!
//! Sources (Envoy Gateway v1.9.0):
//! - `internal/envoygateway/config/decoder.go` `DecodeBytes`: apimachinery's
//!   UniversalDeserializer, not strict: a key the types do not declare is dropped silently
//!   (`api/v1alpha1/envoygateway_types.go` declares them); any other apiVersion/kind fails
//!   ("failed to decode unmatched resource type") and Envoy Gateway does not start.
//!   `egconfig/decode` (error): not YAML, or not an EnvoyGateway of gateway.envoyproxy.io/v1alpha1.
//!   `egconfig/unknown-key` (warning): a key Envoy Gateway drops (a typo), at the levels this
//!   layer reads (top level, gateway, logging, admin, provider, telemetry, xdsServer,
//!   rateLimit and its backend and redis, extensionApis, gatewayAPI, runtimeFlags).
//! - `api/v1alpha1/validation/envoygateway_validate.go` `validateEnvoyGatewayRateLimit`:
//!   `egconfig/rate-limit-backend` (error): rateLimit without backend type Redis, without
//!   redis settings, or without exactly one of redis url and urlRef: Envoy Gateway does not
//!   start.
//! - `internal/gatewayapi/runner/runner.go` (`GlobalRateLimitEnabled: RateLimit != nil`) and
//!   `internal/gatewayapi/backendtrafficpolicy.go` `buildGlobalRateLimit` ("enable Ratelimit in
//!   the EnvoyGateway config to configure global rateLimit"): `ratelimit/global-needs-redis`:
//!   an error on the configuration, naming the policies, when it has no rateLimit and the
//!   stack holds policies with global rate limits (they are not Accepted); without the
//!   configuration in the stack, one info for the whole stack on the first such policy.
//! - `internal/provider/kubernetes/controller.go` (Backends are not watched unless
//!   `extensionApis.enableBackend`) and `internal/gatewayapi/validate.go` ("Backend is disabled
//!   in Envoy Gateway configuration"): `egconfig/backend-disabled` (error): the stack holds
//!   Backend objects and the configuration does not enable the Backend API.

use serde_json::Value;

use super::facts::{Fact, FactBuf};

use super::{Finding, Index, group_of, kind, name, ns, s};

const CONFIG_NAME: &str = "envoy-gateway-config";
const CONFIG_KEY: &str = "envoy-gateway.yaml";
const PATH: &str = "/data/envoy-gateway.yaml";

/// The keys Envoy Gateway v1.9.0 declares at each level this layer reads
/// (`api/v1alpha1/envoygateway_types.go`).
const KNOWN: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "apiVersion",
            "kind",
            "metadata",
            "gateway",
            "provider",
            "logging",
            "admin",
            "telemetry",
            "xdsServer",
            "rateLimit",
            "extensionManager",
            "extensionManagers",
            "extensionApis",
            "gatewayAPI",
            "runtimeFlags",
            "envoyProxy",
        ],
    ),
    ("gateway", &["controllerName"]),
    ("logging", &["level", "encoder"]),
    ("admin", &["address", "enableDumpConfig", "enablePprof"]),
    ("provider", &["type", "kubernetes", "custom"]),
    ("telemetry", &["metrics", "traces"]),
    (
        "xdsServer",
        &[
            "maxConnectionAge",
            "maxConnectionAgeGrace",
            "maxReceiveMessageSize",
        ],
    ),
    (
        "rateLimit",
        &["backend", "timeout", "failClosed", "telemetry"],
    ),
    ("rateLimit.backend", &["type", "redis"]),
    ("rateLimit.backend.redis", &["url", "urlRef", "tls"]),
    (
        "extensionApis",
        &[
            "enableEnvoyPatchPolicy",
            "enableBackend",
            "disableLua",
            "enableLua",
            "enableSDSSecretRef",
        ],
    ),
    ("gatewayAPI", &["enabled"]),
    ("runtimeFlags", &["enabled", "disabled"]),
];

/// The EnvoyGateway text of a ConfigMap, when it is Envoy Gateway's configuration.
fn config_text(v: &Fact) -> Option<&str> {
    (kind(v) == "ConfigMap" && group_of(v).is_empty() && name(v) == CONFIG_NAME)
        .then(|| v["data"][CONFIG_KEY].as_str())
        .flatten()
}

/// The EnvoyGateway object of a configuration text, or why Envoy Gateway cannot decode it.
fn decode(text: &str) -> Result<FactBuf, String> {
    let doc = crate::yaml::parse_values(text)
        .map_err(|e| format!("{CONFIG_KEY} is not valid YAML: {e}"))?
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    let doc = FactBuf::from_json(&doc);
    if s(&doc, "apiVersion") != "gateway.envoyproxy.io/v1alpha1"
        || s(&doc, "kind") != "EnvoyGateway"
    {
        return Err(format!(
            "{CONFIG_KEY} must hold apiVersion: gateway.envoyproxy.io/v1alpha1, kind: EnvoyGateway (it has {:?}, {:?}); Envoy Gateway fails to start (\"failed to decode unmatched resource type\")",
            s(&doc, "apiVersion"),
            s(&doc, "kind")
        ));
    }
    Ok(doc)
}

/// What is wrong with rateLimit, as `validateEnvoyGatewayRateLimit` sees it.
fn rate_limit_problem(rl: &Fact) -> Option<&'static str> {
    let backend = &rl["backend"];
    if s(backend, "type") != "Redis" {
        return Some("rateLimit.backend.type must be Redis (\"unsupported ratelimit backend\")");
    }
    let redis = &backend["redis"];
    if !redis.is_object() {
        return Some("rateLimit.backend.redis is missing (\"empty ratelimit redis settings\")");
    }
    let has_url = !s(redis, "url").is_empty();
    let has_ref = redis.get("urlRef").is_some_and(|r| !r.is_null());
    if has_url == has_ref {
        return Some("rateLimit.backend.redis needs exactly one of url and urlRef");
    }
    None
}

/// For the generators: Some(whether the rate-limit backend is configured) when `v` is Envoy
/// Gateway's configuration ConfigMap, None for any other object.
pub fn rate_limit_backend_configured(v: &Value) -> Option<bool> {
    let config =
        v["kind"] == "ConfigMap" && v["apiVersion"] == "v1" && v["metadata"]["name"] == CONFIG_NAME;
    let text = v["data"][CONFIG_KEY].as_str().filter(|_| config)?;
    Some(decode(text).ok().is_some_and(|eg| {
        eg["rateLimit"].is_object() && rate_limit_problem(&eg["rateLimit"]).is_none()
    }))
}

fn unknown_keys(eg: &Fact, out: &mut Vec<String>) {
    for (path, keys) in KNOWN {
        let mut v = eg;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            v = &v[part];
        }
        for k in v.as_object().into_iter().flat_map(|m| m.keys()) {
            if !keys.contains(&k) {
                out.push(if path.is_empty() {
                    k.to_string()
                } else {
                    format!("{path}.{k}")
                });
            }
        }
    }
}

/// The policies with global rate limits: (index, namespace/name).
fn global_policies(idx: &Index) -> Vec<(usize, String)> {
    idx.of_kind("BackendTrafficPolicy")
        .filter(|(_, p)| {
            group_of(p) == "gateway.envoyproxy.io" && p["spec"]["rateLimit"]["global"].is_object()
        })
        .map(|(i, p)| (i, format!("{}/{}", ns(p), name(p))))
        .collect()
}

fn listed(v: &[String]) -> String {
    let mut shown: Vec<&str> = v.iter().take(10).map(String::as_str).collect();
    if v.len() > 10 {
        shown.push("...");
    }
    shown.join(", ")
}

pub(super) fn check(idx: &Index, out: &mut Vec<(usize, Finding)>) {
    let globals = global_policies(idx);
    let global_names: Vec<String> = globals.iter().map(|(_, n)| n.clone()).collect();
    let backends: Vec<String> = idx
        .of_kind("Backend")
        .filter(|(_, b)| group_of(b) == "gateway.envoyproxy.io")
        .map(|(_, b)| format!("{}/{}", ns(b), name(b)))
        .collect();
    let mut configs = 0;
    for (i, o) in idx.objs.iter().enumerate() {
        let Some(text) = config_text(o) else {
            continue;
        };
        configs += 1;
        let eg = match decode(text) {
            Ok(eg) => eg,
            Err(why) => {
                out.push((
                    i,
                    Finding::error(
                        "egconfig/decode",
                        PATH,
                        why,
                        "write an EnvoyGateway object (apiVersion: gateway.envoyproxy.io/v1alpha1, kind: EnvoyGateway) under this key",
                    ),
                ));
                continue;
            }
        };
        let mut unknown = Vec::new();
        unknown_keys(&eg, &mut unknown);
        for k in unknown {
            out.push((
                i,
                Finding::warning(
                    "egconfig/unknown-key",
                    PATH,
                    format!("Envoy Gateway drops the unknown key {k} of its configuration silently"),
                    "fix the spelling (keys are case-sensitive); see api/v1alpha1/envoygateway_types.go of Envoy Gateway v1.9.0",
                ),
            ));
        }
        let rl = &eg["rateLimit"];
        if rl.is_object() {
            if let Some(p) = rate_limit_problem(rl) {
                out.push((
                    i,
                    Finding::error(
                        "egconfig/rate-limit-backend",
                        PATH,
                        format!("{p}: Envoy Gateway refuses this configuration and does not start"),
                        "rateLimit: {backend: {type: Redis, redis: {url: <host:6379>}}}",
                    ),
                ));
            }
        } else if !globals.is_empty() {
            out.push((
                i,
                Finding::error(
                    "ratelimit/global-needs-redis",
                    PATH,
                    format!(
                        "this Envoy Gateway configuration has no rateLimit backend, so the global rate limits of {} are not Accepted (\"enable Ratelimit in the EnvoyGateway config\")",
                        listed(&global_names)
                    ),
                    "add rateLimit: {backend: {type: Redis, redis: {url: <host:6379>}}} to envoy-gateway.yaml",
                ),
            ));
        }
        let enabled = eg["extensionApis"]["enableBackend"].as_bool() == Some(true);
        if !backends.is_empty() && !enabled {
            out.push((
                i,
                Finding::error(
                    "egconfig/backend-disabled",
                    PATH,
                    format!(
                        "the stack holds Backend objects ({}) but this configuration does not enable the Backend API: Envoy Gateway ignores them and routes to them do not resolve",
                        listed(&backends)
                    ),
                    "set extensionApis: {enableBackend: true}",
                ),
            ));
        }
    }
    if configs == 0
        && let Some((first, _)) = globals.first()
    {
        out.push((
            *first,
            Finding::info(
                "ratelimit/global-needs-redis",
                "/spec/rateLimit/global",
                format!(
                    "global rate limits ({}) need Envoy Gateway's rate-limit service with a Redis backend (EnvoyGateway config rateLimit.backend); the documents do not hold Envoy Gateway's configuration, so this was not checked",
                    listed(&global_names)
                ),
                "make sure the cluster's Envoy Gateway has it: helm --set config.envoyGateway.rateLimit.backend.type=Redis --set config.envoyGateway.rateLimit.backend.redis.url=<host:6379>",
            ),
        ));
    }
}
