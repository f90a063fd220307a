//! The objects a stack needs that live OUTSIDE it: Envoy Gateway's translator (and a running
//! Envoy Gateway) cannot accept a route to a Service nobody declared, a Gateway of a class nobody
//! defined, or an HTTPS listener whose Secret cert-manager has not issued yet. In a cluster these
//! come from the application (Services), the Envoy Gateway install (the GatewayClass) and
//! cert-manager (the Secret); here they are made up, and every made-up object is listed so that
//! a report can say what was supplied.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

/// The controller name Envoy Gateway answers for (api/v1alpha1: GatewayControllerName).
pub const EG_CONTROLLER: &str = "gateway.envoyproxy.io/gatewayclass-controller";

/// Kinds Envoy Gateway v1.9.0's resource loader reads (internal/gatewayapi/resource/load.go);
/// it refuses a kind its scheme does not know (KEDA, cert-manager), so only these are sent.
const TRANSLATED: &[(&str, &str)] = &[
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "HTTPRoute"),
    ("gateway.networking.k8s.io", "GRPCRoute"),
    ("gateway.networking.k8s.io", "TLSRoute"),
    ("gateway.networking.k8s.io", "TCPRoute"),
    ("gateway.networking.k8s.io", "UDPRoute"),
    ("gateway.networking.k8s.io", "ReferenceGrant"),
    ("gateway.networking.k8s.io", "BackendTLSPolicy"),
    ("gateway.envoyproxy.io", "EnvoyProxy"),
    ("gateway.envoyproxy.io", "EnvoyPatchPolicy"),
    ("gateway.envoyproxy.io", "ClientTrafficPolicy"),
    ("gateway.envoyproxy.io", "BackendTrafficPolicy"),
    ("gateway.envoyproxy.io", "SecurityPolicy"),
    ("gateway.envoyproxy.io", "HTTPRouteFilter"),
    ("gateway.envoyproxy.io", "Backend"),
    ("gateway.envoyproxy.io", "EnvoyExtensionPolicy"),
    ("", "Namespace"),
    ("", "Service"),
    ("", "Secret"),
    ("", "ConfigMap"),
];

#[derive(Debug, thiserror::Error)]
pub enum OutsideError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {source}")]
    Yaml {
        file: String,
        source: crate::yaml::YamlError,
    },
    #[error("no Gateway in {0}: nothing to translate")]
    NoGateway(PathBuf),
    #[error("cannot make a stand-in certificate for Secret {secret}: {message}")]
    Cert { secret: String, message: String },
}

/// One object of the stack, as read from its file.
#[derive(Debug, Clone)]
pub struct StackObject {
    pub file: String,
    pub value: Value,
}

impl StackObject {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }
    pub fn group(&self) -> &str {
        group_of(self.value["apiVersion"].as_str().unwrap_or(""))
    }
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }
    pub fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"].as_str().unwrap_or("")
    }
    /// `Kind namespace/name` (or `Kind name` for cluster-scoped objects).
    pub fn display(&self) -> String {
        display(self.kind(), self.namespace(), self.name())
    }
    pub fn translated(&self) -> bool {
        TRANSLATED
            .iter()
            .any(|(g, k)| *g == self.group() && *k == self.kind())
    }
}

pub fn display(kind: &str, ns: &str, name: &str) -> String {
    if ns.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {ns}/{name}")
    }
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// Every object of every `*.yaml`/`*.yml` file in `dir` except `kustomization.yaml`, files in
/// name order. The YAML is read the way the API server reads it (crate::yaml, YAML 1.1 scalars).
pub fn read_stack(dir: &Path) -> Result<Vec<StackObject>, OutsideError> {
    let read_err = |source| OutsideError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|f| {
            (f.ends_with(".yaml") || f.ends_with(".yml"))
                && f != "kustomization.yaml"
                && f != "kustomization.yml"
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let path = dir.join(&file);
        let text = std::fs::read_to_string(&path).map_err(|source| OutsideError::Read {
            path: path.clone(),
            source,
        })?;
        let docs = crate::yaml::parse_documents(&text).map_err(|source| OutsideError::Yaml {
            file: file.clone(),
            source,
        })?;
        for d in docs {
            if d.value.is_object() {
                out.push(StackObject {
                    file: file.clone(),
                    value: d.value,
                });
            }
        }
    }
    Ok(out)
}

