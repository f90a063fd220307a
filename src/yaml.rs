//! YAML loading with the semantics the Kubernetes API server applies, and with positions.
//!
//! `kubectl` and the API server read manifests with sigs.k8s.io/yaml, which is go-yaml v2 and
//! therefore YAML 1.1: an unquoted `yes`, `no`, `on`, `off`, `y` or `n` is a boolean, `010` is
//! octal, and duplicate keys are rejected. The YAML 1.2 Rust parsers read those differently, so
//! this module builds the JSON value itself from the events of `saphyr-parser` (a maintained,
//! pure-Rust YAML parser that reports positions): it resolves plain scalars the YAML 1.1 way,
//! refuses duplicate keys, resolves merge keys (`<<`), expands aliases with a size limit, and
//! records the line and column of every node by JSON pointer so findings can point at a line.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use crate::validate::finding::pointer_segment;

/// Deepest nesting accepted; deeper documents are refused instead of risking the stack.
pub const MAX_DEPTH: usize = 128;
/// Most nodes one stream may expand to through aliases ("billion laughs" guard).
pub const MAX_NODES: usize = 2_000_000;

/// One YAML document as the API server would see it, plus where each node came from.
#[derive(Debug, Clone)]
pub struct YamlDoc {
    /// The document as JSON (YAML 1.1 scalar resolution).
    pub value: Value,
    /// 0-based index of the document in the stream (empty documents are skipped but counted).
    pub index: usize,
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// JSON pointer -> (line, column), both 1-based. For a mapping entry, the position of its key.
    pub positions: HashMap<String, (usize, usize)>,
    /// JSON pointers of unquoted scalars that YAML 1.1 reads as booleans although they look like
    /// words (`yes`, `no`, `on`, `off`, `y`, `n` in any case), with the text as written.
    pub yaml11_bools: Vec<(String, String)>,
}

impl YamlDoc {
    /// Position of the node at `pointer`, or of its nearest ancestor that has one.
    pub fn position(&self, pointer: &str) -> (usize, usize) {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return (self.line, 1),
            }
        }
    }
}

/// A YAML stream that cannot be read, with the 1-based line and column of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// Stable rule id: `yaml/syntax`, `yaml/duplicate-key`, `yaml/merge-key`, `yaml/too-large`.
    pub rule: &'static str,
}

impl YamlError {
    fn at(span: &Span, rule: &'static str, message: impl Into<String>) -> Self {
        YamlError {
            line: span.start.line(),
            column: span.start.col() + 1,
            message: message.into(),
            rule,
        }
    }
}

enum Frame {
    Map {
        map: Map<String, Value>,
        /// key and its span, waiting for its value
        key: Option<(String, Span)>,
        /// merge sources in order of appearance
        merges: Vec<Value>,
        merge_pending: bool,
        anchor: usize,
        pointer: String,
    },
    Seq {
        items: Vec<Value>,
        anchor: usize,
        pointer: String,
    },
}

struct Builder {
    anchors: HashMap<usize, Value>,
    stack: Vec<Frame>,
    positions: HashMap<String, (usize, usize)>,
    yaml11_bools: Vec<(String, String)>,
    nodes: usize,
    root: Option<Value>,
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

impl Builder {
    fn new() -> Self {
        Builder {
            anchors: HashMap::new(),
            stack: Vec::new(),
            positions: HashMap::new(),
            yaml11_bools: Vec::new(),
            nodes: 0,
            root: None,
        }
    }

    /// Pointer of the node that comes next, and whether it is a mapping key.
    fn next_slot(&self) -> (String, bool) {
        match self.stack.last() {
            None => (String::new(), false),
            Some(Frame::Seq { items, pointer, .. }) => {
                (format!("{pointer}/{}", items.len()), false)
            }
            Some(Frame::Map { key: None, .. }) => (String::new(), true),
            Some(Frame::Map {
                key: Some((k, _)),
                pointer,
                ..
            }) => (format!("{pointer}/{}", pointer_segment(k)), false),
        }
    }

