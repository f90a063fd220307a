//! The structural schema of a custom resource version: the tree of typed nodes that defaulting,
//! list-type checks and CEL rules walk (properties, items, additionalProperties), built once
//! from the openAPIV3Schema. Shared by the JSON-schema layer and the CEL layer, which do not
//! depend on each other.

use serde_json::{Map, Value};

use crate::yaml::unescape_segment;

/// Deepest schema nesting accepted (the deepest upstream CRD is about 40 levels).
pub(crate) const MAX_SCHEMA_DEPTH: usize = 256;

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

/// One `x-kubernetes-validations` entry as written in the CRD. `id` numbers the rules of one
/// tree (0..n) so that the CEL layer can keep one compiled program per rule beside the tree.
#[derive(Debug)]
pub(crate) struct RuleSpec {
    pub id: usize,
    pub rule: String,
    pub message: Option<String>,
    pub message_expression: Option<String>,
    pub field_path: Option<String>,
    pub reason: Option<String>,
}

fn opt_string(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl RuleSpec {
    fn from_json(v: &Value, id: usize) -> Result<RuleSpec, String> {
        let rule = v
            .get("rule")
            .and_then(Value::as_str)
            .ok_or_else(|| "an x-kubernetes-validations entry has no `rule`".to_string())?;
        Ok(RuleSpec {
            id,
            rule: rule.to_string(),
            message: opt_string(v, "message"),
            message_expression: opt_string(v, "messageExpression"),
            field_path: opt_string(v, "fieldPath"),
            reason: opt_string(v, "reason"),
        })
    }
}

/// The properties of a node, sorted by name. Not a `BTreeMap`: its nodes have room for eleven
/// entries whatever the count, and most schema objects have a few properties, so the trees of
/// a run's kinds took several times the memory (and first-touch page faults) of their schemas.
#[derive(Debug, Default)]
pub(crate) struct Props(Vec<(String, Node)>);

impl Props {
    fn from_unsorted(mut entries: Vec<(String, Node)>) -> Self {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.shrink_to_fit();
        Props(entries)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Node> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// Names, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    /// Nodes, in the order of their names.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Node> {
        self.0.iter().map(|(_, n)| n)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One node of a structural schema: what defaulting, list checks and CEL need.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub ty: Option<Ty>,
    pub properties: Props,
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
    pub rules: Vec<RuleSpec>,
    /// This node or one below it has CEL rules or list-set/list-map checks.
    pub walk: bool,
}

pub(crate) fn flag(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn parse_type(m: &Map<String, Value>, at: &str) -> Result<Option<Ty>, String> {
    Ok(match m.get("type") {
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
    })
}

fn parse_list_type(m: &Map<String, Value>, at: &str) -> Result<ListType, String> {
    Ok(
        match m.get("x-kubernetes-list-type").and_then(Value::as_str) {
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
        },
    )
}

/// Where a JSON pointer lands in the structural tree, for hints.
pub(crate) enum Resolved<'n> {
    Node(&'n Node),
    /// root `metadata` or the metadata of an embedded resource
    ObjectMeta,
    Unknown,
}

/// Numbers rules while a tree is built.
struct Parser {
    next_rule: usize,
}

impl Parser {
    /// `at` names the node in errors (the path from the root); it is extended and cut back in
    /// place as the walk goes down, not allocated per node.
    fn node(&mut self, raw: &Value, at: &mut String, depth: usize) -> Result<Node, String> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(format!(
                "{at}: schema nested deeper than {MAX_SCHEMA_DEPTH} levels"
            ));
        }
        let m = raw
            .as_object()
            .ok_or_else(|| format!("{at}: a schema must be an object"))?;
        let mut node = Node {
            ty: parse_type(m, at.as_str())?,
            nullable: flag(m, "nullable"),
            preserve_unknown: flag(m, "x-kubernetes-preserve-unknown-fields"),
            int_or_string: flag(m, "x-kubernetes-int-or-string"),
            embedded: flag(m, "x-kubernetes-embedded-resource"),
            default: m.get("default").cloned(),
            list_type: parse_list_type(m, at.as_str())?,
            ..Node::default()
        };
        self.children(m, at, depth, &mut node)?;
        if let Some(rules) = m.get("x-kubernetes-validations") {
            let rules = rules
                .as_array()
                .ok_or_else(|| format!("{at}: x-kubernetes-validations must be a list"))?;
            for r in rules {
                let spec =
                    RuleSpec::from_json(r, self.next_rule).map_err(|e| format!("{at}: {e}"))?;
                self.next_rule += 1;
                node.rules.push(spec);
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

    /// The node of `raw`, a child of the node at `at`; `tail` is appended to `at` meanwhile.
    fn below(
        &mut self,
        raw: &Value,
        at: &mut String,
        tail: &[&str],
        depth: usize,
    ) -> Result<Node, String> {
        let len = at.len();
        for t in tail {
            at.push_str(t);
        }
        let node = self.node(raw, at, depth + 1);
        at.truncate(len);
        node
    }

    /// properties, additionalProperties and items: the structural spine.
    fn children(
        &mut self,
        m: &Map<String, Value>,
        at: &mut String,
        depth: usize,
        node: &mut Node,
    ) -> Result<(), String> {
        if let Some(props) = m.get("properties") {
            let props = props
                .as_object()
                .ok_or_else(|| format!("{at}: `properties` must be an object"))?;
            let mut entries = Vec::with_capacity(props.len());
            for (k, v) in props {
                let child = self.below(v, at, &[".", k], depth)?;
                if child.default.is_some() {
                    node.defaulted.push(k.clone());
                }
                entries.push((k.clone(), child));
            }
            node.properties = Props::from_unsorted(entries);
        }
        match m.get("additionalProperties") {
            Some(v @ Value::Object(_)) => {
                node.additional = Some(Box::new(self.below(v, at, &[".*"], depth)?));
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
                node.items = Some(Box::new(self.below(v, at, &["[]"], depth)?));
            }
            Some(Value::Array(_)) => {
                return Err(format!(
                    "{at}: tuple `items` are not allowed in a structural schema"
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

impl Node {
    /// Build the structural tree of a schema. Only the structural "spine" (properties, items,
    /// additionalProperties) is followed: allOf/anyOf/oneOf/not are value validations that the
    /// JSON Schema handles. Rules are numbered 0.. in the order they are met.
    pub(crate) fn parse(raw: &Value, at: &str, depth: usize) -> Result<Node, String> {
        Parser { next_rule: 0 }.node(raw, &mut at.to_string(), depth)
    }

    /// How many rules the tree holds (one more than the highest id).
    pub(crate) fn rule_count(&self) -> usize {
        let own = self.rules.iter().map(|r| r.id + 1).max().unwrap_or(0);
        self.properties
            .values()
            .map(Node::rule_count)
            .chain(self.additional.as_deref().map(Node::rule_count))
            .chain(self.items.as_deref().map(Node::rule_count))
            .fold(own, usize::max)
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

    /// Follow `pointer` through the tree from this (root) node.
    pub(crate) fn resolve(&self, pointer: &str) -> Resolved<'_> {
        let mut node = self;
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
            node = if let Some(p) = node.properties.get(seg.as_ref()) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Errors name the node by its path from the root, and a sibling's error is not confused by
    /// the paths walked before it.
    #[test]
    fn errors_name_the_node_by_its_path() {
        let bad = json!({"type": "bogus"});
        for (schema, want) in [
            (
                json!({"properties": {"a": {}, "b": bad}}),
                "root.b: unknown type `bogus`",
            ),
            (
                json!({"properties": {"a": {"properties": {"x": {}}}, "b": {"items": bad}}}),
                "root.b[]: unknown type `bogus`",
            ),
            (
                json!({"properties": {"m": {"additionalProperties": {"properties": {"k": bad}}}}}),
                "root.m.*.k: unknown type `bogus`",
            ),
            (
                json!({"properties": {"l": {"items": [{}]}}}),
                "root.l: tuple `items` are not allowed in a structural schema",
            ),
            (
                json!({"properties": {"s": 1}}),
                "root.s: a schema must be an object",
            ),
        ] {
            assert_eq!(
                Node::parse(&schema, "root", 0).unwrap_err(),
                want,
                "{schema}"
            );
        }
    }

    #[test]
    fn properties_are_found_by_name_in_any_order() {
        let n = Node::parse(
            &json!({"properties": {"z": {"type": "string"}, "a": {"type": "integer"}, "m": {}}}),
            "root",
            0,
        )
        .unwrap();
        assert_eq!(n.properties.keys().collect::<Vec<_>>(), ["a", "m", "z"]);
        assert_eq!(n.properties.get("z").and_then(|p| p.ty), Some(Ty::String));
        assert_eq!(n.properties.get("a").and_then(|p| p.ty), Some(Ty::Integer));
        assert!(n.properties.get("b").is_none());
    }
}
