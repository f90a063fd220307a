//! The facts of one object the reference layer reads, kept compactly.
//!
//! [`Fact`] is a JSON-shaped tree cut down to what the layer needs: boxed slices instead of
//! vectors and ordered maps (no spare capacity, no hash tables; a mapping holds a handful of
//! keys, looked up by a scan), boxed strings. It is what the engine keeps per document until
//! every source is checked, so on large inputs it is most of the engine's memory.

use serde_json::Value;

use super::policies::POLICY_KINDS;

/// A value of the facts of one object: JSON's shapes, compact.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Fact {
    #[default]
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(Box<str>),
    Array(Box<[Fact]>),
    Object(Box<[(Text, Fact)]>),
}

/// A key of the facts: the field names the layer reads are shared (they come from the shapes
/// below), any other key (labels, Secret data keys) is boxed. Compared by content. Values are
/// not interned: a lookup per string cost about a fifth more CPU on 100k documents for 12%
/// less memory.
#[derive(Debug, Clone)]
pub enum Text {
    Shared(&'static str),
    Own(Box<str>),
}

impl Text {
    fn new(s: &str) -> Text {
        Text::Own(s.into())
    }
    fn as_str(&self) -> &str {
        match self {
            Text::Shared(s) => s,
            Text::Own(s) => s,
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

static NULL: Fact = Fact::Null;

/// The entries of a mapping of the facts.
#[derive(Debug, Clone, Copy)]
pub struct Obj<'a>(&'a [(Text, Fact)]);

impl<'a> Obj<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Fact> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }
    pub fn iter(self) -> impl Iterator<Item = (&'a str, &'a Fact)> + 'a {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn keys(self) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().map(|(k, _)| k.as_str())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for Obj<'a> {
    type Item = (&'a str, &'a Fact);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Text, Fact)>,
        fn(&'a (Text, Fact)) -> (&'a str, &'a Fact),
    >;
    fn into_iter(self) -> Self::IntoIter {
        fn pair(e: &(Text, Fact)) -> (&str, &Fact) {
            (e.0.as_str(), &e.1)
        }
        self.0.iter().map(pair)
    }
}

impl Fact {
    /// The whole value, as facts.
    pub fn from_json(v: &Value) -> Fact {
        match v {
            Value::Null => Fact::Null,
            Value::Bool(b) => Fact::Bool(*b),
            Value::Number(n) => Fact::Number(n.clone()),
            Value::String(s) => Fact::Str(s.as_str().into()),
            Value::Array(a) => Fact::Array(a.iter().map(Fact::from_json).collect()),
            Value::Object(m) => Fact::Object(
                m.iter()
                    .map(|(k, v)| (Text::new(k), Fact::from_json(v)))
                    .collect(),
            ),
        }
    }
    /// Back to JSON (for a family that reads JSON; see refs::check_ai_gateway).
    pub fn to_json(&self) -> Value {
        match self {
            Fact::Null => Value::Null,
            Fact::Bool(b) => Value::Bool(*b),
            Fact::Number(n) => Value::Number(n.clone()),
            Fact::Str(s) => Value::String(s.to_string()),
            Fact::Array(a) => Value::Array(a.iter().map(Fact::to_json).collect()),
            Fact::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }
    pub fn get(&self, key: &str) -> Option<&Fact> {
        self.as_object().and_then(|m| m.get(key))
    }
    pub fn as_object(&self) -> Option<Obj<'_>> {
        match self {
            Fact::Object(m) => Some(Obj(m)),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Fact]> {
        match self {
            Fact::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Fact::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Fact::Number(n) => n.as_i64(),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Fact::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn is_object(&self) -> bool {
        matches!(self, Fact::Object(_))
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Fact::Null)
    }
    /// The object a finding is about.
    pub fn resource(&self) -> crate::validate::ResourceRef {
        let meta = &self["metadata"];
        crate::validate::ResourceRef {
            api_version: self["apiVersion"].as_str().unwrap_or("").into(),
            kind: self["kind"].as_str().unwrap_or("").into(),
            namespace: meta["namespace"].as_str().unwrap_or("").into(),
            name: meta["name"].as_str().unwrap_or("").into(),
        }
    }
}

impl std::ops::Index<&str> for Fact {
    type Output = Fact;
    /// The value of a key, or Null (as serde_json's indexing).
    fn index(&self, key: &str) -> &Fact {
        self.get(key).unwrap_or(&NULL)
    }
}

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
        Fields(&[
            (
                "namespaces",
                Fields(&[("from", Whole), ("selector", Whole)]),
            ),
            ("kinds", Whole),
        ]),
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

fn cut(v: &Value, shape: &Shape) -> Fact {
    match (shape, v) {
        (Fields(fields), Value::Object(m)) => Fact::Object(
            fields
                .iter()
                .filter_map(|(k, sh)| m.get(*k).map(|x| (Text::Shared(k), cut(x, sh))))
                .collect(),
        ),
        (Each(sh), Value::Array(a)) => Fact::Array(a.iter().map(|x| cut(x, sh)).collect()),
        (KeysBut(keep), Value::Object(m)) => Fact::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = if keep.contains(&k.as_str()) {
                        Fact::from_json(x)
                    } else {
                        Fact::Null
                    };
                    (Text::new(k), x)
                })
                .collect(),
        ),
        _ => Fact::from_json(v),
    }
}

/// The facts of one object that [`super::check`] reads: identity (apiVersion, kind, metadata
/// name and namespace, a Namespace's labels), the references and names of its kind, a Secret's
/// type and key names (never its values, but for the certificate in tls.crt), the Envoy
/// Gateway configuration of its ConfigMap. What the layer is given instead of whole objects,
/// so that memory stays small on large inputs; `check(project(x))` finds what `check(x)` finds.
pub fn project(v: &Value) -> Fact {
    let Value::Object(m) = v else {
        return Fact::Null;
    };
    let mut out: Vec<(Text, Fact)> = Vec::new();
    for k in ["apiVersion", "kind"] {
        if let Some(x) = m.get(k) {
            out.push((Text::Shared(k), Fact::from_json(x)));
        }
    }
    let kind = v["kind"].as_str().unwrap_or("");
    if let Some(meta) = m.get("metadata") {
        static META: Shape = Fields(&[("name", Whole), ("namespace", Whole)]);
        static NS_META: Shape = Fields(&[("name", Whole), ("namespace", Whole), ("labels", Whole)]);
        let shape = if kind == "Namespace" { &NS_META } else { &META };
        out.push((Text::Shared("metadata"), cut(meta, shape)));
    }
    match kind {
        "Secret" => {
            for k in ["type", "data", "stringData", "binaryData"] {
                if let Some(x) = m.get(k) {
                    let shape = if k == "type" {
                        &Whole
                    } else {
                        &KeysBut(&["tls.crt"])
                    };
                    out.push((Text::Shared(k), cut(x, shape)));
                }
            }
        }
        "ConfigMap" => {
            static CONFIG: Shape = Fields(&[("envoy-gateway.yaml", Whole)]);
            if let Some(x) = m.get("data") {
                out.push((Text::Shared("data"), cut(x, &CONFIG)));
            }
        }
        _ => {}
    }
    if let (Some(shape), Some(spec)) = (spec_shape(kind), m.get("spec")) {
        out.push((Text::Shared("spec"), cut(spec, shape)));
    }
    Fact::Object(out.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_by_content() {
        let v = serde_json::json!({"kind": "Gateway", "name": "gw", "labels": {"team": "a"}});
        let f = Fact::from_json(&v);
        assert_eq!(f["kind"], Fact::Str("Gateway".into()));
        assert_eq!(f["name"], Fact::Str("gw".into()));
        assert_eq!(f["labels"]["team"].as_str(), Some("a"));
        assert_eq!(f, Fact::from_json(&v));
        assert_eq!(Text::Shared("team"), Text::Own("team".into()));
        assert_eq!(project(&v)["kind"], f["kind"]);
        // a Fact stays three words: most of the layer's memory is these nodes
        assert_eq!(std::mem::size_of::<Fact>(), 24);
    }
}
