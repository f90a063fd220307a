//! The facts of one object the reference layer reads, kept compactly.
//!
//! What the engine keeps per document until every source is checked, so on large inputs it is
//! most of the engine's long-lived memory. A [`Fact`] is a JSON-shaped value cut down to what
//! the layer needs, encoded in bytes: the facts of all the documents of a source are one
//! buffer ([`Facts`]), two allocations per source instead of a tree of small boxes per
//! document. Small boxes that outlive the documents they were cut from were interleaved with
//! the freed documents in the allocator's heap and kept it from shrinking (measured: 70 MB of
//! 230 MB resident at 100,000 documents).
//!
//! The encoding, one node:
//! - a tag byte: null, false, true, an integer (zigzag LEB128), an unsigned integer above
//!   i64::MAX (LEB128), a float (8 bytes), a string, an array, a mapping;
//! - a string is a *text*: LEB128 `x`; `x` even: the string `SHARED[x / 2]` (field names and
//!   the kinds, apiVersions and words a stack repeats), odd: `x / 2` bytes of UTF-8 follow;
//! - an array or a mapping: LEB128 length of its body in bytes, then the body: the items, or
//!   each entry as its key (a text) followed by its value; so a node is skipped without
//!   reading it.
//!
//! `&Fact` is a view of one node's bytes (as `&Path` is of an `OsStr`'s), made safely by the
//! `ref-cast` crate: the layer reads facts with the accessors of serde_json's `Value` (`get`,
//! indexing with Null for a missing key, `as_str`...), in place, without decoding them.
//! LEB128 is written here (a dozen lines): a crate for it would add a dependency for less code
//! than its glue.

use ref_cast::RefCast;
use serde_json::Value;

use super::policies::POLICY_KINDS;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const UINT: u8 = 4;
const FLOAT: u8 = 5;
const STR: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

/// Strings stored as one byte: the field names the layer reads (the shapes below, the ai/
/// family's) and the kinds, apiVersions and enum words of a traffic stack. Not tuned to a
/// corpus; any other string is stored as it is. At most 64 entries (a one-byte text).
const SHARED: &[&str] = &[
    // field names
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "labels",
    "spec",
    "type",
    "data",
    "group",
    "sectionName",
    "port",
    "hostname",
    "protocol",
    "allowedRoutes",
    "namespaces",
    "from",
    "selector",
    "kinds",
    "tls",
    "certificateRefs",
    "parentRefs",
    "hostnames",
    "rules",
    "backendRefs",
    "filters",
    "targetRef",
    "targetRefs",
    "rateLimit",
    "global",
    "scaleTargetRef",
    "triggers",
    "authenticationRef",
    "template",
    "containers",
    "ports",
    "secretName",
    "issuerRef",
    "dnsNames",
    "targetPort",
    "backendRef",
    "secretRef",
    "matchLabels",
    // kinds
    "Gateway",
    "HTTPRoute",
    "Service",
    "Deployment",
    "Namespace",
    "Secret",
    "Certificate",
    "Issuer",
    "BackendTrafficPolicy",
    "ClientTrafficPolicy",
    "SecurityPolicy",
    "ScaledObject",
    // apiVersions
    "v1",
    "apps/v1",
    "gateway.networking.k8s.io/v1",
    "gateway.envoyproxy.io/v1alpha1",
    "cert-manager.io/v1",
    "keda.sh/v1alpha1",
    // words
    "HTTP",
    "HTTPS",
    "http",
];

/// The index of a shared string.
fn shared_id(s: &str) -> Option<usize> {
    static SORTED: std::sync::OnceLock<Vec<(&'static str, usize)>> = std::sync::OnceLock::new();
    let sorted = SORTED.get_or_init(|| {
        let mut v: Vec<(&str, usize)> = SHARED.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        v.sort_unstable();
        v
    });
    sorted
        .binary_search_by(|(k, _)| (*k).cmp(s))
        .ok()
        .map(|i| sorted[i].1)
}

fn put_varint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

/// A LEB128 number at the start of `b`, and the bytes it takes.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        x |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((x, i + 1));
        }
    }
    None
}

