//! openAPIV3Schema handling, the way the Kubernetes API server applies it to a custom resource:
//! a structural tree (defaults, list types, CEL rules), a JSON Schema for the `jsonschema` crate
//! (closed objects, `int-or-string`, `nullable`, Kubernetes formats), defaulting, metadata checks
//! and the mapping of `jsonschema` errors to findings.

use std::collections::BTreeMap;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, PatternOptions, ValidationError, Validator};
use serde_json::{Map, Value, json};

use crate::validate::cel::Rule;
use crate::validate::finding::{Finding, pointer_segment};

/// Deepest schema nesting accepted (the deepest upstream CRD is about 40 levels).
const MAX_SCHEMA_DEPTH: usize = 256;
/// How many property names an unknown-field hint lists before "…".
const HINT_FIELDS: usize = 25;

/// The OpenAPI `type` of a structural schema node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) enum ListType {
    #[default]
    Atomic,
    Set,
    Map(Vec<String>),
}

/// One node of a structural schema: what defaulting, list checks and CEL need.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub ty: Option<Ty>,
    pub properties: BTreeMap<String, Node>,
    /// Names of the properties that carry a `default`.
    pub defaulted: Vec<String>,
    /// `additionalProperties` given as a schema (a map).
    pub additional: Option<Box<Node>>,
    pub items: Option<Box<Node>>,
    pub default: Option<Value>,
    pub nullable: bool,
    pub preserve_unknown: bool,
    pub int_or_string: bool,
    pub embedded: bool,
    pub list_type: ListType,
    pub rules: Vec<Rule>,
    /// This node or one below it has CEL rules or list-set/list-map checks.
    pub walk: bool,
}

fn flag(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key).and_then(Value::as_bool).unwrap_or(false)
}

