//! A kind's schema validator, converted and compiled in pieces as documents reach them.
//!
//! `jsonschema` compiles a whole schema at once, and a kind's schema is mostly fields a given
//! object never sets (a Deployment's pod template knows thirty volume types; an Envoy Gateway
//! policy a dozen features). So where a property, an `items` or an `additionalProperties`
//! subschema of the raw (OpenAPI) schema is big, the conversion leaves `{}` (anything) in its
//! parent and notes a [`Cut`]; each cut is converted and compiled the first time a value is
//! met at that place, and split the same way in its turn. Every value is still checked against
//! the whole schema: the parent checks the value's own keywords (type, required, unknown
//! fields, sizes), the piece checks what is below it.
//!
//! Why this is the same verdict as converting and compiling the whole: a subschema under
//! `properties`, `items` or `additionalProperties` applies only to the member, element or
//! entry at that place, and nothing in the parent reads inside it. The parent keeps the
//! property's name, so `additionalProperties: false` still knows it. Nothing is cut under
//! `allOf`, `anyOf`, `oneOf` or `not`, where a subschema decides its parent's verdict, nor
//! where the conversion puts a schema of its own (ObjectMeta, an embedded resource's
//! apiVersion and kind, a status subresource). The converted schemas have no `$ref`,
//! `patternProperties` or tuple `items` (see [`super::convert`]). The tests compare both ways
//! on every kind of place; the corpus and agreement tests on the real CRDs.
//!
//! Errors come out with the path of the whole object (the piece's place before the error's
//! own path), so findings and hints are the same as before.

use std::sync::{Arc, OnceLock};

use jsonschema::Validator;
use serde_json::Value;

use super::convert::{
    Cut, Cutter, Place, SPLIT_ABOVE, build_validator, root_json_schema, to_json_schema_cut,
};
use super::errors::map_error;
use crate::validate::finding::Finding;
use crate::validate::structural::Node;
use crate::yaml::pointer_segment;

/// A schema's validator: its own keywords and its small subschemas, compiled; its big
/// subschemas, compiled on first use.
pub(crate) struct SchemaValidator {
    validator: Validator,
    mounts: Vec<Mount>,
}

impl std::fmt::Debug for SchemaValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaValidator")
            .field("mounts", &self.mounts)
            .finish_non_exhaustive()
    }
}

/// A cut subschema: where it applies, and its validator once a value has reached it.
struct Mount {
    cut: Cut,
    /// the whole raw schema the cut points into (shared by every piece of a kind)
    raw: Arc<Value>,
    limit: usize,
    compiled: OnceLock<Result<SchemaValidator, String>>,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("cut", &self.cut)
            .field("compiled", &self.compiled.get().is_some())
            .finish()
    }
}

impl Mount {
    fn compiled(&self) -> Result<&SchemaValidator, &str> {
        self.compiled
            .get_or_init(|| {
                let sub = self
                    .raw
                    .pointer(&self.cut.pointer)
                    .ok_or_else(|| format!("{} is not in the schema", self.cut.pointer))?;
                let mut cuts = Vec::new();
                let mut cutter = Cutter {
                    at: &self.cut.pointer,
                    limit: self.limit,
                    cuts: &mut cuts,
                };
                let schema = to_json_schema_cut(sub, self.cut.spine, self.cut.depth, &mut cutter);
                SchemaValidator::new(&schema, cuts, &self.raw, self.limit)
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// Visit the values of `parent` this piece applies to, each with its pointer segment, until
    /// `f` says stop (`false`); whether it never did.
    fn visit<'v>(
        &self,
        parent: &'v Value,
        mut f: impl FnMut(Segment<'v>, &'v Value) -> bool,
    ) -> bool {
        match (&self.cut.place, parent) {
            (Place::Property(name), Value::Object(m)) => m
                .get_key_value(name)
                .is_none_or(|(k, v)| f(Segment::Name(k), v)),
            (Place::Items, Value::Array(items)) => items
                .iter()
                .enumerate()
                .all(|(i, v)| f(Segment::Index(i), v)),
            (Place::Additional(named), Value::Object(m)) => m
                .iter()
                .filter(|(k, _)| !named.iter().any(|n| n == *k))
                .all(|(k, v)| f(Segment::Name(k), v)),
            _ => true,
        }
    }
}

/// One step of a JSON pointer, written out only when a finding needs it.
enum Segment<'v> {
    Name(&'v str),
    Index(usize),
}

impl Segment<'_> {
    fn push_onto(&self, at: &mut String) {
        at.push('/');
        match self {
            Segment::Name(n) => at.push_str(&pointer_segment(n)),
            Segment::Index(i) => at.push_str(&i.to_string()),
        }
    }
}

impl SchemaValidator {
    /// The validator of a whole object of one kind, from the kind's raw (OpenAPI) schema:
    /// compiled now without its big subschemas.
    pub(crate) fn for_kind(raw: Arc<Value>, status_subresource: bool) -> Result<Self, String> {
        Self::for_kind_split(raw, status_subresource, SPLIT_ABOVE)
    }

