//! `jsonschema` errors → findings, one function per error kind, with hints drawn from the
//! structural tree (known fields, allowed values, formats).

use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value};

use super::formats::format_hint;
use crate::validate::finding::Finding;
use crate::validate::meta::OBJECT_META_FIELDS;
use crate::validate::structural::{Node, Resolved};
use crate::yaml::pointer_segment;

/// How many property names an unknown-field hint lists before "…".
const HINT_FIELDS: usize = 25;

fn known_fields_hint(root: &Node, object_path: &str, is_root: bool) -> String {
    let mut names: Vec<String> = match root.resolve(object_path) {
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

/// What every mapping needs: where the error is, and the value there.
struct At<'e> {
    path: String,
    /// `the object` or `` `path` ``, for messages
    here: String,
    instance: &'e Value,
}

fn unknown_fields(at: &At, unexpected: &[String], root: &Node, out: &mut Vec<Finding>) {
    let hint = known_fields_hint(root, &at.path, at.path.is_empty());
    for field in unexpected {
        out.push(Finding::error(
            "schema/unknown-field",
            format!("{}/{}", at.path, pointer_segment(field)),
            format!(
                "unknown field `{field}` in {}: the API server drops it (kubectl --validate=strict rejects it)",
                at.here
            ),
            hint.clone(),
        ));
    }
}

fn required(at: &At, property: &Value) -> Finding {
    let name = property
        .as_str()
        .map_or_else(|| property.to_string(), str::to_string);
    Finding::error(
        "schema/required",
        format!("{}/{}", at.path, pointer_segment(&name)),
        format!("required field `{name}` is missing in {}", at.here),
        format!("add `{name}`"),
    )
}

fn wrong_type(at: &At, kind: &TypeKind) -> Finding {
    let want = match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    };
    let instance = at.instance;
    let hint = if want.contains("string") && !instance.is_string() {
        format!("quote the value: `\"{instance}\"`")
    } else {
        format!("give a value of type {want}")
    };
    Finding::error(
        "schema/type",
        at.path.clone(),
        format!(
            "{} must be of type {want}, got {} {}",
            at.here,
            json_type_name(instance),
            short(instance)
        ),
        hint,
    )
}

fn not_in_enum(at: &At, options: &Value) -> Finding {
    let allowed: Vec<String> = options
        .as_array()
        .map(|a| a.iter().map(short).collect())
        .unwrap_or_default();
    let mut hint = format!("allowed values: {}", allowed.join(", "));
    if let Some(s) = at.instance.as_str()
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
    Finding::error(
        "schema/enum",
        at.path.clone(),
        format!("unsupported value {} for {}", short(at.instance), at.here),
        hint,
    )
}

fn not_constant(at: &At, expected: &Value) -> Finding {
    Finding::error(
        "schema/enum",
        at.path.clone(),
        format!("unsupported value {} for {}", short(at.instance), at.here),
        format!("the only allowed value is {}", short(expected)),
    )
}

fn no_pattern_match(at: &At, pattern: &str) -> Finding {
    Finding::error(
        "schema/pattern",
        at.path.clone(),
        format!("{} does not match the required pattern", short(at.instance)),
        format!("must match the regular expression `{pattern}`"),
    )
}

fn bad_format(at: &At, format: &str) -> Finding {
    let f = format.strip_prefix("k8s-").unwrap_or(format);
    Finding::error(
        "schema/format",
        at.path.clone(),
        format!("{} is not a valid {f}", short(at.instance)),
        format_hint(f),
    )
}

/// minimum/maximum, exclusive or not.
fn out_of_range(at: &At, limit: &Value, below: bool, exclusive: bool) -> Finding {
    let (what, op) = match (below, exclusive) {
        (true, false) => ("less than the minimum", ">="),
        (true, true) => ("less than the minimum", ">"),
        (false, false) => ("greater than the maximum", "<="),
        (false, true) => ("greater than the maximum", "<"),
    };
    Finding::error(
        "schema/range",
        at.path.clone(),
        format!(
            "{} is {what} {}{limit}",
            short(at.instance),
            if exclusive { "(exclusive) " } else { "" }
        ),
        format!("use a value {op} {limit}"),
    )
}