fn put_text(buf: &mut Vec<u8>, s: &str) {
    match shared_id(s) {
        Some(i) => put_varint(buf, (i as u64) << 1),
        None => {
            put_varint(buf, ((s.len() as u64) << 1) | 1);
            buf.extend_from_slice(s.as_bytes());
        }
    }
}

/// The text at the start of `b` (its bytes) and the bytes it takes.
fn text(b: &[u8]) -> Option<(&[u8], usize)> {
    let (x, n) = varint(b)?;
    let x = usize::try_from(x).ok()?;
    if x & 1 == 0 {
        Some((SHARED.get(x >> 1)?.as_bytes(), n))
    } else {
        let len = x >> 1;
        Some((b.get(n..n.checked_add(len)?)?, n + len))
    }
}

/// The bytes of the node at the start of `b`.
fn node_len(b: &[u8]) -> Option<usize> {
    let rest = b.get(1..)?;
    let body = match b[0] {
        NULL | FALSE | TRUE => 0,
        INT | UINT => varint(rest)?.1,
        FLOAT => 8,
        STR => text(rest)?.1,
        ARRAY | OBJECT => {
            let (len, n) = varint(rest)?;
            n.checked_add(usize::try_from(len).ok()?)?
        }
        _ => return None,
    };
    (body < b.len()).then_some(body + 1)
}

/// Split the node at the start of `b` from what follows it.
fn split_node(b: &[u8]) -> Option<(&Fact, &[u8])> {
    let n = node_len(b)?;
    Some((Fact::ref_cast(&b[..n]), &b[n..]))
}

fn utf8(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

/// Start an array or a mapping; returns where its body starts, for [`close`].
fn open(buf: &mut Vec<u8>, tag: u8) -> usize {
    buf.push(tag);
    // the body's length, most often one byte; `close` makes room when it is longer
    buf.push(0);
    buf.len()
}

fn close(buf: &mut Vec<u8>, start: usize) {
    let len = (buf.len() - start) as u64;
    if len < 0x80 {
        buf[start - 1] = len as u8;
        return;
    }
    let mut head = Vec::with_capacity(10);
    put_varint(&mut head, len);
    buf.splice(start - 1..start, head);
}

fn put_json(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.push(NULL),
        Value::Bool(b) => buf.push(if *b { TRUE } else { FALSE }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                buf.push(INT);
                put_varint(buf, ((i << 1) ^ (i >> 63)) as u64);
            } else if let Some(u) = n.as_u64() {
                buf.push(UINT);
                put_varint(buf, u);
            } else {
                buf.push(FLOAT);
                buf.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        }
        Value::String(s) => {
            buf.push(STR);
            put_text(buf, s);
        }
        Value::Array(a) => {
            let start = open(buf, ARRAY);
            for x in a {
                put_json(buf, x);
            }
            close(buf, start);
        }
        Value::Object(m) => {
            let start = open(buf, OBJECT);
            for (k, x) in m {
                put_text(buf, k);
                put_json(buf, x);
            }
            close(buf, start);
        }
    }
}

/// A value of the facts of one object: JSON's shapes, read in place from its encoding (see
/// the module's documentation). Compared by encoding, which is canonical.
#[derive(RefCast, PartialEq, Eq)]
#[repr(transparent)]
pub struct Fact([u8]);

static NULL_NODE: [u8; 1] = [NULL];

