//! One-defect mutations of valid stacks, by class. Each mutation changes ONE object (or adds
//! one) and returns the label of the object it changed (`Kind ns/name`), or None when the stack
//! has nothing it applies to. The defects are the ones people make by hand: typos, wrong
//! ports and sections, objects in the wrong namespace, missing or wrong ReferenceGrants, two
//! policies on one target, non-RE2 regexes, wrong protocols and units, out-of-range limits, TLS
//! mix-ups, scaling mistakes, YAML 1.1 booleans in string fields, schema and CEL violations,
//! and defects in built-in kinds.

use serde_json::{Value, json};

use super::stacks::{Doc, Rng, StackFiles};

pub type Mutate = fn(&mut StackFiles, &mut Rng) -> Option<String>;

pub struct Mutation {
    pub class: &'static str,
    pub name: &'static str,
    pub apply: Mutate,
}

// --------------------------------------------------------------------------------------------
// helpers
// --------------------------------------------------------------------------------------------

fn find(s: &mut StackFiles, f: impl Fn(&Doc) -> bool) -> Option<&mut Doc> {
    s.docs.iter_mut().find(|d| f(d))
}

fn kind<'a>(s: &'a mut StackFiles, k: &str) -> Option<&'a mut Doc> {
    find(s, |d| d.kind() == k)
}

/// The first HTTPRoute with a backendRef.
fn route_with_backend(s: &mut StackFiles) -> Option<&mut Doc> {
    find(s, |d| {
        d.kind() == "HTTPRoute" && d.v.pointer("/spec/rules/0/backendRefs/0").is_some()
    })
}

/// Set the value at a JSON pointer whose parent exists; None when it does not.
fn set(d: &mut Doc, ptr: &str, val: Value) -> Option<String> {
    let (parent, last) = ptr.rsplit_once('/')?;
    match d.v.pointer_mut(parent)? {
        Value::Object(m) => {
            m.insert(last.to_string(), val);
        }
        Value::Array(a) => {
            let i: usize = last.parse().ok()?;
            *a.get_mut(i)? = val;
        }
        _ => return None,
    }
    Some(d.label())
}

/// Change the value at a JSON pointer (which must exist).
fn change(d: &mut Doc, ptr: &str, f: impl FnOnce(&Value) -> Value) -> Option<String> {
    let old = d.v.pointer(ptr)?.clone();
    let new = f(&old);
    set(d, ptr, new)
}

fn remove(d: &mut Doc, ptr: &str) -> Option<String> {
    let (parent, last) = ptr.rsplit_once('/')?;
    match d.v.pointer_mut(parent)? {
        Value::Object(m) => {
            m.remove(last)?;
        }
        Value::Array(a) => {
            let i: usize = last.parse().ok()?;
            if i >= a.len() {
                return None;
            }
            a.remove(i);
        }
        _ => return None,
    }
    Some(d.label())
}

/// A typo: one letter doubled, dropped or swapped (never the identity).
fn typo(r: &mut Rng, s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    if c.len() < 3 {
        return format!("{s}x");
    }
    let i = 1 + r.below(c.len() - 2);
    let mut out = c.clone();
    match r.below(3) {
        0 => out.insert(i, c[i]),
        1 if c[i] != c[i + 1] => out.swap(i, i + 1),
        _ => {
            out.remove(i);
        }
    }
    let t: String = out.into_iter().collect();
    if t == s { format!("{s}x") } else { t }
}

fn typo_at(d: &mut Doc, ptr: &str, r: &mut Rng) -> Option<String> {
    let old = d.v.pointer(ptr)?.as_str()?.to_string();
    let new = typo(r, &old);
    set(d, ptr, json!(new))
}

/// A YAML 1.1 scalar written unquoted where a string is meant: the marker string is replaced
/// by `text` when the file is written.
fn yaml11(s: &mut StackFiles, text: &str) -> String {
    let m = format!("zzyaml11marker{}zz", s.markers.len());
    s.markers.push((m.clone(), text.to_string()));
    m
}

fn add(s: &mut StackFiles, v: Value) -> String {
    let kind = v["kind"].as_str().unwrap_or("x").to_lowercase();
    let name = v["metadata"]["name"].as_str().unwrap_or("x").to_string();
    let d = Doc {
        file: format!("{kind}-{name}.yaml"),
        v,
    };
    let l = d.label();
    s.docs.push(d);
    l
}

