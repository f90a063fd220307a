//! Conversion of an OpenAPI v3 (structural) schema to a JSON Schema for the `jsonschema` crate:
//! closed objects (unknown fields are errors, as with strict field validation), int-or-string,
//! nullable, embedded resources, OpenAPI 3.0 exclusive bounds and Kubernetes formats.

use jsonschema::{Draft, PatternOptions, Validator};
use serde_json::{Map, Value, json};

use super::formats::{K8S_FORMATS, format_check};
use crate::validate::structural::{MAX_SCHEMA_DEPTH, flag};
use crate::yaml::pointer_segment;

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

/// `type`, widened for int-or-string and nullable.
fn convert_type(m: &Map<String, Value>, out: &mut Map<String, Value>) {
    let mut types: Vec<Value> = if flag(m, "x-kubernetes-int-or-string") {
        vec![json!("integer"), json!("string")]
    } else if let Some(t) = m.get("type").and_then(Value::as_str) {
        vec![json!(t)]
    } else {
        Vec::new()
    };
    if types.is_empty() {
        return;
    }
    if flag(m, "nullable") {
        types.push(json!("null"));
    }
    let ty = if types.len() == 1 {
        types.remove(0)
    } else {
        Value::Array(types)
    };
    out.insert("type".into(), ty);
}

/// Value keywords: copied ones, OpenAPI v3.0 (draft 4 style) exclusive bounds, enum (with null
/// when nullable) and the Kubernetes formats.
fn convert_value_keywords(m: &Map<String, Value>, out: &mut Map<String, Value>) {
    for k in COPIED {
        if let Some(v) = m.get(*k) {
            out.insert((*k).to_string(), v.clone());
        }
    }
    // exclusive bounds are booleans next to minimum/maximum in OpenAPI v3.0
    for (bound, exclusive) in [
        ("minimum", "exclusiveMinimum"),
        ("maximum", "exclusiveMaximum"),
    ] {
        if let Some(limit) = m.get(bound) {
            let key = match m.get(exclusive) {
                Some(Value::Bool(true)) => exclusive,
                _ => bound,
            };
            out.insert(key.to_string(), limit.clone());
        } else if let Some(v @ Value::Number(_)) = m.get(exclusive) {
            out.insert(exclusive.to_string(), v.clone());
        }
    }
    if let Some(Value::Array(values)) = m.get("enum") {
        let mut values = values.clone();
        if flag(m, "nullable") && !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
        out.insert("enum".into(), Value::Array(values));
    }
    if let Some(f) = m.get("format").and_then(Value::as_str)
        && K8S_FORMATS.contains(&f)
    {
        out.insert("format".into(), json!(format!("k8s-{f}")));
    }
}

/// An embedded resource is a full Kubernetes object: apiVersion, kind and metadata belong to
/// it, and the API server requires a non-empty apiVersion and kind (with or without
/// x-kubernetes-preserve-unknown-fields).
fn embed_resource(props: &mut Map<String, Value>, out: &mut Map<String, Value>) {
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
    out.insert("required".into(), Value::Array(req));
}

/// Where the big subschemas of one node go instead of being converted with it (see
/// [`super::lazy`]): the node's JSON pointer in the raw schema, and the list they are put on.
pub(crate) struct Cutter<'c> {
    pub at: &'c str,
    /// subschemas of more JSON values than this are cut ([`SPLIT_ABOVE`] but in tests)
    pub limit: usize,
    pub cuts: &'c mut Vec<Cut>,
}

/// A big subschema left out of its parent's conversion: `{}` is in its place, and it is
/// converted (and compiled) when a value first reaches it.
#[derive(Debug)]
pub(crate) struct Cut {
    pub place: Place,
    /// JSON pointer of the subschema in the raw (OpenAPI) schema
    pub pointer: String,
    /// the arguments of [`to_json_schema`] for it
    pub spine: bool,
    pub depth: usize,
}

/// Where a subschema applies to the values of its parent.
#[derive(Debug)]
pub(crate) enum Place {
    /// `properties.<name>`: that member of an object
    Property(String),
    /// `items`: every element of an array
    Items,
    /// `additionalProperties`: every member of an object not named in `properties`
    Additional(Vec<String>),
}

