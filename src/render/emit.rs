//! A small YAML emitter for JSON values: block style, two-space indent, lists not indented
//! under their key (the kubectl style). Strings are written plain only when YAML 1.1 and 1.2
//! both read them back as the same string; otherwise they are double-quoted with escapes.

use serde_json::Value;

/// YAML double-quoted scalar: escapes `"`, `\` and every character outside YAML's printable set.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{20}'..='\u{7e}' => out.push(c),
            // printable per YAML 1.1/1.2 (C1 controls, surrogates, U+FEFF, U+FFFE/F excluded)
            '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fefe}' | '\u{ff00}'..='\u{fffd}' => {
                out.push(c)
            }
            '\u{10000}'..='\u{10ffff}' => out.push(c),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn plain_ok(s: &str) -> bool {
    if s.is_empty() || s.len() > 200 {
        return false;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_alphanumeric() || first == b'/' || first == b'.' || first == b'_') {
        return false;
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./=+@()".contains(&b))
    {
        return false;
    }
    // must read back as this string, not a number, bool or null, in YAML 1.1 (go-yaml v2)
    // and YAML 1.2 (the Rust parsers); anything number-like is quoted
    if s.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.' || b == b'+')
    {
        return false;
    }
    matches!(crate::yaml::resolve_plain(s), Value::String(_))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "nan" | "inf"
        )
}

/// A string as a YAML scalar: plain when that reads back as the same string in YAML 1.1 and
/// 1.2, double-quoted otherwise.
pub fn string_scalar(s: &str) -> String {
    if plain_ok(s) { s.to_string() } else { quote(s) }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if plain_ok(s) => s.clone(),
        Value::String(s) => quote(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn key(k: &str) -> String {
    if plain_ok(k) { k.to_string() } else { quote(k) }
}

fn is_empty_collection(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => true,
    }
}

fn emit_into(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) => {
            for (k, val) in o {
                out.push_str(&pad);
                out.push_str(&key(k));
                out.push(':');
                if is_empty_collection(val) {
                    out.push(' ');
                    out.push_str(&scalar(val));
                    out.push('\n');
                } else if val.is_array() {
                    out.push('\n');
                    emit_into(out, val, indent);
                } else {
                    out.push('\n');
                    emit_into(out, val, indent + 2);
                }
            }
        }
        Value::Array(a) => {
            for item in a {
                out.push_str(&pad);
                out.push('-');
                if is_empty_collection(item) {
                    out.push(' ');
                    out.push_str(&scalar(item));
                    out.push('\n');
                } else {
                    // render the item at indent+2, then put the dash on its first line
                    let mut inner = String::new();
                    emit_into(&mut inner, item, indent + 2);
                    out.push(' ');
                    out.push_str(&inner[indent + 2..]);
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// Emit one YAML document (no leading `---`).
pub fn emit(v: &Value) -> String {
    let mut out = String::new();
    if is_empty_collection(v) {
        out.push_str(&scalar(v));
        out.push('\n');
    } else {
        emit_into(&mut out, v, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(v: &Value) {
        let text = emit(v);
        let docs = crate::yaml::parse_documents(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(&docs[0].value, v, "\n{text}");
    }

    #[test]
    fn roundtrips_through_the_loader() {
        roundtrip(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "task-api"}}),
        );
        roundtrip(
            &json!({"a": [1, 2, {"b": [], "c": {}}], "d": [[1], ["x"]], "e": null, "f": 1.5}),
        );
        roundtrip(
            &json!({"spec": {"rules": [{"clientSelectors": [{"headers": [{"name": "x-user-id", "type": "Distinct"}]}]}]}}),
        );
        let hostile = [
            "yes", "no", "on", "Off", "y", "N", "null", "~", "010", "1e3", "0x10", ".5", "-",
            "- a", "a: b", "#c", "---", "...", "\"", "'", "\\", "a\nb", "\u{85}", "\u{feff}",
            "\u{1}", "ü", "😀", " lead", "trail ", "&a", "*a", "!tag", "%x", "@x", "`x", "|", ">",
            "{a}", "[a]", "a,b", "?", ":", "", "\u{2028}", "\u{fffe}", "\r\n",
        ];
        for s in hostile {
            roundtrip(&json!({ s: s, "list": [s, {s: [s]}] }));
        }
        roundtrip(&json!({"big": "x".repeat(100_000)}));
    }
}