    fn push_value(&mut self, v: Value, span: &Span, anchor: usize) -> Result<(), YamlError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(YamlError::at(
                span,
                "yaml/too-large",
                format!("the document expands to more than {MAX_NODES} nodes (aliases?)"),
            ));
        }
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(v);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(v);
                Ok(())
            }
            Some(Frame::Map {
                map,
                key,
                merges,
                merge_pending,
                pointer,
                ..
            }) => {
                if *merge_pending {
                    *merge_pending = false;
                    let ok = match &v {
                        Value::Object(_) => true,
                        Value::Array(a) => a.iter().all(Value::is_object),
                        _ => false,
                    };
                    if !ok {
                        return Err(YamlError::at(
                            span,
                            "yaml/merge-key",
                            "a merge key `<<` needs a mapping or a list of mappings (an alias such as `<<: *defaults`)",
                        ));
                    }
                    merges.push(v);
                    return Ok(());
                }
                match key.take() {
                    None => {
                        // v is a key
                        let k = match v {
                            Value::String(s) => s,
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => n.to_string(),
                            Value::Null => "null".to_string(),
                            _ => {
                                return Err(YamlError::at(
                                    span,
                                    "yaml/syntax",
                                    "a mapping key must be a scalar; Kubernetes manifests use string keys",
                                ));
                            }
                        };
                        if map.contains_key(&k) {
                            return Err(YamlError::at(
                                span,
                                "yaml/duplicate-key",
                                format!(
                                    "duplicate key `{k}` in this mapping; the API server rejects duplicate fields: keep one"
                                ),
                            ));
                        }
                        let p = format!("{pointer}/{}", pointer_segment(&k));
                        self.positions
                            .insert(p, (span.start.line(), span.start.col() + 1));
                        *key = Some((k, *span));
                        Ok(())
                    }
                    Some((k, _)) => {
                        map.insert(k, v);
                        Ok(())
                    }
                }
            }
        }
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&saphyr_parser::Tag>,
        span: &Span,
    ) -> Result<(), YamlError> {
        let (pointer, is_key) = self.next_slot();
        // merge key
        if is_key
            && style == ScalarStyle::Plain
            && text == "<<"
            && tag.is_none()
            && let Some(Frame::Map { merge_pending, .. }) = self.stack.last_mut()
        {
            *merge_pending = true;
            return Ok(());
        }
        let v = if let Some(t) = tag.filter(|t| t.is_yaml_core_schema()) {
            match t.suffix.as_str() {
                "str" | "binary" | "timestamp" => Value::String(text.to_string()),
                "null" => Value::Null,
                "bool" => match resolve_plain(text) {
                    Value::Bool(b) => Value::Bool(b),
                    _ => {
                        return Err(YamlError::at(
                            span,
                            "yaml/syntax",
                            format!("`{text}` is tagged !!bool but is not a boolean"),
                        ));
                    }
                },
                "int" | "float" => match resolve_plain(text) {
                    Value::Number(n) => Value::Number(n),
                    _ => {
                        return Err(YamlError::at(
                            span,
                            "yaml/syntax",
                            format!("`{text}` is tagged !!{} but is not a number", t.suffix),
                        ));
                    }
                },
                _ => Value::String(text.to_string()),
            }
        } else if style == ScalarStyle::Plain && tag.is_none() {
            let v = resolve_plain(text);
            if matches!(v, Value::Bool(_))
                && !matches!(text.to_ascii_lowercase().as_str(), "true" | "false")
            {
                self.yaml11_bools.push((pointer.clone(), text.to_string()));
            }
            v
        } else {
            Value::String(text.to_string())
        };
        if !is_key && !self.stack.is_empty() && !self.positions.contains_key(&pointer) {
            self.positions
                .insert(pointer, (span.start.line(), span.start.col() + 1));
        }
        self.push_value(v, span, anchor)
    }

    fn start(&mut self, is_map: bool, anchor: usize, span: &Span) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::at(
                span,
                "yaml/too-large",
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        let (pointer, is_key) = self.next_slot();
        let merge_value = matches!(
            self.stack.last(),
            Some(Frame::Map {
                merge_pending: true,
                ..
            })
        );
        if is_key && !merge_value {
            return Err(YamlError::at(
                span,
                "yaml/syntax",
                "a mapping key must be a scalar; Kubernetes manifests use string keys",
            ));
        }
        if !self.stack.is_empty() && !self.positions.contains_key(&pointer) {
            self.positions
                .insert(pointer.clone(), (span.start.line(), span.start.col() + 1));
        }
        self.stack.push(if is_map {
            Frame::Map {
                map: Map::new(),
                key: None,
                merges: Vec::new(),
                merge_pending: false,
                anchor,
                pointer,
            }
        } else {
            Frame::Seq {
                items: Vec::new(),
                anchor,
                pointer,
            }
        });
        Ok(())
    }

    fn end(&mut self, span: &Span) -> Result<(), YamlError> {
        let (v, anchor) = match self.stack.pop() {
            Some(Frame::Map {
                mut map,
                merges,
                anchor,
                ..
            }) => {
                // explicit keys win; earlier merge sources win over later ones
                for m in merges {
                    let sources: Vec<Value> = match m {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    for s in sources {
                        if let Value::Object(o) = s {
                            for (k, v) in o {
                                map.entry(k).or_insert(v);
                            }
                        }
                    }
                }
                (Value::Object(map), anchor)
            }
            Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
            None => {
                return Err(YamlError::at(
                    span,
                    "yaml/syntax",
                    "unbalanced collection end",
                ));
            }
        };
        // the node itself was counted on start; push_value counts one more: compensate
        self.nodes = self.nodes.saturating_sub(1);
        self.push_value(v, span, anchor)
    }

    fn alias(&mut self, id: usize, span: &Span) -> Result<(), YamlError> {
        let v = match self.anchors.get(&id) {
            Some(v) => v.clone(),
            None => {
                return Err(YamlError::at(
                    span,
                    "yaml/syntax",
                    "alias to an unknown anchor",
                ));
            }
        };
        self.nodes += count_nodes(&v);
        let (pointer, is_key) = self.next_slot();
        if !is_key && !self.stack.is_empty() && !self.positions.contains_key(&pointer) {
            self.positions
                .insert(pointer, (span.start.line(), span.start.col() + 1));
        }
        self.push_value(v, span, 0)
    }
}