impl Cutter<'_> {
    /// `Some({})` (and the cut noted) when `raw` is big enough to be compiled on its own;
    /// `place` gives where it applies and its key below this node (only for a cut).
    fn cut(
        &mut self,
        raw: &Value,
        place: impl FnOnce() -> (Place, String),
        spine: bool,
        depth: usize,
    ) -> Option<Value> {
        if !(raw.is_object() && size_above(raw, self.limit)) {
            return None;
        }
        let (place, key) = place();
        self.cuts.push(Cut {
            place,
            pointer: format!("{}/{key}", self.at),
            spine,
            depth,
        });
        Some(json!({}))
    }

    /// Forget the cut of a property its parent replaces.
    fn drop_property(&mut self, name: &str) {
        self.cuts
            .retain(|c| !matches!(&c.place, Place::Property(n) if n == name));
    }
}

/// A subschema of more JSON values than this (in the raw schema) is converted and compiled on
/// first use rather than with its parent (see [`super::lazy`]). Each compiled piece costs a
/// `jsonschema` validator of its own, and a document one `is_valid` call per piece it reaches.
/// On the shared corpus (1,000 documents, one core) 8 to 64 were within noise of each other
/// (42-43 ms), 128 took 45 ms, 512 46 ms, no split 48 ms; 10,000 documents took the same with
/// any limit.
pub(crate) const SPLIT_ABOVE: usize = 16;

/// Whether `v` holds more than `limit` JSON values (counting stops there).
pub(crate) fn size_above(v: &Value, limit: usize) -> bool {
    fn count(v: &Value, left: &mut usize) -> bool {
        if *left == 0 {
            return true;
        }
        *left -= 1;
        match v {
            Value::Object(m) => m.values().any(|x| count(x, left)),
            Value::Array(a) => a.iter().any(|x| count(x, left)),
            _ => false,
        }
    }
    let mut left = limit;
    count(v, &mut left)
}

/// properties, items and additionalProperties; objects on the spine are closed. With a
/// cutter, the big ones are left for later.
fn convert_structure(
    m: &Map<String, Value>,
    spine: bool,
    depth: usize,
    out: &mut Map<String, Value>,
    mut cutter: Option<&mut Cutter>,
) {
    let mut props = Map::new();
    if let Some(Value::Object(p)) = m.get("properties") {
        for (k, v) in p {
            let place = || {
                let key = format!("properties/{}", pointer_segment(k));
                (Place::Property(k.clone()), key)
            };
            let converted = cutter
                .as_deref_mut()
                .and_then(|c| c.cut(v, place, spine, depth + 1))
                .unwrap_or_else(|| to_json_schema(v, spine, depth + 1));
            props.insert(k.clone(), converted);
        }
    }
    if flag(m, "x-kubernetes-embedded-resource") {
        embed_resource(&mut props, out);
        if let Some(c) = cutter.as_deref_mut() {
            c.drop_property("metadata");
        }
    }
    let has_props = !props.is_empty();
    if has_props {
        out.insert("properties".into(), Value::Object(props));
    }
    if let Some(items) = m.get("items")
        && items.is_object()
    {
        let converted = cutter
            .as_deref_mut()
            .and_then(|c| c.cut(items, || (Place::Items, "items".into()), spine, depth + 1))
            .unwrap_or_else(|| to_json_schema(items, spine, depth + 1));
        out.insert("items".into(), converted);
    }
    match m.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            out.insert("additionalProperties".into(), json!(*b));
        }
        Some(v @ Value::Object(_)) => {
            let converted = cutter
                .and_then(|c| {
                    let place = || {
                        // the names `properties` declares (embedded resource fields included)
                        let named = out
                            .get("properties")
                            .and_then(Value::as_object)
                            .map(|p| p.keys().cloned().collect())
                            .unwrap_or_default();
                        (Place::Additional(named), "additionalProperties".into())
                    };
                    c.cut(v, place, spine, depth + 1)
                })
                .unwrap_or_else(|| to_json_schema(v, spine, depth + 1));
            out.insert("additionalProperties".into(), converted);
        }
        _ => {
            // The API server prunes (and with strict field validation rejects) every field an
            // object schema does not declare, unless x-kubernetes-preserve-unknown-fields.
            let is_object = m.get("type").and_then(Value::as_str) == Some("object") || has_props;
            if spine && !flag(m, "x-kubernetes-preserve-unknown-fields") && is_object {
                out.insert("additionalProperties".into(), json!(false));
            }
        }
    }
}