fn main_ns(s: &StackFiles) -> String {
    s.docs
        .iter()
        .find(|d| d.kind() == "Gateway")
        .map(|d| d.ns().to_string())
        .unwrap_or_default()
}

// --------------------------------------------------------------------------------------------
// the mutations
// --------------------------------------------------------------------------------------------

macro_rules! m {
    ($class:literal, $name:literal, $f:expr) => {
        Mutation {
            class: $class,
            name: $name,
            apply: $f,
        }
    };
}

pub fn all() -> Vec<Mutation> {
    vec![
        // ---- names
        m!("names", "route-parent-gateway-typo", |s, r| {
            typo_at(kind(s, "HTTPRoute")?, "/spec/parentRefs/0/name", r)
        }),
        m!("names", "backend-service-typo", |s, r| {
            typo_at(
                route_with_backend(s)?,
                "/spec/rules/0/backendRefs/0/name",
                r,
            )
        }),
        m!("names", "policy-target-typo", |s, r| {
            typo_at(
                kind(s, "BackendTrafficPolicy")?,
                "/spec/targetRefs/0/name",
                r,
            )
        }),
        m!("names", "object-name-not-dns1123", |s, _| {
            let d = kind(s, "HTTPRoute")?;
            let n = d.name().replace('-', "_").to_uppercase();
            set(d, "/metadata/name", json!(n))
        }),
        m!("names", "scale-target-typo", |s, r| {
            typo_at(kind(s, "ScaledObject")?, "/spec/scaleTargetRef/name", r)
        }),
        m!("names", "issuer-ref-typo", |s, r| {
            typo_at(kind(s, "Certificate")?, "/spec/issuerRef/name", r)
        }),
        m!("names", "gateway-class-typo", |s, r| {
            typo_at(kind(s, "Gateway")?, "/spec/gatewayClassName", r)
        }),
        // ---- ports
        m!("ports", "listener-port-out-of-range", |s, _| {
            set(kind(s, "Gateway")?, "/spec/listeners/0/port", json!(70000))
        }),
        m!("ports", "backend-port-not-on-service", |s, _| {
            change(
                route_with_backend(s)?,
                "/spec/rules/0/backendRefs/0/port",
                |p| json!(p.as_u64().unwrap_or(80) + 1),
            )
        }),
        m!("ports", "backend-port-missing", |s, _| {
            remove(route_with_backend(s)?, "/spec/rules/0/backendRefs/0/port")
        }),
        m!("ports", "two-protocols-on-one-port", |s, _| {
            let d = find(s, |d| {
                d.kind() == "Gateway" && d.v.pointer("/spec/listeners/1").is_some()
            })?;
            let p = d.v.pointer("/spec/listeners/0/port")?.clone();
            set(d, "/spec/listeners/1/port", p)
        }),
        m!("ports", "service-target-port-name-typo", |s, r| {
            typo_at(kind(s, "Service")?, "/spec/ports/0/targetPort", r)
        }),
        m!("ports", "container-port-zero", |s, _| {
            set(
                kind(s, "Deployment")?,
                "/spec/template/spec/containers/0/ports/0/containerPort",
                json!(0),
            )
        }),
        // ---- sections
        m!("sections", "route-section-name-typo", |s, r| {
            let d = find(s, |d| {
                d.kind() == "HTTPRoute" && d.v.pointer("/spec/parentRefs/0/sectionName").is_some()
            })?;
            typo_at(d, "/spec/parentRefs/0/sectionName", r)
        }),
        m!("sections", "route-section-name-missing-listener", |s, _| {
            set(
                kind(s, "HTTPRoute")?,
                "/spec/parentRefs/0/sectionName",
                json!("grpc"),
            )
        }),
        m!("sections", "policy-section-name-missing", |s, _| {
            set(
                kind(s, "BackendTrafficPolicy")?,
                "/spec/targetRefs/0/sectionName",
                json!("no-such-section"),
            )
        }),
        m!("sections", "duplicate-listener-name", |s, _| {
            let d = find(s, |d| {
                d.kind() == "Gateway" && d.v.pointer("/spec/listeners/1").is_some()
            })?;
            let n = d.v.pointer("/spec/listeners/0/name")?.clone();
            set(d, "/spec/listeners/1/name", n)
        }),
        m!("sections", "duplicate-route-rule-name", |s, _| {
            let d = find(s, |d| {
                d.kind() == "HTTPRoute"
                    && d.v.pointer("/spec/rules/1").is_some()
                    && d.v.pointer("/spec/rules/0/name").is_some()
            })?;
            let n = d.v.pointer("/spec/rules/0/name")?.clone();
            set(d, "/spec/rules/1/name", n)
        }),
        // ---- namespaces
        m!("namespaces", "route-parent-in-other-namespace", |s, _| {
            let ns = format!("{}-x", main_ns(s));
            set(
                kind(s, "HTTPRoute")?,
                "/spec/parentRefs/0/namespace",
                json!(ns),
            )
        }),
        m!("namespaces", "route-moved-out-of-same-namespace", |s, _| {
            let ns = main_ns(s);
            let from_all = s.docs.iter().any(|d| {
                d.kind() == "Gateway"
                    && d.v["spec"]["listeners"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|l| l["allowedRoutes"]["namespaces"]["from"] == "All")
            });
            if from_all {
                return None;
            }
            let d = kind(s, "HTTPRoute")?;
            set(d, "/spec/parentRefs/0/namespace", json!(ns))?;
            set(d, "/metadata/namespace", json!(format!("{ns}-x")))
        }),
        m!("namespaces", "policy-in-other-namespace", |s, _| {
            let ns = format!("{}-x", main_ns(s));
            set(
                kind(s, "BackendTrafficPolicy")?,
                "/metadata/namespace",
                json!(ns),
            )
        }),
        m!(
            "namespaces",
            "backend-in-other-namespace-without-grant",
            |s, _| {
                let ns = format!("{}-x", main_ns(s));
                set(
                    route_with_backend(s)?,
                    "/spec/rules/0/backendRefs/0/namespace",
                    json!(ns),
                )
            }
        ),
        m!("namespaces", "namespace-not-dns1123", |s, _| {
            let d = kind(s, "BackendTrafficPolicy")?;
            let ns = d.ns().to_uppercase();
            set(d, "/metadata/namespace", json!(ns))
        }),
        m!(
            "namespaces",
            "certificate-ref-in-other-namespace-without-grant",
            |s, _| {
                let ns = format!("{}-x", main_ns(s));
                let d = find(s, |d| {
                    d.kind() == "Gateway"
                        && d.v
                            .pointer("/spec/listeners/1/tls/certificateRefs/0")
                            .is_some()
                })?;
                set(
                    d,
                    "/spec/listeners/1/tls/certificateRefs/0/namespace",
                    json!(ns),
                )
            }
        ),
        // ---- ReferenceGrants: a cross-namespace backend with a grant that does not permit it
        m!("grants", "grant-from-wrong-kind", |s, _| grant(
            s, "Gateway", None, None, "Service"
        )),
        m!("grants", "grant-from-wrong-namespace", |s, _| grant(
            s,
            "HTTPRoute",
            Some("-y"),
            None,
            "Service"
        )),
        m!("grants", "grant-in-route-namespace", |s, _| grant(
            s,
            "HTTPRoute",
            None,
            Some(""),
            "Service"
        )),
        m!("grants", "grant-to-wrong-kind", |s, _| grant(
            s,
            "HTTPRoute",
            None,
            None,
            "Secret"
        )),
        m!("grants", "grant-to-wrong-name", |s, _| {
            let l = grant(s, "HTTPRoute", None, None, "Service")?;
            let d = kind(s, "ReferenceGrant")?;
            set(d, "/spec/to/0/name", json!("not-this-service"))?;
            Some(l)
        }),
        // ---- conflicting policies
        m!(
            "policies",
            "second-backendtrafficpolicy-same-target",
            |s, _| {
                let mut v = kind(s, "BackendTrafficPolicy")?.v.clone();
                v["metadata"]["name"] = json!(format!("{}-2", v["metadata"]["name"].as_str()?));
                v["spec"]["circuitBreaker"] = json!({"maxConnections": 10});
                Some(add(s, v))
            }
        ),
        m!(
            "policies",
            "second-clienttrafficpolicy-same-gateway",
            |s, _| {
                let mut v = kind(s, "ClientTrafficPolicy")?.v.clone();
                v["metadata"]["name"] = json!("client-2");
                Some(add(s, v))
            }
        ),
        m!("policies", "second-securitypolicy-same-target", |s, _| {
            let mut v = kind(s, "SecurityPolicy")?.v.clone();
            v["metadata"]["name"] = json!(format!("{}-2", v["metadata"]["name"].as_str()?));
            Some(add(s, v))
        }),
        m!("policies", "second-scaledobject-same-workload", |s, _| {
            let mut v = kind(s, "ScaledObject")?.v.clone();
            v["metadata"]["name"] = json!(format!("{}-2", v["metadata"]["name"].as_str()?));
            Some(add(s, v))
        }),
        m!("policies", "hpa-and-scaledobject-same-workload", |s, _| {
            let so = kind(s, "ScaledObject")?.v.clone();
            let v = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "manual-hpa", "namespace": so["metadata"]["namespace"]},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": so["spec"]["scaleTargetRef"]["name"]},
                  "minReplicas": 1, "maxReplicas": 5,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}});
            Some(add(s, v))
        }),
        // ---- regexes (RE2 as Envoy reads them)
        m!("regexes", "path-regex-lookahead", |s, _| path_regex(
            s,
            "^/items/(?=[0-9]+)$"
        )),
        m!("regexes", "path-regex-unbalanced", |s, _| path_regex(
            s,
            "^/items/([0-9]+$"
        )),
        m!("regexes", "path-regex-backreference", |s, _| path_regex(
            s,
            "^/(a)\\1$"
        )),
        m!("regexes", "header-regex-invalid", |s, _| {
            let d = find(s, |d| {
                d.kind() == "HTTPRoute" && d.v.pointer("/spec/rules/0/matches/0").is_some()
            })?;
            set(
                d,
                "/spec/rules/0/matches/0/headers",
                json!([
                {"type": "RegularExpression", "name": "x-tenant", "value": "[a-z"}]),
            )
        }),
        m!("regexes", "ratelimit-header-regex-invalid", |s, _| {
            let d = find(s, |d| {
                d.kind() == "BackendTrafficPolicy"
                    && d.v
                        .pointer("/spec/rateLimit/global/rules/0/clientSelectors/0/headers/0")
                        .is_some()
            })?;
            set(
                d,
                "/spec/rateLimit/global/rules/0/clientSelectors/0/headers/0",
                json!({"name": "x-user-id", "type": "RegularExpression", "value": "*"}),
            )
        }),
        // ---- protocols
        m!("protocols", "listener-protocol-typo", |s, r| {
            typo_at(kind(s, "Gateway")?, "/spec/listeners/0/protocol", r)
        }),
        m!("protocols", "listener-protocol-lowercase", |s, _| {
            change(kind(s, "Gateway")?, "/spec/listeners/0/protocol", |p| {
                json!(p.as_str().unwrap_or("HTTP").to_lowercase())
            })
        }),
        m!("protocols", "https-listener-without-tls", |s, _| {
            let d = find(s, |d| {
                d.kind() == "Gateway" && d.v.pointer("/spec/listeners/1/tls").is_some()
            })?;
            remove(d, "/spec/listeners/1/tls")
        }),
        m!("protocols", "http-listener-with-tls", |s, _| {
            let d = find(s, |d| {
                d.kind() == "Gateway"
                    && d.v.pointer("/spec/listeners/1/tls").is_some()
                    && d.v.pointer("/spec/listeners/0/protocol") == Some(&json!("HTTP"))
            })?;
            let t = d.v.pointer("/spec/listeners/1/tls")?.clone();
            set(d, "/spec/listeners/0/tls", t)
        }),
        m!("protocols", "tcp-listener-for-httproute", |s, _| {
            set(
                kind(s, "Gateway")?,
                "/spec/listeners/0/protocol",
                json!("TCP"),
            )
        }),
        m!("protocols", "tls-passthrough-for-httproute", |s, _| {
            let d = find(s, |d| {
                d.kind() == "Gateway" && d.v.pointer("/spec/listeners/1/tls").is_some()
            })?;
            set(d, "/spec/listeners/1/protocol", json!("TLS"))?;
            set(d, "/spec/listeners/1/tls", json!({"mode": "Passthrough"}))
        }),
        m!("protocols", "service-port-protocol-lowercase", |s, _| {
            set(kind(s, "Service")?, "/spec/ports/0/protocol", json!("tcp"))
        }),
        // ---- units
        m!("units", "ratelimit-unit-plural", |s, _| {
            change(
                kind(s, "BackendTrafficPolicy")?,
                "/spec/rateLimit/global/rules/0/limit/unit",
                |u| json!(format!("{}s", u.as_str().unwrap_or("Minute"))),
            )
        }),
        m!("units", "ratelimit-unit-lowercase", |s, _| {
            change(
                kind(s, "BackendTrafficPolicy")?,
                "/spec/rateLimit/global/rules/0/limit/unit",
                |u| json!(u.as_str().unwrap_or("Minute").to_lowercase()),
            )
        }),
        m!("units", "route-timeout-without-unit", |s, _| {
            let d = route_with_backend(s)?;
            set(d, "/spec/rules/0/timeouts", json!({"request": "30"}))
        }),
        m!("units", "route-timeout-days", |s, _| {
            let d = route_with_backend(s)?;
            set(d, "/spec/rules/0/timeouts", json!({"request": "1d"}))
        }),
        m!("units", "certificate-duration-days", |s, _| {
            set(kind(s, "Certificate")?, "/spec/duration", json!("90d"))
        }),
        m!("units", "cpu-request-bad-quantity", |s, _| {
            set(
                kind(s, "Deployment")?,
                "/spec/template/spec/containers/0/resources/requests/cpu",
                json!("250 m"),
            )
        }),
        m!("units", "retry-timeout-without-unit", |s, _| {
            set(
                kind(s, "BackendTrafficPolicy")?,
                "/spec/retry/perRetry/timeout",
                json!("2"),
            )
        }),
        // ---- limits
        m!("limits", "ratelimit-requests-negative", |s, _| {
            set(
                kind(s, "BackendTrafficPolicy")?,
                "/spec/rateLimit/global/rules/0/limit/requests",
                json!(-5),
            )
        }),
        m!("limits", "circuit-breaker-negative", |s, _| {
            set(
                kind(s, "BackendTrafficPolicy")?,
                "/spec/circuitBreaker/maxConnections",
                json!(-1),
            )
        }),
        m!("limits", "circuit-breaker-above-uint32", |s, _| {
            set(
                kind(s, "BackendTrafficPolicy")?,
                "/spec/circuitBreaker/maxPendingRequests",
                json!(5_000_000_000u64),
            )
        }),
        m!("limits", "backend-weight-negative", |s, _| {
            set(
                route_with_backend(s)?,
                "/spec/rules/0/backendRefs/0/weight",
                json!(-10),
            )
        }),
        m!("limits", "backend-weight-above-max", |s, _| {
            set(
                route_with_backend(s)?,
                "/spec/rules/0/backendRefs/0/weight",
                json!(1_000_001),
            )
        }),
        m!("limits", "scaledobject-min-above-max", |s, _| {
            let d = kind(s, "ScaledObject")?;
            let max =
                d.v.pointer("/spec/maxReplicaCount")
                    .and_then(Value::as_u64)
                    .unwrap_or(10);
            set(d, "/spec/minReplicaCount", json!(max + 5))
        }),
        m!("limits", "deployment-replicas-negative", |s, _| {
            set(kind(s, "Deployment")?, "/spec/replicas", json!(-1))
        }),
        m!("limits", "too-many-listeners-hostnames", |s, _| {
            let hosts: Vec<String> = (0..17).map(|i| format!("h{i}.example.com")).collect();
            set(kind(s, "HTTPRoute")?, "/spec/hostnames", json!(hosts))
        }),
        // ---- TLS
        m!("tls", "certificate-without-names", |s, _| {
            let d = kind(s, "Certificate")?;
            remove(d, "/spec/commonName");
            remove(d, "/spec/dnsNames")
        }),
        m!("tls", "listener-certificate-kind-unknown", |s, _| {
            let d = find(s, |d| {
                d.kind() == "Gateway"
                    && d.v
                        .pointer("/spec/listeners/1/tls/certificateRefs/0")
                        .is_some()
            })?;
            set(
                d,
                "/spec/listeners/1/tls/certificateRefs/0/kind",
                json!("Certificate"),
            )?;
            set(
                d,
                "/spec/listeners/1/tls/certificateRefs/0/group",
                json!("cert-manager.io"),
            )
        }),
        m!("tls", "issuer-kind-typo", |s, _| {
            set(
                kind(s, "Certificate")?,
                "/spec/issuerRef/kind",
                json!("ClusterIsuer"),
            )
        }),
        m!("tls", "private-key-size-invalid", |s, _| {
            set(
                kind(s, "Certificate")?,
                "/spec/privateKey",
                json!({"algorithm": "ECDSA", "size": 512}),
            )
        }),
        m!("tls", "client-tls-version-unknown", |s, _| {
            set(
                kind(s, "ClientTrafficPolicy")?,
                "/spec/tls/minVersion",
                json!("1.4"),
            )
        }),
        m!("tls", "client-tls-min-above-max", |s, _| {
            let d = kind(s, "ClientTrafficPolicy")?;
            set(d, "/spec/tls/minVersion", json!("1.3"))?;
            set(d, "/spec/tls/maxVersion", json!("1.2"))
        }),
        m!(
            "tls",
            "certificate-secret-name-differs-from-listener",
            |s, r| { typo_at(kind(s, "Certificate")?, "/spec/secretName", r) }
        ),
        // ---- scaling
        m!("scaling", "trigger-type-typo", |s, r| {
            typo_at(kind(s, "ScaledObject")?, "/spec/triggers/0/type", r)
        }),
        m!("scaling", "prometheus-query-missing", |s, _| {
            let d = find(s, |d| {
                d.kind() == "ScaledObject"
                    && d.v.pointer("/spec/triggers/0/metadata/query").is_some()
            })?;
            remove(d, "/spec/triggers/0/metadata/query")
        }),
        m!("scaling", "threshold-not-a-number", |s, _| {
            let d = find(s, |d| {
                d.kind() == "ScaledObject"
                    && d.v.pointer("/spec/triggers/0/metadata/threshold").is_some()
            })?;
            set(d, "/spec/triggers/0/metadata/threshold", json!("fast"))
        }),
        m!("scaling", "scale-target-kind-unknown", |s, _| {
            set(
                kind(s, "ScaledObject")?,
                "/spec/scaleTargetRef/kind",
                json!("Deploymnet"),
            )
        }),
        m!("scaling", "polling-interval-string", |s, _| {
            set(
                kind(s, "ScaledObject")?,
                "/spec/pollingInterval",
                json!("30s"),
            )
        }),
        m!("scaling", "cpu-trigger-without-metric-type", |s, _| {
            let d = find(s, |d| {
                d.kind() == "ScaledObject"
                    && d.v.pointer("/spec/triggers/0/type") == Some(&json!("cpu"))
            })?;
            remove(d, "/spec/triggers/0/metricType")
        }),
        // ---- YAML 1.1 typing: an unquoted word read as a boolean or number
        m!("typing", "header-match-value-on", |s, _| {
            let m = yaml11(s, "on");
            let d = find(s, |d| {
                d.kind() == "HTTPRoute" && d.v.pointer("/spec/rules/0/matches/0").is_some()
            })?;
            set(
                d,
                "/spec/rules/0/matches/0/headers",
                json!([{"type": "Exact", "name": "x-beta", "value": m}]),
            )
        }),
        m!("typing", "label-value-yes", |s, _| {
            let m = yaml11(s, "yes");
            let d = kind(s, "Gateway")?;
            set(d, "/metadata/labels", json!({"public": m}))
        }),
        m!("typing", "keda-metadata-true", |s, _| {
            let m = yaml11(s, "true");
            let d = kind(s, "ScaledObject")?;
            set(d, "/spec/triggers/0/metadata/ignoreNullValues", json!(m))
        }),
        m!("typing", "pod-annotation-true", |s, _| {
            let m = yaml11(s, "true");
            let d = kind(s, "Deployment")?;
            set(
                d,
                "/spec/template/metadata/annotations/prometheus.io~1scrape",
                json!(m),
            )
        }),
        m!("typing", "env-value-on", |s, _| {
            let m = yaml11(s, "on");
            set(
                kind(s, "Deployment")?,
                "/spec/template/spec/containers/0/env/1/value",
                json!(m),
            )
        }),
        m!("typing", "label-value-float", |s, _| {
            let m = yaml11(s, "1.10");
            let d = kind(s, "Deployment")?;
            set(d, "/spec/template/metadata/labels/version", json!(m))
        }),
        m!("typing", "hostname-no", |s, _| {
            let m = yaml11(s, "no");
            set(kind(s, "HTTPRoute")?, "/spec/hostnames", json!([m]))
        }),
        m!("typing", "response-header-value-off", |s, _| {
            let m = yaml11(s, "off");
            let d = route_with_backend(s)?;
            set(
                d,
                "/spec/rules/0/filters",
                json!([{"type": "ResponseHeaderModifier",
                "responseHeaderModifier": {"set": [{"name": "x-cache", "value": m}]}}]),
            )
        }),
        // ---- schema: unknown fields, wrong types, missing required fields, enums, versions
        m!("schema", "unknown-field-in-spec", |s, _| {
            set(kind(s, "Gateway")?, "/spec/listner", json!([]))
        }),
        m!("schema", "unknown-field-nested", |s, _| {
            let d = find(s, |d| {
                d.kind() == "BackendTrafficPolicy" && d.v.pointer("/spec/circuitBreaker").is_some()
            })?;
            set(d, "/spec/circuitBreaker/maxConnection", json!(10))
        }),
        m!("schema", "port-as-string", |s, _| {
            change(kind(s, "Gateway")?, "/spec/listeners/0/port", |p| {
                json!(p.to_string())
            })
        }),
        m!("schema", "hostnames-as-string", |s, _| {
            set(
                kind(s, "HTTPRoute")?,
                "/spec/hostnames",
                json!("api.example.com"),
            )
        }),
        m!("schema", "gateway-class-missing", |s, _| {
            remove(kind(s, "Gateway")?, "/spec/gatewayClassName")
        }),
        m!("schema", "path-type-not-in-enum", |s, _| {
            let d = find(s, |d| {
                d.kind() == "HTTPRoute"
                    && d.v.pointer("/spec/rules/0/matches/0/path/type").is_some()
            })?;
            set(d, "/spec/rules/0/matches/0/path/type", json!("Prefix"))
        }),
        m!("schema", "api-version-not-served", |s, _| {
            set(
                kind(s, "HTTPRoute")?,
                "/apiVersion",
                json!("gateway.networking.k8s.io/v1alpha2"),
            )
        }),
        m!("schema", "kind-typo", |s, _| {
            set(
                kind(s, "BackendTrafficPolicy")?,
                "/kind",
                json!("BackendTraficPolicy"),
            )
        }),
        // ---- CEL (x-kubernetes-validations)
        m!("cel", "path-prefix-not-absolute", |s, _| {
            let d = find(s, |d| {
                d.kind() == "HTTPRoute"
                    && d.v.pointer("/spec/rules/0/matches/0/path/type")
                        == Some(&json!("PathPrefix"))
            })?;
            change(d, "/spec/rules/0/matches/0/path/value", |v| {
                json!(
                    v.as_str()
                        .unwrap_or("/api")
                        .trim_start_matches('/')
                        .to_string()
                        + "x"
                )
            })
        }),
        m!("cel", "redirect-with-backends", |s, _| {
            let d = route_with_backend(s)?;
            set(
                d,
                "/spec/rules/0/filters",
                json!([{"type": "RequestRedirect",
                "requestRedirect": {"scheme": "https", "statusCode": 301}}]),
            )
        }),
        m!("cel", "policy-target-kind-service", |s, _| {
            let d = kind(s, "BackendTrafficPolicy")?;
            set(d, "/spec/targetRefs/0/kind", json!("Service"))?;
            set(d, "/spec/targetRefs/0/group", json!(""))
        }),
        m!("cel", "replace-prefix-with-exact-path", |s, _| {
            let d = route_with_backend(s)?;
            set(
                d,
                "/spec/rules/0/matches",
                json!([{"path": {"type": "Exact", "value": "/v1/items"}}]),
            )?;
            set(
                d,
                "/spec/rules/0/filters",
                json!([{"type": "URLRewrite",
                "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}]),
            )
        }),
        m!("cel", "distinct-header-with-value", |s, _| {
            let d = find(s, |d| {
                d.kind() == "BackendTrafficPolicy"
                    && d.v
                        .pointer("/spec/rateLimit/global/rules/0/clientSelectors/0/headers/0")
                        .is_some()
            })?;
            set(
                d,
                "/spec/rateLimit/global/rules/0/clientSelectors/0/headers/0",
                json!({"name": "x-user-id", "type": "Distinct", "value": "alice"}),
            )
        }),
        m!("cel", "xff-hops-and-cidrs", |s, _| {
            set(
                kind(s, "ClientTrafficPolicy")?,
                "/spec/clientIPDetection/xForwardedFor",
                json!({"numTrustedHops": 1, "trustedCIDRs": ["10.0.0.0/8"]}),
            )
        }),
        m!("cel", "hostname-with-port", |s, _| {
            change(kind(s, "HTTPRoute")?, "/spec/hostnames", |_| {
                json!(["api.example.com:443"])
            })
        }),
        m!("cel", "listener-hostname-ip", |s, _| {
            set(
                kind(s, "Gateway")?,
                "/spec/listeners/0/hostname",
                json!("10.0.0.1"),
            )
        }),
        // ---- built-in kinds
        m!("builtin", "deployment-field-typo", |s, _| {
            let d = kind(s, "Deployment")?;
            remove(d, "/spec/template/spec/containers/0/imagePullPolicy")?;
            set(
                d,
                "/spec/template/spec/containers/0/imagePullPolcy",
                json!("IfNotPresent"),
            )
        }),
        m!("builtin", "service-field-typo", |s, _| {
            let d = kind(s, "Service")?;
            remove(d, "/spec/ports/0/protocol")?;
            set(d, "/spec/ports/0/protocl", json!("TCP"))
        }),
        m!("builtin", "selector-does-not-match-template", |s, r| {
            let d = kind(s, "Deployment")?;
            typo_at(d, "/spec/selector/matchLabels/app", r)
        }),
        m!("builtin", "service-port-as-string", |s, _| {
            set(kind(s, "Service")?, "/spec/ports/0/port", json!("80"))
        }),
        m!("builtin", "deployment-removed-api-version", |s, _| {
            set(
                kind(s, "Deployment")?,
                "/apiVersion",
                json!("extensions/v1beta1"),
            )
        }),
        m!("builtin", "container-port-name-too-long", |s, _| {
            set(
                kind(s, "Deployment")?,
                "/spec/template/spec/containers/0/ports/0/name",
                json!("http-metrics-port"),
            )
        }),
        m!("builtin", "service-type-not-in-enum", |s, _| {
            set(kind(s, "Service")?, "/spec/type", json!("ClusterIp"))
        }),
        m!("builtin", "service-selector-matches-no-pod", |s, r| {
            typo_at(kind(s, "Service")?, "/spec/selector/app", r)
        }),
        m!("builtin", "namespace-label-bool", |s, _| {
            let m = yaml11(s, "on");
            set(
                kind(s, "Namespace")?,
                "/metadata/labels",
                json!({"istio-injection": m}),
            )
        }),
        m!("builtin", "container-missing-image", |s, _| {
            remove(
                kind(s, "Deployment")?,
                "/spec/template/spec/containers/0/image",
            )
        }),
    ]
}

fn path_regex(s: &mut StackFiles, re: &str) -> Option<String> {
    let d = route_with_backend(s)?;
    set(
        d,
        "/spec/rules/0/matches",
        json!([{"path": {"type": "RegularExpression", "value": re}}]),
    )
}

/// Move the first backend to another namespace and add a ReferenceGrant there that does NOT
/// permit it: `from_kind` instead of HTTPRoute, `from_ns_suffix` appended to the route's
/// namespace, the grant in `grant_ns` ("" = the route's namespace instead of the backend's),
/// `to_kind` instead of Service.
fn grant(
    s: &mut StackFiles,
    from_kind: &str,
    from_ns_suffix: Option<&str>,
    grant_ns: Option<&str>,
    to_kind: &str,
) -> Option<String> {
    let d = route_with_backend(s)?;
    let route_ns = d.ns().to_string();
    let target_ns = format!("{route_ns}-shared");
    set(d, "/spec/rules/0/backendRefs/0/namespace", json!(target_ns))?;
    let from_ns = format!("{route_ns}{}", from_ns_suffix.unwrap_or(""));
    let in_ns = match grant_ns {
        Some("") => route_ns.clone(),
        _ => target_ns.clone(),
    };
    let v = json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
        "metadata": {"name": "allow-routes", "namespace": in_ns},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": from_kind, "namespace": from_ns}],
                 "to": [{"group": "", "kind": to_kind}]}});
    Some(add(s, v))
}

/// A valid variant: a cross-namespace backend with the ReferenceGrant that permits it (for the
/// valid set: the harness must not flag it).
pub fn grant_ok(s: &mut StackFiles) -> Option<String> {
    grant(s, "HTTPRoute", None, None, "Service")
}
