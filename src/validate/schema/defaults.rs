//! Structural defaulting, as the API server applies it to a custom resource.

use serde_json::Value;

use crate::validate::structural::Node;

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
                            .get(k)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