/// allOf/anyOf/oneOf/not: value validations only, so their objects are not closed.
fn convert_combinators(m: &Map<String, Value>, depth: usize, out: &mut Map<String, Value>) {
    for k in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = m.get(k) {
            // `anyOf: [{type: integer}, {type: string}]` next to int-or-string is what the
            // type already says; keeping it would only duplicate errors.
            let only_types = branches.iter().all(|b| {
                b.as_object()
                    .is_some_and(|o| o.len() == 1 && o.contains_key("type"))
            });
            if flag(m, "x-kubernetes-int-or-string") && only_types {
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
}

/// Convert one OpenAPI v3 schema node. `spine` is false inside allOf/anyOf/oneOf/not, where
/// Kubernetes only allows value validations: such objects are not closed.
pub(crate) fn to_json_schema(raw: &Value, spine: bool, depth: usize) -> Value {
    convert_node(raw, spine, depth, None)
}

/// [`to_json_schema`] of a node whose big subschemas are left for later (see [`Cutter`]).
pub(crate) fn to_json_schema_cut(
    raw: &Value,
    spine: bool,
    depth: usize,
    cutter: &mut Cutter,
) -> Value {
    convert_node(raw, spine, depth, Some(cutter))
}

fn convert_node(raw: &Value, spine: bool, depth: usize, cutter: Option<&mut Cutter>) -> Value {
    let Some(m) = raw.as_object() else {
        return json!({});
    };
    if depth > MAX_SCHEMA_DEPTH {
        return json!({});
    }
    let mut out = Map::new();
    convert_type(m, &mut out);
    convert_value_keywords(m, &mut out);
    convert_structure(m, spine, depth, &mut out, cutter);
    convert_combinators(m, depth, &mut out);
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
    for k in ["creationTimestamp", "deletionTimestamp"] {
        props.insert(k.into(), json!({"type": ["string", "null"]}));
    }
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

/// The JSON Schema of a whole object of one kind (a custom resource of one version, or a
/// built-in kind), its big subschemas left for later on `cuts` (see [`super::lazy`]).
pub(crate) fn root_json_schema(
    raw: &Value,
    status_subresource: bool,
    limit: usize,
    cuts: &mut Vec<Cut>,
) -> Value {
    let mut cutter = Cutter {
        at: "",
        limit,
        cuts,
    };
    let mut root = to_json_schema_cut(raw, true, 0, &mut cutter);
    // what the root puts in place of the schema's own
    for k in ["apiVersion", "kind", "metadata"] {
        cutter.drop_property(k);
    }
    if status_subresource {
        cutter.drop_property("status");
    }
    // the root is closed whatever its schema says (below)
    cutter
        .cuts
        .retain(|c| !matches!(c.place, Place::Additional(_)));
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

/// The `jsonschema` options of every converted schema: draft 7, formats asserted (the
/// Kubernetes ones as `k8s-*`), unknown formats ignored, patterns by the `regex` crate. Made
/// once: a kind's schema is compiled in many pieces (see [`super::lazy`]).
static OPTIONS: std::sync::LazyLock<jsonschema::ValidationOptions> =
    std::sync::LazyLock::new(|| {
        let mut opts = jsonschema::options()
            .with_draft(Draft::Draft7)
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .with_pattern_options(PatternOptions::regex())
            // one compile of each pattern for every piece of every kind (a CRD repeats its
            // name and hostname patterns dozens of times)
            .with_pattern_cache(jsonschema::PatternCache::new());
        for f in K8S_FORMATS {
            let check: fn(&str) -> bool = format_check(f);
            opts = opts.with_format(format!("k8s-{f}"), check);
        }
        opts
    });

/// Build the `jsonschema` validator for a converted schema (or a piece of one).
pub(crate) fn build_validator(schema: &Value) -> Result<Validator, String> {
    OPTIONS.build(schema).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_counts_every_value_and_stops_at_the_limit() {
        for (v, limit, above) in [
            (json!(1), 0, true),
            (json!(1), 1, false),
            (json!({"a": 1}), 1, true),
            (json!({"a": 1}), 2, false),
            (json!([1, [2, 3]]), 4, true),
            (json!([1, [2, 3]]), 5, false),
            (json!([1, [2, 3]]), usize::MAX, false),
        ] {
            assert_eq!(size_above(&v, limit), above, "{v} {limit}");
        }
    }
}
