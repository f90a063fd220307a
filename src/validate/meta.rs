//! ObjectMeta rules the API server applies to every object (names, namespaces, label and
//! annotation keys and values), shared by the schema layer (root objects) and the CEL walker
//! (embedded resources).

use serde_json::{Map, Value};

use crate::validate::finding::Finding;
use crate::yaml::pointer_segment;

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
pub(crate) fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

pub(crate) fn qualified_name_problem(key: &str) -> Option<String> {
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
    check_name(meta, &meta_path, require_name, out);
    check_namespace(meta, &meta_path, out);
    check_labels(meta, &meta_path, out);
    check_annotations(meta, &meta_path, out);
}

/// `metadata.name`: a DNS-1123 subdomain on a root object (unless generateName is set); only a
/// path segment in an embedded resource.
fn check_name(
    meta: &Map<String, Value>,
    meta_path: &str,
    require_name: bool,
    out: &mut Vec<Finding>,
) {
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
}

fn check_namespace(meta: &Map<String, Value>, meta_path: &str, out: &mut Vec<Finding>) {
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
}

pub(crate) fn check_labels(meta: &Map<String, Value>, meta_path: &str, out: &mut Vec<Finding>) {
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
}

pub(crate) fn check_annotations(
    meta: &Map<String, Value>,
    meta_path: &str,
    out: &mut Vec<Finding>,
) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