impl Fact {
    fn null() -> &'static Fact {
        Fact::ref_cast(&NULL_NODE)
    }
    fn tag(&self) -> u8 {
        self.0.first().copied().unwrap_or(NULL)
    }
    /// The body of an array or a mapping.
    fn body(&self, tag: u8) -> Option<&[u8]> {
        if self.tag() != tag {
            return None;
        }
        let (_, n) = varint(&self.0[1..])?;
        self.0.get(1 + n..)
    }
    /// Back to JSON (for a family that reads JSON; see ai_gateway::project_into).
    pub fn to_json(&self) -> Value {
        match self.tag() {
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT | UINT | FLOAT => self.number().map_or(Value::Null, Value::Number),
            STR => Value::String(self.as_str().unwrap_or("").to_string()),
            ARRAY => Value::Array(
                self.as_array()
                    .into_iter()
                    .flatten()
                    .map(Fact::to_json)
                    .collect(),
            ),
            OBJECT => Value::Object(
                self.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
            _ => Value::Null,
        }
    }
    fn number(&self) -> Option<serde_json::Number> {
        let rest = self.0.get(1..)?;
        match self.tag() {
            INT => {
                let (z, _) = varint(rest)?;
                Some(((z >> 1) as i64 ^ -((z & 1) as i64)).into())
            }
            UINT => Some(varint(rest)?.0.into()),
            FLOAT => {
                serde_json::Number::from_f64(f64::from_le_bytes(rest.get(..8)?.try_into().ok()?))
            }
            _ => None,
        }
    }
    pub fn get(&self, key: &str) -> Option<&Fact> {
        self.as_object().and_then(|m| m.get(key))
    }
    pub fn as_object(&self) -> Option<Obj<'_>> {
        self.body(OBJECT).map(Obj)
    }
    pub fn as_array(&self) -> Option<Arr<'_>> {
        self.body(ARRAY).map(Arr)
    }
    pub fn as_str(&self) -> Option<&str> {
        if self.tag() != STR {
            return None;
        }
        text(&self.0[1..]).map(|(b, _)| utf8(b))
    }
    pub fn as_i64(&self) -> Option<i64> {
        self.number().and_then(|n| n.as_i64())
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self.tag() {
            FALSE => Some(false),
            TRUE => Some(true),
            _ => None,
        }
    }
    pub fn is_object(&self) -> bool {
        self.tag() == OBJECT
    }
    pub fn is_null(&self) -> bool {
        self.tag() == NULL
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

impl std::fmt::Debug for Fact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl std::ops::Index<&str> for Fact {
    type Output = Fact;
    /// The value of a key, or Null (as serde_json's indexing).
    fn index(&self, key: &str) -> &Fact {
        self.get(key).unwrap_or(Fact::null())
    }
}

/// The entries of a mapping of the facts.
#[derive(Debug, Clone, Copy)]
pub struct Obj<'a>(&'a [u8]);

impl<'a> Obj<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Fact> {
        let mut b = self.0;
        while !b.is_empty() {
            let (k, n) = text(b)?;
            let (v, rest) = split_node(&b[n..])?;
            if k == key.as_bytes() {
                return Some(v);
            }
            b = rest;
        }
        None
    }
    pub fn iter(self) -> ObjIter<'a> {
        ObjIter(self.0)
    }
    pub fn keys(self) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().map(|(k, _)| k)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for Obj<'a> {
    type Item = (&'a str, &'a Fact);
    type IntoIter = ObjIter<'a>;
    fn into_iter(self) -> ObjIter<'a> {
        self.iter()
    }
}

/// The entries of a mapping, in order.
pub struct ObjIter<'a>(&'a [u8]);

impl<'a> Iterator for ObjIter<'a> {
    type Item = (&'a str, &'a Fact);
    fn next(&mut self) -> Option<Self::Item> {
        let (k, n) = text(self.0)?;
        let Some((v, rest)) = split_node(&self.0[n..]) else {
            self.0 = &[];
            return None;
        };
        self.0 = rest;
        Some((utf8(k), v))
    }
}

/// The items of an array of the facts.
#[derive(Debug, Clone, Copy)]
pub struct Arr<'a>(&'a [u8]);

impl<'a> Arr<'a> {
    pub fn iter(self) -> ArrIter<'a> {
        ArrIter(self.0)
    }
    pub fn len(&self) -> usize {
        self.iter().count()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, i: usize) -> Option<&'a Fact> {
        self.iter().nth(i)
    }
}