    fn for_kind_split(
        raw: Arc<Value>,
        status_subresource: bool,
        limit: usize,
    ) -> Result<Self, String> {
        let mut cuts = Vec::new();
        let schema = root_json_schema(&raw, status_subresource, limit, &mut cuts);
        Self::new(&schema, cuts, &raw, limit)
    }

    fn new(schema: &Value, cuts: Vec<Cut>, raw: &Arc<Value>, limit: usize) -> Result<Self, String> {
        let validator = build_validator(schema)?;
        let mounts = cuts
            .into_iter()
            .map(|cut| Mount {
                cut,
                raw: Arc::clone(raw),
                limit,
                compiled: OnceLock::new(),
            })
            .collect();
        Ok(SchemaValidator { validator, mounts })
    }

    /// Whether `value` satisfies the whole schema (compiling what it reaches).
    pub(crate) fn is_valid(&self, value: &Value) -> bool {
        self.validator.is_valid(value)
            && self
                .mounts
                .iter()
                .all(|m| m.visit(value, |_, v| m.compiled().is_ok_and(|c| c.is_valid(v))))
    }

    /// The findings of `value` against the whole schema. `root` is the structural tree of the
    /// object (for hints).
    pub(crate) fn check(&self, value: &Value, root: &Node, out: &mut Vec<Finding>) {
        if !self.is_valid(value) {
            self.check_at(value, &mut String::new(), root, out);
        }
    }

    fn check_at(&self, value: &Value, at: &mut String, root: &Node, out: &mut Vec<Finding>) {
        if !self.validator.is_valid(value) {
            for e in self.validator.iter_errors(value) {
                map_error(&e, at, root, out);
            }
        }
        for m in &self.mounts {
            m.visit(value, |segment, v| {
                let len = at.len();
                segment.push_onto(at);
                match m.compiled() {
                    Ok(c) => c.check_at(v, at, root, out),
                    Err(e) => out.push(Finding::error(
                        "schema/other",
                        at.clone(),
                        format!(
                            "the schema of this field could not be compiled, its value was not checked: {e}"
                        ),
                        "fix or replace the schema (CRD or OpenAPI document) that defines it",
                    )),
                }
                at.truncate(len);
                true
            });
        }
    }

    /// Compile every piece now; the first failure, with the JSON pointer of its subschema.
    pub(crate) fn compile_all(&self) -> Result<(), String> {
        for m in &self.mounts {
            m.compiled()
                .map_err(|e| format!("{}: {e}", m.cut.pointer))?
                .compile_all()?;
        }
        Ok(())
    }