/// Resolve an unquoted scalar the way go-yaml v2 (YAML 1.1) does.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Value::String(s.to_string());
    }
    if let Some(n) = parse_int(s) {
        return n;
    }
    if let Some(f) = parse_float(s) {
        return f;
    }
    Value::String(s.to_string())
}

fn parse_int(s: &str) -> Option<Value> {
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    if clean.is_empty() || body.starts_with('_') {
        return None;
    }
    let (digits, radix) = if let Some(b) = clean.strip_prefix("0b") {
        (b.to_string(), 2)
    } else if let Some(h) = clean.strip_prefix("0x") {
        (h.to_string(), 16)
    } else if clean.len() > 1 && clean.starts_with('0') {
        (clean[1..].to_string(), 8)
    } else {
        (clean.clone(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    match u64::from_str_radix(&digits, radix) {
        Ok(u) => {
            if neg {
                if u <= i64::MAX as u64 + 1 {
                    Some(Value::Number(Number::from(
                        (u as i128).wrapping_neg() as i64
                    )))
                } else {
                    Number::from_f64(-(u as f64)).map(Value::Number)
                }
            } else {
                Some(Value::Number(Number::from(u)))
            }
        }
        // too big for 64 bits: go-yaml falls back to a float
        Err(_) if radix == 10 => clean
            .parse::<f64>()
            .ok()
            .and_then(|f| Number::from_f64(if neg { -f } else { f }))
            .map(Value::Number),
        Err(_) => None,
    }
}

fn parse_float(s: &str) -> Option<Value> {
    let clean: String = s.chars().filter(|c| *c != '_').collect();
    let body = clean.trim_start_matches(['-', '+']);
    if body.is_empty() || body.contains("..") {
        return None;
    }
    // YAML 1.1 float: digits with at most one dot and an optional exponent
    let ok = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && body.chars().any(|c| c.is_ascii_digit());
    if !ok {
        return None;
    }
    clean
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

/// Parse a YAML stream into documents. Empty documents (only comments, or `null`) are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<YamlDoc>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut b = Builder::new();
    let mut index = 0usize;
    let mut doc_line = 1usize;
    loop {
        let (ev, span) = match parser.next() {
            None => break,
            Some(Ok(x)) => x,
            Some(Err(e)) => {
                return Err(YamlError {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                    message: e.info().to_string(),
                    rule: "yaml/syntax",
                });
            }
        };
        match ev {
            Event::StreamStart | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                b = Builder::new();
                doc_line = span.start.line();
            }
            Event::DocumentEnd => {
                let root = b.root.take();
                let doc = std::mem::replace(&mut b, Builder::new());
                match root {
                    None | Some(Value::Null) => {}
                    Some(value) => {
                        let line = doc
                            .positions
                            .values()
                            .map(|p| p.0)
                            .min()
                            .unwrap_or(doc_line);
                        docs.push(YamlDoc {
                            value,
                            index,
                            line,
                            positions: doc.positions,
                            yaml11_bools: doc.yaml11_bools,
                        })
                    }
                }
                index += 1;
            }
            Event::Alias(id) => b.alias(id, &span)?,
            Event::Scalar(text, style, anchor, tag) => {
                b.scalar(&text, style, anchor, tag.as_deref(), &span)?
            }
            Event::SequenceStart(anchor, _) => b.start(false, anchor, &span)?,
            Event::MappingStart(anchor, _) => b.start(true, anchor, &span)?,
            Event::SequenceEnd | Event::MappingEnd => b.end(&span)?,
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml11_scalars_resolve_like_the_api_server() {
        let cases: &[(&str, Value)] = &[
            ("yes", json!(true)),
            ("No", json!(false)),
            ("on", json!(true)),
            ("OFF", json!(false)),
            ("y", json!(true)),
            ("n", json!(false)),
            ("true", json!(true)),
            ("~", Value::Null),
            ("010", json!(8)),
            ("0x1F", json!(31)),
            ("-5", json!(-5)),
            ("1_000", json!(1000)),
            ("1.5", json!(1.5)),
            ("12345678901234567890", json!(12345678901234567890u64)),
            ("1.2.3", json!("1.2.3")),
            ("80/tcp", json!("80/tcp")),
            ("Minute", json!("Minute")),
            ("-", json!("-")),
            ("+", json!("+")),
            (".", json!(".")),
        ];
        for (text, want) in cases {
            assert_eq!(&resolve_plain(text), want, "{text}");
        }
    }

    #[test]
    fn quoted_scalars_stay_strings_and_plain_words_are_flagged() {
        let d = parse_documents("a: \"yes\"\nb: on\nc: '010'\nd: |\n  no\n").unwrap();
        assert_eq!(
            d[0].value,
            json!({"a": "yes", "b": true, "c": "010", "d": "no\n"})
        );
        assert_eq!(
            d[0].yaml11_bools,
            vec![("/b".to_string(), "on".to_string())]
        );
    }

    #[test]
    fn duplicate_keys_are_errors_with_position() {
        let e = parse_documents("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        assert_eq!(e.rule, "yaml/duplicate-key");
        assert_eq!((e.line, e.column), (4, 3));
    }

    #[test]
    fn merge_keys_resolve_with_explicit_keys_winning() {
        let d = parse_documents("base: &b {x: 1, w: 2}\nobj:\n  w: 3\n  <<: *b\n").unwrap();
        assert_eq!(d[0].value["obj"], json!({"w": 3, "x": 1}));
        // go-yaml v2 reads an unquoted `y` key as the boolean true, as the API server does
        assert_eq!(
            parse_documents("y: 1\n").unwrap()[0].value,
            json!({"true": 1})
        );
        let e = parse_documents("obj:\n  <<: 5\n").unwrap_err();
        assert_eq!(e.rule, "yaml/merge-key");
    }

    #[test]
    fn positions_and_multi_documents() {
        let text = "# c\n---\napiVersion: v1\nkind: A\nmetadata:\n  name: x\n---\n# only a comment\n---\nkind: B\nlist:\n- a\n- b: 1\n";
        let d = parse_documents(text).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].line, 3);
        assert_eq!(d[0].position("/metadata/name"), (6, 3));
        assert_eq!(d[1].index, 2);
        assert_eq!(d[1].position("/list/1/b"), (13, 3));
        assert_eq!(d[1].position("/list/1/b/zzz"), (13, 3));
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = parse_documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(e.rule, "yaml/syntax");
        assert!(e.line >= 1);
        assert!(parse_documents("a: b: c\n").is_err());
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert_eq!(parse_documents(&bomb).unwrap_err().rule, "yaml/too-large");
        let deep = "[".repeat(500) + &"]".repeat(500);
        assert!(parse_documents(&deep).is_err());
        let deep_ok = "[".repeat(100) + &"]".repeat(100);
        assert!(parse_documents(&deep_ok).is_ok());
    }
}
