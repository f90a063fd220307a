//! The facts of one object the reference layer reads.

use serde_json::Value;

use super::{kind, policies::POLICY_KINDS};

/// Which parts of a value the reference layer reads.
enum Shape {
    /// the value as it is
    Whole,
    /// these keys of a mapping (anything else: as it is)
    Fields(&'static [(&'static str, Shape)]),
    /// every item of a list, each with this shape (anything else: as it is)
    Each(&'static Shape),
    /// the keys of a mapping, never the values (Secret data), except these keys' values
    /// (a certificate, never a key)
    KeysBut(&'static [&'static str]),
}

use Shape::{Each, Fields, KeysBut, Whole};

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
    ("protocol", Whole),
    (
        "allowedRoutes",
        Fields(&[(
            "namespaces",
            Fields(&[("from", Whole), ("selector", Whole)]),
        )]),
    ),
    ("tls", Fields(&[("certificateRefs", Each(&OBJ_REF))])),
]);
const ROUTE_SPEC: Shape = Fields(&[
    ("parentRefs", Each(&OBJ_REF)),
    ("hostnames", Whole),
    (
        "rules",
        Each(&Fields(&[
            ("name", Whole),
            ("backendRefs", Each(&OBJ_REF)),
            ("filters", Each(&Fields(&[("type", Whole)]))),
        ])),
    ),
]);
const POLICY_SPEC: Shape = Fields(&[
    ("targetRef", TARGET),
    ("targetRefs", Each(&TARGET)),
    ("rateLimit", Fields(&[("global", KeysBut(&[]))])),
]);
const SCALE_SPEC: Shape = Fields(&[
    (
        "scaleTargetRef",
        Fields(&[("kind", Whole), ("name", Whole)]),
    ),
    ("triggers", Each(&Fields(&[("authenticationRef", Whole)]))),
]);
const WORKLOAD_SPEC: Shape = Fields(&[(
    "template",
    Fields(&[
        ("metadata", Fields(&[("labels", Whole)])),
        (
            "spec",
            Fields(&[(
                "containers",
                Each(&Fields(&[("ports", Each(&Fields(&[("name", Whole)])))])),
            )]),
        ),
    ]),
)]);

/// The spec facts of a kind, or None when the layer reads only the identity.
fn spec_shape(kind: &str) -> Option<&'static Shape> {
    static CERT: Shape = Fields(&[
        ("secretName", Whole),
        ("issuerRef", Fields(&[("kind", Whole), ("name", Whole)])),
        ("dnsNames", Whole),
        ("commonName", Whole),
        ("isCA", Whole),
    ]);
    static ISSUER: Shape = Fields(&[("ca", Fields(&[("secretName", Whole)]))]);
    static GRANT: Shape = Fields(&[("from", Whole), ("to", Whole)]);
    static GATEWAY: Shape = Fields(&[("listeners", Each(&LISTENER))]);
    static SERVICE: Shape = Fields(&[
        (
            "ports",
            Each(&Fields(&[
                ("port", Whole),
                ("name", Whole),
                ("targetPort", Whole),
            ])),
        ),
        ("selector", Whole),
    ]);
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
    static TRIGGER_AUTH: Shape = Fields(&[("secretTargetRef", Whole)]);
    static BACKEND_TLS: Shape = Fields(&[
        ("targetRefs", Each(&OBJ_REF)),
        (
            "validation",
            Fields(&[("caCertificateRefs", Each(&OBJ_REF))]),
        ),
    ]);
    Some(match kind {
        "Certificate" => &CERT,
        "Issuer" | "ClusterIssuer" => &ISSUER,
        "ReferenceGrant" => &GRANT,
        "Gateway" => &GATEWAY,
        "HTTPRoute" | "GRPCRoute" => &ROUTE_SPEC,
        "Service" => &SERVICE,
        "Deployment" | "StatefulSet" | "DaemonSet" => &WORKLOAD_SPEC,
        "ScaledObject" | "ScaledJob" | "HorizontalPodAutoscaler" => &SCALE_SPEC,
        "TriggerAuthentication" | "ClusterTriggerAuthentication" => &TRIGGER_AUTH,
        "BackendTLSPolicy" => &BACKEND_TLS,
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
        (KeysBut(keep), Value::Object(m)) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = if keep.contains(&k.as_str()) {
                        x.clone()
                    } else {
                        Value::Null
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// The facts of one object that [`super::check`] reads: identity (apiVersion, kind, metadata
/// name and namespace, a Namespace's labels), the references and names of its kind, a Secret's
/// type and key names (never its values, but for the certificate in tls.crt), the Envoy
/// Gateway configuration of its ConfigMap. What the layer is given instead of whole objects,
/// so that memory stays small on large inputs; `check(project(x))` finds what `check(x)` finds.
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
        static META: Shape = Fields(&[("name", Whole), ("namespace", Whole)]);
        static NS_META: Shape = Fields(&[("name", Whole), ("namespace", Whole), ("labels", Whole)]);
        let shape = if kind(v) == "Namespace" {
            &NS_META
        } else {
            &META
        };
        out.insert("metadata".into(), cut(meta, shape));
    }
    match kind(v) {
        "Secret" => {
            for k in ["type", "data", "stringData", "binaryData"] {
                if let Some(x) = m.get(k) {
                    let shape = if k == "type" {
                        &Whole
                    } else {
                        &KeysBut(&["tls.crt"])
                    };
                    out.insert(k.into(), cut(x, shape));
                }
            }
        }
        "ConfigMap" => {
            static CONFIG: Shape = Fields(&[("envoy-gateway.yaml", Whole)]);
            if let Some(x) = m.get("data") {
                out.insert("data".into(), cut(x, &CONFIG));
            }
        }
        _ => {}
    }
    if let (Some(shape), Some(spec)) = (spec_shape(kind(v)), m.get("spec")) {
        out.insert("spec".into(), cut(spec, shape));
    }
    Value::Object(out)
}