impl<'a> IntoIterator for Arr<'a> {
    type Item = &'a Fact;
    type IntoIter = ArrIter<'a>;
    fn into_iter(self) -> ArrIter<'a> {
        self.iter()
    }
}

/// The items of an array, in order.
pub struct ArrIter<'a>(&'a [u8]);

impl<'a> Iterator for ArrIter<'a> {
    type Item = &'a Fact;
    fn next(&mut self) -> Option<&'a Fact> {
        let Some((v, rest)) = split_node(self.0) else {
            self.0 = &[];
            return None;
        };
        self.0 = rest;
        Some(v)
    }
}

/// One value of facts, owned.
#[derive(Clone, PartialEq, Eq)]
pub struct FactBuf(Box<[u8]>);

impl FactBuf {
    /// The whole value, as facts.
    pub fn from_json(v: &Value) -> FactBuf {
        let mut buf = Vec::new();
        put_json(&mut buf, v);
        FactBuf(buf.into_boxed_slice())
    }
}

impl std::ops::Deref for FactBuf {
    type Target = Fact;
    fn deref(&self) -> &Fact {
        Fact::ref_cast(&self.0)
    }
}

impl std::fmt::Debug for FactBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// The facts of many objects in one buffer (a source's documents), in order.
#[derive(Debug, Default)]
pub struct Facts {
    bytes: Vec<u8>,
    /// where each value ends in `bytes`
    ends: Vec<usize>,
}