/// minLength/maxLength, minItems/maxItems, minProperties/maxProperties.
fn bad_size(at: &At, kind: &ValidationErrorKind) -> Option<Finding> {
    let i = at.instance;
    let here = &at.here;
    let items = i.as_array().map_or(0, Vec::len);
    let entries = i.as_object().map_or(0, Map::len);
    let (message, hint) = match kind {
        ValidationErrorKind::MinLength { limit } => (
            format!("{} is shorter than {limit} characters", short(i)),
            format!("use at least {limit} characters"),
        ),
        ValidationErrorKind::MaxLength { limit } => (
            format!(
                "value is {} characters long, more than the {limit} allowed",
                i.as_str().map_or(0, |s| s.chars().count())
            ),
            format!("use at most {limit} characters"),
        ),
        ValidationErrorKind::MinItems { limit } => (
            format!("{here} has {items} items, fewer than the {limit} required"),
            format!("give at least {limit} item(s)"),
        ),
        ValidationErrorKind::MaxItems { limit } => (
            format!("{here} has {items} items, more than the {limit} allowed"),
            format!("give at most {limit} item(s)"),
        ),
        ValidationErrorKind::MinProperties { limit } => (
            format!("{here} has {entries} entries, fewer than the {limit} required"),
            format!("give at least {limit} entr(y/ies)"),
        ),
        ValidationErrorKind::MaxProperties { limit } => (
            format!("{here} has {entries} entries, more than the {limit} allowed"),
            format!("give at most {limit} entr(y/ies)"),
        ),
        _ => return None,
    };
    Some(Finding::error(
        "schema/range",
        at.path.clone(),
        message,
        hint,
    ))
}

/// anyOf / oneOf with no matching branch. Alternatives keyed on a discriminator
/// (`type: {enum: [IPAddress]}` vs `type: {not: {enum: [IPAddress]}}`): the branches whose
/// discriminator failed are not what the author meant; if exactly one branch is left, its
/// errors are reported. Branches that all fail on a format become one format finding.
fn no_alternative(
    at: &At,
    context: &[Vec<ValidationError<'static>>],
    prefix: &str,
    root: &Node,
    out: &mut Vec<Finding>,
) {
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
            map_error(e, prefix, root, out);
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
        out.push(alternative_formats(at, context));
        return;
    }
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
        at.path.clone(),
        format!("{} matches none of the allowed alternatives", at.here),
        format!("alternatives failed: {}", reasons.join(" | ")),
    ));
}

fn alternative_formats(at: &At, context: &[Vec<ValidationError<'static>>]) -> Finding {
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
    Finding::error(
        "schema/format",
        at.path.clone(),
        format!(
            "{} is not a valid {}",
            short(at.instance),
            formats.join(" or ")
        ),
        format_hint(formats.first().map_or("", String::as_str)),
    )
}

/// Map one `jsonschema` error to findings (an additionalProperties error names several fields).
/// `prefix` is the JSON pointer of the value the error's validator was given (see
/// [`super::lazy`]); `root` is the structural tree of the whole object.
pub(crate) fn map_error(
    err: &ValidationError<'_>,
    prefix: &str,
    root: &Node,
    out: &mut Vec<Finding>,
) {
    let path = format!("{prefix}{}", err.instance_path().as_str());
    let here = if path.is_empty() {
        "the object".to_string()
    } else {
        format!("`{path}`")
    };
    let at = At {
        path,
        here,
        instance: err.instance(),
    };
    let kind = err.kind();
    let finding = match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            return unknown_fields(&at, unexpected, root, out);
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            return no_alternative(&at, context, prefix, root, out);
        }
        ValidationErrorKind::Required { property } => required(&at, property),
        ValidationErrorKind::Type { kind } => wrong_type(&at, kind),
        ValidationErrorKind::Enum { options } => not_in_enum(&at, options),
        ValidationErrorKind::Constant { expected_value } => not_constant(&at, expected_value),
        ValidationErrorKind::Pattern { pattern } => no_pattern_match(&at, pattern),
        ValidationErrorKind::Format { format } => bad_format(&at, format),
        ValidationErrorKind::Minimum { limit } => out_of_range(&at, limit, true, false),
        ValidationErrorKind::ExclusiveMinimum { limit } => out_of_range(&at, limit, true, true),
        ValidationErrorKind::Maximum { limit } => out_of_range(&at, limit, false, false),
        ValidationErrorKind::ExclusiveMaximum { limit } => out_of_range(&at, limit, false, true),
        ValidationErrorKind::UniqueItems => Finding::error(
            "schema/list-set",
            at.path.clone(),
            format!("{} has duplicate items", at.here),
            "remove the duplicates",
        ),
        ValidationErrorKind::OneOfMultipleValid { .. } => Finding::error(
            "schema/other",
            at.path.clone(),
            format!(
                "{} matches more than one of the exclusive alternatives",
                at.here
            ),
            "make the value match exactly one alternative",
        ),
        other => bad_size(&at, other).unwrap_or_else(|| {
            Finding::error(
                "schema/other",
                at.path.clone(),
                err.to_string(),
                format!("fix the value to satisfy `{}`", other.keyword()),
            )
        }),
    };
    out.push(finding);
}