/// A Service a route points at, with the ports it is reached on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

/// What the stack needs from outside, made up.
#[derive(Debug, Default)]
pub struct Outside {
    /// The made-up objects (JSON), ready to be sent with the stack.
    pub objects: Vec<Value>,
    /// One line per made-up object: what it is and why.
    pub supplied: Vec<String>,
    /// Services the routes point at, with their ports (in the order of first use).
    pub services: BTreeMap<ServiceKey, Vec<u16>>,
    /// Certificates made for listeners whose Secret is not in the stack: (secret, cert PEM).
    /// The key went into the Secret object only.
    pub stand_in_certs: Vec<(String, String)>,
}

/// How the made-up Services are addressed.
pub enum ServiceAddress<'a> {
    /// A ClusterIP the translator routes to (it never connects): egctl x translate.
    Dummy,
    /// A real address per Service (a rehearsal's loopback backends).
    Given(&'a dyn Fn(&ServiceKey) -> String),
}

/// Make the GatewayClass, Services and TLS Secrets the stack's objects refer to and do not
/// contain. `dir` is the stack folder (for a local certificate's `<secret>.crt`/`.key`, which
/// kustomize's secretGenerator turns into the Secret).
pub fn outside_objects(
    objects: &[StackObject],
    dir: &Path,
    address: ServiceAddress<'_>,
) -> Result<Outside, OutsideError> {
    let mut out = Outside::default();
    let has = |kind: &str, ns: &str, name: &str| {
        objects
            .iter()
            .any(|o| o.kind() == kind && o.name() == name && (ns.is_empty() || o.namespace() == ns))
    };

    // GatewayClass: the one Envoy Gateway's install defines (helm chart quickstart: `eg`).
    let gateways: Vec<&StackObject> = objects
        .iter()
        .filter(|o| o.kind() == "Gateway" && o.group() == "gateway.networking.k8s.io")
        .collect();
    if gateways.is_empty() {
        return Err(OutsideError::NoGateway(dir.to_path_buf()));
    }
    let class = gateways[0].value["spec"]["gatewayClassName"]
        .as_str()
        .unwrap_or("eg")
        .to_string();
    if !has("GatewayClass", "", &class) {
        out.objects.push(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": class},
            "spec": {"controllerName": EG_CONTROLLER},
        }));
        out.supplied.push(format!(
            "GatewayClass {class} (controllerName {EG_CONTROLLER}): made by the Envoy Gateway install, not part of the stack"
        ));
    }

    // Services the routes point at (backendRefs of kind Service, the default).
    for o in objects.iter().filter(|o| o.kind().ends_with("Route")) {
        let route_ns = o.namespace().to_string();
        let Some(rules) = o.value["spec"]["rules"].as_array() else {
            continue;
        };
        for rule in rules {
            for b in rule["backendRefs"].as_array().into_iter().flatten() {
                let group = b["group"].as_str().unwrap_or("");
                let kind = b["kind"].as_str().unwrap_or("Service");
                if !group.is_empty() || kind != "Service" {
                    continue;
                }
                let Some(name) = b["name"].as_str() else {
                    continue;
                };
                let ns = b["namespace"].as_str().unwrap_or(&route_ns).to_string();
                if has("Service", &ns, name) {
                    continue;
                }
                let ports = out
                    .services
                    .entry(ServiceKey {
                        namespace: ns,
                        name: name.to_string(),
                    })
                    .or_default();
                if let Some(p) = b["port"].as_u64().and_then(|p| u16::try_from(p).ok())
                    && !ports.contains(&p)
                {
                    ports.push(p);
                }
            }
        }
    }
    let mut dummy = 0u32;
    for (key, ports) in &out.services {
        dummy += 1;
        let ip = match &address {
            ServiceAddress::Dummy => format!("10.96.{}.{}", dummy / 250, 10 + dummy % 250),
            ServiceAddress::Given(f) => f(key),
        };
        let ports: Vec<Value> = ports
            .iter()
            .map(|p| json!({"name": format!("tcp-{p}"), "port": p, "protocol": "TCP", "targetPort": p}))
            .collect();
        out.objects.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": key.name, "namespace": key.namespace},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "ports": ports},
        }));
        out.supplied.push(format!(
            "Service {}/{} ({ip}): the application's, which a route points at",
            key.namespace, key.name
        ));
    }

    // TLS Secrets of the listeners: a local certificate of the stack (what its kustomize
    // secretGenerator makes), else a self-signed stand-in for what cert-manager would issue.
    for gw in &gateways {
        let gw_ns = gw.namespace().to_string();
        for l in gw.value["spec"]["listeners"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for r in l["tls"]["certificateRefs"].as_array().into_iter().flatten() {
                let kind = r["kind"].as_str().unwrap_or("Secret");
                let group = r["group"].as_str().unwrap_or("");
                if kind != "Secret" || !group.is_empty() {
                    continue;
                }
                let Some(name) = r["name"].as_str() else {
                    continue;
                };
                let ns = r["namespace"].as_str().unwrap_or(&gw_ns).to_string();
                if has("Secret", &ns, name)
                    || out.objects.iter().any(|o| {
                        o["kind"] == "Secret"
                            && o["metadata"]["name"] == name
                            && o["metadata"]["namespace"] == ns.as_str()
                    })
                {
                    continue;
                }
                let (crt, key) = crate::generate::tls::local_files(name);
                let (cert_pem, key_pem, why) = match (
                    std::fs::read_to_string(dir.join(&crt)),
                    std::fs::read_to_string(dir.join(&key)),
                ) {
                    (Ok(c), Ok(k)) => (
                        c,
                        k,
                        format!("from the stack's {crt} and {key} (its kustomize secretGenerator)"),
                    ),
                    _ => {
                        let mut hosts: Vec<String> = gw.value["spec"]["listeners"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|l| l["hostname"].as_str())
                            .map(|h| h.trim_start_matches("*.").to_string())
                            .collect();
                        hosts.dedup();
                        if hosts.is_empty() {
                            hosts.push("localhost".into());
                        }
                        // An end-entity certificate that clients trust as its own anchor
                        // (rustls refuses a CA certificate presented as the server's).
                        let c = rcgen::generate_simple_self_signed(hosts.clone()).map_err(|e| {
                            OutsideError::Cert {
                                secret: name.to_string(),
                                message: e.to_string(),
                            }
                        })?;
                        (
                            c.cert.pem(),
                            c.signing_key.serialize_pem(),
                            format!(
                                "a self-signed stand-in for {} (what cert-manager issues in a cluster)",
                                hosts.join(", ")
                            ),
                        )
                    }
                };
                let b64 = base64::engine::general_purpose::STANDARD;
                out.objects.push(json!({
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": name, "namespace": ns},
                    "type": "kubernetes.io/tls",
                    "data": {"tls.crt": b64.encode(&cert_pem), "tls.key": b64.encode(&key_pem)},
                }));
                out.supplied.push(format!("Secret {ns}/{name}: {why}"));
                out.stand_in_certs.push((name.to_string(), cert_pem));
            }
        }
    }
    // API-key Secrets a SecurityPolicy reads (client id -> key): the user's, never in the stack
    for o in objects.iter().filter(|o| o.kind() == "SecurityPolicy") {
        let ns = o.namespace().to_string();
        let refs = o.value["spec"]["apiKeyAuth"]["credentialRefs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for r in refs {
            let name = r["name"].as_str().unwrap_or("").to_string();
            let supplied = out.objects.iter().any(|x| {
                x["kind"] == "Secret"
                    && x["metadata"]["name"] == name.as_str()
                    && x["metadata"]["namespace"] == ns.as_str()
            });
            if name.is_empty() || has("Secret", &ns, &name) || supplied {
                continue;
            }
            let b64 = base64::engine::general_purpose::STANDARD;
            out.objects.push(json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": ns},
                "type": "Opaque",
                "data": {"client-a": b64.encode("stand-in-api-key-a")},
            }));
            out.supplied.push(format!(
                "Secret {ns}/{name}: the API keys the user keeps (client id -> key); a stand-in with one client"
            ));
        }
    }
    Ok(out)
}