    /// How many pieces are compiled so far (this one included).
    #[cfg(test)]
    fn compiled_pieces(&self) -> usize {
        1 + self
            .mounts
            .iter()
            .filter_map(|m| m.compiled.get().and_then(|c| c.as_ref().ok()))
            .map(SchemaValidator::compiled_pieces)
            .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    /// A raw (OpenAPI) schema with a big subschema at every kind of place, and the places the
    /// conversion puts schemas of its own.
    fn raw_schema() -> Value {
        let many: Map<String, Value> = (0..SPLIT_ABOVE)
            .map(|i| (format!("f{i}"), json!({"type": "integer", "minimum": 0})))
            .collect();
        let big = json!({"type": "object", "properties": many, "required": ["f0"]});
        json!({
            "type": "object",
            "properties": {
                "metadata": {"type": "object", "properties": {
                    "name": {"type": "string", "maxLength": 5}, "other": big}},
                "spec": {"type": "object", "properties": {
                    "small": {"type": "string", "pattern": "^[a-z]+$"},
                    "obj": big,
                    "list": {"type": "array", "maxItems": 3, "items": big},
                    "map": {"type": "object", "additionalProperties": big},
                    "alt": {"type": "object", "properties": {"a": {"type": "string"}},
                            "oneOf": [{"required": ["a"]}, {"properties": {"a": {"enum": ["x"]}}}]},
                    "nested": {"type": "object", "properties": {"deeper": {"type": "object",
                        "properties": {"obj": big, "n": {"type": "integer", "nullable": true}}}}},
                    "embedded": {"type": "object", "x-kubernetes-embedded-resource": true,
                        "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {"metadata": big, "spec": big}},
                }},
                "status": big,
            }
        })
    }

    fn findings_of(
        raw: &Value,
        status: bool,
        limit: usize,
        value: &Value,
    ) -> (bool, Vec<(String, String, String)>) {
        let v = SchemaValidator::for_kind_split(Arc::new(raw.clone()), status, limit).unwrap();
        let root = Node::parse(raw, "t", 0).unwrap();
        let mut out = Vec::new();
        v.check(value, &root, &mut out);
        let mut got: Vec<_> = out
            .into_iter()
            .map(|f| (f.path, f.rule, f.message))
            .collect();
        got.sort();
        (v.is_valid(value), got)
    }

    fn obj(spec: Value) -> Value {
        json!({"apiVersion": "x/v1", "kind": "T", "metadata": {"name": "a"}, "spec": spec})
    }

    #[test]
    fn pieces_give_the_verdicts_of_the_whole_schema() {
        let raw = raw_schema();
        let values = [
            obj(json!({})),
            obj(json!({"small": "abc"})),
            obj(json!({"small": "ABC", "obj": {"f0": 1}})),
            obj(json!({"obj": {"f1": -1}})),
            obj(json!({"obj": "not an object"})),
            obj(json!({"obj": {"f0": 1, "unknown": true}})),
            obj(json!({"list": [{"f0": 1}, {"f2": -5}, {"f0": "x"}]})),
            obj(json!({"list": [{"f0": 1}, {"f0": 1}, {"f0": 1}, {"f0": 1}]})),
            obj(json!({"list": {"f0": 1}})),
            obj(json!({"map": {"a/b": {"f0": -1}, "c~d": {}, "ok": {"f0": 2}}})),
            obj(json!({"map": {"a": 3}})),
            obj(json!({"alt": {"a": "y"}})),
            obj(json!({"alt": {}, "obj": {"f0": 0, "f3": "z"}})),
            obj(json!({"nested": {"deeper": {"obj": {}, "n": null, "x": 1}}})),
            obj(json!({"embedded": {"metadata": {"name": "b", "other": 1}, "spec": {"f0": -1}}})),
            obj(json!({"embedded": {"apiVersion": "v1", "kind": "K", "spec": {}}})),
            json!({"apiVersion": "x/v1", "kind": "T", "metadata": {"name": "toolong", "other": 1}}),
            json!({"apiVersion": "x/v1", "kind": "T", "status": {"f1": -1}}),
            json!({"apiVersion": 1, "kind": "T", "spec": [], "extra": true}),
            json!("not an object"),
        ];
        // a root that declares a map schema: closed all the same
        let mut open_root = raw.clone();
        open_root["additionalProperties"] = raw["properties"]["status"].clone();
        for (raw, status) in [(&raw, false), (&raw, true), (&open_root, false)] {
            for value in &values {
                let whole = findings_of(raw, status, usize::MAX, value);
                assert_eq!(whole.0, whole.1.is_empty(), "{value}");
                for limit in [0, 1, 2, 5, 16, SPLIT_ABOVE] {
                    assert_eq!(
                        findings_of(raw, status, limit, value),
                        whole,
                        "limit {limit}, status subresource {status}: {value}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_the_pieces_a_value_reaches_are_compiled() {
        let v = SchemaValidator::for_kind(Arc::new(raw_schema()), true).unwrap();
        // spec is big; status is the subresource's `{}`; metadata is ObjectMeta's schema
        assert_eq!(v.mounts.len(), 1, "{v:?}");
        assert_eq!(v.compiled_pieces(), 1);
        assert!(v.is_valid(&json!({"apiVersion": "x/v1", "kind": "T"})));
        assert_eq!(v.compiled_pieces(), 1);
        assert!(v.is_valid(&obj(json!({"small": "a"}))));
        assert_eq!(v.compiled_pieces(), 2);
        assert!(v.is_valid(&obj(json!({"obj": {"f0": 1}}))));
        assert_eq!(v.compiled_pieces(), 3);
        v.compile_all().unwrap();
        // root, spec, obj, list items, map values, nested.deeper.obj (nested is small apart
        // from it: cut in its turn), embedded spec
        assert!(v.compiled_pieces() > 5, "{v:?}");
    }

    #[test]
    fn nothing_is_cut_under_a_combinator_or_when_small() {
        let small = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let mut cuts = Vec::new();
        root_json_schema(&small, false, SPLIT_ABOVE, &mut cuts);
        assert!(cuts.is_empty());
        let big = raw_schema()["properties"]["spec"]["properties"]["obj"].clone();
        let combinators = json!({"anyOf": [big.clone()], "not": big});
        root_json_schema(&combinators, false, 0, &mut cuts);
        assert!(cuts.is_empty(), "{cuts:?}");
    }

    #[test]
    fn a_piece_that_does_not_compile_is_reported_where_it_applies() {
        let mut raw = raw_schema();
        raw["properties"]["spec"]["properties"]["obj"]["properties"]["f1"] =
            json!({"type": "string", "pattern": "(unclosed"});
        let v = SchemaValidator::for_kind(Arc::new(raw.clone()), false).expect("the root compiles");
        let (valid, got) = findings_of(&raw, false, SPLIT_ABOVE, &obj(json!({"obj": {"f0": 1}})));
        assert!(!valid);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, "/spec/obj");
        assert!(got[0].2.contains("could not be compiled"), "{got:?}");
        // a document that does not reach it is checked as before
        assert_eq!(
            findings_of(&raw, false, SPLIT_ABOVE, &obj(json!({"small": "a"}))),
            (true, vec![])
        );
        let e = v.compile_all().unwrap_err();
        assert!(e.starts_with("/properties/spec/properties/obj: "), "{e}");
    }
}