impl Node {
    /// Build the structural tree of a schema. Only the structural "spine" (properties, items,
    /// additionalProperties) is followed: allOf/anyOf/oneOf/not are value validations that the
    /// JSON Schema handles.
    pub(crate) fn parse(raw: &Value, at: &str, depth: usize) -> Result<Node, String> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(format!(
                "{at}: schema nested deeper than {MAX_SCHEMA_DEPTH} levels"
            ));
        }
        let m = raw
            .as_object()
            .ok_or_else(|| format!("{at}: a schema must be an object"))?;
        let ty = match m.get("type") {
            None => None,
            Some(Value::String(t)) => Some(match t.as_str() {
                "object" => Ty::Object,
                "array" => Ty::Array,
                "string" => Ty::String,
                "integer" => Ty::Integer,
                "number" => Ty::Number,
                "boolean" => Ty::Boolean,
                other => return Err(format!("{at}: unknown type `{other}`")),
            }),
            Some(other) => return Err(format!("{at}: `type` must be a string, got {other}")),
        };
        let mut node = Node {
            ty,
            nullable: flag(m, "nullable"),
            preserve_unknown: flag(m, "x-kubernetes-preserve-unknown-fields"),
            int_or_string: flag(m, "x-kubernetes-int-or-string"),
            embedded: flag(m, "x-kubernetes-embedded-resource"),
            default: m.get("default").cloned(),
            ..Node::default()
        };
        if let Some(props) = m.get("properties") {
            let props = props
                .as_object()
                .ok_or_else(|| format!("{at}: `properties` must be an object"))?;
            for (k, v) in props {
                let child = Node::parse(v, &format!("{at}.{k}"), depth + 1)?;
                if child.default.is_some() {
                    node.defaulted.push(k.clone());
                }
                node.properties.insert(k.clone(), child);
            }
        }
        match m.get("additionalProperties") {
            Some(v @ Value::Object(_)) => {
                node.additional = Some(Box::new(Node::parse(v, &format!("{at}.*"), depth + 1)?));
            }
            Some(Value::Bool(true)) => {
                // any value, no schema: keep values as they are
                node.additional = Some(Box::new(Node {
                    preserve_unknown: true,
                    ..Node::default()
                }));
            }
            _ => {}
        }
        match m.get("items") {
            Some(v @ Value::Object(_)) => {
                node.items = Some(Box::new(Node::parse(v, &format!("{at}[]"), depth + 1)?));
            }
            Some(Value::Array(_)) => {
                return Err(format!(
                    "{at}: tuple `items` are not allowed in a structural schema"
                ));
            }
            _ => {}
        }
        node.list_type = match m.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => {
                let keys: Vec<String> = m
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if keys.is_empty() {
                    return Err(format!(
                        "{at}: x-kubernetes-list-type map needs x-kubernetes-list-map-keys"
                    ));
                }
                ListType::Map(keys)
            }
            _ => ListType::Atomic,
        };
        if let Some(rules) = m.get("x-kubernetes-validations") {
            let rules = rules
                .as_array()
                .ok_or_else(|| format!("{at}: x-kubernetes-validations must be a list"))?;
            for r in rules {
                node.rules
                    .push(Rule::from_json(r).map_err(|e| format!("{at}: {e}"))?);
            }
        }
        node.walk = !node.rules.is_empty()
            || node.embedded
            || node.list_type != ListType::Atomic
            || node.properties.values().any(|p| p.walk)
            || node.additional.as_ref().is_some_and(|a| a.walk)
            || node.items.as_ref().is_some_and(|i| i.walk);
        Ok(node)
    }

    /// A node is struct-like (fields, escaped names in CEL) unless it is a map
    /// (`additionalProperties` with no `properties`).
    pub(crate) fn is_map(&self) -> bool {
        self.properties.is_empty() && self.additional.is_some()
    }

    /// Whether `v` has the JSON type this node declares (so that CEL on it makes sense).
    pub(crate) fn type_matches(&self, v: &Value) -> bool {
        if v.is_null() {
            return self.nullable || (self.ty.is_none() && !self.int_or_string);
        }
        if self.int_or_string {
            return v.is_string() || v.as_i64().is_some() || v.as_u64().is_some();
        }
        match self.ty {
            None => true,
            Some(Ty::Object) => v.is_object(),
            Some(Ty::Array) => v.is_array(),
            Some(Ty::String) => v.is_string(),
            Some(Ty::Integer) => v.is_i64() || v.is_u64(),
            Some(Ty::Number) => v.is_number(),
            Some(Ty::Boolean) => v.is_boolean(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Defaulting

/// Apply `default`s the way the API server does (structural defaulting): a property that is
/// absent, or `null` while not nullable, gets its default; other `null`s of non-nullable
/// properties are pruned; recursion goes into properties, additionalProperties and items,
/// including values that were just defaulted.
pub(crate) fn apply_defaults(x: &mut Value, node: &Node) {
    match x {
        Value::Object(map) => {
            for k in &node.defaulted {
                let Some(prop) = node.properties.get(k) else {
                    continue;
                };
                let missing = match map.get(k) {
                    None => true,
                    Some(Value::Null) => !prop.nullable,
                    Some(_) => false,
                };
                if missing && let Some(d) = &prop.default {
                    map.insert(k.clone(), d.clone());
                }
            }
            // prune non-nullable nulls without defaults
            let prune: Vec<String> = map
                .iter()
                .filter(|(k, v)| {
                    v.is_null()
                        && node
                            .properties
                            .get(*k)
                            .is_some_and(|p| !p.nullable && p.default.is_none())
                })
                .map(|(k, _)| k.clone())
                .collect();
            for k in prune {
                map.shift_remove(&k);
            }
            for (k, v) in map.iter_mut() {
                if let Some(prop) = node.properties.get(k) {
                    apply_defaults(v, prop);
                } else if let Some(ap) = &node.additional {
                    apply_defaults(v, ap);
                }
            }
        }
        Value::Array(items) => {
            if let Some(it) = &node.items {
                for v in items {
                    apply_defaults(v, it);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Schema conversion

/// Keywords copied unchanged from an OpenAPI v3 schema to the JSON Schema.
const COPIED: &[&str] = &[
    "pattern",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "multipleOf",
    "uniqueItems",
    "required",
];

/// Formats Kubernetes checks (leniently, like kube-openapi's strfmt registry); each becomes a
/// custom format `k8s-<name>` so that none of `jsonschema`'s stricter built-in checks applies.
/// Every other format (int32, int64, float, double, password, …) is an annotation only.
pub(crate) const K8S_FORMATS: &[&str] = &[
    "byte",
    "date-time",
    "date",
    "ipv4",
    "ipv6",
    "cidr",
    "uri",
    "uuid",
    "duration",
    "hostname",
    "email",
    "mac",
];

/// Convert one OpenAPI v3 schema node. `spine` is false inside allOf/anyOf/oneOf/not, where
/// Kubernetes only allows value validations: such objects are not closed.
pub(crate) fn to_json_schema(raw: &Value, spine: bool, depth: usize) -> Value {
    let Some(m) = raw.as_object() else {
        return json!({});
    };
    if depth > MAX_SCHEMA_DEPTH {
        return json!({});
    }
    let mut out = Map::new();
    let nullable = flag(m, "nullable");
    let preserve = flag(m, "x-kubernetes-preserve-unknown-fields");
    let int_or_string = flag(m, "x-kubernetes-int-or-string");
    let embedded = flag(m, "x-kubernetes-embedded-resource");
    let ty = m.get("type").and_then(Value::as_str);

    let mut types: Vec<Value> = if int_or_string {
        vec![json!("integer"), json!("string")]
    } else if let Some(t) = ty {
        vec![json!(t)]
    } else {
        Vec::new()
    };
    if !types.is_empty() {
        if nullable {
            types.push(json!("null"));
        }
        out.insert(
            "type".into(),
            if types.len() == 1 {
                types.remove(0)
            } else {
                Value::Array(types)
            },
        );
    }
    for k in COPIED {
        if let Some(v) = m.get(*k) {
            out.insert((*k).to_string(), v.clone());
        }
    }
    // OpenAPI v3.0 / draft 4 style exclusive bounds are booleans next to minimum/maximum.
    for (bound, exclusive) in [
        ("minimum", "exclusiveMinimum"),
        ("maximum", "exclusiveMaximum"),
    ] {
        if let Some(limit) = m.get(bound) {
            match m.get(exclusive) {
                Some(Value::Bool(true)) => {
                    out.insert(exclusive.to_string(), limit.clone());
                }
                _ => {
                    out.insert(bound.to_string(), limit.clone());
                }
            }
        } else if let Some(v @ Value::Number(_)) = m.get(exclusive) {
            out.insert(exclusive.to_string(), v.clone());
        }
    }
    if let Some(Value::Array(values)) = m.get("enum") {
        let mut values = values.clone();
        if nullable && !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
        out.insert("enum".into(), Value::Array(values));
    }
    if let Some(f) = m.get("format").and_then(Value::as_str)
        && K8S_FORMATS.contains(&f)
    {
        out.insert("format".into(), json!(format!("k8s-{f}")));
    }
    let mut props = Map::new();
    if let Some(Value::Object(p)) = m.get("properties") {
        for (k, v) in p {
            props.insert(k.clone(), to_json_schema(v, spine, depth + 1));
        }
    }
    if embedded {
        // a full Kubernetes object: apiVersion, kind and metadata are part of it
        // the API server requires a non-empty apiVersion and kind in an embedded object,
        // with or without x-kubernetes-preserve-unknown-fields
        props
            .entry("apiVersion")
            .or_insert_with(|| json!({"type": "string", "minLength": 1}));
        props
            .entry("kind")
            .or_insert_with(|| json!({"type": "string", "minLength": 1}));
        props.insert("metadata".into(), object_meta_schema(None));
        let mut req: Vec<Value> = match out.get("required") {
            Some(Value::Array(r)) => r.clone(),
            _ => Vec::new(),
        };
        for k in ["apiVersion", "kind"] {
            if !req.contains(&json!(k)) {
                req.push(json!(k));
            }
        }
        if !req.is_empty() {
            out.insert("required".into(), Value::Array(req));
        }
    }
    let has_props = !props.is_empty();
    if has_props {
        out.insert("properties".into(), Value::Object(props));
    }
    if let Some(items) = m.get("items")
        && items.is_object()
    {
        out.insert("items".into(), to_json_schema(items, spine, depth + 1));
    }
    match m.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            out.insert("additionalProperties".into(), json!(*b));
        }
        Some(v @ Value::Object(_)) => {
            out.insert(
                "additionalProperties".into(),
                to_json_schema(v, spine, depth + 1),
            );
        }
        _ => {
            // The API server prunes (and with strict field validation rejects) every field an
            // object schema does not declare, unless x-kubernetes-preserve-unknown-fields.
            if spine && !preserve && (ty == Some("object") || has_props) {
                out.insert("additionalProperties".into(), json!(false));
            }
        }
    }
    for k in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = m.get(k) {
            // `anyOf: [{type: integer}, {type: string}]` next to int-or-string is what the
            // type above already says; keeping it would only duplicate errors.
            let only_types = branches.iter().all(|b| {
                b.as_object()
                    .is_some_and(|o| o.len() == 1 && o.contains_key("type"))
            });
            if int_or_string && only_types {
                continue;
            }
            let converted: Vec<Value> = branches
                .iter()
                .map(|b| to_json_schema(b, false, depth + 1))
                .collect();
            out.insert(k.to_string(), Value::Array(converted));
        }
    }
    if let Some(n) = m.get("not") {
        out.insert("not".into(), to_json_schema(n, false, depth + 1));
    }
    Value::Object(out)
}

/// The ObjectMeta fields a client may send. `crd_meta` is the CRD's own schema for
/// `metadata` (only `name`/`generateName` constraints are allowed there).
pub(crate) fn object_meta_schema(crd_meta: Option<&Value>) -> Value {
    let string = json!({"type": "string"});
    let string_map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let mut props = Map::new();
    for k in [
        "name",
        "namespace",
        "generateName",
        "uid",
        "resourceVersion",
        "selfLink",
    ] {
        props.insert(k.into(), string.clone());
    }
    props.insert("labels".into(), string_map.clone());
    props.insert("annotations".into(), string_map);
    props.insert(
        "finalizers".into(),
        json!({"type": "array", "items": {"type": "string"}}),
    );
    props.insert(
        "ownerReferences".into(),
        json!({"type": "array", "items": {
            "type": "object",
            "required": ["apiVersion", "kind", "name", "uid"],
            "additionalProperties": false,
            "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "name": {"type": "string"}, "uid": {"type": "string"},
                "controller": {"type": "boolean"}, "blockOwnerDeletion": {"type": "boolean"}
            }
        }}),
    );
    props.insert("generation".into(), json!({"type": "integer"}));
    props.insert(
        "deletionGracePeriodSeconds".into(),
        json!({"type": "integer"}),
    );
    props.insert(
        "creationTimestamp".into(),
        json!({"type": ["string", "null"]}),
    );
    props.insert(
        "deletionTimestamp".into(),
        json!({"type": ["string", "null"]}),
    );
    props.insert("managedFields".into(), json!({"type": "array"}));
    if let Some(Value::Object(p)) = crd_meta.and_then(|m| m.get("properties")) {
        for k in ["name", "generateName"] {
            if let Some(s) = p.get(k) {
                let mut converted = to_json_schema(s, true, 1);
                if let Value::Object(c) = &mut converted {
                    c.insert("type".into(), json!("string"));
                }
                props.insert(k.into(), converted);
            }
        }
    }
    json!({"type": "object", "additionalProperties": false, "properties": props})
}

/// Names of the ObjectMeta fields, for hints.
pub(crate) const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "labels",
    "annotations",
    "generateName",
    "finalizers",
    "ownerReferences",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// The JSON Schema of a whole custom resource of one version.
pub(crate) fn root_json_schema(raw: &Value, status_subresource: bool) -> Value {
    let mut root = to_json_schema(raw, true, 0);
    if let Value::Object(r) = &mut root {
        r.insert("type".into(), json!("object"));
        let props = r
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(p) = props {
            p.insert("apiVersion".into(), json!({"type": "string"}));
            p.insert("kind".into(), json!({"type": "string"}));
            p.insert(
                "metadata".into(),
                object_meta_schema(raw.get("properties").and_then(|p| p.get("metadata"))),
            );
            if status_subresource {
                // status is reset on create when the status subresource is enabled
                // (and stripped before validation): accept whatever is there
                p.insert("status".into(), json!({}));
            }
        }
        if status_subresource && let Some(Value::Array(req)) = r.get_mut("required") {
            req.retain(|k| k != "status");
        }
        r.insert("additionalProperties".into(), json!(false));
    }
    root
}

/// Build the `jsonschema` validator for a converted schema.
pub(crate) fn build_validator(schema: &Value) -> Result<Validator, String> {
    let mut opts = jsonschema::options()
        .with_draft(Draft::Draft7)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(true)
        .with_pattern_options(PatternOptions::regex());
    for f in K8S_FORMATS {
        let check: fn(&str) -> bool = format_check(f);
        opts = opts.with_format(format!("k8s-{f}"), check);
    }
    opts.build(schema).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Kubernetes formats (lenient, as kube-openapi's strfmt)

fn format_check(name: &str) -> fn(&str) -> bool {
    match name {
        "byte" => is_base64,
        "date-time" => is_date_time,
        "date" => is_date,
        "ipv4" => |s| s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => |s| s.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => is_cidr,
        "uri" => is_uri,
        "uuid" => is_uuid,
        "duration" => is_go_duration,
        "hostname" => |s| is_dns1123_subdomain(&s.to_ascii_lowercase()),
        "email" => |s| {
            s.split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        },
        "mac" => is_mac,
        _ => |_| true,
    }
}

fn is_base64(s: &str) -> bool {
    // Go's base64.StdEncoding.DecodeString ignores \r and \n
    let clean: Vec<u8> = s.bytes().filter(|b| *b != b'\r' && *b != b'\n').collect();
    if !clean.len().is_multiple_of(4) {
        return false;
    }
    let pad = clean.iter().rev().take_while(|b| **b == b'=').count();
    if pad > 2 {
        return false;
    }
    clean[..clean.len() - pad]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_date(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    p.len() == 3 && digits(p[0], 4) && digits(p[1], 2) && digits(p[2], 2)
}

fn is_date_time(s: &str) -> bool {
    let Some(pos) = s.find(['T', 't', ' ']) else {
        return false;
    };
    let (date, rest) = s.split_at(pos);
    if !is_date(date) {
        return false;
    }
    let rest = &rest[1..];
    // time, fraction, zone
    let (time, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let time = time.split('.').next().unwrap_or_default();
    let t: Vec<&str> = time.split(':').collect();
    if t.len() != 3 || !t.iter().all(|p| digits(p, 2)) {
        return false;
    }
    match zone {
        "" | "Z" | "z" => true,
        z => {
            let z = &z[1..];
            digits(&z.replace(':', ""), 4)
        }
    }
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

fn is_uri(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_control() || c == ' ') {
        return false;
    }
    if s.starts_with('/') {
        return true;
    }
    match s.split_once(':') {
        Some((scheme, _)) => {
            let mut c = scheme.chars();
            c.next().is_some_and(|f| f.is_ascii_alphabetic())
                && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn is_uuid(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    p.len() == 5
        && p.iter()
            .zip(lens)
            .all(|(x, n)| x.len() == n && x.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_mac(s: &str) -> bool {
    let p: Vec<&str> = s.split([':', '-']).collect();
    matches!(p.len(), 6 | 8 | 20)
        && p.iter()
            .all(|x| x.len() == 2 && x.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Go `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or "0".
pub(crate) fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        if i == start
            || s[start..i].chars().filter(|c| *c == '.').count() > 1
            || &s[start..i] == "."
        {
            return false;
        }
        let u = i;
        while i < b.len() && !(b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        if !matches!(&s[u..i], "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return false;
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Metadata

/// RFC 1123 label: at most 63 lowercase alphanumerics or '-', starting and ending alphanumeric.
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// RFC 1123 subdomain: at most 253 characters, dot-separated labels.
pub(crate) fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Kubernetes' path.ValidatePathSegmentName: not `.`/`..`, no '/' or '%'.
fn is_path_segment_name(s: &str) -> bool {
    s != "." && s != ".." && !s.contains(['/', '%'])
}

/// The name part of a qualified name (label/annotation key): at most 63 characters,
/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

fn qualified_name_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && !is_dns1123_subdomain(p)
    {
        return Some(format!(
            "prefix `{p}` must be a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.')"
        ));
    }
    if name.contains('/') || !is_qualified_name_part(name) {
        return Some(format!(
            "name part `{name}` must be 1-63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
        ));
    }
    None
}

/// ObjectMeta validation the API server applies to every custom resource (name: DNS-1123
/// subdomain; namespace: DNS-1123 label; label and annotation keys and label values).
/// `require_name` is true for the root object; an embedded resource (false) needs no name and
/// its name is only checked as a path segment.
pub(crate) fn check_metadata(obj: &Value, base: &str, require_name: bool, out: &mut Vec<Finding>) {
    let meta_path = format!("{base}/metadata");
    let Some(meta) = obj.get("metadata") else {
        if require_name {
            out.push(Finding::error(
                "schema/metadata",
                meta_path,
                "metadata is required (with at least metadata.name)",
                "add `metadata: {name: <name>}`",
            ));
        }
        return;
    };
    let Some(meta) = meta.as_object() else {
        return; // the JSON Schema reports the type
    };
    let generated = meta
        .get("generateName")
        .and_then(Value::as_str)
        .is_some_and(|g| !g.is_empty());
    match meta.get("name") {
        // an embedded object's name is only checked as a path segment
        Some(Value::String(name)) if !require_name && !is_path_segment_name(name) => {
            out.push(Finding::error(
                "schema/metadata",
                format!("{meta_path}/name"),
                format!(
                    "metadata.name `{name}` may not be `.` or `..` and may not contain '/' or '%'"
                ),
                suggest_name(name),
            ));
        }
        Some(Value::String(name)) if require_name && !is_dns1123_subdomain(name) => {
            out.push(Finding::error(
                "schema/metadata",
                format!("{meta_path}/name"),
                format!(
                    "metadata.name `{name}` is not a valid DNS-1123 subdomain: lowercase alphanumerics, '-' or '.', starting and ending with an alphanumeric, at most 253 characters"
                ),
                suggest_name(name),
            ));
        }
        None if require_name && !generated => {
            out.push(Finding::error(
                "schema/metadata",
                format!("{meta_path}/name"),
                "metadata.name is required",
                "add `name:` under metadata (lowercase DNS-1123 subdomain, e.g. `task-api`)",
            ));
        }
        _ => {}
    }
    if let Some(Value::String(ns)) = meta.get("namespace")
        && !is_dns1123_label(ns)
    {
        out.push(Finding::error(
            "schema/metadata",
            format!("{meta_path}/namespace"),
            format!(
                "metadata.namespace `{ns}` is not a valid DNS-1123 label: at most 63 lowercase alphanumerics or '-', starting and ending with an alphanumeric"
            ),
            suggest_name(ns),
        ));
    }
    if let Some(Value::Object(labels)) = meta.get("labels") {
        for (k, v) in labels {
            let p = format!("{meta_path}/labels/{}", pointer_segment(k));
            if let Some(problem) = qualified_name_problem(k) {
                out.push(Finding::error(
                    "schema/metadata",
                    p.clone(),
                    format!("label key `{k}` is invalid: {problem}"),
                    "use keys like `app.kubernetes.io/name`",
                ));
            }
            if let Value::String(v) = v
                && !v.is_empty()
                && !is_qualified_name_part(v)
            {
                out.push(Finding::error(
                    "schema/metadata",
                    p,
                    format!(
                        "label value `{v}` is invalid: at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric (or empty)"
                    ),
                    "shorten the value or put it in an annotation instead",
                ));
            }
        }
    }
    if let Some(Value::Object(annotations)) = meta.get("annotations") {
        let mut total = 0usize;
        for (k, v) in annotations {
            total += k.len() + v.as_str().map_or(0, str::len);
            if let Some(problem) = qualified_name_problem(k) {
                out.push(Finding::error(
                    "schema/metadata",
                    format!("{meta_path}/annotations/{}", pointer_segment(k)),
                    format!("annotation key `{k}` is invalid: {problem}"),
                    "use keys like `example.com/owner`",
                ));
            }
        }
        if total > 256 * 1024 {
            out.push(Finding::error(
                "schema/metadata",
                format!("{meta_path}/annotations"),
                format!(
                    "annotations total {total} bytes, more than the 262144 the API server accepts"
                ),
                "move large data to a ConfigMap",
            ));
        }
    }
}

fn suggest_name(name: &str) -> String {
    let mut s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s = s.trim_matches(|c| c == '-' || c == '.').to_string();
    if s.is_empty() {
        "use lowercase letters, digits and '-'".to_string()
    } else {
        format!("use lowercase letters, digits and '-', e.g. `{s}`")
    }
}

// ---------------------------------------------------------------------------------------------
// jsonschema errors → findings

/// Where a JSON pointer lands in the structural tree, for hints.
pub(crate) enum Resolved<'n> {
    Node(&'n Node),
    /// root `metadata` or the metadata of an embedded resource
    ObjectMeta,
    Unknown,
}

/// Follow `pointer` (as segments) through the tree from the root.
pub(crate) fn resolve<'n>(root: &'n Node, pointer: &str) -> Resolved<'n> {
    let mut node = root;
    let mut segments = pointer.split('/').skip(1).map(unescape_segment).peekable();
    let mut first = true;
    while let Some(seg) = segments.next() {
        if (first || node.embedded) && seg == "metadata" {
            return if segments.peek().is_none() {
                Resolved::ObjectMeta
            } else {
                Resolved::Unknown
            };
        }
        first = false;
        node = if let Some(p) = node.properties.get(&seg) {
            p
        } else if let Some(ap) = &node.additional {
            ap
        } else if let Some(it) = &node.items {
            if seg.parse::<usize>().is_ok() {
                it
            } else {
                return Resolved::Unknown;
            }
        } else {
            return Resolved::Unknown;
        };
    }
    Resolved::Node(node)
}

fn unescape_segment(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

fn known_fields_hint(root: &Node, object_path: &str, is_root: bool) -> String {
    let mut names: Vec<String> = match resolve(root, object_path) {
        Resolved::Node(n) => {
            let mut v: Vec<String> = n.properties.keys().cloned().collect();
            if n.embedded || is_root {
                for k in ["apiVersion", "kind", "metadata"] {
                    if !v.iter().any(|x| x == k) {
                        v.push(k.to_string());
                    }
                }
            }
            v
        }
        Resolved::ObjectMeta => OBJECT_META_FIELDS.iter().map(|s| s.to_string()).collect(),
        Resolved::Unknown => Vec::new(),
    };
    if names.is_empty() {
        return "remove it; this object accepts no fields".to_string();
    }
    names.sort();
    let more = names.len().saturating_sub(HINT_FIELDS);
    names.truncate(HINT_FIELDS);
    let mut s = format!("remove it; known fields here: {}", names.join(", "));
    if more > 0 {
        s.push_str(&format!(", … ({more} more)"));
    }
    s
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Map one `jsonschema` error to findings (an additionalProperties error names several fields).
pub(crate) fn map_error(err: &ValidationError<'_>, root: &Node, out: &mut Vec<Finding>) {
    let path = err.instance_path().as_str().to_string();
    let instance = err.instance();
    let here = if path.is_empty() {
        "the object".to_string()
    } else {
        format!("`{path}`")
    };
    match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let hint = known_fields_hint(root, &path, path.is_empty());
            for field in unexpected {
                out.push(Finding::error(
                    "schema/unknown-field",
                    format!("{path}/{}", pointer_segment(field)),
                    format!(
                        "unknown field `{field}` in {here}: the API server drops it (kubectl --validate=strict rejects it)"
                    ),
                    hint.clone(),
                ));
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_string);
            out.push(Finding::error(
                "schema/required",
                format!("{path}/{}", pointer_segment(&name)),
                format!("required field `{name}` is missing in {here}"),
                format!("add `{name}`"),
            ));
        }
        ValidationErrorKind::Type { kind } => {
            let want = match kind {
                jsonschema::error::TypeKind::Single(t) => t.to_string(),
                jsonschema::error::TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            let got = json_type_name(instance);
            let hint = if want.contains("string") && !instance.is_string() {
                format!(
                    "quote the value: `\"{}\"`",
                    instance
                        .as_str()
                        .map_or_else(|| instance.to_string(), str::to_string)
                )
            } else {
                format!("give a value of type {want}")
            };
            out.push(Finding::error(
                "schema/type",
                path,
                format!(
                    "{here} must be of type {want}, got {got} {}",
                    short(instance)
                ),
                hint,
            ));
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(short).collect())
                .unwrap_or_default();
            let mut hint = format!("allowed values: {}", allowed.join(", "));
            if let Some(s) = instance.as_str()
                && let Some(m) = options.as_array().and_then(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .find(|o| o.eq_ignore_ascii_case(s))
                })
            {
                hint = format!(
                    "values are case-sensitive: use `{m}` (not `{s}`); allowed values: {}",
                    allowed.join(", ")
                );
            }
            out.push(Finding::error(
                "schema/enum",
                path,
                format!("unsupported value {} for {here}", short(instance)),
                hint,
            ));
        }
        ValidationErrorKind::Constant { expected_value } => {
            out.push(Finding::error(
                "schema/enum",
                path,
                format!("unsupported value {} for {here}", short(instance)),
                format!("the only allowed value is {}", short(expected_value)),
            ));
        }
        ValidationErrorKind::Pattern { pattern } => {
            out.push(Finding::error(
                "schema/pattern",
                path,
                format!("{} does not match the required pattern", short(instance)),
                format!("must match the regular expression `{pattern}`"),
            ));
        }
        ValidationErrorKind::Format { format } => {
            let f = format.strip_prefix("k8s-").unwrap_or(format);
            out.push(Finding::error(
                "schema/format",
                path,
                format!("{} is not a valid {f}", short(instance)),
                format_hint(f),
            ));
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => {
            let excl = matches!(err.kind(), ValidationErrorKind::ExclusiveMinimum { .. });
            out.push(Finding::error(
                "schema/range",
                path,
                format!(
                    "{} is less than the minimum {}{limit}",
                    short(instance),
                    if excl { "(exclusive) " } else { "" }
                ),
                format!("use a value {} {limit}", if excl { ">" } else { ">=" }),
            ));
        }
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => {
            let excl = matches!(err.kind(), ValidationErrorKind::ExclusiveMaximum { .. });
            out.push(Finding::error(
                "schema/range",
                path,
                format!(
                    "{} is greater than the maximum {}{limit}",
                    short(instance),
                    if excl { "(exclusive) " } else { "" }
                ),
                format!("use a value {} {limit}", if excl { "<" } else { "<=" }),
            ));
        }
        ValidationErrorKind::MinLength { limit } => out.push(Finding::error(
            "schema/range",
            path,
            format!("{} is shorter than {limit} characters", short(instance)),
            format!("use at least {limit} characters"),
        )),
        ValidationErrorKind::MaxLength { limit } => out.push(Finding::error(
            "schema/range",
            path,
            format!(
                "value is {} characters long, more than the {limit} allowed",
                instance.as_str().map_or(0, |s| s.chars().count())
            ),
            format!("use at most {limit} characters"),
        )),
        ValidationErrorKind::MinItems { limit } => out.push(Finding::error(
            "schema/range",
            path,
            format!(
                "{here} has {} items, fewer than the {limit} required",
                instance.as_array().map_or(0, Vec::len)
            ),
            format!("give at least {limit} item(s)"),
        )),
        ValidationErrorKind::MaxItems { limit } => out.push(Finding::error(
            "schema/range",
            path,
            format!(
                "{here} has {} items, more than the {limit} allowed",
                instance.as_array().map_or(0, Vec::len)
            ),
            format!("give at most {limit} item(s)"),
        )),
        ValidationErrorKind::MinProperties { limit } => out.push(Finding::error(
            "schema/range",
            path,
            format!(
                "{here} has {} entries, fewer than the {limit} required",
                instance.as_object().map_or(0, Map::len)
            ),
            format!("give at least {limit} entr(y/ies)"),
        )),
        ValidationErrorKind::MaxProperties { limit } => out.push(Finding::error(
            "schema/range",
            path,
            format!(
                "{here} has {} entries, more than the {limit} allowed",
                instance.as_object().map_or(0, Map::len)
            ),
            format!("give at most {limit} entr(y/ies)"),
        )),
        ValidationErrorKind::UniqueItems => out.push(Finding::error(
            "schema/list-set",
            path,
            format!("{here} has duplicate items"),
            "remove the duplicates",
        )),
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // Alternatives keyed on a discriminator (`type: {enum: [IPAddress]}` vs
            // `type: {not: {enum: [IPAddress]}}`): the branches whose discriminator failed are
            // not what the author meant; if exactly one branch is left, report its errors.
            let meant: Vec<&Vec<ValidationError<'static>>> = context
                .iter()
                .filter(|branch| {
                    !branch.iter().any(|e| {
                        matches!(
                            e.kind(),
                            ValidationErrorKind::Not { .. }
                                | ValidationErrorKind::Enum { .. }
                                | ValidationErrorKind::Constant { .. }
                        )
                    })
                })
                .collect();
            if context.len() > 1 && meant.len() == 1 && !meant[0].is_empty() {
                for e in meant[0] {
                    map_error(e, root, out);
                }
                return;
            }
            let all_format = !context.is_empty()
                && context.iter().all(|branch| {
                    !branch.is_empty()
                        && branch
                            .iter()
                            .all(|e| matches!(e.kind(), ValidationErrorKind::Format { .. }))
                });
            if all_format {
                let formats: Vec<String> = context
                    .iter()
                    .flatten()
                    .filter_map(|e| match e.kind() {
                        ValidationErrorKind::Format { format } => {
                            Some(format.strip_prefix("k8s-").unwrap_or(format).to_string())
                        }
                        _ => None,
                    })
                    .collect();
                out.push(Finding::error(
                    "schema/format",
                    path,
                    format!(
                        "{} is not a valid {}",
                        short(instance),
                        formats.join(" or ")
                    ),
                    format_hint(formats.first().map_or("", String::as_str)),
                ));
            } else {
                let reasons: Vec<String> = context
                    .iter()
                    .map(|branch| {
                        branch
                            .iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .collect();
                out.push(Finding::error(
                    "schema/other",
                    path,
                    format!("{here} matches none of the allowed alternatives"),
                    format!("alternatives failed: {}", reasons.join(" | ")),
                ));
            }
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => out.push(Finding::error(
            "schema/other",
            path,
            format!("{here} matches more than one of the exclusive alternatives"),
            "make the value match exactly one alternative",
        )),
        _ => out.push(Finding::error(
            "schema/other",
            path,
            err.to_string(),
            format!("fix the value to satisfy `{}`", err.kind().keyword()),
        )),
    }
}

fn format_hint(f: &str) -> String {
    match f {
        "byte" => "give base64-encoded data (standard alphabet, padded)".into(),
        "date-time" => "give an RFC 3339 timestamp such as 2026-01-02T15:04:05Z".into(),
        "ipv4" => "give an IPv4 address such as 10.0.0.1".into(),
        "ipv6" => "give an IPv6 address such as fd00::1".into(),
        "cidr" => "give a CIDR such as 10.0.0.0/8".into(),
        "uri" => "give an absolute URI such as https://example.com/path".into(),
        "duration" => "give a Go duration such as 30s, 1m or 1h30m".into(),
        other => format!("give a valid {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_lenient_like_kubernetes() {
        let cases: &[(&str, &str, bool)] = &[
            ("byte", "aGVsbG8=", true),
            ("byte", "aGVsbG8", false),
            ("byte", "not base64!", false),
            ("date-time", "2026-01-02T15:04:05Z", true),
            ("date-time", "2026-01-02T15:04:05.123+02:00", true),
            ("date-time", "yesterday", false),
            ("ipv4", "10.0.0.1", true),
            ("ipv4", "10.0.0.256", false),
            ("ipv6", "fd00::1", true),
            ("ipv6", "10.0.0.1", false),
            ("uri", "https://idp.example.com/.well-known/jwks.json", true),
            ("uri", "not a uri", false),
            ("duration", "1h30m", true),
            ("duration", "90d", false),
            ("cidr", "0.0.0.0/0", true),
            ("cidr", "10.0.0.0/33", false),
        ];
        for (f, v, ok) in cases {
            assert_eq!(format_check(f)(v), *ok, "{f} {v}");
        }
    }

    #[test]
    fn dns_names() {
        for (s, label, sub) in [
            ("task-api", true, true),
            ("a.b-c", false, true),
            ("Task", false, false),
            ("-x", false, false),
            ("", false, false),
        ] {
            assert_eq!(is_dns1123_label(s), label, "{s}");
            assert_eq!(is_dns1123_subdomain(s), sub, "{s}");
        }
        assert!(!is_dns1123_label(&"a".repeat(64)));
    }

    #[test]
    fn defaulting_follows_the_api_server() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "string", "default": "x"},
            "b": {"type": "string"},
            "c": {"type": "string", "nullable": true, "default": "y"},
            "list": {"type": "array", "items": {"type": "object", "properties": {
                "kind": {"type": "string", "default": "Service"}}}},
            "m": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "n": {"type": "integer", "default": 1}}}},
            "absent": {"type": "object", "properties": {"z": {"type": "string", "default": "z"}}}
        }});
        let node = Node::parse(&schema, "", 0).unwrap();
        let mut v =
            json!({"b": null, "c": null, "list": [{}, {"kind": "Backend"}], "m": {"k": {}}});
        apply_defaults(&mut v, &node);
        assert_eq!(
            v,
            json!({"c": null, "list": [{"kind": "Service"}, {"kind": "Backend"}], "m": {"k": {"n": 1}}, "a": "x"})
        );
    }
}