impl Facts {
    /// Add what [`project`] keeps of an object.
    pub fn push_projected(&mut self, v: &Value) {
        project_into(&mut self.bytes, v);
        self.ends.push(self.bytes.len());
    }
    /// Add a whole value.
    pub fn push_json(&mut self, v: &Value) {
        put_json(&mut self.bytes, v);
        self.ends.push(self.bytes.len());
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Give back the room grown for values that are not there (once every value is in).
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
    pub fn iter(&self) -> impl Iterator<Item = &Fact> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(a, b)| Fact::ref_cast(&self.bytes[a..b]))
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

fn cut(buf: &mut Vec<u8>, v: &Value, shape: &Shape) {
    match (shape, v) {
        (Fields(fields), Value::Object(m)) => {
            let start = open(buf, OBJECT);
            for (k, sh) in *fields {
                if let Some(x) = m.get(*k) {
                    put_text(buf, k);
                    cut(buf, x, sh);
                }
            }
            close(buf, start);
        }
        (Each(sh), Value::Array(a)) => {
            let start = open(buf, ARRAY);
            for x in a {
                cut(buf, x, sh);
            }
            close(buf, start);
        }
        (KeysBut(keep), Value::Object(m)) => {
            let start = open(buf, OBJECT);
            for (k, x) in m {
                put_text(buf, k);
                if keep.contains(&k.as_str()) {
                    put_json(buf, x);
                } else {
                    buf.push(NULL);
                }
            }
            close(buf, start);
        }
        _ => put_json(buf, v),
    }
}

/// The facts of one object that [`super::check`] reads: identity (apiVersion, kind, metadata
/// name and namespace, a Namespace's labels), the references and names of its kind, a Secret's
/// type and key names (never its values, but for the certificate in tls.crt), the Envoy
/// Gateway configuration of its ConfigMap. What the layer is given instead of whole objects,
/// so that memory stays small on large inputs; `check(project(x))` finds what `check(x)` finds.
pub fn project(v: &Value) -> FactBuf {
    let mut buf = Vec::new();
    project_into(&mut buf, v);
    FactBuf(buf.into_boxed_slice())
}

fn project_into(buf: &mut Vec<u8>, v: &Value) {
    let Value::Object(m) = v else {
        buf.push(NULL);
        return;
    };
    let start = open(buf, OBJECT);
    for k in ["apiVersion", "kind"] {
        if let Some(x) = m.get(k) {
            put_text(buf, k);
            put_json(buf, x);
        }
    }
    let kind = v["kind"].as_str().unwrap_or("");
    if let Some(meta) = m.get("metadata") {
        static META: Shape = Fields(&[("name", Whole), ("namespace", Whole)]);
        static NS_META: Shape = Fields(&[("name", Whole), ("namespace", Whole), ("labels", Whole)]);
        let shape = if kind == "Namespace" { &NS_META } else { &META };
        put_text(buf, "metadata");
        cut(buf, meta, shape);
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
                    put_text(buf, k);
                    cut(buf, x, shape);
                }
            }
        }
        "ConfigMap" => {
            static CONFIG: Shape = Fields(&[("envoy-gateway.yaml", Whole)]);
            if let Some(x) = m.get("data") {
                put_text(buf, "data");
                cut(buf, x, &CONFIG);
            }
        }
        _ => {}
    }
    if let (Some(shape), Some(spec)) = (spec_shape(kind), m.get("spec")) {
        put_text(buf, "spec");
        cut(buf, spec, shape);
    }
    close(buf, start);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_was_written() {
        let v = json!({"kind": "Gateway", "name": "gw", "labels": {"team": "a"},
            "n": [0, -1, 1, 127, 128, -65, i64::MAX, i64::MIN, u64::MAX, 1.5, -0.25, true, false, null],
            "long": "x".repeat(300), "nested": {"a": [{"b": "y".repeat(200)}], "": ""}});
        let f = FactBuf::from_json(&v);
        assert_eq!(f.to_json(), v);
        assert_eq!(f["kind"].as_str(), Some("Gateway"));
        assert_eq!(f["name"].as_str(), Some("gw"));
        assert_eq!(f["labels"]["team"].as_str(), Some("a"));
        assert!(f["missing"].is_null() && f["kind"]["x"].is_null());
        assert!(f["labels"].is_object() && !f["kind"].is_object());
        let n = f["n"].as_array().unwrap();
        assert_eq!(n.len(), 14);
        assert_eq!(n.get(6).and_then(Fact::as_i64), Some(i64::MAX));
        assert_eq!(n.get(7).and_then(Fact::as_i64), Some(i64::MIN));
        assert_eq!(n.get(8).and_then(Fact::as_i64), None);
        assert_eq!(n.get(11).and_then(Fact::as_bool), Some(true));
        assert_eq!(
            f["nested"]["a"].as_array().unwrap().get(0).unwrap()["b"]
                .as_str()
                .map(str::len),
            Some(200)
        );
        assert_eq!(f["nested"][""].as_str(), Some(""));
        let keys: Vec<&str> = f.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["kind", "name", "labels", "n", "long", "nested"]);
        // the encoding is canonical: equal values, equal facts
        assert_eq!(f, FactBuf::from_json(&v));
        assert_ne!(f, FactBuf::from_json(&json!({"kind": "Gateway"})));
        assert_eq!(project(&v)["kind"], f["kind"]);
    }

    #[test]
    fn many_values_in_one_buffer() {
        let docs = [
            json!({"kind": "A"}),
            json!(null),
            json!({"kind": "B", "spec": {"x": 1}}),
        ];
        let mut facts = Facts::default();
        for d in &docs {
            facts.push_json(d);
        }
        facts.push_projected(&docs[2]);
        facts.shrink_to_fit();
        let back: Vec<Value> = facts.iter().map(Fact::to_json).collect();
        assert_eq!(
            back,
            [
                docs[0].clone(),
                docs[1].clone(),
                docs[2].clone(),
                json!({"kind": "B"})
            ]
        );
    }

    #[test]
    fn shared_strings_fit_one_byte() {
        assert!(SHARED.len() <= 64);
        for (i, s) in SHARED.iter().enumerate() {
            assert_eq!(shared_id(s), Some(i), "{s} is listed twice");
        }
    }
}
